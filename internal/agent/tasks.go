package agent

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/basalt-dcos/basalt/internal/agentapi"
	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// A task's life on this agent (one goroutine, runTask, drives it; kills and
// acknowledgements arrive from the master connection and are recorded under
// Agent.mu):
//
//	LAUNCH ─► launching ──fetch, env, Launch──► running ──Wait──► ended
//	              │  (STARTING sent before Launch,     │  (terminal update)
//	              │   RUNNING after)                   │
//	              └── KILL / failure ─► ended          └── KILL: KILLING?, Kill(grace)
//
//	ended: terminal update queued ──ACK──► forgotten (completed in /state,
//	       container destroyed, checkpoint removed, sandbox GC scheduled)

type phase int

const (
	phaseLaunching phase = iota
	phaseRunning
	phaseEnded
)

// maxStatuses bounds the status history kept per task (health checks can
// produce many updates).
const maxStatuses = 50

// maxCompletedTasks bounds the completed tasks kept per framework, and
// maxCompletedFrameworks the completed frameworks (Mesos' defaults).
const (
	maxCompletedTasks      = 1000
	maxCompletedFrameworks = 50
)

// task is one task the agent owns. Fields are guarded by Agent.mu.
type task struct {
	rec     taskRecord
	version uint64 // bumped on every change of rec
	cz      containerizer.Containerizer

	phase        phase
	cancelLaunch context.CancelFunc
	killGrace    time.Duration
	killingSent  bool
	healthKilled bool
	stopHealth   func()
	abandoned    bool // the agent was shut down by the master: report nothing

	// Status update manager state for the head of rec.Pending.
	nextSend time.Time
	backoff  time.Duration
}

func (t *task) id() string { return t.rec.Task.TaskID.Value }

func (t *task) latestState() string {
	if n := len(t.rec.Statuses); n > 0 {
		return t.rec.Statuses[n-1].State
	}
	return mesosv1.TaskStaging
}

func (t *task) terminal() bool { return mesosv1.IsTerminalState(t.latestState()) }

// framework groups the tasks of one framework. Guarded by Agent.mu.
type framework struct {
	info      mesosv1.FrameworkInfo
	id        string
	tasks     map[string]*task // by task id
	completed []completedTask
	shutdown  bool // SHUTDOWN_FRAMEWORK received: its updates are not sent
}

// completedTask is a forgotten task as /state shows it.
type completedTask struct {
	rec taskRecord
}

// frameworkFor returns (creating) the framework entry for info.
func (a *Agent) frameworkFor(fid string, info mesosv1.FrameworkInfo) *framework {
	fw := a.frameworks[fid]
	if fw == nil {
		for i, c := range a.completedFrameworks {
			if c.id == fid {
				fw = c
				a.completedFrameworks = append(a.completedFrameworks[:i:i], a.completedFrameworks[i+1:]...)
				break
			}
		}
		if fw == nil {
			fw = &framework{id: fid, tasks: map[string]*task{}}
		}
		fw.shutdown = false
		a.frameworks[fid] = fw
	}
	if info.Name != "" || info.User != "" {
		fw.info = info
	}
	return fw
}

// taskWrite snapshots t's record for the checkpointer; call with mu held.
func (t *task) taskWrite() write {
	t.version++
	b, err := json.Marshal(t.rec)
	if err != nil {
		// TaskInfo and TaskStatus hold only marshalable data.
		b = nil
	}
	return write{name: taskFile(t.rec.ContainerID), version: t.version, data: json.RawMessage(b)}
}

// statusOpts fill in a status update.
type statusOpts struct {
	state   string
	message string
	reason  string
	source  string
	healthy *bool
	cs      *mesosv1.ContainerStatus
}

// newStatus builds a status for t; call with mu held.
func (a *Agent) newStatus(t *task, o statusOpts) mesosv1.TaskStatus {
	u := uuid.New()
	src := o.source
	if src == "" {
		src = mesosv1.SourceExecutor
	}
	st := mesosv1.TaskStatus{
		TaskID:          t.rec.Task.TaskID,
		State:           o.state,
		Message:         o.message,
		Source:          src,
		Reason:          o.reason,
		ExecutorID:      &mesosv1.ID{Value: t.rec.ExecutorID},
		Timestamp:       float64(time.Now().UnixNano()) / 1e9,
		UUID:            u[:],
		Healthy:         o.healthy,
		ContainerStatus: o.cs,
	}
	if a.agentID != "" {
		st.AgentID = &mesosv1.ID{Value: a.agentID}
	}
	if st.ContainerStatus == nil {
		st.ContainerStatus = &mesosv1.ContainerStatus{ContainerID: &mesosv1.ID{Value: t.rec.ContainerID}}
	}
	return st
}

// queueStatus records a new status of t, checkpoints it and hands it to the
// sender. It returns false when the update was dropped (the task already
// ended, or its reports are suppressed). extra are checkpoint writes to
// commit in the same batch. It must be called without mu held.
func (a *Agent) queueStatus(t *task, o statusOpts, mutate func(), extra ...write) bool {
	commit, ok := a.stageStatus(t, o, mutate, extra...)
	if ok {
		commit()
	}
	return ok
}

// stageStatus is queueStatus in two steps: it records the status in memory
// (not sendable yet) and returns commit, which checkpoints it and then hands
// it to the sender. Until commit returns, the status is neither on disk nor
// sent. It must be called without mu held.
func (a *Agent) stageStatus(t *task, o statusOpts, mutate func(), extra ...write) (commit func(), ok bool) {
	a.mu.Lock()
	if t.terminal() || t.abandoned {
		a.mu.Unlock()
		return nil, false
	}
	if mutate != nil {
		mutate()
	}
	st := a.newStatus(t, o)
	a.appendStatusLocked(t, st)
	if mesosv1.IsTerminalState(st.State) {
		t.phase = phaseEnded
	}
	fw := a.frameworks[t.rec.FrameworkID]
	suppressed := fw != nil && fw.shutdown
	if !suppressed {
		t.rec.Pending = append(t.rec.Pending, pendingUpdate{Status: st})
	}
	ws := append([]write{t.taskWrite()}, extra...)
	a.mu.Unlock()

	return func() {
		if err := a.ckpt.commit(ws...); err != nil {
			a.log.Error("checkpoint status update", "task_id", t.id(), "error", err)
		}
		a.log.Info("task status", "task_id", t.id(), "framework_id", t.rec.FrameworkID,
			"state", st.State, "reason", st.Reason, "message", st.Message)

		a.mu.Lock()
		for i := range t.rec.Pending {
			if string(t.rec.Pending[i].Status.UUID) == string(st.UUID) {
				t.rec.Pending[i].durable = true
			}
		}
		if suppressed && mesosv1.IsTerminalState(st.State) {
			a.forgetLocked(t)
		}
		a.mu.Unlock()
		a.poke()
	}, true
}

// appendStatusLocked adds st to t's history, bounded.
func (a *Agent) appendStatusLocked(t *task, st mesosv1.TaskStatus) {
	t.rec.Statuses = append(t.rec.Statuses, st)
	if n := len(t.rec.Statuses); n > maxStatuses {
		t.rec.Statuses = append([]mesosv1.TaskStatus{}, t.rec.Statuses[n-maxStatuses:]...)
	}
}

// poke wakes the status update sender.
func (a *Agent) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// forgetLocked moves an ended task out of the live set: completed in /state,
// container destroyed and checkpoint removed (asynchronously), sandbox GC
// scheduled. Call with mu held.
func (a *Agent) forgetLocked(t *task) {
	fw := a.frameworks[t.rec.FrameworkID]
	if fw == nil || fw.tasks[t.id()] != t {
		return
	}
	delete(fw.tasks, t.id())
	fw.completed = append(fw.completed, completedTask{rec: t.rec})
	if len(fw.completed) > maxCompletedTasks {
		fw.completed = fw.completed[len(fw.completed)-maxCompletedTasks:]
	}
	a.counters.terminal[t.latestState()]++
	if len(fw.tasks) == 0 {
		delete(a.frameworks, fw.id)
		a.completedFrameworks = append(a.completedFrameworks, fw)
		if len(a.completedFrameworks) > maxCompletedFrameworks {
			a.completedFrameworks = a.completedFrameworks[1:]
		}
	}
	rec := t.rec
	cz := t.cz
	t.version++
	del := write{name: taskFile(rec.ContainerID), version: t.version}
	a.goTask(func(ctx context.Context) {
		if cz != nil && rec.Launched {
			if err := cz.Destroy(context.WithoutCancel(ctx), rec.ContainerID); err != nil {
				a.log.Warn("destroy container", "container_id", rec.ContainerID, "error", err)
			}
		}
		if err := a.ckpt.commit(del); err != nil {
			a.log.Warn("remove task checkpoint", "task_id", rec.Task.TaskID.Value, "error", err)
		}
		a.scheduleGC(rec)
	})
}

// acknowledge handles a framework's acknowledgement forwarded by the master.
// Acks for anything but the in-flight head of the task's queue (duplicates,
// unknown uuids) are ignored.
func (a *Agent) acknowledge(ack *agentapi.Acknowledge) {
	a.mu.Lock()
	defer a.mu.Unlock()
	fw := a.frameworks[ack.FrameworkID]
	var t *task
	if fw != nil {
		t = fw.tasks[ack.TaskID]
	}
	if t == nil || len(t.rec.Pending) == 0 || !t.rec.Pending[0].durable ||
		string(t.rec.Pending[0].Status.UUID) != string(ack.UUID) {
		a.counters.invalidUpdates++
		a.log.Debug("ignoring acknowledgement", "framework_id", ack.FrameworkID, "task_id", ack.TaskID)
		return
	}
	a.counters.validUpdates++
	head := t.rec.Pending[0]
	t.rec.Pending = append([]pendingUpdate{}, t.rec.Pending[1:]...)
	t.nextSend = time.Time{}
	t.backoff = 0
	if mesosv1.IsTerminalState(head.Status.State) && len(t.rec.Pending) == 0 {
		a.forgetLocked(t)
		a.poke()
		return
	}
	w := t.taskWrite()
	a.goTask(func(context.Context) {
		if err := a.ckpt.commit(w); err != nil {
			a.log.Error("checkpoint acknowledgement", "task_id", ack.TaskID, "error", err)
		}
	})
	a.poke()
}
