package clustertest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/basalt-dcos/basalt/internal/agent"
	"github.com/basalt-dcos/basalt/internal/clustertest"
	"github.com/basalt-dcos/basalt/internal/containerizer/image/imagetest"
	"github.com/basalt-dcos/basalt/internal/containerizer/mesos"
)

// TestMarathonMesosImageApp: a Marathon app with container type MESOS and a
// docker image from a registry the test runs is pulled by the mesos runtime,
// health-checked and scaled; an app whose image is an archive fetched into
// the sandbox runs without any registry; an app with an unknown image fails
// fast with a message and the agent keeps working.
func TestMarathonMesosImageApp(t *testing.T) {
	if _, err := mesos.Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the mesos runtime must be testable in CI: %v", err)
		}
		t.Skipf("skipping: %v (runs as root on a host with cgroups; required under CI=true)", err)
	}
	sh := imagetest.Tasksh(t)
	img := imagetest.ShellImage(t, sh, v1.Config{Env: []string{"PATH=/bin"}})
	reg := imagetest.StartRegistry(t)
	ref := reg.Push(t, "web:1", img)

	// The archive app fetches its image over HTTP.
	archive := filepath.Join(t.TempDir(), "web.tar")
	imagetest.SaveArchive(t, archive, "web:1", img)
	files := httptest.NewServer(http.FileServer(http.Dir(filepath.Dir(archive))))
	t.Cleanup(files.Close)

	root := fmt.Sprintf("basalt-ct-%d", os.Getpid())
	t.Cleanup(func() {
		if err := mesos.RemoveCgroupsRoot(root, 10*time.Second); err != nil {
			t.Errorf("remove cgroups root: %v", err)
		}
	})
	c := clustertest.New(t, clustertest.Options{Agents: 1, Runtime: clustertest.Posix, LoopbackHostnames: true,
		Agent: func(_ int, cfg *agent.Config) {
			cfg.Containerizers = []string{"mesos"}
			cfg.Isolation.CgroupsRoot = root
			cfg.Images.Insecure = []string{reg.Host}
			cfg.Images.Timeout = 5 * time.Second
		}})

	app := fmt.Sprintf(`{"id": "/img", "instances": 1, "cpus": 0.1, "mem": 32, "cmd": "echo sandbox=$MESOS_SANDBOX; exec httpd $PORT0",
		"container": {"type": "MESOS", "docker": {"image": %q}},
		"healthChecks": [{"protocol": "MESOS_HTTP", "path": "/health", "portIndex": 0,
			"gracePeriodSeconds": 30, "intervalSeconds": 1, "timeoutSeconds": 2, "maxConsecutiveFailures": 3}]}`, ref)
	if code := marathonDo(t, c, "POST", "/v2/apps", app, nil); code != http.StatusCreated {
		t.Fatalf("POST /v2/apps = %d", code)
	}
	healthy := func(id string, n int) {
		clustertest.Eventually(t, 90*time.Second, func() error {
			a := getApp(t, c, id)
			if a.TasksHealthy != n || len(a.Tasks) != n || len(a.Deployments) != 0 {
				return fmt.Errorf("%s: %d tasks, %d healthy, deployments %v; last failure %+v", id, len(a.Tasks), a.TasksHealthy, a.Deployments, a.LastTaskFailure)
			}
			return nil
		})
	}
	healthy("/img", 1)
	if code := marathonDo(t, c, "PUT", "/v2/apps/img", `{"instances": 2}`, nil); code != http.StatusOK {
		t.Fatalf("scale = %d", code)
	}
	healthy("/img", 2)
	a := getApp(t, c, "/img")
	for _, task := range a.Tasks {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/hello", task.Ports[0]))
		if err != nil {
			t.Fatalf("task %s: %v", task.ID, err)
		}
		resp.Body.Close()
	}

	arch := fmt.Sprintf(`{"id": "/arch", "instances": 1, "cpus": 0.1, "mem": 32, "cmd": "exec httpd $PORT0",
		"fetch": [{"uri": %q, "extract": false}],
		"container": {"type": "MESOS", "docker": {"image": "archive:web.tar"}},
		"healthChecks": [{"protocol": "MESOS_HTTP", "path": "/", "portIndex": 0,
			"gracePeriodSeconds": 30, "intervalSeconds": 1, "timeoutSeconds": 2, "maxConsecutiveFailures": 3}]}`, files.URL+"/web.tar")
	if code := marathonDo(t, c, "POST", "/v2/apps", arch, nil); code != http.StatusCreated {
		t.Fatalf("POST /v2/apps = %d", code)
	}
	healthy("/arch", 1)

	for _, bad := range []struct{ id, image, want string }{
		{"/noimage", reg.Host + "/nope:1", "is not in registry"},
		{"/badarchive", "archive:missing.tar", "bad image archive"},
	} {
		app := fmt.Sprintf(`{"id": %q, "cmd": "sleep 100", "cpus": 0.1, "mem": 16, "container": {"type": "MESOS", "docker": {"image": %q}}}`, bad.id, bad.image)
		expectTaskFailure(t, c, bad.id, app, bad.want)
	}
	if a := getApp(t, c, "/img"); a.TasksHealthy != 2 {
		t.Errorf("after bad apps /img has %d healthy tasks", a.TasksHealthy)
	}

	for _, id := range []string{"/img", "/arch"} {
		marathonDo(t, c, "DELETE", "/v2/apps"+id, "", nil)
	}
	clustertest.Eventually(t, 60*time.Second, func() error {
		for _, fw := range c.State().Frameworks {
			if len(fw.Tasks) > 0 {
				return fmt.Errorf("%d tasks left", len(fw.Tasks))
			}
		}
		return nil
	})
}
