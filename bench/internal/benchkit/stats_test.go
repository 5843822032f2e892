package benchkit

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPercentile(t *testing.T) {
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(i + 1)
	}
	tests := []struct {
		name   string
		sorted []float64
		p      float64
		want   float64
	}{
		{"empty", nil, 50, 0},
		{"one sample", []float64{7}, 99, 7},
		{"median of odd count", []float64{1, 2, 3}, 50, 2},
		{"median of even count is the lower middle", []float64{1, 2, 3, 4}, 50, 2},
		{"p99 of 100 is the 99th", hundred, 99, 99},
		{"p100 is the max", hundred, 100, 100},
		{"p99 of 20 is the max", hundred[:20], 99, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	under := func(r Result) bool { return r.P50 <= 100 }
	tests := []struct {
		name    string
		samples []float64
		check   func(Result) bool
		want    Result
	}{
		{"met", []float64{90, 10, 50}, under,
			Result{Scenario: "s", Metric: "m", Unit: "ms", N: 3, Min: 10, P50: 50, P99: 90, Max: 90, Target: "t", Met: "yes", Samples: []float64{90, 10, 50}}},
		{"missed", []float64{300, 200}, under,
			Result{Scenario: "s", Metric: "m", Unit: "ms", N: 2, Min: 200, P50: 200, P99: 300, Max: 300, Target: "t", Met: "no", Samples: []float64{300, 200}}},
		{"no samples cannot meet a target", nil, under,
			Result{Scenario: "s", Metric: "m", Unit: "ms", Target: "t", Met: "no"}},
		{"no target", []float64{1}, nil,
			Result{Scenario: "s", Metric: "m", Unit: "ms", N: 1, Min: 1, P50: 1, P99: 1, Max: 1, Target: "t", Samples: []float64{1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Summarize("s", "m", "ms", tt.samples, "t", tt.check)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("summarize (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrintTable(t *testing.T) {
	var buf bytes.Buffer
	PrintTable(&buf, []Result{
		{Scenario: "list", Metric: "size", Unit: "B", N: 1, Min: 2 << 20, P50: 2 << 20, P99: 2 << 20, Max: 2 << 20},
		{Scenario: "launch1", Metric: "lat", Unit: "ms", N: 2, Min: 5, P50: 5, P99: 1500, Max: 1500, Target: "p50 ≤ 100 ms", Met: "no"},
	})
	want := strings.Join([]string{
		"| scenario | metric | n | min | p50 | p99 | max | target |",
		"|---|---|---|---|---|---|---|---|",
		"| list | size | 1 | 2.00 MiB | 2.00 MiB | 2.00 MiB | 2.00 MiB | — |",
		"| launch1 | lat | 2 | 5 ms | 5 ms | 1.5 s | 1.5 s | p50 ≤ 100 ms ✗ (missed) |",
		"",
	}, "\n")
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		name   string
		sorted []float64
		want   float64
	}{
		{"empty", nil, 0},
		{"one", []float64{4}, 4},
		{"odd count: the middle", []float64{1, 5, 9}, 5},
		{"even count: mean of the two middle", []float64{1, 2, 4, 10}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Median(tt.sorted); got != tt.want {
				t.Errorf("Median(%v) = %v, want %v", tt.sorted, got, tt.want)
			}
		})
	}
}

func TestSummarizeTrials(t *testing.T) {
	within := func(r Result) bool { return r.Max <= 10_000 }
	tests := []struct {
		name  string
		per   []float64
		check func(Result) bool
		want  Result
	}{
		{"three trials", []float64{9000, 4000, 6000}, within,
			Result{Scenario: "s", Metric: "m", Unit: "ms", N: 3, Min: 4000, P50: 6000, P99: 9000, Max: 9000, Target: "t", Met: "yes", Over: "trials", Samples: []float64{9000, 4000, 6000}}},
		{"two trials: the median is their mean", []float64{12_000, 4000}, within,
			Result{Scenario: "s", Metric: "m", Unit: "ms", N: 2, Min: 4000, P50: 8000, P99: 12_000, Max: 12_000, Target: "t", Met: "no", Over: "trials", Samples: []float64{12_000, 4000}}},
		{"no trial cannot meet a target", nil, within,
			Result{Scenario: "s", Metric: "m", Unit: "ms", Target: "t", Met: "no", Over: "trials"}},
		{"no target", []float64{1}, nil,
			Result{Scenario: "s", Metric: "m", Unit: "ms", N: 1, Min: 1, P50: 1, P99: 1, Max: 1, Target: "t", Over: "trials", Samples: []float64{1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SummarizeTrials("s", "m", "ms", tt.per, "t", tt.check)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("summarize trials (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrintTableTrials(t *testing.T) {
	var buf bytes.Buffer
	PrintTable(&buf, []Result{
		SummarizeTrials("failover", "kill → new leader", "ms", []float64{1200, 900, 3000}, "≤ 10 s", func(r Result) bool { return r.Max <= 10_000 }),
		Summarize("api", "GET x", "ms", []float64{1, 2}, "", nil),
		SummarizeTrials("failover", "tasks killed", "tasks", []float64{0, 0, 0}, "", nil),
	})
	want := strings.Join([]string{
		"| scenario | metric | n | min | p50 | p99 | max | target |",
		"|---|---|---|---|---|---|---|---|",
		"| api | GET x | 2 | 1 ms | 1 ms | 2 ms | 2 ms | — |",
		"",
		"| scenario | metric (one figure per trial) | trials | min | median | max | target |",
		"|---|---|---|---|---|---|---|",
		"| failover | kill → new leader | 3 | 900 ms | 1.2 s | 3 s | ≤ 10 s ✓ |",
		"| failover | tasks killed | 3 | 0 tasks | 0 tasks | 0 tasks | — |",
		"",
	}, "\n")
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}
