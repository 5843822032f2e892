package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/basalt-dcos/basalt/internal/containerizer/image/imagetest"
	"github.com/basalt-dcos/basalt/internal/containerizer/mesos"
	"github.com/basalt-dcos/basalt/internal/proccluster"
)

// taskDNSPorts is the agent's port range in TestTaskResolvesThroughAgentDNS
// (no other test uses it, so parallel packages cannot collide on it).
const taskDNSPorts = "ports:[25000-25999]"

// TestTaskResolvesThroughAgentDNS runs a cluster inside a fresh network
// namespace: one master and one agent with the mesos runtime, its own DNS
// server on port 53 (--dns-listen) and the VIP balancer. App a serves its
// task id on a port and declares the VIP /a:80. App b (mesos runtime, no
// image) and app c (mesos runtime, in an image fetched as an archive) look
// up a.marathon.mesos and the VIP name through their own /etc/resolv.conf
// and connect: both reach a's task, by name and through the VIP. glibc
// (getent) and Go's own resolver both resolve the name in b.
func TestTaskResolvesThroughAgentDNS(t *testing.T) {
	if os.Getenv(inNetnsEnv) == "1" {
		taskDNSScenario(t)
		return
	}
	if _, err := mesos.Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the mesos runtime must be testable in CI: %v", err)
		}
		t.Skipf("skipping: %v (runs as root on a host with cgroups; required under CI=true)", err)
	}
	runInNetns(t, "TestTaskResolvesThroughAgentDNS")
}

func taskDNSScenario(t *testing.T) {
	b := buildBins(t)
	dir := os.Getenv("BASALT_E2E_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	// The image of app c: tasksh (a static shell whose `get URL` resolves
	// with Go's resolver, reading /etc/resolv.conf) as /bin/sh, served as
	// an archive that the agent fetches into the sandbox.
	img := imagetest.ShellImage(t, imagetest.Tasksh(t), v1.Config{Env: []string{"PATH=/bin"}})
	files := t.TempDir()
	imagetest.SaveArchive(t, filepath.Join(files, "sh.tar"), "sh:1", img)
	fileSrv := httptest.NewServer(http.FileServer(http.Dir(files)))
	t.Cleanup(fileSrv.Close)

	root := fmt.Sprintf("basalt-e2e-dns-%d", os.Getpid())
	t.Cleanup(func() {
		if err := mesos.RemoveCgroupsRoot(root, 10*time.Second); err != nil {
			t.Errorf("remove cgroups root %s: %v", root, err)
		}
	})
	agentIP := proccluster.AgentIP(0)
	var agentArgs []string
	for i := 0; i < len(fastAgentArgs); i++ {
		if fastAgentArgs[i] == "--containerizers" {
			i++ // the mesos runtime instead
			continue
		}
		agentArgs = append(agentArgs, fastAgentArgs[i])
	}
	agentArgs = append(agentArgs, "--containerizers", "mesos", "--cgroups-root", root,
		"--dns-listen", net.JoinHostPort(agentIP, "53"), "--l4lb")
	c := startWith(t, proccluster.Options{
		Bin: b.basalt, Dir: dir, Masters: 1, Agents: 1,
		MasterArgs: fastMasterArgs, AgentArgs: agentArgs,
		AgentResources: func(int) string { return "cpus:4;mem:4096;disk:10000;" + taskDNSPorts },
	})
	ctx := t.Context()
	m := c.Masters[0]

	a := fmt.Sprintf(`{"id": "/a", "cmd": %q, "cpus": 0.1, "mem": 32, "instances": 1,
	  "portDefinitions": [{"port": 0, "name": "http", "labels": {"VIP_0": "/a:80"}}]}`, roleEnv+"=backend exec "+os.Args[0])
	if st, body := marathonDo(ctx, "POST", m.MarathonURL+"/v2/apps", a); st != http.StatusCreated {
		t.Fatalf("POST /v2/apps a = %d %s", st, body)
	}
	var aTask string
	var aPort int
	waitFor(t, 60*time.Second, "a running", func(ctx context.Context) error {
		app, err := getApp(ctx, m.MarathonURL, "/a")
		if err != nil {
			return err
		}
		if app.TasksRunning != 1 || len(app.Tasks) != 1 || len(app.Tasks[0].Ports) != 1 {
			return fmt.Errorf("%d running, tasks %+v; last failure %+v", app.TasksRunning, app.Tasks, app.LastTaskFailure)
		}
		aTask, aPort = app.Tasks[0].ID, app.Tasks[0].Ports[0]
		return nil
	})
	byName := fmt.Sprintf("http://a.marathon.mesos:%d/", aPort)
	byVIP := "http://a.marathon.l4lb.thisdcos.directory/"

	bCmd := fmt.Sprintf("cat /etc/resolv.conf; getent hosts a.marathon.mesos; GODEBUG=netdns=go %s=client %s %s %s; sleep 1000",
		roleEnv, os.Args[0], byName, byVIP)
	apps := map[string]string{
		"/b": fmt.Sprintf(`{"id": "/b", "cmd": %q, "cpus": 0.1, "mem": 32, "instances": 1, "portDefinitions": []}`, bCmd),
		"/c": fmt.Sprintf(`{"id": "/c", "cmd": %q, "cpus": 0.1, "mem": 32, "instances": 1, "portDefinitions": [],
		  "fetch": [{"uri": %q, "extract": false}],
		  "container": {"type": "MESOS", "docker": {"image": "archive:sh.tar"}}}`,
			fmt.Sprintf("cat /etc/resolv.conf; for u in %s %s; do until get $u; do sleep 1; done; echo; echo GOT $u; done; sleep 1000", byName, byVIP),
			fileSrv.URL+"/sh.tar"),
	}
	for id, app := range apps {
		if st, body := marathonDo(ctx, "POST", m.MarathonURL+"/v2/apps", app); st != http.StatusCreated {
			t.Fatalf("POST /v2/apps %s = %d %s", id, st, body)
		}
	}
	for _, id := range []string{"/b", "/c"} {
		var out string
		waitFor(t, 120*time.Second, id+" reaches a by name and by VIP", func(ctx context.Context) error {
			app, err := getApp(ctx, m.MarathonURL, id)
			if err != nil {
				return err
			}
			if len(app.Tasks) != 1 {
				return fmt.Errorf("%d tasks; last failure %+v", len(app.Tasks), app.LastTaskFailure)
			}
			out = sandboxFile(dir, app.Tasks[0].ID, "stdout")
			for _, u := range []string{byName, byVIP} {
				if !strings.Contains(out, "GOT "+u) {
					return fmt.Errorf("no answer from %s yet; stdout %q, stderr %q", u, out, sandboxFile(dir, app.Tasks[0].ID, "stderr"))
				}
			}
			return nil
		})
		t.Logf("%s: stdout\n%s", id, out)
		if !strings.Contains(out, "\nnameserver "+agentIP+"\n") || strings.Count(out, "nameserver ") != 1 {
			t.Errorf("%s: /etc/resolv.conf does not name the agent's DNS server %s alone:\n%s", id, agentIP, out)
		}
		if strings.Count(out, aTask) < 2 {
			t.Errorf("%s: a's task %s did not answer both requests:\n%s", id, aTask, out)
		}
		if id == "/b" && !slices.ContainsFunc(strings.Split(out, "\n"), func(l string) bool {
			f := strings.Fields(l)
			return len(f) == 2 && f[0] == agentIP && f[1] == "a.marathon.mesos"
		}) {
			t.Errorf("%s: getent (glibc) did not resolve a.marathon.mesos to %s:\n%s", id, agentIP, out)
		}
	}
	// The host's resolver is not the agent's: the namespace's
	// /etc/resolv.conf is as it was.
	if host, err := os.ReadFile("/etc/resolv.conf"); err == nil && strings.Contains(string(host), agentIP) {
		t.Errorf("the host's /etc/resolv.conf names the agent's DNS server:\n%s", host)
	}
}

// sandboxFile reads a file of the latest run of a task's sandbox under the
// cluster's directory ("" when there is none yet).
func sandboxFile(dir, taskID, name string) string {
	all, _ := filepath.Glob(filepath.Join(dir, "agent*", "slaves", "*", "frameworks", "*", "executors", taskID, "runs", "latest", name))
	for _, p := range all {
		if strings.Contains(p, "/slaves/latest/") {
			continue
		}
		if b, err := os.ReadFile(p); err == nil {
			return string(b)
		}
	}
	return ""
}
