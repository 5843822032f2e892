package mesos

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/basalt-dcos/basalt/internal/mesos/state"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

func liveRec(id string, n int) *state.Task {
	rec := &state.Task{}
	rec.Info.TaskID = mesosv1.ID{Value: id}
	rec.Info.Name = fmt.Sprint(n)
	return rec
}

// TestLiveListFollowsChanges applies random inserts, replacements and
// removals with snapshots (flushLive) in between, and checks after every
// flush that fw.live is exactly the live tasks, sorted, with their latest
// records, and that a list a snapshot shared is never changed afterwards.
func TestLiveListFollowsChanges(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	fw := &framework{}
	want := map[string]*state.Task{}
	var shared []*state.Task
	var sharedCopy []*state.Task
	for step := range 5000 {
		id := fmt.Sprintf("task-%03d", r.IntN(300))
		switch r.IntN(10) {
		case 0, 1, 2:
			fw.delLive(id)
			delete(want, id)
		case 9:
			fw.flushLive()
			fw.liveShared = true
			if !slices.Equal(shared, sharedCopy) {
				t.Fatalf("step %d: a shared list was changed", step)
			}
			shared, sharedCopy = fw.live, slices.Clone(fw.live)
			if len(fw.live) != len(want) {
				t.Fatalf("step %d: %d live, want %d", step, len(fw.live), len(want))
			}
			for i, rec := range fw.live {
				id := rec.Info.TaskID.Value
				if want[id] != rec {
					t.Fatalf("step %d: %s is not its latest record", step, id)
				}
				if i > 0 && fw.live[i-1].Info.TaskID.Value >= id {
					t.Fatalf("step %d: not sorted at %d", step, i)
				}
			}
		default:
			rec := liveRec(id, step)
			fw.setLive(rec)
			want[id] = rec
		}
	}
}

// BenchmarkReregisterLive100kTasks: 10,000 agents report 10 tasks each
// (in agent order, not task ID order) into a framework's live list, then
// one snapshot. Before the merge at snapshot time each task was inserted
// into the sorted list on its own (O(n²) for 100,000 tasks).
func BenchmarkReregisterLive100kTasks(b *testing.B) {
	recs := make([]*state.Task, 100_000)
	for i := range recs {
		recs[i] = liveRec(fmt.Sprintf("app-%04d.%08x", i%1000, rand.Uint32()), i)
	}
	b.ReportAllocs()
	for b.Loop() {
		fw := &framework{}
		for _, rec := range recs {
			fw.setLive(rec)
		}
		fw.flushLive()
	}
}
