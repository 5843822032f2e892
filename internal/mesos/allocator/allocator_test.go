package allocator

import (
	"math"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
	"github.com/google/go-cmp/cmp"
)

func TestShares(t *testing.T) {
	tests := []struct {
		name      string
		weights   map[string]float64
		held      map[string]string // framework (in role "r-"+framework) → resources held on a1
		wantRole  map[string]float64
		wantFrame map[string]float64
	}{
		{
			name:      "cpu dominant",
			held:      map[string]string{"f1": "cpus:5;mem:100"},
			wantRole:  map[string]float64{"r-f1": 0.25},
			wantFrame: map[string]float64{"f1": 0.25},
		},
		{
			name:      "mem dominant",
			held:      map[string]string{"f1": "cpus:1;mem:1000", "f2": "disk:75"},
			wantRole:  map[string]float64{"r-f1": 0.5, "r-f2": 0.375},
			wantFrame: map[string]float64{"f1": 0.5, "f2": 0.375},
		},
		{
			name:      "weight divides the role share only",
			weights:   map[string]float64{"r-f1": 2, "r-f2": 0.5},
			held:      map[string]string{"f1": "cpus:5", "f2": "cpus:2"},
			wantRole:  map[string]float64{"r-f1": 0.125, "r-f2": 0.2},
			wantFrame: map[string]float64{"f1": 0.25, "f2": 0.1},
		},
		{
			name:      "nothing held",
			held:      map[string]string{"f1": ""},
			wantRole:  map[string]float64{"r-f1": 0, "unknown": 0},
			wantFrame: map[string]float64{"f1": 0, "unknown": 0},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Weights = tc.weights
			a := New(cfg)
			a.AddAgent("a1", rs(t, "cpus:10;mem:1000;disk:100"))
			a.AddAgent("a2", rs(t, "cpus:10;mem:1000;disk:100"))
			for fw, held := range tc.held {
				a.AddFramework(fw, []string{"r-" + fw}, false, nil)
				a.AddAllocated(fw, "a1", rs(t, held))
			}
			checkInvariants(t, a)
			for r, want := range tc.wantRole {
				if got := a.RoleShare(r); math.Abs(got-want) > 1e-9 {
					t.Errorf("RoleShare(%s) = %v, want %v", r, got, want)
				}
			}
			for f, want := range tc.wantFrame {
				if got := a.FrameworkShare(f); math.Abs(got-want) > 1e-9 {
					t.Errorf("FrameworkShare(%s) = %v, want %v", f, got, want)
				}
			}
		})
	}
}

func TestRoleOrderAndWeights(t *testing.T) {
	tests := []struct {
		name    string
		weights map[string]float64
		want    string
	}{
		{name: "lowest share first", want: "fb"},
		{name: "equal weights explicit", weights: map[string]float64{"a": 1, "b": 1}, want: "fb"},
		{name: "weight lowers the share", weights: map[string]float64{"a": 4}, want: "fa"},
		{name: "weight raises the share", weights: map[string]float64{"b": 0.25}, want: "fa"},
	}
	for _, tc := range tests {
		for _, viaSet := range []bool{false, true} {
			t.Run(tc.name, func(t *testing.T) {
				cfg := testConfig()
				if !viaSet {
					cfg.Weights = tc.weights
				}
				a := New(cfg)
				a.AddAgent("a1", rs(t, "cpus:8;mem:8192"))
				a.AddAgent("a2", rs(t, "cpus:8;mem:8192"))
				a.AddFramework("fa", []string{"a"}, false, nil)
				a.AddFramework("fb", []string{"b"}, false, nil)
				a.AddAllocated("fa", "a1", rs(t, "cpus:6;mem:1024"))
				a.AddAllocated("fb", "a1", rs(t, "cpus:2;mem:1024"))
				if viaSet {
					a.SetWeights(tc.weights)
				}
				offers := a.AllocateAgents(t0(), []string{"a2"})
				if len(offers) != 1 || offers[0].FrameworkID != tc.want {
					t.Fatalf("offers %v, want one to %s", offerKeys(offers), tc.want)
				}
				checkInvariants(t, a)
			})
		}
	}
}

func TestFrameworksInOneRoleAlternate(t *testing.T) {
	a := New(testConfig())
	var ids []string
	for i := range 6 {
		id := string(rune('0' + i))
		ids = append(ids, id)
		a.AddAgent(id, rs(t, "cpus:1;mem:128"))
	}
	a.AddFramework("fb", []string{"r"}, false, nil)
	a.AddFramework("fa", []string{"r"}, false, nil)
	var got []string
	for _, id := range ids {
		for _, o := range a.AllocateAgents(t0(), []string{id}) {
			got = append(got, o.FrameworkID)
		}
	}
	if diff := cmp.Diff([]string{"fa", "fb", "fa", "fb", "fa", "fb"}, got); diff != "" {
		t.Errorf("grant order (-want +got):\n%s", diff)
	}

	// A whole cycle splits evenly too.
	b := New(testConfig())
	for _, id := range ids {
		b.AddAgent(id, rs(t, "cpus:1;mem:128"))
	}
	b.AddFramework("fa", []string{"r"}, false, nil)
	b.AddFramework("fb", []string{"r"}, false, nil)
	count := map[string]int{}
	for _, o := range b.Allocate(t0()) {
		count[o.FrameworkID]++
	}
	if diff := cmp.Diff(map[string]int{"fa": 3, "fb": 3}, count); diff != "" {
		t.Errorf("offers per framework (-want +got):\n%s", diff)
	}
	checkInvariants(t, b)
}

func TestReservedResources(t *testing.T) {
	const agentRes = "cpus:4;mem:1024;cpus(ads):2;mem(ads):512"
	tests := []struct {
		name       string
		frameworks map[string]string // id → role
		want       []string
	}{
		{
			name:       "unreserved role gets unreserved only",
			frameworks: map[string]string{"f1": "*"},
			want:       []string{"f1@a1/*:cpus:4;mem:1024"},
		},
		{
			name:       "reservation role gets both in one offer",
			frameworks: map[string]string{"f2": "ads"},
			want:       []string{"f2@a1/ads:cpus:4;cpus(ads):2;mem:1024;mem(ads):512"},
		},
		{
			name:       "two roles split",
			frameworks: map[string]string{"f1": "*", "f2": "ads"},
			want:       []string{"f1@a1/*:cpus:4;mem:1024", "f2@a1/ads:cpus(ads):2;mem(ads):512"},
		},
		{
			name:       "other role never sees the reservation",
			frameworks: map[string]string{"f3": "other"},
			want:       []string{"f3@a1/other:cpus:4;mem:1024"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := New(testConfig())
			a.AddAgent("a1", rs(t, agentRes))
			for id, role := range tc.frameworks {
				a.AddFramework(id, []string{role}, false, nil)
			}
			offers := a.Allocate(t0())
			checkAllocInfo(t, offers)
			if diff := cmp.Diff(tc.want, offerKeys(offers)); diff != "" {
				t.Errorf("offers (-want +got):\n%s", diff)
			}
			for _, o := range offers {
				for _, r := range o.Resources {
					if mesosv1.ReservationRole(r) == "ads" {
						want := []mesosv1.ReservationInfo{{Type: "STATIC", Role: "ads"}}
						if diff := cmp.Diff(want, r.Reservations); diff != "" {
							t.Errorf("reservations (-want +got):\n%s", diff)
						}
					}
				}
			}
			checkInvariants(t, a)
			if again := a.Allocate(t0()); len(again) != 0 {
				t.Errorf("second cycle offered %v", offerKeys(again))
			}
		})
	}
}

func TestFilters(t *testing.T) {
	a := New(testConfig())
	a.AddAgent("a1", rs(t, "cpus:4;mem:1024"))
	a.AddFramework("fa", []string{"r"}, false, nil)
	a.AddFramework("fb", []string{"r"}, false, nil)
	now := t0()

	step := func(at time.Duration, want ...string) []Offer {
		t.Helper()
		offers := a.Allocate(now.Add(at))
		var got []string
		for _, o := range offers {
			got = append(got, o.FrameworkID)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("at %v offers to (-want +got):\n%s", at, diff)
		}
		checkInvariants(t, a)
		return offers
	}
	o := step(0, "fa")
	a.Recover("fa", "a1", o[0].Resources, 5*time.Second, now)
	o = step(time.Second, "fb") // fa filtered
	a.Recover("fb", "a1", o[0].Resources, 10*time.Second, now.Add(time.Second))
	step(2 * time.Second) // both filtered
	step(4999 * time.Millisecond)
	o = step(5*time.Second, "fa") // fa's filter expired
	a.Recover("fa", "a1", o[0].Resources, 0, now.Add(5*time.Second))
	step(6*time.Second, "fa") // declined without a filter: offered again
}

func TestFilterCoversOnlyRefusedResources(t *testing.T) {
	a := New(testConfig())
	a.AddAgent("a1", rs(t, "cpus:4;mem:1024"))
	a.AddFramework("fa", []string{"r"}, false, nil)
	o := a.Allocate(t0())
	// Refuse one cpu for an hour, give back the rest without a filter.
	a.Recover("fa", "a1", rs(t, "cpus:1").Allocate("r"), time.Hour, t0())
	a.Recover("fa", "a1", o[0].Resources, 0, t0())
	got := a.Allocate(t0().Add(time.Second))
	if diff := cmp.Diff([]string{"fa@a1/r:cpus:4;mem:1024"}, offerKeys(got)); diff != "" {
		t.Errorf("offers (-want +got):\n%s", diff)
	}
	// Now decline everything for an hour: the agent is filtered.
	a.Recover("fa", "a1", got[0].Resources, time.Hour, t0().Add(time.Second))
	if got := a.Allocate(t0().Add(time.Minute)); len(got) != 0 {
		t.Errorf("filtered agent offered: %v", offerKeys(got))
	}
	// Refuse is capped at 365 days.
	a.Recover("fa", "a1", nil, 1000*24*time.Hour, t0())
	if got := a.Allocate(t0().Add(2 * time.Hour)); len(got) != 1 {
		t.Errorf("after expiry: %v", offerKeys(got))
	}
}

func TestReviveClearsFilters(t *testing.T) {
	a := New(testConfig())
	a.AddAgent("a1", rs(t, "cpus:4;mem:1024"))
	a.AddAgent("a2", rs(t, "cpus:4;mem:1024"))
	a.AddFramework("fa", []string{"r"}, false, nil)
	for _, o := range a.Allocate(t0()) {
		a.Recover(o.FrameworkID, o.AgentID, o.Resources, time.Hour, t0())
	}
	if got := a.Allocate(t0()); len(got) != 0 {
		t.Fatalf("filtered: %v", offerKeys(got))
	}
	a.Revive("fa", nil)
	if got := a.Allocate(t0()); len(got) != 2 {
		t.Errorf("after revive: %v", offerKeys(got))
	}
	checkInvariants(t, a)
}

func TestSuppressRevive(t *testing.T) {
	tests := []struct {
		name        string
		roles       []string
		initial     []string // suppressed at AddFramework
		suppress    []string // Suppress call (nil = all roles); skipped when skip is true
		skip        bool
		revive      []string
		wantBefore  []string // roles offered before revive
		wantAfterRv []string
	}{
		{name: "suppress all", roles: []string{"a"}, wantBefore: nil, wantAfterRv: []string{"a"}},
		{name: "suppressed at subscribe", roles: []string{"a"}, initial: []string{"a"}, skip: true, wantAfterRv: []string{"a"}},
		{name: "suppress one role of two", roles: []string{"a", "b"}, suppress: []string{"a"}, revive: []string{"a"},
			wantBefore: []string{"b"}, wantAfterRv: []string{"a"}},
		{name: "revive other role keeps suppression", roles: []string{"a", "b"}, suppress: []string{"a", "b"}, revive: []string{"b"},
			wantBefore: nil, wantAfterRv: []string{"b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := New(testConfig())
			a.AddAgent("a1", rs(t, "cpus:4;mem:1024"))
			a.AddFramework("f", tc.roles, false, tc.initial)
			if !tc.skip {
				a.Suppress("f", tc.suppress)
			}
			roles := func(offers []Offer) []string {
				var out []string
				for _, o := range offers {
					out = append(out, o.Role)
					a.Recover(o.FrameworkID, o.AgentID, o.Resources, 0, t0())
				}
				return out
			}
			if diff := cmp.Diff(tc.wantBefore, roles(a.Allocate(t0()))); diff != "" {
				t.Errorf("before revive (-want +got):\n%s", diff)
			}
			a.Revive("f", tc.revive)
			if diff := cmp.Diff(tc.wantAfterRv, roles(a.Allocate(t0()))); diff != "" {
				t.Errorf("after revive (-want +got):\n%s", diff)
			}
			checkInvariants(t, a)
		})
	}
}

func TestInactive(t *testing.T) {
	a := New(testConfig())
	a.AddAgent("a1", rs(t, "cpus:4;mem:1024"))
	a.AddFramework("f", []string{"r"}, false, nil)

	a.SetFrameworkActive("f", false)
	if got := a.Allocate(t0()); len(got) != 0 {
		t.Errorf("inactive framework offered: %v", offerKeys(got))
	}
	a.SetFrameworkActive("f", true)
	a.SetAgentActive("a1", false)
	if got := a.Allocate(t0()); len(got) != 0 {
		t.Errorf("inactive agent offered: %v", offerKeys(got))
	}
	checkInvariants(t, a)
	a.SetAgentActive("a1", true)
	if got := a.Allocate(t0()); len(got) != 1 {
		t.Errorf("reactivated: %v", offerKeys(got))
	}
	checkInvariants(t, a)
	// Unknown IDs are ignored.
	a.SetAgentActive("nope", true)
	a.SetFrameworkActive("nope", true)
	a.Suppress("nope", nil)
	a.Revive("nope", nil)
	a.Recover("nope", "a1", rs(t, "cpus:1"), time.Hour, t0())
	a.RemoveAgent("nope")
	a.RemoveFramework("nope")
	checkInvariants(t, a)
}

func TestMinAllocatable(t *testing.T) {
	tests := []struct {
		name   string
		minCPU float64
		minMem float64
		agent  string
		want   bool
	}{
		{"tiny cpus and mem", 0.01, 32, "cpus:0.005;mem:16", false},
		{"enough cpus", 0.01, 32, "cpus:0.01", true},
		{"enough mem", 0.01, 32, "mem:32", true},
		{"disk does not count", 0.01, 32, "cpus:0.005;mem:31;disk:1000", false},
		{"ports alone", 0.01, 32, "ports:[31000-32000]", false},
		{"disk alone", 0.01, 32, "disk:100", false},
		{"gpus alone", 0.01, 32, "gpus:1", false},
		{"custom set alone", 0.01, 32, "bugs:{a,b}", false},
		{"zero minimums need something", 0, 0, "ports:[1-2]", false},
		{"zero minimums take a little", 0, 0, "cpus:0.001", true},
		{"high cpu minimum, mem suffices", 1, 0, "cpus:0.5;mem:10", true},
		{"high minimums", 2, 2048, "cpus:1;mem:1024", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.MinAllocatableCPUs, cfg.MinAllocatableMem = tc.minCPU, tc.minMem
			a := New(cfg)
			a.AddAgent("a1", rs(t, tc.agent))
			a.AddFramework("f", []string{"r"}, true, nil)
			got := a.Allocate(t0())
			if (len(got) == 1) != tc.want || len(got) > 1 {
				t.Errorf("offers %v, want offered=%v", offerKeys(got), tc.want)
			}
			if tc.want && !got[0].Resources.Allocate("").Equal(rs(t, tc.agent)) {
				t.Errorf("offer %s, want all of %s", offerKey(got[0]), tc.agent)
			}
			checkInvariants(t, a)
		})
	}
}

func TestGPUFiltering(t *testing.T) {
	tests := []struct {
		name       string
		filter     bool
		agent      string
		gpuCapable bool
		want       bool
	}{
		{"gpu agent, plain framework", true, "cpus:4;mem:1024;gpus:1", false, false},
		{"gpu agent, gpu framework", true, "cpus:4;mem:1024;gpus:1", true, true},
		{"plain agent, plain framework", true, "cpus:4;mem:1024", false, true},
		{"plain agent, gpu framework", true, "cpus:4;mem:1024", true, true},
		{"filter off", false, "cpus:4;mem:1024;gpus:1", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.FilterGPUs = tc.filter
			a := New(cfg)
			a.AddAgent("a1", rs(t, tc.agent))
			a.AddFramework("f", []string{"r"}, tc.gpuCapable, nil)
			if got := a.Allocate(t0()); (len(got) == 1) != tc.want {
				t.Errorf("offers %v, want offered=%v", offerKeys(got), tc.want)
			}
		})
	}
	// UpdateFramework can grant the capability later.
	a := New(testConfig())
	a.AddAgent("a1", rs(t, "cpus:4;gpus:2"))
	a.AddFramework("f", []string{"r"}, false, nil)
	if got := a.Allocate(t0()); len(got) != 0 {
		t.Fatalf("offered to non-GPU framework: %v", offerKeys(got))
	}
	a.UpdateFramework("f", []string{"r"}, true, nil)
	if got := a.Allocate(t0()); len(got) != 1 {
		t.Errorf("GPU framework: %v", offerKeys(got))
	}
}

func TestRecoverPartOfOffer(t *testing.T) {
	a := New(testConfig())
	a.AddAgent("a1", rs(t, "cpus:4;mem:1024;ports:[31000-31009]"))
	a.AddFramework("f", []string{"r"}, false, nil)
	o := a.Allocate(t0())
	if len(o) != 1 {
		t.Fatalf("offers %v", offerKeys(o))
	}
	a.Recover("f", "a1", rs(t, "cpus:1;mem:256;ports:[31005-31009]").Allocate("r"), 0, t0())
	checkInvariants(t, a)
	if got, want := a.FrameworkShare("f"), 0.75; math.Abs(got-want) > 1e-9 {
		t.Errorf("share after partial recover = %v, want %v", got, want)
	}
	got := a.Allocate(t0())
	if diff := cmp.Diff([]string{"f@a1/r:cpus:1;mem:256;ports:[31005-31009]"}, offerKeys(got)); diff != "" {
		t.Errorf("offers (-want +got):\n%s", diff)
	}
	// Recovering without allocation_info, and recovering twice, are fine.
	a.Recover("f", "a1", rs(t, "cpus:4;mem:1024;ports:[31000-31009]"), 0, t0())
	a.Recover("f", "a1", rs(t, "cpus:4;mem:1024;ports:[31000-31009]"), 0, t0())
	checkInvariants(t, a)
	if got := a.FrameworkShare("f"); got != 0 {
		t.Errorf("share after full recover = %v", got)
	}
	if got := a.Allocate(t0()); len(got) != 1 || !got[0].Resources.Allocate("").Equal(rs(t, "cpus:4;mem:1024;ports:[31000-31009]")) {
		t.Errorf("offers %v", offerKeys(got))
	}
}

func TestAddAllocatedCountsTowardShares(t *testing.T) {
	a := New(testConfig())
	a.AddAgent("a1", rs(t, "cpus:4;mem:4096"))
	a.AddAgent("a2", rs(t, "cpus:4;mem:4096"))
	// A framework known only through its tasks (not re-subscribed yet).
	a.AddAllocated("fa", "a1", rs(t, "cpus:4;mem:4096").Allocate("r"))
	if got := a.FrameworkShare("fa"); got != 0.5 {
		t.Errorf("FrameworkShare = %v, want 0.5", got)
	}
	a.AddFramework("fb", []string{"r"}, false, nil)
	a.AddFramework("fa", []string{"r"}, false, nil)
	got := a.Allocate(t0())
	if diff := cmp.Diff([]string{"fb@a2/r:cpus:4;mem:4096"}, offerKeys(got)); diff != "" {
		t.Errorf("offers (-want +got):\n%s", diff)
	}
	// More than the agent has free is clamped.
	a.AddAllocated("fa", "a1", rs(t, "cpus:1"))
	a.AddAllocated("fa", "nope", rs(t, "cpus:1"))
	checkInvariants(t, a)
	if got := a.RoleShare("r"); got != 1 {
		t.Errorf("RoleShare = %v, want 1", got)
	}
}

func TestRemoveFrameworkReleases(t *testing.T) {
	a := New(testConfig())
	a.AddAgent("a1", rs(t, "cpus:4;mem:1024;cpus(b):1"))
	a.AddFramework("fa", []string{"a", "b"}, false, nil)
	if got := a.Allocate(t0()); len(got) != 2 {
		t.Fatalf("offers %v", offerKeys(got))
	}
	a.AddFramework("fc", []string{"c"}, false, nil)
	a.RemoveFramework("fa")
	checkInvariants(t, a)
	if a.FrameworkShare("fa") != 0 || a.RoleShare("a") != 0 || a.RoleShare("b") != 0 {
		t.Errorf("shares after removal: %v %v %v", a.FrameworkShare("fa"), a.RoleShare("a"), a.RoleShare("b"))
	}
	if diff := cmp.Diff([]string{"c"}, roleNames(a.Roles())); diff != "" {
		t.Errorf("roles (-want +got):\n%s", diff)
	}
	got := a.Allocate(t0())
	if diff := cmp.Diff([]string{"fc@a1/c:cpus:4;mem:1024"}, offerKeys(got)); diff != "" {
		t.Errorf("offers (-want +got):\n%s", diff)
	}
}

func roleNames(infos []RoleInfo) []string {
	var out []string
	for _, r := range infos {
		out = append(out, r.Name)
	}
	return out
}

func TestMultiRoleAllocationInfo(t *testing.T) {
	a := New(testConfig())
	a.AddAgent("a1", rs(t, "cpus:4;mem:1024;cpus(b):2;mem(b):512"))
	a.AddFramework("f", []string{"b", "a"}, false, nil)
	offers := a.Allocate(t0())
	checkAllocInfo(t, offers)
	want := []string{"f@a1/a:cpus:4;mem:1024", "f@a1/b:cpus(b):2;mem(b):512"}
	if diff := cmp.Diff(want, offerKeys(offers)); diff != "" {
		t.Fatalf("offers (-want +got):\n%s", diff)
	}
	// Recovering the role-a offer gives back exactly that.
	for _, o := range offers {
		if o.Role == "a" {
			a.Recover("f", "a1", o.Resources, 0, t0())
		}
	}
	checkInvariants(t, a)
	if diff := cmp.Diff(want[:1], offerKeys(a.Allocate(t0()))); diff != "" {
		t.Errorf("re-offer (-want +got):\n%s", diff)
	}
}

func TestAgentLifecycle(t *testing.T) {
	a := New(testConfig())
	a.AddAgent("a1", rs(t, "cpus:4;mem:1024"))
	a.AddAgent("a2", rs(t, "cpus:4;mem:1024"))
	a.AddFramework("f", []string{"r"}, false, nil)
	if got := a.Allocate(t0()); len(got) != 2 {
		t.Fatalf("offers %v", offerKeys(got))
	}
	a.RemoveAgent("a2")
	checkInvariants(t, a)
	if got := a.FrameworkShare("f"); got != 1 {
		t.Errorf("share after agent removal = %v, want 1", got)
	}
	// Growing an agent offers the difference.
	a.UpdateAgent("a1", rs(t, "cpus:6;mem:1024"))
	got := a.Allocate(t0())
	if diff := cmp.Diff([]string{"f@a1/r:cpus:2"}, offerKeys(got)); diff != "" {
		t.Errorf("offers (-want +got):\n%s", diff)
	}
	// Shrinking below the allocation leaves nothing free, and releases
	// never push free above the new total.
	a.UpdateAgent("a1", rs(t, "cpus:2;mem:512"))
	checkInvariants(t, a)
	if got := a.Allocate(t0()); len(got) != 0 {
		t.Errorf("over-committed agent offered %v", offerKeys(got))
	}
	a.Recover("f", "a1", rs(t, "cpus:1;mem:512").Allocate("r"), 0, t0())
	checkInvariants(t, a)
	if got := a.Allocate(t0()); len(got) != 0 {
		t.Errorf("still over-committed agent offered %v", offerKeys(got))
	}
	a.Recover("f", "a1", rs(t, "cpus:5;mem:512").Allocate("r"), 0, t0())
	checkInvariants(t, a)
	got = a.Allocate(t0())
	if diff := cmp.Diff([]string{"f@a1/r:cpus:2;mem:512"}, offerKeys(got)); diff != "" {
		t.Errorf("offers (-want +got):\n%s", diff)
	}
	// Re-adding a known agent updates it.
	a.AddAgent("a1", rs(t, "cpus:2;mem:512"))
	checkInvariants(t, a)
}

func TestRoles(t *testing.T) {
	a := New(Config{Weights: map[string]float64{"b": 2}, Seed: 1})
	a.AddAgent("a1", rs(t, "cpus:4;mem:1024;gpus:1"))
	a.AddFramework("f2", []string{"b"}, false, nil)
	a.AddFramework("f1", []string{"a", "b"}, false, nil)
	a.AddAllocated("f1", "a1", rs(t, "cpus:1;mem:128;gpus:1").Allocate("a"))
	want := []RoleInfo{
		{Name: "a", Weight: 1, Frameworks: []string{"f1"}, Allocated: rs(t, "cpus:1;mem:128;gpus:1")},
		{Name: "b", Weight: 2, Frameworks: []string{"f1", "f2"}, Allocated: nil},
	}
	got := a.Roles()
	if diff := cmp.Diff(want, got, cmp.Comparer(func(x, y mesosv1.Resources) bool { return x.Equal(y) })); diff != "" {
		t.Errorf("Roles (-want +got):\n%s", diff)
	}
	// A role a framework leaves while holding resources stays until released.
	a.UpdateFramework("f1", []string{"b"}, false, nil)
	if diff := cmp.Diff([]string{"a", "b"}, roleNames(a.Roles())); diff != "" {
		t.Errorf("roles (-want +got):\n%s", diff)
	}
	a.Recover("f1", "a1", rs(t, "cpus:1;mem:128;gpus:1").Allocate("a"), 0, t0())
	if diff := cmp.Diff([]string{"b"}, roleNames(a.Roles())); diff != "" {
		t.Errorf("roles (-want +got):\n%s", diff)
	}
	checkInvariants(t, a)
}

func TestSeedMakesCyclesReproducible(t *testing.T) {
	run := func() []string {
		a := New(testConfig())
		for i := range 50 {
			a.AddAgent(string(rune('A'+i)), rs(t, "cpus:2;mem:1024"))
		}
		for _, f := range []string{"f1", "f2", "f3"} {
			a.AddFramework(f, []string{"r"}, false, nil)
		}
		var out []string
		for _, o := range a.Allocate(t0()) {
			out = append(out, offerKey(o))
		}
		return out
	}
	if diff := cmp.Diff(run(), run()); diff != "" {
		t.Errorf("same seed, different cycles (-first +second):\n%s", diff)
	}
}

func TestAllocateAgentsOnlyGiven(t *testing.T) {
	a := New(testConfig())
	for _, id := range []string{"a1", "a2", "a3"} {
		a.AddAgent(id, rs(t, "cpus:1;mem:64"))
	}
	a.AddFramework("f", []string{"r"}, false, nil)
	got := a.AllocateAgents(t0(), []string{"a2", "a2", "unknown"})
	if diff := cmp.Diff([]string{"f@a2/r:cpus:1;mem:64"}, offerKeys(got)); diff != "" {
		t.Errorf("offers (-want +got):\n%s", diff)
	}
	if got := a.Allocate(t0()); len(got) != 2 {
		t.Errorf("full cycle: %v", offerKeys(got))
	}
	if len(a.cand) != 0 {
		t.Errorf("%d candidates left after everything was offered", len(a.cand))
	}
	if got := a.Allocate(t0()); len(got) != 0 {
		t.Errorf("fully allocated cycle: %v", offerKeys(got))
	}
	checkInvariants(t, a)
}

func TestOfferShapes(t *testing.T) {
	tests := []struct {
		name, agent string
	}{
		{"one scalar", "cpus:1"},
		{"all scalars and ports", "cpus:1;mem:64;disk:10;gpus:1;ports:[1-2]"},
		{"five scalars over two pools", "cpus:1;mem:64;disk:10;gpus:1;cpus(r):1"},
		{"many port ranges", "cpus:1;ports:[1-2,4-5,7-8];ports(r):[10-11]"},
		{"custom resources", "cpus:1;bugs:{a,b};widgets:3;lanes:[1-4];bugs(r):{c}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := New(testConfig())
			a.AddAgent("a1", rs(t, tc.agent))
			a.AddFramework("f", []string{"r"}, true, nil)
			got := a.Allocate(t0())
			checkAllocInfo(t, got)
			if len(got) != 1 || !got[0].Resources.Allocate("").Equal(rs(t, tc.agent)) {
				t.Fatalf("offers %v, want all of %s", offerKeys(got), tc.agent)
			}
			a.Recover("f", "a1", got[0].Resources, 0, t0())
			checkInvariants(t, a)
			if a.FrameworkShare("f") != 0 {
				t.Errorf("share after recover: %v", a.FrameworkShare("f"))
			}
		})
	}
}

func TestFiltersArePerRole(t *testing.T) {
	a := New(testConfig())
	a.AddAgent("a1", rs(t, "cpus:4;mem:1024"))
	a.AddFramework("f", []string{"a", "b"}, false, nil)
	offerRole := func(want string) {
		t.Helper()
		got := a.Allocate(t0())
		if want == "" {
			if len(got) != 0 {
				t.Fatalf("offers %v, want none", offerKeys(got))
			}
			return
		}
		if len(got) != 1 || got[0].Role != want {
			t.Fatalf("offers %v, want one for role %s", offerKeys(got), want)
		}
		a.Recover("f", "a1", got[0].Resources, time.Hour, t0())
	}
	offerRole("a") // declined for an hour in role a
	offerRole("b") // role b is not filtered; declined too
	offerRole("")
	a.Revive("f", []string{"b"})
	offerRole("b")
	a.Revive("f", nil)
	offerRole("a")
	checkInvariants(t, a)
}

func TestFilterWithPartOfThePorts(t *testing.T) {
	a := New(testConfig())
	a.AddAgent("a1", rs(t, "cpus:4;mem:1024;ports:[31000-31009]"))
	a.AddFramework("f", []string{"r"}, false, nil)
	o := a.Allocate(t0())
	// Decline all but two ports; give the ports back later.
	a.Recover("f", "a1", rs(t, "cpus:4;mem:1024;ports:[31000-31007]").Allocate("r"), time.Hour, t0())
	if got := a.Allocate(t0()); len(got) != 0 {
		t.Fatalf("filtered offer made: %v", offerKeys(got))
	}
	a.Recover("f", "a1", o[0].Resources, 0, t0())
	got := a.Allocate(t0())
	if diff := cmp.Diff([]string{"f@a1/r:cpus:4;mem:1024;ports:[31000-31009]"}, offerKeys(got)); diff != "" {
		t.Errorf("offers (-want +got):\n%s", diff)
	}
	// Declining everything filters the agent; changing its total drops the filter.
	a.Recover("f", "a1", got[0].Resources, time.Hour, t0())
	if got := a.Allocate(t0()); len(got) != 0 {
		t.Fatalf("filtered offer made: %v", offerKeys(got))
	}
	a.UpdateAgent("a1", rs(t, "cpus:4;mem:1024;ports:[31000-31009]"))
	if got := a.Allocate(t0()); len(got) != 1 {
		t.Errorf("offers after UpdateAgent: %v", offerKeys(got))
	}
	checkInvariants(t, a)
}
