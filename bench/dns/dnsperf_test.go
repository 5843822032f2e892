package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// sampleOutput is dnsperf 2.10.0's output of a short -v run (trimmed).
const sampleOutput = `DNS Performance Testing Tool
Version 2.10.0

[Status] Command line: dnsperf -s 127.0.0.1 -p 40000 -d q.txt -l 3 -Q 10 -v
[Status] Sending queries (to 127.0.0.1:40000)
[Status] Started at: Mon Jan  5 10:00:00 2026
[Status] Stopping after 3.000000 seconds
> NOERROR a0001.g00.dnsbench.marathon.mesos A 0.000104
> NXDOMAIN nx00001.dnsbench.marathon.mesos A 0.000250
> T _a0002-g00-dnsbench._tcp.marathon.mesos SRV
[Status] Testing complete (time limit)

Statistics:

  Queries sent:         3
  Queries completed:    2 (66.67%)
  Queries lost:         1 (33.33%)

  Response codes:       NOERROR 1 (50.00%), NXDOMAIN 1 (50.00%)
  Average packet size:  request 48, response 80
  Run time (s):         3.000100
  Queries per second:   0.666644

  Average Latency (s):  0.000177 (min 0.000104, max 0.000250)
  Latency StdDev (s):   0.000103
`

func TestParsePerf(t *testing.T) {
	r, err := parsePerf(strings.NewReader(sampleOutput))
	if err != nil {
		t.Fatal(err)
	}
	want := perfSummary{Sent: 3, Completed: 2, Lost: 1, QPS: 0.666644, AvgLatency: 0.000177, RunTime: 3.0001,
		Rcodes: "NOERROR 1 (50.00%), NXDOMAIN 1 (50.00%)"}
	if diff := cmp.Diff(want, r.Summary); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]float64{104, 250}, r.Latencies, cmp.Comparer(func(a, b float64) bool { return a-b < 1e-6 && b-a < 1e-6 })); diff != "" {
		t.Errorf("latencies µs (-want +got):\n%s", diff)
	}
	if r.Timeouts != 1 {
		t.Errorf("timeouts = %d, want 1", r.Timeouts)
	}
}

func TestParsePerfRejectsVerboseLineWithoutLatency(t *testing.T) {
	if _, err := parsePerf(strings.NewReader("> NOERROR a.mesos A soon\n")); err == nil {
		t.Error("no error for a verbose line without a latency")
	}
}

func FuzzParsePerf(f *testing.F) {
	f.Add(sampleOutput)
	f.Add("> T\n> \n>  \n  Queries sent: x\n:")
	f.Add("  Queries per second:\n")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parsePerf(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, l := range r.Latencies {
			if l < 0 {
				t.Fatalf("negative latency %v", l)
			}
		}
	})
}
