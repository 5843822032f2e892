package mesos

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/agentapi"
	"github.com/basalt-dcos/basalt/internal/mesos/state"
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

// BenchmarkSnapshot10kAgents100kTasks: a snapshot of 10,000 agents and
// 100,000 tasks after one task on one agent changed state (the cost a
// busy cluster pays per published snapshot).
func BenchmarkSnapshot10kAgents100kTasks(b *testing.B) {
	k, fw := benchKernel(b, 10_000, 100_000)
	t := fw.tasks["task-000001"]
	now := time.Now()
	k.buildSnapshot(now)
	states := []string{mesosv1.TaskRunning, mesosv1.TaskKilling}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		st := mesosv1.TaskStatus{TaskID: t.st.Info.TaskID, State: states[i%2]}
		k.applyStatus(fw, t, st, now)
		_ = k.buildSnapshot(now)
	}
}

// BenchmarkAgentHeartbeat: one agent HEARTBEAT as the master records it
// (off the loop: a map lookup and an atomic store), from 10,000 agents.
func BenchmarkAgentHeartbeat(b *testing.B) {
	k, _ := benchKernel(b, 10_000, 0)
	var ids, streams []string
	for _, a := range k.agents {
		ids, streams = append(ids, a.id), append(streams, a.sub.streamID)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		j := i % len(ids)
		if err := k.heartbeat(ids[j], streams[j]); err != nil {
			b.Fatal(err)
		}
	}
}

// TestHeartbeatOffLoop: a HEARTBEAT counts for the agent's current stream
// only, keeps it from missing pings, and is refused on a replaced or
// closed stream and once the loop stopped.
func TestHeartbeatOffLoop(t *testing.T) {
	k, _ := benchKernel(t, 1, 0)
	var a *agent
	for _, x := range k.agents {
		a = x
	}
	old := a.sub.streamID
	if err := k.heartbeat(a.id, old); err != nil {
		t.Fatalf("heartbeat on the current stream: %v", err)
	}
	a.seen = false
	a.misses = 1
	k.checkPings(time.Now())
	if a.misses != 0 {
		t.Fatalf("a heartbeat did not count as a ping: misses %d", a.misses)
	}
	k.checkPings(time.Now())
	if a.misses != 1 {
		t.Fatalf("a heartbeat counted twice: misses %d", a.misses)
	}
	if err := k.heartbeat(a.id, "bogus"); HTTPStatus(err) != 403 {
		t.Fatalf("heartbeat with a wrong stream id: %v", err)
	}
	if err := k.heartbeat("nobody", old); HTTPStatus(err) != 403 {
		t.Fatalf("heartbeat of an unknown agent: %v", err)
	}
	// The agent re-subscribes: the old stream is closed.
	sub := agentSubscribeBody("h0", "cpus:1000;mem:1000000")
	sub.AgentInfo.ID = &mesosv1.ID{Value: a.id}
	k.agentSubscribe(agentapi.Call{Type: agentapi.CallSubscribe, Subscribe: &sub}, time.Now())
	if err := k.heartbeat(a.id, old); HTTPStatus(err) != 403 {
		t.Fatalf("heartbeat on a replaced stream: %v", err)
	}
	if err := k.heartbeat(a.id, a.sub.streamID); err != nil {
		t.Fatalf("heartbeat on the new stream: %v", err)
	}
	cur := a.sub
	k.agentStreamClosed(a.id, cur)
	if err := k.heartbeat(a.id, cur.streamID); HTTPStatus(err) != 403 {
		t.Fatal("heartbeat on a closed stream accepted")
	}
	close(k.done)
	if err := k.heartbeat(a.id, "x"); !errors.Is(err, errNotLeader) {
		t.Fatalf("heartbeat after the loop stopped: %v", err)
	}
}

// TestSnapshotSharesUnchangedRecords: agents, frameworks and offers that
// did not change keep their records across snapshots (so the read side
// reuses their JSON); a change makes a new record and leaves the
// published one as it was.
func TestSnapshotSharesUnchangedRecords(t *testing.T) {
	k, fw := benchKernel(t, 3, 30)
	now := time.Now()
	k.makeOffers(k.alloc.Allocate(now), now)
	drain(fw.sub)
	s1 := k.buildSnapshot(now)
	s2 := k.buildSnapshot(now)
	if len(s1.Agents) != 3 || len(s1.Frameworks) != 1 || len(s1.Frameworks[0].Offers) == 0 {
		t.Fatalf("snapshot: %d agents, %d frameworks", len(s1.Agents), len(s1.Frameworks))
	}
	for i := range s1.Agents {
		if s1.Agents[i] != s2.Agents[i] {
			t.Fatalf("unchanged agent %d got a new record", i)
		}
	}
	if s1.Frameworks[0] != s2.Frameworks[0] {
		t.Fatal("unchanged framework got a new record")
	}
	// A task finishes on one agent: that agent and the framework change.
	task := fw.tasks["task-000004"]
	changed := task.agentID
	k.applyStatus(fw, task, mesosv1.TaskStatus{TaskID: task.st.Info.TaskID, State: mesosv1.TaskFinished}, now)
	s3 := k.buildSnapshot(now)
	for i, a := range s3.Agents {
		same := a == s2.Agents[i]
		if id := a.Info.ID.Value; same == (id == changed) {
			t.Fatalf("agent %s: record shared %v, changed %v", id, same, id == changed)
		}
	}
	if s3.Frameworks[0] == s2.Frameworks[0] || len(s3.Frameworks[0].Tasks) != 29 || len(s3.Frameworks[0].CompletedTasks) != 1 {
		t.Fatalf("framework after a finished task: %d tasks, %d completed", len(s3.Frameworks[0].Tasks), len(s3.Frameworks[0].CompletedTasks))
	}
	if len(s2.Frameworks[0].Tasks) != 30 || len(s2.Frameworks[0].CompletedTasks) != 0 {
		t.Fatal("the published framework record changed")
	}
	if s3.Frameworks[0].Offers[0] != s2.Frameworks[0].Offers[0] {
		t.Fatal("unchanged offer got a new record")
	}
	// An offer goes: the offer list changes, the old one does not.
	n := len(s3.Frameworks[0].Offers)
	k.rescindOffer(k.offers[s3.Frameworks[0].Offers[0].ID], false)
	s4 := k.buildSnapshot(now)
	if len(s4.Frameworks[0].Offers) != n-1 || len(s3.Frameworks[0].Offers) != n {
		t.Fatalf("offers: %d then %d, want %d then %d", len(s3.Frameworks[0].Offers), len(s4.Frameworks[0].Offers), n, n-1)
	}
}

// BenchmarkOfferRound10kAgents: one offer round at 10,000 agents as a
// launch drives it: an offer to the framework from every agent, each
// offer answered (removed and its resources recovered) one by one, then a
// snapshot, which sums the framework's offered resources.
func BenchmarkOfferRound10kAgents(b *testing.B) {
	k, fw := benchKernel(b, 10_000, 0)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		k.makeOffers(k.alloc.Allocate(now), now)
		drain(fw.sub)
		if len(fw.offers) < 10_000 {
			b.Fatalf("%d offers, want one per agent", len(fw.offers))
		}
		_ = k.buildSnapshot(now)
		for _, o := range fw.offers {
			k.removeOffer(o)
			k.recoverOffer(o, 0, now)
		}
		_ = k.buildSnapshot(now)
	}
}
