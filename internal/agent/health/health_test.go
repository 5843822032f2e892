package health

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func f64(v float64) *float64 { return &v }
func u32(v uint32) *uint32   { return &v }

func TestParamsDefaults(t *testing.T) {
	got := ParamsOf(mesosv1.HealthCheck{Type: mesosv1.HealthCheckTCP})
	want := Params{Delay: 15 * time.Second, Interval: 10 * time.Second, Timeout: 20 * time.Second,
		GracePeriod: 10 * time.Second, ConsecutiveFailures: 3}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	got = ParamsOf(mesosv1.HealthCheck{DelaySeconds: f64(0.5), IntervalSeconds: f64(2), TimeoutSeconds: f64(-1),
		GracePeriodSeconds: f64(0), ConsecutiveFailures: u32(0)})
	want = Params{Delay: 500 * time.Millisecond, Interval: 2 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("explicit (-want +got):\n%s", diff)
	}
}

func TestTracker(t *testing.T) {
	fail := errors.New("boom")
	p := Params{GracePeriod: 10 * time.Second, ConsecutiveFailures: 3}
	type step struct {
		at     time.Duration
		err    error
		report bool
		st     Status
	}
	tests := []struct {
		name  string
		p     Params
		steps []step
	}{
		{"failures in grace are ignored", p, []step{
			{1 * time.Second, fail, false, Status{}},
			{9 * time.Second, fail, false, Status{}},
			{10 * time.Second, fail, true, Status{ConsecutiveFailures: 1}},
			{11 * time.Second, fail, false, Status{ConsecutiveFailures: 2}},
			{12 * time.Second, fail, true, Status{ConsecutiveFailures: 3, Kill: true}},
		}},
		{"first success reported, then transitions", p, []step{
			{1 * time.Second, nil, true, Status{Healthy: true}},
			{2 * time.Second, nil, false, Status{Healthy: true}},
			{3 * time.Second, fail, true, Status{ConsecutiveFailures: 1}}, // grace ended with the success
			{4 * time.Second, nil, true, Status{Healthy: true}},
			{5 * time.Second, fail, true, Status{ConsecutiveFailures: 1}},
			{6 * time.Second, fail, false, Status{ConsecutiveFailures: 2}},
			{7 * time.Second, fail, true, Status{ConsecutiveFailures: 3, Kill: true}},
		}},
		{"zero consecutive failures never kills", Params{ConsecutiveFailures: 0}, []step{
			{0, fail, true, Status{ConsecutiveFailures: 1}},
			{time.Second, fail, false, Status{ConsecutiveFailures: 2}},
			{2 * time.Second, fail, false, Status{ConsecutiveFailures: 3}},
		}},
		{"one failure kills when the limit is 1", Params{ConsecutiveFailures: 1}, []step{
			{0, nil, true, Status{Healthy: true}},
			{time.Second, fail, true, Status{ConsecutiveFailures: 1, Kill: true}},
		}},
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker(start, tc.p)
			for i, s := range tc.steps {
				st, report := tr.observe(s.err, start.Add(s.at))
				if report != s.report {
					t.Errorf("step %d: report = %v, want %v", i, report, s.report)
				}
				if diff := cmp.Diff(s.st, st, cmpopts.IgnoreFields(Status{}, "Message")); report && diff != "" {
					t.Errorf("step %d (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}

// recorder collects reported statuses.
type recorder struct {
	mu  sync.Mutex
	got []Status
	ch  chan Status
}

func newRecorder() *recorder { return &recorder{ch: make(chan Status, 100)} }

func (r *recorder) cb(s Status) {
	r.mu.Lock()
	r.got = append(r.got, s)
	r.mu.Unlock()
	r.ch <- s
}

func (r *recorder) next(t *testing.T) Status {
	t.Helper()
	select {
	case s := <-r.ch:
		return s
	case <-time.After(30 * time.Second):
		t.Fatal("no health status reported")
		return Status{}
	}
}

func tcpSpec(port int) mesosv1.HealthCheck {
	return mesosv1.HealthCheck{Type: mesosv1.HealthCheckTCP, TCP: &mesosv1.TCPCheckInfo{Port: uint32(port)}}
}

// TestRunTimeline drives Run with Mesos' default timings on virtual time.
func TestRunTimeline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		c, err := New(tcpSpec(1), nil, "", rec.cb, nil)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		var calls []time.Duration
		results := []error{nil, errors.New("down"), errors.New("down"), errors.New("down")}
		c.probe = func(ctx context.Context) error {
			calls = append(calls, time.Since(start))
			r := results[0]
			results = results[1:]
			return r
		}
		done := make(chan error)
		go func() { done <- c.Run(t.Context()) }()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		// Delay 15 s, then every 10 s after the previous check.
		wantCalls := []time.Duration{15 * time.Second, 25 * time.Second, 35 * time.Second, 45 * time.Second}
		if diff := cmp.Diff(wantCalls, calls); diff != "" {
			t.Errorf("check times (-want +got):\n%s", diff)
		}
		want := []Status{
			{Healthy: true},
			{ConsecutiveFailures: 1},
			{ConsecutiveFailures: 3, Kill: true},
		}
		if diff := cmp.Diff(want, rec.got, cmpopts.IgnoreFields(Status{}, "Message")); diff != "" {
			t.Errorf("statuses (-want +got):\n%s", diff)
		}
	})
}

func TestRunTimeoutAndCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		spec := tcpSpec(1)
		spec.DelaySeconds, spec.TimeoutSeconds, spec.GracePeriodSeconds = f64(0), f64(1), f64(0)
		c, err := New(spec, nil, "", rec.cb, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.probe = func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() } // hangs
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- c.Run(ctx) }()
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		if len(rec.got) != 1 || !strings.Contains(rec.got[0].Message, "timed out") {
			t.Fatalf("statuses %+v, want one timeout failure", rec.got)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run after cancel: %v", err)
		}
	})
}

func TestNewRejectsBadSpecs(t *testing.T) {
	cb := func(Status) {}
	for _, spec := range []mesosv1.HealthCheck{
		{},
		{Type: "UDP"},
		{Type: mesosv1.HealthCheckHTTP},
		{Type: mesosv1.HealthCheckHTTP, HTTP: &mesosv1.HTTPCheckInfo{Port: 80, Scheme: "ftp"}},
		{Type: mesosv1.HealthCheckTCP, TCP: &mesosv1.TCPCheckInfo{}},
		{Type: mesosv1.HealthCheckCommand},
		{Type: mesosv1.HealthCheckCommand, Command: &mesosv1.CommandInfo{}},
	} {
		if _, err := New(spec, nil, "", cb, nil); err == nil {
			t.Errorf("New(%+v) succeeded", spec)
		}
	}
	if _, err := New(tcpSpec(1), nil, "", nil, nil); err == nil {
		t.Errorf("New with a nil callback succeeded")
	}
}

func portOf(t *testing.T, rawURL string) int {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(u.Port())
	return p
}

func probeOnce(t *testing.T, spec mesosv1.HealthCheck, env []string, sandbox string) error {
	t.Helper()
	c, err := New(spec, env, sandbox, func(Status) {}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.check(t.Context())
}

func TestHTTPProbe(t *testing.T) {
	var code atomic.Int32
	var gotPath atomic.Value
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath.Store(r.URL.Path)
		w.WriteHeader(int(code.Load()))
	})
	srv := httptest.NewServer(handler)
	defer srv.Close()
	tlsSrv := httptest.NewTLSServer(handler)
	defer tlsSrv.Close()
	for _, tc := range []struct {
		code    int32
		healthy bool
	}{{200, true}, {204, true}, {302, true}, {399, true}, {404, false}, {500, false}, {503, false}} {
		code.Store(tc.code)
		for _, s := range []struct{ scheme, url string }{{"", srv.URL}, {"https", tlsSrv.URL}} {
			spec := mesosv1.HealthCheck{Type: mesosv1.HealthCheckHTTP,
				HTTP: &mesosv1.HTTPCheckInfo{Scheme: s.scheme, Port: uint32(portOf(t, s.url)), Path: "health"}}
			err := probeOnce(t, spec, nil, "")
			if (err == nil) != tc.healthy {
				t.Errorf("%s status %d: err = %v, want healthy %v", s.url, tc.code, err, tc.healthy)
			}
			if p, _ := gotPath.Load().(string); p != "/health" {
				t.Errorf("path %q, want /health", p)
			}
		}
	}
	srv.Close()
	spec := mesosv1.HealthCheck{Type: mesosv1.HealthCheckHTTP, HTTP: &mesosv1.HTTPCheckInfo{Port: uint32(portOf(t, srv.URL))}}
	if err := probeOnce(t, spec, nil, ""); err == nil {
		t.Errorf("check of a closed server passed")
	}
}

func TestTCPProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if err := probeOnce(t, tcpSpec(port), nil, ""); err != nil {
		t.Errorf("open port: %v", err)
	}
	ln.Close()
	if err := probeOnce(t, tcpSpec(port), nil, ""); err == nil {
		t.Errorf("closed port passed")
	}
}

func TestCommandProbe(t *testing.T) {
	sandbox := t.TempDir()
	if err := os.WriteFile(filepath.Join(sandbox, "marker"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=/usr/bin:/bin", "FOO=bar"}
	no := false
	tests := []struct {
		name    string
		cmd     mesosv1.CommandInfo
		timeout float64
		healthy bool
	}{
		{"exit 0", mesosv1.CommandInfo{Value: "exit 0"}, 5, true},
		{"exit 1", mesosv1.CommandInfo{Value: "echo sick; exit 1"}, 5, false},
		{"task env", mesosv1.CommandInfo{Value: `test "$FOO" = bar`}, 5, true},
		{"check env overrides", mesosv1.CommandInfo{Value: `test "$FOO" = baz`,
			Environment: &mesosv1.Environment{Variables: []mesosv1.EnvVariable{{Name: "FOO", Value: "baz"}}}}, 5, true},
		{"sandbox cwd", mesosv1.CommandInfo{Value: "test -f marker"}, 5, true},
		{"argv", mesosv1.CommandInfo{Shell: &no, Value: "/bin/sh", Arguments: []string{"sh", "-c", "exit 0"}}, 5, true},
		{"argv missing", mesosv1.CommandInfo{Shell: &no, Value: "/nonexistent/x"}, 5, false},
		{"timeout kills", mesosv1.CommandInfo{Value: "sleep 1000 & sleep 1000"}, 0.2, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := tc.cmd
			spec := mesosv1.HealthCheck{Type: mesosv1.HealthCheckCommand, Command: &cmd, TimeoutSeconds: f64(tc.timeout)}
			err := probeOnce(t, spec, env, sandbox)
			if (err == nil) != tc.healthy {
				t.Errorf("err = %v, want healthy %v", err, tc.healthy)
			}
			if tc.name == "exit 1" && (err == nil || !strings.Contains(err.Error(), "sick")) {
				t.Errorf("message %v does not carry the output", err)
			}
		})
	}
}

// TestRunAgainstRealServer runs a whole check loop on real time with tiny
// timings: healthy, then the server breaks and the task must be killed.
func TestRunAgainstRealServer(t *testing.T) {
	var broken atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if broken.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	spec := mesosv1.HealthCheck{
		Type: mesosv1.HealthCheckHTTP, HTTP: &mesosv1.HTTPCheckInfo{Port: uint32(portOf(t, srv.URL))},
		DelaySeconds: f64(0), IntervalSeconds: f64(0.01), TimeoutSeconds: f64(5),
		GracePeriodSeconds: f64(0), ConsecutiveFailures: u32(2),
	}
	rec := newRecorder()
	c, err := New(spec, nil, "", rec.cb, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(t.Context()) }()
	if st := rec.next(t); !st.Healthy {
		t.Fatalf("first status %+v, want healthy", st)
	}
	broken.Store(true)
	if st := rec.next(t); st.Healthy || st.Kill || st.ConsecutiveFailures != 1 || !strings.Contains(st.Message, "503") {
		t.Fatalf("second status %+v, want unhealthy (503)", st)
	}
	if st := rec.next(t); !st.Kill {
		t.Fatalf("third status %+v, want kill", st)
	}
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
