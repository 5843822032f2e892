package allocator

import (
	"slices"
	"strings"
)

// Orders. Roles are kept sorted by (weighted dominant share, name) and each
// role's members by (dominant share in the role, framework ID). A grant or
// release changes one member's and one role's share, so fixRole/fixMember
// move just that element into place (shares change monotonically per event,
// so the move is a short bubble) instead of re-sorting per agent. Changes
// that move every share at once (cluster total, weights) mark the orders
// dirty; refresh re-sorts before the next cycle.

func (a *Allocator) dominant(v vec) float64 {
	var s float64
	for i, t := range a.total {
		if t > 0 {
			s = max(s, float64(v[i])/float64(t))
		}
	}
	return s
}

func roleLess(x, y *role) bool {
	if x.share != y.share {
		return x.share < y.share
	}
	return x.name < y.name
}

func memberLess(x, y *member) bool {
	if x.share != y.share {
		return x.share < y.share
	}
	return x.fw.id < y.fw.id
}

func (a *Allocator) fixRole(r *role) {
	if a.dirty {
		return
	}
	r.share = a.dominant(r.alloc) / r.weight
	o := a.roleOrder
	i := r.idx
	for ; i > 0 && roleLess(r, o[i-1]); i-- {
		o[i] = o[i-1]
		o[i].idx = i
	}
	for ; i+1 < len(o) && roleLess(o[i+1], r); i++ {
		o[i] = o[i+1]
		o[i].idx = i
	}
	o[i], r.idx = r, i
}

func (a *Allocator) fixMember(m *member) {
	if a.dirty {
		return
	}
	m.share = a.dominant(m.alloc)
	o := m.role.members
	i := m.idx
	for ; i > 0 && memberLess(m, o[i-1]); i-- {
		o[i] = o[i-1]
		o[i].idx = i
	}
	for ; i+1 < len(o) && memberLess(o[i+1], m); i++ {
		o[i] = o[i+1]
		o[i].idx = i
	}
	o[i], m.idx = m, i
}

// refresh recomputes every share and re-sorts after a dirtying change.
func (a *Allocator) refresh() {
	if !a.dirty {
		return
	}
	for _, r := range a.roleOrder {
		r.share = a.dominant(r.alloc) / r.weight
		for _, m := range r.members {
			m.share = a.dominant(m.alloc)
		}
		slices.SortFunc(r.members, func(x, y *member) int {
			if memberLess(x, y) {
				return -1
			}
			if memberLess(y, x) {
				return 1
			}
			return 0
		})
		for i, m := range r.members {
			m.idx = i
		}
	}
	slices.SortFunc(a.roleOrder, func(x, y *role) int {
		if x.share != y.share {
			if x.share < y.share {
				return -1
			}
			return 1
		}
		return strings.Compare(x.name, y.name)
	})
	for i, r := range a.roleOrder {
		r.idx = i
	}
	a.dirty = false
}
