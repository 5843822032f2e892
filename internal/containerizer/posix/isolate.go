package posix

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Isolation, for runtimes built on this one (the mesos runtime).
//
// With Config.Namespaces, every shim (cold or warm) is started in new pid,
// mount, UTS and IPC namespaces: the shim is pid 1 there and the task is its
// child, so a SIGTERM from the agent reaches the task as on the host (the
// kernel drops signals to a namespace's init that has no handler for them),
// and when the shim ends the kernel kills whatever is left in the namespace.
// The mount namespace has private propagation (Go's exec remounts / with
// MS_REC|MS_PRIVATE after unsharing it), so nothing the task mounts leaks
// out. /proc stays the host's: the shim reports host pids to the agent.
//
// Per container, LaunchIsolated passes an Isolation: the shim sets the
// hostname and moves itself into the container's cgroups (writing "0" to each
// cgroup.procs file) before it starts the task, which is then created inside
// them — there is no moment when the task runs outside its limits.

// Isolation is what the shim applies to one container before starting its
// task.
type Isolation struct {
	// Hostname of the container's UTS namespace (needs Config.Namespaces).
	Hostname string
	// CgroupProcs are the cgroup.procs files of the container's cgroups
	// (one per cgroup v1 hierarchy, or the one of cgroup v2), which must
	// exist.
	CgroupProcs []string
	// Rootfs is the image the task runs in (nil: the host's file system;
	// needs Config.Namespaces). See rootfs.go.
	Rootfs *Rootfs
	// Mounts are the container's volumes.
	Mounts []Mount
	// ResolvConf, when set, is the container's /etc/resolv.conf (needs
	// Config.Namespaces): it is written to the container's state directory
	// and bind-mounted read-only over /etc/resolv.conf in the container's
	// mount namespace, the host's file staying as it is. Nil: the task sees
	// the host's.
	ResolvConf []byte
}

// shimAttr is how the agent starts a shim.
func (c *Containerizer) shimAttr() *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setsid: true}
	if c.cfg.Namespaces {
		a.Cloneflags = syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC
		// Unshared rather than cloned: Go then also makes / private.
		a.Unshareflags = syscall.CLONE_NEWNS
	}
	return a
}

// isolate applies spec's isolation to the shim itself, before the task starts.
func isolate(spec shimSpec) error {
	if spec.Hostname != "" {
		if !spec.Namespaces {
			return errors.New("a hostname needs a UTS namespace")
		}
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return fmt.Errorf("set hostname %q: %w", spec.Hostname, err)
		}
	}
	for _, procs := range spec.CgroupProcs {
		// "0" is the writer itself, whatever pid namespace it is in.
		if err := os.WriteFile(procs, []byte("0"), 0); err != nil {
			return fmt.Errorf("join cgroup %s: %w", filepath.Dir(procs), err)
		}
	}
	return nil
}

// isolateShimAfterStart makes the shim, which shares the task's cgroups, the
// last choice of the OOM killer there. The task was forked before, so it keeps
// the default score.
func isolateShimAfterStart(spec shimSpec) {
	if len(spec.CgroupProcs) > 0 {
		_ = os.WriteFile("/proc/self/oom_score_adj", []byte("-998"), 0)
	}
}

// selfPID is the shim's pid as the host sees it: /proc is the host's, so its
// "self" link names the host pid even inside a new pid namespace.
func selfPID() int {
	if s, err := os.Readlink("/proc/self"); err == nil {
		if pid, err := strconv.Atoi(s); err == nil {
			return pid
		}
	}
	return os.Getpid()
}

// hostChildPID returns the host pid of the shim's only child, which the shim
// knows as local. 0 if it cannot be found.
func hostChildPID(local int) int {
	self := strconv.Itoa(selfPID())
	threads, _ := os.ReadDir(filepath.Join("/proc", self, "task"))
	for _, th := range threads {
		b, err := os.ReadFile(filepath.Join("/proc", self, "task", th.Name(), "children"))
		if err != nil {
			continue
		}
		for f := range strings.FieldsSeq(string(b)) {
			pid, err := strconv.Atoi(f)
			if err == nil && nsPID(pid) == local {
				return pid
			}
		}
	}
	return 0
}

// nsPID is the innermost pid of a process (the last NSpid of its status).
func nsPID(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "NSpid:"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				return 0
			}
			n, _ := strconv.Atoi(f[len(f)-1])
			return n
		}
	}
	return 0
}

// waitResult is how the task's process ended.
type waitResult struct {
	status syscall.WaitStatus
	err    error
}

// waitTask waits for the task. As pid 1 of a namespace (reap) the shim also
// reaps the orphans that are reparented to it, and its other children (exec'd
// commands, whose status goes to others), until the task itself ends.
func waitTask(cmd *exec.Cmd, reap bool, others func(pid int, ws syscall.WaitStatus)) waitResult {
	if !reap {
		err := cmd.Wait()
		if err == nil {
			return waitResult{}
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			ws, _ := ee.Sys().(syscall.WaitStatus)
			return waitResult{status: ws}
		}
		return waitResult{err: err}
	}
	task := cmd.Process.Pid
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return waitResult{err: err}
		}
		if pid == task {
			return waitResult{status: ws}
		}
		others(pid, ws)
	}
}
