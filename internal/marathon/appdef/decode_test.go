package appdef

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-dcos/basalt/pkg/marathon"
)

// jsonOf is v's JSON decoded generically, for comparing wire output.
func jsonOf(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	return out
}

func parseAny(t *testing.T, s string) any {
	t.Helper()
	var out any
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return out
}

func mustDecode(t *testing.T, body, base string) marathon.App {
	t.Helper()
	app, err := DecodeApp([]byte(body), base)
	if err != nil {
		t.Fatalf("DecodeApp(%s): %v", body, err)
	}
	return app
}

// TestDecodeAppDefaults checks the whole wire form of decoded apps against
// what Marathon 1.10 returns for the same submissions.
func TestDecodeAppDefaults(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{
			name: "basic command app from the DC/OS docs",
			body: `{"id":"/basic-0","cmd":"while true; do echo hi; sleep 5; done","cpus":0.1,"mem":32,"instances":1}`,
			want: `{
				"id":"/basic-0","cmd":"while true; do echo hi; sleep 5; done","env":{},"instances":1,
				"cpus":0.1,"mem":32,"disk":0,"gpus":0,"executor":"","constraints":[],"fetch":[],
				"backoffSeconds":1,"backoffFactor":1.15,"maxLaunchDelaySeconds":300,"healthChecks":[],
				"readinessChecks":[],"dependencies":[],
				"upgradeStrategy":{"minimumHealthCapacity":1,"maximumOverCapacity":1},"labels":{},
				"secrets":{},"unreachableStrategy":{"inactiveAfterSeconds":0,"expungeAfterSeconds":0},
				"killSelection":"YOUNGEST_FIRST","requirePorts":false,
				"portDefinitions":[{"port":0,"protocol":"tcp","name":"default"}],
				"networks":[{"mode":"host"}]}`,
		},
		{
			name: "docker bridge app with port mappings",
			body: `{"id":"nginx","instances":2,"cpus":0.5,"mem":64,
				"container":{"type":"DOCKER","docker":{"image":"nginx:1.15"},
				  "portMappings":[{"containerPort":80,"hostPort":0,"name":"http"}]},
				"networks":[{"mode":"container/bridge"}]}`,
			want: `{
				"id":"/prod/nginx","env":{},"instances":2,"cpus":0.5,"mem":64,"disk":0,"gpus":0,
				"executor":"","constraints":[],"fetch":[],"backoffSeconds":1,"backoffFactor":1.15,
				"maxLaunchDelaySeconds":300,
				"container":{"type":"DOCKER","docker":{"image":"nginx:1.15","forcePullImage":false,
				  "privileged":false,"parameters":[]},"volumes":[],
				  "portMappings":[{"containerPort":80,"hostPort":0,"servicePort":0,"protocol":"tcp","name":"http"}]},
				"healthChecks":[],"readinessChecks":[],"dependencies":[],
				"upgradeStrategy":{"minimumHealthCapacity":1,"maximumOverCapacity":1},"labels":{},
				"secrets":{},"unreachableStrategy":{"inactiveAfterSeconds":0,"expungeAfterSeconds":0},
				"killSelection":"YOUNGEST_FIRST","requirePorts":false,"portDefinitions":[],
				"networks":[{"mode":"container/bridge"}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := mustDecode(t, tt.body, "/prod")
			if diff := cmp.Diff(parseAny(t, tt.want), jsonOf(t, app)); diff != "" {
				t.Errorf("wire form (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDecodeAppFieldDefaults checks single defaults and folds.
func TestDecodeAppFieldDefaults(t *testing.T) {
	intp := func(i int) *int { return &i }
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, app marathon.App)
	}{
		{"portDefinitions [] stays empty", `{"id":"a","cmd":"x","portDefinitions":[]}`, func(t *testing.T, app marathon.App) {
			if app.PortDefinitions == nil || len(app.PortDefinitions) != 0 {
				t.Errorf("portDefinitions = %#v, want []", app.PortDefinitions)
			}
		}},
		{"null fields take defaults", `{"id":"a","cmd":"x","cpus":null,"portDefinitions":null,"killSelection":null}`, func(t *testing.T, app marathon.App) {
			if app.Cpus != 1 || app.KillSelection != "YOUNGEST_FIRST" || len(app.PortDefinitions) != 1 || app.PortDefinitions[0].Name != "default" {
				t.Errorf("got cpus %v killSelection %q portDefinitions %v", app.Cpus, app.KillSelection, app.PortDefinitions)
			}
		}},
		{"explicit zeros are kept", `{"id":"a","cmd":"x","cpus":0,"instances":0,"mem":0}`, func(t *testing.T, app marathon.App) {
			if app.Cpus != 0 || app.Instances != 0 || app.Mem != 0 {
				t.Errorf("got cpus %v instances %d mem %v", app.Cpus, app.Instances, app.Mem)
			}
		}},
		{"unknown and miscased fields are ignored", `{"id":"a","cmd":"x","CPUS":"lots","whatever":{"x":1}}`, func(t *testing.T, app marathon.App) {
			if app.Cpus != 1 {
				t.Errorf("cpus = %v, want 1", app.Cpus)
			}
		}},
		{"integral floats are ints", `{"id":"a","cmd":"x","instances":3.0,"gpus":1e0}`, func(t *testing.T, app marathon.App) {
			if app.Instances != 3 || app.Gpus != 1 {
				t.Errorf("instances %d gpus %d", app.Instances, app.Gpus)
			}
		}},
		{"health check defaults", `{"id":"a","cmd":"x","healthChecks":[{},{"protocol":"COMMAND","command":{"value":"true"}},{"protocol":"MESOS_TCP","port":8080}]}`,
			func(t *testing.T, app marathon.App) {
				want := []marathon.HealthCheck{
					{Protocol: "HTTP", Path: "/", PortIndex: intp(0), GracePeriodSeconds: 300, IntervalSeconds: 60, TimeoutSeconds: 20, MaxConsecutiveFailures: 3, DelaySeconds: 15},
					{Protocol: "COMMAND", Command: &marathon.Command{Value: "true"}, GracePeriodSeconds: 300, IntervalSeconds: 60, TimeoutSeconds: 20, MaxConsecutiveFailures: 3, DelaySeconds: 15},
					{Protocol: "MESOS_TCP", Port: intp(8080), GracePeriodSeconds: 300, IntervalSeconds: 60, TimeoutSeconds: 20, MaxConsecutiveFailures: 3, DelaySeconds: 15},
				}
				if diff := cmp.Diff(want, app.HealthChecks); diff != "" {
					t.Errorf("health checks (-want +got):\n%s", diff)
				}
			}},
		{"readiness check defaults", `{"id":"a","cmd":"x","readinessChecks":[{}]}`, func(t *testing.T, app marathon.App) {
			want := []marathon.ReadinessCheck{{Name: "readinessCheck", Protocol: "HTTP", Path: "/", PortName: "http-api",
				IntervalSeconds: 30, TimeoutSeconds: 10, HTTPStatusCodesForReady: []int{200}}}
			if diff := cmp.Diff(want, app.ReadinessChecks); diff != "" {
				t.Errorf("readiness checks (-want +got):\n%s", diff)
			}
		}},
		{"check defaults", `{"id":"a","cmd":"x","check":{"tcp":{"portIndex":0}}}`, func(t *testing.T, app marathon.App) {
			c := app.Check
			if c.IntervalSeconds != 60 || c.TimeoutSeconds != 20 || c.DelaySeconds != 15 {
				t.Errorf("check = %+v", c)
			}
		}},
		{"fetch extract defaults to true", `{"id":"a","cmd":"x","fetch":[{"uri":"http://x/a.bin"},{"uri":"http://x/b","extract":false}]}`, func(t *testing.T, app marathon.App) {
			want := []marathon.Fetch{{URI: "http://x/a.bin", Extract: true}, {URI: "http://x/b"}}
			if diff := cmp.Diff(want, app.Fetch); diff != "" {
				t.Errorf("fetch (-want +got):\n%s", diff)
			}
		}},
		{"uris fold into fetch", `{"id":"a","cmd":"x","uris":["http://x/a.tgz","http://x/b.sh"]}`, func(t *testing.T, app marathon.App) {
			want := []marathon.Fetch{{URI: "http://x/a.tgz", Extract: true}, {URI: "http://x/b.sh"}}
			if diff := cmp.Diff(want, app.Fetch); diff != "" || app.URIs != nil {
				t.Errorf("fetch (-want +got):\n%s uris %v", diff, app.URIs)
			}
		}},
		{"ports fold into portDefinitions", `{"id":"a","cmd":"x","ports":[8080,0]}`, func(t *testing.T, app marathon.App) {
			want := []marathon.PortDefinition{{Port: 8080, Protocol: "tcp"}, {Port: 0, Protocol: "tcp"}}
			if diff := cmp.Diff(want, app.PortDefinitions); diff != "" || app.Ports != nil {
				t.Errorf("portDefinitions (-want +got):\n%s ports %v", diff, app.Ports)
			}
		}},
		{"docker.network BRIDGE and docker.portMappings fold", `{"id":"a","container":{"docker":{"image":"x","network":"BRIDGE","portMappings":[{"containerPort":80,"hostPort":0}]}}}`,
			func(t *testing.T, app marathon.App) {
				wantNets := []marathon.Network{{Mode: "container/bridge"}}
				wantPM := []marathon.PortMapping{{ContainerPort: 80, HostPort: intp(0), Protocol: "tcp"}}
				if diff := cmp.Diff(wantNets, app.Networks); diff != "" {
					t.Errorf("networks (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(wantPM, app.Container.PortMappings); diff != "" {
					t.Errorf("portMappings (-want +got):\n%s", diff)
				}
				if app.Container.Type != "DOCKER" || app.Container.Docker.Network != "" || app.Container.Docker.PortMappings != nil {
					t.Errorf("container = %+v docker = %+v", app.Container, app.Container.Docker)
				}
				if len(app.PortDefinitions) != 0 || app.PortDefinitions == nil {
					t.Errorf("portDefinitions = %#v, want []", app.PortDefinitions)
				}
			}},
		{"docker.network USER takes ipAddress network name", `{"id":"a","container":{"docker":{"image":"x","network":"USER"}},"ipAddress":{"networkName":"dcos"}}`,
			func(t *testing.T, app marathon.App) {
				want := []marathon.Network{{Mode: "container", Name: "dcos"}}
				if diff := cmp.Diff(want, app.Networks); diff != "" || app.IPAddress != nil {
					t.Errorf("networks (-want +got):\n%s", diff)
				}
				wantPM := []marathon.PortMapping{{Name: "default", Protocol: "tcp"}}
				if diff := cmp.Diff(wantPM, app.Container.PortMappings); diff != "" {
					t.Errorf("default container-mode mapping (-want +got):\n%s", diff)
				}
			}},
		{"bridge default mapping has a host port", `{"id":"a","container":{"docker":{"image":"x"}},"networks":[{"mode":"container/bridge"}]}`,
			func(t *testing.T, app marathon.App) {
				want := []marathon.PortMapping{{Name: "default", Protocol: "tcp", HostPort: intp(0)}}
				if diff := cmp.Diff(want, app.Container.PortMappings); diff != "" {
					t.Errorf("portMappings (-want +got):\n%s", diff)
				}
			}},
		{"network mode defaults to container", `{"id":"a","cmd":"x","networks":[{"name":"dcos"}]}`, func(t *testing.T, app marathon.App) {
			if app.Networks[0].Mode != "container" || app.Container == nil || app.Container.Type != "MESOS" {
				t.Errorf("networks %v container %+v", app.Networks, app.Container)
			}
		}},
		{"resident app strategies", `{"id":"db","cmd":"x","container":{"type":"MESOS","volumes":[{"containerPath":"data","mode":"RW","persistent":{"size":100}}]}}`,
			func(t *testing.T, app marathon.App) {
				if diff := cmp.Diff(&marathon.UpgradeStrategy{MinimumHealthCapacity: 0.5}, app.UpgradeStrategy); diff != "" {
					t.Errorf("upgradeStrategy (-want +got):\n%s", diff)
				}
				if !app.UnreachableStrategy.Disabled {
					t.Errorf("unreachableStrategy = %+v, want disabled", app.UnreachableStrategy)
				}
				if app.Residency == nil || app.Residency.TaskLostBehavior != "WAIT_FOREVER" {
					t.Errorf("residency = %+v", app.Residency)
				}
			}},
		{"env secret reference", `{"id":"a","cmd":"x","env":{"A":"1","PW":{"secret":"pw"}},"secrets":{"pw":{"source":"/db/pw"}}}`,
			func(t *testing.T, app marathon.App) {
				want := map[string]marathon.EnvValue{"A": {Value: "1"}, "PW": {Secret: "pw"}}
				if diff := cmp.Diff(want, app.Env); diff != "" {
					t.Errorf("env (-want +got):\n%s", diff)
				}
			}},
		{"relative id and dependencies", `{"id":"../web","cmd":"x","dependencies":["db","/other/x","../top"]}`, func(t *testing.T, app marathon.App) {
			if app.ID != "/shop/web" {
				t.Errorf("id = %q", app.ID)
			}
			if diff := cmp.Diff([]string{"/shop/db", "/other/x", "/top"}, app.Dependencies); diff != "" {
				t.Errorf("dependencies (-want +got):\n%s", diff)
			}
		}},
		{"malformed id is kept for validation", `{"id":"Bad_Id","cmd":"x"}`, func(t *testing.T, app marathon.App) {
			if app.ID != "/shop/prod/Bad_Id" {
				t.Errorf("id = %q", app.ID)
			}
		}},
		{"unreachableStrategy disabled", `{"id":"a","cmd":"x","unreachableStrategy":"disabled"}`, func(t *testing.T, app marathon.App) {
			if !app.UnreachableStrategy.Disabled {
				t.Errorf("unreachableStrategy = %+v", app.UnreachableStrategy)
			}
		}},
		{"resourceLimits number or unlimited", `{"id":"a","cmd":"x","resourceLimits":{"cpus":"unlimited","mem": 512}}`, func(t *testing.T, app marathon.App) {
			if string(app.ResourceLimits.Cpus) != `"unlimited"` || string(app.ResourceLimits.Mem) != "512" {
				t.Errorf("resourceLimits = %s %s", app.ResourceLimits.Cpus, app.ResourceLimits.Mem)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, mustDecode(t, tt.body, "/shop/prod"))
		})
	}
}

func TestDecodeAppErrors(t *testing.T) {
	tests := []struct {
		name, body string
		want       []marathon.ErrorDetail
	}{
		{"wrong scalar types all reported", `{"id":5,"cpus":"1","requirePorts":"yes","instances":1.5,"labels":{"a":1},"args":["x",null]}`,
			[]marathon.ErrorDetail{
				{Path: "/args(1)", Errors: []string{errExpectedString}},
				{Path: "/cpus", Errors: []string{errExpectedNumber}},
				{Path: "/id", Errors: []string{errExpectedString}},
				{Path: "/instances", Errors: []string{errExpectedInt}},
				{Path: "/labels/a", Errors: []string{errExpectedString}},
				{Path: "/requirePorts", Errors: []string{errExpectedBool}},
			}},
		{"nested paths", `{"id":"a","healthChecks":[{"protocol":1},{"portIndex":"x"}],"container":{"docker":"nginx"},"constraints":[["a","UNIQUE",3]]}`,
			[]marathon.ErrorDetail{
				{Path: "/constraints(0)(2)", Errors: []string{errExpectedString}},
				{Path: "/container/docker", Errors: []string{errExpectedObject}},
				{Path: "/healthChecks(0)/protocol", Errors: []string{errExpectedString}},
				{Path: "/healthChecks(1)/portIndex", Errors: []string{errExpectedNumber}},
			}},
		{"containers of the wrong kind", `{"id":"a","env":[],"constraints":{},"fetch":[{}]}`,
			[]marathon.ErrorDetail{
				{Path: "/constraints", Errors: []string{errExpectedArray}},
				{Path: "/env", Errors: []string{errExpectedObject}},
				{Path: "/fetch(0)/uri", Errors: []string{errPathMissing}},
			}},
		{"bad unreachable strategy", `{"id":"a","unreachableStrategy":"sometimes"}`,
			[]marathon.ErrorDetail{{Path: "/unreachableStrategy", Errors: []string{errExpectedDisable}}}},
		{"not an object", `[1,2]`, []marathon.ErrorDetail{{Path: "/", Errors: []string{errExpectedObject}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeApp([]byte(tt.body), "/")
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v, want *DecodeError", err)
			}
			if diff := cmp.Diff(tt.want, de.Details); diff != "" {
				t.Errorf("details (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeAppSyntaxError(t *testing.T) {
	for _, body := range []string{``, `{`, `{"id":}`, `{"id":"a"} x`, `nope`} {
		_, err := DecodeApp([]byte(body), "/")
		var de *DecodeError
		if !errors.As(err, &de) || len(de.Details) != 1 || de.Details[0].Path != "/" || de.Details[0].Errors[0] != errInvalidJSON {
			t.Errorf("DecodeApp(%q) err = %#v, want a DecodeError at / with %s", body, err, errInvalidJSON)
		}
	}
}

func TestNormalizeIdempotentAndRoundTrip(t *testing.T) {
	bodies := []string{
		`{"id":"/basic-0","cmd":"sleep 1","cpus":0.1,"mem":32}`,
		`{"id":"a","container":{"docker":{"image":"x","network":"BRIDGE","portMappings":[{"containerPort":80}]}},"uris":["http://x/y.zip"],"healthChecks":[{"protocol":"MESOS_HTTP"}]}`,
		`{"id":"a","cmd":"x","ports":[1,2],"ipAddress":{"networkName":"n","discovery":{"ports":[{"number":80,"name":"http","protocol":"tcp"}]}}}`,
		`{"id":"db","cmd":"x","container":{"type":"MESOS","volumes":[{"containerPath":"data","persistent":{"size":1,"constraints":[["a","LIKE","b"]]}}]},"resourceLimits":{"cpus": 2}}`,
		`{"id":"a","cmd":"x","networks":[{"mode":"container","name":"a"},{"mode":"container","name":"b"}],"container":{"type":"MESOS","portMappings":[]}}`,
		`{"id":"a","args":["x"],"constraints":[["hostname","UNIQUE"]],"env":{"S":{"secret":"s"}},"secrets":{"s":{"source":"p"}},"readinessChecks":[{"portName":"default"}],"check":{"exec":{"command":{"argv":[]}}}}`,
	}
	for _, body := range bodies {
		app := mustDecode(t, body, "/")
		again := app
		Normalize(&again)
		if diff := cmp.Diff(app, again); diff != "" {
			t.Errorf("Normalize not idempotent for %s (-once +twice):\n%s", body, diff)
		}
		b, err := marshalForStore(app)
		if err != nil {
			t.Fatal(err)
		}
		back := mustDecode(t, string(b), "/")
		if diff := cmp.Diff(app, back); diff != "" {
			t.Errorf("round trip of %s changed the app (-before +after):\n%s", body, diff)
		}
	}
}

// marshalForStore is the JSON of a normalised app that decodes back to the
// same app: json.Marshal but with an empty container.portMappings kept (the
// wire type omits it when empty; see appToMap).
func marshalForStore(app marathon.App) ([]byte, error) {
	m, err := appToMap(app)
	if err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

func TestDecodeApps(t *testing.T) {
	raws, ids, err := DecodeApps([]byte(`[{"id":"a","cpus":2},{"id":"/b/c/../d","instances":3}]`))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"/a", "/b/d"}, ids); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	app := mustDecode(t, string(raws[1]), "/")
	if app.Instances != 3 || app.ID != "/b/d" {
		t.Errorf("second raw decodes to %+v", app)
	}

	errTests := []struct {
		name, body string
		wantDecode bool
		wantPath   string
	}{
		{"not an array", `{"id":"a"}`, true, "/"},
		{"missing id", `[{"id":"a"},{"cpus":1}]`, true, "(1)/id"},
		{"element not an object", `[1]`, true, "(0)"},
		{"id not a string", `[{"id":1}]`, true, "(0)/id"},
		{"malformed id", `[{"id":"Bad"}]`, false, "(0)/id"},
	}
	for _, tt := range errTests {
		_, _, err := DecodeApps([]byte(tt.body))
		var de *DecodeError
		var ve *ValidationError
		switch {
		case tt.wantDecode && errors.As(err, &de):
			if de.Details[0].Path != tt.wantPath {
				t.Errorf("%s: path %q, want %q", tt.name, de.Details[0].Path, tt.wantPath)
			}
		case !tt.wantDecode && errors.As(err, &ve):
			if ve.Details[0].Path != tt.wantPath {
				t.Errorf("%s: path %q, want %q", tt.name, ve.Details[0].Path, tt.wantPath)
			}
		default:
			t.Errorf("%s: err = %v", tt.name, err)
		}
	}
}

func TestMergeApp(t *testing.T) {
	existing := mustDecode(t, `{"id":"/g/web","cmd":"serve","cpus":0.5,"mem":64,"instances":2,
		"labels":{"a":"1"},"env":{"X":"1"},"dependencies":["/g/db"],"uris":["http://x/a.tgz"]}`, "/")
	existing.Version = "2026-01-01T00:00:00Z"

	tests := []struct {
		name  string
		patch string
		check func(t *testing.T, got marathon.App)
	}{
		{"absent fields are kept", `{"instances":5}`, func(t *testing.T, got marathon.App) {
			want := existing
			want.Instances = 5
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		}},
		{"top-level fields are replaced whole", `{"labels":{"b":"2"},"env":{}}`, func(t *testing.T, got marathon.App) {
			if diff := cmp.Diff(map[string]string{"b": "2"}, got.Labels); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
			if len(got.Env) != 0 || got.Env == nil {
				t.Errorf("env = %#v, want {}", got.Env)
			}
		}},
		{"null counts as absent", `{"cpus":null,"labels":null}`, func(t *testing.T, got marathon.App) {
			if got.Cpus != 0.5 || got.Labels["a"] != "1" {
				t.Errorf("cpus %v labels %v", got.Cpus, got.Labels)
			}
		}},
		{"args replaces cmd", `{"args":["serve","--port","80"]}`, func(t *testing.T, got marathon.App) {
			if got.Cmd != nil || len(got.Args) != 3 {
				t.Errorf("cmd %v args %v", got.Cmd, got.Args)
			}
		}},
		{"uris replace fetch", `{"uris":["http://x/b.sh"]}`, func(t *testing.T, got marathon.App) {
			if diff := cmp.Diff([]marathon.Fetch{{URI: "http://x/b.sh"}}, got.Fetch); diff != "" {
				t.Errorf("fetch (-want +got):\n%s", diff)
			}
		}},
		{"networks change resets port definitions", `{"networks":[{"mode":"container","name":"dcos"}]}`, func(t *testing.T, got marathon.App) {
			if len(got.PortDefinitions) != 0 || got.Container == nil || len(got.Container.PortMappings) != 1 {
				t.Errorf("portDefinitions %v container %+v", got.PortDefinitions, got.Container)
			}
		}},
		{"relative dependencies resolve against the app's group", `{"dependencies":["cache"]}`, func(t *testing.T, got marathon.App) {
			if diff := cmp.Diff([]string{"/g/cache"}, got.Dependencies); diff != "" {
				t.Errorf("dependencies (-want +got):\n%s", diff)
			}
		}},
		{"matching id is accepted", `{"id":"web","mem":256}`, func(t *testing.T, got marathon.App) {
			if got.ID != "/g/web" || got.Mem != 256 {
				t.Errorf("id %q mem %v", got.ID, got.Mem)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MergeApp(existing, []byte(tt.patch))
			if err != nil {
				t.Fatalf("MergeApp: %v", err)
			}
			tt.check(t, got)
		})
	}

	if _, err := MergeApp(existing, []byte(`{"id":"/other"}`)); !errors.As(err, new(*ValidationError)) {
		t.Errorf("mismatched id: err = %v, want *ValidationError", err)
	}
	if _, err := MergeApp(existing, []byte(`{"cpus":"many"}`)); !errors.As(err, new(*DecodeError)) {
		t.Errorf("bad type: err = %v, want *DecodeError", err)
	}
}

func TestMergeAppKeepsEmptyPortMappings(t *testing.T) {
	existing := mustDecode(t, `{"id":"/w","cmd":"x","networks":[{"mode":"container","name":"dcos"}],"container":{"type":"MESOS","portMappings":[]}}`, "/")
	got, err := MergeApp(existing, []byte(`{"instances":3}`))
	if err != nil {
		t.Fatal(err)
	}
	if got.Container.PortMappings == nil || len(got.Container.PortMappings) != 0 {
		t.Errorf("portMappings = %#v, want []", got.Container.PortMappings)
	}
}

func TestDecodeGroup(t *testing.T) {
	body := `{"id":"shop","dependencies":["../infra"],
		"apps":[{"id":"web","cmd":"x","dependencies":["db"]},{"id":"/shop/db","cmd":"y"}],
		"groups":[{"id":"batch","apps":[{"id":"job","cmd":"z"}]}]}`
	g, err := DecodeGroup([]byte(body), "/prod")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{
		"id": g.ID, "deps": g.Dependencies,
		"apps":      []string{g.Apps[0].ID, g.Apps[1].ID},
		"appDeps":   g.Apps[0].Dependencies,
		"sub":       g.Groups[0].ID,
		"subApp":    g.Groups[0].Apps[0].ID,
		"subAppMem": g.Groups[0].Apps[0].Mem,
	}
	want := map[string]any{
		"id": "/prod/shop", "deps": []string{"/prod/infra"},
		"apps":    []string{"/prod/shop/web", "/shop/db"},
		"appDeps": []string{"/prod/shop/db"},
		"sub":     "/prod/shop/batch", "subApp": "/prod/shop/batch/job", "subAppMem": 128.0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	noID, err := DecodeGroup([]byte(`{"scaleBy":2}`), "/prod")
	if err != nil || noID.ID != "/prod" || noID.ScaleBy == nil || *noID.ScaleBy != 2 || noID.Apps != nil {
		t.Errorf("group without id = %+v, %v", noID, err)
	}

	_, err = DecodeGroup([]byte(`{"id":"x","apps":[{"id":"a","cpus":"1"}],"groups":[{"apps":{}}]}`), "/")
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("err = %v, want *DecodeError", err)
	}
	wantDetails := []marathon.ErrorDetail{
		{Path: "/apps(0)/cpus", Errors: []string{errExpectedNumber}},
		{Path: "/groups(0)/apps", Errors: []string{errExpectedArray}},
	}
	if diff := cmp.Diff(wantDetails, de.Details); diff != "" {
		t.Errorf("details (-want +got):\n%s", diff)
	}
}
