package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/basalt-dcos/basalt/internal/store"
	"github.com/basalt-dcos/basalt/internal/store/storetest"
)

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func keysOf(kvs []store.KV) map[string]string {
	out := map[string]string{}
	for _, kv := range kvs {
		out[kv.Key] = string(kv.Value)
	}
	return out
}

func TestCRUD(t *testing.T) {
	s := storetest.Open(t)
	ctx := t.Context()

	if _, err := s.Get(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(missing) = %v, want ErrNotFound", err)
	}
	if err := s.Apply(ctx, store.Put("a/1", []byte("one")), store.Put("a/2", []byte("two")), store.Put("b/1", []byte("b"))); err != nil {
		t.Fatal(err)
	}
	v, err := s.Get(ctx, "a/1")
	if err != nil || string(v) != "one" {
		t.Fatalf("Get(a/1) = %q, %v", v, err)
	}
	kvs, err := s.List(ctx, "a/")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"a/1": "one", "a/2": "two"}, keysOf(kvs)); diff != "" {
		t.Fatalf("List(a/) (-want +got):\n%s", diff)
	}
	// The raw key lives under the prefix.
	raw, err := s.Client().Get(ctx, s.Prefix()+"/a/1")
	if err != nil || len(raw.Kvs) != 1 {
		t.Fatalf("raw get: %v %v", raw, err)
	}

	// One Apply is one ordered transaction.
	if err := s.Apply(ctx, store.DeletePrefix("a/"), store.Put("a/3", []byte("three")), store.Delete("b/1")); err != nil {
		t.Fatal(err)
	}
	kvs, err = s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"a/3": "three"}, keysOf(kvs)); diff != "" {
		t.Fatalf("List() (-want +got):\n%s", diff)
	}

	// Conditional writes.
	if err := s.Apply(ctx, store.PutIfAbsent("a/3", []byte("x"))); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("PutIfAbsent(existing) = %v, want ErrConflict", err)
	}
	kv, err := s.GetKV(ctx, "a/3")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, store.PutIfRevision("a/3", []byte("new"), kv.ModRevision), store.Put("c", []byte("c"))); err != nil {
		t.Fatalf("PutIfRevision(current) = %v", err)
	}
	if err := s.Apply(ctx, store.PutIfRevision("a/3", []byte("stale"), kv.ModRevision), store.Put("d", []byte("d"))); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("PutIfRevision(stale) = %v, want ErrConflict", err)
	}
	if _, err := s.Get(ctx, "d"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a conflicting Apply wrote d: %v", err)
	}
	if err := s.Apply(ctx, store.PutIfRevision("fresh", []byte("f"), 0)); err != nil {
		t.Fatalf("PutIfRevision(absent, 0) = %v", err)
	}

	// Bad ops are refused before reaching etcd.
	if err := s.Apply(ctx, store.Put("", nil)); err == nil {
		t.Fatal("Apply(Put(\"\")) succeeded")
	}
	if err := s.Apply(ctx, store.DeletePrefix("")); err == nil {
		t.Fatal("Apply(DeletePrefix(\"\")) succeeded")
	}
}

func TestListPaginates(t *testing.T) {
	s := storetest.Open(t)
	ctx := t.Context()
	const n = 12000 // more than one page, more than one transaction at MaxTxnOps 10000
	ops := make([]store.Op, 0, n)
	for i := range n {
		ops = append(ops, store.Put(fmt.Sprintf("many/%05d", i), []byte("v")))
	}
	// Split into Applies that each fit a transaction.
	for i := 0; i < n; i += 4000 {
		if err := s.Apply(ctx, ops[i:i+4000]...); err != nil {
			t.Fatal(err)
		}
	}
	kvs, err := s.List(ctx, "many/")
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) != n || kvs[0].Key != "many/00000" || kvs[n-1].Key != fmt.Sprintf("many/%05d", n-1) {
		t.Fatalf("List returned %d keys (%s..%s), want %d", len(kvs), kvs[0].Key, kvs[len(kvs)-1].Key, n)
	}
}

func TestGroupCommit(t *testing.T) {
	s := storetest.Open(t, func(c *store.Config) { c.MaxRequestBytes = 256 << 10 })
	ctx := t.Context()
	_, rev0, err := s.ListWithRevision(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}

	const callers = 200
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ops := []store.Op{
				store.Put(fmt.Sprintf("g/%03d/a", i), []byte("a")),
				store.Put(fmt.Sprintf("g/%03d/b", i), []byte("b")),
				store.Put("g/shared", []byte("x")), // every caller writes it: merged
			}
			switch {
			case i%50 == 7:
				// Too large for one request: etcd rejects it, alone.
				ops = append(ops, store.Put(fmt.Sprintf("g/%03d/huge", i), make([]byte, 300<<10)))
			case i%50 == 9:
				ops = append(ops, store.PutIfAbsent("g/once", []byte(fmt.Sprint(i))))
			}
			errs[i] = s.Apply(ctx, ops...)
		}()
	}
	wg.Wait()

	kvs, rev1, err := s.ListWithRevision(ctx, "g/")
	if err != nil {
		t.Fatal(err)
	}
	got := keysOf(kvs)
	conflicts := 0
	for i, err := range errs {
		_, wroteA := got[fmt.Sprintf("g/%03d/a", i)]
		switch {
		case i%50 == 7:
			if err == nil || wroteA {
				t.Errorf("caller %d (too large): err=%v, wrote=%v; want an error and nothing written", i, err, wroteA)
			}
		case i%50 == 9 && errors.Is(err, store.ErrConflict):
			conflicts++
			if wroteA {
				t.Errorf("caller %d conflicted but wrote", i)
			}
		default:
			if err != nil || !wroteA || got[fmt.Sprintf("g/%03d/b", i)] != "b" {
				t.Errorf("caller %d: err=%v wrote=%v", i, err, wroteA)
			}
		}
	}
	if conflicts != 3 { // 4 callers race for g/once: one wins
		t.Errorf("%d PutIfAbsent conflicts, want 3", conflicts)
	}
	if got["g/shared"] != "x" {
		t.Errorf("g/shared = %q", got["g/shared"])
	}
	// Not asserted (timing-dependent): how much batching happened.
	t.Logf("%d Apply calls committed in %d revisions", callers, rev1-rev0)
}

func TestApplyAfterClose(t *testing.T) {
	s := storetest.Open(t)
	s.Close()
	if err := s.Apply(context.Background(), store.Put("k", nil)); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Apply after Close = %v, want ErrClosed", err)
	}
}

func TestWatch(t *testing.T) {
	s := storetest.Open(t)
	ctx := t.Context()
	if err := s.Apply(ctx, store.Put("w/old", []byte("0"))); err != nil {
		t.Fatal(err)
	}
	oldKV, err := s.GetKV(ctx, "w/old")
	if err != nil {
		t.Fatal(err)
	}

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	live := s.Watch(wctx, "w/", 0)
	replay := s.Watch(wctx, "w/", oldKV.ModRevision)
	// A watch from "now" must be established before the writes it should see; the first
	// write after this point is what it reports first.
	if err := s.Apply(ctx, store.Put("w/a", []byte("1")), store.Put("other", []byte("x"))); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, store.Delete("w/a")); err != nil {
		t.Fatal(err)
	}

	type ev struct {
		Type  store.EventType
		Key   string
		Value string
	}
	read := func(ch <-chan store.WatchEvent, n int) []ev {
		t.Helper()
		var out []ev
		var lastRev int64
		timeout := time.After(10 * time.Second)
		for len(out) < n {
			select {
			case e, ok := <-ch:
				if !ok {
					t.Fatalf("watch closed after %v", out)
				}
				if e.Revision < lastRev {
					t.Fatalf("revision went back: %d after %d", e.Revision, lastRev)
				}
				lastRev = e.Revision
				out = append(out, ev{e.Type, e.Key, string(e.Value)})
			case <-timeout:
				t.Fatalf("timed out; got %v", out)
			}
		}
		return out
	}
	wantTail := []ev{{store.EventPut, "w/a", "1"}, {store.EventDelete, "w/a", ""}}
	gotReplay := read(replay, 3)
	if diff := cmp.Diff(append([]ev{{store.EventPut, "w/old", "0"}}, wantTail...), gotReplay); diff != "" {
		t.Errorf("replayed watch (-want +got):\n%s", diff)
	}
	// The live watch may or may not have been registered before the first write; it must
	// end with the delete and never report w/old.
	gotLive := read(live, 1)
	if gotLive[0] == (ev{store.EventPut, "w/a", "1"}) {
		gotLive = append(gotLive, read(live, 1)...)
	}
	if diff := cmp.Diff(wantTail[len(wantTail)-1], gotLive[len(gotLive)-1]); diff != "" {
		t.Errorf("live watch (-want +got):\n%s", diff)
	}

	cancel()
	for range live { // closes when ctx ends
	}

	// A watch from before the compacted history reports a resync and closes.
	_, rev, err := s.ListWithRevision(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client().Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}
	var evs []store.WatchEvent
	for e := range s.Watch(ctx, "w/", oldKV.ModRevision) {
		evs = append(evs, e)
	}
	if len(evs) != 1 || evs[0].Type != store.EventResync {
		t.Fatalf("watch from compacted revision: %+v, want one resync", evs)
	}
}

func TestWatchEndsOnClose(t *testing.T) {
	s := storetest.Open(t)
	ch := s.Watch(context.Background(), "", 0)
	s.Close()
	for range ch {
	}
}

type app struct {
	ID        string `json:"id"`
	Instances int    `json:"instances"`
}

func TestCollection(t *testing.T) {
	s := storetest.Open(t)
	ctx := t.Context()
	apps := store.NewCollection[app](s, "marathon/apps")

	if _, err := apps.Get(ctx, "/nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(missing) = %v", err)
	}
	if err := apps.Put(ctx, "/web", app{"/web", 2}); err != nil {
		t.Fatal(err)
	}
	// Typed writes of two collections in one transaction.
	other := store.NewCollection[map[string]int](s, "marathon/counters")
	if err := s.Apply(ctx, apps.PutOp("/db", app{"/db", 1}), apps.PutOp("/grp/api", app{"/grp/api", 3}), other.PutOp("n", map[string]int{"a": 1})); err != nil {
		t.Fatal(err)
	}
	got, err := apps.Get(ctx, "/grp/api")
	if err != nil || got != (app{"/grp/api", 3}) {
		t.Fatalf("Get(/grp/api) = %+v, %v", got, err)
	}
	list, err := apps.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]app{{"/db", 1}, {"/grp/api", 3}, {"/web", 2}}, list); diff != "" {
		t.Fatalf("List (-want +got):\n%s", diff)
	}
	entries, rev, err := apps.Entries(ctx)
	if err != nil || len(entries) != 3 || entries[1].ID != "/grp/api" {
		t.Fatalf("Entries = %+v, %v", entries, err)
	}

	if err := s.Apply(ctx, apps.PutIfAbsentOp("/web", app{"/web", 9})); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("PutIfAbsentOp(existing) = %v", err)
	}
	e, err := apps.GetEntry(ctx, "/web")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, apps.PutIfRevisionOp("/web", app{"/web", 5}, e.ModRevision)); err != nil {
		t.Fatal(err)
	}

	// Watching a collection decodes to typed values.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := s.Watch(wctx, apps.Prefix(), rev+1)
	if err := apps.Delete(ctx, "/db"); err != nil {
		t.Fatal(err)
	}
	ev := <-ch // the PutIfRevision above
	id, ok := apps.ID(ev.Key)
	v, err := apps.Decode(ev.Value)
	if !ok || id != "/web" || err != nil || v.Instances != 5 {
		t.Fatalf("event %+v decoded to %q %+v %v", ev, id, v, err)
	}
	ev = <-ch
	if id, _ := apps.ID(ev.Key); ev.Type != store.EventDelete || id != "/db" {
		t.Fatalf("event %+v, want delete of /db", ev)
	}

	// Encoding errors surface from Apply, and nothing is written.
	bad := store.NewCollection[func()](s, "bad")
	if err := s.Apply(ctx, bad.PutOp("f", func() {}), apps.PutOp("/x", app{"/x", 1})); err == nil {
		t.Fatal("Apply with an unencodable value succeeded")
	}
	if _, err := apps.Get(ctx, "/x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a failed Apply wrote /x: %v", err)
	}
}

func TestEnsureClusterID(t *testing.T) {
	s := storetest.Open(t)
	ctx := t.Context()
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := s.EnsureClusterID(ctx)
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] || len(id) != 36 {
			t.Fatalf("cluster IDs differ or malformed: %v", ids)
		}
	}
}

func TestRestartSingleMember(t *testing.T) {
	for _, name := range []string{"fixed URLs", "default URLs"} {
		t.Run(name, func(t *testing.T) {
			cfg := storetest.Config(t)
			if name == "default URLs" {
				cfg.ClientURL, cfg.PeerURL = "", ""
			}
			open := func() *store.Store {
				ctx, cancel := context.WithTimeout(t.Context(), storetest.OpenTimeout)
				defer cancel()
				s, err := store.Open(ctx, cfg, storetest.Logger(t))
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			s := open()
			id, err := s.EnsureClusterID(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			memberID := s.MemberID()
			s.Close()

			s = open()
			defer s.Close()
			id2, err := s.EnsureClusterID(t.Context())
			if err != nil || id2 != id {
				t.Fatalf("cluster ID after restart = %q, %v; want %q", id2, err, id)
			}
			if s.MemberID() != memberID {
				t.Fatalf("member ID changed across restart: %s → %s", memberID, s.MemberID())
			}
		})
	}
}

func TestThreeMembers(t *testing.T) {
	c := storetest.StartCluster(t, 3)
	ctx := t.Context()
	if err := c.Store(0).Apply(ctx, store.Put("k", []byte("v1"))); err != nil {
		t.Fatal(err)
	}
	// Reads are linearizable: another member sees the write at once.
	if v, err := c.Store(2).Get(ctx, "k"); err != nil || string(v) != "v1" {
		t.Fatalf("Get via member 2 = %q, %v", v, err)
	}
	st, err := c.Store(1).Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Members) != 3 || st.Leader == "" || st.Name != "m1" {
		t.Fatalf("status = %+v", st)
	}

	// Losing one member keeps quorum.
	c.Stop(1)
	if err := c.Store(2).Apply(ctx, store.Put("k", []byte("v2")), store.Put("while-down", []byte("x"))); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Store(0).Get(ctx, "k"); err != nil || string(v) != "v2" {
		t.Fatalf("Get via member 0 = %q, %v", v, err)
	}

	// The member restarts from its data dir and catches up.
	if err := c.Start(1); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Store(1).Get(ctx, "while-down"); err != nil || string(v) != "x" {
		t.Fatalf("restarted member reads %q, %v", v, err)
	}
}

func TestCloseWithoutQuorum(t *testing.T) {
	c := storetest.StartCluster(t, 3, func(cfg *store.Config) {
		cfg.RequestTimeout = time.Second
		cfg.SessionTTL = time.Second
	})
	s := c.Store(0)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	elected := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.NewElection("svc", "m0").Run(ctx, func(lctx context.Context) error {
			close(elected)
			<-lctx.Done()
			return nil
		})
	}()
	<-elected
	c.Kill(1)
	c.Kill(2)
	// Must return (bounded by RequestTimeout) although nobody answers.
	c.Stop(0)
	if err := <-done; !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Run after Close = %v, want ErrClosed", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     store.Config
		wantErr string // substring; "" means valid
	}{
		{"embedded minimal", store.Config{DataDir: "/d"}, ""},
		{"external", store.Config{Endpoints: []string{"http://e:2379"}}, ""},
		{"no data dir", store.Config{}, "data dir is required"},
		{"external with data dir", store.Config{Endpoints: []string{"x"}, DataDir: "/d"}, "exclude"},
		{"bad prefix", store.Config{DataDir: "/d", Prefix: "basalt/"}, "prefix"},
		{"bad url", store.Config{DataDir: "/d", ClientURL: "ftp://x:1"}, "scheme"},
		{"not in cluster", store.Config{DataDir: "/d", Name: "a", InitialCluster: []store.Member{{"b", "http://b:2380"}}}, "not in the initial cluster"},
		{"duplicate member", store.Config{DataDir: "/d", Name: "a", InitialCluster: []store.Member{{"a", "http://a:2380"}, {"a", "http://a:2381"}}}, "duplicate"},
		{"peer url mismatch", store.Config{DataDir: "/d", Name: "a", PeerURL: "http://a:1", InitialCluster: []store.Member{{"a", "http://a:2380"}}}, "differs"},
		{"election too short", store.Config{DataDir: "/d", HeartbeatInterval: 100 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond}, "5 heartbeat"},
		{"negative", store.Config{DataDir: "/d", SessionTTL: -1}, "negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
	// Every problem is reported at once.
	err := store.Config{Prefix: "x", SessionTTL: -1}.Validate()
	for _, want := range []string{"data dir", "prefix", "negative"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("combined Validate() = %v, missing %q", err, want)
		}
	}
}

var _ = clientv3.WithPrefix

func TestExternalEndpoints(t *testing.T) {
	member := storetest.Open(t)
	ctx, cancel := context.WithTimeout(t.Context(), storetest.OpenTimeout)
	defer cancel()
	ext, err := store.Open(ctx, store.Config{Endpoints: member.Endpoints(), Prefix: "/tenant"}, storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer ext.Close()
	if ext.Name() != "" || ext.MemberID() != "" {
		t.Fatalf("external store reports member %q/%q", ext.Name(), ext.MemberID())
	}
	if err := ext.Apply(t.Context(), store.Put("k", []byte("v"))); err != nil {
		t.Fatal(err)
	}
	// Prefixes isolate: the member's default prefix does not see it.
	if _, err := member.Get(t.Context(), "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get under another prefix = %v, want ErrNotFound", err)
	}
	st, err := ext.Status(t.Context())
	if err != nil || len(st.Members) != 1 || st.Leader != "m0" {
		t.Fatalf("Status = %+v, %v", st, err)
	}
}

func TestPutJSON(t *testing.T) {
	s := storetest.Open(t)
	if err := s.Apply(t.Context(), store.PutJSON("j/ok", map[string]int{"a": 1})); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get(t.Context(), "j/ok"); err != nil || string(v) != `{"a":1}` {
		t.Fatalf("j/ok = %q %v", v, err)
	}
	// A value JSON cannot encode fails the whole Apply; nothing is written.
	err := s.Apply(t.Context(), store.Put("j/other", []byte("x")), store.PutJSON("j/bad", make(chan int)))
	if err == nil {
		t.Fatal("Apply with an unencodable value succeeded")
	}
	if _, err := s.Get(t.Context(), "j/other"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("j/other written despite the failed Apply: %v", err)
	}
}
