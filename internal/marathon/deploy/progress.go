package deploy

import (
	"cmp"
	"math"
	"slices"

	"github.com/basalt-dcos/basalt/pkg/marathon"
)

// Progress is a function of the state, not a state machine: the caller
// calls it after every change and carries out what it returns. It can do
// so safely because everything it decided before shows in the state —
// launches as Scheduled instances, kills as Killing ones — so a decision is
// never repeated.
//
// A rolling restart, n = instances, with the capacity bounds
//
//	minHealthy = ceil(n * minimumHealthCapacity)
//	maxTotal   = floor(n * (1 + maximumOverCapacity))   (n+1 if both are n)
//
// moves like this, each line being one call:
//
//	old instances ──kill while healthy old + ready new stays ≥ minHealthy──▶ gone
//	new instances ◀─launch while old (not killing) + new stays ≤ maxTotal─── n
//
// and is done when no old instance is left and all n new ones are healthy
// and ready.

// epsilon absorbs float error in n*capacity (0.7*10 is 7.000000000000001).
const epsilon = 1e-9

// live is the instances not already being killed.
func live(insts []Instance) []Instance {
	out := make([]Instance, 0, len(insts))
	for _, in := range insts {
		if !in.Killing {
			out = append(out, in)
		}
	}
	return out
}

// killOrder returns insts in the order they should die: scheduled ones
// (never launched) first, then per killSelection — YOUNGEST_FIRST (the
// default) the most recently staged first, OLDEST_FIRST the other way.
// Ties break by id so the order is deterministic.
func killOrder(insts []Instance, killSelection string) []Instance {
	out := slices.Clone(insts)
	oldestFirst := killSelection == "OLDEST_FIRST"
	slices.SortFunc(out, func(a, b Instance) int {
		if a.Scheduled != b.Scheduled {
			if a.Scheduled {
				return -1
			}
			return 1
		}
		c := b.Since.Compare(a.Since)
		if oldestFirst {
			c = -c
		}
		return cmp.Or(c, cmp.Compare(a.ID, b.ID))
	})
	return out
}

// settled reports whether the instance counts as deployed: running,
// healthy and ready.
func settled(in Instance) bool { return in.Healthy && in.Ready && !in.Scheduled }

func ids(insts []Instance) []string {
	if len(insts) == 0 {
		return nil
	}
	out := make([]string, len(insts))
	for i, in := range insts {
		out[i] = in.ID
	}
	return out
}

func progressScale(s AppState) Decision {
	n := max(s.App.Instances, 0)
	cur := live(s.Instances)
	switch {
	case len(cur) < n:
		return Decision{Launch: n - len(cur)}
	case len(cur) > n:
		return Decision{Kill: ids(killOrder(cur, s.App.KillSelection)[:len(cur)-n])}
	}
	return Decision{Done: !slices.ContainsFunc(cur, func(in Instance) bool { return !settled(in) })}
}

func progressStop(s AppState) Decision {
	return Decision{
		Kill: ids(killOrder(live(s.Instances), s.App.KillSelection)),
		Done: len(s.Instances) == 0,
	}
}

// restartBounds returns minHealthy and maxTotal for n instances.
func restartBounds(n int, us *marathon.UpgradeStrategy) (minHealthy, maxTotal int) {
	strategy := marathon.UpgradeStrategy{MinimumHealthCapacity: 1, MaximumOverCapacity: 1}
	if us != nil {
		strategy = *us
	}
	minHealthy = int(math.Ceil(float64(n)*strategy.MinimumHealthCapacity - epsilon))
	maxTotal = int(math.Floor(float64(n)*(1+strategy.MaximumOverCapacity) + epsilon))
	minHealthy = min(max(minHealthy, 0), n)
	maxTotal = max(maxTotal, n)
	if minHealthy == n && maxTotal == n {
		// Neither killing an old instance nor launching a new one would
		// be allowed; one extra instance lets the upgrade move.
		maxTotal = n + 1
	}
	return minHealthy, maxTotal
}

func progressRestart(s AppState) Decision {
	n := max(s.App.Instances, 0)
	minHealthy, maxTotal := restartBounds(n, s.App.UpgradeStrategy)
	var old, cur []Instance
	for _, in := range live(s.Instances) {
		if in.Version == s.App.Version {
			cur = append(cur, in)
		} else {
			old = append(old, in)
		}
	}
	if len(old) == 0 && len(cur) == n && !slices.ContainsFunc(cur, func(in Instance) bool { return !settled(in) }) {
		return Decision{Done: true}
	}

	var d Decision
	// Scaled down during the restart: too many new instances. Those not
	// ready go first so that no healthy capacity is lost needlessly.
	if len(cur) > n {
		ordered := killOrder(cur, s.App.KillSelection)
		slices.SortStableFunc(ordered, func(a, b Instance) int {
			return cmp.Compare(boolRank(a.Ready), boolRank(b.Ready))
		})
		d.Kill = append(d.Kill, ids(ordered[:len(cur)-n])...)
		cur = ordered[len(cur)-n:]
	}

	capacity := 0
	for _, in := range old {
		if in.Healthy {
			capacity++
		}
	}
	for _, in := range cur {
		if in.Ready {
			capacity++
		}
	}
	// Unhealthy old instances cost no capacity: they go first, all of them.
	// Healthy ones go while enough healthy capacity remains.
	var sick, well []Instance
	for _, in := range old {
		if in.Healthy {
			well = append(well, in)
		} else {
			sick = append(sick, in)
		}
	}
	killed := 0
	for _, in := range killOrder(sick, s.App.KillSelection) {
		d.Kill = append(d.Kill, in.ID)
		killed++
	}
	for _, in := range killOrder(well, s.App.KillSelection) {
		if capacity-1 < minHealthy {
			break
		}
		d.Kill = append(d.Kill, in.ID)
		capacity--
		killed++
	}

	d.Launch = max(0, min(n-len(cur), maxTotal-(len(old)-killed)-len(cur)))
	return d
}

// boolRank orders false before true.
func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}
