package mesos

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/internal/containerizer/containerizertest"
	"github.com/basalt-dcos/basalt/internal/containerizer/image"
	"github.com/basalt-dcos/basalt/internal/containerizer/image/imagetest"
	"github.com/basalt-dcos/basalt/internal/containerizer/posix"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// imageEnv is a registry holding the test image, a store and a runtime
// using it.
type imageEnv struct {
	reg   *imagetest.Registry
	ref   string
	img   v1.Image
	store *image.Store
	c     *Containerizer
}

func newImageEnv(t testing.TB) *imageEnv {
	t.Helper()
	requireIsolation(t)
	sh := imagetest.Tasksh(t)
	img := imagetest.ShellImage(t, sh, v1.Config{
		Entrypoint: []string{"/bin/sh", "-c"}, Cmd: []string{"echo from-cmd"},
		Env: []string{"PATH=/bin", "FOO=image", "BAR=image"}, WorkingDir: "/work",
	})
	reg := imagetest.StartRegistry(t)
	ref := reg.Push(t, "app:1", img)
	store, err := image.New(image.Config{Dir: t.TempDir(), InsecureRegistries: []string{reg.Host}}, image.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{StateDir: t.TempDir(), CgroupsRoot: testRoot(t)}, Deps{Images: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &imageEnv{reg: reg, ref: ref, img: img, store: store, c: c}
}

// imageSpec is a task of image name with cmd (nil: the image's own).
func imageSpec(t *testing.T, name string, cmd *mesosv1.CommandInfo) containerizer.LaunchSpec {
	sp := spec(t, "")
	sp.Task.Command = cmd
	sp.Task.Container = &mesosv1.ContainerInfo{Type: "MESOS", Mesos: &mesosv1.MesosInfo{
		Image: &mesosv1.Image{Type: "DOCKER", Docker: &mesosv1.DockerImage{Name: name}}}}
	sp.Env = []string{"BAR=task", "MESOS_SANDBOX=" + sp.Sandbox}
	return sp
}

func shell(s string) *mesosv1.CommandInfo { return &mesosv1.CommandInfo{Value: s} }

func runToEnd(t *testing.T, c *Containerizer, sp containerizer.LaunchSpec) containerizer.Termination {
	t.Helper()
	launch(t, c, sp)
	term := wait(t, c, sp.ContainerID)
	if !term.Success() {
		b, _ := os.ReadFile(filepath.Join(sp.Sandbox, "stderr"))
		t.Fatalf("task ended %+v; stderr: %s", term, b)
	}
	return term
}

// mountsUnder lists the mounts of every process on the host whose mount
// point or source is under dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/mountinfo")
	for _, p := range procs {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		s := bufio.NewScanner(f)
		for s.Scan() {
			if strings.Contains(s.Text(), dir) {
				out = append(out, p+": "+s.Text())
			}
		}
		f.Close()
	}
	return out
}

func TestImageTasks(t *testing.T) {
	e := newImageEnv(t)
	c := e.c

	t.Run("shell command in the image", func(t *testing.T) {
		sp := imageSpec(t, e.ref, shell(`echo hello; pwd; echo "FOO=$FOO BAR=$BAR SB=$MESOS_SANDBOX PATH=$PATH"; `+
			`echo x > /dev/null && echo devnull-ok; cd $MESOS_SANDBOX; cat /etc/resolv.conf > resolv; cat /proc/self/mountinfo > mounts; `+
			`cat /proc/1/status > init; touch /mnt/mesos/sandbox/marker; echo to-stderr >&2`))
		runToEnd(t, c, sp)
		out := readFile(t, sp.Sandbox, "stdout")
		for _, want := range []string{"hello", "/work", "FOO=image BAR=task SB=/mnt/mesos/sandbox PATH=/bin", "devnull-ok"} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout %q lacks %q", out, want)
			}
		}
		if got := readFile(t, sp.Sandbox, "stderr"); !strings.Contains(got, "to-stderr") {
			t.Errorf("stderr = %q", got)
		}
		if _, err := os.Stat(filepath.Join(sp.Sandbox, "marker")); err != nil {
			t.Errorf("the sandbox is not at /mnt/mesos/sandbox: %v", err)
		}
		host, _ := os.ReadFile("/etc/resolv.conf")
		if got := readFile(t, sp.Sandbox, "resolv"); got != strings.TrimSpace(string(host)) {
			t.Errorf("resolv.conf in the container = %q, want the host's", got)
		}
		// /proc is the container's own: its pid 1 is the shim.
		if init := readFile(t, sp.Sandbox, "init"); !strings.Contains(init, "NSpid:\t1") && !strings.Contains(init, "Pid:\t1\n") {
			t.Errorf("/proc/1 in the container is not the container's init:\n%s", init)
		}
		mounts := readFile(t, sp.Sandbox, "mounts")
		for _, want := range []string{" / / ", " /proc ", " /sys ro,", " /dev ", " /dev/pts ", " /dev/shm ", " /mnt/mesos/sandbox "} {
			if !strings.Contains(mounts, want) {
				t.Errorf("container mounts lack %q:\n%s", want, mounts)
			}
		}
	})

	t.Run("entrypoint and cmd", func(t *testing.T) {
		sp := imageSpec(t, e.ref, nil)
		runToEnd(t, c, sp)
		if out := readFile(t, sp.Sandbox, "stdout"); out != "from-cmd" {
			t.Errorf("stdout = %q, want the image's cmd", out)
		}
	})

	t.Run("args after the entrypoint", func(t *testing.T) {
		sp := imageSpec(t, e.ref, &mesosv1.CommandInfo{Shell: new(bool), Arguments: []string{"echo from-args"}})
		runToEnd(t, c, sp)
		if out := readFile(t, sp.Sandbox, "stdout"); out != "from-args" {
			t.Errorf("stdout = %q", out)
		}
	})

	t.Run("value replaces the entrypoint", func(t *testing.T) {
		sp := imageSpec(t, e.ref, &mesosv1.CommandInfo{Shell: new(bool), Value: "sh",
			Arguments: []string{"sh", "-c", "echo from-value"}})
		runToEnd(t, c, sp)
		if out := readFile(t, sp.Sandbox, "stdout"); out != "from-value" {
			t.Errorf("stdout = %q", out)
		}
	})

	t.Run("users", func(t *testing.T) {
		nobody := imagetest.ShellImage(t, imagetest.Tasksh(t), v1.Config{Env: []string{"PATH=/bin"}, User: "nobody"})
		ref := e.reg.Push(t, "nobody:1", nobody)
		for user, uid := range map[string]uint32{"": 65534, "root": 0, "0:65534": 0} {
			sp := imageSpec(t, ref, shell("touch owned; echo home=$HOME"))
			sp.User = user
			runToEnd(t, c, sp)
			var st syscall.Stat_t
			if err := syscall.Stat(filepath.Join(sp.Sandbox, "owned"), &st); err != nil {
				t.Fatal(err)
			}
			if st.Uid != uid {
				t.Errorf("task user %q: file owned by uid %d, want %d", user, st.Uid, uid)
			}
		}
	})

	t.Run("root task cannot leave its rootfs", func(t *testing.T) {
		// Chrooted, not pivoted: what holds root in is the bounding set
		// (posix/caps.go) — no chroot, mount, mknod or ptrace, and so no
		// way through the shim's /proc/1/root to the host.
		sp := imageSpec(t, e.ref, shell(`cd /mnt/mesos/sandbox; cat /proc/self/status > status; `+
			`(cat /proc/1/root/proc/self/status > leak) 2>/dev/null || echo root-refused`))
		runToEnd(t, c, sp)
		if out := readFile(t, sp.Sandbox, "stdout"); !strings.Contains(out, "root-refused") {
			t.Errorf("the task read the shim's root: stdout %q", out)
		}
		caps := map[string]uint64{}
		for _, line := range strings.Split(readFile(t, sp.Sandbox, "status"), "\n") {
			k, v, ok := strings.Cut(line, ":\t")
			if ok && strings.HasPrefix(k, "Cap") {
				n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
				if err != nil {
					t.Fatalf("%s: %v", line, err)
				}
				caps[k] = n
			}
		}
		const (
			capChown, capDacReadSearch, capSysChroot, capSysPtrace, capSysAdmin, capMknod = 0, 2, 18, 19, 21, 27
		)
		for _, set := range []string{"CapBnd", "CapEff", "CapPrm"} {
			for _, c := range []int{capDacReadSearch, capSysChroot, capSysPtrace, capSysAdmin, capMknod} {
				if caps[set]&(1<<c) != 0 {
					t.Errorf("%s of a root image task holds capability %d (%#x)", set, c, caps[set])
				}
			}
			if caps[set]&(1<<capChown) == 0 {
				t.Errorf("%s of a root image task lacks CAP_CHOWN (%#x)", set, caps[set])
			}
		}
		if caps["CapInh"] != 0 || caps["CapAmb"] != 0 {
			t.Errorf("inheritable %#x, ambient %#x, want none", caps["CapInh"], caps["CapAmb"])
		}
	})

	t.Run("volumes", func(t *testing.T) {
		rw, ro := t.TempDir(), t.TempDir()
		if err := os.WriteFile(filepath.Join(ro, "in"), []byte("read-me"), 0o644); err != nil {
			t.Fatal(err)
		}
		sp := imageSpec(t, e.ref, shell(`echo written > /data/rw/out; cat /data/ro/in; echo; `+
			`(echo no > /data/ro/out) 2>/dev/null || echo ro-refused; echo rel > /mnt/mesos/sandbox/cache/f`))
		if err := os.Mkdir(filepath.Join(sp.Sandbox, "hostrel"), 0o755); err != nil {
			t.Fatal(err)
		}
		sp.Task.Container.Volumes = []mesosv1.Volume{
			{HostPath: rw, ContainerPath: "/data/rw", Mode: "RW"},
			{HostPath: ro, ContainerPath: "/data/ro", Mode: "RO"},
			{HostPath: "hostrel", ContainerPath: "cache", Mode: "RW"},
		}
		runToEnd(t, c, sp)
		out := readFile(t, sp.Sandbox, "stdout")
		if !strings.Contains(out, "read-me") || !strings.Contains(out, "ro-refused") {
			t.Errorf("stdout = %q", out)
		}
		if b, err := os.ReadFile(filepath.Join(rw, "out")); err != nil || string(b) != "written\n" {
			t.Errorf("RW volume: %q, %v", b, err)
		}
		if _, err := os.Stat(filepath.Join(ro, "out")); err == nil {
			t.Error("a task wrote into a RO volume")
		}
		if b, err := os.ReadFile(filepath.Join(sp.Sandbox, "hostrel", "f")); err != nil || string(b) != "rel\n" {
			t.Errorf("sandbox volume: %q, %v", b, err)
		}
	})

	t.Run("archive in the sandbox", func(t *testing.T) {
		sp := imageSpec(t, "archive:img.tar", shell("echo from-archive"))
		imagetest.SaveArchive(t, filepath.Join(sp.Sandbox, "img.tar"), "whatever:1", e.img)
		runToEnd(t, c, sp)
		if out := readFile(t, sp.Sandbox, "stdout"); out != "from-archive" {
			t.Errorf("stdout = %q", out)
		}
	})

	t.Run("cached image needs no registry", func(t *testing.T) {
		before := e.reg.Requests.Load()
		sp := imageSpec(t, e.ref, shell("true"))
		runToEnd(t, c, sp)
		if n := e.reg.Requests.Load() - before; n != 0 {
			t.Errorf("a launch of a cached image made %d registry requests", n)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		cases := map[string]struct {
			name string
			vols []mesosv1.Volume
			want error
			msg  string
		}{
			"unknown tag":      {name: e.reg.Host + "/app:nope", want: image.ErrNotFound},
			"unknown repo":     {name: e.reg.Host + "/nope:1", want: image.ErrNotFound},
			"unreachable":      {name: "127.0.0.1:1/app:1", msg: "insecure"},
			"bad archive":      {name: "archive:missing.tar", want: image.ErrBadArchive},
			"bad name":         {name: "Bad Name", want: image.ErrBadName},
			"volume traversal": {name: e.ref, vols: []mesosv1.Volume{{HostPath: "../x", ContainerPath: "/x"}}, msg: "must not contain .."},
			"volume mode":      {name: e.ref, vols: []mesosv1.Volume{{HostPath: "/tmp", ContainerPath: "/x", Mode: "RX"}}, msg: "RW or RO"},
			"volume root":      {name: e.ref, vols: []mesosv1.Volume{{HostPath: "/tmp", ContainerPath: "/"}}, msg: "whole file system"},
			"volume missing":   {name: e.ref, vols: []mesosv1.Volume{{HostPath: "/nonexistent/dir", ContainerPath: "/x"}}, msg: "no such file"},
		}
		for name, tc := range cases {
			t.Run(name, func(t *testing.T) {
				sp := imageSpec(t, tc.name, shell("true"))
				sp.Task.Container.Volumes = tc.vols
				err := c.Launch(ctx(t), sp)
				t.Cleanup(func() { _ = c.Destroy(ctx(t), sp.ContainerID) })
				if err == nil {
					t.Fatal("launch succeeded")
				}
				if tc.want != nil && !errors.Is(err, tc.want) {
					t.Errorf("error %v, want %v", err, tc.want)
				}
				if tc.msg != "" && !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("error %q lacks %q", err, tc.msg)
				}
			})
		}
	})

	t.Run("no leaked mounts", func(t *testing.T) {
		sp := imageSpec(t, e.ref, shell("touch $MESOS_SANDBOX/ready; exec sleep 1000"))
		launch(t, c, sp)
		waitFile(t, filepath.Join(sp.Sandbox, "ready"))
		dir := c.px.ContainerDir(sp.ContainerID)
		if len(mountsUnder(t, dir)) == 0 {
			t.Fatal("the running container has no mounts under its state dir (test is blind)")
		}
		if err := c.Destroy(ctx(t), sp.ContainerID); err != nil {
			t.Fatal(err)
		}
		if m := mountsUnder(t, dir); len(m) > 0 {
			t.Errorf("mounts left after Destroy:\n%s", strings.Join(m, "\n"))
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("state dir (upper dir) left: %v", err)
		}

		// An orphan found by a restarted runtime goes the same way.
		orphan := imageSpec(t, e.ref, shell("touch $MESOS_SANDBOX/ready; exec sleep 1000"))
		launch(t, c, orphan)
		waitFile(t, filepath.Join(orphan.Sandbox, "ready"))
		c2, err := New(Config{StateDir: c.StateDir(), CgroupsRoot: c.Config().CgroupsRoot}, Deps{Images: e.store})
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		if _, err := c2.Recover(ctx(t), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Wait(ctx(t), orphan.ContainerID); err != nil {
			t.Fatal(err)
		}
		odir := c.px.ContainerDir(orphan.ContainerID)
		if m := mountsUnder(t, odir); len(m) > 0 {
			t.Errorf("mounts left after orphan cleanup:\n%s", strings.Join(m, "\n"))
		}
		if _, err := os.Stat(odir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("orphan state dir left: %v", err)
		}
	})
}

// imageRuntime is the runtime with the conformance suite's tasks put into
// the test image (the suite's specs carry no ContainerInfo).
type imageRuntime struct {
	*Containerizer
	image string
}

func (r imageRuntime) Launch(ctx context.Context, spec containerizer.LaunchSpec) error {
	spec.Task.Container = &mesosv1.ContainerInfo{Type: "MESOS", Mesos: &mesosv1.MesosInfo{
		Image: &mesosv1.Image{Type: "DOCKER", Docker: &mesosv1.DockerImage{Name: r.image}}}}
	return r.Containerizer.Launch(ctx, spec)
}

// TestConformanceImage runs the conformance suite with every task in an
// image pulled from a registry (tasksh as /bin/sh; no other programs).
func TestConformanceImage(t *testing.T) {
	e := newImageEnv(t)
	// No working directory: tasks start in the sandbox, as the suite wants.
	ref := e.reg.Push(t, "plain:1", imagetest.ShellImage(t, imagetest.Tasksh(t), v1.Config{Env: []string{"PATH=/bin"}}))
	containerizertest.Run(t,
		func(t *testing.T) containerizer.Containerizer {
			c, err := New(Config{StateDir: t.TempDir(), CgroupsRoot: testRoot(t)}, Deps{Images: e.store})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			return imageRuntime{c, ref}
		},
		containerizertest.Restart(func(t *testing.T, old containerizer.Containerizer) containerizer.Containerizer {
			o := old.(imageRuntime)
			c, err := New(Config{StateDir: o.StateDir(), CgroupsRoot: o.Config().CgroupsRoot}, Deps{Images: e.store})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			return imageRuntime{c, ref}
		}),
		containerizertest.SandboxPath(posix.SandboxMountPoint),
		containerizertest.RuntimeEnv("HOME", "PATH"),
		containerizertest.Timeout(60*time.Second),
	)
}

// TestVolumesWithoutImage: without an image, an absolute container_path is
// the host path (hidden by the volume only inside the container), and a
// relative one is in the sandbox.
func TestVolumesWithoutImage(t *testing.T) {
	requireIsolation(t)
	c := newMesos(t, Config{StateDir: t.TempDir(), CgroupsRoot: testRoot(t)})
	src, ro, target := t.TempDir(), t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(target, "hidden"), []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ro, "in"), []byte("ro-content"), 0o644); err != nil {
		t.Fatal(err)
	}
	sp := spec(t, `echo in-volume > `+target+`/out; ls `+target+` > seen; cat sub/in; echo; (echo x > sub/new) 2>/dev/null || echo ro-refused`)
	sp.Task.Container = &mesosv1.ContainerInfo{Type: "MESOS", Volumes: []mesosv1.Volume{
		{HostPath: src, ContainerPath: target, Mode: "RW"},
		{HostPath: ro, ContainerPath: "sub", Mode: "RO"},
	}}
	launch(t, c, sp)
	if term := wait(t, c, sp.ContainerID); !term.Success() {
		t.Fatalf("task: %+v, stderr %s", term, readFile(t, sp.Sandbox, "stderr"))
	}
	if b, err := os.ReadFile(filepath.Join(src, "out")); err != nil || string(b) != "in-volume\n" {
		t.Errorf("RW volume: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(target, "out")); err == nil {
		t.Error("the write reached the host path under the volume")
	}
	if seen := readFile(t, sp.Sandbox, "seen"); strings.Contains(seen, "hidden") {
		t.Errorf("the container saw the host dir's own files: %q", seen)
	}
	if out := readFile(t, sp.Sandbox, "stdout"); !strings.Contains(out, "ro-content") || !strings.Contains(out, "ro-refused") {
		t.Errorf("stdout %q", out)
	}
	// A missing host target is refused before anything starts.
	bad := spec(t, "true")
	bad.Task.Container = &mesosv1.ContainerInfo{Type: "MESOS", Volumes: []mesosv1.Volume{{HostPath: src, ContainerPath: "/nonexistent/x"}}}
	if err := c.Launch(ctx(t), bad); err == nil || !strings.Contains(err.Error(), "a path on this agent") {
		t.Errorf("missing target: %v", err)
	}
}
