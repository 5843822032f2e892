package posix

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRootJoin(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"usr/bin", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{"bin": "usr/bin", "abs": "/etc", "up": "../../..", "loop": "loop", "hosty": "/../../etc/passwd"}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	for in, want := range map[string]string{
		"/bin/sh":         "usr/bin/sh",
		"/abs/passwd":     "etc/passwd",
		"/up/etc":         "etc",
		"/../../etc":      "etc",
		"/hosty":          "etc/passwd",
		"/new/dir":        "new/dir",
		"relative/path":   "relative/path",
		"/usr/bin/../lib": "usr/lib",
	} {
		got, err := rootJoin(root, in)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if got != filepath.Join(root, want) {
			t.Errorf("rootJoin(%q) = %q, want %q", in, got, filepath.Join(root, want))
		}
	}
	if _, err := rootJoin(root, "/loop/x"); err == nil {
		t.Error("a symlink loop resolved")
	}
}

func FuzzRootJoin(f *testing.F) {
	for _, s := range []string{"/bin/sh", "../..", "/abs/x", "up/up/x", "a/../../b", "//x//y/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		root := t.TempDir()
		_ = os.Symlink("/", filepath.Join(root, "abs"))
		_ = os.Symlink("../../..", filepath.Join(root, "up"))
		got, err := rootJoin(root, p)
		if err != nil {
			return
		}
		if got != root && !strings.HasPrefix(got, root+"/") {
			t.Errorf("rootJoin(%q) = %q, outside %q", p, got, root)
		}
	})
}

const testPasswd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\nbroken:x:a:b\n"
const testGroup = "root:x:0:\nstaff:x:50:app,other\napp:x:1000:\n"

func TestLookupUser(t *testing.T) {
	for spec, want := range map[string]imageUser{
		"":           {home: "/root"},
		"root":       {home: "/root"},
		"app":        {uid: 1000, gid: 1000, groups: []uint32{50}, home: "/home/app"},
		"1000":       {uid: 1000, gid: 1000, home: "/home/app"},
		"4242":       {uid: 4242},
		"app:staff":  {uid: 1000, gid: 50, groups: []uint32{50}, home: "/home/app"},
		"4242:4343":  {uid: 4242, gid: 4343},
		"1000:0":     {uid: 1000, home: "/home/app"},
		"root:staff": {gid: 50, home: "/root"},
	} {
		got, err := lookupUser([]byte(testPasswd), []byte(testGroup), spec)
		if err != nil {
			t.Errorf("%q: %v", spec, err)
			continue
		}
		if got.uid != want.uid || got.gid != want.gid || got.home != want.home || len(got.groups) != len(want.groups) {
			t.Errorf("%q: %+v, want %+v", spec, got, want)
		}
	}
	for _, bad := range []string{"nobody", "app:nogroup"} {
		if _, err := lookupUser([]byte(testPasswd), []byte(testGroup), bad); err == nil {
			t.Errorf("%q resolved", bad)
		}
	}
}

func FuzzLookupUser(f *testing.F) {
	f.Add([]byte(testPasswd), []byte(testGroup), "app:staff")
	f.Add([]byte("::::::\n"), []byte(":::\n"), "")
	f.Add([]byte{}, []byte{}, "1:2")
	f.Fuzz(func(t *testing.T, passwd, group []byte, spec string) {
		_, _ = lookupUser(passwd, group, spec)
	})
}
