// Command dns benchmarks the masters' DNS server (package internal/dns)
// against an in-process cluster — real masters (embedded etcd, Mesos
// master, Marathon, DNS following the leader's operator event stream) and
// agents with the fake runtime, where a task is RUNNING as soon as the
// agent launches it. It prints a markdown table and, with -json, writes the
// samples:
//
//	go run ./bench/dns -scenario all -trials 3 -dir /dev/shm -json bench/dns-results.json
//
// Scenarios:
//
//	qps        -apps apps × -instances instances (default 1,000 × 10 =
//	           10,000 RUNNING tasks) on 20 agents; once the DNS table holds
//	           every task, dnsperf (a separate process) asks a mix of `.mesos`
//	           names: each app's A and SRV name, each task's canonical A name
//	           and 10% names that do not exist. A throughput run per trial
//	           (queries/s, average latency, lost queries), then runs at fixed
//	           rates (-rate, and 50% of the median throughput) whose
//	           per-query latencies (dnsperf -v) give p50/p99/p99.9.
//	           With -isolated (default), the same records are then served by
//	           a DNS server alone in the process, cluster stopped, and
//	           measured the same way ("qps-isolated"): the server's own
//	           capacity, without the masters, Marathon and 20 agents sharing
//	           the two cores.
//	staleness  -stale trials: POST a 1-instance app, and time from its
//	           TASK_RUNNING status_update_event on Marathon's /v2/events to
//	           the first A answer for it from the master's DNS, polled every
//	           2 ms. Run on an empty cluster (2 agents) and, with -scenario
//	           all, also on the 10,000-task cluster after qps.
//
// The DNS server, the cluster and dnsperf share the machine's cores: the
// figures are what the box can do with all of them on one host, not what a
// dedicated DNS host would do.
//
// It is a benchmark tool, not part of Basalt: it must not be imported, and
// its timings are wall-clock on the machine it runs on (the output says which).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/basalt-dcos/basalt/bench/internal/benchkit"
)

type options struct {
	scenario   string
	trials     int
	apps       int
	instances  int
	chunk      int
	agents     int
	duration   int
	clients    int
	threads    int
	outstand   int
	rate       int
	latDur     int
	nxPercent  int
	stale      int
	jsonOut    string
	cpuProfile string
	staleProf  string
	logs       bool
	dir        string
	keep       string
	isolated   bool
}

func main() {
	fs := flag.NewFlagSet("dns", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.scenario, "scenario", "all", "qps|staleness|all")
	fs.IntVar(&o.trials, "trials", 3, "qps: throughput and fixed-rate runs")
	fs.IntVar(&o.apps, "apps", 1000, "qps: number of apps")
	fs.IntVar(&o.instances, "instances", 10, "qps: instances per app")
	fs.IntVar(&o.chunk, "chunk", 100, "qps: apps per group POSTed during setup")
	fs.IntVar(&o.agents, "agents", 20, "qps: agents (cpus:1000;mem:1000000;ports:[10000-60000] each)")
	fs.IntVar(&o.duration, "l", 15, "qps: seconds of each throughput run (dnsperf -l)")
	fs.IntVar(&o.clients, "c", 2, "qps: dnsperf -c (clients, i.e. sockets)")
	fs.IntVar(&o.threads, "T", 1, "qps: dnsperf -T (threads)")
	fs.IntVar(&o.outstand, "q", 100, "qps: dnsperf -q (queries outstanding)")
	fs.IntVar(&o.rate, "rate", 30000, "qps: fixed rate (dnsperf -Q) of the first latency run; the second runs at 50% of the measured throughput")
	fs.IntVar(&o.latDur, "latl", 10, "qps: seconds of each fixed-rate run")
	fs.IntVar(&o.nxPercent, "nx", 10, "qps: percentage of names in the query file that do not exist")
	fs.IntVar(&o.stale, "stale", 50, "staleness: apps launched, one at a time")
	fs.StringVar(&o.jsonOut, "json", "", "also write the results as JSON to this file")
	fs.StringVar(&o.staleProf, "staleprofile", "", "write a CPU profile of this process (cluster and DNS server) during the staleness launches on the loaded cluster")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (cluster and DNS server; not dnsperf) during qps's throughput runs")
	fs.StringVar(&o.dir, "dir", "", "directory for the nodes' data (etcd, agent checkpoints); default $TMPDIR. /dev/shm takes fsync out of the setup")
	fs.StringVar(&o.keep, "keep", "", "qps: keep dnsperf's query file and outputs in this directory")
	fs.BoolVar(&o.isolated, "isolated", true, "qps: also serve the same records from a DNS server alone in the process (after the cluster stops) and measure it")
	fs.BoolVar(&o.logs, "logs", false, "print the nodes' last warnings and errors after each scenario")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if err := run(o, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "dns bench:", err)
		os.Exit(1)
	}
}

func run(o options, args []string) error {
	switch o.scenario {
	case "all", "qps", "staleness":
	default:
		return fmt.Errorf("unknown scenario %q (qps|staleness|all)", o.scenario)
	}
	if o.trials < 1 || o.apps < 1 || o.instances < 1 || o.chunk < 1 || o.agents < 1 || o.stale < 1 {
		return fmt.Errorf("-trials, -apps, -instances, -chunk, -agents and -stale must be ≥ 1")
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
	if o.scenario != "staleness" {
		if _, err := exec.LookPath("dnsperf"); err != nil {
			return fmt.Errorf("qps needs dnsperf (apt-get install dnsperf=2.10.0-2): %w", err)
		}
	}
	ctx := context.Background()
	run := benchkit.Start("dns", args)
	var results []benchkit.Result
	do := func(name string, f func() ([]benchkit.Result, error)) error {
		fmt.Fprintf(os.Stderr, "scenario %s...\n", name)
		t0 := time.Now()
		rs, err := f()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		fmt.Fprintf(os.Stderr, "scenario %s done in %s\n", name, time.Since(t0).Round(time.Millisecond))
		results = append(results, rs...)
		return nil
	}
	if o.scenario == "all" || o.scenario == "qps" {
		if err := do("qps", func() ([]benchkit.Result, error) { return benchLoaded(ctx, o, o.scenario == "all") }); err != nil {
			return err
		}
	}
	if o.scenario == "all" || o.scenario == "staleness" {
		if err := do("staleness (empty cluster)", func() ([]benchkit.Result, error) { return benchStaleEmpty(ctx, o) }); err != nil {
			return err
		}
	}
	run.PrintHeader(os.Stdout)
	benchkit.PrintTable(os.Stdout, results)
	var cmds []string
	for _, r := range results {
		if r.Command != "" && !strings.Contains(strings.Join(cmds, "\n"), r.Command) {
			cmds = append(cmds, r.Command)
		}
	}
	if len(cmds) > 0 {
		fmt.Println("\nLoad generator commands (port and file are the run's):")
		for _, c := range cmds {
			fmt.Printf("\n    %s\n", c)
		}
	}
	return run.WriteJSON(o.jsonOut, results)
}
