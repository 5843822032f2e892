package allocator

import (
	"cmp"
	"math"
	"slices"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Range arithmetic on sorted, coalesced lists of inclusive ranges. The
// allocator keeps ports in this form so that offering, recovering and
// filtering never re-normalize mesosv1.Resources in the hot loop.

type vrange = mesosv1.ValueRange

// rangesNorm sorts and coalesces rs (overlapping or adjacent ranges merge);
// ranges with Begin > End are dropped. It does not modify rs.
func rangesNorm(rs []vrange) []vrange {
	in := make([]vrange, 0, len(rs))
	for _, r := range rs {
		if r.Begin <= r.End {
			in = append(in, r)
		}
	}
	if len(in) == 0 {
		return nil
	}
	slices.SortFunc(in, func(x, y vrange) int { return cmp.Compare(x.Begin, y.Begin) })
	out := in[:1]
	for _, r := range in[1:] {
		last := &out[len(out)-1]
		if last.End == math.MaxUint64 || r.Begin <= last.End+1 {
			last.End = max(last.End, r.End)
			continue
		}
		out = append(out, r)
	}
	return out
}

// rangesUnion returns a ∪ b.
func rangesUnion(a, b []vrange) []vrange {
	switch {
	case len(b) == 0:
		return slices.Clone(a)
	case len(a) == 0:
		return slices.Clone(b)
	}
	all := make([]vrange, 0, len(a)+len(b))
	return rangesNorm(append(append(all, a...), b...))
}

// rangesMinus returns a \ b for normalized a and b.
func rangesMinus(a, b []vrange) []vrange {
	if len(b) == 0 {
		return slices.Clone(a)
	}
	var out []vrange
	j := 0
	for _, r := range a {
		begin, end := r.Begin, r.End
		for j < len(b) && b[j].End < begin {
			j++
		}
		alive := true
		for k := j; k < len(b) && b[k].Begin <= end; k++ {
			if b[k].Begin > begin {
				out = append(out, vrange{Begin: begin, End: b[k].Begin - 1})
			}
			if b[k].End >= end {
				alive = false
				break
			}
			begin = b[k].End + 1
		}
		if alive {
			out = append(out, vrange{Begin: begin, End: end})
		}
	}
	return out
}

// rangesIntersect returns a ∩ b for normalized a and b.
func rangesIntersect(a, b []vrange) []vrange {
	var out []vrange
	for i, j := 0, 0; i < len(a) && j < len(b); {
		lo, hi := max(a[i].Begin, b[j].Begin), min(a[i].End, b[j].End)
		if lo <= hi {
			out = append(out, vrange{Begin: lo, End: hi})
		}
		if a[i].End < b[j].End {
			i++
		} else {
			j++
		}
	}
	return out
}

// rangesContain reports whether b ⊆ a for normalized a and b.
func rangesContain(a, b []vrange) bool {
	return len(rangesMinus(b, a)) == 0
}
