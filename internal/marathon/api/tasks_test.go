package api

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-dcos/basalt/internal/marathon"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
)

// portsBackend has /grp/web with two service ports and three tasks (two
// running), /solo with one port and no tasks, and /noports.
func portsBackend() *fakeBackend {
	f := newFake()
	f.addApp(`{"id":"/grp/web","cmd":"x","cpus":0.1,"mem":32,"portDefinitions":[{"port":10000},{"port":10001}]}`,
		&marathon.AppStatus{Tasks: []v2.Task{
			{ID: "grp_web.1", AppID: "/grp/web", Host: "h1", Ports: []int{31000, 31001}, State: "TASK_RUNNING"},
			{ID: "grp_web.2", AppID: "/grp/web", Host: "h2", Ports: []int{31100, 31101}, State: "TASK_RUNNING"},
			{ID: "grp_web.3", AppID: "/grp/web", Host: "h3", Ports: []int{31200, 31201}, State: "TASK_STAGING"},
		}, Running: 2, Staged: 1})
	f.addApp(`{"id":"/solo","cmd":"x","cpus":0.1,"mem":32,"portDefinitions":[{"port":10005}]}`, nil)
	f.addApp(`{"id":"/noports","cmd":"x","cpus":0.1,"mem":32,"portDefinitions":[]}`, nil)
	return f
}

func taskIDs(t *testing.T, body map[string]any) []string {
	t.Helper()
	ids := []string{}
	for _, x := range body["tasks"].([]any) {
		ids = append(ids, x.(map[string]any)["id"].(string))
	}
	return ids
}

func TestTasksText(t *testing.T) {
	h := newAPI(t, portsBackend())
	want := "grp_web\t10000\th1:31000\th2:31100\t\n" +
		"grp_web\t10001\th1:31001\th2:31101\t\n" +
		"solo\t10005\t\n"
	rec := call(t, h, "GET", "/v2/tasks", "", "Accept", "text/plain")
	wantStatus(t, rec, http.StatusOK)
	if ct := rec.Header().Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if diff := cmp.Diff(want, rec.Body.String()); diff != "" {
		t.Errorf("text (-want +got):\n%s", diff)
	}

	rec = call(t, h, "GET", "/v2/apps/grp/web/tasks", "", "Accept", "text/plain")
	wantStatus(t, rec, http.StatusOK)
	if diff := cmp.Diff(want[:len(want)-len("solo\t10005\t\n")], rec.Body.String()); diff != "" {
		t.Errorf("app text (-want +got):\n%s", diff)
	}
}

func TestTasksJSON(t *testing.T) {
	h := newAPI(t, portsBackend())
	tests := []struct {
		target string
		want   []string
	}{
		{"/v2/tasks", []string{"grp_web.1", "grp_web.2", "grp_web.3"}},
		{"/v2/tasks?status=running", []string{"grp_web.1", "grp_web.2"}},
		{"/v2/tasks?status[]=staging", []string{"grp_web.3"}},
		{"/v2/tasks?status=running&status=staging", []string{"grp_web.1", "grp_web.2", "grp_web.3"}},
		{"/v2/apps/grp/web/tasks", []string{"grp_web.1", "grp_web.2", "grp_web.3"}},
		{"/v2/apps/solo/tasks", []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			rec := call(t, h, "GET", tc.target, "", "Accept", "application/json")
			wantStatus(t, rec, http.StatusOK)
			if diff := cmp.Diff(tc.want, taskIDs(t, obj(t, rec))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	wantStatus(t, call(t, h, "GET", "/v2/apps/absent/tasks", ""), http.StatusNotFound)
}

func TestPrefersText(t *testing.T) {
	tests := []struct {
		accept string
		want   bool
	}{
		{"", false},
		{"*/*", false},
		{"application/json", false},
		{"text/plain", true},
		{"text/plain, */*", true},
		{"application/json, text/plain", false},
		{"text/plain;q=0.5, application/json", false},
		{"text/*", true},
		{"text/plain;q=0, */*", false},
		{"garbage;;=", false},
	}
	for _, tc := range tests {
		r, _ := http.NewRequest("GET", "/", nil)
		if tc.accept != "" {
			r.Header.Set("Accept", tc.accept)
		}
		if got := prefersText(r); got != tc.want {
			t.Errorf("prefersText(%q) = %v, want %v", tc.accept, got, tc.want)
		}
	}
}

func TestKillAppTasks(t *testing.T) {
	f := portsBackend()
	f.killRes = marathon.KillResult{Tasks: []v2.Task{{ID: "grp_web.2", AppID: "/grp/web", Host: "h2"}}}
	h := newAPI(t, f)

	rec := call(t, h, "DELETE", "/v2/apps/grp/web/tasks?host=h2&wipe=true", "")
	wantStatus(t, rec, http.StatusOK)
	if diff := cmp.Diff([]string{"grp_web.2"}, taskIDs(t, obj(t, rec))); diff != "" {
		t.Errorf("killed (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(marathon.KillRequest{TaskIDs: []string{"grp_web.2"}, Wipe: true}, f.kills[0]); diff != "" {
		t.Errorf("kill request (-want +got):\n%s", diff)
	}

	// Every task; with scale the answer is the deployment.
	f.killRes = marathon.KillResult{Deployment: &v2.DeploymentResult{DeploymentID: "dep-k", Version: "v"}}
	rec = call(t, h, "DELETE", "/v2/apps/grp/web/tasks?scale=true&force=true", "")
	wantStatus(t, rec, http.StatusOK)
	if rec.Header().Get("Marathon-Deployment-Id") != "dep-k" {
		t.Errorf("deployment header = %q", rec.Header().Get("Marathon-Deployment-Id"))
	}
	if diff := cmp.Diff(marathon.KillRequest{TaskIDs: []string{"grp_web.1", "grp_web.2", "grp_web.3"}, Scale: true, Force: true}, f.kills[1]); diff != "" {
		t.Errorf("kill request (-want +got):\n%s", diff)
	}

	// One task.
	f.killRes = marathon.KillResult{Tasks: []v2.Task{{ID: "grp_web.1", AppID: "/grp/web", State: "TASK_KILLING"}}}
	rec = call(t, h, "DELETE", "/v2/apps/grp/web/tasks/grp_web.1", "")
	wantStatus(t, rec, http.StatusOK)
	task := obj(t, rec)["task"].(map[string]any)
	if task["id"] != "grp_web.1" || task["state"] != "TASK_KILLING" {
		t.Errorf("task = %v", task)
	}

	rec = call(t, h, "DELETE", "/v2/apps/grp/web/tasks/other.1", "")
	wantStatus(t, rec, http.StatusNotFound)
	if msg := obj(t, rec)["message"]; msg != "Task 'other.1' does not exist" {
		t.Errorf("message = %v", msg)
	}
	wantStatus(t, call(t, h, "DELETE", "/v2/apps/grp/web/tasks?scale=true&wipe=true", ""), http.StatusBadRequest)
	wantStatus(t, call(t, h, "DELETE", "/v2/apps/absent/tasks", ""), http.StatusNotFound)

	// No matching task: nothing is killed.
	n := len(f.kills)
	rec = call(t, h, "DELETE", "/v2/apps/solo/tasks", "")
	wantStatus(t, rec, http.StatusOK)
	if len(f.kills) != n || len(taskIDs(t, obj(t, rec))) != 0 {
		t.Errorf("kills %d, body %s", len(f.kills)-n, rec.Body)
	}
}

func TestDeleteTasks(t *testing.T) {
	f := portsBackend()
	f.killRes = marathon.KillResult{Tasks: []v2.Task{{ID: "grp_web.1"}, {ID: "grp_web.3"}}}
	h := newAPI(t, f)
	rec := call(t, h, "POST", "/v2/tasks/delete?wipe=true", `{"ids":["grp_web.1","grp_web.3"]}`)
	wantStatus(t, rec, http.StatusOK)
	if diff := cmp.Diff([]string{"grp_web.1", "grp_web.3"}, taskIDs(t, obj(t, rec))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if !slices.Equal(f.kills[0].TaskIDs, []string{"grp_web.1", "grp_web.3"}) || !f.kills[0].Wipe {
		t.Errorf("kill request = %+v", f.kills[0])
	}

	rec = call(t, h, "POST", "/v2/tasks/delete", `{"ids":"nope"}`)
	wantStatus(t, rec, http.StatusBadRequest)
	if body := obj(t, rec); body["message"] != "Invalid JSON" || body["details"].([]any)[0].(map[string]any)["path"] != "/ids" {
		t.Errorf("400 body = %v", body)
	}

	f.killErr = &marathon.TaskNotFoundError{ID: "x.1"}
	wantStatus(t, call(t, h, "POST", "/v2/tasks/delete", `{"ids":["x.1"]}`), http.StatusNotFound)
}

func TestQueue(t *testing.T) {
	f := portsBackend()
	since := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	f.snap.Queue = []marathon.QueueEntry{
		{AppID: "/solo", Count: 2, Delay: 1500 * time.Millisecond, Since: since},
		{AppID: "/gone", Count: 1},
	}
	h := newAPI(t, f)
	rec := call(t, h, "GET", "/v2/queue", "")
	wantStatus(t, rec, http.StatusOK)
	queue := obj(t, rec)["queue"].([]any)
	if len(queue) != 1 {
		t.Fatalf("queue = %v, want the one entry whose app exists", queue)
	}
	item := queue[0].(map[string]any)
	if item["app"].(map[string]any)["id"] != "/solo" || item["count"] != 2.0 || item["since"] != "2026-05-06T07:08:09.000Z" {
		t.Errorf("item = %v", item)
	}
	if diff := cmp.Diff(map[string]any{"timeLeftSeconds": 2.0, "overdue": false}, item["delay"]); diff != "" {
		t.Errorf("delay (-want +got):\n%s", diff)
	}
	summary := item["processedOffersSummary"].(map[string]any)
	if _, ok := summary["rejectSummaryLastOffers"].([]any); !ok {
		t.Errorf("rejectSummaryLastOffers not a list: %v", summary)
	}

	wantStatus(t, call(t, h, "DELETE", "/v2/queue/solo/delay", ""), http.StatusOK)
	if !slices.Equal(f.resets, []string{"/solo"}) {
		t.Errorf("resets = %v", f.resets)
	}
	f.resetErr = &marathon.AppNotFoundError{ID: "/x"}
	wantStatus(t, call(t, h, "DELETE", "/v2/queue/x/delay", ""), http.StatusNotFound)
	wantStatus(t, call(t, h, "DELETE", "/v2/queue/x", ""), http.StatusNotFound)
}

func TestDeployments(t *testing.T) {
	f := newFake()
	h := newAPI(t, f)
	rec := call(t, h, "GET", "/v2/deployments", "")
	wantStatus(t, rec, http.StatusOK)
	if diff := cmp.Diff([]any{}, decodeBody(t, rec)); diff != "" {
		t.Errorf("empty list (-want +got):\n%s", diff)
	}

	f.snap.Deployments = []v2.Deployment{{ID: "d1", Version: "v", AffectedApps: []string{"/a"}, AffectedPods: []string{},
		Steps: []v2.DeploymentStep{}, CurrentActions: []v2.CurrentAction{}, CurrentStep: 1, TotalSteps: 1}}
	rec = call(t, h, "GET", "/v2/deployments", "")
	list := decodeBody(t, rec).([]any)
	if len(list) != 1 || list[0].(map[string]any)["id"] != "d1" {
		t.Errorf("list = %v", list)
	}

	// Without force: rolled back, 200 with the rollback deployment.
	f.cancelRes = &v2.DeploymentResult{DeploymentID: "d2", Version: "v2"}
	rec = call(t, h, "DELETE", "/v2/deployments/d1", "")
	wantStatus(t, rec, http.StatusOK)
	if rec.Header().Get("Marathon-Deployment-Id") != "d2" || obj(t, rec)["deploymentId"] != "d2" {
		t.Errorf("rollback answer: %v %s", rec.Header(), rec.Body)
	}
	// With force: 202, empty body.
	rec = call(t, h, "DELETE", "/v2/deployments/d1?force=true", "")
	wantStatus(t, rec, http.StatusAccepted)
	if rec.Body.Len() != 0 {
		t.Errorf("body = %q, want empty", rec.Body)
	}
	if diff := cmp.Diff([]string{"d1 force=false", "d1 force=true"}, f.cancels); diff != "" {
		t.Errorf("cancels (-want +got):\n%s", diff)
	}

	f.cancelErr = &marathon.DeploymentNotFoundError{ID: "zz"}
	rec = call(t, h, "DELETE", "/v2/deployments/zz", "")
	wantStatus(t, rec, http.StatusNotFound)
	if msg := obj(t, rec)["message"]; msg != "DeploymentPlan zz does not exist" {
		t.Errorf("message = %v", msg)
	}
}
