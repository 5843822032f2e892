package posix

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Capabilities of tasks that run in an image.
//
// An image task is chrooted into its rootfs, not pivoted (docs/design/0007),
// and a chroot only holds a process that cannot call chroot(2) again, mount,
// make device nodes, trace the shim (pid 1, which keeps the host's view of
// the mount namespace, so /proc/1/root would lead out) or open files by
// handle. So before the shim starts such a task it shrinks the capability
// bounding set of the OS thread that forks it to keptCaps — Docker's default
// set without CAP_SYS_CHROOT and CAP_MKNOD — and clears its inheritable and
// ambient sets: a root task then holds at most keptCaps, even through setuid
// binaries. Capabilities are per thread in Linux, so startConfined forks from
// a goroutine locked to a thread of its own that is thrown away afterwards;
// the shim's other threads keep their capabilities. Commands exec'd into the
// container (exec.go) are started the same way.

// keptCaps is the bounding set of image tasks.
const keptCaps uint64 = 1<<unix.CAP_CHOWN | 1<<unix.CAP_DAC_OVERRIDE | 1<<unix.CAP_FSETID |
	1<<unix.CAP_FOWNER | 1<<unix.CAP_SETGID | 1<<unix.CAP_SETUID | 1<<unix.CAP_SETPCAP |
	1<<unix.CAP_NET_BIND_SERVICE | 1<<unix.CAP_NET_RAW | 1<<unix.CAP_KILL |
	1<<unix.CAP_AUDIT_WRITE | 1<<unix.CAP_SETFCAP

// startConfined starts cmd from a throw-away thread whose capabilities are
// cut down to keptCaps.
func startConfined(cmd *exec.Cmd) error {
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with this goroutine.
		runtime.LockOSThread()
		if err := restrictThreadCaps(); err != nil {
			errc <- err
			return
		}
		errc <- cmd.Start()
	}()
	return <-errc
}

// restrictThreadCaps limits the processes the calling thread starts from now
// on to keptCaps. The caller must have locked its goroutine to the thread
// (runtime.LockOSThread) and must not unlock it.
func restrictThreadCaps() error {
	for c := 0; c <= lastCap(); c++ {
		if keptCaps&(1<<c) != 0 {
			continue
		}
		// EINVAL: the running kernel does not know this capability.
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	data[0].Inheritable, data[1].Inheritable = 0, 0
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("clear inheritable capabilities: %w", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	return nil
}

// lastCap is the highest capability number the kernel knows.
func lastCap() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 && n < 64 {
			return n
		}
	}
	return unix.CAP_LAST_CAP
}
