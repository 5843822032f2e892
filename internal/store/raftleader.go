package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/types"
)

// Keeping etcd's raft leadership away from a component leader.
//
// A leader that dies takes its election lease with it only after the lease expires, and
// only the raft leader expires leases. When the dead leader's member was also the raft
// leader, the member elected in its place first extends every lease (etcd does so on each
// raft election, so that leases do not expire for want of a leader), which adds a TTL and
// the raft election to the failover. A component leader therefore asks its member to hand
// raft leadership to a peer (KeepRaftLeaderAway): then its death costs only its lease TTL.

// ErrNoTransferee: no other started voting member could take raft leadership.
var ErrNoTransferee = errors.New("store: no healthy member to take raft leadership")

// IsRaftLeader reports whether this Store's embedded member is the etcd raft leader (false
// for an external cluster).
func (s *Store) IsRaftLeader() bool {
	if s.etcd == nil {
		return false
	}
	srv := s.etcd.Server
	return srv.Lead() == uint64(srv.MemberID())
}

// RaftLeader returns the etcd member name of the raft leader as this Store's embedded member
// sees it ("" when it knows of none, or for an external cluster).
func (s *Store) RaftLeader() string {
	if s.etcd == nil {
		return ""
	}
	srv := s.etcd.Server
	lead := srv.Lead()
	if lead == 0 {
		return ""
	}
	if m := srv.Cluster().Member(types.ID(lead)); m != nil {
		return m.Name
	}
	return ""
}

// MoveRaftLeaderAway hands raft leadership to another member if this Store's embedded
// member holds it: to the started voting member whose raft log is the most up to date. It
// returns the new raft leader's member name, or "" when there was nothing to do (this
// member does not lead raft, the cluster has one member, or the cluster is external). It
// fails with ErrNoTransferee when no other member answers, and when the transfer does not
// finish within two election timeouts or before ctx ends.
func (s *Store) MoveRaftLeaderAway(ctx context.Context) (string, error) {
	if s.etcd == nil || !s.IsRaftLeader() {
		return "", nil
	}
	srv := s.etcd.Server
	self := srv.MemberID()
	type cand struct {
		id    types.ID
		name  string
		index uint64
		ok    bool
	}
	var cands []cand
	for _, m := range srv.Cluster().Members() {
		if m.ID == self || m.IsLearner || len(m.ClientURLs) == 0 {
			continue
		}
		cands = append(cands, cand{id: m.ID, name: m.Name})
	}
	if len(cands) == 0 {
		return "", nil
	}
	// Ask every peer for its raft status at once. A stopped member fails or times out;
	// rather than wait for that, settle for the peers that answered within a heartbeat of
	// the first answer.
	sctx, cancel := context.WithTimeout(ctx, s.cfg.ElectionTimeout)
	defer cancel()
	type answer struct {
		i     int
		index uint64
		ok    bool
	}
	answers := make(chan answer, len(cands))
	for i := range cands {
		m := srv.Cluster().Member(cands[i].id)
		if m == nil {
			answers <- answer{i: i}
			continue
		}
		url := m.ClientURLs[0]
		go func() {
			st, err := s.client.Status(sctx, url)
			if err != nil || len(st.Errors) > 0 || st.Leader != uint64(self) || st.IsLearner {
				answers <- answer{i: i}
				return
			}
			answers <- answer{i: i, index: st.RaftIndex, ok: true}
		}()
	}
	var grace <-chan time.Time
collect:
	for range cands {
		select {
		case a := <-answers:
			if a.ok {
				cands[a.i].index, cands[a.i].ok = a.index, true
				if grace == nil {
					grace = time.After(s.cfg.HeartbeatInterval)
				}
			}
		case <-grace:
			break collect
		}
	}
	cancel() // the probes still running end at once and send into the buffered channel
	var best *cand
	for i := range cands {
		if cands[i].ok && (best == nil || cands[i].index > best.index) {
			best = &cands[i]
		}
	}
	if best == nil {
		return "", ErrNoTransferee
	}
	if !s.IsRaftLeader() {
		return "", nil // lost it meanwhile
	}
	// etcd's MoveLeader returns once the transferee leads; leadership that ends up
	// elsewhere (another election, or someone moving it on at once) is as good.
	mctx, cancel := context.WithTimeout(ctx, 2*s.cfg.ElectionTimeout)
	defer cancel()
	moved := make(chan error, 1)
	go func() { moved <- srv.MoveLeader(mctx, uint64(self), uint64(best.id)) }()
	for {
		changed := srv.LeaderChangedNotify()
		if lead := srv.Lead(); lead != 0 && lead != uint64(self) {
			cancel()
			<-moved
			return s.RaftLeader(), nil
		}
		select {
		case err := <-moved:
			if err != nil {
				return "", fmt.Errorf("move raft leadership to %s: %w", best.name, err)
			}
			return best.name, nil
		case <-changed:
		}
	}
}

// KeepRaftLeaderAway keeps raft leadership off this Store's embedded member until ctx ends
// or the Store closes: it moves it away an election timeout after it starts if the member
// leads raft then, and again whenever raft leadership changes back to it (checked on every
// leader change, and every few seconds in case a change went unnoticed). It never moves
// leadership more than once per election timeout; when leadership keeps coming back soon
// after each move it waits twice as long before each next move (up to 30s); it backs off
// up to a few seconds while no peer can take it.
// Failures are logged, not returned. It does nothing for an external cluster.
//
// A component leader (e.g. the Mesos master) runs it while it leads, so that its own
// crash does not also cost a raft election and the lease extension that follows one.
func (s *Store) KeepRaftLeaderAway(ctx context.Context) {
	if s.etcd == nil {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	srv := s.etcd.Server
	const recheck = 3 * time.Second
	minGap := s.cfg.ElectionTimeout
	backoff := minGap
	// No attempt before next. The first waits an election timeout: while the raft leader
	// transfers leadership it drops the proposals that followers forward to it without
	// telling them, so each such write stalls for a whole request timeout; when a leader
	// was just elected (e.g. the cluster just started) other candidates are likely to be
	// writing.
	next := time.Now().Add(minGap)
	// Leadership that comes back soon after it was moved away (e.g. a peer avoids it too)
	// is moved again ever more slowly, so two avoiders cannot bounce it between them.
	const settle, maxGap = 10 * time.Second, 30 * time.Second
	gap := minGap
	var lastMove, back time.Time
	for ctx.Err() == nil {
		changed := srv.LeaderChangedNotify()
		wait := recheck
		if s.IsRaftLeader() {
			if !lastMove.IsZero() && back.IsZero() {
				back = time.Now()
			}
			if now := time.Now(); now.Before(next) {
				wait = next.Sub(now)
			} else {
				start := time.Now()
				to, err := s.MoveRaftLeaderAway(ctx)
				switch {
				case ctx.Err() != nil:
					return
				case err == nil:
					backoff = minGap
					if to == "" {
						break
					}
					if !back.IsZero() && back.Sub(lastMove) < settle {
						gap = min(2*gap, maxGap)
					} else {
						gap = minGap
					}
					lastMove, back = time.Now(), time.Time{}
					next = lastMove.Add(gap)
					s.log.Debug("moved raft leadership away", "to", to, "took", time.Since(start), "next_gap", gap)
				case errors.Is(err, ErrNoTransferee):
					s.log.Debug("cannot move raft leadership away", "error", err, "retry_in", backoff)
					next = time.Now().Add(backoff)
					backoff = min(2*backoff, recheck)
				default:
					s.log.Warn("cannot move raft leadership away", "error", err, "retry_in", backoff)
					next = time.Now().Add(backoff)
					backoff = min(2*backoff, recheck)
				}
				if s.IsRaftLeader() {
					wait = max(time.Until(next), time.Millisecond)
				}
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-changed:
		case <-t.C:
		}
		t.Stop()
	}
}

// DeferIfRaftLeader waits an election timeout (or until ctx ends) if this Store's embedded
// member leads raft in a cluster of several voting members, and returns at once otherwise.
// A candidate calls it before its first campaign, so that when candidates start together
// (a cluster starting) one whose member does not lead raft wins, and no raft leadership
// transfer is needed while the others are still writing their candidacies.
func (s *Store) DeferIfRaftLeader(ctx context.Context) {
	if s.etcd == nil || !s.IsRaftLeader() {
		return
	}
	voters := 0
	for _, m := range s.etcd.Server.Cluster().Members() {
		if !m.IsLearner {
			voters++
		}
	}
	if voters < 2 {
		return
	}
	t := time.NewTimer(s.cfg.ElectionTimeout)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-s.ctx.Done():
	case <-t.C:
	}
}
