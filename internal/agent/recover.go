package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// recover rebuilds the agent from its checkpoints before it registers:
// the agent id, and every task with its pending updates. Containers that
// still run are watched again; those that ended while the agent was down
// get the terminal update their end implies; lost ones fail.
func (a *Agent) recover(ctx context.Context) error {
	id, err := a.ckpt.loadAgentID()
	if err != nil {
		return err
	}
	recs, errs := a.ckpt.loadTasks()
	for _, e := range errs {
		a.log.Error("skipping unreadable task checkpoint", "error", e)
	}
	a.mu.Lock()
	a.agentID = id
	a.counters.recoveryErrors += len(errs)
	a.mu.Unlock()

	// Ask every runtime about its checkpointed containers; each destroys
	// the containers it has that no checkpoint names (orphans).
	byRuntime := map[string][]string{}
	for _, r := range recs {
		if r.Launched {
			byRuntime[r.Containerizer] = append(byRuntime[r.Containerizer], r.ContainerID)
		}
	}
	found := map[string]containerizer.Recovered{}
	for name, cz := range a.conts {
		got, err := cz.Recover(ctx, byRuntime[name])
		if err != nil {
			return fmt.Errorf("recover %s containers: %w", name, err)
		}
		for cid, r := range got {
			found[cid] = r
		}
	}

	type next struct {
		t     *task
		state containerizer.Recovered
	}
	var todo []next
	a.mu.Lock()
	for _, r := range recs {
		fw := a.frameworkFor(r.FrameworkID, r.Framework)
		t := &task{rec: *r, cz: a.conts[r.Containerizer], phase: phaseRunning, version: 1}
		for i := range t.rec.Pending {
			t.rec.Pending[i].durable = true
		}
		if t.rec.KillRequested {
			t.killGrace = a.cfg.DefaultKillGrace
		}
		if fw.tasks[t.id()] != nil {
			a.log.Error("two checkpoints for one task; keeping the first", "task_id", t.id(), "container_id", r.ContainerID)
			continue
		}
		fw.tasks[t.id()] = t
		if t.terminal() {
			t.phase = phaseEnded
			continue
		}
		st, ok := found[r.ContainerID]
		if !ok {
			st = containerizer.Recovered{State: containerizer.Lost}
		}
		todo = append(todo, next{t, st})
	}
	a.mu.Unlock()

	for _, n := range todo {
		t := n.t
		if t.rec.Sandbox != "" {
			a.attachSandbox(t.rec)
		}
		switch {
		case !t.rec.Launched || t.cz == nil:
			a.queueStatus(t, statusOpts{state: mesosv1.TaskFailed, reason: mesosv1.ReasonExecutorTerminated,
				source: mesosv1.SourceAgent, message: "Agent restarted before the task was launched"}, nil)
		case n.state.State == containerizer.Running:
			a.log.Info("recovered running task", "task_id", t.id(), "container_id", t.rec.ContainerID)
			if s := t.latestState(); s != mesosv1.TaskRunning && s != mesosv1.TaskKilling {
				a.queueStatus(t, statusOpts{state: mesosv1.TaskRunning, cs: a.containerStatus(t)}, nil)
			}
			a.mu.Lock() // a kill may arrive as soon as the task is registered
			killRequested, grace := t.rec.KillRequested, t.killGrace
			a.mu.Unlock()
			a.goTask(func(ctx context.Context) {
				if killRequested {
					// The kill was asked of the previous agent: ask again, as
					// its SIGKILL escalation died with it.
					if err := t.cz.Kill(ctx, t.rec.ContainerID, grace); err != nil {
						a.log.Warn("kill recovered container", "task_id", t.id(), "error", err)
					}
				} else {
					a.startHealth(ctx, t)
				}
				a.monitor(ctx, t)
			})
		case n.state.State == containerizer.Exited:
			a.queueStatus(t, terminalStatus(n.state.Termination, t.rec.KillRequested, false), nil)
		default:
			a.queueStatus(t, statusOpts{state: mesosv1.TaskFailed, reason: mesosv1.ReasonExecutorTerminated,
				source: mesosv1.SourceAgent, message: "Container lost during agent restart"}, nil)
		}
	}
	a.sweepSandboxes()
	a.log.Info("recovered", "agent_id", id, "tasks", len(recs))
	return nil
}

// scheduleGC removes a forgotten task's run directory after GCDelay.
func (a *Agent) scheduleGC(rec taskRecord) {
	if rec.Sandbox == "" {
		return
	}
	timer := time.NewTimer(a.cfg.GCDelay)
	defer timer.Stop()
	select {
	case <-a.runCtx.Done():
		return // the next agent's sweep collects it
	case <-timer.C:
	}
	a.detachSandbox(rec)
	if err := os.RemoveAll(rec.Sandbox); err != nil {
		a.log.Warn("remove sandbox", "path", rec.Sandbox, "error", err)
	}
}

// sweepSandboxes removes the run directories of tasks the agent no longer
// owns once they are older than GCDelay, and schedules the younger ones.
func (a *Agent) sweepSandboxes() {
	live := map[string]bool{}
	a.mu.Lock()
	for _, fw := range a.frameworks {
		for _, t := range fw.tasks {
			live[t.rec.Sandbox] = true
		}
	}
	a.mu.Unlock()
	runs, _ := filepath.Glob(filepath.Join(a.cfg.WorkDir, "slaves", "*", "frameworks", "*", "executors", "*", "runs", "*"))
	for _, dir := range runs {
		if live[dir] || filepath.Base(dir) == "latest" {
			continue
		}
		st, err := os.Lstat(dir)
		if err != nil || !st.IsDir() {
			continue
		}
		age := time.Since(st.ModTime())
		if age >= a.cfg.GCDelay {
			if err := os.RemoveAll(dir); err != nil {
				a.log.Warn("remove sandbox", "path", dir, "error", err)
			}
			continue
		}
		a.goTask(func(ctx context.Context) {
			timer := time.NewTimer(a.cfg.GCDelay - age)
			defer timer.Stop()
			select {
			case <-ctx.Done():
			case <-timer.C:
				_ = os.RemoveAll(dir)
			}
		})
	}
}
