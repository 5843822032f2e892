package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/basalt-dcos/basalt/internal/marathon"
	"github.com/basalt-dcos/basalt/internal/marathon/appdef"
	"github.com/basalt-dcos/basalt/internal/marathon/deploy"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
)

// fakeBackend is a Backend over an in-memory snapshot. Update runs the
// change on a clone of the root and publishes it; every call is recorded.
type fakeBackend struct {
	mu sync.Mutex

	snap       marathon.Snapshot
	leader     bool
	leaderAddr string

	updateErr error // returned by Update before the change runs
	result    v2.DeploymentResult
	plan      deploy.Plan
	updates   []marathon.UpdateRequest

	killRes marathon.KillResult
	killErr error
	kills   []marathon.KillRequest

	cancelRes *v2.DeploymentResult
	cancelErr error
	cancels   []string // "id force=<bool>"

	resetErr error
	resets   []string

	appVersions   map[string][]string
	appAt         map[string]v2.App // key "id@version"
	groupVersions map[string][]string

	abdicateErr error
	abdicated   int

	info    v2.Info
	metrics map[string]any

	events  chan v2.Event
	subCtxs chan context.Context // receives each Subscribe's ctx
}

func newFake() *fakeBackend {
	return &fakeBackend{
		snap: marathon.Snapshot{
			Root: deploy.Root{Apps: map[string]v2.App{}, Groups: map[string]deploy.GroupMeta{}},
			Apps: map[string]*marathon.AppStatus{},
		},
		leader:     true,
		leaderAddr: "10.0.0.1:8080",
		result:     v2.DeploymentResult{DeploymentID: "dep-1", Version: "2026-01-02T03:04:05.000Z"},
		events:     make(chan v2.Event, 16),
		subCtxs:    make(chan context.Context, 4),
	}
}

// addApp puts the app defined by the JSON def into the snapshot with
// status st, decoded so that it carries the defaults the core's apps have.
func (f *fakeBackend) addApp(def string, st *marathon.AppStatus) {
	app, err := appdef.DecodeApp([]byte(def), "/")
	if err != nil {
		panic(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snap.Root.Apps[app.ID] = app
	if st != nil {
		f.snap.Apps[app.ID] = st
	}
	f.snap.AppIDs = slices.Sorted(maps.Keys(f.snap.Root.Apps))
}

func (f *fakeBackend) root() deploy.Root {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap.Root.Clone()
}

func (f *fakeBackend) lastUpdate(t *testing.T) marathon.UpdateRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.updates) == 0 {
		t.Fatal("no Update call")
	}
	return f.updates[len(f.updates)-1]
}

func (f *fakeBackend) Snapshot() *marathon.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.snap
	return &s
}

func (f *fakeBackend) Update(ctx context.Context, req marathon.UpdateRequest) (marathon.UpdateResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updates = append(f.updates, req)
	if f.updateErr != nil {
		return marathon.UpdateResult{}, f.updateErr
	}
	root := f.snap.Root.Clone()
	if err := req.Change(&root); err != nil {
		return marathon.UpdateResult{}, err
	}
	if !req.DryRun {
		f.snap.Root = root
		f.snap.AppIDs = slices.Sorted(maps.Keys(root.Apps))
	}
	return marathon.UpdateResult{DeploymentResult: f.result, Plan: f.plan}, nil
}

func (f *fakeBackend) KillTasks(ctx context.Context, req marathon.KillRequest) (marathon.KillResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kills = append(f.kills, req)
	return f.killRes, f.killErr
}

func (f *fakeBackend) CancelDeployment(ctx context.Context, id string, force bool) (*v2.DeploymentResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if force {
		f.cancels = append(f.cancels, id+" force=true")
		return nil, f.cancelErr
	}
	f.cancels = append(f.cancels, id+" force=false")
	return f.cancelRes, f.cancelErr
}

func (f *fakeBackend) ResetDelay(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resets = append(f.resets, id)
	return f.resetErr
}

func (f *fakeBackend) AppVersions(ctx context.Context, id string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	vs, ok := f.appVersions[id]
	if !ok {
		return nil, &marathon.AppNotFoundError{ID: id}
	}
	return vs, nil
}

func (f *fakeBackend) AppVersion(ctx context.Context, id, version string) (v2.App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	app, ok := f.appAt[id+"@"+version]
	if !ok {
		return v2.App{}, &marathon.AppNotFoundError{ID: id, Version: version}
	}
	return app, nil
}

func (f *fakeBackend) GroupVersions(ctx context.Context, id string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	vs, ok := f.groupVersions[id]
	if !ok {
		return nil, &marathon.GroupNotFoundError{ID: id}
	}
	return vs, nil
}

func (f *fakeBackend) Abdicate(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.abdicated++
	return f.abdicateErr
}

func (f *fakeBackend) Info() v2.Info           { return f.info }
func (f *fakeBackend) Metrics() map[string]any { return f.metrics }

func (f *fakeBackend) Subscribe(ctx context.Context) <-chan v2.Event {
	f.subCtxs <- ctx
	return f.events
}

func (f *fakeBackend) IsLeader() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leader
}

func (f *fakeBackend) Leader() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leaderAddr
}

// testLogger writes to the test log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newAPI serves f with test options.
func newAPI(t *testing.T, f *fakeBackend) http.Handler {
	t.Helper()
	return New(f, Options{AppDef: appdef.DefaultOptions()}, testLogger(t)).Handler()
}

// call runs one request against h.
func call(t *testing.T, h http.Handler, method, target, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// wantStatus fails unless rec has status.
func wantStatus(t *testing.T, rec *httptest.ResponseRecorder, status int) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body: %s", rec.Code, status, rec.Body)
	}
}

// decodeBody decodes rec's JSON body into a generic value.
func decodeBody(t *testing.T, rec *httptest.ResponseRecorder) any {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var v any
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, rec.Body)
	}
	return v
}

// obj decodes rec's body as a JSON object.
func obj(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	m, ok := decodeBody(t, rec).(map[string]any)
	if !ok {
		t.Fatalf("body is not an object: %s", rec.Body)
	}
	return m
}

func ptr[T any](v T) *T { return &v }
