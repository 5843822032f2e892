package marathon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxResponseBytes bounds how much of one response the client reads: a
// /v2/apps of a big cluster with embeds is a few MiB, never this.
const maxResponseBytes = 256 << 20

// DeploymentIDHeader is the response header of mutating calls that names the
// deployment they started.
const DeploymentIDHeader = "Marathon-Deployment-Id"

// Client talks to the Marathon /v2 REST API of one Marathon (or of a proxy
// in front of it, such as Admin Router's /service/marathon). It is safe for
// concurrent use. Build it with NewClient.
type Client struct {
	base   *url.URL // without a trailing slash
	http   *http.Client
	header http.Header
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send its requests through hc (timeouts,
// TLS, proxies). The default is a client without a timeout. The event stream
// ignores hc's Timeout, which would otherwise cut it off.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.http = hc
		}
	}
}

// WithHeader adds a header to every request.
func WithHeader(key, value string) Option {
	return func(c *Client) { c.header.Add(key, value) }
}

// WithToken authenticates every request with a DC/OS ACS token
// (Authorization: token=<jwt>).
func WithToken(token string) Option {
	return func(c *Client) { c.header.Set("Authorization", "token="+token) }
}

// NewClient returns a client of the Marathon at baseURL, which may carry a
// path prefix (https://cluster/service/marathon). It does no I/O.
func NewClient(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("marathon URL %q: %w", baseURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("marathon URL %q: want http(s)://host[:port][/prefix]", baseURL)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")
	u.RawQuery, u.Fragment = "", ""
	c := &Client{base: u, http: &http.Client{}, header: http.Header{}}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// APIError is a non-2xx answer. Body is Marathon's error body; for an answer
// that is not one (a proxy's HTML page), Body.Message holds the start of it.
type APIError struct {
	StatusCode int
	Method     string
	Path       string // the request path, for logs; Error does not repeat it
	Body       ErrorBody
}

// Error is Marathon's message followed by one line per detail
// ("  /path: error, error") and per blocking deployment.
func (e *APIError) Error() string {
	var b strings.Builder
	msg := e.Body.Message
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	fmt.Fprintf(&b, "%s (HTTP %d)", msg, e.StatusCode)
	for _, d := range e.Body.Details {
		path := d.Path
		if path == "" {
			path = "/"
		}
		fmt.Fprintf(&b, "\n  %s: %s", path, strings.Join(d.Errors, ", "))
	}
	for _, d := range e.Body.Deployments {
		fmt.Fprintf(&b, "\n  deployment: %s", d.ID)
	}
	return b.String()
}

// IsNotFound reports whether err is an *APIError with status 404.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound
}

// response is a 2xx answer read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

// idSegments splits an app, group or deployment ID into path segments:
// "/prod/web" and "prod/web/" both give ["prod", "web"].
func idSegments(id string) []string {
	var segs []string
	for s := range strings.SplitSeq(id, "/") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	return segs
}

// endpoint is the URL of base + /segs..., each segment escaped on its own
// (url.JoinPath would unescape them, so a "%" or "?" in an ID would break).
func (c *Client) endpoint(query url.Values, segs ...string) *url.URL {
	u := *c.base
	esc := make([]string, len(segs))
	for i, s := range segs {
		esc[i] = url.PathEscape(s)
	}
	raw := u.EscapedPath() + "/" + strings.Join(esc, "/")
	u.Path, _ = url.PathUnescape(raw) // the segments were just escaped: this cannot fail
	u.RawPath = raw
	u.RawQuery = query.Encode()
	return &u
}

// request builds a request with the client's headers.
func (c *Client) request(ctx context.Context, method string, u *url.URL, body []byte) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u.Redacted(), err)
	}
	for k, vs := range c.header {
		req.Header[k] = append([]string(nil), vs...)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// send does one call and returns the 2xx answer or an *APIError.
func (c *Client) send(ctx context.Context, method string, query url.Values, body []byte, segs ...string) (*response, error) {
	u := c.endpoint(query, segs...)
	req, err := c.request(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// *url.Error repeats method and URL; say them once.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%s %s: %w", method, u.Redacted(), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read body: %w", method, u.Redacted(), err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, newAPIError(method, u.Path, resp.StatusCode, data)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

func newAPIError(method, path string, status int, data []byte) *APIError {
	e := &APIError{StatusCode: status, Method: method, Path: path}
	if err := json.Unmarshal(data, &e.Body); err != nil || (e.Body.Message == "" && len(e.Body.Details) == 0) {
		msg := strings.TrimSpace(string(data))
		if len(msg) > 512 {
			msg = msg[:512] + "..."
		}
		e.Body = ErrorBody{Message: msg}
	}
	return e
}

// decode unmarshals a response body into out, naming the call on error.
func decode(r *response, what string, out any) error {
	if err := json.Unmarshal(r.body, out); err != nil {
		return fmt.Errorf("decode %s: %w", what, err)
	}
	return nil
}

// deploymentResult reads {"deploymentId","version"}, falling back to the
// Marathon-Deployment-Id header when the body is something else (the App of
// a PUT that created the app) or empty (a forced deployment cancel).
func deploymentResult(r *response, what string) (*DeploymentResult, error) {
	var res DeploymentResult
	if len(bytes.TrimSpace(r.body)) > 0 {
		if err := decode(r, what, &res); err != nil {
			return nil, err
		}
	}
	if res.DeploymentID == "" {
		res.DeploymentID = r.header.Get(DeploymentIDHeader)
	}
	return &res, nil
}

// jsonBody marshals v, passing []byte and json.RawMessage through as they are.
func jsonBody(v any) ([]byte, error) {
	switch b := v.(type) {
	case []byte:
		return b, nil
	case json.RawMessage:
		return b, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	return b, nil
}

func forceQuery(force bool) url.Values {
	if !force {
		return nil
	}
	return url.Values{"force": {"true"}}
}

// Apps lists apps: GET /v2/apps with query (cmd, id, label, embed).
func (c *Client) Apps(ctx context.Context, query url.Values) ([]AppInfo, error) {
	r, err := c.send(ctx, http.MethodGet, query, nil, "v2", "apps")
	if err != nil {
		return nil, err
	}
	var out struct {
		Apps []AppInfo `json:"apps"`
	}
	return out.Apps, decode(r, "apps", &out)
}

// App returns one app: GET /v2/apps/{id}, with embed values such as
// "app.tasks" or "app.lastTaskFailure".
func (c *Client) App(ctx context.Context, id string, embed ...string) (*AppInfo, error) {
	var q url.Values
	if len(embed) > 0 {
		q = url.Values{"embed": embed}
	}
	r, err := c.send(ctx, http.MethodGet, q, nil, append([]string{"v2", "apps"}, idSegments(id)...)...)
	if err != nil {
		return nil, err
	}
	var out struct {
		App AppInfo `json:"app"`
	}
	return &out.App, decode(r, "app", &out)
}

// CreateApp creates an app: POST /v2/apps with app, which is an App, a
// *App, or raw JSON ([]byte, json.RawMessage). It returns the created app
// and the ID of the deployment that starts it.
func (c *Client) CreateApp(ctx context.Context, app any) (*AppInfo, string, error) {
	body, err := jsonBody(app)
	if err != nil {
		return nil, "", err
	}
	r, err := c.send(ctx, http.MethodPost, nil, body, "v2", "apps")
	if err != nil {
		return nil, "", err
	}
	var out AppInfo
	if err := decode(r, "created app", &out); err != nil {
		return nil, "", err
	}
	dep := r.header.Get(DeploymentIDHeader)
	if dep == "" && len(out.Deployments) > 0 {
		dep = out.Deployments[0].ID
	}
	return &out, dep, nil
}

// UpdateApp changes an app: PUT /v2/apps/{id} with a (partial) app
// definition as raw JSON. force cancels deployments that hold the app. A PUT
// of an absent app creates it; the result still names the deployment.
func (c *Client) UpdateApp(ctx context.Context, id string, raw []byte, force bool) (*DeploymentResult, error) {
	r, err := c.send(ctx, http.MethodPut, forceQuery(force), raw, append([]string{"v2", "apps"}, idSegments(id)...)...)
	if err != nil {
		return nil, err
	}
	return deploymentResult(r, "app update")
}

// DeleteApp destroys an app: DELETE /v2/apps/{id}.
func (c *Client) DeleteApp(ctx context.Context, id string, force bool) (*DeploymentResult, error) {
	r, err := c.send(ctx, http.MethodDelete, forceQuery(force), nil, append([]string{"v2", "apps"}, idSegments(id)...)...)
	if err != nil {
		return nil, err
	}
	return deploymentResult(r, "app delete")
}

// RestartApp replaces every task of an app: POST /v2/apps/{id}/restart.
func (c *Client) RestartApp(ctx context.Context, id string, force bool) (*DeploymentResult, error) {
	segs := append(append([]string{"v2", "apps"}, idSegments(id)...), "restart")
	r, err := c.send(ctx, http.MethodPost, forceQuery(force), nil, segs...)
	if err != nil {
		return nil, err
	}
	return deploymentResult(r, "app restart")
}

// AppTasks lists an app's tasks: GET /v2/apps/{id}/tasks.
func (c *Client) AppTasks(ctx context.Context, id string) ([]Task, error) {
	segs := append(append([]string{"v2", "apps"}, idSegments(id)...), "tasks")
	r, err := c.send(ctx, http.MethodGet, nil, nil, segs...)
	if err != nil {
		return nil, err
	}
	var out struct {
		Tasks []Task `json:"tasks"`
	}
	return out.Tasks, decode(r, "tasks", &out)
}

// KillResult is what a kill answers: the killed tasks, or, when the kill
// also scaled the app down, the deployment that does it.
type KillResult struct {
	Tasks      []Task
	Deployment *DeploymentResult
}

// killResult decodes {"tasks":[...]}, {"task":{...}} or a deployment result.
func killResult(r *response, what string) (*KillResult, error) {
	var out struct {
		Tasks        []Task `json:"tasks"`
		Task         *Task  `json:"task"`
		DeploymentID string `json:"deploymentId"`
		Version      string `json:"version"`
	}
	if len(bytes.TrimSpace(r.body)) > 0 {
		if err := decode(r, what, &out); err != nil {
			return nil, err
		}
	}
	res := &KillResult{Tasks: out.Tasks}
	if out.Task != nil {
		res.Tasks = append(res.Tasks, *out.Task)
	}
	if out.DeploymentID != "" {
		res.Deployment = &DeploymentResult{DeploymentID: out.DeploymentID, Version: out.Version}
	} else if id := r.header.Get(DeploymentIDHeader); id != "" {
		res.Deployment = &DeploymentResult{DeploymentID: id}
	}
	return res, nil
}

func killQuery(host string, scale, wipe bool) url.Values {
	q := url.Values{}
	if host != "" {
		q.Set("host", host)
	}
	if scale {
		q.Set("scale", "true")
	}
	if wipe {
		q.Set("wipe", "true")
	}
	return q
}

// KillAppTasks kills an app's tasks, only those on host if host is set:
// DELETE /v2/apps/{id}/tasks. scale also lowers instances; wipe forgets
// resident tasks' reservations.
func (c *Client) KillAppTasks(ctx context.Context, id, host string, scale, wipe bool) (*KillResult, error) {
	segs := append(append([]string{"v2", "apps"}, idSegments(id)...), "tasks")
	r, err := c.send(ctx, http.MethodDelete, killQuery(host, scale, wipe), nil, segs...)
	if err != nil {
		return nil, err
	}
	return killResult(r, "killed tasks")
}

// KillTask kills one task of an app: DELETE /v2/apps/{appId}/tasks/{taskId}.
func (c *Client) KillTask(ctx context.Context, appID, taskID string, scale, wipe bool) (*KillResult, error) {
	segs := append(append([]string{"v2", "apps"}, idSegments(appID)...), "tasks", taskID)
	r, err := c.send(ctx, http.MethodDelete, killQuery("", scale, wipe), nil, segs...)
	if err != nil {
		return nil, err
	}
	return killResult(r, "killed task")
}

// AppVersions lists an app's stored versions, newest first:
// GET /v2/apps/{id}/versions.
func (c *Client) AppVersions(ctx context.Context, id string) ([]string, error) {
	segs := append(append([]string{"v2", "apps"}, idSegments(id)...), "versions")
	r, err := c.send(ctx, http.MethodGet, nil, nil, segs...)
	if err != nil {
		return nil, err
	}
	var out struct {
		Versions []string `json:"versions"`
	}
	return out.Versions, decode(r, "app versions", &out)
}

// AppVersion returns an app as it was at version:
// GET /v2/apps/{id}/versions/{version}.
func (c *Client) AppVersion(ctx context.Context, id, version string) (*App, error) {
	segs := append(append([]string{"v2", "apps"}, idSegments(id)...), "versions", version)
	r, err := c.send(ctx, http.MethodGet, nil, nil, segs...)
	if err != nil {
		return nil, err
	}
	var out App
	return &out, decode(r, "app version", &out)
}

// Groups returns the group tree under id ("" or "/" for the root):
// GET /v2/groups/{id}, with embed values such as "group.apps".
func (c *Client) Groups(ctx context.Context, id string, embed ...string) (*GroupInfo, error) {
	var q url.Values
	if len(embed) > 0 {
		q = url.Values{"embed": embed}
	}
	r, err := c.send(ctx, http.MethodGet, q, nil, append([]string{"v2", "groups"}, idSegments(id)...)...)
	if err != nil {
		return nil, err
	}
	var out GroupInfo
	return &out, decode(r, "group", &out)
}

// CreateGroup creates a group from its definition (a Group or raw JSON,
// whose "id" places it): POST /v2/groups.
func (c *Client) CreateGroup(ctx context.Context, group any) (*DeploymentResult, error) {
	body, err := jsonBody(group)
	if err != nil {
		return nil, err
	}
	r, err := c.send(ctx, http.MethodPost, nil, body, "v2", "groups")
	if err != nil {
		return nil, err
	}
	return deploymentResult(r, "group create")
}

// UpdateGroup changes a group: PUT /v2/groups/{id} with raw JSON (a group,
// {"version": v} to roll back, {"scaleBy": f} to scale).
func (c *Client) UpdateGroup(ctx context.Context, id string, raw []byte, force bool) (*DeploymentResult, error) {
	r, err := c.send(ctx, http.MethodPut, forceQuery(force), raw, append([]string{"v2", "groups"}, idSegments(id)...)...)
	if err != nil {
		return nil, err
	}
	return deploymentResult(r, "group update")
}

// ScaleGroup multiplies the instances of every app in a group by factor.
func (c *Client) ScaleGroup(ctx context.Context, id string, factor float64, force bool) (*DeploymentResult, error) {
	body, err := json.Marshal(map[string]float64{"scaleBy": factor})
	if err != nil {
		return nil, fmt.Errorf("encode scale: %w", err)
	}
	return c.UpdateGroup(ctx, id, body, force)
}

// DeleteGroup destroys a group and everything in it: DELETE /v2/groups/{id}.
func (c *Client) DeleteGroup(ctx context.Context, id string, force bool) (*DeploymentResult, error) {
	r, err := c.send(ctx, http.MethodDelete, forceQuery(force), nil, append([]string{"v2", "groups"}, idSegments(id)...)...)
	if err != nil {
		return nil, err
	}
	return deploymentResult(r, "group delete")
}

// Deployments lists the running deployments: GET /v2/deployments.
func (c *Client) Deployments(ctx context.Context) ([]Deployment, error) {
	r, err := c.send(ctx, http.MethodGet, nil, nil, "v2", "deployments")
	if err != nil {
		return nil, err
	}
	var out []Deployment
	return out, decode(r, "deployments", &out)
}

// DeleteDeployment cancels a deployment: DELETE /v2/deployments/{id}.
// Without force Marathon also starts a deployment that rolls its changes
// back, which the result names; with force it just stops (no deployment,
// DeploymentID empty).
func (c *Client) DeleteDeployment(ctx context.Context, id string, force bool) (*DeploymentResult, error) {
	r, err := c.send(ctx, http.MethodDelete, forceQuery(force), nil, "v2", "deployments", id)
	if err != nil {
		return nil, err
	}
	return deploymentResult(r, "deployment delete")
}

// Tasks lists the tasks of every app: GET /v2/tasks, only those in the
// given states ("running", "staging") if any are given.
func (c *Client) Tasks(ctx context.Context, status ...string) ([]Task, error) {
	var q url.Values
	if len(status) > 0 {
		q = url.Values{"status": status}
	}
	r, err := c.send(ctx, http.MethodGet, q, nil, "v2", "tasks")
	if err != nil {
		return nil, err
	}
	var out struct {
		Tasks []Task `json:"tasks"`
	}
	return out.Tasks, decode(r, "tasks", &out)
}

// KillTasks kills tasks of any apps by ID: POST /v2/tasks/delete.
func (c *Client) KillTasks(ctx context.Context, ids []string, scale, wipe bool) (*KillResult, error) {
	if ids == nil {
		ids = []string{}
	}
	body, err := json.Marshal(map[string][]string{"ids": ids})
	if err != nil {
		return nil, fmt.Errorf("encode task ids: %w", err)
	}
	r, err := c.send(ctx, http.MethodPost, killQuery("", scale, wipe), body, "v2", "tasks", "delete")
	if err != nil {
		return nil, err
	}
	return killResult(r, "killed tasks")
}

// Queue lists the launch queue: GET /v2/queue.
func (c *Client) Queue(ctx context.Context) ([]QueueItem, error) {
	r, err := c.send(ctx, http.MethodGet, nil, nil, "v2", "queue")
	if err != nil {
		return nil, err
	}
	var out struct {
		Queue []QueueItem `json:"queue"`
	}
	return out.Queue, decode(r, "queue", &out)
}

// ResetDelay clears an app's launch backoff: DELETE /v2/queue/{appId}/delay.
func (c *Client) ResetDelay(ctx context.Context, appID string) error {
	segs := append(append([]string{"v2", "queue"}, idSegments(appID)...), "delay")
	_, err := c.send(ctx, http.MethodDelete, nil, nil, segs...)
	return err
}

// Info describes the Marathon: GET /v2/info.
func (c *Client) Info(ctx context.Context) (*Info, error) {
	r, err := c.send(ctx, http.MethodGet, nil, nil, "v2", "info")
	if err != nil {
		return nil, err
	}
	var out Info
	return &out, decode(r, "info", &out)
}

// Leader returns the leading Marathon's host:port: GET /v2/leader.
func (c *Client) Leader(ctx context.Context) (string, error) {
	r, err := c.send(ctx, http.MethodGet, nil, nil, "v2", "leader")
	if err != nil {
		return "", err
	}
	var out Leader
	return out.Leader, decode(r, "leader", &out)
}

// Abdicate makes the leader step down: DELETE /v2/leader. It returns
// Marathon's message.
func (c *Client) Abdicate(ctx context.Context) (string, error) {
	r, err := c.send(ctx, http.MethodDelete, nil, nil, "v2", "leader")
	if err != nil {
		return "", err
	}
	var out struct {
		Message string `json:"message"`
	}
	if len(bytes.TrimSpace(r.body)) == 0 {
		return "", nil
	}
	return out.Message, decode(r, "abdicate", &out)
}

// String is the base URL, for messages.
func (c *Client) String() string { return c.base.Redacted() }
