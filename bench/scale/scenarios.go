package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/basalt-dcos/basalt/bench/internal/benchkit"
	"github.com/basalt-dcos/basalt/internal/proccluster"
	"github.com/basalt-dcos/basalt/internal/simagent"
	"github.com/basalt-dcos/basalt/internal/store"
)

// target is the cluster under test, however it runs.
type target struct {
	c        *proccluster.Cluster
	masters  []string      // masters' base URLs
	marathon string        // Marathon's base URL
	leader   func() string // the leading master's base URL
	pid      int           // the leading master's process (this one with -inprocess)
	storeDir string        // its store's data directory ("" if unknown)
	debugURL string        // its /debug/pprof base URL ("" if off)
}

func debugURL(ip string, port int) string {
	if port == 0 {
		return ""
	}
	return fmt.Sprintf("http://%s:%d", ip, port)
}

func transport() *http.Transport {
	return &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: time.Minute}
}

// withTarget starts a cluster of masters masters with no agents (the
// masters get -master-args, then extra) and runs f against it. name tells
// the trials' and scenarios' data directories apart.
func withTarget(ctx context.Context, o options, bin, name string, masters int, extra []string, f func(target) error) error {
	dir := filepath.Join(o.dir, name)
	args := append(strings.Fields(o.masterArgs), extra...)
	debugPorts := map[string]int{}
	if o.masterProf != "" || o.masterHeap != "" {
		// The flags are the same for every master: profile one master only.
		if masters != 1 {
			return errors.New("-master-profile and -master-heap need -masters 1")
		}
		port, err := proccluster.FreePort(proccluster.MasterIP(0))
		if err != nil {
			return err
		}
		args = append(args, "--debug-listen", fmt.Sprintf("%s:%d", proccluster.MasterIP(0), port))
		debugPorts["port"] = port
	}
	c, err := proccluster.Start(proccluster.Options{Bin: bin, Dir: dir, Masters: masters, MasterArgs: args})
	if err != nil {
		return err
	}
	defer c.Close()
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := c.WaitReady(wctx); err != nil {
		return fmt.Errorf("cluster not ready: %w\n%s", err, c.Logs())
	}
	l, err := c.Leader(ctx)
	if err != nil {
		return err
	}
	t := target{c: c, masters: c.MasterURLs(), marathon: l.MarathonURL, pid: l.PID(),
		debugURL: debugURL(l.IP, debugPorts["port"]),
		storeDir: filepath.Join(dir, l.Name, "store"),
		leader: func() string {
			if l, err := c.Leader(ctx); err == nil {
				return l.URL
			}
			return l.URL
		}}
	err = f(t)
	if err != nil {
		err = fmt.Errorf("%w\nmaster logs:\n%s", err, c.Logs())
	}
	return err
}

// basaltBinary builds ./cmd/basalt into dir.
func basaltBinary(ctx context.Context, dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	return proccluster.Build(ctx, root, "./cmd/basalt", dir)
}

func moduleRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		p := filepath.Dir(d)
		if p == d {
			return "", errors.New("go.mod not found above the working directory")
		}
		d = p
	}
}

// collector gathers samples per metric across trials, in first-seen order.
// A metric is either measured once per trial (add: summarized as
// min/median/max across trials) or a distribution of many samples (addAll:
// min/p50/p99/max over every sample of every trial).
type collector struct {
	order    []string
	samples  map[string][]float64
	meta     map[string][3]string // scenario, unit, target
	checks   map[string]func(benchkit.Result) bool
	perTrial map[string]bool
}

func newCollector() *collector {
	return &collector{samples: map[string][]float64{}, meta: map[string][3]string{},
		checks: map[string]func(benchkit.Result) bool{}, perTrial: map[string]bool{}}
}

// declare fixes a per-trial metric's place in the table before a trial
// measures it (one that only some trials measure); a metric no trial
// measured is left out of the results.
func (c *collector) declare(scenario, metric, unit, target string, check func(benchkit.Result) bool) {
	c.record(scenario, metric, unit, nil, target, check, true)
}

func (c *collector) record(scenario, metric, unit string, vs []float64, target string, check func(benchkit.Result) bool, perTrial bool) {
	if _, ok := c.meta[metric]; !ok {
		c.order = append(c.order, metric)
		c.meta[metric] = [3]string{scenario, unit, target}
		c.checks[metric] = check
		c.perTrial[metric] = perTrial
	}
	c.samples[metric] = append(c.samples[metric], vs...)
}

// add records the one figure of metric this trial measured.
func (c *collector) add(scenario, metric, unit string, v float64, target string, check func(benchkit.Result) bool) {
	c.record(scenario, metric, unit, []float64{v}, target, check, true)
}

// addAll records samples of a distribution (latencies).
func (c *collector) addAll(scenario, metric, unit string, vs []float64, target string, check func(benchkit.Result) bool) {
	c.record(scenario, metric, unit, vs, target, check, false)
}

func (c *collector) results() []benchkit.Result {
	var rs []benchkit.Result
	for _, m := range c.order {
		md := c.meta[m]
		if len(c.samples[m]) == 0 && c.perTrial[m] {
			continue // declared, never measured
		}
		if c.perTrial[m] {
			rs = append(rs, benchkit.SummarizeTrials(md[0], m, md[1], c.samples[m], md[2], c.checks[m]))
		} else {
			rs = append(rs, benchkit.Summarize(md[0], m, md[1], c.samples[m], md[2], c.checks[m]))
		}
	}
	return rs
}

// benchTrials runs the selected scenarios -trials times, each scenario
// group on a fresh cluster: the launch (throughput, api, footprint),
// failover, agentloss, then ceiling (last: its etcd member lives in this
// process and would count in the simulator's RSS). A group that fails is
// not run again in later trials; the others go on.
func benchTrials(ctx context.Context, o options, sel scenarios) ([]benchkit.Result, error) {
	col := newCollector()
	var bin string
	if sel.launch() || sel["failover"] || sel["agentloss"] {
		var err error
		if bin, err = basaltBinary(ctx, o.dir); err != nil {
			return nil, err
		}
	}
	failoverMasters := max(o.masters, 3)
	lossArgs := []string{
		"--agent-ping-timeout", o.pingTimeout.String(),
		"--max-agent-ping-timeouts", strconv.Itoa(o.maxPings),
		"--agent-heartbeat-interval", o.heartbeat.String(),
	}
	type group struct {
		name string
		on   bool
		run  func(trial int) error
	}
	groups := []group{
		{"launch", sel.launch(), func(trial int) error {
			fmt.Fprintf(os.Stderr, "trial %d, throughput/api/footprint: %d masters, %d agents, %d apps × %d instances\n",
				trial+1, o.masters, o.agents, o.apps, o.instances)
			return withTarget(ctx, o, bin, fmt.Sprintf("trial%d-launch", trial+1), o.masters, nil,
				func(t target) error { return clusterTrial(ctx, o, sel, t, col) })
		}},
		{"failover", sel["failover"], func(trial int) error {
			fmt.Fprintf(os.Stderr, "trial %d, failover: %d masters, %d agents, %d apps × %d instances\n",
				trial+1, failoverMasters, o.agents, o.apps, o.instances)
			return withTarget(ctx, o, bin, fmt.Sprintf("trial%d-failover", trial+1), failoverMasters, nil,
				func(t target) error { return failoverTrial(ctx, o, t, col) })
		}},
		{"agentloss", sel["agentloss"], func(trial int) error {
			fmt.Fprintf(os.Stderr, "trial %d, agentloss: %d masters (%s), %d agents, %d apps × %d instances, %d agents vanish\n",
				trial+1, o.masters, strings.Join(lossArgs, " "), o.agents, o.apps, o.instances, o.lose)
			return withTarget(ctx, o, bin, fmt.Sprintf("trial%d-agentloss", trial+1), o.masters, lossArgs,
				func(t target) error { return agentLossTrial(ctx, o, t, col) })
		}},
		{"ceiling", sel["ceiling"], func(trial int) error {
			fmt.Fprintf(os.Stderr, "trial %d, ceiling\n", trial+1)
			return benchCeiling(ctx, o, col)
		}},
	}
	var errs []error
	failed := map[string]bool{}
	for trial := range o.trials {
		for _, g := range groups {
			if !g.on || failed[g.name] {
				continue
			}
			if err := g.run(trial); err != nil {
				errs = append(errs, fmt.Errorf("trial %d, %s: %w", trial+1, g.name, err))
				failed[g.name] = true
			}
		}
	}
	return col.results(), errors.Join(errs...)
}

// fleetResources are the simulated agents' resources in the throughput and
// failover scenarios: room for 400 of the bench's tasks (0.01 cpus, 8 MB).
const fleetResources = "cpus:4;mem:4096;disk:10000;ports:[31000-32000]"

// startFleet runs o.agents simulated agents with resources against t until
// the returned stop is called, and waits until every one is registered
// (reg is how long that took). It also waits until Marathon answers.
func startFleet(ctx context.Context, o options, t target, resources string) (sim *simagent.Simulator, mar *benchkit.Client, reg time.Duration, stop func(), err error) {
	cfg := simagent.DefaultConfig(o.agents, t.masters...)
	cfg.Resources = resources
	cfg.Workers = o.workers
	cfg.ConnectConcurrency = o.connects
	sim, err = simagent.New(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return nil, nil, 0, nil, err
	}
	sctx, stopSim := context.WithCancel(ctx)
	simDone := make(chan error, 1)
	t0 := time.Now()
	go func() { simDone <- sim.Run(sctx) }()
	stop = func() { stopSim(); <-simDone }

	// Registration of every agent.
	if err := benchkit.WaitUntil(5*time.Minute, 100*time.Millisecond, "agents registered", func() (bool, error) {
		return sim.Stats().Connected == o.agents, nil
	}); err != nil {
		stop()
		return nil, nil, 0, nil, fmt.Errorf("%w (stats %+v)", err, sim.Stats())
	}
	reg = time.Since(t0)
	fmt.Fprintf(os.Stderr, "  %d agents registered in %s\n", o.agents, reg.Round(time.Millisecond))

	mar = benchkit.NewClient(t.marathon, transport())
	if err := benchkit.WaitUntil(time.Minute, 100*time.Millisecond, "marathon leading", func() (bool, error) {
		st, _, err := mar.Do(ctx, http.MethodGet, "/v2/apps", nil)
		return err == nil && st == http.StatusOK, nil
	}); err != nil {
		stop()
		return nil, nil, 0, nil, err
	}
	return sim, mar, reg, stop, nil
}

// waitRunning polls Marathon's GET /v2/apps until it counts want tasks
// running or timeout passes from start; it returns the last count and how
// long it took.
func waitRunning(ctx context.Context, mar *benchkit.Client, sim *simagent.Simulator, want int, start time.Time, timeout time.Duration) (running int, took time.Duration, done bool) {
	deadline := start.Add(timeout)
	lastPrint := time.Now()
	for time.Now().Before(deadline) {
		n, err := marathonRunning(ctx, mar)
		if err == nil {
			running = n
		}
		if running >= want {
			return running, time.Since(start), true
		}
		if time.Since(lastPrint) > 10*time.Second {
			st := sim.Stats()
			fmt.Fprintf(os.Stderr, "  %s: marathon %d/%d running; simulator: %d tasks, %d RUNNING sent, %d pending updates, %d call errors\n",
				time.Since(start).Round(time.Second), running, want, st.Tasks, st.Running, st.Pending, st.CallErrors)
			lastPrint = time.Now()
		}
		time.Sleep(time.Second)
	}
	return running, time.Since(start), false
}

// launchAll starts the fleet, POSTs the apps (each with extra's fields)
// and waits until every task is running, for the scenarios that need a
// loaded cluster first. The returned stop stops the simulator.
func launchAll(ctx context.Context, o options, t target, resources string, extra map[string]any) (*simagent.Simulator, *benchkit.Client, func(), error) {
	sim, mar, _, stop, err := startFleet(ctx, o, t, resources)
	if err != nil {
		return nil, nil, nil, err
	}
	want := o.apps * o.instances
	t0 := time.Now()
	if err := postApps(ctx, mar, o, extra); err != nil {
		stop()
		return nil, nil, nil, err
	}
	running, took, done := waitRunning(ctx, mar, sim, want, t0, o.timeout)
	if !done {
		stop()
		return nil, nil, nil, fmt.Errorf("only %d of %d tasks running after %s", running, want, o.timeout)
	}
	fmt.Fprintf(os.Stderr, "  all %d tasks running %s after the first POST\n", want, took.Round(time.Millisecond))
	// Every update acknowledged: what follows starts from a quiet cluster.
	if err := benchkit.WaitUntil(2*time.Minute, 100*time.Millisecond, "every status update acknowledged", func() (bool, error) {
		return sim.Stats().Pending == 0, nil
	}); err != nil {
		fmt.Fprintf(os.Stderr, "  %v (simulator %+v); going on\n", err, sim.Stats())
	}
	return sim, mar, stop, nil
}

func clusterTrial(ctx context.Context, o options, sel scenarios, t target, col *collector) error {
	want := o.apps * o.instances
	scale := fmt.Sprintf("%d agents, %d tasks", o.agents, want)
	cpu0 := selfCPU()
	sim, mar, reg, stopSim, err := startFleet(ctx, o, t, fleetResources)
	if err != nil {
		return err
	}
	defer stopSim()
	col.add("throughput", fmt.Sprintf("%d agents register (simulator start → all SUBSCRIBED)", o.agents), "ms", benchkit.MS(reg), "", nil)

	// API readers while the launch runs.
	apiOn := sel["api"]
	var readers sync.WaitGroup
	rctx, stopReaders := context.WithCancel(ctx)
	during := map[string][]float64{}
	var duringMu sync.Mutex
	if apiOn {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for i := 0; rctx.Err() == nil; i++ {
				for _, ep := range endpoints(t, o, mar) {
					d, err := ep.get(rctx, i)
					if err != nil {
						continue
					}
					duringMu.Lock()
					during[ep.name] = append(during[ep.name], benchkit.MS(d))
					duringMu.Unlock()
				}
			}
		}()
	}
	defer stopReaders()

	// The launch (profiled from its start, if asked).
	var profiling sync.WaitGroup
	defer profiling.Wait() // before the cluster is stopped
	if t.debugURL != "" && o.masterProf != "" {
		profiling.Go(func() { saveProfile(ctx, t.debugURL, o.masterProf, o.profileFor) })
	}
	launchStart := time.Now()
	if err := postApps(ctx, mar, o, nil); err != nil {
		return err
	}
	posted := time.Since(launchStart)
	fmt.Fprintf(os.Stderr, "  %d apps posted in %s\n", o.apps, posted.Round(time.Millisecond))
	running, took, done := waitRunning(ctx, mar, sim, want, launchStart, o.timeout)
	stopReaders()
	readers.Wait()
	rate := float64(running) / took.Seconds()
	if done {
		fmt.Fprintf(os.Stderr, "  all %d tasks running after %s (%.0f tasks/s)\n", want, took.Round(time.Millisecond), rate)
		col.add("throughput", fmt.Sprintf("first POST → Marathon counts all running (%s)", scale), "ms", benchkit.MS(took), "", nil)
	} else {
		fmt.Fprintf(os.Stderr, "  TIMEOUT: %d of %d tasks running after %s\n", running, want, took.Round(time.Millisecond))
		col.add("throughput", fmt.Sprintf("tasks running when -timeout %s hit (%s)", o.timeout, scale), "tasks", float64(running), "", nil)
	}
	col.add("throughput", fmt.Sprintf("launch rate, tasks/s (%s)", scale), "tasks/s", rate, "≥ 2000", func(r benchkit.Result) bool { return r.P50 >= 2000 })

	if apiOn {
		for _, ep := range endpoints(t, o, mar) {
			col.addAll("api", ep.name+" during launch", "ms", during[ep.name], ep.target, ep.check)
		}
		for _, ep := range endpoints(t, o, mar) {
			var lat []float64
			for i := range o.requests {
				d, err := ep.get(ctx, i)
				if err != nil {
					fmt.Fprintf(os.Stderr, "  %s: %v\n", ep.name, err)
					continue
				}
				lat = append(lat, benchkit.MS(d))
			}
			col.addAll("api", fmt.Sprintf("%s after launch (%s)", ep.name, scale), "ms", lat, ep.target, ep.check)
		}
	}

	if sel["footprint"] {
		settle := 5 * time.Second
		time.Sleep(settle)
		m0, s0 := procCPU(t.pid), selfCPU()
		w0 := time.Now()
		time.Sleep(o.idle)
		m1, s1 := procCPU(t.pid), selfCPU()
		wall := time.Since(w0).Seconds()
		who := "master process"
		col.add("footprint", fmt.Sprintf("%s RSS (%s)", who, scale), "B", float64(procRSS(t.pid)), "≤ 2 GiB", func(r benchkit.Result) bool { return r.Max <= 2<<30 })
		if t.storeDir != "" {
			col.add("footprint", fmt.Sprintf("store size on disk (%s)", scale), "B", float64(dirSize(t.storeDir)), "", nil)
		}
		col.add("footprint", fmt.Sprintf("idle %s CPU, %% of one core over %s (%s)", who, o.idle, scale), "%", 100*(m1-m0)/wall, "", nil)
		// Garbage of earlier scenarios and trials would count too.
		debug.FreeOSMemory()
		col.add("footprint", fmt.Sprintf("simulator RSS (%d agents, %d tasks)", o.agents, want), "B", float64(procRSS(os.Getpid())), "", nil)
		col.add("footprint", fmt.Sprintf("simulator idle CPU, %% of one core over %s", o.idle), "%", 100*(s1-s0)/wall, "", nil)
		col.add("footprint", "simulator CPU, whole trial (registration, launch, idle)", "s", s1-cpu0, "", nil)
	}
	if o.masterHeap != "" && t.debugURL != "" {
		saveHeap(ctx, t.debugURL, o.masterHeap)
	}
	st := sim.Stats()
	fmt.Fprintf(os.Stderr, "  simulator: %+v\n", st)
	if !done {
		return fmt.Errorf("only %d of %d tasks running after %s", running, want, o.timeout)
	}
	return nil
}

// endpoint is one API read measured by the api scenario.
type endpoint struct {
	name   string
	target string
	check  func(benchkit.Result) bool
	get    func(ctx context.Context, i int) (time.Duration, error)
}

func endpoints(t target, o options, mar *benchkit.Client) []endpoint {
	timed := func(c *benchkit.Client, path string) func(context.Context, int) (time.Duration, error) {
		return func(ctx context.Context, _ int) (time.Duration, error) {
			t0 := time.Now()
			_, err := c.Expect(ctx, http.MethodGet, path, nil, http.StatusOK)
			return time.Since(t0), err
		}
	}
	master := benchkit.NewClient(t.leader(), transport())
	return []endpoint{
		{name: "GET /v2/apps?embed=apps.tasks", get: timed(mar, "/v2/apps?embed=apps.tasks")},
		{name: "GET /master/state", get: timed(master, "/master/state")},
		{name: "GET /v2/apps/{id}", target: "p99 ≤ 100 ms", check: func(r benchkit.Result) bool { return r.P99 <= 100 },
			get: func(ctx context.Context, i int) (time.Duration, error) {
				id := appID(rand.IntN(o.apps))
				t0 := time.Now()
				_, err := mar.Expect(ctx, http.MethodGet, "/v2/apps"+id, nil, http.StatusOK)
				return time.Since(t0), err
			}},
	}
}

func appID(i int) string { return fmt.Sprintf("/scale/app-%05d", i) }

// postApps POSTs the apps, 8 at a time, each with extra's fields added.
func postApps(ctx context.Context, mar *benchkit.Client, o options, extra map[string]any) error {
	ids := make(chan int)
	errc := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ids {
				app := map[string]any{
					"id": appID(i), "cmd": "sleep 1000000", "cpus": 0.01, "mem": 8, "disk": 0,
					"instances": o.instances, "portDefinitions": []any{},
				}
				maps.Copy(app, extra)
				if err := postApp(ctx, mar, app); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	var err error
	for i := range o.apps {
		select {
		case ids <- i:
			continue
		case err = <-errc:
		}
		break
	}
	close(ids)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errc:
		default:
		}
	}
	return err
}

// postApp POSTs one app, retrying for up to two minutes while Marathon
// answers 503 (no leader: it is between leadership terms), 502 (a standby
// proxied to a leader that is changing) or the connection fails, as a
// deploying client would. A 409 after a retried attempt means an earlier
// attempt created the app (its answer was lost), so it counts as created.
func postApp(ctx context.Context, mar *benchkit.Client, app map[string]any) error {
	deadline := time.Now().Add(2 * time.Minute)
	for retried := false; ; retried = true {
		st, body, err := mar.Do(ctx, http.MethodPost, "/v2/apps", app)
		switch {
		case err == nil && st == http.StatusCreated:
			return nil
		case err == nil && st == http.StatusConflict && retried:
			return nil
		case err == nil && !retryablePost(st):
			return fmt.Errorf("POST /v2/apps %s: HTTP %d: %.300s", app["id"], st, body)
		case time.Now().After(deadline):
			return fmt.Errorf("POST /v2/apps %s: still failing after 2m: HTTP %d %v", app["id"], st, err)
		}
		fmt.Fprintf(os.Stderr, "  POST %s: HTTP %d %v; retrying\n", app["id"], st, err)
		time.Sleep(500 * time.Millisecond)
	}
}

// retryablePost reports whether a POST answered with status st is worth
// repeating: the leader is unknown (503) or moved under a proxy (502).
func retryablePost(st int) bool {
	return st == http.StatusServiceUnavailable || st == http.StatusBadGateway
}

// marathonRunning sums tasksRunning over GET /v2/apps.
func marathonRunning(ctx context.Context, mar *benchkit.Client) (int, error) {
	b, err := mar.Expect(ctx, http.MethodGet, "/v2/apps", nil, http.StatusOK)
	if err != nil {
		return 0, err
	}
	var apps struct {
		Apps []struct {
			TasksRunning int `json:"tasksRunning"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(b, &apps); err != nil {
		return 0, err
	}
	n := 0
	for _, a := range apps.Apps {
		n += a.TasksRunning
	}
	return n, nil
}

// procCPU is the user+system CPU seconds process pid has used.
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	sy, _ := strconv.ParseFloat(f[12], 64)
	return (u + sy) / 100 // USER_HZ
}

func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// procRSS is process pid's resident set in bytes.
func procRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kib, _ := strconv.ParseInt(f[1], 10, 64)
			return kib << 10
		}
	}
	return 0
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// benchCeiling measures the raw write rate of an embedded etcd member.
func benchCeiling(ctx context.Context, o options, col *collector) error {
	dir, err := os.MkdirTemp(o.dir, "ceiling-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	s, err := store.Open(ctx, store.Config{DataDir: dir}, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer s.Close()
	val := make([]byte, 256)
	const dur = 5 * time.Second
	for _, batch := range []int{1, 100, 1000} {
		var keys int
		t0 := time.Now()
		for time.Since(t0) < dur {
			ops := make([]store.Op, batch)
			for i := range ops {
				ops[i] = store.Put(fmt.Sprintf("ceiling/b%d/%d", batch, keys), val)
				keys++
			}
			if err := s.Apply(ctx, ops...); err != nil {
				return fmt.Errorf("apply %d keys: %w", batch, err)
			}
		}
		el := time.Since(t0).Seconds()
		col.add("ceiling", fmt.Sprintf("one caller, %d × 256 B keys per Apply: keys/s", batch), "keys/s", float64(keys)/el, "", nil)
		fmt.Fprintf(os.Stderr, "  batch %d: %.0f keys/s (%.0f txn/s)\n", batch, float64(keys)/el, float64(keys)/el/float64(batch))
	}
	var mu sync.Mutex
	keys := 0
	t0 := time.Now()
	var wg sync.WaitGroup
	errc := make(chan error, 64)
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Since(t0) < dur; i++ {
				if err := s.Apply(ctx, store.Put(fmt.Sprintf("ceiling/c/%d/%d", w, i), val)); err != nil {
					errc <- err
					return
				}
				mu.Lock()
				keys++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	el := time.Since(t0).Seconds()
	col.add("ceiling", "64 concurrent callers, 1 key per Apply (group commit): keys/s", "keys/s", float64(keys)/el, "", nil)
	return nil
}

// saveHeap fetches a heap profile from a master's /debug/pprof (after a
// GC, so it shows what is live).
func saveHeap(ctx context.Context, base, path string) {
	c := benchkit.NewClient(base, transport())
	c.HC.Timeout = 5 * time.Minute
	b, err := c.Expect(ctx, http.MethodGet, "/debug/pprof/heap?gc=1", nil, http.StatusOK)
	if err == nil {
		err = os.WriteFile(path, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "  master heap profile:", err)
		return
	}
	fmt.Fprintln(os.Stderr, "  master heap profile written to", path)
}

// saveProfile fetches a CPU profile of d from a master's /debug/pprof.
func saveProfile(ctx context.Context, base, path string, d time.Duration) {
	c := benchkit.NewClient(base, transport())
	c.HC.Timeout = d + time.Minute
	b, err := c.Expect(ctx, http.MethodGet, fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(d.Seconds())), nil, http.StatusOK)
	if err == nil {
		err = os.WriteFile(path, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "  master profile:", err)
		return
	}
	fmt.Fprintln(os.Stderr, "  master profile written to", path)
}
