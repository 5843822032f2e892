package agent

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/agentapi"
	"github.com/basalt-dcos/basalt/internal/containerizer/fake"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

func TestRestartRecoversPosixTasks(t *testing.T) {
	m := newFakeMaster(t)
	cfg := testConfig(t, m)
	a1 := startAgent(t, cfg, nil)
	id := a1.ID()
	fw := testFramework("fw-1")
	gate := filepath.Join(t.TempDir(), "go")
	m.send(launchEvent(fw,
		shellTask("sleeper", "sleep 1000"),
		shellTask("exiter", "while [ ! -e "+gate+" ]; do sleep 0.02; done; exit 7")))
	m.waitState("sleeper", mesosv1.TaskRunning)
	m.waitState("exiter", mesosv1.TaskRunning)
	eventually(t, 10*time.Second, func() bool {
		a1.mu.Lock()
		defer a1.mu.Unlock()
		for _, fw := range a1.frameworks {
			for _, t := range fw.tasks {
				if len(t.rec.Pending) > 0 {
					return false
				}
			}
		}
		return true
	}, "updates not acknowledged")
	a1.stop(t)

	// While no agent runs, one task ends.
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	n := m.subscribeCount()
	a2 := startAgent(t, cfg, nil)
	if a2.ID() != id {
		t.Fatalf("restarted agent id = %q, want %q", a2.ID(), id)
	}
	sub := m.lastSubscribe()
	if m.subscribeCount() != n+1 || sub.AgentInfo.ID == nil || sub.AgentInfo.ID.Value != id {
		t.Fatalf("restarted agent did not re-register as %s: %+v", id, sub.AgentInfo.ID)
	}
	got := map[string]agentapi.Task{}
	for _, tk := range sub.Tasks {
		got[tk.Info.TaskID.Value] = tk
	}
	if got["sleeper"].State != mesosv1.TaskRunning {
		t.Errorf("sleeper re-registered as %q, want RUNNING", got["sleeper"].State)
	}
	u := m.waitState("exiter", mesosv1.TaskFailed)
	if u.Status.Message != "Command exited with status 7" {
		t.Errorf("exiter: %q", u.Status.Message)
	}
	// The sleeper is still supervised: a kill works.
	m.send(killEvent("fw-1", "sleeper", 0))
	m.waitState("sleeper", mesosv1.TaskKilled)
}

func TestRestartReportsLostContainers(t *testing.T) {
	m := newFakeMaster(t)
	cfg := fakeConfig(t, m)
	rt := fake.NewRuntime()
	a1 := startAgent(t, cfg, fakeConts(rt))
	m.send(launchEvent(testFramework("fw-1"), shellTask("a", "x")))
	m.waitState("a", mesosv1.TaskRunning)
	a1.stop(t)
	// A new host: the container is gone.
	startAgent(t, cfg, fakeConts(fake.NewRuntime()))
	u := m.waitState("a", mesosv1.TaskFailed)
	if u.Status.Reason != mesosv1.ReasonExecutorTerminated || u.Status.Message != "Container lost during agent restart" {
		t.Errorf("lost container: %q %q", u.Status.Reason, u.Status.Message)
	}
}

func TestRestartResendsUnacknowledgedUpdates(t *testing.T) {
	m := newFakeMaster(t)
	m.setAutoAck(false)
	cfg := fakeConfig(t, m)
	rt := fake.NewRuntime()
	a1 := startAgent(t, cfg, fakeConts(rt))
	m.send(launchEvent(testFramework("fw-1"), shellTask("a", "x")))
	first := m.waitState("a", mesosv1.TaskStarting)
	a1.stop(t)
	n := len(m.updatesOf("a"))
	startAgent(t, cfg, fakeConts(rt))
	eventually(t, 10*time.Second, func() bool { return len(m.updatesOf("a")) > n }, "pending update not resent after restart")
	again := m.updatesOf("a")[n]
	if string(again.Status.UUID) != string(first.Status.UUID) || again.Status.State != mesosv1.TaskStarting {
		t.Fatalf("resent %s %x, want the checkpointed STARTING %x", again.Status.State, again.Status.UUID, first.Status.UUID)
	}
	m.ack(again)
	r := m.waitState("a", mesosv1.TaskRunning)
	m.ack(r)
}
