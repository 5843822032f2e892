package posix

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Per-task memory of a shim.
//
// A shim is the agent's whole binary, re-executed: before MaybeRunShim runs,
// Go has run the init functions of every package the agent links (etcd,
// gRPC, protobuf registries, the Docker client, ...). That leaves ~23 MiB of
// the binary's text and read-only data resident in the shim (shared with the
// agent and every other shim through the page cache, but counted in each
// one's RSS) and a few MiB of heap, most of it garbage. A shim then only
// waits; its steady-state working set is a few hundred KiB of code.
//
// So once the task runs, trimMemory returns the heap's free pages to the
// kernel, keeps the heap small from then on (GC at 25 % growth; no memory
// limit, which under the ~3 MiB the inits leave live would make the GC run
// all the time), and drops the binary's clean read-only pages from the shim's page
// tables (madvise MADV_DONTNEED): they stay in the page cache, and the few the
// shim still uses fault back in from there. Only mappings of the executable
// that are not writable and hold no anonymous (copy-on-write) page are
// dropped, so nothing the process changed is lost.

// trimMemory shrinks the shim's resident memory once its task runs.
func trimMemory() {
	debug.SetGCPercent(25)
	debug.FreeOSMemory()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	for _, m := range cleanExeMappings(exe) {
		// The raw call: the range is this process's own mapping, not a Go
		// slice.
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_DONTNEED)
	}
}

// mapping is an address range of /proc/self/smaps.
type mapping struct{ start, end uintptr }

// cleanExeMappings lists the read-only private mappings of exe that hold no
// anonymous page (nothing copied on write), only page-cache pages.
func cleanExeMappings(exe string) []mapping {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []mapping
	var cur *mapping
	clean := false
	flush := func() {
		if cur != nil && clean {
			out = append(out, *cur)
		}
		cur = nil
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			flush()
			perms := fields[1]
			if len(fields) < 6 || fields[5] != exe || perms[1] == 'w' || perms[3] != 'p' {
				continue
			}
			lo, hi, _ := strings.Cut(fields[0], "-")
			s, err1 := strconv.ParseUint(lo, 16, 64)
			e, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 != nil || err2 != nil {
				continue
			}
			cur, clean = &mapping{uintptr(s), uintptr(e)}, true
			continue
		}
		if cur == nil {
			continue
		}
		k, v, _ := strings.Cut(line, ":")
		switch k {
		case "Anonymous", "Swap":
			// Pages copied on write are anonymous; page-cache pages (even
			// dirty ones of a freshly written binary) are not.
			if n := strings.Fields(v); len(n) == 0 || n[0] != "0" {
				clean = false
			}
		}
	}
	flush()
	return out
}
