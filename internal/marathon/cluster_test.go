package marathon_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/clustertest"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
)

// These scenarios run real masters (store, Mesos, Marathon) and agents with
// the fake runtime in one process, and drive Marathon through its /v2 API.

type client struct {
	t    *testing.T
	base func() string
	hc   *http.Client
}

func newClient(t *testing.T, c *clustertest.Cluster) *client {
	return &client{t: t, hc: &http.Client{Timeout: 15 * time.Second}, base: func() string {
		for _, m := range c.Masters {
			if m.Running() && m.MarathonURL() != "" {
				return m.MarathonURL()
			}
		}
		t.Fatal("no running master")
		return ""
	}}
}

// do sends a request and decodes a JSON response into out (if non-nil); it
// returns the status code.
func (c *client) do(method, path string, body any, out any) int {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.base()+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

// try is do without failing on transport errors (for failover windows).
func (c *client) try(method, path string, out any) (int, error) {
	req, err := http.NewRequest(method, c.base()+path, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	return resp.StatusCode, json.Unmarshal(data, out)
}

func (c *client) app(id string) v2.AppInfo {
	c.t.Helper()
	var r struct{ App v2.AppInfo }
	if code := c.do("GET", "/v2/apps"+id+"?embed=app.tasks", nil, &r); code != 200 {
		c.t.Fatalf("GET app %s: %d", id, code)
	}
	return r.App
}

func (c *client) deployments() []v2.Deployment {
	c.t.Helper()
	var ds []v2.Deployment
	c.do("GET", "/v2/deployments", nil, &ds)
	return ds
}

// waitApp waits until the app has n running tasks and no deployment.
func (c *client) waitApp(id string, n int, timeout time.Duration) v2.AppInfo {
	c.t.Helper()
	var last v2.AppInfo
	clustertest.Eventually(c.t, timeout, func() error {
		var r struct{ App v2.AppInfo }
		if _, err := c.try("GET", "/v2/apps"+id+"?embed=app.tasks", &r); err != nil {
			return err
		}
		last = r.App
		running := 0
		for _, t := range last.Tasks {
			if t.State == "TASK_RUNNING" {
				running++
			}
		}
		if running != n || len(last.Tasks) != n || len(last.Deployments) != 0 {
			return fmt.Errorf("app %s: %d tasks, %d running, deployments %v; want %d running and none", id, len(last.Tasks), running, last.Deployments, n)
		}
		return nil
	})
	return last
}

func taskIDs(a v2.AppInfo) []string {
	var out []string
	for _, t := range a.Tasks {
		out = append(out, t.ID)
	}
	slices.Sort(out)
	return out
}

func TestAppLifecycle(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Agents: 2})
	m := newClient(t, c)

	var created v2.AppInfo
	code := m.do("POST", "/v2/apps", `{"id": "/prod/web", "cmd": "sleep 1000", "cpus": 0.1, "mem": 32, "instances": 2, "labels": {"tier": "web"}}`, &created)
	if code != http.StatusCreated || len(created.Deployments) != 1 {
		t.Fatalf("POST /v2/apps = %d, deployments %v", code, created.Deployments)
	}
	var dup v2.ErrorBody
	if code := m.do("POST", "/v2/apps", `{"id": "/prod/web", "cmd": "sleep 1"}`, &dup); code != http.StatusConflict || !strings.Contains(dup.Message, "already exists") {
		t.Fatalf("duplicate POST = %d %q", code, dup.Message)
	}
	a := m.waitApp("/prod/web", 2, 20*time.Second)
	if a.Labels["tier"] != "web" || a.Env == nil || len(a.PortDefinitions) != 1 || a.PortDefinitions[0].Port < 10000 {
		t.Errorf("app as stored: labels %v env %v ports %v", a.Labels, a.Env, a.PortDefinitions)
	}
	for _, task := range a.Tasks {
		if !strings.HasPrefix(task.ID, "prod_web.instance-") || len(task.Ports) != 1 || task.Host == "" {
			t.Errorf("task %+v", task)
		}
	}
	first := taskIDs(a)

	// Scale up: a scale, not a restart: the first tasks keep running.
	var res v2.DeploymentResult
	if code := m.do("PUT", "/v2/apps/prod/web", `{"instances": 4}`, &res); code != 200 || res.DeploymentID == "" {
		t.Fatalf("PUT instances = %d %+v", code, res)
	}
	a = m.waitApp("/prod/web", 4, 20*time.Second)
	for _, id := range first {
		if !slices.Contains(taskIDs(a), id) {
			t.Errorf("scale up replaced task %s", id)
		}
	}
	// Scale down kills the youngest.
	m.do("PATCH", "/v2/apps/prod/web", `{"instances": 2}`, &res)
	a = m.waitApp("/prod/web", 2, 20*time.Second)
	if got := taskIDs(a); !slices.Equal(got, first) {
		t.Errorf("scale down kept %v, want the oldest %v", got, first)
	}

	// Restart: every task replaced, at the new version.
	if code := m.do("POST", "/v2/apps/prod/web/restart", nil, &res); code != 200 {
		t.Fatalf("restart = %d", code)
	}
	a = m.waitApp("/prod/web", 2, 20*time.Second)
	for _, task := range a.Tasks {
		if slices.Contains(first, task.ID) || task.Version != a.VersionInfo.LastConfigChangeAt {
			t.Errorf("after restart: task %s version %s (config %s)", task.ID, task.Version, a.VersionInfo.LastConfigChangeAt)
		}
	}
	var versions struct{ Versions []string }
	m.do("GET", "/v2/apps/prod/web/versions", nil, &versions)
	if len(versions.Versions) != 4 {
		t.Errorf("versions = %v, want 4 (create, scale, scale, restart)", versions.Versions)
	}

	// Kill one task without scale: it is replaced.
	victim := a.Tasks[0].ID
	var killed struct{ Task v2.Task }
	if code := m.do("DELETE", "/v2/apps/prod/web/tasks/"+victim, nil, &killed); code != 200 || killed.Task.ID != victim {
		t.Fatalf("kill = %d %+v", code, killed)
	}
	clustertest.Eventually(t, 20*time.Second, func() error {
		a = m.app("/prod/web")
		if slices.Contains(taskIDs(a), victim) || len(a.Tasks) != 2 || a.TasksRunning != 2 {
			return fmt.Errorf("tasks %v running %d", taskIDs(a), a.TasksRunning)
		}
		return nil
	})
	// Kill with scale: instances drop, no replacement.
	victim = a.Tasks[0].ID
	if code := m.do("DELETE", "/v2/apps/prod/web/tasks/"+victim+"?scale=true", nil, &res); code != 200 || res.DeploymentID == "" {
		t.Fatalf("kill with scale = %d %+v", code, res)
	}
	a = m.waitApp("/prod/web", 1, 20*time.Second)
	if a.Instances != 1 || slices.Contains(taskIDs(a), victim) {
		t.Errorf("after kill+scale: instances %d tasks %v", a.Instances, taskIDs(a))
	}

	// Delete.
	if code := m.do("DELETE", "/v2/apps/prod/web", nil, &res); code != 200 {
		t.Fatalf("DELETE = %d", code)
	}
	clustertest.Eventually(t, 20*time.Second, func() error {
		var tasks struct{ Tasks []v2.Task }
		m.do("GET", "/v2/tasks", nil, &tasks)
		if len(tasks.Tasks) != 0 || len(m.deployments()) != 0 {
			return fmt.Errorf("%d tasks, %d deployments left", len(tasks.Tasks), len(m.deployments()))
		}
		return nil
	})
	var nf v2.ErrorBody
	if code := m.do("GET", "/v2/apps/prod/web", nil, &nf); code != 404 || nf.Message != "App '/prod/web' does not exist" {
		t.Errorf("GET deleted app = %d %q", code, nf.Message)
	}
	// Every instance is forgotten once its task is gone.
	clustertest.Eventually(t, 20*time.Second, func() error {
		var metrics struct {
			Gauges map[string]struct{ Value float64 } `json:"gauges"`
		}
		m.do("GET", "/metrics", nil, &metrics)
		if n := metrics.Gauges["marathon.instances.total.gauge"].Value; n != 0 {
			return fmt.Errorf("%v instances kept", n)
		}
		return nil
	})
}

func TestRollingUpgradeWaitsForHealth(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Agents: 2})
	m := newClient(t, c)
	dir := t.TempDir()
	v1 := filepath.Join(dir, "v1")
	if err := os.WriteFile(v1, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	app := func(flag string) string {
		return fmt.Sprintf(`{"id": "/svc", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 3,
			"env": {"HC_FILE": %q},
			"upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 0.34},
			"healthChecks": [{"protocol": "COMMAND", "command": {"value": "test -f \"$HC_FILE\""},
				"gracePeriodSeconds": 60, "intervalSeconds": 1, "timeoutSeconds": 1, "delaySeconds": 0, "maxConsecutiveFailures": 0}]}`, flag)
	}
	m.do("POST", "/v2/apps", app(v1), nil)
	clustertest.Eventually(t, 30*time.Second, func() error {
		a := m.app("/svc")
		if a.TasksHealthy != 3 || len(a.Deployments) != 0 {
			return fmt.Errorf("healthy %d deployments %v", a.TasksHealthy, a.Deployments)
		}
		return nil
	})
	old := taskIDs(m.app("/svc"))

	// Upgrade to a config whose health file does not exist yet: one extra
	// task starts (max over capacity 1 of 3), no old task may die.
	v2file := filepath.Join(dir, "v2")
	var res v2.DeploymentResult
	if code := m.do("PUT", "/v2/apps/svc", app(v2file), &res); code != 200 {
		t.Fatalf("upgrade = %d", code)
	}
	clustertest.Eventually(t, 20*time.Second, func() error {
		a := m.app("/svc")
		// The new task fails its check within the grace period: not healthy
		// (failures in the grace period are not reported as unhealthy).
		if len(a.Tasks) != 4 || a.TasksRunning != 4 || a.TasksHealthy != 3 {
			return fmt.Errorf("%d tasks, %d running, %d healthy; want 4 running, 3 healthy", len(a.Tasks), a.TasksRunning, a.TasksHealthy)
		}
		return nil
	})
	a := m.app("/svc")
	for _, id := range old {
		if !slices.Contains(taskIDs(a), id) {
			t.Fatalf("old task %s killed before a new one was healthy", id)
		}
	}
	if ds := m.deployments(); len(ds) != 1 || ds[0].ID != res.DeploymentID {
		t.Fatalf("deployments = %+v", ds)
	}
	// A conflicting change is refused while the deployment runs.
	var conflict v2.ErrorBody
	if code := m.do("PUT", "/v2/apps/svc", `{"instances": 5}`, &conflict); code != http.StatusConflict || len(conflict.Deployments) != 1 {
		t.Fatalf("conflicting PUT = %d %+v", code, conflict)
	}
	// New tasks become healthy: the upgrade completes with only new tasks.
	if err := os.WriteFile(v2file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	a = m.waitApp("/svc", 3, 30*time.Second)
	for _, task := range a.Tasks {
		if slices.Contains(old, task.ID) {
			t.Errorf("old task %s survived the upgrade", task.ID)
		}
	}
}

func TestGroupWithDependencies(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Agents: 1})
	m := newClient(t, c)
	events := subscribe(t, m.base()+"/v2/events?event_type=deployment_info")
	var res v2.DeploymentResult
	code := m.do("POST", "/v2/groups", `{"id": "/shop", "apps": [
		{"id": "db", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16},
		{"id": "web", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 2, "dependencies": ["/shop/db"]}]}`, &res)
	if code != http.StatusCreated || res.DeploymentID == "" {
		t.Fatalf("POST /v2/groups = %d %+v", code, res)
	}
	ev := <-events
	var info struct {
		Plan v2.Deployment `json:"plan"`
	}
	if err := json.Unmarshal(ev.Data, &info); err != nil {
		t.Fatal(err)
	}
	if len(info.Plan.Steps) != 2 || info.Plan.Steps[0].Actions[0].App != "/shop/db" || info.Plan.Steps[1].Actions[0].App != "/shop/web" {
		t.Errorf("plan steps = %+v, want db then web", info.Plan.Steps)
	}
	m.waitApp("/shop/db", 1, 20*time.Second)
	m.waitApp("/shop/web", 2, 20*time.Second)
	var g v2.GroupInfo
	m.do("GET", "/v2/groups/shop", nil, &g)
	if g.ID != "/shop" || len(g.Apps) != 2 {
		t.Errorf("group = %+v", g)
	}
	// Scale the group.
	m.do("PUT", "/v2/groups/shop", `{"scaleBy": 2}`, &res)
	m.waitApp("/shop/web", 4, 20*time.Second)
	m.waitApp("/shop/db", 2, 20*time.Second)
	// Delete it: everything stops.
	if code := m.do("DELETE", "/v2/groups/shop", nil, &res); code != 200 {
		t.Fatalf("DELETE group = %d", code)
	}
	clustertest.Eventually(t, 20*time.Second, func() error {
		var tasks struct{ Tasks []v2.Task }
		m.do("GET", "/v2/tasks", nil, &tasks)
		if len(tasks.Tasks) != 0 {
			return fmt.Errorf("%d tasks left", len(tasks.Tasks))
		}
		return nil
	})
}

// sseEvent is one server-sent event.
type sseEvent struct {
	Type string
	Data []byte
}

// subscribe reads /v2/events until the test ends.
func subscribe(t *testing.T, url string) <-chan sseEvent {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan sseEvent, 100)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		var ev sseEvent
		buf := make([]byte, 0, 4096)
		tmp := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(tmp)
			buf = append(buf, tmp[:n]...)
			for {
				i := bytes.IndexByte(buf, '\n')
				if i < 0 {
					break
				}
				line := string(buf[:i])
				buf = buf[i+1:]
				switch {
				case strings.HasPrefix(line, "event:"):
					ev.Type = strings.TrimSpace(line[6:])
				case strings.HasPrefix(line, "data:"):
					ev.Data = []byte(strings.TrimSpace(line[5:]))
				case line == "" && ev.Type != "":
					if ev.Type != "event_stream_attached" {
						select {
						case out <- ev:
						default:
						}
					}
					ev = sseEvent{}
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return out
}

// A task that fails its health check maxConsecutiveFailures times is
// killed by its agent and replaced by Marathon, with an
// unhealthy_instance_kill_event.
func TestUnhealthyTaskIsReplaced(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Agents: 1})
	m := newClient(t, c)
	dir := t.TempDir()
	healthy := filepath.Join(dir, "healthy")
	if err := os.WriteFile(healthy, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	events := subscribe(t, m.base()+"/v2/events?event_type=unhealthy_instance_kill_event")
	m.do("POST", "/v2/apps", fmt.Sprintf(`{"id": "/flaky", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16,
		"healthChecks": [{"protocol": "COMMAND", "command": {"value": "test -f %s"},
			"gracePeriodSeconds": 0, "intervalSeconds": 1, "timeoutSeconds": 1, "delaySeconds": 0, "maxConsecutiveFailures": 2}]}`, healthy), nil)
	var first string
	clustertest.Eventually(t, 20*time.Second, func() error {
		a := m.app("/flaky")
		if a.TasksHealthy != 1 {
			return fmt.Errorf("healthy %d", a.TasksHealthy)
		}
		first = a.Tasks[0].ID
		return nil
	})
	if err := os.Remove(healthy); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		if !strings.Contains(string(ev.Data), first) {
			t.Errorf("unhealthy_instance_kill_event for another task: %s", ev.Data)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no unhealthy_instance_kill_event")
	}
	if err := os.WriteFile(healthy, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	clustertest.Eventually(t, 30*time.Second, func() error {
		a := m.app("/flaky")
		if len(a.Tasks) != 1 || a.Tasks[0].ID == first || a.TasksHealthy != 1 {
			return fmt.Errorf("tasks %v healthy %d", taskIDs(a), a.TasksHealthy)
		}
		return nil
	})
}

// TestAppListAfterReplacingAnApp: a deployment re-renders only the apps it
// touches, yet the list stays complete and sorted when one app replaces
// another in the same update (the same number of apps, other IDs), and an
// untouched app keeps its tasks in the list.
func TestAppListAfterReplacingAnApp(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Agents: 1})
	m := newClient(t, c)
	for _, id := range []string{"/g/b", "/g/a"} {
		if code := m.do("POST", "/v2/apps", `{"id": "`+id+`", "cmd": "sleep 1000", "cpus": 0.01, "mem": 8}`, nil); code != http.StatusCreated {
			t.Fatalf("POST %s = %d", id, code)
		}
		m.waitApp(id, 1, 20*time.Second)
	}
	group := `{"id": "/g", "apps": [
		{"id": "/g/a", "cmd": "sleep 1000", "cpus": 0.01, "mem": 8},
		{"id": "/g/c", "cmd": "sleep 1000", "cpus": 0.01, "mem": 8}]}`
	if code := m.do("PUT", "/v2/groups/g", group, nil); code != http.StatusOK {
		t.Fatalf("PUT /v2/groups/g = %d", code)
	}
	m.waitApp("/g/c", 1, 20*time.Second)
	var list struct {
		Apps []v2.AppInfo `json:"apps"`
	}
	clustertest.Eventually(t, 20*time.Second, func() error {
		if code := m.do("GET", "/v2/apps?embed=apps.tasks", nil, &list); code != http.StatusOK {
			return fmt.Errorf("GET /v2/apps = %d", code)
		}
		var ids []string
		for _, a := range list.Apps {
			if len(a.Tasks) != 1 {
				return fmt.Errorf("%s has %d tasks", a.ID, len(a.Tasks))
			}
			ids = append(ids, a.ID)
		}
		if !slices.Equal(ids, []string{"/g/a", "/g/c"}) {
			return fmt.Errorf("apps %v, want [/g/a /g/c]", ids)
		}
		return nil
	})
}
