package mesos

import (
	"os"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/basalt-dcos/basalt/internal/containerizer/image/imagetest"
)

// TestResolvConf: with Deps.ResolvConf, a task without an image and a task
// in an image (as a user other than root) both read the generated file at
// /etc/resolv.conf, made for each launch; the host's file is untouched and
// no mount is left on the host.
func TestResolvConf(t *testing.T) {
	e := newImageEnv(t)
	hostBefore, hostErr := os.ReadFile("/etc/resolv.conf")
	var made int
	gen := func() ([]byte, error) {
		made++
		return []byte("# generated\nnameserver 198.51.100.1\nsearch example.test\n"), nil
	}
	c, err := New(Config{StateDir: t.TempDir(), CgroupsRoot: testRoot(t)}, Deps{Images: e.store, ResolvConf: gen})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	want := "# generated\nnameserver 198.51.100.1\nsearch example.test"

	t.Run("without an image", func(t *testing.T) {
		if hostErr != nil {
			t.Skipf("the host has no /etc/resolv.conf to mount over: %v", hostErr)
		}
		sp := spec(t, "cat /etc/resolv.conf")
		runToEnd(t, c, sp)
		if got := readFile(t, sp.Sandbox, "stdout"); got != want {
			t.Errorf("/etc/resolv.conf in the task = %q, want %q", got, want)
		}
	})
	t.Run("in an image, as nobody", func(t *testing.T) {
		nobody := imagetest.ShellImage(t, imagetest.Tasksh(t), v1.Config{Env: []string{"PATH=/bin"}, User: "nobody"})
		ref := e.reg.Push(t, "nobody-resolv:1", nobody)
		sp := imageSpec(t, ref, shell("id; cat /etc/resolv.conf"))
		runToEnd(t, c, sp)
		got := readFile(t, sp.Sandbox, "stdout")
		if !strings.Contains(got, "uid=65534") || !strings.HasSuffix(got, want) {
			t.Errorf("task output %q, want uid 65534 and the generated resolv.conf", got)
		}
	})
	if made < 1 {
		t.Errorf("ResolvConf called %d times", made)
	}
	if hostAfter, err := os.ReadFile("/etc/resolv.conf"); string(hostAfter) != string(hostBefore) || (err == nil) != (hostErr == nil) {
		t.Errorf("the host's /etc/resolv.conf changed: %q → %q", hostBefore, hostAfter)
	}
	if left := mountsUnder(t, c.StateDir()); len(left) > 0 {
		t.Errorf("mounts left on the host: %q", left)
	}
}
