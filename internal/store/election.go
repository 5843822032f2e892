package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Leader election.
//
// A candidate holds a lease (its session, kept alive every TTL/3) and writes one key
// <prefix>/elections/<name>/<lease id> bound to it; the candidate whose key has the lowest
// create revision leads. A candidate waits for the key just before its own to be deleted
// rather than for the leader's, so a resignation wakes one waiter, not all.
//
//	          ┌──────────── lease lost / key deleted / fn returned ───────────┐
//	          ▼                                                               │
//	   grant lease ──► put key ──► wait for predecessors ──► leading: fn(leaderCtx)
//	          ▲                                                               │
//	          └──────────────────── revoke lease (resign) ◄───────────────────┘
//
// The lease is the whole truth: revoking it resigns (the key goes with it), its expiry
// demotes a leader that crashed or was cut off. A leader that is cut off notices when its
// keepalives stop being answered for a TTL, about when etcd expires its lease, so two
// leaders can overlap by up to the keepalive interval; leaders must still write with care
// (e.g. PutIfRevision) where that matters.
//
// The package implements the campaign itself, instead of using clientv3/concurrency,
// because that package resigns with the client's lifetime context when a campaign is
// cancelled, which blocks for as long as the cluster has no quorum.

// Election is one candidate for leadership of a named component.
type Election struct {
	s     *Store
	name  string
	value string
	log   *slog.Logger
}

// NewElection returns a candidate for the election name (e.g. "mesos", "marathon") that
// advertises value while it leads (opaque here; masters put JSON with their address).
func (s *Store) NewElection(name, value string) *Election {
	return &Election{s: s, name: name, value: value, log: s.log.With("election", name)}
}

// checkElectionName refuses names that would nest one election inside another's keys.
func checkElectionName(name string) error {
	if name == "" || strings.Contains(name, "/") {
		return fmt.Errorf("election name %q: must be non-empty and contain no /", name)
	}
	return nil
}

func (s *Store) electionPrefix(name string) string { return s.abs("elections/" + name + "/") }

// Run campaigns until elected, then calls fn with a context that is cancelled when
// leadership is lost (lease expired, key deleted, store unreachable for a TTL, store
// closed) or ctx ends. When fn returns, Run resigns at once (so a standby takes over
// without waiting for a TTL) and campaigns again, until ctx ends; fn's errors are logged.
// Run returns nil when ctx ends, ErrClosed if the Store was closed.
func (e *Election) Run(ctx context.Context, fn func(leaderCtx context.Context) error) error {
	if err := checkElectionName(e.name); err != nil {
		return err
	}
	backoff := 50 * time.Millisecond
	for {
		if ctx.Err() != nil {
			return nil
		}
		if e.s.isClosed() {
			return ErrClosed
		}
		err := e.term(ctx, fn)
		if ctx.Err() != nil {
			return nil
		}
		if e.s.isClosed() {
			return ErrClosed
		}
		if err == nil {
			backoff = 50 * time.Millisecond
			continue
		}
		e.log.Warn("election term ended with an error", "error", err)
		select {
		case <-ctx.Done():
			return nil
		case <-e.s.ctx.Done():
			return ErrClosed
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// term is one campaign and, if it wins, one leadership.
func (e *Election) term(ctx context.Context, fn func(context.Context) error) error {
	s := e.s
	// tctx ends the term: Run's ctx, the Store closing, or the session ending.
	tctx, endTerm := context.WithCancel(ctx)
	defer endTerm()
	stop := context.AfterFunc(s.leadCtx, endTerm)
	defer stop()

	gctx, cancel := context.WithTimeout(tctx, s.cfg.RequestTimeout)
	grant, err := s.client.Grant(clientv3.WithRequireLeader(gctx), int64(s.cfg.sessionTTLSeconds()))
	cancel()
	if err != nil {
		return fmt.Errorf("election %s: grant lease: %w", e.name, err)
	}
	lease := grant.ID
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.leases[lease] = struct{}{}
	s.mu.Unlock()
	defer e.resign(lease)

	ka, err := s.client.KeepAlive(tctx, lease)
	if err != nil {
		return fmt.Errorf("election %s: keep lease alive: %w", e.name, err)
	}
	go func() {
		for range ka { // closed when the lease expires, is revoked, or tctx ends
		}
		endTerm()
	}()

	key := fmt.Sprintf("%s%016x", s.electionPrefix(e.name), int64(lease))
	myRev, err := e.campaign(tctx, key, lease)
	if err != nil {
		if tctx.Err() != nil {
			return nil // ctx ended, store closed, or session lost while waiting: try again
		}
		return err
	}

	leaderCtx, demote := context.WithCancel(context.WithValue(tctx, leadershipKey{}, Guard(s.rel([]byte(key)), myRev)))
	defer demote()
	go func() { // a deleted key (e.g. revoked lease) also ends leadership
		e.watchOwnKey(leaderCtx, key, myRev)
		demote()
	}()
	e.log.Info("elected leader", "value", e.value)
	start := time.Now()
	ferr := fn(leaderCtx)
	lost := leaderCtx.Err() != nil && ctx.Err() == nil && !s.isClosed()
	demote()
	if lost {
		e.log.Warn("leadership lost", "value", e.value, "duration", time.Since(start))
	} else {
		e.log.Info("leadership ended", "value", e.value, "duration", time.Since(start))
	}
	if ferr != nil && !errors.Is(ferr, context.Canceled) {
		return fmt.Errorf("election %s: leader function: %w", e.name, ferr)
	}
	return nil
}

// campaign writes key under lease and waits until no candidate key older than it remains.
// It returns key's create revision.
func (e *Election) campaign(ctx context.Context, key string, lease clientv3.LeaseID) (int64, error) {
	s := e.s
	rctx := clientv3.WithRequireLeader(ctx)
	resp, err := s.client.Txn(rctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, e.value, clientv3.WithLease(lease))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("election %s: put candidate key: %w", e.name, err)
	}
	myRev := resp.Header.Revision
	if !resp.Succeeded {
		myRev = resp.Responses[0].GetResponseRange().Kvs[0].CreateRevision
	}
	pfx := s.electionPrefix(e.name)
	for {
		// The newest candidate older than us: wait for it to go.
		prev, err := s.client.Get(rctx, pfx, clientv3.WithPrefix(), clientv3.WithMaxCreateRev(myRev-1),
			clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortDescend), clientv3.WithLimit(1))
		if err != nil {
			return 0, fmt.Errorf("election %s: find predecessor: %w", e.name, err)
		}
		if len(prev.Kvs) == 0 {
			break
		}
		if err := e.waitDelete(ctx, string(prev.Kvs[0].Key), prev.Header.Revision+1); err != nil {
			return 0, err
		}
	}
	// The session may have ended while we waited; confirm the key is still ours.
	cur, err := s.client.Get(rctx, key)
	if err != nil {
		return 0, fmt.Errorf("election %s: confirm candidate key: %w", e.name, err)
	}
	if len(cur.Kvs) == 0 || cur.Kvs[0].CreateRevision != myRev {
		return 0, fmt.Errorf("election %s: candidate key lost while campaigning", e.name)
	}
	return myRev, nil
}

// waitDelete returns when key is deleted at or after revision rev.
func (e *Election) waitDelete(ctx context.Context, key string, rev int64) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for ev := range e.s.watchChan(wctx, key, rev, true, 1) {
		if ev.Type == EventDelete || ev.Type == EventResync {
			return nil // on resync the caller looks again
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return ErrClosed
}

// watchOwnKey returns when the leader's key is deleted, or ctx ends.
func (e *Election) watchOwnKey(ctx context.Context, key string, myRev int64) {
	for ctx.Err() == nil {
		wctx, cancel := context.WithCancel(ctx)
		resync := false
		for ev := range e.s.watchChan(wctx, key, myRev+1, true, 1) {
			if ev.Type == EventDelete {
				cancel()
				return
			}
			if ev.Type == EventResync {
				resync = true
			}
		}
		cancel()
		if !resync {
			return
		}
		// History was compacted: check the key directly, then watch from now.
		cur, err := e.s.client.Get(clientv3.WithRequireLeader(ctx), key)
		if err != nil {
			continue
		}
		if len(cur.Kvs) == 0 || cur.Kvs[0].CreateRevision != myRev {
			return
		}
		myRev = cur.Header.Revision
	}
}

// resign revokes the lease, deleting the candidate key, unless the Store was aborted.
func (e *Election) resign(lease clientv3.LeaseID) {
	s := e.s
	s.mu.Lock()
	_, live := s.leases[lease]
	delete(s.leases, lease)
	closed := s.closed
	s.mu.Unlock()
	if !live || closed {
		return // Close revokes (or Abort abandons) the leases it found
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
	defer cancel()
	_, err := s.client.Revoke(clientv3.WithRequireLeader(ctx), lease)
	if err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) { // not found: already expired
		e.log.Warn("resign: revoke lease", "error", err)
	}
}

// leadershipKey is the context key of a leadership's guard.
type leadershipKey struct{}

// LeadershipGuard returns, for a context derived from an Election's leaderCtx, an Op to
// add to every Apply the leader makes: the Apply then fails with ErrConflict, writing
// nothing, once this leadership's election key is gone (its lease expired or was
// revoked), even if the leader has not noticed yet. ok is false for other contexts.
func LeadershipGuard(ctx context.Context) (op Op, ok bool) {
	op, ok = ctx.Value(leadershipKey{}).(Op)
	return op, ok
}

// Leader returns the value advertised by the current leader of election name, or
// ErrNoLeader.
func (s *Store) Leader(ctx context.Context, name string) (string, error) {
	v, _, err := s.leader(ctx, name)
	if err != nil {
		return "", err
	}
	if v == "" {
		return "", ErrNoLeader
	}
	return v, nil
}

func (s *Store) leader(ctx context.Context, name string) (string, int64, error) {
	if err := checkElectionName(name); err != nil {
		return "", 0, err
	}
	resp, err := s.client.Get(clientv3.WithRequireLeader(ctx), s.electionPrefix(name), clientv3.WithFirstCreate()...)
	if err != nil {
		return "", 0, fmt.Errorf("election %s: get leader: %w", name, err)
	}
	if len(resp.Kvs) == 0 {
		return "", resp.Header.Revision, nil
	}
	return string(resp.Kvs[0].Value), resp.Header.Revision, nil
}

// ObserveLeader streams the value of election name's leader: the current one first, then
// each change; "" while there is none. The channel closes when ctx ends or the Store
// closes (at once for an invalid name).
func (s *Store) ObserveLeader(ctx context.Context, name string) <-chan string {
	out := make(chan string)
	if checkElectionName(name) != nil {
		close(out)
		return out
	}
	go func() {
		defer close(out)
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(s.ctx, cancel)
		defer stop()
		last, sent := "", false
		backoff := 50 * time.Millisecond
		for ctx.Err() == nil {
			v, rev, err := s.leader(ctx, name)
			if err != nil {
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 2*time.Second)
				continue
			}
			backoff = 50 * time.Millisecond
			if !sent || v != last {
				select {
				case out <- v:
				case <-ctx.Done():
					return
				}
				last, sent = v, true
			}
			// Wait for any change under the election, then look again.
			wctx, wcancel := context.WithCancel(ctx)
			ch := s.watchChan(wctx, s.electionPrefix(name), rev+1, false, 1)
			<-ch
			wcancel()
			for range ch { // let the watcher finish
			}
		}
	}()
	return out
}
