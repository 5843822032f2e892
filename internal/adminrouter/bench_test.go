package adminrouter

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkProxy measures Admin Router's overhead on small keep-alive GETs:
// the same upstream (a Go HTTP server answering 64 bytes) asked directly
// and through the router's /mesos/ route, one client at a time (latency)
// and with 16 concurrent clients (throughput). It reports req/s, the
// p50/p99 latency and the process CPU time per request of each; the
// overhead is the difference between the direct and adminrouter lines of
// one run.
//
//	go test -run XXX -bench BenchmarkProxy -benchtime 5s ./internal/adminrouter/
func BenchmarkProxy(b *testing.B) {
	body := append([]byte(`{"ok":true,"padding":"`), bytes.Repeat([]byte("x"), 64-26)...)
	body = append(body, "\"}\n"...)
	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	upSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = upSrv.Serve(upLn) }()
	defer upSrv.Close()
	upURL := "http://" + upLn.Addr().String()

	r, err := New(DefaultConfig(), Deps{Upstreams: &upstreams{mesos: []string{upURL}}, Cluster: cluster{}})
	if err != nil {
		b.Fatal(err)
	}
	arLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, arLn) }()
	defer func() { cancel(); <-done }()
	arURL := "http://" + arLn.Addr().String() + "/mesos/master/state"

	for _, mode := range []struct {
		name    string
		clients int
	}{{"serial", 1}, {"parallel16", 16}} {
		for _, target := range []struct{ name, url string }{{"direct", upURL + "/master/state"}, {"adminrouter", arURL}} {
			b.Run(mode.name+"/"+target.name, func(b *testing.B) {
				tr := &http.Transport{MaxIdleConnsPerHost: 64}
				defer tr.CloseIdleConnections()
				client := &http.Client{Transport: tr}
				get := func() time.Duration {
					start := time.Now()
					resp, err := client.Get(target.url)
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Fatalf("status %d", resp.StatusCode)
					}
					return time.Since(start)
				}
				get() // warm the connection
				var mu sync.Mutex
				var lat []time.Duration
				b.ResetTimer()
				cpu0 := processCPU()
				start := time.Now()
				var wg sync.WaitGroup
				per := b.N / mode.clients
				for c := 0; c < mode.clients; c++ {
					n := per
					if c == 0 {
						n += b.N % mode.clients
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						mine := make([]time.Duration, 0, n)
						for range n {
							mine = append(mine, get())
						}
						mu.Lock()
						lat = append(lat, mine...)
						mu.Unlock()
					}()
				}
				wg.Wait()
				elapsed := time.Since(start)
				cpu := processCPU() - cpu0
				b.StopTimer()
				slices.Sort(lat)
				if len(lat) > 0 {
					b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
					b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
					b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
					// Client, router and upstream together: the router's own
					// cost is the difference from the direct line.
					b.ReportMetric(float64(cpu.Nanoseconds())/float64(len(lat)), "cpu-ns/op")
				}
			})
		}
	}
}

// processCPU is this process's user+system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
