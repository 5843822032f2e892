package deploy

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-dcos/basalt/pkg/marathon"
)

// app is a small normalised app definition.
func app(id string, instances int, deps ...string) marathon.App {
	cmd := "sleep 1000"
	if deps == nil {
		deps = []string{}
	}
	return marathon.App{
		ID:              id,
		Cmd:             &cmd,
		Env:             map[string]marathon.EnvValue{},
		Instances:       instances,
		Cpus:            0.1,
		Mem:             32,
		Constraints:     [][]string{},
		Fetch:           []marathon.Fetch{},
		HealthChecks:    []marathon.HealthCheck{},
		ReadinessChecks: []marathon.ReadinessCheck{},
		Dependencies:    deps,
		Labels:          map[string]string{},
		Secrets:         map[string]marathon.SecretDef{},
		KillSelection:   "YOUNGEST_FIRST",
		PortDefinitions: []marathon.PortDefinition{},
		Networks:        []marathon.Network{{Mode: "host"}},
		Version:         "2024-01-01T00:00:00.000Z",
	}
}

// rootOf builds a root from apps and explicit groups.
func rootOf(apps []marathon.App, groups ...GroupMeta) Root {
	r := Root{Apps: map[string]marathon.App{}, Groups: map[string]GroupMeta{}}
	for _, a := range apps {
		r.Apps[a.ID] = a
	}
	for _, g := range groups {
		r.Groups[g.ID] = g
	}
	return r
}

func ptr[T any](v T) *T { return &v }

// emptyGroup is a group as Tree renders one with nothing in it.
func emptyGroup(id string) marathon.Group {
	return marathon.Group{
		ID: id, Apps: []marathon.App{}, Pods: []any{}, Groups: []marathon.Group{},
		Dependencies: []string{}, EnforceRole: ptr(false),
	}
}

func TestTreeEmptyRoot(t *testing.T) {
	var r Root
	g, ok := r.Tree("/")
	if !ok {
		t.Fatal("Tree(/) of an empty root: ok false, want true")
	}
	if diff := cmp.Diff(emptyGroup("/"), g); diff != "" {
		t.Errorf("Tree(/) (-want +got):\n%s", diff)
	}
	b, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"apps":[]`, `"groups":[]`, `"pods":[]`, `"dependencies":[]`} {
		if !strings.Contains(string(b), field) {
			t.Errorf("JSON %s lacks %s", b, field)
		}
	}
	if _, ok := r.Tree("/missing"); ok {
		t.Error("Tree(/missing): ok true, want false")
	}
}

func TestTree(t *testing.T) {
	r := rootOf(
		[]marathon.App{app("/a/b/one", 1), app("/a/two", 2), app("/c/three", 1), app("/top", 1)},
		GroupMeta{ID: "/a", Dependencies: []string{"/c"}, Version: "v-a", EnforceRole: true},
		GroupMeta{ID: "/e", Dependencies: []string{}},
		GroupMeta{ID: "/x/y/z", Dependencies: []string{}, Version: "v-z"},
	)
	groupWith := func(g marathon.Group, apps []marathon.App, groups ...marathon.Group) marathon.Group {
		if apps != nil {
			g.Apps = apps
		}
		if groups != nil {
			g.Groups = groups
		}
		return g
	}
	ab := groupWith(emptyGroup("/a/b"), []marathon.App{app("/a/b/one", 1)})
	a := groupWith(emptyGroup("/a"), []marathon.App{app("/a/two", 2)}, ab)
	a.Dependencies, a.Version, a.EnforceRole = []string{"/c"}, "v-a", ptr(true)
	c := groupWith(emptyGroup("/c"), []marathon.App{app("/c/three", 1)})
	z := emptyGroup("/x/y/z")
	z.Version = "v-z"
	x := groupWith(emptyGroup("/x"), nil, groupWith(emptyGroup("/x/y"), nil, z))
	want := groupWith(emptyGroup("/"), []marathon.App{app("/top", 1)}, a, c, emptyGroup("/e"), x)

	tests := []struct {
		id     string
		want   marathon.Group
		wantOK bool
	}{
		{"/", want, true},
		{"", want, true},
		{"/a", a, true},
		{"/a/", a, true},
		{"a", a, true},
		{"/a/b", ab, true},
		{"/e", emptyGroup("/e"), true},
		{"/x/y", x.Groups[0], true},
		{"/top", marathon.Group{}, false}, // an app, not a group
		{"/a/b/one", marathon.Group{}, false},
		{"/nope", marathon.Group{}, false},
		{"/a/bb", marathon.Group{}, false},
	}
	for _, tt := range tests {
		got, ok := r.Tree(tt.id)
		if ok != tt.wantOK {
			t.Errorf("Tree(%q): ok %v, want %v", tt.id, ok, tt.wantOK)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Tree(%q) (-want +got):\n%s", tt.id, diff)
		}
	}

	// The tree is a copy: editing it leaves r alone.
	got, _ := r.Tree("/")
	got.Apps[0].Labels["x"] = "y"
	if len(r.Apps["/top"].Labels) != 0 {
		t.Error("editing Tree's apps changed the root")
	}
}

func TestPutGroup(t *testing.T) {
	base := func() Root {
		return rootOf(
			[]marathon.App{app("/g/a", 1), app("/g/sub/b", 1), app("/g/old/c", 1), app("/other", 1)},
			GroupMeta{ID: "/g", Dependencies: []string{"/db"}},
			GroupMeta{ID: "/g/old", Dependencies: []string{}},
			GroupMeta{ID: "/g/gone", Dependencies: []string{}},
			GroupMeta{ID: "/h", Dependencies: []string{}},
		)
	}
	submitted := marathon.Group{
		ID:      "/g",
		Version: "v2",
		Apps:    []marathon.App{app("/g/a", 3)},
		Groups: []marathon.Group{{
			ID:           "/g/sub",
			Apps:         []marathon.App{app("/g/sub/b", 2), app("/g/sub/new", 1)},
			Dependencies: []string{"/h"},
			EnforceRole:  ptr(true),
		}},
	}
	tests := []struct {
		name       string
		replace    bool
		wantApps   map[string]int // id -> instances
		wantGroups map[string]GroupMeta
	}{
		{
			name:     "merge",
			replace:  false,
			wantApps: map[string]int{"/g/a": 3, "/g/sub/b": 2, "/g/sub/new": 1, "/g/old/c": 1, "/other": 1},
			wantGroups: map[string]GroupMeta{
				"/g":      {ID: "/g", Dependencies: []string{}, Version: "v2"},
				"/g/sub":  {ID: "/g/sub", Dependencies: []string{"/h"}, EnforceRole: true},
				"/g/old":  {ID: "/g/old", Dependencies: []string{}},
				"/g/gone": {ID: "/g/gone", Dependencies: []string{}},
				"/h":      {ID: "/h", Dependencies: []string{}},
			},
		},
		{
			name:     "replace",
			replace:  true,
			wantApps: map[string]int{"/g/a": 3, "/g/sub/b": 2, "/g/sub/new": 1, "/other": 1},
			wantGroups: map[string]GroupMeta{
				"/g":     {ID: "/g", Dependencies: []string{}, Version: "v2"},
				"/g/sub": {ID: "/g/sub", Dependencies: []string{"/h"}, EnforceRole: true},
				"/h":     {ID: "/h", Dependencies: []string{}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base()
			r.PutGroup(submitted, tt.replace)
			gotApps := map[string]int{}
			for id, a := range r.Apps {
				gotApps[id] = a.Instances
			}
			if diff := cmp.Diff(tt.wantApps, gotApps); diff != "" {
				t.Errorf("apps (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantGroups, r.Groups); diff != "" {
				t.Errorf("groups (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("into zero root, keeps no reference", func(t *testing.T) {
		var r Root
		g := marathon.Group{ID: "/", Apps: []marathon.App{app("/x", 1)}}
		r.PutGroup(g, true)
		g.Apps[0].Labels["k"] = "v"
		if got := r.Apps["/x"].Labels; len(got) != 0 {
			t.Errorf("root app shares labels with the submitted group: %v", got)
		}
		if _, ok := r.Groups["/"]; !ok {
			t.Error("root group not recorded")
		}
	})
}

func TestDeleteGroup(t *testing.T) {
	base := func() Root {
		return rootOf(
			[]marathon.App{app("/g/a", 1), app("/g/sub/b", 1), app("/gg/c", 1), app("/d", 1)},
			GroupMeta{ID: "/g"}, GroupMeta{ID: "/g/sub"}, GroupMeta{ID: "/g/empty"}, GroupMeta{ID: "/gg"},
		)
	}
	tests := []struct {
		id         string
		wantApps   []string
		wantGroups []string
	}{
		{"/g", []string{"/d", "/gg/c"}, []string{"/gg"}},
		{"/g/sub", []string{"/d", "/g/a", "/gg/c"}, []string{"/g", "/g/empty", "/gg"}},
		{"/g/empty/", []string{"/d", "/g/a", "/g/sub/b", "/gg/c"}, []string{"/g", "/g/sub", "/gg"}},
		{"/", []string{}, []string{}},
		{"/nope", []string{"/d", "/g/a", "/g/sub/b", "/gg/c"}, []string{"/g", "/g/empty", "/g/sub", "/gg"}},
	}
	for _, tt := range tests {
		r := base()
		r.DeleteGroup(tt.id)
		gotApps, gotGroups := []string{}, []string{}
		for id := range r.Apps {
			gotApps = append(gotApps, id)
		}
		for id := range r.Groups {
			gotGroups = append(gotGroups, id)
		}
		sortStrings(gotApps)
		sortStrings(gotGroups)
		if diff := cmp.Diff(tt.wantApps, gotApps); diff != "" {
			t.Errorf("DeleteGroup(%q) apps (-want +got):\n%s", tt.id, diff)
		}
		if diff := cmp.Diff(tt.wantGroups, gotGroups); diff != "" {
			t.Errorf("DeleteGroup(%q) groups (-want +got):\n%s", tt.id, diff)
		}
	}
}

func TestClone(t *testing.T) {
	a := app("/a", 1)
	a.Container = &marathon.Container{Type: "DOCKER", Docker: &marathon.Docker{Image: "nginx", Parameters: []marathon.Parameter{}}, Volumes: []marathon.Volume{}}
	a.HealthChecks = []marathon.HealthCheck{{Protocol: "HTTP", PortIndex: ptr(0)}}
	a.Args = []string{}
	r := rootOf([]marathon.App{a}, GroupMeta{ID: "/g", Dependencies: []string{"/a"}})
	c := r.Clone()
	if diff := cmp.Diff(r, c); diff != "" {
		t.Fatalf("clone differs (-orig +clone):\n%s", diff)
	}
	ca := c.Apps["/a"]
	ca.Container.Docker.Image = "changed"
	*ca.HealthChecks[0].PortIndex = 7
	ca.Env["X"] = marathon.EnvValue{Value: "1"}
	*ca.Cmd = "changed"
	c.Groups["/g"].Dependencies[0] = "/changed"
	c.Apps["/b"] = app("/b", 1)
	if diff := cmp.Diff(rootOf([]marathon.App{a}, GroupMeta{ID: "/g", Dependencies: []string{"/a"}}), r); diff != "" {
		t.Errorf("editing the clone changed the original (-want +got):\n%s", diff)
	}
	if r.Apps["/a"].Args == nil {
		t.Error("clone source lost its empty Args")
	}
	if c.Apps["/a"].Args == nil {
		t.Error("clone turned empty Args into nil")
	}
}

func TestDependencies(t *testing.T) {
	r := rootOf(
		[]marathon.App{
			app("/db/pg", 1),
			app("/db/redis", 1),
			app("/cache", 1),
			app("/web/front", 1, "/cache", "/missing", "/web/front"),
			app("/web/api", 1, "../cache"),
			app("/web/inner/x", 1),
			app("/solo", 1, "/db"),
			app("/db/sub/y", 1),
		},
		GroupMeta{ID: "/web", Dependencies: []string{"/db"}},
		GroupMeta{ID: "/web/inner", Dependencies: []string{"/web"}},
		GroupMeta{ID: "/db", Dependencies: []string{"/db/pg"}},
	)
	tests := []struct {
		app  string
		want []string
	}{
		{"/web/front", []string{"/cache", "/db/pg", "/db/redis", "/db/sub/y"}},
		{"/web/api", []string{"/cache", "/db/pg", "/db/redis", "/db/sub/y"}},
		// /web/inner depends on /web, which contains /web/inner/x itself:
		// that inherited dependency is skipped, /web's own on /db stays.
		{"/web/inner/x", []string{"/db/pg", "/db/redis", "/db/sub/y"}},
		{"/solo", []string{"/db/pg", "/db/redis", "/db/sub/y"}},
		// Group /db depends on its own member /db/pg: the other members
		// depend on it, /db/pg itself does not (it lies under the target).
		{"/db/redis", []string{"/db/pg"}},
		{"/db/sub/y", []string{"/db/pg"}},
		{"/db/pg", nil},
		{"/cache", nil},
		{"/unknown", nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, r.Dependencies(tt.app)); diff != "" {
			t.Errorf("Dependencies(%q) (-want +got):\n%s", tt.app, diff)
		}
	}
}

func sortStrings(s []string) { slices.Sort(s) }
