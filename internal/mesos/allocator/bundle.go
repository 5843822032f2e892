package allocator

import (
	"math"
	"slices"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Compact resources. The allocator's inner loop works on bundles: per
// reservation role a pool holding cpus/mem/disk/gpus as integer thousandths
// (mesosv1 scalars carry three decimal digits, so this is exact), ports as
// normalized ranges, and anything else (custom scalars, sets, other ranges)
// as ordinary mesosv1.Resources — the slow path, rare in practice.
// Allocation info is not part of a bundle: the role something is allocated
// to is tracked by whoever holds the bundle.

const (
	iCPUs = iota
	iMem
	iDisk
	iGPUs
	nScalars
)

// vec is cpus, mem, disk and gpus in thousandths.
type vec [nScalars]int64

func milli(v float64) int64 {
	if math.IsNaN(v) || v <= 0 {
		return 0
	}
	if v > math.MaxInt64/2000 {
		return math.MaxInt64 / 2
	}
	return int64(math.Round(v * 1000))
}

func scalarIndex(name string) int {
	switch name {
	case mesosv1.ResCPUs:
		return iCPUs
	case mesosv1.ResMem:
		return iMem
	case mesosv1.ResDisk:
		return iDisk
	case mesosv1.ResGPUs:
		return iGPUs
	}
	return -1
}

func (v vec) add(o vec) vec {
	for i := range v {
		v[i] += o[i]
	}
	return v
}

// sub returns v - o, clamped at zero.
func (v vec) sub(o vec) vec {
	for i := range v {
		v[i] = max(v[i]-o[i], 0)
	}
	return v
}

func (v vec) min(o vec) vec {
	for i := range v {
		v[i] = min(v[i], o[i])
	}
	return v
}

// le reports whether v ≤ o component-wise.
func (v vec) le(o vec) bool {
	for i := range v {
		if v[i] > o[i] {
			return false
		}
	}
	return true
}

func (v vec) isZero() bool { return v == vec{} }

// pool is the part of a bundle reserved to one role ("*" = unreserved).
type pool struct {
	role  string
	v     vec
	ports []vrange          // normalized
	other mesosv1.Resources // normalized, no allocation info
}

// hasNonPorts reports whether p holds anything other than ports.
func (p *pool) hasNonPorts() bool { return !p.v.isZero() || len(p.other) > 0 }

func (p *pool) empty() bool { return !p.hasNonPorts() && len(p.ports) == 0 }

// bundle is a set of pools with distinct roles.
type bundle []pool

func (b bundle) find(role string) int {
	for i := range b {
		if b[i].role == role {
			return i
		}
	}
	return -1
}

// at returns the pool for role, creating an empty one if needed.
func (b *bundle) at(role string) *pool {
	if i := b.find(role); i >= 0 {
		return &(*b)[i]
	}
	*b = append(*b, pool{role: role})
	return &(*b)[len(*b)-1]
}

// addResource adds one resource (its allocation info ignored).
func (b *bundle) addResource(r mesosv1.Resource) {
	p := b.at(mesosv1.ReservationRole(r))
	switch {
	case r.Type == mesosv1.Scalar && scalarIndex(r.Name) >= 0:
		if r.Scalar != nil {
			p.v[scalarIndex(r.Name)] += milli(r.Scalar.Value)
		}
	case r.Type == mesosv1.Ranges && r.Name == mesosv1.ResPorts:
		if r.Ranges != nil {
			p.ports = rangesUnion(p.ports, rangesNorm(r.Ranges.Range))
		}
	default:
		p.other = p.other.Plus(mesosv1.Resources{r}.Allocate(""))
	}
}

func fromResources(rs mesosv1.Resources) bundle {
	var b bundle
	for _, r := range rs {
		b.addResource(r)
	}
	b.compact()
	return b
}

// compact drops empty pools.
func (b *bundle) compact() {
	*b = slices.DeleteFunc(*b, func(p pool) bool { return p.empty() })
}

func (b bundle) clone() bundle {
	out := make(bundle, len(b))
	for i, p := range b {
		out[i] = pool{role: p.role, v: p.v, ports: slices.Clone(p.ports), other: slices.Clone(p.other)}
	}
	return out
}

// addPool merges p into b. b takes ownership of p's slices when it had no
// pool for p's role.
func (b *bundle) addPool(p pool) {
	if p.empty() {
		return
	}
	i := b.find(p.role)
	if i < 0 {
		*b = append(*b, p)
		return
	}
	q := &(*b)[i]
	q.v = q.v.add(p.v)
	if len(p.ports) > 0 {
		q.ports = rangesUnion(q.ports, p.ports)
	}
	if len(p.other) > 0 {
		q.other = q.other.Plus(p.other)
	}
}

func (b *bundle) add(o bundle) {
	for _, p := range o {
		b.addPool(p)
	}
}

// subtract removes o from b, clamping at zero.
func (b *bundle) subtract(o bundle) {
	for _, p := range o {
		i := b.find(p.role)
		if i < 0 {
			continue
		}
		q := &(*b)[i]
		q.v = q.v.sub(p.v)
		if len(p.ports) > 0 && len(q.ports) > 0 {
			q.ports = rangesMinus(q.ports, p.ports)
		}
		if len(p.other) > 0 && len(q.other) > 0 {
			q.other = q.other.Minus(p.other)
		}
	}
}

// intersect returns what a and b have in common.
func intersect(a, b bundle) bundle {
	var out bundle
	for _, p := range a {
		i := b.find(p.role)
		if i < 0 {
			continue
		}
		q := b[i]
		r := pool{role: p.role, v: p.v.min(q.v)}
		if len(p.ports) > 0 && len(q.ports) > 0 {
			r.ports = rangesIntersect(p.ports, q.ports)
		}
		if len(p.other) > 0 && len(q.other) > 0 {
			r.other = p.other.Minus(p.other.Minus(q.other))
		}
		if !r.empty() {
			out = append(out, r)
		}
	}
	return out
}

// containsPool reports whether b holds all of p.
func (b bundle) containsPool(p *pool) bool {
	if p.empty() {
		return true
	}
	i := b.find(p.role)
	if i < 0 {
		return false
	}
	q := &b[i]
	return p.v.le(q.v) && rangesContain(q.ports, p.ports) && (len(p.other) == 0 || q.other.Contains(p.other))
}

func (b bundle) contains(o bundle) bool {
	for i := range o {
		if !b.containsPool(&o[i]) {
			return false
		}
	}
	return true
}

// scalars sums the pools' scalar vectors.
func (b bundle) scalars() vec {
	var v vec
	for i := range b {
		v = v.add(b[i].v)
	}
	return v
}

func (b bundle) isEmpty() bool {
	for i := range b {
		if !b[i].empty() {
			return false
		}
	}
	return true
}

func (b bundle) hasNonPorts() bool {
	for i := range b {
		if b[i].hasNonPorts() {
			return true
		}
	}
	return false
}

// reservationTemplate is how an agent's resources reserved to one role are
// labelled (legacy role field and reservations stack), reused for offers.
type reservationTemplate struct {
	role         string
	reservations []mesosv1.ReservationInfo
}

// offerBlock backs the resources of a typical offer (one pool: cpus, disk,
// gpus, mem, ports) with a single allocation.
type offerBlock struct {
	res    [5]mesosv1.Resource
	scalar [4]mesosv1.ValueScalar
	info   [5]mesosv1.AllocationInfo
	ranges mesosv1.ValueRanges
	rng    [2]vrange
}

// toResources renders pools as mesosv1.Resources allocated to allocRole.
// Reserved pools take their labels from tmpl (or a STATIC reservation when
// the agent has none on record).
func toResources(allocRole string, tmpl map[string]reservationTemplate, pools ...*pool) mesosv1.Resources {
	n, ns, nr := 0, 0, 0
	for _, p := range pools {
		for _, x := range p.v {
			if x > 0 {
				n++
				ns++
			}
		}
		if len(p.ports) > 0 {
			n++
			nr++
		}
		n += len(p.other)
	}
	if n == 0 {
		return nil
	}
	var (
		out     mesosv1.Resources
		scalars []mesosv1.ValueScalar
		infos   []mesosv1.AllocationInfo
		blk     *offerBlock
	)
	if n <= len(blk.res) && ns <= len(blk.scalar) && nr <= 1 {
		blk = &offerBlock{}
		out, scalars, infos = blk.res[:0:n], blk.scalar[:], blk.info[:]
	} else {
		out = make(mesosv1.Resources, 0, n)
		scalars = make([]mesosv1.ValueScalar, ns)
		infos = make([]mesosv1.AllocationInfo, n)
	}
	for _, p := range pools {
		var role string
		var resv []mesosv1.ReservationInfo
		if p.role != mesosv1.UnreservedRole {
			t, ok := tmpl[p.role]
			if !ok {
				t = reservationTemplate{reservations: []mesosv1.ReservationInfo{{Type: "STATIC", Role: p.role}}}
			}
			role, resv = t.role, t.reservations
		}
		emit := func(r mesosv1.Resource) {
			r.Role = role
			r.Reservations = slices.Clone(resv)
			infos[len(out)] = mesosv1.AllocationInfo{Role: allocRole}
			r.AllocationInfo = &infos[len(out)]
			out = append(out, r)
		}
		// Alphabetical: cpus, disk, gpus, mem, then ports.
		for _, i := range [...]int{iCPUs, iDisk, iGPUs, iMem} {
			if p.v[i] <= 0 {
				continue
			}
			scalars[0] = mesosv1.ValueScalar{Value: float64(p.v[i]) / 1000}
			emit(mesosv1.Resource{Name: scalarName(i), Type: mesosv1.Scalar, Scalar: &scalars[0]})
			scalars = scalars[1:]
		}
		if len(p.ports) > 0 {
			var vr *mesosv1.ValueRanges
			if blk != nil {
				vr = &blk.ranges
				if len(p.ports) <= len(blk.rng) {
					vr.Range = append(blk.rng[:0:len(p.ports)], p.ports...)
				} else {
					vr.Range = slices.Clone(p.ports)
				}
			} else {
				vr = &mesosv1.ValueRanges{Range: slices.Clone(p.ports)}
			}
			emit(mesosv1.Resource{Name: mesosv1.ResPorts, Type: mesosv1.Ranges, Ranges: vr})
		}
		out = append(out, p.other.Allocate(allocRole)...)
	}
	return out
}

func scalarName(i int) string {
	switch i {
	case iCPUs:
		return mesosv1.ResCPUs
	case iMem:
		return mesosv1.ResMem
	case iDisk:
		return mesosv1.ResDisk
	}
	return mesosv1.ResGPUs
}
