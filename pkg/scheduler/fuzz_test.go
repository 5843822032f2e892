package scheduler

import (
	"net/url"
	"testing"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		`{"type":"HEARTBEAT"}`,
		`{"type":"SUBSCRIBED","subscribed":{"framework_id":{"value":"f"},"heartbeat_interval_seconds":15}}`,
		`{"type":"SUBSCRIBED","subscribed":{}}`,
		`{"type":"OFFERS","offers":{"offers":[{"id":{"value":"o"},"framework_id":{"value":"f"},"agent_id":{"value":"a"},"hostname":"h","resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":1}}]}]}}`,
		`{"type":"UPDATE","update":{"status":{"task_id":{"value":"t"},"state":"TASK_RUNNING","uuid":"AAEC"}}}`,
		`{"type":"ERROR","error":{"message":"gone"}}`,
		`{}`, `null`, `[`, `{"type":1}`, `{"type":"UPDATE","update":{"status":{"uuid":"!!"}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		ev, err := decodeEvent(rec)
		if err != nil {
			return
		}
		if ev.Type == "" {
			t.Fatal("decoded an event without a type")
		}
		if ev.Type == mesosv1.EventSubscribed && (ev.Subscribed == nil || ev.Subscribed.FrameworkID.Value == "") {
			t.Fatal("SUBSCRIBED without framework id accepted")
		}
	})
}

func FuzzResolveLocation(f *testing.F) {
	for _, s := range []string{
		"//10.0.0.2:5050/api/v1/scheduler", "http://m2:5050/api/v1/scheduler", "//m2:5050",
		"/api/v1/scheduler", "", "ftp://x/y", "http://", "//[::1]:5050/x", "%zz", "https://m/mesos/api/v1/scheduler",
	} {
		f.Add(s)
	}
	base, err := url.Parse("http://10.0.0.1:5050/api/v1/scheduler")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, loc string) {
		u, err := resolveLocation(base, loc)
		if err != nil {
			return
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.Path == "" {
			t.Fatalf("resolveLocation(%q) = %q: not a usable endpoint", loc, u)
		}
		if _, err := url.Parse(u.String()); err != nil {
			t.Fatalf("resolveLocation(%q) = %q does not re-parse: %v", loc, u, err)
		}
	})
}
