package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/raft/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Group commit.
//
// One goroutine (commitLoop) owns the etcd write path. Apply calls queue requests; the loop
// takes everything queued, packs consecutive requests into as few transactions as fit
// MaxTxnOps and MaxRequestBytes, and commits them one after another. While a transaction
// is in flight, new requests queue up and form the next batch, so batches grow with load
// and a lone caller pays no added latency (there is no timer). Two or four committers with
// transactions in flight at once were measured too (BenchmarkApplyConcurrent): no faster
// on 2 cores, and smaller batches.
//
// etcd rejects a transaction that writes the same key twice, or puts a key inside a range
// it deletes. The merger turns a sequence of writes into an equivalent conflict-free set:
// the last write of a key wins, and a put after a delete-prefix punches a hole in the
// deleted range (the range is split around the key).

// applyReq is one Apply call waiting for the committer.
type applyReq struct {
	ctx         context.Context
	ops         []Op
	conditional bool
	bytes       int
	done        chan error // buffered(1): the committer never blocks on a caller
}

// maxQueuedPerBatch bounds how many requests one round of the loop takes, so that a flood
// of callers cannot starve the ones that arrive after.
const maxQueuedPerBatch = 4096

func (s *Store) commitLoop() {
	pending := make([]*applyReq, 0, 64)
	for {
		pending = pending[:0]
		select {
		case r := <-s.applyCh:
			pending = append(pending, r)
		case <-s.ctx.Done():
			for {
				select {
				case r := <-s.applyCh:
					r.done <- ErrClosed
				default:
					return
				}
			}
		}
	drain:
		for len(pending) < maxQueuedPerBatch {
			select {
			case r := <-s.applyCh:
				pending = append(pending, r)
			default:
				break drain
			}
		}
		s.commitBatch(pending)
	}
}

// byteBudget is how many key+value bytes one transaction may carry, leaving room for
// protobuf framing.
func (s *Store) byteBudget() int { return s.cfg.MaxRequestBytes*9/10 - 1024 }

func (s *Store) commitBatch(reqs []*applyReq) {
	m := newMerger()
	var group []*applyReq
	flush := func() {
		if len(group) > 0 {
			s.commitGroup(m, group)
		}
		m, group = newMerger(), nil
	}
	for _, r := range reqs {
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		if r.conditional {
			flush()
			r.done <- s.commitOne(r)
			continue
		}
		// 2 per op: a put inside a deleted range may split the range once.
		if len(group) > 0 && (m.count()+2*len(r.ops) > s.cfg.MaxTxnOps || m.bytes+r.bytes > s.byteBudget()) {
			flush()
		}
		for _, op := range r.ops {
			m.add(s.abs(op.key), op)
		}
		m.bytes += r.bytes
		group = append(group, r)
	}
	flush()
}

// commitGroup commits the merged writes of several requests in one transaction. If etcd
// rejects the transaction for something in the request itself (too large, invalid), the
// requests are retried one by one so that only the faulty ones fail.
func (s *Store) commitGroup(m *merger, group []*applyReq) {
	err := s.txn(nil, m.ops())
	if err != nil && len(group) > 1 && requestSpecific(err) {
		for _, r := range group {
			r.done <- s.commitOne(r)
		}
		return
	}
	if err != nil {
		err = fmt.Errorf("store apply: %w", err)
	}
	for _, r := range group {
		r.done <- err
	}
}

// commitOne commits one request in a transaction of its own, with its conditions.
func (s *Store) commitOne(r *applyReq) error {
	m := newMerger()
	var cmps []clientv3.Cmp
	for _, op := range r.ops {
		k := s.abs(op.key)
		if op.kind != opGuard {
			m.add(k, op)
		}
		switch op.cond {
		case condAbsent:
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
		case condModRevision:
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", op.rev))
		case condCreateRevision:
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", op.rev))
		}
	}
	err := s.txn(cmps, m.ops())
	if err != nil && !errors.Is(err, ErrConflict) {
		err = fmt.Errorf("store apply: %w", err)
	}
	return err
}

func (s *Store) txn(cmps []clientv3.Cmp, ops []clientv3.Op) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
	defer cancel()
	var resp *clientv3.TxnResponse
	for {
		var err error
		resp, err = s.client.Txn(clientv3.WithRequireLeader(ctx)).If(cmps...).Then(ops...).Commit()
		if err == nil {
			break
		}
		if !proposalDropped(err) {
			return err
		}
		// Raft leadership is being transferred (see KeepRaftLeaderAway): the leader
		// refused the proposal without logging it, so it is safe to send again once the
		// transfer is over, which takes about one heartbeat.
		select {
		case <-ctx.Done():
			return err
		case <-time.After(s.cfg.HeartbeatInterval):
		}
	}
	if !resp.Succeeded {
		return ErrConflict
	}
	return nil
}

// proposalDropped reports whether etcd refused a write before logging it: the raft
// leader drops proposals while it transfers leadership. etcd passes that error to clients
// as an unmapped gRPC status carrying raft's message.
func proposalDropped(err error) bool {
	var se interface{ GRPCStatus() *status.Status }
	return errors.As(err, &se) && se.GRPCStatus().Message() == raft.ErrProposalDropped.Error()
}

// requestSpecific reports whether etcd rejected a request for its content (so splitting a
// batch helps), as opposed to the cluster being unavailable (so it would not).
func requestSpecific(err error) bool {
	var code codes.Code
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		code = ee.Code()
	} else if st, ok := status.FromError(err); ok {
		code = st.Code()
	} else {
		return false
	}
	return code == codes.InvalidArgument || code == codes.ResourceExhausted || code == codes.FailedPrecondition
}

// merger accumulates writes on absolute keys and produces an equivalent etcd operation
// list with no duplicate keys and no put inside a deleted range.
type merger struct {
	puts     map[string]mergedPut
	dels     map[string]struct{}
	prefixes []string // deleted prefixes; none is a prefix of another
	holes    int      // puts inside a deleted prefix: each splits a range once
	bytes    int
}

type mergedPut struct {
	val     []byte
	covered bool // inside one of prefixes (so it is a hole in that range)
}

func newMerger() *merger {
	return &merger{puts: map[string]mergedPut{}, dels: map[string]struct{}{}}
}

// count is an upper bound on the number of etcd operations ops() returns.
func (m *merger) count() int { return len(m.puts) + len(m.dels) + len(m.prefixes) + m.holes }

func (m *merger) covering(k string) bool {
	for _, p := range m.prefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

func (m *merger) removePut(k string) {
	if p, ok := m.puts[k]; ok {
		if p.covered {
			m.holes--
		}
		delete(m.puts, k)
	}
}

// add records op, whose absolute key is k.
func (m *merger) add(k string, op Op) {
	switch op.kind {
	case opPut:
		m.removePut(k)
		delete(m.dels, k)
		covered := m.covering(k)
		if covered {
			m.holes++
		}
		m.puts[k] = mergedPut{val: op.val, covered: covered}
	case opDelete:
		m.removePut(k)
		if !m.covering(k) {
			m.dels[k] = struct{}{}
		}
	case opDeletePrefix:
		for pk := range m.puts {
			if strings.HasPrefix(pk, k) {
				m.removePut(pk)
			}
		}
		for dk := range m.dels {
			if strings.HasPrefix(dk, k) {
				delete(m.dels, dk)
			}
		}
		if m.covering(k) {
			return // an earlier, wider delete already covers it
		}
		kept := m.prefixes[:0]
		for _, p := range m.prefixes {
			if !strings.HasPrefix(p, k) {
				kept = append(kept, p)
			}
		}
		m.prefixes = append(kept, k)
	}
}

// ops returns the merged writes in a deterministic order.
func (m *merger) ops() []clientv3.Op {
	out := make([]clientv3.Op, 0, m.count())
	prefixes := append([]string(nil), m.prefixes...)
	sort.Strings(prefixes)
	putKeys := make([]string, 0, len(m.puts))
	for k := range m.puts {
		putKeys = append(putKeys, k)
	}
	sort.Strings(putKeys)
	for _, p := range prefixes {
		start, end := p, clientv3.GetPrefixRangeEnd(p)
		// Sorted puts inside p are the holes, in order.
		i := sort.SearchStrings(putKeys, p)
		for ; i < len(putKeys) && strings.HasPrefix(putKeys[i], p); i++ {
			h := putKeys[i]
			if start < h {
				out = append(out, clientv3.OpDelete(start, clientv3.WithRange(h)))
			}
			start = h + "\x00"
		}
		if start < end {
			out = append(out, clientv3.OpDelete(start, clientv3.WithRange(end)))
		}
	}
	for _, k := range putKeys {
		out = append(out, clientv3.OpPut(k, string(m.puts[k].val)))
	}
	delKeys := make([]string, 0, len(m.dels))
	for k := range m.dels {
		delKeys = append(delKeys, k)
	}
	sort.Strings(delKeys)
	for _, k := range delKeys {
		out = append(out, clientv3.OpDelete(k))
	}
	return out
}
