// Package containerizer defines the runtime interface through which an agent
// runs task containers, and the types every runtime shares. Implementations
// live in subpackages (posix, fake; later mesos and docker) and are checked by
// one conformance suite (containerizertest).
//
// A containerizer knows nothing of frameworks, offers or status updates: the
// agent turns its results into task states. It must not import the agent.
package containerizer

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// ErrUnknownContainer is returned for a container id the runtime does not know.
var ErrUnknownContainer = errors.New("unknown container")

// ErrNotRunning is returned by Exec for a container that is not running (it
// ended, or its task has not started).
var ErrNotRunning = errors.New("container is not running")

// LaunchSpec is everything a runtime needs to start one task's container.
// The agent has already created Sandbox and fetched the task's URIs into it.
type LaunchSpec struct {
	ContainerID string
	FrameworkID string
	ExecutorID  string
	AgentID     string
	Task        mesosv1.TaskInfo
	// User to run as ("" = the agent's user). Runtimes that cannot switch
	// users fail the launch when User differs from the agent's user and the
	// agent is not root.
	User string
	// Sandbox is the absolute host path of the task's sandbox directory;
	// stdout and stderr go to Sandbox/stdout and Sandbox/stderr.
	Sandbox string
	// Env is the complete environment of the task (MESOS_* variables set by
	// the agent plus CommandInfo.environment), as KEY=VALUE pairs.
	Env []string
	// Limits derived from the task's resources.
	CPUs   float64
	MemMB  float64
	DiskMB float64
}

// Termination describes how a container ended.
type Termination struct {
	// ExitCode is the process exit code; -1 when killed by a signal.
	ExitCode int
	// Signal is the terminating signal number, 0 if the process exited.
	Signal int
	// Killed is true when the container ended because Kill was called.
	Killed bool
	// Reason is a mesosv1.Reason* when the runtime knows why the container
	// ended abnormally (e.g. mesosv1.ReasonContainerLimitationMemory).
	Reason string
	// Message is a human-readable summary ("Command exited with status 1").
	Message string
	// FinishedAt is when the container ended.
	FinishedAt time.Time
}

// Success reports whether the container exited by itself with code 0.
func (t Termination) Success() bool {
	return t.ExitCode == 0 && t.Signal == 0 && !t.Killed && t.Reason == ""
}

// RecoverState is what Recover found of one checkpointed container.
type RecoverState int

const (
	// Running: the container is still alive; Wait and Kill work on it again.
	Running RecoverState = iota
	// Exited: it ended while the agent was down; Termination says how.
	Exited
	// Lost: nothing is known of it any more.
	Lost
)

// Recovered is the result of Recover for one container.
type Recovered struct {
	State       RecoverState
	Termination Termination // when State == Exited
}

// Usage is a container's resource statistics (as Mesos ResourceStatistics).
type Usage struct {
	Timestamp         time.Time
	CPUsUserSeconds   float64
	CPUsSystemSeconds float64
	CPUsLimit         float64
	MemRSSBytes       uint64
	MemLimitBytes     uint64
	DiskUsedBytes     uint64
	DiskLimitBytes    uint64
	// From cgroups (zero where the runtime has none): CFS periods, the
	// periods in which the container was throttled and for how long, and
	// all memory charged to it (page cache included).
	CPUsNrPeriods        uint64
	CPUsNrThrottled      uint64
	CPUsThrottledSeconds float64
	MemTotalBytes        uint64
}

// Containerizer runs containers. All methods are safe for concurrent use.
type Containerizer interface {
	// Name is the runtime's name as agents advertise it ("posix", "fake", ...).
	Name() string
	// Launch starts a container and returns once the task's process has
	// been started (or failed to start). A launch failure is an error; the
	// agent reports it as TASK_FAILED with REASON_CONTAINER_LAUNCH_FAILED.
	Launch(ctx context.Context, spec LaunchSpec) error
	// Wait blocks until the container ends (or ctx is done) and returns how
	// it ended. It may be called several times and after Recover.
	Wait(ctx context.Context, containerID string) (Termination, error)
	// Kill asks the container to stop (SIGTERM to its processes), and after
	// grace kills it (SIGKILL). It returns without waiting for the end;
	// use Wait. Killing an ended container is not an error.
	Kill(ctx context.Context, containerID string, grace time.Duration) error
	// Recover re-attaches to containers that survived an agent restart. ids
	// are the containers the agent checkpointed; the runtime also destroys
	// containers it finds that are not in ids (orphans).
	Recover(ctx context.Context, ids []string) (map[string]Recovered, error)
	// Usage reports the resource usage of a running container.
	Usage(ctx context.Context, containerID string) (Usage, error)
	// Destroy frees what the runtime kept for an ended container. The
	// sandbox belongs to the agent and is left alone.
	Destroy(ctx context.Context, containerID string) error
}

// RuntimeInfo says whether a runtime works on this host, as agents
// advertise it.
type RuntimeInfo struct {
	Name      string `json:"name"`
	Available bool   `json:"available"`
	// Message says why the runtime does not work (empty when it does).
	Message string `json:"message,omitempty"`
	// Details are facts about the runtime (versions, cgroup version,
	// isolation), for operators.
	Details map[string]string `json:"details,omitempty"`
}

// Prober is implemented by runtimes that depend on something outside the
// agent (a daemon, a kernel feature) and can tell whether it works. A
// runtime that does not implement it always works.
type Prober interface {
	Probe(ctx context.Context) RuntimeInfo
}

// ExecSpec is a command to run inside a running container, beside its task,
// as `dcos task exec` does: in the task's namespaces and cgroups (where the
// runtime has them), with the task's environment and user, in its sandbox.
type ExecSpec struct {
	// Args is the argv; Args[0] is looked up in the task's PATH.
	Args []string
	// TTY runs the command on a new pseudo-terminal of Rows×Columns
	// (0: the kernel's default); its output goes to Stdout, Stderr is unused.
	TTY           bool
	Rows, Columns uint16
	// Stdin is copied to the command until it ends (EOF closes the
	// command's stdin; with TTY, input is typed into the terminal). nil:
	// the command's stdin is at EOF at once.
	Stdin io.Reader
	// Stdout and Stderr receive the command's output (nil: discarded).
	// They are written from one goroutine each.
	Stdout, Stderr io.Writer
}

// ExitStatus is how an exec'd command ended.
type ExitStatus struct {
	Code   int // exit code; -1 when killed by a signal
	Signal int // terminating signal, 0 if the command exited
}

// WaitStatus is the POSIX wait status of s (what Mesos reports as a nested
// container's exit_status): the code shifted left by 8, or the signal.
func (s ExitStatus) WaitStatus() int {
	if s.Signal != 0 {
		return s.Signal & 0x7f
	}
	return (s.Code & 0xff) << 8
}

// ExecProcess is a command started by Exec.
type ExecProcess interface {
	// Resize changes the size of the command's terminal (TTY only).
	Resize(rows, columns uint16) error
	// Wait blocks until the command ended and its output was copied, and
	// says how it ended. Cancelling ctx kills the command.
	Wait(ctx context.Context) (ExitStatus, error)
	// Kill ends the command (SIGKILL to its session).
	Kill() error
}

// Execer is implemented by runtimes that can run a command inside a running
// container (`basalt task exec`).
type Execer interface {
	// Exec starts spec in the container and returns once it started. An
	// unknown container is ErrUnknownContainer, an ended one ErrNotRunning.
	Exec(ctx context.Context, containerID string, spec ExecSpec) (ExecProcess, error)
}
