package mesosv1

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Resources is a list of resources with the arithmetic Mesos defines on it.
// Resources with the same name, type, reservation role and allocation role
// are one "kind" and merge: scalars add, ranges and sets unite. Methods never
// modify their receiver or arguments; they return new lists in canonical
// form (one entry per kind, sorted by name then role, zero entries dropped).
//
// Scalars use three decimal digits of precision, as Mesos' fixed-point
// arithmetic does, so 0.1+0.2 compares equal to 0.3.
type Resources []Resource

// Well-known resource names.
const (
	ResCPUs  = "cpus"
	ResMem   = "mem"
	ResDisk  = "disk"
	ResPorts = "ports"
	ResGPUs  = "gpus"
)

// UnreservedRole is the role of unreserved resources.
const UnreservedRole = "*"

// ReservationRole returns the role a resource is reserved to ("*" if none):
// the last entry of the reservations stack, else the legacy role field.
func ReservationRole(r Resource) string {
	if n := len(r.Reservations); n > 0 && r.Reservations[n-1].Role != "" {
		return r.Reservations[n-1].Role
	}
	if r.Role != "" {
		return r.Role
	}
	return UnreservedRole
}

// AllocationRole returns the role a resource is allocated to, or "".
func AllocationRole(r Resource) string {
	if r.AllocationInfo == nil {
		return ""
	}
	return r.AllocationInfo.Role
}

// NewScalar builds an unreserved scalar resource.
func NewScalar(name string, v float64) Resource {
	return Resource{Name: name, Type: Scalar, Scalar: &ValueScalar{Value: round3(v)}}
}

// NewRanges builds an unreserved ranges resource.
func NewRanges(name string, rs ...ValueRange) Resource {
	return Resource{Name: name, Type: Ranges, Ranges: &ValueRanges{Range: normRanges(rs)}}
}

// NewSet builds an unreserved set resource.
func NewSet(name string, items ...string) Resource {
	return Resource{Name: name, Type: Set, Set: &ValueSet{Item: normSet(items)}}
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

type kind struct {
	name, typ, role, alloc string
}

func kindOf(r Resource) kind {
	return kind{r.Name, r.Type, ReservationRole(r), AllocationRole(r)}
}

// clone deep-copies one resource.
func clone(r Resource) Resource {
	c := r
	if r.Scalar != nil {
		s := *r.Scalar
		c.Scalar = &s
	}
	if r.Ranges != nil {
		c.Ranges = &ValueRanges{Range: slices.Clone(r.Ranges.Range)}
	}
	if r.Set != nil {
		c.Set = &ValueSet{Item: slices.Clone(r.Set.Item)}
	}
	c.Reservations = slices.Clone(r.Reservations)
	if r.AllocationInfo != nil {
		a := *r.AllocationInfo
		c.AllocationInfo = &a
	}
	return c
}

func isEmpty(r Resource) bool {
	switch r.Type {
	case Scalar:
		return r.Scalar == nil || round3(r.Scalar.Value) <= 0
	case Ranges:
		return r.Ranges == nil || len(r.Ranges.Range) == 0
	case Set:
		return r.Set == nil || len(r.Set.Item) == 0
	}
	return true
}

// merge adds b into a (same kind).
func merge(a, b Resource) Resource {
	switch a.Type {
	case Scalar:
		a.Scalar = &ValueScalar{Value: round3(a.Scalar.Value + b.Scalar.Value)}
	case Ranges:
		a.Ranges = &ValueRanges{Range: normRanges(append(slices.Clone(a.Ranges.Range), b.Ranges.Range...))}
	case Set:
		a.Set = &ValueSet{Item: normSet(append(slices.Clone(a.Set.Item), b.Set.Item...))}
	}
	return a
}

// normalize returns rs in canonical form.
func normalize(rs []Resource) Resources {
	idx := make(map[kind]int, len(rs))
	out := make(Resources, 0, len(rs))
	for _, r := range rs {
		if !validShape(r) {
			continue
		}
		k := kindOf(r)
		if i, ok := idx[k]; ok {
			out[i] = merge(out[i], r)
			continue
		}
		c := clone(r)
		switch c.Type {
		case Scalar:
			c.Scalar.Value = round3(c.Scalar.Value)
		case Ranges:
			c.Ranges.Range = normRanges(c.Ranges.Range)
		case Set:
			c.Set.Item = normSet(c.Set.Item)
		}
		idx[k] = len(out)
		out = append(out, c)
	}
	out = slices.DeleteFunc(out, isEmpty)
	sort.SliceStable(out, func(i, j int) bool {
		ki, kj := kindOf(out[i]), kindOf(out[j])
		if ki.name != kj.name {
			return ki.name < kj.name
		}
		if ki.role != kj.role {
			return ki.role < kj.role
		}
		return ki.alloc < kj.alloc
	})
	return out
}

func validShape(r Resource) bool {
	switch r.Type {
	case Scalar:
		return r.Scalar != nil && !math.IsNaN(r.Scalar.Value) && !math.IsInf(r.Scalar.Value, 0)
	case Ranges:
		return r.Ranges != nil
	case Set:
		return r.Set != nil
	}
	return false
}

// Normalize returns r in canonical form.
func (r Resources) Normalize() Resources { return normalize(r) }

// Plus returns r + o.
func (r Resources) Plus(o Resources) Resources {
	all := make([]Resource, 0, len(r)+len(o))
	all = append(all, r...)
	all = append(all, o...)
	return normalize(all)
}

// Minus returns r - o. Parts of o that r does not hold are ignored, so
// Minus never goes below zero; use Contains first when that matters.
func (r Resources) Minus(o Resources) Resources {
	out := normalize(r)
	sub := normalize(o)
	idx := make(map[kind]int, len(out))
	for i, x := range out {
		idx[kindOf(x)] = i
	}
	for _, s := range sub {
		i, ok := idx[kindOf(s)]
		if !ok {
			continue
		}
		a := out[i]
		switch a.Type {
		case Scalar:
			v := round3(a.Scalar.Value - s.Scalar.Value)
			if v < 0 {
				v = 0
			}
			a.Scalar = &ValueScalar{Value: v}
		case Ranges:
			a.Ranges = &ValueRanges{Range: subtractRanges(a.Ranges.Range, s.Ranges.Range)}
		case Set:
			a.Set = &ValueSet{Item: slices.DeleteFunc(slices.Clone(a.Set.Item), func(it string) bool {
				return slices.Contains(s.Set.Item, it)
			})}
		}
		out[i] = a
	}
	return slices.DeleteFunc(out, isEmpty)
}

// Contains reports whether r holds all of o (kind by kind).
func (r Resources) Contains(o Resources) bool {
	have := normalize(r)
	idx := make(map[kind]Resource, len(have))
	for _, x := range have {
		idx[kindOf(x)] = x
	}
	for _, want := range normalize(o) {
		h, ok := idx[kindOf(want)]
		if !ok {
			return false
		}
		switch want.Type {
		case Scalar:
			if round3(h.Scalar.Value-want.Scalar.Value) < 0 {
				return false
			}
		case Ranges:
			if len(subtractRanges(want.Ranges.Range, h.Ranges.Range)) > 0 {
				return false
			}
		case Set:
			for _, it := range want.Set.Item {
				if !slices.Contains(h.Set.Item, it) {
					return false
				}
			}
		}
	}
	return true
}

// Equal reports whether r and o hold the same resources.
func (r Resources) Equal(o Resources) bool { return r.Contains(o) && o.Contains(r) }

// IsEmpty reports whether r holds nothing.
func (r Resources) IsEmpty() bool { return len(normalize(r)) == 0 }

// ScalarSum returns the total of scalar resource name over all roles.
func (r Resources) ScalarSum(name string) float64 {
	var v float64
	for _, x := range r {
		if x.Name == name && x.Type == Scalar && x.Scalar != nil {
			v += x.Scalar.Value
		}
	}
	return round3(v)
}

// RangesOf returns the union of ranges resource name over all roles.
func (r Resources) RangesOf(name string) []ValueRange {
	var all []ValueRange
	for _, x := range r {
		if x.Name == name && x.Type == Ranges && x.Ranges != nil {
			all = append(all, x.Ranges.Range...)
		}
	}
	return normRanges(all)
}

// Filter returns the resources for which keep is true.
func (r Resources) Filter(keep func(Resource) bool) Resources {
	var out Resources
	for _, x := range r {
		if keep(x) {
			out = append(out, clone(x))
		}
	}
	return out
}

// Unreserved returns the unreserved part of r.
func (r Resources) Unreserved() Resources {
	return r.Filter(func(x Resource) bool { return ReservationRole(x) == UnreservedRole })
}

// ReservedTo returns the part of r reserved to role.
func (r Resources) ReservedTo(role string) Resources {
	return r.Filter(func(x Resource) bool { return ReservationRole(x) == role })
}

// AllocatableTo returns the part of r that may be offered to role:
// unreserved resources and resources reserved to role.
func (r Resources) AllocatableTo(role string) Resources {
	return r.Filter(func(x Resource) bool {
		rr := ReservationRole(x)
		return rr == UnreservedRole || rr == role
	})
}

// Reservations groups the reserved part of r by role.
func (r Resources) Reservations() map[string]Resources {
	out := map[string]Resources{}
	for _, x := range r {
		if rr := ReservationRole(x); rr != UnreservedRole {
			out[rr] = append(out[rr], clone(x))
		}
	}
	return out
}

// Allocate returns a copy of r with allocation_info.role set to role
// (role "" clears it).
func (r Resources) Allocate(role string) Resources {
	out := make(Resources, 0, len(r))
	for _, x := range r {
		c := clone(x)
		if role == "" {
			c.AllocationInfo = nil
		} else {
			c.AllocationInfo = &AllocationInfo{Role: role}
		}
		out = append(out, c)
	}
	return out
}

// ToMap renders r in Mesos' flat JSON form used by the state endpoints:
// scalars summed by name, ranges as "[a-b, c-d]", sets as "{a, b}".
// cpus, mem, disk and gpus are always present, as Mesos renders them.
func (r Resources) ToMap() ResourceMap {
	m := ResourceMap{ResCPUs: 0.0, ResMem: 0.0, ResDisk: 0.0, ResGPUs: 0.0}
	ranges := map[string][]ValueRange{}
	sets := map[string][]string{}
	for _, x := range r {
		switch x.Type {
		case Scalar:
			if x.Scalar == nil {
				continue
			}
			v, _ := m[x.Name].(float64)
			m[x.Name] = round3(v + x.Scalar.Value)
		case Ranges:
			if x.Ranges != nil {
				ranges[x.Name] = append(ranges[x.Name], x.Ranges.Range...)
			}
		case Set:
			if x.Set != nil {
				sets[x.Name] = append(sets[x.Name], x.Set.Item...)
			}
		}
	}
	for name, rs := range ranges {
		if s := formatRanges(normRanges(rs), ", "); s != "[]" {
			m[name] = s
		}
	}
	for name, items := range sets {
		m[name] = "{" + strings.Join(normSet(items), ", ") + "}"
	}
	return m
}

// String renders r in the agent --resources text form,
// e.g. "cpus:2;mem:1024;ports:[31000-32000];disk(ads):10".
func (r Resources) String() string {
	parts := make([]string, 0, len(r))
	for _, x := range normalize(r) {
		name := x.Name
		if role := ReservationRole(x); role != UnreservedRole {
			name += "(" + role + ")"
		}
		var v string
		switch x.Type {
		case Scalar:
			v = strconv.FormatFloat(x.Scalar.Value, 'f', -1, 64)
		case Ranges:
			v = formatRanges(x.Ranges.Range, ",")
		case Set:
			v = "{" + strings.Join(x.Set.Item, ",") + "}"
		}
		parts = append(parts, name+":"+v)
	}
	return strings.Join(parts, ";")
}

func formatRanges(rs []ValueRange, sep string) string {
	parts := make([]string, len(rs))
	for i, rg := range rs {
		parts[i] = fmt.Sprintf("%d-%d", rg.Begin, rg.End)
	}
	return "[" + strings.Join(parts, sep) + "]"
}

// normRanges sorts and coalesces overlapping or adjacent ranges; ranges with
// Begin > End are dropped.
func normRanges(rs []ValueRange) []ValueRange {
	in := make([]ValueRange, 0, len(rs))
	for _, r := range rs {
		if r.Begin <= r.End {
			in = append(in, r)
		}
	}
	if len(in) == 0 {
		return nil
	}
	slices.SortFunc(in, func(a, b ValueRange) int {
		switch {
		case a.Begin < b.Begin:
			return -1
		case a.Begin > b.Begin:
			return 1
		}
		return 0
	})
	out := []ValueRange{in[0]}
	for _, r := range in[1:] {
		last := &out[len(out)-1]
		if last.End == math.MaxUint64 || r.Begin <= last.End+1 {
			if r.End > last.End {
				last.End = r.End
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

// subtractRanges returns a minus b (both normalized or not).
func subtractRanges(a, b []ValueRange) []ValueRange {
	cur := normRanges(a)
	for _, s := range normRanges(b) {
		var next []ValueRange
		for _, r := range cur {
			if s.End < r.Begin || s.Begin > r.End {
				next = append(next, r)
				continue
			}
			if s.Begin > r.Begin {
				next = append(next, ValueRange{Begin: r.Begin, End: s.Begin - 1})
			}
			if s.End < r.End {
				next = append(next, ValueRange{Begin: s.End + 1, End: r.End})
			}
		}
		cur = next
	}
	return cur
}

func normSet(items []string) []string {
	out := slices.Clone(items)
	slices.Sort(out)
	return slices.Compact(out)
}

// ValidateRole checks a role name against Mesos' rules (reference §1.3).
// Hierarchical roles "a/b" are allowed; each path element is checked.
func ValidateRole(role string) error {
	if role == UnreservedRole {
		return nil
	}
	if role == "" {
		return errors.New("role must not be empty")
	}
	if strings.HasPrefix(role, "/") || strings.HasSuffix(role, "/") {
		return fmt.Errorf("role %q must not start or end with '/'", role)
	}
	for _, part := range strings.Split(role, "/") {
		switch {
		case part == "" || part == "." || part == "..":
			return fmt.Errorf("role %q has an invalid path element %q", role, part)
		case strings.HasPrefix(part, "-"):
			return fmt.Errorf("role %q must not start with '-'", role)
		case part == "*":
			return fmt.Errorf("role %q must not contain '*' as a path element", role)
		}
		for _, c := range part {
			if c == '\\' || c <= ' ' || c == 0x7f {
				return fmt.Errorf("role %q contains an invalid character %q", role, c)
			}
		}
	}
	return nil
}

// Validate checks resources from outside (a framework's LAUNCH, an agent's
// --resources) and reports every problem at once.
func (r Resources) Validate() error {
	var errs []error
	for i, x := range r {
		if x.Name == "" {
			errs = append(errs, fmt.Errorf("resource %d: empty name", i))
		}
		switch x.Type {
		case Scalar:
			switch {
			case x.Scalar == nil:
				errs = append(errs, fmt.Errorf("resource %q: SCALAR without a scalar value", x.Name))
			case math.IsNaN(x.Scalar.Value) || math.IsInf(x.Scalar.Value, 0) || x.Scalar.Value < 0:
				errs = append(errs, fmt.Errorf("resource %q: invalid scalar %v", x.Name, x.Scalar.Value))
			}
		case Ranges:
			if x.Ranges == nil {
				errs = append(errs, fmt.Errorf("resource %q: RANGES without ranges", x.Name))
				break
			}
			for _, rg := range x.Ranges.Range {
				if rg.Begin > rg.End {
					errs = append(errs, fmt.Errorf("resource %q: range %d-%d has begin > end", x.Name, rg.Begin, rg.End))
				}
			}
		case Set:
			if x.Set == nil {
				errs = append(errs, fmt.Errorf("resource %q: SET without items", x.Name))
			}
		default:
			errs = append(errs, fmt.Errorf("resource %q: unknown type %q", x.Name, x.Type))
		}
		if x.Role != "" {
			if err := ValidateRole(x.Role); err != nil {
				errs = append(errs, fmt.Errorf("resource %q: %w", x.Name, err))
			}
		}
		for _, rv := range x.Reservations {
			if err := ValidateRole(rv.Role); err != nil {
				errs = append(errs, fmt.Errorf("resource %q reservation: %w", x.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// ParseResources parses the agent --resources flag: either the text form
// "cpus:24;mem:24576;ports:[21000-24000,30000-34000];disk(ads):10;bugs:{a,b}"
// (entries separated by ';'; name(role) reserves statically to role), or the
// JSON array form. Entries without a role get defaultRole ("" or "*" means
// unreserved). Static reservations are recorded as a STATIC reservation.
func ParseResources(text, defaultRole string) (Resources, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, nil
	}
	if strings.HasPrefix(text, "[") {
		var rs Resources
		if err := json.Unmarshal([]byte(text), &rs); err != nil {
			return nil, fmt.Errorf("parse resources JSON: %w", err)
		}
		if err := rs.Validate(); err != nil {
			return nil, err
		}
		return normalize(rs), nil
	}
	var out Resources
	var errs []error
	for _, entry := range strings.Split(text, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, value, ok := strings.Cut(entry, ":")
		if !ok {
			errs = append(errs, fmt.Errorf("resource %q: expected name:value", entry))
			continue
		}
		name = strings.TrimSpace(name)
		role := defaultRole
		if open := strings.IndexByte(name, '('); open >= 0 {
			if !strings.HasSuffix(name, ")") {
				errs = append(errs, fmt.Errorf("resource %q: unbalanced role parentheses", entry))
				continue
			}
			role = name[open+1 : len(name)-1]
			name = strings.TrimSpace(name[:open])
			if role == "" {
				errs = append(errs, fmt.Errorf("resource %q: empty role in parentheses", entry))
				continue
			}
		}
		if name == "" {
			errs = append(errs, fmt.Errorf("resource %q: empty name", entry))
			continue
		}
		r, err := parseValue(name, strings.TrimSpace(value))
		if err != nil {
			errs = append(errs, fmt.Errorf("resource %q: %w", name, err))
			continue
		}
		if role != "" && role != UnreservedRole {
			if err := ValidateRole(role); err != nil {
				errs = append(errs, fmt.Errorf("resource %q: %w", name, err))
				continue
			}
			r.Reservations = []ReservationInfo{{Type: "STATIC", Role: role}}
		}
		out = append(out, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := out.Validate(); err != nil {
		return nil, err
	}
	return normalize(out), nil
}

func parseValue(name, v string) (Resource, error) {
	switch {
	case strings.HasPrefix(v, "["):
		rs, err := parseRanges(v)
		if err != nil {
			return Resource{}, err
		}
		return Resource{Name: name, Type: Ranges, Ranges: &ValueRanges{Range: rs}}, nil
	case strings.HasPrefix(v, "{"):
		if !strings.HasSuffix(v, "}") {
			return Resource{}, fmt.Errorf("set %q: missing '}'", v)
		}
		var items []string
		for _, it := range strings.Split(v[1:len(v)-1], ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		return Resource{Name: name, Type: Set, Set: &ValueSet{Item: normSet(items)}}, nil
	default:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
			return Resource{}, fmt.Errorf("invalid scalar %q", v)
		}
		return Resource{Name: name, Type: Scalar, Scalar: &ValueScalar{Value: round3(f)}}, nil
	}
}

func parseRanges(v string) ([]ValueRange, error) {
	if !strings.HasSuffix(v, "]") {
		return nil, fmt.Errorf("ranges %q: missing ']'", v)
	}
	var out []ValueRange
	for _, part := range strings.Split(v[1:len(v)-1], ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		b, e, ok := strings.Cut(part, "-")
		if !ok {
			e = b
		}
		begin, err1 := strconv.ParseUint(strings.TrimSpace(b), 10, 64)
		end, err2 := strconv.ParseUint(strings.TrimSpace(e), 10, 64)
		if err1 != nil || err2 != nil || begin > end {
			return nil, fmt.Errorf("invalid range %q", part)
		}
		out = append(out, ValueRange{Begin: begin, End: end})
	}
	return normRanges(out), nil
}

// ParseAttributes parses the agent --attributes flag: "rack:a;zone:2;r:[1-5]".
// Numbers become SCALAR, [..] RANGES, anything else TEXT, as in Mesos.
func ParseAttributes(text string) ([]Attribute, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, nil
	}
	var out []Attribute
	var errs []error
	seen := map[string]bool{}
	for _, entry := range strings.Split(text, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, v, ok := strings.Cut(entry, ":")
		name, v = strings.TrimSpace(name), strings.TrimSpace(v)
		if !ok || name == "" {
			errs = append(errs, fmt.Errorf("attribute %q: expected name:value", entry))
			continue
		}
		if seen[name] {
			errs = append(errs, fmt.Errorf("attribute %q given twice", name))
			continue
		}
		seen[name] = true
		if strings.HasPrefix(v, "[") {
			rs, err := parseRanges(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("attribute %q: %w", name, err))
				continue
			}
			out = append(out, Attribute{Name: name, Type: Ranges, Ranges: &ValueRanges{Range: rs}})
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			out = append(out, Attribute{Name: name, Type: Scalar, Scalar: &ValueScalar{Value: f}})
			continue
		}
		out = append(out, Attribute{Name: name, Type: Text, Text: &ValueText{Value: v}})
	}
	return out, errors.Join(errs...)
}

// AttributeValue renders an attribute's value as Mesos' state JSON does:
// numbers for scalars, strings for text, "[a-b]" for ranges, "{a,b}" for sets.
func AttributeValue(a Attribute) any {
	switch a.Type {
	case Scalar:
		if a.Scalar != nil {
			return a.Scalar.Value
		}
	case Ranges:
		if a.Ranges != nil {
			return formatRanges(a.Ranges.Range, ", ")
		}
	case Set:
		if a.Set != nil {
			return "{" + strings.Join(a.Set.Item, ",") + "}"
		}
	case Text:
		if a.Text != nil {
			return a.Text.Value
		}
	}
	return nil
}

// AttributeString renders an attribute's value as text (for constraints).
func AttributeString(a Attribute) string {
	switch v := AttributeValue(a).(type) {
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case string:
		return v
	}
	return ""
}
