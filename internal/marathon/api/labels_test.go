package api

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseLabelSelector(t *testing.T) {
	tests := []struct {
		in   string
		want labelSelector
	}{
		{"a", labelSelector{{key: "a"}}},
		{"a==b", labelSelector{{key: "a", op: "==", values: []string{"b"}}}},
		{" a == b ", labelSelector{{key: "a", op: "==", values: []string{"b"}}}},
		{"a!=b", labelSelector{{key: "a", op: "!=", values: []string{"b"}}}},
		{"a in (x, y,z)", labelSelector{{key: "a", op: "in", values: []string{"x", "y", "z"}}}},
		{"a in(x)", labelSelector{{key: "a", op: "in", values: []string{"x"}}}},
		{"a notin (x)", labelSelector{{key: "a", op: "notin", values: []string{"x"}}}},
		{"a,b==c,d in (e)", labelSelector{{key: "a"}, {key: "b", op: "==", values: []string{"c"}}, {key: "d", op: "in", values: []string{"e"}}}},
		{`a\,b==c\=\=d`, labelSelector{{key: "a,b", op: "==", values: []string{"c==d"}}}},
		{`a==hello\ world`, labelSelector{{key: "a", op: "==", values: []string{"hello world"}}}},
		{`a in (x\,y, z\))`, labelSelector{{key: "a", op: "in", values: []string{"x,y", "z)"}}}},
		{`HAPROXY_GROUP==external`, labelSelector{{key: "HAPROXY_GROUP", op: "==", values: []string{"external"}}}},
		{"in", labelSelector{{key: "in"}}},
		{"k==in", labelSelector{{key: "k", op: "==", values: []string{"in"}}}},
	}
	for _, tc := range tests {
		got, err := parseLabelSelector(tc.in)
		if err != nil {
			t.Errorf("parse(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(labelTerm{})); diff != "" {
			t.Errorf("parse(%q) (-want +got):\n%s", tc.in, diff)
		}
	}

	for _, bad := range []string{
		"", ",", "a,", ",a", "a=b", "a!b", "a==", "==b", "a b", `a\`, "a in", "a in x", "a in (", "a in ()",
		"a in (x", "a in (x,)", "a notin x)", `a \in (x)`, "a==b c", "(a)",
	} {
		if sel, err := parseLabelSelector(bad); err == nil {
			t.Errorf("parse(%q) = %v, want an error", bad, sel)
		}
	}
}

func TestLabelSelectorMatches(t *testing.T) {
	labels := map[string]string{"tier": "web", "env": "prod", "empty": ""}
	tests := []struct {
		sel  string
		want bool
	}{
		{"tier", true},
		{"missing", false},
		{"empty", true},
		{"tier==web", true},
		{"tier==db", false},
		{"tier!=db", true},
		{"tier!=web", false},
		{"missing!=x", false}, // every term requires the label
		{"tier in (db, web)", true},
		{"tier in (db)", false},
		{"tier notin (db)", true},
		{"tier notin (web, db)", false},
		{"missing notin (x)", false},
		{"tier==web,env==prod", true},
		{"tier==web,env==dev", false},
	}
	for _, tc := range tests {
		sel, err := parseLabelSelector(tc.sel)
		if err != nil {
			t.Fatalf("parse(%q): %v", tc.sel, err)
		}
		if got := sel.matches(labels); got != tc.want {
			t.Errorf("%q matches = %v, want %v", tc.sel, got, tc.want)
		}
	}
}

// FuzzLabelSelector checks that parsing never panics and that a parsed
// selector renders to text that parses back to the same selector.
func FuzzLabelSelector(f *testing.F) {
	for _, s := range []string{
		"a", "a==b", "a!=b", "a in (x,y)", "a notin (x)", `a\,b==c\ d`, "a,b,c", "x in (in, notin)",
		"a==", "a in (", `\`, "é==ü", "a\t==\nb",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := parseLabelSelector(s)
		if err != nil {
			return
		}
		if len(sel) == 0 {
			t.Fatalf("parse(%q) gave an empty selector without an error", s)
		}
		sel.matches(map[string]string{"a": "b"})
		text := sel.String()
		again, err := parseLabelSelector(text)
		if err != nil {
			t.Fatalf("parse(%q) ok, but its rendering %q does not parse: %v", s, text, err)
		}
		if diff := cmp.Diff(sel, again, cmp.AllowUnexported(labelTerm{})); diff != "" {
			t.Fatalf("round trip of %q via %q (-first +second):\n%s", s, text, diff)
		}
	})
}
