package marathon

import (
	"context"
	"math"
	"net"
	"time"

	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// onUpdate applies a task status update. Updates that carry a uuid are
// acknowledged after the change is persisted (at the next flush).
func (l *loop) onUpdate(st mesosv1.TaskStatus, now time.Time) {
	if len(st.UUID) > 0 {
		l.pendingAcks = append(l.pendingAcks, st)
	}
	in := l.byTask[st.TaskID.Value]
	if in == nil {
		l.onUnknownTask(st, now)
		return
	}
	in.reconcileSent = time.Time{}
	if in.TaskID == st.TaskID.Value {
		in.launching = false // the master knows the task
	}
	if in.TaskID == st.TaskID.Value && final(in.State) && ended(st.State) {
		// Already over (a kill's answer, a repeated reconciliation
		// answer): handling the end twice would back the app off twice.
		return
	}
	if in.TaskID == st.TaskID.Value && final(in.State) && !final(st.State) {
		// A task never comes back from FINISHED, FAILED, KILLED, ERROR,
		// DROPPED or GONE: a later non-final update for it is stale (a
		// resend or an answer overtaken by the terminal one). Applying it
		// would mark a dead task running and stop its replacement.
		l.log.Debug("stale update for an ended task ignored", "task_id", st.TaskID.Value,
			"state", st.State, "ended_as", in.State, "reason", st.Reason)
		if len(st.UUID) > 0 && st.Source != mesosv1.SourceMaster {
			// The agent says the task lives, yet Marathon counted it over
			// (the master answered GONE or DROPPED for it): the instance
			// has moved on, so the task is killed rather than left
			// running uncounted.
			l.killStray(st, now)
		}
		return
	}
	app, hasApp := l.root.Apps[in.AppID]
	prevState, prevHealthy := in.State, in.Healthy
	changed := prevState != st.State
	in.State = st.State
	if st.Healthy != nil && (in.Healthy == nil || *in.Healthy != *st.Healthy) {
		h := *st.Healthy
		in.Healthy = &h
		changed = true
	}
	switch {
	case st.State == mesosv1.TaskRunning:
		if in.StartedAt.IsZero() {
			in.StartedAt = now
		}
		if !in.UnreachableSince.IsZero() || in.Inactive {
			// Back from a partition. If a replacement runs meanwhile, the
			// scale check kills the surplus.
			in.UnreachableSince = time.Time{}
			in.Inactive = false
			changed = true
		}
		if ips := statusIPs(st); len(ips) > 0 {
			in.IPs = ips
		}
		l.startReadiness(in, app, hasApp)
	case st.State == mesosv1.TaskUnreachable:
		if in.UnreachableSince.IsZero() {
			in.UnreachableSince = now
			if st.UnreachableTime != nil {
				in.UnreachableSince = time.Unix(0, st.UnreachableTime.Nanoseconds)
			}
			changed = true
		}
		l.housekeepUnreachable(in, app, hasApp, now)
	case ended(st.State):
		l.stopReadiness(in.TaskID)
		l.onTerminal(in, app, hasApp, st, now)
	}
	l.touch(in.AppID)
	l.changed = true
	if changed && st.State != mesosv1.TaskStarting && l.instances[in.ID] == in {
		l.save(in)
	}
	fields := map[string]any{
		"slaveId": agentOf(st, in), "taskId": st.TaskID.Value, "taskStatus": st.State,
		"message": st.Message, "appId": in.AppID, "host": in.Hostname,
		"ipAddresses": ipAddrs(in), "ports": nonNilInts(in.HostPorts), "version": in.Version,
	}
	if prevState != st.State {
		l.event(EventStatusUpdate, now, fields)
		l.event(EventInstanceChanged, now, map[string]any{
			"instanceId": in.ID, "condition": conditionOf(st.State), "runSpecId": in.AppID,
			"agentId": in.AgentID, "host": in.Hostname, "runSpecVersion": in.Version,
		})
	}
	if in.Healthy != nil && (prevHealthy == nil || *prevHealthy != *in.Healthy) {
		l.event(EventHealthStatusChanged, now, map[string]any{
			"appId": in.AppID, "taskId": in.TaskID, "instanceId": in.ID, "version": in.Version, "alive": *in.Healthy,
		})
		l.event(EventInstanceHealthChanged, now, map[string]any{
			"instanceId": in.ID, "runSpecId": in.AppID, "runSpecVersion": in.Version, "healthy": *in.Healthy,
		})
	}
}

// onTerminal handles the end of an instance's task.
func (l *loop) onTerminal(in *instance, app v2.App, hasApp bool, st mesosv1.TaskStatus, now time.Time) {
	if st.Reason == mesosv1.ReasonTaskHealthCheckStatusUpdated {
		l.event(EventUnhealthyInstanceKill, now, map[string]any{
			"appId": in.AppID, "taskId": in.TaskID, "instanceId": in.ID, "version": in.Version,
			"reason": st.Message, "host": in.Hostname, "slaveId": in.AgentID,
		})
	}
	if in.Goal == goalDecommissioned || in.Inactive || !hasApp {
		l.expunge(in)
		return
	}
	if !in.killedByUs {
		rt := l.runtime(in.AppID)
		rt.lastFailure = &v2.TaskFailure{
			AppID: in.AppID, Host: in.Hostname, Message: st.Message, State: st.State,
			TaskID: in.TaskID, Timestamp: isoTime(now), Version: in.Version, SlaveID: in.AgentID,
		}
		l.backoff(app, now)
	}
	in.Healthy = nil
	in.ready = false
	in.UnreachableSince = time.Time{}
	l.reviveDue = true
}

// backoff grows an app's launch delay after a failure.
func (l *loop) backoff(app v2.App, now time.Time) {
	rt := l.runtime(app.ID)
	base := time.Duration(app.BackoffSeconds * float64(time.Second))
	maxDelay := time.Duration(app.MaxLaunchDelaySeconds * float64(time.Second))
	switch {
	case rt.delay == 0:
		rt.delay = base
	default:
		f := app.BackoffFactor
		if f < 1 || math.IsNaN(f) {
			f = 1
		}
		rt.delay = time.Duration(float64(rt.delay) * f)
	}
	if rt.delay > maxDelay {
		rt.delay = maxDelay
	}
	rt.delayUntil = now.Add(rt.delay)
	l.touch(app.ID)
}

// onUnknownTask handles an update for a task no instance owns: a task
// left over from an expunged instance is killed.
func (l *loop) onUnknownTask(st mesosv1.TaskStatus, now time.Time) {
	if ended(st.State) {
		l.event(EventUnknownInstance, now, map[string]any{
			"instanceId": instanceOfTask(st.TaskID.Value), "runSpecId": "", "condition": conditionOf(st.State),
		})
		return
	}
	switch st.State {
	case mesosv1.TaskStaging, mesosv1.TaskStarting, mesosv1.TaskRunning:
	default:
		// KILLING is already dying; UNREACHABLE is killed if it comes back.
		// (Killing those again only brings the same answer back.)
		return
	}
	l.killStray(st, now)
}

// killStray kills a task that no instance runs (rate-limited per task).
func (l *loop) killStray(st mesosv1.TaskStatus, now time.Time) {
	if last, ok := l.unknownKills[st.TaskID.Value]; ok && now.Sub(last) < l.cfg.KillRetry {
		return
	}
	if len(l.unknownKills) > 10000 {
		clear(l.unknownKills) // bound it; a task still alive is killed again
	}
	l.unknownKills[st.TaskID.Value] = now
	var agentID *mesosv1.ID
	if st.AgentID != nil {
		a := *st.AgentID
		agentID = &a
	}
	taskID := st.TaskID
	sched := l.sched.Load()
	l.log.Info("killing a task no instance runs", "task_id", taskID.Value, "state", st.State)
	l.goCall(func(ctx context.Context) {
		if err := sched.Kill(ctx, taskID, agentID, nil); err != nil {
			l.log.Debug("kill unknown task", "task_id", taskID.Value, "error", err)
		}
	})
}

// housekeeping runs on every tick.
func (l *loop) housekeeping(now time.Time) {
	// Timeouts on instances (unreachable strategy, kill retries, launch
	// timeout) have second granularity: scan the instances once a second,
	// not every tick, so a large idle cluster costs little.
	if now.Sub(l.lastScan) >= instanceScanEvery {
		l.lastScan = now
		l.moveAll = true // and every deployment is looked at once a second
		l.scanInstances(now)
		if l.subscribed {
			l.explicitReconcile(now, func(in *instance) bool {
				return !in.reconcileSent.IsZero() && now.Sub(in.reconcileSent) >= reconcileRetry
			}, false)
		}
	}
	if l.subscribed && (now.Sub(l.lastRecon) >= l.cfg.ReconcileInterval ||
		(len(l.reconcileAt) > 0 && !now.Before(l.reconcileAt[0]))) {
		for len(l.reconcileAt) > 0 && !now.Before(l.reconcileAt[0]) {
			l.reconcileAt = l.reconcileAt[1:]
		}
		l.reconcile(now)
	}
	for appID, rt := range l.apps {
		if !rt.delayUntil.IsZero() && !now.Before(rt.delayUntil) {
			// Backoff elapsed: queue entries change (overdue), offers matter again.
			rt.delayUntil = time.Time{}
			l.touch(appID)
			l.reviveDue = true
		}
	}
	l.changed = true
}

// instanceScanEvery is the period of scanInstances.
const instanceScanEvery = time.Second

// suspectAfter is how long a task may stay STAGING, or unconfirmed after a
// kill, before Marathon asks Mesos about it (a launch or kill lost with a
// restarting agent or a failing-over master leaves no update behind).
const suspectAfter = 30 * time.Second

// scanInstances applies the time-based rules to every instance.
func (l *loop) scanInstances(now time.Time) {
	for _, in := range l.instances {
		if in.reconcileSent.IsZero() && in.active() &&
			((in.State == mesosv1.TaskStaging && now.Sub(in.StagedAt) >= suspectAfter) ||
				(!in.killFirst.IsZero() && now.Sub(in.killFirst) >= suspectAfter)) {
			in.reconcileSent = now.Add(-reconcileRetry) // ask at once
		}
		switch {
		case in.State == mesosv1.TaskUnreachable:
			// Looked up only here: an App is a large value, and copying
			// it for each of 100,000 instances every second was most of
			// the scan.
			app, hasApp := l.root.Apps[in.AppID]
			l.housekeepUnreachable(in, app, hasApp, now)
		case in.active() && !in.killSentAt.IsZero() && now.Sub(in.killSentAt) >= l.cfg.KillRetry:
			l.kill(in, now)
		case in.State == mesosv1.TaskStaging && !in.StagedAt.IsZero() && now.Sub(in.StagedAt) >= l.cfg.TaskLaunchTimeout && in.killSentAt.IsZero():
			l.log.Warn("task did not start in time; killing it", "task_id", in.TaskID)
			l.kill(in, now)
			in.killedByUs = false // a launch timeout is a failure: back off
		}
	}
}

// housekeepUnreachable applies an app's unreachableStrategy to an
// unreachable instance.
func (l *loop) housekeepUnreachable(in *instance, app v2.App, hasApp bool, now time.Time) {
	if !hasApp || in.UnreachableSince.IsZero() {
		return
	}
	us := app.UnreachableStrategy
	if us == nil || us.Disabled {
		return
	}
	gone := now.Sub(in.UnreachableSince)
	if !in.Inactive && gone >= time.Duration(us.InactiveAfterSeconds*float64(time.Second)) {
		in.Inactive = true
		l.log.Info("instance unreachable; replacing it", "instance_id", in.ID, "app_id", in.AppID)
		l.save(in)
	}
	if in.Inactive && gone >= time.Duration(us.ExpungeAfterSeconds*float64(time.Second)) {
		l.log.Info("unreachable instance expunged", "instance_id", in.ID, "app_id", in.AppID)
		l.kill(in, now)
		l.expunge(in)
	}
}

// conditionOf maps a Mesos state onto Marathon's instance condition name.
func conditionOf(state string) string {
	switch state {
	case mesosv1.TaskStaging:
		return "Staging"
	case mesosv1.TaskStarting:
		return "Starting"
	case mesosv1.TaskRunning:
		return "Running"
	case mesosv1.TaskKilling:
		return "Killing"
	case mesosv1.TaskFinished:
		return "Finished"
	case mesosv1.TaskFailed:
		return "Failed"
	case mesosv1.TaskKilled:
		return "Killed"
	case mesosv1.TaskError:
		return "Error"
	case mesosv1.TaskLost:
		return "Lost"
	case mesosv1.TaskDropped:
		return "Dropped"
	case mesosv1.TaskUnreachable:
		return "Unreachable"
	case mesosv1.TaskGone:
		return "Gone"
	case mesosv1.TaskGoneByOperator:
		return "GoneByOperator"
	}
	return "Unknown"
}

func agentOf(st mesosv1.TaskStatus, in *instance) string {
	if st.AgentID != nil {
		return st.AgentID.Value
	}
	return in.AgentID
}

// statusIPs are the container's addresses reported by the agent.
func statusIPs(st mesosv1.TaskStatus) []string {
	if st.ContainerStatus == nil {
		return nil
	}
	var out []string
	for _, ni := range st.ContainerStatus.NetworkInfos {
		for _, ip := range ni.IPAddresses {
			if ip.IPAddress != "" {
				out = append(out, ip.IPAddress)
			}
		}
	}
	return out
}

// ipAddrs renders a task's addresses; with host networking it is the agent's.
func ipAddrs(in *instance) []v2.IPAddr {
	out := []v2.IPAddr{}
	ips := in.IPs
	if len(ips) == 0 && net.ParseIP(in.Hostname) != nil {
		ips = []string{in.Hostname}
	}
	for _, ip := range ips {
		proto := "IPv4"
		if p := net.ParseIP(ip); p != nil && p.To4() == nil {
			proto = "IPv6"
		}
		out = append(out, v2.IPAddr{IPAddress: ip, Protocol: proto})
	}
	return out
}

func nonNilInts(s []int) []int {
	if s == nil {
		return []int{}
	}
	return s
}
