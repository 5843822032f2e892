package marathon

import (
	"io"
	"log/slog"
	"testing"
	"time"

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
