package operator

import (
	"cmp"
	"slices"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// State is an immutable view of the leader's state as mirrored from the
// event stream. Nothing in it may be modified; a later change produces a
// new State (unchanged records are shared).
type State struct {
	// Leader is the master the mirror last subscribed to (nil before).
	Leader *mesosv1.MasterInfo
	// Agents are the registered, reachable agents, sorted by ID.
	Agents []*mesosv1.OperatorAgent
	// Frameworks are the registered frameworks, sorted by ID.
	Frameworks []*mesosv1.OperatorFramework
	// Tasks are the non-terminal tasks (TASK_UNREACHABLE included: it is
	// not terminal; consumers filter by State), sorted by framework ID then
	// task ID.
	Tasks []*mesosv1.Task
	// Connected: the mirror is following a live stream. While false the
	// view is the last one mirrored, kept through a master failover.
	Connected bool
	// Version increases with every change of the view.
	Version uint64
}

// maxStatuses bounds the statuses a mirrored task keeps.
const maxStatuses = 5

type taskKey struct{ framework, task string }

func keyOf(t *mesosv1.Task) taskKey { return taskKey{t.FrameworkID.Value, t.TaskID.Value} }

func compareKeys(a, b taskKey) int {
	if c := cmp.Compare(a.framework, b.framework); c != 0 {
		return c
	}
	return cmp.Compare(a.task, b.task)
}

// mirror applies events. It is not safe for concurrent use; Follower
// guards it.
//
// Tasks: a map for updates plus the sorted slice of the last State and the
// set of keys changed since. Building the next State patches the old
// slice (binary search per changed key, bulk copies in between) instead of
// sorting every task again, so it costs O(n) copying plus O(k log n), and
// nothing when there was no change.
type mirror struct {
	leader     *mesosv1.MasterInfo
	agents     map[string]*mesosv1.OperatorAgent
	frameworks map[string]*mesosv1.OperatorFramework
	tasks      map[taskKey]*mesosv1.Task

	sortedTasks  []*mesosv1.Task
	dirtyTasks   map[taskKey]struct{}
	rebuildTasks bool // sortedTasks is unusable: sort from scratch
	agentsDirty  bool
	fwsDirty     bool

	connected bool
	version   uint64
	cached    *State
}

func newMirror() *mirror {
	return &mirror{
		agents: map[string]*mesosv1.OperatorAgent{}, frameworks: map[string]*mesosv1.OperatorFramework{},
		tasks: map[taskKey]*mesosv1.Task{}, dirtyTasks: map[taskKey]struct{}{},
	}
}

func (m *mirror) changed() {
	m.version++
	m.cached = nil
}

func (m *mirror) setConnected(c bool) {
	if m.connected != c {
		m.connected = c
		m.changed()
	}
}

func (m *mirror) setLeader(l *mesosv1.MasterInfo) {
	m.leader = l
	m.changed()
}

// apply applies one event and reports whether the view changed.
func (m *mirror) apply(ev *mesosv1.OperatorEvent) bool {
	switch ev.Type {
	case mesosv1.OperatorEventSubscribed:
		m.reset(&ev.Subscribed.GetState)
	case mesosv1.OperatorEventTaskAdded:
		t := ev.TaskAdded.Task
		if terminal(t.State) {
			return false
		}
		m.putTask(&t)
	case mesosv1.OperatorEventTaskUpdated:
		u := ev.TaskUpdated
		k := taskKey{u.FrameworkID.Value, u.Status.TaskID.Value}
		old := m.tasks[k]
		if old == nil {
			return false // never added (or already terminal): nothing to track
		}
		if terminal(u.State) {
			delete(m.tasks, k)
			m.dirtyTasks[k] = struct{}{}
			break
		}
		nt := *old // copy-on-write: earlier States keep the old record
		nt.State = u.State
		from := max(0, len(old.Statuses)+1-maxStatuses)
		nt.Statuses = append(slices.Clip(slices.Clone(old.Statuses[from:])), u.Status)
		m.putTask(&nt)
	case mesosv1.OperatorEventAgentAdded:
		a := ev.AgentAdded.Agent
		m.agents[a.AgentInfo.ID.Value] = &a
		m.agentsDirty = true
	case mesosv1.OperatorEventAgentRemoved:
		// The agent's tasks stay: the master reports each of them with its
		// own TASK_UPDATED (TASK_UNREACHABLE or TASK_LOST) when an agent
		// becomes unreachable, and an unreachable agent's tasks may come
		// back with it. Dropping them here would lose that.
		if _, ok := m.agents[ev.AgentRemoved.AgentID.Value]; !ok {
			return false
		}
		delete(m.agents, ev.AgentRemoved.AgentID.Value)
		m.agentsDirty = true
	case mesosv1.OperatorEventFrameworkAdded:
		f := ev.FrameworkAdded.Framework
		m.frameworks[fwID(&f)] = &f
		m.fwsDirty = true
	case mesosv1.OperatorEventFrameworkUpdated:
		f := ev.FrameworkUpdated.Framework
		m.frameworks[fwID(&f)] = &f
		m.fwsDirty = true
	case mesosv1.OperatorEventFrameworkRemoved:
		id := ev.FrameworkRemoved.FrameworkInfo.ID.Value
		delete(m.frameworks, id)
		m.fwsDirty = true
		// Its tasks were killed and reported; drop any left over.
		for k := range m.tasks {
			if k.framework == id {
				delete(m.tasks, k)
				m.dirtyTasks[k] = struct{}{}
			}
		}
	default: // HEARTBEAT, unknown types
		return false
	}
	m.changed()
	return true
}

// terminal reports states after which a task is gone for the mirror.
func terminal(s string) bool {
	return mesosv1.IsTerminalState(s) || s == mesosv1.TaskUnknown
}

func (m *mirror) putTask(t *mesosv1.Task) {
	k := keyOf(t)
	m.tasks[k] = t
	m.dirtyTasks[k] = struct{}{}
}

// reset replaces everything with a fresh GET_STATE.
func (m *mirror) reset(st *mesosv1.OperatorState) {
	m.agents = make(map[string]*mesosv1.OperatorAgent, len(st.GetAgents.Agents))
	for i := range st.GetAgents.Agents {
		a := &st.GetAgents.Agents[i]
		if a.AgentInfo.ID != nil {
			m.agents[a.AgentInfo.ID.Value] = a
		}
	}
	m.frameworks = make(map[string]*mesosv1.OperatorFramework, len(st.GetFrameworks.Frameworks))
	for i := range st.GetFrameworks.Frameworks {
		f := &st.GetFrameworks.Frameworks[i]
		if id := fwID(f); id != "" {
			m.frameworks[id] = f
		}
	}
	m.tasks = make(map[taskKey]*mesosv1.Task, len(st.GetTasks.Tasks)+len(st.GetTasks.UnreachableTasks))
	for _, list := range [][]mesosv1.Task{st.GetTasks.Tasks, st.GetTasks.UnreachableTasks} {
		for i := range list {
			t := &list[i]
			if !terminal(t.State) {
				m.tasks[keyOf(t)] = t
			}
		}
	}
	clear(m.dirtyTasks)
	m.rebuildTasks, m.agentsDirty, m.fwsDirty = true, true, true
}

// state returns the current view, building it if anything changed.
func (m *mirror) state(prev *State) *State {
	if m.cached != nil {
		return m.cached
	}
	s := &State{Leader: m.leader, Connected: m.connected, Version: m.version}
	if prev != nil && !m.agentsDirty {
		s.Agents = prev.Agents
	} else {
		s.Agents = sortedValues(m.agents, func(a *mesosv1.OperatorAgent) string { return a.AgentInfo.ID.Value })
		m.agentsDirty = false
	}
	if prev != nil && !m.fwsDirty {
		s.Frameworks = prev.Frameworks
	} else {
		s.Frameworks = sortedValues(m.frameworks, fwID)
		m.fwsDirty = false
	}
	s.Tasks = m.buildTasks()
	m.cached = s
	return s
}

func sortedValues[T any](m map[string]*T, id func(*T) string) []*T {
	out := make([]*T, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b *T) int { return cmp.Compare(id(a), id(b)) })
	return out
}

func (m *mirror) buildTasks() []*mesosv1.Task {
	if m.rebuildTasks || m.sortedTasks == nil {
		out := make([]*mesosv1.Task, 0, len(m.tasks))
		for _, t := range m.tasks {
			out = append(out, t)
		}
		slices.SortFunc(out, func(a, b *mesosv1.Task) int { return compareKeys(keyOf(a), keyOf(b)) })
		m.sortedTasks, m.rebuildTasks = out, false
		clear(m.dirtyTasks)
		return out
	}
	if len(m.dirtyTasks) == 0 {
		return m.sortedTasks
	}
	keys := make([]taskKey, 0, len(m.dirtyTasks))
	for k := range m.dirtyTasks {
		keys = append(keys, k)
	}
	clear(m.dirtyTasks)
	slices.SortFunc(keys, compareKeys)
	old := m.sortedTasks
	out := make([]*mesosv1.Task, 0, len(m.tasks))
	i := 0
	for _, k := range keys {
		j, found := slices.BinarySearchFunc(old[i:], k, func(t *mesosv1.Task, k taskKey) int { return compareKeys(keyOf(t), k) })
		out = append(out, old[i:i+j]...)
		i += j
		if found {
			i++ // replaced or removed below
		}
		if t := m.tasks[k]; t != nil {
			out = append(out, t)
		}
	}
	out = append(out, old[i:]...)
	m.sortedTasks = out
	return out
}
