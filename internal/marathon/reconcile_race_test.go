package marathon_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/clustertest"
	"github.com/basalt-dcos/basalt/internal/master"
)

// TestReconcileDuringLaunch: a reconciliation that Marathon sends while
// its ACCEPTs are still on their way must not ask about the tasks being
// launched. The master, not knowing them yet, answers TASK_GONE; Marathon
// took that as the tasks' end (backing the app off, up to an hour after
// 100 such "failures"), then ignored the agents' TASK_RUNNING as stale
// while acknowledging it: the tasks ran, the app counted none of them and
// its deployment never finished (bench/scale agentloss trial 2: 14 apps
// at 0 running, the simulator holding all 10,000 tasks RUNNING, every
// update acknowledged). Reconciling every few milliseconds makes the
// overlap of reconciliation and launch that a 10,000-task launch hits
// around the follow-up reconciliation 5 s after subscribing certain.
func TestReconcileDuringLaunch(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Agents: 3, Master: func(_ int, cfg *master.Config) {
		cfg.MarathonReconcileInterval = 2 * time.Millisecond
		cfg.MarathonTick = 2 * time.Millisecond
		cfg.MarathonMaxInstancesPerOffer = 5
	}})
	m := newClient(t, c)
	const n = 40
	for i := range 4 {
		app := fmt.Sprintf(`{"id": "/race/app-%d", "cmd": "sleep 1000", "cpus": 0.01, "mem": 1, "disk": 0, "instances": %d, "portDefinitions": []}`, i, n)
		if code := m.do("POST", "/v2/apps", app, nil); code != http.StatusCreated {
			t.Fatalf("POST app %d = %d", i, code)
		}
	}
	for i := range 4 {
		m.waitApp(fmt.Sprintf("/race/app-%d", i), n, 30*time.Second)
	}
	// Every task the agents run is one Marathon counts: none was launched
	// twice, none is left running unowned.
	running := 0
	for _, a := range c.Agents {
		running += len(a.Fake.Running())
	}
	if running != 4*n {
		t.Errorf("agents run %d tasks, Marathon counts %d", running, 4*n)
	}
}
