// Package posix is the "posix" containerizer: tasks run as plain host
// processes, without namespaces, cgroups or images (Mesos' posix launcher).
//
// Each container is supervised by a shim, a re-exec of the agent's own binary
// (see MaybeRunShim), which starts the task in its own session, waits for it
// and records its pids and its end in Config.StateDir/<containerID>/. The
// shim does not depend on the agent process, so tasks survive an agent
// restart and their exit status is still known to the next agent (Recover).
// A few shims are started ahead of time and wait idle for their container
// (warm.go), so that a launch does not wait for the binary to start; Close
// stops the idle ones.
//
// It isolates nothing and enforces no resource limits; it must not be used
// where tasks are untrusted. It knows nothing of task states or frameworks.
package posix

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Name is the runtime name agents advertise.
const Name = "posix"

// Config configures a posix containerizer.
type Config struct {
	// StateDir holds one directory per container. It must survive agent
	// restarts (e.g. <work_dir>/containers/posix) and is created if missing.
	StateDir string
	// ShimCommand is the command that starts a shim (argv; the process is
	// recognised by MaybeRunShim through ShimEnv). Default: os.Executable().
	ShimCommand []string
	// StartTimeout bounds how long Launch waits for the shim to report that
	// the task started. Default 30 s.
	StartTimeout time.Duration
	// PollInterval is how often a recovered container is polled through /proc
	// when the kernel has no pidfd_open. Default 250 ms.
	PollInterval time.Duration
	// WarmShims is how many idle shims are kept started ahead of launches
	// (see warm.go); the pool is filled by Recover and after each Launch.
	// 0 means the default, DefaultWarmShims; negative disables warm shims.
	WarmShims int
	// Namespaces starts every shim in new pid, mount, UTS and IPC
	// namespaces (see isolate.go). It needs root. The mesos runtime sets it.
	Namespaces bool
}

// DefaultWarmShims is the default Config.WarmShims. One idle shim is not
// enough: the agent's binary takes 50-90 ms to start on a small host, longer
// than an idle cluster takes from one launch to the next, so the shim that
// replaced the last one used would often still be starting. With two, the
// claimed shim has had two launches' time to get ready. An idle shim costs
// about 5 MB of private memory (its ~25 MB RSS is mostly the binary's
// pages, shared with the agent).
const DefaultWarmShims = 2

// Validate reports every problem of the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.StateDir == "" {
		errs = append(errs, errors.New("posix containerizer: state dir is required"))
	} else if !filepath.IsAbs(c.StateDir) {
		errs = append(errs, fmt.Errorf("posix containerizer: state dir %q must be absolute", c.StateDir))
	}
	if c.StartTimeout < 0 {
		errs = append(errs, errors.New("posix containerizer: negative start timeout"))
	}
	if c.PollInterval < 0 {
		errs = append(errs, errors.New("posix containerizer: negative poll interval"))
	}
	return errors.Join(errs...)
}

// Deps are the collaborators of a Containerizer.
type Deps struct {
	Logger *slog.Logger // nil: discard
}

// Containerizer is the posix runtime. It implements containerizer.Containerizer.
type Containerizer struct {
	cfg Config
	log *slog.Logger

	mu         sync.Mutex
	containers map[string]*container

	warmMu       sync.Mutex
	warm         []*warmShim // idle shims, oldest first
	warmStarting bool        // a refill goroutine runs
	warmNew      string      // record of the shim being started, not yet in warm
	closed       bool        // Close was called: no more warm shims
	warmWG       sync.WaitGroup
}

var _ containerizer.Containerizer = (*Containerizer)(nil)

// container is one container this Containerizer launched or recovered.
type container struct {
	id   string
	dir  string
	spec shimSpec
	done chan struct{} // closed once term is set

	mu        sync.Mutex
	pids      pidsRecord
	term      containerizer.Termination
	killTimer *time.Timer
	killAt    time.Time
}

// New returns a posix containerizer. It does no I/O.
func New(cfg Config, deps Deps) (*Containerizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.ShimCommand) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("posix containerizer: find own executable for the shim: %w", err)
		}
		cfg.ShimCommand = []string{exe}
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 250 * time.Millisecond
	}
	if cfg.WarmShims == 0 {
		cfg.WarmShims = DefaultWarmShims
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Containerizer{
		cfg:        cfg,
		log:        log.With("component", "containerizer", "runtime", Name),
		containers: make(map[string]*container),
	}, nil
}

// Name returns "posix".
func (c *Containerizer) Name() string { return Name }

// StateDir returns the directory holding the containers' state.
func (c *Containerizer) StateDir() string { return c.cfg.StateDir }

// validID rejects container ids that are not a single path element.
func validID(id string) error {
	if id == "" || id == "." || id == ".." || id == warmDir || strings.ContainsAny(id, "/\x00") {
		return fmt.Errorf("invalid container id %q", id)
	}
	return nil
}

// Launch starts the task's shim and returns once the task runs or failed to
// start. A failed start leaves a container whose Wait reports the failure.
func (c *Containerizer) Launch(ctx context.Context, spec containerizer.LaunchSpec) error {
	return c.LaunchIsolated(ctx, spec, Isolation{})
}

// LaunchIsolated is Launch with the isolation the shim applies before it
// starts the task (see isolate.go).
func (c *Containerizer) LaunchIsolated(ctx context.Context, spec containerizer.LaunchSpec, iso Isolation) error {
	id := spec.ContainerID
	if err := validID(id); err != nil {
		return fmt.Errorf("launch container: %w", err)
	}
	began := time.Now()
	ss, err := c.shimSpec(spec)
	if err != nil {
		return fmt.Errorf("launch container %s: %w", id, err)
	}
	ss.Namespaces = c.cfg.Namespaces
	ss.Hostname = iso.Hostname
	ss.CgroupProcs = iso.CgroupProcs
	ss.Rootfs, ss.Mounts = iso.Rootfs, iso.Mounts
	if (ss.Rootfs != nil || len(ss.Mounts) > 0 || iso.ResolvConf != nil) && !c.cfg.Namespaces {
		return fmt.Errorf("launch container %s: images, volumes and a resolv.conf of its own need the mesos runtime", id)
	}
	c.mu.Lock()
	_, exists := c.containers[id]
	c.mu.Unlock()
	if exists {
		return fmt.Errorf("launch container %s: already exists", id)
	}
	if err := os.MkdirAll(c.cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("launch container %s: %w", id, err)
	}
	dir := filepath.Join(c.cfg.StateDir, id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("launch container %s: %w", id, err)
	}
	if iso.ResolvConf != nil {
		// Readable by a task of any user: the bind mount makes the file
		// reachable at /etc/resolv.conf whatever its directory's mode.
		ss.ResolvConf = filepath.Join(dir, resolvConfFile)
		err := os.WriteFile(ss.ResolvConf, iso.ResolvConf, 0o644)
		if err == nil {
			err = os.Chmod(ss.ResolvConf, 0o644) // past the umask
		}
		if err != nil {
			return fmt.Errorf("launch container %s: %w", id, err)
		}
	}
	if err := writeJSONAtomic(dir, launchFile, ss); err != nil {
		return fmt.Errorf("launch container %s: %w", id, err)
	}

	ct := &container{id: id, dir: dir, spec: ss, done: make(chan struct{})}
	c.mu.Lock()
	if _, exists := c.containers[id]; exists {
		c.mu.Unlock()
		return fmt.Errorf("launch container %s: already exists", id)
	}
	c.containers[id] = ct
	c.mu.Unlock()

	var cmd *exec.Cmd
	var r *os.File
	shim := "cold"
	if w := c.takeWarm(); w != nil {
		shim = "warm"
		cmd, r, err = c.claim(w, id)
		if err != nil {
			c.log.Warn("warm shim unusable; starting a new one", "container_id", id, "error", err)
		}
	}
	if cmd == nil {
		shim = "cold"
		cmd, r, err = c.startShim(dir)
	}
	// The next warm shim starts once this launch is done, not competing
	// with it for the CPU.
	defer c.refillWarm()
	if err != nil {
		ct.finish(containerizer.Termination{
			ExitCode: -1, Reason: mesosv1.ReasonContainerLaunchFailed,
			Message: "Failed to launch container: " + err.Error(), FinishedAt: time.Now(),
		})
		return fmt.Errorf("launch container %s: %w", id, err)
	}
	go func() {
		_ = cmd.Wait() // reap the shim; its record says how the task ended
		c.finish(ct)
	}()

	msg, err := readReady(ctx, r, c.cfg.StartTimeout)
	if err != nil {
		// The shim is stuck or gone: make sure no task is left behind.
		_ = cmd.Process.Kill()
		if pids, perr := readPids(dir); perr == nil && alive(pids.TaskPID, pids.TaskStart) {
			killSession(pids.TaskPID, syscall.SIGKILL)
		}
		return fmt.Errorf("launch container %s: %w%s", id, err, shimLogTail(dir))
	}
	if msg.Error != "" {
		return fmt.Errorf("launch container %s: %s", id, msg.Error)
	}
	if pids, err := readPids(dir); err == nil {
		ct.mu.Lock()
		ct.pids = pids
		ct.mu.Unlock()
	}
	c.log.Info("container launched", "container_id", id, "pid", msg.TaskPID, "shim", shim,
		"duration", time.Since(began).Round(10*time.Microsecond))
	return nil
}

// startShim starts the shim for the container in dir, in a new session,
// with no pipe to the agent but the readiness pipe it returns.
func (c *Containerizer) startShim(dir string) (*exec.Cmd, *os.File, error) {
	logf, err := os.OpenFile(filepath.Join(dir, shimLogFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open shim log: %w", err)
	}
	defer logf.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("readiness pipe: %w", err)
	}
	defer w.Close()
	cmd := &exec.Cmd{
		Path: c.cfg.ShimCommand[0],
		Args: c.cfg.ShimCommand,
		// One P is plenty for a process that mostly waits; it keeps
		// each shim to a few threads and a few MB.
		Env:         []string{ShimEnv + "=" + dir, "GOMAXPROCS=1"},
		Dir:         dir,
		Stdout:      logf,
		Stderr:      logf,
		ExtraFiles:  []*os.File{w}, // readyFD
		SysProcAttr: c.shimAttr(),
	}
	if err := cmd.Start(); err != nil {
		r.Close()
		return nil, nil, fmt.Errorf("start shim: %w", err)
	}
	return cmd, r, nil
}

// readReady reads the shim's readiness message and closes r.
func readReady(ctx context.Context, r *os.File, timeout time.Duration) (readyMsg, error) {
	defer r.Close()
	_ = r.SetReadDeadline(time.Now().Add(timeout))
	stop := context.AfterFunc(ctx, func() { _ = r.SetReadDeadline(time.Now()) })
	defer stop()
	line, err := bufio.NewReader(io.LimitReader(r, 64<<10)).ReadBytes('\n')
	if err != nil {
		if ctx.Err() != nil {
			return readyMsg{}, fmt.Errorf("wait for shim: %w", ctx.Err())
		}
		if errors.Is(err, io.EOF) {
			return readyMsg{}, errors.New("shim exited before starting the task")
		}
		return readyMsg{}, fmt.Errorf("wait for shim: %w", err)
	}
	var m readyMsg
	if err := json.Unmarshal(line, &m); err != nil {
		return readyMsg{}, fmt.Errorf("shim readiness message: %w", err)
	}
	return m, nil
}

// shimLogTail returns the end of the shim's log as ": <text>", or "".
func shimLogTail(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, shimLogFile))
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 512 {
		b = b[len(b)-512:]
	}
	return ": " + strings.TrimSpace(string(b))
}

// shimSpec turns a LaunchSpec into what the shim runs.
func (c *Containerizer) shimSpec(spec containerizer.LaunchSpec) (shimSpec, error) {
	if !filepath.IsAbs(spec.Sandbox) {
		return shimSpec{}, fmt.Errorf("sandbox %q must be an absolute path", spec.Sandbox)
	}
	cmd := spec.Task.Command
	if cmd == nil && spec.Task.Executor != nil {
		cmd = spec.Task.Executor.Command
	}
	if cmd == nil {
		return shimSpec{}, errors.New("task has no command")
	}
	ss := shimSpec{
		ContainerID: spec.ContainerID,
		Env:         append([]string{}, spec.Env...),
		Dir:         spec.Sandbox,
		Stdout:      filepath.Join(spec.Sandbox, "stdout"),
		Stderr:      filepath.Join(spec.Sandbox, "stderr"),
		CPUs:        spec.CPUs,
		MemMB:       spec.MemMB,
		DiskMB:      spec.DiskMB,
	}
	if cmd.IsShell() {
		if cmd.Value == "" {
			return shimSpec{}, errors.New("shell command has no value")
		}
		ss.Path = "/bin/sh"
		ss.Args = []string{"sh", "-c", cmd.Value}
	} else {
		if cmd.Value == "" {
			return shimSpec{}, errors.New("command has no executable (value)")
		}
		ss.Path = cmd.Value
		ss.Args = cmd.Arguments
		if len(ss.Args) == 0 {
			ss.Args = []string{cmd.Value}
		}
	}
	set, uid, gid, groups, err := resolveUser(spec.User)
	if err != nil {
		return shimSpec{}, err
	}
	ss.SetUser, ss.UID, ss.GID, ss.Groups = set, uid, gid, groups
	if set {
		// As Mesos does, the task's user owns its sandbox (and what the
		// fetcher put there), so it can write its files and logs.
		if err := chownTree(spec.Sandbox, int(uid), int(gid)); err != nil {
			return shimSpec{}, fmt.Errorf("give the sandbox to user %q: %w", spec.User, err)
		}
	}
	return ss, nil
}

// chownTree changes the owner of dir and everything under it, without
// following symlinks.
func chownTree(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// resolveUser decides whether the task needs a user switch. Only root can
// switch; a non-root agent can run tasks only as itself.
func resolveUser(name string) (set bool, uid, gid uint32, groups []uint32, err error) {
	if name == "" {
		return false, 0, 0, nil, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return false, 0, 0, nil, fmt.Errorf("user %q: %w", name, err)
	}
	id, err1 := strconv.ParseUint(u.Uid, 10, 32)
	g, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return false, 0, 0, nil, fmt.Errorf("user %q: %w", name, err)
	}
	if os.Geteuid() != 0 {
		if int(id) == os.Geteuid() {
			return false, 0, 0, nil, nil
		}
		return false, 0, 0, nil, fmt.Errorf("cannot run as user %q: the agent is not root", name)
	}
	gids, _ := u.GroupIds()
	for _, s := range gids {
		if v, err := strconv.ParseUint(s, 10, 32); err == nil {
			groups = append(groups, uint32(v))
		}
	}
	return true, uint32(id), uint32(g), groups, nil
}

func readPids(dir string) (pidsRecord, error) {
	var p pidsRecord
	err := readJSON(dir, pidsFile, &p)
	return p, err
}

// finish records how ct ended, once its shim is gone.
func (c *Containerizer) finish(ct *container) {
	var rec terminationRecord
	err := readJSON(ct.dir, terminationFile, &rec)
	var term containerizer.Termination
	if err == nil {
		term = containerizer.Termination{
			ExitCode: rec.ExitCode, Signal: rec.Signal, Reason: rec.Reason,
			Message: rec.Message, FinishedAt: rec.FinishedAt,
		}
	} else {
		// The shim died without a record (killed, crashed, or the state dir
		// is gone): take down what is left of the task.
		pids, _ := readPids(ct.dir)
		if alive(pids.TaskPID, pids.TaskStart) {
			killSession(pids.TaskPID, syscall.SIGKILL)
		}
		term = containerizer.Termination{
			ExitCode: -1, Reason: mesosv1.ReasonExecutorTerminated,
			Message: "Container supervisor exited without recording the task's end", FinishedAt: time.Now(),
		}
		if !errors.Is(err, fs.ErrNotExist) {
			c.log.Warn("container termination record unreadable", "container_id", ct.id, "error", err)
		}
	}
	if _, err := os.Stat(filepath.Join(ct.dir, killFile)); err == nil {
		term.Killed = true
	}
	ct.finish(term)
	c.log.Info("container ended", "container_id", ct.id, "exit_code", term.ExitCode,
		"signal", term.Signal, "killed", term.Killed)
}

func (ct *container) finish(term containerizer.Termination) {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	select {
	case <-ct.done:
		return
	default:
	}
	if ct.killTimer != nil {
		ct.killTimer.Stop()
	}
	ct.term = term
	close(ct.done)
}

func (c *Containerizer) get(id string) (*container, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ct, ok := c.containers[id]
	if !ok {
		return nil, fmt.Errorf("container %s: %w", id, containerizer.ErrUnknownContainer)
	}
	return ct, nil
}

// Wait blocks until the container ends and returns how it ended.
func (c *Containerizer) Wait(ctx context.Context, containerID string) (containerizer.Termination, error) {
	ct, err := c.get(containerID)
	if err != nil {
		return containerizer.Termination{}, err
	}
	select {
	case <-ct.done:
		ct.mu.Lock()
		defer ct.mu.Unlock()
		return ct.term, nil
	case <-ctx.Done():
		return containerizer.Termination{}, fmt.Errorf("wait for container %s: %w", containerID, ctx.Err())
	}
}

// Kill sends SIGTERM to the task's process group and SIGKILL to its whole
// session after grace (at once when grace <= 0). The request is checkpointed,
// so the container is reported Killed even across an agent restart.
func (c *Containerizer) Kill(ctx context.Context, containerID string, grace time.Duration) error {
	ct, err := c.get(containerID)
	if err != nil {
		return err
	}
	select {
	case <-ct.done:
		return nil
	default:
	}
	if _, err := os.Stat(filepath.Join(ct.dir, killFile)); errors.Is(err, fs.ErrNotExist) {
		if err := writeJSONAtomic(ct.dir, killFile, killRecord{RequestedAt: time.Now(), Grace: grace}); err != nil {
			return fmt.Errorf("kill container %s: %w", containerID, err)
		}
	}
	pids := ct.taskPids()
	if pids.TaskPID == 0 {
		// The shim has not started the task (or failed to): stopping the
		// shim is stopping the container.
		if alive(pids.ShimPID, pids.ShimStart) {
			_ = syscall.Kill(pids.ShimPID, syscall.SIGKILL)
		}
		return nil
	}
	if !alive(pids.TaskPID, pids.TaskStart) {
		return nil // ended; its shim is recording that now
	}
	c.log.Info("killing container", "container_id", containerID, "grace", grace)
	if grace <= 0 {
		killSession(pids.TaskPID, syscall.SIGKILL)
		return nil
	}
	_ = syscall.Kill(-pids.TaskPID, syscall.SIGTERM)
	ct.escalateAt(time.Now().Add(grace), pids)
	return nil
}

// taskPids returns the container's pids, reading them if not yet known.
func (ct *container) taskPids() pidsRecord {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	if ct.pids.TaskPID == 0 {
		if p, err := readPids(ct.dir); err == nil {
			ct.pids = p
		}
	}
	return ct.pids
}

// escalateAt arranges a SIGKILL of the task's session at t unless the
// container has ended by then (an earlier deadline wins).
func (ct *container) escalateAt(t time.Time, pids pidsRecord) {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	select {
	case <-ct.done:
		return
	default:
	}
	if ct.killTimer != nil && !ct.killAt.After(t) {
		return
	}
	if ct.killTimer != nil {
		ct.killTimer.Stop()
	}
	ct.killAt = t
	ct.killTimer = time.AfterFunc(time.Until(t), func() {
		select {
		case <-ct.done:
			return
		default:
		}
		if alive(pids.TaskPID, pids.TaskStart) {
			killSession(pids.TaskPID, syscall.SIGKILL)
		}
	})
}

// Recover re-attaches to the containers in ids found in the state dir, and
// kills and removes every other container found there (orphans).
func (c *Containerizer) Recover(ctx context.Context, ids []string) (map[string]containerizer.Recovered, error) {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	out := make(map[string]containerizer.Recovered, len(ids))
	ents, err := os.ReadDir(c.cfg.StateDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("recover containers: %w", err)
	}
	c.killStaleWarm()
	defer c.refillWarm()
	for _, e := range ents {
		if !e.IsDir() || e.Name() == warmDir {
			continue
		}
		id := e.Name()
		dir := filepath.Join(c.cfg.StateDir, id)
		if !want[id] {
			c.destroyOrphan(id, dir)
			continue
		}
		c.mu.Lock()
		ct, known := c.containers[id]
		c.mu.Unlock()
		if known {
			out[id] = recoveredOf(ct)
			continue
		}
		out[id] = c.recoverOne(id, dir)
	}
	for _, id := range ids {
		if _, ok := out[id]; !ok {
			out[id] = containerizer.Recovered{State: containerizer.Lost}
		}
	}
	return out, nil
}

func recoveredOf(ct *container) containerizer.Recovered {
	select {
	case <-ct.done:
		ct.mu.Lock()
		defer ct.mu.Unlock()
		return containerizer.Recovered{State: containerizer.Exited, Termination: ct.term}
	default:
		return containerizer.Recovered{State: containerizer.Running}
	}
}

// recoverOne rebuilds one checkpointed container from its state dir.
func (c *Containerizer) recoverOne(id, dir string) containerizer.Recovered {
	var ss shimSpec
	if err := readJSON(dir, launchFile, &ss); err != nil {
		c.log.Warn("container state unreadable; reporting it lost", "container_id", id, "error", err)
		return containerizer.Recovered{State: containerizer.Lost}
	}
	ct := &container{id: id, dir: dir, spec: ss, done: make(chan struct{})}
	pids, perr := readPids(dir)
	ct.pids = pids
	shimAlive := perr == nil && alive(pids.ShimPID, pids.ShimStart)
	var rec terminationRecord
	terr := readJSON(dir, terminationFile, &rec)
	switch {
	case terr == nil && !shimAlive:
		c.register(ct)
		c.finish(ct)
		return recoveredOf(ct)
	case shimAlive:
		c.register(ct)
		var kr killRecord
		if readJSON(dir, killFile, &kr) == nil && pids.TaskPID != 0 {
			ct.escalateAt(kr.RequestedAt.Add(kr.Grace), pids)
		}
		go func() {
			waitExit(pids.ShimPID, pids.ShimStart, c.cfg.PollInterval, nil)
			c.finish(ct)
		}()
		c.log.Info("container recovered", "container_id", id, "pid", pids.TaskPID)
		return containerizer.Recovered{State: containerizer.Running}
	default:
		// The shim is gone and left no record: whatever remains of the
		// task cannot be supervised any more.
		if perr == nil && alive(pids.TaskPID, pids.TaskStart) {
			killSession(pids.TaskPID, syscall.SIGKILL)
		}
		c.log.Warn("container supervisor gone without a record; reporting it lost", "container_id", id)
		return containerizer.Recovered{State: containerizer.Lost}
	}
}

func (c *Containerizer) register(ct *container) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.containers[ct.id] = ct
}

// destroyOrphan kills a container the agent does not know and removes its
// state. A shim whose task died records the end into a removed directory,
// which fails harmlessly.
func (c *Containerizer) destroyOrphan(id, dir string) {
	pids, err := readPids(dir)
	if err == nil {
		if alive(pids.TaskPID, pids.TaskStart) {
			killSession(pids.TaskPID, syscall.SIGKILL)
		}
		if alive(pids.ShimPID, pids.ShimStart) {
			_ = syscall.Kill(pids.ShimPID, syscall.SIGKILL)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		c.log.Warn("remove orphan container state", "container_id", id, "error", err)
		return
	}
	c.log.Info("orphan container destroyed", "container_id", id)
}

// ContainerDir is the state directory of a container (whether or not it
// exists). A runtime built on this one may keep its own files there; Destroy
// removes them with the rest.
func (c *Containerizer) ContainerDir(containerID string) string {
	return filepath.Join(c.cfg.StateDir, containerID)
}

// Stop kills the container's processes at once without recording a kill
// request: the container's end is reported as the task's own, not as Killed.
// A runtime enforcing a limit uses it and then gives the reason.
func (c *Containerizer) Stop(containerID string) error {
	ct, err := c.get(containerID)
	if err != nil {
		return err
	}
	pids := ct.taskPids()
	switch {
	case pids.TaskPID != 0 && alive(pids.TaskPID, pids.TaskStart):
		killSession(pids.TaskPID, syscall.SIGKILL)
	case pids.TaskPID == 0 && alive(pids.ShimPID, pids.ShimStart):
		_ = syscall.Kill(pids.ShimPID, syscall.SIGKILL)
	}
	return nil
}

// Destroy kills the container if it still runs, waits for its end and
// removes its state. The sandbox is left alone.
func (c *Containerizer) Destroy(ctx context.Context, containerID string) error {
	if err := validID(containerID); err != nil {
		return fmt.Errorf("destroy container: %w", err)
	}
	dir := filepath.Join(c.cfg.StateDir, containerID)
	ct, err := c.get(containerID)
	if err != nil {
		if _, serr := os.Stat(dir); serr != nil {
			return err
		}
	} else {
		if err := c.Kill(ctx, containerID, 0); err != nil {
			return fmt.Errorf("destroy container %s: %w", containerID, err)
		}
		select {
		case <-ct.done:
		case <-ctx.Done():
			return fmt.Errorf("destroy container %s: %w", containerID, ctx.Err())
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("destroy container %s: %w", containerID, err)
	}
	c.mu.Lock()
	delete(c.containers, containerID)
	c.mu.Unlock()
	return nil
}
