package api

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-dcos/basalt/internal/marathon/deploy"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
)

func TestGetGroups(t *testing.T) {
	f := threeApps()
	f.groupVersions = map[string][]string{"/db": {"2026-01-01T00:00:00.000Z"}}
	h := newAPI(t, f)

	rec := call(t, h, "GET", "/v2/groups", "")
	wantStatus(t, rec, http.StatusOK)
	root := obj(t, rec)
	if root["id"] != "/" {
		t.Errorf("root id = %v", root["id"])
	}
	apps := root["apps"].([]any)
	if len(apps) != 1 || apps[0].(map[string]any)["id"] != "/web" || apps[0].(map[string]any)["tasksRunning"] != 1.0 {
		t.Errorf("root apps = %v", apps)
	}
	groups := root["groups"].([]any)
	if len(groups) != 1 || groups[0].(map[string]any)["id"] != "/db" || len(groups[0].(map[string]any)["apps"].([]any)) != 2 {
		t.Errorf("root groups = %v", groups)
	}
	for _, k := range []string{"pods", "dependencies"} {
		if _, ok := root[k].([]any); !ok {
			t.Errorf("%q is not a list: %v", k, root[k])
		}
	}

	rec = call(t, h, "GET", "/v2/groups/db?embed=group.apps&embed=group.apps.tasks", "")
	wantStatus(t, rec, http.StatusOK)
	db := obj(t, rec)
	if db["id"] != "/db" {
		t.Errorf("id = %v", db["id"])
	}
	for _, a := range db["apps"].([]any) {
		if _, ok := a.(map[string]any)["tasks"].([]any); !ok {
			t.Errorf("group.apps.tasks: no tasks list on %v", a.(map[string]any)["id"])
		}
	}

	// Only groups embedded: apps are empty.
	rec = call(t, h, "GET", "/v2/groups?embed=group.groups", "")
	wantStatus(t, rec, http.StatusOK)
	if got := obj(t, rec)["apps"].([]any); len(got) != 0 {
		t.Errorf("apps rendered without group.apps: %v", got)
	}

	rec = call(t, h, "GET", "/v2/groups/nope", "")
	wantStatus(t, rec, http.StatusNotFound)
	if diff := cmp.Diff(map[string]any{"message": "Group '/nope' does not exist"}, obj(t, rec)); diff != "" {
		t.Errorf("404 (-want +got):\n%s", diff)
	}

	rec = call(t, h, "GET", "/v2/groups/db/versions", "")
	wantStatus(t, rec, http.StatusOK)
	if diff := cmp.Diff([]any{"2026-01-01T00:00:00.000Z"}, decodeBody(t, rec)); diff != "" {
		t.Errorf("versions (-want +got):\n%s", diff)
	}

	// An empty root is still a group.
	rec = call(t, newAPI(t, newFake()), "GET", "/v2/groups/", "")
	wantStatus(t, rec, http.StatusOK)
	if obj(t, rec)["id"] != "/" {
		t.Errorf("empty root = %s", rec.Body)
	}
}

func TestCreateGroup(t *testing.T) {
	f := threeApps()
	h := newAPI(t, f)
	body := `{"id":"/prod","apps":[{"id":"api","cmd":"sleep 1","cpus":0.1,"mem":32}]}`

	rec := call(t, h, "POST", "/v2/groups", body)
	wantStatus(t, rec, http.StatusCreated)
	if rec.Header().Get("Location") != "/v2/groups/prod" || rec.Header().Get("Marathon-Deployment-Id") != "dep-1" {
		t.Errorf("headers = %v", rec.Header())
	}
	if diff := cmp.Diff(map[string]any{"deploymentId": "dep-1", "version": "2026-01-02T03:04:05.000Z"}, obj(t, rec)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	if _, ok := f.root().Apps["/prod/api"]; !ok {
		t.Error("nested app not created")
	}

	rec = call(t, h, "POST", "/v2/groups", body)
	wantStatus(t, rec, http.StatusConflict)
	if diff := cmp.Diff(map[string]any{"message": "A group with id [/prod] already exists."}, obj(t, rec)); diff != "" {
		t.Errorf("409 (-want +got):\n%s", diff)
	}

	// The path names the group when the body does not.
	rec = call(t, h, "POST", "/v2/groups/stage", `{"apps":[{"id":"api","cmd":"sleep 1","cpus":0.1,"mem":32}]}`)
	wantStatus(t, rec, http.StatusCreated)
	if _, ok := f.root().Apps["/stage/api"]; !ok {
		t.Errorf("apps = %v", f.root().Apps)
	}

	rec = call(t, h, "POST", "/v2/groups", `{"id":"/bad","apps":[{"id":"x","cmd":"sleep 1","cpus":-1,"mem":32}]}`)
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	rec = call(t, h, "POST", "/v2/groups", `[]`)
	wantStatus(t, rec, http.StatusBadRequest)
}

func TestUpdateGroup(t *testing.T) {
	f := threeApps()
	h := newAPI(t, f)

	// scaleBy scales every app under the group, rounding up.
	rec := call(t, h, "PUT", "/v2/groups/db", `{"scaleBy":1.5}`)
	wantStatus(t, rec, http.StatusOK)
	root := f.root()
	if root.Apps["/db/pg"].Instances != 2 || root.Apps["/db/redis"].Instances != 2 || root.Apps["/web"].Instances != 2 {
		t.Errorf("instances after scaleBy 1.5: pg %d redis %d web %d", root.Apps["/db/pg"].Instances, root.Apps["/db/redis"].Instances, root.Apps["/web"].Instances)
	}
	rec = call(t, h, "PUT", "/v2/groups/db", `{"scaleBy":0.3}`)
	wantStatus(t, rec, http.StatusOK)
	if got := f.root().Apps["/db/pg"].Instances; got != 1 {
		t.Errorf("2*0.3 rounded up = %d, want 1", got)
	}
	wantStatus(t, call(t, h, "PUT", "/v2/groups/nope", `{"scaleBy":2}`), http.StatusNotFound)
	wantStatus(t, call(t, h, "PUT", "/v2/groups/db", `{"scaleBy":-2}`), http.StatusUnprocessableEntity)

	// dryRun answers the plan and changes nothing.
	f.plan = deploy.Plan{Steps: [][]deploy.Action{{{Kind: v2.ActionScale, AppID: "/db/pg"}}}}
	before := f.root()
	rec = call(t, h, "PUT", "/v2/groups/db?dryRun=true", `{"apps":[{"id":"pg","cmd":"postgres","cpus":1,"mem":512,"instances":4}]}`)
	wantStatus(t, rec, http.StatusOK)
	want := map[string]any{"steps": []any{map[string]any{"actions": []any{map[string]any{"action": "ScaleApplication", "app": "/db/pg"}}}}}
	if diff := cmp.Diff(want, obj(t, rec)); diff != "" {
		t.Errorf("dry run (-want +got):\n%s", diff)
	}
	if !f.lastUpdate(t).DryRun {
		t.Error("DryRun not passed on")
	}
	if diff := cmp.Diff(before, f.root()); diff != "" {
		t.Errorf("dry run changed the root:\n%s", diff)
	}

	// PUT with apps replaces the group's apps.
	rec = call(t, h, "PUT", "/v2/groups/db", `{"apps":[{"id":"pg","cmd":"postgres","cpus":1,"mem":512,"instances":4}]}`)
	wantStatus(t, rec, http.StatusOK)
	root = f.root()
	if root.Apps["/db/pg"].Instances != 4 {
		t.Errorf("pg instances = %d", root.Apps["/db/pg"].Instances)
	}
	if _, ok := root.Apps["/db/redis"]; ok {
		t.Error("PUT with apps kept an app it did not list")
	}

	// PATCH merges.
	rec = call(t, h, "PATCH", "/v2/groups/db", `{"apps":[{"id":"cache","cmd":"memcached","cpus":0.5,"mem":64}]}`)
	wantStatus(t, rec, http.StatusOK)
	root = f.root()
	if _, ok := root.Apps["/db/pg"]; !ok {
		t.Error("PATCH removed an app")
	}
	if _, ok := root.Apps["/db/cache"]; !ok {
		t.Error("PATCH did not add the app")
	}
}

func TestRollbackGroup(t *testing.T) {
	f := threeApps()
	const then = "2026-01-01T00:00:00.000Z"
	f.groupVersions = map[string][]string{"/db": {"2026-03-01T00:00:00.000Z", then}}
	f.appVersions = map[string][]string{
		"/db/pg":    {"2026-03-01T00:00:00.000Z", "2025-12-01T00:00:00.000Z"},
		"/db/redis": {"2026-02-01T00:00:00.000Z"}, // created after then
	}
	old := f.root().Apps["/db/pg"]
	old.Instances = 9
	old.Version = "2025-12-01T00:00:00.000Z"
	f.appAt = map[string]v2.App{"/db/pg@2025-12-01T00:00:00.000Z": old}
	h := newAPI(t, f)

	rec := call(t, h, "PUT", "/v2/groups/db", `{"version":"`+then+`"}`)
	wantStatus(t, rec, http.StatusOK)
	root := f.root()
	if root.Apps["/db/pg"].Instances != 9 {
		t.Errorf("pg not rolled back: %+v", root.Apps["/db/pg"])
	}
	if _, ok := root.Apps["/db/redis"]; ok {
		t.Error("app created after the version kept")
	}
	if _, ok := root.Apps["/web"]; !ok {
		t.Error("app outside the group touched")
	}

	rec = call(t, h, "PUT", "/v2/groups/db", `{"version":"1999-01-01T00:00:00.000Z"}`)
	wantStatus(t, rec, http.StatusNotFound)
}

func TestDeleteGroup(t *testing.T) {
	f := threeApps()
	h := newAPI(t, f)
	rec := call(t, h, "DELETE", "/v2/groups/db?force=true", "")
	wantStatus(t, rec, http.StatusOK)
	if rec.Header().Get("Marathon-Deployment-Id") != "dep-1" || !f.lastUpdate(t).Force {
		t.Errorf("header %v force %v", rec.Header(), f.lastUpdate(t).Force)
	}
	root := f.root()
	if len(root.Apps) != 1 || root.Apps["/web"].ID != "/web" {
		t.Errorf("apps after delete = %v", root.Apps)
	}
	wantStatus(t, call(t, h, "DELETE", "/v2/groups/db", ""), http.StatusNotFound)

	rec = call(t, h, "DELETE", "/v2/groups", "")
	wantStatus(t, rec, http.StatusOK)
	if n := len(f.root().Apps); n != 0 {
		t.Errorf("%d apps left after deleting the root", n)
	}
}
