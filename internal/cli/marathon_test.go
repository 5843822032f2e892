package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-dcos/basalt/pkg/marathon"
)

// fakeMarathon is a scripted Marathon /v2 API. It serves fixed apps, tasks,
// groups and queue, a mutable deployment list, and an event stream to which
// the test (or the POST handler) pushes raw SSE text.
type fakeMarathon struct {
	srv *httptest.Server

	mu          sync.Mutex
	requests    []string // "METHOD /path?query body"
	deployments []marathon.Deployment
	subscribers []chan string
	noEvents    bool // /v2/events answers 404
	// onCreate runs under mu when an app is added, with the new deployment's ID.
	onCreate func(depID string)
	// onPoll runs under mu before GET /v2/deployments answers, with the
	// 1-based number of the call.
	onPoll func(n int)
	polls  int
}

func strp(s string) *string { return &s }

func fixtureApps() []marathon.AppInfo {
	web := marathon.AppInfo{App: marathon.App{ID: "/web", Cmd: strp("python3 -m http.server $PORT0"), Instances: 3, Cpus: 0.5, Mem: 128,
		HealthChecks: []marathon.HealthCheck{{Protocol: "MESOS_HTTP", Path: "/"}}},
		TasksRunning: 2, TasksHealthy: 1, TasksUnhealthy: 1, Deployments: []marathon.DeploymentRef{{ID: "dep-scale"}}}
	pg := marathon.AppInfo{App: marathon.App{ID: "/db/postgres", Args: []string{"postgres", "-N", "50"}, Instances: 1, Cpus: 1, Mem: 1024,
		Container: &marathon.Container{Type: "DOCKER", Docker: &marathon.Docker{Image: "postgres:16"}}},
		TasksRunning: 1}
	stopped := marathon.AppInfo{App: marathon.App{ID: "/stopped", Cmd: strp("sleep 1000"), Cpus: 0.1, Mem: 32,
		Container: &marathon.Container{Type: "MESOS"}}}
	return []marathon.AppInfo{web, stopped, pg}
}

func fixtureTasks() []marathon.Task {
	return []marathon.Task{
		{ID: "web.instance-b._app.1", AppID: "/web", Host: "agent-2", State: "TASK_RUNNING", StartedAt: "2026-11-20T10:00:01.000Z",
			HealthCheckResults: []marathon.HealthCheckResult{{Alive: false}}},
		{ID: "db_postgres.instance-c._app.1", AppID: "/db/postgres", Host: "agent-1", State: "TASK_RUNNING", StartedAt: "2026-11-20T09:00:00.000Z"},
		{ID: "web.instance-a._app.1", AppID: "/web", Host: "agent-1", State: "TASK_RUNNING", StartedAt: "2026-11-20T10:00:00.000Z",
			HealthCheckResults: []marathon.HealthCheckResult{{Alive: true}}},
		{ID: "web.instance-d._app.1", AppID: "/web", Host: "agent-3", State: "TASK_STAGING"},
	}
}

func scaleDeployment() marathon.Deployment {
	return marathon.Deployment{ID: "dep-scale", Version: "2026-11-20T10:00:00.000Z", AffectedApps: []string{"/web"}, AffectedPods: []string{},
		Steps:          []marathon.DeploymentStep{{Actions: []marathon.DeploymentAction{{Action: marathon.ActionScale, App: "/web"}}}},
		CurrentActions: []marathon.CurrentAction{{Action: marathon.ActionScale, App: "/web"}}, CurrentStep: 1, TotalSteps: 1}
}

func newFakeMarathon(t *testing.T) *fakeMarathon {
	t.Helper()
	fm := &fakeMarathon{deployments: []marathon.Deployment{scaleDeployment()}}
	fm.srv = httptest.NewServer(http.HandlerFunc(fm.serve))
	t.Cleanup(fm.srv.Close)
	return fm
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (fm *fakeMarathon) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	path := strings.TrimPrefix(r.URL.Path, "/marathon") // the CLI is pointed at a path prefix
	if path == "/v2/events" {
		fm.serveEvents(w, r)
		return
	}
	fm.mu.Lock()
	defer fm.mu.Unlock()
	rec := r.Method + " " + path
	if r.URL.RawQuery != "" {
		rec += "?" + r.URL.RawQuery
	}
	if len(body) > 0 {
		rec += " " + string(body)
	}
	fm.requests = append(fm.requests, rec)

	notFound := func(what string) {
		writeJSON(w, 404, marathon.ErrorBody{Message: what + " does not exist"})
	}
	switch {
	case r.Method == "GET" && path == "/v2/apps":
		writeJSON(w, 200, map[string]any{"apps": fixtureApps()})
	case r.Method == "POST" && path == "/v2/apps":
		var app marathon.App
		if err := json.Unmarshal(body, &app); err != nil || app.ID == "" {
			writeJSON(w, 422, marathon.ErrorBody{Message: "Object is not valid", Details: []marathon.ErrorDetail{
				{Path: "/id", Errors: []string{"must not be empty"}}, {Path: "/cpus", Errors: []string{"must be positive", "is too small"}}}})
			return
		}
		dep := marathon.Deployment{ID: "dep-add", AffectedApps: []string{app.ID}, CurrentStep: 1, TotalSteps: 1,
			Steps:          []marathon.DeploymentStep{{Actions: []marathon.DeploymentAction{{Action: marathon.ActionStart, App: app.ID}}}},
			CurrentActions: []marathon.CurrentAction{{Action: marathon.ActionStart, App: app.ID}}}
		fm.deployments = append(fm.deployments, dep)
		if fm.onCreate != nil {
			fm.onCreate(dep.ID)
		}
		w.Header().Set(marathon.DeploymentIDHeader, dep.ID)
		writeJSON(w, 201, marathon.AppInfo{App: app, Deployments: []marathon.DeploymentRef{{ID: dep.ID}}})
	case r.Method == "GET" && path == "/v2/deployments":
		fm.polls++
		if fm.onPoll != nil {
			fm.onPoll(fm.polls)
		}
		writeJSON(w, 200, fm.deployments)
	case r.Method == "DELETE" && strings.HasPrefix(path, "/v2/deployments/"):
		if r.URL.Query().Get("force") == "true" {
			w.WriteHeader(202)
			return
		}
		writeJSON(w, 200, marathon.DeploymentResult{DeploymentID: "dep-rollback", Version: "2026-11-20T11:00:00.000Z"})
	case r.Method == "GET" && path == "/v2/queue":
		apps := fixtureApps()
		writeJSON(w, 200, map[string]any{"queue": []marathon.QueueItem{{App: &apps[0], Count: 1}}})
	case r.Method == "GET" && path == "/v2/tasks":
		writeJSON(w, 200, map[string]any{"tasks": fixtureTasks()})
	case r.Method == "POST" && path == "/v2/tasks/delete":
		if r.URL.Query().Get("scale") == "true" {
			writeJSON(w, 200, marathon.DeploymentResult{DeploymentID: "dep-kill", Version: "v"})
			return
		}
		writeJSON(w, 200, map[string]any{"tasks": fixtureTasks()[:1]})
	case r.Method == "GET" && path == "/v2/groups":
		apps := fixtureApps()
		writeJSON(w, 200, marathon.GroupInfo{ID: "/", Apps: []marathon.AppInfo{apps[0], apps[1]}, Groups: []marathon.GroupInfo{
			{ID: "/empty"},
			{ID: "/db", Apps: []marathon.AppInfo{apps[2]}, Groups: []marathon.GroupInfo{{ID: "/db/replicas"}}},
		}})
	case r.Method == "GET" && path == "/v2/leader":
		writeJSON(w, 200, marathon.Leader{Leader: "10.0.0.1:8080"})
	case r.Method == "DELETE" && path == "/v2/leader":
		writeJSON(w, 200, map[string]string{"message": "Leadership abdicated"})
	case r.Method == "GET" && path == "/v2/info":
		writeJSON(w, 200, marathon.Info{Name: "marathon", Version: "1.10.0", Elected: true, Leader: strp("10.0.0.1:8080")})
	case strings.HasPrefix(path, "/v2/apps/"):
		fm.serveApp(w, r, strings.TrimPrefix(path, "/v2/apps"), notFound)
	case strings.HasPrefix(path, "/v2/groups/"):
		writeJSON(w, 200, marathon.DeploymentResult{DeploymentID: "dep-group", Version: "v"})
	default:
		http.NotFound(w, r)
	}
}

// serveApp answers /v2/apps/{id}[/tasks|/versions[/v]|/restart].
func (fm *fakeMarathon) serveApp(w http.ResponseWriter, r *http.Request, rest string, notFound func(string)) {
	var app *marathon.AppInfo
	for _, a := range fixtureApps() {
		if rest == a.ID || strings.HasPrefix(rest, a.ID+"/") {
			app = &a
			rest = strings.TrimPrefix(rest, a.ID)
			break
		}
	}
	if app == nil {
		if r.Method == "GET" {
			notFound("App '" + rest + "'")
			return
		}
		app = &marathon.AppInfo{App: marathon.App{ID: rest}}
		rest = ""
	}
	switch {
	case r.Method == "GET" && rest == "":
		writeJSON(w, 200, map[string]any{"app": app})
	case r.Method == "GET" && rest == "/tasks":
		var tasks []marathon.Task
		for _, t := range fixtureTasks() {
			if t.AppID == app.ID {
				tasks = append(tasks, t)
			}
		}
		writeJSON(w, 200, map[string]any{"tasks": tasks})
	case r.Method == "GET" && rest == "/versions":
		writeJSON(w, 200, map[string]any{"versions": []string{"v3", "v2", "v1"}})
	case r.Method == "GET" && strings.HasPrefix(rest, "/versions/"):
		old := app.App
		old.Version = strings.TrimPrefix(rest, "/versions/")
		writeJSON(w, 200, old)
	case r.Method == "DELETE" && rest == "/tasks":
		writeJSON(w, 200, map[string]any{"tasks": fixtureTasks()[2:3]})
	default: // PUT, DELETE, POST .../restart
		writeJSON(w, 200, marathon.DeploymentResult{DeploymentID: "dep-" + strings.ToLower(r.Method), Version: "v"})
	}
}

func (fm *fakeMarathon) serveEvents(w http.ResponseWriter, r *http.Request) {
	fm.mu.Lock()
	if fm.noEvents {
		fm.mu.Unlock()
		http.NotFound(w, r)
		return
	}
	ch := make(chan string, 16)
	fm.subscribers = append(fm.subscribers, ch)
	fm.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(200)
	io.WriteString(w, "event: event_stream_attached\ndata: {\"remoteAddress\":\"127.0.0.1\",\"eventType\":\"event_stream_attached\"}\n\n")
	w.(http.Flusher).Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case s := <-ch:
			io.WriteString(w, s)
			w.(http.Flusher).Flush()
		}
	}
}

// push sends an event to every subscriber; call it with fm.mu held.
func (fm *fakeMarathon) push(typ string, data any) {
	b, _ := json.Marshal(data)
	for _, ch := range fm.subscribers {
		ch <- fmt.Sprintf("event: %s\ndata: %s\n\n", typ, b)
	}
}

func (fm *fakeMarathon) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := Env{
		Stdout: &stdout,
		Stderr: &stderr,
		LookupEnv: func(k string) (string, bool) {
			v, ok := map[string]string{"BASALT_MARATHON_URL": fm.srv.URL + "/marathon"}[k]
			return v, ok
		},
	}
	code := Run(t.Context(), append([]string{"marathon"}, args...), env)
	return code, stdout.String(), stderr.String()
}

func (fm *fakeMarathon) recorded() []string {
	fm.mu.Lock()
	defer fm.mu.Unlock()
	return slices.Clone(fm.requests)
}

func TestMarathonGolden(t *testing.T) {
	if *update {
		if err := os.MkdirAll(filepath.Join("testdata", "marathon"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		golden string
		args   []string
	}{
		{"app_list", []string{"app", "list"}},
		{"app_list_json", []string{"app", "list", "--json"}},
		{"app_list_quiet", []string{"app", "list", "-q"}},
		{"app_show", []string{"app", "show", "web"}},
		{"app_show_version", []string{"app", "show", "/web", "--app-version", "-1"}},
		{"app_version_list", []string{"app", "version", "list", "/web", "--max-count", "2"}},
		{"task_list", []string{"task", "list"}},
		{"task_list_app", []string{"task", "list", "/web"}},
		{"task_list_json", []string{"task", "list", "--json", "db/postgres"}},
		{"task_show", []string{"task", "show", "web.instance-a._app.1"}},
		{"deployment_list", []string{"deployment", "list"}},
		{"deployment_list_other_app", []string{"deployment", "list", "/db/postgres"}},
		{"deployment_watch", []string{"deployment", "watch", "dep-scale", "--max-count", "2", "--interval", "0.001"}},
		{"deployment_rollback", []string{"deployment", "rollback", "dep-scale"}},
		{"group_list", []string{"group", "list"}},
		{"leader_show", []string{"leader", "show"}},
		{"leader_show_json", []string{"leader", "show", "--json"}},
		{"about", []string{"about"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			fm := newFakeMarathon(t)
			code, out, errOut := fm.run(t, tt.args...)
			if code != 0 {
				t.Fatalf("exit %d, stderr: %s", code, errOut)
			}
			golden(t, filepath.Join("marathon", tt.golden), out)
		})
	}
}

// TestMarathonCommandsSendRequests checks what the mutating commands send
// and print.
func TestMarathonCommandsSendRequests(t *testing.T) {
	tests := []struct {
		args []string
		reqs []string // the requests, in order
		out  string
	}{
		{
			args: []string{"app", "update", "/web", "--no-wait", "instances=3", "cmd=sleep 10", `env={"A":"b"}`, "labels.x=1"},
			reqs: []string{`PUT /v2/apps/web {"cmd":"sleep 10","env":{"A":"b"},"instances":3,"labels.x":1}`},
			out:  "Created deployment dep-put\n",
		},
		{
			args: []string{"app", "update", "web", "--force", "--no-wait", "cmd=sleep"},
			reqs: []string{`PUT /v2/apps/web?force=true {"cmd":"sleep"}`},
			out:  "Created deployment dep-put\n",
		},
		{
			args: []string{"app", "remove", "/web", "--force"},
			reqs: []string{"DELETE /v2/apps/web?force=true"},
			out:  "Created deployment dep-delete\n",
		},
		{
			args: []string{"app", "restart", "db/postgres"},
			reqs: []string{"POST /v2/apps/db/postgres/restart"},
			out:  "Created deployment dep-post\n",
		},
		{
			args: []string{"app", "kill", "/web", "--host", "agent-1"},
			reqs: []string{"DELETE /v2/apps/web/tasks?host=agent-1"},
			out:  "Killed 1 task(s)\n  web.instance-a._app.1\n",
		},
		{
			args: []string{"app", "stop", "/web"},
			reqs: []string{"GET /v2/apps/web", `PUT /v2/apps/web {"instances":0}`},
			out:  "Created deployment dep-put\n",
		},
		{
			args: []string{"app", "start", "/stopped", "4", "--force"},
			reqs: []string{"GET /v2/apps/stopped", `PUT /v2/apps/stopped?force=true {"instances":4}`},
			out:  "Created deployment dep-put\n",
		},
		{
			args: []string{"app", "start", "/stopped"},
			reqs: []string{"GET /v2/apps/stopped", `PUT /v2/apps/stopped {"instances":1}`},
			out:  "Created deployment dep-put\n",
		},
		{
			args: []string{"group", "scale", "/db", "2"},
			reqs: []string{`PUT /v2/groups/db {"scaleBy":2}`},
			out:  "Created deployment dep-group\n",
		},
		{
			args: []string{"group", "update", "/db", "dependencies=[\"/web\"]"},
			reqs: []string{`PUT /v2/groups/db {"dependencies":["/web"]}`},
			out:  "Created deployment dep-group\n",
		},
		{
			args: []string{"group", "remove", "db", "--force"},
			reqs: []string{"DELETE /v2/groups/db?force=true"},
			out:  "Created deployment dep-group\n",
		},
		{
			args: []string{"deployment", "stop", "dep-scale"},
			reqs: []string{"DELETE /v2/deployments/dep-scale?force=true"},
			out:  "Stopped deployment dep-scale\n",
		},
		{
			args: []string{"task", "kill", "web.instance-a._app.1", "web.instance-b._app.1", "--scale", "--wipe"},
			reqs: []string{`POST /v2/tasks/delete?scale=true&wipe=true {"ids":["web.instance-a._app.1","web.instance-b._app.1"]}`},
			out:  "Created deployment dep-kill\n",
		},
		{
			args: []string{"task", "kill", "web.instance-b._app.1"},
			reqs: []string{`POST /v2/tasks/delete {"ids":["web.instance-b._app.1"]}`},
			out:  "Killed 1 task(s)\n  web.instance-b._app.1\n",
		},
		{
			args: []string{"leader", "delete"},
			reqs: []string{"DELETE /v2/leader"},
			out:  "Leadership abdicated\n",
		},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			fm := newFakeMarathon(t)
			code, out, errOut := fm.run(t, tt.args...)
			if code != 0 {
				t.Fatalf("exit %d, stderr: %s", code, errOut)
			}
			if diff := cmp.Diff(tt.reqs, fm.recorded()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			if out != tt.out {
				t.Errorf("stdout = %q, want %q", out, tt.out)
			}
		})
	}
}

func TestMarathonErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"cmd": "sleep 1"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	notJSON := filepath.Join(t.TempDir(), "not.json")
	if err := os.WriteFile(notJSON, []byte(`{"id": `), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"not found", []string{"app", "show", "/missing"}, 1, "basalt: App '/missing' does not exist (HTTP 404)\n"},
		{"validation details one per line", []string{"app", "add", bad, "--no-wait"}, 1,
			"basalt: Object is not valid (HTTP 422)\n  /id: must not be empty\n  /cpus: must be positive, is too small\n"},
		{"file not JSON", []string{"app", "add", notJSON}, 2, "basalt: " + notJSON + ": not a valid JSON document\n"},
		{"already stopped", []string{"app", "stop", "stopped"}, 1, "basalt: app /stopped is already stopped\n"},
		{"already started", []string{"app", "start", "web"}, 1, "basalt: app /web is already started: 3 instances\n"},
		{"bad instances", []string{"app", "start", "web", "zero"}, 2, "basalt: instances \"zero\": want a positive integer\n"},
		{"mixed update args", []string{"app", "update", "web", "a=1", "file.json"}, 2,
			"basalt: \"file.json\": give either one file (or - for stdin) or key=value pairs\n"},
		{"task not found", []string{"task", "show", "nope"}, 1, "basalt: task nope does not exist\n"},
		{"bad factor", []string{"group", "scale", "/db", "x"}, 2, "basalt: factor \"x\": want a number of 0 or more\n"},
		{"bad version", []string{"app", "show", "web", "--app-version", "-3"}, 1, "basalt: app /web has 3 versions: there is no version -3\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fm := newFakeMarathon(t)
			code, _, errOut := fm.run(t, tt.args...)
			if code != tt.code || errOut != tt.stderr {
				t.Errorf("exit %d, stderr %q; want %d, %q", code, errOut, tt.code, tt.stderr)
			}
		})
	}
}

func TestMarathonBadURL(t *testing.T) {
	var stderr bytes.Buffer
	code := Run(t.Context(), []string{"marathon", "app", "list", "--marathon", "localhost:8080"}, Env{Stderr: &stderr})
	if code != 2 || !strings.Contains(stderr.String(), "--marathon") {
		t.Errorf("exit %d, stderr %q; want 2 and a message about --marathon", code, stderr.String())
	}
}

// writeApp writes an app definition to a temp file and returns its path.
func writeApp(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "app.json")
	if err := os.WriteFile(p, []byte(`{"id": "/new", "cmd": "sleep 1000", "instances": 2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func stepEvent(depID string, action, app string) map[string]any {
	step := map[string]any{"actions": []map[string]string{{"action": action, "app": app}}}
	return map[string]any{"eventType": "deployment_step_success", "plan": map[string]any{"id": depID, "steps": []any{step}}, "currentStep": step}
}

func TestMarathonAppAddFollowsDeployment(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(fm *fakeMarathon)
		code     int
		stdout   string
		stderr   string
		minPolls int
	}{
		{
			name: "success event",
			setup: func(fm *fakeMarathon) {
				fm.onCreate = func(dep string) {
					fm.push("deployment_success", map[string]any{"id": "dep-other", "eventType": "deployment_success"}) // not ours
					fm.push("deployment_step_success", stepEvent(dep, marathon.ActionStart, "/new"))
					fm.push("deployment_success", map[string]any{"id": dep, "eventType": "deployment_success"})
				}
			},
			code:   0,
			stdout: "Created deployment dep-add\nStep 1/1: StartApplication /new\nStep 1/1 finished: StartApplication /new\nDeployment dep-add succeeded\n",
		},
		{
			name: "failure event",
			setup: func(fm *fakeMarathon) {
				fm.onCreate = func(dep string) {
					fm.push("deployment_failed", map[string]any{"id": dep, "eventType": "deployment_failed", "reason": "app /new failed its health checks"})
				}
			},
			code:   1,
			stdout: "Created deployment dep-add\nStep 1/1: StartApplication /new\n",
			stderr: "basalt: deployment dep-add failed: app /new failed its health checks\n",
		},
		{
			name: "no event stream: the deployment vanishing is success",
			setup: func(fm *fakeMarathon) {
				fm.noEvents = true
				fm.onPoll = func(n int) {
					if n == 3 {
						fm.deployments = slices.DeleteFunc(fm.deployments, func(d marathon.Deployment) bool { return d.ID == "dep-add" })
					}
				}
			},
			code:     0,
			stdout:   "Created deployment dep-add\nStep 1/1: StartApplication /new\nDeployment dep-add succeeded\n",
			minPolls: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fm := newFakeMarathon(t)
			tt.setup(fm)
			// A long poll interval makes the event cases depend on events
			// alone; the fallback case polls quickly.
			interval := "1h"
			if tt.minPolls > 0 {
				interval = "1ms"
			}
			code, out, errOut := fm.run(t, "app", "add", writeApp(t), "--poll-interval", interval)
			if code != tt.code || out != tt.stdout || errOut != tt.stderr {
				t.Errorf("exit %d\nstdout %q\nstderr %q\nwant %d\n%q\n%q", code, out, errOut, tt.code, tt.stdout, tt.stderr)
			}
			fm.mu.Lock()
			defer fm.mu.Unlock()
			if fm.polls < max(tt.minPolls, 1) {
				t.Errorf("polled /v2/deployments %d times, want at least %d", fm.polls, max(tt.minPolls, 1))
			}
		})
	}
}

func TestMarathonAppUpdateFollows(t *testing.T) {
	fm := newFakeMarathon(t)
	code, out, errOut := fm.run(t, "app", "update", "/web", "instances=5")
	if code != 0 || out != "Created deployment dep-put\nDeployment dep-put succeeded\n" {
		t.Fatalf("exit %d stdout %q stderr %q", code, out, errOut)
	}
	want := []string{`PUT /v2/apps/web {"instances":5}`, "GET /v2/deployments"}
	if diff := cmp.Diff(want, fm.recorded()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestMarathonAppAddNoWait(t *testing.T) {
	fm := newFakeMarathon(t)
	code, out, errOut := fm.run(t, "app", "add", writeApp(t), "--no-wait")
	if code != 0 || out != "Created deployment dep-add\n" {
		t.Fatalf("exit %d stdout %q stderr %q", code, out, errOut)
	}
	want := []string{`POST /v2/apps {"id": "/new", "cmd": "sleep 1000", "instances": 2}`}
	if diff := cmp.Diff(want, fm.recorded()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestParseProperties(t *testing.T) {
	tests := []struct {
		args    []string
		want    string
		wantErr bool
	}{
		{[]string{"instances=3"}, `{"instances":3}`, false},
		{[]string{"cmd=sleep 1", "cpus=0.5"}, `{"cmd":"sleep 1","cpus":0.5}`, false},
		{[]string{`cmd="quoted"`}, `{"cmd":"quoted"}`, false},
		{[]string{"labels={\"a\":\"b\"}", "ok=true", "x=null"}, `{"labels":{"a":"b"},"ok":true,"x":null}`, false},
		{[]string{"empty="}, `{"empty":""}`, false},
		{[]string{"a=b=c"}, `{"a":"b=c"}`, false},
		{[]string{"=1"}, "", true},
		{[]string{"noequals"}, "", true},
		{[]string{"a=1", "a=2"}, "", true},
	}
	for _, tt := range tests {
		got, err := parseProperties(tt.args)
		if (err != nil) != tt.wantErr || string(got) != tt.want {
			t.Errorf("parseProperties(%q) = %s, %v; want %s, error %v", tt.args, got, err, tt.want, tt.wantErr)
		}
	}
}
