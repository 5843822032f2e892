package clustertest_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/clustertest"
	"github.com/basalt-dcos/basalt/internal/master"
)

// TestMarathonReconcileDuringLaunch: a reconciliation that Marathon sends
// while its ACCEPTs are still on their way must not ask about the tasks
// being launched. The master, not knowing them yet, answers TASK_GONE;
// Marathon took that as the tasks' end (backing the app off, up to an hour
// after 100 such "failures"), then ignored the agents' TASK_RUNNING as
// stale while acknowledging it: the tasks ran, the app counted none of
// them and its deployment never finished (bench/scale agentloss trial 2:
// 14 apps at 0 running, the simulator holding all 10,000 tasks RUNNING,
// every update acknowledged). Reconciling every few milliseconds makes
// the overlap of a reconciliation and a launch — which a 10,000-task
// launch hits at the follow-up reconciliation 5 s after subscribing —
// happen on every run.
func TestMarathonReconcileDuringLaunch(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Agents: 3, Master: func(_ int, cfg *master.Config) {
		cfg.MarathonReconcileInterval = 2 * time.Millisecond
		cfg.MarathonTick = 2 * time.Millisecond
		cfg.MarathonMaxInstancesPerOffer = 5
	}})
	const apps, n = 4, 40
	for i := range apps {
		app := fmt.Sprintf(`{"id": "/race/app-%d", "cmd": "sleep 1000", "cpus": 0.01, "mem": 1, "disk": 0, "instances": %d, "portDefinitions": []}`, i, n)
		if code := marathonDo(t, c, "POST", "/v2/apps", app, nil); code != http.StatusCreated {
			t.Fatalf("POST app %d = %d", i, code)
		}
	}
	for i := range apps {
		id := fmt.Sprintf("/race/app-%d", i)
		clustertest.Eventually(t, 30*time.Second, func() error {
			a := getApp(t, c, id)
			if a.TasksRunning != n || len(a.Deployments) != 0 {
				return fmt.Errorf("app %s: %d of %d running, deployments %v", id, a.TasksRunning, n, a.Deployments)
			}
			return nil
		})
	}
	// Every task the agents run is one Marathon counts: none runs
	// uncounted, none was launched twice.
	clustertest.Eventually(t, 30*time.Second, func() error {
		running := 0
		for _, a := range c.Agents {
			running += len(a.Fake.Running())
		}
		if running != apps*n {
			return fmt.Errorf("agents run %d tasks, Marathon counts %d", running, apps*n)
		}
		return nil
	})
}
