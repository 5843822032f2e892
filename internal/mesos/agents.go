package mesos

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/basalt-dcos/basalt/internal/agentapi"
	"github.com/basalt-dcos/basalt/internal/mesos/state"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Agent state machine (owned by the event loop):
//
//	               SUBSCRIBE (new or known id)
//	 (registry) ──────────────────────────────┐
//	recovered ──────────┐                     ▼
//	   │  reregister    └── re-SUBSCRIBE ─► connected ◄──────────────┐
//	   │  timeout                             │   ▲                  │
//	   │                        stream closed │   │ re-SUBSCRIBE     │
//	   │                                      ▼   │                  │
//	   │                                  disconnected               │
//	   │                                      │ (offers rescinded;   │
//	   │                                      │  pings keep missing) │
//	   │       MaxAgentPingTimeouts missed    ▼                      │
//	   └──────────────────────────────────► unreachable ─────────────┘
//	                                      (tasks UNREACHABLE/LOST,   re-SUBSCRIBE: partition-aware
//	                                       removed from allocator)   tasks come back, others killed
//
// Pings: every AgentPingTimeout the loop checks whether the agent sent any
// call since the last check (HEARTBEATs are recorded off the loop, on the
// agent's stream); a connected or disconnected agent that misses
// MaxAgentPingTimeouts checks in a row becomes unreachable.
type agentState int

const (
	agentRecovered agentState = iota // from the registry after a failover, not re-registered yet
	agentConnected
	agentDisconnected
	agentUnreachable
)

type agent struct {
	id       string
	info     mesosv1.AgentInfo
	total    mesosv1.Resources
	endpoint string
	version  string
	caps     []string
	runtimes []string

	registeredTime   time.Time
	reregisteredTime time.Time
	state            agentState
	unreachableTime  time.Time

	sub     *subscriber
	seen    bool // any call since the last ping check
	misses  int
	inAlloc bool // known to the allocator
	tasks   map[taskKey]*task
	offers  map[string]*offer
	used    mesosv1.Resources
	offered mesosv1.Resources
	execs   map[taskKey]bool // (framework, executor id) running here

	// infoVer counts changes of info (re-registrations); snap is the last
	// published record and snapKey what it was built from, so a snapshot
	// reuses the record (and the read side its JSON) while nothing changed.
	infoVer int
	snap    *state.Agent
	snapKey agentSnapKey
	// resv caches total.Reservations() for the total it was computed from.
	resv    map[string]mesosv1.Resources
	resvKey resKey
}

// resKey identifies a Resources value: the loop never changes a Resources
// slice in place (Plus, Minus and Normalize return new ones), so the same
// backing array and length mean the same content.
type resKey struct {
	p *mesosv1.Resource
	n int
}

func keyOf(r mesosv1.Resources) resKey {
	if len(r) == 0 {
		return resKey{}
	}
	return resKey{&r[0], len(r)}
}

// strsKey identifies a []string the loop replaces but never changes.
type strsKey struct {
	p *string
	n int
}

func strsKeyOf(s []string) strsKey {
	if len(s) == 0 {
		return strsKey{}
	}
	return strsKey{&s[0], len(s)}
}

// agentSnapKey is everything an agent's snapshot record is built from.
type agentSnapKey struct {
	infoVer                  int
	endpoint, version        string
	total, used, offered     resKey
	registered, reregistered time.Time
	state                    agentState
	unreachable              time.Time
	caps, runtimes           strsKey
}

type taskKey struct{ fw, id string }

func newAgent(id string, info mesosv1.AgentInfo, endpoint, version string, registered time.Time) *agent {
	info.ID = &mesosv1.ID{Value: id}
	return &agent{
		id: id, info: info, total: mesosv1.Resources(info.Resources).Normalize(), endpoint: endpoint, version: version,
		registeredTime: registered, tasks: map[taskKey]*task{}, offers: map[string]*offer{}, execs: map[taskKey]bool{},
	}
}

func (a *agent) pid() string {
	return fmt.Sprintf("slave(1)@%s", a.endpoint)
}

// snapshot returns the agent's record for a snapshot: the previous one
// while nothing it shows changed, a new one otherwise.
func (a *agent) snapshot() *state.Agent {
	key := agentSnapKey{
		infoVer: a.infoVer, endpoint: a.endpoint, version: a.version,
		total: keyOf(a.total), used: keyOf(a.used), offered: keyOf(a.offered),
		registered: a.registeredTime, reregistered: a.reregisteredTime,
		state: a.state, unreachable: a.unreachableTime,
		caps: strsKeyOf(a.caps), runtimes: strsKeyOf(a.runtimes),
	}
	if a.snap != nil && a.snapKey == key {
		return a.snap
	}
	a.snap, a.snapKey = a.build(), key
	return a.snap
}

// reservations returns a.total.Reservations(), cached.
func (a *agent) reservations() map[string]mesosv1.Resources {
	if key := keyOf(a.total); a.resv == nil || a.resvKey != key {
		a.resv, a.resvKey = a.total.Reservations(), key
		if a.resv == nil {
			a.resv = map[string]mesosv1.Resources{}
		}
	}
	return a.resv
}

func (a *agent) build() *state.Agent {
	return &state.Agent{
		Info: a.info, Endpoint: a.endpoint, PID: a.pid(),
		Total: a.total, Used: a.used, Offered: a.offered,
		RegisteredTime: a.registeredTime, ReregisteredTime: a.reregisteredTime,
		Active:          a.state == agentConnected,
		Unreachable:     a.state == agentUnreachable,
		UnreachableTime: a.unreachableTime,
		Version:         a.version, Capabilities: a.caps, Runtimes: a.runtimes,
	}
}

// agentSubscribe (re-)registers an agent and returns its new stream.
func (k *kernel) agentSubscribe(call agentapi.Call, now time.Time) (*subscriber, string) {
	sub := call.Subscribe
	info := sub.AgentInfo
	id := ""
	if info.ID != nil {
		id = info.ID.Value
	}
	if _, gone := k.goneAgents[id]; gone && id != "" {
		// The stream carries one SHUTDOWN event and ends: the agent kills
		// its tasks, forgets its ID and registers as a new agent.
		k.count("master/slave_shutdowns_scheduled")
		k.log.Info("agent marked gone tried to re-register; shutting it down", "agent_id", id)
		sub := newSubscriber()
		k.send(sub, agentapi.Event{Type: agentapi.EventShutdown, Shutdown: &agentapi.Shutdown{
			Message: "agent " + id + " was marked gone by an operator; register as a new agent"}})
		k.closeSub(sub)
		return sub, id
	}
	a, known := k.agents[id]
	if id == "" {
		k.seqAgent++
		id = fmt.Sprintf("%s-S%d", k.runID, k.seqAgent)
	}
	if known {
		k.count("master/messages_reregister_slave")
		k.count("master/slave_reregistrations")
		k.closeSub(a.sub) // a newer connection replaces the old one
		a.sub = nil
		info.ID = &mesosv1.ID{Value: id}
		a.info = info
		a.infoVer++
		a.total = mesosv1.Resources(info.Resources).Normalize()
		a.endpoint, a.version = sub.Endpoint, sub.Version
		a.reregisteredTime = now
	} else {
		if info.ID != nil {
			k.count("master/messages_reregister_slave")
			k.count("master/slave_reregistrations")
		} else {
			k.count("master/messages_register_slave")
			k.count("master/slave_registrations")
		}
		a = newAgent(id, info, sub.Endpoint, sub.Version, now)
		if info.ID != nil {
			a.reregisteredTime = now
		}
		k.agents[id] = a
		k.agentList = nil
	}
	a.caps, a.runtimes = sub.Capabilities, sub.Runtimes
	wasUnreachable := a.state == agentUnreachable
	a.state = agentConnected
	a.unreachableTime = time.Time{}
	a.seen, a.misses = true, 0
	a.sub = newSubscriber()
	k.agentSubs.Store(id, a.sub)

	if a.inAlloc {
		k.alloc.UpdateAgent(id, a.total)
		k.alloc.SetAgentActive(id, true)
	} else {
		k.alloc.AddAgent(id, a.total)
		a.inAlloc = true
	}
	k.send(a.sub, agentapi.Event{Type: agentapi.EventSubscribed, Subscribed: &agentapi.Subscribed{
		AgentID: id, StreamID: a.sub.streamID,
		HeartbeatIntervalSeconds: k.cfg.AgentHeartbeatInterval.Seconds(), MasterInfo: k.self,
	}})
	if known || info.ID != nil {
		k.mergeReportedTasks(a, sub, wasUnreachable, now)
	}
	k.persistAgent(a)
	k.allocAgents[id] = true
	k.log.Info("agent subscribed", "agent_id", id, "endpoint", a.endpoint, "reregistered", known || info.ID != nil)
	return a.sub, id
}

// mergeReportedTasks reconciles the master's view of a re-registering agent
// with the tasks it reports.
func (k *kernel) mergeReportedTasks(a *agent, sub *agentapi.Subscribe, wasUnreachable bool, now time.Time) {
	infos := map[string]mesosv1.FrameworkInfo{}
	for _, fi := range sub.Frameworks {
		if fi.ID != nil {
			infos[fi.ID.Value] = fi
		}
	}
	reported := map[taskKey]bool{}
	shutdown := map[string]bool{}
	for _, rt := range sub.Tasks {
		key := taskKey{rt.FrameworkID, rt.Info.TaskID.Value}
		reported[key] = true
		fw := k.frameworks[rt.FrameworkID]
		if fw == nil {
			if k.completedIDs[rt.FrameworkID] {
				shutdown[rt.FrameworkID] = true
				continue
			}
			fi, ok := infos[rt.FrameworkID]
			if !ok {
				fi = mesosv1.FrameworkInfo{ID: &mesosv1.ID{Value: rt.FrameworkID}, Name: "unknown", User: "unknown"}
			}
			fi.ID = &mesosv1.ID{Value: rt.FrameworkID}
			fw = k.addFramework(fi, now)
			fw.state = fwRecovered
			k.persistFramework(fw)
			k.startFailoverTimer(fw, now)
		}
		if t := fw.tasks[key.id]; t != nil {
			// Known and live: the agent's state is the truth.
			if t.agentID == a.id && rt.State != "" && rt.State != t.st.State && len(rt.Statuses) > 0 {
				k.applyStatus(fw, t, rt.Statuses[len(rt.Statuses)-1], now)
			}
			continue
		}
		if t := fw.unreachable[key.id]; t != nil {
			// The agent came back: partition-aware frameworks get the task back.
			delete(fw.unreachable, key.id)
			fw.unreachableDirty = true
			st := latestStatus(rt)
			t.agentID = a.id
			k.addLiveTask(fw, a, t, t.resources)
			if t.st.Info.Executor != nil {
				a.execs[taskKey{fw.id, t.st.ExecutorID}] = true
			}
			k.alloc.AddAllocated(fw.id, a.id, t.resources)
			k.applyStatus(fw, t, st, now)
			continue
		}
		if mesosv1.IsTerminalState(rt.State) {
			continue // nothing to run; the agent finishes its update stream
		}
		if wasUnreachable && !fw.partitionAware() && k.inCompleted(fw, key.id) {
			// Mesos: tasks of non-partition-aware frameworks on an agent that
			// comes back from unreachable are killed (they were reported LOST).
			k.send(a.sub, agentapi.Event{Type: agentapi.EventKill, Kill: &agentapi.Kill{FrameworkID: fw.id, TaskID: key.id}})
			continue
		}
		// Unknown to this master (a failover): adopt it.
		t := &task{agentID: a.id}
		res := mesosv1.Resources(rt.Info.Resources).Normalize()
		if rt.Info.Executor != nil {
			ek := taskKey{fw.id, rt.Info.Executor.ExecutorID.Value}
			if !a.execs[ek] {
				a.execs[ek] = true
				res = res.Plus(rt.Info.Executor.Resources)
			}
		}
		st := latestStatus(rt)
		t.st = &state.Task{
			Info: rt.Info, FrameworkID: fw.id, AgentID: a.id, ExecutorID: executorIDOf(rt.Info),
			Role: roleOf(res, fw), State: rt.State, Statuses: boundStatuses(rt.Statuses, k.cfg.MaxStatusesPerTask),
		}
		t.latest = st
		k.addLiveTask(fw, a, t, res)
		k.alloc.AddAllocated(fw.id, a.id, res)
	}
	for fid := range shutdown {
		k.send(a.sub, agentapi.Event{Type: agentapi.EventShutdownFramework, ShutdownFramework: &agentapi.ShutdownFramework{FrameworkID: fid}})
	}
	// Tasks the master launched there but the agent does not know are gone.
	for key, t := range a.tasks {
		if reported[key] {
			continue
		}
		fw := k.frameworks[key.fw]
		if fw == nil {
			continue
		}
		state := mesosv1.TaskLost
		if fw.partitionAware() {
			state = mesosv1.TaskDropped
		}
		k.applyStatus(fw, t, k.masterStatus(t, state, mesosv1.ReasonAgentRestarted, "Task was not reported by the re-registering agent", now), now)
	}
}

func (k *kernel) inCompleted(fw *framework, taskID string) bool {
	return slices.ContainsFunc(fw.completed, func(t *state.Task) bool { return t.Info.TaskID.Value == taskID })
}

func latestStatus(rt agentapi.Task) mesosv1.TaskStatus {
	if n := len(rt.Statuses); n > 0 {
		st := rt.Statuses[n-1]
		st.UUID = nil
		return st
	}
	return mesosv1.TaskStatus{TaskID: rt.Info.TaskID, State: rt.State, Source: mesosv1.SourceAgent}
}

// agentStreamClosed handles the end of an agent's stream.
func (k *kernel) agentStreamClosed(id string, sub *subscriber) {
	a := k.agents[id]
	if a == nil || a.sub != sub {
		return // replaced by a newer stream
	}
	k.closeSub(sub)
	a.sub = nil
	if a.state != agentConnected {
		return
	}
	k.log.Info("agent disconnected", "agent_id", id)
	a.state = agentDisconnected
	k.alloc.SetAgentActive(id, false)
	k.rescindAgentOffers(a)
}

// agentCall authenticates an agent call by its stream id.
func (k *kernel) agentFor(id, streamID string) (*agent, error) {
	a := k.agents[id]
	if a == nil || a.sub == nil || a.sub.streamID != streamID {
		return nil, errForbidden("agent " + id + " is not subscribed on this stream")
	}
	a.seen = true
	return a, nil
}

// checkPings counts missed pings and marks silent agents unreachable.
func (k *kernel) checkPings(now time.Time) {
	for _, a := range k.agents {
		if a.state != agentConnected && a.state != agentDisconnected {
			continue
		}
		heard := a.sub != nil && a.sub.seen.Swap(false) // a heartbeat (see heartbeat)
		if a.seen || heard {
			a.seen, a.misses = false, 0
			continue
		}
		a.misses++
		if a.misses >= k.cfg.MaxAgentPingTimeouts {
			k.markUnreachable(a, now)
		}
	}
}

// markUnreachable removes an agent that stopped talking: its tasks become
// TASK_UNREACHABLE (partition-aware frameworks) or TASK_LOST.
func (k *kernel) markUnreachable(a *agent, now time.Time) {
	k.log.Warn("agent unreachable", "agent_id", a.id, "missed_pings", a.misses)
	k.count("master/slave_unreachable_completed")
	k.closeSub(a.sub)
	a.sub = nil
	k.rescindAgentOffers(a)
	a.state = agentUnreachable
	a.unreachableTime = now
	for key, t := range a.tasks {
		fw := k.frameworks[key.fw]
		if fw == nil {
			continue
		}
		if fw.partitionAware() {
			st := k.masterStatus(t, mesosv1.TaskUnreachable, mesosv1.ReasonAgentRemoved, "Agent is unreachable", now)
			st.UnreachableTime = &mesosv1.TimeInfo{Nanoseconds: now.UnixNano()}
			k.applyStatus(fw, t, st, now)
		} else {
			k.applyStatus(fw, t, k.masterStatus(t, mesosv1.TaskLost, mesosv1.ReasonAgentRemoved, "Agent is unreachable", now), now)
		}
	}
	if a.inAlloc {
		k.alloc.RemoveAgent(a.id)
		a.inAlloc = false
	}
	clear(a.execs)
	a.used = nil
	for _, fw := range k.frameworks {
		if fw.sub != nil {
			k.send(fw.sub, mesosv1.Event{Type: mesosv1.EventFailure, Failure: &mesosv1.EventFailureBody{AgentID: &mesosv1.ID{Value: a.id}}})
		}
	}
	k.persistAgent(a)
}

// markGone removes an agent for good, on an operator's word
// (MARK_AGENT_GONE): its tasks become TASK_GONE_BY_OPERATOR for
// partition-aware frameworks (TASK_LOST otherwise), its resources leave
// the allocator, and a connected agent is told to shut down. The registry
// keeps a tombstone so that the agent, should it return, registers anew.
func (k *kernel) markGone(a *agent, now time.Time) {
	k.log.Info("agent marked gone", "agent_id", a.id)
	k.count("master/slave_removals_reason_registered")
	k.send(a.sub, agentapi.Event{Type: agentapi.EventShutdown, Shutdown: &agentapi.Shutdown{
		Message: "agent " + a.id + " was marked gone by an operator"}})
	k.closeSub(a.sub)
	a.sub = nil
	k.rescindAgentOffers(a)
	for key, t := range a.tasks {
		fw := k.frameworks[key.fw]
		if fw == nil {
			continue
		}
		state := mesosv1.TaskLost
		if fw.partitionAware() {
			state = mesosv1.TaskGoneByOperator
		}
		k.applyStatus(fw, t, k.masterStatus(t, state, mesosv1.ReasonAgentRemovedByOperator, "Agent was marked gone by an operator", now), now)
	}
	if a.inAlloc {
		k.alloc.RemoveAgent(a.id)
		a.inAlloc = false
	}
	for _, fw := range k.frameworks {
		if fw.sub != nil {
			k.send(fw.sub, mesosv1.Event{Type: mesosv1.EventFailure, Failure: &mesosv1.EventFailureBody{AgentID: &mesosv1.ID{Value: a.id}}})
		}
	}
	info := a.info
	info.ID = &mesosv1.ID{Value: a.id}
	tomb := RegisteredAgent{Info: info, Endpoint: a.endpoint, Version: a.version, RegisteredTime: a.registeredTime, Gone: true}
	k.goneAgents[a.id] = tomb
	delete(k.agents, a.id)
	k.agentSubs.Delete(a.id)
	k.agentList = nil
	delete(k.allocAgents, a.id)
	k.persist(RegistryOp{PutAgent: &tomb})
	k.snapDirty = true
}

// agentUpdate records status updates from an agent and forwards them.
func (k *kernel) agentUpdate(a *agent, u *agentapi.Update, now time.Time) {
	for _, su := range u.Updates {
		k.count("master/messages_status_update")
		fw := k.frameworks[su.FrameworkID]
		if fw == nil {
			k.count("master/invalid_status_updates")
			// The framework is gone (torn down, or never known to this
			// master): tell the agent to kill its tasks and stop retrying.
			k.send(a.sub, agentapi.Event{Type: agentapi.EventShutdownFramework, ShutdownFramework: &agentapi.ShutdownFramework{FrameworkID: su.FrameworkID}})
			continue
		}
		k.count("master/valid_status_updates")
		st := su.Status
		if st.AgentID == nil {
			st.AgentID = &mesosv1.ID{Value: a.id}
		}
		if t := fw.tasks[st.TaskID.Value]; t != nil && t.agentID == a.id {
			if len(st.UUID) > 0 && bytes.Equal(st.UUID, t.latest.UUID) && st.State == t.latest.State {
				k.forwardStatus(fw, st) // a retry: already recorded
				continue
			}
			k.applyStatus(fw, t, st, now)
			continue
		}
		// A retry of an update for a task the master already completed:
		// forward it so the framework can acknowledge it.
		k.forwardStatus(fw, st)
	}
}

func (k *kernel) rescindAgentOffers(a *agent) {
	for _, id := range slices.Sorted(maps.Keys(a.offers)) {
		k.rescindOffer(a.offers[id], true)
	}
}
