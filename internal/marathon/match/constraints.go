package match

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Constraint operators (reference §2.4).
const (
	opUnique  = "UNIQUE"
	opCluster = "CLUSTER"
	opGroupBy = "GROUP_BY"
	opLike    = "LIKE"
	opUnlike  = "UNLIKE"
	opMaxPer  = "MAX_PER"
	opIs      = "IS"
)

// target is what a constraint field is read from: the offered agent or the
// agent of a placed instance.
type target struct {
	hostname   string
	region     string
	zone       string
	attributes []mesosv1.Attribute
}

func offerTarget(o mesosv1.Offer) target {
	t := target{hostname: o.Hostname, attributes: o.Attributes}
	if o.Domain != nil && o.Domain.FaultDomain != nil {
		t.region = o.Domain.FaultDomain.Region.Name
		t.zone = o.Domain.FaultDomain.Zone.Name
	}
	return t
}

func placementTarget(p Placement) target {
	return target{hostname: p.Hostname, region: p.Region, zone: p.Zone, attributes: p.Attributes}
}

// field returns the value of a constraint field on t as text, and whether t
// has it. Scalars are rounded to three decimals, ranges render as
// "[1-5,7-9]" and sets as "{a,b}", so values compare as text.
func (t target) field(name string) (value string, scalar bool, ok bool) {
	switch name {
	case "hostname", "@hostname":
		return t.hostname, false, true
	case "@region":
		return t.region, false, t.region != ""
	case "@zone":
		return t.zone, false, t.zone != ""
	}
	for _, a := range t.attributes {
		if a.Name == name {
			return attributeText(a)
		}
	}
	return "", false, false
}

func attributeText(a mesosv1.Attribute) (string, bool, bool) {
	switch {
	case a.Type == mesosv1.Text && a.Text != nil:
		return a.Text.Value, false, true
	case a.Type == mesosv1.Scalar && a.Scalar != nil:
		return formatScalar(a.Scalar.Value), true, true
	case a.Type == mesosv1.Ranges && a.Ranges != nil:
		parts := make([]string, len(a.Ranges.Range))
		for i, r := range a.Ranges.Range {
			parts[i] = strconv.FormatUint(r.Begin, 10) + "-" + strconv.FormatUint(r.End, 10)
		}
		return "[" + strings.Join(parts, ",") + "]", false, true
	case a.Type == mesosv1.Set && a.Set != nil:
		return "{" + strings.Join(a.Set.Item, ",") + "}", false, true
	}
	return "", false, false
}

// formatScalar renders a scalar as Mesos does after its fixed-point
// rounding: "3", "2.5", "0.001".
func formatScalar(v float64) string {
	return strconv.FormatFloat(round3(v), 'f', -1, 64)
}

// constraintsHold reports whether every constraint holds for placing one
// more instance on t. A malformed constraint (no operator, unknown
// operator, bad regex or number) never holds: validation should have
// rejected it, and placing against a rule we cannot read would be worse
// than not placing.
func constraintsHold(constraints [][]string, t target, placed []Placement) bool {
	if len(constraints) == 0 {
		return true
	}
	placedTargets := make([]target, len(placed))
	for i, p := range placed {
		placedTargets[i] = placementTarget(p)
	}
	regexps := map[string]*regexp.Regexp{}
	for _, c := range constraints {
		if !constraintHolds(c, t, placedTargets, regexps) {
			return false
		}
	}
	return true
}

func constraintHolds(c []string, t target, placed []target, regexps map[string]*regexp.Regexp) bool {
	if len(c) < 2 {
		return false
	}
	fieldName, op := c[0], c[1]
	arg, hasArg := "", len(c) > 2
	if hasArg {
		arg = c[2]
	}
	value, scalar, ok := t.field(fieldName)
	if !ok {
		// A missing field satisfies only UNLIKE (with a readable regex).
		return op == opUnlike && hasArg && compile(arg, regexps) != nil
	}
	switch op {
	case opUnique:
		return countValue(placed, fieldName, value) == 0
	case opCluster:
		if hasArg && arg != "" {
			return value == arg
		}
		for _, p := range placed {
			if v, _, ok := p.field(fieldName); ok {
				return v == value
			}
		}
		return true
	case opGroupBy:
		return groupByHolds(fieldName, value, arg, placed)
	case opLike, opUnlike:
		re := compile(arg, regexps)
		if !hasArg || re == nil {
			return false
		}
		return re.MatchString(value) == (op == opLike)
	case opMaxPer:
		n, err := strconv.Atoi(strings.TrimSpace(arg))
		if err != nil {
			return false
		}
		return countValue(placed, fieldName, value) < n
	case opIs:
		if !hasArg {
			return false
		}
		if scalar {
			f, err := strconv.ParseFloat(strings.TrimSpace(arg), 64)
			return err == nil && formatScalar(f) == value
		}
		return value == arg
	}
	return false
}

// groupByHolds spreads instances evenly over the field's values. The
// candidate value may take one more instance when its count among placed
// instances is at most the smallest count over the values known so far.
// Known values are those of placed instances; with GROUP_BY N, while fewer
// than N distinct values are known the unseen ones count as 0, so only a
// new value is acceptable until N values are in use (Marathon's "waits for
// them"). Without N (or N <= 0) only the seen values count, so a value not
// yet used is always acceptable.
func groupByHolds(fieldName, value, arg string, placed []target) bool {
	expected := 0
	if s := strings.TrimSpace(arg); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return false
		}
		expected = n
	}
	counts := map[string]int{}
	for _, p := range placed {
		if v, _, ok := p.field(fieldName); ok {
			counts[v]++
		}
	}
	mine := counts[value]
	if len(counts) < expected {
		return mine == 0
	}
	for _, n := range counts {
		if mine > n {
			return false
		}
	}
	return true
}

func countValue(placed []target, fieldName, value string) int {
	n := 0
	for _, p := range placed {
		if v, _, ok := p.field(fieldName); ok && v == value {
			n++
		}
	}
	return n
}

// compile compiles a constraint regex anchored at both ends (Marathon
// matches the whole value), once per Match call. It returns nil for an
// invalid regex.
func compile(expr string, cache map[string]*regexp.Regexp) *regexp.Regexp {
	if re, ok := cache[expr]; ok {
		return re
	}
	re, err := regexp.Compile("^(?:" + expr + ")$")
	if err != nil {
		re = nil
	}
	cache[expr] = re
	return re
}
