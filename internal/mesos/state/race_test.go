package state

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestConcurrentSwaps serves every endpoint from many goroutines while the
// source keeps publishing new snapshots; run under -race. Every response
// must be complete, valid JSON of one snapshot.
func TestConcurrentSwaps(t *testing.T) {
	src := newSource(fixture())
	api := NewAPI(src, &fakeActions{}, nil)
	mux := http.NewServeMux()
	api.Register(mux)

	snaps := []*Snapshot{fixture(), standbyFixture(), bigSnapshot(20, 200)}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			s := *snaps[i%len(snaps)] // a fresh pointer each time, like a new publication
			s.Built = s.Built.Add(time.Duration(i) * time.Millisecond)
			src.p.Store(&s)
		}
	}()

	paths := []string{"/master/state", "/master/state-summary", "/master/slaves", "/master/frameworks",
		"/master/tasks?limit=5", "/master/roles", "/metrics/snapshot", "/version", "/master/flags"}
	bodies := []string{`{"type":"GET_STATE"}`, `{"type":"GET_METRICS"}`, `{"type":"GET_AGENTS"}`, `{"type":"GET_TASKS"}`}
	var readers sync.WaitGroup
	for g := range 8 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for i := range 60 {
				var r *http.Request
				if (g+i)%3 == 0 {
					r = httptest.NewRequest(http.MethodPost, "/api/v1", strings.NewReader(bodies[(g+i)%len(bodies)]))
					r.Header.Set("Content-Type", "application/json")
				} else {
					r = httptest.NewRequest(http.MethodGet, paths[(g+i)%len(paths)], nil)
				}
				w := httptest.NewRecorder()
				mux.ServeHTTP(w, r)
				if w.Code != http.StatusOK || !json.Valid(w.Body.Bytes()) {
					t.Errorf("%s %s = %d, valid JSON %v", r.Method, r.URL, w.Code, json.Valid(w.Body.Bytes()))
					return
				}
			}
		}()
	}
	readers.Wait()
	close(stop)
	wg.Wait()
}
