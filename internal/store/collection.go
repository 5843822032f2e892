package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// Collection is a set of JSON values of type T under one prefix, keyed by ID:
// the value for id lives at "<prefix>/<id>". IDs may contain "/"; List returns every key
// under the prefix, so a collection's prefix must not be shared with anything else.
type Collection[T any] struct {
	s      *Store
	prefix string // with trailing "/"
}

// NewCollection returns the collection of T under prefix (relative, e.g. "marathon/apps").
func NewCollection[T any](s *Store, prefix string) *Collection[T] {
	return &Collection[T]{s: s, prefix: strings.TrimSuffix(prefix, "/") + "/"}
}

// Entry is one collection member with its ID and revisions.
type Entry[T any] struct {
	ID             string
	Value          T
	CreateRevision int64
	ModRevision    int64
}

// Key is the store key (relative to the Store prefix) of id.
func (c *Collection[T]) Key(id string) string { return c.prefix + id }

// Prefix is the collection's key prefix, with a trailing "/", for Watch.
func (c *Collection[T]) Prefix() string { return c.prefix }

// ID returns the id of a key in this collection (as found in a WatchEvent), and whether
// the key belongs to it.
func (c *Collection[T]) ID(key string) (string, bool) {
	id, ok := strings.CutPrefix(key, c.prefix)
	return id, ok && id != ""
}

// Decode decodes a stored value (as found in a WatchEvent).
func (c *Collection[T]) Decode(data []byte) (T, error) {
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		return v, fmt.Errorf("decode %s value: %w", c.prefix, err)
	}
	return v, nil
}

// Get returns the value of id, or an error wrapping ErrNotFound.
func (c *Collection[T]) Get(ctx context.Context, id string) (T, error) {
	e, err := c.GetEntry(ctx, id)
	return e.Value, err
}

// GetEntry returns id's value with its revisions (for PutIfRevisionOp).
func (c *Collection[T]) GetEntry(ctx context.Context, id string) (Entry[T], error) {
	kv, err := c.s.GetKV(ctx, c.Key(id))
	if err != nil {
		return Entry[T]{}, err
	}
	v, err := c.Decode(kv.Value)
	if err != nil {
		return Entry[T]{}, fmt.Errorf("store get %s: %w", kv.Key, err)
	}
	return Entry[T]{ID: id, Value: v, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision}, nil
}

// Put stores v as id.
func (c *Collection[T]) Put(ctx context.Context, id string, v T) error {
	return c.s.Apply(ctx, c.PutOp(id, v))
}

// Delete removes id (no error if absent).
func (c *Collection[T]) Delete(ctx context.Context, id string) error {
	return c.s.Apply(ctx, c.DeleteOp(id))
}

// List returns every value, ordered by ID.
func (c *Collection[T]) List(ctx context.Context) ([]T, error) {
	es, _, err := c.Entries(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]T, len(es))
	for i, e := range es {
		out[i] = e.Value
	}
	return out, nil
}

// Entries returns every entry, ordered by ID, and the store revision of the listing
// (Watch Prefix() from revision+1 to follow changes).
func (c *Collection[T]) Entries(ctx context.Context) ([]Entry[T], int64, error) {
	kvs, rev, err := c.s.ListWithRevision(ctx, c.prefix)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Entry[T], 0, len(kvs))
	for _, kv := range kvs {
		v, err := c.Decode(kv.Value)
		if err != nil {
			return nil, 0, fmt.Errorf("store list %s: key %s: %w", c.prefix, kv.Key, err)
		}
		id, _ := c.ID(kv.Key)
		out = append(out, Entry[T]{ID: id, Value: v, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision})
	}
	return out, rev, nil
}

// PutOp is the Op that stores v as id, for batching typed writes in one Apply. An encoding
// error surfaces from Apply.
func (c *Collection[T]) PutOp(id string, v T) Op {
	data, err := c.encode(id, v)
	if err != nil {
		return Op{kind: opPut, key: c.Key(id), err: err}
	}
	return Put(c.Key(id), data)
}

// PutIfAbsentOp is PutOp that conflicts (ErrConflict) if id exists.
func (c *Collection[T]) PutIfAbsentOp(id string, v T) Op {
	op := c.PutOp(id, v)
	op.cond = condAbsent
	return op
}

// PutIfRevisionOp is PutOp that conflicts (ErrConflict) unless id's ModRevision is
// modRevision (0: absent).
func (c *Collection[T]) PutIfRevisionOp(id string, v T, modRevision int64) Op {
	op := c.PutOp(id, v)
	op.cond, op.rev = condModRevision, modRevision
	return op
}

// DeleteOp is the Op that removes id.
func (c *Collection[T]) DeleteOp(id string) Op { return Delete(c.Key(id)) }

func (c *Collection[T]) encode(id string, v T) ([]byte, error) {
	if id == "" {
		return nil, fmt.Errorf("collection %s: empty id", c.prefix)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("collection %s: encode %s: %w", c.prefix, id, err)
	}
	return data, nil
}
