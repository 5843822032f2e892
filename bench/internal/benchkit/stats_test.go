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
