package mesos

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// run execs args in the container and returns its output and exit status.
func run(t *testing.T, c *Containerizer, id string, spec containerizer.ExecSpec) (stdout, stderr string, st containerizer.ExitStatus) {
	t.Helper()
	var o, e syncBuffer
	spec.Stdout, spec.Stderr = &o, &e
	p, err := c.Exec(ctx(t), id, spec)
	if err != nil {
		t.Fatalf("Exec %v: %v", spec.Args, err)
	}
	st, err = p.Wait(ctx(t))
	if err != nil {
		t.Fatalf("Wait %v: %v", spec.Args, err)
	}
	return o.String(), e.String(), st
}

func sh(script string) containerizer.ExecSpec {
	return containerizer.ExecSpec{Args: []string{"sh", "-c", script}}
}

// TestExec: a command exec'd into a running container is in the task's
// namespaces and cgroup, is the child of the container's pid 1 (the shim),
// has the task's environment and sandbox, gets stdin, and reports its exit.
func TestExec(t *testing.T) {
	requireIsolation(t)
	c := newMesos(t, Config{StateDir: t.TempDir(), CgroupsRoot: testRoot(t)})
	sp := spec(t, `for n in pid mnt uts ipc; do readlink /proc/self/ns/$n; done > taskns.tmp; mv taskns.tmp taskns; exec sleep 1000`) // renamed: waitFile sees it whole
	sp.Env = append(sp.Env, "GREETING=hello from the task")
	sp.Task.Container = &mesosv1.ContainerInfo{Type: "MESOS", Hostname: "web-1"}
	launch(t, c, sp)
	waitFile(t, sp.Sandbox+"/taskns")

	out, _, st := run(t, c, sp.ContainerID, sh(`for n in pid mnt uts ipc; do readlink /proc/self/ns/$n; done`))
	if st != (containerizer.ExitStatus{}) || strings.TrimSpace(out) != readFile(t, sp.Sandbox, "taskns") {
		t.Errorf("exec'd namespaces %q (%+v), task's %q", out, st, readFile(t, sp.Sandbox, "taskns"))
	}
	if out, _, _ := run(t, c, sp.ContainerID, containerizer.ExecSpec{Args: []string{"hostname"}}); strings.TrimSpace(out) != "web-1" {
		t.Errorf("hostname %q, want the container's web-1", out)
	}
	// $PPID is the parent's pid in the command's pid namespace: 1, the shim.
	if out, _, _ := run(t, c, sp.ContainerID, sh(`echo $$ $PPID`)); len(strings.Fields(out)) != 2 || strings.Fields(out)[1] != "1" || strings.Fields(out)[0] == "1" {
		t.Errorf("exec'd pid and parent %q, want a child of the container's pid 1", out)
	}
	if out, _, _ := run(t, c, sp.ContainerID, containerizer.ExecSpec{Args: []string{"cat", "/proc/self/cgroup"}}); !strings.Contains(out, sp.ContainerID) {
		t.Errorf("exec'd cgroups %q, want the container's %s", out, sp.ContainerID)
	}
	if out, _, _ := run(t, c, sp.ContainerID, sh(`pwd; echo "$GREETING"`)); out != sp.Sandbox+"\nhello from the task\n" {
		t.Errorf("cwd and env %q, want the sandbox and the task's environment", out)
	}
	out, errOut, st := run(t, c, sp.ContainerID, sh(`echo out; echo err >&2; exit 7`))
	if out != "out\n" || errOut != "err\n" || st != (containerizer.ExitStatus{Code: 7}) {
		t.Errorf("exit 7: stdout %q stderr %q status %+v", out, errOut, st)
	}
	stdin := containerizer.ExecSpec{Args: []string{"cat"}, Stdin: strings.NewReader("line 1\nline 2\n")}
	if out, _, st := run(t, c, sp.ContainerID, stdin); out != "line 1\nline 2\n" || st.Code != 0 {
		t.Errorf("cat of stdin: %q %+v", out, st)
	}
	if _, err := c.Exec(ctx(t), sp.ContainerID, containerizer.ExecSpec{Args: []string{"no-such-command-here"}}); err == nil || !strings.Contains(err.Error(), "not found in PATH") {
		t.Errorf("unknown command: %v", err)
	}
}

func TestExecUnknownCommandAndContainer(t *testing.T) {
	requireIsolation(t)
	c := newMesos(t, Config{StateDir: t.TempDir(), CgroupsRoot: testRoot(t)})
	if _, err := c.Exec(ctx(t), "nope", containerizer.ExecSpec{Args: []string{"true"}}); !errors.Is(err, containerizer.ErrUnknownContainer) {
		t.Errorf("exec in an unknown container: %v, want ErrUnknownContainer", err)
	}
	sp := spec(t, "exec sleep 1000")
	launch(t, c, sp)
	_, err := c.Exec(ctx(t), sp.ContainerID, containerizer.ExecSpec{Args: []string{"/no/such/binary"}})
	if err == nil || !strings.Contains(err.Error(), "/no/such/binary") {
		t.Errorf("exec of a missing binary: %v", err)
	}
	if err := c.Kill(ctx(t), sp.ContainerID, 0); err != nil {
		t.Fatal(err)
	}
	wait(t, c, sp.ContainerID)
	if _, err := c.Exec(ctx(t), sp.ContainerID, containerizer.ExecSpec{Args: []string{"true"}}); !errors.Is(err, containerizer.ErrNotRunning) {
		t.Errorf("exec in an ended container: %v, want ErrNotRunning", err)
	}
}

// TestExecTTY: with a TTY the command runs on a terminal of the given size
// that is its controlling terminal, and input typed on it is read.
func TestExecTTY(t *testing.T) {
	requireIsolation(t)
	c := newMesos(t, Config{StateDir: t.TempDir(), CgroupsRoot: testRoot(t)})
	sp := spec(t, "exec sleep 1000")
	launch(t, c, sp)
	spec := containerizer.ExecSpec{Args: []string{"sh", "-c", `tty; stty size; read line; echo "got $line"`}, TTY: true, Rows: 33, Columns: 101}
	pr, pw := io.Pipe()
	spec.Stdin = pr
	var o syncBuffer
	spec.Stdout = &o
	p, err := c.Exec(ctx(t), sp.ContainerID, spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pw.Write([]byte("typed\n")); err != nil {
		t.Fatal(err)
	}
	st, err := p.Wait(ctx(t))
	pw.Close()
	if err != nil || st.Code != 0 {
		t.Fatalf("Wait: %+v %v (output %q)", st, err, o.String())
	}
	out := strings.ReplaceAll(o.String(), "\r\n", "\n")
	if !regexp.MustCompile(`(?m)^/dev/pts/\d+$`).MatchString(out) || !strings.Contains(out, "33 101\n") || !strings.Contains(out, "got typed\n") {
		t.Errorf("tty output %q: want /dev/pts/N, the size 33 101 and the typed line", out)
	}
}

// TestExecKillAndRecovery: Kill ends the command with SIGKILL; a container
// recovered by a new containerizer (agent restart) still accepts exec.
func TestExecKillAndRecovery(t *testing.T) {
	requireIsolation(t)
	dir, root := t.TempDir(), testRoot(t)
	c := newMesos(t, Config{StateDir: dir, CgroupsRoot: root})
	sp := spec(t, "exec sleep 1000")
	launch(t, c, sp)
	p, err := c.Exec(ctx(t), sp.ContainerID, containerizer.ExecSpec{Args: []string{"sleep", "1000"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if st, err := p.Wait(ctx(t)); err != nil || st.Signal != int(syscall.SIGKILL) {
		t.Errorf("killed exec: %+v %v, want SIGKILL", st, err)
	}
	// Cancelling Wait's context kills too.
	p, err = c.Exec(ctx(t), sp.ContainerID, containerizer.ExecSpec{Args: []string{"sleep", "1000"}})
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx(t))
	cancel()
	if st, _ := p.Wait(cctx); st.Signal != int(syscall.SIGKILL) {
		t.Errorf("exec after a cancelled Wait: %+v, want SIGKILL", st)
	}

	c2 := newMesos(t, Config{StateDir: dir, CgroupsRoot: root})
	rec, err := c2.Recover(ctx(t), []string{sp.ContainerID})
	if err != nil || rec[sp.ContainerID].State != containerizer.Running {
		t.Fatalf("Recover: %v %+v", err, rec)
	}
	t.Cleanup(func() { _ = c2.Destroy(context.Background(), sp.ContainerID) })
	if out, _, st := run(t, c2, sp.ContainerID, sh(`echo recovered $PPID`)); out != "recovered 1\n" || st.Code != 0 {
		t.Errorf("exec after recovery: %q %+v", out, st)
	}
}

// TestExecIntoTaskRoot: a task whose root is not the shim's (as a task in a
// container image, chrooted into its rootfs) gets its exec'd commands in the
// same root. Here the task builds its own: the host's / bound in the sandbox
// with a tmpfs on its /tmp, then chroots into it.
func TestExecIntoTaskRoot(t *testing.T) {
	requireIsolation(t)
	stateDir := t.TempDir()
	c := newMesos(t, Config{StateDir: stateDir, CgroupsRoot: testRoot(t)})
	sp := spec(t, `mkdir r && mount --bind / r && mount -t tmpfs none r/tmp && echo inside > r/tmp/marker && `+
		`touch ready && exec /usr/sbin/chroot r sleep 1000`)
	launch(t, c, sp)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command("sh", "-c", "cat "+stateDir+"/*/shim.log "+stateDir+"/*/termination.json "+sp.Sandbox+"/stderr").CombinedOutput()
			t.Logf("shim: %s", out)
		}
	})
	waitFile(t, sp.Sandbox+"/ready")
	// The chroot happens right after "ready": poll until commands see it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _, st := run(t, c, sp.ContainerID, containerizer.ExecSpec{Args: []string{"sh", "-c", "cat /tmp/marker 2>/dev/null; pwd"}})
		if out == "inside\n/\n" && st.Code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("exec'd command not in the task's root: %q %+v", out, st)
		}
		time.Sleep(20 * time.Millisecond) // waiting for the task's chroot
	}
}
