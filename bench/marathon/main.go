// Command marathon benchmarks Basalt's Marathon (/v2 API) against an
// in-process cluster — real masters (embedded etcd, Mesos master, Marathon)
// and agents with the fake runtime, where a task is RUNNING as soon as the
// agent launches it — so the figures measure Marathon, the master and the
// agents, not process start-up. It prints a markdown table and, with -json,
// writes the samples:
//
//	go run ./bench/marathon -scenario all -trials 3 -json bench/marathon-results.json
//
// Scenarios:
//
//	list        1,000 apps × 10 instances (10,000 tasks) on 20 agents; then
//	            -requests sequential GETs each of /v2/apps?embed=apps.tasks,
//	            /v2/apps/{id} and /v2/tasks: latency and response size.
//	launch1     POST /v2/apps with 1 instance → its status_update_event
//	            TASK_RUNNING on /v2/events (max(20, 10×trials) apps, one at a
//	            time, on 2 agents).
//	launch1000  one app with 1,000 instances on 100 agents → GET shows
//	            tasksRunning 1000, and → its deployment is gone (-trials apps,
//	            each deleted before the next).
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
	apps       int
	instances  int
	requests   int
	chunk      int
	jsonOut    string
	cpuProfile string
	getProfile string
	logs       bool
	dir        string
}

func main() {
	fs := flag.NewFlagSet("marathon", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.scenario, "scenario", "all", "list|launch1|launch1000|all")
	fs.IntVar(&o.trials, "trials", 3, "launch1000 repetitions (launch1 runs max(20, 10×trials) apps)")
	fs.IntVar(&o.apps, "apps", 1000, "list: number of apps")
	fs.IntVar(&o.instances, "instances", 10, "list: instances per app")
	fs.IntVar(&o.chunk, "chunk", 100, "list: apps per group POSTed during setup")
	fs.IntVar(&o.requests, "requests", 200, "list: requests per endpoint")
	fs.StringVar(&o.jsonOut, "json", "", "also write the results as JSON to this file")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run (cluster included) to this file")
	fs.StringVar(&o.dir, "dir", "", "directory for the nodes' data (etcd, agent checkpoints); default $TMPDIR. /dev/shm takes fsync out of the figures")
	fs.StringVar(&o.getProfile, "getprofile", "", "write a CPU profile of list's measured GETs only to this file")
	fs.BoolVar(&o.logs, "logs", false, "print the nodes' last warnings and errors after each scenario")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if err := run(o, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "marathon bench:", err)
		os.Exit(1)
	}
}

func run(o options, args []string) error {
	switch o.scenario {
	case "all", "list", "launch1", "launch1000":
	default:
		return fmt.Errorf("unknown scenario %q (list|launch1|launch1000|all)", o.scenario)
	}
	if err := benchkit.Init(); err != nil {
		return err
	}
	if o.dir != "" {
		// clustertest puts every node's data under t.TempDir, which honours TMPDIR.
		if err := os.Setenv("TMPDIR", o.dir); err != nil {
			return fmt.Errorf("set TMPDIR: %w", err)
		}
	}
	stopProfile, err := benchkit.CPUProfile(o.cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	ctx := context.Background()
	run := benchkit.Start("marathon", args)
	var results []benchkit.Result
	do := func(name string, f func(context.Context, options) ([]benchkit.Result, error)) error {
		if o.scenario != "all" && o.scenario != name {
			return nil
		}
		fmt.Fprintf(os.Stderr, "scenario %s...\n", name)
		t0 := time.Now()
		rs, err := f(ctx, o)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		fmt.Fprintf(os.Stderr, "scenario %s done in %s\n", name, time.Since(t0).Round(time.Millisecond))
		results = append(results, rs...)
		return nil
	}
	for _, s := range []struct {
		name string
		f    func(context.Context, options) ([]benchkit.Result, error)
	}{{"list", benchList}, {"launch1", benchLaunch1}, {"launch1000", benchLaunch1000}} {
		if err := do(s.name, s.f); err != nil {
			return err
		}
	}
	run.PrintHeader(os.Stdout)
	benchkit.PrintTable(os.Stdout, results)
	return run.WriteJSON(o.jsonOut, results)
}
