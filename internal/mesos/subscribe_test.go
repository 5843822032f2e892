package mesos_test

import (
	"context"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/clustertest"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
	"github.com/basalt-dcos/basalt/pkg/operator"
)

// runningTasks lists the IDs of a State's running tasks.
func runningTasks(s *operator.State) []string {
	var out []string
	for _, t := range s.Tasks {
		if t.State == mesosv1.TaskRunning {
			out = append(out, t.TaskID.Value)
		}
	}
	return out
}

// waitState waits (on Changed, with a deadline) until cond holds.
func waitState(t *testing.T, f *operator.Follower, timeout time.Duration, what string, cond func(*operator.State) bool) *operator.State {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if s := f.State(); cond(s) {
			return s
		}
		select {
		case <-f.Changed():
		case <-deadline:
			s := f.State()
			t.Fatalf("timed out waiting for %s: connected=%v running=%q", what, s.Connected, runningTasks(s))
		}
	}
}

// A Follower mirrors a real cluster's tasks from the leader's SUBSCRIBE
// stream, keeps its last state while the leader dies, and converges on the
// new leader.
func TestFollowerAcrossMasterFailover(t *testing.T) {
	// Runs after the cluster's cleanup: a stopped master's server may still
	// be finishing a stream request (net/http's abortPendingRead) for a
	// moment after Shutdown gave up waiting; let it finish so TestMain's
	// leak check does not catch it half-way.
	t.Cleanup(func() { waitServerConnsFinished(t) })
	c := clustertest.New(t, clustertest.Options{Masters: 3, Agents: 1, NoMarathon: true})
	f := &operator.Follower{
		Masters: c.MasterURLs(), HTTP: &http.Client{}, RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond,
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Follower.Run: %v", err)
		}
	}()

	fw := c.StartFramework(clustertest.FrameworkInfo("watched", time.Hour))
	fw.Launch(clustertest.Task("a", "sleep 1000"))
	fw.WaitState("a", mesosv1.TaskRunning, 30*time.Second)
	s := waitState(t, f, 30*time.Second, "task a running", func(s *operator.State) bool {
		return s.Connected && slices.Contains(runningTasks(s), "a")
	})
	if s.Leader == nil || len(s.Agents) != 1 || len(s.Frameworks) != 1 {
		t.Fatalf("leader %v, %d agents, %d frameworks", s.Leader, len(s.Agents), len(s.Frameworks))
	}
	oldLeader := s.Leader.ID

	old := c.Leader()
	for i, m := range c.Masters {
		if m == old {
			c.StopMaster(i)
		}
	}
	// While disconnected the last state stays.
	s = waitState(t, f, 30*time.Second, "the stream to end", func(s *operator.State) bool {
		return !s.Connected || s.Leader.ID != oldLeader
	})
	if !s.Connected && !slices.Contains(runningTasks(s), "a") {
		t.Fatalf("state dropped while disconnected: %q", runningTasks(s))
	}

	c.WaitLeader()
	fw.Launch(clustertest.Task("b", "sleep 1000"))
	fw.WaitState("b", mesosv1.TaskRunning, 30*time.Second)
	waitState(t, f, 30*time.Second, "the new leader's tasks", func(s *operator.State) bool {
		r := runningTasks(s)
		return s.Connected && s.Leader.ID != oldLeader && slices.Contains(r, "a") && slices.Contains(r, "b")
	})
}

// waitServerConnsFinished polls (with a deadline) until no HTTP server
// connection goroutine is finishing a request.
func waitServerConnsFinished(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(15 * time.Second)
	for {
		n := runtime.Stack(buf, true)
		if !strings.Contains(string(buf[:n]), "net/http.(*connReader).abortPendingRead") {
			return
		}
		if time.Now().After(deadline) {
			t.Error("an HTTP server connection is still finishing a request")
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
