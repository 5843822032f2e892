package mesos

import (
	"context"
	"fmt"
	"github.com/basalt-dcos/basalt/internal/mesos/state"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/agentapi"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// benchKernel builds a kernel (not running its loop) with agents, one
// framework and n RUNNING tasks spread over the agents.
func benchKernel(b testing.TB, agents, n int) (*kernel, *framework) {
	b.Helper()
	cfg := testConfig()
	cfg.URL = "http://127.0.0.1:5050"
	cfg.MaxCompletedTasksPerFramework = 1000
	m, err := New(cfg, Deps{Registry: NewMemRegistry(), Elector: NewMemElection()})
	if err != nil {
		b.Fatal(err)
	}
	k := newKernel(m, context.Background(), RegistryState{ClusterID: "c"})
	now := time.Now()
	var ags []*agent
	for i := range agents {
		sub := agentSubscribeBody(fmt.Sprintf("h%d", i), "cpus:1000;mem:1000000")
		k.agentSubscribe(agentapi.Call{Type: agentapi.CallSubscribe, Subscribe: &sub}, now)
	}
	for _, a := range k.agents {
		ags = append(ags, a)
	}
	fi := frameworkInfo("bench")
	k.subscribe(&mesosv1.CallSubscribeBody{FrameworkInfo: fi}, now)
	var fw *framework
	for _, f := range k.frameworks {
		fw = f
	}
	for i := range n {
		a := ags[i%len(ags)]
		ti := mesosv1.TaskInfo{Name: "t", TaskID: mesosv1.ID{Value: fmt.Sprintf("task-%06d", i)}, AgentID: mesosv1.ID{Value: a.id},
			Resources: mesosv1.Resources{mesosv1.NewScalar("cpus", 0.01), mesosv1.NewScalar("mem", 1)}.Allocate("*"),
			Command:   &mesosv1.CommandInfo{Value: "sleep 1"}}
		need := mesosv1.Resources(ti.Resources).Normalize()
		k.startTask(fw, a, ti, need, now)
		k.applyStatus(fw, fw.tasks[ti.TaskID.Value], mesosv1.TaskStatus{TaskID: ti.TaskID, State: mesosv1.TaskRunning}, now)
		drain(fw.sub)
	}
	if fw.sub.closed {
		b.Fatal("setup overflowed the framework's queue")
	}
	return k, fw
}

// BenchmarkSnapshot100kTasks measures publishing a snapshot of 100 agents and
// 100,000 tasks after one task changed (the framework's task list is
// rebuilt; task records are shared).
func BenchmarkSnapshot100kTasks(b *testing.B) {
	k, fw := benchKernel(b, 100, 100_000)
	t := fw.tasks["task-000001"]
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		st := mesosv1.TaskStatus{TaskID: t.st.Info.TaskID, State: mesosv1.TaskRunning, Message: fmt.Sprint(i)}
		k.applyStatus(fw, t, st, now)
		_ = k.buildSnapshot(now)
	}
}

// BenchmarkSnapshotUnchanged100kTasks: a snapshot when no task changed.
func BenchmarkSnapshotUnchanged100kTasks(b *testing.B) {
	k, _ := benchKernel(b, 100, 100_000)
	now := time.Now()
	k.buildSnapshot(now)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		_ = k.buildSnapshot(now)
	}
}

// BenchmarkStatusUpdate measures the loop's cost of one agent status update
// (record, copy-on-write task, forward to the framework's queue).
func BenchmarkStatusUpdate(b *testing.B) {
	k, fw := benchKernel(b, 10, 10_000)
	var a *agent
	for _, x := range k.agents {
		a = x
	}
	var ids []string
	for key := range a.tasks {
		ids = append(ids, key.id)
	}
	now := time.Now()
	states := []string{mesosv1.TaskRunning, mesosv1.TaskStarting}
	defer func() {
		if fw.sub.closed {
			b.Fatal("the framework's queue overflowed: updates were not forwarded")
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%1000 == 0 {
			drain(fw.sub)
		}
		id := ids[i%len(ids)]
		k.agentUpdate(a, &agentapi.Update{Updates: []agentapi.StatusUpdate{{FrameworkID: fw.id,
			Status: mesosv1.TaskStatus{TaskID: mesosv1.ID{Value: id}, State: states[i%2], UUID: []byte("u")}}}}, now)
	}
}

// TestSnapshotCopyOnWrite checks that a published snapshot never changes when
// the loop changes, adds or removes tasks afterwards.
func TestSnapshotCopyOnWrite(t *testing.T) {
	k, fw := benchKernel(t, 3, 50)
	now := time.Now()
	before := k.buildSnapshot(now)
	frozen := make([]string, 0, 50)
	for _, task := range before.Frameworks[0].Tasks {
		frozen = append(frozen, task.Info.TaskID.Value+"="+task.State)
	}
	k.applyStatus(fw, fw.tasks["task-000003"], mesosv1.TaskStatus{TaskID: mesosv1.ID{Value: "task-000003"}, State: mesosv1.TaskFinished}, now)
	k.applyStatus(fw, fw.tasks["task-000004"], mesosv1.TaskStatus{TaskID: mesosv1.ID{Value: "task-000004"}, State: mesosv1.TaskKilling}, now)
	a := k.agents[fw.tasks["task-000005"].agentID]
	ti := fw.tasks["task-000005"].st.Info
	ti.TaskID.Value = "task-000003x"
	k.startTask(fw, a, ti, mesosv1.Resources(ti.Resources), now)
	after := k.buildSnapshot(now)
	var got []string
	for _, task := range before.Frameworks[0].Tasks {
		got = append(got, task.Info.TaskID.Value+"="+task.State)
	}
	if !slices.Equal(got, frozen) {
		t.Fatalf("published snapshot changed:\n%v\n%v", frozen, got)
	}
	if n := len(after.Frameworks[0].Tasks); n != 50 {
		t.Fatalf("after: %d live tasks, want 50", n)
	}
	if !slices.IsSortedFunc(after.Frameworks[0].Tasks, func(x, y *state.Task) int { return strings.Compare(x.Info.TaskID.Value, y.Info.TaskID.Value) }) {
		t.Fatal("live tasks not sorted")
	}
	if after.Frameworks[0].Tasks[4].State != mesosv1.TaskKilling || len(after.Frameworks[0].CompletedTasks) != 1 {
		t.Fatalf("after: %+v", after.Frameworks[0].Tasks[4])
	}
	// Unchanged records are shared, not copied.
	if before.Frameworks[0].Tasks[0] != after.Frameworks[0].Tasks[0] {
		t.Fatal("unchanged task record was copied")
	}
}

// drain empties a subscriber's queue (the benchmarks have no HTTP handler
// reading it).
func drain(sub *subscriber) {
	if sub.closed {
		return
	}
	sub.take()
}

// BenchmarkSnapshot10kAgentsOffered: a snapshot of 10,000 agents, each with
// an outstanding offer to the one framework (the offered resources are
// summed per role).
func BenchmarkSnapshot10kAgentsOffered(b *testing.B) {
	k, fw := benchKernel(b, 10_000, 0)
	now := time.Now()
	k.makeOffers(k.alloc.Allocate(now), now)
	drain(fw.sub)
	if len(fw.offers) < 10_000 {
		b.Fatalf("%d offers, want one per agent", len(fw.offers))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		_ = k.buildSnapshot(now)
	}
}
