package store

import (
	"context"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// EventType says what a WatchEvent reports.
type EventType uint8

const (
	// EventPut: Key was created or updated to Value.
	EventPut EventType = iota + 1
	// EventDelete: Key was deleted.
	EventDelete
	// EventResync: the watcher fell behind etcd's compacted history (Revision is the
	// compaction revision), so events were lost. It is the last event: the channel closes
	// after it. Re-read with ListWithRevision and Watch again from its revision+1.
	EventResync
)

func (t EventType) String() string {
	switch t {
	case EventPut:
		return "put"
	case EventDelete:
		return "delete"
	case EventResync:
		return "resync"
	}
	return "unknown"
}

// WatchEvent is one change under a watched prefix.
type WatchEvent struct {
	Type     EventType
	Key      string // relative to the Store prefix
	Value    []byte // nil for deletes
	Revision int64  // the store revision of the change
	// CreateRevision is the key's creation revision (0 for deletes).
	CreateRevision int64
}

// Watch streams changes to keys under prefix (relative; "" watches everything) with
// revision ≥ fromRevision (0: changes after now). Events of one revision arrive in order,
// revisions in increasing order, without gaps or repeats: when the connection to etcd
// breaks, the watch resumes after the last delivered revision. The channel closes when ctx
// ends, when the Store closes, or after an EventResync.
func (s *Store) Watch(ctx context.Context, prefix string, fromRevision int64) <-chan WatchEvent {
	return s.watchChan(ctx, s.abs(prefix), fromRevision, false, 64)
}

// watchChan runs watchLoop on a goroutine that closes the returned channel when it ends.
// The goroutine ends with ctx or with the Store.
func (s *Store) watchChan(ctx context.Context, key string, rev int64, exact bool, buf int) <-chan WatchEvent {
	out := make(chan WatchEvent, buf)
	go func() {
		defer close(out)
		s.watchLoop(ctx, key, rev, exact, out)
	}()
	return out
}

// watchLoop feeds out until ctx or the Store ends. exact watches one key instead of a
// prefix.
func (s *Store) watchLoop(ctx context.Context, key string, rev int64, exact bool, out chan<- WatchEvent) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel) // the Store's end ends the watch
	defer stop()
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		opts := []clientv3.OpOption{clientv3.WithCreatedNotify()}
		if !exact {
			opts = append(opts, clientv3.WithPrefix())
		}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		for resp := range s.client.Watch(wctx, key, opts...) {
			if resp.CompactRevision != 0 {
				wcancel()
				select {
				case out <- WatchEvent{Type: EventResync, Revision: resp.CompactRevision}:
				case <-ctx.Done():
				}
				return
			}
			if resp.Err() != nil {
				break // e.g. lost leader: resume from rev below
			}
			if resp.Created && rev == 0 {
				rev = resp.Header.Revision + 1
			}
			for _, ev := range resp.Events {
				we := WatchEvent{Key: s.rel(ev.Kv.Key), Revision: ev.Kv.ModRevision}
				if ev.Type == mvccpb.PUT {
					we.Type, we.Value, we.CreateRevision = EventPut, ev.Kv.Value, ev.Kv.CreateRevision
				} else {
					we.Type = EventDelete
				}
				select {
				case out <- we:
				case <-ctx.Done():
					wcancel()
					return
				}
				rev = ev.Kv.ModRevision + 1
			}
			backoff = 50 * time.Millisecond
		}
		wcancel()
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}
