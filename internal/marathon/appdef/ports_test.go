package appdef

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAssignServicePorts(t *testing.T) {
	opts := Options{LocalPortMin: 10000, LocalPortMax: 10004}
	tests := []struct {
		name      string
		body      string
		used      []int
		wantPorts []int
		wantUsed  []int
		wantErr   bool
	}{
		{name: "host ports take the lowest free ports", body: `{"id":"a","cmd":"x","portDefinitions":[{"port":0},{"port":10001},{"port":0}]}`,
			used: []int{10000}, wantPorts: []int{10002, 10001, 10003}, wantUsed: []int{10000, 10001, 10002, 10003}},
		{name: "requirePorts keeps ports as given", body: `{"id":"a","cmd":"x","requirePorts":true,"portDefinitions":[{"port":80}]}`,
			wantPorts: []int{80}, wantUsed: []int{80}},
		{name: "container mappings get service ports", body: `{"id":"a","container":{"docker":{"image":"x"},"portMappings":[{"containerPort":80},{"containerPort":81,"servicePort":10000}]},"networks":[{"mode":"container/bridge"}]}`,
			wantPorts: []int{10001, 10000}, wantUsed: []int{10000, 10001}},
		{name: "no ports", body: `{"id":"a","cmd":"x","portDefinitions":[]}`, wantPorts: []int{}, wantUsed: []int{}},
		{name: "range full", body: `{"id":"a","cmd":"x","portDefinitions":[{"port":0},{"port":0}]}`,
			used: []int{10000, 10001, 10002, 10003}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := mustDecode(t, tt.body, "/")
			used := map[int]bool{}
			for _, p := range tt.used {
				used[p] = true
			}
			before := ServicePorts(app)
			err := AssignServicePorts(&app, used, opts)
			if tt.wantErr {
				if !errors.Is(err, ErrNoServicePorts) {
					t.Fatalf("err = %v, want ErrNoServicePorts", err)
				}
				if diff := cmp.Diff(before, ServicePorts(app)); diff != "" {
					t.Errorf("failed assignment changed the app (-before +after):\n%s", diff)
				}
				if len(used) != len(tt.used) {
					t.Errorf("failed assignment changed used: %v", used)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantPorts, ServicePorts(app)); diff != "" {
				t.Errorf("service ports (-want +got):\n%s", diff)
			}
			var gotUsed []int
			for p := range 65536 {
				if used[p] {
					gotUsed = append(gotUsed, p)
				}
			}
			if diff := cmp.Diff(tt.wantUsed, gotUsed, cmpEmptyNil); diff != "" {
				t.Errorf("used (-want +got):\n%s", diff)
			}
		})
	}
}

// cmpEmptyNil treats nil and empty int slices as equal.
var cmpEmptyNil = cmp.Comparer(func(a, b []int) bool { return len(a) == 0 && len(b) == 0 || cmp.Equal([]int(a), []int(b)) })

func TestIsConfigChange(t *testing.T) {
	old := mustDecode(t, `{"id":"/a","cmd":"x","instances":2,"labels":{"a":"1"}}`, "/")
	old.Version = "v1"
	tests := []struct {
		name  string
		patch string
		want  bool
	}{
		{"scale only", `{"instances":7}`, false},
		{"version only", `{"version":"v2"}`, false},
		{"label", `{"labels":{"a":"2"}}`, true},
		{"command", `{"cmd":"y"}`, true},
		{"health check", `{"healthChecks":[{"protocol":"TCP"}]}`, true},
		{"same values", `{"cpus":1,"labels":{"a":"1"}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			updated, err := MergeApp(old, []byte(tt.patch))
			if err != nil {
				t.Fatal(err)
			}
			if got := IsConfigChange(old, updated); got != tt.want {
				t.Errorf("IsConfigChange = %v, want %v", got, tt.want)
			}
		})
	}

	// A nil env and an empty one are the same config, and the check must
	// not touch the caller's app.
	// An empty port mapping list is not the default mapping.
	noPorts := mustDecode(t, `{"id":"/w","cmd":"x","networks":[{"mode":"container","name":"n"}],"container":{"type":"MESOS","portMappings":[]}}`, "/")
	withDefault := mustDecode(t, `{"id":"/w","cmd":"x","networks":[{"mode":"container","name":"n"}],"container":{"type":"MESOS"}}`, "/")
	if !IsConfigChange(noPorts, withDefault) {
		t.Errorf("[] and the default port mapping counted as the same config")
	}

	raw := old
	raw.Env = nil
	raw.VersionInfo = nil
	if IsConfigChange(old, raw) {
		t.Errorf("nil env counted as a config change")
	}
	if raw.Env != nil {
		t.Errorf("IsConfigChange modified its argument")
	}
}
