package simagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// stateVersion is the version of the state file's format.
const stateVersion = 1

// stateFile is what a stopped simulator leaves for the next one: each
// agent's id and its tasks, so that a restarted simulator re-registers the
// same agents with the tasks they ran (as a restarted agent recovers them
// from its checkpoints).
type stateFile struct {
	Version int          `json:"version"`
	Agents  []agentState `json:"agents"`
}

type agentState struct {
	Index      int                     `json:"index"`
	Hostname   string                  `json:"hostname"`
	AgentID    string                  `json:"agent_id"`
	Frameworks []mesosv1.FrameworkInfo `json:"frameworks,omitempty"`
	Tasks      []taskState             `json:"tasks,omitempty"`
}

type taskState struct {
	FrameworkID string               `json:"framework_id"`
	Info        mesosv1.TaskInfo     `json:"info"`
	ContainerID string               `json:"container_id"`
	Latest      mesosv1.TaskStatus   `json:"latest"`
	Pending     []mesosv1.TaskStatus `json:"pending,omitempty"`
}

// saveState writes the state file atomically.
func (s *Simulator) saveState(path string) error {
	st := stateFile{Version: stateVersion}
	for _, a := range s.agents {
		a.mu.Lock()
		as := agentState{Index: a.index, Hostname: a.hostname, AgentID: a.id}
		for fid, fw := range a.frameworks {
			info := fw.info
			if info.ID == nil {
				info.ID = &mesosv1.ID{Value: fid}
			}
			as.Frameworks = append(as.Frameworks, info)
			for _, t := range fw.tasks {
				as.Tasks = append(as.Tasks, taskState{FrameworkID: fid, Info: t.info, ContainerID: t.cid,
					Latest: t.latest, Pending: t.pending})
			}
		}
		a.mu.Unlock()
		if as.AgentID != "" {
			st.Agents = append(st.Agents, as)
		}
	}
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode simulator state: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("save simulator state: %w", err)
	}
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("save simulator state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save simulator state: %w", err)
	}
	return nil
}

// parseState decodes and checks a state file's contents.
func parseState(b []byte, count int) (stateFile, error) {
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("decode: %w", err)
	}
	if st.Version != stateVersion {
		return st, fmt.Errorf("state file version %d, this simulator reads version %d", st.Version, stateVersion)
	}
	var errs []error
	seen := map[int]bool{}
	for i, as := range st.Agents {
		switch {
		case as.Index < 0 || as.Index >= count:
			errs = append(errs, fmt.Errorf("agent %d: index %d outside [0,%d)", i, as.Index, count))
		case seen[as.Index]:
			errs = append(errs, fmt.Errorf("agent %d: index %d appears twice", i, as.Index))
		case as.AgentID == "":
			errs = append(errs, fmt.Errorf("agent %d: empty agent_id", i))
		}
		seen[as.Index] = true
		for j, t := range as.Tasks {
			if t.FrameworkID == "" || t.Info.TaskID.Value == "" || t.ContainerID == "" {
				errs = append(errs, fmt.Errorf("agent %d task %d: framework_id, info.task_id and container_id are required", i, j))
			}
		}
	}
	return st, errors.Join(errs...)
}

// loadState restores agent ids and tasks from the state file, if it
// exists. Restored tasks get their containers back at once and run until
// killed: the simulated host's containers do not outlive the process, and
// their fake.* scripts are not replayed.
func (s *Simulator) loadState(path string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read simulator state: %w", err)
	}
	st, err := parseState(b, len(s.agents))
	if err != nil {
		return fmt.Errorf("simulator state %s: %w", path, err)
	}
	for _, as := range st.Agents {
		a := s.agents[as.Index]
		a.mu.Lock()
		a.id = as.AgentID
		infos := map[string]mesosv1.FrameworkInfo{}
		for _, fi := range as.Frameworks {
			if fi.ID != nil {
				infos[fi.ID.Value] = fi
			}
		}
		for _, ts := range as.Tasks {
			fw := a.frameworks[ts.FrameworkID]
			if fw == nil {
				fw = &simFramework{info: infos[ts.FrameworkID], tasks: map[string]*simTask{}}
				a.frameworks[ts.FrameworkID] = fw
			}
			t := &simTask{fid: ts.FrameworkID, info: ts.Info, cid: ts.ContainerID, latest: ts.Latest, pending: ts.Pending}
			t.ended = mesosv1.IsTerminalState(ts.Latest.State)
			fw.tasks[ts.Info.TaskID.Value] = t
			if !t.ended {
				unscripted := t.info
				unscripted.Labels = nil
				spec := containerizer.LaunchSpec{ContainerID: t.cid, FrameworkID: t.fid, ExecutorID: t.info.TaskID.Value,
					AgentID: a.id, Task: unscripted}
				if err := a.cz.Launch(context.Background(), spec); err != nil {
					s.log.Warn("restore container", "agent", a.hostname, "task_id", ts.Info.TaskID.Value, "error", err)
				}
			}
		}
		a.mu.Unlock()
	}
	return nil
}
