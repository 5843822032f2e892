package allocator

import (
	"time"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Allocate runs one cycle over all agents (DRF: roles by weighted dominant share, then frameworks within a
// role by dominant share; reserved resources only to their role; filters, suppression, min-allocatable and
// GPU rules honoured).
func (a *Allocator) Allocate(now time.Time) []Offer {
	a.shuffled = append(a.shuffled[:0], a.cand...)
	return a.run(now)
}

// AllocateAgents does what Allocate does for only the given agents
// (event-driven allocation after a new agent or recovered resources).
// Unknown agents are ignored.
func (a *Allocator) AllocateAgents(now time.Time, agentIDs []string) []Offer {
	a.gen++
	a.shuffled = a.shuffled[:0]
	for _, id := range agentIDs {
		if ag := a.agents[id]; ag != nil && ag.cand >= 0 && ag.mark != a.gen {
			ag.mark = a.gen
			a.shuffled = append(a.shuffled, ag)
		}
	}
	return a.run(now)
}

// run allocates the agents in a.shuffled, in a random order so that no agent
// is favoured. Per agent it visits the roles in DRF order and offers each
// role's usable free resources to the role's first eligible framework.
// Shares are updated after every grant, so the next role and the next agent
// see the new order.
//
// A grant raises the granted role's share, moving it later in a.roleOrder
// while the roles behind it shift forward by one. So the walk stays at the
// same index after a grant whose role moved (the next unvisited role is now
// there); the moved role may come up again for this agent, but it has
// nothing left here and is skipped by the min-allocatable check.
func (a *Allocator) run(now time.Time) []Offer {
	a.refresh()
	a.countEligible()
	agents := a.shuffled
	a.rng.Shuffle(len(agents), func(i, j int) { agents[i], agents[j] = agents[j], agents[i] })
	var offers []Offer
	for k, ag := range agents {
		if ag.idle && ag.idleVer == ag.version && ag.idleEpoch == a.epoch && now.Before(ag.idleUntil) {
			continue
		}
		if !a.anyOfferable(ag) {
			continue
		}
		before := len(offers)
		for i := 0; i < len(a.roleOrder); {
			r := a.roleOrder[i]
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
			if r.eligible == 0 || !a.meetsMin(v) {
				i++
				continue
			}
			m := a.pick(r, ag, star, own, now)
			if m == nil {
				i++
				continue
			}
			if offers == nil {
				offers = make([]Offer, 0, len(agents)-k) // most agents yield one offer per cycle
			}
			offers = append(offers, a.grant(ag, m, star, own))
			if !a.anyOfferable(ag) {
				break
			}
			if a.roleOrder[i] == r {
				i++
			}
		}
		if len(offers) == before {
			ag.idle, ag.idleVer, ag.idleEpoch, ag.idleUntil = true, ag.version, a.epoch, a.earliestExpiry(ag)
		}
	}
	clear(agents)
	return offers
}

// meetsMin is Mesos' min_allocatable_resources rule: at least the minimum
// cpus or the minimum mem (and something, when the minimums are zero).
func (a *Allocator) meetsMin(v vec) bool {
	return (v[iCPUs] > 0 && v[iCPUs] >= a.minCPU) || (v[iMem] > 0 && v[iMem] >= a.minMem)
}

// anyOfferable reports whether some role could still be offered something
// on ag: its unreserved resources, or a reservation to a role with frameworks.
func (a *Allocator) anyOfferable(ag *agent) bool {
	if !ag.active {
		return false
	}
	var star vec
	if i := ag.free.find(mesosv1.UnreservedRole); i >= 0 {
		star = ag.free[i].v
		if a.anyEligible && a.meetsMin(star) {
			return true
		}
	}
	for i := range ag.free {
		p := &ag.free[i]
		if p.role == mesosv1.UnreservedRole || p.v.isZero() {
			continue
		}
		if r := a.roles[p.role]; r != nil && r.eligible > 0 && a.meetsMin(star.add(p.v)) {
			return true
		}
	}
	return false
}

func (m *member) eligible() bool { return m.subscribed && !m.suppressed && m.fw.active }

// countEligible counts, per role, the members that may get offers, so that
// a cycle skips roles (and agents) nobody could be offered.
func (a *Allocator) countEligible() {
	a.anyEligible = false
	for _, r := range a.roleOrder {
		r.eligible = 0
		for _, m := range r.members {
			if m.eligible() {
				r.eligible++
			}
		}
		a.anyEligible = a.anyEligible || r.eligible > 0
	}
}

// pick returns the first framework of r, in DRF order, that may be offered
// the free pools star and own (indices into ag.free, -1 if absent).
func (a *Allocator) pick(r *role, ag *agent, star, own int, now time.Time) *member {
	for _, m := range r.members {
		fw := m.fw
		if !m.eligible() {
			continue
		}
		if a.cfg.FilterGPUs && ag.gpu && !fw.gpu {
			continue
		}
		if len(ag.filters) > 0 && a.filtered(m, ag, star, own, now) {
			continue
		}
		return m
	}
	return nil
}

// grant moves the free pools star and own of ag to m and returns the offer.
func (a *Allocator) grant(ag *agent, m *member, star, own int) Offer {
	var pools [2]*pool
	got := make(bundle, 0, 2) // fixed capacity: pools points into it
	n := 0
	for _, i := range [...]int{star, own} {
		if i < 0 || ag.free[i].empty() {
			continue
		}
		got = append(got, ag.free[i])
		ag.free[i] = pool{role: ag.free[i].role}
		pools[n] = &got[len(got)-1]
		n++
	}
	res := toResources(m.role.name, ag.resv, pools[:n]...)
	a.hold(ag, m, got)
	a.updateCand(ag)
	return Offer{FrameworkID: m.fw.id, AgentID: ag.id, Role: m.role.name, Resources: res}
}
