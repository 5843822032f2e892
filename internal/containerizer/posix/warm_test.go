package posix_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
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

// waitWarm waits until the default number of idle shims is recorded.
func waitWarm(t *testing.T, stateDir string) []int {
	t.Helper()
	var pids []int
	waitFor(t, "warm shims", func() bool { pids = warmPids(stateDir); return len(pids) == posix.DefaultWarmShims })
	return pids
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
	used := shimPid(t, stateDir, "c1")
	if !slices.Contains(warm, used) {
		t.Errorf("container's shim is %d, want one of the warm shims %v", used, warm)
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
	// A new idle shim replaces the used one, and Recover never reports
	// idle ones.
	next := waitWarm(t, stateDir)
	if slices.Contains(next, used) {
		t.Errorf("used shim %d still recorded as idle", used)
	}
	got, err := c.Recover(t.Context(), []string{"c1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["c1"].State != containerizer.Exited {
		t.Errorf("Recover = %+v, want only c1 Exited", got)
	}
	for _, p := range next {
		if !processAlive(p) {
			t.Errorf("own warm shim %d killed by Recover", p)
		}
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
	for _, p := range warm {
		if processAlive(p) {
			t.Errorf("warm shim %d alive after Close", p)
		}
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
	warm := warmPids(stateDir) // the agent waited for at least one
	if len(warm) == 0 {
		t.Fatal("no warm shim recorded")
	}
	waitFor(t, "idle warm shims gone with their agent", func() bool {
		return !slices.ContainsFunc(warm, processAlive)
	})
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
	// one's idle shims never see EOF, so Recover must kill them.
	c := newPosix(t, stateDir)
	got, err := c.Recover(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("Recover = %+v, want nothing", got)
	}
	waitFor(t, "stale warm shims gone", func() bool { return !slices.ContainsFunc(stale, processAlive) })
	for _, p := range warmPids(stateDir) {
		if slices.Contains(stale, p) {
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

func TestLaunchAfterWarmShimsDied(t *testing.T) {
	t.Parallel()
	stateDir := t.TempDir()
	c := newPosix(t, stateDir)
	if _, err := c.Recover(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	warm := waitWarm(t, stateDir)
	for _, p := range warm {
		if err := syscall.Kill(p, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "warm shims dead", func() bool { return !slices.ContainsFunc(warm, processAlive) })
	if err := c.Launch(t.Context(), shellSpec("c1", t.TempDir(), "exit 4")); err != nil {
		t.Fatalf("Launch with dead warm shims: %v", err)
	}
	if got := shimPid(t, stateDir, "c1"); slices.Contains(warm, got) {
		t.Errorf("container supervised by dead shim %d", got)
	}
	term, err := c.Wait(t.Context(), "c1")
	if err != nil || term.ExitCode != 4 {
		t.Errorf("Wait = %+v, %v; want exit 4", term, err)
	}
}
