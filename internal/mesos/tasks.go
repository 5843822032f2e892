package mesos

import (
	"slices"
	"time"

	"github.com/basalt-dcos/basalt/internal/mesos/state"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Task state machine as the master tracks it:
//
//	ACCEPT/LAUNCH ─► TASK_STAGING ─► TASK_STARTING ─► TASK_RUNNING ─► TASK_KILLING
//	                     │                 │                │              │
//	                     └─────────────────┴──── agent ─────┴──────────────┴─► terminal
//	                                             update         (FINISHED, FAILED, KILLED, ERROR,
//	                                                             LOST, DROPPED, GONE): moved to the
//	                                                             framework's completed tasks and
//	                                                             its resources recovered
//	  any live state ── agent unreachable ─► TASK_UNREACHABLE (partition-aware; kept in
//	                                         unreachable tasks) | TASK_LOST (others; terminal)
//	  TASK_UNREACHABLE ── agent re-registers ─► the state the agent reports
//
// Task records (*state.Task) are copy-on-write: a change makes a new record,
// so published snapshots share unchanged records with the loop.
type task struct {
	st        *state.Task
	agentID   string
	resources mesosv1.Resources // allocated: the task's, plus its executor's if it started one
	latest    mesosv1.TaskStatus
}

func executorIDOf(ti mesosv1.TaskInfo) string {
	if ti.Executor != nil {
		return ti.Executor.ExecutorID.Value
	}
	return ti.TaskID.Value
}

func roleOf(res mesosv1.Resources, fw *framework) string {
	for _, r := range res {
		if role := mesosv1.AllocationRole(r); role != "" {
			return role
		}
	}
	if roles := fw.info.EffectiveRoles(); len(roles) > 0 {
		return roles[0]
	}
	return mesosv1.UnreservedRole
}

func boundStatuses(sts []mesosv1.TaskStatus, max int) []mesosv1.TaskStatus {
	if len(sts) > max {
		sts = sts[len(sts)-max:]
	}
	return slices.Clone(sts)
}

// addLiveTask records t as a live task of fw on agent a.
func (k *kernel) addLiveTask(fw *framework, a *agent, t *task, res mesosv1.Resources) {
	t.resources = res
	t.agentID = a.id
	fw.tasks[t.st.Info.TaskID.Value] = t
	fw.setLive(t.st)
	fw.used = fw.used.Plus(res)
	a.tasks[taskKey{fw.id, t.st.Info.TaskID.Value}] = t
	a.used = a.used.Plus(res)
}

// masterStatus builds a status the master generates (no uuid: frameworks
// must not acknowledge it).
func (k *kernel) masterStatus(t *task, stateName, reason, message string, now time.Time) mesosv1.TaskStatus {
	st := mesosv1.TaskStatus{
		TaskID: t.st.Info.TaskID, State: stateName, Reason: reason, Message: message,
		Source: mesosv1.SourceMaster, Timestamp: float64(now.UnixNano()) / 1e9,
	}
	if t.agentID != "" {
		st.AgentID = &mesosv1.ID{Value: t.agentID}
	}
	if eid := t.st.ExecutorID; eid != "" {
		st.ExecutorID = &mesosv1.ID{Value: eid}
	}
	return st
}

// applyStatus moves t to st.State, records the status (copy-on-write),
// frees resources on terminal states and forwards the update to the
// framework.
func (k *kernel) applyStatus(fw *framework, t *task, st mesosv1.TaskStatus, now time.Time) {
	old := t.st
	nt := *old
	nt.State = st.State
	statuses := make([]mesosv1.TaskStatus, 0, min(len(old.Statuses)+1, k.cfg.MaxStatusesPerTask))
	from := max(0, len(old.Statuses)+1-k.cfg.MaxStatusesPerTask)
	statuses = append(statuses, old.Statuses[from:]...)
	stored := st
	stored.Data = nil // keep snapshots small; frameworks get data in the UPDATE
	statuses = append(statuses, stored)
	nt.Statuses = statuses
	t.st = &nt
	t.latest = st
	id := old.Info.TaskID.Value
	if _, live := fw.tasks[id]; live {
		fw.setLive(t.st)
	} else if _, ok := fw.unreachable[id]; ok {
		fw.unreachableDirty = true
	}
	if old.State != st.State {
		k.countTransition(st.State)
	}
	a := k.agents[t.agentID]
	switch {
	case st.State == mesosv1.TaskUnreachable:
		if _, live := fw.tasks[id]; live {
			k.removeLive(fw, a, t)
			fw.unreachable[id] = t
			fw.unreachableDirty = true
			fw.unreachableOrder = append(fw.unreachableOrder, id)
			k.trimUnreachable(fw)
		}
	case mesosv1.IsTerminalState(st.State):
		if _, live := fw.tasks[id]; live {
			k.removeLive(fw, a, t)
			if a != nil && a.inAlloc {
				k.alloc.Recover(fw.id, a.id, t.resources, 0, now)
				k.allocAgents[a.id] = true
			}
		}
		if _, ok := fw.unreachable[id]; ok {
			delete(fw.unreachable, id)
			fw.unreachableDirty = true
		}
		fw.completed = append(fw.completed, t.st)
		fw.completedVer++
		if over := len(fw.completed) - k.cfg.MaxCompletedTasksPerFramework; over > 0 {
			fw.completed = slices.Delete(fw.completed, 0, over)
		}
	}
	k.forwardStatus(fw, st)
}

func (k *kernel) removeLive(fw *framework, a *agent, t *task) {
	id := t.st.Info.TaskID.Value
	delete(fw.tasks, id)
	fw.delLive(id)
	fw.used = fw.used.Minus(t.resources)
	if a != nil {
		delete(a.tasks, taskKey{fw.id, id})
		a.used = a.used.Minus(t.resources)
		if t.st.Info.Executor != nil {
			ek := taskKey{fw.id, t.st.ExecutorID}
			still := false
			for key, other := range a.tasks {
				if key.fw == fw.id && other.st.ExecutorID == t.st.ExecutorID {
					still = true
					break
				}
			}
			if !still {
				delete(a.execs, ek)
			}
		}
	}
}

func (k *kernel) trimUnreachable(fw *framework) {
	for len(fw.unreachable) > k.cfg.MaxUnreachableTasksPerFramework && len(fw.unreachableOrder) > 0 {
		id := fw.unreachableOrder[0]
		fw.unreachableOrder = fw.unreachableOrder[1:]
		if _, ok := fw.unreachable[id]; ok {
			delete(fw.unreachable, id)
			fw.unreachableDirty = true
		}
	}
	if len(fw.unreachableOrder) > 2*len(fw.unreachable)+16 {
		fw.unreachableOrder = slices.DeleteFunc(fw.unreachableOrder, func(id string) bool { _, ok := fw.unreachable[id]; return !ok })
	}
}

// forwardStatus sends an UPDATE to the framework if it is connected;
// otherwise the agent's retries deliver it later.
func (k *kernel) forwardStatus(fw *framework, st mesosv1.TaskStatus) {
	if fw.sub == nil {
		return
	}
	k.send(fw.sub, mesosv1.Event{Type: mesosv1.EventUpdate, Update: &mesosv1.EventUpdateBody{Status: st}})
}

// transitionCounters are the cumulative Mesos counters of tasks that ended
// in each terminal state (the live-state gauges are derived by the read side).
var transitionCounters = map[string]string{ // read-only
	mesosv1.TaskFinished:       "master/tasks_finished",
	mesosv1.TaskFailed:         "master/tasks_failed",
	mesosv1.TaskKilled:         "master/tasks_killed",
	mesosv1.TaskError:          "master/tasks_error",
	mesosv1.TaskLost:           "master/tasks_lost",
	mesosv1.TaskDropped:        "master/tasks_dropped",
	mesosv1.TaskGone:           "master/tasks_gone",
	mesosv1.TaskGoneByOperator: "master/tasks_gone_by_operator",
}

func (k *kernel) countTransition(s string) {
	if name, ok := transitionCounters[s]; ok {
		k.count(name)
	}
}
