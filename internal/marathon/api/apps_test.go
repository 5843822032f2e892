package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-dcos/basalt/internal/marathon"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
)

// threeApps is a backend with /web (2 running tasks, one deployment),
// /db/pg and /db/redis (no status).
func threeApps() *fakeBackend {
	f := newFake()
	f.addApp(`{"id":"/web","cmd":"python3 -m http.server $PORT0","instances":2,"cpus":0.1,"mem":32,"labels":{"tier":"frontend","env":"prod"}}`,
		&marathon.AppStatus{
			Tasks: []v2.Task{
				{ID: "web.1", AppID: "/web", Host: "a1", Ports: []int{31001}, State: "TASK_RUNNING"},
				{ID: "web.2", AppID: "/web", Host: "a2", Ports: []int{31002}, State: "TASK_STAGING"},
			},
			Staged: 1, Running: 1, Healthy: 1,
			Deployments:     []v2.DeploymentRef{{ID: "dep-0"}},
			LastTaskFailure: &v2.TaskFailure{AppID: "/web", TaskID: "web.0", State: "TASK_FAILED"},
			Readiness:       []v2.ReadinessResult{{Name: "ready", TaskID: "web.2"}},
		})
	f.addApp(`{"id":"/db/pg","cmd":"postgres","cpus":1,"mem":512,"labels":{"tier":"backend"}}`, nil)
	f.addApp(`{"id":"/db/redis","cmd":"redis-server","cpus":1,"mem":128}`, nil)
	return f
}

func appIDs(t *testing.T, body map[string]any) []string {
	t.Helper()
	apps, ok := body["apps"].([]any)
	if !ok {
		t.Fatalf("no apps list: %v", body)
	}
	ids := []string{}
	for _, a := range apps {
		ids = append(ids, a.(map[string]any)["id"].(string))
	}
	return ids
}

func TestListAppsFilters(t *testing.T) {
	h := newAPI(t, threeApps())
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"/db/pg", "/db/redis", "/web"}},
		{"cmd=postgres", []string{"/db/pg"}},
		{"cmd=SERVER", []string{"/db/redis", "/web"}},
		{"id=db", []string{"/db/pg", "/db/redis"}},
		{"id=/WEB", []string{"/web"}},
		{"label=tier", []string{"/db/pg", "/web"}},
		{"label=tier==frontend", []string{"/web"}},
		{"label=tier!=frontend", []string{"/db/pg"}},
		{"label=" + url.QueryEscape("tier in (frontend, backend)"), []string{"/db/pg", "/web"}},
		{"label=" + url.QueryEscape("tier notin (frontend)"), []string{"/db/pg"}},
		{"label=tier,env==prod", []string{"/web"}},
		{"label=nope", []string{}},
		{"id=db&label=tier", []string{"/db/pg"}},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			rec := call(t, h, "GET", "/v2/apps?"+tc.query, "")
			wantStatus(t, rec, http.StatusOK)
			if diff := cmp.Diff(tc.want, appIDs(t, obj(t, rec))); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}

	rec := call(t, h, "GET", "/v2/apps?label="+url.QueryEscape("tier in (a"), "")
	wantStatus(t, rec, http.StatusBadRequest)
	if msg, _ := obj(t, rec)["message"].(string); msg == "" {
		t.Errorf("400 without a message: %s", rec.Body)
	}

	rec = call(t, h, "GET", "/v2/apps/db/*", "")
	wantStatus(t, rec, http.StatusOK)
	if diff := cmp.Diff([]string{"/db/pg", "/db/redis"}, appIDs(t, obj(t, rec))); diff != "" {
		t.Errorf("/v2/apps/db/* (-want +got):\n%s", diff)
	}
}

func TestListAppsEmbed(t *testing.T) {
	h := newAPI(t, threeApps())
	tests := []struct {
		name  string
		query string
		want  []string // optional keys present on every app
	}{
		{"none", "", nil},
		{"counts and deployments need nothing", "embed=apps.counts&embed=apps.deployments", nil},
		{"tasks", "embed=apps.tasks", []string{"tasks"}},
		{"comma-separated", "embed=apps.tasks,apps.lastTaskFailure", []string{"tasks", "lastTaskFailure"}},
		{"repeated", "embed=apps.readiness&embed=apps.taskStats", []string{"readinessCheckResults", "taskStats"}},
		{"failures", "embed=apps.failures", []string{"tasks", "lastTaskFailure"}},
		{"wrong prefix", "embed=app.tasks", nil},
	}
	optional := []string{"tasks", "lastTaskFailure", "readinessCheckResults", "taskStats"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := call(t, h, "GET", "/v2/apps?"+tc.query, "")
			wantStatus(t, rec, http.StatusOK)
			for _, a := range obj(t, rec)["apps"].([]any) {
				app := a.(map[string]any)
				for _, always := range []string{"tasksStaged", "tasksRunning", "tasksHealthy", "tasksUnhealthy", "deployments", "labels", "env", "constraints"} {
					if _, ok := app[always]; !ok {
						t.Errorf("%s: %q missing", app["id"], always)
					}
				}
				for _, k := range optional {
					_, got := app[k]
					want := slices.Contains(tc.want, k)
					// lastTaskFailure is only rendered when there is one.
					if k == "lastTaskFailure" && app["id"] != "/web" {
						want = false
					}
					if got != want {
						t.Errorf("%s: %q present = %v, want %v", app["id"], k, got, want)
					}
				}
			}
		})
	}

	// Embedded but empty lists are [] rather than absent.
	rec := call(t, h, "GET", "/v2/apps?id=redis&embed=apps.tasks", "")
	apps := obj(t, rec)["apps"].([]any)
	if tasks, ok := apps[0].(map[string]any)["tasks"].([]any); !ok || len(tasks) != 0 {
		t.Errorf("redis tasks = %v, want []", apps[0].(map[string]any)["tasks"])
	}
}

func TestGetApp(t *testing.T) {
	h := newAPI(t, threeApps())

	rec := call(t, h, "GET", "/v2/apps/web?embed=app.tasks&embed=app.deployments", "")
	wantStatus(t, rec, http.StatusOK)
	app := obj(t, rec)["app"].(map[string]any)
	if app["id"] != "/web" || app["tasksRunning"] != 1.0 || app["tasksStaged"] != 1.0 {
		t.Errorf("app = %v", app)
	}
	if tasks := app["tasks"].([]any); len(tasks) != 2 {
		t.Errorf("tasks = %v, want 2", tasks)
	}
	if diff := cmp.Diff([]any{map[string]any{"id": "dep-0"}}, app["deployments"]); diff != "" {
		t.Errorf("deployments (-want +got):\n%s", diff)
	}

	// Marathon embeds tasks in GET /v2/apps/{id} even when not asked.
	rec = call(t, h, "GET", "/v2/apps/db/pg", "")
	wantStatus(t, rec, http.StatusOK)
	if _, ok := obj(t, rec)["app"].(map[string]any)["tasks"]; !ok {
		t.Error("GET /v2/apps/{id} without embed has no tasks")
	}

	rec = call(t, h, "GET", "/v2/apps/nope", "")
	wantStatus(t, rec, http.StatusNotFound)
	if diff := cmp.Diff(map[string]any{"message": "App '/nope' does not exist"}, obj(t, rec)); diff != "" {
		t.Errorf("404 body (-want +got):\n%s", diff)
	}

	rec = call(t, h, "GET", "/v2/apps/Bad_ID", "")
	wantStatus(t, rec, http.StatusBadRequest)
}

func TestAppVersions(t *testing.T) {
	f := threeApps()
	f.appVersions = map[string][]string{"/web": {"2026-01-02T00:00:00.000Z", "2026-01-01T00:00:00.000Z"}}
	f.appAt = map[string]v2.App{"/web@2026-01-01T00:00:00.000Z": {ID: "/web", Instances: 7, Version: "2026-01-01T00:00:00.000Z"}}
	h := newAPI(t, f)

	rec := call(t, h, "GET", "/v2/apps/web/versions", "")
	wantStatus(t, rec, http.StatusOK)
	if diff := cmp.Diff(map[string]any{"versions": []any{"2026-01-02T00:00:00.000Z", "2026-01-01T00:00:00.000Z"}}, obj(t, rec)); diff != "" {
		t.Errorf("versions (-want +got):\n%s", diff)
	}
	rec = call(t, h, "GET", "/v2/apps/web/versions/2026-01-01T00:00:00.000Z", "")
	wantStatus(t, rec, http.StatusOK)
	if got := obj(t, rec); got["instances"] != 7.0 || got["id"] != "/web" {
		t.Errorf("app at version = %v", got)
	}
	rec = call(t, h, "GET", "/v2/apps/web/versions/2020-01-01T00:00:00.000Z", "")
	wantStatus(t, rec, http.StatusNotFound)
	if msg := obj(t, rec)["message"]; msg != "App '/web' does not exist in version 2020-01-01T00:00:00.000Z" {
		t.Errorf("message = %v", msg)
	}
	wantStatus(t, call(t, h, "GET", "/v2/apps/nope/versions", ""), http.StatusNotFound)
}

const webApp = `{"id":"/api","cmd":"sleep 1000","instances":2,"cpus":0.1,"mem":32,"labels":{"team":"a"}}`

func TestCreateApp(t *testing.T) {
	f := newFake()
	h := newAPI(t, f)

	rec := call(t, h, "POST", "/v2/apps", webApp)
	wantStatus(t, rec, http.StatusCreated)
	if got := rec.Header().Get("Location"); got != "/v2/apps/api" {
		t.Errorf("Location = %q", got)
	}
	if got := rec.Header().Get("Marathon-Deployment-Id"); got != "dep-1" {
		t.Errorf("Marathon-Deployment-Id = %q", got)
	}
	body := obj(t, rec)
	if body["id"] != "/api" || body["instances"] != 2.0 || body["version"] != "2026-01-02T03:04:05.000Z" {
		t.Errorf("body = %v", body)
	}
	if diff := cmp.Diff([]any{map[string]any{"id": "dep-1"}}, body["deployments"]); diff != "" {
		t.Errorf("deployments (-want +got):\n%s", diff)
	}
	if _, ok := f.root().Apps["/api"]; !ok {
		t.Error("app not added to the root")
	}

	// A second POST conflicts.
	rec = call(t, h, "POST", "/v2/apps", webApp)
	wantStatus(t, rec, http.StatusConflict)
	if diff := cmp.Diff(map[string]any{"message": "An app with id [/api] already exists."}, obj(t, rec)); diff != "" {
		t.Errorf("409 body (-want +got):\n%s", diff)
	}

	// A relative id is resolved against the root; force is passed on.
	rec = call(t, h, "POST", "/v2/apps?force=true", `{"id":"grp/rel","cmd":"sleep 1","cpus":0.1,"mem":32}`)
	wantStatus(t, rec, http.StatusCreated)
	if rec.Header().Get("Location") != "/v2/apps/grp/rel" || !f.lastUpdate(t).Force {
		t.Errorf("Location %q, force %v", rec.Header().Get("Location"), f.lastUpdate(t).Force)
	}
}

func TestCreateAppErrors(t *testing.T) {
	h := newAPI(t, newFake())

	rec := call(t, h, "POST", "/v2/apps", `{"id": 5`)
	wantStatus(t, rec, http.StatusBadRequest)
	body := obj(t, rec)
	if body["message"] != "Invalid JSON" || len(body["details"].([]any)) == 0 {
		t.Errorf("400 body = %v", body)
	}

	rec = call(t, h, "POST", "/v2/apps", `{"id":5,"cmd":"x"}`)
	wantStatus(t, rec, http.StatusBadRequest)
	if d := obj(t, rec)["details"].([]any)[0].(map[string]any); d["path"] != "/id" {
		t.Errorf("decode detail = %v, want path /id", d)
	}

	rec = call(t, h, "POST", "/v2/apps", `{"id":"/x","cmd":"sleep 1","cpus":-1,"mem":32}`)
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	body = obj(t, rec)
	if body["message"] != "Object is not valid" {
		t.Errorf("422 message = %v", body["message"])
	}
	var paths []string
	for _, d := range body["details"].([]any) {
		paths = append(paths, d.(map[string]any)["path"].(string))
		if errs := d.(map[string]any)["errors"].([]any); len(errs) == 0 {
			t.Errorf("detail without errors: %v", d)
		}
	}
	if !slices.Contains(paths, "/cpus") {
		t.Errorf("422 detail paths = %v, want /cpus among them", paths)
	}
}

func TestCreateAppBodyLimit(t *testing.T) {
	h := New(newFake(), Options{MaxBodyBytes: 16}, testLogger(t)).Handler()
	rec := call(t, h, "POST", "/v2/apps", webApp)
	wantStatus(t, rec, http.StatusRequestEntityTooLarge)
	if obj(t, rec)["message"] == nil {
		t.Error("413 without a message")
	}
}

func TestPutApp(t *testing.T) {
	f := threeApps()
	h := newAPI(t, f)

	// Absent: created, 201.
	rec := call(t, h, "PUT", "/v2/apps/new", `{"cmd":"sleep 5","cpus":0.1,"mem":32}`)
	wantStatus(t, rec, http.StatusCreated)
	if diff := cmp.Diff(map[string]any{"deploymentId": "dep-1", "version": "2026-01-02T03:04:05.000Z"}, obj(t, rec)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	if rec.Header().Get("Marathon-Deployment-Id") != "dep-1" {
		t.Error("no Marathon-Deployment-Id")
	}
	if app, ok := f.root().Apps["/new"]; !ok || app.ID != "/new" {
		t.Errorf("created app = %+v", app)
	}

	// Existing, partial (default): only instances changes.
	rec = call(t, h, "PUT", "/v2/apps/web?force=true", `{"instances":5}`)
	wantStatus(t, rec, http.StatusOK)
	web := f.root().Apps["/web"]
	if web.Instances != 5 || web.Cmd == nil || *web.Cmd != "python3 -m http.server $PORT0" || web.Labels["tier"] != "frontend" {
		t.Errorf("merged app = instances %d cmd %v labels %v", web.Instances, web.Cmd, web.Labels)
	}
	if !f.lastUpdate(t).Force {
		t.Error("force not passed on")
	}

	// partialUpdate=false replaces the definition; the path's id wins.
	rec = call(t, h, "PUT", "/v2/apps/web?partialUpdate=false", `{"id":"/other","cmd":"sleep 9","cpus":0.2,"mem":64}`)
	wantStatus(t, rec, http.StatusOK)
	root := f.root()
	web = root.Apps["/web"]
	if *web.Cmd != "sleep 9" || len(web.Labels) != 0 || web.Instances != 1 {
		t.Errorf("replaced app = cmd %v labels %v instances %d", *web.Cmd, web.Labels, web.Instances)
	}
	if _, ok := root.Apps["/other"]; ok {
		t.Error("body id used instead of the path's")
	}

	// PATCH is partial and never creates.
	rec = call(t, h, "PATCH", "/v2/apps/db/pg", `{"mem":1024}`)
	wantStatus(t, rec, http.StatusOK)
	if pg := f.root().Apps["/db/pg"]; pg.Mem != 1024 || *pg.Cmd != "postgres" {
		t.Errorf("patched pg = mem %v cmd %v", pg.Mem, *pg.Cmd)
	}
	rec = call(t, h, "PATCH", "/v2/apps/absent", `{"mem":1024}`)
	wantStatus(t, rec, http.StatusNotFound)

	// Invalid merged result: 422.
	rec = call(t, h, "PUT", "/v2/apps/web", `{"mem":-5}`)
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	rec = call(t, h, "PUT", "/v2/apps/web?partialUpdate=maybe", `{}`)
	wantStatus(t, rec, http.StatusBadRequest)
}

func TestBulkApps(t *testing.T) {
	f := threeApps()
	h := newAPI(t, f)
	rec := call(t, h, "PUT", "/v2/apps", `[{"id":"/web","instances":3},{"id":"/fresh","cmd":"sleep 1","cpus":0.1,"mem":32}]`)
	wantStatus(t, rec, http.StatusOK)
	if rec.Header().Get("Marathon-Deployment-Id") != "dep-1" {
		t.Error("no deployment header")
	}
	root := f.root()
	if root.Apps["/web"].Instances != 3 || root.Apps["/fresh"].ID != "/fresh" {
		t.Errorf("bulk result: web %d, fresh %q", root.Apps["/web"].Instances, root.Apps["/fresh"].ID)
	}
	if n := len(f.updates); n != 1 {
		t.Errorf("%d updates, want one deployment", n)
	}

	wantStatus(t, call(t, h, "PATCH", "/v2/apps", `[{"id":"/missing","instances":1}]`), http.StatusNotFound)
	rec = call(t, h, "PUT", "/v2/apps", `[{"id":"/web","instances":1},{"id":"/db/pg","mem":-1}]`)
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	if d := obj(t, rec)["details"].([]any)[0].(map[string]any); d["path"] != "(1)/mem" {
		t.Errorf("bulk detail = %v, want path (1)/mem", d)
	}
	wantStatus(t, call(t, h, "PUT", "/v2/apps", `[{"instances":1}]`), http.StatusBadRequest)
	wantStatus(t, call(t, h, "PUT", "/v2/apps", `{"id":"/x"}`), http.StatusBadRequest)
}

func TestDeleteAndRestartApp(t *testing.T) {
	f := threeApps()
	h := newAPI(t, f)

	rec := call(t, h, "POST", "/v2/apps/web/restart?force=true", "")
	wantStatus(t, rec, http.StatusOK)
	if req := f.lastUpdate(t); !slices.Equal(req.Restart, []string{"/web"}) || !req.Force {
		t.Errorf("restart request = %+v", req)
	}
	if rec.Header().Get("Marathon-Deployment-Id") != "dep-1" {
		t.Error("no deployment header on restart")
	}
	wantStatus(t, call(t, h, "POST", "/v2/apps/nope/restart", ""), http.StatusNotFound)
	wantStatus(t, call(t, h, "POST", "/v2/apps/web/other", ""), http.StatusNotFound)

	rec = call(t, h, "DELETE", "/v2/apps/db/pg", "")
	wantStatus(t, rec, http.StatusOK)
	if _, ok := f.root().Apps["/db/pg"]; ok {
		t.Error("app not deleted")
	}
	rec = call(t, h, "DELETE", "/v2/apps/db/pg", "")
	wantStatus(t, rec, http.StatusNotFound)
	if msg := obj(t, rec)["message"]; msg != "App '/db/pg' does not exist" {
		t.Errorf("message = %v", msg)
	}
}

func TestLockedAppConflict(t *testing.T) {
	f := threeApps()
	f.updateErr = fmt.Errorf("update: %w", &marathon.ConflictError{Deployments: []string{"d-9", "d-10"}})
	h := newAPI(t, f)
	rec := call(t, h, "PUT", "/v2/apps/web", `{"instances":1}`)
	wantStatus(t, rec, http.StatusConflict)
	want := map[string]any{
		"message":     "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/d-9'.",
		"deployments": []any{map[string]any{"id": "d-9"}, map[string]any{"id": "d-10"}},
	}
	if diff := cmp.Diff(want, obj(t, rec)); diff != "" {
		t.Errorf("409 body (-want +got):\n%s", diff)
	}
}

func TestNotLeaderDuringUpdate(t *testing.T) {
	f := threeApps()
	f.updateErr = &marathon.NotLeaderError{}
	rec := call(t, newAPI(t, f), "DELETE", "/v2/apps/web", "")
	wantStatus(t, rec, http.StatusServiceUnavailable)
}

func TestInternalErrorIsHidden(t *testing.T) {
	f := threeApps()
	f.updateErr = errors.New("store: disk on fire")
	rec := call(t, newAPI(t, f), "DELETE", "/v2/apps/web", "")
	wantStatus(t, rec, http.StatusInternalServerError)
	if diff := cmp.Diff(map[string]any{"message": "internal error"}, obj(t, rec)); diff != "" {
		t.Errorf("500 body (-want +got):\n%s", diff)
	}
}
