package allocator

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

func t0() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }

// rs parses resources in the agent --resources text form.
func rs(t testing.TB, s string) mesosv1.Resources {
	t.Helper()
	r, err := mesosv1.ParseResources(s, "")
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return r
}

func testConfig() Config {
	c := DefaultConfig()
	c.Seed = 1
	return c
}

// offerKey renders an offer compactly for comparisons: "fw@agent/role:resources".
func offerKey(o Offer) string {
	return fmt.Sprintf("%s@%s/%s:%s", o.FrameworkID, o.AgentID, o.Role, o.Resources.Allocate("").Normalize().String())
}

func offerKeys(offers []Offer) []string {
	out := make([]string, len(offers))
	for i, o := range offers {
		out[i] = offerKey(o)
	}
	sort.Strings(out)
	return out
}

// checkAllocInfo verifies every resource of every offer is allocated to the
// offer's role and is usable by it.
func checkAllocInfo(t testing.TB, offers []Offer) {
	t.Helper()
	for _, o := range offers {
		if len(o.Resources) == 0 {
			t.Errorf("empty offer %+v", o)
		}
		for _, r := range o.Resources {
			if got := mesosv1.AllocationRole(r); got != o.Role {
				t.Errorf("offer %s: resource %s allocated to %q, want %q", offerKey(o), r.Name, got, o.Role)
			}
			if rr := mesosv1.ReservationRole(r); rr != mesosv1.UnreservedRole && rr != o.Role {
				t.Errorf("offer %s: resource %s reserved to %q offered to role %q", offerKey(o), r.Name, rr, o.Role)
			}
		}
	}
}

// bundleRes renders a bundle as plain resources (no allocation info).
func bundleRes(ag *agent, b bundle) mesosv1.Resources {
	ps := make([]*pool, len(b))
	for i := range b {
		ps[i] = &b[i]
	}
	return toResources("", ag.resv, ps...).Allocate("")
}

// checkInvariants verifies the allocator's internal bookkeeping.
func checkInvariants(t testing.TB, a *Allocator) {
	t.Helper()
	var total vec
	roleAlloc := map[*role]vec{}
	memberAlloc := map[*member]vec{}
	fwAlloc := map[*framework]vec{}
	memberAllocs := map[*member]int{}
	for id, ag := range a.agents {
		total = total.add(ag.total.scalars())
		var held bundle
		seen := map[*member]bool{}
		for _, al := range ag.allocs {
			if seen[al.m] {
				t.Errorf("agent %s: two allocs for %s/%s", id, al.m.fw.id, al.m.role.name)
			}
			seen[al.m] = true
			if al.b.isEmpty() {
				t.Errorf("agent %s: empty alloc for %s", id, al.m.fw.id)
			}
			held.add(al.b.clone())
			v := al.b.scalars()
			roleAlloc[al.m.role] = roleAlloc[al.m.role].add(v)
			memberAlloc[al.m] = memberAlloc[al.m].add(v)
			fwAlloc[al.m.fw] = fwAlloc[al.m.fw].add(v)
			memberAllocs[al.m]++
			if a.frameworks[al.m.fw.id] != al.m.fw {
				t.Errorf("agent %s: alloc of removed framework %s", id, al.m.fw.id)
			}
		}
		totalRes := bundleRes(ag, ag.total)
		freeRes := bundleRes(ag, ag.free)
		heldRes := bundleRes(ag, held)
		if !totalRes.Contains(freeRes) {
			t.Errorf("agent %s: free %s not within total %s", id, freeRes, totalRes)
		}
		if !ag.over {
			if sum := freeRes.Plus(heldRes); !sum.Equal(totalRes) {
				t.Errorf("agent %s: free %s + held %s = %s, want total %s", id, freeRes, heldRes, sum, totalRes)
			}
		} else if want := totalRes.Minus(heldRes); !want.Equal(freeRes) {
			t.Errorf("agent %s (over-committed): free %s, want %s", id, freeRes, want)
		}
		wantCand := ag.active && ag.free.hasNonPorts()
		if (ag.cand >= 0) != wantCand || (ag.cand >= 0 && a.cand[ag.cand] != ag) {
			t.Errorf("agent %s: candidate index %d, want candidate=%v", id, ag.cand, wantCand)
		}
	}
	if len(a.cand) > len(a.agents) {
		t.Errorf("%d candidates for %d agents", len(a.cand), len(a.agents))
	}
	if total != a.total {
		t.Errorf("cluster total %v, want %v", a.total, total)
	}
	for name, r := range a.roles {
		if r.alloc != roleAlloc[r] {
			t.Errorf("role %s alloc %v, want %v", name, r.alloc, roleAlloc[r])
		}
		if len(r.members) == 0 {
			t.Errorf("role %s has no members", name)
		}
		if a.roleOrder[r.idx] != r {
			t.Errorf("role %s idx %d wrong", name, r.idx)
		}
		for i, m := range r.members {
			if m.idx != i || m.role != r || m.fw.members[name] != m {
				t.Errorf("role %s member %s inconsistent", name, m.fw.id)
			}
			if m.alloc != memberAlloc[m] || m.allocs != memberAllocs[m] {
				t.Errorf("member %s/%s alloc %v (%d), want %v (%d)", m.fw.id, name, m.alloc, m.allocs, memberAlloc[m], memberAllocs[m])
			}
			if !m.subscribed && m.allocs == 0 {
				t.Errorf("member %s/%s lingers", m.fw.id, name)
			}
			if !a.dirty && i > 0 && memberLess(m, r.members[i-1]) {
				t.Errorf("role %s members out of order", name)
			}
		}
	}
	if len(a.roleOrder) != len(a.roles) {
		t.Errorf("roleOrder has %d roles, map %d", len(a.roleOrder), len(a.roles))
	}
	if !a.dirty {
		for i := 1; i < len(a.roleOrder); i++ {
			if roleLess(a.roleOrder[i], a.roleOrder[i-1]) {
				t.Errorf("roles out of order: %s before %s", a.roleOrder[i-1].name, a.roleOrder[i].name)
			}
		}
	}
	checkFilters(t, a)
	for id, fw := range a.frameworks {
		if fw.alloc != fwAlloc[fw] {
			t.Errorf("framework %s alloc %v, want %v", id, fw.alloc, fwAlloc[fw])
		}
	}
}

// checkNothingLeft verifies, without the allocator's caches, that after a
// cycle over agents none of them could still be offered to anybody.
func checkNothingLeft(t testing.TB, a *Allocator, now time.Time, agents []string) {
	t.Helper()
	for _, id := range agents {
		ag := a.agents[id]
		if ag == nil || !ag.active {
			continue
		}
		for _, r := range a.roles {
			star, own := ag.free.find(mesosv1.UnreservedRole), -1
			if r.name != mesosv1.UnreservedRole {
				own = ag.free.find(r.name)
			}
			var v vec
			if star >= 0 {
				v = ag.free[star].v
			}
			if own >= 0 {
				v = v.add(ag.free[own].v)
			}
			if !a.meetsMin(v) {
				continue
			}
			for _, m := range r.members {
				if !m.subscribed || m.suppressed || !m.fw.active || (a.cfg.FilterGPUs && ag.gpu && !m.fw.gpu) {
					continue
				}
				filtered := false
				if fl, ok := ag.filters[m]; ok {
					for _, f := range append([]filter{fl.head}, fl.rest...) {
						if now.UnixNano() < f.until && f.covers(ag, star, own) {
							filtered = true
						}
					}
				}
				if !filtered {
					t.Fatalf("after a cycle agent %s (free %s) is still offerable to %s in role %s", id, bundleRes(ag, ag.free), m.fw.id, r.name)
				}
			}
		}
	}
}

// checkFilters verifies the two-way filter index.
func checkFilters(t testing.TB, a *Allocator) {
	t.Helper()
	n := 0
	for id, ag := range a.agents {
		for m, fs := range ag.filters {
			n++
			if _, ok := m.filterAgs[ag]; !ok || fs.head.until == 0 {
				t.Errorf("agent %s: filter of %s/%s not indexed (or empty)", id, m.fw.id, m.role.name)
			}
			if a.frameworks[m.fw.id] != m.fw || m.fw.members[m.role.name] != m {
				t.Errorf("agent %s: filter of a dropped member %s/%s", id, m.fw.id, m.role.name)
			}
		}
	}
	for _, fw := range a.frameworks {
		for _, m := range fw.members {
			for ag := range m.filterAgs {
				n--
				if _, ok := ag.filters[m]; !ok || a.agents[ag.id] != ag {
					t.Errorf("member %s/%s indexes a filter on %s that is gone", fw.id, m.role.name, ag.id)
				}
			}
		}
	}
	if n != 0 {
		t.Errorf("filter index mismatch (%d)", n)
	}
}
