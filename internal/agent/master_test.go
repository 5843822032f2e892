package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/agentapi"
	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/internal/containerizer/posix"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
	"github.com/basalt-dcos/basalt/pkg/recordio"
)

func TestMain(m *testing.M) {
	if handled, code := posix.MaybeRunShim(); handled {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// fakeMaster is a test double of the master's side of the agent protocol:
// it accepts SUBSCRIBE, streams events the test pushes, records calls and
// (optionally) acknowledges every status update at once.
type fakeMaster struct {
	t   testing.TB
	srv *httptest.Server

	mu         sync.Mutex
	subscribes []agentapi.Subscribe
	updates    []agentapi.StatusUpdate
	heartbeats int
	session    *fakeSession
	nextID     int
	autoAck    bool
	streamID   string
	updated    chan struct{} // poked on every UPDATE call
	muted      bool          // the current stream sends nothing more
}

type fakeSession struct {
	events chan agentapi.Event
	drop   chan struct{}
	once   sync.Once
}

func newFakeMaster(t testing.TB) *fakeMaster {
	t.Helper()
	m := &fakeMaster{t: t, autoAck: true, updated: make(chan struct{}, 1)}
	m.srv = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(func() {
		m.dropStream()
		m.srv.CloseClientConnections()
		m.srv.Close()
	})
	return m
}

func (m *fakeMaster) URL() string { return m.srv.URL }

func (m *fakeMaster) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != agentapi.Path || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	var call agentapi.Call
	if err := json.NewDecoder(r.Body).Decode(&call); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch call.Type {
	case agentapi.CallSubscribe:
		m.subscribe(w, r, call)
	case agentapi.CallUpdate:
		m.mu.Lock()
		if r.Header.Get(agentapi.StreamIDHeader) != m.streamID {
			m.mu.Unlock()
			http.Error(w, "bad stream id", http.StatusForbidden)
			return
		}
		m.updates = append(m.updates, call.Update.Updates...)
		s, ack := m.session, m.autoAck
		m.mu.Unlock()
		select {
		case m.updated <- struct{}{}:
		default:
		}
		if ack && s != nil {
			for _, u := range call.Update.Updates {
				if len(u.Status.UUID) > 0 {
					s.events <- agentapi.Event{Type: agentapi.EventAcknowledge, Acknowledge: &agentapi.Acknowledge{
						FrameworkID: u.FrameworkID, TaskID: u.Status.TaskID.Value, UUID: u.Status.UUID}}
				}
			}
		}
		w.WriteHeader(http.StatusAccepted)
	case agentapi.CallHeartbeat:
		m.mu.Lock()
		m.heartbeats++
		m.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	default:
		http.Error(w, "unknown call", http.StatusBadRequest)
	}
}

func (m *fakeMaster) subscribe(w http.ResponseWriter, r *http.Request, call agentapi.Call) {
	sub := call.Subscribe
	m.mu.Lock()
	id := ""
	if sub.AgentInfo.ID != nil {
		id = sub.AgentInfo.ID.Value
	} else {
		m.nextID++
		id = fmt.Sprintf("agent-%d", m.nextID)
	}
	m.subscribes = append(m.subscribes, *sub)
	if m.session != nil {
		m.session.close()
	}
	s := &fakeSession{events: make(chan agentapi.Event, 1024), drop: make(chan struct{})}
	m.session = s
	m.streamID = fmt.Sprintf("stream-%d", len(m.subscribes))
	m.muted = false
	streamID := m.streamID
	m.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	rw := recordio.NewWriter(w)
	write := func(ev agentapi.Event) error {
		b, _ := json.Marshal(ev)
		if err := rw.WriteRecord(b); err != nil {
			return err
		}
		w.(http.Flusher).Flush()
		return nil
	}
	if err := write(agentapi.Event{Type: agentapi.EventSubscribed, Subscribed: &agentapi.Subscribed{
		AgentID: id, StreamID: streamID, HeartbeatIntervalSeconds: 0.05,
		MasterInfo: mesosv1.MasterInfo{ID: "master-1", Hostname: "master.test"}}}); err != nil {
		return
	}
	hb := time.NewTicker(50 * time.Millisecond)
	defer hb.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.drop:
			return
		case <-hb.C:
			m.mu.Lock()
			muted := m.muted
			m.mu.Unlock()
			if muted {
				continue
			}
			if write(agentapi.Event{Type: agentapi.EventHeartbeat}) != nil {
				return
			}
		case ev := <-s.events:
			if write(ev) != nil {
				return
			}
		}
	}
}

func (s *fakeSession) close() { s.once.Do(func() { close(s.drop) }) }

// send pushes an event down the current stream.
func (m *fakeMaster) send(ev agentapi.Event) {
	m.t.Helper()
	m.mu.Lock()
	s := m.session
	m.mu.Unlock()
	if s == nil {
		m.t.Fatal("no agent subscribed")
	}
	s.events <- ev
}

func (m *fakeMaster) dropStream() {
	m.mu.Lock()
	s := m.session
	m.session = nil
	m.mu.Unlock()
	if s != nil {
		s.close()
	}
}

// mute stops the current stream's heartbeats without closing it.
func (m *fakeMaster) mute() {
	m.mu.Lock()
	m.muted = true
	m.mu.Unlock()
}

func (m *fakeMaster) setAutoAck(v bool) {
	m.mu.Lock()
	m.autoAck = v
	m.mu.Unlock()
}

func (m *fakeMaster) ack(u agentapi.StatusUpdate) {
	m.send(agentapi.Event{Type: agentapi.EventAcknowledge, Acknowledge: &agentapi.Acknowledge{
		FrameworkID: u.FrameworkID, TaskID: u.Status.TaskID.Value, UUID: u.Status.UUID}})
}

func (m *fakeMaster) subscribeCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.subscribes)
}

func (m *fakeMaster) lastSubscribe() agentapi.Subscribe {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.subscribes[len(m.subscribes)-1]
}

// updatesOf returns the updates received for a task, in arrival order.
func (m *fakeMaster) updatesOf(taskID string) []agentapi.StatusUpdate {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []agentapi.StatusUpdate
	for _, u := range m.updates {
		if u.Status.TaskID.Value == taskID {
			out = append(out, u)
		}
	}
	return out
}

// waitState waits until an update with state arrived for taskID and returns it.
func (m *fakeMaster) waitState(taskID, state string) agentapi.StatusUpdate {
	m.t.Helper()
	var found agentapi.StatusUpdate
	eventually(m.t, 20*time.Second, func() bool {
		for _, u := range m.updatesOf(taskID) {
			if u.Status.State == state {
				found = u
				return true
			}
		}
		return false
	}, "task %s never reported %s (got %v)", taskID, state, func() []string { return states(m.updatesOf(taskID)) })
	return found
}

func states(us []agentapi.StatusUpdate) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.Status.State
	}
	return out
}

// eventually polls cond until it holds or the deadline passes. Trailing
// args are a format and values (funcs are called when formatting).
func eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			for i, a := range args {
				if f, ok := a.(func() []string); ok {
					args[i] = f()
				}
			}
			t.Fatalf("timed out: "+format, args...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testConfig is an agent config for tests: port 0, temp work dir, small
// intervals, fixed resources.
func testConfig(t testing.TB, m *fakeMaster) Config {
	cfg := DefaultConfig()
	cfg.Masters = []string{m.URL()}
	cfg.Listen = "127.0.0.1:0"
	cfg.AdminRouterListen = "127.0.0.1:0"
	cfg.Security = "disabled"
	cfg.AdvertiseIP = "127.0.0.1"
	cfg.Hostname = "agent.test"
	cfg.WorkDir = t.TempDir()
	cfg.Resources = "cpus:4;mem:4096;disk:10000;ports:[31000-32000]"
	cfg.HeartbeatInterval = 50 * time.Millisecond
	cfg.RegistrationBackoffMin = 10 * time.Millisecond
	cfg.RegistrationBackoffMax = 50 * time.Millisecond
	cfg.StatusUpdateRetryMin = time.Second
	cfg.StatusUpdateRetryMax = 2 * time.Second
	cfg.DefaultKillGrace = 2 * time.Second
	cfg.ExecutorShutdownGrace = 500 * time.Millisecond
	cfg.Isolation.CgroupsRoot = testCgroupsRoot(t)
	return cfg
}

type runningAgent struct {
	*Agent
	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

// stop ends Run and waits for it (once).
func (r *runningAgent) stop(t testing.TB) {
	t.Helper()
	if r.stopped {
		return
	}
	r.stopped = true
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("agent did not stop")
	}
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// startAgent runs an agent until the test ends and waits for it to register.
func startAgent(t testing.TB, cfg Config, conts map[string]containerizer.Containerizer) *runningAgent {
	t.Helper()
	a, err := New(cfg, Deps{Logger: testLogger(t), Containerizers: conts})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningAgent{Agent: a, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	select {
	case <-a.Ready():
	case err := <-r.done:
		r.stopped = true
		t.Fatalf("Run: %v", err)
	}
	eventually(t, 10*time.Second, func() bool { return a.ID() != "" && a.connected() }, "agent never registered")
	return r
}

func (a *Agent) connected() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.conn.connected
}

// getJSON fetches path from the agent and decodes it into v.
func getJSON(t testing.TB, a *Agent, path string, v any) {
	t.Helper()
	resp, err := http.Get("http://" + a.Addr() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, b)
	}
}

// framework returns a FrameworkInfo for tests.
func testFramework(id string, caps ...string) mesosv1.FrameworkInfo {
	fi := mesosv1.FrameworkInfo{User: "root", Name: "test-framework", ID: &mesosv1.ID{Value: id}, Checkpoint: true}
	for _, c := range caps {
		fi.Capabilities = append(fi.Capabilities, mesosv1.Capability{Type: c})
	}
	return fi
}

func shellTask(id, cmd string) mesosv1.TaskInfo {
	return mesosv1.TaskInfo{
		Name:      id,
		TaskID:    mesosv1.ID{Value: id},
		Resources: []mesosv1.Resource{mesosv1.NewScalar("cpus", 0.1), mesosv1.NewScalar("mem", 32)},
		Command:   &mesosv1.CommandInfo{Value: cmd},
	}
}

func launchEvent(fw mesosv1.FrameworkInfo, tasks ...mesosv1.TaskInfo) agentapi.Event {
	return agentapi.Event{Type: agentapi.EventLaunch, Launch: &agentapi.Launch{Framework: fw, Tasks: tasks}}
}
