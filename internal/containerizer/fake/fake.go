// Package fake is an in-process containerizer that runs no processes, for
// the tests of other components and for the agent simulator.
//
// A task's behaviour is scripted by its labels (Label* constants; by default
// a container runs until killed), and tests drive it further with Go methods
// (Exit, End, SetLaunchHook) and inspect it (Launches, Running). Containers
// live in a Runtime, the simulated host, which outlives the Containerizer
// values attached to it: a new Containerizer over the same Runtime models an
// agent restart and Recovers what the old one launched.
//
// It is cheap: no goroutine per container (a timer only when a run time or a
// kill grace is scripted), so one process can hold 100,000 containers. It
// must not be used to run real workloads.
package fake

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Task labels that script a fake container. Invalid values fail the launch.
const (
	// LabelRunFor: the container exits by itself after this duration
	// (time.ParseDuration syntax). Default: it runs until killed or ended.
	LabelRunFor = "fake.run_for"
	// LabelExitCode: the exit code when it exits by itself (default 0).
	LabelExitCode = "fake.exit_code"
	// LabelReason: Termination.Reason when it exits by itself, e.g.
	// REASON_CONTAINER_LIMITATION_MEMORY.
	LabelReason = "fake.reason"
	// LabelFailStart: "true" makes Launch fail.
	LabelFailStart = "fake.fail_start"
	// LabelStartDelay: Launch takes this long (or until its ctx is done).
	LabelStartDelay = "fake.start_delay"
	// LabelIgnoreSIGTERM: "true" makes a Kill with grace end the container
	// only when the grace expires, with SIGKILL (a task that traps SIGTERM).
	LabelIgnoreSIGTERM = "fake.ignore_sigterm"
)

// Name is the default runtime name.
const Name = "fake"

// Runtime is the simulated host on which fake containers live. Use one
// Runtime per simulated agent host. Its zero value is not usable: NewRuntime.
type Runtime struct {
	mu         sync.Mutex
	containers map[string]*container
	launches   []*containerizer.LaunchSpec // shared with the containers: no copy per launch
	hook       func(containerizer.LaunchSpec) error
}

// NewRuntime returns an empty simulated host.
func NewRuntime() *Runtime {
	return &Runtime{containers: make(map[string]*container)}
}

// container is one fake container; guarded by Runtime.mu.
type container struct {
	spec      containerizer.LaunchSpec
	done      chan struct{}
	ended     bool
	term      containerizer.Termination
	ignoreTRM bool
	killed    bool
	timer     *time.Timer // run_for or kill grace
}

// Config configures a Containerizer.
type Config struct {
	// Runtime is the simulated host; nil means a new one of its own.
	Runtime *Runtime
	// Name is what Name() returns (default "fake"), so a fake can stand in
	// for another runtime.
	Name string
}

// Containerizer is one agent's view of a Runtime. It knows the containers it
// launched or recovered. It implements containerizer.Containerizer.
type Containerizer struct {
	rt   *Runtime
	name string

	mu    sync.Mutex
	known map[string]*container
}

var _ containerizer.Containerizer = (*Containerizer)(nil)

// New returns a fake containerizer attached to cfg.Runtime.
func New(cfg Config) *Containerizer {
	if cfg.Runtime == nil {
		cfg.Runtime = NewRuntime()
	}
	if cfg.Name == "" {
		cfg.Name = Name
	}
	return &Containerizer{rt: cfg.Runtime, name: cfg.Name, known: make(map[string]*container)}
}

// Runtime returns the simulated host this containerizer is attached to.
func (c *Containerizer) Runtime() *Runtime { return c.rt }

// Name returns the configured runtime name.
func (c *Containerizer) Name() string { return c.name }

// script is a task's parsed labels.
type script struct {
	runFor     time.Duration
	hasRunFor  bool
	exitCode   int
	reason     string
	failStart  bool
	startDelay time.Duration
	ignoreTERM bool
}

func parseScript(l *mesosv1.Labels) (script, error) {
	var s script
	var errs []error
	if v, ok := l.Get(LabelRunFor); ok {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("label %s=%q: not a duration", LabelRunFor, v))
		}
		s.runFor, s.hasRunFor = d, true
	}
	if v, ok := l.Get(LabelExitCode); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 255 {
			errs = append(errs, fmt.Errorf("label %s=%q: not an exit code", LabelExitCode, v))
		}
		s.exitCode = n
	}
	s.reason, _ = l.Get(LabelReason)
	for _, b := range []struct {
		key string
		dst *bool
	}{{LabelFailStart, &s.failStart}, {LabelIgnoreSIGTERM, &s.ignoreTERM}} {
		if v, ok := l.Get(b.key); ok {
			x, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("label %s=%q: not a boolean", b.key, v))
			}
			*b.dst = x
		}
	}
	if v, ok := l.Get(LabelStartDelay); ok {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("label %s=%q: not a duration", LabelStartDelay, v))
		}
		s.startDelay = d
	}
	return s, errors.Join(errs...)
}

// Launch records the launch and starts the scripted container.
func (c *Containerizer) Launch(ctx context.Context, spec containerizer.LaunchSpec) error {
	id := spec.ContainerID
	if id == "" {
		return errors.New("launch container: empty container id")
	}
	sc, err := parseScript(spec.Task.Labels)
	if err != nil {
		return fmt.Errorf("launch container %s: %w", id, err)
	}
	rt := c.rt
	rt.mu.Lock()
	if _, ok := rt.containers[id]; ok {
		rt.mu.Unlock()
		return fmt.Errorf("launch container %s: already exists", id)
	}
	ct := &container{spec: spec, done: make(chan struct{}), ignoreTRM: sc.ignoreTERM}
	rt.containers[id] = ct
	rt.launches = append(rt.launches, &ct.spec)
	hook := rt.hook
	rt.mu.Unlock()
	c.mu.Lock()
	c.known[id] = ct
	c.mu.Unlock()

	if sc.startDelay > 0 {
		t := time.NewTimer(sc.startDelay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			rt.end(ct, failed("launch cancelled: "+ctx.Err().Error()))
			return fmt.Errorf("launch container %s: %w", id, ctx.Err())
		}
	}
	if sc.failStart {
		err = errors.New("scripted launch failure (" + LabelFailStart + ")")
	} else if hook != nil {
		err = hook(spec)
	}
	if err != nil {
		rt.end(ct, failed(err.Error()))
		return fmt.Errorf("launch container %s: %w", id, err)
	}
	if sc.hasRunFor {
		term := containerizer.Termination{
			ExitCode: sc.exitCode, Reason: sc.reason,
			Message: fmt.Sprintf("Command exited with status %d", sc.exitCode),
		}
		if sc.runFor == 0 {
			rt.end(ct, term)
		} else {
			rt.mu.Lock()
			if !ct.ended {
				ct.timer = time.AfterFunc(sc.runFor, func() { rt.end(ct, term) })
			}
			rt.mu.Unlock()
		}
	}
	return nil
}

func failed(msg string) containerizer.Termination {
	return containerizer.Termination{
		ExitCode: -1, Reason: mesosv1.ReasonContainerLaunchFailed,
		Message: "Failed to launch container: " + msg,
	}
}

func killedBy(sig syscall.Signal) containerizer.Termination {
	n := sig.String()
	if n != "" {
		n = string(n[0]-'a'+'A') + n[1:]
	}
	return containerizer.Termination{
		ExitCode: -1, Signal: int(sig), Killed: true,
		Message: "Command terminated with signal " + n,
	}
}

// end ends ct with term unless it has ended already.
func (rt *Runtime) end(ct *container, term containerizer.Termination) bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if ct.ended {
		return false
	}
	if ct.timer != nil {
		ct.timer.Stop()
		ct.timer = nil
	}
	if ct.killed {
		term.Killed = true
	}
	if term.FinishedAt.IsZero() {
		term.FinishedAt = time.Now()
	}
	ct.ended, ct.term = true, term
	close(ct.done)
	return true
}

func (c *Containerizer) get(id string) (*container, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ct, ok := c.known[id]
	if !ok {
		return nil, fmt.Errorf("container %s: %w", id, containerizer.ErrUnknownContainer)
	}
	return ct, nil
}

// Wait blocks until the container ends.
func (c *Containerizer) Wait(ctx context.Context, containerID string) (containerizer.Termination, error) {
	ct, err := c.get(containerID)
	if err != nil {
		return containerizer.Termination{}, err
	}
	select {
	case <-ct.done:
		c.rt.mu.Lock()
		defer c.rt.mu.Unlock()
		return ct.term, nil
	case <-ctx.Done():
		return containerizer.Termination{}, fmt.Errorf("wait for container %s: %w", containerID, ctx.Err())
	}
}

// Kill ends the container with SIGTERM at once, or, if it was scripted to
// ignore SIGTERM, with SIGKILL when grace expires (at once when grace <= 0).
func (c *Containerizer) Kill(ctx context.Context, containerID string, grace time.Duration) error {
	ct, err := c.get(containerID)
	if err != nil {
		return err
	}
	rt := c.rt
	rt.mu.Lock()
	if ct.ended {
		rt.mu.Unlock()
		return nil
	}
	ct.killed = true
	ignore := ct.ignoreTRM
	if grace > 0 && ignore {
		if ct.timer != nil {
			ct.timer.Stop()
		}
		ct.timer = time.AfterFunc(grace, func() { rt.end(ct, killedBy(syscall.SIGKILL)) })
		rt.mu.Unlock()
		return nil
	}
	rt.mu.Unlock()
	if grace <= 0 {
		rt.end(ct, killedBy(syscall.SIGKILL))
	} else {
		rt.end(ct, killedBy(syscall.SIGTERM))
	}
	return nil
}

// Recover attaches the containers in ids that the Runtime holds, reports the
// others Lost, and kills and forgets every container of the Runtime not in
// ids (orphans).
func (c *Containerizer) Recover(ctx context.Context, ids []string) (map[string]containerizer.Recovered, error) {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	out := make(map[string]containerizer.Recovered, len(ids))
	var orphans []*container
	rt := c.rt
	rt.mu.Lock()
	c.mu.Lock()
	for id, ct := range rt.containers {
		if !want[id] {
			orphans = append(orphans, ct)
			delete(rt.containers, id)
			continue
		}
		c.known[id] = ct
		if ct.ended {
			out[id] = containerizer.Recovered{State: containerizer.Exited, Termination: ct.term}
		} else {
			out[id] = containerizer.Recovered{State: containerizer.Running}
		}
	}
	c.mu.Unlock()
	rt.mu.Unlock()
	for _, id := range ids {
		if _, ok := out[id]; !ok {
			out[id] = containerizer.Recovered{State: containerizer.Lost}
		}
	}
	for _, ct := range orphans {
		rt.mu.Lock()
		ct.killed = true
		rt.mu.Unlock()
		rt.end(ct, killedBy(syscall.SIGKILL))
	}
	return out, nil
}

// Usage reports the launch's limits and zero consumption.
func (c *Containerizer) Usage(ctx context.Context, containerID string) (containerizer.Usage, error) {
	ct, err := c.get(containerID)
	if err != nil {
		return containerizer.Usage{}, err
	}
	return containerizer.Usage{
		Timestamp:      time.Now(),
		CPUsLimit:      ct.spec.CPUs,
		MemLimitBytes:  uint64(ct.spec.MemMB * (1 << 20)),
		DiskLimitBytes: uint64(ct.spec.DiskMB * (1 << 20)),
	}, nil
}

// Destroy kills the container if it still runs and forgets it.
func (c *Containerizer) Destroy(ctx context.Context, containerID string) error {
	ct, err := c.get(containerID)
	if err != nil {
		return err
	}
	rt := c.rt
	rt.mu.Lock()
	running := !ct.ended
	if running {
		ct.killed = true
	}
	if rt.containers[containerID] == ct {
		delete(rt.containers, containerID)
	}
	rt.mu.Unlock()
	if running {
		rt.end(ct, killedBy(syscall.SIGKILL))
	}
	c.mu.Lock()
	delete(c.known, containerID)
	c.mu.Unlock()
	return nil
}

// Exit makes a running container exit by itself with code. It reports
// ErrUnknownContainer for an id the Runtime does not hold, and false if the
// container had already ended.
func (rt *Runtime) Exit(containerID string, code int) (bool, error) {
	return rt.End(containerID, containerizer.Termination{
		ExitCode: code, Message: fmt.Sprintf("Command exited with status %d", code),
	})
}

// End ends a running container with term (e.g. a memory limitation:
// Reason ReasonContainerLimitationMemory, Signal 9). It reports false if the
// container had already ended.
func (rt *Runtime) End(containerID string, term containerizer.Termination) (bool, error) {
	rt.mu.Lock()
	ct, ok := rt.containers[containerID]
	rt.mu.Unlock()
	if !ok {
		return false, fmt.Errorf("container %s: %w", containerID, containerizer.ErrUnknownContainer)
	}
	return rt.end(ct, term), nil
}

// Exit is Runtime().Exit, for convenience.
func (c *Containerizer) Exit(containerID string, code int) (bool, error) {
	return c.rt.Exit(containerID, code)
}

// SetLaunchHook installs f to decide every later launch: a non-nil error
// fails the launch. nil removes the hook.
func (rt *Runtime) SetLaunchHook(f func(containerizer.LaunchSpec) error) {
	rt.mu.Lock()
	rt.hook = f
	rt.mu.Unlock()
}

// Launches returns every launch attempt so far, in order, including failed
// ones and destroyed containers.
func (rt *Runtime) Launches() []containerizer.LaunchSpec {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	out := make([]containerizer.LaunchSpec, len(rt.launches))
	for i, sp := range rt.launches {
		out[i] = *sp
	}
	return out
}

// LaunchCount is len(Launches()) without the copy.
func (rt *Runtime) LaunchCount() int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return len(rt.launches)
}

// Running returns the ids of the containers that have not ended, sorted.
func (rt *Runtime) Running() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var ids []string
	for id, ct := range rt.containers {
		if !ct.ended {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// Spec returns the LaunchSpec of a container the Runtime holds.
func (rt *Runtime) Spec(containerID string) (containerizer.LaunchSpec, bool) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	ct, ok := rt.containers[containerID]
	if !ok {
		return containerizer.LaunchSpec{}, false
	}
	return ct.spec, true
}

// Containers returns the terminations of ended containers and a zero
// Termination for running ones, keyed by id (a snapshot for assertions).
func (rt *Runtime) Containers() map[string]containerizer.Termination {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	out := make(map[string]containerizer.Termination, len(rt.containers))
	for id, ct := range rt.containers {
		out[id] = ct.term
	}
	return out
}
