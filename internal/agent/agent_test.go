package agent

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-dcos/basalt/internal/agentapi"
	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/internal/containerizer/fake"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

func fakeConts(rt *fake.Runtime) map[string]containerizer.Containerizer {
	return map[string]containerizer.Containerizer{fake.Name: fake.New(fake.Config{Runtime: rt})}
}

func fakeConfig(t *testing.T, m *fakeMaster) Config {
	cfg := testConfig(t, m)
	cfg.Containerizers = []string{fake.Name}
	return cfg
}

func TestRegistersAndReregistersWithTasksAfterStreamDrops(t *testing.T) {
	m := newFakeMaster(t)
	rt := fake.NewRuntime()
	a := startAgent(t, fakeConfig(t, m), fakeConts(rt))
	if got := m.lastSubscribe(); got.AgentInfo.ID != nil || got.ProtocolVersion != agentapi.Version || len(got.Tasks) != 0 {
		t.Fatalf("first SUBSCRIBE = %+v, want a registration without id or tasks", got)
	}
	id := a.ID()

	fw := testFramework("fw-1")
	m.send(launchEvent(fw, shellTask("t1", "sleep 1000")))
	m.waitState("t1", mesosv1.TaskRunning)

	n := m.subscribeCount()
	m.dropStream()
	eventually(t, 10*time.Second, func() bool { return m.subscribeCount() > n && a.connected() }, "agent did not re-register")
	sub := m.lastSubscribe()
	if sub.AgentInfo.ID == nil || sub.AgentInfo.ID.Value != id {
		t.Fatalf("re-registration agent id = %v, want %s", sub.AgentInfo.ID, id)
	}
	if len(sub.Tasks) != 1 || sub.Tasks[0].Info.TaskID.Value != "t1" || sub.Tasks[0].State != mesosv1.TaskRunning ||
		sub.Tasks[0].FrameworkID != "fw-1" {
		t.Fatalf("re-registration tasks = %+v, want t1 RUNNING", sub.Tasks)
	}
	if len(sub.Frameworks) != 1 || sub.Frameworks[0].ID.Value != "fw-1" || sub.Frameworks[0].Name != fw.Name {
		t.Fatalf("re-registration frameworks = %+v", sub.Frameworks)
	}
	if sub.Endpoint != a.endpoint || sub.AgentInfo.Hostname != "agent.test" {
		t.Fatalf("endpoint/hostname = %q/%q", sub.Endpoint, sub.AgentInfo.Hostname)
	}
	// The agent id is checkpointed.
	if got, err := a.ckpt.loadAgentID(); err != nil || got != id {
		t.Fatalf("checkpointed agent id = %q, %v; want %s", got, err, id)
	}
	if link, err := os.Readlink(filepath.Join(a.cfg.WorkDir, "slaves", "latest")); err != nil || link != id {
		t.Fatalf("slaves/latest -> %q, %v", link, err)
	}
}

func TestPosixTaskLifecycleAndExitCodes(t *testing.T) {
	m := newFakeMaster(t)
	a := startAgent(t, testConfig(t, m), nil)
	fw := testFramework("fw-1")
	m.send(launchEvent(fw, shellTask("ok", "echo hello; exit 0"), shellTask("bad", "exit 3"), shellTask("sig", "kill -9 $$")))

	fin := m.waitState("ok", mesosv1.TaskFinished)
	if got, want := states(m.updatesOf("ok")), []string{mesosv1.TaskStarting, mesosv1.TaskRunning, mesosv1.TaskFinished}; !cmp.Equal(got, want) {
		t.Errorf("ok states = %v, want %v", got, want)
	}
	if fin.Status.Message != "Command exited with status 0" || fin.Status.Source != mesosv1.SourceExecutor {
		t.Errorf("FINISHED = %+v", fin.Status)
	}
	failed := m.waitState("bad", mesosv1.TaskFailed)
	if failed.Status.Message != "Command exited with status 3" {
		t.Errorf("FAILED message = %q", failed.Status.Message)
	}
	sig := m.waitState("sig", mesosv1.TaskFailed)
	if !strings.HasPrefix(sig.Status.Message, "Command terminated with signal") {
		t.Errorf("signal message = %q", sig.Status.Message)
	}
	running := m.waitState("ok", mesosv1.TaskRunning)
	cs := running.Status.ContainerStatus
	if cs == nil || cs.ContainerID == nil || len(cs.NetworkInfos) != 1 || cs.NetworkInfos[0].IPAddresses[0].IPAddress != "127.0.0.1" {
		t.Errorf("RUNNING container_status = %+v", cs)
	}
	for _, u := range m.updatesOf("ok") {
		if len(u.Status.UUID) != 16 || u.Status.AgentID == nil || u.Status.AgentID.Value != a.ID() ||
			u.Status.ExecutorID == nil || u.Status.ExecutorID.Value != "ok" || u.FrameworkID != "fw-1" {
			t.Errorf("update %+v lacks uuid/agent/executor/framework", u)
		}
	}
	// Acknowledged terminal tasks are forgotten: completed in /state, no checkpoint.
	eventually(t, 10*time.Second, func() bool {
		recs, _ := a.ckpt.loadTasks()
		return len(recs) == 0
	}, "task checkpoints not removed after terminal acks")
	var st StateResponse
	getJSON(t, a.Agent, "/state", &st)
	if len(st.Frameworks) != 0 || len(st.CompletedFrameworks) != 1 || len(st.CompletedFrameworks[0].CompletedExecutors) != 3 {
		t.Errorf("state frameworks = %+v, completed = %+v", st.Frameworks, st.CompletedFrameworks)
	}
	// stdout went to the sandbox.
	sb := st.CompletedFrameworks[0].CompletedExecutors
	for _, ex := range sb {
		if ex.ID == "ok" {
			b, err := os.ReadFile(filepath.Join(ex.Directory, "stdout"))
			if err != nil || string(b) != "hello\n" {
				t.Errorf("stdout = %q, %v", b, err)
			}
		}
	}
}

func TestStatusUpdatesRetriedUntilAckedInOrder(t *testing.T) {
	m := newFakeMaster(t)
	m.setAutoAck(false)
	cfg := fakeConfig(t, m)
	cfg.StatusUpdateRetryMin = 20 * time.Millisecond
	cfg.StatusUpdateRetryMax = 40 * time.Millisecond
	rt := fake.NewRuntime()
	a := startAgent(t, cfg, fakeConts(rt))
	m.send(launchEvent(testFramework("fw-1"), shellTask("t1", "x")))

	// STARTING is resent until acknowledged; RUNNING waits behind it.
	eventually(t, 10*time.Second, func() bool { return len(m.updatesOf("t1")) >= 3 }, "STARTING not retried")
	us := m.updatesOf("t1")
	for _, u := range us {
		if u.Status.State != mesosv1.TaskStarting || string(u.Status.UUID) != string(us[0].Status.UUID) {
			t.Fatalf("before the ack only STARTING may be sent, got %v", states(us))
		}
	}
	// Duplicate and unknown acks are ignored.
	m.ack(agentapi.StatusUpdate{FrameworkID: "fw-1", Status: mesosv1.TaskStatus{TaskID: mesosv1.ID{Value: "t1"}, UUID: []byte("0123456789abcdef")}})
	m.ack(agentapi.StatusUpdate{FrameworkID: "fw-1", Status: mesosv1.TaskStatus{TaskID: mesosv1.ID{Value: "nope"}, UUID: us[0].Status.UUID}})
	n := len(m.updatesOf("t1"))
	eventually(t, 10*time.Second, func() bool { return len(m.updatesOf("t1")) > n+1 }, "retries stopped after bogus acks")
	if got := states(m.updatesOf("t1")); got[len(got)-1] != mesosv1.TaskStarting {
		t.Fatalf("a bogus ack released RUNNING: %v", got)
	}

	m.ack(us[0])
	m.ack(us[0]) // duplicate
	running := m.waitState("t1", mesosv1.TaskRunning)
	m.ack(running)

	// Kill: KILLED follows, once RUNNING is acked.
	cid := rt.Running()[0]
	if _, err := rt.Exit(cid, 0); err != nil {
		t.Fatal(err)
	}
	fin := m.waitState("t1", mesosv1.TaskFinished)
	m.ack(fin)
	got := states(m.updatesOf("t1"))
	var dedup []string
	for _, s := range got {
		if len(dedup) == 0 || dedup[len(dedup)-1] != s {
			dedup = append(dedup, s)
		}
	}
	if want := []string{mesosv1.TaskStarting, mesosv1.TaskRunning, mesosv1.TaskFinished}; !cmp.Equal(dedup, want) {
		t.Fatalf("updates out of order: %v", got)
	}
	eventually(t, 10*time.Second, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.frameworks) == 0
	}, "task not forgotten after its terminal ack")
	if got := rt.Running(); len(got) != 0 {
		t.Errorf("containers still running: %v", got)
	}
}

func TestFollowsRedirectToLeaderAndTriesMastersInTurn(t *testing.T) {
	m := newFakeMaster(t)
	// A standby that redirects to the leader, after a master that is down.
	standby := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, m.URL()+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer standby.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	cfg := fakeConfig(t, m)
	cfg.Masters = []string{down.URL, standby.URL}
	a := startAgent(t, cfg, fakeConts(nil))
	m.send(launchEvent(testFramework("fw-1"), shellTask("t1", "x")))
	m.waitState("t1", mesosv1.TaskRunning) // calls go to the leader
	a.mu.Lock()
	base := a.conn.masterBase
	a.mu.Unlock()
	if base != m.URL() {
		t.Errorf("calls go to %s, want the leader %s", base, m.URL())
	}
}

func TestReconnectsWhenTheStreamGoesSilent(t *testing.T) {
	m := newFakeMaster(t)
	a := startAgent(t, fakeConfig(t, m), fakeConts(nil))
	n := m.subscribeCount()
	m.mute()
	eventually(t, 10*time.Second, func() bool { return m.subscribeCount() > n && a.connected() }, "agent kept a silent stream")
}

func TestReconcileResendsLatestStatus(t *testing.T) {
	m := newFakeMaster(t)
	startAgent(t, fakeConfig(t, m), fakeConts(nil))
	m.send(launchEvent(testFramework("fw-1"), shellTask("t1", "x"), shellTask("t2", "x")))
	m.waitState("t1", mesosv1.TaskRunning)
	m.waitState("t2", mesosv1.TaskRunning)
	eventually(t, 10*time.Second, func() bool { return len(m.updatesOf("t1")) == 2 }, "updates")
	m.send(agentapi.Event{Type: agentapi.EventReconcile, Reconcile: &agentapi.Reconcile{TaskIDs: []string{"t1"}}})
	eventually(t, 10*time.Second, func() bool { return len(m.updatesOf("t1")) == 3 }, "no reconciliation update")
	u := m.updatesOf("t1")[2]
	if u.Status.State != mesosv1.TaskRunning || len(u.Status.UUID) != 0 {
		t.Errorf("reconciliation update = %s uuid %x, want RUNNING without uuid", u.Status.State, u.Status.UUID)
	}
	if n := len(m.updatesOf("t2")); n != 2 {
		t.Errorf("t2 got %d updates, want no reconciliation for it", n)
	}
}
