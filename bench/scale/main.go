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
//
// api and footprint run on throughput's cluster (all three run once per
// trial; "api" alone still runs the launch, to have the load).
//
// It is a benchmark tool, not part of Basalt: it must not be imported, and
// its timings are wall-clock on the machine it runs on (the output says which).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
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
}

func main() {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.scenario, "scenario", "all", "throughput|api|footprint|ceiling|all")
	fs.IntVar(&o.trials, "trials", 1, "repetitions of throughput (with api and footprint), each on a fresh cluster")
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
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if err := run(o, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "scale bench:", err)
		os.Exit(1)
	}
}

func run(o options, args []string) error {
	switch o.scenario {
	case "all", "throughput", "api", "footprint", "ceiling":
	default:
		return fmt.Errorf("unknown scenario %q (throughput|api|footprint|ceiling|all)", o.scenario)
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
	var results []benchkit.Result
	if o.scenario != "ceiling" {
		rs, err := benchCluster(ctx, o)
		results = append(results, rs...)
		if err != nil {
			// Partial figures are still printed and written.
			fmt.Fprintln(os.Stderr, "scale bench:", err)
		}
	}
	// Last: its etcd member lives in this process and would count in the
	// simulator's RSS.
	if o.scenario == "all" || o.scenario == "ceiling" {
		fmt.Fprintln(os.Stderr, "scenario ceiling...")
		rs, err := benchCeiling(ctx, o)
		if err != nil {
			return fmt.Errorf("ceiling: %w", err)
		}
		results = append(results, rs...)
	}
	run.PrintHeader(os.Stdout)
	benchkit.PrintTable(os.Stdout, results)
	return run.WriteJSON(o.jsonOut, results)
}
