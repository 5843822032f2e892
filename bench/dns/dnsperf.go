package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os/exec"
	"strconv"
	"strings"
)

// perfSummary is the "Statistics:" block dnsperf prints at the end of a run.
type perfSummary struct {
	Sent, Completed, Lost uint64
	QPS                   float64
	AvgLatency            float64 // seconds
	RunTime               float64 // seconds
	Rcodes                string  // dnsperf's "Response codes:" line, as printed
}

// perfRun is one dnsperf run: its summary and, with -v, the latency of
// every answered query in microseconds (timeouts have none).
type perfRun struct {
	Summary   perfSummary
	Latencies []float64
	Timeouts  int
	Output    []byte // stderr and the non-verbose part of stdout, for errors
}

// dnsperf runs dnsperf with args and parses its output. With verbose, -v is
// added and every "> RCODE name type latency" line is collected.
func dnsperf(ctx context.Context, args []string, verbose bool) (perfRun, error) {
	if verbose {
		args = append(args, "-v")
	}
	cmd := exec.CommandContext(ctx, "dnsperf", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return perfRun{}, err
	}
	if err := cmd.Start(); err != nil {
		return perfRun{}, fmt.Errorf("start dnsperf: %w", err)
	}
	r, perr := parsePerf(out)
	werr := cmd.Wait()
	r.Output = append(r.Output, stderr.Bytes()...)
	if werr != nil {
		return r, fmt.Errorf("dnsperf %s: %w: %s", strings.Join(args, " "), werr, r.Output)
	}
	if perr != nil {
		return r, fmt.Errorf("dnsperf %s: %w: %s", strings.Join(args, " "), perr, r.Output)
	}
	if r.Summary.Sent == 0 {
		return r, fmt.Errorf("dnsperf %s: no statistics in its output: %s", strings.Join(args, " "), r.Output)
	}
	return r, nil
}

// parsePerf reads dnsperf 2.10's standard output. Verbose lines are
//
//	> NOERROR a0001.g00.dnsbench.marathon.mesos A 0.000104
//	> T a0001.g00.dnsbench.marathon.mesos A
//
// (rcode, the query line from the data file, latency in seconds; "T" is a
// timeout). The summary's lines are "  Key:   value".
func parsePerf(rd io.Reader) (perfRun, error) {
	var r perfRun
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "> "); ok {
			f := strings.Fields(rest)
			if len(f) > 0 && f[0] == "T" {
				r.Timeouts++
				continue
			}
			if len(f) < 2 {
				continue
			}
			sec, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil || !(sec >= 0) || math.IsInf(sec, 1) {
				return r, fmt.Errorf("verbose line %q: no latency", line)
			}
			r.Latencies = append(r.Latencies, sec*1e6)
			continue
		}
		if len(r.Output) < 64<<10 {
			r.Output = append(append(r.Output, line...), '\n')
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		first := v
		if f := strings.Fields(v); len(f) > 0 {
			first = f[0]
		}
		switch strings.TrimSpace(k) {
		case "Queries sent":
			r.Summary.Sent, _ = strconv.ParseUint(first, 10, 64)
		case "Queries completed":
			r.Summary.Completed, _ = strconv.ParseUint(first, 10, 64)
		case "Queries lost":
			r.Summary.Lost, _ = strconv.ParseUint(first, 10, 64)
		case "Queries per second":
			r.Summary.QPS, _ = strconv.ParseFloat(first, 64)
		case "Average Latency (s)":
			r.Summary.AvgLatency, _ = strconv.ParseFloat(first, 64)
		case "Run time (s)":
			r.Summary.RunTime, _ = strconv.ParseFloat(first, 64)
		case "Response codes":
			r.Summary.Rcodes = v
		}
	}
	return r, sc.Err()
}
