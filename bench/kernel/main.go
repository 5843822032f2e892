// Command kernel runs the kernel benchmark scenarios against real basalt
// processes and prints a markdown table (and, with -json, a JSON document):
//
//	go run ./bench/kernel -scenario all
//
// Scenarios:
//
//	failover  3 masters; kill -9 the leader; time until a new leader answers a
//	          scheduler SUBSCRIBE with SUBSCRIBED (repeated -trials times; the
//	          killed master is restarted between trials).
//	launch    1 master + 1 posix agent; ACCEPT → TASK_RUNNING of a `sleep`
//	          task on an idle cluster (-trials launches, one at a time).
//	up        `basalt up` on a fresh data dir → it prints "ready in" (its agent is active)
//	          active (-trials runs); then idle RSS of a separate `basalt agent`
//	          and `basalt master` process after 5 s.
//
// Timings are wall-clock on the machine it runs on; the table says which.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/basalt-dcos/basalt/internal/proccluster"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
	"github.com/basalt-dcos/basalt/pkg/recordio"
	"github.com/basalt-dcos/basalt/pkg/scheduler"
)

type result struct {
	Scenario string    `json:"scenario"`
	Metric   string    `json:"metric"`
	Unit     string    `json:"unit"`
	Samples  []float64 `json:"samples"`
	Min      float64   `json:"min"`
	P50      float64   `json:"p50"`
	Max      float64   `json:"max"`
	Target   string    `json:"target"`
}

func summarize(scenario, metric, unit, target string, samples []float64) result {
	s := slices.Clone(samples)
	slices.Sort(s)
	r := result{Scenario: scenario, Metric: metric, Unit: unit, Samples: samples, Target: target}
	if len(s) > 0 {
		r.Min, r.Max, r.P50 = s[0], s[len(s)-1], s[(len(s)-1)/2]
	}
	return r
}

func main() {
	scenario := flag.String("scenario", "all", "failover|launch|up|all")
	trials := flag.Int("trials", 10, "repetitions per scenario")
	bin := flag.String("basalt", "", "basalt binary (default: build ./cmd/basalt)")
	jsonOut := flag.String("json", "", "also write the results as JSON to this file")
	flag.Parse()
	if err := run(*scenario, *trials, *bin, *jsonOut); err != nil {
		fmt.Fprintln(os.Stderr, "kernel bench:", err)
		os.Exit(1)
	}
}

func run(scenario string, trials int, bin, jsonOut string) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "basalt-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if bin == "" {
		fmt.Fprintln(os.Stderr, "building basalt...")
		if bin, err = proccluster.Build(ctx, ".", "./cmd/basalt", dir); err != nil {
			return err
		}
	}
	var results []result
	do := func(name string, f func() ([]result, error)) error {
		if scenario != "all" && scenario != name {
			return nil
		}
		fmt.Fprintf(os.Stderr, "scenario %s...\n", name)
		rs, err := f()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		results = append(results, rs...)
		return nil
	}
	if err := do("up", func() ([]result, error) { return benchUp(ctx, bin, filepath.Join(dir, "up"), trials) }); err != nil {
		return err
	}
	if err := do("launch", func() ([]result, error) { return benchLaunch(ctx, bin, filepath.Join(dir, "launch"), trials*5) }); err != nil {
		return err
	}
	if err := do("failover", func() ([]result, error) { return benchFailover(ctx, bin, filepath.Join(dir, "failover"), trials) }); err != nil {
		return err
	}
	printTable(os.Stdout, results)
	if jsonOut != "" {
		b, _ := json.MarshalIndent(map[string]any{"machine": machine(), "commit": commit(), "results": results}, "", "  ")
		if err := os.WriteFile(jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				_, model, _ = strings.Cut(l, ":")
				model = strings.TrimSpace(model)
				break
			}
		}
	}
	return fmt.Sprintf("%d cores (%s), %s/%s, %s", runtime.NumCPU(), model, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func printTable(w io.Writer, rs []result) {
	fmt.Fprintf(w, "Machine: %s; commit %s; command: go run ./bench/kernel -scenario all\n\n", machine(), commit())
	fmt.Fprintln(w, "| scenario | metric | n | min | p50 | max | target |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, r := range rs {
		fmt.Fprintf(w, "| %s | %s | %d | %.4g %s | %.4g %s | %.4g %s | %s |\n", r.Scenario, r.Metric, len(r.Samples),
			r.Min, r.Unit, r.P50, r.Unit, r.Max, r.Unit, r.Target)
	}
}

// httpc is read-only after initialisation: a shared client that never follows redirects.
var httpc = &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// --- up ---------------------------------------------------------------------

func benchUp(ctx context.Context, bin, dir string, trials int) ([]result, error) {
	var ready []float64
	for i := range trials {
		d := filepath.Join(dir, strconv.Itoa(i))
		mport, err := proccluster.FreePort("127.0.0.1")
		if err != nil {
			return nil, err
		}
		aport, err := proccluster.FreePort("127.0.0.1")
		if err != nil {
			return nil, err
		}
		start := time.Now()
		cmd := exec.Command(bin, "up", "--data-dir", d,
			"--master-listen", fmt.Sprintf("127.0.0.1:%d", mport), "--agent-listen", fmt.Sprintf("127.0.0.1:%d", aport))
		// up prints "ready in" once the agent is active at the master (it
		// checks that itself: the master's port asks for a token in the
		// default strict mode).
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		readyc := make(chan error, 1)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "ready in ") {
					readyc <- nil
					_, _ = io.Copy(io.Discard, out)
					return
				}
			}
			readyc <- errors.New("basalt up exited before it was ready")
		}()
		select {
		case err = <-readyc:
		case <-time.After(60 * time.Second):
			err = errors.New("basalt up not ready after 60s")
		case <-ctx.Done():
			err = ctx.Err()
		}
		el := time.Since(start)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		proccluster.KillUnder(d)
		if err != nil {
			return nil, fmt.Errorf("basalt up run %d: %w", i, err)
		}
		ready = append(ready, float64(el.Milliseconds()))
	}
	rs := []result{summarize("up", "basalt up → agent active", "ms", "≤ 2000 ms", ready)}

	// Idle RSS of separate master and agent processes.
	c, err := startReady(ctx, proccluster.Options{Bin: bin, Dir: filepath.Join(dir, "rss"), Masters: 1, Agents: 1,
		AgentArgs: []string{"--containerizers", "posix"}})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	time.Sleep(5 * time.Second) // let it settle: this measures an idle process
	agentPID := c.Agents[0].PID()
	pss := memKiB(agentPID, "Pss:")
	shims := warmShims(agentPID)
	for _, pid := range shims {
		pss += memKiB(pid, "Pss:")
	}
	rs = append(rs,
		summarize("up", "idle agent RSS", "MiB", "≤ 40 MiB", []float64{rssMiB(agentPID)}),
		summarize("up", fmt.Sprintf("idle agent PSS incl. its %d warm posix shims", len(shims)), "MiB", "—", []float64{pss / 1024}),
		summarize("up", "idle master RSS (with etcd member)", "MiB", "—", []float64{rssMiB(c.Masters[0].PID())}))
	return rs, nil
}

// startReady starts a cluster and waits up to a minute until it has a
// leader and every agent is active; the caller closes it.
func startReady(ctx context.Context, opts proccluster.Options) (*proccluster.Cluster, error) {
	c, err := proccluster.Start(opts)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := c.WaitReady(wctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// memKiB reads one field (e.g. "Pss:") of /proc/<pid>/smaps_rollup, in KiB.
func memKiB(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field) {
			f := strings.Fields(l)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb
		}
	}
	return 0
}

// warmShims lists the children of pid that are idle posix warm shims
// (their environment carries BASALT_POSIX_SHIM_WARM).
func warmShims(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// Fields after the ")" that ends the command name: state, ppid, ...
		rest := string(stat)[strings.LastIndexByte(string(stat), ')')+1:]
		f := strings.Fields(rest)
		if len(f) < 2 || f[1] != strconv.Itoa(pid) {
			continue
		}
		env, _ := os.ReadFile("/proc/" + e.Name() + "/environ")
		if strings.Contains(string(env), "BASALT_POSIX_SHIM_WARM=") {
			out = append(out, child)
		}
	}
	return out
}

func rssMiB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return -1
}

// --- launch -----------------------------------------------------------------

func benchLaunch(ctx context.Context, bin, dir string, n int) ([]result, error) {
	c, err := startReady(ctx, proccluster.Options{Bin: bin, Dir: dir, Masters: 1, Agents: 1,
		MasterArgs: []string{"--allocation-interval", "1s"},
		AgentArgs:  []string{"--containerizers", "posix"}})
	if err != nil {
		return nil, err
	}
	defer c.Close()

	type launchReq struct {
		id    string
		start time.Time
	}
	offers := make(chan mesosv1.Offer, 16)
	running := make(chan string, 16)
	ended := make(chan string, 16)
	cl, err := scheduler.New(scheduler.Config{Masters: c.MasterURLs(),
		Framework: mesosv1.FrameworkInfo{User: "root", Name: "bench-launch"}})
	if err != nil {
		return nil, err
	}
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		_ = cl.Run(rctx, func(ctx context.Context, c *scheduler.Client, ev mesosv1.Event) error {
			switch ev.Type {
			case mesosv1.EventOffers:
				for _, o := range ev.Offers.Offers {
					select {
					case offers <- o:
					default:
						_ = c.Decline(ctx, []mesosv1.ID{o.ID}, scheduler.Refuse(0))
					}
				}
			case mesosv1.EventUpdate:
				switch s := ev.Update.Status; {
				case s.State == mesosv1.TaskRunning:
					running <- s.TaskID.Value
				case mesosv1.IsTerminalState(s.State):
					ended <- s.TaskID.Value
				}
			}
			return nil
		})
	}()
	var lat []float64
	for i := range n {
		var o mesosv1.Offer
		select {
		case o = <-offers:
		case <-time.After(30 * time.Second):
			return nil, fmt.Errorf("launch %d: no offer within 30s", i)
		}
		id := fmt.Sprintf("bench-%d", i)
		role := ""
		if len(o.Resources) > 0 {
			role = mesosv1.AllocationRole(o.Resources[0])
		}
		task := mesosv1.TaskInfo{Name: id, TaskID: mesosv1.ID{Value: id}, AgentID: o.AgentID,
			Resources: mesosv1.Resources{mesosv1.NewScalar("cpus", 0.1), mesosv1.NewScalar("mem", 32)}.Allocate(role),
			Command:   &mesosv1.CommandInfo{Value: "sleep 1000"}}
		req := launchReq{id: id, start: time.Now()}
		if err := cl.Accept(ctx, []mesosv1.ID{o.ID}, []mesosv1.Operation{scheduler.LaunchOp(task)}, scheduler.Refuse(0)); err != nil {
			return nil, fmt.Errorf("accept: %w", err)
		}
		select {
		case got := <-running:
			if got != req.id {
				return nil, fmt.Errorf("unexpected RUNNING for %s", got)
			}
			lat = append(lat, float64(time.Since(req.start).Microseconds())/1000)
		case <-time.After(30 * time.Second):
			return nil, fmt.Errorf("launch %d: not running within 30s", i)
		}
		_ = cl.Kill(ctx, mesosv1.ID{Value: id}, nil, &mesosv1.KillPolicy{GracePeriod: &mesosv1.DurationInfo{}})
		select {
		case <-ended:
		case <-time.After(30 * time.Second):
			return nil, fmt.Errorf("launch %d: not killed within 30s", i)
		}
		_ = cl.Revive(ctx)
	}
	_ = cl.Teardown(ctx)
	return []result{summarize("launch", "ACCEPT → TASK_RUNNING (posix sleep)", "ms", "p50 ≤ 30 ms", lat)}, nil
}

// --- failover ---------------------------------------------------------------

func benchFailover(ctx context.Context, bin, dir string, trials int) ([]result, error) {
	c, err := startReady(ctx, proccluster.Options{Bin: bin, Dir: dir, Masters: 3})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var samples []float64
	for i := range trials {
		leader, err := c.Leader(ctx)
		if err != nil {
			return nil, err
		}
		// Make sure every master runs and follows the leader before a trial.
		killAt := time.Now()
		if err := leader.Signal(syscall.SIGKILL); err != nil {
			return nil, err
		}
		pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err = proccluster.Poll(pctx, 10*time.Millisecond, func(ctx context.Context) error {
			for _, m := range c.Masters {
				if m == leader || !m.Running() {
					continue
				}
				if subscribeOK(ctx, m.URL) {
					return nil
				}
			}
			return errors.New("no master accepts SUBSCRIBE yet")
		})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("trial %d: %w\n%s", i, err, c.Logs())
		}
		samples = append(samples, float64(time.Since(killAt).Milliseconds()))
		if err := leader.Start(); err != nil {
			return nil, err
		}
		// Wait until the restarted master follows the leader again.
		pctx, cancel = context.WithTimeout(ctx, 60*time.Second)
		err = proccluster.Poll(pctx, 50*time.Millisecond, func(ctx context.Context) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, leader.URL+"/master/redirect", nil)
			resp, err := httpc.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusTemporaryRedirect {
				return fmt.Errorf("restarted master: %s", resp.Status)
			}
			return nil
		})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("trial %d: restarted master did not rejoin: %w", i, err)
		}
		time.Sleep(2 * time.Second) // let the store settle before the next kill
	}
	return []result{summarize("failover", "kill -9 leader → new leader answers SUBSCRIBE", "ms", "p50 ≤ 1500 ms", samples)}, nil
}

// subscribeOK reports whether base answers SUBSCRIBE with a SUBSCRIBED event.
func subscribeOK(ctx context.Context, base string) bool {
	body, _ := json.Marshal(mesosv1.Call{Type: mesosv1.CallSubscribe, Subscribe: &mesosv1.CallSubscribeBody{
		FrameworkInfo: mesosv1.FrameworkInfo{User: "root", Name: "bench-failover-probe"}}})
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/scheduler", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := httpc.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	rec, err := recordio.NewReader(bufio.NewReader(resp.Body), 1<<20).ReadRecord()
	if err != nil {
		return false
	}
	var ev mesosv1.Event
	return json.Unmarshal(rec, &ev) == nil && ev.Type == mesosv1.EventSubscribed
}
