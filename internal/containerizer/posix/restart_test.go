package posix_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/internal/containerizer/posix"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// agentEnv makes the test binary act as an agent that launches one container
// and then idles until it is killed: "<state dir>|<container id>|<sandbox>|<shell command>".
const agentEnv = "BASALT_POSIX_TEST_AGENT"

// runTestAgent is the body of such an agent process.
func runTestAgent(arg string) int {
	parts := strings.SplitN(arg, "|", 4)
	if len(parts) != 4 {
		fmt.Fprintln(os.Stderr, "bad", agentEnv)
		return 2
	}
	c, err := posix.New(posix.Config{StateDir: parts[0]}, posix.Deps{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := c.Launch(context.Background(), shellSpec(parts[1], parts[2], parts[3])); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Die with an idle warm shim too: it must go by itself.
	for deadline := time.Now().Add(30 * time.Second); len(warmPids(parts[0])) == 0; {
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "no warm shim started")
			return 1
		}
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Println("launched")
	select {} // until killed
}

func shellSpec(id, sandbox, shell string) containerizer.LaunchSpec {
	return containerizer.LaunchSpec{
		ContainerID: id,
		Task:        mesosv1.TaskInfo{Command: &mesosv1.CommandInfo{Value: shell}},
		Sandbox:     sandbox,
		Env:         []string{"PATH=/usr/bin:/bin"},
	}
}

// startAgent runs a separate agent process that launches one container, and
// SIGKILLs it once the launch is done: the container must outlive it.
func startAgent(t *testing.T, stateDir, id, sandbox, shell string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), agentEnv+"="+strings.Join([]string{stateDir, id, sandbox, shell}, "|"))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "launched\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("test agent: %q, %v", line, err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTaskSurvivesAgentDeath(t *testing.T) {
	t.Parallel()
	stateDir, sandbox := t.TempDir(), t.TempDir()
	startAgent(t, stateDir, "c1", sandbox, "echo $$ > pid; exec sleep 1000")
	pid := readPid(t, filepath.Join(sandbox, "pid"))
	if !processAlive(pid) {
		t.Fatalf("task %d died with its agent", pid)
	}

	c := newPosix(t, stateDir)
	got, err := c.Recover(t.Context(), []string{"c1"})
	if err != nil {
		t.Fatal(err)
	}
	if got["c1"].State != containerizer.Running {
		t.Fatalf("recovered %+v, want Running", got["c1"])
	}
	if err := c.Kill(t.Context(), "c1", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	term, err := c.Wait(t.Context(), "c1")
	if err != nil {
		t.Fatal(err)
	}
	if !term.Killed || term.Signal != int(syscall.SIGTERM) {
		t.Errorf("termination %+v, want killed by SIGTERM", term)
	}
	waitFor(t, "task process gone", func() bool { return !processAlive(pid) })
}

func TestExitWhileAgentDownIsRecorded(t *testing.T) {
	t.Parallel()
	stateDir, sandbox := t.TempDir(), t.TempDir()
	startAgent(t, stateDir, "c1", sandbox, "while [ ! -f go ]; do sleep 0.01; done; exit 9")
	if err := os.WriteFile(filepath.Join(sandbox, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "termination record", func() bool {
		_, err := os.Stat(filepath.Join(stateDir, "c1", "termination.json"))
		return err == nil
	})
	c := newPosix(t, stateDir)
	got, err := c.Recover(t.Context(), []string{"c1"})
	if err != nil {
		t.Fatal(err)
	}
	// The shim may still be exiting: Running then Wait, or Exited at once.
	r := got["c1"]
	if r.State == containerizer.Running {
		r.Termination, err = c.Wait(t.Context(), "c1")
		if err != nil {
			t.Fatal(err)
		}
	} else if r.State != containerizer.Exited {
		t.Fatalf("recovered %+v", r)
	}
	if r.Termination.ExitCode != 9 || r.Termination.Killed {
		t.Errorf("termination %+v, want exit 9", r.Termination)
	}
}

func TestRecoverKillsOrphanProcesses(t *testing.T) {
	t.Parallel()
	stateDir, sandbox := t.TempDir(), t.TempDir()
	startAgent(t, stateDir, "orphan", sandbox, "echo $$ > pid; sleep 1000 & wait")
	pid := readPid(t, filepath.Join(sandbox, "pid"))
	c := newPosix(t, stateDir)
	got, err := c.Recover(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("Recover(nil) = %+v, want nothing", got)
	}
	waitFor(t, "orphan task gone", func() bool { return !processAlive(pid) })
	if _, err := os.Stat(filepath.Join(stateDir, "orphan")); !os.IsNotExist(err) {
		t.Errorf("orphan state dir still there: %v", err)
	}
}

func TestKillReachesTheWholeSession(t *testing.T) {
	t.Parallel()
	c := newPosix(t, t.TempDir())
	sandbox := t.TempDir()
	// A background child in its own process group must still go.
	sh := "set -m; sleep 1000 & echo $! > child; wait"
	if err := c.Launch(t.Context(), shellSpec("c1", sandbox, sh)); err != nil {
		t.Fatal(err)
	}
	child := readPid(t, filepath.Join(sandbox, "child"))
	if err := c.Kill(t.Context(), "c1", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(t.Context(), "c1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "background child gone", func() bool { return !processAlive(child) })
}

func TestUserSwitchRequiresRoot(t *testing.T) {
	t.Parallel()
	c := newPosix(t, t.TempDir())
	// The sandbox's parent must be traversable by the task's user.
	parent := t.TempDir()
	for _, d := range []string{filepath.Dir(parent), parent} { // t.TempDir makes both 0700
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sandbox := filepath.Join(parent, "sandbox")
	if err := os.Mkdir(sandbox, 0o750); err != nil {
		t.Fatal(err)
	}
	sp := shellSpec("c1", sandbox, "id -un > user")
	sp.User = "nobody"
	err := c.Launch(t.Context(), sp)
	if os.Geteuid() != 0 {
		if err == nil {
			t.Fatalf("non-root agent switched to user nobody")
		}
		return
	}
	if err != nil {
		t.Fatalf("Launch as nobody: %v", err)
	}
	term, err := c.Wait(t.Context(), "c1")
	if err != nil {
		t.Fatal(err)
	}
	if !term.Success() {
		t.Fatalf("termination %+v", term)
	}
	if b, err := os.ReadFile(filepath.Join(sandbox, "user")); err != nil || string(b) != "nobody\n" {
		t.Errorf("task ran as %q, %v; want nobody", b, err)
	}
	sp = shellSpec("c2", t.TempDir(), "true")
	sp.User = "no-such-user-basalt"
	if err := c.Launch(t.Context(), sp); err == nil {
		t.Errorf("launch as a missing user succeeded")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, cfg := range []posix.Config{{}, {StateDir: "relative"}, {StateDir: "/x", StartTimeout: -1}} {
		if _, err := posix.New(cfg, posix.Deps{}); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	var pid int
	waitFor(t, path, func() bool {
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	return pid
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && i+2 < len(b) && b[i+2] != 'Z'
}

// BenchmarkLaunchWait measures one container's whole life: shim re-exec,
// task start, exit, termination record, Wait.
func BenchmarkLaunchWait(b *testing.B) {
	for _, bc := range []struct {
		name string
		warm int
	}{{"warm", 1}, {"cold", -1}} {
		b.Run(bc.name, func(b *testing.B) { benchLaunchWait(b, bc.warm) })
	}
}

func benchLaunchWait(b *testing.B, warm int) {
	c, err := posix.New(posix.Config{StateDir: b.TempDir(), WarmShims: warm}, posix.Deps{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	sandbox := b.TempDir()
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		id := "c" + strconv.Itoa(i)
		if err := c.Launch(ctx, shellSpec(id, sandbox, "exit 0")); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Wait(ctx, id); err != nil {
			b.Fatal(err)
		}
		if err := c.Destroy(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUsage measures one Usage call on a running container (a /proc
// scan for the session's processes and a walk of the sandbox).
func BenchmarkUsage(b *testing.B) {
	c, err := posix.New(posix.Config{StateDir: b.TempDir()}, posix.Deps{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	if err := c.Launch(ctx, shellSpec("u", b.TempDir(), "exec sleep 1000")); err != nil {
		b.Fatal(err)
	}
	defer c.Destroy(ctx, "u")
	for b.Loop() {
		if _, err := c.Usage(ctx, "u"); err != nil {
			b.Fatal(err)
		}
	}
}
