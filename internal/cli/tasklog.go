package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

// readChunk is how much one /files/read asks for. Mesos caps a read at 16
// pages; asking for less keeps every answer whole.
const readChunk = 64 << 10

func newTaskLogCmd(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "log [--follow] [--lines N] [--completed] <task> [stdout|stderr]",
		Short: "Print the last lines of a task's stdout or stderr, from its sandbox",
		Args:  cobra.RangeArgs(1, 2),
	}
	client, _ := clientFlags(cmd, env)
	cmd.Flags().Lookup("json").Hidden = true // there is no JSON form of a log
	follow := cmd.Flags().Bool("follow", false, "keep printing what the task writes")
	lines := cmd.Flags().Int("lines", 10, "how many of the last lines to print")
	completed := cmd.Flags().Bool("completed", false, "also look among completed tasks (they are searched anyway when no active task matches)")
	all := cmd.Flags().Bool("all", false, "same as --completed")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := client()
		if err != nil {
			return err
		}
		file := "stdout"
		if len(args) == 2 {
			file = args[1]
		}
		if *lines < 0 {
			return usageError{fmt.Errorf("--lines %d: must not be negative", *lines)}
		}
		ctx := cmd.Context()
		st, err := c.masterState(ctx)
		if err != nil {
			return err
		}
		// Active tasks first; a finished task is found without --completed
		// when no active one matches.
		rows := collectTasks(st, true, *completed || *all, args[0])
		if len(rows) == 0 {
			rows = collectTasks(st, false, true, args[0])
		}
		task, err := findOneTask(rows, args[0])
		if err != nil {
			return err
		}
		agent, ok := st.agent(task.SlaveID)
		if !ok {
			return fmt.Errorf("task %s: its agent %s is not in the cluster any more", task.ID, task.SlaveID)
		}
		base, err := c.agentURL(agent)
		if err != nil {
			return err
		}
		dir, err := c.sandbox(ctx, base, task)
		if err != nil {
			return err
		}
		poll := env.PollInterval
		if poll <= 0 {
			poll = time.Second
		}
		lf := &logFile{c: c, agent: base, path: path.Join(dir, file)}
		return lf.tail(ctx, env, *lines, *follow, poll)
	}
	return cmd
}

// agentState is the part of an agent's /state that locates sandboxes.
type agentState struct {
	ID                  string           `json:"id"`
	Flags               map[string]any   `json:"flags"`
	Frameworks          []agentFramework `json:"frameworks"`
	CompletedFrameworks []agentFramework `json:"completed_frameworks"`
}

type agentFramework struct {
	ID                 string          `json:"id"`
	Executors          []agentExecutor `json:"executors"`
	CompletedExecutors []agentExecutor `json:"completed_executors"`
}

type agentExecutor struct {
	ID             string        `json:"id"`
	Directory      string        `json:"directory"`
	Tasks          []agentTaskID `json:"tasks"`
	QueuedTasks    []agentTaskID `json:"queued_tasks"`
	CompletedTasks []agentTaskID `json:"completed_tasks"`
}

type agentTaskID struct {
	ID string `json:"id"`
}

func (e agentExecutor) runs(taskID string) bool {
	for _, list := range [][]agentTaskID{e.Tasks, e.QueuedTasks, e.CompletedTasks} {
		for _, t := range list {
			if t.ID == taskID {
				return true
			}
		}
	}
	return false
}

// sandbox returns the sandbox directory of a task on its agent: the
// executor's "directory" from the agent's /state, else the Mesos layout
// under the agent's work_dir with the runs/latest link.
func (c *apiClient) sandbox(ctx context.Context, agent *url.URL, task taskRow) (string, error) {
	body, err := c.get(ctx, agent, "/state", nil)
	if err != nil {
		return "", fmt.Errorf("locate the sandbox of task %s: %w", task.ID, err)
	}
	var st agentState
	if err := json.Unmarshal(body, &st); err != nil {
		return "", fmt.Errorf("locate the sandbox of task %s: decode agent state: %w", task.ID, err)
	}
	executorID := task.ExecutorID
	if executorID == "" {
		executorID = task.ID // the command executor is named after its task
	}
	for _, fws := range [][]agentFramework{st.Frameworks, st.CompletedFrameworks} {
		for _, f := range fws {
			if f.ID != task.FrameworkID {
				continue
			}
			for _, execs := range [][]agentExecutor{f.Executors, f.CompletedExecutors} {
				for _, e := range execs {
					if (e.ID == executorID || e.runs(task.ID)) && e.Directory != "" {
						return e.Directory, nil
					}
				}
			}
		}
	}
	workDir, _ := st.Flags["work_dir"].(string)
	if workDir == "" {
		return "", fmt.Errorf("task %s: its agent reports neither an executor directory nor flags.work_dir", task.ID)
	}
	agentID := st.ID
	if agentID == "" {
		agentID = task.SlaveID
	}
	return path.Join(workDir, "slaves", agentID, "frameworks", task.FrameworkID, "executors", executorID, "runs", "latest"), nil
}

// logFile reads one sandbox file through an agent's /files/read.
type logFile struct {
	c     *apiClient
	agent *url.URL
	path  string
}

type filesRead struct {
	Data   string `json:"data"`
	Offset int64  `json:"offset"`
}

// read returns up to length bytes at offset (length < 0: to the end, as far
// as the agent gives in one answer). offset -1 asks for the file's size.
func (f *logFile) read(ctx context.Context, offset, length int64) (filesRead, error) {
	q := url.Values{"path": {f.path}, "offset": {strconv.FormatInt(offset, 10)}}
	if length >= 0 {
		q.Set("length", strconv.FormatInt(length, 10))
	}
	body, err := f.c.get(ctx, f.agent, "/files/read", q)
	if err != nil {
		return filesRead{}, fmt.Errorf("read %s: %w", f.path, err)
	}
	var r filesRead
	if err := json.Unmarshal(body, &r); err != nil {
		return filesRead{}, fmt.Errorf("read %s: %w", f.path, err)
	}
	return r, nil
}

// tail prints the last n lines, then, if follow is set, everything written
// after them, polling every poll until ctx is done (Mesos-style: the file's
// offset is the cursor).
func (f *logFile) tail(ctx context.Context, env Env, n int, follow bool, poll time.Duration) error {
	st, err := f.read(ctx, -1, -1)
	if err != nil {
		return err
	}
	size := st.Offset

	// Read backwards a chunk at a time until the buffer holds n lines.
	var buf []byte
	start := size
	for start > 0 && n > 0 && bytes.Count(trimFinalNewline(buf), []byte("\n")) < n {
		from := max(0, start-readChunk)
		chunk, err := f.readRange(ctx, from, start)
		if err != nil {
			return err
		}
		buf = append(chunk, buf...)
		start = from
	}
	out := lastLines(buf, n)
	if !follow && len(out) > 0 && out[len(out)-1] != '\n' {
		// Finish a partial last line so the shell prompt starts on its own.
		out = append(out, '\n')
	}
	if _, err := env.Stdout.Write(out); err != nil {
		return err
	}
	if !follow {
		return nil
	}

	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	offset := size
	for {
		select {
		case <-ctx.Done():
			return nil // the user stopped following
		case <-ticker.C:
		}
		for {
			r, err := f.read(ctx, offset, readChunk)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				return err
			}
			if r.Data == "" {
				break
			}
			if _, err := env.Stdout.Write([]byte(r.Data)); err != nil {
				return err
			}
			offset = r.Offset + int64(len(r.Data))
		}
	}
}

// readRange reads bytes [from, to) whole, in as many reads as it takes.
func (f *logFile) readRange(ctx context.Context, from, to int64) ([]byte, error) {
	var out []byte
	for off := from; off < to; {
		r, err := f.read(ctx, off, min(to-off, readChunk))
		if err != nil {
			return nil, err
		}
		if r.Data == "" {
			break // the file shrank (rotated) under us
		}
		out = append(out, r.Data...)
		off += int64(len(r.Data))
	}
	return out, nil
}

func trimFinalNewline(b []byte) []byte {
	return bytes.TrimSuffix(b, []byte("\n"))
}

// lastLines returns the suffix of b holding its last n lines; a final line
// without a newline counts as a line.
func lastLines(b []byte, n int) []byte {
	if n <= 0 {
		return nil
	}
	body := trimFinalNewline(b)
	i := len(body)
	for range n {
		j := bytes.LastIndexByte(body[:i], '\n')
		if j < 0 {
			return b
		}
		i = j
	}
	return b[i+1:]
}
