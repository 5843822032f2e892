package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// KV is one key (relative to the Store's prefix) with its value and revisions.
type KV struct {
	Key            string
	Value          []byte
	CreateRevision int64
	ModRevision    int64
}

// listPageSize bounds one range response while listing, so a huge prefix does not become
// one huge gRPC message.
const listPageSize = 5000

// Get returns the value of key, or ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	kv, err := s.GetKV(ctx, key)
	if err != nil {
		return nil, err
	}
	return kv.Value, nil
}

// GetKV returns key with its revisions (for PutIfRevision), or ErrNotFound.
func (s *Store) GetKV(ctx context.Context, key string) (KV, error) {
	resp, err := s.client.Get(clientv3.WithRequireLeader(ctx), s.abs(key))
	if err != nil {
		return KV{}, fmt.Errorf("store get %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return KV{}, fmt.Errorf("store get %s: %w", key, ErrNotFound)
	}
	kv := resp.Kvs[0]
	return KV{Key: key, Value: kv.Value, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision}, nil
}

// List returns every key that starts with prefix (relative; "" lists everything), sorted by
// key.
func (s *Store) List(ctx context.Context, prefix string) ([]KV, error) {
	kvs, _, err := s.ListWithRevision(ctx, prefix)
	return kvs, err
}

// ListWithRevision is List plus the store revision the listing reflects: Watch from
// revision+1 to follow changes after it without a gap.
func (s *Store) ListWithRevision(ctx context.Context, prefix string) ([]KV, int64, error) {
	ctx = clientv3.WithRequireLeader(ctx)
	start := s.abs(prefix)
	end := clientv3.GetPrefixRangeEnd(start)
	var (
		out []KV
		rev int64
	)
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(listPageSize)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := s.client.Get(ctx, start, opts...)
		if err != nil {
			return nil, 0, fmt.Errorf("store list %s: %w", prefix, err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			out = append(out, KV{Key: s.rel(kv.Key), Value: kv.Value, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision})
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return out, rev, nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

type opKind uint8

const (
	opPut opKind = iota + 1
	opDelete
	opDeletePrefix
	opGuard // a condition only: writes nothing
)

type condKind uint8

const (
	condNone condKind = iota
	condAbsent
	condModRevision
	condCreateRevision
)

// Op is one write in an Apply. Build it with Put, Delete, DeletePrefix, PutIfAbsent,
// PutIfRevision, DeleteIfRevision, or a Collection's PutOp/DeleteOp.
type Op struct {
	kind opKind
	key  string
	val  []byte
	cond condKind
	rev  int64
	err  error // a construction error (e.g. JSON encoding), returned by Apply
}

// Put sets key to val.
func Put(key string, val []byte) Op { return Op{kind: opPut, key: key, val: val} }

// PutJSON sets key to v encoded as JSON; an encoding error fails the Apply
// that carries the op.
func PutJSON(key string, v any) Op {
	b, err := json.Marshal(v)
	if err != nil {
		return Op{kind: opPut, key: key, err: fmt.Errorf("encode %s: %w", key, err)}
	}
	return Put(key, b)
}

// Delete removes key (no error if it does not exist).
func Delete(key string) Op { return Op{kind: opDelete, key: key} }

// DeletePrefix removes every key that starts with prefix. The prefix must not be empty.
func DeletePrefix(prefix string) Op { return Op{kind: opDeletePrefix, key: prefix} }

// PutIfAbsent sets key to val only if key does not exist. If it exists, the whole Apply
// writes nothing and returns ErrConflict.
func PutIfAbsent(key string, val []byte) Op {
	return Op{kind: opPut, key: key, val: val, cond: condAbsent}
}

// PutIfRevision sets key to val only if key's ModRevision is modRevision (0: the key does
// not exist). Otherwise the whole Apply writes nothing and returns ErrConflict.
func PutIfRevision(key string, val []byte, modRevision int64) Op {
	return Op{kind: opPut, key: key, val: val, cond: condModRevision, rev: modRevision}
}

// DeleteIfRevision removes key only if its ModRevision is modRevision. Otherwise the whole
// Apply writes nothing and returns ErrConflict.
func DeleteIfRevision(key string, modRevision int64) Op {
	return Op{kind: opDelete, key: key, cond: condModRevision, rev: modRevision}
}

// Guard writes nothing: it makes the whole Apply fail with ErrConflict unless key exists
// with this create revision (it was not deleted and re-created since). Leaders use it as
// a fence (see LeadershipGuard).
func Guard(key string, createRevision int64) Op {
	return Op{kind: opGuard, key: key, cond: condCreateRevision, rev: createRevision}
}

// Key is the relative key (or prefix) the operation writes.
func (o Op) Key() string { return o.key }

func (o Op) validate() error {
	if o.err != nil {
		return o.err
	}
	switch o.kind {
	case opPut, opDelete:
		if o.key == "" {
			return errors.New("empty key")
		}
	case opDeletePrefix:
		if o.key == "" {
			return errors.New("empty prefix: refusing to delete every key")
		}
	case opGuard:
		if o.key == "" || o.rev <= 0 {
			return errors.New("guard needs a key and a create revision")
		}
	default:
		return errors.New("zero Op")
	}
	return nil
}

// Apply writes ops atomically, in order (a later op on the same key wins; a Put after a
// DeletePrefix that covers it survives). Concurrent Apply calls are group-committed: they
// share one etcd transaction when they fit in it, yet each caller gets its own error, and
// a call that etcd rejects does not fail the others. Applies with conditional ops
// (PutIfAbsent, PutIfRevision, DeleteIfRevision) get a transaction of their own.
//
// If ctx ends while the write is in flight, Apply returns ctx's error and the write may or
// may not have happened, as with any remote write.
func (s *Store) Apply(ctx context.Context, ops ...Op) error {
	if len(ops) == 0 {
		return nil
	}
	r := &applyReq{ctx: ctx, ops: ops, done: make(chan error, 1)}
	var errs []error
	for i, op := range ops {
		if err := op.validate(); err != nil {
			errs = append(errs, fmt.Errorf("op %d (%s): %w", i, op.key, err))
		}
		if op.cond != condNone {
			r.conditional = true
		}
		r.bytes += len(s.root) + len(op.key) + len(op.val) + 16
	}
	if len(errs) > 0 {
		return fmt.Errorf("store apply: %w", errors.Join(errs...))
	}
	select {
	case s.applyCh <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.ctx.Done():
		return ErrClosed
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-s.ctx.Done():
		// Close waits for the commit in flight; take its answer if it is there.
		select {
		case err := <-r.done:
			return err
		default:
			return ErrClosed
		}
	}
}
