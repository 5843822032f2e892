package store

import (
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/raft/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// applySequential is the reference semantics of Apply: ops one after another.
func applySequential(state map[string]string, ops []Op) {
	for _, op := range ops {
		switch op.kind {
		case opPut:
			state[op.key] = string(op.val)
		case opDelete:
			delete(state, op.key)
		case opDeletePrefix:
			for k := range state {
				if strings.HasPrefix(k, op.key) {
					delete(state, k)
				}
			}
		}
	}
}

// applyMerged applies the merger's etcd ops to state, checking etcd's rules on the way:
// no key put twice, no put inside a deleted range.
func applyMerged(t *testing.T, state map[string]string, ops []clientv3.Op) {
	t.Helper()
	type rng struct{ start, end string }
	var dels []rng
	puts := map[string]string{}
	for _, op := range ops {
		switch {
		case op.IsPut():
			k := string(op.KeyBytes())
			if _, dup := puts[k]; dup {
				t.Fatalf("key %q put twice", k)
			}
			puts[k] = string(op.ValueBytes())
		case op.IsDelete():
			end := string(op.RangeBytes())
			if end == "" {
				end = string(op.KeyBytes()) + "\x00"
			}
			dels = append(dels, rng{string(op.KeyBytes()), end})
		default:
			t.Fatalf("unexpected op %v", op)
		}
	}
	for k := range puts {
		for _, d := range dels {
			if k >= d.start && k < d.end {
				t.Fatalf("put %q inside deleted range [%q, %q)", k, d.start, d.end)
			}
		}
	}
	for k := range state {
		for _, d := range dels {
			if k >= d.start && k < d.end {
				delete(state, k)
			}
		}
	}
	maps.Copy(state, puts)
}

func checkMerge(t *testing.T, initial map[string]string, ops []Op) {
	t.Helper()
	want := maps.Clone(initial)
	applySequential(want, ops)
	m := newMerger()
	for _, op := range ops {
		m.add(op.key, op)
	}
	eops := m.ops()
	if len(eops) > m.count() {
		t.Fatalf("count() = %d, but ops() returned %d", m.count(), len(eops))
	}
	got := maps.Clone(initial)
	applyMerged(t, got, eops)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("merged ops differ from sequential semantics (-want +got):\n%s", diff)
	}
}

func TestMerger(t *testing.T) {
	initial := map[string]string{"a/1": "x", "a/2": "x", "a/b/1": "x", "b/1": "x", "c": "x"}
	tests := []struct {
		name string
		ops  []Op
	}{
		{"last put wins", []Op{Put("k", []byte("1")), Put("k", []byte("2"))}},
		{"put then delete", []Op{Put("k", []byte("1")), Delete("k")}},
		{"delete then put", []Op{Delete("c"), Put("c", []byte("2"))}},
		{"delete prefix then put inside", []Op{DeletePrefix("a/"), Put("a/2", []byte("n")), Put("a/b/9", []byte("n"))}},
		{"put inside then delete prefix", []Op{Put("a/9", []byte("n")), DeletePrefix("a/")}},
		{"narrow then wide prefix", []Op{DeletePrefix("a/b/"), Put("a/b/2", nil), DeletePrefix("a/")}},
		{"wide then narrow prefix", []Op{DeletePrefix("a/"), Put("a/b/2", nil), DeletePrefix("a/b/")}},
		{"delete inside deleted prefix", []Op{DeletePrefix("a/"), Delete("a/1"), Put("a/1", []byte("z"))}},
		{"empty", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkMerge(t, initial, tc.ops) })
	}
}

// FuzzMerger checks that any sequence of writes merges into a conflict-free transaction
// with the same effect. Each input byte pair picks an op and a key.
func FuzzMerger(f *testing.F) {
	f.Add([]byte{0, 1, 2, 1, 1, 3})
	f.Add([]byte{2, 0, 0, 1, 0, 5, 2, 2, 0, 7})
	f.Add([]byte{1, 1, 2, 4, 0, 4, 2, 1, 0, 6, 1, 6})
	keys := []string{"a", "a/", "a/1", "a/2", "a/b/", "a/b/1", "b", "b/1"}
	f.Fuzz(func(t *testing.T, data []byte) {
		var ops []Op
		for i := 0; i+1 < len(data) && len(ops) < 64; i += 2 {
			k := keys[int(data[i+1])%len(keys)]
			switch data[i] % 3 {
			case 0:
				ops = append(ops, Put(k, []byte{data[i]}))
			case 1:
				ops = append(ops, Delete(k))
			case 2:
				ops = append(ops, DeletePrefix(k))
			}
		}
		initial := map[string]string{}
		for _, k := range keys {
			initial[k] = "init"
		}
		checkMerge(t, initial, ops)
	})
}

func TestMergerOpsDeterministic(t *testing.T) {
	m := newMerger()
	for _, k := range []string{"z", "a", "m"} {
		m.add(k, Put(k, []byte(k)))
	}
	var keys []string
	for _, op := range m.ops() {
		keys = append(keys, string(op.KeyBytes()))
	}
	if !sort.StringsAreSorted(keys) {
		t.Fatalf("ops not sorted: %v", keys)
	}
}

func TestProposalDropped(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{status.Error(codes.Unknown, raft.ErrProposalDropped.Error()), true},
		{fmt.Errorf("txn: %w", status.Error(codes.Unknown, raft.ErrProposalDropped.Error())), true},
		{status.Error(codes.Unavailable, "etcdserver: no leader"), false},
		{raft.ErrProposalDropped, false}, // not from a server: never seen by a client
		{errors.New("raft proposal dropped"), false},
	} {
		if got := proposalDropped(c.err); got != c.want {
			t.Errorf("proposalDropped(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
