// Package e2e runs Basalt as real processes — `basalt master` and `basalt
// agent` binaries on their own loopback addresses, real posix tasks, the
// example framework as its own process — and checks what a user would see.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/proccluster"
)

// bins are built once per test binary run.
type bins struct {
	basalt, sleepfw string
}

func buildBins(t *testing.T) bins {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("e2e needs Linux (loopback addresses 127.0.0.x)")
	}
	if _, err := exec.LookPath("go"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("e2e needs the go tool to build basalt")
		}
		t.Skip("e2e needs the go tool to build basalt")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	var b bins
	var err error
	if b.basalt, err = proccluster.Build(ctx, "..", "./cmd/basalt", dir); err != nil {
		t.Fatal(err)
	}
	if b.sleepfw, err = proccluster.Build(ctx, "..", "./examples/sleepfw", dir); err != nil {
		t.Fatal(err)
	}
	return b
}

// fastMasterArgs shrink the timeouts that matter for failover tests.
var fastMasterArgs = []string{
	"--agent-heartbeat-interval", "500ms",
	"--allocation-interval", "200ms",
	"--scheduler-heartbeat-interval", "2s",
}

var fastAgentArgs = []string{
	"--heartbeat-interval", "500ms",
	"--registration-backoff-min", "100ms",
	"--registration-backoff-max", "1s",
	"--status-update-retry-min", "500ms",
	"--status-update-retry-max", "2s",
	"--containerizers", "posix",
}

// framework is the example framework running as a process, with its JSON
// event lines collected.
type framework struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	evs  []map[string]any
	done chan struct{}
}

func startFramework(t *testing.T, bin string, args ...string) *framework {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(t.TempDir(), "sleepfw.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f := &framework{cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				f.mu.Lock()
				f.evs = append(f.evs, ev)
				f.mu.Unlock()
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-f.done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-f.done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("sleepfw stderr:\n%s", b)
			f.mu.Lock()
			for _, ev := range f.evs {
				t.Logf("sleepfw event: %v", ev)
			}
			f.mu.Unlock()
		}
	})
	return f
}

// events returns a copy of the events so far.
func (f *framework) events() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.evs...)
}

// latestStates maps task id → latest state seen in status events.
func (f *framework) latestStates() map[string]string {
	out := map[string]string{}
	for _, ev := range f.events() {
		if ev["event"] != "status" {
			continue
		}
		id, _ := ev["task_id"].(string)
		st, _ := ev["state"].(string)
		if id != "" && st != "" {
			out[id] = st
		}
	}
	return out
}

func count(m map[string]string, state string) int {
	n := 0
	for _, s := range m {
		if s == state {
			n++
		}
	}
	return n
}

func startCluster(t *testing.T, b bins, masters, agents int, extraMasterArgs ...string) *proccluster.Cluster {
	t.Helper()
	return startClusterAs(t, b, nil, masters, agents, extraMasterArgs...)
}

// startClusterAs is startCluster for masters that check credentials: the
// harness logs in as login for its own reads.
func startClusterAs(t *testing.T, b bins, login *proccluster.Login, masters, agents int, extraMasterArgs ...string) *proccluster.Cluster {
	t.Helper()
	return startWith(t, proccluster.Options{
		Bin: b.basalt, Dir: t.TempDir(), Masters: masters, Agents: agents, Login: login,
		MasterArgs: append(slices.Clip(fastMasterArgs), extraMasterArgs...), AgentArgs: fastAgentArgs,
	})
}

// startWith starts a cluster of real processes as opts say, prints its logs
// if the test fails, stops it at cleanup, and waits until it is ready.
func startWith(t *testing.T, opts proccluster.Options) *proccluster.Cluster {
	t.Helper()
	c, err := proccluster.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("cluster logs:\n%s", c.Logs())
		}
		c.Close()
	})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatalf("cluster not ready: %v", err)
	}
	return c
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	if err := proccluster.Poll(ctx, 100*time.Millisecond, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func fmtErr(format string, args ...any) error { return fmt.Errorf(format, args...) }

func runningTasks(ctx context.Context, c *proccluster.Cluster) (map[string]string, string, error) {
	st, err := c.State(ctx)
	if err != nil {
		return nil, "", err
	}
	out := map[string]string{}
	fwID := ""
	for _, fw := range st.Frameworks {
		if fw.Name != "sleepfw" {
			continue
		}
		if !fw.Active {
			return nil, "", fmtErr("framework %s not active", fw.ID)
		}
		fwID = fw.ID
		for _, tk := range fw.Tasks {
			out[tk.ID] = tk.State
		}
	}
	return out, fwID, nil
}

func TestCLITaskListAndLog(t *testing.T) {
	b := buildBins(t)
	c := startCluster(t, b, 1, 1)
	fw := startFramework(t, b.sleepfw, "--master", strings.Join(c.MasterURLs(), ","),
		"--tasks", "2", "--cmd", "echo hello-from-task; sleep 600", "--cpus", "0.1", "--mem", "32",
		"--failover-timeout", "600")
	waitFor(t, 60*time.Second, "2 tasks running", func(context.Context) error {
		if n := count(fw.latestStates(), "TASK_RUNNING"); n != 2 {
			return fmtErr("%d running", n)
		}
		return nil
	})
	list := exec.Command(b.basalt, "task", "list", "--master", c.Masters[0].URL)
	out, err := list.CombinedOutput()
	if err != nil {
		t.Fatalf("basalt task list: %v\n%s", err, out)
	}
	if got := strings.Count(string(out), "sleepfw"); got < 2 || !strings.Contains(string(out), "R") {
		t.Fatalf("task list does not show the 2 tasks:\n%s", out)
	}
	var taskID string
	for id := range fw.latestStates() {
		taskID = id
		break
	}
	waitFor(t, 20*time.Second, "task log shows stdout", func(ctx context.Context) error {
		out, err := exec.CommandContext(ctx, b.basalt, "task", "log", "--master", c.Masters[0].URL, taskID).CombinedOutput()
		if err != nil {
			return fmtErr("basalt task log: %v: %s", err, out)
		}
		if !strings.Contains(string(out), "hello-from-task") {
			return fmtErr("log lacks the task's output: %q", out)
		}
		return nil
	})
}

func httpClientNoRedirect() http.Client {
	return http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
