package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Checkpoints live under <work_dir>/meta:
//
//	meta/agent.json                 {"agent_id": "..."}
//	meta/tasks/<container_id>.json  one taskRecord per task the agent still owns
//
// Every file is replaced atomically (write a temporary file, fsync it, rename
// it over the old one). fsync is what costs here (~1 ms each), so the writes
// of one event are one batch: one file per task whatever changed in it, the
// batch's files synced together, renamed, and their directory synced once.

const (
	metaDir       = "meta"
	agentFile     = "agent.json"
	tasksDir      = "tasks"
	tempSuffix    = ".tmp"
	checkpointExt = ".json"
)

// agentRecord is the checkpointed identity of the agent.
type agentRecord struct {
	AgentID string `json:"agent_id"`
}

// pendingUpdate is a status update waiting for its acknowledgement.
type pendingUpdate struct {
	Status mesosv1.TaskStatus `json:"status"`
	// durable: the update is on disk and may be sent (not serialised;
	// everything loaded from a checkpoint is durable).
	durable bool
}

// taskRecord is everything the agent must remember of a task to recover it
// after a restart and to re-register it with a master.
type taskRecord struct {
	Framework     mesosv1.FrameworkInfo `json:"framework"`
	FrameworkID   string                `json:"framework_id"`
	Task          mesosv1.TaskInfo      `json:"task"`
	ExecutorID    string                `json:"executor_id"`
	ContainerID   string                `json:"container_id"`
	Containerizer string                `json:"containerizer"`
	Sandbox       string                `json:"sandbox"`
	// Launched is set once the containerizer was asked to start the
	// container; a task recovered without it never ran.
	Launched bool `json:"launched"`
	// Statuses are the task's updates so far, latest last (for /state and
	// re-registration).
	Statuses []mesosv1.TaskStatus `json:"statuses"`
	// Pending are the unacknowledged updates, oldest (in flight) first.
	Pending []pendingUpdate `json:"pending,omitempty"`
	// KillRequested survives restarts so a recovered container that ends is
	// reported TASK_KILLED.
	KillRequested bool `json:"kill_requested,omitempty"`
}

// checkpointer writes and reads the meta directory. Writes are serialised;
// a record older than one already written for the same file is skipped, so
// concurrent writers cannot move a checkpoint backwards.
type checkpointer struct {
	dir string // <work_dir>/meta

	mu       sync.Mutex
	versions map[string]uint64 // file name → last written version
}

func newCheckpointer(workDir string) *checkpointer {
	return &checkpointer{dir: filepath.Join(workDir, metaDir), versions: map[string]uint64{}}
}

// write is one file of a batch.
type write struct {
	name    string // relative to the meta dir
	version uint64 // monotonic per name; 0 = always write
	data    any    // nil = remove the file
}

// init creates the directories.
func (c *checkpointer) init() error {
	if err := os.MkdirAll(filepath.Join(c.dir, tasksDir), 0o700); err != nil {
		return fmt.Errorf("create checkpoint dir: %w", err)
	}
	return nil
}

// commit makes a batch of writes durable with one filesystem sync.
func (c *checkpointer) commit(ws ...write) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var stage []staged
	var removes []string
	dirs := map[string]bool{}
	cleanup := func() {
		for _, s := range stage {
			_ = os.Remove(s.tmp)
		}
	}
	for _, w := range ws {
		if w.version != 0 && w.version <= c.versions[w.name] {
			continue
		}
		final := filepath.Join(c.dir, w.name)
		dirs[filepath.Dir(final)] = true
		if w.version != 0 {
			c.versions[w.name] = w.version
		}
		if w.data == nil {
			removes = append(removes, final)
			continue
		}
		b, err := json.Marshal(w.data)
		if err != nil {
			cleanup()
			return fmt.Errorf("checkpoint %s: %w", w.name, err)
		}
		tmp := final + tempSuffix
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			cleanup()
			return fmt.Errorf("checkpoint %s: %w", w.name, err)
		}
		stage = append(stage, staged{tmp, final})
	}
	if err := syncFiles(stage); err != nil {
		cleanup()
		return fmt.Errorf("checkpoint: sync: %w", err)
	}
	for _, s := range stage {
		if err := os.Rename(s.tmp, s.final); err != nil {
			cleanup()
			return fmt.Errorf("checkpoint %s: %w", s.final, err)
		}
	}
	for _, r := range removes {
		if err := os.Remove(r); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove checkpoint %s: %w", r, err)
		}
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return fmt.Errorf("checkpoint: sync %s: %w", d, err)
		}
	}
	return nil
}

type staged struct{ tmp, final string }

// syncFiles makes the staged files durable. The fsyncs of one batch run
// concurrently, so the filesystem commits them in one journal transaction
// instead of one after the other. (syncfs(2) would be one call, but it
// flushes everything else written to the filesystem too.)
func syncFiles(stage []staged) error {
	if len(stage) == 1 {
		return syncPath(stage[0].tmp)
	}

	var wg sync.WaitGroup
	errs := make([]error, len(stage))
	for i, s := range stage {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = syncPath(s.tmp)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func taskFile(containerID string) string {
	return filepath.Join(tasksDir, containerID+checkpointExt)
}

// loadAgentID returns the checkpointed agent id, "" if none.
func (c *checkpointer) loadAgentID() (string, error) {
	b, err := os.ReadFile(filepath.Join(c.dir, agentFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read agent checkpoint: %w", err)
	}
	var r agentRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return "", fmt.Errorf("parse agent checkpoint: %w", err)
	}
	return r.AgentID, nil
}

// loadTasks returns every checkpointed task. Unreadable records are
// reported in errs and skipped; leftover temporary files are removed.
func (c *checkpointer) loadTasks() (recs []*taskRecord, errs []error) {
	dir := filepath.Join(c.dir, tasksDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, []error{fmt.Errorf("read task checkpoints: %w", err)}
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if strings.HasSuffix(e.Name(), tempSuffix) {
			_ = os.Remove(p)
			continue
		}
		if !strings.HasSuffix(e.Name(), checkpointExt) {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("read task checkpoint %s: %w", e.Name(), err))
			continue
		}
		var r taskRecord
		if err := json.Unmarshal(b, &r); err != nil {
			errs = append(errs, fmt.Errorf("parse task checkpoint %s: %w", e.Name(), err))
			continue
		}
		if r.ContainerID+checkpointExt != e.Name() {
			errs = append(errs, fmt.Errorf("task checkpoint %s names container %q", e.Name(), r.ContainerID))
			continue
		}
		recs = append(recs, &r)
	}
	return recs, errs
}
