package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-dcos/basalt/internal/marathon/appdef"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
)

// sseEvent is one event read from a stream.
type sseEvent struct {
	typ  string
	data map[string]any
}

// sseReader reads events and comments from an SSE body.
type sseReader struct {
	t        *testing.T
	r        *bufio.Reader
	comments int
}

// next returns the next event, counting comment lines on the way.
func (s *sseReader) next() sseEvent {
	s.t.Helper()
	var ev sseEvent
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("read stream: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev.typ != "" {
				return ev
			}
		case strings.HasPrefix(line, ":"):
			s.comments++
		case strings.HasPrefix(line, "event: "):
			ev.typ = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.data); err != nil {
				s.t.Fatalf("data line %q: %v", line, err)
			}
		default:
			s.t.Fatalf("unexpected line %q", line)
		}
	}
}

// openStream GETs url with Accept text/event-stream under ctx.
func openStream(t *testing.T, ctx context.Context, url string) (*http.Response, *sseReader) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp, &sseReader{t: t, r: bufio.NewReader(resp.Body)}
}

func event(typ, extra string) v2.Event {
	return v2.Event{Type: typ, Data: json.RawMessage(`{"eventType":"` + typ + `","timestamp":"2026-01-01T00:00:00.000Z"` + extra + `}`)}
}

func TestEventStream(t *testing.T) {
	f := newFake()
	f.events <- event("status_update_event", `,"taskId":"a.1"`)
	f.events <- event("deployment_info", "")
	srv := httptest.NewServer(New(f, Options{KeepAlive: time.Millisecond}, testLogger(t)).Handler())
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithCancel(t.Context())
	_, s := openStream(t, ctx, srv.URL+"/v2/events")
	attached := s.next()
	if attached.typ != "event_stream_attached" || attached.data["eventType"] != "event_stream_attached" ||
		attached.data["remoteAddress"] != "127.0.0.1" || attached.data["timestamp"] == nil {
		t.Errorf("first event = %+v", attached)
	}
	if ev := s.next(); ev.typ != "status_update_event" || ev.data["taskId"] != "a.1" {
		t.Errorf("second event = %+v", ev)
	}
	if ev := s.next(); ev.typ != "deployment_info" {
		t.Errorf("third event = %+v", ev)
	}
	// An idle stream gets keep-alive comments.
	f.events <- event("deployment_success", "")
	for s.comments == 0 {
		if ev := s.next(); ev.typ != "deployment_success" {
			t.Errorf("event = %+v", ev)
		}
		f.events <- event("deployment_success", "")
	}

	// The handler stops when the client goes away.
	subCtx := <-f.subCtxs
	cancel()
	<-subCtx.Done()
}

func TestEventStreamFilter(t *testing.T) {
	f := newFake()
	f.events <- event("status_update_event", "")
	f.events <- event("deployment_info", `,"n":1`)
	f.events <- event("status_update_event", "")
	f.events <- event("deployment_failed", `,"n":2`)
	srv := httptest.NewServer(New(f, Options{}, testLogger(t)).Handler())
	t.Cleanup(srv.Close)

	_, s := openStream(t, t.Context(), srv.URL+"/v2/events?event_type=deployment_info&event_type=deployment_failed")
	var got []string
	for range 2 {
		ev := s.next()
		got = append(got, ev.typ)
	}
	if diff := cmp.Diff([]string{"deployment_info", "deployment_failed"}, got); diff != "" {
		t.Errorf("filtered events (-want +got):\n%s", diff)
	}
}

func TestEventStreamNotAcceptable(t *testing.T) {
	h := newAPI(t, newFake())
	rec := call(t, h, "GET", "/v2/events", "", "Accept", "application/json")
	wantStatus(t, rec, http.StatusNotAcceptable)
	for _, accept := range []string{"", "*/*", "text/*", "text/event-stream"} {
		r, _ := http.NewRequest("GET", "/v2/events", nil)
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		if !acceptsEventStream(r) {
			t.Errorf("Accept %q refused", accept)
		}
	}
}

// standby serves a non-leading node whose leader is leaderAddr.
func standby(t *testing.T, leaderAddr string) (*fakeBackend, *httptest.Server) {
	f := newFake()
	f.leader, f.leaderAddr = false, leaderAddr
	srv := httptest.NewServer(New(f, Options{Self: "10.9.9.9:8080", KeepAlive: time.Hour}, testLogger(t)).Handler())
	t.Cleanup(srv.Close)
	return f, srv
}

func TestProxyToLeader(t *testing.T) {
	lf := threeApps()
	lsrv := httptest.NewServer(New(lf, Options{AppDef: appdef.DefaultOptions()}, testLogger(t)).Handler())
	t.Cleanup(lsrv.Close)
	leaderAddr := strings.TrimPrefix(lsrv.URL, "http://")
	lf.leaderAddr = leaderAddr
	_, ssrv := standby(t, leaderAddr)

	resp, err := http.Get(ssrv.URL + "/v2/apps?id=web")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || len(body["apps"].([]any)) != 1 {
		t.Errorf("proxied GET: %d %v", resp.StatusCode, body)
	}
	if got := resp.Header.Get(headerLeader); got != "http://"+leaderAddr {
		t.Errorf("%s = %q", headerLeader, got)
	}
	if got := resp.Header.Get(headerVia); got != "1.1 10.9.9.9:8080" {
		t.Errorf("%s = %q", headerVia, got)
	}

	// Mutations reach the leader's core.
	resp, err = http.Post(ssrv.URL+"/v2/apps", "application/json", strings.NewReader(webApp))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Location") != "/v2/apps/api" {
		t.Errorf("proxied POST: %d %v", resp.StatusCode, resp.Header)
	}
	if _, ok := lf.root().Apps["/api"]; !ok {
		t.Error("the leader did not get the app")
	}

	// /ping and GET /v2/leader are answered by the standby itself.
	resp, err = http.Get(ssrv.URL + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get(headerLeader) != "" {
		t.Errorf("ping: %d %v", resp.StatusCode, resp.Header)
	}
	resp, err = http.Get(ssrv.URL + "/v2/leader")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if body["leader"] != leaderAddr || resp.Header.Get(headerVia) != "" {
		t.Errorf("leader: %v %v", body, resp.Header)
	}

	// The event stream streams through the proxy.
	lf.events <- event("deployment_info", "")
	_, s := openStream(t, t.Context(), ssrv.URL+"/v2/events")
	if ev := s.next(); ev.typ != "event_stream_attached" || ev.data["remoteAddress"] != "127.0.0.1" {
		t.Errorf("attached through the proxy = %+v", ev)
	}
	if ev := s.next(); ev.typ != "deployment_info" {
		t.Errorf("event through the proxy = %+v", ev)
	}
}

func TestProxyFailures(t *testing.T) {
	// A leader that is gone: 502.
	gone := httptest.NewServer(http.NotFoundHandler())
	goneAddr := strings.TrimPrefix(gone.URL, "http://")
	gone.Close()
	_, srv := standby(t, goneAddr)
	resp, err := http.Get(srv.URL + "/v2/apps")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("unreachable leader: %d", resp.StatusCode)
	}

	// A request that already went through this node: a loop.
	h := New(&fakeBackend{leaderAddr: "10.0.0.1:8080"}, Options{Self: "10.9.9.9:8080"}, testLogger(t)).Handler()
	rec := call(t, h, "GET", "/v2/apps", "", headerVia, "1.1 10.9.9.9:8080")
	wantStatus(t, rec, http.StatusBadGateway)

	// An election record naming this node while it does not lead: no leader.
	h = New(&fakeBackend{leaderAddr: "10.9.9.9:8080"}, Options{Self: "10.9.9.9:8080"}, testLogger(t)).Handler()
	rec = call(t, h, "GET", "/v2/apps", "")
	wantStatus(t, rec, http.StatusServiceUnavailable)
}
