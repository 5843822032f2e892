package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"time"

	"github.com/basalt-dcos/basalt/bench/internal/benchkit"
	"github.com/basalt-dcos/basalt/internal/proccluster"
	"github.com/basalt-dcos/basalt/pkg/marathon"
)

// pollEvery is how often the recovery scenarios look at the cluster.
const pollEvery = 100 * time.Millisecond

// failoverTrial: every task running, kill -9 the master leading the Mesos
// kernel and time the recovery.
func failoverTrial(ctx context.Context, o options, t target, col *collector) error {
	want := o.apps * o.instances
	scale := fmt.Sprintf("%d masters, %d agents, %d tasks", len(t.c.Masters), o.agents, want)
	sim, mar, stopSim, err := launchAll(ctx, o, t, fleetResources, nil)
	if err != nil {
		return err
	}
	defer stopSim()
	before, err := marathonTasks(ctx, mar)
	if err != nil {
		return err
	}
	old, err := t.c.Leader(ctx)
	if err != nil {
		return err
	}
	marLeader, err := marathonLeader(ctx, mar)
	if err != nil {
		return err
	}
	sameProcess := hostIP(marLeader) == old.IP
	var alive *proccluster.Proc // a surviving master, whose Marathon proxies to the leader
	for _, m := range t.c.Masters {
		if m != old {
			alive = m
			break
		}
	}
	mar = benchkit.NewClient(alive.MarathonURL, transport())
	st0 := sim.Stats()
	if old.PID() != t.pid || st0.Subscribes != int64(o.agents) {
		// The cluster was not quiet before the kill: note it with the figures.
		fmt.Fprintf(os.Stderr, "  before the kill: %d SUBSCRIBEs for %d agents, kernel leader %s (pid %d; pid %d led at start)\n",
			st0.Subscribes, o.agents, old.Name, old.PID(), t.pid)
	}
	fmt.Fprintf(os.Stderr, "  kill -9 %s (pid %d), the kernel leader; Marathon's leader %s is %s\n",
		old.Name, old.PID(), marLeader, map[bool]string{true: "the same process", false: "another master"}[sameProcess])

	t0 := time.Now()
	if err := old.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill -9 %s: %w", old.Name, err)
	}
	var (
		newLeader                                    *proccluster.Proc
		leaderAt, agentsAt, marLeaderAt, frameworkAt time.Duration
		reconciledAt, recoveredAt                    time.Duration
		metrics                                      map[string]float64
	)
	if !sameProcess {
		marLeaderAt = -1 // not measured: Marathon kept its leader
	}
	since := func() time.Duration { return time.Since(t0) }
	deadline := t0.Add(o.recoverTimeout)
	lastPrint := time.Now()
	for recoveredAt == 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("not recovered %s after the kill: new leader %v at %s, agents back %s, Marathon leader %s, framework back %s, reconciled %s; simulator %+v",
				o.recoverTimeout, newLeader != nil, leaderAt, agentsAt, marLeaderAt, frameworkAt, reconciledAt, sim.Stats())
		}
		if newLeader == nil {
			lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			l, err := t.c.Leader(lctx)
			cancel()
			if err == nil && l != old {
				newLeader, leaderAt = l, since()
				fmt.Fprintf(os.Stderr, "  %s: %s leads the kernel\n", leaderAt.Round(time.Millisecond), l.Name)
			}
		}
		if newLeader != nil && agentsAt == 0 {
			if n, last := sim.SubscribedSince(t0, newLeader.URL); n == o.agents {
				agentsAt = last.Sub(t0)
				fmt.Fprintf(os.Stderr, "  %s: all %d agents re-registered with %s\n", agentsAt.Round(time.Millisecond), n, newLeader.Name)
			}
		}
		if marLeaderAt == 0 {
			if l, err := marathonLeader(ctx, mar); err == nil && hostIP(l) != old.IP {
				marLeaderAt = since()
				fmt.Fprintf(os.Stderr, "  %s: Marathon leader %s\n", marLeaderAt.Round(time.Millisecond), l)
			}
		}
		if newLeader != nil {
			if m, err := masterMetrics(ctx, t.c, newLeader); err == nil {
				metrics = m
				if frameworkAt == 0 && m["master/frameworks_connected"] >= 1 {
					frameworkAt = since()
					fmt.Fprintf(os.Stderr, "  %s: Marathon subscribed with %s\n", frameworkAt.Round(time.Millisecond), newLeader.Name)
				}
			}
		}
		if frameworkAt > 0 && marLeaderAt != 0 && reconciledAt == 0 {
			if ok, err := marathonSettled(ctx, mar, want); err == nil && ok {
				reconciledAt = since()
				fmt.Fprintf(os.Stderr, "  %s: Marathon counts all %d running, no deployment\n", reconciledAt.Round(time.Millisecond), want)
			}
		}
		if reconciledAt > 0 && agentsAt > 0 && metrics["master/tasks_running"] == float64(want) {
			recoveredAt = since()
			break
		}
		if time.Since(lastPrint) > 10*time.Second {
			fmt.Fprintf(os.Stderr, "  %s: waiting (master metrics: %.0f agents connected, %.0f tasks running)\n",
				since().Round(time.Second), metrics["master/slaves_connected"], metrics["master/tasks_running"])
			lastPrint = time.Now()
		}
		time.Sleep(pollEvery)
	}
	fmt.Fprintf(os.Stderr, "  recovered %s after the kill; watching for kills for %s\n", recoveredAt.Round(time.Millisecond), o.observe)
	time.Sleep(o.observe)
	after, err := marathonTasks(ctx, mar)
	if err != nil {
		return err
	}
	st1 := sim.Stats()
	kills := st1.Kills - st0.Kills
	lost := 0
	for id := range before {
		if _, ok := after[id]; !ok {
			lost++
		}
	}
	fmt.Fprintf(os.Stderr, "  %d KILLs received, %d of %d tasks no longer running, %d terminal updates; simulator %+v\n",
		kills, lost, len(before), st1.Terminal-st0.Terminal, st1)

	within := func(r benchkit.Result) bool { return r.Max <= 10_000 }
	zero := func(r benchkit.Result) bool { return r.Max == 0 }
	col.add("failover", fmt.Sprintf("Marathon's leader was in the killed process (1 yes, 0 no) (%s)", scale), "", b2f(sameProcess), "", nil)
	col.add("failover", fmt.Sprintf("kill -9 of the kernel leader → a new kernel leader (%s)", scale), "ms", benchkit.MS(leaderAt), "", nil)
	col.add("failover", fmt.Sprintf("kill → every agent re-registered with the new leader (%s)", scale), "ms", benchkit.MS(agentsAt), "", nil)
	newMarathon := fmt.Sprintf("kill → a new Marathon leader, in the trials that killed it (%s)", scale)
	col.declare("failover", newMarathon, "ms", "", nil)
	if sameProcess {
		col.add("failover", newMarathon, "ms", benchkit.MS(marLeaderAt), "", nil)
	}
	col.add("failover", fmt.Sprintf("kill → Marathon subscribed with the new kernel leader (%s)", scale), "ms", benchkit.MS(frameworkAt), "", nil)
	col.add("failover", fmt.Sprintf("kill → Marathon counts every task running, no deployment (%s)", scale), "ms", benchkit.MS(reconciledAt), "", nil)
	col.add("failover", fmt.Sprintf("kill → recovered: all of the above, the new master counts every task running (%s)", scale), "ms", benchkit.MS(recoveredAt), "≤ 10 s", within)
	col.add("failover", fmt.Sprintf("tasks killed: KILLs at the agents, kill → %s after recovery (%s)", o.observe, scale), "tasks", float64(kills), "0", zero)
	col.add("failover", fmt.Sprintf("tasks lost: running before, not running %s after recovery (%s)", o.observe, scale), "tasks", float64(lost), "0", zero)
	if kills != 0 || lost != 0 {
		return fmt.Errorf("failover killed %d and lost %d tasks", kills, lost)
	}
	return nil
}

// agentLossTrial: apps with unreachableStrategy {0,0} running, -lose
// agents vanish; time the master's detection and Marathon's replacement.
func agentLossTrial(ctx context.Context, o options, t target, col *collector) error {
	want := o.apps * o.instances
	scale := fmt.Sprintf("%d agents, %d tasks", o.agents, want)
	strategy := map[string]any{"unreachableStrategy": map[string]any{"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0}}
	sim, mar, stopSim, err := launchAll(ctx, o, t, lossResources(want, o.agents, o.room), strategy)
	if err != nil {
		return err
	}
	defer stopSim()
	tasks, err := marathonTasks(ctx, mar)
	if err != nil {
		return err
	}
	ids := sim.AgentIDs()
	holders := make([][]string, len(ids))
	for i := range ids {
		holders[i] = sim.TaskIDs(i)
	}
	victims := pickVictims(holders, o.lose)
	gone := map[string]bool{} // agent ids
	lostTasks := map[string]bool{}
	for _, i := range victims {
		gone[ids[i]] = true
		for _, id := range holders[i] {
			lostTasks[id] = true
		}
	}
	if len(victims) == 0 {
		return errors.New("no agent holds a task")
	}
	for id := range lostTasks {
		if _, ok := tasks[id]; !ok {
			return fmt.Errorf("task %s of a chosen agent is not running in Marathon's view", id)
		}
	}
	leader, err := t.c.Leader(ctx)
	if err != nil {
		return err
	}
	m0, err := masterMetrics(ctx, t.c, leader)
	if err != nil {
		return err
	}
	st0 := sim.Stats()
	fmt.Fprintf(os.Stderr, "  %d agents vanish, holding %d tasks (ping timeout %s × %d, heartbeat %s)\n",
		len(victims), len(lostTasks), o.pingTimeout, o.maxPings, o.heartbeat)

	t0 := time.Now()
	for _, i := range victims {
		sim.Vanish(i)
	}
	var firstAt, detectedAt, replacedAt time.Duration
	var metrics map[string]float64
	deadline := t0.Add(o.recoverTimeout)
	lastPrint := time.Now()
	var lastCheck replacement
	for detectedAt == 0 || replacedAt == 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("not recovered %s after the agents vanished: detected %s, replaced %s (%+v); master metrics: %.0f unreachable",
				o.recoverTimeout, detectedAt, replacedAt, lastCheck, metrics["master/slaves_unreachable"])
		}
		if detectedAt == 0 {
			if m, err := masterMetrics(ctx, t.c, leader); err == nil {
				metrics = m
				if firstAt == 0 && m["master/slaves_unreachable"] > m0["master/slaves_unreachable"] {
					firstAt = time.Since(t0)
				}
				if m["master/slaves_unreachable"]-m0["master/slaves_unreachable"] >= float64(len(victims)) {
					detectedAt = time.Since(t0)
					fmt.Fprintf(os.Stderr, "  %s: the master counts %.0f agents unreachable\n", detectedAt.Round(time.Millisecond), m["master/slaves_unreachable"])
				}
			}
		}
		wait := pollEvery
		if replacedAt == 0 {
			p0 := time.Now()
			now, err := marathonTasks(ctx, mar)
			// At 100,000 tasks the list is tens of MB: poll no more than
			// half the time.
			wait = max(wait, time.Since(p0))
			if err == nil {
				lastCheck = checkReplaced(now, lostTasks, gone, o.apps, o.instances)
				if lastCheck.done() {
					replacedAt = time.Since(t0)
					fmt.Fprintf(os.Stderr, "  %s: every app at %d running instances again, none on a vanished agent\n", replacedAt.Round(time.Millisecond), o.instances)
				}
			}
		}
		if time.Since(lastPrint) > 10*time.Second {
			fmt.Fprintf(os.Stderr, "  %s: waiting (%+v)\n", time.Since(t0).Round(time.Second), lastCheck)
			lastPrint = time.Now()
		}
		time.Sleep(wait)
	}
	m1, err := masterMetrics(ctx, t.c, leader)
	if err != nil {
		return err
	}
	spurious := m1["master/slaves_unreachable"] - m0["master/slaves_unreachable"] - float64(len(victims))
	st1 := sim.Stats()
	fmt.Fprintf(os.Stderr, "  %d KILLs at the surviving agents, %d launches; %.0f healthy agents also marked unreachable\n",
		st1.Kills-st0.Kills, st1.Launches-st0.Launches, spurious)

	flags := fmt.Sprintf("ping timeout %s × %d, heartbeat %s", o.pingTimeout, o.maxPings, o.heartbeat)
	col.add("agentloss", fmt.Sprintf("tasks on the %d vanished agents (%s)", len(victims), scale), "tasks", float64(len(lostTasks)), "", nil)
	col.add("agentloss", fmt.Sprintf("vanish → the master counts the first one unreachable (%s; %s)", flags, scale), "ms", benchkit.MS(firstAt), "", nil)
	col.add("agentloss", fmt.Sprintf("vanish → the master counts them all unreachable (%s; %s)", flags, scale), "ms", benchkit.MS(detectedAt), "", nil)
	col.add("agentloss", fmt.Sprintf("vanish → every app at full count again, lost tasks replaced on other agents (%s)", scale), "ms", benchkit.MS(replacedAt), "", nil)
	col.add("agentloss", fmt.Sprintf("unreachable → replaced (%s)", scale), "ms", benchkit.MS(replacedAt-detectedAt), "", nil)
	col.add("agentloss", fmt.Sprintf("healthy agents marked unreachable too (%s)", scale), "agents", spurious, "0", func(r benchkit.Result) bool { return r.Max == 0 })
	return nil
}

// lossResources are the simulated agents' resources in the agentloss
// scenario: room for room times an even share of the tasks (each 0.01
// cpus, 8 MB), so that the tasks spread over the fleet as on a cluster
// that is 1/room full (with fleetResources, Marathon would pack 400 on
// each agent and a lost agent would take hundreds with it), and the lost
// ones have somewhere to go.
func lossResources(tasks, agents int, room float64) string {
	fit := max(1, int(math.Ceil(room*float64(tasks)/float64(agents))))
	return fmt.Sprintf("cpus:%.2f;mem:%d;disk:1000;ports:[31000-32000]", 0.01*float64(fit), 8*fit)
}

// pickVictims chooses up to n agents that hold tasks, spread evenly over
// the fleet (holders[i] lists agent i's tasks).
func pickVictims(holders [][]string, n int) []int {
	var with []int
	for i, ts := range holders {
		if len(ts) > 0 {
			with = append(with, i)
		}
	}
	if n >= len(with) {
		return with
	}
	out := make([]int, 0, n)
	for k := range n {
		out = append(out, with[k*len(with)/n])
	}
	return out
}

// replacement is how far Marathon is from having replaced the lost tasks.
type replacement struct {
	Running      int // tasks running in all
	ShortApps    int // apps with fewer than their instances running
	LostRunning  int // lost tasks still counted running
	OnGoneAgents int // running tasks on a vanished agent
}

func (r replacement) done() bool {
	return r.ShortApps == 0 && r.LostRunning == 0 && r.OnGoneAgents == 0
}

// checkReplaced compares Marathon's running tasks with the lost ones.
func checkReplaced(running map[string]marathon.Task, lost, goneAgents map[string]bool, apps, instances int) replacement {
	var r replacement
	perApp := map[string]int{}
	for id, t := range running {
		r.Running++
		perApp[t.AppID]++
		if lost[id] {
			r.LostRunning++
		}
		if goneAgents[t.SlaveID] {
			r.OnGoneAgents++
		}
	}
	for i := range apps {
		if perApp[appID(i)] < instances {
			r.ShortApps++
		}
	}
	return r
}

// marathonTasks is Marathon's running tasks by id (GET /v2/tasks).
func marathonTasks(ctx context.Context, mar *benchkit.Client) (map[string]marathon.Task, error) {
	b, err := mar.Expect(ctx, http.MethodGet, "/v2/tasks?status=running", nil, http.StatusOK)
	if err != nil {
		return nil, err
	}
	var resp struct {
		Tasks []marathon.Task `json:"tasks"`
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		return nil, fmt.Errorf("GET /v2/tasks: %w", err)
	}
	out := make(map[string]marathon.Task, len(resp.Tasks))
	for _, t := range resp.Tasks {
		if t.State == "TASK_RUNNING" {
			out[t.ID] = t
		}
	}
	return out, nil
}

// marathonLeader is GET /v2/leader's host:port.
func marathonLeader(ctx context.Context, mar *benchkit.Client) (string, error) {
	b, err := mar.Expect(ctx, http.MethodGet, "/v2/leader", nil, http.StatusOK)
	if err != nil {
		return "", err
	}
	var l struct {
		Leader string `json:"leader"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return "", fmt.Errorf("GET /v2/leader: %w", err)
	}
	return l.Leader, nil
}

// marathonSettled reports whether Marathon counts want tasks running and
// has no deployment in progress.
func marathonSettled(ctx context.Context, mar *benchkit.Client, want int) (bool, error) {
	n, err := marathonRunning(ctx, mar)
	if err != nil || n != want {
		return false, err
	}
	b, err := mar.Expect(ctx, http.MethodGet, "/v2/deployments", nil, http.StatusOK)
	if err != nil {
		return false, err
	}
	var deps []json.RawMessage
	if err := json.Unmarshal(b, &deps); err != nil {
		return false, fmt.Errorf("GET /v2/deployments: %w", err)
	}
	return len(deps) == 0, nil
}

// masterMetrics is master p's GET /metrics/snapshot.
func masterMetrics(ctx context.Context, c *proccluster.Cluster, p *proccluster.Proc) (map[string]float64, error) {
	var m map[string]float64
	err := c.GetJSON(ctx, p.URL+"/metrics/snapshot", &m)
	return m, err
}

// hostIP is the host part of host:port (or of a URL).
func hostIP(addr string) string {
	if u, err := url.Parse(addr); err == nil && u.Host != "" {
		addr = u.Host
	}
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
