package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// fakeActions records teardowns and answers with err.
type fakeActions struct {
	err error
	got []string
}

func (f *fakeActions) Teardown(_ context.Context, id string) error {
	f.got = append(f.got, id)
	return f.err
}

func (f *fakeActions) MarkAgentGone(_ context.Context, id string) error {
	f.got = append(f.got, "gone:"+id)
	return f.err
}

// newMux serves an API over a fixed snapshot with a fixed clock.
func newMux(t *testing.T, s *Snapshot, actions Actions) (*http.ServeMux, *API) {
	t.Helper()
	api := NewAPI(newSource(s), actions, nil)
	api.now = func() time.Time { return at(1000) }
	mux := http.NewServeMux()
	api.Register(mux)
	return mux, api
}

func do(t *testing.T, h http.Handler, method, target string, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	var r *http.Request
	if body != "" {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
	} else {
		r = httptest.NewRequest(method, target, nil)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func operatorCall(t *testing.T, h http.Handler, body string) *httptest.ResponseRecorder {
	t.Helper()
	return do(t, h, http.MethodPost, "/api/v1", body, "Content-Type", "application/json")
}

// golden compares got (JSON) with testdata/name.golden, indented.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, got, "", "  "); err != nil {
		t.Fatalf("%s: response is not JSON: %v\n%s", name, err, got)
	}
	buf.WriteByte('\n')
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), buf.String()); diff != "" {
		t.Errorf("%s mismatch (-want +got), run with -update if intended:\n%s", name, diff)
	}
}

func TestGoldenEndpoints(t *testing.T) {
	mux, _ := newMux(t, fixture(), &fakeActions{})
	standby, _ := newMux(t, standbyFixture(), &fakeActions{})
	for _, tc := range []struct {
		name   string
		h      http.Handler
		target string
	}{
		{"state", mux, "/master/state"},
		{"state-summary", mux, "/master/state-summary"},
		{"slaves", mux, "/master/slaves"},
		{"frameworks", mux, "/master/frameworks"},
		{"tasks", mux, "/master/tasks"},
		{"roles", mux, "/master/roles"},
		{"flags", mux, "/master/flags"},
		{"version", mux, "/version"},
		{"metrics", mux, "/metrics/snapshot"},
		{"standby-state", standby, "/master/state"},
		{"standby-metrics", standby, "/metrics/snapshot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := do(t, tc.h, http.MethodGet, tc.target, "")
			if w.Code != http.StatusOK {
				t.Fatalf("GET %s = %d %s", tc.target, w.Code, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			golden(t, tc.name, w.Body.Bytes())
		})
	}
}

func TestGoldenOperator(t *testing.T) {
	mux, _ := newMux(t, fixture(), &fakeActions{})
	for _, typ := range []string{
		"GET_HEALTH", "GET_FLAGS", "GET_VERSION", "GET_METRICS", "GET_STATE", "GET_AGENTS",
		"GET_FRAMEWORKS", "GET_EXECUTORS", "GET_TASKS", "GET_ROLES", "GET_WEIGHTS", "GET_MASTER",
	} {
		t.Run(typ, func(t *testing.T) {
			w := operatorCall(t, mux, `{"type":"`+typ+`"}`)
			if w.Code != http.StatusOK {
				t.Fatalf("%s = %d %s", typ, w.Code, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var resp struct {
				Type string `json:"type"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || resp.Type != typ {
				t.Errorf("type = %q (%v), want %q", resp.Type, err, typ)
			}
			golden(t, "v1-"+strings.ToLower(typ), w.Body.Bytes())
		})
	}
}

// TestAliases checks that every alias serves the same document as its
// canonical path.
func TestAliases(t *testing.T) {
	mux, _ := newMux(t, fixture(), nil)
	for canonical, aliases := range map[string][]string{
		"/master/state":         {"/state", "/state.json", "/master/state.json"},
		"/master/state-summary": {"/state-summary"},
		"/master/slaves":        {"/slaves"},
		"/master/frameworks":    {"/frameworks"},
		"/master/tasks":         {"/tasks", "/tasks.json", "/master/tasks.json"},
		"/master/roles":         {"/roles", "/roles.json", "/master/roles.json"},
		"/master/flags":         {"/flags"},
		"/master/health":        {"/health"},
	} {
		want := do(t, mux, http.MethodGet, canonical, "")
		for _, alias := range aliases {
			got := do(t, mux, http.MethodGet, alias, "")
			if got.Code != want.Code || got.Body.String() != want.Body.String() {
				t.Errorf("GET %s = %d (%d bytes), want the same as %s = %d (%d bytes)",
					alias, got.Code, got.Body.Len(), canonical, want.Code, want.Body.Len())
			}
		}
	}
}

func TestHealth(t *testing.T) {
	mux, _ := newMux(t, fixture(), nil)
	for _, p := range []string{"/health", "/master/health"} {
		w := do(t, mux, http.MethodGet, p, "")
		if w.Code != http.StatusOK || w.Body.Len() != 0 {
			t.Errorf("GET %s = %d %q, want 200 with an empty body", p, w.Code, w.Body)
		}
	}
}

func TestWrongMethod(t *testing.T) {
	mux, _ := newMux(t, fixture(), nil)
	for _, tc := range []struct{ method, path string }{
		{http.MethodPost, "/master/state"},
		{http.MethodDelete, "/master/tasks"},
		{http.MethodGet, "/api/v1"},
		{http.MethodPut, "/api/v1"},
	} {
		if w := do(t, mux, tc.method, tc.path, ""); w.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s %s = %d, want 405", tc.method, tc.path, w.Code)
		}
	}
}

func TestJSONP(t *testing.T) {
	mux, _ := newMux(t, fixture(), nil)
	plain := do(t, mux, http.MethodGet, "/master/state", "")
	w := do(t, mux, http.MethodGet, "/master/state?jsonp=cb", "")
	if w.Code != http.StatusOK {
		t.Fatalf("jsonp = %d %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "text/javascript" {
		t.Errorf("Content-Type = %q, want text/javascript", ct)
	}
	if want := "cb(" + plain.Body.String() + ");"; w.Body.String() != want {
		t.Errorf("jsonp body = %.60q..., want cb(<state>);", w.Body.String())
	}
	for _, p := range []string{"/master/state-summary?jsonp=angular.callbacks._0", "/metrics/snapshot?jsonp=f", "/master/tasks?jsonp=$x"} {
		if w := do(t, mux, http.MethodGet, p, ""); w.Code != http.StatusOK || !strings.HasSuffix(w.Body.String(), ");") {
			t.Errorf("GET %s = %d %.40q", p, w.Code, w.Body.String())
		}
	}
	if w := do(t, mux, http.MethodGet, "/master/state?jsonp=alert(1)//", ""); w.Code != http.StatusBadRequest {
		t.Errorf("script in jsonp = %d, want 400", w.Code)
	}
}

func taskIDs(t *testing.T, body []byte) []string {
	t.Helper()
	var resp mesosv1.TasksResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatalf("decode tasks: %v\n%s", err, body)
	}
	ids := []string{}
	for _, tk := range resp.Tasks {
		ids = append(ids, tk.ID)
	}
	return ids
}

func TestTasksQuery(t *testing.T) {
	mux, _ := newMux(t, fixture(), nil)
	// Ascending by first status timestamp; tasks without statuses first:
	// api (none), old.1 (1), migrate (2), cache (5), web (10), backup (20).
	asc := []string{"api.instance-1", "old.1", "migrate.instance-1", "cache.instance-1", "web.instance-1", "backup_20261123120000.x"}
	desc := []string{"backup_20261123120000.x", "web.instance-1", "cache.instance-1", "migrate.instance-1", "old.1", "api.instance-1"}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", desc},
		{"?order=desc", desc},
		{"?order=asc", asc},
		{"?order=bogus", desc},
		{"?limit=2", desc[:2]},
		{"?limit=2&offset=2", desc[2:4]},
		{"?limit=0", []string{}},
		{"?offset=5", desc[5:]},
		{"?offset=100", []string{}},
		{"?order=asc&limit=3&offset=1", asc[1:4]},
		{"?framework_id=" + fwMara, []string{"web.instance-1", "cache.instance-1", "migrate.instance-1", "api.instance-1"}},
		{"?framework_id=" + fwGone, []string{"old.1"}},
		{"?framework_id=nope", []string{}},
		{"?task_id=cache.instance-1", []string{"cache.instance-1"}},
		{"?task_id=web.instance-1&framework_id=" + fwJobs, []string{}},
		{"?framework_id=" + fwMara + "&order=asc&limit=1&offset=1", []string{"migrate.instance-1"}},
	} {
		w := do(t, mux, http.MethodGet, "/master/tasks"+tc.query, "")
		if w.Code != http.StatusOK {
			t.Errorf("GET /master/tasks%s = %d %s", tc.query, w.Code, w.Body)
			continue
		}
		if diff := cmp.Diff(tc.want, taskIDs(t, w.Body.Bytes())); diff != "" {
			t.Errorf("GET /master/tasks%s (-want +got):\n%s", tc.query, diff)
		}
	}
	for _, q := range []string{"?limit=x", "?limit=-1", "?offset=1.5", "?offset=-3"} {
		if w := do(t, mux, http.MethodGet, "/master/tasks"+q, ""); w.Code != http.StatusBadRequest {
			t.Errorf("GET /master/tasks%s = %d, want 400", q, w.Code)
		}
	}
}

func TestTasksDefaultLimit(t *testing.T) {
	mux, _ := newMux(t, bigSnapshot(3, 250), nil)
	w := do(t, mux, http.MethodGet, "/master/tasks", "")
	ids := taskIDs(t, w.Body.Bytes())
	if len(ids) != defaultTaskLimit {
		t.Fatalf("got %d tasks, want the default limit %d", len(ids), defaultTaskLimit)
	}
	if ids[0] != "app-249.instance-00000249" {
		t.Errorf("first task = %s, want the newest", ids[0])
	}
}

func TestFilters(t *testing.T) {
	mux, _ := newMux(t, fixture(), nil)

	var sl mesosv1.SlavesResponse
	w := do(t, mux, http.MethodGet, "/master/slaves?slave_id="+agent2, "")
	if err := json.Unmarshal(w.Body.Bytes(), &sl); err != nil {
		t.Fatal(err)
	}
	if len(sl.Slaves) != 1 || sl.Slaves[0].ID != agent2 {
		t.Errorf("slave_id filter gave %+v", sl.Slaves)
	}
	// An unreachable agent is not a registered slave.
	w = do(t, mux, http.MethodGet, "/master/slaves?slave_id="+agent3, "")
	if err := json.Unmarshal(w.Body.Bytes(), &sl); err != nil {
		t.Fatal(err)
	}
	if len(sl.Slaves) != 0 {
		t.Errorf("unreachable agent listed: %+v", sl.Slaves)
	}

	var fw mesosv1.FrameworksResponse
	w = do(t, mux, http.MethodGet, "/master/frameworks?framework_id="+fwGone, "")
	if err := json.Unmarshal(w.Body.Bytes(), &fw); err != nil {
		t.Fatal(err)
	}
	if len(fw.Frameworks) != 0 || len(fw.CompletedFrameworks) != 1 || fw.CompletedFrameworks[0].ID != fwGone {
		t.Errorf("framework_id filter gave %d frameworks, %d completed", len(fw.Frameworks), len(fw.CompletedFrameworks))
	}
	w = do(t, mux, http.MethodGet, "/master/frameworks?framework_id="+fwJobs, "")
	if err := json.Unmarshal(w.Body.Bytes(), &fw); err != nil {
		t.Fatal(err)
	}
	if len(fw.Frameworks) != 1 || fw.Frameworks[0].ID != fwJobs || len(fw.CompletedFrameworks) != 0 {
		t.Errorf("framework_id filter gave %+v", fw)
	}
}

func TestMetricsCountersAndUptime(t *testing.T) {
	mux, api := newMux(t, fixture(), nil)
	get := func() map[string]float64 {
		var m map[string]float64
		if err := json.Unmarshal(do(t, mux, http.MethodGet, "/metrics/snapshot", "").Body.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := get()
	for name, want := range map[string]float64{
		"master/elected":               1,
		"master/uptime_secs":           1000,
		"master/messages_launch_tasks": 12, // a counter passes through
		"master/tasks_finished":        7,  // a counted terminal metric wins over the derived 1
		"master/tasks_killed":          1,  // derived when not counted
		"master/tasks_running":         1,
		"master/tasks_staging":         1,
		"master/tasks_unreachable":     1,
		"master/slaves_active":         1,
		"master/slaves_inactive":       1,
		"master/slaves_unreachable":    1,
		"master/frameworks_active":     1,
		"master/frameworks_inactive":   1,
		"master/outstanding_offers":    1,
		"master/cpus_total":            8,
		"master/gpus_total":            1,
		"master/cpus_used":             1.5,
	} {
		if got, ok := m[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	// The uptime follows the clock even though the snapshot is cached.
	api.now = func() time.Time { return at(1500) }
	if got := get()["master/uptime_secs"]; got != 1500 {
		t.Errorf("uptime after the clock moved = %v, want 1500", got)
	}
}

func TestOperatorErrors(t *testing.T) {
	mux, _ := newMux(t, fixture(), &fakeActions{})
	for _, tc := range []struct {
		name   string
		body   string
		header []string
		want   int
	}{
		{"no content type", `{"type":"GET_HEALTH"}`, nil, http.StatusUnsupportedMediaType},
		{"protobuf", `{"type":"GET_HEALTH"}`, []string{"Content-Type", "application/x-protobuf"}, http.StatusUnsupportedMediaType},
		{"json with charset", `{"type":"GET_HEALTH"}`, []string{"Content-Type", "application/json; charset=utf-8"}, http.StatusOK},
		{"accept protobuf only", `{"type":"GET_HEALTH"}`, []string{"Content-Type", "application/json", "Accept", "application/x-protobuf"}, http.StatusNotAcceptable},
		{"accept any", `{"type":"GET_HEALTH"}`, []string{"Content-Type", "application/json", "Accept", "text/html, */*;q=0.1"}, http.StatusOK},
		{"malformed", `{"type":`, []string{"Content-Type", "application/json"}, http.StatusBadRequest},
		{"not an object", `[1,2]`, []string{"Content-Type", "application/json"}, http.StatusBadRequest},
		{"missing type", `{}`, []string{"Content-Type", "application/json"}, http.StatusBadRequest},
		{"unknown type", `{"type":"GET_UNICORNS"}`, []string{"Content-Type", "application/json"}, http.StatusBadRequest},
		{"unimplemented", `{"type":"UPDATE_QUOTA"}`, []string{"Content-Type", "application/json"}, http.StatusNotImplemented},
		{"teardown without id", `{"type":"TEARDOWN","teardown":{}}`, []string{"Content-Type", "application/json"}, http.StatusBadRequest},
		{"mark agent gone without id", `{"type":"MARK_AGENT_GONE","mark_agent_gone":{}}`, []string{"Content-Type", "application/json"}, http.StatusBadRequest},
		{"unknown fields ignored", `{"type":"GET_HEALTH","extra":{"a":1}}`, []string{"Content-Type", "application/json"}, http.StatusOK},
		{"metrics with timeout", `{"type":"GET_METRICS","get_metrics":{"timeout":{"nanoseconds":5000000000}}}`, []string{"Content-Type", "application/json"}, http.StatusOK},
	} {
		w := do(t, mux, http.MethodPost, "/api/v1", tc.body, tc.header...)
		if w.Code != tc.want {
			t.Errorf("%s: = %d %q, want %d", tc.name, w.Code, w.Body, tc.want)
		}
		if w.Code >= 400 && strings.TrimSpace(w.Body.String()) == "" {
			t.Errorf("%s: error without a message", tc.name)
		}
	}
	big := `{"type":"GET_HEALTH","pad":"` + strings.Repeat("x", maxCallBytes) + `"}`
	if w := operatorCall(t, mux, big); w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body = %d, want 413", w.Code)
	}
}

func TestTeardown(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"ok", nil, http.StatusOK},
		{"unknown", errors.Join(errors.New("teardown"), ErrUnknownFramework), http.StatusBadRequest},
		{"not leader", ErrNotLeader, http.StatusServiceUnavailable},
		{"other", errors.New("boom"), http.StatusInternalServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			actions := &fakeActions{err: tc.err}
			mux, _ := newMux(t, fixture(), actions)
			w := operatorCall(t, mux, `{"type":"TEARDOWN","teardown":{"framework_id":{"value":"`+fwMara+`"}}}`)
			if w.Code != tc.want {
				t.Errorf("v1 TEARDOWN = %d %q, want %d", w.Code, w.Body, tc.want)
			}
			if tc.want == http.StatusOK && w.Body.Len() != 0 {
				t.Errorf("v1 TEARDOWN body = %q, want empty", w.Body)
			}
			w = do(t, mux, http.MethodPost, "/master/teardown", "frameworkId="+fwJobs, "Content-Type", "application/x-www-form-urlencoded")
			if w.Code != tc.want {
				t.Errorf("legacy teardown = %d %q, want %d", w.Code, w.Body, tc.want)
			}
			if diff := cmp.Diff([]string{fwMara, fwJobs}, actions.got); diff != "" {
				t.Errorf("teardowns (-want +got):\n%s", diff)
			}
		})
	}
	mux, _ := newMux(t, fixture(), &fakeActions{})
	if w := do(t, mux, http.MethodPost, "/master/teardown", "", "Content-Type", "application/x-www-form-urlencoded"); w.Code != http.StatusBadRequest {
		t.Errorf("legacy teardown without frameworkId = %d, want 400", w.Code)
	}
	nilActions, _ := newMux(t, fixture(), nil)
	if w := operatorCall(t, nilActions, `{"type":"TEARDOWN","teardown":{"framework_id":{"value":"x"}}}`); w.Code != http.StatusServiceUnavailable {
		t.Errorf("teardown without Actions = %d, want 503", w.Code)
	}
}

func TestMarkAgentGone(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"ok", nil, http.StatusOK},
		{"unknown", fmt.Errorf("mark gone: %w", ErrUnknownAgent), http.StatusBadRequest},
		{"not leader", ErrNotLeader, http.StatusServiceUnavailable},
		{"other", errors.New("boom"), http.StatusInternalServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			actions := &fakeActions{err: tc.err}
			mux, _ := newMux(t, fixture(), actions)
			w := operatorCall(t, mux, `{"type":"MARK_AGENT_GONE","mark_agent_gone":{"agent_id":{"value":"a-S1"}}}`)
			if w.Code != tc.want {
				t.Errorf("MARK_AGENT_GONE = %d %q, want %d", w.Code, w.Body, tc.want)
			}
			if diff := cmp.Diff([]string{"gone:a-S1"}, actions.got); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCachedPerSnapshot checks that a document is rendered once per
// snapshot and re-rendered after the source publishes a new one.
func TestCachedPerSnapshot(t *testing.T) {
	s1 := fixture()
	src := newSource(s1)
	api := NewAPI(src, nil, nil)
	mux := http.NewServeMux()
	api.Register(mux)

	first := do(t, mux, http.MethodGet, "/master/state", "").Body.String()
	rd := api.cache.Load()
	if rd == nil || rd.snap != s1 {
		t.Fatal("no rendering cached for the current snapshot")
	}
	if again := do(t, mux, http.MethodGet, "/master/state", "").Body.String(); again != first || api.cache.Load() != rd {
		t.Error("second request did not reuse the cached rendering")
	}

	s2 := fixture()
	s2.Built = s1.Built.Add(time.Second)
	s2.Agents = s2.Agents[:1]
	src.p.Store(s2)
	var st mesosv1.StateResponse
	if err := json.Unmarshal(do(t, mux, http.MethodGet, "/master/state", "").Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Slaves) != 1 {
		t.Errorf("after a new snapshot: %d slaves, want 1", len(st.Slaves))
	}
	// A request still holding the older snapshot must not evict the newer rendering.
	if r := api.renderingFor(s1); r.snap != s1 || api.cache.Load().snap != s2 {
		t.Error("an older snapshot replaced the newer cached rendering")
	}
}
