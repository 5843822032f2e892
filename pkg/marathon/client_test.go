package marathon

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// recorded is what the fake server saw of one request.
type recorded struct {
	Method, Path, Query, Body string
	Auth                      string
}

// answer is what the fake server replies.
type answer struct {
	status int
	header map[string]string
	body   string
}

// fakeServer records every request and answers each with ans. The returned
// function lists the requests seen so far.
func fakeServer(t *testing.T, ans answer) (*httptest.Server, func() []recorded) {
	t.Helper()
	var (
		mu  sync.Mutex
		got []recorded
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		got = append(got, recorded{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Body: string(b), Auth: r.Header.Get("Authorization")})
		for k, v := range ans.header {
			w.Header().Set(k, v)
		}
		status := ans.status
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		io.WriteString(w, ans.body)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []recorded {
		mu.Lock()
		defer mu.Unlock()
		return append([]recorded(nil), got...)
	}
}

func TestClientCalls(t *testing.T) {
	type call func(ctx context.Context, c *Client) (any, error)
	tests := []struct {
		name string
		call call
		ans  answer
		want recorded // Auth is not compared here
		res  any
	}{
		{
			name: "apps",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.Apps(ctx, map[string][]string{"embed": {"apps.tasks"}, "label": {"a==b"}})
			},
			ans:  answer{body: `{"apps":[{"id":"/web","instances":2,"tasksRunning":1}]}`},
			want: recorded{Method: "GET", Path: "/prefix/v2/apps", Query: "embed=apps.tasks&label=a%3D%3Db"},
			res:  []AppInfo{{App: App{ID: "/web", Instances: 2}, TasksRunning: 1}},
		},
		{
			name: "app with embed",
			call: func(ctx context.Context, c *Client) (any, error) { return c.App(ctx, "/prod/web", "app.tasks") },
			ans:  answer{body: `{"app":{"id":"/prod/web","tasks":[{"id":"t1"}]}}`},
			want: recorded{Method: "GET", Path: "/prefix/v2/apps/prod/web", Query: "embed=app.tasks"},
			res:  &AppInfo{App: App{ID: "/prod/web"}, Tasks: []Task{{ID: "t1"}}},
		},
		{
			name: "app id escaped per segment",
			call: func(ctx context.Context, c *Client) (any, error) { return c.App(ctx, "a b/c%d?") },
			ans:  answer{body: `{"app":{"id":"/x"}}`},
			want: recorded{Method: "GET", Path: "/prefix/v2/apps/a%20b/c%25d%3F"},
			res:  &AppInfo{App: App{ID: "/x"}},
		},
		{
			name: "create app raw",
			call: func(ctx context.Context, c *Client) (any, error) {
				app, dep, err := c.CreateApp(ctx, []byte(`{"id":"/web","cmd":"sleep 1"}`))
				return []any{app.ID, dep}, err
			},
			ans:  answer{status: 201, header: map[string]string{DeploymentIDHeader: "dep-1"}, body: `{"id":"/web","deployments":[{"id":"dep-1"}]}`},
			want: recorded{Method: "POST", Path: "/prefix/v2/apps", Body: `{"id":"/web","cmd":"sleep 1"}`},
			res:  []any{"/web", "dep-1"},
		},
		{
			name: "create app typed, deployment from body",
			call: func(ctx context.Context, c *Client) (any, error) {
				_, dep, err := c.CreateApp(ctx, struct {
					ID string `json:"id"`
				}{"/w"})
				return dep, err
			},
			ans:  answer{status: 201, body: `{"id":"/w","deployments":[{"id":"dep-2"}]}`},
			want: recorded{Method: "POST", Path: "/prefix/v2/apps", Body: `{"id":"/w"}`},
			res:  "dep-2",
		},
		{
			name: "update app forced",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.UpdateApp(ctx, "/web", []byte(`{"instances":3}`), true)
			},
			ans:  answer{body: `{"deploymentId":"d3","version":"2026-01-01T00:00:00.000Z"}`},
			want: recorded{Method: "PUT", Path: "/prefix/v2/apps/web", Query: "force=true", Body: `{"instances":3}`},
			res:  &DeploymentResult{DeploymentID: "d3", Version: "2026-01-01T00:00:00.000Z"},
		},
		{
			name: "update app that creates it",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.UpdateApp(ctx, "/new", []byte(`{"cmd":"x"}`), false)
			},
			ans:  answer{status: 201, header: map[string]string{DeploymentIDHeader: "d4"}, body: `{"id":"/new","version":"v1"}`},
			want: recorded{Method: "PUT", Path: "/prefix/v2/apps/new", Body: `{"cmd":"x"}`},
			res:  &DeploymentResult{DeploymentID: "d4", Version: "v1"},
		},
		{
			name: "delete app",
			call: func(ctx context.Context, c *Client) (any, error) { return c.DeleteApp(ctx, "/web", false) },
			ans:  answer{body: `{"deploymentId":"d5","version":"v"}`},
			want: recorded{Method: "DELETE", Path: "/prefix/v2/apps/web"},
			res:  &DeploymentResult{DeploymentID: "d5", Version: "v"},
		},
		{
			name: "restart app",
			call: func(ctx context.Context, c *Client) (any, error) { return c.RestartApp(ctx, "/g/web", true) },
			ans:  answer{body: `{"deploymentId":"d6","version":"v"}`},
			want: recorded{Method: "POST", Path: "/prefix/v2/apps/g/web/restart", Query: "force=true"},
			res:  &DeploymentResult{DeploymentID: "d6", Version: "v"},
		},
		{
			name: "app tasks",
			call: func(ctx context.Context, c *Client) (any, error) { return c.AppTasks(ctx, "web") },
			ans:  answer{body: `{"tasks":[{"id":"web.1","appId":"/web","host":"h1","state":"TASK_RUNNING"}]}`},
			want: recorded{Method: "GET", Path: "/prefix/v2/apps/web/tasks"},
			res:  []Task{{ID: "web.1", AppID: "/web", Host: "h1", State: "TASK_RUNNING"}},
		},
		{
			name: "kill app tasks on host",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.KillAppTasks(ctx, "/web", "h1", false, true)
			},
			ans:  answer{body: `{"tasks":[{"id":"web.1"}]}`},
			want: recorded{Method: "DELETE", Path: "/prefix/v2/apps/web/tasks", Query: "host=h1&wipe=true"},
			res:  &KillResult{Tasks: []Task{{ID: "web.1"}}},
		},
		{
			name: "kill app tasks and scale",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.KillAppTasks(ctx, "/web", "", true, false)
			},
			ans:  answer{body: `{"deploymentId":"d7","version":"v"}`},
			want: recorded{Method: "DELETE", Path: "/prefix/v2/apps/web/tasks", Query: "scale=true"},
			res:  &KillResult{Deployment: &DeploymentResult{DeploymentID: "d7", Version: "v"}},
		},
		{
			name: "kill one task",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.KillTask(ctx, "/g/web", "g_web.instance-1._app.1", false, false)
			},
			ans:  answer{body: `{"task":{"id":"g_web.instance-1._app.1"}}`},
			want: recorded{Method: "DELETE", Path: "/prefix/v2/apps/g/web/tasks/g_web.instance-1._app.1"},
			res:  &KillResult{Tasks: []Task{{ID: "g_web.instance-1._app.1"}}},
		},
		{
			name: "app versions",
			call: func(ctx context.Context, c *Client) (any, error) { return c.AppVersions(ctx, "/web") },
			ans:  answer{body: `{"versions":["v2","v1"]}`},
			want: recorded{Method: "GET", Path: "/prefix/v2/apps/web/versions"},
			res:  []string{"v2", "v1"},
		},
		{
			name: "app version",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.AppVersion(ctx, "/web", "2026-01-01T00:00:00.000Z")
			},
			ans:  answer{body: `{"id":"/web","instances":4}`},
			want: recorded{Method: "GET", Path: "/prefix/v2/apps/web/versions/2026-01-01T00:00:00.000Z"},
			res:  &App{ID: "/web", Instances: 4},
		},
		{
			name: "root group",
			call: func(ctx context.Context, c *Client) (any, error) { return c.Groups(ctx, "/") },
			ans:  answer{body: `{"id":"/","groups":[{"id":"/g","apps":[{"id":"/g/a"}]}]}`},
			want: recorded{Method: "GET", Path: "/prefix/v2/groups"},
			res:  &GroupInfo{ID: "/", Groups: []GroupInfo{{ID: "/g", Apps: []AppInfo{{App: App{ID: "/g/a"}}}}}},
		},
		{
			name: "group with embed",
			call: func(ctx context.Context, c *Client) (any, error) { return c.Groups(ctx, "/g", "group.apps") },
			ans:  answer{body: `{"id":"/g"}`},
			want: recorded{Method: "GET", Path: "/prefix/v2/groups/g", Query: "embed=group.apps"},
			res:  &GroupInfo{ID: "/g"},
		},
		{
			name: "create group",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.CreateGroup(ctx, json.RawMessage(`{"id":"/g"}`))
			},
			ans:  answer{status: 201, body: `{"deploymentId":"d8","version":"v"}`},
			want: recorded{Method: "POST", Path: "/prefix/v2/groups", Body: `{"id":"/g"}`},
			res:  &DeploymentResult{DeploymentID: "d8", Version: "v"},
		},
		{
			name: "update group",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.UpdateGroup(ctx, "/g", []byte(`{"version":"v0"}`), false)
			},
			ans:  answer{body: `{"deploymentId":"d9","version":"v"}`},
			want: recorded{Method: "PUT", Path: "/prefix/v2/groups/g", Body: `{"version":"v0"}`},
			res:  &DeploymentResult{DeploymentID: "d9", Version: "v"},
		},
		{
			name: "scale group",
			call: func(ctx context.Context, c *Client) (any, error) { return c.ScaleGroup(ctx, "/g", 1.5, true) },
			ans:  answer{body: `{"deploymentId":"d10","version":"v"}`},
			want: recorded{Method: "PUT", Path: "/prefix/v2/groups/g", Query: "force=true", Body: `{"scaleBy":1.5}`},
			res:  &DeploymentResult{DeploymentID: "d10", Version: "v"},
		},
		{
			name: "delete group",
			call: func(ctx context.Context, c *Client) (any, error) { return c.DeleteGroup(ctx, "/g", true) },
			ans:  answer{body: `{"deploymentId":"d11","version":"v"}`},
			want: recorded{Method: "DELETE", Path: "/prefix/v2/groups/g", Query: "force=true"},
			res:  &DeploymentResult{DeploymentID: "d11", Version: "v"},
		},
		{
			name: "deployments",
			call: func(ctx context.Context, c *Client) (any, error) { return c.Deployments(ctx) },
			ans:  answer{body: `[{"id":"d1","affectedApps":["/web"],"currentStep":1,"totalSteps":2,"currentActions":[{"action":"ScaleApplication","app":"/web"}]}]`},
			want: recorded{Method: "GET", Path: "/prefix/v2/deployments"},
			res: []Deployment{{ID: "d1", AffectedApps: []string{"/web"}, CurrentStep: 1, TotalSteps: 2,
				CurrentActions: []CurrentAction{{Action: ActionScale, App: "/web"}}}},
		},
		{
			name: "rollback deployment",
			call: func(ctx context.Context, c *Client) (any, error) { return c.DeleteDeployment(ctx, "d1", false) },
			ans:  answer{body: `{"deploymentId":"d12","version":"v"}`},
			want: recorded{Method: "DELETE", Path: "/prefix/v2/deployments/d1"},
			res:  &DeploymentResult{DeploymentID: "d12", Version: "v"},
		},
		{
			name: "stop deployment: 202 without body",
			call: func(ctx context.Context, c *Client) (any, error) { return c.DeleteDeployment(ctx, "d1", true) },
			ans:  answer{status: 202},
			want: recorded{Method: "DELETE", Path: "/prefix/v2/deployments/d1", Query: "force=true"},
			res:  &DeploymentResult{},
		},
		{
			name: "tasks by status",
			call: func(ctx context.Context, c *Client) (any, error) { return c.Tasks(ctx, "running", "staging") },
			ans:  answer{body: `{"tasks":[{"id":"t"}]}`},
			want: recorded{Method: "GET", Path: "/prefix/v2/tasks", Query: "status=running&status=staging"},
			res:  []Task{{ID: "t"}},
		},
		{
			name: "kill tasks",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.KillTasks(ctx, []string{"a.1", "b.2"}, true, true)
			},
			ans:  answer{body: `{"deploymentId":"d13","version":"v"}`},
			want: recorded{Method: "POST", Path: "/prefix/v2/tasks/delete", Query: "scale=true&wipe=true", Body: `{"ids":["a.1","b.2"]}`},
			res:  &KillResult{Deployment: &DeploymentResult{DeploymentID: "d13", Version: "v"}},
		},
		{
			name: "queue",
			call: func(ctx context.Context, c *Client) (any, error) { return c.Queue(ctx) },
			ans:  answer{body: `{"queue":[{"app":{"id":"/web"},"count":2,"delay":{"timeLeftSeconds":5,"overdue":false}}]}`},
			want: recorded{Method: "GET", Path: "/prefix/v2/queue"},
			res:  []QueueItem{{App: &AppInfo{App: App{ID: "/web"}}, Count: 2, Delay: QueueDelay{TimeLeftSeconds: 5}}},
		},
		{
			name: "reset delay",
			call: func(ctx context.Context, c *Client) (any, error) { return nil, c.ResetDelay(ctx, "/g/web") },
			ans:  answer{},
			want: recorded{Method: "DELETE", Path: "/prefix/v2/queue/g/web/delay"},
			res:  nil,
		},
		{
			name: "info",
			call: func(ctx context.Context, c *Client) (any, error) { return c.Info(ctx) },
			ans:  answer{body: `{"name":"basalt-marathon","version":"1.10.0","elected":true}`},
			want: recorded{Method: "GET", Path: "/prefix/v2/info"},
			res:  &Info{Name: "basalt-marathon", Version: "1.10.0", Elected: true},
		},
		{
			name: "leader",
			call: func(ctx context.Context, c *Client) (any, error) { return c.Leader(ctx) },
			ans:  answer{body: `{"leader":"10.0.0.1:8080"}`},
			want: recorded{Method: "GET", Path: "/prefix/v2/leader"},
			res:  "10.0.0.1:8080",
		},
		{
			name: "abdicate",
			call: func(ctx context.Context, c *Client) (any, error) { return c.Abdicate(ctx) },
			ans:  answer{body: `{"message":"Leadership abdicated"}`},
			want: recorded{Method: "DELETE", Path: "/prefix/v2/leader"},
			res:  "Leadership abdicated",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, got := fakeServer(t, tt.ans)
			c, err := NewClient(srv.URL+"/prefix/", WithToken("jwt"))
			if err != nil {
				t.Fatal(err)
			}
			res, err := tt.call(t.Context(), c)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			tt.want.Auth = "token=jwt"
			if diff := cmp.Diff([]recorded{tt.want}, got()); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.res, res); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClientHeadersAndHTTPClient(t *testing.T) {
	var gotHeader, gotAccept string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHeader, gotAccept = r.Header.Get("X-Extra"), r.Header.Get("Accept")
		io.WriteString(w, `{"leader":"l:8080"}`)
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL, WithHTTPClient(srv.Client()), WithHeader("X-Extra", "yes"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Leader(t.Context()); err != nil {
		t.Fatal(err)
	}
	if gotHeader != "yes" || gotAccept != "application/json" {
		t.Errorf("X-Extra=%q Accept=%q, want yes, application/json", gotHeader, gotAccept)
	}
}

func TestNewClientRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:8080", "ftp://h", "http://", "://x"} {
		if _, err := NewClient(u); err == nil {
			t.Errorf("NewClient(%q): no error", u)
		}
	}
}

func TestAPIError(t *testing.T) {
	tests := []struct {
		name   string
		ans    answer
		want   ErrorBody
		text   string
		status int
	}{
		{
			name: "validation",
			ans: answer{status: 422, body: `{"message":"Object is not valid","details":[` +
				`{"path":"/upgradeStrategy/minimumHealthCapacity","errors":["is greater than 1"]},` +
				`{"path":"/id","errors":["must not be empty","must be a path"]}]}`},
			want: ErrorBody{Message: "Object is not valid", Details: []ErrorDetail{
				{Path: "/upgradeStrategy/minimumHealthCapacity", Errors: []string{"is greater than 1"}},
				{Path: "/id", Errors: []string{"must not be empty", "must be a path"}},
			}},
			text: "Object is not valid (HTTP 422)\n  /upgradeStrategy/minimumHealthCapacity: is greater than 1\n  /id: must not be empty, must be a path",
		},
		{
			name: "locked",
			ans:  answer{status: 409, body: `{"message":"App is locked by one or more deployments.","deployments":[{"id":"d1"}]}`},
			want: ErrorBody{Message: "App is locked by one or more deployments.", Deployments: []DeploymentRef{{ID: "d1"}}},
			text: "App is locked by one or more deployments. (HTTP 409)\n  deployment: d1",
		},
		{
			name: "not json",
			ans:  answer{status: 502, body: "<html>Bad Gateway</html>\n"},
			want: ErrorBody{Message: "<html>Bad Gateway</html>"},
			text: "<html>Bad Gateway</html> (HTTP 502)",
		},
		{
			name: "empty",
			ans:  answer{status: 503},
			want: ErrorBody{},
			text: "Service Unavailable (HTTP 503)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := fakeServer(t, tt.ans)
			c, err := NewClient(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.App(t.Context(), "/x")
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v (%T), want *APIError", err, err)
			}
			if ae.StatusCode != tt.ans.status || ae.Method != "GET" || ae.Path != "/v2/apps/x" {
				t.Errorf("got status %d %s %s", ae.StatusCode, ae.Method, ae.Path)
			}
			if diff := cmp.Diff(tt.want, ae.Body); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			if got := ae.Error(); got != tt.text {
				t.Errorf("Error() = %q, want %q", got, tt.text)
			}
		})
	}
}

func TestIsNotFound(t *testing.T) {
	srv, _ := fakeServer(t, answer{status: 404, body: `{"message":"App '/x' does not exist"}`})
	c, _ := NewClient(srv.URL)
	_, err := c.App(t.Context(), "/x")
	if !IsNotFound(err) {
		t.Errorf("IsNotFound(%v) = false", err)
	}
	if IsNotFound(errors.New("x")) {
		t.Error("IsNotFound(plain error) = true")
	}
}

func TestTransportError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, _ := NewClient(url)
	_, err := c.Info(t.Context())
	var ae *APIError
	if err == nil || errors.As(err, &ae) || !strings.Contains(err.Error(), "GET "+url+"/v2/info") {
		t.Errorf("err = %v, want a transport error naming the URL", err)
	}
}
