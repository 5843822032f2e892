// Command scale runs Basalt's cluster-scale scenarios: real `basalt master`
// processes (internal/proccluster) and thousands of simulated agents
// (internal/simagent) in this process, driven through the public APIs.
// With -master-profile, the leading master's CPU profile during the launch
// is saved (the masters then serve /debug/pprof on loopback).
// It prints a markdown table and, with -json, writes the samples:
//
//	go run ./bench/scale -scenario all -agents 10000 -apps 1000 -instances 100 -json bench/scale-results.json
//
// Scenarios:
//
//	throughput  -agents simulated agents register; -apps Marathon apps of
//	            -instances each are POSTed (8 at a time) → time until
//	            Marathon's GET /v2/apps counts every task running; tasks/s.
//	api         GET /v2/apps?embed=apps.tasks, GET /master/state and
//	            GET /v2/apps/{id} latency while throughput runs and after it.
//	footprint   after throughput: master RSS, store size on disk, and the CPU
//	            used by the idle master and by the simulator over -idle.
//	ceiling     raw store write rate on this disk: an embedded etcd member
//	            under -dir, keys/s for one caller with 1, 100 and 1000 keys
//	            per transaction and for 64 concurrent single-key callers.
//	failover    on 3 masters (-masters, at least 3), with every task running:
//	            kill -9 the master leading the Mesos kernel, then time the
//	            new kernel leader, every agent re-registered with it, and
//	            Marathon re-subscribed and reconciled; count the tasks
//	            killed (KILL events at the simulator) and lost.
//	agentloss   apps with unreachableStrategy {0,0} on agents sized to fit
//	            -room times their share of the tasks (so the tasks spread);
//	            -lose agents holding tasks vanish (streams cut, no
//	            heartbeat, no reconnect); time until the
//	            master marks them unreachable (with short -ping-timeout,
//	            -max-ping-timeouts, -agent-heartbeat) and until Marathon runs
//	            every app at full count again on the other agents.
//
// -scenario takes a comma-separated list; "all" is every scenario. api and
// footprint run on throughput's cluster ("api" alone still runs the
// launch, to have the load); failover and agentloss each start their own
// cluster. Every selected scenario runs -trials times, each time on a
// fresh cluster: figures measured once per trial are reported as
// min/median/max across trials, latencies as distributions over every
// request of every trial.
//
// It is a benchmark tool, not part of Basalt: it must not be imported, and
// its timings are wall-clock on the machine it runs on (the output says which).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/basalt-dcos/basalt/bench/internal/benchkit"
)

type options struct {
	scenario   string
	trials     int
	agents     int
	apps       int
	instances  int
	masters    int
	requests   int
	idle       time.Duration
	timeout    time.Duration
	jsonOut    string
	cpuProfile string
	dir        string
	masterProf string
	profileFor time.Duration
	masterHeap string
	masterArgs string
	workers    int
	connects   int // simulator: SUBSCRIBE requests in flight at once

	recoverTimeout time.Duration // failover, agentloss: give up waiting after this
	observe        time.Duration // failover: watch for kills this long after recovery
	lose           int           // agentloss: agents that vanish
	room           float64       // agentloss: agents fit room × their share of the tasks
	pingTimeout    time.Duration // agentloss: the master's --agent-ping-timeout
	maxPings       int           // agentloss: its --max-agent-ping-timeouts
	heartbeat      time.Duration // agentloss: its --agent-heartbeat-interval
}

func main() {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.scenario, "scenario", "all", "comma-separated: throughput,api,footprint,ceiling,failover,agentloss, or all")
	fs.IntVar(&o.trials, "trials", 1, "repetitions of every selected scenario, each on a fresh cluster")
	fs.IntVar(&o.agents, "agents", 1000, "simulated agents")
	fs.IntVar(&o.apps, "apps", 100, "Marathon apps")
	fs.IntVar(&o.instances, "instances", 100, "instances per app")
	fs.IntVar(&o.masters, "masters", 1, "basalt master processes (1 or 3)")
	fs.IntVar(&o.requests, "requests", 20, "api: requests per endpoint after the launch")
	fs.DurationVar(&o.idle, "idle", 20*time.Second, "footprint: window over which idle CPU is measured")
	fs.DurationVar(&o.timeout, "timeout", 15*time.Minute, "throughput: give up (and report the partial figure) after this")
	fs.StringVar(&o.jsonOut, "json", "", "also write the results as JSON to this file")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (the simulator) to this file")
	fs.StringVar(&o.masterProf, "master-profile", "", "write the leading master's CPU profile, taken during the launch, to this file")
	fs.DurationVar(&o.profileFor, "master-profile-for", 30*time.Second, "length of -master-profile")
	fs.StringVar(&o.masterHeap, "master-heap", "", "write the leading master's heap profile, taken after the launch (and the idle window), to this file")
	fs.StringVar(&o.dir, "dir", "", "directory for the masters' data and logs and the ceiling's store (default: a new dir under $TMPDIR)")
	fs.StringVar(&o.masterArgs, "master-args", "", "extra flags for every `basalt master` (space-separated)")
	fs.IntVar(&o.workers, "sim-workers", 32, "simulator: goroutines sending agent calls")
	fs.IntVar(&o.connects, "sim-connect-concurrency", 64, "simulator: SUBSCRIBE requests in flight at once (registration and re-registration)")
	fs.DurationVar(&o.recoverTimeout, "recover-timeout", 5*time.Minute, "failover, agentloss: give up waiting for recovery after this")
	fs.DurationVar(&o.observe, "observe", 10*time.Second, "failover: after recovery, keep counting KILLs and lost tasks for this long")
	fs.IntVar(&o.lose, "lose", 100, "agentloss: agents (with tasks) that vanish")
	fs.Float64Var(&o.room, "room", 2, "agentloss: each simulated agent fits this many times its even share of the tasks")
	fs.DurationVar(&o.pingTimeout, "ping-timeout", 4*time.Second, "agentloss: the masters' --agent-ping-timeout")
	fs.IntVar(&o.maxPings, "max-ping-timeouts", 2, "agentloss: the masters' --max-agent-ping-timeouts")
	fs.DurationVar(&o.heartbeat, "agent-heartbeat", 2*time.Second, "agentloss: the masters' --agent-heartbeat-interval (the simulated agents follow it)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if err := run(o, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "scale bench:", err)
		os.Exit(1)
	}
}

func run(o options, args []string) error {
	sel, err := parseScenarios(o.scenario)
	if err != nil {
		return err
	}
	var bad []string
	if o.trials < 1 {
		bad = append(bad, fmt.Sprintf("-trials must be at least 1, got %d", o.trials))
	}
	if sel["agentloss"] && (o.room < 1 || o.lose < 1 || o.maxPings < 1 || o.pingTimeout <= 0 || o.heartbeat <= 0) {
		bad = append(bad, fmt.Sprintf("agentloss needs -room ≥ 1, -lose ≥ 1, -max-ping-timeouts ≥ 1 and positive -ping-timeout and -agent-heartbeat (got %g, %d, %d, %s, %s)",
			o.room, o.lose, o.maxPings, o.pingTimeout, o.heartbeat))
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	if o.dir == "" {
		d, err := os.MkdirTemp("", "basalt-scale-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		o.dir = d
	}
	stopProfile, err := benchkit.CPUProfile(o.cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	ctx := context.Background()
	run := benchkit.Start("scale", args)
	results, err := benchTrials(ctx, o, sel)
	if err != nil {
		// Partial figures are still printed and written.
		fmt.Fprintln(os.Stderr, "scale bench:", err)
	}
	run.PrintHeader(os.Stdout)
	benchkit.PrintTable(os.Stdout, results)
	if werr := run.WriteJSON(o.jsonOut, results); werr != nil {
		return werr
	}
	return err
}

// scenarios is the set of scenarios a run selected.
type scenarios map[string]bool

// allScenarios lists every scenario, in the order a trial runs them.
func allScenarios() []string {
	return []string{"throughput", "api", "footprint", "failover", "agentloss", "ceiling"}
}

// parseScenarios reads -scenario: a comma-separated list, or "all".
func parseScenarios(s string) (scenarios, error) {
	sel := scenarios{}
	all := allScenarios()
	var unknown []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "all":
			for _, n := range all {
				sel[n] = true
			}
		case slices.Contains(all, name):
			sel[name] = true
		case name != "":
			unknown = append(unknown, strconv.Quote(name))
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("unknown scenario %s (want a comma-separated list of %s, or all)", strings.Join(unknown, ", "), strings.Join(all, ","))
	}
	if len(sel) == 0 {
		return nil, fmt.Errorf("no scenario selected (want a comma-separated list of %s, or all)", strings.Join(all, ","))
	}
	return sel, nil
}

// launch reports whether a scenario that runs the launch on its own
// cluster (throughput, api, footprint) is selected.
func (s scenarios) launch() bool { return s["throughput"] || s["api"] || s["footprint"] }
