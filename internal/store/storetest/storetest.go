// Package storetest starts real embedded etcd stores (internal/store) for the tests of
// packages that persist through it: one member, or a cluster of several in one process, on
// t.TempDir() and free loopback ports, closed at the end of the test.
//
// It is test support only: production code must not import it.
package storetest

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/store"
)

// OpenTimeout bounds how long Open and StartCluster wait for quorum.
const OpenTimeout = 30 * time.Second

// FreeURL returns http://127.0.0.1:<port> for a port that was free a moment ago.
func FreeURL(t testing.TB) string {
	t.Helper()
	l, err := store.ListenLoopback()
	if err != nil {
		t.Fatalf("storetest: pick a free port: %v", err)
	}
	defer l.Close()
	return "http://" + l.Addr().String()
}

// Logger returns a logger that writes to t's log until the test ends (etcd goroutines that
// outlive a test must not write to it).
func Logger(t testing.TB) *slog.Logger {
	h := &tlogHandler{state: &tlogState{t: t}, level: slog.LevelInfo}
	t.Cleanup(func() {
		h.state.mu.Lock()
		h.state.done = true
		h.state.mu.Unlock()
	})
	return slog.New(h)
}

// Config returns a single-member embedded configuration on t.TempDir(), with free ports.
func Config(t testing.TB) store.Config {
	t.Helper()
	return store.Config{
		Name:      "m0",
		DataDir:   t.TempDir(),
		ClientURL: FreeURL(t),
		PeerURL:   FreeURL(t),
	}
}

// Open starts a single-member store (Config(t), then each opt) and closes it when the test
// ends.
func Open(t testing.TB, opts ...func(*store.Config)) *store.Store {
	t.Helper()
	cfg := Config(t)
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), OpenTimeout)
	defer cancel()
	s, err := store.Open(ctx, cfg, Logger(t))
	if err != nil {
		t.Fatalf("storetest: open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Cluster is n embedded members in one process.
type Cluster struct {
	t       testing.TB
	Configs []store.Config
	mu      sync.Mutex
	stores  []*store.Store
}

// StartCluster starts n members concurrently (each waits for the others' quorum) and
// closes them when the test ends. opts apply to every member's Config.
func StartCluster(t testing.TB, n int, opts ...func(*store.Config)) *Cluster {
	t.Helper()
	c := &Cluster{t: t, Configs: make([]store.Config, n), stores: make([]*store.Store, n)}
	var initial []store.Member
	for i := range n {
		cfg := Config(t)
		cfg.Name = fmt.Sprintf("m%d", i)
		for _, o := range opts {
			o(&cfg)
		}
		c.Configs[i] = cfg
		initial = append(initial, store.Member{Name: cfg.Name, PeerURL: cfg.PeerURL})
	}
	for i := range c.Configs {
		c.Configs[i].InitialCluster = initial
	}
	t.Cleanup(c.closeAll)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Start(i)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("storetest: start member %d: %v", i, err)
		}
	}
	return c
}

// Store returns member i's store (nil while it is stopped).
func (c *Cluster) Store(i int) *store.Store {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stores[i]
}

// Start (re)opens member i with its data dir: a restart rejoins the cluster.
func (c *Cluster) Start(i int) error {
	ctx, cancel := context.WithTimeout(context.Background(), OpenTimeout)
	defer cancel()
	s, err := store.Open(ctx, c.Configs[i], Logger(c.t).With("member", c.Configs[i].Name))
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.stores[i] = s
	c.mu.Unlock()
	return nil
}

// Stop closes member i cleanly (its elections resign).
func (c *Cluster) Stop(i int) { c.take(i).Close() }

// Kill stops member i as a crash would (store.Abort): its leases lapse after their TTL.
func (c *Cluster) Kill(i int) { c.take(i).Abort() }

func (c *Cluster) take(i int) *store.Store {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stores[i]
	if s == nil {
		c.t.Fatalf("storetest: member %d is not running", i)
	}
	c.stores[i] = nil
	return s
}

func (c *Cluster) closeAll() {
	c.mu.Lock()
	stores := append([]*store.Store(nil), c.stores...)
	clear(c.stores)
	c.mu.Unlock()
	// One after another: a member that closes while it leads hands raft leadership to a
	// live peer; closing all at once would make it wait for a peer that is going away.
	for _, s := range stores {
		if s != nil {
			s.Close()
		}
	}
}

type tlogState struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

// tlogHandler is a slog.Handler writing one line per record to t.Log.
type tlogHandler struct {
	state *tlogState
	level slog.Level
	attrs []slog.Attr
}

func (h *tlogHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *tlogHandler) Handle(_ context.Context, r slog.Record) error {
	line := r.Time.Format("15:04:05.000") + " " + r.Level.String() + " " + r.Message
	for _, a := range h.attrs {
		line += " " + a.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		line += " " + a.String()
		return true
	})
	h.state.mu.Lock()
	defer h.state.mu.Unlock()
	if !h.state.done {
		h.state.t.Log(line)
	}
	return nil
}

func (h *tlogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &n
}

// WithGroup flattens groups: test logs do not need them.
func (h *tlogHandler) WithGroup(string) slog.Handler { return h }
