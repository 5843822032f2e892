package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/basalt-dcos/basalt/internal/store"
	"github.com/basalt-dcos/basalt/internal/store/storetest"
)

// candidate runs an election on s in the background and records its leaderships.
type candidate struct {
	value   string
	cancel  context.CancelFunc
	done    chan error
	elected chan struct{} // one send per leadership
	demoted chan struct{} // one send per leadership, when leaderCtx ends
	leading *atomic.Int32 // shared by the candidates of one test: how many lead now
	overlap *atomic.Bool  // set if two ever led at once
	terms   atomic.Int32
}

func startCandidate(t *testing.T, s *store.Store, name, value string, leading *atomic.Int32, overlap *atomic.Bool) *candidate {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	c := &candidate{
		value: value, cancel: cancel, done: make(chan error, 1),
		elected: make(chan struct{}, 16), demoted: make(chan struct{}, 16),
		leading: leading, overlap: overlap,
	}
	go func() {
		c.done <- s.NewElection(name, value).Run(ctx, func(lctx context.Context) error {
			if c.leading.Add(1) > 1 {
				c.overlap.Store(true)
			}
			c.terms.Add(1)
			c.elected <- struct{}{}
			<-lctx.Done()
			c.leading.Add(-1)
			c.demoted <- struct{}{}
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-c.done })
	return c
}

func waitChan(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func leaderOf(t *testing.T, s *store.Store, name string) string {
	t.Helper()
	v, err := s.Leader(t.Context(), name)
	if err != nil && !errors.Is(err, store.ErrNoLeader) {
		t.Fatal(err)
	}
	return v
}

func TestElectionOneLeaderAndResign(t *testing.T) {
	s := storetest.Open(t)
	if _, err := s.Leader(t.Context(), "svc"); !errors.Is(err, store.ErrNoLeader) {
		t.Fatalf("Leader before any candidate = %v, want ErrNoLeader", err)
	}
	var leading atomic.Int32
	var overlap atomic.Bool
	cands := map[string]*candidate{}
	for i := range 3 {
		v := fmt.Sprintf("c%d", i)
		cands[v] = startCandidate(t, s, "svc", v, &leading, &overlap)
	}
	// Hand leadership around by resigning (cancelling the leader's Run) twice.
	for round := range 3 {
		var cur string
		eventually(t, 20*time.Second, "a leader", func() bool {
			cur = leaderOf(t, s, "svc")
			return cur != "" && cands[cur] != nil && cands[cur].terms.Load() > 0
		})
		if round == 2 {
			break
		}
		c := cands[cur]
		c.cancel()
		if err := <-c.done; err != nil {
			t.Fatalf("Run after cancel = %v, want nil", err)
		}
		c.done <- nil // for the cleanup
		delete(cands, cur)
		waitChan(t, c.demoted, "the resigned leader's leaderCtx to end")
	}
	if overlap.Load() {
		t.Fatal("two candidates led at once")
	}
	if got := leading.Load(); got != 1 {
		t.Fatalf("%d leaders, want 1", got)
	}
}

func TestElectionFnReturnRecampaigns(t *testing.T) {
	s := storetest.Open(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var calls atomic.Int32
	done := make(chan error, 1)
	go func() {
		done <- s.NewElection("svc", "me").Run(ctx, func(context.Context) error {
			if calls.Add(1) == 3 {
				cancel()
			}
			return errors.New("boom") // logged; Run resigns and campaigns again
		})
	}()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if calls.Load() < 3 {
		t.Fatalf("fn called %d times", calls.Load())
	}
	eventually(t, 10*time.Second, "the resignation", func() bool { return leaderOf(t, s, "svc") == "" })
}

func TestElectionLeaseLossCancelsLeaderCtx(t *testing.T) {
	s := storetest.Open(t, func(c *store.Config) { c.SessionTTL = time.Second })
	var leading atomic.Int32
	var overlap atomic.Bool
	c := startCandidate(t, s, "svc", "me", &leading, &overlap)
	waitChan(t, c.elected, "election")

	// Revoke the leader's lease behind its back, as an expiry would.
	resp, err := s.Client().Get(t.Context(), s.Prefix()+"/elections/svc/", clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("election keys: %v %v", resp, err)
	}
	if _, err := s.Client().Revoke(t.Context(), clientv3.LeaseID(resp.Kvs[0].Lease)); err != nil {
		t.Fatal(err)
	}
	waitChan(t, c.demoted, "leaderCtx to be cancelled after the lease was revoked")
	waitChan(t, c.elected, "re-election")
	if overlap.Load() {
		t.Fatal("overlapping leaderships")
	}
}

func TestObserveLeader(t *testing.T) {
	s := storetest.Open(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	obs := s.ObserveLeader(ctx, "svc")
	next := func() string {
		t.Helper()
		select {
		case v, ok := <-obs:
			if !ok {
				t.Fatal("observer closed")
			}
			return v
		case <-time.After(20 * time.Second):
			t.Fatal("timed out observing")
		}
		return ""
	}
	if v := next(); v != "" {
		t.Fatalf("first observation = %q, want none", v)
	}
	var leading atomic.Int32
	var overlap atomic.Bool
	a := startCandidate(t, s, "svc", `{"addr":"a"}`, &leading, &overlap)
	waitChan(t, a.elected, "a elected")
	if v := next(); v != `{"addr":"a"}` {
		t.Fatalf("observed %q, want a", v)
	}
	b := startCandidate(t, s, "svc", `{"addr":"b"}`, &leading, &overlap)
	a.cancel()
	waitChan(t, b.elected, "b elected")
	// a's resignation and b's win may be one change or two ("" in between).
	v := next()
	if v == "" {
		v = next()
	}
	if v != `{"addr":"b"}` {
		t.Fatalf("observed %q, want b", v)
	}
	cancel()
	for range obs {
	}
}

func TestElectionFailoverOnCrash(t *testing.T) {
	c := storetest.StartCluster(t, 3, func(cfg *store.Config) { cfg.SessionTTL = time.Second })
	var leading atomic.Int32
	var overlap atomic.Bool
	cands := make([]*candidate, 3)
	for i := range cands {
		cands[i] = startCandidate(t, c.Store(i), "mesos", fmt.Sprintf("m%d", i), &leading, &overlap)
	}
	var leader int
	eventually(t, 20*time.Second, "a leader", func() bool {
		v := leaderOf(t, c.Store(0), "mesos")
		_, err := fmt.Sscanf(v, "m%d", &leader)
		return err == nil && cands[leader].terms.Load() > 0
	})

	// Crash the leader's master: no resignation.
	c.Kill(leader)
	waitChan(t, cands[leader].demoted, "the crashed leader's leaderCtx to end")
	if err := <-cands[leader].done; !errors.Is(err, store.ErrClosed) {
		t.Fatalf("crashed leader's Run = %v, want ErrClosed", err)
	}
	cands[leader].done <- nil

	survivor := (leader + 1) % 3
	var next int
	eventually(t, 20*time.Second, "a new leader", func() bool {
		v, err := c.Store(survivor).Leader(t.Context(), "mesos")
		if err != nil {
			return false
		}
		_, err = fmt.Sscanf(v, "m%d", &next)
		return err == nil && next != leader && cands[next].terms.Load() > 0
	})
	if overlap.Load() {
		t.Fatal("two leaders at once (in-process view)")
	}
}

var _ = sync.Mutex{}

// A leader's guarded writes succeed while it leads and fail, writing
// nothing, once its election key is gone — even before it notices.
func TestLeadershipGuardFencesAnOldLeader(t *testing.T) {
	s := storetest.Open(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	guards := make(chan store.Op, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.NewElection("fenced", "me").Run(ctx, func(leaderCtx context.Context) error {
			g, ok := store.LeadershipGuard(leaderCtx)
			if !ok {
				t.Error("leaderCtx carries no guard")
			}
			select {
			case guards <- g:
			default:
			}
			<-leaderCtx.Done()
			return nil
		})
	}()
	var g store.Op
	select {
	case g = <-guards:
	case <-time.After(10 * time.Second):
		t.Fatal("not elected")
	}
	if _, ok := store.LeadershipGuard(t.Context()); ok {
		t.Error("a plain context carries a guard")
	}
	if err := s.Apply(t.Context(), g, store.Put("fenced/a", []byte("1"))); err != nil {
		t.Fatalf("guarded write while leading: %v", err)
	}
	// Delete the election key behind the leader's back: its next write is refused.
	if _, err := s.Client().Delete(t.Context(), s.Prefix()+"/elections/fenced/", clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(t.Context(), g, store.Put("fenced/a", []byte("2"))); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("guarded write after losing the key = %v, want ErrConflict", err)
	}
	if v, err := s.Get(t.Context(), "fenced/a"); err != nil || string(v) != "1" {
		t.Fatalf("fenced/a = %q %v, want the leader's first write only", v, err)
	}
	cancel()
	<-done
}
