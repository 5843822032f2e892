package state

import (
	"reflect"
	"strings"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// diffSnapshots returns the operator events that take a subscriber from
// prev to next, in the order: agents added, frameworks added and updated,
// tasks, frameworks removed, agents removed.
//
// It relies on what the event loop guarantees (kernel.go buildSnapshot):
// agents and frameworks are sorted by ID; a framework's Tasks and
// UnreachableTasks are sorted by task ID; an unchanged task keeps its
// *Task record and an unchanged list keeps its backing array, so most of a
// large snapshot is skipped by pointer comparison; a changed task gets a
// new record (copy-on-write). Agent and framework records are rebuilt on
// every snapshot, so they are compared by the fields the stream reports.
//
// What the stream reports, and what it does not:
//   - An agent that becomes unreachable is AGENT_REMOVED; one that comes
//     back is AGENT_ADDED. Agents have no update event (as in Mesos), so a
//     subscriber's agent resources go stale.
//   - FRAMEWORK_UPDATED is sent when the FrameworkInfo or the
//     active/connected/recovered flags change, not for resources or offers.
//   - A task that leaves the live and unreachable lists gets one
//     TASK_UPDATED with the state of its record among the completed tasks;
//     a task the master forgot without a terminal status (an unreachable
//     task trimmed by the bound) gets TASK_UNKNOWN.
//   - A task that went straight to a terminal state without ever being
//     live (a launch the master refused) is not reported.
func diffSnapshots(prev, next *Snapshot) []mesosv1.OperatorEvent {
	if prev == next {
		return nil
	}
	var d differ
	d.agents(prev.Agents, next.Agents)
	d.frameworks(prev, next)
	out := make([]mesosv1.OperatorEvent, 0, len(d.agentsAdded)+len(d.fwsChanged)+len(d.tasks)+len(d.fwsRemoved)+len(d.agentsRemoved))
	out = append(out, d.agentsAdded...)
	out = append(out, d.fwsChanged...)
	out = append(out, d.tasks...)
	out = append(out, d.fwsRemoved...)
	return append(out, d.agentsRemoved...)
}

type differ struct {
	agentsAdded, fwsChanged, tasks, fwsRemoved, agentsRemoved []mesosv1.OperatorEvent
}

func (d *differ) agents(prev, next []*Agent) {
	i, j := 0, 0
	for i < len(prev) || j < len(next) {
		var p, n *Agent
		switch {
		case j == len(next):
			p = prev[i]
			i++
		case i == len(prev):
			n = next[j]
			j++
		default:
			switch c := strings.Compare(agentID(prev[i]), agentID(next[j])); {
			case c < 0:
				p = prev[i]
				i++
			case c > 0:
				n = next[j]
				j++
			default:
				p, n = prev[i], next[j]
				i++
				j++
			}
		}
		wasUp := p != nil && registered(p)
		isUp := n != nil && registered(n)
		switch {
		case isUp && !wasUp:
			d.agentsAdded = append(d.agentsAdded, mesosv1.OperatorEvent{
				Type:       mesosv1.OperatorEventAgentAdded,
				AgentAdded: &mesosv1.OperatorAgentAdded{Agent: v1Agent(n)},
			})
		case wasUp && !isUp:
			d.agentsRemoved = append(d.agentsRemoved, mesosv1.OperatorEvent{
				Type:         mesosv1.OperatorEventAgentRemoved,
				AgentRemoved: &mesosv1.OperatorAgentRemoved{AgentID: mesosv1.ID{Value: agentID(p)}},
			})
		}
	}
}

func (d *differ) frameworks(prev, next *Snapshot) {
	var idx *index // offers in FRAMEWORK_* events need agents by ID
	ix := func() *index {
		if idx == nil {
			idx = &index{agents: make(map[string]*Agent, len(next.Agents))}
			for _, a := range next.Agents {
				idx.agents[agentID(a)] = a
			}
		}
		return idx
	}
	ps, ns := prev.Frameworks, next.Frameworks
	i, j := 0, 0
	for i < len(ps) || j < len(ns) {
		var p, n *Framework
		switch {
		case j == len(ns):
			p = ps[i]
			i++
		case i == len(ps):
			n = ns[j]
			j++
		default:
			switch c := strings.Compare(frameworkID(ps[i]), frameworkID(ns[j])); {
			case c < 0:
				p = ps[i]
				i++
			case c > 0:
				n = ns[j]
				j++
			default:
				p, n = ps[i], ns[j]
				i++
				j++
			}
		}
		switch {
		case p == nil:
			d.fwsChanged = append(d.fwsChanged, mesosv1.OperatorEvent{
				Type:           mesosv1.OperatorEventFrameworkAdded,
				FrameworkAdded: &mesosv1.OperatorFrameworkEvent{Framework: v1Framework(n, ix())},
			})
			d.taskLists(frameworkID(n), nil, nil, n.Tasks, n.UnreachableTasks, n.CompletedTasks)
		case n == nil:
			// A removed framework's tasks were made terminal (teardown) and
			// its record moved to the completed frameworks.
			var live, unreachable, completed []*Task
			if c := completedFramework(next, frameworkID(p)); c != nil {
				live, unreachable, completed = c.Tasks, c.UnreachableTasks, c.CompletedTasks
			}
			d.taskLists(frameworkID(p), p.Tasks, p.UnreachableTasks, live, unreachable, completed)
			d.fwsRemoved = append(d.fwsRemoved, mesosv1.OperatorEvent{
				Type:             mesosv1.OperatorEventFrameworkRemoved,
				FrameworkRemoved: &mesosv1.OperatorFrameworkRemoved{FrameworkInfo: p.Info},
			})
		default:
			if p.Active != n.Active || p.Connected != n.Connected || p.Recovered != n.Recovered || !reflect.DeepEqual(p.Info, n.Info) {
				d.fwsChanged = append(d.fwsChanged, mesosv1.OperatorEvent{
					Type:             mesosv1.OperatorEventFrameworkUpdated,
					FrameworkUpdated: &mesosv1.OperatorFrameworkEvent{Framework: v1Framework(n, ix())},
				})
			}
			d.taskLists(frameworkID(n), p.Tasks, p.UnreachableTasks, n.Tasks, n.UnreachableTasks, n.CompletedTasks)
		}
	}
}

func completedFramework(s *Snapshot, id string) *Framework {
	for i := len(s.CompletedFrameworks) - 1; i >= 0; i-- {
		if frameworkID(s.CompletedFrameworks[i]) == id {
			return s.CompletedFrameworks[i]
		}
	}
	return nil
}

// sameList reports whether a and b are the same slice (same backing array
// and length), which the event loop guarantees for an unchanged list.
func sameList(a, b []*Task) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

func taskID(t *Task) string { return t.Info.TaskID.Value }

// findTask binary-searches a list sorted by task ID.
func findTask(list []*Task, id string) *Task {
	lo, hi := 0, len(list)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if taskID(list[m]) < id {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(list) && taskID(list[lo]) == id {
		return list[lo]
	}
	return nil
}

// taskLists diffs one framework's tasks. Live and unreachable lists are
// disjoint and sorted by ID; a task may move between them.
func (d *differ) taskLists(fwID string, pLive, pUnr, nLive, nUnr, nDone []*Task) {
	sameLive, sameUnr := sameList(pLive, nLive), sameList(pUnr, nUnr)
	if sameLive && sameUnr {
		return
	}
	var done map[string]*Task // completed tasks by ID, built on first need
	gone := func(p *Task) {
		if done == nil {
			done = make(map[string]*Task, len(nDone))
			for _, t := range nDone { // most recent last wins
				done[taskID(t)] = t
			}
		}
		if n := done[taskID(p)]; n != nil {
			d.updated(fwID, p, n)
			return
		}
		d.forgotten(fwID, p)
	}
	if !sameLive {
		walk(pLive, nLive, func(p, n *Task) {
			switch {
			case p != nil && n != nil:
				d.updated(fwID, p, n)
			case p != nil: // left the live list
				if u := findTask(nUnr, taskID(p)); u != nil {
					d.updated(fwID, p, u)
				} else {
					gone(p)
				}
			default: // joined the live list
				if u := findTask(pUnr, taskID(n)); u != nil {
					d.updated(fwID, u, n)
				} else {
					d.added(n)
				}
			}
		})
	}
	if !sameUnr {
		walk(pUnr, nUnr, func(p, n *Task) {
			switch {
			case p != nil && n != nil:
				d.updated(fwID, p, n)
			case p != nil:
				if findTask(nLive, taskID(p)) == nil { // else reported by the live walk
					gone(p)
				}
			default:
				if findTask(pLive, taskID(n)) == nil {
					d.added(n)
				}
			}
		})
	}
}

// walk merges two lists sorted by task ID, calling fn with the records of
// each ID that is in either; unchanged records (same pointer) are skipped.
func walk(prev, next []*Task, fn func(p, n *Task)) {
	i, j := 0, 0
	for i < len(prev) || j < len(next) {
		switch {
		case j == len(next):
			fn(prev[i], nil)
			i++
		case i == len(prev):
			fn(nil, next[j])
			j++
		case prev[i] == next[j]:
			i++
			j++
		default:
			switch c := strings.Compare(taskID(prev[i]), taskID(next[j])); {
			case c < 0:
				fn(prev[i], nil)
				i++
			case c > 0:
				fn(nil, next[j])
				j++
			default:
				fn(prev[i], next[j])
				i++
				j++
			}
		}
	}
}

func (d *differ) added(n *Task) {
	d.tasks = append(d.tasks, mesosv1.OperatorEvent{
		Type:      mesosv1.OperatorEventTaskAdded,
		TaskAdded: &mesosv1.OperatorTaskAdded{Task: v1Task(n)},
	})
}

// updated reports a changed record if its state or latest status changed.
func (d *differ) updated(fwID string, p, n *Task) {
	if p == n {
		return
	}
	pl, nl := latest(p), latest(n)
	if p.State == n.State && (pl == nl || (pl != nil && nl != nil && reflect.DeepEqual(*pl, *nl))) {
		return
	}
	st := mesosv1.TaskStatus{TaskID: n.Info.TaskID, State: n.State}
	if nl != nil {
		st = *nl
	}
	d.tasks = append(d.tasks, mesosv1.OperatorEvent{
		Type:        mesosv1.OperatorEventTaskUpdated,
		TaskUpdated: &mesosv1.OperatorTaskUpdated{FrameworkID: mesosv1.ID{Value: fwID}, Status: st, State: n.State},
	})
}

// forgotten reports a task the master no longer knows.
func (d *differ) forgotten(fwID string, p *Task) {
	st := mesosv1.TaskStatus{TaskID: p.Info.TaskID}
	if l := latest(p); l != nil {
		st = *l
	}
	st.State = mesosv1.TaskUnknown
	st.Source = mesosv1.SourceMaster
	st.Reason = mesosv1.ReasonTaskUnknown
	st.Message = "The master no longer knows this task"
	st.UUID = nil
	d.tasks = append(d.tasks, mesosv1.OperatorEvent{
		Type:        mesosv1.OperatorEventTaskUpdated,
		TaskUpdated: &mesosv1.OperatorTaskUpdated{FrameworkID: mesosv1.ID{Value: fwID}, Status: st, State: mesosv1.TaskUnknown},
	})
}

func latest(t *Task) *mesosv1.TaskStatus {
	if len(t.Statuses) == 0 {
		return nil
	}
	return &t.Statuses[len(t.Statuses)-1]
}
