package simagent

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/basalt-dcos/basalt/internal/agentapi"
	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/internal/containerizer/fake"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// A simulated task's life (as internal/agent's, minus fetching and
// checkpoints):
//
//	LAUNCH ─► fake Launch ─► STARTING, RUNNING queued ─► container ends ─► terminal queued
//	             │ (launch fails: FAILED)                  (exit, Behavior, KILL)
//	             ▼
//	terminal update acknowledged ─► forgotten (container destroyed)
//
// Every update gets a uuid and joins the task's queue; the head is sent
// and resent (backoff StatusUpdateRetryMin doubling to Max) until the
// master forwards the framework's ACKNOWLEDGE of that uuid. Only heads are
// in flight, so a task's updates arrive in order.

// defaultKillGrace is the grace of a KILL without a kill policy.
const defaultKillGrace = 3 * time.Second

// simTask is one task on a simulated agent. Guarded by simAgent.mu.
type simTask struct {
	fid     string
	info    mesosv1.TaskInfo
	cid     string
	latest  mesosv1.TaskStatus
	pending []mesosv1.TaskStatus // unacknowledged, oldest first
	ended   bool                 // a terminal update is queued
	killed  bool                 // KILL received
	watched bool                 // a goroutine waits for the container's end
	timer   *time.Timer          // Behavior's exit or failure

	nextSend time.Time
	backoff  time.Duration
}

// scripted reports whether the fake container ends by itself or takes
// time to start or stop: then a goroutine waits for its end.
func scripted(ti mesosv1.TaskInfo) bool {
	for _, k := range []string{fake.LabelRunFor, fake.LabelStartDelay, fake.LabelIgnoreSIGTERM} {
		if _, ok := ti.Labels.Get(k); ok {
			return true
		}
	}
	return false
}

func newUUID() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return b
}

// launch starts tasks of one framework. A non-empty refuse fails each.
func (a *simAgent) launch(ctx context.Context, info mesosv1.FrameworkInfo, infos []mesosv1.TaskInfo, refuse string) {
	if info.ID == nil || info.ID.Value == "" {
		return
	}
	fid := info.ID.Value
	var started []*simTask
	a.mu.Lock()
	fw := a.frameworks[fid]
	if fw == nil {
		fw = &simFramework{tasks: map[string]*simTask{}}
		a.frameworks[fid] = fw
	}
	fw.info = info
	for _, ti := range infos {
		id := ti.TaskID.Value
		if id == "" || fw.tasks[id] != nil {
			continue
		}
		a.s.stats.launches.Add(1)
		t := &simTask{fid: fid, info: ti, cid: fmt.Sprintf("%x", newUUID())}
		t.latest = mesosv1.TaskStatus{TaskID: ti.TaskID, State: mesosv1.TaskStaging}
		fw.tasks[id] = t
		if refuse != "" {
			a.queueLocked(t, mesosv1.TaskFailed, mesosv1.ReasonContainerLaunchFailed, refuse, mesosv1.SourceAgent)
			continue
		}
		a.queueLocked(t, mesosv1.TaskStarting, "", "", "")
		started = append(started, t)
	}
	a.mu.Unlock()

	for _, t := range started {
		spec := containerizer.LaunchSpec{
			ContainerID: t.cid, FrameworkID: t.fid, ExecutorID: t.info.TaskID.Value,
			AgentID: a.agentID(), Task: t.info,
		}
		if scripted(t.info) {
			a.mu.Lock()
			t.watched = true
			a.mu.Unlock()
			go a.watch(a.s.runCtx, t, spec)
			continue
		}
		if err := a.cz.Launch(ctx, spec); err != nil {
			a.mu.Lock()
			a.queueLocked(t, mesosv1.TaskFailed, mesosv1.ReasonContainerLaunchFailed, err.Error(), mesosv1.SourceAgent)
			a.mu.Unlock()
			continue
		}
		a.running(t)
	}
	a.s.enqueue(a)
}

// running queues RUNNING and arms Behavior's exit or failure.
func (a *simAgent) running(t *simTask) {
	b := a.s.cfg.Behavior
	var after time.Duration
	code := -1
	switch {
	case a.s.chance(b.FailProbability):
		after, code = b.FailAfter, 1
	case b.ExitAfter > 0:
		after, code = b.ExitAfter, 0
	}
	a.mu.Lock()
	if t.ended {
		a.mu.Unlock()
		return
	}
	a.queueLocked(t, mesosv1.TaskRunning, "", "", "")
	t.latest.ContainerStatus = a.containerStatus(t)
	t.pending[len(t.pending)-1].ContainerStatus = t.latest.ContainerStatus
	if code >= 0 && !t.watched {
		t.timer = time.AfterFunc(after, func() {
			if _, err := a.cz.Exit(t.cid, code); err == nil {
				a.reap(context.Background(), t)
			}
		})
	}
	a.mu.Unlock()
	a.s.enqueue(a)
}

func (a *simAgent) containerStatus(t *simTask) *mesosv1.ContainerStatus {
	return &mesosv1.ContainerStatus{
		ContainerID:  &mesosv1.ID{Value: t.cid},
		NetworkInfos: []mesosv1.NetworkInfo{{IPAddresses: []mesosv1.IPAddress{{Protocol: "IPv4", IPAddress: a.s.cfg.IP}}}},
	}
}

// watch launches a scripted container and waits for its end.
func (a *simAgent) watch(ctx context.Context, t *simTask, spec containerizer.LaunchSpec) {
	if err := a.cz.Launch(ctx, spec); err != nil {
		a.mu.Lock()
		a.queueLocked(t, mesosv1.TaskFailed, mesosv1.ReasonContainerLaunchFailed, err.Error(), mesosv1.SourceAgent)
		a.mu.Unlock()
		a.s.enqueue(a)
		return
	}
	a.running(t)
	a.reap(ctx, t)
}

// reap waits for t's container to end and queues its terminal update.
func (a *simAgent) reap(ctx context.Context, t *simTask) {
	term, err := a.cz.Wait(ctx, t.cid)
	if err != nil {
		return // the simulator stops, or the container was destroyed
	}
	a.mu.Lock()
	if !t.ended {
		state, reason := mesosv1.TaskFailed, term.Reason
		switch {
		case t.killed || term.Killed:
			state = mesosv1.TaskKilled
		case term.Success():
			state = mesosv1.TaskFinished
		}
		a.queueLocked(t, state, reason, term.Message, "")
	}
	a.mu.Unlock()
	a.s.enqueue(a)
}

// kill handles KILL.
func (a *simAgent) kill(ctx context.Context, fid, tid string, policy *mesosv1.KillPolicy) {
	a.s.stats.kills.Add(1)
	a.mu.Lock()
	var t *simTask
	if fw := a.frameworks[fid]; fw != nil {
		t = fw.tasks[tid]
	}
	if t == nil || t.ended {
		a.mu.Unlock()
		return
	}
	t.killed = true
	if t.timer != nil {
		t.timer.Stop()
	}
	grace := defaultKillGrace
	if p := t.info.KillPolicy; p != nil && p.GracePeriod != nil {
		grace = time.Duration(p.GracePeriod.Nanoseconds)
	}
	if policy != nil && policy.GracePeriod != nil {
		grace = time.Duration(policy.GracePeriod.Nanoseconds)
	}
	watched := t.watched
	a.mu.Unlock()
	if err := a.cz.Kill(ctx, t.cid, grace); err != nil {
		// Not launched (yet, or its launch failed): end it here.
		a.mu.Lock()
		if !t.ended {
			a.queueLocked(t, mesosv1.TaskKilled, mesosv1.ReasonTaskKilledDuringLaunch, "Killed before it was launched", mesosv1.SourceAgent)
		}
		a.mu.Unlock()
		a.s.enqueue(a)
		return
	}
	if !watched {
		a.reap(ctx, t) // the container ended at once
	}
}

// queueLocked records a new status of t and queues it for sending. Call
// with mu held.
func (a *simAgent) queueLocked(t *simTask, state, reason, message, source string) {
	if t.ended {
		return
	}
	if source == "" {
		source = mesosv1.SourceExecutor
	}
	st := mesosv1.TaskStatus{
		TaskID: t.info.TaskID, State: state, Reason: reason, Message: message, Source: source,
		ExecutorID:      &mesosv1.ID{Value: t.info.TaskID.Value},
		Timestamp:       float64(time.Now().UnixNano()) / 1e9,
		UUID:            newUUID(),
		ContainerStatus: &mesosv1.ContainerStatus{ContainerID: &mesosv1.ID{Value: t.cid}},
	}
	if a.id != "" {
		st.AgentID = &mesosv1.ID{Value: a.id}
	}
	switch {
	case mesosv1.IsTerminalState(state):
		t.ended = true
		a.s.stats.terminal.Add(1)
	case state == mesosv1.TaskRunning:
		a.s.stats.running.Add(1)
	}
	t.latest = st
	t.pending = append(t.pending, st)
	if len(t.pending) == 1 {
		t.nextSend, t.backoff = time.Time{}, 0
		a.nextUpdate = time.Now()
	}
}

// dueUpdatesLocked collects the heads due at now, advancing their retry
// schedule, and sets nextUpdate to when the next one falls due.
func (a *simAgent) dueUpdatesLocked(now time.Time) []agentapi.StatusUpdate {
	var batch []agentapi.StatusUpdate
	var next time.Time
	for fid, fw := range a.frameworks {
		for _, t := range fw.tasks {
			if len(t.pending) == 0 {
				continue
			}
			if !t.nextSend.After(now) {
				batch = append(batch, agentapi.StatusUpdate{FrameworkID: fid, Status: t.pending[0]})
				if t.backoff == 0 {
					t.backoff = a.s.cfg.StatusUpdateRetryMin
				} else {
					t.backoff = min(2*t.backoff, a.s.cfg.StatusUpdateRetryMax)
				}
				t.nextSend = now.Add(t.backoff)
			}
			if next.IsZero() || t.nextSend.Before(next) {
				next = t.nextSend
			}
		}
	}
	a.nextUpdate = next
	return batch
}

// resendAllLocked makes the heads of the listed tasks (all: nil) due now.
func (a *simAgent) resendAllLocked(only map[string]bool) {
	for _, fw := range a.frameworks {
		for id, t := range fw.tasks {
			if only != nil && !only[id] {
				continue
			}
			if len(t.pending) > 0 {
				t.nextSend, t.backoff = time.Time{}, 0
				a.nextUpdate = time.Now()
			}
		}
	}
}

// acknowledge handles an ACKNOWLEDGE: it pops the matching head; a task
// whose terminal update is acknowledged is forgotten.
func (a *simAgent) acknowledge(ack *agentapi.Acknowledge) {
	a.mu.Lock()
	var t *simTask
	fw := a.frameworks[ack.FrameworkID]
	if fw != nil {
		t = fw.tasks[ack.TaskID]
	}
	if t == nil || len(t.pending) == 0 || string(t.pending[0].UUID) != string(ack.UUID) {
		a.mu.Unlock()
		a.s.stats.badAcks.Add(1)
		return
	}
	a.s.stats.acks.Add(1)
	t.pending = t.pending[1:]
	t.nextSend, t.backoff = time.Time{}, 0
	more := len(t.pending) > 0
	var forget bool
	if more {
		a.nextUpdate = time.Now()
	} else if t.ended {
		forget = true
		delete(fw.tasks, ack.TaskID)
		if len(fw.tasks) == 0 {
			delete(a.frameworks, ack.FrameworkID)
		}
	}
	a.mu.Unlock()
	if forget {
		_ = a.cz.Destroy(context.Background(), t.cid)
	}
	if more {
		a.s.enqueue(a)
	}
}

// reconcile resends the latest status of the listed tasks (all if none):
// pending heads go again now; tasks with nothing pending get their latest
// status again without a uuid (nothing to acknowledge).
func (a *simAgent) reconcile(ctx context.Context, r *agentapi.Reconcile) {
	a.s.stats.reconcile.Add(1)
	var only map[string]bool
	if r != nil && len(r.TaskIDs) > 0 {
		only = map[string]bool{}
		for _, id := range r.TaskIDs {
			only[id] = true
		}
	}
	a.mu.Lock()
	a.resendAllLocked(only)
	var batch []agentapi.StatusUpdate
	for fid, fw := range a.frameworks {
		for id, t := range fw.tasks {
			if (only != nil && !only[id]) || len(t.pending) > 0 {
				continue
			}
			st := t.latest
			st.UUID = nil
			batch = append(batch, agentapi.StatusUpdate{FrameworkID: fid, Status: st})
		}
	}
	base, stream, id := a.base, a.streamID, a.id
	connected := a.connected
	a.mu.Unlock()
	a.s.enqueue(a)
	if len(batch) > 0 && connected {
		go func() {
			call := agentapi.Call{Type: agentapi.CallUpdate, AgentID: id, Update: &agentapi.Update{Updates: batch}}
			if err := a.s.post(ctx, base, stream, call); err != nil {
				a.s.log.Debug("send reconciliation updates", "agent", a.hostname, "error", err)
			}
		}()
	}
}

// shutdownFramework kills every task of fid and forgets them without
// reporting (the framework is gone).
func (a *simAgent) shutdownFramework(ctx context.Context, fid string) {
	a.mu.Lock()
	fw := a.frameworks[fid]
	delete(a.frameworks, fid)
	a.mu.Unlock()
	if fw == nil {
		return
	}
	for _, t := range fw.tasks {
		a.mu.Lock()
		t.ended, t.pending = true, nil
		if t.timer != nil {
			t.timer.Stop()
		}
		a.mu.Unlock()
		_ = a.cz.Destroy(ctx, t.cid)
	}
}

func (a *simAgent) agentID() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.id
}
