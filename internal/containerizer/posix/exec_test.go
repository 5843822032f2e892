package posix_test

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/containerizer"
)

// TestExecPosix: without namespaces an exec'd command runs as a host process
// in the task's sandbox with the task's environment, and does not outlive the
// task.
func TestExecPosix(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	c := newPosix(t, t.TempDir())
	sandbox := t.TempDir()
	sp := shellSpec("exec-posix", sandbox, "exec sleep 1000")
	sp.Env = append(sp.Env, "GREETING=hi")
	if err := c.Launch(ctx, sp); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Destroy(context.Background(), sp.ContainerID) })
	var out, errOut bytes.Buffer
	p, err := c.Exec(ctx, sp.ContainerID, containerizer.ExecSpec{
		Args:   []string{"sh", "-c", `pwd; echo "$GREETING"; cat; echo oops >&2; exit 3`},
		Stdin:  strings.NewReader("from stdin\n"),
		Stdout: &out, Stderr: &errOut,
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.Wait(ctx)
	if err != nil || st != (containerizer.ExitStatus{Code: 3}) {
		t.Fatalf("Wait: %+v %v", st, err)
	}
	if want := sandbox + "\nhi\nfrom stdin\n"; out.String() != want || errOut.String() != "oops\n" {
		t.Errorf("stdout %q stderr %q, want %q and oops", out.String(), errOut.String(), want)
	}

	// A command still running when the task ends is ended with it.
	p, err = c.Exec(ctx, sp.ContainerID, containerizer.ExecSpec{Args: []string{"sleep", "987654"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(ctx, sp.ContainerID, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(ctx, sp.ContainerID); err != nil {
		t.Fatal(err)
	}
	// Its end is reported as the supervisor's going away, or as SIGKILL.
	if st, err := p.Wait(ctx); err == nil && st.Signal == 0 {
		t.Errorf("exec'd command outlived its task: %+v", st)
	}
	if out, err := exec.Command("pgrep", "-f", "^sleep 987654$").Output(); err == nil {
		t.Errorf("sleep processes left: %s", out)
	}
}
