package marathon_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/clustertest"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
)

func indexOf(c *clustertest.Cluster, n *clustertest.MasterNode) int {
	for i, m := range c.Masters {
		if m == n {
			return i
		}
	}
	return -1
}

// A deployment that cannot finish yet survives the loss of the Marathon
// leader: the new leader loads it from the store and completes it.
func TestMarathonFailoverMidDeployment(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Masters: 3, Agents: 3})
	m := newClient(t, c)
	c.StopAgent(2)
	var created v2.AppInfo
	// 3 cpus each on 4-cpu agents: one instance per agent, and only two agents.
	m.do("POST", "/v2/apps", `{"id": "/big", "cmd": "sleep 1000", "cpus": 3, "mem": 64, "instances": 3}`, &created)
	if len(created.Deployments) != 1 {
		t.Fatalf("created app has deployments %v", created.Deployments)
	}
	res := v2.DeploymentResult{DeploymentID: created.Deployments[0].ID}
	clustertest.Eventually(t, 20*time.Second, func() error {
		a := m.app("/big")
		if a.TasksRunning != 2 {
			return fmt.Errorf("%d running", a.TasksRunning)
		}
		return nil
	})
	before := taskIDs(m.app("/big"))
	leader := c.MarathonLeader()
	c.StopMaster(indexOf(c, leader))
	next := c.MarathonLeader()
	if next == leader {
		t.Fatal("Marathon leadership did not move")
	}
	var ds []v2.Deployment
	clustertest.Eventually(t, 20*time.Second, func() error {
		if _, err := m.try("GET", "/v2/deployments", &ds); err != nil {
			return err
		}
		if len(ds) != 1 || ds[0].ID != res.DeploymentID {
			return fmt.Errorf("deployments %+v, want %s", ds, res.DeploymentID)
		}
		return nil
	})
	c.StartAgent(2)
	a := m.waitApp("/big", 3, 30*time.Second)
	for _, id := range before {
		if !slices.Contains(taskIDs(a), id) {
			t.Errorf("task %s did not survive the failover", id)
		}
	}
}

// Tasks keep running through a Mesos leader failover; Marathon
// re-subscribes, reconciles, and keeps working.
func TestMesosLeaderFailover(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Masters: 3, Agents: 2})
	m := newClient(t, c)
	m.do("POST", "/v2/apps", `{"id": "/keep", "cmd": "sleep 1000", "cpus": 0.5, "mem": 32, "instances": 2}`, nil)
	before := taskIDs(m.waitApp("/keep", 2, 20*time.Second))
	mesosLeader := c.Leader()
	c.StopMaster(indexOf(c, mesosLeader))
	c.WaitLeader()
	a := m.waitApp("/keep", 2, 30*time.Second)
	if got := taskIDs(a); !slices.Equal(got, before) {
		t.Errorf("tasks after failover %v, want %v", got, before)
	}
	// Marathon still launches through the new Mesos leader.
	clustertest.Eventually(t, 20*time.Second, func() error {
		var r v2.DeploymentResult
		if code := m.do("PUT", "/v2/apps/keep", `{"instances": 3}`, &r); code != 200 {
			return fmt.Errorf("scale = %d", code)
		}
		return nil
	})
	m.waitApp("/keep", 3, 30*time.Second)
}

func agentOfTask(c *clustertest.Cluster, a v2.AppInfo) map[string]string {
	out := map[string]string{}
	for _, t := range a.Tasks {
		out[t.ID] = t.Host
	}
	return out
}

// An agent that drops off is replaced elsewhere (unreachableStrategy 0/0);
// when it comes back its old task is unknown to Marathon and is killed.
func TestAgentLossReplacesTasks(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Agents: 2})
	m := newClient(t, c)
	m.do("POST", "/v2/apps", `{"id": "/web", "cmd": "sleep 1000", "cpus": 3, "mem": 32, "instances": 1}`, nil)
	a := m.waitApp("/web", 1, 20*time.Second)
	lost := a.Tasks[0]
	victim := 0
	if lost.Host == "agent2.test" {
		victim = 1
	}
	c.Partition(victim)
	clustertest.Eventually(t, 30*time.Second, func() error {
		a = m.app("/web")
		if a.TasksRunning != 1 || a.Tasks[0].ID == lost.ID {
			return fmt.Errorf("tasks %v", agentOfTask(c, a))
		}
		return nil
	})
	if a.Tasks[0].Host == lost.Host {
		t.Errorf("replacement on the lost agent %s", lost.Host)
	}
	c.Heal(victim)
	// The old task comes back, unknown: killed, and the app keeps one task.
	clustertest.Eventually(t, 30*time.Second, func() error {
		st := c.State()
		for _, fw := range st.Frameworks {
			for _, task := range fw.Tasks {
				if task.ID == lost.ID && task.State == "TASK_RUNNING" {
					return fmt.Errorf("old task %s still running", lost.ID)
				}
			}
		}
		return nil
	})
	a = m.waitApp("/web", 1, 10*time.Second)
	if a.Tasks[0].ID == lost.ID {
		t.Errorf("old task back in the app")
	}
}

// With a long expunge timeout the unreachable instance is kept; when its
// agent comes back the app has one task too many, and the surplus is killed.
func TestPartitionHealKillsOverCapacity(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Agents: 2})
	m := newClient(t, c)
	m.do("POST", "/v2/apps", `{"id": "/db", "cmd": "sleep 1000", "cpus": 3, "mem": 32, "instances": 1,
		"unreachableStrategy": {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 3600}}`, nil)
	a := m.waitApp("/db", 1, 20*time.Second)
	orig := a.Tasks[0]
	victim := 0
	if orig.Host == "agent2.test" {
		victim = 1
	}
	c.Partition(victim)
	var replacement string
	clustertest.Eventually(t, 30*time.Second, func() error {
		a = m.app("/db")
		for _, task := range a.Tasks {
			if task.ID != orig.ID && task.State == "TASK_RUNNING" {
				replacement = task.ID
				return nil
			}
		}
		return fmt.Errorf("no replacement yet: %v", agentOfTask(c, a))
	})
	c.Heal(victim)
	// Both run for a moment; one is killed (youngest first: the replacement).
	a = m.waitApp("/db", 1, 30*time.Second)
	if a.Tasks[0].ID != orig.ID {
		t.Errorf("kept %s, want the original %s (replacement %s is younger)", a.Tasks[0].ID, orig.ID, replacement)
	}
}
