package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
	"github.com/basalt-dcos/basalt/pkg/recordio"
)

// exitCodeError ends the CLI with a command's exit code and no message: the
// command said what it had to.
type exitCodeError struct{ code int }

func (e exitCodeError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// execInputHeartbeat is how often an idle input stream carries a heartbeat.
const execInputHeartbeat = 30 * time.Second

func newTaskExecCmd(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "exec [-i] [-t] <task> [--] <cmd> [<args>...]",
		Short: "Run a command inside a running task's container",
		Long: `Run a command inside a running task's container, as "dcos task exec" does.

The command runs beside the task: in its namespaces and cgroups (mesos
runtime), with its environment and user, in its sandbox; in a Docker task's
container through the Docker exec API. Its output streams back, and basalt
exits with the command's exit code (128+N when it was killed by signal N).

  -i  attaches this terminal's stdin to the command (without it, and without
      -t, the command reads end-of-file at once)
  -t  runs the command on a pseudo-terminal, puts this terminal in raw mode
      and forwards its size (use -it for an interactive shell)

<task> is a task ID, or a unique prefix or glob of running tasks' IDs and
names. The agent is reached through Admin Router (/agent/<id>/api/v1) with
the stored token when a cluster is attached.`,
		Args: cobra.MinimumNArgs(2),
	}
	cmd.Flags().SetInterspersed(false) // flags after <task> belong to the command
	client, _ := clientFlags(cmd, env)
	cmd.Flags().Lookup("json").Hidden = true
	interactive := cmd.Flags().BoolP("interactive", "i", false, "attach stdin to the command")
	tty := cmd.Flags().BoolP("tty", "t", false, "run the command on a pseudo-terminal")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := client()
		if err != nil {
			return err
		}
		pattern, argv := args[0], args[1:]
		if argv[0] == "--" {
			argv = argv[1:]
		}
		if len(argv) == 0 || argv[0] == "" {
			return usageError{errors.New("no command to run")}
		}
		ctx := cmd.Context()
		st, err := c.masterState(ctx)
		if err != nil {
			return err
		}
		task, err := findOneTask(collectTasks(st, true, false, pattern), pattern)
		if err != nil {
			return err
		}
		if task.State != mesosv1.TaskRunning {
			return fmt.Errorf("task %s is %s, not running", task.ID, task.State)
		}
		containerID := taskContainerID(task)
		if containerID == "" {
			return fmt.Errorf("task %s: its agent has not reported its container ID", task.ID)
		}
		agent, ok := st.agent(task.SlaveID)
		if !ok {
			return fmt.Errorf("task %s: its agent %s is not in the cluster any more", task.ID, task.SlaveID)
		}
		base, err := c.agentURL(agent)
		if err != nil {
			return err
		}
		x := &execClient{c: c, url: base.JoinPath("api", "v1").String(), env: env, tty: *tty, interactive: *interactive}
		code, err := x.run(ctx, containerID, argv)
		if err != nil {
			return fmt.Errorf("task %s: %w", task.ID, err)
		}
		if code != 0 {
			return exitCodeError{code}
		}
		return nil
	}
	return cmd
}

// taskContainerID is the container of a task, from its latest status that
// names one.
func taskContainerID(t taskRow) string {
	for i := len(t.Statuses) - 1; i >= 0; i-- {
		if cs := t.Statuses[i].ContainerStatus; cs != nil && cs.ContainerID != nil && cs.ContainerID.Value != "" {
			return cs.ContainerID.Value
		}
	}
	return ""
}

// execClient drives one exec session against an agent's /api/v1.
type execClient struct {
	c           *apiClient
	url         string
	env         Env
	tty         bool
	interactive bool
}

// streamingHTTP is the client without its per-request timeout: a session
// lasts as long as its command.
func (x *execClient) streamingHTTP() *http.Client {
	hc := *x.c.http
	hc.Timeout = 0
	return &hc
}

func (x *execClient) post(ctx context.Context, body io.Reader, contentType, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, x.url, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	if contentType == mesosv1.MediaRecordIO {
		req.Header.Set("Message-Content-Type", mesosv1.MediaJSON)
	}
	req.Header.Set("Accept", accept)
	if accept == mesosv1.MediaRecordIO {
		req.Header.Set("Message-Accept", mesosv1.MediaJSON)
	}
	x.c.authorize(req)
	resp, err := x.streamingHTTP().Do(req)
	if err != nil {
		return nil, explainTransportError("POST", req.URL.Redacted(), err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode == http.StatusUnauthorized {
			return nil, fmt.Errorf("%s: %s", resp.Status, x.c.unauthorizedHint())
		}
		return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return resp, nil
}

// run launches the session, streams its output (and input), and returns the
// command's exit code.
func (x *execClient) run(ctx context.Context, parent string, argv []string) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	id := mesosv1.ContainerID{Value: uuid.NewString(), Parent: &mesosv1.ContainerID{Value: parent}}
	f := false
	launch := mesosv1.LaunchNestedContainerSession{
		ContainerID: id,
		Command:     &mesosv1.CommandInfo{Shell: &f, Value: argv[0], Arguments: argv},
		Container:   &mesosv1.ContainerInfo{Type: "MESOS"},
	}
	var restore func()
	if x.tty {
		launch.Container.TTYInfo = &mesosv1.TTYInfo{WindowSize: x.windowSize()}
	}
	body, err := json.Marshal(mesosv1.AgentCall{Type: mesosv1.AgentLaunchNestedContainerSession, LaunchNestedContainerSession: &launch})
	if err != nil {
		return 0, err
	}
	resp, err := x.post(ctx, bytes.NewReader(body), mesosv1.MediaJSON, mesosv1.MediaRecordIO)
	if err != nil {
		return 0, fmt.Errorf("exec: %w", err)
	}
	defer resp.Body.Close()
	if x.tty {
		restore = x.rawTerminal()
		defer restore()
	}
	inputDone := make(chan struct{})
	switch {
	case x.interactive:
		go func() {
			defer close(inputDone)
			x.streamInput(ctx, id)
		}()
	case !x.tty:
		// No input: the command reads end-of-file at once.
		go func() {
			defer close(inputDone)
			x.sendInput(ctx, id, nil)
		}()
	default:
		close(inputDone)
	}
	outErr := x.copyOutput(resp.Body)
	cancel() // stops the input stream
	<-inputDone
	if restore != nil {
		restore()
	}
	if outErr != nil {
		return 0, fmt.Errorf("exec output: %w", outErr)
	}
	return x.wait(context.WithoutCancel(ctx), id)
}

// copyOutput writes the session's ProcessIO records to stdout and stderr.
func (x *execClient) copyOutput(r io.Reader) error {
	rd := recordio.NewReader(r, 16<<20)
	for {
		rec, err := rd.ReadRecord()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		var p mesosv1.ProcessIO
		if err := json.Unmarshal(rec, &p); err != nil {
			return fmt.Errorf("decode ProcessIO: %w", err)
		}
		if p.Type != mesosv1.IOData || p.Data == nil {
			continue // heartbeats
		}
		switch p.Data.Type {
		case mesosv1.IOStdout:
			_, _ = x.env.Stdout.Write(p.Data.Data)
		case mesosv1.IOStderr:
			_, _ = x.env.Stderr.Write(p.Data.Data)
		}
	}
}

// wait asks for the session's exit status and turns it into an exit code.
func (x *execClient) wait(ctx context.Context, id mesosv1.ContainerID) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	body, _ := json.Marshal(mesosv1.AgentCall{Type: mesosv1.AgentWaitNestedContainer, WaitNestedContainer: &mesosv1.NestedContainerRef{ContainerID: id}})
	resp, err := x.post(ctx, bytes.NewReader(body), mesosv1.MediaJSON, mesosv1.MediaJSON)
	if err != nil {
		return 0, fmt.Errorf("exit status: %w", err)
	}
	defer resp.Body.Close()
	var r mesosv1.AgentResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&r); err != nil {
		return 0, fmt.Errorf("exit status: %w", err)
	}
	if r.WaitNestedContainer == nil || r.WaitNestedContainer.ExitStatus == nil {
		msg := "unknown"
		if r.WaitNestedContainer != nil && r.WaitNestedContainer.Message != "" {
			msg = r.WaitNestedContainer.Message
		}
		return 0, fmt.Errorf("exit status: %s", msg)
	}
	return exitCodeOf(*r.WaitNestedContainer.ExitStatus), nil
}

// exitCodeOf turns a POSIX wait status into a shell's exit code.
func exitCodeOf(status int) int {
	ws := syscall.WaitStatus(status)
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return 1
}

// inputRecord is one ATTACH_CONTAINER_INPUT record.
func inputRecord(in mesosv1.AttachContainerInput) []byte {
	b, _ := json.Marshal(mesosv1.AgentCall{Type: mesosv1.AgentAttachContainerInput, AttachContainerInput: &in})
	return b
}

func stdinRecord(data []byte) []byte {
	if data == nil {
		data = []byte{}
	}
	return inputRecord(mesosv1.AttachContainerInput{Type: mesosv1.AttachProcessIO, ProcessIO: &mesosv1.ProcessIO{
		Type: mesosv1.IOData, Data: &mesosv1.ProcessIOData{Type: mesosv1.IOStdin, Data: data}}})
}

// sendInput attaches an input stream of the given records (then EOF) and
// waits for the agent to answer.
func (x *execClient) sendInput(ctx context.Context, id mesosv1.ContainerID, records [][]byte) {
	var buf bytes.Buffer
	w := recordio.NewWriter(&buf)
	_ = w.WriteRecord(inputRecord(mesosv1.AttachContainerInput{Type: mesosv1.AttachContainerID, ContainerID: &id}))
	for _, r := range records {
		_ = w.WriteRecord(r)
	}
	_ = w.WriteRecord(stdinRecord(nil))
	if resp, err := x.post(ctx, &buf, mesosv1.MediaRecordIO, mesosv1.MediaJSON); err == nil {
		resp.Body.Close()
	}
}

// streamInput streams stdin (and, with a TTY, window size changes and
// heartbeats) to the session until stdin ends or ctx is done.
func (x *execClient) streamInput(ctx context.Context, id mesosv1.ContainerID) {
	pr, pw := io.Pipe()
	w := recordio.NewWriter(pw)
	records := make(chan []byte, 16)
	go func() {
		defer pw.Close()
		if err := w.WriteRecord(inputRecord(mesosv1.AttachContainerInput{Type: mesosv1.AttachContainerID, ContainerID: &id})); err != nil {
			return
		}
		for {
			select {
			case <-ctx.Done():
				return
			case r, ok := <-records:
				if !ok {
					return
				}
				if err := w.WriteRecord(r); err != nil {
					return
				}
			}
		}
	}()
	send := func(r []byte) bool {
		select {
		case records <- r:
			return true
		case <-ctx.Done():
			return false
		}
	}
	if x.tty {
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		go func() {
			tick := time.NewTicker(execInputHeartbeat)
			defer tick.Stop()
			for {
				var r []byte
				select {
				case <-ctx.Done():
					return
				case <-winch:
					ws := x.windowSize()
					if ws == nil {
						continue
					}
					r = inputRecord(mesosv1.AttachContainerInput{Type: mesosv1.AttachProcessIO, ProcessIO: &mesosv1.ProcessIO{
						Type: mesosv1.IOControl, Control: &mesosv1.ProcessIOControl{Type: mesosv1.IOTTYInfo, TTYInfo: &mesosv1.TTYInfo{WindowSize: ws}}}})
				case <-tick.C:
					r = inputRecord(mesosv1.AttachContainerInput{Type: mesosv1.AttachProcessIO, ProcessIO: &mesosv1.ProcessIO{
						Type: mesosv1.IOControl, Control: &mesosv1.ProcessIOControl{Type: mesosv1.IOHeartbeat,
							Heartbeat: &mesosv1.Heartbeat{Interval: &mesosv1.DurationInfo{Nanoseconds: int64(execInputHeartbeat)}}}}})
				}
				if !send(r) {
					return
				}
			}
		}()
	}
	go func() {
		if x.env.Stdin == nil {
			send(stdinRecord(nil))
			return
		}
		buf := make([]byte, 32<<10)
		for {
			n, err := x.env.Stdin.Read(buf)
			if n > 0 && !send(stdinRecord(append([]byte(nil), buf[:n]...))) {
				return
			}
			if err != nil {
				if !x.tty {
					send(stdinRecord(nil)) // EOF
				}
				return
			}
		}
	}()
	resp, err := x.post(ctx, pr, mesosv1.MediaRecordIO, mesosv1.MediaJSON)
	pr.CloseWithError(io.ErrClosedPipe)
	if err == nil {
		resp.Body.Close()
	}
}

// windowSize is the local terminal's size, nil when stdout is not one.
func (x *execClient) windowSize() *mesosv1.WindowSize {
	f, ok := x.env.Stdout.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	cols, rows, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return nil
	}
	return &mesosv1.WindowSize{Rows: uint32(rows), Columns: uint32(cols)}
}

// rawTerminal puts stdin in raw mode when it is a terminal (keys, ^C
// included, go to the remote terminal) and returns what restores it.
func (x *execClient) rawTerminal() func() {
	f, ok := x.env.Stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return func() {}
	}
	old, err := term.MakeRaw(int(f.Fd()))
	if err != nil {
		return func() {}
	}
	done := false
	return func() {
		if !done {
			done = true
			_ = term.Restore(int(f.Fd()), old)
		}
	}
}
