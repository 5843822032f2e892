package mesos

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/basalt-dcos/basalt/internal/agentapi"
	"github.com/basalt-dcos/basalt/internal/mesos/allocator"
	"github.com/basalt-dcos/basalt/internal/mesos/state"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Offer lifecycle: an allocator decision becomes an offer (OFFERS event);
// it ends exactly once: ACCEPT or DECLINE (single use), RESCIND (timeout,
// agent lost, role removed) or silent recovery (framework disconnected or
// failed over). Its resources count as allocated to the framework until
// they are used by tasks or recovered.
type offer struct {
	id          string
	frameworkID string
	agentID     string
	role        string
	resources   mesosv1.Resources
	timer       *time.Timer
	snap        *state.Offer // its snapshot record, made once
}

// makeOffers turns allocation decisions into OFFERS events, one per framework.
func (k *kernel) makeOffers(decisions []allocator.Offer, now time.Time) {
	if len(decisions) == 0 {
		return
	}
	byFw := map[string][]mesosv1.Offer{}
	for _, d := range decisions {
		fw := k.frameworks[d.FrameworkID]
		a := k.agents[d.AgentID]
		if fw == nil || fw.sub == nil || a == nil || a.state != agentConnected {
			k.alloc.Recover(d.FrameworkID, d.AgentID, d.Resources, 0, now)
			continue
		}
		o := &offer{id: k.nextOfferID(), frameworkID: fw.id, agentID: a.id, role: d.Role, resources: d.Resources}
		k.offers[o.id] = o
		fw.offers[o.id] = o
		fw.offerList = nil
		a.offers[o.id] = o
		fw.offered = fw.offered.Plus(o.resources)
		a.offered = a.offered.Plus(o.resources)
		if k.cfg.OfferTimeout > 0 {
			o.timer = time.AfterFunc(k.cfg.OfferTimeout, func() {
				k.post(func() {
					if k.offers[o.id] == o {
						k.count("master/offers_expired")
						k.rescindOffer(o, true)
					}
				})
			})
		}
		byFw[fw.id] = append(byFw[fw.id], k.wireOffer(o, fw, a))
	}
	for _, id := range slices.Sorted(maps.Keys(byFw)) {
		k.send(k.frameworks[id].sub, mesosv1.Event{Type: mesosv1.EventOffers, Offers: &mesosv1.EventOffersBody{Offers: byFw[id]}})
	}
}

func (k *kernel) wireOffer(o *offer, fw *framework, a *agent) mesosv1.Offer {
	host, portStr, _ := net.SplitHostPort(a.endpoint)
	port, _ := strconv.Atoi(portStr)
	if port == 0 {
		port = a.info.Port
	}
	w := mesosv1.Offer{
		ID: mesosv1.ID{Value: o.id}, FrameworkID: mesosv1.ID{Value: fw.id}, AgentID: mesosv1.ID{Value: a.id},
		Hostname: a.info.Hostname, Domain: a.info.Domain, Resources: o.resources, Attributes: a.info.Attributes,
		URL:            &mesosv1.URL{Scheme: "http", Address: mesosv1.Address{Hostname: a.info.Hostname, IP: host, Port: port}, Path: "/slave(1)"},
		AllocationInfo: &mesosv1.AllocationInfo{Role: o.role},
	}
	for ek := range a.execs {
		if ek.fw == fw.id {
			w.ExecutorIDs = append(w.ExecutorIDs, mesosv1.ID{Value: ek.id})
		}
	}
	slices.SortFunc(w.ExecutorIDs, func(x, y mesosv1.ID) int { return strings.Compare(x.Value, y.Value) })
	return w
}

// removeOffer forgets an offer; its resources stay allocated.
func (k *kernel) removeOffer(o *offer) {
	delete(k.offers, o.id)
	if fw := k.frameworks[o.frameworkID]; fw != nil {
		delete(fw.offers, o.id)
		fw.offerList = nil
		fw.offered = fw.offered.Minus(o.resources)
	}
	if a := k.agents[o.agentID]; a != nil {
		delete(a.offers, o.id)
		a.offered = a.offered.Minus(o.resources)
	}
	if o.timer != nil {
		o.timer.Stop()
	}
}

// recoverOffer gives an offer's resources back to the allocator.
func (k *kernel) recoverOffer(o *offer, refuse time.Duration, now time.Time) {
	if a := k.agents[o.agentID]; a != nil && a.inAlloc {
		k.alloc.Recover(o.frameworkID, o.agentID, o.resources, refuse, now)
		k.allocAgents[o.agentID] = true
	}
}

// rescindOffer withdraws an offer (telling the framework when notify).
func (k *kernel) rescindOffer(o *offer, notify bool) {
	k.removeOffer(o)
	k.recoverOffer(o, 0, time.Now())
	if fw := k.frameworks[o.frameworkID]; notify && fw != nil && fw.sub != nil {
		k.count("master/offers_rescinded")
		k.send(fw.sub, mesosv1.Event{Type: mesosv1.EventRescind, Rescind: &mesosv1.EventRescindBody{OfferID: mesosv1.ID{Value: o.id}}})
	}
}

func (k *kernel) rescindFrameworkOffers(fw *framework, notify bool) {
	for _, id := range slices.Sorted(maps.Keys(fw.offers)) {
		k.rescindOffer(fw.offers[id], notify)
	}
}

// operationTasks lists the tasks an ACCEPT's operations would launch.
func operationTasks(ops []mesosv1.Operation) []mesosv1.TaskInfo {
	var out []mesosv1.TaskInfo
	for _, op := range ops {
		switch {
		case op.Type == mesosv1.OpLaunch && op.Launch != nil:
			out = append(out, op.Launch.TaskInfos...)
		case op.Type == mesosv1.OpLaunchGroup && op.LaunchGroup != nil:
			out = append(out, op.LaunchGroup.TaskGroup.Tasks...)
		}
	}
	return out
}

// accept handles ACCEPT: validates the offers, then each task, launches the
// valid ones and recovers whatever is left with the call's filter.
func (k *kernel) accept(fw *framework, body *mesosv1.CallAcceptBody, now time.Time) {
	k.count("master/messages_accept_offers")
	refuse := refuseDuration(body.Filters)
	var offers []*offer
	var problems []string
	agentID := ""
	seen := map[string]bool{}
	for _, oid := range body.OfferIDs {
		o := k.offers[oid.Value]
		switch {
		case seen[oid.Value]:
			problems = append(problems, fmt.Sprintf("offer %s appears more than once", oid.Value))
			continue
		case o == nil:
			problems = append(problems, fmt.Sprintf("offer %s is no longer valid", oid.Value))
		case o.frameworkID != fw.id:
			problems = append(problems, fmt.Sprintf("offer %s belongs to another framework", oid.Value))
			o = nil
		case agentID != "" && o.agentID != agentID:
			problems = append(problems, fmt.Sprintf("offer %s is on agent %s, not %s: aggregated offers must be on one agent", oid.Value, o.agentID, agentID))
		}
		seen[oid.Value] = true
		if o != nil {
			offers = append(offers, o)
			if agentID == "" {
				agentID = o.agentID
			}
		}
	}
	if len(body.OfferIDs) == 0 {
		problems = append(problems, "no offer ids")
	}
	for _, o := range offers {
		k.removeOffer(o) // single use, valid or not
	}
	a := k.agents[agentID]
	if len(problems) == 0 && (a == nil || a.sub == nil || a.state != agentConnected) {
		problems = append(problems, fmt.Sprintf("agent %s is not connected", agentID))
	}
	if len(problems) > 0 {
		k.count("master/invalid_offers")
		for _, o := range offers {
			k.recoverOffer(o, 0, now)
		}
		state := mesosv1.TaskLost
		if fw.partitionAware() {
			state = mesosv1.TaskDropped
		}
		msg := "Task launched with invalid offers: " + strings.Join(problems, "; ")
		for _, ti := range operationTasks(body.Operations) {
			st := k.unknownTaskStatus(ti.TaskID, ti.AgentID.Value, state, msg, now)
			st.Reason = mesosv1.ReasonInvalidOffers
			k.forwardStatus(fw, st)
		}
		return
	}

	remaining := mesosv1.Resources(nil)
	roles := map[string]bool{}
	for _, o := range offers {
		remaining = remaining.Plus(o.resources)
		roles[o.role] = true
	}
	lc := &launchCtx{fw: fw, a: a, roles: roles, ids: map[string]bool{}, execs: map[string]bool{}}
	var launch []mesosv1.TaskInfo
	var groups []*agentapi.LaunchGroup
	for _, op := range body.Operations {
		switch op.Type {
		case mesosv1.OpLaunch:
			if op.Launch == nil {
				continue
			}
			k.count("master/messages_launch_tasks")
			for _, ti := range op.Launch.TaskInfos {
				ti, need, err := k.validateTask(lc, ti, nil, remaining)
				if err != nil {
					k.rejectTask(fw, ti, err, now)
					continue
				}
				remaining = remaining.Minus(need)
				k.startTask(fw, a, ti, need, now)
				launch = append(launch, ti)
			}
		case mesosv1.OpLaunchGroup:
			if op.LaunchGroup == nil {
				continue
			}
			k.count("master/messages_launch_tasks")
			lg := op.LaunchGroup
			ex := lg.Executor
			var tis []mesosv1.TaskInfo
			var needs []mesosv1.Resources
			var errs []error
			left := remaining
			if len(lg.TaskGroup.Tasks) == 0 {
				errs = append(errs, errors.New("task group is empty"))
			}
			for _, ti := range lg.TaskGroup.Tasks {
				if ti.Executor != nil {
					errs = append(errs, fmt.Errorf("task %s: tasks of a group must not set 'executor'", ti.TaskID.Value))
					continue
				}
				ti.Executor = &ex
				ti, need, err := k.validateTask(lc, ti, &ex, left)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				left = left.Minus(need)
				ex.Resources = nil // charged with the first task
				tis = append(tis, ti)
				needs = append(needs, need)
			}
			if err := errors.Join(errs...); err != nil {
				for _, ti := range lg.TaskGroup.Tasks {
					k.rejectTask(fw, ti, err, now)
				}
				continue
			}
			remaining = left
			for i, ti := range tis {
				k.startTask(fw, a, ti, needs[i], now)
				tis[i].Executor = nil
			}
			ex = lg.Executor
			if ex.FrameworkID == nil {
				ex.FrameworkID = &mesosv1.ID{Value: fw.id}
			}
			ex.Resources = k.withRole(ex.Resources, lc)
			groups = append(groups, &agentapi.LaunchGroup{Framework: fw.info, Executor: ex, TaskGroup: mesosv1.TaskGroupInfo{Tasks: tis}})
		default:
			// Rejected by the handler; unreachable for well-formed calls.
		}
	}
	if !remaining.IsEmpty() {
		k.alloc.Recover(fw.id, a.id, remaining, refuse, now)
		k.allocAgents[a.id] = true
	}
	if len(launch) > 0 {
		k.send(a.sub, agentapi.Event{Type: agentapi.EventLaunch, Launch: &agentapi.Launch{Framework: fw.info, Tasks: launch}})
	}
	for _, g := range groups {
		k.send(a.sub, agentapi.Event{Type: agentapi.EventLaunchGroup, LaunchGroup: g})
	}
}

type launchCtx struct {
	fw    *framework
	a     *agent
	roles map[string]bool
	ids   map[string]bool // task ids launched by this ACCEPT
	execs map[string]bool // executors started by this ACCEPT
}

// withRole gives resources without allocation_info the offers' role (when
// the offers have exactly one).
func (k *kernel) withRole(res []mesosv1.Resource, lc *launchCtx) mesosv1.Resources {
	out := slices.Clone(res)
	if len(lc.roles) != 1 {
		return out
	}
	var role string
	for r := range lc.roles {
		role = r
	}
	for i := range out {
		if out[i].AllocationInfo == nil {
			out[i].AllocationInfo = &mesosv1.AllocationInfo{Role: role}
		}
	}
	return out
}

// validateTask checks one task against the framework's tasks and what is
// left of the offers. It returns the task as launched (allocation roles
// filled in) and the resources it consumes (with a new executor's).
func (k *kernel) validateTask(lc *launchCtx, ti mesosv1.TaskInfo, groupExec *mesosv1.ExecutorInfo, remaining mesosv1.Resources) (mesosv1.TaskInfo, mesosv1.Resources, error) {
	id := ti.TaskID.Value
	var errs []error
	if id == "" {
		errs = append(errs, errors.New("task id must not be empty"))
	} else if lc.fw.tasks[id] != nil || lc.fw.unreachable[id] != nil || lc.ids[id] {
		errs = append(errs, fmt.Errorf("task id %q is already in use", id))
	}
	if groupExec == nil && (ti.Command == nil) == (ti.Executor == nil) {
		errs = append(errs, errors.New("exactly one of 'command' and 'executor' must be set"))
	}
	if ti.AgentID.Value != lc.a.id {
		errs = append(errs, fmt.Errorf("task uses agent %q but the offers are for agent %q", ti.AgentID.Value, lc.a.id))
	}
	if ti.Name == "" {
		ti.Name = id
	}
	res := k.withRole(ti.Resources, lc)
	if err := res.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("invalid resources: %w", err))
	}
	for _, r := range res {
		if r.AllocationInfo == nil {
			errs = append(errs, fmt.Errorf("resource %q must set 'allocation_info' when the offers have several roles", r.Name))
			break
		}
		if !lc.roles[r.AllocationInfo.Role] {
			errs = append(errs, fmt.Errorf("resource %q is allocated to role %q, which none of the offers is for", r.Name, r.AllocationInfo.Role))
			break
		}
	}
	need := res.Normalize()
	if ex := ti.Executor; ex != nil {
		if ex.ExecutorID.Value == "" {
			errs = append(errs, errors.New("executor id must not be empty"))
		}
		if ex.FrameworkID != nil && ex.FrameworkID.Value != lc.fw.id {
			errs = append(errs, fmt.Errorf("executor belongs to framework %q, not %q", ex.FrameworkID.Value, lc.fw.id))
		}
		if groupExec == nil && ex.Command == nil {
			errs = append(errs, errors.New("executor must set 'command'"))
		}
		exRes := k.withRole(ex.Resources, lc)
		if err := exRes.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("invalid executor resources: %w", err))
		}
		ek := taskKey{lc.fw.id, ex.ExecutorID.Value}
		if !lc.a.execs[ek] && !lc.execs[ex.ExecutorID.Value] {
			need = need.Plus(exRes)
		}
	}
	if len(errs) == 0 {
		if need.IsEmpty() {
			errs = append(errs, errors.New("task uses no resources"))
		} else if !remaining.Contains(need) {
			errs = append(errs, fmt.Errorf("task uses more resources (%s) than are left in the offers (%s)", need, remaining))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return ti, nil, err
	}
	ti.Resources = res
	lc.ids[id] = true
	if ti.Executor != nil {
		lc.execs[ti.Executor.ExecutorID.Value] = true
	}
	return ti, need, nil
}

func (k *kernel) rejectTask(fw *framework, ti mesosv1.TaskInfo, err error, now time.Time) {
	k.count("master/invalid_operations")
	st := k.unknownTaskStatus(ti.TaskID, ti.AgentID.Value, mesosv1.TaskError, err.Error(), now)
	st.Reason = mesosv1.ReasonTaskInvalid
	k.countTransition(mesosv1.TaskError)
	k.forwardStatus(fw, st)
}

// startTask records a launched task as TASK_STAGING.
func (k *kernel) startTask(fw *framework, a *agent, ti mesosv1.TaskInfo, need mesosv1.Resources, now time.Time) {
	t := &task{agentID: a.id}
	t.st = &state.Task{Info: ti, FrameworkID: fw.id, AgentID: a.id, ExecutorID: executorIDOf(ti), Role: roleOf(need, fw), State: mesosv1.TaskStaging}
	t.latest = k.masterStatus(t, mesosv1.TaskStaging, "", "", now)
	t.latest.Source = ""
	k.addLiveTask(fw, a, t, need)
	if ti.Executor != nil {
		a.execs[taskKey{fw.id, ti.Executor.ExecutorID.Value}] = true
	}
	k.countTransition(mesosv1.TaskStaging)
}
