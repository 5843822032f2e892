package cli

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// fakeRole is a role whose behaviour the test scripts.
type fakeRole struct {
	addr    string
	ready   chan struct{}
	failNow error // Run returns this at once, before ready
	ran     chan struct{}
}

func newFakeRole(addr string) *fakeRole {
	return &fakeRole{addr: addr, ready: make(chan struct{}), ran: make(chan struct{})}
}

func (r *fakeRole) Run(ctx context.Context) error {
	close(r.ran)
	if r.failNow != nil {
		return r.failNow
	}
	close(r.ready)
	<-ctx.Done()
	return nil
}
func (r *fakeRole) Ready() <-chan struct{} { return r.ready }
func (r *fakeRole) Addr() string           { return r.addr }

func TestRunRolesStartsInOrderAndStopsCleanly(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	m, a := newFakeRole("[::]:5050"), newFakeRole("127.0.0.1:40000")
	var sawPrev string
	var readyRoles []role
	err := runRoles(ctx, []func([]role) (role, error){
		func([]role) (role, error) { return m, nil },
		func(prev []role) (role, error) {
			sawPrev = baseURL(prev[0].Addr())
			return a, nil
		},
	}, func(_ context.Context, roles []role) error {
		readyRoles = roles
		cancel() // as SIGINT would
		return nil
	})
	if err != nil {
		t.Fatalf("runRoles after cancel: %v, want nil", err)
	}
	if sawPrev != "http://127.0.0.1:5050" {
		t.Errorf("second role saw master at %q", sawPrev)
	}
	if len(readyRoles) != 2 {
		t.Errorf("ready called with %d roles", len(readyRoles))
	}
}

func TestRunRolesReportsFailures(t *testing.T) {
	boom := errors.New("boom")
	t.Run("role fails before ready", func(t *testing.T) {
		r := newFakeRole("x")
		r.failNow = boom
		err := runRoles(t.Context(), []func([]role) (role, error){
			func([]role) (role, error) { return r, nil },
			func([]role) (role, error) { t.Error("second role built after the first failed"); return nil, nil },
		}, func(context.Context, []role) error { t.Error("ready called"); return nil })
		if !errors.Is(err, boom) {
			t.Errorf("err = %v, want boom", err)
		}
	})
	t.Run("building the second role fails", func(t *testing.T) {
		first := newFakeRole("x")
		err := runRoles(t.Context(), []func([]role) (role, error){
			func([]role) (role, error) { return first, nil },
			func([]role) (role, error) { return nil, boom },
		}, func(context.Context, []role) error { t.Error("ready called"); return nil })
		if !errors.Is(err, boom) {
			t.Errorf("err = %v, want boom", err)
		}
	})
	t.Run("role stops on its own", func(t *testing.T) {
		r := &quitter{ready: make(chan struct{})}
		err := runRoles(t.Context(), []func([]role) (role, error){
			func([]role) (role, error) { return r, nil },
		}, func(context.Context, []role) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "stopped on its own") {
			t.Errorf("err = %v, want 'stopped on its own'", err)
		}
	})
}

// quitter becomes ready and then returns nil without being asked to; with
// hold set it first waits until hold is closed, so that a test can let the
// ready callback finish before the role quits (otherwise runRoles may see
// the quit first and, rightly, never call ready).
type quitter struct{ ready, hold chan struct{} }

func (q *quitter) Run(ctx context.Context) error {
	close(q.ready)
	if q.hold != nil {
		select {
		case <-q.hold:
		case <-ctx.Done():
		}
	}
	return nil
}
func (q *quitter) Ready() <-chan struct{} { return q.ready }
func (q *quitter) Addr() string           { return "x" }

func TestServerCmdLoadsConfigAndLogs(t *testing.T) {
	type cfgT struct {
		Listen string `flag:"listen" help:"where"`
	}
	var stdout, stderr bytes.Buffer
	env := Env{Stdout: &stdout, Stderr: &stderr, LookupEnv: func(k string) (string, bool) {
		v, ok := map[string]string{"BASALT_LOG_FORMAT": "json", "BASALT_LISTEN": "env:1"}[k]
		return v, ok
	}}
	cfg := cfgT{Listen: ":5050"}
	var got string
	q := &quitter{ready: make(chan struct{}), hold: make(chan struct{})}
	cmd := serverCmd(env, &cobra.Command{Use: "x"}, []any{&cfg}, func(ctx context.Context, logger *slog.Logger) error {
		got = cfg.Listen
		logger.Info("started", "listen", cfg.Listen)
		return runRoles(ctx, []func([]role) (role, error){
			func([]role) (role, error) { return q, nil },
		}, func(_ context.Context, roles []role) error {
			printReady(env, time.Now(), [][2]string{{"x", baseURL(roles[0].Addr())}})
			close(q.hold)
			return nil
		})
	})
	cmd.SetArgs([]string{"--listen", "flag:2"})
	err := cmd.ExecuteContext(t.Context())
	if err == nil || !strings.Contains(err.Error(), "stopped on its own") {
		t.Fatalf("err = %v", err)
	}
	if got != "flag:2" {
		t.Errorf("listen = %q, want the flag's value", got)
	}
	if !strings.Contains(stderr.String(), `"msg":"started"`) {
		t.Errorf("BASALT_LOG_FORMAT=json not honoured: %q", stderr.String())
	}
	if !strings.Contains(stdout.String(), "ready in ") {
		t.Errorf("no ready line: %q", stdout.String())
	}
}

func TestBaseURL(t *testing.T) {
	for in, want := range map[string]string{
		":5050":          "http://127.0.0.1:5050",
		"[::]:5051":      "http://127.0.0.1:5051",
		"0.0.0.0:1":      "http://127.0.0.1:1",
		"10.0.0.1:5050":  "http://10.0.0.1:5050",
		"[fe80::1]:5050": "http://[fe80::1]:5050",
	} {
		if got := baseURL(in); got != want {
			t.Errorf("baseURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPreferPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := preferPort(l.Addr().String()); got != "127.0.0.1:0" {
		t.Errorf("busy port: preferPort = %q, want 127.0.0.1:0", got)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	if got := preferPort("127.0.0.1:" + port); got != "127.0.0.1:"+port {
		t.Errorf("free port: preferPort = %q, want it kept", got)
	}
}

func TestDefaultDataDir(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	d, err := defaultDataDir()
	if err != nil || !strings.HasSuffix(d, ".basalt") {
		t.Errorf("defaultDataDir() = %q, %v", d, err)
	}
}
