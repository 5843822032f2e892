package marathon

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/marathon/match"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// TestStaleUpdateAfterTerminalIsIgnored: once a task is KILLED, a late
// non-final update for the same task (a resend overtaken by the terminal
// one) must not mark it running again: the instance stays due for a new
// task. UNREACHABLE, by contrast, may come back RUNNING.
func TestStaleUpdateAfterTerminalIsIgnored(t *testing.T) {
	m := &Marathon{cfg: DefaultConfig(), log: slog.New(slog.NewTextHandler(io.Discard, nil)), bus: newBus()}
	root := emptyRoot()
	root.Apps["/flaky"] = v2.App{ID: "/flaky", Instances: 1, BackoffSeconds: 1, BackoffFactor: 1.15, MaxLaunchDelaySeconds: 300}
	l := newLoop(m, t.Context(), &persisted{root: root, versions: map[string][]string{}, instances: map[string]*instance{}})
	in := &instance{ID: "flaky.instance-1", AppID: "/flaky", Goal: goalRunning, Incarnation: 1,
		TaskID: "flaky.instance-1._app.1", State: mesosv1.TaskRunning}
	l.index(in)
	now := time.Now()
	yes, no := true, false
	update := func(state string, healthy *bool, reason string) {
		l.onUpdate(mesosv1.TaskStatus{TaskID: mesosv1.ID{Value: in.TaskID}, State: state, Healthy: healthy, Reason: reason}, now)
	}
	update(mesosv1.TaskRunning, &yes, mesosv1.ReasonTaskHealthCheckStatusUpdated)
	update(mesosv1.TaskKilled, &no, mesosv1.ReasonTaskHealthCheckStatusUpdated)
	if !in.scheduled() {
		t.Fatalf("after KILLED: state %s, not scheduled for a new task", in.State)
	}
	update(mesosv1.TaskRunning, &yes, mesosv1.ReasonTaskHealthCheckStatusUpdated)
	if !in.scheduled() || in.State != mesosv1.TaskKilled || in.Healthy != nil {
		t.Fatalf("a stale RUNNING revived the killed task: state %s healthy %v scheduled %v", in.State, in.Healthy, in.scheduled())
	}

	in.State, in.Healthy = mesosv1.TaskRunning, nil
	update(mesosv1.TaskUnreachable, nil, "")
	update(mesosv1.TaskRunning, nil, "")
	if in.State != mesosv1.TaskRunning {
		t.Fatalf("back from UNREACHABLE: state %s, want TASK_RUNNING", in.State)
	}
}

// TestLaunchingTaskNotReconciled: a task whose ACCEPT has not been answered
// is left out of explicit reconciliation (the master, not knowing it yet,
// would answer TASK_GONE); once the ACCEPT is answered it is asked about.
func TestLaunchingTaskNotReconciled(t *testing.T) {
	m := &Marathon{cfg: DefaultConfig(), log: slog.New(slog.NewTextHandler(io.Discard, nil)), bus: newBus()}
	root := emptyRoot()
	root.Apps["/web"] = v2.App{ID: "/web", Instances: 2}
	l := newLoop(m, t.Context(), &persisted{root: root, versions: map[string][]string{}, instances: map[string]*instance{}})
	old := &instance{ID: "web.instance-1", AppID: "/web", Goal: goalRunning, Incarnation: 1,
		TaskID: "web.instance-1._app.1", State: mesosv1.TaskRunning}
	fresh := &instance{ID: "web.instance-2", AppID: "/web", Goal: goalRunning, Incarnation: 1,
		TaskID: "web.instance-2._app.1", State: mesosv1.TaskStaging, launching: true}
	l.index(old)
	l.index(fresh)
	now := time.Now()
	l.reconcile(now)
	if old.reconcileSent.IsZero() || !fresh.reconcileSent.IsZero() {
		t.Fatalf("reconciled: running task %v, launching task %v; want only the running one",
			!old.reconcileSent.IsZero(), !fresh.reconcileSent.IsZero())
	}
	l.launched([]acceptCall{{tasks: []mesosv1.TaskInfo{{TaskID: mesosv1.ID{Value: fresh.TaskID}}}}})
	l.reconcile(now.Add(time.Second))
	if fresh.reconcileSent.IsZero() {
		t.Fatal("a task whose ACCEPT was answered is not reconciled")
	}
}

// TestRunningAfterGoneIsKilled: the agent reporting RUNNING (an update with
// a uuid) for a task Marathon counted GONE must not leave it running
// uncounted: the instance stays due for a new task and the stray is
// killed. A second terminal answer does not back the app off again.
func TestRunningAfterGoneIsKilled(t *testing.T) {
	m := &Marathon{cfg: DefaultConfig(), log: slog.New(slog.NewTextHandler(io.Discard, nil)), bus: newBus()}
	root := emptyRoot()
	root.Apps["/web"] = v2.App{ID: "/web", Instances: 1, BackoffSeconds: 1, BackoffFactor: 1.15, MaxLaunchDelaySeconds: 3600}
	l := newLoop(m, t.Context(), &persisted{root: root, versions: map[string][]string{}, instances: map[string]*instance{}})
	in := &instance{ID: "web.instance-1", AppID: "/web", Goal: goalRunning, Incarnation: 1,
		TaskID: "web.instance-1._app.1", State: mesosv1.TaskStaging}
	l.index(in)
	now := time.Now()
	agent := &mesosv1.ID{Value: "agent-1"}
	l.onUpdate(mesosv1.TaskStatus{TaskID: mesosv1.ID{Value: in.TaskID}, AgentID: agent, State: mesosv1.TaskGone,
		Source: mesosv1.SourceMaster, Reason: mesosv1.ReasonReconciliation}, now)
	delay := l.runtime("/web").delay
	if !in.scheduled() || delay == 0 {
		t.Fatalf("after GONE: state %s scheduled %v delay %s", in.State, in.scheduled(), delay)
	}
	l.onUpdate(mesosv1.TaskStatus{TaskID: mesosv1.ID{Value: in.TaskID}, AgentID: agent, State: mesosv1.TaskRunning,
		Source: mesosv1.SourceExecutor, UUID: []byte("u1")}, now)
	if !in.scheduled() || in.State != mesosv1.TaskGone {
		t.Fatalf("RUNNING after GONE: state %s scheduled %v", in.State, in.scheduled())
	}
	if _, killed := l.unknownKills[in.TaskID]; !killed {
		t.Fatal("the task the agent runs and Marathon counts gone was not killed")
	}
	l.onUpdate(mesosv1.TaskStatus{TaskID: mesosv1.ID{Value: in.TaskID}, AgentID: agent, State: mesosv1.TaskKilled,
		Source: mesosv1.SourceExecutor, UUID: []byte("u2")}, now)
	if got := l.runtime("/web").delay; got != delay {
		t.Fatalf("a second end of the same task backed the app off again: delay %s, was %s", got, delay)
	}
}

// TestOldIncarnationUpdateIsUnknown: once an instance runs a new task, an
// update for its previous task (an agent coming back with it) must not move
// the new task's state: it is a task no instance runs, and it is killed.
func TestOldIncarnationUpdateIsUnknown(t *testing.T) {
	m := &Marathon{cfg: DefaultConfig(), log: slog.New(slog.NewTextHandler(io.Discard, nil)), bus: newBus()}
	root := emptyRoot()
	cmd := "sleep 1000"
	app := v2.App{ID: "/web", Instances: 1, Cmd: &cmd, Cpus: 0.1, Mem: 32}
	root.Apps["/web"] = app
	l := newLoop(m, t.Context(), &persisted{root: root, versions: map[string][]string{}, instances: map[string]*instance{}})
	in := &instance{ID: "web.instance-1", AppID: "/web", Goal: goalRunning, Incarnation: 1,
		TaskID: "web.instance-1._app.1", State: mesosv1.TaskLost}
	l.index(in)
	oldTask := in.TaskID
	offer := mesosv1.Offer{ID: mesosv1.ID{Value: "o1"}, AgentID: mesosv1.ID{Value: "agent-2"}, Hostname: "h2"}
	if _, ok := l.stage(in, app, offer, match.Result{Matched: true}, time.Now()); !ok {
		t.Fatal("stage failed")
	}
	if in.TaskID == oldTask || in.State != mesosv1.TaskStaging {
		t.Fatalf("after stage: task %s state %s", in.TaskID, in.State)
	}
	l.onUpdate(mesosv1.TaskStatus{TaskID: mesosv1.ID{Value: oldTask}, AgentID: &mesosv1.ID{Value: "agent-1"},
		State: mesosv1.TaskRunning, Source: mesosv1.SourceExecutor, UUID: []byte("u1")}, time.Now())
	if in.State != mesosv1.TaskStaging {
		t.Fatalf("the old task's RUNNING moved the new task to %s", in.State)
	}
	if _, killed := l.unknownKills[oldTask]; !killed {
		t.Fatal("the old task, which no instance runs any more, was not killed")
	}
}

// TestAcknowledgeOnceWhileQueued: an update resent while its
// acknowledgement waits in the queue is not acknowledged a second time;
// once the first acknowledgement went out, a resend is acknowledged again.
func TestAcknowledgeOnceWhileQueued(t *testing.T) {
	l, _ := progressLoop(t, 1, 1)
	st := mesosv1.TaskStatus{TaskID: mesosv1.ID{Value: "t1"}, UUID: []byte("u1")}
	other := mesosv1.TaskStatus{TaskID: mesosv1.ID{Value: "t1"}, UUID: []byte("u2")}
	l.acknowledge([]mesosv1.TaskStatus{st, st, other})
	l.acknowledge([]mesosv1.TaskStatus{st})
	if n := len(l.work.items); n != 2 {
		t.Fatalf("%d acknowledgements queued for two distinct updates (one sent three times), want 2", n)
	}
	l.acks.remove(ackKey{task: "t1", uuid: "u1"}) // as the worker does once the call returns
	l.acknowledge([]mesosv1.TaskStatus{st})
	if n := len(l.work.items); n != 3 {
		t.Fatalf("%d acknowledgements queued after the first went out and the update came again, want 3", n)
	}
}
