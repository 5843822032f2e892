// Package allocator decides which framework is offered which agent's
// resources: Mesos' hierarchical Dominant Resource Fairness allocator
// (reference §1.3-1.4). Roles are visited by weighted dominant share, then
// the frameworks of a role by their own dominant share; each chosen framework
// is offered all free resources of the agent its role may use (unreserved
// plus reserved to the role), honouring offer filters, suppression, the
// minimum allocatable amount and GPU scarcity.
//
// It is pure bookkeeping: no I/O, no goroutines, no clocks (now is a
// parameter), no logging. It must not know about offer IDs, timeouts,
// connections or tasks — the master's event loop owns those and calls in.
// An Allocator is not safe for concurrent use.
package allocator

import (
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// maxRefuse caps Filters.refuse_seconds, as Mesos does (365 days).
const maxRefuse = 365 * 24 * time.Hour

// Config tunes the allocator. The zero Config offers anything non-empty;
// start from DefaultConfig for Mesos' defaults.
type Config struct {
	Weights            map[string]float64 // role → weight; missing (or ≤ 0) = 1.0
	MinAllocatableCPUs float64            // default 0.01 } an agent's free resources are offerable when they
	MinAllocatableMem  float64            // default 32   } have at least this cpus OR this mem (Mesos rule)
	FilterGPUs         bool               // GPU agents offered only to GPU_RESOURCES frameworks (DC/OS: true)
	// Seed seeds the per-cycle agent shuffle, for reproducible tests;
	// 0 picks a random seed.
	Seed uint64
}

// DefaultConfig returns Mesos' defaults as DC/OS configures them.
func DefaultConfig() Config {
	return Config{MinAllocatableCPUs: 0.01, MinAllocatableMem: 32, FilterGPUs: true}
}

// Offer is one allocation decision: all of an agent's free resources that the role may use, for one
// framework. Resources carry allocation_info.role = Role. They count as allocated to the framework until
// Recover'ed.
type Offer struct {
	FrameworkID, AgentID, Role string
	Resources                  mesosv1.Resources
}

// RoleInfo lists roles with frameworks for /master/roles.
type RoleInfo struct {
	Name       string
	Weight     float64
	Frameworks []string
	// Allocated holds the role's allocated cpus, mem, disk and gpus.
	Allocated mesosv1.Resources
}

// Allocator is the DRF allocator. Create it with New.
type Allocator struct {
	cfg            Config
	minCPU, minMem int64
	weights        map[string]float64
	rng            *rand.Rand

	agents     map[string]*agent
	frameworks map[string]*framework
	roles      map[string]*role
	roleOrder  []*role // roles by (weighted share, name); valid unless dirty
	total      vec     // cluster total over all agents
	dirty      bool    // shares and orders need a full recompute
	// anyEligible: some framework may get offers; set at the start of a cycle.
	anyEligible bool

	cand []*agent // active agents holding free non-port resources
	gen  uint64   // marks agents already visited by one AllocateAgents call
	// epoch is bumped by every change to who may be offered what
	// (frameworks, roles, suppression, revive, weights).
	epoch uint64

	shuffled []*agent // scratch
}

type agent struct {
	id     string
	total  bundle
	free   bundle // total minus allocations (clamped at zero)
	active bool
	gpu    bool // total holds gpus
	over   bool // allocations exceed a shrunk total; free is recomputed on release
	resv   map[string]reservationTemplate
	allocs []*alloc
	cand   int // index in Allocator.cand, -1 if absent
	mark   uint64

	filters map[*member]filterList // offer filters on this agent, by framework-in-role
	version uint64                 // bumped whenever free changes
	// idle remembers a cycle in which this agent was offered to nobody:
	// while its free pool (version), the frameworks (Allocator.epoch) and
	// its filters (none expired before idleUntil) stay the same, later
	// cycles would decide the same and skip it.
	idle      bool
	idleVer   uint64
	idleEpoch uint64
	idleUntil time.Time
}

// alloc is what one framework holds on one agent in one role.
type alloc struct {
	m     *member
	ag    *agent
	b     bundle
	fwIdx int // in framework.allocs
}

type framework struct {
	id      string
	roles   []string // subscribed roles
	gpu     bool
	active  bool
	members map[string]*member
	allocs  []*alloc // everything it holds, for RemoveFramework
	alloc   vec
}

// member is a framework in one role. It outlives the subscription while the
// framework still holds resources allocated to the role.
type member struct {
	fw         *framework
	role       *role
	subscribed bool
	suppressed bool
	filterAgs  map[*agent]struct{} // agents holding filters of this member
	alloc      vec
	share      float64
	idx        int // in role.members
	allocs     int // number of allocs held in this role
}

type role struct {
	name     string
	weight   float64
	alloc    vec
	share    float64   // weighted dominant share
	members  []*member // by (share, framework ID); valid unless dirty
	idx      int       // in Allocator.roleOrder
	eligible int       // members that may get offers; set at the start of a cycle
}

// New returns an allocator with no agents and no frameworks.
func New(cfg Config) *Allocator {
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	a := &Allocator{
		cfg:        cfg,
		minCPU:     milli(cfg.MinAllocatableCPUs),
		minMem:     milli(cfg.MinAllocatableMem),
		rng:        rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		agents:     map[string]*agent{},
		frameworks: map[string]*framework{},
		roles:      map[string]*role{},
	}
	a.weights = cloneWeights(cfg.Weights)
	return a
}

func cloneWeights(w map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(w))
	for k, v := range w {
		out[k] = v
	}
	return out
}

func (a *Allocator) weight(name string) float64 {
	if w, ok := a.weights[name]; ok && w > 0 {
		return w
	}
	return 1
}

// ---- Agents -------------------------------------------------------------

// AddAgent adds an active agent; total is its full resources (reserved and
// unreserved). Adding a known agent updates it.
func (a *Allocator) AddAgent(agentID string, total mesosv1.Resources) {
	if ag := a.agents[agentID]; ag != nil {
		a.UpdateAgent(agentID, total)
		a.SetAgentActive(agentID, true)
		return
	}
	ag := &agent{id: agentID, active: true, cand: -1}
	a.agents[agentID] = ag
	a.setTotal(ag, total)
}

// UpdateAgent replaces an agent's total resources, keeping its allocations.
func (a *Allocator) UpdateAgent(agentID string, total mesosv1.Resources) {
	ag := a.agents[agentID]
	if ag == nil {
		a.AddAgent(agentID, total)
		return
	}
	a.setTotal(ag, total)
}

func (a *Allocator) setTotal(ag *agent, total mesosv1.Resources) {
	a.dropAgentFilters(ag) // filters may rely on the old total (see addFilter)
	a.total = a.total.sub(ag.total.scalars())
	ag.total = fromResources(total)
	a.total = a.total.add(ag.total.scalars())
	a.dirty = true
	ag.gpu = ag.total.scalars()[iGPUs] > 0
	ag.resv = nil
	for _, r := range total {
		rr := mesosv1.ReservationRole(r)
		if rr == mesosv1.UnreservedRole {
			continue
		}
		if ag.resv == nil {
			ag.resv = map[string]reservationTemplate{}
		}
		if _, ok := ag.resv[rr]; !ok {
			ag.resv[rr] = reservationTemplate{role: r.Role, reservations: slices.Clone(r.Reservations)}
		}
	}
	a.recomputeFree(ag)
}

// recomputeFree sets free = total - allocations and notes over-commitment.
func (a *Allocator) recomputeFree(ag *agent) {
	var held bundle
	for _, al := range ag.allocs {
		held.add(al.b.clone())
	}
	ag.free = ag.total.clone()
	ag.free.subtract(held)
	ag.over = !ag.total.contains(held)
	a.updateCand(ag)
}

// RemoveAgent forgets an agent and its allocations.
func (a *Allocator) RemoveAgent(agentID string) {
	ag := a.agents[agentID]
	if ag == nil {
		return
	}
	for _, al := range slices.Clone(ag.allocs) {
		a.dropAlloc(ag, al)
	}
	ag.active = false
	a.updateCand(ag)
	a.total = a.total.sub(ag.total.scalars())
	a.dirty = true
	delete(a.agents, agentID)
	a.dropAgentFilters(ag)
}

// SetAgentActive activates or deactivates an agent; inactive agents are not
// offered (their allocations stay).
func (a *Allocator) SetAgentActive(agentID string, active bool) {
	if ag := a.agents[agentID]; ag != nil {
		ag.active = active
		a.updateCand(ag)
	}
}

// updateCand is called after every change to ag's free pool or activity.
func (a *Allocator) updateCand(ag *agent) {
	ag.version++
	want := ag.active && ag.free.hasNonPorts()
	switch {
	case want && ag.cand < 0:
		ag.cand = len(a.cand)
		a.cand = append(a.cand, ag)
	case !want && ag.cand >= 0:
		last := a.cand[len(a.cand)-1]
		a.cand[ag.cand] = last
		last.cand = ag.cand
		a.cand[len(a.cand)-1] = nil
		a.cand = a.cand[:len(a.cand)-1]
		ag.cand = -1
	}
}

// ---- Frameworks ---------------------------------------------------------

// AddFramework adds an active framework in roles (FrameworkInfo.EffectiveRoles()).
// Adding a known framework updates and activates it.
func (a *Allocator) AddFramework(frameworkID string, roles []string, gpuCapable bool, suppressedRoles []string) {
	a.epoch++
	fw := a.frameworks[frameworkID]
	if fw == nil {
		fw = &framework{id: frameworkID, members: map[string]*member{}}
		a.frameworks[frameworkID] = fw
	}
	fw.active = true
	a.updateFramework(fw, roles, gpuCapable, suppressedRoles)
}

// UpdateFramework changes a framework's roles, GPU capability and
// suppressed roles. An unknown framework is added.
func (a *Allocator) UpdateFramework(frameworkID string, roles []string, gpuCapable bool, suppressedRoles []string) {
	a.epoch++
	fw := a.frameworks[frameworkID]
	if fw == nil {
		a.AddFramework(frameworkID, roles, gpuCapable, suppressedRoles)
		return
	}
	a.updateFramework(fw, roles, gpuCapable, suppressedRoles)
}

func (a *Allocator) updateFramework(fw *framework, roles []string, gpu bool, suppressed []string) {
	if len(roles) == 0 {
		roles = []string{mesosv1.UnreservedRole}
	}
	fw.roles = fw.roles[:0]
	for _, r := range roles { // dedupe, keeping the declared order
		if !slices.Contains(fw.roles, r) {
			fw.roles = append(fw.roles, r)
		}
	}
	fw.gpu = gpu
	for name, m := range fw.members {
		if !slices.Contains(fw.roles, name) {
			m.subscribed = false
			a.maybeDropMember(m)
		}
	}
	for _, name := range fw.roles {
		m := a.member(fw, name)
		m.subscribed = true
		m.suppressed = slices.Contains(suppressed, name)
	}
}

// member returns fw's membership in role name, creating it (unsubscribed).
func (a *Allocator) member(fw *framework, name string) *member {
	if m := fw.members[name]; m != nil {
		return m
	}
	r := a.roles[name]
	if r == nil {
		r = &role{name: name, weight: a.weight(name), idx: len(a.roleOrder)}
		a.roles[name] = r
		a.roleOrder = append(a.roleOrder, r)
		a.fixRole(r)
	}
	m := &member{fw: fw, role: r, idx: len(r.members)}
	fw.members[name] = m
	r.members = append(r.members, m)
	a.fixMember(m)
	return m
}

// maybeDropMember forgets a membership that is neither subscribed nor
// holding anything, and the role once it has no members.
func (a *Allocator) maybeDropMember(m *member) {
	if m.subscribed || m.allocs > 0 {
		return
	}
	fw, r := m.fw, m.role
	a.clearFilters(m)
	delete(fw.members, r.name)
	r.members = slices.Delete(r.members, m.idx, m.idx+1)
	for i := m.idx; i < len(r.members); i++ {
		r.members[i].idx = i
	}
	if len(r.members) > 0 {
		return
	}
	delete(a.roles, r.name)
	a.roleOrder = slices.Delete(a.roleOrder, r.idx, r.idx+1)
	for i := r.idx; i < len(a.roleOrder); i++ {
		a.roleOrder[i].idx = i
	}
}

// RemoveFramework forgets a framework and releases everything it holds.
func (a *Allocator) RemoveFramework(frameworkID string) {
	a.epoch++
	fw := a.frameworks[frameworkID]
	if fw == nil {
		return
	}
	for _, al := range slices.Clone(fw.allocs) {
		a.release(al.ag, al, al.b.clone())
	}
	for _, m := range fw.members {
		m.subscribed = false
		a.maybeDropMember(m)
	}
	delete(a.frameworks, frameworkID)
}

// SetFrameworkActive activates or deactivates (disconnected) a framework;
// inactive frameworks get no offers but keep their allocations and filters.
func (a *Allocator) SetFrameworkActive(frameworkID string, active bool) {
	a.epoch++
	if fw := a.frameworks[frameworkID]; fw != nil {
		fw.active = active
	}
}

// Suppress stops offers to the framework for roles (nil/empty = all its roles).
func (a *Allocator) Suppress(frameworkID string, roles []string) {
	a.setSuppressed(frameworkID, roles, true)
}

// Revive clears the framework's offer filters and unsuppresses it, for roles
// (nil/empty = all its roles), as Mesos' REVIVE does.
func (a *Allocator) Revive(frameworkID string, roles []string) {
	a.setSuppressed(frameworkID, roles, false)
}

func (a *Allocator) setSuppressed(frameworkID string, roles []string, v bool) {
	a.epoch++
	fw := a.frameworks[frameworkID]
	if fw == nil {
		return
	}
	for name, m := range fw.members {
		if len(roles) == 0 || slices.Contains(roles, name) {
			m.suppressed = v
			if !v {
				a.clearFilters(m)
			}
		}
	}
}

// SetWeights replaces the role weights.
func (a *Allocator) SetWeights(w map[string]float64) {
	a.epoch++
	a.weights = cloneWeights(w)
	for _, r := range a.roles {
		r.weight = a.weight(r.name)
	}
	a.dirty = true
}

// ---- Allocation bookkeeping ---------------------------------------------

// AddAllocated records resources a framework already holds on an agent
// (tasks reported by a re-registering agent). Only what the agent has free
// is recorded. Resources without allocation_info count toward the role they
// are reserved to, else the framework's first role. An unknown framework is
// recorded as inactive until AddFramework.
func (a *Allocator) AddAllocated(frameworkID, agentID string, res mesosv1.Resources) {
	ag := a.agents[agentID]
	if ag == nil {
		return
	}
	fw := a.frameworks[frameworkID]
	if fw == nil {
		fw = &framework{id: frameworkID, members: map[string]*member{}}
		a.frameworks[frameworkID] = fw
	}
	for _, part := range a.splitByRole(fw, ag, res) {
		got := intersect(ag.free, part.b)
		if got.isEmpty() {
			continue
		}
		ag.free.subtract(got)
		a.hold(ag, a.member(fw, part.role), got)
	}
	a.updateCand(ag)
}

// Recover gives resources back to the agent's free pool (declined or unused offer parts, rescinded offers,
// ended tasks). refuse > 0 installs an offer filter: this framework is not offered resources on this agent
// that are contained in res until now+refuse (Mesos Filters.refuse_seconds semantics).
// Only what the framework holds is given back, so recovering twice is harmless.
func (a *Allocator) Recover(frameworkID, agentID string, res mesosv1.Resources, refuse time.Duration, now time.Time) {
	ag, fw := a.agents[agentID], a.frameworks[frameworkID]
	if ag == nil || fw == nil {
		return
	}
	for _, part := range a.splitByRole(fw, ag, res) {
		for _, al := range ag.allocs {
			if al.m.fw == fw && al.m.role.name == part.role {
				a.release(ag, al, intersect(al.b, part.b))
				break
			}
		}
		// The filter is per (framework, role, agent), as in Mesos.
		if m := fw.members[part.role]; m != nil && refuse > 0 && !part.b.isEmpty() {
			a.addFilter(m, ag, part.b, now.Add(min(refuse, maxRefuse)))
		}
	}
}

type rolePart struct {
	role string
	b    bundle
}

// splitByRole groups res by the role it is (or is taken to be) allocated to.
func (a *Allocator) splitByRole(fw *framework, ag *agent, res mesosv1.Resources) []rolePart {
	var parts []rolePart
	for _, r := range res {
		name := mesosv1.AllocationRole(r)
		if name == "" {
			name = a.fallbackRole(fw, ag, mesosv1.ReservationRole(r))
		}
		i := slices.IndexFunc(parts, func(p rolePart) bool { return p.role == name })
		if i < 0 {
			parts = append(parts, rolePart{role: name})
			i = len(parts) - 1
		}
		parts[i].b.addResource(r)
	}
	return parts
}

func (a *Allocator) fallbackRole(fw *framework, ag *agent, reservedTo string) string {
	if reservedTo != mesosv1.UnreservedRole {
		return reservedTo
	}
	held := ""
	for _, al := range ag.allocs {
		if al.m.fw == fw {
			if held != "" {
				held = ""
				break
			}
			held = al.m.role.name
		}
	}
	switch {
	case held != "":
		return held
	case len(fw.roles) > 0:
		return fw.roles[0]
	}
	return mesosv1.UnreservedRole
}

// hold adds b (already taken out of the agent's free pool) to what m holds on ag.
func (a *Allocator) hold(ag *agent, m *member, b bundle) {
	var al *alloc
	for _, x := range ag.allocs {
		if x.m == m {
			al = x
			break
		}
	}
	if al == nil {
		al = &alloc{m: m, ag: ag, fwIdx: len(m.fw.allocs)}
		ag.allocs = append(ag.allocs, al)
		m.fw.allocs = append(m.fw.allocs, al)
		m.allocs++
	}
	al.b.add(b)
	a.usage(m, b.scalars(), true)
}

// release gives b (part of al, not aliasing al.b) back to ag's free pool,
// which takes ownership of b.
func (a *Allocator) release(ag *agent, al *alloc, b bundle) {
	if b.isEmpty() {
		return
	}
	al.b.subtract(b)
	al.b.compact()
	a.usage(al.m, b.scalars(), false)
	if ag.over {
		// Allocations exceed a shrunk total: giving back all of b could
		// push free above the total, so recompute it.
		a.recomputeFree(ag)
	} else {
		ag.free.add(b)
		a.updateCand(ag)
	}
	if al.b.isEmpty() {
		a.dropAlloc(ag, al)
	}
}

// dropAlloc removes al from ag entirely, releasing its shares (but not
// returning resources to free: callers do that or the agent is going away).
func (a *Allocator) dropAlloc(ag *agent, al *alloc) {
	if !al.b.isEmpty() {
		a.usage(al.m, al.b.scalars(), false)
		al.b = nil
	}
	i := slices.Index(ag.allocs, al)
	if i < 0 {
		return
	}
	ag.allocs = slices.Delete(ag.allocs, i, i+1)
	m := al.m
	m.allocs--
	fa := m.fw.allocs
	last := fa[len(fa)-1]
	fa[al.fwIdx], last.fwIdx = last, al.fwIdx
	fa[len(fa)-1] = nil
	m.fw.allocs = fa[:len(fa)-1]
	a.maybeDropMember(m)
}

// usage adds (or removes) v to m's, its role's and its framework's
// allocation and restores the orders.
func (a *Allocator) usage(m *member, v vec, add bool) {
	if add {
		m.alloc, m.role.alloc, m.fw.alloc = m.alloc.add(v), m.role.alloc.add(v), m.fw.alloc.add(v)
	} else {
		m.alloc, m.role.alloc, m.fw.alloc = m.alloc.sub(v), m.role.alloc.sub(v), m.fw.alloc.sub(v)
	}
	a.fixRole(m.role)
	a.fixMember(m)
}

// ---- Queries ------------------------------------------------------------

// Roles lists roles with frameworks (subscribed, or holding resources), by name.
func (a *Allocator) Roles() []RoleInfo {
	out := make([]RoleInfo, 0, len(a.roles))
	for _, r := range a.roles {
		info := RoleInfo{Name: r.name, Weight: r.weight}
		for _, m := range r.members {
			info.Frameworks = append(info.Frameworks, m.fw.id)
		}
		sort.Strings(info.Frameworks)
		p := pool{role: mesosv1.UnreservedRole, v: r.alloc}
		info.Allocated = toResources("", nil, &p).Allocate("")
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// RoleShare reports a role's weighted dominant share (0 for unknown roles).
func (a *Allocator) RoleShare(role string) float64 {
	r := a.roles[role]
	if r == nil {
		return 0
	}
	return a.dominant(r.alloc) / r.weight
}

// FrameworkShare reports a framework's dominant share over all its roles.
func (a *Allocator) FrameworkShare(frameworkID string) float64 {
	fw := a.frameworks[frameworkID]
	if fw == nil {
		return 0
	}
	return a.dominant(fw.alloc)
}
