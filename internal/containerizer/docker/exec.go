package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/basalt-dcos/basalt/internal/containerizer"
)

var _ containerizer.Execer = (*Docker)(nil)

// Exec runs a command in the task's running container with the Engine's exec
// API: the container's user (CommandInfo.user), environment and working
// directory (the sandbox) apply, as for `docker exec`.
func (d *Docker) Exec(ctx context.Context, id string, spec containerizer.ExecSpec) (containerizer.ExecProcess, error) {
	c, err := d.lookup(id)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	ended, dockerID := c.ended, c.dockerID
	d.mu.Unlock()
	if ended || dockerID == "" {
		return nil, fmt.Errorf("exec in container %s: %w", id, containerizer.ErrNotRunning)
	}
	if len(spec.Args) == 0 || spec.Args[0] == "" {
		return nil, fmt.Errorf("exec in container %s: no command", id)
	}
	opts := container.ExecOptions{
		Cmd: spec.Args, Tty: spec.TTY,
		AttachStdin: spec.Stdin != nil, AttachStdout: true, AttachStderr: true,
	}
	if spec.TTY && spec.Rows > 0 && spec.Columns > 0 {
		opts.ConsoleSize = &[2]uint{uint(spec.Rows), uint(spec.Columns)}
	}
	created, err := d.cli.ContainerExecCreate(ctx, dockerID, opts)
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "is not running") {
			return nil, fmt.Errorf("exec in container %s: %w", id, containerizer.ErrNotRunning)
		}
		return nil, d.apiErr("exec in container "+id, err)
	}
	hj, err := d.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{Tty: spec.TTY, ConsoleSize: opts.ConsoleSize})
	if err != nil {
		return nil, d.apiErr("exec in container "+id, err)
	}
	p := &dockerExec{d: d, execID: created.ID, dockerID: dockerID, hj: hj, tty: spec.TTY, done: make(chan struct{})}
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		stdout, stderr := orDiscard(spec.Stdout), orDiscard(spec.Stderr)
		if spec.TTY {
			_, _ = io.Copy(stdout, hj.Reader)
		} else {
			_, _ = stdcopy.StdCopy(stdout, stderr, hj.Reader)
		}
	}()
	if spec.Stdin != nil {
		go func() {
			_, _ = io.Copy(hj.Conn, spec.Stdin)
			if !spec.TTY {
				_ = hj.CloseWrite()
			}
		}()
	}
	go func() {
		<-outDone // the stream ends with the command
		p.status, p.err = p.inspectExit()
		hj.Close()
		close(p.done)
	}()
	d.log.Info("exec started", "container_id", id, "tty", spec.TTY)
	return p, nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// dockerExec is one command started with the Engine's exec API.
type dockerExec struct {
	d        *Docker
	execID   string
	dockerID string // the task's container
	hj       types.HijackedResponse
	tty      bool

	done   chan struct{}
	status containerizer.ExitStatus
	err    error
}

// inspectExit reads the exit code once the Engine has recorded it (the
// output stream may end a moment before).
func (p *dockerExec) inspectExit() (containerizer.ExitStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		in, err := p.d.cli.ContainerExecInspect(ctx, p.execID)
		if err != nil {
			return containerizer.ExitStatus{}, p.d.apiErr("inspect exec", err)
		}
		if !in.Running {
			return containerizer.ExitStatus{Code: in.ExitCode}, nil
		}
		select {
		case <-ctx.Done():
			return containerizer.ExitStatus{}, fmt.Errorf("inspect exec: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond): // the Engine has no wait for execs
		}
	}
}

// Resize changes the size of the command's terminal.
func (p *dockerExec) Resize(rows, columns uint16) error {
	if !p.tty {
		return errors.New("resize: the command has no terminal")
	}
	err := p.d.cli.ContainerExecResize(context.Background(), p.execID, container.ResizeOptions{Height: uint(rows), Width: uint(columns)})
	if err != nil {
		return p.d.apiErr("resize exec terminal", err)
	}
	return nil
}

// Wait waits for the command's end; cancelling ctx kills it.
func (p *dockerExec) Wait(ctx context.Context) (containerizer.ExitStatus, error) {
	select {
	case <-p.done:
	case <-ctx.Done():
		if err := p.Kill(); err != nil {
			// It cannot be killed from here: stop following it.
			p.hj.Close()
		}
		<-p.done
	}
	return p.status, p.err
}

// Kill ends the command. The Engine has no call for that, so the agent
// signals the exec's process itself — only when that pid is, in the agent's
// own /proc, a process of the task's container (its cgroup names the
// container): a daemon on another host or in another pid namespace reports
// pids that mean something else here, and then the command is left to end
// with its container.
func (p *dockerExec) Kill() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		select {
		case <-p.done:
			return nil
		default:
		}
		in, err := p.d.cli.ContainerExecInspect(ctx, p.execID)
		if err != nil {
			return p.d.apiErr("kill exec", err)
		}
		if in.Running && in.Pid > 0 {
			cg, err := os.ReadFile("/proc/" + strconv.Itoa(in.Pid) + "/cgroup")
			if err != nil || !strings.Contains(string(cg), p.dockerID) {
				return errors.New("kill exec: its process is not visible to the agent")
			}
			if err := syscall.Kill(in.Pid, syscall.SIGKILL); err != nil {
				return fmt.Errorf("kill exec: %w", err)
			}
			return nil
		}
		if in.ExitCode != 0 || (!in.Running && in.Pid > 0) {
			return nil // it ended
		}
		// Not started yet: the Engine starts it once the attach is set up.
		select {
		case <-ctx.Done():
			return fmt.Errorf("kill exec: it did not start: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
