// Package docker is the containerizer that runs tasks whose ContainerInfo
// has type DOCKER as Docker Engine containers, through the official Engine
// API client (github.com/docker/docker/client).
//
// Every container it creates carries io.basalt.* labels (container id,
// owner, agent, framework, task); Recover finds the containers of one owner
// (one agent's work directory) by label, adopts the ones the agent names and
// removes the rest. The task's sandbox is bind-mounted at SandboxPath, and
// the container's stdout and stderr are copied into the sandbox files.
//
// It must not import the agent, and it never talks to a registry other than
// through the daemon's own image pull.
package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Name is the runtime's name.
const Name = "docker"

// DefaultHost is the Engine API address used when Config.Host is empty.
const DefaultHost = "unix:///var/run/docker.sock"

// defaultPath is searched for a bare executable name when neither the task
// nor the image sets PATH (Docker's own default).
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Config configures the runtime.
type Config struct {
	// Host is the Engine API address (unix:///path or tcp://host:port).
	Host string
	// Owner tells this runtime's containers apart from those of other
	// agents on the same daemon; Recover only looks at (and removes)
	// containers of its owner. Required.
	Owner string
	// AllowedParameters are the docker.parameters keys tasks may use
	// (see ParseAllowedParameters); none by default.
	AllowedParameters []string
	// AllowPrivileged lets tasks ask for privileged containers.
	AllowPrivileged bool
	// PullTimeout bounds one image pull (default 10 minutes).
	PullTimeout time.Duration
	// LogDrainTimeout bounds how long the end of a container waits for its
	// output to be copied into the sandbox (default 10 s).
	LogDrainTimeout time.Duration
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.Owner == "" {
		errs = append(errs, errors.New("docker: owner is required"))
	}
	if c.Host != "" && !strings.Contains(c.Host, "://") {
		errs = append(errs, fmt.Errorf("docker: host %q: want unix:///path or tcp://host:port", c.Host))
	}
	if _, err := ParseAllowedParameters(c.AllowedParameters); err != nil {
		errs = append(errs, err)
	}
	if c.PullTimeout < 0 || c.LogDrainTimeout < 0 {
		errs = append(errs, errors.New("docker: timeouts must not be negative"))
	}
	return errors.Join(errs...)
}

// Deps are the runtime's collaborators.
type Deps struct {
	Logger *slog.Logger // nil: discard
}

// Docker is the runtime. Create it with New; Close releases it (containers
// keep running for the next instance).
type Docker struct {
	cfg  Config
	host string
	pol  policy
	cli  *client.Client
	log  *slog.Logger

	// life is cancelled by Close: it bounds the goroutines that watch
	// containers and copy their output.
	life   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	ctrs map[string]*ctr
}

// ctr is one container this instance knows.
type ctr struct {
	id       string // the agent's container id
	dockerID string // "" while it is being created
	sandbox  string
	cpus     float64
	memBytes uint64
	diskMB   float64
	done     chan struct{} // closed once term is set

	// Guarded by Docker.mu.
	term   containerizer.Termination
	ended  bool
	killed bool

	logs sync.WaitGroup // output copiers
}

// New builds the runtime. It does no I/O: the daemon is first reached by
// Probe or Launch.
func New(cfg Config, deps Deps) (*Docker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	allowed, _ := ParseAllowedParameters(cfg.AllowedParameters) // validated above
	if cfg.Host == "" {
		cfg.Host = DefaultHost
	}
	if cfg.PullTimeout == 0 {
		cfg.PullTimeout = 10 * time.Minute
	}
	if cfg.LogDrainTimeout == 0 {
		cfg.LogDrainTimeout = 10 * time.Second
	}
	cli, err := client.NewClientWithOpts(client.WithHost(cfg.Host), client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client for %s: %w", cfg.Host, err)
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	life, cancel := context.WithCancel(context.Background())
	return &Docker{
		cfg:    cfg,
		host:   cfg.Host,
		pol:    policy{allowedParams: allowed, allowPrivileged: cfg.AllowPrivileged},
		cli:    cli,
		log:    log.With("component", "docker"),
		life:   life,
		cancel: cancel,
		ctrs:   map[string]*ctr{},
	}, nil
}

// Name implements containerizer.Containerizer.
func (d *Docker) Name() string { return Name }

// Close stops watching containers and closes the client. Containers keep
// running; a new instance adopts them with Recover.
func (d *Docker) Close() error {
	d.cancel()
	d.wg.Wait()
	return d.cli.Close()
}

// Probe reports whether the daemon answers, and what it runs on.
func (d *Docker) Probe(ctx context.Context) containerizer.RuntimeInfo {
	ri := containerizer.RuntimeInfo{Name: Name}
	info, err := d.cli.Info(ctx)
	if err != nil {
		ri.Message = d.apiErr("reach the Docker daemon", err).Error()
		return ri
	}
	ri.Available = true
	ri.Details = map[string]string{
		"server_version": info.ServerVersion,
		"api_version":    d.cli.ClientVersion(),
		"cgroup_version": info.CgroupVersion,
		"cgroup_driver":  info.CgroupDriver,
		"isolation":      strings.Join(info.SecurityOptions, ","),
		"host":           d.host,
	}
	return ri
}

// apiErr wraps a client error for a user: an unreachable daemon says so.
func (d *Docker) apiErr(op string, err error) error {
	if client.IsErrConnectionFailed(err) {
		return fmt.Errorf("%s: the Docker daemon at %s is unreachable (is dockerd running, and is the agent's --docker-socket right?): %w", op, d.host, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Launch implements containerizer.Containerizer.
func (d *Docker) Launch(ctx context.Context, spec containerizer.LaunchSpec) error {
	cc, err := buildCreate(spec, d.cfg.Owner, d.pol)
	if err != nil {
		return err
	}
	c := &ctr{
		id:       spec.ContainerID,
		sandbox:  spec.Sandbox,
		cpus:     spec.CPUs,
		memBytes: uint64(cc.host.Memory),
		diskMB:   spec.DiskMB,
		done:     make(chan struct{}),
	}
	d.mu.Lock()
	if _, dup := d.ctrs[c.id]; dup {
		d.mu.Unlock()
		return fmt.Errorf("launch %s: container already exists", c.id)
	}
	d.ctrs[c.id] = c
	d.mu.Unlock()
	if err := d.launch(ctx, c, cc); err != nil {
		d.mu.Lock()
		delete(d.ctrs, c.id)
		c.term = containerizer.Termination{ExitCode: -1, Message: err.Error(), FinishedAt: time.Now()}
		c.ended = true
		d.mu.Unlock()
		close(c.done)
		return err
	}
	return nil
}

func (d *Docker) launch(ctx context.Context, c *ctr, cc createConfig) error {
	img, err := d.ensureImage(ctx, cc.image, cc.force)
	if err != nil {
		return err
	}
	resp, err := d.cli.ContainerCreate(ctx, &cc.config, &cc.host, nil, nil, cc.name)
	if err != nil {
		return d.apiErr(fmt.Sprintf("create container from image %q", cc.image), err)
	}
	remove := func() {
		// The launch failed: leave nothing behind, even when ctx is done.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := d.cli.ContainerRemove(rctx, resp.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
			d.log.Warn("remove a container whose launch failed", "container_id", c.id, "error", err)
		}
	}
	if err := d.checkExecutable(ctx, resp.ID, cc, img); err != nil {
		remove()
		return err
	}
	d.mu.Lock()
	c.dockerID = resp.ID
	d.mu.Unlock()
	if err := d.cli.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		remove()
		return d.apiErr(fmt.Sprintf("start container from image %q", cc.image), err)
	}
	d.watch(c, time.Time{})
	return nil
}

// ensureImage makes sure the image is on the daemon, pulling it when it is
// missing or the task forces a pull, and returns its description.
func (d *Docker) ensureImage(ctx context.Context, ref string, force bool) (image.InspectResponse, error) {
	if !force {
		img, err := d.cli.ImageInspect(ctx, ref)
		if err == nil {
			return img, nil
		}
		if !cerrdefs.IsNotFound(err) {
			return image.InspectResponse{}, d.apiErr(fmt.Sprintf("inspect image %q", ref), err)
		}
	}
	pctx, cancel := context.WithTimeout(ctx, d.cfg.PullTimeout)
	defer cancel()
	if err := d.pull(pctx, ref); err != nil {
		if client.IsErrConnectionFailed(err) {
			return image.InspectResponse{}, d.apiErr(fmt.Sprintf("pull image %q", ref), err)
		}
		return image.InspectResponse{}, fmt.Errorf("image %q is not on this agent and pulling it failed (check the image name and that the agent can reach its registry): %w", ref, err)
	}
	img, err := d.cli.ImageInspect(ctx, ref)
	if err != nil {
		return image.InspectResponse{}, d.apiErr(fmt.Sprintf("inspect pulled image %q", ref), err)
	}
	return img, nil
}

// pull pulls ref; errors the daemon reports inside the progress stream
// count as failures.
func (d *Docker) pull(ctx context.Context, ref string) error {
	rc, err := d.cli.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return err
	}
	defer rc.Close()
	dec := json.NewDecoder(rc)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if msg.Error != "" {
			return errors.New(msg.Error)
		}
	}
}

// checkExecutable fails a launch whose program is missing from the image.
// The container runs under an init process, which would start and then
// exit 127; checking first turns that into a launch failure that names the
// program. Paths inside mounts (the sandbox, volumes) cannot be checked
// before the start and are left to the start.
func (d *Docker) checkExecutable(ctx context.Context, id string, cc createConfig, img image.InspectResponse) error {
	argv := cc.config.Entrypoint
	if len(argv) == 0 && img.Config != nil {
		argv = img.Config.Entrypoint
	}
	if len(argv) == 0 {
		argv = cc.config.Cmd
		if argv == nil && img.Config != nil {
			argv = img.Config.Cmd
		}
	}
	if len(argv) == 0 || argv[0] == "" {
		return fmt.Errorf("image %q has no entrypoint or command, and the task gives no command", cc.image)
	}
	exe := argv[0]
	var candidates []string
	if strings.Contains(exe, "/") {
		if !path.IsAbs(exe) {
			exe = path.Join(cc.config.WorkingDir, exe)
		}
		candidates = []string{exe}
	} else {
		p := envValue(cc.config.Env, "PATH")
		if p == "" && img.Config != nil {
			p = envValue(img.Config.Env, "PATH")
		}
		if p == "" {
			p = defaultPath
		}
		for dir := range strings.SplitSeq(p, ":") {
			if path.IsAbs(dir) {
				candidates = append(candidates, path.Join(dir, exe))
			}
		}
	}
	for _, cand := range candidates {
		if underMount(cand, cc.host.Binds) {
			return nil
		}
		st, err := d.cli.ContainerStatPath(ctx, id, cand)
		switch {
		case err == nil && !st.Mode.IsDir():
			return nil
		case err != nil && !cerrdefs.IsNotFound(err):
			// Not knowing is no reason to refuse: let the start decide.
			d.log.Debug("stat executable in container", "path", cand, "error", err)
			return nil
		}
	}
	if strings.Contains(argv[0], "/") {
		return fmt.Errorf("executable %q not found in image %q", argv[0], cc.image)
	}
	return fmt.Errorf("executable %q not found in the PATH of image %q", argv[0], cc.image)
}

// underMount reports whether p lies in the container side of a bind.
func underMount(p string, binds []string) bool {
	for _, b := range binds {
		parts := strings.Split(b, ":")
		if len(parts) >= 2 && (p == parts[1] || strings.HasPrefix(p, strings.TrimSuffix(parts[1], "/")+"/")) {
			return true
		}
	}
	return false
}

// envValue is the last value of name in KEY=VALUE pairs.
func envValue(env []string, name string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == name {
			v = val
		}
	}
	return v
}

// watch starts copying c's output into its sandbox (what was written after
// since, zero: all of it) and waiting for its end.
func (d *Docker) watch(c *ctr, since time.Time) {
	for _, stdout := range []bool{true, false} {
		c.logs.Add(1)
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			defer c.logs.Done()
			d.copyLog(c, stdout, since)
		}()
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.monitor(c)
	}()
}

// copyLog follows one of c's output streams into sandbox/stdout or
// sandbox/stderr (appending: what the fetcher wrote stays). It returns when
// the container stops, is removed, or the runtime is closed.
func (d *Docker) copyLog(c *ctr, stdout bool, since time.Time) {
	name := "stderr"
	if stdout {
		name = "stdout"
	}
	f, err := os.OpenFile(filepath.Join(c.sandbox, name), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		d.log.Warn("open sandbox output file", "container_id", c.id, "file", name, "error", err)
		return
	}
	defer f.Close()
	opts := container.LogsOptions{ShowStdout: stdout, ShowStderr: !stdout, Follow: true}
	if !since.IsZero() {
		opts.Since = fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond())
	}
	rc, err := d.cli.ContainerLogs(d.life, c.dockerID, opts)
	if err != nil {
		if d.life.Err() == nil && !cerrdefs.IsNotFound(err) {
			d.log.Warn("follow container output", "container_id", c.id, "file", name, "error", err)
		}
		return
	}
	defer rc.Close()
	out, errw := io.Writer(f), io.Discard
	if !stdout {
		out, errw = io.Discard, f
	}
	if _, err := stdcopy.StdCopy(out, errw, rc); err != nil && d.life.Err() == nil {
		d.log.Debug("copy container output", "container_id", c.id, "file", name, "error", err)
	}
}

// monitor waits for c to stop, lets its output drain and records how it
// ended. It returns early, leaving c running, when the runtime is closed.
func (d *Docker) monitor(c *ctr) {
	state, ok := d.waitStopped(c)
	if !ok {
		return
	}
	d.log.Debug("container stopped", "container_id", c.id)
	drained := make(chan struct{})
	go func() {
		c.logs.Wait()
		close(drained)
	}()
	t := time.NewTimer(d.cfg.LogDrainTimeout)
	select {
	case <-drained:
	case <-t.C:
		d.log.Warn("container output still copying after its end; reporting the end anyway", "container_id", c.id)
	case <-d.life.Done():
	}
	t.Stop()
	d.mu.Lock()
	c.term = termination(state, c.killed)
	c.ended = true
	d.mu.Unlock()
	close(c.done)
	d.log.Debug("container ended", "container_id", c.id, "message", c.term.Message)
}

// waitStopped blocks until c's container is not running and returns its
// last state (nil: the container is gone). ok is false when the runtime
// was closed first.
func (d *Docker) waitStopped(c *ctr) (state *container.State, ok bool) {
	backoff := 100 * time.Millisecond
	for {
		wch, ech := d.cli.ContainerWait(d.life, c.dockerID, container.WaitConditionNotRunning)
		var err error
		select {
		case <-wch:
		case err = <-ech:
		}
		if d.life.Err() != nil {
			return nil, false
		}
		if err == nil {
			ins, ierr := d.cli.ContainerInspect(d.life, c.dockerID)
			switch {
			case cerrdefs.IsNotFound(ierr):
				return nil, true
			case ierr == nil && ins.State != nil && !ins.State.Running:
				return ins.State, true
			case ierr == nil:
				continue // running again (restarted by hand): keep waiting
			}
			err = ierr
		}
		if cerrdefs.IsNotFound(err) {
			return nil, true
		}
		// The daemon is restarting or unreachable: try again.
		d.log.Warn("wait for container", "container_id", c.id, "error", err)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-d.life.Done():
			t.Stop()
			return nil, false
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// termination describes how a container ended from its last state (nil:
// removed before its end could be read); killed is whether Kill asked it to.
func termination(st *container.State, killed bool) containerizer.Termination {
	if st == nil {
		return containerizer.Termination{ExitCode: -1, Killed: killed, FinishedAt: time.Now(),
			Message: "Container was removed before it ended"}
	}
	t := containerizer.Termination{ExitCode: st.ExitCode, Killed: killed}
	if fin, err := time.Parse(time.RFC3339Nano, st.FinishedAt); err == nil && fin.Year() > 1 {
		t.FinishedAt = fin
	} else {
		t.FinishedAt = time.Now()
	}
	// A process killed by a signal ends with 128+signal (the init process
	// reports its child's signal the same way).
	switch {
	case st.OOMKilled:
		t.Reason = mesosv1.ReasonContainerLimitationMemory
		t.Message = "Container exceeded its memory limit and was killed"
		if st.ExitCode > 128 {
			t.ExitCode, t.Signal = -1, st.ExitCode-128
		}
	case killed && st.ExitCode > 128:
		t.ExitCode, t.Signal = -1, st.ExitCode-128
		t.Message = fmt.Sprintf("Container killed by signal %d", t.Signal)
	case killed:
		t.Message = fmt.Sprintf("Container exited with status %d after a kill", st.ExitCode)
	default:
		t.Message = fmt.Sprintf("Container exited with status %d", st.ExitCode)
	}
	if st.Error != "" {
		t.Message += ": " + st.Error
	}
	return t
}

func (d *Docker) lookup(id string) (*ctr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.ctrs[id]
	if c == nil {
		return nil, fmt.Errorf("container %s: %w", id, containerizer.ErrUnknownContainer)
	}
	return c, nil
}

// Wait implements containerizer.Containerizer.
func (d *Docker) Wait(ctx context.Context, id string) (containerizer.Termination, error) {
	c, err := d.lookup(id)
	if err != nil {
		return containerizer.Termination{}, err
	}
	select {
	case <-c.done:
		d.mu.Lock()
		defer d.mu.Unlock()
		return c.term, nil
	case <-ctx.Done():
		return containerizer.Termination{}, ctx.Err()
	}
}

// Kill implements containerizer.Containerizer: SIGTERM (forwarded to the
// task by the container's init), then SIGKILL to the whole container after
// grace.
func (d *Docker) Kill(ctx context.Context, id string, grace time.Duration) error {
	d.mu.Lock()
	c := d.ctrs[id]
	if c == nil {
		d.mu.Unlock()
		return fmt.Errorf("kill %s: %w", id, containerizer.ErrUnknownContainer)
	}
	if c.ended || c.dockerID == "" {
		d.mu.Unlock()
		return nil
	}
	c.killed = true
	dockerID := c.dockerID
	d.mu.Unlock()
	sig := "KILL"
	if grace > 0 {
		sig = "TERM"
	}
	if err := d.cli.ContainerKill(ctx, dockerID, sig); err != nil && !cerrdefs.IsConflict(err) && !cerrdefs.IsNotFound(err) {
		return d.apiErr("kill container "+id, err)
	}
	if grace > 0 {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			t := time.NewTimer(grace)
			defer t.Stop()
			select {
			case <-t.C:
				if err := d.cli.ContainerKill(d.life, dockerID, "KILL"); err != nil && !cerrdefs.IsConflict(err) && !cerrdefs.IsNotFound(err) {
					d.log.Warn("SIGKILL after the grace period", "container_id", id, "error", err)
				}
			case <-c.done:
			case <-d.life.Done():
			}
		}()
	}
	return nil
}

// Destroy implements containerizer.Containerizer: the container is removed
// (killed first if it runs) and forgotten.
func (d *Docker) Destroy(ctx context.Context, id string) error {
	c, err := d.lookup(id)
	if err != nil {
		return err
	}
	d.mu.Lock()
	dockerID := c.dockerID
	d.mu.Unlock()
	if dockerID != "" {
		err := d.cli.ContainerRemove(ctx, dockerID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			return d.apiErr("remove container "+id, err)
		}
		select {
		case <-c.done:
		case <-d.life.Done(): // closed: nobody watches it any more
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	d.mu.Lock()
	if d.ctrs[id] == c {
		delete(d.ctrs, id)
	}
	d.mu.Unlock()
	return nil
}

// Usage implements containerizer.Containerizer from one stats sample.
func (d *Docker) Usage(ctx context.Context, id string) (containerizer.Usage, error) {
	c, err := d.lookup(id)
	if err != nil {
		return containerizer.Usage{}, err
	}
	u := containerizer.Usage{
		Timestamp:      time.Now(),
		CPUsLimit:      c.cpus,
		MemLimitBytes:  c.memBytes,
		DiskLimitBytes: uint64(c.diskMB * (1 << 20)),
	}
	d.mu.Lock()
	dockerID, ended := c.dockerID, c.ended
	d.mu.Unlock()
	if dockerID == "" || ended {
		return u, nil
	}
	rd, err := d.cli.ContainerStatsOneShot(ctx, dockerID)
	if err != nil {
		return containerizer.Usage{}, d.apiErr("container stats "+id, err)
	}
	defer rd.Body.Close()
	var st container.StatsResponse
	if err := json.NewDecoder(rd.Body).Decode(&st); err != nil {
		return containerizer.Usage{}, fmt.Errorf("container stats %s: %w", id, err)
	}
	u.CPUsUserSeconds = float64(st.CPUStats.CPUUsage.UsageInUsermode) / 1e9
	u.CPUsSystemSeconds = float64(st.CPUStats.CPUUsage.UsageInKernelmode) / 1e9
	// cgroup v1 reports rss, v2 anon (anonymous memory, its counterpart).
	switch {
	case st.MemoryStats.Stats["rss"] > 0:
		u.MemRSSBytes = st.MemoryStats.Stats["rss"]
	case st.MemoryStats.Stats["anon"] > 0:
		u.MemRSSBytes = st.MemoryStats.Stats["anon"]
	default:
		u.MemRSSBytes = st.MemoryStats.Usage
	}
	return u, nil
}

// Recover implements containerizer.Containerizer: containers of this owner
// named in ids are adopted (their output is copied again from where the
// sandbox files stopped); all others of this owner are removed.
func (d *Docker) Recover(ctx context.Context, ids []string) (map[string]containerizer.Recovered, error) {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	list, err := d.cli.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", LabelOwner+"="+d.cfg.Owner)),
	})
	if err != nil {
		if len(ids) == 0 && client.IsErrConnectionFailed(err) {
			// No task of this agent is in Docker: an agent whose daemon is
			// down starts anyway (its DOCKER tasks fail with that reason);
			// orphans wait for the next recovery.
			d.log.Warn("Docker daemon unreachable during recovery; no containers to adopt, orphans not removed", "error", err)
			return map[string]containerizer.Recovered{}, nil
		}
		return nil, d.apiErr("list containers", err)
	}
	out := map[string]containerizer.Recovered{}
	for _, s := range list {
		cid := s.Labels[LabelContainerID]
		if _, seen := out[cid]; !want[cid] || seen {
			d.removeOrphan(ctx, s.ID, cid)
			continue
		}
		ins, err := d.cli.ContainerInspect(ctx, s.ID)
		if cerrdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, d.apiErr("inspect container "+cid, err)
		}
		if ins.State == nil || ins.State.Status == "created" {
			// Created but never started: the launch did not finish.
			d.removeOrphan(ctx, s.ID, cid)
			continue
		}
		c := &ctr{id: cid, dockerID: s.ID, done: make(chan struct{})}
		if hc := ins.HostConfig; hc != nil {
			c.cpus = float64(hc.NanoCPUs) / 1e9
			c.memBytes = uint64(hc.Memory)
		}
		for _, m := range ins.Mounts {
			if m.Destination == SandboxPath {
				c.sandbox = m.Source
			}
		}
		d.mu.Lock()
		if old := d.ctrs[cid]; old != nil {
			d.mu.Unlock()
			return nil, fmt.Errorf("recover %s: already known to this runtime", cid)
		}
		d.ctrs[cid] = c
		if ins.State.Running || ins.State.Paused || ins.State.Restarting {
			d.mu.Unlock()
			d.watch(c, lastWrite(c.sandbox))
			out[cid] = containerizer.Recovered{State: containerizer.Running}
			continue
		}
		c.term = termination(ins.State, false)
		c.ended = true
		close(c.done)
		d.mu.Unlock()
		out[cid] = containerizer.Recovered{State: containerizer.Exited, Termination: c.term}
	}
	for _, id := range ids {
		if _, ok := out[id]; !ok {
			out[id] = containerizer.Recovered{State: containerizer.Lost}
		}
	}
	return out, nil
}

func (d *Docker) removeOrphan(ctx context.Context, dockerID, cid string) {
	d.log.Info("removing a container no task owns", "container_id", cid, "docker_id", dockerID)
	if err := d.cli.ContainerRemove(ctx, dockerID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
		d.log.Warn("remove orphan container", "container_id", cid, "error", err)
	}
}

// lastWrite is the latest modification of the sandbox's output files, after
// which an adopted container's output is copied again. File times come from
// the kernel's coarse clock (up to a few ms behind), and a line is copied a
// moment after Docker stamps it: mtimeSlack past the modification excludes
// the lines already copied. A line the old runtime had not copied yet when
// it went away, within that slack, is lost; none is copied twice.
func lastWrite(sandbox string) time.Time {
	var last time.Time
	for _, name := range []string{"stdout", "stderr"} {
		if fi, err := os.Stat(filepath.Join(sandbox, name)); err == nil && fi.ModTime().After(last) {
			last = fi.ModTime()
		}
	}
	if last.IsZero() {
		return last
	}
	return last.Add(mtimeSlack)
}

// mtimeSlack: see lastWrite.
const mtimeSlack = 20 * time.Millisecond

// Compile-time check.
var _ containerizer.Containerizer = (*Docker)(nil)
