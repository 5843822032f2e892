// Package containerizertest is the conformance suite every runtime of
// package containerizer passes: call Run from the runtime's own tests.
//
// Each test's task is described twice in the same LaunchSpec: as a shell
// command for runtimes that run processes, and as fake.* labels for the fake
// runtime, which ignores commands. Capabilities a runtime cannot honour are
// skipped by option (NoProcesses, no Restart), never silently passed.
//
// It is test support only: production code must not import it.
package containerizertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/internal/containerizer/fake"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Option adjusts the suite to a runtime.
type Option func(*options)

type options struct {
	restart     func(t *testing.T, old containerizer.Containerizer) containerizer.Containerizer
	noProcesses bool
	timeout     time.Duration
	sandboxPath string
	runtimeEnv  []string
}

// Restart enables the recovery tests. restart returns a new Containerizer
// over the same runtime state as old, as an agent restarted on the same host
// would build it; old is abandoned, not closed.
func Restart(restart func(t *testing.T, old containerizer.Containerizer) containerizer.Containerizer) Option {
	return func(o *options) { o.restart = restart }
}

// NoProcesses says the runtime runs no real processes: tests of what a task
// sees (environment, working directory, stdout/stderr files) are skipped.
func NoProcesses() Option { return func(o *options) { o.noProcesses = true } }

// Timeout bounds every wait of the suite (default 30 s).
func Timeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// SandboxPath says where tasks see their sandbox (a container runtime
// mounts it there, and sets MESOS_SANDBOX to it); default: the sandbox's
// host path.
func SandboxPath(p string) Option { return func(o *options) { o.sandboxPath = p } }

// RuntimeEnv names environment variables the runtime itself adds to every
// task (Docker adds HOSTNAME and HOME), besides the launch spec's.
func RuntimeEnv(names ...string) Option {
	return func(o *options) { o.runtimeEnv = append(o.runtimeEnv, names...) }
}

// Run runs the conformance suite. newC returns a fresh runtime for one
// subtest; subtests run in parallel.
func Run(t *testing.T, newC func(t *testing.T) containerizer.Containerizer, opts ...Option) {
	o := options{timeout: 30 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	tests := []struct {
		name      string
		processes bool // needs real processes
		restart   bool // needs Restart
		fn        func(*suite)
	}{
		{"ExitCodes", false, false, testExitCodes},
		{"WaitTwice", false, false, testWaitTwice},
		{"WaitContextDone", false, false, testWaitContextDone},
		{"UnknownContainer", false, false, testUnknownContainer},
		{"DuplicateLaunch", false, false, testDuplicateLaunch},
		{"KillGraceHonoured", false, false, testKillGraceHonoured},
		{"KillEscalatesAfterGrace", false, false, testKillEscalates},
		{"KillNow", false, false, testKillNow},
		{"KillEnded", false, false, testKillEnded},
		{"LaunchFailure", false, false, testLaunchFailure},
		{"Destroy", false, false, testDestroy},
		{"Usage", false, false, testUsage},
		{"ConcurrentLaunches", false, false, testConcurrent},
		{"EnvironmentAndSandbox", true, false, testEnvAndSandbox},
		{"StdoutStderr", true, false, testStdoutStderr},
		{"ArgvForm", true, false, testArgvForm},
		{"RecoverRunning", false, true, testRecoverRunning},
		{"RecoverExited", false, true, testRecoverExited},
		{"RecoverUnknownIsLost", false, true, testRecoverUnknown},
		{"RecoverKillsOrphans", false, true, testRecoverOrphans},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.processes && o.noProcesses {
				t.Skip("runtime runs no processes (NoProcesses)")
			}
			if tc.restart && o.restart == nil {
				t.Skip("runtime cannot be restarted (no Restart option)")
			}
			t.Parallel()
			s := &suite{t: t, o: o, c: newC(t)}
			t.Cleanup(s.cleanup)
			tc.fn(s)
		})
	}
}

// suite is one subtest's state.
type suite struct {
	t *testing.T
	o options
	c containerizer.Containerizer

	mu       sync.Mutex
	launched []string
	n        int
}

func (s *suite) ctx() context.Context {
	ctx, cancel := context.WithTimeout(s.t.Context(), s.o.timeout)
	s.t.Cleanup(cancel)
	return ctx
}

// cleanup kills and destroys whatever the subtest launched.
func (s *suite) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), s.o.timeout)
	defer cancel()
	s.mu.Lock()
	ids := slices.Clone(s.launched)
	s.mu.Unlock()
	for _, id := range ids {
		_ = s.c.Kill(ctx, id, 0)
		_ = s.c.Destroy(ctx, id)
	}
}

// task describes one task for both kinds of runtime.
type task struct {
	shell  string            // shell command (process runtimes)
	labels map[string]string // fake.* labels (fake runtime)
	argv   []string          // argv form instead of shell: argv[0] is the executable
	env    []string          // extra environment
}

// spec builds a LaunchSpec with a fresh sandbox.
func (s *suite) spec(tk task) containerizer.LaunchSpec {
	s.t.Helper()
	s.mu.Lock()
	s.n++
	id := fmt.Sprintf("c%d-%d", s.n, time.Now().UnixNano())
	s.mu.Unlock()
	sandbox := s.t.TempDir()
	cmd := &mesosv1.CommandInfo{Value: tk.shell}
	if tk.argv != nil {
		shell := false
		cmd = &mesosv1.CommandInfo{Shell: &shell, Value: tk.argv[0], Arguments: tk.argv}
	}
	var labels *mesosv1.Labels
	if len(tk.labels) > 0 {
		labels = &mesosv1.Labels{}
		keys := make([]string, 0, len(tk.labels))
		for k := range tk.labels {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			labels.Labels = append(labels.Labels, mesosv1.Label{Key: k, Value: tk.labels[k]})
		}
	}
	env := append([]string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"MESOS_SANDBOX=" + sandbox,
		"MESOS_TASK_ID=task-" + id,
	}, tk.env...)
	return containerizer.LaunchSpec{
		ContainerID: id,
		FrameworkID: "fw-1",
		ExecutorID:  "task-" + id,
		AgentID:     "agent-1",
		Task: mesosv1.TaskInfo{
			Name:    "task-" + id,
			TaskID:  mesosv1.ID{Value: "task-" + id},
			Command: cmd,
			Labels:  labels,
		},
		Sandbox: sandbox,
		Env:     env,
		CPUs:    0.5,
		MemMB:   64,
		DiskMB:  10,
	}
}

// launch launches tk and fails the test on error.
func (s *suite) launch(tk task) containerizer.LaunchSpec {
	s.t.Helper()
	sp := s.spec(tk)
	s.track(sp.ContainerID)
	if err := s.c.Launch(s.ctx(), sp); err != nil {
		s.t.Fatalf("Launch: %v", err)
	}
	return sp
}

func (s *suite) track(id string) {
	s.mu.Lock()
	s.launched = append(s.launched, id)
	s.mu.Unlock()
}

func (s *suite) wait(c containerizer.Containerizer, id string) containerizer.Termination {
	s.t.Helper()
	term, err := c.Wait(s.ctx(), id)
	if err != nil {
		s.t.Fatalf("Wait(%s): %v", id, err)
	}
	return term
}

// running asserts that the container has not ended.
func (s *suite) running(c containerizer.Containerizer, id string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.t.Context(), 50*time.Millisecond)
	defer cancel()
	term, err := c.Wait(ctx, id)
	if err == nil {
		s.t.Fatalf("container %s ended (%+v), want running", id, term)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		s.t.Fatalf("Wait(%s) on a running container: %v, want a deadline error", id, err)
	}
}

// waitFile waits for a file a process task writes when it is ready (e.g.
// after installing a signal trap). Runtimes without processes skip it.
func (s *suite) waitFile(path string) {
	s.t.Helper()
	if s.o.noProcesses {
		return
	}
	deadline := time.Now().Add(s.o.timeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s did not appear", path)
		}
		time.Sleep(5 * time.Millisecond) // polling a file, not waiting out a condition's timing
	}
}

// longRunning is a task that runs until killed, and says when it runs.
func longRunning() task { return task{shell: "touch ready; exec sleep 1000"} }

func testExitCodes(s *suite) {
	for _, code := range []int{0, 1, 3, 127} {
		sp := s.launch(task{
			shell:  fmt.Sprintf("exit %d", code),
			labels: map[string]string{fake.LabelRunFor: "1ms", fake.LabelExitCode: fmt.Sprint(code)},
		})
		term := s.wait(s.c, sp.ContainerID)
		if term.ExitCode != code || term.Signal != 0 || term.Killed {
			s.t.Errorf("exit %d: termination %+v", code, term)
		}
		if got, want := term.Success(), code == 0; got != want {
			s.t.Errorf("exit %d: Success() = %v", code, got)
		}
		if term.FinishedAt.IsZero() {
			s.t.Errorf("exit %d: FinishedAt not set", code)
		}
	}
}

func testWaitTwice(s *suite) {
	sp := s.launch(task{shell: "exit 4", labels: map[string]string{fake.LabelRunFor: "1ms", fake.LabelExitCode: "4"}})
	a := s.wait(s.c, sp.ContainerID)
	b := s.wait(s.c, sp.ContainerID)
	if !a.FinishedAt.Equal(b.FinishedAt) || a.ExitCode != b.ExitCode || a.ExitCode != 4 {
		s.t.Errorf("two waits differ: %+v vs %+v", a, b)
	}
	// Concurrent waiters all see the end.
	sp = s.launch(longRunning())
	s.waitFile(filepath.Join(sp.Sandbox, "ready"))
	var wg sync.WaitGroup
	terms := make([]containerizer.Termination, 3)
	errs := make([]error, 3)
	for i := range terms {
		wg.Go(func() { terms[i], errs[i] = s.c.Wait(s.ctx(), sp.ContainerID) })
	}
	if err := s.c.Kill(s.ctx(), sp.ContainerID, 0); err != nil {
		s.t.Fatalf("Kill: %v", err)
	}
	wg.Wait()
	for i := range terms {
		if errs[i] != nil || !terms[i].Killed {
			s.t.Errorf("waiter %d: %+v, %v", i, terms[i], errs[i])
		}
	}
}

func testWaitContextDone(s *suite) {
	sp := s.launch(longRunning())
	ctx, cancel := context.WithCancel(s.t.Context())
	cancel()
	if _, err := s.c.Wait(ctx, sp.ContainerID); !errors.Is(err, context.Canceled) {
		s.t.Errorf("Wait with a cancelled context: %v, want context.Canceled", err)
	}
}

func testUnknownContainer(s *suite) {
	ctx := s.ctx()
	if _, err := s.c.Wait(ctx, "no-such-container"); !errors.Is(err, containerizer.ErrUnknownContainer) {
		s.t.Errorf("Wait: %v, want ErrUnknownContainer", err)
	}
	if err := s.c.Kill(ctx, "no-such-container", 0); !errors.Is(err, containerizer.ErrUnknownContainer) {
		s.t.Errorf("Kill: %v, want ErrUnknownContainer", err)
	}
	if _, err := s.c.Usage(ctx, "no-such-container"); !errors.Is(err, containerizer.ErrUnknownContainer) {
		s.t.Errorf("Usage: %v, want ErrUnknownContainer", err)
	}
	if err := s.c.Destroy(ctx, "no-such-container"); !errors.Is(err, containerizer.ErrUnknownContainer) {
		s.t.Errorf("Destroy: %v, want ErrUnknownContainer", err)
	}
}

func testDuplicateLaunch(s *suite) {
	sp := s.launch(longRunning())
	if err := s.c.Launch(s.ctx(), sp); err == nil {
		s.t.Errorf("second Launch of %s succeeded", sp.ContainerID)
	}
	s.running(s.c, sp.ContainerID)
}

func testKillGraceHonoured(s *suite) {
	sp := s.launch(longRunning())
	s.waitFile(filepath.Join(sp.Sandbox, "ready"))
	if err := s.c.Kill(s.ctx(), sp.ContainerID, time.Minute); err != nil {
		s.t.Fatalf("Kill: %v", err)
	}
	term := s.wait(s.c, sp.ContainerID)
	if !term.Killed || term.Signal != int(syscall.SIGTERM) || term.ExitCode != -1 {
		s.t.Errorf("termination %+v, want killed by SIGTERM", term)
	}
	if term.Success() {
		s.t.Errorf("a killed container reports Success")
	}
}

func testKillEscalates(s *suite) {
	sp := s.launch(task{
		shell:  "trap '' TERM; touch ready; while :; do sleep 1; done",
		labels: map[string]string{fake.LabelIgnoreSIGTERM: "true"},
	})
	s.waitFile(filepath.Join(sp.Sandbox, "ready"))
	if err := s.c.Kill(s.ctx(), sp.ContainerID, 100*time.Millisecond); err != nil {
		s.t.Fatalf("Kill: %v", err)
	}
	term := s.wait(s.c, sp.ContainerID)
	if !term.Killed || term.Signal != int(syscall.SIGKILL) {
		s.t.Errorf("termination %+v, want killed by SIGKILL after the grace period", term)
	}
}

func testKillNow(s *suite) {
	sp := s.launch(longRunning())
	s.waitFile(filepath.Join(sp.Sandbox, "ready"))
	if err := s.c.Kill(s.ctx(), sp.ContainerID, 0); err != nil {
		s.t.Fatalf("Kill: %v", err)
	}
	term := s.wait(s.c, sp.ContainerID)
	if !term.Killed || term.Signal != int(syscall.SIGKILL) {
		s.t.Errorf("termination %+v, want killed by SIGKILL", term)
	}
}

func testKillEnded(s *suite) {
	sp := s.launch(task{shell: "exit 2", labels: map[string]string{fake.LabelRunFor: "1ms", fake.LabelExitCode: "2"}})
	before := s.wait(s.c, sp.ContainerID)
	if err := s.c.Kill(s.ctx(), sp.ContainerID, time.Second); err != nil {
		s.t.Errorf("Kill of an ended container: %v", err)
	}
	after := s.wait(s.c, sp.ContainerID)
	if after.Killed || after.ExitCode != 2 || !after.FinishedAt.Equal(before.FinishedAt) {
		s.t.Errorf("after Kill of an ended container: %+v, want the original %+v", after, before)
	}
}

func testLaunchFailure(s *suite) {
	sp := s.spec(task{
		argv:   []string{"/nonexistent/basalt-no-such-executable"},
		labels: map[string]string{fake.LabelFailStart: "true"},
	})
	s.track(sp.ContainerID)
	if err := s.c.Launch(s.ctx(), sp); err == nil {
		s.t.Fatalf("Launch of a missing executable succeeded")
	}
	sp = s.spec(task{argv: []string{"basalt-no-such-executable-in-path"}, labels: map[string]string{fake.LabelFailStart: "true"}})
	s.track(sp.ContainerID)
	if err := s.c.Launch(s.ctx(), sp); err == nil {
		s.t.Fatalf("Launch of an executable missing from PATH succeeded")
	}
}

func testDestroy(s *suite) {
	sp := s.launch(task{shell: "exit 0", labels: map[string]string{fake.LabelRunFor: "1ms"}})
	s.wait(s.c, sp.ContainerID)
	if err := s.c.Destroy(s.ctx(), sp.ContainerID); err != nil {
		s.t.Fatalf("Destroy: %v", err)
	}
	if _, err := s.c.Wait(s.ctx(), sp.ContainerID); !errors.Is(err, containerizer.ErrUnknownContainer) {
		s.t.Errorf("Wait after Destroy: %v, want ErrUnknownContainer", err)
	}
	if _, err := os.Stat(sp.Sandbox); err != nil {
		s.t.Errorf("Destroy touched the sandbox: %v", err)
	}
	// Destroying a running container stops it first.
	sp = s.launch(longRunning())
	if err := s.c.Destroy(s.ctx(), sp.ContainerID); err != nil {
		s.t.Fatalf("Destroy of a running container: %v", err)
	}
	if _, err := s.c.Wait(s.ctx(), sp.ContainerID); !errors.Is(err, containerizer.ErrUnknownContainer) {
		s.t.Errorf("Wait after Destroy: %v, want ErrUnknownContainer", err)
	}
}

func testUsage(s *suite) {
	sp := s.launch(longRunning())
	s.waitFile(filepath.Join(sp.Sandbox, "ready"))
	// The shell may still be in its exec of sleep, whose new image has no
	// resident pages yet: poll until the process shows some.
	var u containerizer.Usage
	deadline := time.Now().Add(s.o.timeout)
	for {
		var err error
		u, err = s.c.Usage(s.ctx(), sp.ContainerID)
		if err != nil {
			s.t.Fatalf("Usage: %v", err)
		}
		if s.o.noProcesses || u.MemRSSBytes > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if u.CPUsLimit != sp.CPUs || u.MemLimitBytes != 64<<20 || u.Timestamp.IsZero() {
		s.t.Errorf("usage %+v, want the launch's limits and a timestamp", u)
	}
	if !s.o.noProcesses && u.MemRSSBytes == 0 {
		s.t.Errorf("usage %+v: no RSS for a running process", u)
	}
}

func testConcurrent(s *suite) {
	const n = 8
	specs := make([]containerizer.LaunchSpec, n)
	for i := range specs {
		specs[i] = s.spec(task{
			shell:  fmt.Sprintf("exit %d", i),
			labels: map[string]string{fake.LabelRunFor: "1ms", fake.LabelExitCode: fmt.Sprint(i)},
		})
		s.track(specs[i].ContainerID)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range specs {
		wg.Go(func() { errs[i] = s.c.Launch(s.ctx(), specs[i]) })
	}
	wg.Wait()
	for i := range specs {
		if errs[i] != nil {
			s.t.Fatalf("Launch %d: %v", i, errs[i])
		}
	}
	for i := range specs {
		if term := s.wait(s.c, specs[i].ContainerID); term.ExitCode != i {
			s.t.Errorf("container %d: %+v", i, term)
		}
	}
}

func testEnvAndSandbox(s *suite) {
	sp := s.launch(task{
		shell: `printf '%s' "$FOO" > foo; pwd -P > cwd; env > env`,
		env:   []string{"FOO=bar baz"},
	})
	if term := s.wait(s.c, sp.ContainerID); !term.Success() {
		s.t.Fatalf("task failed: %+v", term)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(sp.Sandbox, name))
		if err != nil {
			s.t.Fatalf("the task's %s: %v", name, err)
		}
		return string(b)
	}
	if got := read("foo"); got != "bar baz" {
		s.t.Errorf("FOO = %q, want %q", got, "bar baz")
	}
	want, _ := filepath.EvalSymlinks(sp.Sandbox)
	if s.o.sandboxPath != "" {
		want = s.o.sandboxPath
		if env := read("env"); !slices.Contains(strings.Split(env, "\n"), "MESOS_SANDBOX="+want) {
			s.t.Errorf("MESOS_SANDBOX is not %s in the task's environment:\n%s", want, env)
		}
	}
	if got := strings.TrimSpace(read("cwd")); got != want {
		s.t.Errorf("cwd = %q, want the sandbox %q", got, want)
	}
	// Exactly spec.Env: nothing of the agent's environment leaks in (the
	// shell itself may add PWD, SHLVL, _ and OLDPWD; the runtime what it
	// declares with RuntimeEnv).
	allowed := map[string]bool{"PWD": true, "SHLVL": true, "_": true, "OLDPWD": true}
	for _, k := range s.o.runtimeEnv {
		allowed[k] = true
	}
	for _, kv := range sp.Env {
		k, _, _ := strings.Cut(kv, "=")
		allowed[k] = true
	}
	for line := range strings.SplitSeq(strings.TrimSpace(read("env")), "\n") {
		k, _, ok := strings.Cut(line, "=")
		if ok && !allowed[k] {
			s.t.Errorf("task environment has %q, not in the launch spec", k)
		}
	}
}

func testStdoutStderr(s *suite) {
	sp := s.spec(task{shell: "echo out; echo err >&2"})
	// Output is appended: what the fetcher wrote stays.
	if err := os.WriteFile(filepath.Join(sp.Sandbox, "stdout"), []byte("fetched\n"), 0o644); err != nil {
		s.t.Fatal(err)
	}
	s.track(sp.ContainerID)
	if err := s.c.Launch(s.ctx(), sp); err != nil {
		s.t.Fatalf("Launch: %v", err)
	}
	s.wait(s.c, sp.ContainerID)
	for name, want := range map[string]string{"stdout": "fetched\nout\n", "stderr": "err\n"} {
		b, err := os.ReadFile(filepath.Join(sp.Sandbox, name))
		if err != nil || string(b) != want {
			s.t.Errorf("%s = %q, %v; want %q", name, b, err, want)
		}
	}
}

func testArgvForm(s *suite) {
	sp := s.launch(task{argv: []string{"sh", "-c", `echo "$0 $1" > argv; exit 5`, "x", "y z"}})
	if term := s.wait(s.c, sp.ContainerID); term.ExitCode != 5 {
		s.t.Fatalf("termination %+v, want exit 5", term)
	}
	b, err := os.ReadFile(filepath.Join(sp.Sandbox, "argv"))
	if err != nil || string(b) != "x y z\n" {
		s.t.Errorf("argv = %q, %v", b, err)
	}
}

func testRecoverRunning(s *suite) {
	sp := s.launch(longRunning())
	s.waitFile(filepath.Join(sp.Sandbox, "ready"))
	c2 := s.o.restart(s.t, s.c)
	got, err := c2.Recover(s.ctx(), []string{sp.ContainerID})
	if err != nil {
		s.t.Fatalf("Recover: %v", err)
	}
	if r := got[sp.ContainerID]; r.State != containerizer.Running {
		s.t.Fatalf("recovered %+v, want Running", r)
	}
	s.running(c2, sp.ContainerID)
	if err := c2.Kill(s.ctx(), sp.ContainerID, time.Minute); err != nil {
		s.t.Fatalf("Kill after Recover: %v", err)
	}
	term := s.wait(c2, sp.ContainerID)
	if !term.Killed || term.Signal != int(syscall.SIGTERM) {
		s.t.Errorf("termination after Recover and Kill: %+v", term)
	}
	s.c = c2 // cleanup through the new instance
}

func testRecoverExited(s *suite) {
	sp := s.launch(task{shell: "exit 7", labels: map[string]string{fake.LabelRunFor: "1ms", fake.LabelExitCode: "7"}})
	want := s.wait(s.c, sp.ContainerID) // ended "while the agent was down"
	c2 := s.o.restart(s.t, s.c)
	got, err := c2.Recover(s.ctx(), []string{sp.ContainerID})
	if err != nil {
		s.t.Fatalf("Recover: %v", err)
	}
	r := got[sp.ContainerID]
	if r.State != containerizer.Exited || r.Termination.ExitCode != 7 || !r.Termination.FinishedAt.Equal(want.FinishedAt) {
		s.t.Fatalf("recovered %+v, want Exited with %+v", r, want)
	}
	if term := s.wait(c2, sp.ContainerID); term.ExitCode != 7 {
		s.t.Errorf("Wait after Recover: %+v", term)
	}
	s.c = c2
}

func testRecoverUnknown(s *suite) {
	c2 := s.o.restart(s.t, s.c)
	got, err := c2.Recover(s.ctx(), []string{"never-launched"})
	if err != nil {
		s.t.Fatalf("Recover: %v", err)
	}
	if r := got["never-launched"]; r.State != containerizer.Lost {
		s.t.Errorf("recovered %+v, want Lost", r)
	}
	s.c = c2
}

func testRecoverOrphans(s *suite) {
	keep := s.launch(longRunning())
	orphan := s.launch(longRunning())
	s.waitFile(filepath.Join(keep.Sandbox, "ready"))
	s.waitFile(filepath.Join(orphan.Sandbox, "ready"))
	c2 := s.o.restart(s.t, s.c)
	got, err := c2.Recover(s.ctx(), []string{keep.ContainerID})
	if err != nil {
		s.t.Fatalf("Recover: %v", err)
	}
	if r := got[keep.ContainerID]; r.State != containerizer.Running || len(got) != 1 {
		s.t.Fatalf("recovered %+v, want only %s Running", got, keep.ContainerID)
	}
	// The orphan was destroyed: the old instance sees it end, and a later
	// restart knows nothing of it.
	if term := s.wait(s.c, orphan.ContainerID); term.Success() {
		s.t.Errorf("orphan ended with %+v, want a failure", term)
	}
	c3 := s.o.restart(s.t, c2)
	got, err = c3.Recover(s.ctx(), []string{keep.ContainerID, orphan.ContainerID})
	if err != nil {
		s.t.Fatalf("second Recover: %v", err)
	}
	if got[keep.ContainerID].State != containerizer.Running || got[orphan.ContainerID].State != containerizer.Lost {
		s.t.Errorf("second recovery %+v, want kept Running and orphan Lost", got)
	}
	s.c = c3
}
