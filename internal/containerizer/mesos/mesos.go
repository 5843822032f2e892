// Package mesos is the "mesos" containerizer (Mesos' universal containerizer,
// first slice): tasks run as processes isolated by Linux namespaces and
// cgroups.
//
// It is the posix runtime with isolation switched on, not a copy of it: the
// same re-exec shim (and warm pool) supervises each task and records its pids
// and end, so tasks survive an agent restart; here every shim is started in
// new pid, mount (private propagation), UTS and IPC namespaces and is pid 1
// there, the task being its child, and before starting the task the shim
// joins the container's cgroup (<hierarchy>/<CgroupsRoot>/<container id>),
// so the task is born inside its limits. The network stays the host's; when
// the agent runs a DNS server for its tasks, Deps.ResolvConf gives every
// container a resolv.conf naming it, mounted over /etc/resolv.conf in the
// container's mount namespace (the host's file is untouched).
//
// A task may run in a Docker/OCI image (ContainerInfo.mesos.image), which
// Deps.Images provisions into a shared layer cache before the launch; the
// shim then mounts the image's overlay rootfs and the volumes in its own
// mount namespace and starts the task chrooted into it (posix/rootfs.go).
// image.go holds the pure rules: how the task's command, environment, user
// and working directory combine with the image's, and what the volumes
// become.
//
// Limits: cpu shares 1024×cpus (cgroup v2: the equivalent cpu.weight), an
// optional CFS quota (Config.EnableCFS), a memory limit of mem MB (the OOM
// killer ends the task with REASON_CONTAINER_LIMITATION_MEMORY), an optional
// pids limit, and a disk quota checked by polling the sandbox's usage
// (Config.EnforceDiskQuota, REASON_CONTAINER_LIMITATION_DISK), as Mesos'
// disk/du isolator does. Both cgroup v1 and v2 are supported (cgroup.go).
//
// It needs root and a cgroup file system; Available says whether the host
// has them, and the agent falls back to posix when not. It knows nothing of
// task states or frameworks, and must not import the agent.
package mesos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/internal/containerizer/posix"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Name is the runtime name agents advertise.
const Name = "mesos"

// DefaultCgroupsRoot is the default parent cgroup of the containers.
const DefaultCgroupsRoot = "basalt"

// DefaultDiskWatchInterval is how often sandboxes are measured (Mesos'
// --container_disk_watch_interval).
const DefaultDiskWatchInterval = 15 * time.Second

// limitationFile records, in a container's state directory, a limit that
// ended the container (so that the reason survives an agent restart).
const limitationFile = "limitation.json"

// Config configures a mesos containerizer.
type Config struct {
	// StateDir holds one directory per container (e.g.
	// <work_dir>/containers/mesos); it must survive agent restarts.
	StateDir string
	// CgroupsRoot is the parent cgroup of the containers, relative to each
	// hierarchy. Agents sharing a host need different roots. Default
	// DefaultCgroupsRoot.
	CgroupsRoot string
	// EnableCFS also caps each container's CPU time at its cpus with a CFS
	// quota (Mesos' --cgroups_enable_cfs); otherwise cpus are only shares.
	EnableCFS bool
	// PidsLimit caps the number of processes (threads) per container; 0
	// means no limit.
	PidsLimit int64
	// EnforceDiskQuota kills a container whose sandbox outgrows its disk
	// resource (Mesos' --enforce_container_disk_quota).
	EnforceDiskQuota bool
	// DiskWatchInterval is how often sandboxes are measured when the quota
	// is enforced. Default DefaultDiskWatchInterval.
	DiskWatchInterval time.Duration
	// WarmShims, ShimCommand and StartTimeout are as in posix.Config.
	WarmShims    int
	ShimCommand  []string
	StartTimeout time.Duration
}

// Validate reports every problem of the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.StateDir == "" || !filepath.IsAbs(c.StateDir) {
		errs = append(errs, fmt.Errorf("mesos containerizer: state dir %q must be an absolute path", c.StateDir))
	}
	if r := c.CgroupsRoot; r != "" && (filepath.IsAbs(r) || r != filepath.Clean(r) || strings.HasPrefix(r, "..")) {
		errs = append(errs, fmt.Errorf("mesos containerizer: cgroups root %q must be a clean relative path", r))
	}
	if c.PidsLimit < 0 {
		errs = append(errs, errors.New("mesos containerizer: negative pids limit"))
	}
	if c.DiskWatchInterval < 0 {
		errs = append(errs, errors.New("mesos containerizer: negative disk watch interval"))
	}
	return errors.Join(errs...)
}

// Deps are the collaborators of a Containerizer.
type Deps struct {
	Logger *slog.Logger // nil: discard
	// Images provisions container images (nil: tasks with an image fail).
	Images Images
	// ResolvConf, when set, returns the /etc/resolv.conf of a container
	// about to launch (the agent's: its DNS server and the host's search
	// list); nil leaves containers with the host's.
	ResolvConf func() ([]byte, error)
}

// Containerizer is the mesos runtime. It implements containerizer.Containerizer.
type Containerizer struct {
	cfg        Config
	log        *slog.Logger
	px         *posix.Containerizer
	images     Images
	resolvConf func() ([]byte, error)

	cgOnce sync.Once
	cg     *cgroupHost
	cgErr  error

	mu       sync.Mutex
	watchers map[string]context.CancelFunc // running containers' disk watchers
	closed   bool
	wg       sync.WaitGroup
}

var _ containerizer.Containerizer = (*Containerizer)(nil)

// New returns a mesos containerizer. It does no I/O: the cgroup file system
// is looked at on first use.
func New(cfg Config, deps Deps) (*Containerizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.CgroupsRoot == "" {
		cfg.CgroupsRoot = DefaultCgroupsRoot
	}
	if cfg.DiskWatchInterval == 0 {
		cfg.DiskWatchInterval = DefaultDiskWatchInterval
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	px, err := posix.New(posix.Config{
		StateDir: cfg.StateDir, ShimCommand: cfg.ShimCommand, StartTimeout: cfg.StartTimeout,
		WarmShims: cfg.WarmShims, Namespaces: true,
	}, posix.Deps{Logger: log.With("runtime", Name)})
	if err != nil {
		return nil, fmt.Errorf("mesos containerizer: %w", err)
	}
	return &Containerizer{
		cfg:        cfg,
		log:        log.With("component", "containerizer", "runtime", Name),
		px:         px,
		images:     deps.Images,
		resolvConf: deps.ResolvConf,
		watchers:   map[string]context.CancelFunc{},
	}, nil
}

// Available reports whether this host can run the mesos runtime (root and a
// usable cgroup file system), and which cgroup version it would use.
func Available() (cgroupVersion string, err error) {
	if os.Geteuid() != 0 {
		return "", errors.New("the mesos runtime needs root (namespaces and cgroups)")
	}
	h, err := detectCgroups(DefaultCgroupsRoot)
	if err != nil {
		return "", err
	}
	return h.Version(), nil
}

// Name returns "mesos".
func (c *Containerizer) Name() string { return Name }

// StateDir returns the directory holding the containers' state.
func (c *Containerizer) StateDir() string { return c.cfg.StateDir }

// Config returns the configuration in effect (defaults filled in).
func (c *Containerizer) Config() Config { return c.cfg }

func (c *Containerizer) cgroups() (*cgroupHost, error) {
	c.cgOnce.Do(func() {
		if os.Geteuid() != 0 {
			c.cgErr = errors.New("the mesos runtime needs root")
			return
		}
		c.cg, c.cgErr = detectCgroups(c.cfg.CgroupsRoot)
	})
	return c.cg, c.cgErr
}

// CgroupVersion is "v1" or "v2", or "" when the host has no usable cgroups.
func (c *Containerizer) CgroupVersion() string {
	if h, err := c.cgroups(); err == nil {
		return h.Version()
	}
	return ""
}

// validID rejects ids that are not a single, non-hidden path element (the
// id names a cgroup and a directory).
func validID(id string) error {
	if id == "" || strings.HasPrefix(id, ".") || strings.ContainsAny(id, "/\x00") {
		return fmt.Errorf("invalid container id %q", id)
	}
	return nil
}

// Launch provisions the container's image (if any), creates its cgroup with
// its limits, then starts its shim, which mounts the image and volumes and
// joins the cgroup before starting the task.
func (c *Containerizer) Launch(ctx context.Context, spec containerizer.LaunchSpec) error {
	id := spec.ContainerID
	if err := validID(id); err != nil {
		return fmt.Errorf("launch container: %w", err)
	}
	cg, err := c.cgroups()
	if err != nil {
		return fmt.Errorf("launch container %s: %w", id, err)
	}
	if _, err := os.Stat(c.px.ContainerDir(id)); err == nil {
		return fmt.Errorf("launch container %s: already exists", id)
	}
	spec, rootfs, mounts, err := c.prepare(ctx, spec)
	if err != nil {
		return fmt.Errorf("launch container %s: %w", id, err)
	}
	var resolv []byte
	if c.resolvConf != nil {
		if resolv, err = c.resolvConf(); err != nil {
			return fmt.Errorf("launch container %s: resolv.conf: %w", id, err)
		}
	}
	procs, err := cg.Create(id, limits{
		CPUs: spec.CPUs, CFS: c.cfg.EnableCFS, MemBytes: uint64(spec.MemMB * (1 << 20)), PidsLimit: c.cfg.PidsLimit,
	})
	if err != nil {
		return fmt.Errorf("launch container %s: %w", id, err)
	}
	iso := posix.Isolation{Hostname: hostname(spec), CgroupProcs: procs, Rootfs: rootfs, Mounts: mounts, ResolvConf: resolv}
	if err := c.px.LaunchIsolated(ctx, spec, iso); err != nil {
		return err // the container exists and Wait reports the failure; Destroy removes the cgroup
	}
	c.watch(id, spec.Sandbox, spec.DiskMB)
	return nil
}

// prepare provisions the task's image and plans its volumes: the spec to
// run (command, environment and user adapted to the image), the rootfs (nil
// without an image) and the mounts.
func (c *Containerizer) prepare(ctx context.Context, spec containerizer.LaunchSpec) (containerizer.LaunchSpec, *posix.Rootfs, []posix.Mount, error) {
	img := imageOf(spec)
	var vols []mesosv1.Volume
	if ci := containerOf(spec); ci != nil {
		vols = ci.Volumes
	}
	mounts, err := planVolumes(vols, img != nil)
	if err != nil {
		return spec, nil, nil, fmt.Errorf("invalid volumes: %w", err)
	}
	for _, m := range mounts {
		if !m.SourceInSandbox {
			if _, err := os.Stat(m.Source); err != nil {
				return spec, nil, nil, fmt.Errorf("volume host_path %s: %w", m.Source, err)
			}
		}
		if img == nil && !m.TargetInSandbox {
			if _, err := os.Stat(m.Target); err != nil {
				return spec, nil, nil, fmt.Errorf("volume container_path %s (a path on this agent for a task without an image): %w", m.Target, err)
			}
		}
	}
	if img == nil {
		return spec, nil, mounts, nil
	}
	if c.images == nil {
		return spec, nil, nil, errors.New("container images are not enabled on this agent")
	}
	req, err := imageRequest(img, spec.Sandbox)
	if err != nil {
		return spec, nil, nil, err
	}
	got, err := c.images.Get(ctx, req)
	if err != nil {
		return spec, nil, nil, fmt.Errorf("provision image: %w", err)
	}
	spec, rootfs, err := planImage(spec, got)
	if err != nil {
		return spec, nil, nil, err
	}
	return spec, rootfs, mounts, nil
}

// hostname is the container's: its ContainerInfo.hostname, else the host's.
// With host networking the task's name must resolve as the agent's does (as
// in Mesos, where a task without its own network keeps the agent's name); the
// UTS namespace still keeps a task's sethostname from reaching the host.
func hostname(spec containerizer.LaunchSpec) string {
	if ci := spec.Task.Container; ci != nil && ci.Hostname != "" {
		return truncate(ci.Hostname, 64)
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return truncate(spec.ContainerID, 64)
	}
	return h
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// watch starts the container's disk watcher when the quota is enforced.
func (c *Containerizer) watch(id, sandbox string, diskMB float64) {
	if !c.cfg.EnforceDiskQuota || diskMB <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if _, ok := c.watchers[id]; ok {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.watchers[id] = cancel
	c.wg.Go(func() {
		defer c.unwatch(id)
		c.watchDisk(ctx, id, sandbox, uint64(diskMB*(1<<20)))
	})
}

func (c *Containerizer) unwatch(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cancel, ok := c.watchers[id]; ok {
		cancel()
		delete(c.watchers, id)
	}
}

// watchDisk measures the sandbox every DiskWatchInterval until the container
// ends, and stops the container when it uses more than quota bytes.
func (c *Containerizer) watchDisk(ctx context.Context, id, sandbox string, quota uint64) {
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		_, _ = c.px.Wait(ctx, id)
	}()
	t := time.NewTicker(c.cfg.DiskWatchInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ended:
			return
		case <-t.C:
		}
		used, err := diskUsage(ctx, sandbox)
		if err != nil {
			c.log.Warn("measure sandbox", "container_id", id, "error", err)
			continue
		}
		if used <= quota {
			continue
		}
		msg := fmt.Sprintf("Disk usage (%s) exceeds quota (%s)", mib(used), mib(quota))
		if err := c.recordLimitation(id, mesosv1.ReasonContainerLimitationDisk, msg); err != nil {
			c.log.Warn("record disk limitation", "container_id", id, "error", err)
		}
		c.log.Info("container over its disk quota; stopping it", "container_id", id, "used", used, "quota", quota)
		if err := c.px.Stop(id); err != nil {
			c.log.Warn("stop container over its disk quota", "container_id", id, "error", err)
		}
		return
	}
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

// limitation is the content of limitationFile.
type limitation struct {
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

func (c *Containerizer) recordLimitation(id, reason, msg string) error {
	b, err := json.Marshal(limitation{Reason: reason, Message: msg})
	if err != nil {
		return err
	}
	dir := c.px.ContainerDir(id)
	tmp := filepath.Join(dir, limitationFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, limitationFile))
}

// annotate gives a termination the limitation that caused it: a recorded
// one (disk), else an OOM kill in the container's memory cgroup, which is
// then recorded so that later calls (and a restarted agent) agree.
func (c *Containerizer) annotate(id string, term containerizer.Termination) containerizer.Termination {
	if term.Killed || term.Reason == mesosv1.ReasonContainerLaunchFailed {
		return term
	}
	var l limitation
	if b, err := os.ReadFile(filepath.Join(c.px.ContainerDir(id), limitationFile)); err == nil && json.Unmarshal(b, &l) == nil && l.Reason != "" {
		term.Reason = l.Reason
		term.Message = l.Message + "; " + term.Message
		return term
	}
	cg, err := c.cgroups()
	if err != nil {
		return term
	}
	if n, err := cg.OOMKills(id); err == nil && n > 0 {
		msg := "Memory limit exceeded: the kernel's OOM killer ended the task"
		if err := c.recordLimitation(id, mesosv1.ReasonContainerLimitationMemory, msg); err != nil && !errors.Is(err, fs.ErrNotExist) {
			c.log.Warn("record memory limitation", "container_id", id, "error", err)
		}
		term.Reason = mesosv1.ReasonContainerLimitationMemory
		term.Message = msg + "; " + term.Message
	}
	return term
}

// Wait blocks until the container ends and returns how it ended, with the
// limitation that ended it if any.
func (c *Containerizer) Wait(ctx context.Context, containerID string) (containerizer.Termination, error) {
	term, err := c.px.Wait(ctx, containerID)
	if err != nil {
		return term, err
	}
	return c.annotate(containerID, term), nil
}

// Kill stops the container: SIGTERM to the task, SIGKILL after grace.
func (c *Containerizer) Kill(ctx context.Context, containerID string, grace time.Duration) error {
	return c.px.Kill(ctx, containerID, grace)
}

// Exec runs a command inside a running container: its shim, pid 1 of the
// container's namespaces and a member of its cgroups, starts it beside the
// task (see posix's exec.go), so the command sees what the task sees.
func (c *Containerizer) Exec(ctx context.Context, containerID string, spec containerizer.ExecSpec) (containerizer.ExecProcess, error) {
	return c.px.Exec(ctx, containerID, spec)
}

var _ containerizer.Execer = (*Containerizer)(nil)

// Usage reports the container's cgroup counters (CPU time, throttling,
// memory), its sandbox's disk usage and its limits.
func (c *Containerizer) Usage(ctx context.Context, containerID string) (containerizer.Usage, error) {
	u, err := c.px.Usage(ctx, containerID)
	if err != nil {
		return u, err
	}
	cg, err := c.cgroups()
	if err != nil {
		return u, fmt.Errorf("usage of container %s: %w", containerID, err)
	}
	s, err := cg.Stats(containerID)
	if err != nil {
		return u, fmt.Errorf("usage of container %s: %w", containerID, err)
	}
	u.CPUsUserSeconds, u.CPUsSystemSeconds = s.UserSeconds, s.SystemSeconds
	u.CPUsNrPeriods, u.CPUsNrThrottled, u.CPUsThrottledSeconds = s.NrPeriods, s.NrThrottled, s.ThrottledSeconds
	u.MemRSSBytes, u.MemTotalBytes = s.MemRSSBytes, s.MemTotalBytes
	return u, nil
}

// Recover re-attaches to the containers in ids, destroys the others found in
// the state directory, and removes the cgroups of every container that is not
// running any more (Exited ones keep theirs, for their OOM record, until
// Destroy).
func (c *Containerizer) Recover(ctx context.Context, ids []string) (map[string]containerizer.Recovered, error) {
	known := map[string]bool{}
	if ents, err := os.ReadDir(c.cfg.StateDir); err == nil {
		for _, e := range ents {
			if e.IsDir() && validID(e.Name()) == nil {
				known[e.Name()] = true
			}
		}
	}
	for _, id := range ids {
		known[id] = true
	}
	got, err := c.px.Recover(ctx, ids)
	if err != nil {
		return nil, err
	}
	if t, ok := c.images.(interface{ RemoveTemp() error }); ok {
		// What an agent killed while extracting a layer left behind.
		if err := t.RemoveTemp(); err != nil {
			c.log.Warn("remove interrupted image extractions", "error", err)
		}
	}
	cg, cgErr := c.cgroups()
	for id := range known {
		r, wanted := got[id]
		switch {
		case wanted && r.State == containerizer.Running:
			if sp, err := c.sandboxOf(id); err == nil {
				c.watch(id, sp.Sandbox, sp.DiskMB)
			}
		case wanted && r.State == containerizer.Exited:
			r.Termination = c.annotate(id, r.Termination)
			got[id] = r
		default: // lost, or an orphan the posix layer destroyed
			if cgErr == nil {
				if err := cg.Remove(id, 10*time.Second); err != nil {
					c.log.Warn("remove cgroup of an ended container", "container_id", id, "error", err)
				}
			}
		}
	}
	return got, nil
}

// sandboxSpec is the part of the posix launch record the watcher needs.
type sandboxSpec struct {
	Sandbox string  `json:"dir"`
	DiskMB  float64 `json:"disk_mb"`
}

func (c *Containerizer) sandboxOf(id string) (sandboxSpec, error) {
	var s sandboxSpec
	b, err := os.ReadFile(filepath.Join(c.px.ContainerDir(id), "launch.json"))
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}

// Destroy kills the container if it still runs, removes its state and its
// cgroup, and makes sure no process of it is left.
func (c *Containerizer) Destroy(ctx context.Context, containerID string) error {
	if err := validID(containerID); err != nil {
		return fmt.Errorf("destroy container: %w", err)
	}
	perr := c.px.Destroy(ctx, containerID)
	c.unwatch(containerID)
	cg, err := c.cgroups()
	if err != nil || !cg.Exists(containerID) {
		return perr
	}
	if perr != nil && !errors.Is(perr, containerizer.ErrUnknownContainer) {
		return perr
	}
	if err := cg.Remove(containerID, 10*time.Second); err != nil {
		return fmt.Errorf("destroy container %s: %w", containerID, err)
	}
	return nil
}

// Close stops the disk watchers and the idle warm shims. Containers keep
// running (they outlive the agent).
func (c *Containerizer) Close() error {
	c.mu.Lock()
	c.closed = true
	for _, cancel := range c.watchers {
		cancel()
	}
	c.mu.Unlock()
	c.wg.Wait()
	return c.px.Close()
}

// diskUsage is the space the files under dir take on disk (allocated
// blocks, as du counts them), not following symlinks or other mounts.
func diskUsage(ctx context.Context, dir string) (uint64, error) {
	var root syscall.Stat_t
	if err := syscall.Lstat(dir, &root); err != nil {
		return 0, err
	}
	var n uint64
	seen := map[uint64]bool{} // hard links count once
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // vanished meanwhile or unreadable: skip
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var st syscall.Stat_t
		if syscall.Lstat(p, &st) != nil {
			return nil
		}
		if st.Dev != root.Dev {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if st.Nlink > 1 && !d.IsDir() {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		n += uint64(st.Blocks) * 512
		return nil
	})
	return n, err
}

// RemoveCgroupsRoot kills every process in the containers' cgroups under
// root and removes them and root itself: for tests, and for an operator
// retiring an agent whose state directory is gone (Recover only cleans the
// cgroups of containers it has state for, so that agents sharing a root do
// not destroy each other's containers).
func RemoveCgroupsRoot(root string, timeout time.Duration) error {
	h, err := detectCgroups(root)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range h.List() {
		errs = append(errs, h.Remove(id, timeout))
	}
	for _, d := range h.dirs("") {
		if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}
