package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-dcos/basalt/internal/marathon"
	"github.com/basalt-dcos/basalt/internal/marathon/appdef"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
)

func TestInfoLeaderPingMetrics(t *testing.T) {
	f := newFake()
	f.info = v2.Info{Name: "marathon", Version: "1.10.0", Elected: true, Leader: ptr("10.0.0.1:8080")}
	f.metrics = map[string]any{"gauges": map[string]any{"apps": 3}}
	h := newAPI(t, f)

	rec := call(t, h, "GET", "/v2/info", "")
	wantStatus(t, rec, http.StatusOK)
	if got := obj(t, rec); got["name"] != "marathon" || got["version"] != "1.10.0" || got["leader"] != "10.0.0.1:8080" {
		t.Errorf("info = %v", got)
	}
	if got := rec.Header().Get(headerLeader); got != "http://10.0.0.1:8080" {
		t.Errorf("%s = %q on the leader", headerLeader, got)
	}

	rec = call(t, h, "GET", "/v2/leader", "")
	wantStatus(t, rec, http.StatusOK)
	if diff := cmp.Diff(map[string]any{"leader": "10.0.0.1:8080"}, obj(t, rec)); diff != "" {
		t.Errorf("leader (-want +got):\n%s", diff)
	}

	rec = call(t, h, "DELETE", "/v2/leader", "")
	wantStatus(t, rec, http.StatusOK)
	if diff := cmp.Diff(map[string]any{"message": "Leadership abdicated"}, obj(t, rec)); diff != "" {
		t.Errorf("abdicate (-want +got):\n%s", diff)
	}
	if f.abdicated != 1 {
		t.Errorf("abdicated %d times", f.abdicated)
	}
	wantStatus(t, call(t, h, "DELETE", "/v2/leader?backup=file:///tmp/x", ""), http.StatusBadRequest)

	rec = call(t, h, "GET", "/ping", "")
	wantStatus(t, rec, http.StatusOK)
	if rec.Body.String() != "pong" || rec.Header().Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("ping = %q (%s)", rec.Body, rec.Header().Get("Content-Type"))
	}

	rec = call(t, h, "GET", "/metrics", "")
	wantStatus(t, rec, http.StatusOK)
	if diff := cmp.Diff(map[string]any{"gauges": map[string]any{"apps": 3.0}}, obj(t, rec)); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}

func TestMetricsPrometheus(t *testing.T) {
	f := newFake()
	f.metrics = map[string]any{
		"gauges":   map[string]any{"marathon.apps.active.gauge": map[string]any{"value": 3}, "plain-one": 1.5},
		"counters": map[string]any{"marathon.http.requests": map[string]any{"count": int64(7)}},
	}
	rec := call(t, newAPI(t, f), "GET", "/metrics/prometheus", "")
	wantStatus(t, rec, http.StatusOK)
	want := "# TYPE marathon_apps_active_gauge gauge\nmarathon_apps_active_gauge 3\n" +
		"# TYPE plain_one gauge\nplain_one 1.5\n" +
		"# TYPE marathon_http_requests counter\nmarathon_http_requests 7\n"
	if diff := cmp.Diff(want, rec.Body.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q", ct)
	}
}

func TestNoLeader(t *testing.T) {
	f := newFake()
	f.leader, f.leaderAddr = false, ""
	h := newAPI(t, f)

	rec := call(t, h, "GET", "/v2/leader", "")
	wantStatus(t, rec, http.StatusNotFound)
	if diff := cmp.Diff(map[string]any{"message": "There is no leader"}, obj(t, rec)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, target := range []string{"/v2/apps", "/v2/info", "/metrics", "/v2/events"} {
		rec = call(t, h, "GET", target, "")
		wantStatus(t, rec, http.StatusServiceUnavailable)
		if diff := cmp.Diff(map[string]any{"message": "Could not determine the current leader"}, obj(t, rec)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", target, diff)
		}
	}
	wantStatus(t, call(t, h, "GET", "/ping", ""), http.StatusOK)
}

func TestPods(t *testing.T) {
	h := newAPI(t, newFake())
	tests := []struct {
		method, target string
		status         int
	}{
		{"GET", "/v2/pods", http.StatusOK},
		{"GET", "/v2/pods/", http.StatusOK},
		{"GET", "/v2/pods/::status", http.StatusOK},
		{"GET", "/v2/pods/web", http.StatusNotFound},
		{"POST", "/v2/pods", http.StatusNotImplemented},
		{"POST", "/v2/pods/", http.StatusNotImplemented},
		{"DELETE", "/v2/pods/web", http.StatusNotImplemented},
	}
	for _, tc := range tests {
		rec := call(t, h, tc.method, tc.target, "")
		wantStatus(t, rec, tc.status)
		body := decodeBody(t, rec)
		if tc.status == http.StatusOK {
			if diff := cmp.Diff([]any{}, body); diff != "" {
				t.Errorf("%s %s (-want +got):\n%s", tc.method, tc.target, diff)
			}
			continue
		}
		if diff := cmp.Diff(map[string]any{"message": "pods are not supported"}, body); diff != "" {
			t.Errorf("%s %s (-want +got):\n%s", tc.method, tc.target, diff)
		}
	}
}

func TestTranslate(t *testing.T) {
	details := []v2.ErrorDetail{{Path: "/mem", Errors: []string{"is less than 0"}}}
	tests := []struct {
		err      error
		status   int
		body     v2.ErrorBody
		internal bool
	}{
		{&appdef.DecodeError{Details: details}, 400, v2.ErrorBody{Message: "Invalid JSON", Details: details}, false},
		{fmt.Errorf("wrapped: %w", &appdef.ValidationError{Details: details}), 422, v2.ErrorBody{Message: "Object is not valid", Details: details}, false},
		{&marathon.AppNotFoundError{ID: "/a"}, 404, v2.ErrorBody{Message: "App '/a' does not exist"}, false},
		{&marathon.GroupNotFoundError{ID: "/g"}, 404, v2.ErrorBody{Message: "Group '/g' does not exist"}, false},
		{&marathon.TaskNotFoundError{ID: "t"}, 404, v2.ErrorBody{Message: "Task 't' does not exist"}, false},
		{&marathon.DeploymentNotFoundError{ID: "d"}, 404, v2.ErrorBody{Message: "DeploymentPlan d does not exist"}, false},
		{&marathon.AppExistsError{ID: "/a"}, 409, v2.ErrorBody{Message: "An app with id [/a] already exists."}, false},
		{&marathon.GroupExistsError{ID: "/g"}, 409, v2.ErrorBody{Message: "A group with id [/g] already exists."}, false},
		{&marathon.ConflictError{Deployments: []string{"x"}}, 409, v2.ErrorBody{
			Message:     "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/x'.",
			Deployments: []v2.DeploymentRef{{ID: "x"}}}, false},
		{&marathon.NotLeaderError{Leader: "h:1"}, 503, v2.ErrorBody{Message: "not the Marathon leader; the leader is h:1"}, false},
		{&http.MaxBytesError{Limit: 5}, 413, v2.ErrorBody{Message: "Request body too large (limit 5 bytes)"}, false},
		{badRequest("bad %s", "thing"), 400, v2.ErrorBody{Message: "bad thing"}, false},
		{errors.New("boom"), 500, v2.ErrorBody{Message: "internal error"}, true},
	}
	for _, tc := range tests {
		status, body, internal := translate(tc.err)
		if status != tc.status || internal != tc.internal {
			t.Errorf("%v: status %d internal %v, want %d %v", tc.err, status, internal, tc.status, tc.internal)
		}
		if diff := cmp.Diff(tc.body, body); diff != "" {
			t.Errorf("%v: body (-want +got):\n%s", tc.err, diff)
		}
	}
}
