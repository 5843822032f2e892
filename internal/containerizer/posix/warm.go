package posix

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Warm shims.
//
// Starting a shim costs the start-up of the agent's binary (tens of ms for a
// large Go program), which would otherwise be paid on every launch. So the
// containerizer keeps Config.WarmShims (DefaultWarmShims) shims started
// ahead of time and idle: each has gone through its start-up and blocks
// reading its spec pipe (specFD). Launch writes the container's id on that pipe and the shim then
// proceeds exactly as a cold one (readiness on readyFD, state in the
// container's directory); the next warm shim is started in the background.
//
// An idle warm shim belongs to no container and has no container directory,
// so Recover cannot take it for a task. The write end of its spec pipe is held
// by the agent only (close-on-exec), so when the agent dies the shim reads EOF
// and exits by itself; Close (agent stop) kills the idle ones. Each idle shim
// is also recorded in StateDir/.warm/<pid>.json, and Recover kills the ones
// recorded there that are not its own (left by an earlier instance in the same
// process, which never saw EOF). The record is removed before a shim is
// claimed, so a claimed shim is never killed as an idle one.

// ShimWarmEnv is the environment variable that starts a warm shim; its value
// is the containerizer's state directory.
const ShimWarmEnv = "BASALT_POSIX_SHIM_WARM"

// specFD is the descriptor on which a warm shim receives its container id.
const specFD = 4

// warmDir is the directory of StateDir recording idle warm shims. Its name
// starts with a dot, which no container id the agent makes does.
const warmDir = ".warm"

// warmShim is one idle pre-started shim.
type warmShim struct {
	cmd    *exec.Cmd
	spec   *os.File // write end of the shim's spec pipe
	ready  *os.File // read end of the shim's readiness pipe
	record string   // path of its record in warmDir
}

// warmTarget is how many idle shims to keep.
func (c *Containerizer) warmTarget() int {
	if c.cfg.WarmShims < 0 {
		return 0
	}
	return c.cfg.WarmShims
}

// refillWarm tops the idle pool up in the background.
func (c *Containerizer) refillWarm() {
	c.warmMu.Lock()
	defer c.warmMu.Unlock()
	if c.closed || c.warmStarting || len(c.warm) >= c.warmTarget() {
		return
	}
	c.warmStarting = true
	c.warmWG.Add(1)
	go func() {
		defer c.warmWG.Done()
		for {
			c.warmMu.Lock()
			if c.closed || len(c.warm) >= c.warmTarget() {
				c.warmStarting = false
				c.warmMu.Unlock()
				return
			}
			c.warmMu.Unlock()
			w, err := c.startWarm()
			c.warmMu.Lock()
			c.warmNew = ""
			if err != nil {
				c.warmStarting = false
				c.warmMu.Unlock()
				c.log.Warn("start warm shim", "error", err)
				return
			}
			if c.closed {
				c.warmMu.Unlock()
				c.discardWarm(w)
				return
			}
			c.warm = append(c.warm, w)
			c.warmMu.Unlock()
		}
	}()
}

// startWarm starts one idle shim.
func (c *Containerizer) startWarm() (*warmShim, error) {
	dir := filepath.Join(c.cfg.StateDir, warmDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("readiness pipe: %w", err)
	}
	defer readyW.Close()
	specR, specW, err := os.Pipe()
	if err != nil {
		readyR.Close()
		return nil, fmt.Errorf("spec pipe: %w", err)
	}
	defer specR.Close()
	cmd := &exec.Cmd{
		Path:        c.cfg.ShimCommand[0],
		Args:        c.cfg.ShimCommand,
		Env:         []string{ShimWarmEnv + "=" + c.cfg.StateDir, "GOMAXPROCS=1"},
		Dir:         c.cfg.StateDir,
		ExtraFiles:  []*os.File{readyW, specR}, // readyFD, specFD
		SysProcAttr: c.shimAttr(),
	}
	if err := cmd.Start(); err != nil {
		readyR.Close()
		specW.Close()
		return nil, fmt.Errorf("start warm shim: %w", err)
	}
	w := &warmShim{cmd: cmd, spec: specW, ready: readyR,
		record: filepath.Join(dir, strconv.Itoa(cmd.Process.Pid)+".json")}
	// Own it before it is recorded, so that a concurrent Recover does not
	// take it for another instance's.
	c.warmMu.Lock()
	c.warmNew = filepath.Base(w.record)
	c.warmMu.Unlock()
	rec := pidsRecord{ShimPID: cmd.Process.Pid}
	if st, err := readStat(rec.ShimPID); err == nil {
		rec.ShimStart = st.StartTime
	}
	if err := writeJSONAtomic(dir, filepath.Base(w.record), rec); err != nil {
		c.discardWarm(w)
		return nil, err
	}
	return w, nil
}

// takeWarm removes an idle shim from the pool, or returns nil.
func (c *Containerizer) takeWarm() *warmShim {
	c.warmMu.Lock()
	defer c.warmMu.Unlock()
	if len(c.warm) == 0 {
		return nil
	}
	w := c.warm[0]
	c.warm = c.warm[1:]
	return w
}

// claim hands the container id to w. On error w is gone.
func (c *Containerizer) claim(w *warmShim, id string) (*exec.Cmd, *os.File, error) {
	// Unrecorded first: once the shim has its container, nothing may kill
	// it as an idle one.
	if err := os.Remove(w.record); err != nil && !errors.Is(err, os.ErrNotExist) {
		c.discardWarm(w)
		return nil, nil, err
	}
	_, err := w.spec.Write([]byte(id + "\n"))
	w.spec.Close()
	if err != nil {
		// The shim died while idle (EPIPE).
		w.ready.Close()
		_ = w.cmd.Process.Kill()
		_ = w.cmd.Wait()
		return nil, nil, fmt.Errorf("hand over to warm shim: %w", err)
	}
	return w.cmd, w.ready, nil
}

// discardWarm kills an idle shim and reaps it.
func (c *Containerizer) discardWarm(w *warmShim) {
	_ = os.Remove(w.record)
	w.spec.Close()
	w.ready.Close()
	_ = w.cmd.Process.Kill()
	_ = w.cmd.Wait()
}

// Close stops the idle warm shims and waits for the background starts. It
// does not touch containers, which outlive the agent. Launch still works
// afterwards, starting each shim when it is needed.
func (c *Containerizer) Close() error {
	c.warmMu.Lock()
	c.closed = true
	idle := c.warm
	c.warm = nil
	c.warmMu.Unlock()
	for _, w := range idle {
		c.discardWarm(w)
	}
	c.warmWG.Wait()
	return nil
}

// killStaleWarm kills the idle shims recorded in warmDir that are not in this
// containerizer's pool, and removes their records.
func (c *Containerizer) killStaleWarm() {
	dir := filepath.Join(c.cfg.StateDir, warmDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	c.warmMu.Lock()
	own := map[string]bool{c.warmNew: true}
	for _, w := range c.warm {
		own[filepath.Base(w.record)] = true
	}
	c.warmMu.Unlock()
	for _, e := range ents {
		name := e.Name()
		if own[name] || !strings.HasSuffix(name, ".json") {
			continue
		}
		var rec pidsRecord
		if readJSON(dir, name, &rec) == nil && rec.ShimStart != 0 && alive(rec.ShimPID, rec.ShimStart) {
			_ = syscall.Kill(rec.ShimPID, syscall.SIGKILL)
			c.log.Info("stale warm shim killed", "pid", rec.ShimPID)
		}
		_ = os.Remove(filepath.Join(dir, name))
	}
}

// runWarmShim is the body of a warm shim: wait for a container id on
// specFD, then supervise that container as a cold shim would. EOF on specFD
// (the agent closed it or died) ends the shim quietly.
func runWarmShim(stateDir string) error {
	ready, ok := inheritedPipe(readyFD, "ready")
	if !ok {
		return errors.New("no readiness pipe")
	}
	spec, ok := inheritedPipe(specFD, "spec")
	if !ok {
		return errors.New("no spec pipe")
	}
	p := prepareShim()
	primeShim()
	type got struct {
		line string
		err  error
	}
	gotc := make(chan got, 1)
	go func() {
		line, err := bufio.NewReader(io.LimitReader(spec, 4096)).ReadString('\n')
		gotc <- got{line, err}
	}()
	var line string
	select {
	case g := <-gotc:
		if g.err != nil {
			return nil // idle until the agent went away: nothing to do
		}
		line = g.line
	case <-p.sigs:
		return nil // stopped while idle
	}
	spec.Close()
	id := strings.TrimSuffix(line, "\n")
	if err := validID(id); err != nil {
		return err
	}
	dir := filepath.Join(stateDir, id)
	if err := os.Chdir(dir); err != nil {
		return err
	}
	// From here on, the shim's output goes where a cold shim's does.
	logf, err := os.OpenFile(filepath.Join(dir, shimLogFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err == nil {
		_ = unix.Dup3(int(logf.Fd()), 1, 0)
		_ = unix.Dup3(int(logf.Fd()), 2, 0)
		logf.Close()
	}
	return runShim(dir, ready, p)
}

// primeShim runs, while the shim is idle, the code its launch will run
// first (JSON of its records, /proc and file system calls), so that the
// launch does not wait for those pages of the binary to be faulted in.
func primeShim() {
	var spec shimSpec
	b, _ := json.Marshal(shimSpec{Args: []string{"x"}, Env: []string{"A=b"}})
	_ = json.Unmarshal(b, &spec)
	_, _ = json.Marshal(pidsRecord{ShimPID: 1})
	_, _ = json.Marshal(readyMsg{TaskPID: 1})
	_, _ = readStat(os.Getpid())
	if f, err := os.Open(os.DevNull); err == nil {
		f.Close()
	}
	_ = checkExecutable("/bin/sh")
}

// inheritedPipe returns descriptor fd as a file if it is a pipe (started any
// other way, it could be one of the runtime's own descriptors), marked
// close-on-exec so that the task does not inherit it.
func inheritedPipe(fd int, name string) (*os.File, bool) {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFIFO {
		return nil, false
	}
	syscall.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), name), true
}
