// Command sleepfw is an example third-party Mesos framework built only on
// Basalt's public packages (pkg/scheduler, pkg/mesosv1). It launches N copies
// of a shell command across offers, declines what it does not need, prints
// one JSON line per event on stdout (for scripts and e2e tests), relaunches
// failed tasks if asked, reconciles after every (re-)subscription, and tears
// the framework down on SIGINT/SIGTERM or, with --exit-on-finish, when every
// task has finished. The last line is {"event":"exit","ok":bool,"error":...},
// and the exit status is 1 when ok is false. It is an example: it keeps no
// state across restarts.
//
//	go run ./examples/sleepfw --master http://127.0.0.1:5050 --tasks 3 --cmd "sleep 30"
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
	"github.com/basalt-dcos/basalt/pkg/scheduler"
)

type options struct {
	masters, name, user, role, cmd, frameworkID string
	token                                       string
	tasks, maxRetries                           int
	cpus, mem, failoverTimeout, refuseSeconds   float64
	relaunch, exitOnFinish, checkpoint          bool
}

// task is what the framework knows of one of its N tasks (the current attempt).
type task struct {
	index   int
	id      string
	agent   *mesosv1.ID
	state   string // "" = waiting for an offer
	attempt int
}

type framework struct {
	opt   options
	outMu sync.Mutex // emit is also called from run's goroutine
	out   *json.Encoder
	log   *slog.Logger
	tasks []*task
	byID  map[string]*task
	done  chan struct{} // closed when every task is terminal and --exit-on-finish
}

func main() {
	var o options
	flag.StringVar(&o.masters, "master", "http://127.0.0.1:5050", "comma-separated master base URLs")
	flag.StringVar(&o.token, "token", os.Getenv("DCOS_TOKEN"), "auth token sent as \"Authorization: token=...\" (masters with --security strict ask for one; default $DCOS_TOKEN)")
	flag.StringVar(&o.name, "name", "sleepfw", "framework name (also the task id prefix)")
	flag.StringVar(&o.user, "user", "root", "user to run tasks as")
	flag.StringVar(&o.role, "role", "*", "framework role")
	flag.StringVar(&o.frameworkID, "framework-id", "", "resume this framework id")
	flag.StringVar(&o.cmd, "cmd", "sleep 30", "shell command of each task")
	flag.IntVar(&o.tasks, "tasks", 1, "number of tasks")
	flag.Float64Var(&o.cpus, "cpus", 0.1, "cpus per task")
	flag.Float64Var(&o.mem, "mem", 32, "memory (MB) per task")
	flag.Float64Var(&o.failoverTimeout, "failover-timeout", 0, "framework failover_timeout in seconds (0: tasks die with the framework)")
	flag.Float64Var(&o.refuseSeconds, "refuse-seconds", 5, "refuse_seconds for declined offers")
	flag.BoolVar(&o.relaunch, "relaunch-failed", false, "relaunch tasks that end in any state but TASK_FINISHED")
	flag.IntVar(&o.maxRetries, "max-retries", 3, "relaunches per task with --relaunch-failed")
	flag.BoolVar(&o.exitOnFinish, "exit-on-finish", false, "tear down and exit when every task has finished")
	flag.BoolVar(&o.checkpoint, "checkpoint", false, "ask agents to checkpoint the tasks")
	verbose := flag.Bool("v", false, "debug logging")
	flag.Parse()
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, o, log, os.Stdout)
	// The outcome is both the last JSON line and the exit status.
	result := map[string]any{"event": "exit", "time": time.Now().UTC().Format(time.RFC3339Nano), "ok": err == nil}
	if err != nil {
		log.Error("sleepfw failed", "error", err)
		result["error"] = err.Error()
	}
	_ = json.NewEncoder(os.Stdout).Encode(result)
	if err != nil {
		stop()
		os.Exit(1)
	}
}

// run runs the framework until ctx is done (then tears down), or until every
// task is terminal with --exit-on-finish. It writes JSON lines to out.
func run(sigCtx context.Context, o options, log *slog.Logger, out io.Writer) error {
	info := mesosv1.FrameworkInfo{User: o.user, Name: o.name, Role: o.role,
		FailoverTimeout: o.failoverTimeout, Checkpoint: o.checkpoint}
	if o.frameworkID != "" {
		info.ID = &mesosv1.ID{Value: o.frameworkID}
	}
	var header http.Header
	if o.token != "" {
		header = http.Header{"Authorization": {"token=" + o.token}}
	}
	client, err := scheduler.New(scheduler.Config{
		Masters: strings.Split(o.masters, ","), Framework: info, Logger: log, Header: header})
	if err != nil {
		return err
	}
	fw := &framework{opt: o, out: json.NewEncoder(out), log: log,
		byID: map[string]*task{}, done: make(chan struct{})}
	for i := range o.tasks {
		fw.tasks = append(fw.tasks, &task{index: i, id: fmt.Sprintf("%s-%d-0", o.name, i)})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- client.Run(ctx, fw.handle) }()

	select {
	case err := <-runErr:
		return err
	case <-sigCtx.Done():
		fw.emit("signal", nil)
	case <-fw.done:
	}
	tctx, tcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer tcancel()
	if err := client.Teardown(tctx); err != nil {
		log.Warn("teardown failed", "error", err)
		cancel()
	}
	fw.emit("teardown", nil)
	if err := <-runErr; err != nil {
		return err
	}
	if fw.failed() > 0 {
		return fmt.Errorf("%d tasks did not finish", fw.failed())
	}
	return nil
}

// emit prints one JSON line: {"event": ..., "time": ..., fields...}.
func (fw *framework) emit(event string, fields map[string]any) {
	line := map[string]any{"event": event, "time": time.Now().UTC().Format(time.RFC3339Nano)}
	for k, v := range fields {
		line[k] = v
	}
	fw.outMu.Lock()
	defer fw.outMu.Unlock()
	_ = fw.out.Encode(line)
}

func (fw *framework) handle(ctx context.Context, c *scheduler.Client, ev mesosv1.Event) error {
	switch ev.Type {
	case mesosv1.EventSubscribed:
		fw.emit("subscribed", map[string]any{"framework_id": c.FrameworkID()})
		// After a (re-)subscription, ask about live tasks by name (an unknown one
		// comes back TASK_LOST/UNKNOWN) and about everything else implicitly.
		var known []mesosv1.ReconcileTask
		for _, t := range fw.tasks {
			if t.state != "" && !mesosv1.IsTerminalState(t.state) {
				known = append(known, mesosv1.ReconcileTask{TaskID: mesosv1.ID{Value: t.id}, AgentID: t.agent})
			}
		}
		if len(known) > 0 {
			if err := c.Reconcile(ctx, known); err != nil {
				fw.log.Warn("explicit reconcile failed", "error", err)
			}
		}
		if err := c.Reconcile(ctx, nil); err != nil {
			fw.log.Warn("implicit reconcile failed", "error", err)
		}
		if fw.pending() > 0 {
			return c.Revive(ctx)
		}
	case mesosv1.EventOffers:
		for _, o := range ev.Offers.Offers {
			fw.useOffer(ctx, c, o)
		}
		if fw.pending() == 0 {
			if err := c.Suppress(ctx); err != nil {
				fw.log.Warn("suppress failed", "error", err)
			}
		}
	case mesosv1.EventUpdate:
		fw.update(ctx, c, ev.Update.Status)
	case mesosv1.EventFailure, mesosv1.EventError:
		b, _ := json.Marshal(ev)
		fw.emit(strings.ToLower(ev.Type), map[string]any{"detail": json.RawMessage(b)})
	}
	return nil
}

// useOffer launches as many waiting tasks as fit in o, or declines it.
func (fw *framework) useOffer(ctx context.Context, c *scheduler.Client, o mesosv1.Offer) {
	avail := append([]mesosv1.Resource(nil), o.Resources...)
	var infos []mesosv1.TaskInfo
	for _, t := range fw.tasks {
		if t.state != "" {
			continue
		}
		cpus, ok1 := take(avail, mesosv1.ResCPUs, fw.opt.cpus)
		mem, ok2 := take(avail, mesosv1.ResMem, fw.opt.mem)
		if !ok1 || !ok2 {
			break
		}
		avail = subtract(avail, cpus, mem)
		t.state, t.agent = mesosv1.TaskStaging, &mesosv1.ID{Value: o.AgentID.Value}
		fw.byID[t.id] = t
		infos = append(infos, mesosv1.TaskInfo{Name: t.id, TaskID: mesosv1.ID{Value: t.id}, AgentID: o.AgentID,
			Resources: []mesosv1.Resource{cpus, mem}, Command: &mesosv1.CommandInfo{Value: fw.opt.cmd}})
		fw.emit("launch", map[string]any{"task_id": t.id, "agent_id": o.AgentID.Value, "hostname": o.Hostname})
	}
	filters := scheduler.Refuse(fw.opt.refuseSeconds)
	var err error
	if len(infos) == 0 {
		err = c.Decline(ctx, []mesosv1.ID{o.ID}, filters)
	} else {
		err = c.Accept(ctx, []mesosv1.ID{o.ID}, []mesosv1.Operation{scheduler.LaunchOp(infos...)}, filters)
	}
	if err != nil {
		// A lost ACCEPT shows up as TASK_LOST on reconciliation; nothing to undo here.
		fw.log.Warn("answering offer failed", "offer_id", o.ID.Value, "error", err)
	}
}

// take returns amount of the scalar resource name from the first entry of
// avail that has enough, keeping its role, reservations and allocation info.
func take(avail []mesosv1.Resource, name string, amount float64) (mesosv1.Resource, bool) {
	for _, r := range avail {
		if r.Name == name && r.Scalar != nil && r.Scalar.Value+1e-9 >= amount {
			r.Scalar = &mesosv1.ValueScalar{Value: amount}
			return r, true
		}
	}
	return mesosv1.Resource{}, false
}

func subtract(avail []mesosv1.Resource, used ...mesosv1.Resource) []mesosv1.Resource {
	return mesosv1.Resources(avail).Minus(mesosv1.Resources(used))
}

func (fw *framework) update(ctx context.Context, c *scheduler.Client, s mesosv1.TaskStatus) {
	fw.emit("status", map[string]any{"task_id": s.TaskID.Value, "state": s.State, "reason": s.Reason,
		"message": s.Message, "source": s.Source, "agent_id": idValue(s.AgentID)})
	t := fw.byID[s.TaskID.Value]
	if t == nil || mesosv1.IsTerminalState(t.state) {
		return // not ours, or a duplicate after the end
	}
	t.state = s.State
	if s.AgentID != nil {
		t.agent = s.AgentID
	}
	if s.State != mesosv1.TaskFinished && mesosv1.IsTerminalState(s.State) && fw.opt.relaunch && t.attempt < fw.opt.maxRetries {
		delete(fw.byID, t.id)
		t.attempt++
		t.id, t.state, t.agent = fmt.Sprintf("%s-%d-%d", fw.opt.name, t.index, t.attempt), "", nil
		fw.emit("relaunch", map[string]any{"task_id": t.id})
		if err := c.Revive(ctx); err != nil {
			fw.log.Warn("revive failed", "error", err)
		}
	}
	if fw.opt.exitOnFinish && fw.terminal() == len(fw.tasks) {
		select {
		case <-fw.done:
		default:
			fw.emit("finished", map[string]any{"tasks": len(fw.tasks), "failed": fw.failed()})
			close(fw.done)
		}
	}
}

func (fw *framework) count(pred func(*task) bool) int {
	n := 0
	for _, t := range fw.tasks {
		if pred(t) {
			n++
		}
	}
	return n
}

func (fw *framework) pending() int { return fw.count(func(t *task) bool { return t.state == "" }) }
func (fw *framework) terminal() int {
	return fw.count(func(t *task) bool { return mesosv1.IsTerminalState(t.state) })
}
func (fw *framework) failed() int {
	return fw.count(func(t *task) bool { return mesosv1.IsTerminalState(t.state) && t.state != mesosv1.TaskFinished })
}

func idValue(id *mesosv1.ID) string {
	if id == nil {
		return ""
	}
	return id.Value
}
