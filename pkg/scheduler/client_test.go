package scheduler

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// harness runs a client against fake masters and collects its events.
type harness struct {
	c      *Client
	events chan mesosv1.Event
	done   chan struct{} // closed when Run returns
	err    error         // Run's result, set before done is closed
	cancel context.CancelFunc
}

func testConfig(masters ...string) Config {
	return Config{
		Masters:          masters,
		Framework:        mesosv1.FrameworkInfo{User: "root", Name: "test-fw", FailoverTimeout: 60},
		MinBackoff:       time.Millisecond,
		MaxBackoff:       10 * time.Millisecond,
		SubscribeTimeout: 10 * time.Second,
		CallTimeout:      10 * time.Second,
	}
}

func newTestClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	cfg.HTTPClient = &http.Client{Transport: tr}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// start runs c with a handler that forwards events (and returns handlerErr
// for events of type failOn).
func start(t *testing.T, c *Client, failOn string) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	h := &harness{c: c, events: make(chan mesosv1.Event, 64), done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(h.done)
		h.err = c.Run(ctx, func(_ context.Context, cl *Client, ev mesosv1.Event) error {
			if cl != c {
				t.Errorf("handler got a different client")
			}
			h.events <- ev
			if ev.Type == failOn {
				return errors.New("handler says no")
			}
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of cancel")
		}
	})
	return h
}

func (h *harness) waitEvent(t *testing.T, typ string) mesosv1.Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-h.events:
			if ev.Type == typ {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s event within 10s", typ)
		}
	}
}

func (h *harness) waitDone(t *testing.T) error {
	t.Helper()
	select {
	case <-h.done:
		return h.err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s")
		return nil
	}
}

// eventually polls cond until it holds or 10s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func ptr[T any](v T) *T { return &v }

func TestSubscribeAndCalls(t *testing.T) {
	m := newFakeMaster(t)
	cfg := testConfig(m.URL())
	cfg.Header = http.Header{"Authorization": {"token=abc"}}
	cfg.SuppressedRoles = []string{"r1"}
	c := newTestClient(t, cfg)
	if got := c.FrameworkID(); got != "" {
		t.Errorf("FrameworkID before subscribe = %q", got)
	}
	ctx := t.Context()
	if err := c.Revive(ctx); !errors.Is(err, ErrNotSubscribed) {
		t.Errorf("call before subscribe: err = %v, want ErrNotSubscribed", err)
	}
	h := start(t, c, "")
	s := m.nextStream(t)
	h.waitEvent(t, mesosv1.EventSubscribed)
	if got := c.FrameworkID(); got != "fw-1" {
		t.Errorf("FrameworkID = %q, want fw-1", got)
	}
	if got, want := c.Leader(), m.URL()+"/api/v1/scheduler"; got != want {
		t.Errorf("Leader = %q, want %q", got, want)
	}

	subs := m.recordedSubscribes()
	wantSub := []recorded{{
		Call: mesosv1.Call{Type: mesosv1.CallSubscribe, Subscribe: &mesosv1.CallSubscribeBody{
			FrameworkInfo:   cfg.Framework,
			SuppressedRoles: []string{"r1"},
		}},
		Auth: "token=abc",
	}}
	if diff := cmp.Diff(wantSub, subs); diff != "" {
		t.Errorf("SUBSCRIBE (-want +got):\n%s", diff)
	}

	offer := mesosv1.ID{Value: "o1"}
	agent := mesosv1.ID{Value: "a1"}
	task := mesosv1.TaskInfo{
		Name: "t", TaskID: mesosv1.ID{Value: "t1"}, AgentID: agent,
		Resources: []mesosv1.Resource{Scalar("cpus", 0.1), Ranges("ports", Range(31000, 31001))},
		Command:   &mesosv1.CommandInfo{Value: "sleep 1"},
	}
	fw := &mesosv1.ID{Value: "fw-1"}
	steps := []struct {
		do   func() error
		want *mesosv1.Call // nil: no request expected
	}{
		{func() error {
			return c.Accept(ctx, OfferIDs(mesosv1.Offer{ID: offer}), []mesosv1.Operation{LaunchOp(task)}, Refuse(10))
		},
			&mesosv1.Call{Type: mesosv1.CallAccept, Accept: &mesosv1.CallAcceptBody{
				OfferIDs: []mesosv1.ID{offer}, Operations: []mesosv1.Operation{LaunchOp(task)}, Filters: Refuse(10)}}},
		{func() error { return c.Decline(ctx, []mesosv1.ID{offer}, nil) },
			&mesosv1.Call{Type: mesosv1.CallDecline, Decline: &mesosv1.CallDeclineBody{OfferIDs: []mesosv1.ID{offer}}}},
		{func() error { return c.Revive(ctx, "a", "b") },
			&mesosv1.Call{Type: mesosv1.CallRevive, Revive: &mesosv1.CallReviveBody{Roles: []string{"a", "b"}}}},
		{func() error { return c.Suppress(ctx) },
			&mesosv1.Call{Type: mesosv1.CallSuppress, Suppress: &mesosv1.CallSuppressBody{}}},
		{func() error {
			return c.Kill(ctx, mesosv1.ID{Value: "t1"}, &agent, &mesosv1.KillPolicy{GracePeriod: &mesosv1.DurationInfo{Nanoseconds: 5}})
		}, &mesosv1.Call{Type: mesosv1.CallKill, Kill: &mesosv1.CallKillBody{
			TaskID: mesosv1.ID{Value: "t1"}, AgentID: &agent, KillPolicy: &mesosv1.KillPolicy{GracePeriod: &mesosv1.DurationInfo{Nanoseconds: 5}}}}},
		{func() error {
			return c.Acknowledge(ctx, mesosv1.TaskStatus{TaskID: mesosv1.ID{Value: "t1"}, AgentID: &agent, UUID: []byte{1, 2, 3}})
		}, &mesosv1.Call{Type: mesosv1.CallAcknowledge, Acknowledge: &mesosv1.CallAcknowledgeBody{
			AgentID: agent, TaskID: mesosv1.ID{Value: "t1"}, UUID: []byte{1, 2, 3}}}},
		{func() error {
			return c.Acknowledge(ctx, mesosv1.TaskStatus{TaskID: mesosv1.ID{Value: "t1"}, AgentID: &agent})
		}, nil},
		{func() error { return c.Reconcile(ctx, nil) },
			&mesosv1.Call{Type: mesosv1.CallReconcile, Reconcile: &mesosv1.CallReconcileBody{}}},
		{func() error { return c.Reconcile(ctx, []mesosv1.ReconcileTask{{TaskID: mesosv1.ID{Value: "t1"}}}) },
			&mesosv1.Call{Type: mesosv1.CallReconcile, Reconcile: &mesosv1.CallReconcileBody{
				Tasks: []mesosv1.ReconcileTask{{TaskID: mesosv1.ID{Value: "t1"}}}}}},
		{func() error { return c.Message(ctx, agent, mesosv1.ID{Value: "e1"}, []byte("hi")) },
			&mesosv1.Call{Type: mesosv1.CallMessage, Message: &mesosv1.CallMessageBody{
				AgentID: agent, ExecutorID: mesosv1.ID{Value: "e1"}, Data: []byte("hi")}}},
		{func() error { return c.Shutdown(ctx, mesosv1.ID{Value: "e1"}, agent) },
			&mesosv1.Call{Type: mesosv1.CallShutdown, Shutdown: &mesosv1.CallShutdownBody{
				ExecutorID: mesosv1.ID{Value: "e1"}, AgentID: agent}}},
		{func() error {
			return c.UpdateFramework(ctx, mesosv1.FrameworkInfo{User: "root", Name: "test-fw", Roles: []string{"x"}}, nil)
		}, &mesosv1.Call{Type: mesosv1.CallUpdateFramework, UpdateFramework: &mesosv1.CallUpdateFrameworkBody{
			FrameworkInfo: mesosv1.FrameworkInfo{User: "root", Name: "test-fw", Roles: []string{"x"}, ID: fw}}}},
	}
	var want []recorded
	for i, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if st.want != nil {
			call := *st.want
			call.FrameworkID = fw
			want = append(want, recorded{Call: call, StreamID: s.id, Auth: "token=abc"})
		}
	}
	if diff := cmp.Diff(want, m.recordedCalls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestAutoAcknowledge(t *testing.T) {
	for _, manual := range []bool{false, true} {
		t.Run(map[bool]string{false: "auto", true: "manual"}[manual], func(t *testing.T) {
			m := newFakeMaster(t)
			cfg := testConfig(m.URL())
			cfg.ManualAcknowledge = manual
			h := start(t, newTestClient(t, cfg), "")
			s := m.nextStream(t)
			agent := &mesosv1.ID{Value: "a1"}
			// A reconciliation answer (no uuid) must not be acknowledged.
			s.events <- mesosv1.Event{Type: mesosv1.EventUpdate, Update: &mesosv1.EventUpdateBody{Status: mesosv1.TaskStatus{
				TaskID: mesosv1.ID{Value: "t0"}, State: mesosv1.TaskRunning, AgentID: agent}}}
			s.events <- mesosv1.Event{Type: mesosv1.EventUpdate, Update: &mesosv1.EventUpdateBody{Status: mesosv1.TaskStatus{
				TaskID: mesosv1.ID{Value: "t1"}, State: mesosv1.TaskRunning, AgentID: agent, UUID: []byte("u1")}}}
			// A heartbeat after the updates proves they were handled (and acked) before.
			s.events <- mesosv1.Event{Type: mesosv1.EventHeartbeat}
			h.waitEvent(t, mesosv1.EventHeartbeat)

			var want []recorded
			if !manual {
				want = []recorded{{StreamID: s.id, Call: mesosv1.Call{
					FrameworkID: &mesosv1.ID{Value: "fw-1"}, Type: mesosv1.CallAcknowledge,
					Acknowledge: &mesosv1.CallAcknowledgeBody{AgentID: *agent, TaskID: mesosv1.ID{Value: "t1"}, UUID: []byte("u1")},
				}}}
			}
			if diff := cmp.Diff(want, m.recordedCalls()); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
		})
	}
}

// resubscribed checks that the client's second SUBSCRIBE carries the framework ID.
func checkResubscribed(t *testing.T, subs []recorded) {
	t.Helper()
	if len(subs) < 2 {
		t.Fatalf("%d SUBSCRIBE calls, want >= 2", len(subs))
	}
	for i, s := range subs[1:] {
		if s.StreamID != "" {
			t.Errorf("re-SUBSCRIBE %d carries Mesos-Stream-Id %q", i, s.StreamID)
		}
		if got := s.Call.FrameworkID; got == nil || got.Value != "fw-1" {
			t.Errorf("re-SUBSCRIBE %d framework_id = %v, want fw-1", i, got)
		}
		if got := s.Call.Subscribe.FrameworkInfo.ID; got == nil || got.Value != "fw-1" {
			t.Errorf("re-SUBSCRIBE %d framework_info.id = %v, want fw-1", i, got)
		}
		if got := s.Call.Subscribe.FrameworkInfo.FailoverTimeout; got != 60 {
			t.Errorf("re-SUBSCRIBE %d failover_timeout = %v, want 60", i, got)
		}
	}
}

func TestHeartbeatTimeoutReconnects(t *testing.T) {
	m := newFakeMaster(t)
	m.set(func(f *fakeMaster) { f.heartbeat = 0.01 }) // 5 misses = 50ms of silence
	h := start(t, newTestClient(t, testConfig(m.URL())), "")
	first := m.nextStream(t)
	h.waitEvent(t, mesosv1.EventSubscribed)
	m.set(func(f *fakeMaster) { f.heartbeat = 60 })
	second := m.nextStream(t)
	h.waitEvent(t, mesosv1.EventSubscribed)
	if first.id == second.id {
		t.Fatalf("same stream id %q after reconnect", first.id)
	}
	checkResubscribed(t, m.recordedSubscribes())
	// Calls now carry the new stream id.
	if err := h.c.Revive(t.Context()); err != nil {
		t.Fatalf("Revive after reconnect: %v", err)
	}
	calls := m.recordedCalls()
	if got := calls[len(calls)-1].StreamID; got != second.id {
		t.Errorf("call stream id = %q, want %q", got, second.id)
	}
}

func TestStreamEndResubscribes(t *testing.T) {
	m := newFakeMaster(t)
	h := start(t, newTestClient(t, testConfig(m.URL())), "")
	close(m.nextStream(t).end)
	m.nextStream(t)
	h.waitEvent(t, mesosv1.EventSubscribed)
	checkResubscribed(t, m.recordedSubscribes())
}

func TestHeartbeatsKeepStreamAlive(t *testing.T) {
	m := newFakeMaster(t)
	m.set(func(f *fakeMaster) { f.heartbeat = 0.05 }) // dead after 250ms of silence
	h := start(t, newTestClient(t, testConfig(m.URL())), "")
	s := m.nextStream(t)
	for range 20 {
		s.events <- mesosv1.Event{Type: mesosv1.EventHeartbeat}
		h.waitEvent(t, mesosv1.EventHeartbeat)
	}
	if n := len(m.recordedSubscribes()); n != 1 {
		t.Errorf("%d subscriptions while heartbeats flowed, want 1", n)
	}
}

func TestRedirectToLeader(t *testing.T) {
	tests := []struct {
		name     string
		location func(leader string) string
	}{
		{"scheme-relative", func(l string) string { return "//" + strings.TrimPrefix(l, "http://") + "/api/v1/scheduler" }},
		{"absolute", func(l string) string { return l + "/api/v1/scheduler" }},
		{"host only", func(l string) string { return "//" + strings.TrimPrefix(l, "http://") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leader := newFakeMaster(t)
			standby := newFakeMaster(t)
			standby.set(func(f *fakeMaster) { f.redirect = tt.location(leader.URL()) })
			h := start(t, newTestClient(t, testConfig(standby.URL())), "")
			s := leader.nextStream(t)
			h.waitEvent(t, mesosv1.EventSubscribed)
			if got, want := h.c.Leader(), leader.URL()+"/api/v1/scheduler"; got != want {
				t.Errorf("Leader = %q, want %q", got, want)
			}
			if err := h.c.Suppress(t.Context()); err != nil {
				t.Fatalf("Suppress: %v", err)
			}
			if calls := leader.recordedCalls(); len(calls) != 1 || calls[0].StreamID != s.id {
				t.Errorf("leader calls = %+v, want one SUPPRESS on %s", calls, s.id)
			}
			if calls := standby.recordedCalls(); len(calls) != 0 {
				t.Errorf("standby got calls: %+v", calls)
			}
		})
	}
}

func TestLeaderChangeOnCallResubscribes(t *testing.T) {
	a := newFakeMaster(t)
	b := newFakeMaster(t)
	b.set(func(f *fakeMaster) { f.redirect = a.URL() + "/api/v1/scheduler" })
	h := start(t, newTestClient(t, testConfig(b.URL(), a.URL())), "")
	a.nextStream(t)
	h.waitEvent(t, mesosv1.EventSubscribed)

	// Leadership moves from a to b; a's stream stays open but a redirects.
	b.set(func(f *fakeMaster) { f.redirect = "" })
	a.set(func(f *fakeMaster) { f.redirect = b.URL() + "/api/v1/scheduler" })
	err := h.c.Decline(t.Context(), []mesosv1.ID{{Value: "o1"}}, nil)
	if !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Decline on old leader: err = %v, want ErrNotLeader", err)
	}
	b.nextStream(t)
	h.waitEvent(t, mesosv1.EventSubscribed)
	subs := b.recordedSubscribes()
	if len(subs) != 1 || subs[0].Call.FrameworkID == nil || subs[0].Call.FrameworkID.Value != "fw-1" {
		t.Fatalf("new leader subscribes = %+v, want one with framework id fw-1", subs)
	}
	eventually(t, "calls reach the new leader", func() bool {
		return h.c.Decline(t.Context(), []mesosv1.ID{{Value: "o2"}}, nil) == nil
	})
}

func TestUnreachableMasterIsSkipped(t *testing.T) {
	dead := newFakeMaster(t)
	deadURL := dead.URL()
	dead.srv.Close() // connection refused from now on
	live := newFakeMaster(t)
	h := start(t, newTestClient(t, testConfig(deadURL, live.URL())), "")
	live.nextStream(t)
	h.waitEvent(t, mesosv1.EventSubscribed)
}

func TestErrorEventStopsRun(t *testing.T) {
	m := newFakeMaster(t)
	h := start(t, newTestClient(t, testConfig(m.URL())), "")
	s := m.nextStream(t)
	s.events <- mesosv1.Event{Type: mesosv1.EventError, Error: &mesosv1.EventErrorBody{Message: "Framework has been removed"}}
	h.waitEvent(t, mesosv1.EventError)
	err := h.waitDone(t)
	if !errors.Is(err, ErrFrameworkRemoved) || !strings.Contains(err.Error(), "Framework has been removed") {
		t.Errorf("Run = %v, want ErrFrameworkRemoved with the message", err)
	}
	if n := len(m.recordedSubscribes()); n != 1 {
		t.Errorf("%d subscriptions, want 1 (no retry after ERROR)", n)
	}
}

func TestHandlerErrorStopsRun(t *testing.T) {
	m := newFakeMaster(t)
	h := start(t, newTestClient(t, testConfig(m.URL())), mesosv1.EventOffers)
	s := m.nextStream(t)
	s.events <- mesosv1.Event{Type: mesosv1.EventOffers, Offers: &mesosv1.EventOffersBody{}}
	if err := h.waitDone(t); err == nil || !strings.Contains(err.Error(), "handler says no") {
		t.Errorf("Run = %v, want the handler's error", err)
	}
}

func TestCancelStopsRun(t *testing.T) {
	m := newFakeMaster(t)
	h := start(t, newTestClient(t, testConfig(m.URL())), "")
	m.nextStream(t)
	h.waitEvent(t, mesosv1.EventSubscribed)
	h.cancel()
	if err := h.waitDone(t); err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
}

func TestCancelWhileBackingOff(t *testing.T) {
	m := newFakeMaster(t)
	m.set(func(f *fakeMaster) { f.subStatus = http.StatusServiceUnavailable })
	cfg := testConfig(m.URL())
	cfg.MinBackoff, cfg.MaxBackoff = time.Hour, time.Hour
	h := start(t, newTestClient(t, cfg), "")
	eventually(t, "a SUBSCRIBE", func() bool { return len(m.recordedSubscribes()) > 0 })
	h.cancel()
	if err := h.waitDone(t); err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
}

func TestUnavailableIsRetried(t *testing.T) {
	m := newFakeMaster(t)
	m.set(func(f *fakeMaster) { f.subStatus = http.StatusServiceUnavailable })
	h := start(t, newTestClient(t, testConfig(m.URL())), "")
	eventually(t, "3 SUBSCRIBE attempts", func() bool { return len(m.recordedSubscribes()) >= 3 })
	m.set(func(f *fakeMaster) { f.subStatus = 0 })
	h.waitEvent(t, mesosv1.EventSubscribed)
}

func TestSubscribeRejectedIsPermanent(t *testing.T) {
	m := newFakeMaster(t)
	m.set(func(f *fakeMaster) { f.subStatus = http.StatusBadRequest })
	h := start(t, newTestClient(t, testConfig(m.URL())), "")
	err := h.waitDone(t)
	var herr *HTTPError
	if !errors.Is(err, ErrBadRequest) || !errors.As(err, &herr) || herr.Message != "subscribe refused" {
		t.Errorf("Run = %v, want a 400 HTTPError with the body", err)
	}
}

func TestCallErrors(t *testing.T) {
	m := newFakeMaster(t)
	h := start(t, newTestClient(t, testConfig(m.URL())), "")
	m.nextStream(t)
	h.waitEvent(t, mesosv1.EventSubscribed)
	tests := []struct {
		status int
		body   string
		want   error
	}{
		{http.StatusBadRequest, "Failed to validate scheduler::Call: Expecting 'accept' to be present", ErrBadRequest},
		{http.StatusForbidden, "Framework is not subscribed", ErrNotSubscribed},
		{http.StatusUnauthorized, "", ErrUnauthorized},
		{http.StatusServiceUnavailable, "recovering", ErrUnavailable},
		{http.StatusInternalServerError, "boom", nil},
	}
	for _, tt := range tests {
		m.set(func(f *fakeMaster) { f.callStatus, f.callBody = tt.status, tt.body })
		err := h.c.Call(t.Context(), mesosv1.Call{Type: mesosv1.CallAccept})
		var herr *HTTPError
		if !errors.As(err, &herr) {
			t.Errorf("status %d: err = %v, want *HTTPError", tt.status, err)
			continue
		}
		if herr.StatusCode != tt.status || herr.Message != tt.body || herr.Call != mesosv1.CallAccept {
			t.Errorf("status %d: HTTPError = %+v", tt.status, herr)
		}
		if tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("status %d: err = %v, want %v", tt.status, err, tt.want)
		}
	}
	if err := h.c.Call(t.Context(), mesosv1.Call{Type: mesosv1.CallSubscribe}); err == nil {
		t.Error("Call(SUBSCRIBE) = nil, want an error")
	}
}

func TestTeardownEndsRun(t *testing.T) {
	m := newFakeMaster(t)
	h := start(t, newTestClient(t, testConfig(m.URL())), "")
	m.nextStream(t)
	h.waitEvent(t, mesosv1.EventSubscribed)
	if err := h.c.Teardown(t.Context()); err != nil {
		t.Fatalf("Teardown: %v", err)
	}
	if err := h.waitDone(t); err != nil {
		t.Errorf("Run after Teardown = %v, want nil", err)
	}
	calls := m.recordedCalls()
	if len(calls) != 1 || calls[0].Call.Type != mesosv1.CallTeardown {
		t.Errorf("calls = %+v, want one TEARDOWN", calls)
	}
	if n := len(m.recordedSubscribes()); n != 1 {
		t.Errorf("%d subscriptions, want 1", n)
	}
}

func TestResumeFrameworkID(t *testing.T) {
	m := newFakeMaster(t)
	cfg := testConfig(m.URL())
	cfg.Framework.ID = &mesosv1.ID{Value: "fw-old"}
	c := newTestClient(t, cfg)
	if got := c.FrameworkID(); got != "fw-old" {
		t.Errorf("FrameworkID = %q, want fw-old", got)
	}
	h := start(t, c, "")
	ev := h.waitEvent(t, mesosv1.EventSubscribed)
	if ev.Subscribed.FrameworkID.Value != "fw-old" {
		t.Errorf("SUBSCRIBED framework id = %q", ev.Subscribed.FrameworkID.Value)
	}
	subs := m.recordedSubscribes()
	if subs[0].Call.FrameworkID == nil || subs[0].Call.FrameworkID.Value != "fw-old" {
		t.Errorf("SUBSCRIBE framework_id = %v, want fw-old", subs[0].Call.FrameworkID)
	}
}

func TestRunTwice(t *testing.T) {
	m := newFakeMaster(t)
	h := start(t, newTestClient(t, testConfig(m.URL())), "")
	h.waitEvent(t, mesosv1.EventSubscribed)
	if err := h.c.Run(t.Context(), func(context.Context, *Client, mesosv1.Event) error { return nil }); err == nil {
		t.Error("second concurrent Run = nil, want an error")
	}
}

func TestConcurrentCalls(t *testing.T) {
	m := newFakeMaster(t)
	h := start(t, newTestClient(t, testConfig(m.URL())), "")
	h.waitEvent(t, mesosv1.EventSubscribed)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 10 {
				if err := h.c.Revive(t.Context()); err != nil {
					t.Errorf("Revive: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if n := len(m.recordedCalls()); n != 80 {
		t.Errorf("%d calls recorded, want 80", n)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := testConfig("http://m1:5050")
	tests := []struct {
		name   string
		mutate func(*Config)
		errs   []string
	}{
		{"ok", func(*Config) {}, nil},
		{"no scheme is fine", func(c *Config) { c.Masters = []string{"m1:5050"} }, nil},
		{"everything wrong", func(c *Config) {
			c.Masters = []string{"ftp://x", "http://"}
			c.Framework = mesosv1.FrameworkInfo{FailoverTimeout: -1}
			c.MinBackoff, c.MaxBackoff = time.Second, time.Millisecond
		}, []string{"scheme", "no host", "name", "user", "failover_timeout", "min backoff"}},
		{"no masters", func(c *Config) { c.Masters = nil }, []string{"no masters"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mutate(&cfg)
			_, err := New(cfg)
			if len(tt.errs) == 0 {
				if err != nil {
					t.Errorf("New = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("New = nil, want errors")
			}
			for _, e := range tt.errs {
				if !strings.Contains(err.Error(), e) {
					t.Errorf("error %q does not mention %q", err, e)
				}
			}
		})
	}
}

func TestEndpointFor(t *testing.T) {
	tests := map[string]string{
		"http://10.0.0.1:5050":         "http://10.0.0.1:5050/api/v1/scheduler",
		"http://10.0.0.1:5050/":        "http://10.0.0.1:5050/api/v1/scheduler",
		"10.0.0.1:5050":                "http://10.0.0.1:5050/api/v1/scheduler",
		"https://cluster/mesos/":       "https://cluster/mesos/api/v1/scheduler",
		"https://cluster/mesos?x=1#fr": "https://cluster/mesos/api/v1/scheduler",
	}
	for in, want := range tests {
		u, err := endpointFor(in)
		if err != nil {
			t.Errorf("endpointFor(%q): %v", in, err)
			continue
		}
		if u.String() != want {
			t.Errorf("endpointFor(%q) = %q, want %q", in, u, want)
		}
	}
}

func TestHelpers(t *testing.T) {
	if diff := cmp.Diff(&mesosv1.Filters{RefuseSeconds: ptr(3.0)}, Refuse(3)); diff != "" {
		t.Errorf("Refuse: %s", diff)
	}
	want := mesosv1.Resource{Name: "ports", Type: mesosv1.Ranges, Ranges: &mesosv1.ValueRanges{Range: []mesosv1.ValueRange{{Begin: 1, End: 2}}}}
	if diff := cmp.Diff(want, Ranges("ports", Range(1, 2))); diff != "" {
		t.Errorf("Ranges: %s", diff)
	}
	if got := Scalar("cpus", 0.1); got.Scalar == nil || got.Scalar.Value != 0.1 || got.Type != mesosv1.Scalar {
		t.Errorf("Scalar = %+v", got)
	}
}
