package marathon

import (
	"encoding/json"
	"sort"
	"time"

	"github.com/basalt-dcos/basalt/internal/marathon/appdef"
	"github.com/basalt-dcos/basalt/internal/marathon/deploy"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

func emptyRoot() deploy.Root {
	return deploy.Root{Apps: map[string]v2.App{}, Groups: map[string]deploy.GroupMeta{}}
}

// publish renders a new Snapshot when something changed. Apps that did not
// change keep their rendered status, so a change costs the changed apps,
// not the cluster.
func (l *loop) publish(now time.Time, force bool) {
	if !force || (!l.allDirty && !l.rootDirty && len(l.dirtyApps) == 0) {
		return
	}
	start := time.Now()
	prev := l.m.snap.Load()
	apps := make(map[string]*AppStatus, len(l.root.Apps))
	ids := make([]string, 0, len(l.root.Apps))
	deps := map[string][]v2.DeploymentRef{}
	for _, d := range l.deployments {
		for _, id := range d.affected() {
			deps[id] = append(deps[id], v2.DeploymentRef{ID: d.Plan.ID})
		}
	}
	for id, app := range l.root.Apps {
		ids = append(ids, id)
		if st := l.rendered[id]; st != nil && !l.allDirty && !l.dirtyApps[id] {
			apps[id] = st
			continue
		}
		st := l.renderApp(app, deps[id], now)
		l.rendered[id] = st
		apps[id] = st
	}
	for id := range l.rendered {
		if _, ok := l.root.Apps[id]; !ok {
			delete(l.rendered, id)
		}
	}
	if prev != nil && len(prev.AppIDs) == len(ids) && !l.allDirty && !l.rootDirty {
		ids = prev.AppIDs
	} else {
		sort.Strings(ids)
	}
	snap := &Snapshot{
		Taken:       now,
		FrameworkID: l.frameworkID,
		Root:        l.root,
		AppIDs:      ids,
		Apps:        apps,
		Deployments: make([]v2.Deployment, 0, len(l.deployments)),
		Queue:       l.renderQueue(now),
		Instances:   len(l.instances),
	}
	for _, d := range l.deployments {
		snap.Deployments = append(snap.Deployments, l.renderPlan(d))
	}
	l.m.snap.Store(snap)
	l.allDirty, l.rootDirty = false, false
	clear(l.dirtyApps)
	l.lastPublish = now
	l.publishCost = time.Since(start)
}

func (l *loop) renderApp(app v2.App, deps []v2.DeploymentRef, now time.Time) *AppStatus {
	st := &AppStatus{Tasks: []v2.Task{}, Deployments: deps}
	if st.Deployments == nil {
		st.Deployments = []v2.DeploymentRef{}
	}
	hasChecks := len(app.HealthChecks) > 0
	for _, in := range l.instancesOf(app.ID) {
		if in.TaskID == "" || !in.active() {
			continue
		}
		st.Tasks = append(st.Tasks, l.renderTask(in, app))
		switch {
		case in.State == mesosv1.TaskStaging || in.State == mesosv1.TaskStarting:
			st.Staged++
		case in.running():
			st.Running++
			if hasChecks && in.Healthy != nil {
				if *in.Healthy {
					st.Healthy++
				} else {
					st.Unhealthy++
				}
			}
		}
		if len(app.ReadinessChecks) > 0 && in.running() && len(deps) > 0 {
			st.Readiness = append(st.Readiness, v2.ReadinessResult{Name: app.ReadinessChecks[0].Name, TaskID: in.TaskID, Ready: in.ready})
		}
	}
	if rt := l.apps[app.ID]; rt != nil && rt.lastFailure != nil {
		f := *rt.lastFailure
		st.LastTaskFailure = &f
	}
	total := &v2.TaskStats{}
	total.Stats.Counts.Staged = st.Staged
	total.Stats.Counts.Running = st.Running
	total.Stats.Counts.Healthy = st.Healthy
	total.Stats.Counts.Unhealthy = st.Unhealthy
	st.TaskStats = map[string]*v2.TaskStats{"totalSummary": total}
	return st
}

// renderTask renders an instance's current task as /v2/tasks shows it.
func (l *loop) renderTask(in *instance, app v2.App) v2.Task {
	t := v2.Task{
		ID: in.TaskID, AppID: in.AppID, Host: in.Hostname,
		Ports: nonNilInts(in.HostPorts), ServicePorts: nonNilInts(appdef.ServicePorts(app)),
		SlaveID: in.AgentID, State: in.State, Version: in.Version,
		IPAddresses: ipAddrs(in), LocalVolumes: []json.RawMessage{},
		Region: in.Region, Zone: in.Zone, Role: l.cfg.Role,
	}
	if !in.StagedAt.IsZero() {
		t.StagedAt = isoTime(in.StagedAt)
	}
	if !in.StartedAt.IsZero() {
		t.StartedAt = isoTime(in.StartedAt)
	}
	if len(app.HealthChecks) > 0 && in.Healthy != nil {
		r := v2.HealthCheckResult{Alive: *in.Healthy, InstanceID: in.ID}
		now := isoTime(time.Now())
		if *in.Healthy {
			r.LastSuccess = &now
			r.FirstSuccess = &now
		} else {
			r.LastFailure = &now
		}
		t.HealthCheckResults = []v2.HealthCheckResult{r}
	}
	return t
}

func (l *loop) renderQueue(now time.Time) []QueueEntry {
	counts := l.scheduledCounts()
	out := make([]QueueEntry, 0, len(counts))
	for id, n := range counts {
		rt := l.runtime(id)
		e := QueueEntry{AppID: id, Count: n, Since: rt.queuedSince}
		if e.Since.IsZero() {
			e.Since = now
		}
		if now.Before(rt.delayUntil) {
			e.Delay = rt.delayUntil.Sub(now)
		} else {
			e.Overdue = true
		}
		s := v2.ProcessedOffersSummary{
			ProcessedOffersCount: rt.offers.processed, UnusedOffersCount: rt.offers.unused,
			RejectSummaryLastOffers: []v2.RejectReason{}, RejectSummaryLaunchAttempt: []v2.RejectReason{},
		}
		if !rt.offers.lastUnused.IsZero() {
			s.LastUnusedOfferAt = isoTime(rt.offers.lastUnused)
		}
		if !rt.offers.lastUsed.IsZero() {
			s.LastUsedOfferAt = isoTime(rt.offers.lastUsed)
		}
		reasons := make([]string, 0, len(rt.offers.reasons))
		for r := range rt.offers.reasons {
			reasons = append(reasons, r)
		}
		sort.Strings(reasons)
		for _, r := range reasons {
			rr := v2.RejectReason{Reason: r, Declined: rt.offers.reasons[r], Processed: rt.offers.processed}
			s.RejectSummaryLastOffers = append(s.RejectSummaryLastOffers, rr)
			s.RejectSummaryLaunchAttempt = append(s.RejectSummaryLaunchAttempt, rr)
		}
		e.Offers = s
		out = append(out, e)
	}
	for id := range l.apps {
		if counts[id] == 0 {
			l.apps[id].queuedSince = time.Time{}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AppID < out[j].AppID })
	return out
}

// renderPlan renders a deployment as GET /v2/deployments lists it.
func (l *loop) renderPlan(d *deploymentRecord) v2.Deployment {
	w := v2.Deployment{
		ID: d.Plan.ID, Version: d.Plan.Version,
		AffectedApps: d.affected(), AffectedPods: []string{},
		Steps: make([]v2.DeploymentStep, 0, len(d.Plan.Steps)), CurrentActions: []v2.CurrentAction{},
		CurrentStep: min(d.Step+1, len(d.Plan.Steps)), TotalSteps: len(d.Plan.Steps),
	}
	if w.AffectedApps == nil {
		w.AffectedApps = []string{}
	}
	for _, step := range d.Plan.Steps {
		ws := v2.DeploymentStep{Actions: make([]v2.DeploymentAction, 0, len(step))}
		for _, a := range step {
			ws.Actions = append(ws.Actions, v2.DeploymentAction{Action: a.Kind, App: a.AppID})
		}
		w.Steps = append(w.Steps, ws)
	}
	w.CurrentActions = l.renderStep(d)
	return w
}

// renderStep lists the current step's actions with readiness results.
func (l *loop) renderStep(d *deploymentRecord) []v2.CurrentAction {
	out := []v2.CurrentAction{}
	if d.Step >= len(d.Plan.Steps) {
		return out
	}
	for _, a := range d.Plan.Steps[d.Step] {
		ca := v2.CurrentAction{Action: a.Kind, App: a.AppID, ReadinessCheckResults: []v2.ReadinessResult{}}
		if app, ok := l.root.Apps[a.AppID]; ok && len(app.ReadinessChecks) > 0 {
			for _, in := range l.byApp[a.AppID] {
				if in.running() && in.Version == configVersion(app) {
					ca.ReadinessCheckResults = append(ca.ReadinessCheckResults, v2.ReadinessResult{Name: app.ReadinessChecks[0].Name, TaskID: in.TaskID, Ready: in.ready})
				}
			}
		}
		out = append(out, ca)
	}
	return out
}

// eventPlan is a deployment plan as Marathon's events carry it: the
// original and target root groups and the steps.
type eventPlan struct {
	ID       string              `json:"id"`
	Version  string              `json:"version"`
	Original v2.Group            `json:"original"`
	Target   v2.Group            `json:"target"`
	Steps    []v2.DeploymentStep `json:"steps"`
}

// deploymentEvent builds the fields of a deployment event: "plan" plus
// the given key/value pairs. Rendering the groups is skipped when nobody
// listens.
func (l *loop) deploymentEvent(d *deploymentRecord, kv ...any) map[string]any {
	fields := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		fields[kv[i].(string)] = kv[i+1]
	}
	if l.m.bus.count() == 0 {
		return fields
	}
	orig, _ := d.Plan.Original.Tree("/")
	target, _ := d.Plan.Target.Tree("/")
	fields["plan"] = eventPlan{
		ID: d.Plan.ID, Version: d.Plan.Version, Original: orig, Target: target,
		Steps: l.renderPlan(d).Steps,
	}
	return fields
}

// eventStep is the current step as events carry it: {"actions": [...]}.
func (l *loop) eventStep(d *deploymentRecord) v2.DeploymentStep {
	step := v2.DeploymentStep{Actions: []v2.DeploymentAction{}}
	if d.Step < len(d.Plan.Steps) {
		for _, a := range d.Plan.Steps[d.Step] {
			step.Actions = append(step.Actions, v2.DeploymentAction{Action: a.Kind, App: a.AppID})
		}
	}
	return step
}
