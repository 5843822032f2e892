package marathon

import (
	"context"
	"errors"
	"net"
	"sort"
	"time"

	"github.com/basalt-dcos/basalt/internal/marathon/appdef"
	"github.com/basalt-dcos/basalt/internal/marathon/match"
	"github.com/basalt-dcos/basalt/internal/store"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
	"github.com/basalt-dcos/basalt/pkg/scheduler"
)

// electionName is the store election Marathon instances campaign in.
const electionName = "marathon"

// abdicateBackoff keeps an abdicated node out of the next election for a
// moment, so that a peer takes over.
const abdicateBackoff = 2 * time.Second

func (m *Marathon) run(ctx context.Context) error {
	go m.observeLeader(ctx)
	for ctx.Err() == nil {
		ectx, cancel := context.WithCancel(ctx)
		m.abdicateMu.Lock()
		m.abdicate = cancel
		m.abdicateMu.Unlock()
		err := m.deps.Store.NewElection(electionName, m.cfg.Advertise).Run(ectx, m.lead)
		abdicated := ectx.Err() != nil && ctx.Err() == nil
		cancel()
		if errors.Is(err, store.ErrClosed) {
			return nil
		}
		if abdicated {
			select {
			case <-ctx.Done():
			case <-time.After(abdicateBackoff):
			}
		}
	}
	return nil
}

func (m *Marathon) observeLeader(ctx context.Context) {
	for v := range m.deps.Store.ObserveLeader(ctx, electionName) {
		m.leader.Store(&v)
	}
}

// Abdicate gives up leadership (DELETE /v2/leader).
func (m *Marathon) Abdicate(ctx context.Context) error {
	if !m.IsLeader() {
		return &NotLeaderError{Leader: m.Leader()}
	}
	m.abdicateMu.Lock()
	cancel := m.abdicate
	m.abdicateMu.Unlock()
	if cancel != nil {
		m.log.Info("abdicating")
		cancel()
	}
	return nil
}

// lead runs while this node is the leader.
func (m *Marathon) lead(ctx context.Context) error {
	m.log.Info("elected Marathon leader", "advertise", m.cfg.Advertise)
	p, err := load(ctx, m.deps.Store)
	if err != nil {
		return err
	}
	l := newLoop(m, ctx, p)
	l.guard, l.guarded = store.LeadershipGuard(ctx)
	if !l.guarded {
		m.log.Warn("leading without a write fence (the leadership context carries no guard)")
	}
	sched, err := scheduler.New(m.schedulerConfig(p.frameworkID))
	if err != nil {
		return err
	}
	l.sched.Store(sched)
	// Publish the loaded state before anyone can read it as the leader's.
	l.publish(time.Now(), true)
	m.cur.Store(l)
	defer func() {
		m.cur.Store(nil)
		m.snap.Store(&Snapshot{Taken: time.Now(), Root: emptyRoot(), Apps: map[string]*AppStatus{}})
		m.log.Info("Marathon leadership ended")
	}()

	loopDone := make(chan struct{})
	go func() { defer close(loopDone); l.run() }()
	callsDone := make(chan struct{})
	go func() { defer close(callsDone); l.callLoop() }()
	l.calls.Go(l.flowLoop)
	for ctx.Err() == nil {
		err := sched.Run(ctx, func(_ context.Context, _ *scheduler.Client, ev mesosv1.Event) error {
			return l.onEvent(ev)
		})
		if ctx.Err() != nil {
			break
		}
		if errors.Is(err, scheduler.ErrFrameworkRemoved) {
			// The master no longer knows the framework (torn down, or its
			// failover timeout passed): its tasks are gone; start afresh.
			m.log.Warn("framework removed by the master; registering a new framework", "error", err)
			if cerr := l.call(ctx, func(l *loop) error { return l.forgetFramework() }); cerr != nil {
				return cerr
			}
			sched, err = scheduler.New(m.schedulerConfig(""))
			if err != nil {
				return err
			}
			l.sched.Store(sched)
			continue
		}
		m.log.Warn("scheduler client stopped", "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	<-loopDone
	l.calls.Wait()
	<-callsDone
	return nil
}

func (m *Marathon) schedulerConfig(frameworkID string) scheduler.Config {
	host := m.cfg.Hostname
	if host == "" {
		if h, _, err := net.SplitHostPort(m.cfg.Advertise); err == nil {
			host = h
		}
	}
	fw := mesosv1.FrameworkInfo{
		User:            m.cfg.User,
		Name:            m.cfg.FrameworkName,
		FailoverTimeout: m.cfg.FailoverTimeout.Seconds(),
		Checkpoint:      true,
		Role:            m.cfg.Role,
		Hostname:        host,
		Principal:       m.cfg.Principal,
		WebuiURL:        m.cfg.WebUIURL,
		Capabilities: []mesosv1.Capability{
			{Type: "PARTITION_AWARE"}, {Type: "TASK_KILLING_STATE"}, {Type: "GPU_RESOURCES"},
		},
	}
	if fw.WebuiURL == "" && m.cfg.Advertise != "" {
		fw.WebuiURL = "http://" + m.cfg.Advertise
	}
	if frameworkID != "" {
		fw.ID = &mesosv1.ID{Value: frameworkID}
	}
	return scheduler.Config{
		Masters:           m.cfg.Masters,
		Framework:         fw,
		HTTPClient:        m.deps.MesosClient,
		Logger:            m.log.With("component", "marathon-scheduler"),
		ManualAcknowledge: true,
	}
}

// onEvent runs on the scheduler client's goroutine: it hands the event to
// the loop. Updates are acknowledged by the loop once persisted.
func (l *loop) onEvent(ev mesosv1.Event) error {
	var fn func()
	switch ev.Type {
	case "SUBSCRIBED":
		sub := ev.Subscribed
		fn = func() { l.onSubscribed(sub) }
	case "OFFERS":
		offers := ev.Offers.Offers
		fn = func() { l.onOffers(offers, time.Now()) }
	case "UPDATE":
		st := ev.Update.Status
		fn = func() { l.onUpdate(st, time.Now()) }
	case "MESSAGE":
		msg := ev.Message
		fn = func() {
			l.event(EventFrameworkMessage, time.Now(), map[string]any{
				"slaveId": msg.AgentID.Value, "executorId": msg.ExecutorID.Value, "message": msg.Data,
			})
		}
	case "FAILURE", "RESCIND", "HEARTBEAT", "ERROR":
		return nil
	default:
		return nil
	}
	if !l.post(fn) {
		return errStopped
	}
	return nil
}

func (l *loop) forgetFramework() error {
	l.frameworkID = ""
	l.subscribed = false
	ctx, cancel := context.WithTimeout(l.ctx, 10*time.Second)
	defer cancel()
	return l.write(ctx, store.Delete(keyFrameworkID))
}

// onSubscribed persists a new framework ID and reconciles every task.
func (l *loop) onSubscribed(sub *mesosv1.EventSubscribedBody) {
	id := sub.FrameworkID.Value
	if id != l.frameworkID {
		l.frameworkID = id
		l.pending = append(l.pending, store.Put(keyFrameworkID, []byte(id)))
		l.log.Info("registered with Mesos", "framework_id", id)
	} else {
		l.log.Info("re-subscribed to Mesos", "framework_id", id)
	}
	l.subscribed = true
	l.suppressed = false // SUBSCRIBE without suppressed roles
	l.allDirty = true
	now := time.Now()
	l.reconcile(now)
	// A master that just took over learns tasks as agents re-register, and
	// tells no framework about them: reconcile again while they come back,
	// so tasks nobody owns any more are found and killed.
	l.reconcileAt = l.reconcileAt[:0]
	for _, d := range reconcileFollowUps {
		l.reconcileAt = append(l.reconcileAt, now.Add(d))
	}
}

// reconcile asks for the state of every known task (explicit), then for
// every task Mesos knows (implicit), so unknown ones can be killed.
func (l *loop) reconcile(now time.Time) {
	l.lastRecon = now
	l.explicitReconcile(now, func(*instance) bool { return true }, true)
}

// explicitReconcile asks Mesos for the state of the active tasks that pick
// selects (and, with implicit, of every task Mesos knows). Each task stays
// marked until an update for it arrives; unanswered ones are asked again
// (reconcileRetry), as Mesos expects: a master that is still waiting for
// agents to re-register after a failover does not answer for their tasks.
func (l *loop) explicitReconcile(now time.Time, pick func(*instance) bool, implicit bool) {
	var tasks []mesosv1.ReconcileTask
	for _, in := range l.instances {
		// A task whose ACCEPT is still on its way is not asked about: a
		// reconciliation overtaking the ACCEPT (they go out on different
		// call workers) finds the task unknown, and the master answers
		// TASK_GONE for a task that is about to run. Marathon took that
		// answer as the task's end, backed the app off and then ignored
		// the agent's TASK_RUNNING as stale: the task ran uncounted and the
		// deployment never finished.
		if in.TaskID == "" || !in.active() || in.launching || !pick(in) {
			continue
		}
		in.reconcileSent = now
		rt := mesosv1.ReconcileTask{TaskID: mesosv1.ID{Value: in.TaskID}}
		if in.AgentID != "" {
			rt.AgentID = &mesosv1.ID{Value: in.AgentID}
		}
		tasks = append(tasks, rt)
	}
	if len(tasks) == 0 && !implicit {
		return
	}
	sched := l.sched.Load()
	l.goCall(func(ctx context.Context) {
		const chunk = 5000
		for i := 0; i < len(tasks); i += chunk {
			if err := sched.Reconcile(ctx, tasks[i:min(i+chunk, len(tasks))]); err != nil {
				l.log.Warn("explicit reconciliation", "error", err)
				return
			}
		}
		if implicit {
			if err := sched.Reconcile(ctx, nil); err != nil {
				l.log.Warn("implicit reconciliation", "error", err)
			}
		}
	})
}

// reconcileFollowUps are the extra reconciliations after a (re)subscription.
var reconcileFollowUps = [...]time.Duration{5 * time.Second, 20 * time.Second, time.Minute} // read-only

// reconcileRetry is how long a task may go unanswered after an explicit
// reconciliation before it is asked about again.
const reconcileRetry = 5 * time.Second

// goCall queues a scheduler call, made off the loop by the call workers.
func (l *loop) goCall(fn func(ctx context.Context)) {
	l.work.push(fn)
}

// offerFlow revives when instances wait for offers and suppresses when none do.
func (l *loop) offerFlow() {
	if !l.subscribed {
		return
	}
	want := len(l.scheduledCounts()) > 0
	switch {
	case want && (l.suppressed || l.reviveDue):
		l.suppressed, l.reviveDue = false, false
		l.sendFlow(true)
	case !want && !l.suppressed:
		l.suppressed = true
		l.sendFlow(false)
	}
}

// sendFlow queues a REVIVE (true) or SUPPRESS (false). They go out in order
// from one goroutine: a SUPPRESS overtaking a later REVIVE would leave
// Marathon without offers.
func (l *loop) sendFlow(revive bool) {
	select {
	case l.flow <- revive:
	default:
		// Full: drop the oldest intent, the newest one decides.
		select {
		case <-l.flow:
		default:
		}
		l.flow <- revive
	}
}

// flowLoop sends the queued REVIVE and SUPPRESS calls.
func (l *loop) flowLoop() {
	for {
		select {
		case <-l.ctx.Done():
			return
		case revive := <-l.flow:
			sched := l.sched.Load()
			var err error
			if revive {
				err = sched.Revive(l.ctx)
			} else {
				err = sched.Suppress(l.ctx)
			}
			if err != nil && l.ctx.Err() == nil {
				l.log.Debug("offer flow", "revive", revive, "error", err)
			}
		}
	}
}

// launchable returns, per app, the instances that may launch now.
func (l *loop) launchable(now time.Time) (ids []string, byApp map[string][]*instance) {
	byApp = map[string][]*instance{}
	for appID := range l.scheduledCounts() {
		app, ok := l.root.Apps[appID]
		if !ok {
			continue
		}
		m := l.byApp[appID]
		rt := l.runtime(appID)
		if now.Before(rt.delayUntil) {
			continue
		}
		for _, in := range m {
			if in.scheduled() {
				byApp[app.ID] = append(byApp[app.ID], in)
			}
		}
	}
	for id, list := range byApp {
		sort.Slice(list, func(i, j int) bool { return list[i].Created.Before(list[j].Created) })
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, byApp
}

// placements lists the agents of an app's live instances.
func (l *loop) placements(appID string) []match.Placement {
	var out []match.Placement
	for _, in := range l.byApp[appID] {
		if in.live() && in.active() && in.AgentID != "" {
			out = append(out, match.Placement{AgentID: in.AgentID, Hostname: in.Hostname, Attributes: in.Attributes, Region: in.Region, Zone: in.Zone})
		}
	}
	return out
}

type acceptCall struct {
	offer mesosv1.ID
	tasks []mesosv1.TaskInfo
}

// onOffers launches waiting instances on the offers and declines the rest.
func (l *loop) onOffers(offers []mesosv1.Offer, now time.Time) {
	ids, byApp := l.launchable(now)
	mcfg := l.cfg.matchConfig()
	var accepts []acceptCall
	var declines, later []mesosv1.ID
	placed := map[string][]match.Placement{}
	launched := 0
	for _, offer := range offers {
		if launched >= maxLaunchesPerOffers {
			// The staged instances are written in one transaction: 10,000
			// offers could stage 25,000 (13 MB), more than a store request
			// may carry, and the write failed on every round. The rest of
			// the offers come back in a second.
			later = append(later, offer.ID)
			continue
		}
		remaining := mesosv1.Resources(offer.Resources)
		var tasks []mesosv1.TaskInfo
		for _, appID := range ids {
			app := l.root.Apps[appID]
			rt := l.runtime(appID)
			if _, ok := placed[appID]; !ok {
				placed[appID] = l.placements(appID)
			}
			for len(byApp[appID]) > 0 && len(tasks) < l.cfg.MaxInstancesPerOffer {
				o := offer
				o.Resources = remaining
				res := match.Match(app, o, placed[appID], mcfg)
				rt.offers.processed++
				if !res.Matched {
					rt.offers.unused++
					rt.offers.lastUnused = now
					if rt.offers.reasons == nil {
						rt.offers.reasons = map[string]int{}
					}
					for _, r := range res.Reasons {
						rt.offers.reasons[r]++
					}
					break
				}
				in := byApp[appID][0]
				ti, ok := l.stage(in, app, offer, res, now)
				if !ok {
					break
				}
				byApp[appID] = byApp[appID][1:]
				rt.offers.lastUsed = now
				tasks = append(tasks, ti)
				remaining = remaining.Minus(res.Resources)
				placed[appID] = append(placed[appID], match.Placement{AgentID: in.AgentID, Hostname: in.Hostname, Attributes: in.Attributes, Region: in.Region, Zone: in.Zone})
			}
		}
		launched += len(tasks)
		if len(tasks) > 0 {
			accepts = append(accepts, acceptCall{offer: offer.ID, tasks: tasks})
		} else {
			declines = append(declines, offer.ID)
		}
	}
	// Persist the staged instances before Mesos hears of them.
	if err := l.flush(); err != nil {
		l.log.Error("persist launches; declining the offers", "error", err)
		for _, a := range accepts {
			declines = append(declines, a.offer)
			for _, t := range a.tasks {
				if in := l.byTask[t.TaskID.Value]; in != nil {
					in.State = mesosv1.TaskDropped
					in.launching = false
					l.touch(in.AppID)
				}
			}
		}
		accepts = nil
	}
	sched := l.sched.Load()
	refuse := l.cfg.DeclineOfferDuration.Seconds()
	l.work.pushFront(func(ctx context.Context) {
		for _, a := range accepts {
			if err := sched.Accept(ctx, []mesosv1.ID{a.offer}, []mesosv1.Operation{scheduler.LaunchOp(a.tasks...)}, scheduler.Refuse(1)); err != nil {
				// The tasks stay STAGING; reconciliation finds them lost.
				l.log.Warn("accept offer", "offer_id", a.offer.Value, "tasks", len(a.tasks), "error", err)
			}
		}
		if len(accepts) > 0 {
			// The master has handled the ACCEPTs (a call returns once it
			// has): reconciliations sent from now on are answered about
			// these tasks truthfully.
			l.post(func() { l.launched(accepts) })
		}
		if len(declines) > 0 {
			if err := sched.Decline(ctx, declines, scheduler.Refuse(refuse)); err != nil {
				l.log.Debug("decline offers", "error", err)
			}
		}
		if len(later) > 0 {
			if err := sched.Decline(ctx, later, scheduler.Refuse(1)); err != nil {
				l.log.Debug("decline offers", "error", err)
			}
		}
	})
}

// launched marks the tasks of answered ACCEPTs as open to reconciliation.
func (l *loop) launched(accepts []acceptCall) {
	for _, a := range accepts {
		for _, t := range a.tasks {
			if in := l.byTask[t.TaskID.Value]; in != nil && in.TaskID == t.TaskID.Value {
				in.launching = false
			}
		}
	}
}

// maxLaunchesPerOffers bounds the tasks one OFFERS event launches, so that
// their instances fit one store transaction (~0.5 KB each).
const maxLaunchesPerOffers = 2000

// stage turns a scheduled instance into a staging task on offer.
func (l *loop) stage(in *instance, app v2.App, offer mesosv1.Offer, res match.Result, now time.Time) (mesosv1.TaskInfo, bool) {
	next := in.clone()
	next.launching = true
	next.Incarnation++
	next.TaskID = taskIDFor(in.ID, next.Incarnation)
	next.Version = configVersion(app)
	next.AgentID = offer.AgentID.Value
	next.Hostname = offer.Hostname
	next.Attributes = offer.Attributes
	next.Region, next.Zone = "", ""
	if offer.Domain != nil && offer.Domain.FaultDomain != nil {
		next.Region = offer.Domain.FaultDomain.Region.Name
		next.Zone = offer.Domain.FaultDomain.Zone.Name
	}
	next.HostPorts = res.HostPorts
	next.State = mesosv1.TaskStaging
	next.StagedAt = now
	next.StartedAt = time.Time{}
	next.Healthy = nil
	next.UnreachableSince = time.Time{}
	next.IPs = nil
	next.ready = false
	next.killSentAt = time.Time{}
	next.killFirst = time.Time{}
	next.reconcileSent = time.Time{}
	next.killedByUs = false
	ti, err := match.BuildTask(app, match.TaskParams{
		TaskID: next.TaskID, AgentID: next.AgentID, Hostname: next.Hostname,
		Match: res, ServicePorts: appdef.ServicePorts(app),
	}, l.cfg.matchConfig())
	if err != nil {
		l.log.Error("build task", "app_id", app.ID, "error", err)
		return mesosv1.TaskInfo{}, false
	}
	// The previous task is no longer this instance's: an update for it
	// (a late one, or an agent coming back with it) is for an unknown task,
	// killed if it runs, and never moves the new task's state.
	if in.TaskID != "" && l.byTask[in.TaskID] == in {
		delete(l.byTask, in.TaskID)
	}
	*in = *next
	l.save(in)
	return ti, true
}

// configVersion is the version of an app's configuration: instances run it.
func configVersion(app v2.App) string {
	if app.VersionInfo != nil && app.VersionInfo.LastConfigChangeAt != "" {
		return app.VersionInfo.LastConfigChangeAt
	}
	return app.Version
}

// kill sends a kill for in's task (and keeps re-sending it from housekeeping).
func (l *loop) kill(in *instance, now time.Time) {
	if in.TaskID == "" || !in.active() {
		return
	}
	if in.killSentAt.IsZero() {
		in.killFirst = now
	}
	in.killSentAt = now
	in.killedByUs = true
	var policy *mesosv1.KillPolicy
	if app, ok := l.root.Apps[in.AppID]; ok && app.TaskKillGracePeriodSeconds != nil {
		policy = &mesosv1.KillPolicy{GracePeriod: &mesosv1.DurationInfo{Nanoseconds: int64(*app.TaskKillGracePeriodSeconds * float64(time.Second))}}
	}
	taskID := mesosv1.ID{Value: in.TaskID}
	var agentID *mesosv1.ID
	if in.AgentID != "" {
		agentID = &mesosv1.ID{Value: in.AgentID}
	}
	sched := l.sched.Load()
	l.goCall(func(ctx context.Context) {
		if err := sched.Kill(ctx, taskID, agentID, policy); err != nil {
			l.log.Debug("kill", "task_id", taskID.Value, "error", err)
		}
	})
}

// decommission stops an instance for good: kill its task, expunge it once
// the task is gone (at once if it has none).
func (l *loop) decommission(in *instance, now time.Time) {
	if in.Goal != goalDecommissioned {
		in.Goal = goalDecommissioned
		l.save(in)
	}
	if in.active() {
		l.kill(in, now)
		return
	}
	l.expunge(in)
}
