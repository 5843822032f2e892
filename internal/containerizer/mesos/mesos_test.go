package mesos

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/internal/containerizer/containerizertest"
	"github.com/basalt-dcos/basalt/internal/containerizer/posix"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

func TestMain(m *testing.M) {
	if handled, code := posix.MaybeRunShim(); handled {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// requireIsolation skips a test on a host where the runtime cannot run,
// and fails it under CI, where it must.
func requireIsolation(t testing.TB) {
	t.Helper()
	if _, err := Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the mesos runtime must be testable in CI: %v", err)
		}
		t.Skipf("skipping: %v (runs as root on a host with cgroups; required under CI=true)", err)
	}
}

var rootSeq atomic.Int64

// testRoot is a cgroup root of its own for one test; at cleanup it must be
// empty (no leaked container cgroups), and is removed.
func testRoot(t testing.TB) string {
	t.Helper()
	root := fmt.Sprintf("basalt-test-%d-%d", os.Getpid(), rootSeq.Add(1))
	t.Cleanup(func() {
		h, err := detectCgroups(root)
		if err != nil {
			return
		}
		if left := h.List(); len(left) > 0 {
			t.Errorf("leaked cgroups under %s: %v", root, left)
			for _, id := range left {
				_ = h.Remove(id, 5*time.Second)
			}
		}
		for _, d := range h.dirs("") {
			_ = syscall.Rmdir(d)
		}
	})
	return root
}

func newMesos(t testing.TB, cfg Config) *Containerizer {
	t.Helper()
	c, err := New(cfg, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestConformance(t *testing.T) {
	requireIsolation(t)
	containerizertest.Run(t,
		func(t *testing.T) containerizer.Containerizer {
			return newMesos(t, Config{StateDir: t.TempDir(), CgroupsRoot: testRoot(t)})
		},
		containerizertest.Restart(func(t *testing.T, old containerizer.Containerizer) containerizer.Containerizer {
			o := old.(*Containerizer)
			return newMesos(t, Config{StateDir: o.StateDir(), CgroupsRoot: o.Config().CgroupsRoot})
		}),
	)
}

var idSeq atomic.Int64

// spec is a shell task with its own sandbox.
func spec(t *testing.T, shell string) containerizer.LaunchSpec {
	t.Helper()
	id := fmt.Sprintf("t%d-%d", idSeq.Add(1), time.Now().UnixNano())
	sandbox := t.TempDir()
	return containerizer.LaunchSpec{
		ContainerID: id,
		Task: mesosv1.TaskInfo{
			Name: id, TaskID: mesosv1.ID{Value: id},
			Command: &mesosv1.CommandInfo{Value: shell},
		},
		Sandbox: sandbox,
		Env:     []string{"PATH=/usr/local/bin:/usr/bin:/bin", "MESOS_SANDBOX=" + sandbox},
		CPUs:    0.5, MemMB: 64, DiskMB: 10,
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func launch(t *testing.T, c *Containerizer, sp containerizer.LaunchSpec) {
	t.Helper()
	t.Cleanup(func() { _ = c.Destroy(context.Background(), sp.ContainerID) })
	if err := c.Launch(ctx(t), sp); err != nil {
		t.Fatalf("Launch: %v", err)
	}
}

func wait(t *testing.T, c *Containerizer, id string) containerizer.Termination {
	t.Helper()
	term, err := c.Wait(ctx(t), id)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return term
}

func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("the task's %s: %v", name, err)
	}
	return strings.TrimSpace(string(b))
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear", path)
		}
		time.Sleep(5 * time.Millisecond) // polling a file the task writes
	}
}

func TestOOMIsMemoryLimitation(t *testing.T) {
	requireIsolation(t)
	c := newMesos(t, Config{StateDir: t.TempDir(), CgroupsRoot: testRoot(t)})
	// dd's 256 MB buffer is filled by read(2): far over the 32 MB limit.
	sp := spec(t, "exec dd if=/dev/zero of=/dev/null bs=256M count=1")
	sp.MemMB = 32
	launch(t, c, sp)
	term := wait(t, c, sp.ContainerID)
	if term.Reason != mesosv1.ReasonContainerLimitationMemory || term.Signal != int(syscall.SIGKILL) || term.Killed || term.Success() {
		t.Fatalf("termination %+v, want SIGKILL with %s", term, mesosv1.ReasonContainerLimitationMemory)
	}
	// The reason is recorded: a restarted runtime reports it too.
	c2 := newMesos(t, Config{StateDir: c.StateDir(), CgroupsRoot: c.Config().CgroupsRoot})
	got, err := c2.Recover(ctx(t), []string{sp.ContainerID})
	if err != nil {
		t.Fatal(err)
	}
	if r := got[sp.ContainerID]; r.State != containerizer.Exited || r.Termination.Reason != mesosv1.ReasonContainerLimitationMemory {
		t.Errorf("recovered %+v, want Exited with the memory limitation", r)
	}
	// A task within its limit is not taken for an OOM. (Through c2: its
	// Recover killed c's idle warm shims, as an agent restart does.)
	ok := spec(t, "exec dd if=/dev/zero of=/dev/null bs=1M count=1")
	launch(t, c2, ok)
	if term := wait(t, c2, ok.ContainerID); !term.Success() {
		t.Errorf("small task: %+v, want success", term)
	}
}

func TestDiskQuota(t *testing.T) {
	requireIsolation(t)
	c := newMesos(t, Config{StateDir: t.TempDir(), CgroupsRoot: testRoot(t),
		EnforceDiskQuota: true, DiskWatchInterval: 20 * time.Millisecond})
	sp := spec(t, "dd if=/dev/zero of=big bs=1M count=3 2>/dev/null; touch ready; exec sleep 1000")
	sp.DiskMB = 1
	launch(t, c, sp)
	term := wait(t, c, sp.ContainerID)
	if term.Reason != mesosv1.ReasonContainerLimitationDisk || term.Killed || term.Success() {
		t.Fatalf("termination %+v, want %s", term, mesosv1.ReasonContainerLimitationDisk)
	}
	if !strings.Contains(term.Message, "exceeds quota") {
		t.Errorf("message %q does not say the quota was exceeded", term.Message)
	}
	// Within the quota, nothing happens.
	small := spec(t, "dd if=/dev/zero of=small bs=1k count=10 2>/dev/null; touch ready; exec sleep 1000")
	launch(t, c, small)
	waitFile(t, filepath.Join(small.Sandbox, "ready"))
	c.mu.Lock()
	_, watched := c.watchers[small.ContainerID]
	c.mu.Unlock()
	if !watched {
		t.Fatalf("no disk watcher for a running container with a quota")
	}
	if err := c.Kill(ctx(t), small.ContainerID, 0); err != nil {
		t.Fatal(err)
	}
	if term := wait(t, c, small.ContainerID); !term.Killed || term.Reason != "" {
		t.Errorf("small task: %+v, want killed with no limitation", term)
	}
}

// TestNamespaces: the task is the shim's child in its own pid namespace (the
// shim is pid 1; its threads take the next few numbers), in its own mount, UTS and IPC namespaces,
// on the host's network.
func TestNamespaces(t *testing.T) {
	requireIsolation(t)
	c := newMesos(t, Config{StateDir: t.TempDir(), CgroupsRoot: testRoot(t)})
	sp := spec(t, `echo $$ $PPID > pid; grep NSpid /proc/self/status > nspid; hostname > hn; `+
		`for n in pid mnt uts ipc net; do readlink /proc/self/ns/$n; done > ns`)
	sp.Task.Container = &mesosv1.ContainerInfo{Type: "MESOS", Hostname: "web-1"}
	launch(t, c, sp)
	if term := wait(t, c, sp.ContainerID); !term.Success() {
		t.Fatalf("task: %+v", term)
	}
	if f := strings.Fields(readFile(t, sp.Sandbox, "pid")); len(f) != 2 || f[0] == "1" || f[1] != "1" {
		t.Errorf("the task's pid and parent pid in its namespace are %v, want the child of pid 1", f)
	}
	// grep read its own status: a host pid and one in the container's namespace.
	if f := strings.Fields(readFile(t, sp.Sandbox, "nspid")); len(f) != 3 {
		t.Errorf("NSpid %v, want a host pid and a namespace pid", f)
	}
	if got := readFile(t, sp.Sandbox, "hn"); got != "web-1" {
		t.Errorf("hostname %q, want the ContainerInfo's web-1", got)
	}
	host, _ := os.Hostname()
	if now, _ := os.Hostname(); now != host {
		t.Errorf("the host's name changed")
	}
	lines := strings.Split(readFile(t, sp.Sandbox, "ns"), "\n")
	for i, n := range []string{"pid", "mnt", "uts", "ipc", "net"} {
		own, err := os.Readlink("/proc/self/ns/" + n)
		if err != nil || i >= len(lines) {
			t.Fatalf("namespace %s: %v (%d lines)", n, err, len(lines))
		}
		if same := lines[i] == own; same != (n == "net") {
			t.Errorf("namespace %s: task %s, host %s", n, lines[i], own)
		}
	}
}

// TestCgroupLimitsAndCleanup: the task runs in its container's cgroup with
// its limits; whatever it leaves behind dies with it; Destroy removes the
// cgroup and is idempotent.
func TestCgroupLimitsAndCleanup(t *testing.T) {
	requireIsolation(t)
	root := testRoot(t)
	c := newMesos(t, Config{StateDir: t.TempDir(), CgroupsRoot: root, EnableCFS: true, PidsLimit: 64})
	sp := spec(t, "cat /proc/self/cgroup > cg; sleep 1000 & echo $! > bg; touch ready; exec sleep 1000")
	launch(t, c, sp)
	waitFile(t, filepath.Join(sp.Sandbox, "ready"))
	cg, err := c.cgroups()
	if err != nil {
		t.Fatal(err)
	}
	want := "/" + root + "/" + sp.ContainerID
	for _, line := range strings.Split(readFile(t, sp.Sandbox, "cg"), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		ctl := parts[1]
		if cg.version == 2 && parts[0] == "0" || strings.Contains(","+ctl+",", ",memory,") || strings.Contains(","+ctl+",", ",cpu,") {
			if parts[2] != want {
				t.Errorf("task cgroup %q, want %s", line, want)
			}
		}
	}
	check := func(ctl, file, want string) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(cg.dir(ctl, sp.ContainerID), file))
		if err != nil || strings.TrimSpace(string(b)) != want {
			t.Errorf("%s = %q, %v; want %q", file, b, err, want)
		}
	}
	if cg.version == 1 {
		check("cpu", "cpu.shares", "512")
		check("cpu", "cpu.cfs_quota_us", "50000")
		check("memory", "memory.limit_in_bytes", strconv.Itoa(64<<20))
		if cg.v1["pids"] != "" {
			check("pids", "pids.max", "64")
		}
	} else {
		check("", "cpu.max", "50000 100000")
		check("", "memory.max", strconv.Itoa(64<<20))
		check("", "pids.max", "64")
	}
	procs := cg.Procs(sp.ContainerID)
	if len(procs) < 3 { // shim, task, background sleep
		t.Errorf("cgroup holds %v, want the shim, the task and its child", procs)
	}
	u, err := c.Usage(ctx(t), sp.ContainerID)
	if err != nil || u.MemTotalBytes == 0 || u.CPUsLimit != 0.5 || u.MemLimitBytes != 64<<20 {
		t.Errorf("Usage = %+v, %v", u, err)
	}
	// The main process ends: its background child must not survive it.
	if err := c.Kill(ctx(t), sp.ContainerID, 0); err != nil {
		t.Fatal(err)
	}
	wait(t, c, sp.ContainerID)
	for _, pid := range procs {
		if syscall.Kill(pid, 0) == nil {
			if st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); !strings.Contains(string(st), ") Z ") {
				t.Errorf("process %d of the container outlived it", pid)
			}
		}
	}
	if err := c.Destroy(ctx(t), sp.ContainerID); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	for _, d := range cg.dirs(sp.ContainerID) {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("cgroup %s left after Destroy", d)
		}
	}
	if err := c.Destroy(ctx(t), sp.ContainerID); err == nil {
		t.Errorf("second Destroy succeeded, want ErrUnknownContainer")
	}
}

// TestRecoverRemovesOrphanCgroups: a restarted runtime re-adopts the running
// container (limits still applied) and removes the cgroup of the orphan it
// destroys.
func TestRecoverRemovesOrphanCgroups(t *testing.T) {
	requireIsolation(t)
	c := newMesos(t, Config{StateDir: t.TempDir(), CgroupsRoot: testRoot(t),
		EnforceDiskQuota: true, DiskWatchInterval: 20 * time.Millisecond})
	keep := spec(t, "touch ready; exec sleep 1000")
	orphan := spec(t, "touch ready; exec sleep 1000")
	launch(t, c, keep)
	launch(t, c, orphan)
	waitFile(t, filepath.Join(keep.Sandbox, "ready"))
	waitFile(t, filepath.Join(orphan.Sandbox, "ready"))

	c2 := newMesos(t, Config{StateDir: c.StateDir(), CgroupsRoot: c.Config().CgroupsRoot,
		EnforceDiskQuota: true, DiskWatchInterval: 20 * time.Millisecond})
	got, err := c2.Recover(ctx(t), []string{keep.ContainerID})
	if err != nil {
		t.Fatal(err)
	}
	if got[keep.ContainerID].State != containerizer.Running {
		t.Fatalf("recovered %+v", got)
	}
	cg, _ := c2.cgroups()
	if cg.Exists(orphan.ContainerID) {
		t.Errorf("orphan's cgroup still exists after Recover")
	}
	if !cg.Exists(keep.ContainerID) {
		t.Errorf("running container's cgroup removed by Recover")
	}
	// The recovered container is watched again: outgrowing its quota now
	// stops it with the disk limitation.
	if err := os.WriteFile(filepath.Join(keep.Sandbox, "big"), make([]byte, 11<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if term := wait(t, c2, keep.ContainerID); term.Reason != mesosv1.ReasonContainerLimitationDisk {
		t.Errorf("recovered container over quota: %+v", term)
	}
	if err := c2.Destroy(ctx(t), keep.ContainerID); err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{StateDir: "/x"}, true},
		{Config{StateDir: "/x", CgroupsRoot: "a/b"}, true},
		{Config{StateDir: "x"}, false},
		{Config{StateDir: "/x", CgroupsRoot: "/abs"}, false},
		{Config{StateDir: "/x", CgroupsRoot: "../up"}, false},
		{Config{StateDir: "/x", PidsLimit: -1}, false},
	} {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: Validate() = %v", tc.cfg, err)
		}
	}
}
