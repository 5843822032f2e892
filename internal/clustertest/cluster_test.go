package clustertest

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/agent"
	"github.com/basalt-dcos/basalt/internal/containerizer/posix"
	"github.com/basalt-dcos/basalt/internal/master"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

func TestMain(m *testing.M) {
	if handled, code := posix.MaybeRunShim(); handled {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func label(k, v string) mesosv1.Label { return mesosv1.Label{Key: k, Value: v} }

// Launch through the scheduler client; updates flow end to end and are
// acknowledged; the master's state shows the task.
func TestLaunchAndStatusUpdates(t *testing.T) {
	c := New(t, Options{Agents: 2})
	fw := c.StartFramework(FrameworkInfo("launcher", time.Hour))
	fw.Launch(
		Task("short", "true", label("fake.run_for", "300ms")),
		Task("failing", "false", label("fake.run_for", "200ms"), label("fake.exit_code", "3")),
		Task("long", "sleep 1000"),
	)
	fw.WaitState("long", mesosv1.TaskRunning, 30*time.Second)
	fin := fw.WaitState("short", mesosv1.TaskFinished, 30*time.Second)
	failed := fw.WaitState("failing", mesosv1.TaskFailed, 30*time.Second)
	if fin.Source != mesosv1.SourceExecutor && fin.Source != mesosv1.SourceAgent {
		t.Errorf("finished update source = %q", fin.Source)
	}
	if !strings.Contains(failed.Message, "3") {
		t.Errorf("failed message %q does not name exit code 3", failed.Message)
	}
	// In order per task: STARTING/RUNNING before the terminal state.
	var states []string
	for _, u := range fw.Updates("short") {
		states = append(states, u.State)
	}
	if states[len(states)-1] != mesosv1.TaskFinished || !contains(states, mesosv1.TaskRunning) {
		t.Errorf("short's updates: %v", states)
	}
	Eventually(t, 10*time.Second, func() error {
		st := c.State()
		for _, fwk := range st.Frameworks {
			if fwk.ID != fw.ID() {
				continue
			}
			if len(fwk.Tasks) != 1 || fwk.Tasks[0].ID != "long" || fwk.Tasks[0].State != mesosv1.TaskRunning {
				return errorf("tasks %+v", fwk.Tasks)
			}
			if len(fwk.CompletedTasks) != 2 {
				return errorf("%d completed tasks", len(fwk.CompletedTasks))
			}
			return nil
		}
		return errorf("framework not in state")
	})
}

// Explicit and implicit reconciliation answer from the master's view.
func TestReconciliation(t *testing.T) {
	c := New(t, Options{Agents: 1})
	fw := c.StartFramework(FrameworkInfo("reconciler", time.Hour))
	fw.Launch(Task("r1", "sleep 1000"))
	fw.WaitState("r1", mesosv1.TaskRunning, 30*time.Second)
	before := len(fw.Updates("r1"))
	agentID := fw.Latest("r1").AgentID
	if err := fw.Client.Reconcile(t.Context(), []mesosv1.ReconcileTask{
		{TaskID: mesosv1.ID{Value: "r1"}, AgentID: agentID},
		{TaskID: mesosv1.ID{Value: "ghost"}, AgentID: agentID},
	}); err != nil {
		t.Fatal(err)
	}
	fw.Wait(10*time.Second, "reconciliation answers", func() bool {
		return len(fw.updatesLocked("r1")) > before && fw.latest["ghost"].State != ""
	})
	r := fw.Latest("r1")
	if r.State != mesosv1.TaskRunning || r.Reason != mesosv1.ReasonReconciliation || r.Source != mesosv1.SourceMaster || len(r.UUID) != 0 {
		t.Errorf("explicit reconcile of r1: %+v", r)
	}
	if g := fw.Latest("ghost").State; g != mesosv1.TaskGone && g != mesosv1.TaskUnknown {
		t.Errorf("ghost task reconciled as %s, want TASK_GONE (partition-aware)", g)
	}
	before = len(fw.Updates("r1"))
	if err := fw.Client.Reconcile(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	fw.Wait(10*time.Second, "implicit reconciliation", func() bool { return len(fw.updatesLocked("r1")) > before })
}

// A 3-master cluster survives the loss of its leader: a new leader is
// elected, agents and the framework reconnect by themselves, running tasks
// are untouched.
func TestMasterFailover(t *testing.T) {
	c := New(t, Options{Masters: 3, Agents: 2})
	fw := c.StartFramework(FrameworkInfo("survivor", time.Hour))
	fw.Launch(Task("a", "sleep 1000"), Task("b", "sleep 1000"))
	fw.WaitState("a", mesosv1.TaskRunning, 30*time.Second)
	fw.WaitState("b", mesosv1.TaskRunning, 30*time.Second)
	launches := c.Agents[0].Fake.LaunchCount() + c.Agents[1].Fake.LaunchCount()

	old := c.Leader()
	for i, m := range c.Masters {
		if m == old {
			c.StopMaster(i)
		}
	}
	nl := c.Leader()
	if nl == old {
		t.Fatal("stopped master still leads")
	}
	c.WaitAgentsActive(2)
	fw.Wait(30*time.Second, "re-subscription", func() bool { return fw.subscribes >= 2 })
	Eventually(t, 20*time.Second, func() error {
		st := c.State()
		for _, fwk := range st.Frameworks {
			if fwk.ID == fw.ID() && fwk.Active && len(fwk.Tasks) == 2 {
				for _, tk := range fwk.Tasks {
					if tk.State != mesosv1.TaskRunning {
						return errorf("task %s is %s", tk.ID, tk.State)
					}
				}
				return nil
			}
		}
		return errorf("framework %s not active with 2 tasks on the new leader", fw.ID())
	})
	if got := c.Agents[0].Fake.LaunchCount() + c.Agents[1].Fake.LaunchCount(); got != launches {
		t.Errorf("tasks were relaunched during failover: %d launches, want %d", got, launches)
	}
	if a, b := fw.Latest("a").State, fw.Latest("b").State; a != mesosv1.TaskRunning || b != mesosv1.TaskRunning {
		t.Errorf("after failover: a=%s b=%s", a, b)
	}
	// The new leader launches tasks too.
	fw.Launch(Task("c", "sleep 1000"))
	fw.WaitState("c", mesosv1.TaskRunning, 30*time.Second)
}

// A restarted agent recovers its tasks (they keep running) and re-registers
// as the same agent.
func TestAgentRestartRecovers(t *testing.T) {
	c := New(t, Options{Agents: 1})
	fw := c.StartFramework(FrameworkInfo("patient", time.Hour))
	fw.Launch(Task("keep", "sleep 1000"))
	fw.WaitState("keep", mesosv1.TaskRunning, 30*time.Second)
	id := c.Agents[0].Agent().ID()
	c.RestartAgent(0)
	c.WaitAgentsActive(1)
	if got := c.Agents[0].Agent().ID(); got != id {
		t.Fatalf("agent re-registered as %s, want %s", got, id)
	}
	if n := c.Agents[0].Fake.LaunchCount(); n != 1 {
		t.Fatalf("%d launches after restart, want 1", n)
	}
	Eventually(t, 10*time.Second, func() error {
		st := c.State()
		for _, fwk := range st.Frameworks {
			for _, tk := range fwk.Tasks {
				if tk.ID == "keep" && tk.State == mesosv1.TaskRunning {
					return nil
				}
			}
		}
		return errorf("task keep not running on the master")
	})
	// Still controllable: a kill after recovery works.
	if err := fw.Client.Kill(t.Context(), mesosv1.ID{Value: "keep"}, nil, nil); err != nil {
		t.Fatal(err)
	}
	fw.WaitState("keep", mesosv1.TaskKilled, 30*time.Second)
}

// An agent that stops talking to the masters is marked unreachable after
// the timeout; partition-aware frameworks see TASK_UNREACHABLE, and the task
// comes back when the partition heals.
func TestAgentLossUnreachable(t *testing.T) {
	c := New(t, Options{Agents: 1})
	fw := c.StartFramework(FrameworkInfo("aware", time.Hour))
	fw.Launch(Task("u", "sleep 1000"))
	fw.WaitState("u", mesosv1.TaskRunning, 30*time.Second)
	c.Partition(0)
	fw.WaitState("u", mesosv1.TaskUnreachable, 30*time.Second)
	Eventually(t, 10*time.Second, func() error {
		if n := c.State().UnreachableSlaves; n != 1 {
			return errorf("unreachable_slaves = %d", n)
		}
		return nil
	})
	c.Heal(0)
	fw.WaitState("u", mesosv1.TaskRunning, 30*time.Second)
	c.WaitAgentsActive(1)
}

// A framework that reconnects within failover_timeout keeps its tasks; a
// teardown kills them.
func TestFrameworkFailoverAndTeardown(t *testing.T) {
	c := New(t, Options{Agents: 1, NoMarathon: true})
	info := FrameworkInfo("phoenix", time.Hour)
	fw := c.StartFramework(info)
	fw.Launch(Task("t1", "sleep 1000"))
	fw.WaitState("t1", mesosv1.TaskRunning, 30*time.Second)
	id := fw.ID()
	fw.Stop()

	info.ID = &mesosv1.ID{Value: id}
	fw2 := c.StartFramework(info)
	if fw2.ID() != id {
		t.Fatalf("re-subscribed as %s, want %s", fw2.ID(), id)
	}
	fw2.WaitState("t1", mesosv1.TaskRunning, 10*time.Second) // from reconciliation
	if n := len(c.Agents[0].Fake.Running()); n != 1 {
		t.Fatalf("%d containers running after framework failover, want 1", n)
	}
	fw2.Teardown()
	Eventually(t, 20*time.Second, func() error {
		if n := len(c.Agents[0].Fake.Running()); n != 0 {
			return errorf("%d containers still running after teardown", n)
		}
		st := c.State()
		if len(st.Frameworks) != 0 || len(st.CompletedFrameworks) != 1 {
			return errorf("frameworks=%d completed=%d", len(st.Frameworks), len(st.CompletedFrameworks))
		}
		return nil
	})
}

// A framework with failover_timeout 0 is torn down when it disconnects.
func TestFrameworkFailoverTimeoutZero(t *testing.T) {
	c := New(t, Options{Agents: 1})
	fw := c.StartFramework(FrameworkInfo("ephemeral", 0))
	fw.Launch(Task("e1", "sleep 1000"))
	fw.WaitState("e1", mesosv1.TaskRunning, 30*time.Second)
	fw.Stop()
	Eventually(t, 20*time.Second, func() error {
		if n := len(c.Agents[0].Fake.Running()); n != 0 {
			return errorf("%d containers running", n)
		}
		return nil
	})
}

// Real processes through the posix runtime: the task's stdout is readable
// through the agent's /files API at the sandbox the agent reports.
func TestPosixTaskAndFiles(t *testing.T) {
	c := New(t, Options{Agents: 1, Runtime: Posix,
		Agent: func(_ int, cfg *agent.Config) { cfg.Containerizers = []string{"posix"} }})
	fw := c.StartFramework(FrameworkInfo("real", time.Hour))
	fw.Launch(Task("echo", "echo hello from $MESOS_TASK_ID; sleep 1000"))
	fw.WaitState("echo", mesosv1.TaskRunning, 30*time.Second)
	var ast struct {
		Frameworks []struct {
			Executors []struct {
				ID        string `json:"id"`
				Directory string `json:"directory"`
			} `json:"executors"`
		} `json:"frameworks"`
	}
	var dir string
	Eventually(t, 10*time.Second, func() error {
		if err := c.getJSON(c.Agents[0].URL()+"/state", &ast); err != nil {
			return err
		}
		for _, f := range ast.Frameworks {
			for _, e := range f.Executors {
				if e.ID == "echo" {
					dir = e.Directory
					return nil
				}
			}
		}
		return errorf("executor not in agent state")
	})
	Eventually(t, 10*time.Second, func() error {
		var rd struct {
			Data   string `json:"data"`
			Offset int64  `json:"offset"`
		}
		if err := c.getJSON(c.Agents[0].URL()+"/files/read?offset=0&path="+dir+"/stdout", &rd); err != nil {
			return err
		}
		if !strings.Contains(rd.Data, "hello from echo") {
			return errorf("stdout = %q", rd.Data)
		}
		return nil
	})
	if err := fw.Client.Kill(t.Context(), mesosv1.ID{Value: "echo"}, nil, nil); err != nil {
		t.Fatal(err)
	}
	fw.WaitState("echo", mesosv1.TaskKilled, 30*time.Second)
}

// Standbys redirect the scheduler API and /master/redirect to the leader.
func TestStandbyRedirects(t *testing.T) {
	c := New(t, Options{Masters: 3, Master: func(_ int, cfg *master.Config) {}})
	leader := c.Leader()
	for _, m := range c.Masters {
		if m == leader {
			continue
		}
		// A standby learns the leader by watching the election; poll.
		Eventually(t, 10*time.Second, func() error {
			resp, err := c.client.Get(m.URL() + "/master/redirect")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != 307 || !strings.Contains(resp.Header.Get("Location"), strings.TrimPrefix(leader.URL(), "http:")) {
				return errorf("%s: /master/redirect = %s %q, want 307 to %s", m.Name, resp.Status, resp.Header.Get("Location"), leader.URL())
			}
			return nil
		})
	}
}

func (f *Framework) updatesLocked(id string) []mesosv1.TaskStatus {
	var out []mesosv1.TaskStatus
	for _, u := range f.updates {
		if u.TaskID.Value == id {
			out = append(out, u)
		}
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// An operator marks an agent gone (v1 MARK_AGENT_GONE): its tasks are
// TASK_GONE_BY_OPERATOR, the agent kills them, forgets its ID and registers
// as a new agent.
func TestMarkAgentGone(t *testing.T) {
	c := New(t, Options{Agents: 1})
	fw := c.StartFramework(FrameworkInfo("bystander", time.Hour))
	fw.Launch(Task("g", "sleep 1000"))
	fw.WaitState("g", mesosv1.TaskRunning, 30*time.Second)
	oldID := c.Agents[0].Agent().ID()
	body := `{"type":"MARK_AGENT_GONE","mark_agent_gone":{"agent_id":{"value":"` + oldID + `"}}}`
	resp, err := c.client.Post(c.Leader().URL()+"/api/v1", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("MARK_AGENT_GONE: %s", resp.Status)
	}
	st := fw.WaitState("g", mesosv1.TaskGoneByOperator, 30*time.Second)
	if st.Reason != mesosv1.ReasonAgentRemovedByOperator {
		t.Errorf("reason %q", st.Reason)
	}
	Eventually(t, 30*time.Second, func() error {
		if n := len(c.Agents[0].Fake.Running()); n != 0 {
			return errorf("%d containers still running on the gone agent", n)
		}
		if id := c.Agents[0].Agent().ID(); id == "" || id == oldID {
			return errorf("agent id %q, want a new one", id)
		}
		return nil
	})
	c.WaitAgentsActive(1)
	resp, err = c.client.Post(c.Leader().URL()+"/api/v1", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("second MARK_AGENT_GONE of %s: %s, want 400", oldID, resp.Status)
	}
}
