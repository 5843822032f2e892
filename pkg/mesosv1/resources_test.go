package mesosv1

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mustParse(t *testing.T, s string) Resources {
	t.Helper()
	r, err := ParseResources(s, "")
	if err != nil {
		t.Fatalf("ParseResources(%q): %v", s, err)
	}
	return r
}

func TestParseResourcesText(t *testing.T) {
	r := mustParse(t, "cpus:2;mem:1024; disk(ads):10;ports:[31000-31002,31003-31005, 40000-40000];bugs:{b,a,a}")
	if got := r.String(); got != "bugs:{a,b};cpus:2;disk(ads):10;mem:1024;ports:[31000-31005,40000-40000]" {
		t.Fatalf("String() = %q", got)
	}
	if r.ScalarSum(ResDisk) != 10 || len(r.ReservedTo("ads")) != 1 || len(r.Unreserved()) != 4 {
		t.Fatalf("reservation split wrong: %v", r)
	}
}

func TestParseResourcesErrors(t *testing.T) {
	for _, bad := range []string{"cpus", "cpus:x", "cpus:-1", "ports:[5-1]", "ports:[1-2", "cpus(-a):1", "mem():3", "(r):1", "cpus:NaN"} {
		if _, err := ParseResources(bad, ""); err == nil {
			t.Errorf("ParseResources(%q): want error", bad)
		}
	}
}

func TestArithmetic(t *testing.T) {
	total := mustParse(t, "cpus:4;mem:4096;ports:[31000-32000]")
	task := mustParse(t, "cpus:0.1;mem:32;ports:[31005-31006]")
	if !total.Contains(task) {
		t.Fatal("total must contain task")
	}
	rest := total.Minus(task)
	if got, want := rest.String(), "cpus:3.9;mem:4064;ports:[31000-31004,31007-32000]"; got != want {
		t.Fatalf("Minus = %q want %q", got, want)
	}
	if !rest.Plus(task).Equal(total) {
		t.Fatalf("Plus(Minus) != total: %v", rest.Plus(task))
	}
	if rest.Contains(task) {
		t.Fatal("rest must not contain the used ports")
	}
	// 0.1 + 0.2 == 0.3 in fixed point.
	a := Resources{NewScalar(ResCPUs, 0.1), NewScalar(ResCPUs, 0.2)}.Normalize()
	if !a.Equal(Resources{NewScalar(ResCPUs, 0.3)}) {
		t.Fatalf("fixed point: %v", a)
	}
	// Reserved resources are a different kind than unreserved ones.
	if mustParse(t, "cpus(r):1").Contains(mustParse(t, "cpus:1")) {
		t.Fatal("reserved must not satisfy unreserved")
	}
	// Allocation role is part of the kind.
	off := total.Allocate("web")
	if off.Contains(task) || !off.Contains(task.Allocate("web")) {
		t.Fatal("allocation role must be matched")
	}
}

func TestToMap(t *testing.T) {
	m := mustParse(t, "cpus:2;cpus(r):1;mem:10;ports:[1-2,5-6]").ToMap()
	want := ResourceMap{"cpus": 3.0, "mem": 10.0, "disk": 0.0, "gpus": 0.0, "ports": "[1-2, 5-6]"}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Fatal(diff)
	}
}

func TestParseAttributes(t *testing.T) {
	as, err := ParseAttributes("rack:r1;weight:2.5;slots:[1-4];public_ip:true")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{}
	for _, a := range as {
		got[a.Name] = AttributeValue(a)
	}
	want := map[string]any{"rack": "r1", "weight": 2.5, "slots": "[1-4]", "public_ip": "true"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatal(diff)
	}
	if _, err := ParseAttributes("a:1;a:2"); err == nil {
		t.Fatal("duplicate attribute must fail")
	}
}

func TestValidateRole(t *testing.T) {
	for _, ok := range []string{"*", "web", "a/b", "slave_public"} {
		if err := ValidateRole(ok); err != nil {
			t.Errorf("ValidateRole(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "-x", "a b", "a\\b", "/a", "a/", "a//b", "a/*"} {
		if ValidateRole(bad) == nil {
			t.Errorf("ValidateRole(%q): want error", bad)
		}
	}
}

func FuzzParseResources(f *testing.F) {
	for _, s := range []string{"cpus:2;mem:1024", "ports:[1-5,7-9]", "disk(r/x):1", `[{"name":"cpus","type":"SCALAR","scalar":{"value":1}}]`, "s:{a,b}", ";;", "a(:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseResources(s, "")
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("parsed resources invalid: %v", err)
		}
		if !r.Contains(r) || !r.Plus(r).Contains(r) || !r.Minus(r).IsEmpty() {
			t.Fatalf("arithmetic identities fail for %v", r)
		}
		if strings.HasPrefix(strings.TrimSpace(s), "[") {
			return
		}
		back, err := ParseResources(r.String(), "")
		if err != nil || !back.Equal(r) {
			t.Fatalf("round trip %q -> %q: %v", s, r.String(), err)
		}
	})
}

func FuzzParseAttributes(f *testing.F) {
	for _, s := range []string{"rack:a;n:1", "r:[1-3]", ":", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		as, err := ParseAttributes(s)
		if err != nil {
			return
		}
		for _, a := range as {
			if a.Name == "" || AttributeValue(a) == nil {
				t.Fatalf("bad attribute %+v", a)
			}
		}
	})
}
