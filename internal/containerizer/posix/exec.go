package posix

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/basalt-dcos/basalt/internal/containerizer"
)

// Exec: running a command inside a running container (`basalt task exec`).
//
// A process of a multi-threaded Go program cannot setns(2) into a mount
// namespace, so the agent cannot enter a container itself. Instead the one
// process that is already inside everything the task is in — its shim: pid 1
// of the container's pid, mount, UTS and IPC namespaces, a member of its
// cgroups, holding its spec (environment, user, sandbox) — starts the command
// as its own child, exactly as it started the task:
//
//	agent                                 shim (in the container)
//	  │ connect <state dir>/exec.sock  ───►  accept (peer must be the shim's uid)
//	  │ {"args":[..],"tty":b} + 3 fds  ───►  start child: fds as stdin/out/err,
//	  │   (pipes, or a PTY's slave ×3;        task env, user, cwd = sandbox,
//	  │    SCM_RIGHTS)                        own session (+ controlling tty)
//	  │                                ◄───  {"pid":N}  or {"error":".."}
//	  │ copies stdin/stdout/stderr            reaps the child (as pid 1 it reaps
//	  │   (or the PTY master) itself          everything; exec'd pids are routed
//	  │                                       to their waiter)
//	  │                                ◄───  {"exited":true,"status":<wait status>}
//	  │ half-close = kill the command  ───►  SIGKILL to the child's session
//
// The socket lives in the container's state directory, which survives an agent
// restart, so a recovered container still accepts exec; the shim serves it for
// as long as it supervises the task and the kernel removes it with the shim.
// The path may be longer than a socket address allows (108 bytes), so the
// shim binds it relative to its working directory (the state directory) and
// the agent connects through /proc/self/fd/<dirfd>/exec.sock.
//
// The agent never hands the shim anything but a command and three open
// descriptors: what the command may do is what the task may do.
//
// A task whose root is not the shim's (a container image: the task is
// chrooted into the image's rootfs) gets its commands chrooted into the same
// root, reached as /proc/<task pid>/root, and started in $MESOS_SANDBOX (or /)
// there; the executable is looked up in the task's PATH inside that root.

// execSockFile is the exec socket in a container's state directory.
const execSockFile = "exec.sock"

// maxExecRequest bounds an exec request (argv) on the socket.
const maxExecRequest = 256 << 10

// execDrainGrace is how long, after an exec'd command ended, its output is
// still copied: a process it left in the background may hold the pipes open.
const execDrainGrace = 2 * time.Second

// execRequest is the agent's request on the exec socket; the command's
// stdin, stdout and stderr travel with it as SCM_RIGHTS.
type execRequest struct {
	Args []string `json:"args"`
	TTY  bool     `json:"tty,omitempty"`
}

// execReply is one line the shim writes back: first the started pid (or an
// error), then how the command ended.
type execReply struct {
	PID    int    `json:"pid,omitempty"`
	Error  string `json:"error,omitempty"`
	Exited bool   `json:"exited,omitempty"`
	Status int    `json:"status,omitempty"` // POSIX wait status
}

// execServer is the shim's side: it starts commands in the container.
type execServer struct {
	spec    shimSpec
	reap    bool // the shim is pid 1 and reaps every child (waitTask)
	taskPID int  // the task's host pid

	// mu is held while a command starts and while a reaped status is
	// routed, so that a command that ends at once is still found.
	mu      sync.Mutex
	waiting map[int]chan syscall.WaitStatus
}

// startExecServer listens on the exec socket in the working directory (the
// container's state directory) and serves it until the shim exits.
func startExecServer(spec shimSpec, taskPID int) (*execServer, error) {
	_ = os.Remove(execSockFile) // left by a shim of an earlier run
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: execSockFile, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("exec socket: %w", err)
	}
	if err := os.Chmod(execSockFile, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("exec socket: %w", err)
	}
	s := &execServer{spec: spec, reap: spec.Namespaces, taskPID: taskPID, waiting: map[int]chan syscall.WaitStatus{}}
	go func() {
		for {
			c, err := l.AcceptUnix()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			go s.handle(c)
		}
	}()
	return s, nil
}

// reaped routes the status of a child that is not the task (pid 1 reaps
// them all) to the exec waiting for it; other orphans are dropped.
func (s *execServer) reaped(pid int, ws syscall.WaitStatus) {
	if s == nil {
		return
	}
	s.mu.Lock()
	ch := s.waiting[pid]
	delete(s.waiting, pid)
	s.mu.Unlock()
	if ch != nil {
		ch <- ws
	}
}

// killAll ends every exec'd command's session (the task ended). Without
// namespaces they are in sessions of their own, which the task's end does not
// reach.
func (s *execServer) killAll() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid := range s.waiting {
		killSession(pid, syscall.SIGKILL)
	}
}

func (s *execServer) handle(c *net.UnixConn) {
	defer c.Close()
	reply := func(r execReply) {
		b, _ := json.Marshal(r)
		_, _ = c.Write(append(b, '\n'))
	}
	if err := checkPeer(c); err != nil {
		reply(execReply{Error: err.Error()})
		return
	}
	buf := make([]byte, maxExecRequest)
	oob := make([]byte, unix.CmsgSpace(3*4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return
	}
	files, ferr := receivedFiles(oob[:oobn])
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	var req execRequest
	if err := errors.Join(ferr, json.Unmarshal(buf[:n], &req)); err != nil {
		reply(execReply{Error: "bad exec request: " + err.Error()})
		return
	}
	if len(files) != 3 || len(req.Args) == 0 || req.Args[0] == "" {
		reply(execReply{Error: "bad exec request: want a command and 3 descriptors"})
		return
	}
	pid, wait, err := s.start(req, files)
	for _, f := range files {
		f.Close()
	}
	files = nil
	if err != nil {
		reply(execReply{Error: err.Error()})
		return
	}
	reply(execReply{PID: pid})

	// The agent half-closes (or goes away) to kill the command.
	var mu sync.Mutex
	exited := false
	go func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(c, 1<<20))
		mu.Lock()
		defer mu.Unlock()
		if !exited {
			killSession(pid, syscall.SIGKILL)
		}
	}()
	ws := <-wait
	mu.Lock()
	exited = true
	mu.Unlock()
	reply(execReply{Exited: true, Status: int(ws)})
}

// start starts req with stdio as the task's sibling: the task's environment,
// user and working directory, in a session of its own (on the terminal of
// stdio when req.TTY).
func (s *execServer) start(req execRequest, stdio []*os.File) (int, <-chan syscall.WaitStatus, error) {
	root := taskRoot(s.taskPID)
	dir := s.spec.Dir
	if root != "" {
		dir = "/"
		if sb := envValue(s.spec.Env, "MESOS_SANDBOX"); sb != "" && filepath.IsAbs(sb) {
			if fi, err := os.Stat(filepath.Join(root, sb)); err == nil && fi.IsDir() {
				dir = sb
			}
		}
	}
	path, err := lookPathRooted(root, req.Args[0], dir, s.spec.Env)
	if err != nil {
		return 0, nil, err
	}
	env := s.spec.Env
	if env == nil {
		env = []string{}
	}
	cmd := &exec.Cmd{
		Path: path, Args: req.Args, Env: env, Dir: dir,
		Stdin: stdio[0], Stdout: stdio[1], Stderr: stdio[2],
		// Ctty is the child's descriptor 0, the terminal's slave.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true, Setctty: req.TTY, Ctty: 0, Chroot: root},
	}
	if s.spec.SetUser {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: s.spec.UID, Gid: s.spec.GID, Groups: s.spec.Groups}
	}
	ch := make(chan syscall.WaitStatus, 1)
	start := cmd.Start
	if root != "" {
		start = func() error { return startConfined(cmd) } // caps.go
	}
	s.mu.Lock()
	err = start()
	if err == nil {
		s.waiting[cmd.Process.Pid] = ch
	}
	s.mu.Unlock()
	if err != nil {
		return 0, nil, fmt.Errorf("start %s: %w", path, err)
	}
	pid := cmd.Process.Pid
	if s.reap {
		// waitTask reaps it and calls reaped.
		_ = cmd.Process.Release()
	} else {
		go func() {
			var ws syscall.WaitStatus
			err := cmd.Wait()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				ws, _ = ee.Sys().(syscall.WaitStatus)
			} else if err != nil {
				ws = syscall.WaitStatus(syscall.SIGKILL)
			}
			s.reaped(pid, ws)
		}()
	}
	return pid, ch, nil
}

// taskRoot is the task's root directory as the shim reaches it
// (/proc/<pid>/root), or "" when it is the shim's own.
func taskRoot(taskPID int) string {
	if taskPID <= 0 {
		return ""
	}
	// The link reads as the task's root seen from the shim's: "/" when it
	// is the same (a stat would not tell a bind mount of / from /).
	root := "/proc/" + strconv.Itoa(taskPID) + "/root"
	if target, err := os.Readlink(root); err != nil || target == "/" {
		return ""
	}
	return root
}

// lookPathRooted is lookPath inside root ("" = /): the path it returns is
// the one to exec after chroot(root).
func lookPathRooted(root, name, dir string, env []string) (string, error) {
	if root == "" {
		return lookPath(name, dir, env)
	}
	pathEnv := defaultPath
	if v := envValue(env, "PATH"); v != "" {
		pathEnv = v
	}
	var dirs []string
	for _, d := range filepath.SplitList(pathEnv) {
		if !filepath.IsAbs(d) {
			d = filepath.Join(dir, d)
		}
		dirs = append(dirs, filepath.Join(root, d))
	}
	if strings.Contains(name, "/") && filepath.IsAbs(name) {
		name = filepath.Join(root, name)
	}
	p, err := lookPath(name, filepath.Join(root, dir), []string{"PATH=" + strings.Join(dirs, ":")})
	if err != nil {
		return "", fmt.Errorf("in the task's root file system: %w", err)
	}
	rel, err := filepath.Rel(root, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("executable %q is outside the task's root file system", name)
	}
	return "/" + rel, nil
}

// envValue is the value of key in a KEY=VALUE list (the last one wins).
func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if val, ok := strings.CutPrefix(kv, key+"="); ok {
			v = val
		}
	}
	return v
}

// checkPeer admits only the shim's own user (the agent's): the socket's mode
// already says so; this also holds if the directory's mode is ever loosened.
func checkPeer(c *net.UnixConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("exec peer credentials: %w", cerr)
	}
	if int(cred.Uid) != os.Geteuid() {
		return fmt.Errorf("exec refused to uid %d", cred.Uid)
	}
	return nil
}

// receivedFiles turns the SCM_RIGHTS of a message into files.
func receivedFiles(oob []byte) ([]*os.File, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("control message: %w", err)
	}
	var files []*os.File
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			unix.CloseOnExec(fd)
			files = append(files, os.NewFile(uintptr(fd), "exec-fd-"+strconv.Itoa(fd)))
		}
	}
	return files, nil
}

// Exec runs spec inside the running container id, through its shim (see the
// top of this file).
func (c *Containerizer) Exec(ctx context.Context, id string, spec containerizer.ExecSpec) (containerizer.ExecProcess, error) {
	ct, err := c.get(id)
	if err != nil {
		return nil, err
	}
	select {
	case <-ct.done:
		return nil, fmt.Errorf("exec in container %s: %w", id, containerizer.ErrNotRunning)
	default:
	}
	if len(spec.Args) == 0 || spec.Args[0] == "" {
		return nil, fmt.Errorf("exec in container %s: no command", id)
	}
	conn, err := dialExec(ctx, ct.dir)
	if err != nil {
		return nil, fmt.Errorf("exec in container %s: %w", id, err)
	}
	p, err := startExec(conn, spec)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("exec in container %s: %w", id, err)
	}
	c.log.Info("exec started", "container_id", id, "pid", p.pid, "tty", spec.TTY)
	return p, nil
}

// dialExec connects to the exec socket of the container state directory
// dir, through a descriptor of dir so that the path's length does not matter.
func dialExec(ctx context.Context, dir string) (*net.UnixConn, error) {
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open state dir: %w", err)
	}
	defer unix.Close(dfd)
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", "/proc/self/fd/"+strconv.Itoa(dfd)+"/"+execSockFile)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w: its supervisor does not accept commands (it is gone, or predates exec)", containerizer.ErrNotRunning)
		}
		return nil, fmt.Errorf("connect to the container's supervisor: %w", err)
	}
	return conn.(*net.UnixConn), nil
}

// execProcess is the agent's side of one exec'd command.
type execProcess struct {
	conn *net.UnixConn
	pid  int
	tty  *os.File // the PTY master, nil without TTY

	done   chan struct{} // closed once status/err are set
	status containerizer.ExitStatus
	err    error
}

// startExec sends spec to the shim on conn and starts copying its stdio.
func startExec(conn *net.UnixConn, spec containerizer.ExecSpec) (*execProcess, error) {
	p := &execProcess{conn: conn, done: make(chan struct{})}
	// ours are the agent's ends, theirs go to the shim (and are closed here
	// once sent).
	var theirs []*os.File
	var stdinW io.WriteCloser
	var outs []*os.File
	closeAll := func(fs []*os.File) {
		for _, f := range fs {
			f.Close()
		}
	}
	if spec.TTY {
		m, s, err := pty.Open()
		if err != nil {
			return nil, fmt.Errorf("open a pseudo-terminal: %w", err)
		}
		if spec.Rows > 0 && spec.Columns > 0 {
			_ = pty.Setsize(m, &pty.Winsize{Rows: spec.Rows, Cols: spec.Columns})
		}
		p.tty = m
		theirs = []*os.File{s, s, s}
		stdinW = nopCloser{m}
		outs = []*os.File{m}
	} else {
		var fds [6]*os.File
		for i := 0; i < 3; i++ {
			r, w, err := os.Pipe()
			if err != nil {
				closeAll(fds[:2*i])
				return nil, fmt.Errorf("exec pipes: %w", err)
			}
			fds[2*i], fds[2*i+1] = r, w
		}
		theirs = []*os.File{fds[0], fds[3], fds[5]}
		stdinW = fds[1]
		outs = []*os.File{fds[2], fds[4]}
	}
	fail := func(err error) (*execProcess, error) {
		closeAll(theirs)
		closeAll(outs)
		if !spec.TTY {
			stdinW.Close()
		}
		return nil, err
	}
	req, err := json.Marshal(execRequest{Args: spec.Args, TTY: spec.TTY})
	if err != nil {
		return fail(err)
	}
	rights := unix.UnixRights(int(theirs[0].Fd()), int(theirs[1].Fd()), int(theirs[2].Fd()))
	if _, _, err := conn.WriteMsgUnix(req, rights, nil); err != nil {
		return fail(fmt.Errorf("send the command to the container's supervisor: %w", err))
	}
	closeAll(uniqueFiles(theirs))
	theirs = nil
	rd := bufio.NewReader(io.LimitReader(conn, 1<<20))
	first, err := readExecReply(rd)
	if err != nil {
		return fail(err)
	}
	if first.Error != "" {
		return fail(errors.New(first.Error))
	}
	p.pid = first.PID

	// Output: one copier per stream; with a TTY the master carries all.
	var copies sync.WaitGroup
	sinks := []io.Writer{spec.Stdout, spec.Stderr}
	for i, f := range outs {
		w := sinks[i]
		if w == nil {
			w = io.Discard
		}
		copies.Add(1)
		go func() {
			defer copies.Done()
			_, _ = io.Copy(w, f) // EIO from a PTY master: the slave is closed
		}()
	}
	// Input, until the caller's reader ends; EOF closes the command's stdin
	// (a terminal is left open: its EOF is a typed ^D).
	if spec.Stdin != nil {
		go func() {
			_, _ = io.Copy(stdinW, spec.Stdin)
			if !spec.TTY {
				stdinW.Close()
			}
		}()
	} else if !spec.TTY {
		stdinW.Close()
	}
	go func() {
		last, err := readExecReply(rd)
		switch {
		case err != nil:
			p.err = fmt.Errorf("the container's supervisor went away: %w", err)
		case !last.Exited:
			p.err = errors.New("unexpected message from the container's supervisor")
		default:
			p.status = exitStatusOf(syscall.WaitStatus(last.Status))
		}
		drained := make(chan struct{})
		go func() { copies.Wait(); close(drained) }()
		select {
		case <-drained:
		case <-time.After(execDrainGrace):
		}
		closeAll(outs) // stops copiers stuck on a pipe held by a leftover process
		<-drained
		if !spec.TTY {
			stdinW.Close()
		}
		conn.Close()
		close(p.done)
	}()
	return p, nil
}

func readExecReply(rd *bufio.Reader) (execReply, error) {
	line, err := rd.ReadBytes('\n')
	if err != nil {
		if errors.Is(err, io.EOF) {
			return execReply{}, errors.New("the container's supervisor closed the connection (did the task end?)")
		}
		return execReply{}, fmt.Errorf("read from the container's supervisor: %w", err)
	}
	var r execReply
	if err := json.Unmarshal(line, &r); err != nil {
		return execReply{}, fmt.Errorf("reply of the container's supervisor: %w", err)
	}
	return r, nil
}

func exitStatusOf(ws syscall.WaitStatus) containerizer.ExitStatus {
	if ws.Signaled() {
		return containerizer.ExitStatus{Code: -1, Signal: int(ws.Signal())}
	}
	return containerizer.ExitStatus{Code: ws.ExitStatus()}
}

// uniqueFiles drops repeats (a PTY slave is sent as all three descriptors).
func uniqueFiles(fs []*os.File) []*os.File {
	var out []*os.File
	for _, f := range fs {
		dup := false
		for _, o := range out {
			dup = dup || o == f
		}
		if !dup {
			out = append(out, f)
		}
	}
	return out
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// Resize changes the size of the command's terminal.
func (p *execProcess) Resize(rows, columns uint16) error {
	if p.tty == nil {
		return errors.New("resize: the command has no terminal")
	}
	if err := pty.Setsize(p.tty, &pty.Winsize{Rows: rows, Cols: columns}); err != nil {
		return fmt.Errorf("resize terminal: %w", err)
	}
	return nil
}

// Wait waits for the command's end; cancelling ctx kills it.
func (p *execProcess) Wait(ctx context.Context) (containerizer.ExitStatus, error) {
	select {
	case <-p.done:
	case <-ctx.Done():
		_ = p.Kill()
		<-p.done
	}
	return p.status, p.err
}

// Kill asks the shim to kill the command's session (by half-closing).
func (p *execProcess) Kill() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.conn.CloseWrite(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("kill exec'd command: %w", err)
	}
	return nil
}
