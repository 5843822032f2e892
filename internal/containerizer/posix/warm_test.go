package posix_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/internal/containerizer/posix"
)

// warmPids returns the pids of the idle warm shims recorded in stateDir.
func warmPids(stateDir string) []int {
	ents, _ := os.ReadDir(filepath.Join(stateDir, ".warm"))
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(strings.TrimSuffix(e.Name(), ".json")); err == nil && strings.HasSuffix(e.Name(), ".json") {
			pids = append(pids, pid)
		}
	}
	return pids
}

func waitWarm(t *testing.T, stateDir string) int {
	t.Helper()
	var pids []int
	waitFor(t, "a warm shim", func() bool { pids = warmPids(stateDir); return len(pids) > 0 })
	return pids[0]
}

func shimPid(t *testing.T, stateDir, id string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(stateDir, id, "pids.json"))
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		ShimPID int `json:"shim_pid"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return p.ShimPID
}

func TestLaunchUsesWarmShim(t *testing.T) {
	t.Parallel()
	stateDir := t.TempDir()
	c := newPosix(t, stateDir)
	if _, err := c.Recover(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	warm := waitWarm(t, stateDir)
	sandbox := t.TempDir()
	if err := c.Launch(t.Context(), shellSpec("c1", sandbox, "echo hi; exit 3")); err != nil {
		t.Fatal(err)
	}
	if got := shimPid(t, stateDir, "c1"); got != warm {
		t.Errorf("container's shim is %d, want the warm shim %d", got, warm)
	}
	term, err := c.Wait(t.Context(), "c1")
	if err != nil {
		t.Fatal(err)
	}
	if term.ExitCode != 3 {
		t.Errorf("termination %+v, want exit 3", term)
	}
	if b, _ := os.ReadFile(filepath.Join(sandbox, "stdout")); string(b) != "hi\n" {
		t.Errorf("stdout %q", b)
	}
	// A new idle shim replaces the used one, and Recover never reports it.
	next := waitWarm(t, stateDir)
	if next == warm {
		t.Errorf("used shim %d still recorded as idle", warm)
	}
	got, err := c.Recover(t.Context(), []string{"c1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["c1"].State != containerizer.Exited {
		t.Errorf("Recover = %+v, want only c1 Exited", got)
	}
	if !processAlive(next) {
		t.Errorf("own warm shim %d killed by Recover", next)
	}
}

func TestCloseStopsWarmShims(t *testing.T) {
	t.Parallel()
	stateDir := t.TempDir()
	c := newPosix(t, stateDir)
	if _, err := c.Recover(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	warm := waitWarm(t, stateDir)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if processAlive(warm) {
		t.Errorf("warm shim %d alive after Close", warm)
	}
	if p := warmPids(stateDir); len(p) != 0 {
		t.Errorf("warm records left after Close: %v", p)
	}
	// Launch still works, cold.
	if err := c.Launch(t.Context(), shellSpec("c1", t.TempDir(), "exit 0")); err != nil {
		t.Fatal(err)
	}
	if term, err := c.Wait(t.Context(), "c1"); err != nil || !term.Success() {
		t.Errorf("Wait = %+v, %v", term, err)
	}
	if p := warmPids(stateDir); len(p) != 0 {
		t.Errorf("warm shim started after Close: %v", p)
	}
}

func TestIdleWarmShimExitsWithItsAgent(t *testing.T) {
	t.Parallel()
	stateDir := t.TempDir()
	startAgent(t, stateDir, "c1", t.TempDir(), "exec sleep 1000")
	warm := waitWarm(t, stateDir)
	waitFor(t, "idle warm shim gone with its agent", func() bool { return !processAlive(warm) })
	c := newPosix(t, stateDir)
	got, err := c.Recover(t.Context(), []string{"c1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["c1"].State != containerizer.Running {
		t.Errorf("Recover = %+v, want only c1 Running", got)
	}
	if err := c.Destroy(t.Context(), "c1"); err != nil {
		t.Fatal(err)
	}
}

func TestRecoverKillsStaleWarmShims(t *testing.T) {
	t.Parallel()
	stateDir := t.TempDir()
	old := newPosix(t, stateDir)
	if _, err := old.Recover(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	stale := waitWarm(t, stateDir)
	// A new instance over the same state dir in the same process: the old
	// one's idle shim never sees EOF, so Recover must kill it.
	c := newPosix(t, stateDir)
	got, err := c.Recover(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("Recover = %+v, want nothing", got)
	}
	waitFor(t, "stale warm shim gone", func() bool { return !processAlive(stale) })
	for _, p := range warmPids(stateDir) {
		if p == stale {
			t.Errorf("stale warm shim %d still recorded", p)
		}
	}
}

func TestWarmShimsDisabled(t *testing.T) {
	t.Parallel()
	stateDir := t.TempDir()
	c, err := posix.New(posix.Config{StateDir: stateDir, WarmShims: -1}, posix.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := c.Recover(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Launch(t.Context(), shellSpec("c1", t.TempDir(), "exit 0")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(t.Context(), "c1"); err != nil {
		t.Fatal(err)
	}
	if p := warmPids(stateDir); len(p) != 0 {
		t.Errorf("warm shims with WarmShims < 0: %v", p)
	}
}
