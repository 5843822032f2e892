package httpserve

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestRun: it serves until the context ends, waits for before, lets a
// request in flight finish within the grace period, and returns nil.
func TestRun(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	inFlight := make(chan struct{})
	release := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(inFlight)
		<-release
		io.WriteString(w, "done")
	})}
	ctx, cancel := context.WithCancel(context.Background())
	before := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- Run(ctx, srv, ln, 5*time.Second, before) }()

	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String())
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-inFlight
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Run returned %v before `before` was closed", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(before)
	close(release)
	if s := <-got; s != "done" {
		t.Fatalf("request in flight got %q", s)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
}

// TestRunServeError: a listener that fails ends Run with its error.
func TestRunServeError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := Run(context.Background(), &http.Server{}, ln, time.Second, nil); err == nil {
		t.Fatal("Run on a closed listener returned nil")
	}
}
