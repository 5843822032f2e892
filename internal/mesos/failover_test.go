package mesos

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/agentapi"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

func fastPings(c *Config) {
	c.AgentPingTimeout = 20 * time.Millisecond
	c.MaxAgentPingTimeouts = 3
}

// reregister builds the SUBSCRIBE of a restarted agent that knows its tasks.
func reregister(ag *fakeAgent, fi mesosv1.FrameworkInfo, tasks ...agentapi.Task) agentapi.Subscribe {
	sub := ag.sub
	sub.AgentInfo.ID = &mesosv1.ID{Value: ag.id}
	sub.Tasks = tasks
	sub.Frameworks = []mesosv1.FrameworkInfo{fi}
	return sub
}

func runningTask(fwID, agentID, taskID string) agentapi.Task {
	return agentapi.Task{
		FrameworkID: fwID, State: mesosv1.TaskRunning,
		Info: mesosv1.TaskInfo{Name: taskID, TaskID: mesosv1.ID{Value: taskID}, AgentID: mesosv1.ID{Value: agentID},
			Resources: mesosv1.Resources{mesosv1.NewScalar("cpus", 1), mesosv1.NewScalar("mem", 128)}.Allocate("*"),
			Command:   &mesosv1.CommandInfo{Value: "sleep 100"}},
		Statuses: []mesosv1.TaskStatus{{TaskID: mesosv1.ID{Value: taskID}, State: mesosv1.TaskRunning, Source: mesosv1.SourceExecutor,
			AgentID: &mesosv1.ID{Value: agentID}, UUID: []byte("u1")}},
	}
}

func TestAgentUnreachableAndBack(t *testing.T) {
	m, _ := startLeader(t, fastPings)
	pafi := frameworkInfo("pa", mesosv1.CapPartitionAware)
	pafi.FailoverTimeout = 3600
	pa, ag := launched(t, m, pafi, "pa1")
	pafi.ID = &mesosv1.ID{Value: pa.fwID}
	// A second, non-partition-aware framework with a task on the same agent.
	fi := frameworkInfo("plain")
	fi.FailoverTimeout = 3600
	plain := subscribe(t, m, fi)
	fi.ID = &mesosv1.ID{Value: plain.fwID}
	var o mesosv1.Offer
	for o.ID.Value == "" {
		for _, off := range plain.next(mesosv1.EventOffers).Offers.Offers {
			if off.AgentID.Value == ag.id {
				o = off
			}
		}
	}
	plain.launch(o, cmdTask("p1", o, 0.5, 64))
	ag.next(agentapi.EventLaunch)
	ag.status(plain.fwID, "p1", mesosv1.TaskRunning)
	plain.ack(plain.update("p1"))

	// The agent goes silent (no heartbeats) and disconnects.
	ag.close()
	st := pa.update("pa1")
	if st.State != mesosv1.TaskUnreachable || st.UnreachableTime == nil {
		t.Fatalf("partition-aware: %+v", st)
	}
	if st := plain.update("p1"); st.State != mesosv1.TaskLost || st.Reason != mesosv1.ReasonAgentRemoved {
		t.Fatalf("plain: %+v", st)
	}
	plain.next(mesosv1.EventFailure)
	eventually(t, "agent unreachable in snapshot", func() bool {
		snap := m.Current()
		return len(snap.Agents) == 1 && snap.Agents[0].Unreachable && len(snap.Frameworks) == 2 &&
			len(snap.Frameworks[0].UnreachableTasks)+len(snap.Frameworks[1].UnreachableTasks) == 1
	})
	// Reconciliation of the unreachable task answers TASK_UNREACHABLE; kill too.
	pa.mustCall(mesosv1.Call{Type: mesosv1.CallKill, Kill: &mesosv1.CallKillBody{TaskID: mesosv1.ID{Value: "pa1"}}})
	if st := pa.update("pa1"); st.State != mesosv1.TaskUnreachable {
		t.Fatalf("kill of unreachable task: %+v", st)
	}

	// The agent comes back with both tasks still running.
	sub := reregister(ag, pafi, runningTask(pa.fwID, ag.id, "pa1"), runningTask(plain.fwID, ag.id, "p1"))
	sub.Frameworks = append(sub.Frameworks, fi)
	ag2 := startAgent(t, m, sub)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ag2.heartbeat(ctx, 5*time.Millisecond)
	if ag2.id != ag.id {
		t.Fatalf("agent re-registered as %q, want %q", ag2.id, ag.id)
	}
	if st := pa.update("pa1"); st.State != mesosv1.TaskRunning {
		t.Fatalf("partition-aware task back: %+v", st)
	}
	if k := ag2.next(agentapi.EventKill).Kill; k.TaskID != "p1" || k.FrameworkID != plain.fwID {
		t.Fatalf("non-partition-aware task must be killed, got %+v", k)
	}
	eventually(t, "agent active again", func() bool {
		snap := m.Current()
		return len(snap.Agents) == 1 && snap.Agents[0].Active && !snap.Agents[0].Unreachable &&
			snap.Agents[0].Used.ScalarSum("cpus") == 1
	})
}

func TestStandbyRedirects(t *testing.T) {
	c := newCluster()
	m1 := c.start(t, nil)
	eventually(t, "m1 leads", m1.IsLeader)
	m2 := c.start(t, nil)
	eventually(t, "m2 sees the leader", func() bool { li, ok := m2.Leader(); return ok && li.URL == m1.srv.URL })
	if m2.IsLeader() {
		t.Fatal("two leaders")
	}
	resp, err := noRedirect.Get(m2.srv.URL + "/master/redirect")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != m1.srv.URL {
		t.Fatalf("redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	r := postJSON(t, m2.srv.URL+"/api/v1/scheduler", nil, mesosv1.Call{Type: mesosv1.CallSubscribe,
		Subscribe: &mesosv1.CallSubscribeBody{FrameworkInfo: frameworkInfo("x")}})
	r.Body.Close()
	if r.StatusCode != http.StatusTemporaryRedirect || r.Header.Get("Location") != m1.srv.URL+"/api/v1/scheduler" {
		t.Fatalf("scheduler on standby: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	sub := agentSubscribeBody("h", "cpus:1;mem:128")
	r = postJSON(t, m2.srv.URL+agentapi.Path, nil, agentapi.Call{Type: agentapi.CallSubscribe, Subscribe: &sub})
	r.Body.Close()
	if r.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("agent on standby: %d", r.StatusCode)
	}
	// Reads on the standby are proxied to the leader.
	startAgent(t, m1, agentSubscribeBody("h1", "cpus:1;mem:128"))
	eventually(t, "leader snapshot has the agent", func() bool { return len(m1.Current().Agents) == 1 })
	resp, err = http.Get(m2.srv.URL + "/master/slaves")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var slaves struct {
		Slaves []json.RawMessage `json:"slaves"`
	}
	if err := json.Unmarshal(body, &slaves); err != nil || len(slaves.Slaves) != 1 {
		t.Fatalf("proxied /master/slaves: %v %s", err, body)
	}

	// No leader: 503.
	m1.stop()
	eventually(t, "m2 takes over", m2.IsLeader)
	m2.stop()
	resp, err = noRedirect.Get(m2.srv.URL + "/master/redirect")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("no leader: %d", resp.StatusCode)
		}
	}
}

func TestMasterFailoverRebuildsFromAgents(t *testing.T) {
	c := newCluster()
	m1 := c.start(t, func(cfg *Config) { cfg.AgentReregisterTimeout = 100 * time.Millisecond })
	eventually(t, "m1 leads", m1.IsLeader)
	fi := frameworkInfo("fw", mesosv1.CapPartitionAware)
	fi.FailoverTimeout = 3600
	s, ag := launched(t, m1, fi, "t1")
	fi.ID = &mesosv1.ID{Value: s.fwID}
	// A second agent that will never come back.
	lost := startAgent(t, m1, agentSubscribeBody("lost", "cpus:1;mem:128"))
	eventually(t, "registry has both agents and the framework", func() bool {
		st, _ := c.reg.Load(context.Background())
		return len(st.Agents) == 2 && len(st.Frameworks) == 1 && st.ClusterID != ""
	})
	clusterID := m1.Current().ClusterID

	m2 := c.start(t, func(cfg *Config) { cfg.AgentReregisterTimeout = 200 * time.Millisecond })
	m1.stop() // streams close: framework and agent reconnect to the new leader
	eventually(t, "m2 leads", m2.IsLeader)
	if got := m2.Current().ClusterID; got != clusterID {
		t.Fatalf("cluster id %q, want %q", got, clusterID)
	}
	// Before the agent is back, reconciliation of its task gets no answer;
	// the framework re-subscribes with its id.
	s2 := subscribe(t, m2, fi)
	ag2 := startAgent(t, m2, reregister(ag, fi, runningTask(s.fwID, ag.id, "t1")))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ag2.heartbeat(ctx, 5*time.Millisecond)
	s2.mustCall(mesosv1.Call{Type: mesosv1.CallReconcile, Reconcile: &mesosv1.CallReconcileBody{Tasks: []mesosv1.ReconcileTask{{TaskID: mesosv1.ID{Value: "t1"}}}}})
	if st := s2.update("t1"); st.State != mesosv1.TaskRunning {
		t.Fatalf("after failover: %+v", st)
	}
	eventually(t, "the lost agent becomes unreachable; the task is known", func() bool {
		snap := m2.Current()
		if len(snap.Agents) != 2 || len(snap.Frameworks) != 1 || len(snap.Frameworks[0].Tasks) != 1 {
			return false
		}
		for _, a := range snap.Agents {
			if a.Info.ID.Value == lost.id && !a.Unreachable {
				return false
			}
		}
		return true
	})
	// Used resources are accounted: the 1 remaining cpu is offered.
	for {
		o := s2.next(mesosv1.EventOffers).Offers.Offers
		if len(o) > 0 && o[0].AgentID.Value == ag.id {
			if got := mesosv1.Resources(o[0].Resources).ScalarSum("cpus"); got != 1 {
				t.Fatalf("offered %v cpus after failover, want 1", got)
			}
			break
		}
	}
}

// A torn-down framework stays removed across a master failover: its
// tombstone in the registry refuses a re-subscription with the old ID.
func TestTornDownFrameworkStaysRemovedAfterFailover(t *testing.T) {
	c := newCluster()
	m1 := c.start(t, nil)
	eventually(t, "m1 leads", m1.IsLeader)
	fi := frameworkInfo("gone")
	fi.FailoverTimeout = 3600
	s := subscribe(t, m1, fi)
	fi.ID = &mesosv1.ID{Value: s.fwID}
	s.mustCall(mesosv1.Call{Type: mesosv1.CallTeardown})
	eventually(t, "registry keeps a tombstone", func() bool {
		st, _ := c.reg.Load(context.Background())
		return len(st.Frameworks) == 1 && st.Frameworks[0].Removed
	})
	m2 := c.start(t, nil)
	m1.stop()
	eventually(t, "m2 leads", m2.IsLeader)
	s2 := trySubscribe(t, m2, fi)
	if ev := s2.next(mesosv1.EventError); ev.Error == nil || ev.Error.Message == "" {
		t.Fatalf("re-subscription of a removed framework: %+v", ev)
	}
	if n := len(m2.Current().Frameworks); n != 0 {
		t.Fatalf("%d frameworks on the new leader, want 0", n)
	}
}
