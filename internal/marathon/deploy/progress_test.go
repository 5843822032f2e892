package deploy

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-dcos/basalt/pkg/marathon"
)

var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// inst is an instance of version v staged at second since, in state
// "sched" (scheduled), "run" (running, unhealthy), "healthy" (not ready)
// or "ready"; a trailing "!" marks it killing.
func inst(id, v string, since int, state string) Instance {
	in := Instance{ID: id, Version: v, Since: epoch.Add(time.Duration(since) * time.Second)}
	if n := len(state); n > 0 && state[n-1] == '!' {
		in.Killing = true
		state = state[:n-1]
	}
	switch state {
	case "sched":
		in.Scheduled = true
	case "run":
		in.Running = true
	case "healthy":
		in.Running, in.Healthy = true, true
	case "ready":
		in.Running, in.Healthy, in.Ready = true, true, true
	default:
		panic("unknown state " + state)
	}
	return in
}

func state(n int, us *marathon.UpgradeStrategy, killSelection string, insts ...Instance) AppState {
	a := app("/a", n)
	a.Version = "v2"
	a.UpgradeStrategy = us
	a.KillSelection = killSelection
	return AppState{App: a, Instances: insts}
}

func strategy(minHealthy, maxOver float64) *marathon.UpgradeStrategy {
	return &marathon.UpgradeStrategy{MinimumHealthCapacity: minHealthy, MaximumOverCapacity: maxOver}
}

func TestProgressStartScaleStop(t *testing.T) {
	const y, o = "YOUNGEST_FIRST", "OLDEST_FIRST"
	ready := func(ids ...string) []Instance {
		var out []Instance
		for i, id := range ids {
			out = append(out, inst(id, "v1", i+1, "ready"))
		}
		return out
	}
	tests := []struct {
		name string
		kind string
		s    AppState
		want Decision
	}{
		{"start 0->3", marathon.ActionStart, state(3, nil, y), Decision{Launch: 3}},
		{"start, all scheduled", marathon.ActionStart, state(3, nil, y,
			inst("a", "v2", 1, "sched"), inst("b", "v2", 2, "sched"), inst("c", "v2", 3, "sched")), Decision{}},
		{"start, one not yet healthy", marathon.ActionStart, state(3, nil, y,
			inst("a", "v2", 1, "ready"), inst("b", "v2", 2, "run"), inst("c", "v2", 3, "ready")), Decision{}},
		{"start, healthy but not ready", marathon.ActionStart, state(1, nil, y,
			inst("a", "v2", 1, "healthy")), Decision{}},
		{"start done", marathon.ActionStart, state(3, nil, y, ready("a", "b", "c")...), Decision{Done: true}},
		{"start with zero instances is done at once", marathon.ActionStart, state(0, nil, y), Decision{Done: true}},
		{"killing instance is no capacity", marathon.ActionStart, state(3, nil, y,
			inst("a", "v2", 1, "ready"), inst("b", "v2", 2, "ready"), inst("c", "v2", 3, "ready!")), Decision{Launch: 1}},
		{"killing instance does not block done", marathon.ActionScale, state(2, nil, y,
			inst("a", "v2", 1, "ready"), inst("b", "v2", 2, "ready"), inst("c", "v2", 3, "ready!")), Decision{Done: true}},
		{"scale up", marathon.ActionScale, state(5, nil, y, ready("a", "b")...), Decision{Launch: 3}},
		{"scale up, mixed versions count", marathon.ActionScale, state(3, nil, y,
			inst("a", "v1", 1, "ready"), inst("b", "v2", 2, "ready"), inst("c", "v0", 3, "ready")), Decision{Done: true}},
		{"scale down youngest first", marathon.ActionScale, state(2, nil, y,
			append(ready("t1", "t2", "t3", "t4"), inst("s", "v1", 0, "sched"))...),
			Decision{Kill: []string{"s", "t4", "t3"}}},
		{"scale down oldest first", marathon.ActionScale, state(2, nil, o,
			append(ready("t1", "t2", "t3", "t4"), inst("s", "v1", 9, "sched"))...),
			Decision{Kill: []string{"s", "t1", "t2"}}},
		{"scale down, default selection is youngest first", marathon.ActionScale, state(1, nil, "",
			ready("t1", "t2", "t3")...), Decision{Kill: []string{"t3", "t2"}}},
		{"scale down does not kill twice", marathon.ActionScale, state(2, nil, y,
			inst("t1", "v1", 1, "ready"), inst("t2", "v1", 2, "ready"), inst("t3", "v1", 3, "ready"),
			inst("t4", "v1", 4, "ready!")),
			Decision{Kill: []string{"t3"}}},
		{"scale to zero", marathon.ActionScale, state(0, nil, y, ready("t1", "t2")...), Decision{Kill: []string{"t2", "t1"}}},
		{"stop kills all", marathon.ActionStop, state(3, nil, y,
			inst("t1", "v1", 1, "ready"), inst("t2", "v1", 2, "run"), inst("t3", "v1", 3, "ready!"), inst("s", "v1", 4, "sched")),
			Decision{Kill: []string{"s", "t2", "t1"}}},
		{"stop waits for killing instances", marathon.ActionStop, state(3, nil, y, inst("t1", "v1", 1, "ready!")), Decision{}},
		{"stop done", marathon.ActionStop, state(3, nil, y), Decision{Done: true}},
		{"resolve artifacts is done", marathon.ActionResolve, state(3, nil, y), Decision{Done: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Progress(tt.kind, tt.s)); diff != "" {
				t.Errorf("Progress(%s) (-want +got):\n%s", tt.kind, diff)
			}
		})
	}
}

func TestProgressRestart(t *testing.T) {
	const y, o = "YOUNGEST_FIRST", "OLDEST_FIRST"
	old := func(n int, st string) []Instance {
		var out []Instance
		for i := range n {
			out = append(out, inst(fmt.Sprintf("o%d", i+1), "v1", i+1, st))
		}
		return out
	}
	cur := func(n int, st string) []Instance {
		var out []Instance
		for i := range n {
			out = append(out, inst(fmt.Sprintf("n%d", i+1), "v2", 100+i, st))
		}
		return out
	}
	cat := func(parts ...[]Instance) []Instance {
		var out []Instance
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name string
		s    AppState
		want Decision
	}{
		// {1,1}: start all new side by side, kill old as new get ready.
		{"{1,1} begin", state(3, strategy(1, 1), y, old(3, "ready")...), Decision{Launch: 3}},
		{"nil strategy is {1,1}", state(3, nil, y, old(3, "ready")...), Decision{Launch: 3}},
		{"{1,1} new scheduled", state(3, strategy(1, 1), y, cat(old(3, "ready"), cur(3, "sched"))...), Decision{}},
		{"{1,1} new healthy, not ready", state(3, strategy(1, 1), y, cat(old(3, "ready"), cur(3, "healthy"))...), Decision{}},
		{"{1,1} two new ready", state(3, strategy(1, 1), y,
			cat(old(3, "ready"), cur(2, "ready"), cur(3, "sched")[2:])...), Decision{Kill: []string{"o3", "o2"}}},
		{"{1,1} all new ready", state(3, strategy(1, 1), y, cat(old(3, "ready"), cur(3, "ready"))...),
			Decision{Kill: []string{"o3", "o2", "o1"}}},
		{"{1,1} old killing", state(3, strategy(1, 1), y, cat(old(3, "ready!"), cur(3, "ready"))...), Decision{Done: true}},
		{"done", state(3, strategy(1, 1), y, cur(3, "ready")...), Decision{Done: true}},
		// {0,0}: kill all old, then launch.
		{"{0,0} begin", state(3, strategy(0, 0), y, old(3, "ready")...),
			Decision{Kill: []string{"o3", "o2", "o1"}, Launch: 3}},
		{"{0,0} new scheduled", state(3, strategy(0, 0), y, cat(old(3, "ready!"), cur(3, "sched"))...), Decision{}},
		// {0.5,0}: n=4 → keep 2 healthy, never more than 4.
		{"{0.5,0} begin", state(4, strategy(0.5, 0), y, old(4, "ready")...),
			Decision{Kill: []string{"o4", "o3"}, Launch: 2}},
		{"{0.5,0} begin oldest first", state(4, strategy(0.5, 0), o, old(4, "ready")...),
			Decision{Kill: []string{"o1", "o2"}, Launch: 2}},
		{"{0.5,0} new scheduled", state(4, strategy(0.5, 0), y, cat(old(2, "ready"), cur(2, "sched"))...), Decision{}},
		{"{0.5,0} new ready", state(4, strategy(0.5, 0), y, cat(old(2, "ready"), cur(2, "ready"))...),
			Decision{Kill: []string{"o2", "o1"}, Launch: 2}},
		// {1,0}: one extra instance lets it move.
		{"{1,0} begin", state(3, strategy(1, 0), y, old(3, "ready")...), Decision{Launch: 1}},
		{"{1,0} new scheduled", state(3, strategy(1, 0), y, cat(old(3, "ready"), cur(1, "sched"))...), Decision{}},
		{"{1,0} new ready", state(3, strategy(1, 0), y, cat(old(3, "ready"), cur(1, "ready"))...),
			Decision{Kill: []string{"o3"}, Launch: 1}},
		{"{1,0} unhealthy old go first and free", state(3, strategy(1, 0), y,
			cat(old(2, "ready"), []Instance{inst("sick", "v1", 0, "run")})...),
			Decision{Kill: []string{"sick"}, Launch: 2}},
		// {0.5,0.5}: n=4 → keep 2, at most 6.
		{"{0.5,0.5} begin", state(4, strategy(0.5, 0.5), y, old(4, "ready")...),
			Decision{Kill: []string{"o4", "o3"}, Launch: 4}},
		{"{0.5,0.5} half ready", state(4, strategy(0.5, 0.5), y,
			cat(old(2, "ready"), cur(2, "ready"), cur(4, "sched")[2:])...),
			Decision{Kill: []string{"o2", "o1"}}},
		// Instances changed together with the config.
		{"scale down during restart", state(2, strategy(1, 1), y, cur(3, "ready")...), Decision{Kill: []string{"n3"}}},
		{"scale down during restart, scheduled first", state(2, strategy(1, 1), y,
			cat(cur(2, "ready"), []Instance{inst("s", "v2", 1, "sched")})...), Decision{Kill: []string{"s"}}},
		{"scale down during restart, unready before ready", state(1, strategy(1, 1), y,
			inst("r", "v2", 9, "ready"), inst("u", "v2", 1, "run"), inst("s", "v2", 5, "sched")), Decision{Kill: []string{"s", "u"}}},
		{"scale up during restart", state(3, strategy(1, 0), y, old(1, "ready")...), Decision{Launch: 3}},
		{"more old than wanted", state(2, strategy(1, 0), y, old(5, "ready")...),
			Decision{Kill: []string{"o5", "o4", "o3"}, Launch: 1}},
		{"restart to zero", state(0, strategy(1, 1), y, old(2, "ready")...), Decision{Kill: []string{"o2", "o1"}}},
		{"restart of nothing", state(0, strategy(1, 1), y), Decision{Done: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Progress(marathon.ActionRestart, tt.s)); diff != "" {
				t.Errorf("Progress(restart) (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRestartBounds(t *testing.T) {
	tests := []struct {
		n                          int
		us                         *marathon.UpgradeStrategy
		wantMinHealthy, wantMaxTot int
	}{
		{3, nil, 3, 6},
		{3, strategy(1, 1), 3, 6},
		{3, strategy(0, 0), 0, 3},
		{3, strategy(1, 0), 3, 4}, // the extra instance
		{1, strategy(1, 0), 1, 2},
		{1, strategy(0.25, 0), 1, 2},
		{0, strategy(1, 0), 0, 1},
		{3, strategy(0.5, 0), 2, 3},
		{10, strategy(0.7, 0.1), 7, 11}, // 0.7*10 = 7.000000000000001
		{10, strategy(0.3, 0.3), 3, 13}, // 0.3*10 = 3.0000000000000004
		{7, strategy(0.5, 0.5), 4, 10},
	}
	for _, tt := range tests {
		minH, maxT := restartBounds(tt.n, tt.us)
		if minH != tt.wantMinHealthy || maxT != tt.wantMaxTot {
			t.Errorf("restartBounds(%d, %+v) = %d, %d; want %d, %d", tt.n, tt.us, minH, maxT, tt.wantMinHealthy, tt.wantMaxTot)
		}
	}
}

// fleet is a fake instance set that carries out Decisions: a launch makes
// a scheduled instance that is running, healthy and ready one round later;
// a kill marks the instance killing, and it is gone one round later.
type fleet struct {
	t     *testing.T
	insts []Instance
	next  int
}

func (f *fleet) apply(d Decision, version string) {
	f.t.Helper()
	for _, id := range d.Kill {
		found := false
		for i := range f.insts {
			if f.insts[i].ID == id {
				if f.insts[i].Killing {
					f.t.Errorf("instance %s killed twice", id)
				}
				f.insts[i].Killing, found = true, true
			}
		}
		if !found {
			f.t.Errorf("killed unknown instance %s", id)
		}
	}
	if d.Launch < 0 {
		f.t.Errorf("negative launch %d", d.Launch)
	}
	for range d.Launch {
		f.next++
		f.insts = append(f.insts, Instance{
			ID: fmt.Sprintf("i%d", f.next), Version: version, Scheduled: true,
			Since: epoch.Add(time.Duration(f.next) * time.Second),
		})
	}
}

// advance moves one round on: killed instances are gone, scheduled ones
// are up.
func (f *fleet) advance() {
	kept := f.insts[:0]
	for _, in := range f.insts {
		if in.Killing {
			continue
		}
		if in.Scheduled {
			in.Scheduled, in.Running, in.Healthy, in.Ready = false, true, true, true
		}
		kept = append(kept, in)
	}
	f.insts = kept
}

// counts returns the non-killing instances and how many are healthy
// (old) or ready (new).
func (f *fleet) counts(version string) (total, healthy int) {
	for _, in := range f.insts {
		if in.Killing {
			continue
		}
		total++
		if (in.Version == version && in.Ready) || (in.Version != version && in.Healthy) {
			healthy++
		}
	}
	return total, healthy
}

func TestRestartSimulation(t *testing.T) {
	capacities := []float64{0, 0.25, 0.5, 0.75, 1}
	for n := 1; n <= 10; n++ {
		for _, minCap := range capacities {
			for _, overCap := range capacities {
				for _, sel := range []string{"YOUNGEST_FIRST", "OLDEST_FIRST"} {
					name := fmt.Sprintf("n=%d/min=%g/over=%g/%s", n, minCap, overCap, sel)
					t.Run(name, func(t *testing.T) {
						simulateRestart(t, n, n, strategy(minCap, overCap), sel)
					})
				}
			}
		}
	}
	// Instances change together with the config.
	for _, c := range []struct{ from, to int }{{1, 5}, {5, 1}, {4, 0}, {0, 3}} {
		t.Run(fmt.Sprintf("from %d to %d", c.from, c.to), func(t *testing.T) {
			simulateRestart(t, c.from, c.to, strategy(0.5, 0.5), "YOUNGEST_FIRST")
		})
	}
}

func simulateRestart(t *testing.T, from, n int, us *marathon.UpgradeStrategy, sel string) {
	t.Helper()
	minHealthy, maxTotal := restartBounds(n, us)
	f := &fleet{t: t}
	for i := range from {
		f.insts = append(f.insts, inst(fmt.Sprintf("old%d", i), "v1", -i, "ready"))
	}
	s := state(n, us, sel)
	check := func(round int, when string) {
		total, healthy := f.counts(s.App.Version)
		if healthy < min(minHealthy, from) {
			t.Fatalf("round %d %s: %d healthy, below minHealthy %d: %+v", round, when, healthy, minHealthy, f.insts)
		}
		if total > max(maxTotal, from) {
			t.Fatalf("round %d %s: %d instances, above maxTotal %d: %+v", round, when, total, maxTotal, f.insts)
		}
	}
	limit := 4*max(n, from) + 10
	for round := 0; ; round++ {
		if round > limit {
			t.Fatalf("not done after %d rounds: %+v", limit, f.insts)
		}
		s.Instances = f.insts
		d := Progress(marathon.ActionRestart, s)
		if d.Done {
			if d.Launch != 0 || len(d.Kill) != 0 {
				t.Errorf("done with work left: %+v", d)
			}
			break
		}
		f.apply(d, s.App.Version)
		check(round, "after the decision")
		f.advance()
		check(round, "after the round")
	}
	f.advance()
	total := 0
	for _, in := range f.insts {
		if in.Version != s.App.Version || !in.Ready {
			t.Errorf("at the end: %+v is not a ready new instance", in)
		}
		total++
	}
	if total != n {
		t.Errorf("at the end: %d instances, want %d", total, n)
	}
}

func TestScaleSimulation(t *testing.T) {
	for _, kind := range []string{marathon.ActionStart, marathon.ActionScale, marathon.ActionStop} {
		for from := 0; from <= 6; from++ {
			for _, n := range []int{0, 1, 3, 6} {
				t.Run(fmt.Sprintf("%s/%d->%d", kind, from, n), func(t *testing.T) {
					f := &fleet{t: t}
					for i := range from {
						f.insts = append(f.insts, inst(fmt.Sprintf("old%d", i), "v1", -i, "ready"))
					}
					s := state(n, nil, "OLDEST_FIRST")
					want := n
					if kind == marathon.ActionStop {
						want = 0
					}
					for round := 0; ; round++ {
						if round > 5 {
							t.Fatalf("not done after 5 rounds: %+v", f.insts)
						}
						s.Instances = f.insts
						d := Progress(kind, s)
						if d.Done {
							break
						}
						f.apply(d, s.App.Version)
						total, _ := f.counts(s.App.Version)
						if total < min(from, want) || total > max(from, want) {
							t.Fatalf("round %d: %d instances, outside [%d, %d]", round, total, min(from, want), max(from, want))
						}
						f.advance()
					}
					if kind != marathon.ActionStop {
						f.advance() // killed instances may still be going away
					}
					if len(f.insts) != want {
						t.Errorf("done with %d instances, want %d", len(f.insts), want)
					}
				})
			}
		}
	}
}

// FuzzProgress checks the invariants of every decision over arbitrary
// states: nothing negative, no instance killed twice or invented, killing
// instances never killed again, and a restart never drops the healthy
// capacity below its floor when it starts at or above it.
func FuzzProgress(f *testing.F) {
	f.Add([]byte{3, 4, 0, 1, 2, 3, 4, 5}, uint8(2), uint8(2), uint8(0))
	f.Add([]byte{0x81, 0x44, 0x12}, uint8(0), uint8(4), uint8(1))
	f.Fuzz(func(t *testing.T, spec []byte, minQ, overQ, kindN uint8) {
		if len(spec) == 0 || len(spec) > 40 {
			return
		}
		kinds := []string{marathon.ActionStart, marathon.ActionScale, marathon.ActionStop, marathon.ActionRestart}
		kind := kinds[int(kindN)%len(kinds)]
		n := int(spec[0] % 12)
		us := strategy(float64(minQ%5)/4, float64(overQ%5)/4)
		s := state(n, us, []string{"YOUNGEST_FIRST", "OLDEST_FIRST"}[spec[0]>>7])
		for i, b := range spec[1:] {
			// bit 0: new version; bits 1-2: sched/run/healthy/ready; bit 3: killing.
			in := inst(fmt.Sprintf("i%d", i), []string{"v1", "v2"}[b&1], int(b>>4), []string{"sched", "run", "healthy", "ready"}[(b>>1)&3])
			in.Killing = b&8 != 0
			s.Instances = append(s.Instances, in)
		}
		d := Progress(kind, s)
		if d.Launch < 0 {
			t.Fatalf("negative launch: %+v", d)
		}
		byID := map[string]Instance{}
		for _, in := range s.Instances {
			byID[in.ID] = in
		}
		killed := map[string]bool{}
		for _, id := range d.Kill {
			in, ok := byID[id]
			switch {
			case !ok:
				t.Fatalf("killed unknown %s", id)
			case in.Killing:
				t.Fatalf("killed %s again", id)
			case killed[id]:
				t.Fatalf("killed %s twice in one decision", id)
			}
			killed[id] = true
		}
		if d.Done && (d.Launch != 0 || len(d.Kill) != 0) {
			t.Fatalf("done with work left: %+v", d)
		}
		if kind != marathon.ActionRestart {
			return
		}
		minHealthy, _ := restartBounds(n, us)
		capacity := func(skip map[string]bool) int {
			c := 0
			for _, in := range s.Instances {
				if in.Killing || skip[in.ID] {
					continue
				}
				if (in.Version == "v2" && in.Ready) || (in.Version != "v2" && in.Healthy) {
					c++
				}
			}
			return c
		}
		before, after := capacity(nil), capacity(killed)
		if before >= minHealthy && after < minHealthy {
			t.Fatalf("capacity %d -> %d, below minHealthy %d: %+v", before, after, minHealthy, d)
		}
	})
}
