package appdef

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-dcos/basalt/pkg/marathon"
)

var appSeeds = []string{
	`{"id":"/basic-0","cmd":"while true; do echo hi; sleep 5; done","cpus":0.1,"mem":32,"instances":1}`,
	`{"id":"nginx","container":{"type":"DOCKER","docker":{"image":"nginx","network":"BRIDGE","portMappings":[{"containerPort":80,"hostPort":0}]}},"healthChecks":[{"protocol":"MESOS_HTTP"}]}`,
	`{"id":"db","cmd":"x","container":{"type":"MESOS","volumes":[{"containerPath":"data","persistent":{"size":10,"constraints":[["a","IS","b"]]}}]},"unreachableStrategy":"disabled"}`,
	`{"id":"a","cmd":"x","ports":[0,0],"uris":["http://x/a.tgz"],"env":{"A":"1","S":{"secret":"s"}},"secrets":{"s":{"source":"p"}}}`,
	`{"id":"a","cmd":"x","networks":[{"mode":"container","name":"dcos"}],"container":{"portMappings":[]},"ipAddress":{"networkName":"n","discovery":{"ports":[{"number":1,"name":"p","protocol":"udp"}]}}}`,
	`{"id":"a","cmd":"x","readinessChecks":[{}],"check":{"exec":{"command":{"argv":[]}}},"resourceLimits":{"cpus":"unlimited","mem":1e3}}`,
	`{"id":"a","constraints":[null,["a"]],"labels":{"a":null},"cpus":1e400,"instances":2.5}`,
	`[]`, `null`, `{"id":`, `"x"`,
}

// checkStable asserts that a decoded app is a fixed point of Normalize and
// of a JSON round trip through the decoder.
func checkStable(t *testing.T, app marathon.App, base string) {
	t.Helper()
	again := app
	Normalize(&again)
	if diff := cmp.Diff(app, again); diff != "" {
		t.Fatalf("Normalize not idempotent (-once +twice):\n%s", diff)
	}
	b, err := marshalForStore(app)
	if err != nil {
		t.Fatalf("marshal normalised app: %v", err)
	}
	back, err := DecodeApp(b, base)
	if err != nil {
		t.Fatalf("decode of marshalled app %s: %v", b, err)
	}
	if diff := cmp.Diff(app, back); diff != "" {
		t.Fatalf("round trip changed the app %s (-before +after):\n%s", b, diff)
	}
	// Plain json.Marshal loses only an empty container.portMappings (the wire
	// type omits it), which then decodes to the default mapping.
	if app.Container == nil || len(app.Container.PortMappings) > 0 {
		plain, err := json.Marshal(app)
		if err != nil {
			t.Fatalf("json.Marshal: %v", err)
		}
		if back, err := DecodeApp(plain, base); err != nil || !cmp.Equal(app, back) {
			t.Fatalf("plain round trip changed the app %s: %v\n%s", plain, err, cmp.Diff(app, back))
		}
	}
	// Validation must not panic on anything decodable.
	_ = ValidateApp(app, DefaultOptions())
	_ = IsConfigChange(app, back)
	ports := app
	_ = AssignServicePorts(&ports, map[int]bool{}, DefaultOptions())
}

func FuzzDecodeApp(f *testing.F) {
	for _, s := range appSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		app, err := DecodeApp(data, "/fuzz")
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || len(de.Details) == 0 {
				t.Fatalf("err = %v, want a *DecodeError with details", err)
			}
			return
		}
		checkStable(t, app, "/")
		if merged, err := MergeApp(app, data); err == nil {
			checkStable(t, merged, "/")
		}
	})
}

func FuzzDecodeGroup(f *testing.F) {
	f.Add([]byte(`{"id":"g","apps":[{"id":"a","cmd":"x"}],"groups":[{"id":"h","apps":[{"id":"../b","cmd":"y","dependencies":["a"]}]}],"dependencies":["/x"]}`))
	f.Add([]byte(`{"scaleBy":1.5}`))
	f.Add([]byte(`{"version":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"apps":[{"id":"Bad"}],"groups":[{"groups":[{}]}],"pods":[{"x":1}]}`))
	for _, s := range appSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := DecodeGroup(data, "/base")
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || len(de.Details) == 0 {
				t.Fatalf("err = %v, want a *DecodeError with details", err)
			}
			return
		}
		_ = ValidateGroup(g, DefaultOptions())
		var walk func(g marathon.Group)
		walk = func(g marathon.Group) {
			for _, a := range g.Apps {
				checkStable(t, a, "/")
			}
			for _, s := range g.Groups {
				walk(s)
			}
		}
		walk(g)
	})
}
