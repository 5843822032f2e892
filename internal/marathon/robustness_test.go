package marathon_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/clustertest"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
)

// TestRandomOperationsUnderFaults drives Marathon with random app changes
// while its leader's master is stopped and restarted, agents restart and
// agents drop off and come back. When the faults heal it checks the
// invariants: every app that should exist does, with exactly its
// instances running and no deployment left; no app that was removed
// exists; Mesos runs no Marathon task that no app owns.
func TestRandomOperationsUnderFaults(t *testing.T) {
	// Opt-in until two open bugs are fixed (together they fail about one
	// run in three): a task can stay in TASK_STARTING for good on an agent
	// restarted mid-launch; and tasks of a deleted app can stay running in
	// the master's state although Marathon kills them (suspect: the agent
	// ignores a KILL for a task it does not have, rather than answering
	// TASK_DROPPED; not confirmed). BASALT_SEED replays a run.
	if os.Getenv("BASALT_ROBUSTNESS") == "" {
		t.Skip("set BASALT_ROBUSTNESS=1 to run the randomized fault scenario (two known open bugs; see the comment)")
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv("BASALT_SEED"); s != "" { // replay a failure
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("seed %d (BASALT_SEED=%d replays it)", seed, seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	c := clustertest.New(t, clustertest.Options{Masters: 3, Agents: 3})
	m := newClient(t, c)

	want := map[string]int{} // app id -> instances
	ids := func() []string {
		out := make([]string, 0, len(want))
		for id := range want {
			out = append(out, id)
		}
		sort.Strings(out)
		return out
	}
	// mutate retries a change until Marathon takes it (a failover answers
	// 503 or a transport error for a moment).
	mutate := func(method, path, body string) {
		t.Helper()
		clustertest.Eventually(t, 30*time.Second, func() error {
			code, err := m.send(method, path, body)
			if err != nil {
				return err
			}
			if code/100 != 2 {
				return fmt.Errorf("%s %s = %d", method, path, code)
			}
			return nil
		})
	}
	stopped := -1     // master stopped, if any
	partitioned := -1 // agent partitioned, if any
	next := 0
	for step := range 30 {
		switch op := rng.IntN(9); {
		case op < 3 || len(want) == 0:
			id := fmt.Sprintf("/r/app-%d", next)
			next++
			n := 1 + rng.IntN(3)
			mutate("POST", "/v2/apps", fmt.Sprintf(`{"id": %q, "cmd": "sleep 1000", "cpus": 0.05, "mem": 8, "instances": %d}`, id, n))
			want[id] = n
			t.Logf("step %d: create %s ×%d", step, id, n)
		case op == 3:
			id := ids()[rng.IntN(len(want))]
			n := rng.IntN(4)
			mutate("PUT", "/v2/apps"+id+"?force=true", fmt.Sprintf(`{"instances": %d}`, n))
			want[id] = n
			t.Logf("step %d: scale %s to %d", step, id, n)
		case op == 4:
			id := ids()[rng.IntN(len(want))]
			mutate("DELETE", "/v2/apps"+id+"?force=true", "")
			delete(want, id)
			t.Logf("step %d: delete %s", step, id)
		case op == 5:
			id := ids()[rng.IntN(len(want))]
			mutate("POST", "/v2/apps"+id+"/restart?force=true", "")
			t.Logf("step %d: restart %s", step, id)
		case op == 6 && stopped < 0:
			l := c.MarathonLeader()
			stopped = indexOf(c, l)
			c.StopMaster(stopped)
			t.Logf("step %d: stop %s (Marathon leader)", step, l.Name)
		case op == 6:
			c.StartMaster(stopped)
			t.Logf("step %d: start master%d", step, stopped+1)
			stopped = -1
		case op == 7:
			i := rng.IntN(len(c.Agents))
			if i != partitioned {
				c.RestartAgent(i)
				t.Logf("step %d: restart agent%d", step, i+1)
			}
		case op == 8 && partitioned < 0:
			partitioned = rng.IntN(len(c.Agents))
			c.Partition(partitioned)
			t.Logf("step %d: partition agent%d", step, partitioned+1)
		case op == 8:
			c.Heal(partitioned)
			t.Logf("step %d: heal agent%d", step, partitioned+1)
			partitioned = -1
		}
	}
	if stopped >= 0 {
		c.StartMaster(stopped)
	}
	if partitioned >= 0 {
		c.Heal(partitioned)
	}

	clustertest.Eventually(t, 90*time.Second, func() error {
		var list struct{ Apps []v2.AppInfo }
		if _, err := m.try("GET", "/v2/apps?embed=apps.tasks", &list); err != nil {
			return err
		}
		got := map[string]v2.AppInfo{}
		for _, a := range list.Apps {
			got[a.ID] = a
		}
		var problems []string
		for id, n := range want {
			a, ok := got[id]
			switch {
			case !ok:
				problems = append(problems, id+" missing")
			case a.Instances != n || a.TasksRunning != n || len(a.Tasks) != n || len(a.Deployments) != 0:
				var states []string
				for _, task := range a.Tasks {
					states = append(states, fmt.Sprintf("%s@%s:%s", task.ID[len(task.ID)-12:], task.Host, task.State))
				}
				problems = append(problems, fmt.Sprintf("%s: instances %d running %d tasks %v deployments %d, want %d", id, a.Instances, a.TasksRunning, states, len(a.Deployments), n))
			}
		}
		for id := range got {
			if _, ok := want[id]; !ok {
				problems = append(problems, id+" exists but was deleted")
			}
		}
		// Mesos must run no Marathon task that no app owns.
		owned := map[string]bool{}
		for _, a := range got {
			for _, task := range a.Tasks {
				owned[task.ID] = true
			}
		}
		var info v2.Info
		if _, err := m.try("GET", "/v2/info", &info); err != nil {
			return err
		}
		for _, fw := range c.State().Frameworks {
			if fw.Name != "marathon" {
				continue
			}
			current := info.FrameworkID != nil && *info.FrameworkID == fw.ID
			for _, task := range fw.Tasks {
				if task.State == "TASK_RUNNING" && !owned[task.ID] {
					problems = append(problems, fmt.Sprintf("orphan task %s of framework %s (Marathon's current one: %t)", task.ID, fw.ID, current))
				}
			}
		}
		if len(problems) > 0 {
			slices.Sort(problems)
			return fmt.Errorf("%d problems: %s", len(problems), strings.Join(problems, "; "))
		}
		return nil
	})
}

// send makes a request and returns its status, without failing the test.
func (c *client) send(method, path, body string) (int, error) {
	req, err := http.NewRequest(method, c.base()+path, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
