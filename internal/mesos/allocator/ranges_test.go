package allocator

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func r(b, e uint64) vrange { return vrange{Begin: b, End: e} }

func TestRanges(t *testing.T) {
	const top = math.MaxUint64
	tests := []struct {
		name                   string
		a, b                   []vrange
		union, minus, intersec []vrange
		contains               bool // b ⊆ a
	}{
		{name: "empty", contains: true},
		{name: "disjoint", a: []vrange{r(1, 3)}, b: []vrange{r(5, 6)},
			union: []vrange{r(1, 3), r(5, 6)}, minus: []vrange{r(1, 3)}},
		{name: "adjacent merge", a: []vrange{r(1, 3)}, b: []vrange{r(4, 6)},
			union: []vrange{r(1, 6)}, minus: []vrange{r(1, 3)}},
		{name: "hole in the middle", a: []vrange{r(1, 10)}, b: []vrange{r(4, 6)},
			union: []vrange{r(1, 10)}, minus: []vrange{r(1, 3), r(7, 10)}, intersec: []vrange{r(4, 6)}, contains: true},
		{name: "b spans several", a: []vrange{r(1, 2), r(5, 6), r(9, 10)}, b: []vrange{r(2, 9)},
			union: []vrange{r(1, 10)}, minus: []vrange{r(1, 1), r(10, 10)}, intersec: []vrange{r(2, 2), r(5, 6), r(9, 9)}},
		{name: "top of the range", a: []vrange{r(top-5, top)}, b: []vrange{r(top-2, top)},
			union: []vrange{r(top-5, top)}, minus: []vrange{r(top-5, top-3)}, intersec: []vrange{r(top-2, top)}, contains: true},
		{name: "all", a: []vrange{r(0, top)}, b: []vrange{r(0, 0), r(top, top)},
			union: []vrange{r(0, top)}, minus: []vrange{r(1, top-1)}, intersec: []vrange{r(0, 0), r(top, top)}, contains: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.union, rangesUnion(tc.a, tc.b)); diff != "" {
				t.Errorf("union (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.minus, rangesMinus(tc.a, tc.b)); diff != "" {
				t.Errorf("minus (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.intersec, rangesIntersect(tc.a, tc.b)); diff != "" {
				t.Errorf("intersect (-want +got):\n%s", diff)
			}
			if got := rangesContain(tc.a, tc.b); got != tc.contains {
				t.Errorf("contains = %v, want %v", got, tc.contains)
			}
		})
	}
}

// FuzzRanges checks the range operations against a bitset over 0..63.
func FuzzRanges(f *testing.F) {
	f.Add(uint64(0b1011), uint64(0b0110))
	f.Add(uint64(math.MaxUint64), uint64(1<<63|1))
	f.Add(uint64(0), uint64(0xf0f0))
	f.Fuzz(func(t *testing.T, x, y uint64) {
		toRanges := func(bits uint64) []vrange {
			// Emit one range per set bit, unsorted and overlapping, to
			// exercise normalization too.
			var out []vrange
			for i := 63; i >= 0; i-- {
				if bits&(1<<i) != 0 {
					out = append(out, r(uint64(i), uint64(i)))
				}
			}
			return rangesNorm(out)
		}
		toBits := func(rs []vrange) uint64 {
			var bits uint64
			for i, x := range rs {
				if x.Begin > x.End || x.End > 63 {
					t.Fatalf("bad range %v", x)
				}
				if i > 0 && x.Begin <= rs[i-1].End+1 {
					t.Fatalf("not normalized: %v", rs)
				}
				for v := x.Begin; v <= x.End; v++ {
					bits |= 1 << v
				}
			}
			return bits
		}
		a, b := toRanges(x), toRanges(y)
		if got := toBits(a); got != x {
			t.Fatalf("roundtrip %b -> %v -> %b", x, a, got)
		}
		if got := toBits(rangesUnion(a, b)); got != x|y {
			t.Errorf("union %b", got)
		}
		if got := toBits(rangesMinus(a, b)); got != x&^y {
			t.Errorf("minus %b", got)
		}
		if got := toBits(rangesIntersect(a, b)); got != x&y {
			t.Errorf("intersect %b", got)
		}
		if got := rangesContain(a, b); got != (y&^x == 0) {
			t.Errorf("contains = %v", got)
		}
	})
}
