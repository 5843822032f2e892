package state

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Benchmarks of the big documents for a cluster of 10,000 agents and
// 100,000 tasks. "Cold" renders a snapshot whose records were never seen
// (a fresh API each iteration: the first render after start-up); "Next"
// renders a new snapshot that shares its records with the previous one
// (each iteration publishes a new snapshot pointer: the common case of a
// busy cluster); "Cached" serves the document already rendered for the
// current snapshot.
//
//	go test ./internal/mesos/state -run XXX -bench . -benchmem -benchtime 5x
func benchRender(b *testing.B, target string, mode string) {
	big := bigSnapshot(10_000, 100_000)
	src := newSource(big)
	var mux *http.ServeMux
	fresh := func() {
		api := NewAPI(src, nil, nil)
		mux = http.NewServeMux()
		api.Register(mux)
	}
	fresh()
	request := func() *http.Request {
		if call, ok := strings.CutPrefix(target, "v1:"); ok {
			r := httptest.NewRequest(http.MethodPost, "/api/v1", strings.NewReader(`{"type":"`+call+`"}`))
			r.Header.Set("Content-Type", "application/json")
			return r
		}
		return httptest.NewRequest(http.MethodGet, target, nil)
	}
	serve := func() int {
		w := &discardWriter{h: http.Header{}}
		mux.ServeHTTP(w, request())
		if w.code != 0 && w.code != http.StatusOK {
			b.Fatalf("%s = %d", target, w.code)
		}
		return w.n
	}
	size := serve()
	for i := 0; b.Loop(); i++ {
		switch mode {
		case "cold":
			fresh()
		case "next":
			s := *big
			s.Built = big.Built.Add(time.Duration(i+1) * time.Millisecond)
			src.p.Store(&s)
		}
		serve()
	}
	b.ReportMetric(float64(size), "resp_bytes")
}

// discardWriter is a ResponseWriter that counts and drops the body, so the
// benchmarks measure rendering, not a recorder's buffer.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *discardWriter) Header() http.Header  { return w.h }
func (w *discardWriter) WriteHeader(code int) { w.code = code }
func (w *discardWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return len(p), nil
}

func BenchmarkStateCold(b *testing.B)          { benchRender(b, "/master/state", "cold") }
func BenchmarkStateNext(b *testing.B)          { benchRender(b, "/master/state", "next") }
func BenchmarkStateCached(b *testing.B)        { benchRender(b, "/master/state", "cached") }
func BenchmarkStateSummaryCold(b *testing.B)   { benchRender(b, "/master/state-summary", "cold") }
func BenchmarkStateSummaryNext(b *testing.B)   { benchRender(b, "/master/state-summary", "next") }
func BenchmarkStateSummaryCached(b *testing.B) { benchRender(b, "/master/state-summary", "cached") }
func BenchmarkGetStateCold(b *testing.B)       { benchRender(b, "v1:GET_STATE", "cold") }
func BenchmarkGetStateNext(b *testing.B)       { benchRender(b, "v1:GET_STATE", "next") }
func BenchmarkGetStateCached(b *testing.B)     { benchRender(b, "v1:GET_STATE", "cached") }
