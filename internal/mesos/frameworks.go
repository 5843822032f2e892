package mesos

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/basalt-dcos/basalt/internal/agentapi"
	"github.com/basalt-dcos/basalt/internal/mesos/state"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Framework state machine (owned by the event loop):
//
//	            SUBSCRIBE (no id: new id; unknown id: adopted)
//	  ───────────────────────────────────────────┐
//	                                             ▼
//	(registry, or adopted   re-SUBSCRIBE     connected ◄────────┐ re-SUBSCRIBE with the id
//	 from an agent report) ───────────────►  (offers)           │ (old stream: ERROR
//	     recovered                               │              │  "Framework failed over")
//	         │                   stream closed   ▼              │
//	         │                              disconnected ───────┘
//	         │   failover_timeout (0 = now)      │
//	         └─────────────────────────┬─────────┘
//	                                   ▼        TEARDOWN (scheduler or operator) from any state
//	                               completed ◄─────────────────────────────────────────────
//	               (tasks killed, offers recovered, removed from the registry; its id is
//	                refused by later SUBSCRIBEs)
type fwState int

const (
	fwConnected fwState = iota
	fwDisconnected
	fwRecovered
)

type framework struct {
	id               string
	info             mesosv1.FrameworkInfo
	state            fwState
	sub              *subscriber
	registeredTime   time.Time
	reregisteredTime time.Time
	failoverGen      int
	failoverTimer    *time.Timer

	tasks            map[string]*task // live: non-terminal on reachable agents
	unreachable      map[string]*task
	unreachableOrder []string
	completed        []*state.Task // most recent last, bounded

	offers     map[string]*offer
	used       mesosv1.Resources
	offered    mesosv1.Resources
	suppressed []string

	// live holds the records of the live tasks sorted by task ID, kept up to
	// date incrementally so a snapshot of 100,000 tasks costs no sort. It is
	// copy-on-write: once a snapshot shares it (liveShared), the next change
	// copies it first.
	live       []*state.Task
	liveShared bool
	// liveAdded holds live tasks not yet in live, merged in sorted by the
	// next snapshot (flushLive): an agent re-registering after a failover
	// reports thousands of tasks, and inserting each one into a sorted list
	// of 100,000 made re-registration quadratic.
	liveAdded map[string]*state.Task
	// unreachableDirty: the unreachable list changed since the last snapshot.
	unreachableDirty bool
	unreachableSnap  []*state.Task

	// offerList is the sorted records of its offers (nil: rebuild).
	offerList []*state.Offer
	// infoVer and completedVer count changes of info and completed; snap
	// is the last published record and snapKey what it was built from.
	infoVer      int
	completedVer int
	snap         *state.Framework
	snapKey      fwSnapKey
}

// fwSnapKey is everything a framework's snapshot record is built from.
type fwSnapKey struct {
	infoVer, completedVer    int
	state                    fwState
	registered, reregistered time.Time
	live, unreachable        taskListKey
	offers                   offerListKey
	used, offered            resKey
}

type taskListKey struct {
	p **state.Task
	n int
}

func taskListKeyOf(l []*state.Task) taskListKey {
	if len(l) == 0 {
		return taskListKey{}
	}
	return taskListKey{&l[0], len(l)}
}

type offerListKey struct {
	p **state.Offer
	n int
}

func offerListKeyOf(l []*state.Offer) offerListKey {
	if len(l) == 0 {
		return offerListKey{}
	}
	return offerListKey{&l[0], len(l)}
}

func taskIDCmp(t *state.Task, id string) int { return strings.Compare(t.Info.TaskID.Value, id) }

// setLive inserts or replaces a live task's record: in place when fw.live
// holds it, otherwise in fw.liveAdded until the next flushLive.
func (fw *framework) setLive(rec *state.Task) {
	id := rec.Info.TaskID.Value
	i, found := slices.BinarySearchFunc(fw.live, id, taskIDCmp)
	if !found {
		if fw.liveAdded == nil {
			fw.liveAdded = map[string]*state.Task{}
		}
		fw.liveAdded[id] = rec
		return
	}
	if fw.liveShared {
		fw.live = slices.Clone(fw.live)
		fw.liveShared = false
	}
	fw.live[i] = rec
}

// delLive removes a task from the live tasks.
func (fw *framework) delLive(id string) {
	if _, ok := fw.liveAdded[id]; ok {
		delete(fw.liveAdded, id)
		return
	}
	i, found := slices.BinarySearchFunc(fw.live, id, taskIDCmp)
	if !found {
		return
	}
	if fw.liveShared {
		fw.live = slices.Clone(fw.live)
		fw.liveShared = false
	}
	fw.live = slices.Delete(fw.live, i, i+1)
}

// flushLive merges fw.liveAdded into fw.live, keeping it sorted by task ID:
// one sort of the added tasks and one pass over the list, into a new slice
// (a snapshot may share the old one).
func (fw *framework) flushLive() {
	if len(fw.liveAdded) == 0 {
		return
	}
	added := make([]*state.Task, 0, len(fw.liveAdded))
	for _, rec := range fw.liveAdded {
		added = append(added, rec)
	}
	slices.SortFunc(added, func(a, b *state.Task) int {
		return strings.Compare(a.Info.TaskID.Value, b.Info.TaskID.Value)
	})
	merged := make([]*state.Task, 0, len(fw.live)+len(added))
	i, j := 0, 0
	for i < len(fw.live) && j < len(added) {
		if fw.live[i].Info.TaskID.Value < added[j].Info.TaskID.Value {
			merged = append(merged, fw.live[i])
			i++
		} else {
			merged = append(merged, added[j])
			j++
		}
	}
	merged = append(merged, fw.live[i:]...)
	merged = append(merged, added[j:]...)
	fw.live, fw.liveShared = merged, false
	fw.liveAdded = nil
}

func (fw *framework) partitionAware() bool { return fw.info.HasCapability(mesosv1.CapPartitionAware) }

func (k *kernel) addFramework(info mesosv1.FrameworkInfo, now time.Time) *framework {
	fw := &framework{
		id: info.ID.Value, info: info, state: fwDisconnected, registeredTime: now,
		tasks: map[string]*task{}, unreachable: map[string]*task{}, offers: map[string]*offer{},
	}
	k.frameworks[fw.id] = fw
	k.alloc.AddFramework(fw.id, info.EffectiveRoles(), info.HasCapability(mesosv1.CapGPUResources), nil)
	k.alloc.SetFrameworkActive(fw.id, false)
	return fw
}

// apiError is an error with the HTTP status the scheduler API answers.
type apiError struct {
	code int
	msg  string
}

func (e *apiError) Error() string { return e.msg }

func errBadRequest(msg string) error     { return &apiError{http.StatusBadRequest, msg} }
func errForbidden(msg string) error      { return &apiError{http.StatusForbidden, msg} }
func errNotImplemented(msg string) error { return &apiError{http.StatusNotImplemented, msg} }

// validateFrameworkInfo checks what SUBSCRIBE and UPDATE_FRAMEWORK require.
func validateFrameworkInfo(fi *mesosv1.FrameworkInfo) error {
	var errs []error
	if fi.User == "" {
		errs = append(errs, errors.New("'framework_info.user' is required"))
	}
	if fi.Name == "" {
		errs = append(errs, errors.New("'framework_info.name' is required"))
	}
	if fi.Role != "" && len(fi.Roles) > 0 && fi.HasCapability(mesosv1.CapMultiRole) {
		errs = append(errs, errors.New("'framework_info.role' must not be set together with 'framework_info.roles' for a MULTI_ROLE framework"))
	}
	for _, r := range fi.EffectiveRoles() {
		if err := mesosv1.ValidateRole(r); err != nil {
			errs = append(errs, err)
		}
	}
	if fi.FailoverTimeout < 0 {
		errs = append(errs, errors.New("'framework_info.failover_timeout' must not be negative"))
	}
	if fi.ID != nil && fi.ID.Value == "" {
		errs = append(errs, errors.New("'framework_info.id.value' must not be empty"))
	}
	return errors.Join(errs...)
}

// subscribe handles SUBSCRIBE (validated by the handler). It returns the new
// stream, which may carry only an ERROR (a removed framework).
func (k *kernel) subscribe(body *mesosv1.CallSubscribeBody, now time.Time) *subscriber {
	info := body.FrameworkInfo
	sub := newSubscriber()
	k.count("master/messages_register_framework")
	if info.ID != nil && k.completedIDs[info.ID.Value] {
		k.send(sub, mesosv1.Event{Type: mesosv1.EventError, Error: &mesosv1.EventErrorBody{Message: "Framework has been removed"}})
		k.closeSub(sub)
		return sub
	}
	var fw *framework
	if info.ID != nil {
		fw = k.frameworks[info.ID.Value]
	}
	if fw == nil {
		if info.ID == nil {
			k.seqFramework++
			info.ID = &mesosv1.ID{Value: fmt.Sprintf("%s-%04d", k.runID, k.seqFramework)}
		}
		fw = k.addFramework(info, now)
		if body.FrameworkInfo.ID != nil {
			fw.reregisteredTime = now
		}
		k.log.Info("framework subscribed", "framework_id", fw.id, "name", info.Name)
	} else {
		if fw.sub != nil {
			k.send(fw.sub, mesosv1.Event{Type: mesosv1.EventError, Error: &mesosv1.EventErrorBody{Message: "Framework failed over"}})
			k.closeSub(fw.sub)
			fw.sub = nil
		}
		// Mesos rescinds outstanding offers when a framework fails over.
		k.rescindFrameworkOffers(fw, false)
		fw.info = info
		fw.infoVer++
		fw.reregisteredTime = now
		k.log.Info("framework re-subscribed", "framework_id", fw.id, "name", info.Name)
	}
	fw.failoverGen++
	if fw.failoverTimer != nil {
		fw.failoverTimer.Stop()
		fw.failoverTimer = nil
	}
	fw.state = fwConnected
	fw.sub = sub
	sub.fw = fw
	fw.suppressed = slices.Clone(body.SuppressedRoles)
	k.alloc.UpdateFramework(fw.id, info.EffectiveRoles(), info.HasCapability(mesosv1.CapGPUResources), fw.suppressed)
	k.alloc.SetFrameworkActive(fw.id, true)
	k.persistFramework(fw)
	k.send(sub, mesosv1.Event{Type: mesosv1.EventSubscribed, Subscribed: &mesosv1.EventSubscribedBody{
		FrameworkID: *info.ID, HeartbeatIntervalSeconds: k.cfg.HeartbeatInterval.Seconds(), MasterInfo: &k.self,
	}})
	k.allocAll = true
	return sub
}

// frameworkStreamClosed handles a scheduler stream's end.
func (k *kernel) frameworkStreamClosed(id string, sub *subscriber, now time.Time) {
	fw := k.frameworks[id]
	if fw == nil || fw.sub != sub {
		return
	}
	k.closeSub(sub)
	fw.sub = nil
	fw.state = fwDisconnected
	k.alloc.SetFrameworkActive(fw.id, false)
	k.rescindFrameworkOffers(fw, false)
	k.log.Info("framework disconnected", "framework_id", id, "failover_timeout", fw.info.FailoverTimeout)
	k.startFailoverTimer(fw, now)
}

func (k *kernel) startFailoverTimer(fw *framework, now time.Time) {
	fw.failoverGen++
	gen := fw.failoverGen
	if fw.failoverTimer != nil {
		fw.failoverTimer.Stop()
	}
	d := time.Duration(fw.info.FailoverTimeout * float64(time.Second))
	if fw.info.FailoverTimeout > mesosv1.MaxRefuseSeconds*100 {
		d = time.Duration(mesosv1.MaxRefuseSeconds * 100 * float64(time.Second))
	}
	fw.failoverTimer = time.AfterFunc(d, func() {
		k.post(func() {
			if k.frameworks[fw.id] != fw || fw.failoverGen != gen || fw.state == fwConnected {
				return
			}
			k.log.Info("framework failover timeout expired; tearing it down", "framework_id", fw.id)
			k.teardown(fw, time.Now())
		})
	})
}

// teardown removes a framework: its tasks are killed, its offers recovered,
// and it moves to the completed frameworks.
func (k *kernel) teardown(fw *framework, now time.Time) {
	k.count("master/messages_unregister_framework")
	if fw.sub != nil {
		k.send(fw.sub, mesosv1.Event{Type: mesosv1.EventError, Error: &mesosv1.EventErrorBody{Message: "Framework has been removed"}})
		k.closeSub(fw.sub)
		fw.sub = nil
	}
	fw.failoverGen++
	if fw.failoverTimer != nil {
		fw.failoverTimer.Stop()
	}
	k.rescindFrameworkOffers(fw, false)
	for _, a := range k.agents {
		if a.sub != nil {
			k.send(a.sub, agentapi.Event{Type: agentapi.EventShutdownFramework, ShutdownFramework: &agentapi.ShutdownFramework{FrameworkID: fw.id}})
		}
	}
	for _, id := range slices.Sorted(maps.Keys(fw.tasks)) {
		t := fw.tasks[id]
		k.applyStatus(fw, t, k.masterStatus(t, mesosv1.TaskKilled, mesosv1.ReasonFrameworkRemoved, "Framework was removed", now), now)
	}
	for _, id := range slices.Sorted(maps.Keys(fw.unreachable)) {
		t := fw.unreachable[id]
		k.applyStatus(fw, t, k.masterStatus(t, mesosv1.TaskKilled, mesosv1.ReasonFrameworkRemoved, "Framework was removed", now), now)
	}
	k.alloc.RemoveFramework(fw.id)
	sf := new(*k.frameworkSnapshot(fw)) // a copy: the record may be published
	sf.Active, sf.Connected, sf.Recovered = false, false, false
	sf.UnregisteredTime = now
	sf.Offers, sf.Offered = nil, nil
	k.completedFws = append(k.completedFws, sf)
	if over := len(k.completedFws) - k.cfg.MaxCompletedFrameworks; over > 0 {
		k.completedFws = slices.Delete(k.completedFws, 0, over)
	}
	k.completedIDs[fw.id] = true
	delete(k.frameworks, fw.id)
	k.persist(RegistryOp{PutFramework: &RegisteredFramework{Info: fw.info, RegisteredTime: fw.registeredTime,
		Removed: true, RemovedTime: now}})
	k.allocAll = true
	k.log.Info("framework removed", "framework_id", fw.id)
}

// frameworkFor finds the subscribed framework a call is for.
func (k *kernel) frameworkFor(call *mesosv1.Call, streamID string) (*framework, error) {
	fw := k.frameworks[call.FrameworkID.Value]
	if fw == nil || fw.sub == nil {
		return nil, errForbidden(fmt.Sprintf("Framework '%s' is not subscribed", call.FrameworkID.Value))
	}
	if streamID != fw.sub.streamID {
		return nil, errBadRequest(fmt.Sprintf("The stream ID '%s' included in this request didn't match the stream ID currently associated with framework ID '%s'", streamID, fw.id))
	}
	return fw, nil
}

// schedulerCall runs one non-SUBSCRIBE call on the loop.
func (k *kernel) schedulerCall(call *mesosv1.Call, streamID string, now time.Time) error {
	fw, err := k.frameworkFor(call, streamID)
	if err != nil {
		return err
	}
	switch call.Type {
	case mesosv1.CallTeardown:
		k.teardown(fw, now)
	case mesosv1.CallAccept:
		k.accept(fw, call.Accept, now)
	case mesosv1.CallDecline:
		k.count("master/messages_decline_offers")
		refuse := refuseDuration(call.Decline.Filters)
		for _, oid := range call.Decline.OfferIDs {
			o := k.offers[oid.Value]
			if o == nil || o.frameworkID != fw.id {
				continue
			}
			k.removeOffer(o)
			k.recoverOffer(o, refuse, now)
		}
	case mesosv1.CallRevive:
		k.count("master/messages_revive_offers")
		var roles []string
		if call.Revive != nil {
			roles = call.Revive.Roles
		}
		k.alloc.Revive(fw.id, roles)
		if len(roles) == 0 {
			fw.suppressed = nil
		} else {
			fw.suppressed = slices.DeleteFunc(fw.suppressed, func(r string) bool { return slices.Contains(roles, r) })
		}
		k.allocAll = true
	case mesosv1.CallSuppress:
		k.count("master/messages_suppress_offers")
		var roles []string
		if call.Suppress != nil {
			roles = call.Suppress.Roles
		}
		k.alloc.Suppress(fw.id, roles)
		if len(roles) == 0 {
			roles = fw.info.EffectiveRoles()
		}
		for _, r := range roles {
			if !slices.Contains(fw.suppressed, r) {
				fw.suppressed = append(fw.suppressed, r)
			}
		}
	case mesosv1.CallKill:
		k.kill(fw, call.Kill, now)
	case mesosv1.CallShutdown:
		k.count("master/messages_shutdown_executor")
		a := k.agents[call.Shutdown.AgentID.Value]
		if a == nil || a.sub == nil {
			break
		}
		for key, t := range a.tasks {
			if key.fw == fw.id && t.st.ExecutorID == call.Shutdown.ExecutorID.Value {
				k.send(a.sub, agentapi.Event{Type: agentapi.EventKill, Kill: &agentapi.Kill{FrameworkID: fw.id, TaskID: key.id}})
			}
		}
	case mesosv1.CallAcknowledge:
		k.count("master/messages_status_update_acknowledgement")
		ack := call.Acknowledge
		if a := k.agents[ack.AgentID.Value]; a != nil && a.sub != nil {
			k.send(a.sub, agentapi.Event{Type: agentapi.EventAcknowledge, Acknowledge: &agentapi.Acknowledge{
				FrameworkID: fw.id, TaskID: ack.TaskID.Value, UUID: ack.UUID,
			}})
		} else {
			k.count("master/dropped_messages")
		}
	case mesosv1.CallReconcile:
		k.count("master/messages_reconcile_tasks")
		k.reconcile(fw, call.Reconcile, now)
	case mesosv1.CallMessage:
		k.count("master/messages_framework_to_executor")
		msg := call.Message
		if a := k.agents[msg.AgentID.Value]; a != nil && a.sub != nil {
			k.send(a.sub, agentapi.Event{Type: agentapi.EventMessage, Message: &agentapi.FrameworkMessage{
				FrameworkID: fw.id, ExecutorID: msg.ExecutorID.Value, Data: msg.Data,
			}})
		} else {
			k.count("master/invalid_framework_to_executor_messages")
		}
	case mesosv1.CallRequest:
		// Resource requests are accepted and ignored, as Mesos' allocator does.
	case mesosv1.CallUpdateFramework:
		body := call.UpdateFramework
		if body.FrameworkInfo.ID == nil || body.FrameworkInfo.ID.Value != fw.id {
			return errBadRequest("'update_framework.framework_info.id' must match the call's 'framework_id'")
		}
		fw.info = body.FrameworkInfo
		fw.infoVer++
		fw.suppressed = slices.Clone(body.SuppressedRoles)
		newRoles := fw.info.EffectiveRoles()
		k.alloc.UpdateFramework(fw.id, newRoles, fw.info.HasCapability(mesosv1.CapGPUResources), fw.suppressed)
		for _, id := range slices.Sorted(maps.Keys(fw.offers)) {
			if o := fw.offers[id]; !slices.Contains(newRoles, o.role) || slices.Contains(fw.suppressed, o.role) {
				k.rescindOffer(o, true)
			}
		}
		k.persistFramework(fw)
		k.allocAll = true
	default:
		return errNotImplemented(fmt.Sprintf("Call type %s is not supported", call.Type))
	}
	return nil
}

func refuseDuration(f *mesosv1.Filters) time.Duration {
	return time.Duration(f.Refuse() * float64(time.Second))
}

// kill handles KILL.
func (k *kernel) kill(fw *framework, body *mesosv1.CallKillBody, now time.Time) {
	k.count("master/messages_kill_task")
	id := body.TaskID.Value
	if t := fw.tasks[id]; t != nil {
		if a := k.agents[t.agentID]; a != nil && a.sub != nil {
			k.send(a.sub, agentapi.Event{Type: agentapi.EventKill, Kill: &agentapi.Kill{FrameworkID: fw.id, TaskID: id, KillPolicy: body.KillPolicy}})
		}
		return
	}
	if t := fw.unreachable[id]; t != nil {
		k.forwardStatus(fw, t.latest)
		return
	}
	var agentID string
	if body.AgentID != nil {
		agentID = body.AgentID.Value
	}
	if k.mayBeTransitioning(agentID) {
		return // the agent may still report it after a failover
	}
	state := mesosv1.TaskLost
	if fw.partitionAware() {
		state = mesosv1.TaskUnknown
	}
	k.forwardStatus(fw, k.unknownTaskStatus(body.TaskID, agentID, state, "Attempted to kill an unknown task", now))
}

// mayBeTransitioning reports whether a task on agentID ("" = any agent)
// could still be reported by an agent re-registering after a failover.
func (k *kernel) mayBeTransitioning(agentID string) bool {
	if agentID == "" {
		for _, a := range k.agents {
			if a.state == agentRecovered {
				return true
			}
		}
		return false
	}
	a := k.agents[agentID]
	return a != nil && a.state == agentRecovered
}

func (k *kernel) unknownTaskStatus(taskID mesosv1.ID, agentID, state, msg string, now time.Time) mesosv1.TaskStatus {
	st := mesosv1.TaskStatus{TaskID: taskID, State: state, Source: mesosv1.SourceMaster, Reason: mesosv1.ReasonReconciliation,
		Message: msg, Timestamp: float64(now.UnixNano()) / 1e9}
	if agentID != "" {
		st.AgentID = &mesosv1.ID{Value: agentID}
	}
	return st
}

// reconcile answers RECONCILE from the master's view (no uuids), one event
// per task asked about, all at once (send allows a framework's stream that
// much lag).
func (k *kernel) reconcile(fw *framework, body *mesosv1.CallReconcileBody, now time.Time) {
	answer := func(t *task) {
		// As Mesos: the latest status, re-issued by the master without a
		// uuid (so it is not acknowledged).
		st := t.latest
		st.UUID = nil
		st.Source = mesosv1.SourceMaster
		st.Message = "Reconciliation: Latest task state"
		st.Reason = mesosv1.ReasonReconciliation
		st.Timestamp = float64(now.UnixNano()) / 1e9
		if st.State == "" {
			st.State = t.st.State
		}
		k.forwardStatus(fw, st)
	}
	if body == nil || len(body.Tasks) == 0 {
		for _, id := range slices.Sorted(maps.Keys(fw.tasks)) {
			answer(fw.tasks[id])
		}
		for _, id := range slices.Sorted(maps.Keys(fw.unreachable)) {
			answer(fw.unreachable[id])
		}
		return
	}
	for _, rt := range body.Tasks {
		id := rt.TaskID.Value
		if t := fw.tasks[id]; t != nil {
			answer(t)
			continue
		}
		if t := fw.unreachable[id]; t != nil {
			answer(t)
			continue
		}
		agentID := ""
		if rt.AgentID != nil {
			agentID = rt.AgentID.Value
		}
		if k.mayBeTransitioning(agentID) {
			continue
		}
		if i := slices.IndexFunc(fw.completed, func(t *state.Task) bool { return t.Info.TaskID.Value == id }); i >= 0 {
			ct := fw.completed[i]
			st := k.unknownTaskStatus(rt.TaskID, ct.AgentID, ct.State, "Reconciliation: task is terminal", now)
			k.forwardStatus(fw, st)
			continue
		}
		a := k.agents[agentID]
		var st string
		switch {
		case a != nil && a.state == agentUnreachable:
			st = mesosv1.TaskUnreachable
			if !fw.partitionAware() {
				st = mesosv1.TaskLost
			}
		case a != nil:
			st = mesosv1.TaskGone
			if !fw.partitionAware() {
				st = mesosv1.TaskLost
			}
		default:
			st = mesosv1.TaskUnknown
			if !fw.partitionAware() {
				st = mesosv1.TaskLost
			}
		}
		status := k.unknownTaskStatus(rt.TaskID, agentID, st, "Reconciliation: task is unknown", now)
		if st == mesosv1.TaskUnreachable {
			status.UnreachableTime = &mesosv1.TimeInfo{Nanoseconds: a.unreachableTime.UnixNano()}
		}
		k.forwardStatus(fw, status)
	}
}
