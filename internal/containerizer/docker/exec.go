package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
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
	p := &dockerExec{d: d, execID: created.ID, hj: hj, tty: spec.TTY, done: make(chan struct{})}
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
	d      *Docker
	execID string
	hj     types.HijackedResponse
	tty    bool

	done   chan struct{}
	status containerizer.ExitStatus
	err    error

	killOnce sync.Once
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
		_ = p.Kill()
		<-p.done
	}
	return p.status, p.err
}

// Kill ends the command. The Engine has no call for that, so the agent,
// which shares the host (and pid namespace) with the daemon it talks to
// over a local socket, signals the exec's process itself.
func (p *dockerExec) Kill() error {
	var err error
	p.killOnce.Do(func() {
		in, ierr := p.d.cli.ContainerExecInspect(context.Background(), p.execID)
		if ierr != nil {
			err = p.d.apiErr("kill exec", ierr)
			return
		}
		if in.Running && in.Pid > 0 {
			if kerr := syscall.Kill(in.Pid, syscall.SIGKILL); kerr != nil {
				err = fmt.Errorf("kill exec: %w", kerr)
			}
		}
	})
	return err
}
