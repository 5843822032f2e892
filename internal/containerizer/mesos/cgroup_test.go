package mesos

import (
	"strings"
	"testing"
)

func TestParseMountinfo(t *testing.T) {
	for _, tc := range []struct {
		line, fs, mnt, opts string
		ok                  bool
	}{
		{"31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu", "cgroup", "/sys/fs/cgroup/cpu", "rw,cpu", true},
		{"40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw", "cgroup2", "/sys/fs/cgroup/unified", "rw", true},
		{"36 25 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:12 - cgroup cgroup rw,cpu,cpuacct", "cgroup", "/sys/fs/cgroup/cpu,cpuacct", "rw,cpu,cpuacct", true},
		{`50 1 0:40 / /mnt/a\040b rw - tmpfs tmpfs rw`, "tmpfs", "/mnt/a b", "rw", true},
		{"garbage", "", "", "", false},
		{"1 2 3 - x", "", "", "", false},
	} {
		fs, mnt, opts, ok := parseMountinfo(tc.line)
		if ok != tc.ok || fs != tc.fs || mnt != tc.mnt || opts != tc.opts {
			t.Errorf("parseMountinfo(%q) = %q %q %q %v", tc.line, fs, mnt, opts, ok)
		}
	}
}

func TestParseKV(t *testing.T) {
	kv := parseKV([]byte("oom_kill_disable 0\nunder_oom 0\noom_kill 3\nbad line here\nx notanumber\n"))
	if kv["oom_kill"] != 3 || len(kv) != 3 {
		t.Errorf("parseKV = %v", kv)
	}
}

func FuzzParseMountinfo(f *testing.F) {
	f.Add("31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu")
	f.Add(`50 1 0:40 / /mnt/a\040b\ rw - tmpfs tmpfs rw`)
	f.Add(" - - - ")
	f.Fuzz(func(t *testing.T, line string) {
		fs, mnt, _, ok := parseMountinfo(line)
		if !ok && (fs != "" || mnt != "") {
			t.Errorf("not ok but returned %q %q", fs, mnt)
		}
		if ok && !strings.Contains(line, " - ") {
			t.Errorf("ok without a separator: %q", line)
		}
	})
}

func FuzzParseKV(f *testing.F) {
	f.Add([]byte("user_usec 10\nsystem_usec 20\n"))
	f.Add([]byte("a 18446744073709551616\n\n b  1 "))
	f.Fuzz(func(t *testing.T, b []byte) {
		for k := range parseKV(b) {
			if k == "" || strings.ContainsAny(k, " \t\n") {
				t.Errorf("bad key %q", k)
			}
		}
	})
}
