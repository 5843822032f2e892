package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/basalt-dcos/basalt/internal/agentapi"
	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/internal/containerizer/docker"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// dockerRuntime is the name of the docker containerizer.
const dockerRuntime = "docker"

// launch starts the tasks of a LAUNCH event.
func (a *Agent) launch(l *agentapi.Launch) {
	fid := ""
	if l.Framework.ID != nil {
		fid = l.Framework.ID.Value
	}
	if fid == "" {
		a.log.Warn("LAUNCH without a framework id; dropped", "tasks", len(l.Tasks))
		return
	}
	a.startTasks(fid, l.Framework, l.Tasks, "")
}

// launchGroup answers LAUNCH_GROUP: the default executor's task groups are
// not implemented yet, so every task of the group fails with a clear reason.
func (a *Agent) launchGroup(l *agentapi.LaunchGroup) {
	fid := ""
	if l.Framework.ID != nil {
		fid = l.Framework.ID.Value
	}
	if fid == "" {
		return
	}
	a.startTasks(fid, l.Framework, l.TaskGroup.Tasks,
		"Task groups (LAUNCH_GROUP, pods) are not supported by this agent yet")
}

// startTasks records, checkpoints (one batch) and starts tasks. A non-empty
// refuse fails every task with that message instead of running it.
func (a *Agent) startTasks(fid string, info mesosv1.FrameworkInfo, infos []mesosv1.TaskInfo, refuse string) {
	var ws []write
	var started []*task
	a.mu.Lock()
	fw := a.frameworkFor(fid, info)
	for _, ti := range infos {
		id := ti.TaskID.Value
		if id == "" || fw.tasks[id] != nil {
			// The master keeps task ids unique per framework; a duplicate
			// must not disturb the task that already runs.
			a.log.Warn("LAUNCH of a duplicate or empty task id ignored", "framework_id", fid, "task_id", id)
			continue
		}
		t := a.newTaskLocked(fw, ti)
		if refuse != "" {
			t.cz, t.rec.Containerizer = nil, refuse
		}
		fw.tasks[id] = t
		if t.cz != nil && len(commandOfURIs(ti)) > 0 {
			// Fetching may take long: a restart meanwhile must find the
			// task and fail it. Any other task is checkpointed first with
			// its STARTING (or failure) update, a moment from now; an agent
			// restarted before that does not report it, and the master
			// tells the framework it is lost.
			ws = append(ws, t.taskWrite())
		}
		started = append(started, t)
	}
	if len(fw.tasks) == 0 {
		delete(a.frameworks, fid)
	}
	a.mu.Unlock()
	if len(ws) > 0 {
		if err := a.ckpt.commit(ws...); err != nil {
			a.log.Error("checkpoint launched tasks", "framework_id", fid, "error", err)
		}
	}
	for _, t := range started {
		a.goTask(func(ctx context.Context) { a.runTask(ctx, t) })
	}
}

// newTaskLocked builds a task for ti. When no runtime can run it,
// rec.Containerizer holds the reason and cz is nil. Call with mu held.
func (a *Agent) newTaskLocked(fw *framework, ti mesosv1.TaskInfo) *task {
	cid := uuid.NewString()
	eid := ti.TaskID.Value
	if ti.Executor != nil && ti.Executor.ExecutorID.Value != "" {
		eid = ti.Executor.ExecutorID.Value
	}
	t := &task{rec: taskRecord{
		Framework:   fw.info,
		FrameworkID: fw.id,
		Task:        ti,
		ExecutorID:  eid,
		ContainerID: cid,
		Sandbox:     a.sandboxDir(a.agentID, fw.id, eid, cid),
	}}
	name, cz, err := a.chooseRuntime(ti)
	if err != nil {
		t.rec.Containerizer = err.Error()
	} else {
		t.rec.Containerizer, t.cz = name, cz
	}
	return t
}

// sandboxDir is <work_dir>/slaves/<agent>/frameworks/<fw>/executors/<eid>/runs/<cid>.
func (a *Agent) sandboxDir(agentID, fid, eid, cid string) string {
	return filepath.Join(a.cfg.WorkDir, "slaves", agentID, "frameworks", fid, "executors", eid, "runs", cid)
}

// chooseRuntime picks the containerizer for a task from its ContainerInfo.
func (a *Agent) chooseRuntime(ti mesosv1.TaskInfo) (string, containerizer.Containerizer, error) {
	ci := ti.Container
	if ci == nil && ti.Executor != nil {
		ci = ti.Executor.Container
	}
	kind := "MESOS"
	if ci != nil && ci.Type != "" {
		kind = ci.Type
	}
	switch kind {
	case "MESOS":
		if ci != nil && ci.Mesos != nil && ci.Mesos.Image != nil && a.defaultRuntime == "posix" {
			return "", nil, errors.New("container images need the mesos containerizer; this agent runs MESOS tasks with posix, which cannot run images")
		}
		return a.defaultRuntime, a.conts[a.defaultRuntime], nil
	case "DOCKER":
		if cz, ok := a.conts[dockerRuntime]; ok {
			return dockerRuntime, cz, nil
		}
		return "", nil, fmt.Errorf("DOCKER containers need the docker containerizer, which is not enabled on this agent (enabled: %s)",
			strings.Join(a.runtimeNames(), ","))
	default:
		return "", nil, fmt.Errorf("unsupported container type %q", kind)
	}
}

func (a *Agent) runtimeNames() []string {
	names := make([]string, 0, len(a.conts))
	for n := range a.conts {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// runTask drives one task from launch to its end.
func (a *Agent) runTask(ctx context.Context, t *task) {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.mu.Lock()
	t.cancelLaunch = cancel
	a.mu.Unlock()

	fail := func(reason, msg string) {
		a.mu.Lock()
		killed := t.rec.KillRequested
		a.counters.launchErrors++
		a.mu.Unlock()
		if killed {
			a.queueStatus(t, statusOpts{state: mesosv1.TaskKilled, reason: mesosv1.ReasonTaskKilledDuringLaunch,
				source: mesosv1.SourceAgent, message: "Task killed during launch"}, nil)
			return
		}
		a.queueStatus(t, statusOpts{state: mesosv1.TaskFailed, reason: reason, source: mesosv1.SourceAgent, message: msg}, nil)
	}
	if t.cz == nil {
		fail(mesosv1.ReasonContainerLaunchFailed, t.rec.Containerizer)
		return
	}
	if _, err := taskUser(t.rec); err != nil {
		fail(mesosv1.ReasonContainerLaunchFailed, err.Error())
		return
	}
	env, err := a.taskEnv(t)
	if err != nil {
		fail(mesosv1.ReasonContainerLaunchFailed, err.Error())
		return
	}
	if err := a.prepareSandbox(t); err != nil {
		fail(mesosv1.ReasonContainerLaunchFailed, "Failed to create sandbox: "+err.Error())
		return
	}
	if cmd := commandOf(t.rec.Task); cmd != nil && len(cmd.URIs) > 0 {
		// The task's disk bounds what its fetch may write.
		budget := int64(mesosv1.Resources(t.rec.Task.Resources).ScalarSum(mesosv1.ResDisk) * mib)
		f := fetcher{client: a.http, cache: a.fetchCache}
		if err := f.fetchAll(lctx, cmd.URIs, t.rec.Sandbox, budget); err != nil {
			if ctx.Err() != nil {
				return // the agent stops; recovery reports the task
			}
			fail(mesosv1.ReasonContainerLaunchFailed, "Failed to fetch URIs: "+err.Error())
			return
		}
	}
	user, _ := taskUser(t.rec) // checked above
	if err := chownSandbox(t.rec.Sandbox, user); err != nil {
		fail(mesosv1.ReasonContainerLaunchFailed, "Failed to chown sandbox: "+err.Error())
		return
	}
	a.mu.Lock()
	killed := t.rec.KillRequested
	a.mu.Unlock()
	if killed || lctx.Err() != nil {
		if ctx.Err() == nil {
			fail("", "")
		}
		return
	}
	// STARTING and the fact that a container now exists are one checkpoint:
	// a restarted agent must look for the container. It is written while
	// the container starts, and STARTING is sent once it is on disk. An
	// agent that dies before then finds no launched task for the container
	// and destroys it as an orphan, as if it had died just before the launch.
	commitStarting, ok := a.stageStatus(t, statusOpts{state: mesosv1.TaskStarting}, func() { t.rec.Launched = true })
	if !ok {
		return
	}
	committed := make(chan struct{})
	go func() {
		defer close(committed)
		commitStarting()
	}()
	spec := a.launchSpec(t, env)
	err = t.cz.Launch(lctx, spec)
	<-committed
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		a.mu.Lock()
		killed := t.rec.KillRequested
		a.mu.Unlock()
		if killed {
			_ = t.cz.Kill(ctx, t.rec.ContainerID, 0)
		}
		fail(mesosv1.ReasonContainerLaunchFailed, "Failed to launch container: "+err.Error())
		return
	}
	a.mu.Lock()
	t.phase = phaseRunning
	killed = t.rec.KillRequested
	a.mu.Unlock()
	if killed {
		_ = t.cz.Kill(ctx, t.rec.ContainerID, 0)
		if _, err := t.cz.Wait(ctx, t.rec.ContainerID); err != nil && ctx.Err() != nil {
			return
		}
		fail("", "")
		return
	}
	a.queueStatus(t, statusOpts{state: mesosv1.TaskRunning, cs: a.containerStatus(t)}, nil)
	a.startHealth(ctx, t)
	a.monitor(ctx, t)
}

// monitor waits for a running task's container to end and reports how.
func (a *Agent) monitor(ctx context.Context, t *task) {
	term, err := t.cz.Wait(ctx, t.rec.ContainerID)
	if ctx.Err() != nil {
		return // the agent stops; the task keeps running
	}
	a.mu.Lock()
	stop := t.stopHealth
	t.stopHealth = nil
	killReq, healthKilled := t.rec.KillRequested, t.healthKilled
	a.mu.Unlock()
	if stop != nil {
		stop()
	}
	if err != nil {
		a.queueStatus(t, statusOpts{state: mesosv1.TaskFailed, reason: mesosv1.ReasonExecutorTerminated,
			source: mesosv1.SourceAgent, message: "Failed to wait for container: " + err.Error()}, nil)
		return
	}
	a.queueStatus(t, terminalStatus(term, killReq, healthKilled), nil)
}

// terminalStatus turns how a container ended into the task's last update.
func terminalStatus(term containerizer.Termination, killRequested, healthKilled bool) statusOpts {
	msg := term.Message
	switch {
	case killRequested || term.Killed:
		o := statusOpts{state: mesosv1.TaskKilled, message: msg, reason: term.Reason}
		if healthKilled {
			f := false
			o.healthy = &f
			o.reason = mesosv1.ReasonTaskHealthCheckStatusUpdated
		}
		return o
	case term.Success():
		if msg == "" {
			msg = "Command exited with status 0"
		}
		return statusOpts{state: mesosv1.TaskFinished, message: msg}
	default:
		if msg == "" {
			if term.Signal != 0 {
				msg = fmt.Sprintf("Command terminated with signal %d", term.Signal)
			} else {
				msg = fmt.Sprintf("Command exited with status %d", term.ExitCode)
			}
		}
		return statusOpts{state: mesosv1.TaskFailed, message: msg, reason: term.Reason}
	}
}

// containerStatus is the container_status of RUNNING: host networking, so
// the task's address is the agent's.
func (a *Agent) containerStatus(t *task) *mesosv1.ContainerStatus {
	proto := "IPv4"
	if ip := net.ParseIP(a.ip); ip != nil && ip.To4() == nil {
		proto = "IPv6"
	}
	return &mesosv1.ContainerStatus{
		ContainerID: &mesosv1.ID{Value: t.rec.ContainerID},
		NetworkInfos: []mesosv1.NetworkInfo{{
			IPAddresses: []mesosv1.IPAddress{{Protocol: proto, IPAddress: a.ip}},
		}},
	}
}

// commandOfURIs are the URIs a task's command fetches.
func commandOfURIs(ti mesosv1.TaskInfo) []mesosv1.CommandURI {
	if cmd := commandOf(ti); cmd != nil {
		return cmd.URIs
	}
	return nil
}

// commandOf is the command a task runs (its own or its executor's).
func commandOf(ti mesosv1.TaskInfo) *mesosv1.CommandInfo {
	if ti.Command != nil {
		return ti.Command
	}
	if ti.Executor != nil {
		return ti.Executor.Command
	}
	return nil
}

// prepareSandbox creates the sandbox, points runs/latest at it and exposes
// it through /files.
func (a *Agent) prepareSandbox(t *task) error {
	if err := os.MkdirAll(t.rec.Sandbox, 0o755); err != nil {
		return err
	}
	if err := relink(filepath.Join(filepath.Dir(t.rec.Sandbox), "latest"), t.rec.ContainerID); err != nil {
		return err
	}
	a.attachSandbox(t.rec)
	return nil
}

// taskUser is the user a task runs as: CommandInfo.user, else the
// framework's user. An agent running as root switches to that user and
// fails the task when the user does not exist here (as Mesos does with
// --switch_user): running it as root instead would hand a task more
// privilege than its framework asked for. An agent that is not root cannot
// switch users and runs every task as itself ("").
//
// A task of the docker runtime is not switched on the host: its
// CommandInfo.user names a user of its image, which the Docker runtime
// passes to the Engine (the framework's user does not apply there).
func taskUser(rec taskRecord) (string, error) {
	if rec.Containerizer == docker.Name {
		return "", nil
	}
	user := rec.Framework.User
	if cmd := commandOf(rec.Task); cmd != nil && cmd.User != "" {
		user = cmd.User
	}
	if user == "" || os.Geteuid() != 0 {
		return "", nil
	}
	if !canSwitchTo(user) {
		return "", fmt.Errorf("failed to switch to user %q: no such user on this agent", user)
	}
	return user, nil
}

// launchSpec builds what the containerizer needs.
func (a *Agent) launchSpec(t *task, env []string) containerizer.LaunchSpec {
	user, _ := taskUser(t.rec) // checked before the launch
	res := mesosv1.Resources(t.rec.Task.Resources)
	if t.rec.Task.Executor != nil {
		res = res.Plus(t.rec.Task.Executor.Resources)
	}
	return containerizer.LaunchSpec{
		ContainerID: t.rec.ContainerID,
		FrameworkID: t.rec.FrameworkID,
		ExecutorID:  t.rec.ExecutorID,
		AgentID:     a.ID(),
		Task:        t.rec.Task,
		User:        user,
		Sandbox:     t.rec.Sandbox,
		Env:         env,
		CPUs:        res.ScalarSum(mesosv1.ResCPUs),
		MemMB:       res.ScalarSum(mesosv1.ResMem),
		DiskMB:      res.ScalarSum(mesosv1.ResDisk),
	}
}

// kill handles KILL from the master.
func (a *Agent) kill(k *agentapi.Kill) {
	a.mu.Lock()
	fw := a.frameworks[k.FrameworkID]
	var t *task
	if fw != nil {
		t = fw.tasks[k.TaskID]
	}
	if t == nil || t.terminal() {
		a.mu.Unlock()
		a.log.Info("KILL for a task this agent does not run", "framework_id", k.FrameworkID, "task_id", k.TaskID)
		return
	}
	grace := a.cfg.DefaultKillGrace
	if p := t.rec.Task.KillPolicy; p != nil && p.GracePeriod != nil {
		grace = time.Duration(p.GracePeriod.Nanoseconds)
	}
	if k.KillPolicy != nil && k.KillPolicy.GracePeriod != nil {
		grace = time.Duration(k.KillPolicy.GracePeriod.Nanoseconds)
	}
	a.killLocked(fw, t, grace)
}

// killLocked kills t with grace and releases mu.
func (a *Agent) killLocked(fw *framework, t *task, grace time.Duration) {
	t.rec.KillRequested = true
	t.killGrace = grace
	if t.phase == phaseLaunching {
		cancel := t.cancelLaunch
		w := t.taskWrite()
		a.mu.Unlock()
		if err := a.ckpt.commit(w); err != nil {
			a.log.Error("checkpoint kill", "task_id", t.id(), "error", err)
		}
		if cancel != nil {
			cancel()
		}
		return
	}
	sendKilling := !t.killingSent && !fw.shutdown && fw.info.HasCapability(mesosv1.CapTaskKillingState)
	t.killingSent = true
	a.mu.Unlock()
	if sendKilling {
		a.queueStatus(t, statusOpts{state: mesosv1.TaskKilling}, nil)
	} else {
		a.mu.Lock()
		w := t.taskWrite()
		a.mu.Unlock()
		if err := a.ckpt.commit(w); err != nil {
			a.log.Error("checkpoint kill", "task_id", t.id(), "error", err)
		}
	}
	if err := t.cz.Kill(a.runCtx, t.rec.ContainerID, grace); err != nil {
		a.log.Warn("kill container", "task_id", t.id(), "container_id", t.rec.ContainerID, "error", err)
	}
}

// shutdownFramework kills every task of a framework and forgets it; the
// framework is gone, so nothing is reported for its tasks any more.
func (a *Agent) shutdownFramework(fid string) {
	a.mu.Lock()
	fw := a.frameworks[fid]
	if fw == nil {
		a.mu.Unlock()
		return
	}
	fw.shutdown = true
	var kill []*task
	for _, t := range fw.tasks {
		t.rec.Pending = nil
		if t.terminal() {
			a.forgetLocked(t)
			continue
		}
		kill = append(kill, t)
	}
	a.mu.Unlock()
	a.log.Info("shutting down framework", "framework_id", fid, "tasks", len(kill))
	for _, t := range kill {
		a.mu.Lock()
		if t.terminal() {
			a.mu.Unlock()
			continue
		}
		a.killLocked(fw, t, a.cfg.ExecutorShutdownGrace)
	}
}

// shutdownAgent handles SHUTDOWN: the master removed this agent. Every
// task is killed and forgotten, and the agent id is dropped so that the
// agent registers anew.
func (a *Agent) shutdownAgent(ctx context.Context, msg string) {
	a.log.Warn("master removed this agent; killing all tasks and registering anew", "message", msg)
	a.mu.Lock()
	var all []*task
	for _, fw := range a.frameworks {
		for _, t := range fw.tasks {
			t.abandoned = true
			all = append(all, t)
		}
	}
	a.frameworks = map[string]*framework{}
	a.agentID = ""
	a.mu.Unlock()

	var wg sync.WaitGroup
	for _, t := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.mu.Lock()
			cancel := t.cancelLaunch
			a.mu.Unlock()
			if cancel != nil {
				cancel()
			}
			if t.cz != nil && t.rec.Launched {
				_ = t.cz.Kill(ctx, t.rec.ContainerID, a.cfg.ExecutorShutdownGrace)
				wctx, wcancel := context.WithTimeout(ctx, a.cfg.ExecutorShutdownGrace+10*time.Second)
				_, _ = t.cz.Wait(wctx, t.rec.ContainerID)
				wcancel()
				_ = t.cz.Destroy(context.WithoutCancel(ctx), t.rec.ContainerID)
			}
			a.mu.Lock()
			t.version++
			w := write{name: taskFile(t.rec.ContainerID), version: t.version}
			a.mu.Unlock()
			_ = a.ckpt.commit(w)
			a.detachSandbox(t.rec)
		}()
	}
	wg.Wait()
	if err := a.ckpt.commit(write{name: agentFile}); err != nil {
		a.log.Error("remove agent id checkpoint", "error", err)
	}
}
