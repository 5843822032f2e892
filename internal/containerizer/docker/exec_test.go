package docker

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/internal/containerizer/docker/dockertest"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestUserAndExec: the "user" parameter is the container's user; a command
// exec'd into the running container runs as that user in the sandbox, gets
// stdin, reports its exit code, and gets a terminal with TTY.
func TestUserAndExec(t *testing.T) {
	cli := dockertest.Client(t)
	img := dockertest.Image(t, cli)
	owner := newOwner()
	d := newRuntime(t, Config{Host: dockertest.Host(cli), Owner: owner, AllowedParameters: []string{"user"}})
	t.Cleanup(func() { dockertest.NoContainers(t, cli, LabelOwner, owner) })
	ctx := t.Context()

	sp := launchSpec(t, img, "id > id; sleep 1000")
	sp.Task.Container.Docker.Parameters = []mesosv1.Parameter{{Key: "user", Value: "1234:2345"}}
	if err := os.Chmod(sp.Sandbox, 0o777); err != nil { // uid 1234 writes there
		t.Fatal(err)
	}
	if err := d.Launch(ctx, sp); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Destroy(context.Background(), sp.ContainerID) })
	waitContent(t, sp.Sandbox+"/id", "uid=1234 gid=2345\n")

	run := func(spec containerizer.ExecSpec) (string, string, containerizer.ExitStatus) {
		t.Helper()
		var o, e lockedBuffer
		spec.Stdout, spec.Stderr = &o, &e
		p, err := d.Exec(ctx, sp.ContainerID, spec)
		if err != nil {
			t.Fatalf("Exec %v: %v", spec.Args, err)
		}
		st, err := p.Wait(ctx)
		if err != nil {
			t.Fatalf("Wait %v: %v", spec.Args, err)
		}
		return o.String(), e.String(), st
	}
	if out, _, st := run(containerizer.ExecSpec{Args: []string{"sh", "-c", "id; echo $MESOS_SANDBOX; pwd"}}); out != "uid=1234 gid=2345\n/mnt/mesos/sandbox\n/mnt/mesos/sandbox\n" || st.Code != 0 {
		t.Errorf("exec: %q %+v, want the task's user and sandbox", out, st)
	}
	if out, errOut, st := run(containerizer.ExecSpec{Args: []string{"sh", "-c", "echo out; echo err >&2; exit 5"}}); out != "out\n" || errOut != "err\n" || st.Code != 5 {
		t.Errorf("exit 5: %q %q %+v", out, errOut, st)
	}
	if out, _, _ := run(containerizer.ExecSpec{Args: []string{"sh", "-c", "cat"}, Stdin: strings.NewReader("in\n")}); out != "in\n" {
		t.Errorf("stdin: %q", out)
	}
	pr, pw := io.Pipe()
	defer pw.Close()
	out, _, st := run(containerizer.ExecSpec{Args: []string{"sh", "-c", "tty"}, TTY: true, Rows: 20, Columns: 80, Stdin: pr})
	if !strings.HasPrefix(out, "/dev/pts/") || st.Code != 0 {
		t.Errorf("tty: %q %+v", out, st)
	}
}

// TestExecKill: Kill (or a cancelled Wait) ends a command exec'd into a
// container.
func TestExecKill(t *testing.T) {
	cli := dockertest.Client(t)
	img := dockertest.Image(t, cli)
	owner := newOwner()
	d := newRuntime(t, Config{Host: dockertest.Host(cli), Owner: owner})
	t.Cleanup(func() { dockertest.NoContainers(t, cli, LabelOwner, owner) })
	sp := launchSpec(t, img, "sleep 1000")
	if err := d.Launch(t.Context(), sp); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Destroy(context.Background(), sp.ContainerID) })
	p, err := d.Exec(t.Context(), sp.ContainerID, containerizer.ExecSpec{Args: []string{"sh", "-c", "sleep 1000"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	st, err := p.Wait(t.Context())
	if err != nil || st.Code == 0 {
		t.Errorf("killed exec: %+v %v, want a non-zero status", st, err)
	}
	p, err = d.Exec(t.Context(), sp.ContainerID, containerizer.ExecSpec{Args: []string{"sh", "-c", "sleep 1000"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if st, err := p.Wait(ctx); err != nil || st.Code == 0 {
		t.Errorf("exec after a cancelled Wait: %+v %v, want a non-zero status", st, err)
	}
}
