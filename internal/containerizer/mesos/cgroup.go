package mesos

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Cgroups, v1 and v2.
//
// This is a small implementation of its own rather than containerd/cgroups:
// the runtime needs only to create one cgroup per container with cpu, memory
// and pids limits, read a few counters, kill what is inside and remove it;
// the task joins it from the shim by writing "0" to cgroup.procs (see
// posix/isolate.go), which the library's process-oriented API does not
// model; and its cgroup2 package brings in an eBPF library for device rules
// that Basalt does not use. Layout (as Mesos' --cgroups_root):
//
//	v1: <hierarchy>/<root>/<container id>   for cpu, cpuacct, memory, pids
//	v2: <cgroup2 mount>/<root>/<container id>

// userHZ is the unit of cpuacct.stat (USER_HZ, 100 on every Linux
// architecture Basalt runs on).
const userHZ = 100

// minMemBytes is the smallest memory limit set (Mesos' MIN_MEMORY).
const minMemBytes = 32 << 20

// cfsPeriod is the CFS period used with a quota (Mesos' default).
const cfsPeriod = 100 * time.Millisecond

// ErrNoCgroups says the host has no usable cgroup hierarchy.
var ErrNoCgroups = errors.New("no usable cgroups (need cgroup v1 cpu and memory hierarchies, or cgroup v2 with the cpu and memory controllers)")

// limits are what a container's cgroup enforces.
type limits struct {
	CPUs      float64
	CFS       bool // also a hard CFS quota of CPUs
	MemBytes  uint64
	PidsLimit int64 // 0: none
}

// cgStats are a container's cgroup counters.
type cgStats struct {
	UserSeconds, SystemSeconds float64
	NrPeriods, NrThrottled     uint64
	ThrottledSeconds           float64
	MemTotalBytes, MemRSSBytes uint64
}

// cgroupHost is the cgroup file system of the host, under one root.
type cgroupHost struct {
	version int
	root    string            // the runtime's parent cgroup, relative
	v1      map[string]string // controller → hierarchy mount point (v1)
	v2      string            // cgroup2 mount point (v2)
}

// detectCgroups finds the cgroup hierarchies from /proc/self/mountinfo. v1
// is preferred where both are mounted (a hybrid host whose cgroup2 holds no
// controllers).
func detectCgroups(root string) (*cgroupHost, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("detect cgroups: %w", err)
	}
	defer f.Close()
	h := &cgroupHost{root: root, v1: map[string]string{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fsType, mnt, opts, ok := parseMountinfo(sc.Text())
		if !ok {
			continue
		}
		switch fsType {
		case "cgroup":
			for o := range strings.SplitSeq(opts, ",") {
				switch o {
				case "cpu", "cpuacct", "memory", "pids":
					if _, dup := h.v1[o]; !dup {
						h.v1[o] = mnt
					}
				}
			}
		case "cgroup2":
			if h.v2 == "" {
				h.v2 = mnt
			}
		}
	}
	if h.v1["cpu"] != "" && h.v1["memory"] != "" {
		h.version = 1
		h.v2 = ""
		return h, nil
	}
	h.v1 = nil
	if h.v2 != "" {
		b, err := os.ReadFile(filepath.Join(h.v2, "cgroup.controllers"))
		if err == nil {
			ctrls := strings.Fields(string(b))
			if slices.Contains(ctrls, "cpu") && slices.Contains(ctrls, "memory") {
				h.version = 2
				return h, nil
			}
		}
	}
	return nil, ErrNoCgroups
}

// parseMountinfo returns the file system type, mount point and super options
// of one /proc/self/mountinfo line.
func parseMountinfo(line string) (fsType, mountPoint, superOpts string, ok bool) {
	pre, post, found := strings.Cut(line, " - ")
	if !found {
		return "", "", "", false
	}
	f := strings.Fields(pre)
	g := strings.Fields(post)
	if len(f) < 5 || len(g) < 3 {
		return "", "", "", false
	}
	return g[0], unescapeMount(f[4]), g[2], true
}

// unescapeMount undoes the octal escapes (\040 for a space, ...) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// dirs are the container's cgroup directories (one per v1 hierarchy, deduplicated).
func (h *cgroupHost) dirs(id string) []string {
	if h.version == 2 {
		return []string{filepath.Join(h.v2, h.root, id)}
	}
	var out []string
	for _, c := range []string{"cpu", "cpuacct", "memory", "pids"} {
		if m := h.v1[c]; m != "" {
			d := filepath.Join(m, h.root, id)
			if !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	}
	return out
}

// dir is the container's cgroup directory for a v1 controller (or the v2 one).
func (h *cgroupHost) dir(controller, id string) string {
	if h.version == 2 {
		return filepath.Join(h.v2, h.root, id)
	}
	m := h.v1[controller]
	if m == "" {
		return ""
	}
	return filepath.Join(m, h.root, id)
}

// Versionof the cgroup file system in use, "v1" or "v2".
func (h *cgroupHost) Version() string { return "v" + strconv.Itoa(h.version) }

// Create makes the container's cgroups with their limits and returns the
// cgroup.procs files the task's shim joins.
func (h *cgroupHost) Create(id string, l limits) ([]string, error) {
	if h.version == 2 {
		if err := h.enableV2(); err != nil {
			return nil, err
		}
	}
	var procs []string
	for _, d := range h.dirs(id) {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create cgroup: %w", err)
		}
		procs = append(procs, filepath.Join(d, "cgroup.procs"))
	}
	if err := h.setLimits(id, l); err != nil {
		_ = h.Remove(id, time.Second)
		return nil, err
	}
	return procs, nil
}

// enableV2 creates the root cgroup and enables the controllers for its
// children, as cgroup v2 requires at each level.
func (h *cgroupHost) enableV2() error {
	want := []string{"cpu", "memory", "pids"}
	dir := h.v2
	parts := strings.Split(filepath.Clean(h.root), string(filepath.Separator))
	for i := 0; i <= len(parts); i++ {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
		if err != nil {
			return fmt.Errorf("cgroup v2 %s: %w", dir, err)
		}
		have := strings.Fields(string(b))
		var ctl []string
		for _, c := range want {
			if slices.Contains(have, c) {
				ctl = append(ctl, "+"+c)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte(strings.Join(ctl, " ")), 0); err != nil {
			return fmt.Errorf("enable cgroup v2 controllers in %s: %w", dir, err)
		}
		if i == len(parts) {
			break
		}
		if parts[i] == "" || parts[i] == "." {
			continue
		}
		dir = filepath.Join(dir, parts[i])
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create cgroup %s: %w", dir, err)
		}
	}
	return nil
}

func (h *cgroupHost) setLimits(id string, l limits) error {
	shares := max(uint64(l.CPUs*1024), 2)
	mem := max(l.MemBytes, minMemBytes)
	quota := max(int64(l.CPUs*float64(cfsPeriod/time.Microsecond)), 1000)
	var errs []error
	set := func(dir, file, v string) {
		if dir == "" {
			return
		}
		if err := os.WriteFile(filepath.Join(dir, file), []byte(v), 0); err != nil {
			errs = append(errs, fmt.Errorf("set %s: %w", file, err))
		}
	}
	optional := func(dir, file, v string) {
		if dir != "" {
			_ = os.WriteFile(filepath.Join(dir, file), []byte(v), 0)
		}
	}
	if h.version == 2 {
		d := h.dir("", id)
		// cpu.weight from shares, the conversion runc and systemd use.
		set(d, "cpu.weight", strconv.FormatUint(1+((shares-2)*9999)/262142, 10))
		if l.CFS {
			set(d, "cpu.max", fmt.Sprintf("%d %d", quota, cfsPeriod/time.Microsecond))
		}
		set(d, "memory.max", strconv.FormatUint(mem, 10))
		optional(d, "memory.swap.max", "0") // absent without swap accounting
		if l.PidsLimit > 0 {
			set(d, "pids.max", strconv.FormatInt(l.PidsLimit, 10))
		}
		return errors.Join(errs...)
	}
	cpu, memd, pids := h.dir("cpu", id), h.dir("memory", id), h.dir("pids", id)
	set(cpu, "cpu.shares", strconv.FormatUint(shares, 10))
	if l.CFS {
		set(cpu, "cpu.cfs_period_us", strconv.FormatInt(int64(cfsPeriod/time.Microsecond), 10))
		set(cpu, "cpu.cfs_quota_us", strconv.FormatInt(quota, 10))
	}
	set(memd, "memory.limit_in_bytes", strconv.FormatUint(mem, 10))
	optional(memd, "memory.memsw.limit_in_bytes", strconv.FormatUint(mem, 10)) // no swapping past the limit
	if l.PidsLimit > 0 {
		if pids == "" {
			errs = append(errs, errors.New("a pids limit needs the cgroup v1 pids hierarchy, which is not mounted"))
		}
		set(pids, "pids.max", strconv.FormatInt(l.PidsLimit, 10))
	}
	return errors.Join(errs...)
}

// Exists reports whether the container's cgroup exists.
func (h *cgroupHost) Exists(id string) bool {
	_, err := os.Stat(h.dir("memory", id))
	return err == nil
}

// OOMKills is how many processes the kernel's OOM killer killed in the
// container's memory cgroup.
func (h *cgroupHost) OOMKills(id string) (uint64, error) {
	file := "memory.oom_control"
	if h.version == 2 {
		file = "memory.events"
	}
	kv, err := readKV(filepath.Join(h.dir("memory", id), file))
	if err != nil {
		return 0, err
	}
	return kv["oom_kill"], nil
}

// Stats reads the container's cgroup counters.
func (h *cgroupHost) Stats(id string) (cgStats, error) {
	var s cgStats
	if h.version == 2 {
		d := h.dir("", id)
		cpu, err := readKV(filepath.Join(d, "cpu.stat"))
		if err != nil {
			return s, err
		}
		s.UserSeconds = float64(cpu["user_usec"]) / 1e6
		s.SystemSeconds = float64(cpu["system_usec"]) / 1e6
		s.NrPeriods, s.NrThrottled = cpu["nr_periods"], cpu["nr_throttled"]
		s.ThrottledSeconds = float64(cpu["throttled_usec"]) / 1e6
		s.MemTotalBytes, _ = readUint(filepath.Join(d, "memory.current"))
		if m, err := readKV(filepath.Join(d, "memory.stat")); err == nil {
			s.MemRSSBytes = m["anon"]
		}
		return s, nil
	}
	acct, err := readKV(filepath.Join(h.dir("cpuacct", id), "cpuacct.stat"))
	if err != nil {
		return s, err
	}
	s.UserSeconds = float64(acct["user"]) / userHZ
	s.SystemSeconds = float64(acct["system"]) / userHZ
	if cpu, err := readKV(filepath.Join(h.dir("cpu", id), "cpu.stat")); err == nil {
		s.NrPeriods, s.NrThrottled = cpu["nr_periods"], cpu["nr_throttled"]
		s.ThrottledSeconds = float64(cpu["throttled_time"]) / 1e9
	}
	s.MemTotalBytes, _ = readUint(filepath.Join(h.dir("memory", id), "memory.usage_in_bytes"))
	if m, err := readKV(filepath.Join(h.dir("memory", id), "memory.stat")); err == nil {
		s.MemRSSBytes = m["total_rss"]
	}
	return s, nil
}

// Procs lists the pids in the container's cgroups.
func (h *cgroupHost) Procs(id string) []int {
	var pids []int
	for _, d := range h.dirs(id) {
		b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			continue
		}
		for f := range strings.FieldsSeq(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && !slices.Contains(pids, pid) {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// Remove kills every process left in the container's cgroups and removes
// them, waiting up to timeout for the processes to be gone. A missing cgroup
// is not an error.
func (h *cgroupHost) Remove(id string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		for _, pid := range h.Procs(id) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		var errs []error
		for _, d := range h.dirs(id) {
			if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, err)
			}
		}
		err := errors.Join(errs...)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("remove cgroup of %s: %w", id, err)
		}
		// A killed process leaves the cgroup once the kernel has torn it
		// down; there is no event for that in v1.
		time.Sleep(5 * time.Millisecond)
	}
}

// List returns the container ids that have a cgroup under the root.
func (h *cgroupHost) List() []string {
	d := filepath.Join(h.v2, h.root)
	if h.version == 1 {
		d = filepath.Join(h.v1["memory"], h.root)
	}
	ents, err := os.ReadDir(d)
	if err != nil {
		return nil
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() {
			ids = append(ids, e.Name())
		}
	}
	return ids
}

// readKV parses a flat-keyed cgroup file ("key value" lines).
func readKV(path string) (map[string]uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseKV(b), nil
}

func parseKV(b []byte) map[string]uint64 {
	out := map[string]uint64{}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		f := strings.Fields(string(line))
		if len(f) != 2 {
			continue
		}
		if v, err := strconv.ParseUint(f[1], 10, 64); err == nil {
			out[f[0]] = v
		}
	}
	return out
}

func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}
