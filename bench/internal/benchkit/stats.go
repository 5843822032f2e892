package benchkit

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// Result is one measured figure.
type Result struct {
	Scenario string  `json:"scenario"`
	Metric   string  `json:"metric"`
	Unit     string  `json:"unit"`
	N        int     `json:"n"`
	Min      float64 `json:"min"`
	P50      float64 `json:"p50"`
	P99      float64 `json:"p99"`
	Max      float64 `json:"max"`
	Target   string  `json:"target,omitempty"`
	Met      string  `json:"met,omitempty"`     // "yes", "no", or empty without a target
	Command  string  `json:"command,omitempty"` // the load generator's command line, if any
	// Over is "trials" for a figure measured once per trial (see
	// SummarizeTrials): then N counts trials, P50 is the median across
	// them and P99 is not computed (it equals Max).
	Over    string    `json:"over,omitempty"`
	Samples []float64 `json:"samples"`
}

// Percentile is the nearest-rank percentile p (0 < p ≤ 100) of sorted s:
// the smallest sample such that at least p% of the samples are ≤ it.
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// Summarize computes min/p50/p99/max of samples. check, if not nil, says
// whether the summary meets target.
func Summarize(scenario, metric, unit string, samples []float64, target string, check func(Result) bool) Result {
	s := slices.Clone(samples)
	slices.Sort(s)
	r := Result{Scenario: scenario, Metric: metric, Unit: unit, N: len(s), Samples: samples, Target: target}
	if len(s) > 0 {
		r.Min, r.P50, r.P99, r.Max = s[0], Percentile(s, 50), Percentile(s, 99), s[len(s)-1]
	}
	if check != nil {
		r.Met = "no"
		if len(s) > 0 && check(r) {
			r.Met = "yes"
		}
	}
	return r
}

// Median is the median of sorted s: the middle sample, or the mean of the
// two middle ones for an even count (0 for none).
func Median(sorted []float64) float64 {
	n := len(sorted)
	switch {
	case n == 0:
		return 0
	case n%2 == 1:
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// SummarizeTrials summarizes a figure measured once per trial: min, median
// and max across the trials (Over "trials"; P99 is set to Max, since a
// percentile of a handful of trials means nothing more). check, if not
// nil, says whether the summary meets target.
func SummarizeTrials(scenario, metric, unit string, perTrial []float64, target string, check func(Result) bool) Result {
	r := Summarize(scenario, metric, unit, perTrial, target, nil)
	s := slices.Sorted(slices.Values(perTrial))
	r.Over, r.P50, r.P99 = "trials", Median(s), r.Max
	if check != nil {
		r.Met = "no"
		if len(s) > 0 && check(r) {
			r.Met = "yes"
		}
	}
	return r
}

// PrintTable writes the results as markdown: one table of distributions
// (n samples: min/p50/p99/max) and one of per-trial figures (n trials:
// min/median/max across trials), each only if it has rows.
func PrintTable(w io.Writer, rs []Result) {
	var dist, trials []Result
	for _, r := range rs {
		if r.Over == "trials" {
			trials = append(trials, r)
		} else {
			dist = append(dist, r)
		}
	}
	if len(dist) > 0 {
		fmt.Fprintln(w, "| scenario | metric | n | min | p50 | p99 | max | target |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
		for _, r := range dist {
			fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s | %s |\n", r.Scenario, r.Metric, r.N,
				format(r.Min, r.Unit), format(r.P50, r.Unit), format(r.P99, r.Unit), format(r.Max, r.Unit), targetCell(r))
		}
	}
	if len(trials) > 0 {
		if len(dist) > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w, "| scenario | metric (one figure per trial) | trials | min | median | max | target |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
		for _, r := range trials {
			fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s |\n", r.Scenario, r.Metric, r.N,
				format(r.Min, r.Unit), format(r.P50, r.Unit), format(r.Max, r.Unit), targetCell(r))
		}
	}
}

func targetCell(r Result) string {
	target := r.Target
	switch r.Met {
	case "yes":
		target += " ✓"
	case "no":
		target += " ✗ (missed)"
	}
	if target == "" {
		return "—"
	}
	return strings.TrimSpace(target)
}

func format(v float64, unit string) string {
	switch unit {
	case "B":
		switch {
		case v >= 1<<20:
			return fmt.Sprintf("%.2f MiB", v/(1<<20))
		case v >= 1<<10:
			return fmt.Sprintf("%.1f KiB", v/(1<<10))
		}
		return fmt.Sprintf("%.0f B", v)
	case "ms":
		if v >= 1000 {
			return fmt.Sprintf("%.3g s", v/1000)
		}
		if v < 0 {
			return fmt.Sprintf("%.3f ms", v)
		}
	case "qps", "queries":
		return fmt.Sprintf("%.0f %s", v, unit)
	case "µs":
		return fmt.Sprintf("%.0f µs", v)
	}
	return strings.TrimSpace(fmt.Sprintf("%.3g %s", v, unit))
}
