package agent

import (
	"context"
	"time"

	"github.com/basalt-dcos/basalt/internal/agent/health"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// startHealth starts the task's Mesos-native health check, if it has one.
// Each reported change becomes a TASK_RUNNING update with healthy set and
// REASON_TASK_HEALTH_CHECK_STATUS_UPDATED; after the check's consecutive
// failures the task is killed and its TASK_KILLED says healthy=false.
func (a *Agent) startHealth(ctx context.Context, t *task) {
	hc := t.rec.Task.HealthCheck
	if hc == nil || t.cz == nil {
		return
	}
	env, err := a.taskEnv(t)
	if err != nil {
		a.log.Warn("health check not started", "task_id", t.id(), "error", err)
		return
	}
	cb := func(st health.Status) {
		healthy := st.Healthy
		a.queueStatus(t, statusOpts{
			state: mesosv1.TaskRunning, reason: mesosv1.ReasonTaskHealthCheckStatusUpdated,
			healthy: &healthy, message: st.Message, cs: a.containerStatus(t),
		}, nil)
		if st.Kill {
			a.killUnhealthy(t)
		}
	}
	checker, err := health.New(*hc, env, t.rec.Sandbox, cb, a.log)
	if err != nil {
		a.log.Warn("health check not started", "task_id", t.id(), "error", err)
		return
	}
	hctx, cancel := context.WithCancel(ctx)
	a.mu.Lock()
	if t.terminal() {
		a.mu.Unlock()
		cancel()
		return
	}
	t.stopHealth = cancel
	a.mu.Unlock()
	a.goTask(func(context.Context) { _ = checker.Run(hctx) })
}

// killUnhealthy kills a task whose health check failed too often.
func (a *Agent) killUnhealthy(t *task) {
	a.mu.Lock()
	fw := a.frameworks[t.rec.FrameworkID]
	if fw == nil || fw.tasks[t.id()] != t || t.terminal() {
		a.mu.Unlock()
		return
	}
	a.log.Info("killing unhealthy task", "task_id", t.id(), "framework_id", fw.id)
	t.healthKilled = true
	grace := a.cfg.DefaultKillGrace
	if p := t.rec.Task.KillPolicy; p != nil && p.GracePeriod != nil {
		grace = time.Duration(p.GracePeriod.Nanoseconds)
	}
	a.killLocked(fw, t, grace)
}
