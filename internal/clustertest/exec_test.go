package clustertest_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/agent"
	"github.com/basalt-dcos/basalt/internal/cli"
	"github.com/basalt-dcos/basalt/internal/clustertest"
	"github.com/basalt-dcos/basalt/internal/containerizer/docker"
	"github.com/basalt-dcos/basalt/internal/containerizer/docker/dockertest"
	"github.com/basalt-dcos/basalt/internal/containerizer/mesos"
	"github.com/basalt-dcos/basalt/internal/master"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// basaltCLI runs the basalt CLI in-process with its own config dir.
type basaltCLI struct{ dir string }

func (b basaltCLI) run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Run(t.Context(), args, cli.Env{
		Stdout: &out, Stderr: &errOut, Stdin: strings.NewReader(stdin),
		LookupEnv: func(k string) (string, bool) {
			if k == "BASALT_DIR" {
				return b.dir, true
			}
			return "", false
		},
	})
	return code, out.String(), errOut.String()
}

// TestTaskExecThroughAdminRouter: `basalt task exec`, logged in to a strict
// cluster, reaches the task's agent through Admin Router with its token and
// runs commands inside the task's container (mesos runtime): the
// container's hostname, a child of its pid 1, stdin with -i, a terminal with
// -t, and the command's exit code as its own.
func TestTaskExecThroughAdminRouter(t *testing.T) {
	if _, err := mesos.Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the mesos runtime must be testable in CI: %v", err)
		}
		t.Skipf("skipping: %v (runs as root on a host with cgroups; required under CI=true)", err)
	}
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("Exec-Pass-1234\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	root := "basalt-exec-test-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	t.Cleanup(func() { _ = mesos.RemoveCgroupsRoot(root, 10*time.Second) })
	c := clustertest.New(t, clustertest.Options{Agents: 1, Runtime: clustertest.Posix, NoMarathon: true,
		Master: func(_ int, cfg *master.Config) {
			cfg.Security = "strict"
			cfg.Superuser = "admin"
			cfg.SuperuserPasswordFile = pw
		},
		Agent: func(_ int, cfg *agent.Config) {
			cfg.Containerizers = []string{mesos.Name}
			cfg.Isolation.CgroupsRoot = root
		}})
	// The masters run strict: the framework, too, needs a token.
	f := c.StartFrameworkWith(clustertest.FrameworkInfo("exec-test", time.Minute),
		http.Header{"Authorization": {"token=" + loginToken(t, c.Leader().AdminRouterURL(), "admin", "Exec-Pass-1234")}})
	ti := clustertest.Task("sleeper", "exec sleep 1000")
	ti.Container = &mesosv1.ContainerInfo{Type: "MESOS", Hostname: "exec-box"}
	f.Launch(ti)
	f.WaitState("sleeper", mesosv1.TaskRunning, 30*time.Second)
	t.Cleanup(func() {
		// Kill the task and see it end before the teardown, so that its
		// shim has exited before the cluster's goroutine-leak check.
		st := f.Latest("sleeper")
		if err := f.Client.Kill(context.Background(), st.TaskID, st.AgentID, nil); err != nil {
			t.Errorf("kill: %v", err)
		}
		f.WaitState("sleeper", mesosv1.TaskKilled, 30*time.Second)
		f.Teardown()
	})

	ar := c.Leader().AdminRouterURL()
	b := basaltCLI{dir: filepath.Join(t.TempDir(), "basalt")}
	if code, out, errOut := b.run(t, "", "cluster", "setup", ar, "--username", "admin", "--password-file", pw); code != 0 {
		t.Fatalf("cluster setup: %d %s %s", code, out, errOut)
	}

	check := func(stdin string, wantCode int, want func(string) bool, args ...string) {
		t.Helper()
		code, out, errOut := b.run(t, stdin, append([]string{"task", "exec"}, args...)...)
		if code != wantCode || !want(out) {
			t.Errorf("basalt task exec %s: exit %d (want %d), stdout %q, stderr %q", strings.Join(args, " "), code, wantCode, out, errOut)
		}
	}
	is := func(s string) func(string) bool { return func(out string) bool { return out == s } }
	check("", 0, is("exec-box\n"), "sleeper", "hostname")
	check("", 3, is("1 err\n"), "sleeper", "--", "sh", "-c", "echo $PPID err; exit 3")
	check("typed\n", 0, is("typed\n"), "-i", "sleeper", "cat")
	check("never read\n", 0, is(""), "sleeper", "cat") // without -i: EOF at once
	check("", 0, regexp.MustCompile(`^/dev/pts/\d+\r\n$`).MatchString, "-t", "sleeper", "tty")
	check("", 137, is(""), "sleeper", "sh", "-c", "kill -9 $$")

	// Both directions stream through Admin Router: each line typed is
	// echoed back before the next is sent.
	inR, inW := io.Pipe()
	out := &lockedBuf{}
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(t.Context(), []string{"task", "exec", "-i", "sleeper", "cat"}, cli.Env{
			Stdout: out, Stderr: io.Discard, Stdin: inR,
			LookupEnv: func(k string) (string, bool) { return b.dir, k == "BASALT_DIR" },
		})
	}()
	for _, line := range []string{"one\n", "two\n"} {
		if _, err := inW.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
		clustertest.Eventually(t, 30*time.Second, func() error {
			if !strings.HasSuffix(out.String(), line) {
				return fmt.Errorf("echo of %q not back yet (%q)", line, out.String())
			}
			return nil
		})
	}
	inW.Close()
	if code := <-done; code != 0 || out.String() != "one\ntwo\n" {
		t.Errorf("interactive cat: exit %d, %q", code, out.String())
	}

	code, _, errOut := b.run(t, "", "task", "exec", "no-such-task", "true")
	if code != 1 || !strings.Contains(errOut, `no task matches "no-such-task"`) {
		t.Errorf("exec into an unknown task: exit %d, %q", code, errOut)
	}

	// The agent API behind Admin Router: a token is required, and only a
	// running task's container can be entered.
	agentID := c.State().Slaves[0].ID
	call := func(token, body string) (int, string) {
		req, _ := http.NewRequest("POST", ar+"/agent/"+agentID+"/api/v1", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "token="+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		return resp.StatusCode, buf.String()
	}
	launch := func(parent string) string {
		return fmt.Sprintf(`{"type":"LAUNCH_NESTED_CONTAINER_SESSION","launch_nested_container_session":{
			"container_id":{"value":"s1","parent":{"value":%q}},"command":{"shell":false,"value":"id","arguments":["id"]}}}`, parent)
	}
	if code, _ := call("", launch("x")); code != http.StatusUnauthorized {
		t.Errorf("agent API without a token: %d, want 401", code)
	}
	tok := loginToken(t, ar, "admin", "Exec-Pass-1234")
	if code, body := call(tok, launch("not-a-task-container")); code != http.StatusNotFound || !strings.Contains(body, "no running task") {
		t.Errorf("exec into a container no task has: %d %q", code, body)
	}
	if code, body := call(tok, `{"type":"LAUNCH_NESTED_CONTAINER_SESSION","launch_nested_container_session":{"container_id":{"value":"../x"}}}`); code != http.StatusBadRequest ||
		!strings.Contains(body, "container_id.value") || !strings.Contains(body, "parent") || !strings.Contains(body, "command") {
		t.Errorf("bad call: %d %q, want every problem named", code, body)
	}
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestTaskExecDocker: `basalt task exec` into a DOCKER task, straight to the
// master and the agent (no cluster attached): the Engine's exec API runs
// the command as the task's user (CommandInfo.user) in its container.
func TestTaskExecDocker(t *testing.T) {
	cli := dockertest.Client(t)
	img := dockertest.Image(t, cli)
	var owner string
	c := clustertest.New(t, clustertest.Options{Agents: 1, Runtime: clustertest.Posix, NoMarathon: true,
		Agent: func(_ int, cfg *agent.Config) {
			cfg.Containerizers = []string{"posix", "docker"}
			cfg.Docker.Socket = dockertest.Host(cli)
			cfg.Docker.AllowedParameters = []string{"user"}
			owner = cfg.WorkDir
		}})
	t.Cleanup(func() { dockertest.NoContainers(t, cli, docker.LabelOwner, owner) })
	f := c.StartFramework(clustertest.FrameworkInfo("exec-docker", time.Minute))
	t.Cleanup(func() {
		// The framework's end kills its task; its container goes soon after.
		f.Teardown()
		clustertest.Eventually(t, 60*time.Second, func() error {
			left, err := dockertest.Containers(cli, docker.LabelOwner, owner)
			if err != nil || len(left) > 0 {
				return fmt.Errorf("containers left: %v %v", left, err)
			}
			return nil
		})
	})
	ti := clustertest.Task("boxed", "sleep 1000")
	ti.Container = &mesosv1.ContainerInfo{Type: "DOCKER", Docker: &mesosv1.DockerInfo{Image: img, Network: "NONE",
		Parameters: []mesosv1.Parameter{{Key: "user", Value: "4321"}}}}
	f.Launch(ti)
	f.WaitState("boxed", mesosv1.TaskRunning, 90*time.Second)

	b := basaltCLI{dir: filepath.Join(t.TempDir(), "basalt")}
	master := []string{"--master", c.Leader().URL()}
	code, out, errOut := b.run(t, "", append([]string{"task", "exec"}, append(master, "boxed", "sh", "-c", "id; pwd; exit 4")...)...)
	if code != 4 || out != "uid=4321 gid=0\n/mnt/mesos/sandbox\n" {
		t.Errorf("docker exec: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = b.run(t, "piped\n", append([]string{"task", "exec", "-i"}, append(master, "boxed", "sh", "-c", "cat")...)...)
	if code != 0 || out != "piped\n" {
		t.Errorf("docker exec -i: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func loginToken(t *testing.T, ar, uid, password string) string {
	t.Helper()
	resp, err := http.Post(ar+"/acs/api/v1/auth/login", "application/json",
		strings.NewReader(fmt.Sprintf(`{"uid":%q,"password":%q}`, uid, password)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	m := regexp.MustCompile(`"token"\s*:\s*"([^"]+)"`).FindStringSubmatch(buf.String())
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("login: %d %s", resp.StatusCode, buf.String())
	}
	return m[1]
}
