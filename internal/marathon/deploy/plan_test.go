package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-dcos/basalt/pkg/marathon"
)

// render writes a plan's steps as "Kind /app" strings, Kind shortened.
func render(steps [][]Action) [][]string {
	short := map[string]string{
		marathon.ActionStart: "start", marathon.ActionStop: "stop",
		marathon.ActionScale: "scale", marathon.ActionRestart: "restart",
	}
	out := [][]string{}
	for _, step := range steps {
		s := []string{}
		for _, a := range step {
			s = append(s, short[a.Kind]+" "+a.AppID)
		}
		out = append(out, s)
	}
	return out
}

func withCmd(a marathon.App, cmd string) marathon.App {
	a.Cmd = &cmd
	return a
}

func withVersionInfo(a marathon.App, version, scaledAt, changedAt string) marathon.App {
	a.Version = version
	a.VersionInfo = &marathon.VersionInfo{LastScalingAt: scaledAt, LastConfigChangeAt: changedAt}
	return a
}

func TestNewPlan(t *testing.T) {
	empty := rootOf(nil)
	tests := []struct {
		name             string
		original, target Root
		want             [][]string
		wantAffected     []string
	}{
		{
			name:     "nothing to do",
			original: rootOf([]marathon.App{app("/a", 1)}), target: rootOf([]marathon.App{app("/a", 1)}),
			want: [][]string{}, wantAffected: []string{},
		},
		{
			name:     "empty roots",
			original: empty, target: Root{},
			want: [][]string{}, wantAffected: []string{},
		},
		{
			name:     "start with app and group dependencies",
			original: empty,
			target: rootOf([]marathon.App{
				app("/db/pg", 1),
				app("/web/api", 2, "/db"),
				app("/web/front", 3, "/web/api"),
				app("/lone", 0),
			}),
			want: [][]string{
				{"start /db/pg", "start /lone"},
				{"start /web/api"},
				{"start /web/front"},
			},
			wantAffected: []string{"/db/pg", "/lone", "/web/api", "/web/front"},
		},
		{
			name:     "group depends on group",
			original: empty,
			target: rootOf(
				[]marathon.App{app("/db/pg", 1), app("/db/redis", 1), app("/web/a", 1), app("/web/b", 1), app("/lb/haproxy", 1)},
				GroupMeta{ID: "/web", Dependencies: []string{"/db"}},
				GroupMeta{ID: "/lb", Dependencies: []string{"/web"}},
			),
			want: [][]string{
				{"start /db/pg", "start /db/redis"},
				{"start /web/a", "start /web/b"},
				{"start /lb/haproxy"},
			},
			wantAffected: []string{"/db/pg", "/db/redis", "/lb/haproxy", "/web/a", "/web/b"},
		},
		{
			name: "stops: dependants first",
			original: rootOf([]marathon.App{
				app("/db/pg", 1), app("/web/api", 1, "/db/pg"), app("/web/front", 1, "/web/api"), app("/z", 1),
			}),
			target: empty,
			want: [][]string{
				{"stop /web/front"},
				{"stop /web/api"},
				{"stop /db/pg", "stop /z"},
			},
			wantAffected: []string{"/db/pg", "/web/api", "/web/front", "/z"},
		},
		{
			name: "stops come before everything else",
			original: rootOf([]marathon.App{
				app("/old", 1), app("/s", 1), app("/r", 1), app("/same", 1),
			}),
			target: rootOf([]marathon.App{
				app("/s", 4), withCmd(app("/r", 1), "new"), app("/same", 1), app("/new", 1, "/r"),
			}),
			want: [][]string{
				{"stop /old"},
				{"restart /r", "scale /s"},
				{"start /new"},
			},
			wantAffected: []string{"/new", "/old", "/r", "/s"},
		},
		{
			name:         "ordered through an unaffected app",
			original:     rootOf([]marathon.App{app("/a", 1, "/b"), app("/b", 1, "/c"), app("/c", 1)}),
			target:       rootOf([]marathon.App{app("/a", 2, "/b"), app("/b", 1, "/c"), app("/c", 2)}),
			want:         [][]string{{"scale /c"}, {"scale /a"}},
			wantAffected: []string{"/a", "/c"},
		},
		{
			name:     "dependencies from the target root",
			original: rootOf([]marathon.App{app("/a", 1, "/b"), app("/b", 1)}),
			target:   rootOf([]marathon.App{app("/a", 2), app("/b", 2, "/a")}),
			// Changed dependencies are a config change; the order is the
			// target's (/b now depends on /a), not the original's.
			want:         [][]string{{"restart /a"}, {"restart /b"}},
			wantAffected: []string{"/a", "/b"},
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPlan(tt.original, tt.target, "dep-1", "v1")
			if err != nil {
				t.Fatalf("NewPlan: %v", err)
			}
			if p.ID != "dep-1" || p.Version != "v1" {
				t.Errorf("id, version = %q, %q; want dep-1, v1", p.ID, p.Version)
			}
			if diff := cmp.Diff(tt.want, render(p.Steps)); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantAffected, p.AffectedApps()); diff != "" {
				t.Errorf("AffectedApps (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewPlanEmptyMarshalsSteps(t *testing.T) {
	p, err := NewPlan(rootOf(nil), rootOf(nil), "d", "v")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"steps":[]`) {
		t.Errorf("plan JSON %s lacks \"steps\":[]", b)
	}
}

func TestNewPlanChangeKind(t *testing.T) {
	base := withVersionInfo(app("/a", 2), "v1", "s1", "c1")
	withLabel := func(a marathon.App) marathon.App {
		a.Labels = map[string]string{"k": "v"}
		return a
	}
	tests := []struct {
		name   string
		target marathon.App
		want   string // "" = no action
	}{
		{"unchanged", base, ""},
		{"new version, same config", withVersionInfo(app("/a", 2), "v2", "s1", "c1"), ""},
		{"instances only", withVersionInfo(app("/a", 5), "v2", "v2", "c1"), marathon.ActionScale},
		{"scale to zero", withVersionInfo(app("/a", 0), "v2", "v2", "c1"), marathon.ActionScale},
		{"cmd changed", withVersionInfo(withCmd(app("/a", 2), "other"), "v2", "s1", "v2"), marathon.ActionRestart},
		{"labels changed", withVersionInfo(withLabel(app("/a", 2)), "v2", "s1", "v2"), marathon.ActionRestart},
		{"config and instances changed", withVersionInfo(withCmd(app("/a", 9), "other"), "v2", "v2", "v2"), marathon.ActionRestart},
		{"restart request: lastConfigChangeAt only", withVersionInfo(app("/a", 2), "v2", "s1", "v2"), marathon.ActionRestart},
		{"lastScalingAt only", withVersionInfo(app("/a", 2), "v2", "v2", "c1"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPlan(rootOf([]marathon.App{base}), rootOf([]marathon.App{tt.target}), "d", "v")
			if err != nil {
				t.Fatal(err)
			}
			want := [][]Action{}
			if tt.want != "" {
				want = [][]Action{{{Kind: tt.want, AppID: "/a"}}}
			}
			if diff := cmp.Diff(want, p.Steps); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewPlanCycles(t *testing.T) {
	tests := []struct {
		name             string
		original, target Root
		wantErr          bool
	}{
		{
			name:     "start cycle",
			original: rootOf(nil),
			target:   rootOf([]marathon.App{app("/a", 1, "/b"), app("/b", 1, "/c"), app("/c", 1, "/a")}),
			wantErr:  true,
		},
		{
			name:     "group cycle",
			original: rootOf(nil),
			target: rootOf([]marathon.App{app("/x/a", 1), app("/y/b", 1)},
				GroupMeta{ID: "/x", Dependencies: []string{"/y"}}, GroupMeta{ID: "/y", Dependencies: []string{"/x"}}),
			wantErr: true,
		},
		{
			name:     "cycle through an unaffected app",
			original: rootOf([]marathon.App{app("/a", 1, "/b"), app("/b", 1, "/a")}),
			target:   rootOf([]marathon.App{app("/a", 3, "/b"), app("/b", 1, "/a")}),
			wantErr:  true,
		},
		{
			name:     "stop cycle",
			original: rootOf([]marathon.App{app("/a", 1, "/b"), app("/b", 1, "/a")}),
			target:   rootOf(nil),
			wantErr:  true,
		},
		{
			name:     "unreached cycle is not this plan's business",
			original: rootOf([]marathon.App{app("/a", 1, "/b"), app("/b", 1, "/a")}),
			target:   rootOf([]marathon.App{app("/a", 1, "/b"), app("/b", 1, "/a"), app("/c", 1)}),
			wantErr:  false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewPlan(tt.original, tt.target, "d", "v")
			if got := errors.Is(err, ErrDependencyCycle); got != tt.wantErr {
				t.Errorf("NewPlan error = %v; want ErrDependencyCycle: %v", err, tt.wantErr)
			}
			if !tt.wantErr && err != nil {
				t.Errorf("NewPlan: unexpected error %v", err)
			}
		})
	}
}

// bigRoot has groups*perGroup apps; group i depends on group i-1 for i%10
// != 0, so the plan has ten layers.
func bigRoot(groups, perGroup int, cmd string) Root {
	r := rootOf(nil)
	for g := range groups {
		gid := fmt.Sprintf("/g%03d", g)
		deps := []string{}
		if g%10 != 0 {
			deps = append(deps, fmt.Sprintf("/g%03d", g-1))
		}
		r.Groups[gid] = GroupMeta{ID: gid, Dependencies: deps}
		for a := range perGroup {
			id := fmt.Sprintf("%s/app%02d", gid, a)
			r.Apps[id] = withCmd(app(id, 3), cmd)
		}
	}
	return r
}

func TestNewPlanBigRoot(t *testing.T) {
	p, err := NewPlan(bigRoot(100, 10, "v1"), bigRoot(100, 10, "v2"), "d", "v")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) != 10 {
		t.Fatalf("got %d steps, want 10", len(p.Steps))
	}
	for i, step := range p.Steps {
		if len(step) != 100 {
			t.Errorf("step %d has %d actions, want 100", i, len(step))
		}
		for _, a := range step {
			var g int
			if _, err := fmt.Sscanf(a.AppID, "/g%03d/", &g); err != nil || g%10 != i {
				t.Errorf("step %d: %s %s in the wrong step", i, a.Kind, a.AppID)
			}
			if a.Kind != marathon.ActionRestart {
				t.Errorf("step %d: %s %s, want a restart", i, a.Kind, a.AppID)
			}
		}
	}
	if got := len(p.AffectedApps()); got != 1000 {
		t.Errorf("AffectedApps: %d apps, want 1000", got)
	}
}

func BenchmarkNewPlan(b *testing.B) {
	original, target := bigRoot(100, 10, "v1"), bigRoot(100, 10, "v2")
	for b.Loop() {
		if _, err := NewPlan(original, target, "d", "v"); err != nil {
			b.Fatal(err)
		}
	}
}
