package clustertest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/agent"
	"github.com/basalt-dcos/basalt/internal/clustertest"
	"github.com/basalt-dcos/basalt/internal/containerizer/docker"
	"github.com/basalt-dcos/basalt/internal/containerizer/docker/dockertest"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
)

// marathonDo sends a JSON request to Marathon and decodes the answer.
func marathonDo(t *testing.T, c *clustertest.Cluster, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, c.MarathonLeader().MarathonURL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

func getApp(t *testing.T, c *clustertest.Cluster, id string) v2.AppInfo {
	t.Helper()
	var body struct {
		App v2.AppInfo `json:"app"`
	}
	marathonDo(t, c, "GET", "/v2/apps"+id+"?embed=app.tasks&embed=app.lastTaskFailure", "", &body)
	return body.App
}

// TestMarathonDockerApp: a Marathon app with container type DOCKER on
// BRIDGE networking runs in the test image, answers on its mapped host
// port, is health-checked and scales; bad apps fail fast with a message
// and the agent keeps working; nothing is left in Docker afterwards.
func TestMarathonDockerApp(t *testing.T) {
	cli := dockertest.Client(t)
	img := dockertest.Image(t, cli)
	var owner string
	c := clustertest.New(t, clustertest.Options{Agents: 1, Runtime: clustertest.Posix, LoopbackHostnames: true,
		// Docker's proxy binds host ports on 0.0.0.0: keep them away from
		// 31000-32000, which tasks of tests in other packages, run at the
		// same time, listen on.
		AgentResources: "cpus:4;mem:4096;disk:10000;ports:[24000-24999]",
		Agent: func(_ int, cfg *agent.Config) {
			cfg.Containerizers = []string{"posix", "docker"}
			cfg.Docker.Socket = dockertest.Host(cli)
			cfg.Docker.AllowedParameters = []string{"label"}
			owner = cfg.WorkDir
		}})
	t.Cleanup(func() { dockertest.NoContainers(t, cli, docker.LabelOwner, owner) })

	clustertest.Eventually(t, 30*time.Second, func() error {
		st := c.State()
		if len(st.Slaves) != 1 || !slices.Contains(st.Slaves[0].Runtimes, "docker") {
			return fmt.Errorf("agents %+v do not advertise docker", st.Slaves)
		}
		return nil
	})

	app := fmt.Sprintf(`{"id": "/web", "instances": 1, "cpus": 0.1, "mem": 32, "cmd": "httpd 8080",
		"container": {"type": "DOCKER", "docker": {"image": %q, "parameters": [{"key": "label", "value": "team=web"}]},
			"portMappings": [{"containerPort": 8080, "hostPort": 0, "name": "http"}]},
		"networks": [{"mode": "container/bridge"}],
		"healthChecks": [{"protocol": "MESOS_HTTP", "path": "/health", "portIndex": 0,
			"gracePeriodSeconds": 30, "intervalSeconds": 1, "timeoutSeconds": 2, "maxConsecutiveFailures": 3}]}`, img)
	if code := marathonDo(t, c, "POST", "/v2/apps", app, nil); code != http.StatusCreated {
		t.Fatalf("POST /v2/apps = %d", code)
	}
	healthy := func(n int) v2.AppInfo {
		var a v2.AppInfo
		clustertest.Eventually(t, 90*time.Second, func() error {
			a = getApp(t, c, "/web")
			if a.TasksHealthy != n || len(a.Tasks) != n || len(a.Deployments) != 0 {
				return fmt.Errorf("%d tasks, %d healthy, deployments %v; last failure %+v", len(a.Tasks), a.TasksHealthy, a.Deployments, a.LastTaskFailure)
			}
			return nil
		})
		return a
	}
	a := healthy(1)
	port := a.Tasks[0].Ports[0]
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/hello", port))
	if err != nil {
		t.Fatalf("the task's mapped host port %d: %v", port, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok /hello\n" {
		t.Errorf("task answered %q", body)
	}

	if code := marathonDo(t, c, "PUT", "/v2/apps/web", `{"instances": 3}`, nil); code != http.StatusOK {
		t.Fatalf("scale = %d", code)
	}
	a = healthy(3)
	ports := map[int]bool{}
	for _, task := range a.Tasks {
		ports[task.Ports[0]] = true
	}
	if len(ports) != 3 {
		t.Errorf("3 tasks on %d distinct host ports", len(ports))
	}

	// Bad apps fail fast with a message a user can act on.
	for _, bad := range []struct{ id, docker, want string }{
		{"/priv", fmt.Sprintf(`{"image": %q, "privileged": true}`, img), "--docker-allow-privileged"},
		{"/param", fmt.Sprintf(`{"image": %q, "parameters": [{"key": "cap-add", "value": "ALL"}]}`, img), `"cap-add" is not allowed on this agent`},
		{"/noimage", `{"image": "basalt-test/no-such-image:1"}`, "pulling it failed"},
	} {
		app := fmt.Sprintf(`{"id": %q, "cmd": "sleep 100", "cpus": 0.1, "mem": 16, "container": {"type": "DOCKER", "docker": %s}}`, bad.id, bad.docker)
		expectTaskFailure(t, c, bad.id, app, bad.want)
	}
	if a := getApp(t, c, "/web"); a.TasksHealthy != 3 {
		t.Errorf("after bad apps /web has %d healthy tasks", a.TasksHealthy)
	}

	marathonDo(t, c, "DELETE", "/v2/apps/web", "", nil)
	clustertest.Eventually(t, 60*time.Second, func() error {
		var list bytes.Buffer
		st := c.State()
		for _, fw := range st.Frameworks {
			for _, task := range fw.Tasks {
				fmt.Fprintf(&list, "%s %s; ", task.ID, task.State)
			}
		}
		if list.Len() > 0 {
			return fmt.Errorf("tasks left: %s", list.String())
		}
		// The agent removes a container once its end is acknowledged.
		left, err := dockertest.Containers(cli, docker.LabelOwner, owner)
		if err != nil || len(left) > 0 {
			return fmt.Errorf("containers left: %v %v", left, err)
		}
		return nil
	})
}

// expectTaskFailure posts app (JSON, id id), waits until Marathon reports
// its last task failure as TASK_FAILED with a message containing want, and
// removes the app.
func expectTaskFailure(t *testing.T, c *clustertest.Cluster, id, app, want string) {
	t.Helper()
	if code := marathonDo(t, c, "POST", "/v2/apps", app, nil); code != http.StatusCreated {
		t.Fatalf("POST %s = %d", id, code)
	}
	clustertest.Eventually(t, 60*time.Second, func() error {
		f := getApp(t, c, id).LastTaskFailure
		if f == nil || f.State != "TASK_FAILED" || !strings.Contains(f.Message, want) {
			return fmt.Errorf("%s: last failure %+v, want TASK_FAILED with %q", id, f, want)
		}
		return nil
	})
	marathonDo(t, c, "DELETE", "/v2/apps"+id, "", nil)
}
