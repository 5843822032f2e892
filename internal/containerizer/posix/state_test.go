package posix

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseStat(t *testing.T) {
	line := "1234 (a (weird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 987654 10000000 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	got, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	want := procStat{State: 'S', PGRP: 1234, Session: 1234, UTime: 250, STime: 75, StartTime: 987654, RSSPages: 300}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseStat (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "1 (x", "1 (x) S 1 2", "1 (x) SS 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) succeeded", bad)
		}
	}
	own, err := readStat(os.Getpid())
	if err != nil || own.StartTime == 0 {
		t.Errorf("readStat(self) = %+v, %v", own, err)
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1 (init) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 9 10 11 12"))
	f.Add([]byte("2 ()) R 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseStat(b) // must not panic
	})
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(bin, "tool")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "data"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  []string
		want string // "" = error
	}{
		{"tool", []string{"PATH=" + bin}, exe},
		{"tool", []string{"PATH=bin"}, exe}, // relative PATH entries are sandbox-relative
		{"tool", nil, ""},                   // not in the default PATH
		{"data", []string{"PATH=" + bin}, ""},
		{"bin/tool", nil, exe},
		{exe, nil, exe},
		{"sh", nil, "/usr/bin/sh"}, // default PATH
		{"", nil, ""},
	}
	for _, tc := range tests {
		got, err := lookPath(tc.name, dir, tc.env)
		if tc.want == "" {
			if err == nil {
				t.Errorf("lookPath(%q, %v) = %q, want an error", tc.name, tc.env, got)
			}
			continue
		}
		if tc.name == "sh" && err == nil {
			continue // /bin/sh or /usr/bin/sh depending on the host
		}
		if err != nil || got != tc.want {
			t.Errorf("lookPath(%q, %v) = %q, %v; want %q", tc.name, tc.env, got, err, tc.want)
		}
	}
}
