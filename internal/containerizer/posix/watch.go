package posix

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// waitExit blocks until the process pid (started at start) is gone or a
// zombie, or stop is closed. The agent is usually not the parent of the
// process (it was started by an earlier agent), so it cannot wait(2) for it:
// it watches a pidfd through the runtime's poller, which costs no thread per
// container, and falls back to polling /proc every interval on kernels
// without pidfd_open (< 5.3).
func waitExit(pid int, start uint64, interval time.Duration, stop <-chan struct{}) {
	if waitPidfd(pid, start, stop) {
		return
	}
	pollExit(pid, start, interval, stop)
}

// pollExit polls /proc every interval until the process is gone or stop is
// closed.
func pollExit(pid int, start uint64, interval time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for alive(pid, start) {
		select {
		case <-t.C:
		case <-stop:
			return
		}
	}
}

// waitPidfd waits through a pidfd; false means pidfds are unusable here and
// the caller must poll.
func waitPidfd(pid int, start uint64, stop <-chan struct{}) bool {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		// ESRCH: already gone. Anything else: no pidfd support.
		return err == unix.ESRCH
	}
	// The pid may have been reused before the pidfd was opened; the pidfd
	// now pins whatever process it names, so check that one.
	if !alive(pid, start) {
		unix.Close(fd)
		return true
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	exited := make(chan struct{})
	stopWatch := make(chan struct{})
	defer close(stopWatch)
	if stop != nil {
		go func() {
			select {
			case <-stop:
				// An expired deadline wakes the poller wait below.
				_ = f.SetReadDeadline(time.Now())
			case <-exited:
			case <-stopWatch:
			}
		}()
	}
	ok := true
	err = rc.Read(func(fd uintptr) bool {
		n, perr := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
		if perr != nil && perr != unix.EINTR {
			ok = false
			return true
		}
		return n > 0
	})
	close(exited)
	if err != nil {
		select {
		case <-stop:
			return true
		default:
		}
		// Not pollable by the runtime (no poller registration): poll instead.
		return false
	}
	return ok
}
