package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
	"github.com/basalt-dcos/basalt/pkg/recordio"
)

// The agent's v1 API (POST /api/v1), the subset `dcos task exec` uses:
//
//	LAUNCH_NESTED_CONTAINER_SESSION  runs a command in a running task's
//	    container (containerizer.Execer) and streams its output back as
//	    RecordIO ProcessIO records for as long as it runs; a client that goes
//	    away kills it.
//	ATTACH_CONTAINER_INPUT  a streaming request: the first record names the
//	    session, the next carry stdin data (empty data = EOF), terminal
//	    resizes and heartbeats.
//	WAIT_NESTED_CONTAINER  the session's exit status (a POSIX wait status),
//	    also for a while after it ended.
//	KILL_NESTED_CONTAINER  ends a session.
//
// A session is "nested" in the task's container only by name: its id is the
// client's, its parent must be the container of a task that runs on this
// agent. Nothing of Mesos' other nested-container calls (LAUNCH_/REMOVE_
// NESTED_CONTAINER, ATTACH_CONTAINER_OUTPUT, GET_CONTAINERS) exists yet:
// they answer 501.

// maxFinishedExecs bounds the ended sessions kept for WAIT_NESTED_CONTAINER.
const maxFinishedExecs = 256

// execHeartbeat is how often an idle output stream carries a heartbeat, so
// proxies between the client and the agent do not close it.
const execHeartbeat = 30 * time.Second

// maxAgentCall bounds a JSON call body; input records are bounded the same.
const maxAgentCall = 1 << 20

// execSessions are the running and recently ended exec sessions.
type execSessions struct {
	mu       sync.Mutex
	byID     map[string]*execSession
	finished []string // ids of ended sessions, oldest first
}

// execSession is one command exec'd into a task's container.
type execSession struct {
	id, parent string
	taskID     string
	proc       containerizer.ExecProcess
	stdin      *io.PipeWriter
	done       chan struct{} // closed once status/err are set

	mu       sync.Mutex
	attached bool // an input stream is attached
	status   containerizer.ExitStatus
	err      error
}

// agentAPIError is an error of the agent API with its HTTP status; the body
// is plain text, as Mesos answers.
type agentAPIError struct {
	status int
	msg    string
}

func (e *agentAPIError) Error() string { return e.msg }

func apiErrorf(status int, format string, a ...any) error {
	return &agentAPIError{status: status, msg: fmt.Sprintf(format, a...)}
}

// writeAPIError is the one error→HTTP table of the agent API.
func (a *Agent) writeAPIError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	var ae *agentAPIError
	switch {
	case errors.As(err, &ae):
		status = ae.status
	case errors.Is(err, containerizer.ErrUnknownContainer):
		status = http.StatusNotFound
	case errors.Is(err, containerizer.ErrNotRunning):
		status = http.StatusConflict
	default:
		a.log.Warn("agent API call failed", "error", err)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, err.Error()+"\n")
}

// handleAPI serves POST /api/v1.
func (a *Agent) handleAPI(w http.ResponseWriter, r *http.Request) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case mesosv1.MediaRecordIO:
		a.attachInput(w, r)
		return
	case mesosv1.MediaJSON:
	default:
		a.writeAPIError(w, apiErrorf(http.StatusUnsupportedMediaType,
			"Expecting 'Content-Type' of application/json (or application/recordio for streaming calls)"))
		return
	}
	call, err := decodeAgentCall(io.LimitReader(r.Body, maxAgentCall))
	if err != nil {
		a.writeAPIError(w, err)
		return
	}
	switch call.Type {
	case mesosv1.AgentLaunchNestedContainerSession:
		a.launchSession(w, r, call.LaunchNestedContainerSession)
	case mesosv1.AgentWaitNestedContainer:
		a.waitSession(w, r, call.WaitNestedContainer)
	case mesosv1.AgentKillNestedContainer:
		a.killSession(w, call.KillNestedContainer)
	case mesosv1.AgentAttachContainerInput:
		a.writeAPIError(w, apiErrorf(http.StatusBadRequest, "ATTACH_CONTAINER_INPUT is a streaming call: send it as application/recordio"))
	default:
		a.writeAPIError(w, apiErrorf(http.StatusNotImplemented, "call %q is not implemented by this agent", call.Type))
	}
}

// decodeAgentCall decodes and validates one JSON call, reporting every
// problem of it at once.
func decodeAgentCall(r io.Reader) (mesosv1.AgentCall, error) {
	var call mesosv1.AgentCall
	dec := json.NewDecoder(r)
	if err := dec.Decode(&call); err != nil {
		return call, apiErrorf(http.StatusBadRequest, "Failed to parse body into Call: %v", err)
	}
	var problems []string
	need := func(ok bool, what string) {
		if !ok {
			problems = append(problems, what)
		}
	}
	switch call.Type {
	case "":
		problems = append(problems, "Expecting 'type' to be present")
	case mesosv1.AgentLaunchNestedContainerSession:
		l := call.LaunchNestedContainerSession
		need(l != nil, "Expecting 'launch_nested_container_session' to be present")
		if l != nil {
			problems = append(problems, nestedIDProblems(l.ContainerID)...)
			need(l.Command != nil && (l.Command.Value != "" || len(l.Command.Arguments) > 0),
				"Expecting 'launch_nested_container_session.command' with a value")
		}
	case mesosv1.AgentWaitNestedContainer:
		need(call.WaitNestedContainer != nil, "Expecting 'wait_nested_container' to be present")
		if call.WaitNestedContainer != nil {
			problems = append(problems, nestedIDProblems(call.WaitNestedContainer.ContainerID)...)
		}
	case mesosv1.AgentKillNestedContainer:
		need(call.KillNestedContainer != nil, "Expecting 'kill_nested_container' to be present")
		if call.KillNestedContainer != nil {
			problems = append(problems, nestedIDProblems(call.KillNestedContainer.ContainerID)...)
		}
	}
	if len(problems) > 0 {
		return call, apiErrorf(http.StatusBadRequest, "Failed to validate agent::Call: %s", strings.Join(problems, "; "))
	}
	return call, nil
}

// nestedIDProblems checks a nested container id: a value and a parent.
func nestedIDProblems(id mesosv1.ContainerID) []string {
	var p []string
	if !validContainerValue(id.Value) {
		p = append(p, fmt.Sprintf("container_id.value %q is not a valid container id", id.Value))
	}
	if id.Parent == nil || !validContainerValue(id.Parent.Value) {
		p = append(p, "container_id.parent must name the task's container")
	} else if id.Parent.Parent != nil {
		p = append(p, "containers nested two levels deep are not supported")
	}
	return p
}

func validContainerValue(v string) bool {
	if v == "" || len(v) > 256 || v == "." || v == ".." {
		return false
	}
	for _, c := range v {
		if c <= ' ' || c == '/' || c == '\\' || c == 0x7f {
			return false
		}
	}
	return true
}

// execTarget finds the running task whose container is id.
func (a *Agent) execTarget(id string) (*task, containerizer.Execer, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, fw := range a.frameworks {
		for _, t := range fw.tasks {
			if t.rec.ContainerID != id {
				continue
			}
			if t.phase != phaseRunning || t.cz == nil {
				return nil, nil, fmt.Errorf("task %s: %w", t.id(), containerizer.ErrNotRunning)
			}
			ex, ok := t.cz.(containerizer.Execer)
			if !ok {
				return nil, nil, apiErrorf(http.StatusNotImplemented, "task %s runs in the %s runtime, which cannot run commands in its container", t.id(), t.cz.Name())
			}
			return t, ex, nil
		}
	}
	return nil, nil, apiErrorf(http.StatusNotFound, "no running task on this agent has container %q", id)
}

// execArgs is the argv of a session's CommandInfo.
func execArgs(cmd *mesosv1.CommandInfo) []string {
	if cmd.IsShell() {
		return []string{"/bin/sh", "-c", cmd.Value}
	}
	if len(cmd.Arguments) == 0 {
		return []string{cmd.Value}
	}
	args := append([]string{}, cmd.Arguments...)
	if cmd.Value != "" {
		args[0] = cmd.Value
	}
	return args
}

// outputStream writes ProcessIO records to a streaming response; both of a
// command's outputs and the heartbeat share it.
type outputStream struct {
	mu  sync.Mutex
	w   http.ResponseWriter
	rw  *recordio.Writer
	err error
}

func (o *outputStream) send(m mesosv1.ProcessIO) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err == nil {
		o.err = o.rw.WriteRecord(b)
	}
	return o.err
}

// flush sends what was written (the headers, at first).
func (o *outputStream) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if f, ok := o.w.(http.Flusher); ok && o.err == nil {
		f.Flush()
	}
}

// dataWriter is one of a command's outputs as ProcessIO DATA records.
type dataWriter struct {
	o   *outputStream
	typ string
}

func (d dataWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	err := d.o.send(mesosv1.ProcessIO{Type: mesosv1.IOData, Data: &mesosv1.ProcessIOData{Type: d.typ, Data: p}})
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

func (a *Agent) launchSession(w http.ResponseWriter, r *http.Request, l *mesosv1.LaunchNestedContainerSession) {
	id, parent := l.ContainerID.Value, l.ContainerID.Parent.Value
	t, ex, err := a.execTarget(parent)
	if err != nil {
		a.writeAPIError(w, err)
		return
	}
	if l.Command.User != "" {
		// The command runs as the task does; another user would need an
		// authorization model this agent does not have.
		a.writeAPIError(w, apiErrorf(http.StatusBadRequest, "command.user: commands run as the task's user; another user is not supported"))
		return
	}
	spec := containerizer.ExecSpec{Args: execArgs(l.Command)}
	if l.Container != nil && l.Container.TTYInfo != nil {
		spec.TTY = true
		if ws := l.Container.TTYInfo.WindowSize; ws != nil {
			spec.Rows, spec.Columns = clampSize(ws.Rows), clampSize(ws.Columns)
		}
	}
	pr, pw := io.Pipe()
	s := &execSession{id: id, parent: parent, taskID: t.id(), stdin: pw, done: make(chan struct{})}
	if err := a.execs.add(s); err != nil {
		a.writeAPIError(w, err)
		return
	}
	out := &outputStream{w: w, rw: recordio.NewWriter(w)}
	spec.Stdin = pr
	spec.Stdout = dataWriter{out, mesosv1.IOStdout}
	spec.Stderr = dataWriter{out, mesosv1.IOStderr}
	w.Header().Set("Content-Type", mesosv1.MediaRecordIO)
	w.Header().Set("Message-Content-Type", mesosv1.MediaJSON)
	proc, err := ex.Exec(r.Context(), parent, spec)
	if err != nil {
		a.execs.end(s, containerizer.ExitStatus{}, err)
		pr.Close()
		w.Header().Del("Message-Content-Type")
		a.writeAPIError(w, err)
		return
	}
	s.mu.Lock()
	s.proc = proc
	s.mu.Unlock()
	a.log.Info("exec session started", "task_id", s.taskID, "container_id", parent, "session", id, "tty", spec.TTY)
	out.flush() // 200 and the headers now, even before any output
	hbDone := make(chan struct{})
	go func() {
		tick := time.NewTicker(execHeartbeat)
		defer tick.Stop()
		for {
			select {
			case <-hbDone:
				return
			case <-tick.C:
				_ = out.send(mesosv1.ProcessIO{Type: mesosv1.IOControl, Control: &mesosv1.ProcessIOControl{
					Type: mesosv1.IOHeartbeat, Heartbeat: &mesosv1.Heartbeat{Interval: &mesosv1.DurationInfo{Nanoseconds: int64(execHeartbeat)}}}})
			}
		}
	}()
	// The session lives as long as this response: a client that goes away
	// cancels r.Context(), and Wait kills the command.
	st, werr := proc.Wait(r.Context())
	close(hbDone)
	pr.CloseWithError(io.ErrClosedPipe)
	a.execs.end(s, st, werr)
	a.log.Info("exec session ended", "task_id", s.taskID, "session", id, "exit_code", st.Code, "signal", st.Signal, "error", werr)
}

func clampSize(v uint32) uint16 {
	return uint16(min(v, 0xffff))
}

// attachInput serves a streaming ATTACH_CONTAINER_INPUT call.
func (a *Agent) attachInput(w http.ResponseWriter, r *http.Request) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Message-Content-Type")); mt != mesosv1.MediaJSON {
		a.writeAPIError(w, apiErrorf(http.StatusUnsupportedMediaType, "Expecting 'Message-Content-Type' of application/json"))
		return
	}
	rd := recordio.NewReader(r.Body, maxAgentCall)
	first, err := readInputRecord(rd)
	if err != nil {
		a.writeAPIError(w, err)
		return
	}
	if first.Type != mesosv1.AttachContainerID || first.ContainerID == nil {
		a.writeAPIError(w, apiErrorf(http.StatusBadRequest, "Expecting the first record of ATTACH_CONTAINER_INPUT to be of type CONTAINER_ID"))
		return
	}
	s, err := a.execs.attach(first.ContainerID.Value)
	if err != nil {
		a.writeAPIError(w, err)
		return
	}
	// Records are read here while the session may end at any time: then the
	// read is cut short through the connection's deadline and the call
	// answers 200.
	rc := http.NewResponseController(w)
	handlerDone := make(chan struct{})
	defer close(handlerDone)
	go func() {
		select {
		case <-s.done:
			_ = rc.SetReadDeadline(time.Now())
		case <-handlerDone:
		}
	}()
	eof := false
	for {
		in, err := readInputRecord(rd)
		if err != nil {
			select {
			case <-s.done:
				w.WriteHeader(http.StatusOK)
			default:
				if errors.Is(err, io.EOF) {
					w.WriteHeader(http.StatusOK)
					return
				}
				a.writeAPIError(w, err)
			}
			return
		}
		if in.Type != mesosv1.AttachProcessIO || in.ProcessIO == nil {
			a.writeAPIError(w, apiErrorf(http.StatusBadRequest, "Expecting records of type PROCESS_IO after the first"))
			return
		}
		switch p := in.ProcessIO; {
		case p.Type == mesosv1.IOData && p.Data != nil && p.Data.Type == mesosv1.IOStdin:
			if eof {
				continue
			}
			if len(p.Data.Data) == 0 {
				eof = true
				_ = s.stdin.Close()
				continue
			}
			if _, err := s.stdin.Write(p.Data.Data); err != nil {
				w.WriteHeader(http.StatusOK) // the command ended
				return
			}
		case p.Type == mesosv1.IOControl && p.Control != nil && p.Control.Type == mesosv1.IOTTYInfo:
			if p.Control.TTYInfo == nil || p.Control.TTYInfo.WindowSize == nil {
				continue
			}
			ws := p.Control.TTYInfo.WindowSize
			if proc := s.process(); proc != nil {
				_ = proc.Resize(clampSize(ws.Rows), clampSize(ws.Columns))
			}
		case p.Type == mesosv1.IOControl:
			// heartbeats keep the stream open; nothing to do
		default:
			a.writeAPIError(w, apiErrorf(http.StatusBadRequest, "unexpected ProcessIO record of type %q", p.Type))
			return
		}
	}
}

// readInputRecord reads and decodes one ATTACH_CONTAINER_INPUT record.
func readInputRecord(rd *recordio.Reader) (mesosv1.AttachContainerInput, error) {
	rec, err := rd.ReadRecord()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return mesosv1.AttachContainerInput{}, io.EOF
		}
		return mesosv1.AttachContainerInput{}, apiErrorf(http.StatusBadRequest, "Failed to read a record: %v", err)
	}
	return decodeInputRecord(rec)
}

// decodeInputRecord decodes one record of an input stream: a whole Call of
// type ATTACH_CONTAINER_INPUT.
func decodeInputRecord(rec []byte) (mesosv1.AttachContainerInput, error) {
	var call mesosv1.AgentCall
	if err := json.Unmarshal(rec, &call); err != nil {
		return mesosv1.AttachContainerInput{}, apiErrorf(http.StatusBadRequest, "Failed to parse a record into Call: %v", err)
	}
	if call.Type != mesosv1.AgentAttachContainerInput || call.AttachContainerInput == nil {
		return mesosv1.AttachContainerInput{}, apiErrorf(http.StatusBadRequest, "Expecting records of Call type ATTACH_CONTAINER_INPUT with 'attach_container_input', got %q", call.Type)
	}
	return *call.AttachContainerInput, nil
}

func (a *Agent) waitSession(w http.ResponseWriter, r *http.Request, ref *mesosv1.NestedContainerRef) {
	s := a.execs.get(ref.ContainerID.Value)
	if s == nil || s.parent != ref.ContainerID.Parent.Value {
		a.writeAPIError(w, apiErrorf(http.StatusNotFound, "Container %s not found", ref.ContainerID.Value))
		return
	}
	select {
	case <-s.done:
	case <-r.Context().Done():
		return
	}
	s.mu.Lock()
	st, err := s.status, s.err
	s.mu.Unlock()
	resp := mesosv1.WaitNestedContainerResponse{}
	if err == nil {
		ws := st.WaitStatus()
		resp.ExitStatus = &ws
		resp.State = mesosv1.TaskFinished
		if st.Code != 0 || st.Signal != 0 {
			resp.State = mesosv1.TaskFailed
		}
	} else {
		resp.State, resp.Message = mesosv1.TaskFailed, err.Error()
	}
	w.Header().Set("Content-Type", mesosv1.MediaJSON)
	_ = json.NewEncoder(w).Encode(mesosv1.AgentResponse{Type: mesosv1.AgentWaitNestedContainer, WaitNestedContainer: &resp})
}

func (a *Agent) killSession(w http.ResponseWriter, k *mesosv1.KillNestedContainer) {
	s := a.execs.get(k.ContainerID.Value)
	if s == nil || s.parent != k.ContainerID.Parent.Value {
		a.writeAPIError(w, apiErrorf(http.StatusNotFound, "Container %s not found", k.ContainerID.Value))
		return
	}
	select {
	case <-s.done:
	default:
		if proc := s.process(); proc != nil {
			if err := proc.Kill(); err != nil {
				a.writeAPIError(w, err)
				return
			}
		}
	}
	w.WriteHeader(http.StatusOK)
}

func (s *execSession) process() containerizer.ExecProcess {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc
}

func newExecSessions() *execSessions {
	return &execSessions{byID: map[string]*execSession{}}
}

func (e *execSessions) add(s *execSession) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.byID[s.id]; ok {
		return apiErrorf(http.StatusBadRequest, "Container %s already exists", s.id)
	}
	e.byID[s.id] = s
	return nil
}

func (e *execSessions) get(id string) *execSession {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.byID[id]
}

// attach marks a running session as having its input stream.
func (e *execSessions) attach(id string) (*execSession, error) {
	s := e.get(id)
	if s == nil {
		return nil, apiErrorf(http.StatusNotFound, "Container %s not found", id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return nil, fmt.Errorf("container %s: %w", id, containerizer.ErrNotRunning)
	default:
	}
	if s.attached {
		return nil, apiErrorf(http.StatusConflict, "Container %s already has its input attached", id)
	}
	s.attached = true
	return s, nil
}

// end records how a session ended and keeps it for WAIT_NESTED_CONTAINER,
// forgetting the oldest ended ones.
func (e *execSessions) end(s *execSession, st containerizer.ExitStatus, err error) {
	s.mu.Lock()
	s.status, s.err = st, err
	s.mu.Unlock()
	close(s.done)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.finished = append(e.finished, s.id)
	for len(e.finished) > maxFinishedExecs {
		delete(e.byID, e.finished[0])
		e.finished = e.finished[1:]
	}
}
