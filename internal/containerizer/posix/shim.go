package posix

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// ShimEnv is the environment variable that turns a process of the agent's
// binary into a container shim; its value is the container's state directory.
const ShimEnv = "BASALT_POSIX_SHIM"

// readyFD is the descriptor on which the shim reports that the task started
// (or why it did not) and then closes. It is the only pipe shared with the
// agent, written once before the agent can be expected to be gone; Go returns
// EPIPE (no SIGPIPE) for writes to descriptors other than 1 and 2.
const readyFD = 3

// readyMsg is the shim's one message on readyFD.
type readyMsg struct {
	TaskPID int    `json:"task_pid,omitempty"`
	Error   string `json:"error,omitempty"`
}

// defaultPath is searched for an argv-form executable when the task's
// environment has no PATH.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// MaybeRunShim runs the container shim when this process was started as one
// (ShimEnv set) and reports handled=true with the exit code the process must
// exit with. Otherwise it returns handled=false at once. cmd/basalt's main and
// the TestMain of packages that launch posix containers call it first:
//
//	if handled, code := posix.MaybeRunShim(); handled {
//		os.Exit(code)
//	}
func MaybeRunShim() (handled bool, exitCode int) {
	if stateDir, ok := os.LookupEnv(ShimWarmEnv); ok {
		if err := runWarmShim(stateDir); err != nil {
			fmt.Fprintf(os.Stderr, "basalt posix warm shim %s: %v\n", stateDir, err)
			return true, 1
		}
		return true, 0
	}
	dir, ok := os.LookupEnv(ShimEnv)
	if !ok {
		return false, 0
	}
	ready, _ := inheritedPipe(readyFD, "ready")
	if err := runShim(dir, ready, prepareShim()); err != nil {
		fmt.Fprintf(os.Stderr, "basalt posix shim %s: %v\n", dir, err)
		return true, 1
	}
	return true, 0
}

// runShim supervises one task: start it in its own session, report readiness,
// wait for it, kill whatever is left of its session, and record how it ended.
//
// The shim runs in its own session (the agent starts it with setsid), so
// signals aimed at the agent's process group or terminal do not reach it, and
// it holds no pipe to the agent after startup: it outlives the agent.
// ready is the readiness pipe (nil: none).
func runShim(dir string, ready *os.File, p shimPrep) error {
	report := func(m readyMsg) {
		if ready == nil {
			return
		}
		b, _ := json.Marshal(m)
		_, _ = ready.Write(append(b, '\n'))
		_ = ready.Close()
		ready = nil
	}
	sigs := p.sigs
	pids := pidsRecord{ShimPID: selfPID(), ShimStart: p.start}
	fail := func(err error) error {
		report(readyMsg{Error: err.Error()})
		_ = writeJSONAtomic(dir, terminationFile, terminationRecord{
			ExitCode:   -1,
			Reason:     mesosv1.ReasonContainerLaunchFailed,
			Message:    "Failed to launch container: " + err.Error(),
			FinishedAt: time.Now(),
		})
		return err
	}
	if err := writeJSONAtomic(dir, pidsFile, pids); err != nil {
		return fail(err)
	}
	var spec shimSpec
	if err := readJSON(dir, launchFile, &spec); err != nil {
		return fail(fmt.Errorf("read launch spec: %w", err))
	}
	if err := setupMounts(dir, &spec); err != nil {
		return fail(err)
	}
	cmd, err := taskCommand(spec)
	if err != nil {
		return fail(err)
	}
	if err := isolate(spec); err != nil {
		closeFiles(cmd)
		return fail(err)
	}
	start := cmd.Start
	if spec.Chroot != "" {
		start = func() error { return startConfined(cmd) } // caps.go
	}
	if err := start(); err != nil {
		closeFiles(cmd)
		return fail(fmt.Errorf("start %s: %w", cmd.Path, err))
	}
	closeFiles(cmd)
	// local is the task's pid as the shim sees it; pids.TaskPID as the
	// agent does. They differ when the shim is pid 1 of its own namespace.
	local := cmd.Process.Pid
	pids.TaskPID = local
	if spec.Namespaces {
		pids.TaskPID = hostChildPID(local)
		isolateShimAfterStart(spec)
	}
	if st, err := readStat(pids.TaskPID); err == nil {
		pids.TaskStart = st.StartTime
	}
	if err := writeJSONAtomic(dir, pidsFile, pids); err != nil {
		// The task runs but cannot be found after an agent restart; say so
		// and carry on supervising it.
		fmt.Fprintf(os.Stderr, "record pids: %v\n", err)
	}
	// Commands exec'd into the container (exec.go); a shim that cannot
	// serve them still supervises its task.
	execs, err := startExecServer(spec, pids.TaskPID)
	if err != nil {
		fmt.Fprintf(os.Stderr, "exec socket: %v\n", err)
	}
	report(readyMsg{TaskPID: pids.TaskPID})
	trimMemory() // trim.go: from here on the shim mostly waits

	waited := make(chan waitResult, 1)
	go func() { waited <- waitTask(cmd, spec.Namespaces, execs.reaped) }()
	var wr waitResult
loop:
	for {
		select {
		case wr = <-waited:
			break loop
		case <-sigs:
			_ = syscall.Kill(-local, syscall.SIGTERM)
		}
	}
	// The container ends with its main process: nothing of its session may
	// outlive it (as Mesos destroys the container when the executor exits).
	if spec.Namespaces {
		// As pid 1 of the namespace, kill(-1) reaches every other process
		// in it, whatever its session.
		_ = syscall.Kill(-1, syscall.SIGKILL)
	} else {
		killSession(pids.TaskPID, syscall.SIGKILL)
		execs.killAll()
	}

	rec := terminationRecord{FinishedAt: time.Now()}
	switch werr, ws := wr.err, wr.status; {
	case werr == nil:
		if ws.Signaled() {
			rec.ExitCode = -1
			rec.Signal = int(ws.Signal())
			rec.Message = "Command terminated with signal " + signalName(ws.Signal())
		} else {
			rec.ExitCode = ws.ExitStatus()
			rec.Message = fmt.Sprintf("Command exited with status %d", rec.ExitCode)
		}
	default:
		rec.ExitCode = -1
		rec.Reason = mesosv1.ReasonExecutorTerminated
		rec.Message = "Failed to wait for command: " + werr.Error()
	}
	return writeJSONAtomic(dir, terminationFile, rec)
}

// shimPrep is what a shim sets up before it knows its container (a warm
// shim does it while idle).
type shimPrep struct {
	sigs  chan os.Signal // SIGTERM
	start uint64         // the shim's own start time
}

func prepareShim() shimPrep {
	// Signals for a terminal or a dead reader must not end the shim. SIGTERM
	// (e.g. a service manager stopping everything) is passed on to the task,
	// which then ends and is recorded as usual.
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGPIPE, syscall.SIGQUIT)
	p := shimPrep{sigs: make(chan os.Signal, 1)}
	signal.Notify(p.sigs, syscall.SIGTERM)
	if st, err := readStat(selfPID()); err == nil {
		p.start = st.StartTime
	}
	return p
}

// signalName is "Terminated", "Killed", ... as strsignal(3) spells them.
func signalName(s syscall.Signal) string {
	n := s.String()
	if n == "" {
		return fmt.Sprintf("%d", int(s))
	}
	return strings.ToUpper(n[:1]) + n[1:]
}

// killSession sends sig to the task's process group and to every process
// still in its session (a process may have moved to another group).
func killSession(sid int, sig syscall.Signal) {
	if sid <= 0 {
		return
	}
	_ = syscall.Kill(-sid, sig)
	for _, pid := range sessionMembers(sid) {
		_ = syscall.Kill(pid, sig)
	}
}

// taskCommand builds the task's exec.Cmd from spec: its own session, exactly
// spec.Env, cwd = spec.Dir, stdout/stderr appended to the sandbox files.
func taskCommand(spec shimSpec) (*exec.Cmd, error) {
	if spec.Path == "" || len(spec.Args) == 0 {
		return nil, errors.New("no command")
	}
	var path string
	var err error
	if spec.Chroot != "" {
		path, err = lookPathIn(spec.Chroot, spec.Path, spec.Dir, spec.Env)
	} else {
		path, err = lookPath(spec.Path, spec.Dir, spec.Env)
	}
	if err != nil {
		return nil, err
	}
	stdin, err := os.Open(os.DevNull)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	stdout, err := openLog(spec.Stdout, spec)
	if err != nil {
		stdin.Close()
		return nil, err
	}
	stderr, err := openLog(spec.Stderr, spec)
	if err != nil {
		stdin.Close()
		stdout.Close()
		return nil, err
	}
	env := spec.Env
	if env == nil {
		env = []string{} // nil would mean "inherit the shim's environment"
	}
	cmd := &exec.Cmd{
		Path:        path,
		Args:        spec.Args,
		Env:         env,
		Dir:         spec.Dir,
		Stdin:       stdin,
		Stdout:      stdout,
		Stderr:      stderr,
		SysProcAttr: &syscall.SysProcAttr{Setsid: true, Chroot: spec.Chroot},
	}
	if spec.SetUser {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: spec.UID, Gid: spec.GID, Groups: spec.Groups}
	}
	return cmd, nil
}

func closeFiles(cmd *exec.Cmd) {
	for _, f := range []any{cmd.Stdin, cmd.Stdout, cmd.Stderr} {
		if c, ok := f.(*os.File); ok {
			_ = c.Close()
		}
	}
}

// openLog opens a sandbox log file for appending, owned by the task's user.
func openLog(path string, spec shimSpec) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if spec.SetUser {
		_ = f.Chown(int(spec.UID), int(spec.GID))
	}
	return f, nil
}

// lookPath resolves an argv-form executable as execvp would, but in the
// task's PATH (or defaultPath) rather than the shim's. A name with a slash is
// taken relative to the sandbox.
func lookPath(name, dir string, env []string) (string, error) {
	if name == "" {
		return "", errors.New("empty executable name")
	}
	if strings.Contains(name, "/") {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if err := checkExecutable(p); err != nil {
			return "", err
		}
		return p, nil
	}
	pathEnv := defaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathEnv = v
		}
	}
	for _, d := range filepath.SplitList(pathEnv) {
		if d == "" {
			d = "."
		}
		if !filepath.IsAbs(d) {
			d = filepath.Join(dir, d)
		}
		p := filepath.Join(d, name)
		if checkExecutable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("executable %q not found in PATH %q", name, pathEnv)
}

func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("executable %s: %w", p, err)
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("executable %s: not an executable file", p)
	}
	return nil
}
