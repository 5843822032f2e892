package allocator

import (
	"time"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

const unreservedRole = mesosv1.UnreservedRole

// Offer filters (Filters.refuse_seconds). A filter belongs to one framework
// in one role on one agent and blocks offers whose resources it wholly
// contains until it expires.
//
// Shape, for speed: filters live on the agent in a small map keyed by
// member, with the first filter stored inline in the map slot, so checking
// a cycle's frameworks against one agent touches that agent's map and
// nothing else — no per-framework 10,000-entry maps, no pointer chasing.
// In the usual case (a whole offer declined) comparing four scalars decides
// a filter (see addFilter). Idle agents are then skipped altogether by the
// cycle's idle mark (agent.idle).

type filter struct {
	until     int64  // Unix nanoseconds
	star, own vec    // refused scalars of the unreserved pool and of the pool reserved to the member's role
	refused   bundle // everything refused; nil when star and own decide (see addFilter)
}

type filterList struct {
	head filter
	rest []filter
}

// addFilter installs a filter of m on ag. When the refused resources hold
// all of the agent's ports and other non-scalar resources in the pools m
// could be offered (the usual case: a framework declined a whole offer),
// comparing scalars decides the filter, since free ⊆ total, and the refused
// bundle is dropped. An agent's total changing drops its filters (see
// setTotal), so that reasoning stays valid.
func (a *Allocator) addFilter(m *member, ag *agent, refused bundle, until time.Time) {
	f := filter{until: until.UnixNano(), refused: refused}
	simple := true
	roles := []string{unreservedRole, m.role.name}
	if m.role.name == unreservedRole {
		roles = roles[:1]
	}
	for _, role := range roles {
		var p *pool
		if i := refused.find(role); i >= 0 {
			p = &refused[i]
			if role == unreservedRole {
				f.star = p.v
			} else {
				f.own = p.v
			}
		}
		if i := ag.total.find(role); i >= 0 {
			t := &ag.total[i]
			if len(t.ports) > 0 && (p == nil || !rangesContain(p.ports, t.ports)) {
				simple = false
			}
			if len(t.other) > 0 && (p == nil || !p.other.Contains(t.other)) {
				simple = false
			}
		}
	}
	if simple {
		f.refused = nil
	}
	if ag.filters == nil {
		ag.filters = map[*member]filterList{}
	}
	if fl, ok := ag.filters[m]; ok {
		fl.rest = append(fl.rest, f)
		ag.filters[m] = fl
	} else {
		ag.filters[m] = filterList{head: f}
	}
	if m.filterAgs == nil {
		m.filterAgs = map[*agent]struct{}{}
	}
	m.filterAgs[ag] = struct{}{}
}

// clearFilters removes all of m's filters.
func (a *Allocator) clearFilters(m *member) {
	if len(m.filterAgs) == 0 {
		return
	}
	for ag := range m.filterAgs {
		delete(ag.filters, m)
	}
	m.filterAgs = nil
	a.epoch++ // agents may have been idle because of these filters
}

// dropAgentFilters removes all filters on ag.
func (a *Allocator) dropAgentFilters(ag *agent) {
	if len(ag.filters) == 0 {
		return
	}
	for m := range ag.filters {
		delete(m.filterAgs, ag)
	}
	ag.filters = nil
	a.epoch++
}

// filtered reports whether an unexpired filter of m on ag covers
// everything that would be offered: the free pools star and own (indices
// into ag.free, -1 if absent). Expired filters are dropped.
func (a *Allocator) filtered(m *member, ag *agent, star, own int, now time.Time) bool {
	fl, ok := ag.filters[m]
	if !ok {
		return false
	}
	t := now.UnixNano()
	if fl.head.until > t && len(fl.rest) == 0 {
		return fl.head.covers(ag, star, own)
	}
	// Several filters, or some expired: prune, then check each.
	live := make([]filter, 0, 1+len(fl.rest))
	for _, f := range append([]filter{fl.head}, fl.rest...) {
		if f.until > t {
			live = append(live, f)
		}
	}
	if len(live) == 0 {
		delete(ag.filters, m)
		delete(m.filterAgs, ag)
		return false
	}
	ag.filters[m] = filterList{head: live[0], rest: live[1:]}
	for i := range live {
		if live[i].covers(ag, star, own) {
			return true
		}
	}
	return false
}

// covers reports whether f holds the free pools star and own of ag.
func (f *filter) covers(ag *agent, star, own int) bool {
	if star >= 0 && !ag.free[star].v.le(f.star) || own >= 0 && !ag.free[own].v.le(f.own) {
		return false
	}
	if f.refused == nil {
		return true
	}
	return (star < 0 || f.refused.containsPool(&ag.free[star])) && (own < 0 || f.refused.containsPool(&ag.free[own]))
}

// earliestExpiry is when the first filter on ag expires (far future if none).
func (a *Allocator) earliestExpiry(ag *agent) time.Time {
	t := int64(1<<63 - 1)
	for _, fl := range ag.filters {
		t = min(t, fl.head.until)
		for _, f := range fl.rest {
			t = min(t, f.until)
		}
	}
	return time.Unix(0, t)
}
