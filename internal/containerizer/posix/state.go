package posix

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Files of one container's state directory (Config.StateDir/<containerID>/).
// Every file but shim.log is written atomically (temp file, rename), so a
// reader sees either nothing or a complete document. They are not fsynced:
// they describe processes, which a host crash ends anyway, while an agent
// crash leaves the page cache intact; a torn file after a host crash makes
// the container Lost, which is what it is then.
const (
	launchFile      = "launch.json"      // shimSpec, written by Launch before the shim starts
	pidsFile        = "pids.json"        // pidsRecord, written by the shim
	terminationFile = "termination.json" // terminationRecord, written by the shim when the task ended
	killFile        = "kill.json"        // killRecord, written by Kill before it signals
	shimLogFile     = "shim.log"         // the shim's own stderr
	resolvConfFile  = "resolv.conf"      // the container's /etc/resolv.conf (Isolation.ResolvConf)
)

// shimSpec is what the shim needs to start the task, plus what the agent
// needs after a restart (limits, sandbox).
type shimSpec struct {
	ContainerID string   `json:"container_id"`
	Path        string   `json:"path"` // executable, resolved in the task's PATH unless it has a slash
	Args        []string `json:"args"` // argv, Args[0] included
	Env         []string `json:"env"`
	Dir         string   `json:"dir"`
	Stdout      string   `json:"stdout"`
	Stderr      string   `json:"stderr"`
	SetUser     bool     `json:"set_user,omitempty"`
	UID         uint32   `json:"uid,omitempty"`
	GID         uint32   `json:"gid,omitempty"`
	Groups      []uint32 `json:"groups,omitempty"`
	CPUs        float64  `json:"cpus,omitempty"`
	MemMB       float64  `json:"mem_mb,omitempty"`
	DiskMB      float64  `json:"disk_mb,omitempty"`
	// Isolation (isolate.go).
	Namespaces  bool     `json:"namespaces,omitempty"` // the shim is pid 1 of its own namespaces
	Hostname    string   `json:"hostname,omitempty"`
	CgroupProcs []string `json:"cgroup_procs,omitempty"`
	// Image and volumes (rootfs.go).
	Rootfs *Rootfs `json:"rootfs,omitempty"`
	Mounts []Mount `json:"mounts,omitempty"`
	// ResolvConf is the file mounted over /etc/resolv.conf ("" = the host's).
	ResolvConf string `json:"resolv_conf,omitempty"`
	Chroot     string `json:"-"` // set by setupMounts
}

// pidsRecord identifies the shim and the task. Start times (clock ticks since
// boot, /proc/<pid>/stat field 22) detect pid reuse.
type pidsRecord struct {
	ShimPID   int    `json:"shim_pid"`
	ShimStart uint64 `json:"shim_start"`
	TaskPID   int    `json:"task_pid,omitempty"`
	TaskStart uint64 `json:"task_start,omitempty"`
}

// terminationRecord is how the task ended, as the shim saw it.
type terminationRecord struct {
	ExitCode   int       `json:"exit_code"`
	Signal     int       `json:"signal,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Message    string    `json:"message"`
	FinishedAt time.Time `json:"finished_at"`
}

// killRecord says that Kill was called, and with which grace, so that an agent
// restarted during the grace period still escalates and still reports Killed.
type killRecord struct {
	RequestedAt time.Time     `json:"requested_at"`
	Grace       time.Duration `json:"grace_ns"`
}

// writeJSONAtomic writes v as JSON to dir/name through a temp file.
func writeJSONAtomic(dir, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	f, err := os.CreateTemp(dir, "."+name+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// readJSON reads dir/name into v. A missing file is reported with an error
// matching fs.ErrNotExist.
func readJSON(dir, name string, v any) error {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", name, err)
	}
	return nil
}

// procStat is the part of /proc/<pid>/stat this package uses.
type procStat struct {
	State     byte
	PGRP      int
	Session   int
	UTime     uint64 // clock ticks
	STime     uint64 // clock ticks
	StartTime uint64 // clock ticks since boot
	RSSPages  int64
}

// errBadStat is returned for a /proc/<pid>/stat line that does not parse.
var errBadStat = errors.New("malformed /proc stat line")

// parseStat parses one /proc/<pid>/stat line. The command name (field 2) may
// contain spaces and parentheses, so fields are counted from the last ')'.
func parseStat(line []byte) (procStat, error) {
	i := bytes.LastIndexByte(line, ')')
	if i < 0 || i+2 > len(line) {
		return procStat{}, errBadStat
	}
	f := strings.Fields(string(line[i+1:]))
	// f[0] is field 3 (state); field n is f[n-3].
	if len(f) < 22 {
		return procStat{}, errBadStat
	}
	var st procStat
	var err error
	num := func(n int) uint64 {
		if err != nil {
			return 0
		}
		var v uint64
		v, err = strconv.ParseUint(f[n-3], 10, 64)
		return v
	}
	snum := func(n int) int64 {
		if err != nil {
			return 0
		}
		var v int64
		v, err = strconv.ParseInt(f[n-3], 10, 64)
		return v
	}
	if len(f[0]) != 1 {
		return procStat{}, errBadStat
	}
	st.State = f[0][0]
	st.PGRP = int(snum(5))
	st.Session = int(snum(6))
	st.UTime = num(14)
	st.STime = num(15)
	st.StartTime = num(22)
	st.RSSPages = snum(24)
	if err != nil {
		return procStat{}, fmt.Errorf("%w: %w", errBadStat, err)
	}
	return st, nil
}

// readStat reads /proc/<pid>/stat.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseStat(b)
}

// alive reports whether pid is a live (not zombie) process that started at
// start (0 = any start time).
func alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	st, err := readStat(pid)
	if err != nil {
		return false
	}
	if st.State == 'Z' || st.State == 'X' || st.State == 'x' {
		return false
	}
	return start == 0 || st.StartTime == start
}

// sessionMembers returns the pids of live processes whose session id is sid.
func sessionMembers(sid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(pid)
		if err != nil || st.Session != sid || st.State == 'Z' {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}
