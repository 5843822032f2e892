package match

import (
	"cmp"
	"math"
	"slices"

	"github.com/basalt-dcos/basalt/pkg/marathon"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Match checks whether one more instance of app fits offer, whose
// Resources are what is left of it. placed lists the agents of the app's
// live instances (for UNIQUE, CLUSTER, GROUP_BY, MAX_PER).
//
// Every dimension is checked, so Reasons lists each one that fails, in the
// order role, cpus, mem, disk, gpus, ports, constraints. A dimension that
// the offer could satisfy only with resources reserved to roles the app does
// not accept reports ReasonUnfulfilledRole (once) instead of Insufficient*.
//
// Resources are taken reserved-first: resources reserved to an accepted role
// (roles in name order), then unreserved ones. Each taken resource keeps its
// source's role, reservations and allocation_info; a source without
// allocation_info gets the offer's. (The caller's Minus matches resources by
// allocation role too, so offers should carry allocation_info on their
// resources, as Mesos' and Basalt's do.)
func Match(app marathon.App, offer mesosv1.Offer, placed []Placement, cfg Config) Result {
	accepted := acceptedRoles(app, cfg)
	all := make([]mesosv1.Resource, 0, len(offer.Resources))
	usable := make([]mesosv1.Resource, 0, len(offer.Resources))
	for _, r := range preferenceOrder(offer.Resources) {
		if r.AllocationInfo == nil && offer.AllocationInfo != nil {
			a := *offer.AllocationInfo
			r.AllocationInfo = &a
		}
		all = append(all, r)
		if slices.Contains(accepted, mesosv1.ReservationRole(r)) {
			usable = append(usable, r)
		}
	}

	var reasons []string
	roleFailed := false
	var taken []mesosv1.Resource
	for _, d := range []struct {
		name   string
		need   float64
		reason string
	}{
		{mesosv1.ResCPUs, app.Cpus, ReasonInsufficientCpus},
		{mesosv1.ResMem, app.Mem, ReasonInsufficientMemory},
		{mesosv1.ResDisk, app.Disk, ReasonInsufficientDisk},
		{mesosv1.ResGPUs, float64(app.Gpus), ReasonInsufficientGpus},
	} {
		got, ok := takeScalar(usable, d.name, d.need)
		switch {
		case ok:
			taken = append(taken, got...)
		case enoughScalar(all, d.name, d.need):
			roleFailed = true
		default:
			reasons = append(reasons, d.reason)
		}
	}

	specs := portSpecs(app)
	hostPorts, portRes, ok := assignPorts(usable, specs)
	switch {
	case ok:
		taken = append(taken, portRes...)
	default:
		if _, _, okAll := assignPorts(all, specs); okAll {
			roleFailed = true
		} else {
			reasons = append(reasons, ReasonInsufficientPorts)
		}
	}

	if roleFailed {
		reasons = append([]string{ReasonUnfulfilledRole}, reasons...)
	}
	if !constraintsHold(app.Constraints, offerTarget(offer), placed) {
		reasons = append(reasons, ReasonUnfulfilledConstraint)
	}
	if len(reasons) > 0 {
		return Result{Reasons: reasons}
	}
	return Result{
		Matched:   true,
		Resources: mesosv1.Resources(taken).Normalize(),
		HostPorts: hostPorts,
	}
}

// acceptedRoles are the reservation roles whose resources app may use.
func acceptedRoles(app marathon.App, cfg Config) []string {
	switch {
	case len(app.AcceptedResourceRoles) > 0:
		return app.AcceptedResourceRoles
	case len(cfg.DefaultAcceptedResourceRoles) > 0:
		return cfg.DefaultAcceptedResourceRoles
	}
	return []string{mesosv1.UnreservedRole}
}

// preferenceOrder returns deep copies of rs, reserved resources first (by
// role name), unreserved last, offer order kept within a role.
func preferenceOrder(rs []mesosv1.Resource) []mesosv1.Resource {
	out := make([]mesosv1.Resource, len(rs))
	for i, r := range rs {
		out[i] = copyResource(r)
	}
	slices.SortStableFunc(out, func(a, b mesosv1.Resource) int {
		ra, rb := mesosv1.ReservationRole(a), mesosv1.ReservationRole(b)
		ua, ub := ra == mesosv1.UnreservedRole, rb == mesosv1.UnreservedRole
		switch {
		case ua != ub && ub:
			return -1
		case ua != ub:
			return 1
		}
		return cmp.Compare(ra, rb)
	})
	return out
}

// copyResource deep-copies r so results never alias the offer.
func copyResource(r mesosv1.Resource) mesosv1.Resource {
	c := r
	if r.Scalar != nil {
		s := *r.Scalar
		c.Scalar = &s
	}
	if r.Ranges != nil {
		c.Ranges = &mesosv1.ValueRanges{Range: slices.Clone(r.Ranges.Range)}
	}
	if r.Set != nil {
		c.Set = &mesosv1.ValueSet{Item: slices.Clone(r.Set.Item)}
	}
	c.Reservations = slices.Clone(r.Reservations)
	if r.AllocationInfo != nil {
		a := *r.AllocationInfo
		c.AllocationInfo = &a
	}
	return c
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

func scalarOf(r mesosv1.Resource, name string) (float64, bool) {
	if r.Name != name || r.Type != mesosv1.Scalar || r.Scalar == nil {
		return 0, false
	}
	v := round3(r.Scalar.Value)
	if math.IsNaN(v) || v <= 0 {
		return 0, false
	}
	return v, true
}

func enoughScalar(rs []mesosv1.Resource, name string, need float64) bool {
	_, ok := takeScalar(rs, name, need)
	return ok
}

// takeScalar takes need of scalar name from rs in order. need <= 0 takes
// nothing and always fits.
func takeScalar(rs []mesosv1.Resource, name string, need float64) ([]mesosv1.Resource, bool) {
	left := round3(need)
	if !(left > 0) { // also catches NaN
		return nil, true
	}
	var out []mesosv1.Resource
	for _, r := range rs {
		have, ok := scalarOf(r, name)
		if !ok {
			continue
		}
		take := min(have, left)
		c := copyResource(r)
		c.Scalar = &mesosv1.ValueScalar{Value: take}
		out = append(out, c)
		left = round3(left - take)
		if left <= 0 {
			return out, true
		}
	}
	return nil, false
}
