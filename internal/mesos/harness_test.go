package mesos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/agentapi"
	"github.com/basalt-dcos/basalt/internal/mesos/state"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
	"github.com/basalt-dcos/basalt/pkg/recordio"
)

const waitFor = 10 * time.Second

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.AllocationInterval = 20 * time.Millisecond
	cfg.SnapshotInterval = 5 * time.Millisecond
	cfg.AgentPingTimeout = time.Hour // tests about pings shrink it
	cfg.MaxAgentPingTimeouts = 3
	cfg.AgentHeartbeatInterval = time.Hour
	cfg.HeartbeatInterval = time.Hour
	cfg.AgentReregisterTimeout = time.Hour
	cfg.OfferTimeout = 0
	cfg.RegistryRetry = 10 * time.Millisecond
	return cfg
}

type testLogWriter struct {
	t  testing.TB
	mu sync.Mutex
	on bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.on {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	w := &testLogWriter{t: t, on: true}
	t.Cleanup(func() { w.mu.Lock(); w.on = false; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// testMaster is one Master served by httptest.
type testMaster struct {
	*Master
	srv    *httptest.Server
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

type cluster struct {
	reg *MemRegistry
	el  *MemElection
}

func newCluster() *cluster { return &cluster{reg: NewMemRegistry(), el: NewMemElection()} }

func (c *cluster) start(t *testing.T, mod func(*Config)) *testMaster {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	cfg := testConfig()
	cfg.URL = srv.URL
	if mod != nil {
		mod(&cfg)
	}
	m, err := New(cfg, Deps{Registry: c.reg, Elector: c.el, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	m.Register(mux)
	read := http.NewServeMux()
	state.NewAPI(m, m, nil).Register(read)
	mux.Handle("/", m.LeaderOnly(read))
	ctx, cancel := context.WithCancel(context.Background())
	tm := &testMaster{Master: m, srv: srv, cancel: cancel, done: make(chan error, 1)}
	go func() { tm.done <- m.Run(ctx) }()
	t.Cleanup(tm.stop)
	return tm
}

func (tm *testMaster) stop() {
	tm.once.Do(func() {
		tm.cancel()
		<-tm.done
		tm.srv.CloseClientConnections()
	})
}

// startLeader starts a master in a fresh cluster and waits until it leads.
func startLeader(t *testing.T, mod func(*Config)) (*testMaster, *cluster) {
	t.Helper()
	c := newCluster()
	m := c.start(t, mod)
	eventually(t, "master leads", m.IsLeader)
	return m, c
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(2 * time.Millisecond) // polling interval, not a wait for a condition
	}
}

// ---- a raw scheduler client ----

type sched struct {
	t        *testing.T
	url      string
	streamID string
	fwID     string
	events   chan mesosv1.Event
	pending  []mesosv1.Event
	resp     *http.Response
	ended    chan struct{}
}

func postJSON(t *testing.T, url string, hdr map[string]string, body any) *http.Response {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func frameworkInfo(name string, caps ...string) mesosv1.FrameworkInfo {
	fi := mesosv1.FrameworkInfo{User: "root", Name: name, Roles: []string{"*"}, Capabilities: []mesosv1.Capability{{Type: mesosv1.CapMultiRole}}}
	for _, c := range caps {
		fi.Capabilities = append(fi.Capabilities, mesosv1.Capability{Type: c})
	}
	return fi
}

func subscribe(t *testing.T, m *testMaster, fi mesosv1.FrameworkInfo) *sched {
	t.Helper()
	s := trySubscribe(t, m, fi)
	ev := s.next(mesosv1.EventSubscribed)
	s.fwID = ev.Subscribed.FrameworkID.Value
	return s
}

func trySubscribe(t *testing.T, m *testMaster, fi mesosv1.FrameworkInfo) *sched {
	t.Helper()
	call := mesosv1.Call{Type: mesosv1.CallSubscribe, Subscribe: &mesosv1.CallSubscribeBody{FrameworkInfo: fi}}
	if fi.ID != nil {
		call.FrameworkID = fi.ID
	}
	resp := postJSON(t, m.srv.URL+"/api/v1/scheduler", nil, call)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("subscribe: %d %s", resp.StatusCode, b)
	}
	s := &sched{t: t, url: m.srv.URL, streamID: resp.Header.Get(mesosv1.StreamIDHeader), events: make(chan mesosv1.Event, 10000), resp: resp, ended: make(chan struct{})}
	go func() {
		defer close(s.ended)
		rd := recordio.NewReader(resp.Body, 0)
		for {
			rec, err := rd.ReadRecord()
			if err != nil {
				return
			}
			var ev mesosv1.Event
			if json.Unmarshal(rec, &ev) == nil {
				s.events <- ev
			}
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *sched) close() { s.resp.Body.Close(); <-s.ended }

// next returns the oldest unseen event of type typ; events of other types
// stay queued for later calls.
func (s *sched) next(typ string) mesosv1.Event {
	s.t.Helper()
	return s.nextMatch(typ, func(mesosv1.Event) bool { return true })
}

func (s *sched) nextMatch(typ string, match func(mesosv1.Event) bool) mesosv1.Event {
	s.t.Helper()
	for i, ev := range s.pending {
		if ev.Type == typ && match(ev) {
			s.pending = append(s.pending[:i:i], s.pending[i+1:]...)
			return ev
		}
	}
	timer := time.NewTimer(waitFor)
	defer timer.Stop()
	for {
		select {
		case ev := <-s.events:
			if ev.Type == typ && match(ev) {
				return ev
			}
			if ev.Type != mesosv1.EventHeartbeat {
				s.pending = append(s.pending, ev)
			}
		case <-s.ended:
			for {
				select {
				case ev := <-s.events:
					if ev.Type == typ && match(ev) {
						return ev
					}
					s.pending = append(s.pending, ev)
				default:
					s.t.Fatalf("stream ended while waiting for %s", typ)
				}
			}
		case <-timer.C:
			s.t.Fatalf("timed out waiting for %s", typ)
		}
	}
}

// ended reports whether the stream ended.
func (s *sched) isEnded() bool {
	select {
	case <-s.ended:
		return true
	default:
		return false
	}
}

// update waits for an UPDATE of task id.
func (s *sched) update(taskID string) mesosv1.TaskStatus {
	s.t.Helper()
	return s.nextMatch(mesosv1.EventUpdate, func(ev mesosv1.Event) bool { return ev.Update.Status.TaskID.Value == taskID }).Update.Status
}

func (s *sched) call(c mesosv1.Call) (int, string) {
	s.t.Helper()
	if c.FrameworkID == nil {
		c.FrameworkID = &mesosv1.ID{Value: s.fwID}
	}
	resp := postJSON(s.t, s.url+"/api/v1/scheduler", map[string]string{mesosv1.StreamIDHeader: s.streamID}, c)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (s *sched) mustCall(c mesosv1.Call) {
	s.t.Helper()
	if code, body := s.call(c); code != http.StatusAccepted {
		s.t.Fatalf("%s: %d %s", c.Type, code, body)
	}
}

func (s *sched) launch(o mesosv1.Offer, tasks ...mesosv1.TaskInfo) {
	s.t.Helper()
	s.launchRefusing(o, 0, tasks...)
}

// launchRefusing launches and declines what is left for refuse seconds.
func (s *sched) launchRefusing(o mesosv1.Offer, refuse float64, tasks ...mesosv1.TaskInfo) {
	s.t.Helper()
	s.mustCall(mesosv1.Call{Type: mesosv1.CallAccept, Accept: &mesosv1.CallAcceptBody{
		OfferIDs:   []mesosv1.ID{o.ID},
		Operations: []mesosv1.Operation{{Type: mesosv1.OpLaunch, Launch: &mesosv1.OpLaunchBody{TaskInfos: tasks}}},
		Filters:    &mesosv1.Filters{RefuseSeconds: &refuse},
	}})
}

func (s *sched) ack(st mesosv1.TaskStatus) {
	s.t.Helper()
	s.mustCall(mesosv1.Call{Type: mesosv1.CallAcknowledge, Acknowledge: &mesosv1.CallAcknowledgeBody{
		AgentID: *st.AgentID, TaskID: st.TaskID, UUID: st.UUID,
	}})
}

func cmdTask(id string, o mesosv1.Offer, cpus, mem float64) mesosv1.TaskInfo {
	return mesosv1.TaskInfo{
		Name: id, TaskID: mesosv1.ID{Value: id}, AgentID: o.AgentID,
		Resources: mesosv1.Resources{mesosv1.NewScalar("cpus", cpus), mesosv1.NewScalar("mem", mem)}.Allocate(o.AllocationInfo.Role),
		Command:   &mesosv1.CommandInfo{Value: "sleep 100"},
	}
}

// ---- a fake agent ----

type fakeAgent struct {
	t        *testing.T
	url      string
	id       string
	streamID string
	events   chan agentapi.Event
	pending  []agentapi.Event
	resp     *http.Response
	ended    chan struct{}
	sub      agentapi.Subscribe
}

func agentSubscribeBody(hostname string, res string) agentapi.Subscribe {
	r, err := mesosv1.ParseResources(res, "")
	if err != nil {
		panic(err)
	}
	return agentapi.Subscribe{
		ProtocolVersion: agentapi.Version,
		AgentInfo:       mesosv1.AgentInfo{Hostname: hostname, Port: 5051, Resources: r},
		Version:         "test", Endpoint: hostname + ":5051",
	}
}

func startAgent(t *testing.T, m *testMaster, sub agentapi.Subscribe) *fakeAgent {
	t.Helper()
	resp := postJSON(t, m.srv.URL+agentapi.Path, nil, agentapi.Call{Type: agentapi.CallSubscribe, Subscribe: &sub})
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("agent subscribe: %d %s", resp.StatusCode, b)
	}
	a := &fakeAgent{t: t, url: m.srv.URL, events: make(chan agentapi.Event, 10000), resp: resp, ended: make(chan struct{}), sub: sub}
	go func() {
		defer close(a.ended)
		rd := recordio.NewReader(resp.Body, 0)
		for {
			rec, err := rd.ReadRecord()
			if err != nil {
				return
			}
			var ev agentapi.Event
			if json.Unmarshal(rec, &ev) == nil {
				a.events <- ev
			}
		}
	}()
	t.Cleanup(a.close)
	ev := a.next(agentapi.EventSubscribed)
	a.id, a.streamID = ev.Subscribed.AgentID, ev.Subscribed.StreamID
	return a
}

func (a *fakeAgent) close() { a.resp.Body.Close(); <-a.ended }

func (a *fakeAgent) next(typ string) agentapi.Event {
	a.t.Helper()
	for i, ev := range a.pending {
		if ev.Type == typ {
			a.pending = append(a.pending[:i:i], a.pending[i+1:]...)
			return ev
		}
	}
	timer := time.NewTimer(waitFor)
	defer timer.Stop()
	for {
		select {
		case ev := <-a.events:
			if ev.Type == typ {
				return ev
			}
			if ev.Type != agentapi.EventHeartbeat {
				a.pending = append(a.pending, ev)
			}
		case <-a.ended:
			for {
				select {
				case ev := <-a.events:
					if ev.Type == typ {
						return ev
					}
					a.pending = append(a.pending, ev)
				default:
					a.t.Fatalf("agent stream ended while waiting for %s", typ)
				}
			}
		case <-timer.C:
			a.t.Fatalf("agent: timed out waiting for %s", typ)
		}
	}
}

func (a *fakeAgent) post(c agentapi.Call) (int, error) {
	c.AgentID = a.id
	b, _ := json.Marshal(c)
	req, _ := http.NewRequest(http.MethodPost, a.url+agentapi.Path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(agentapi.StreamIDHeader, a.streamID)
	resp, err := noRedirect.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (a *fakeAgent) status(fwID, taskID, st string) {
	a.t.Helper()
	code, err := a.post(agentapi.Call{Type: agentapi.CallUpdate, Update: &agentapi.Update{Updates: []agentapi.StatusUpdate{{
		FrameworkID: fwID,
		Status: mesosv1.TaskStatus{TaskID: mesosv1.ID{Value: taskID}, State: st, Source: mesosv1.SourceExecutor,
			AgentID: &mesosv1.ID{Value: a.id}, UUID: []byte("uuid-" + taskID + "-" + st), Timestamp: float64(time.Now().Unix())},
	}}}})
	if err != nil || code != http.StatusAccepted {
		a.t.Fatalf("agent update: %d %v", code, err)
	}
}

// heartbeat keeps the agent alive until ctx ends.
func (a *fakeAgent) heartbeat(ctx context.Context, every time.Duration) {
	go func() {
		tk := time.NewTicker(every)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
				if _, err := a.post(agentapi.Call{Type: agentapi.CallHeartbeat}); err != nil && !errors.Is(err, context.Canceled) {
					return
				}
			}
		}
	}()
}
