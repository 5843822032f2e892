package posix

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Container images and volumes, for the mesos runtime (with
// Config.Namespaces).
//
// The shim, pid 1 of its own pid namespace and alone in its own mount
// namespace (private propagation), builds the container's file system there
// before it starts the task: an overlay of the image's layers (upper and work
// directories in the container's state directory) with a fresh /proc, a
// read-only /sys, a minimal /dev, the sandbox at /mnt/mesos/sandbox, the
// host's hosts and resolv.conf read-only (or the container's own resolv.conf,
// Isolation.ResolvConf), and the volumes. The task is then started chrooted
// into it. Without an image, the container's own resolv.conf is mounted over
// the host's /etc/resolv.conf, again only in the container's namespace. The
// shim itself stays in the host's view of the file system, so it
// still writes its records to the state directory (and can serve anything it
// listens on there). The mounts exist only in that namespace: they are gone
// when the container's last process is, so neither an agent crash nor a
// killed shim can leak them onto the host; Destroy then removes the upper
// directory with the rest of the state.
//
// Paths inside the image are resolved by rootJoin, which follows symlinks as
// the kernel would inside the chroot, so an image cannot make the shim (root
// on the host) mount or create anything outside the rootfs.

// SandboxMountPoint is where the sandbox appears inside an image's rootfs.
const SandboxMountPoint = "/mnt/mesos/sandbox"

// Rootfs is the image a task runs in.
type Rootfs struct {
	// Layers are the directories of the image's layers, bottom first.
	Layers []string `json:"layers"`
	// Workdir is the task's working directory inside the rootfs
	// (absolute; created if missing).
	Workdir string `json:"workdir"`
	// User runs the task: "" (root), a name, a uid, name:group or uid:gid,
	// looked up in the image's /etc/passwd and /etc/group.
	User string `json:"user,omitempty"`
}

// Mount is a bind mount made in the container's mount namespace before the
// task starts (a volume).
type Mount struct {
	// Source is an absolute host path, or with SourceInSandbox a path
	// relative to the sandbox (resolved inside it: a symlink there cannot
	// lead out).
	Source          string `json:"source"`
	SourceInSandbox bool   `json:"source_in_sandbox,omitempty"`
	// Target is an absolute path inside the rootfs when the container has
	// an image, else an absolute host path (as the container sees it,
	// which must exist), or with TargetInSandbox a path relative to the
	// sandbox.
	Target          string `json:"target"`
	TargetInSandbox bool   `json:"target_in_sandbox,omitempty"`
	ReadOnly        bool   `json:"read_only,omitempty"`
}

// rootfsDirs are the overlay's directories under a container's state dir.
func rootfsDirs(dir string) (upper, work, merged string) {
	base := filepath.Join(dir, "rootfs")
	return filepath.Join(base, "upper"), filepath.Join(base, "work"), filepath.Join(base, "merged")
}

// setupMounts builds the container's file system in the shim's mount
// namespace (see above), and points spec at it (Chroot, Dir, user, HOME).
func setupMounts(dir string, spec *shimSpec) error {
	sandbox := spec.Dir
	source := func(m Mount) (string, error) {
		if !m.SourceInSandbox {
			return m.Source, nil
		}
		return rootJoin(sandbox, m.Source)
	}
	if spec.ResolvConf != "" && !spec.Namespaces {
		return errors.New("a resolv.conf of the container's own needs the mesos runtime's namespaces")
	}
	if spec.Rootfs == nil {
		if spec.ResolvConf != "" {
			if err := bindResolvConf(spec.ResolvConf); err != nil {
				return err
			}
		}
		for _, m := range spec.Mounts {
			src, err := source(m)
			if err != nil {
				return fmt.Errorf("volume %s: %w", m.Source, err)
			}
			target, create := m.Target, false
			if m.TargetInSandbox {
				if target, err = rootJoin(sandbox, m.Target); err != nil {
					return fmt.Errorf("volume %s: %w", m.Target, err)
				}
				create = true
			}
			if err := bindMount(src, target, m.ReadOnly, create); err != nil {
				return fmt.Errorf("volume %s: %w", m.Target, err)
			}
		}
		return nil
	}
	if !spec.Namespaces {
		return errors.New("a container image needs the mesos runtime's namespaces")
	}
	rf := spec.Rootfs
	upper, work, merged := rootfsDirs(dir)
	for _, d := range []string{upper, work, merged} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("rootfs: %w", err)
		}
	}
	lower := make([]string, 0, len(rf.Layers))
	for i := len(rf.Layers) - 1; i >= 0; i-- { // overlay: top layer first
		l := rf.Layers[i]
		if strings.ContainsAny(l, ":,") {
			return fmt.Errorf("rootfs: layer directory %q has a ':' or ','", l)
		}
		lower = append(lower, l)
	}
	if len(lower) == 0 {
		empty := filepath.Join(dir, "rootfs", "empty")
		if err := os.MkdirAll(empty, 0o755); err != nil {
			return fmt.Errorf("rootfs: %w", err)
		}
		lower = append(lower, empty)
	}
	opts := "lowerdir=" + strings.Join(lower, ":") + ",upperdir=" + upper + ",workdir=" + work
	if len(opts) >= 4000 {
		return fmt.Errorf("rootfs: the image has too many layers (%d) for one overlay mount", len(rf.Layers))
	}
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		return fmt.Errorf("rootfs: mount overlay of %d layers: %w", len(rf.Layers), err)
	}
	if err := mountSpecial(merged); err != nil {
		return err
	}
	sb, err := rootJoin(merged, SandboxMountPoint)
	if err != nil {
		return fmt.Errorf("rootfs: %s: %w", SandboxMountPoint, err)
	}
	if err := bindMount(sandbox, sb, false, true); err != nil {
		return fmt.Errorf("rootfs: sandbox: %w", err)
	}
	for _, f := range []struct{ src, target string }{{"/etc/resolv.conf", "/etc/resolv.conf"}, {"/etc/hosts", "/etc/hosts"}} {
		if f.target == "/etc/resolv.conf" && spec.ResolvConf != "" {
			f.src = spec.ResolvConf
		}
		if _, err := os.Stat(f.src); err != nil {
			continue
		}
		if err := bindFileReplacing(merged, f.src, f.target); err != nil {
			return err
		}
	}
	for _, m := range spec.Mounts {
		src, err := source(m)
		if err != nil {
			return fmt.Errorf("volume %s: %w", m.Source, err)
		}
		target, err := rootJoin(merged, m.Target)
		if err != nil {
			return fmt.Errorf("volume %s: %w", m.Target, err)
		}
		if err := bindMount(src, target, m.ReadOnly, true); err != nil {
			return fmt.Errorf("volume %s: %w", m.Target, err)
		}
	}

	passwd, _ := readInRoot(merged, "/etc/passwd")
	group, _ := readInRoot(merged, "/etc/group")
	u, err := lookupUser(passwd, group, rf.User)
	if err != nil {
		return fmt.Errorf("user %q of the image: %w", rf.User, err)
	}
	spec.SetUser, spec.UID, spec.GID, spec.Groups = u.uid != 0 || u.gid != 0 || len(u.groups) > 0, u.uid, u.gid, u.groups
	if u.uid != 0 {
		if err := chownTree(sandbox, int(u.uid), int(u.gid)); err != nil {
			return fmt.Errorf("give the sandbox to uid %d: %w", u.uid, err)
		}
	}
	if !hasEnv(spec.Env, "HOME") {
		home := u.home
		if home == "" {
			home = "/"
		}
		spec.Env = append(spec.Env, "HOME="+home)
	}
	wd := path.Join("/", rf.Workdir)
	host, err := rootJoin(merged, wd)
	if err != nil {
		return fmt.Errorf("working directory %s: %w", wd, err)
	}
	if err := os.MkdirAll(host, 0o755); err != nil {
		return fmt.Errorf("working directory %s: %w", wd, err)
	}
	spec.Chroot, spec.Dir = merged, wd
	return nil
}

func hasEnv(env []string, key string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			return true
		}
	}
	return false
}

// mountSpecial mounts /proc (of the container's pid namespace), /sys
// (read-only) and a minimal /dev into the rootfs.
func mountSpecial(merged string) error {
	proc, err := mkdirInRoot(merged, "/proc")
	if err != nil {
		return err
	}
	if err := unix.Mount("proc", proc, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("rootfs: mount /proc: %w", err)
	}
	// /sys read-only, as Docker and Mesos give it (programs read cgroup
	// and device facts there).
	sys, err := mkdirInRoot(merged, "/sys")
	if err != nil {
		return err
	}
	if err := unix.Mount("sysfs", sys, "sysfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("rootfs: mount /sys: %w", err)
	}
	dev, err := mkdirInRoot(merged, "/dev")
	if err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_STRICTATIME, "mode=755,size=65536k"); err != nil {
		return fmt.Errorf("rootfs: mount /dev: %w", err)
	}
	for _, d := range []struct {
		name         string
		major, minor uint32
	}{{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}} {
		p := filepath.Join(dev, d.name)
		if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(d.major, d.minor))); err != nil {
			return fmt.Errorf("rootfs: /dev/%s: %w", d.name, err)
		}
		if err := os.Chmod(p, 0o666); err != nil { // past the umask
			return fmt.Errorf("rootfs: /dev/%s: %w", d.name, err)
		}
	}
	for _, d := range []string{"pts", "shm"} {
		if err := os.Mkdir(filepath.Join(dev, d), 0o755); err != nil {
			return fmt.Errorf("rootfs: /dev/%s: %w", d, err)
		}
	}
	if err := unix.Mount("devpts", filepath.Join(dev, "pts"), "devpts", unix.MS_NOSUID|unix.MS_NOEXEC,
		"newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return fmt.Errorf("rootfs: mount /dev/pts: %w", err)
	}
	if err := unix.Mount("shm", filepath.Join(dev, "shm"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC,
		"mode=1777,size=65536k"); err != nil {
		return fmt.Errorf("rootfs: mount /dev/shm: %w", err)
	}
	for name, target := range map[string]string{"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(target, filepath.Join(dev, name)); err != nil {
			return fmt.Errorf("rootfs: /dev/%s: %w", name, err)
		}
	}
	return nil
}

// bindMount bind-mounts src onto the host path target: a file onto a
// file, a directory onto a directory; create makes the target when missing.
func bindMount(src, target string, readOnly, create bool) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(target); errors.Is(err, fs.ErrNotExist) {
		if !create {
			return errors.New("mount point does not exist")
		}
		if fi.IsDir() {
			err = os.MkdirAll(target, 0o755)
		} else if err = os.MkdirAll(filepath.Dir(target), 0o755); err == nil {
			err = os.WriteFile(target, nil, 0o644)
		}
		if err != nil {
			return err
		}
	}
	if err := unix.Mount(src, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s: %w", src, err)
	}
	if readOnly {
		if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("make read-only: %w", err)
		}
	}
	return nil
}

// bindResolvConf bind-mounts src read-only over the host's /etc/resolv.conf,
// in the shim's own mount namespace (the host's file is untouched). Where
// /etc/resolv.conf is a symlink (systemd-resolved's stub file, say), the
// mount covers its target, in this namespace only. A host without the file
// (or with a dangling link) has nothing to mount over: the task resolves as
// the host does, which the shim log says.
func bindResolvConf(src string) error {
	const f = "/etc/resolv.conf"
	if _, err := os.Stat(f); err != nil {
		fmt.Fprintf(os.Stderr, "no %s to mount the container's over (%v); the task resolves as the host does\n", f, err)
		return nil
	}
	if err := bindMount(src, f, true, false); err != nil {
		return fmt.Errorf("%s: %w", f, err)
	}
	return nil
}

// bindFileReplacing bind-mounts the host file src read-only at the path f
// in the rootfs, replacing whatever the image has there (a symlink included).
func bindFileReplacing(merged, src, f string) error {
	parent, err := rootJoin(merged, path.Dir(f))
	if err != nil {
		return fmt.Errorf("rootfs: %s: %w", f, err)
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("rootfs: %s: %w", f, err)
	}
	target := filepath.Join(parent, path.Base(f))
	if fi, err := os.Lstat(target); err == nil && !fi.Mode().IsRegular() {
		if err := os.RemoveAll(target); err != nil {
			return fmt.Errorf("rootfs: %s: %w", f, err)
		}
	}
	if err := bindMount(src, target, true, true); err != nil {
		return fmt.Errorf("rootfs: %s: %w", f, err)
	}
	return nil
}

// mkdirInRoot resolves p inside root and creates it.
func mkdirInRoot(root, p string) (string, error) {
	host, err := rootJoin(root, p)
	if err != nil {
		return "", fmt.Errorf("rootfs: %s: %w", p, err)
	}
	if err := os.MkdirAll(host, 0o755); err != nil {
		return "", fmt.Errorf("rootfs: %s: %w", p, err)
	}
	return host, nil
}

func readInRoot(root, p string) ([]byte, error) {
	host, err := rootJoin(root, p)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(host)
}

// rootJoin resolves the container path p inside root as the kernel would
// after chroot(root): symlinks (absolute ones relative to root) are
// followed, and ".." never climbs above root. The result is a host path
// under root; its last elements may not exist.
func rootJoin(root, p string) (string, error) {
	const maxLinks = 40
	links := 0
	var done []string // resolved elements, under root
	rest := strings.Split(path.Clean("/"+p), "/")
	for len(rest) > 0 {
		el := rest[0]
		rest = rest[1:]
		switch el {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		cur := filepath.Join(append([]string{root}, append(done, el)...)...)
		fi, err := os.Lstat(cur)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			done = append(done, el)
			continue
		}
		links++
		if links > maxLinks {
			return "", fmt.Errorf("too many levels of symbolic links in %s", p)
		}
		target, err := os.Readlink(cur)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			done = nil
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return filepath.Join(append([]string{root}, done...)...), nil
}

// imageUser is a user resolved in an image.
type imageUser struct {
	uid, gid uint32
	groups   []uint32
	home     string
}

// lookupUser resolves a user spec ("", name, uid, name:group, uid:gid)
// with the image's passwd and group files (either may be empty). A numeric
// uid need not be in passwd (then its gid is 0, as in Docker).
func lookupUser(passwd, group []byte, spec string) (imageUser, error) {
	if spec == "" {
		spec = "root"
	}
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	var u imageUser
	found := false
	for line := range strings.SplitSeq(string(passwd), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 7 {
			continue
		}
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		if f[0] == userPart || f[2] == userPart {
			u = imageUser{uid: uint32(uid), gid: uint32(gid), home: f[5]}
			found = true
			break
		}
	}
	if !found {
		n, err := strconv.ParseUint(userPart, 10, 32)
		switch {
		case err == nil:
			u = imageUser{uid: uint32(n)}
		case userPart == "root":
			u = imageUser{home: "/root"}
		default:
			return imageUser{}, fmt.Errorf("no user %q in the image's /etc/passwd", userPart)
		}
	}
	name := userPart
	for line := range strings.SplitSeq(string(group), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 4 {
			continue
		}
		gid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		if hasGroup && (f[0] == groupPart || f[2] == groupPart) {
			u.gid = uint32(gid)
		}
		for m := range strings.SplitSeq(f[3], ",") {
			if m != "" && m == name {
				u.groups = append(u.groups, uint32(gid))
			}
		}
	}
	if hasGroup {
		if n, err := strconv.ParseUint(groupPart, 10, 32); err == nil {
			u.gid = uint32(n)
		} else if !strings.Contains(string(group), groupPart+":") {
			return imageUser{}, fmt.Errorf("no group %q in the image's /etc/group", groupPart)
		}
	}
	return u, nil
}

// lookPathIn resolves an executable inside a rootfs as execvp would after
// chroot, returning its path as the container sees it.
func lookPathIn(root, name, dir string, env []string) (string, error) {
	if name == "" {
		return "", errors.New("empty executable name")
	}
	check := func(p string) error {
		host, err := rootJoin(root, p)
		if err != nil {
			return err
		}
		return checkExecutable(host)
	}
	if strings.Contains(name, "/") {
		p := name
		if !path.IsAbs(p) {
			p = path.Join(dir, p)
		}
		if err := check(p); err != nil {
			return "", fmt.Errorf("executable %s not found in the image: %w", p, err)
		}
		return p, nil
	}
	pathEnv := defaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathEnv = v
		}
	}
	for _, d := range strings.Split(pathEnv, ":") {
		if d == "" {
			d = "."
		}
		if !path.IsAbs(d) {
			d = path.Join(dir, d)
		}
		p := path.Join(d, name)
		if check(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("executable %q not found in the PATH %q of the image", name, pathEnv)
}
