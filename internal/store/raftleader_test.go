package store_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/store/storetest"
)

// raftLeaderIndex is the index of the member that leads raft, as all running members
// agree, or -1.
func raftLeaderIndex(c *storetest.Cluster, n int) int {
	lead := -1
	for i := range n {
		s := c.Store(i)
		if s == nil {
			continue
		}
		if s.IsRaftLeader() {
			if lead >= 0 {
				return -1
			}
			lead = i
		}
	}
	if lead < 0 {
		return -1
	}
	name := c.Configs[lead].Name
	for i := range n {
		if s := c.Store(i); s != nil && s.RaftLeader() != name {
			return -1
		}
	}
	return lead
}

func TestKeepRaftLeaderAway(t *testing.T) {
	c := storetest.StartCluster(t, 3)
	var lead int
	eventually(t, 20*time.Second, "a raft leader", func() bool {
		lead = raftLeaderIndex(c, 3)
		return lead >= 0
	})
	s := c.Store(lead)
	// A raft leader defers its campaign until ctx ends (here: at once).
	done, stop := context.WithCancel(t.Context())
	stop()
	s.DeferIfRaftLeader(done)

	// The raft leader wins an election and keeps raft leadership away while it leads.
	ctx, cancel := context.WithCancel(t.Context())
	elected := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		err := s.NewElection("svc", "x").Run(ctx, func(lctx context.Context) error {
			close(elected)
			s.KeepRaftLeaderAway(lctx)
			<-lctx.Done()
			return nil
		})
		if err != nil {
			t.Errorf("election: %v", err)
		}
	})
	defer wg.Wait()
	defer cancel()
	waitChan(t, elected, "election")
	var other int
	eventually(t, 20*time.Second, "raft leadership moved to another member", func() bool {
		other = raftLeaderIndex(c, 3)
		return other >= 0 && other != lead
	})

	// Hand it back: it moves away again.
	id, err := strconv.ParseUint(s.MemberID(), 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Store(other).Client().MoveLeader(t.Context(), id); err != nil {
		t.Fatalf("move raft leadership back: %v", err)
	}
	eventually(t, 20*time.Second, "raft leadership moved away again", func() bool {
		i := raftLeaderIndex(c, 3)
		return i >= 0 && i != lead
	})
	if !c.Store(lead).IsRaftLeader() {
		if got, err := s.MoveRaftLeaderAway(t.Context()); err != nil || got != "" {
			t.Errorf("MoveRaftLeaderAway on a follower = %q, %v; want nothing to do", got, err)
		}
	}
}

func TestMoveRaftLeaderAwaySingleMember(t *testing.T) {
	s := storetest.Open(t)
	if !s.IsRaftLeader() || s.RaftLeader() != "m0" {
		t.Fatalf("single member: IsRaftLeader %v, RaftLeader %q", s.IsRaftLeader(), s.RaftLeader())
	}
	if got, err := s.MoveRaftLeaderAway(t.Context()); err != nil || got != "" {
		t.Fatalf("MoveRaftLeaderAway = %q, %v; want nothing to do", got, err)
	}
	s.DeferIfRaftLeader(t.Context()) // a single member has no peer to defer to: returns
}
