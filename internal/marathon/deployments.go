package marathon

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/basalt-dcos/basalt/internal/marathon/appdef"
	"github.com/basalt-dcos/basalt/internal/marathon/deploy"
	"github.com/basalt-dcos/basalt/internal/store"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
)

// update applies an UpdateRequest: edit, stamp, validate, plan, persist,
// start. Nothing changes unless everything succeeds.
func (l *loop) update(req UpdateRequest) (UpdateResult, error) {
	now := time.Now()
	target := l.root.Clone()
	if req.Change != nil {
		if err := req.Change(&target); err != nil {
			return UpdateResult{}, err
		}
	}
	restart := map[string]bool{}
	for _, id := range req.Restart {
		if _, ok := target.Apps[id]; !ok {
			return UpdateResult{}, &AppNotFoundError{ID: id}
		}
		restart[id] = true
	}
	version := l.nextVersion(now)
	opts := l.cfg.AppDefOptions()

	// Stamp versions; unchanged apps keep theirs and claim their ports first.
	used := map[int]bool{}
	var changed []string
	for id, app := range target.Apps {
		app.ID = id
		appdef.Normalize(&app)
		old, existed := l.root.Apps[id]
		// Most apps of a big root are untouched copies: a deep comparison
		// settles them without IsConfigChange's JSON round trips (which
		// cost O(apps) encodings per POST).
		same := existed && !restart[id] && reflect.DeepEqual(old, app)
		switch {
		case !existed || restart[id] || (!same && appdef.IsConfigChange(old, app)):
			app.Version = version
			app.VersionInfo = &v2.VersionInfo{LastScalingAt: version, LastConfigChangeAt: version}
		case old.Instances != app.Instances:
			app.Version = version
			vi := v2.VersionInfo{LastConfigChangeAt: configVersion(old), LastScalingAt: version}
			app.VersionInfo = &vi
		default: // unchanged (same lands here) or changed only in fields that make no version
			app.Version, app.VersionInfo = old.Version, old.VersionInfo
			for _, p := range appdef.ServicePorts(app) {
				if p != 0 {
					used[p] = true
				}
			}
			target.Apps[id] = app
			continue
		}
		target.Apps[id] = app
		changed = append(changed, id)
	}
	sort.Strings(changed)
	var problems []error
	for _, id := range changed {
		app := target.Apps[id]
		if err := appdef.AssignServicePorts(&app, used, opts); err != nil {
			problems = append(problems, fmt.Errorf("app %s: %w", id, err))
			continue
		}
		if err := appdef.ValidateApp(app, opts); err != nil {
			if len(changed) == 1 {
				return UpdateResult{}, err
			}
			problems = append(problems, fmt.Errorf("app %s: %w", id, err))
		}
		target.Apps[id] = app
	}
	if err := checkIDClashes(target); err != nil {
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		return UpdateResult{}, validation("/", problems...)
	}
	plan, err := deploy.NewPlan(l.root, target, uuid(), version)
	if err != nil {
		return UpdateResult{}, validation("/", err)
	}
	if req.DryRun {
		return UpdateResult{DeploymentResult: v2.DeploymentResult{DeploymentID: plan.ID, Version: version}, Plan: plan}, nil
	}
	// The running deployment keeps (in memory and in the store) only the
	// apps it acts on: a plan holding the whole original and target roots
	// cost O(apps) per deployment, i.e. O(apps²) while 1,000 apps deploy
	// (3 MB of store per POST at 1,000 apps, most of a 1.8 GB store).
	plan.Original, plan.Target = plan.Original.Only(plan.AffectedApps()), plan.Target.Only(plan.AffectedApps())
	conflicts := l.conflicts(plan)
	if len(conflicts) > 0 && !req.Force {
		return UpdateResult{}, &ConflictError{Deployments: conflicts}
	}

	// Persist first; memory changes only once the store has it.
	var ops []store.Op
	newVersions := map[string][]string{}
	for id, app := range target.Apps {
		old, existed := l.root.Apps[id]
		if existed && old.Version == app.Version {
			continue
		}
		ops = append(ops, putJSON(appKey(id), app), putJSON(versionKey(id, app.Version), app))
		vs := append(append([]string(nil), l.versions[id]...), app.Version)
		for len(vs) > l.cfg.MaxVersions {
			ops = append(ops, store.Delete(versionKey(id, vs[0])))
			vs = vs[1:]
		}
		newVersions[id] = vs
	}
	for id := range l.root.Apps {
		if _, ok := target.Apps[id]; !ok {
			ops = append(ops, store.Delete(appKey(id)), store.DeletePrefix(prefixVersions+safeKey(id)+"/"))
			newVersions[id] = nil
		}
	}
	for id, g := range target.Groups {
		if old, ok := l.root.Groups[id]; !ok || !sameGroup(old, g) {
			if g.Version == "" {
				g.Version = version
				target.Groups[id] = g
			}
			ops = append(ops, putJSON(groupKey(id), g))
		}
	}
	for id := range l.root.Groups {
		if _, ok := target.Groups[id]; !ok {
			ops = append(ops, store.Delete(groupKey(id)))
		}
	}
	rec := &deploymentRecord{Plan: plan}
	ops = append(ops, putJSON(deploymentKey(plan.ID), rec))
	var cancelled []*deploymentRecord
	for _, id := range conflicts {
		if d := l.deployment(id); d != nil {
			cancelled = append(cancelled, d)
			ops = append(ops, store.Delete(deploymentKey(id)))
		}
	}
	// One write with what the loop had pending (it goes first): a POST
	// waits for the store once, not twice.
	ops = append(l.pending, ops...)
	l.pending = nil
	ctx, cancel := context.WithTimeout(l.ctx, 30*time.Second)
	err = l.write(ctx, ops...)
	cancel()
	if err != nil {
		l.pendingAcks = nil // as flush: the agents resend those updates
		return UpdateResult{}, fmt.Errorf("persist deployment %s: %w", plan.ID, err)
	}
	if len(l.pendingAcks) > 0 {
		l.acknowledge(l.pendingAcks)
		l.pendingAcks = nil
	}

	for _, d := range cancelled {
		l.dropDeployment(d.Plan.ID)
		l.event(EventDeploymentFailed, now, l.deploymentEvent(d, "id", d.Plan.ID, "reason", "cancelled by deployment "+plan.ID))
	}
	for id, vs := range newVersions {
		if vs == nil {
			delete(l.versions, id)
		} else {
			l.versions[id] = vs
		}
	}
	for _, id := range changed {
		old, existed := l.root.Apps[id]
		if !existed || configVersion(old) != configVersion(target.Apps[id]) {
			rt := l.runtime(id)
			rt.delay, rt.delayUntil = 0, time.Time{}
		}
		l.event(EventAPIPost, now, map[string]any{"clientIp": nil, "uri": "/v2/apps" + id, "appDefinition": target.Apps[id]})
	}
	for id := range target.Apps {
		l.checkApps[id] = true
	}
	for id := range l.root.Apps {
		l.checkApps[id] = true
	}
	// Re-render only what this deployment touches: apps added, removed or
	// given a new version, and the apps its plan acts on (their deployment
	// references). The rest keep their rendered status; the snapshot is
	// published anyway (new root and deployment list).
	for id := range newVersions {
		l.touch(id)
	}
	for _, id := range plan.AffectedApps() {
		l.touch(id)
	}
	l.root = target
	l.deployments = append(l.deployments, rec)
	l.locked = nil
	l.rootDirty = true
	l.changed = true
	l.event(EventGroupChangeSuccess, now, map[string]any{"groupId": "/", "version": version})
	l.event(EventDeploymentInfo, now, l.deploymentEvent(rec, "currentStep", l.eventStep(rec)))
	l.log.Info("deployment started", "deployment_id", plan.ID, "apps", plan.AffectedApps(), "steps", len(plan.Steps))
	return UpdateResult{DeploymentResult: v2.DeploymentResult{DeploymentID: plan.ID, Version: version}, Plan: plan}, nil
}

// validation wraps problems as a 422 with one detail per problem.
func validation(path string, errs ...error) error {
	ve := &appdef.ValidationError{}
	for _, err := range errs {
		if inner, ok := err.(interface{ Unwrap() error }); ok {
			if v, ok := inner.Unwrap().(*appdef.ValidationError); ok {
				ve.Details = append(ve.Details, v.Details...)
				continue
			}
		}
		ve.Details = append(ve.Details, v2.ErrorDetail{Path: path, Errors: []string{err.Error()}})
	}
	return ve
}

// checkIDClashes refuses an app whose id is also a group (explicit, or
// implied by another app's path).
func checkIDClashes(r deploy.Root) error {
	// Every ancestor path of an app is a group (implicit or explicit).
	groups := make(map[string]bool, len(r.Groups)+len(r.Apps))
	for id := range r.Groups {
		groups[id] = true
	}
	for id := range r.Apps {
		for i := strings.LastIndexByte(id, '/'); i > 0; i = strings.LastIndexByte(id[:i], '/') {
			groups[id[:i]] = true
		}
	}
	var bad []string
	for id := range r.Apps {
		if groups[id] {
			bad = append(bad, id)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return fmt.Errorf("an app and a group cannot have the same id: %s", strings.Join(bad, ", "))
}

func sameGroup(a, b deploy.GroupMeta) bool {
	return a.ID == b.ID && a.EnforceRole == b.EnforceRole && a.Version == b.Version &&
		strings.Join(a.Dependencies, ",") == strings.Join(b.Dependencies, ",")
}

// conflicts lists the running deployments that act on apps plan acts on.
func (l *loop) conflicts(plan deploy.Plan) []string {
	locked := l.lockedApps()
	seen := map[string]bool{}
	var out []string
	for _, id := range plan.AffectedApps() {
		for _, d := range locked[id] {
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	sort.Strings(out)
	return out
}

func (l *loop) deployment(id string) *deploymentRecord {
	for _, d := range l.deployments {
		if d.Plan.ID == id {
			return d
		}
	}
	return nil
}

func (l *loop) dropDeployment(id string) {
	for i, d := range l.deployments {
		if d.Plan.ID == id {
			l.deployments = append(l.deployments[:i:i], l.deployments[i+1:]...)
			l.locked = nil
			for _, app := range d.affected() {
				l.touch(app)
				l.checkApps[app] = true
			}
			return
		}
	}
}

// progress moves every deployment as far as it can, then keeps apps that
// no deployment holds at their instance count.
func (l *loop) progress(now time.Time) {
	all := l.moveAll
	l.moveAll = false
	moved := l.moved
	l.moved = map[string]bool{}
	for i := 0; i < len(l.deployments); {
		d := l.deployments[i]
		// Only a deployment whose apps changed can move: with hundreds of
		// deployments running, looking at every one after each batch of
		// updates cost O(deployments × instances).
		if !all && !slices.ContainsFunc(d.affected(), func(id string) bool { return moved[id] }) {
			i++
			continue
		}
		if !l.advance(d, now) {
			i++
			continue
		}
		l.dropDeployment(d.Plan.ID)
		// Its apps are free for the scale check, and deployments that
		// waited for them may move.
		l.moveAll = true
		l.pending = append(l.pending, store.Delete(deploymentKey(d.Plan.ID)))
		for _, step := range d.Plan.Steps {
			for _, a := range step {
				if a.Kind == v2.ActionStop {
					l.event(EventAppTerminated, now, map[string]any{"appId": a.AppID})
				}
			}
		}
		l.event(EventDeploymentSuccess, now, l.deploymentEvent(d, "id", d.Plan.ID))
		l.log.Info("deployment finished", "deployment_id", d.Plan.ID)
	}
	l.scaleCheck(now)
}

// advance runs the current step's actions; it reports whether the whole
// deployment is done.
func (l *loop) advance(d *deploymentRecord, now time.Time) bool {
	for d.Step < len(d.Plan.Steps) {
		done := true
		for _, a := range d.Plan.Steps[d.Step] {
			if !l.act(d, a, now) {
				done = false
			}
		}
		if !done {
			return false
		}
		l.event(EventDeploymentStepSuccess, now, l.deploymentEvent(d, "currentStep", l.eventStep(d)))
		d.Step++
		for _, app := range d.affected() {
			l.touch(app)
		}
		if d.Step < len(d.Plan.Steps) {
			l.pending = append(l.pending, putJSON(deploymentKey(d.Plan.ID), d))
		}
	}
	return true
}

// act takes one step of action a; it reports whether a is done.
func (l *loop) act(d *deploymentRecord, a deploy.Action, now time.Time) bool {
	var app v2.App
	if a.Kind == v2.ActionStop {
		app = d.Plan.Original.Apps[a.AppID]
		app.ID = a.AppID
		if _, back := l.root.Apps[a.AppID]; back {
			return true // re-created meanwhile: not ours to stop
		}
	} else {
		cur, ok := l.root.Apps[a.AppID]
		if !ok {
			return true // removed by a later forced change
		}
		app = cur
	}
	dec := deploy.Progress(a.Kind, l.appState(app))
	l.apply(app, dec, now)
	return dec.Done
}

// appState is what deploy.Progress needs about app.
func (l *loop) appState(app v2.App) deploy.AppState {
	hasChecks := len(app.HealthChecks) > 0
	hasReady := len(app.ReadinessChecks) > 0
	target := app
	target.Version = configVersion(app)
	var out []deploy.Instance
	for _, in := range l.instancesOf(app.ID) {
		killing := in.Goal == goalDecommissioned
		if killing && !in.active() {
			continue
		}
		if in.Inactive && !killing {
			continue
		}
		h := in.healthy(hasChecks)
		since := in.StagedAt
		if since.IsZero() {
			since = in.Created
		}
		out = append(out, deploy.Instance{
			ID: in.ID, Version: in.Version, Scheduled: in.scheduled(), Running: in.running(),
			Healthy: h, Ready: h && (!hasReady || in.ready), Killing: killing, Since: since,
		})
	}
	return deploy.AppState{App: target, Instances: out}
}

// apply carries out a decision.
func (l *loop) apply(app v2.App, dec deploy.Decision, now time.Time) {
	for range dec.Launch {
		in := &instance{ID: newInstanceID(app.ID), AppID: app.ID, Version: configVersion(app), Goal: goalRunning, Created: now}
		l.save(in)
		rt := l.runtime(app.ID)
		if rt.queuedSince.IsZero() {
			rt.queuedSince = now
		}
		l.reviveDue = true
	}
	for _, id := range dec.Kill {
		if in := l.instances[id]; in != nil {
			l.decommission(in, now)
		}
	}
}

// scaleCheck keeps apps outside deployments at their instance count:
// replaces lost instances, kills surplus ones (after a partition heals),
// and stops instances of apps that no longer exist.
func (l *loop) scaleCheck(now time.Time) {
	if len(l.checkApps) == 0 {
		return
	}
	locked := l.lockedApps()
	ids := make([]string, 0, len(l.checkApps))
	for id := range l.checkApps {
		if _, ok := locked[id]; !ok {
			ids = append(ids, id)
			delete(l.checkApps, id)
		}
	}
	sort.Strings(ids)
	for _, appID := range ids {
		app, ok := l.root.Apps[appID]
		if !ok {
			for _, in := range l.instancesOf(appID) {
				if in.Goal != goalDecommissioned {
					l.decommission(in, now)
				}
			}
			continue
		}
		l.scaleOne(app, now)
	}
}

func (l *loop) scaleOne(app v2.App, now time.Time) {
	dec := deploy.Progress(v2.ActionScale, l.appState(app))
	if dec.Launch > 0 || len(dec.Kill) > 0 {
		l.log.Info("scale check", "app_id", app.ID, "launch", dec.Launch, "kill", len(dec.Kill))
		l.apply(app, dec, now)
	}
}

// cancelDeployment stops deployment id; without force it rolls the
// affected apps back to their definitions before it.
func (l *loop) cancelDeployment(id string, force bool) (*v2.DeploymentResult, error) {
	d := l.deployment(id)
	if d == nil {
		return nil, &DeploymentNotFoundError{ID: id}
	}
	now := time.Now()
	if force {
		ctx, cancel := context.WithTimeout(l.ctx, 30*time.Second)
		err := l.write(ctx, store.Delete(deploymentKey(id)))
		cancel()
		if err != nil {
			return nil, fmt.Errorf("cancel deployment %s: %w", id, err)
		}
		l.dropDeployment(id)
		l.event(EventDeploymentFailed, now, l.deploymentEvent(d, "id", id, "reason", "cancelled"))
		l.changed = true
		l.moveAll = true
		return nil, nil
	}
	orig := d.Plan.Original
	affected := d.affected()
	res, err := l.update(UpdateRequest{Force: true, Change: func(root *deploy.Root) error {
		for _, app := range affected {
			if a, ok := orig.Apps[app]; ok {
				root.Apps[app] = a
			} else {
				delete(root.Apps, app)
			}
		}
		return nil
	}})
	if err != nil {
		return nil, err
	}
	return &res.DeploymentResult, nil
}

// killTasks kills tasks by id (task or instance id).
func (l *loop) killTasks(req KillRequest) (KillResult, error) {
	now := time.Now()
	var ins []*instance
	seen := map[string]bool{}
	for _, id := range req.TaskIDs {
		in := l.byTask[id]
		if in == nil {
			in = l.instances[id]
		}
		if in == nil {
			return KillResult{}, &TaskNotFoundError{ID: id}
		}
		if !seen[in.ID] {
			seen[in.ID] = true
			ins = append(ins, in)
		}
	}
	tasks := []v2.Task{}
	for _, in := range ins {
		if in.TaskID != "" {
			tasks = append(tasks, l.renderTask(in, l.root.Apps[in.AppID]))
		}
	}
	if req.Scale {
		counts := map[string]int{}
		for _, in := range ins {
			if in.live() {
				counts[in.AppID]++
			}
		}
		res, err := l.update(UpdateRequest{Force: req.Force, Change: func(root *deploy.Root) error {
			for id, n := range counts {
				if a, ok := root.Apps[id]; ok {
					a.Instances = max(0, a.Instances-n)
					root.Apps[id] = a
				}
			}
			return nil
		}})
		if err != nil {
			return KillResult{}, err
		}
		for _, in := range ins {
			l.decommission(in, now)
		}
		return KillResult{Tasks: tasks, Deployment: &res.DeploymentResult}, nil
	}
	for _, in := range ins {
		if req.Wipe {
			l.decommission(in, now)
		} else {
			l.kill(in, now)
		}
	}
	l.changed = true
	return KillResult{Tasks: tasks}, nil
}

// resetDelay clears an app's launch backoff.
func (l *loop) resetDelay(id string) error {
	if _, ok := l.root.Apps[id]; !ok {
		return &AppNotFoundError{ID: id}
	}
	rt := l.runtime(id)
	rt.delay, rt.delayUntil = 0, time.Time{}
	l.touch(id)
	l.changed = true
	l.reviveDue = true
	return nil
}
