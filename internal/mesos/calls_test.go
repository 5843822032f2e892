package mesos

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/agentapi"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

func offerIDs(os []mesosv1.Offer) []mesosv1.ID {
	var ids []mesosv1.ID
	for _, o := range os {
		ids = append(ids, o.ID)
	}
	return ids
}

func TestDeclineFilterAndRevive(t *testing.T) {
	m, _ := startLeader(t, nil)
	startAgent(t, m, agentSubscribeBody("host1", "cpus:2;mem:1024"))
	a := subscribe(t, m, frameworkInfo("a"))
	o := a.next(mesosv1.EventOffers).Offers.Offers
	// Decline for a long time: a second framework gets the resources.
	long := 3600.0
	a.mustCall(mesosv1.Call{Type: mesosv1.CallDecline, Decline: &mesosv1.CallDeclineBody{OfferIDs: offerIDs(o), Filters: &mesosv1.Filters{RefuseSeconds: &long}}})
	b := subscribe(t, m, frameworkInfo("b"))
	ob := b.next(mesosv1.EventOffers).Offers.Offers
	// b declines too, with no filter: offered again (to b, since a is filtered).
	zero := 0.0
	b.mustCall(mesosv1.Call{Type: mesosv1.CallDecline, Decline: &mesosv1.CallDeclineBody{OfferIDs: offerIDs(ob), Filters: &mesosv1.Filters{RefuseSeconds: &zero}}})
	ob = b.next(mesosv1.EventOffers).Offers.Offers
	// b suppresses and declines: nobody is offered anything until a revives.
	b.mustCall(mesosv1.Call{Type: mesosv1.CallSuppress})
	b.mustCall(mesosv1.Call{Type: mesosv1.CallDecline, Decline: &mesosv1.CallDeclineBody{OfferIDs: offerIDs(ob), Filters: &mesosv1.Filters{RefuseSeconds: &zero}}})
	a.mustCall(mesosv1.Call{Type: mesosv1.CallRevive})
	oa := a.next(mesosv1.EventOffers).Offers.Offers
	if len(oa) != 1 {
		t.Fatalf("after revive a got %d offers", len(oa))
	}
	for _, ev := range b.pending {
		if ev.Type == mesosv1.EventOffers {
			t.Fatalf("suppressed framework got offers")
		}
	}
	eventually(t, "suppressed role visible to allocator only", func() bool {
		return m.Current().Counters["master/messages_suppress_offers"] == 1 && m.Current().Counters["master/messages_revive_offers"] == 1
	})
}

// launched sets up a framework with one RUNNING task on one agent.
func launched(t *testing.T, m *testMaster, fi mesosv1.FrameworkInfo, taskID string) (*sched, *fakeAgent) {
	t.Helper()
	ag := startAgent(t, m, agentSubscribeBody("host-"+taskID, "cpus:2;mem:1024"))
	s := subscribe(t, m, fi)
	var o mesosv1.Offer
	for {
		o = s.next(mesosv1.EventOffers).Offers.Offers[0]
		if o.AgentID.Value == ag.id {
			break
		}
	}
	s.launchRefusing(o, 3600, cmdTask(taskID, o, 1, 128))
	ag.next(agentapi.EventLaunch)
	ag.status(s.fwID, taskID, mesosv1.TaskRunning)
	s.ack(s.update(taskID))
	return s, ag
}

func TestKill(t *testing.T) {
	m, _ := startLeader(t, nil)
	s, ag := launched(t, m, frameworkInfo("fw"), "t1")
	s.mustCall(mesosv1.Call{Type: mesosv1.CallKill, Kill: &mesosv1.CallKillBody{TaskID: mesosv1.ID{Value: "t1"}}})
	if k := ag.next(agentapi.EventKill).Kill; k.TaskID != "t1" || k.FrameworkID != s.fwID {
		t.Fatalf("kill %+v", k)
	}
	ag.status(s.fwID, "t1", mesosv1.TaskKilled)
	if st := s.update("t1"); st.State != mesosv1.TaskKilled {
		t.Fatalf("got %+v", st)
	}
	// Unknown task: TASK_LOST (TASK_UNKNOWN for partition-aware).
	s.mustCall(mesosv1.Call{Type: mesosv1.CallKill, Kill: &mesosv1.CallKillBody{TaskID: mesosv1.ID{Value: "ghost"}}})
	if st := s.update("ghost"); st.State != mesosv1.TaskLost || st.Source != mesosv1.SourceMaster || len(st.UUID) != 0 {
		t.Fatalf("got %+v", st)
	}
	pa := subscribe(t, m, frameworkInfo("pa", mesosv1.CapPartitionAware))
	pa.mustCall(mesosv1.Call{Type: mesosv1.CallKill, Kill: &mesosv1.CallKillBody{TaskID: mesosv1.ID{Value: "ghost"}}})
	if st := pa.update("ghost"); st.State != mesosv1.TaskUnknown {
		t.Fatalf("got %+v", st)
	}
}

func TestReconcile(t *testing.T) {
	m, _ := startLeader(t, nil)
	s, ag := launched(t, m, frameworkInfo("fw"), "t1")
	// Implicit: every task, latest state, no uuid.
	s.mustCall(mesosv1.Call{Type: mesosv1.CallReconcile, Reconcile: &mesosv1.CallReconcileBody{}})
	st := s.update("t1")
	if st.State != mesosv1.TaskRunning || st.Reason != mesosv1.ReasonReconciliation || st.Source != mesosv1.SourceMaster || len(st.UUID) != 0 {
		t.Fatalf("implicit: %+v", st)
	}
	// Explicit: known, unknown on a registered agent, unknown without agent.
	s.mustCall(mesosv1.Call{Type: mesosv1.CallReconcile, Reconcile: &mesosv1.CallReconcileBody{Tasks: []mesosv1.ReconcileTask{
		{TaskID: mesosv1.ID{Value: "t1"}},
		{TaskID: mesosv1.ID{Value: "nope"}, AgentID: &mesosv1.ID{Value: ag.id}},
		{TaskID: mesosv1.ID{Value: "nowhere"}},
	}}})
	if st := s.update("t1"); st.State != mesosv1.TaskRunning {
		t.Fatalf("explicit known: %+v", st)
	}
	if st := s.update("nope"); st.State != mesosv1.TaskLost {
		t.Fatalf("explicit unknown: %+v", st)
	}
	if st := s.update("nowhere"); st.State != mesosv1.TaskLost {
		t.Fatalf("explicit unknown, no agent: %+v", st)
	}
	pa := subscribe(t, m, frameworkInfo("pa", mesosv1.CapPartitionAware))
	pa.mustCall(mesosv1.Call{Type: mesosv1.CallReconcile, Reconcile: &mesosv1.CallReconcileBody{Tasks: []mesosv1.ReconcileTask{
		{TaskID: mesosv1.ID{Value: "nope"}, AgentID: &mesosv1.ID{Value: ag.id}},
		{TaskID: mesosv1.ID{Value: "nowhere"}},
	}}})
	if st := pa.update("nope"); st.State != mesosv1.TaskGone {
		t.Fatalf("partition-aware unknown on agent: %+v", st)
	}
	if st := pa.update("nowhere"); st.State != mesosv1.TaskUnknown {
		t.Fatalf("partition-aware unknown: %+v", st)
	}
}

func TestDisconnectFailoverTimeoutZeroTearsDown(t *testing.T) {
	m, _ := startLeader(t, nil)
	s, ag := launched(t, m, frameworkInfo("fw"), "t1")
	s.close()
	if ev := ag.next(agentapi.EventShutdownFramework); ev.ShutdownFramework.FrameworkID != s.fwID {
		t.Fatalf("shutdown %+v", ev.ShutdownFramework)
	}
	eventually(t, "framework completed", func() bool {
		snap := m.Current()
		return len(snap.Frameworks) == 0 && len(snap.CompletedFrameworks) == 1 &&
			snap.CompletedFrameworks[0].CompletedTasks[0].State == mesosv1.TaskKilled
	})
	// A removed framework cannot come back.
	fi := frameworkInfo("fw")
	fi.ID = &mesosv1.ID{Value: s.fwID}
	s2 := trySubscribe(t, m, fi)
	if ev := s2.next(mesosv1.EventError); ev.Error.Message != "Framework has been removed" {
		t.Fatalf("error %+v", ev.Error)
	}
}

func TestResubscribeKeepsTasks(t *testing.T) {
	m, _ := startLeader(t, nil)
	fi := frameworkInfo("fw")
	fi.FailoverTimeout = 3600
	s, ag := launched(t, m, fi, "t1")
	s.close()
	eventually(t, "framework disconnected", func() bool {
		snap := m.Current()
		return len(snap.Frameworks) == 1 && !snap.Frameworks[0].Connected
	})
	// A call on the old stream is refused: not subscribed.
	if code, _ := s.call(mesosv1.Call{Type: mesosv1.CallRevive}); code != http.StatusForbidden {
		t.Fatalf("call while disconnected: %d", code)
	}
	fi.ID = &mesosv1.ID{Value: s.fwID}
	s2 := subscribe(t, m, fi)
	if s2.fwID != s.fwID {
		t.Fatalf("re-subscribed as %q, want %q", s2.fwID, s.fwID)
	}
	// Failing over again from a second connection: the first gets an ERROR.
	s3 := subscribe(t, m, fi)
	if ev := s2.next(mesosv1.EventError); ev.Error.Message != "Framework failed over" {
		t.Fatalf("error %+v", ev.Error)
	}
	s3.mustCall(mesosv1.Call{Type: mesosv1.CallReconcile, Reconcile: &mesosv1.CallReconcileBody{}})
	if st := s3.update("t1"); st.State != mesosv1.TaskRunning {
		t.Fatalf("task after failover: %+v", st)
	}
	// Operator-style teardown through the Actions interface.
	if err := m.Teardown(t.Context(), s.fwID); err != nil {
		t.Fatal(err)
	}
	ag.next(agentapi.EventShutdownFramework)
	s3.next(mesosv1.EventError)
	if err := m.Teardown(t.Context(), s.fwID); err == nil {
		t.Fatal("teardown of a removed framework succeeded")
	}
}

func TestSchedulerTeardown(t *testing.T) {
	m, _ := startLeader(t, nil)
	s, ag := launched(t, m, frameworkInfo("fw"), "t1")
	s.mustCall(mesosv1.Call{Type: mesosv1.CallTeardown})
	ag.next(agentapi.EventShutdownFramework)
	eventually(t, "framework completed", func() bool {
		snap := m.Current()
		return len(snap.CompletedFrameworks) == 1 && len(snap.Agents) == 1 && snap.Agents[0].Used.IsEmpty()
	})
}

func TestOfferTimeoutRescinds(t *testing.T) {
	m, _ := startLeader(t, func(c *Config) { c.OfferTimeout = 30 * 1e6 })
	startAgent(t, m, agentSubscribeBody("host1", "cpus:2;mem:1024"))
	s := subscribe(t, m, frameworkInfo("fw"))
	o := s.next(mesosv1.EventOffers).Offers.Offers[0]
	if r := s.next(mesosv1.EventRescind); r.Rescind.OfferID != o.ID {
		t.Fatalf("rescinded %v, want %v", r.Rescind.OfferID, o.ID)
	}
	// The resources come back in a new offer.
	if o2 := s.next(mesosv1.EventOffers).Offers.Offers[0]; o2.ID == o.ID {
		t.Fatal("offer id reused")
	}
}

func TestMessagesAndShutdown(t *testing.T) {
	m, _ := startLeader(t, nil)
	s, ag := launched(t, m, frameworkInfo("fw"), "t1")
	s.mustCall(mesosv1.Call{Type: mesosv1.CallMessage, Message: &mesosv1.CallMessageBody{
		AgentID: mesosv1.ID{Value: ag.id}, ExecutorID: mesosv1.ID{Value: "t1"}, Data: []byte("hi")}})
	if msg := ag.next(agentapi.EventMessage).Message; string(msg.Data) != "hi" || msg.ExecutorID != "t1" {
		t.Fatalf("message %+v", msg)
	}
	if code, err := ag.post(agentapi.Call{Type: agentapi.CallMessage, Message: &agentapi.ExecutorMessage{FrameworkID: s.fwID, ExecutorID: "t1", Data: []byte("yo")}}); err != nil || code != http.StatusAccepted {
		t.Fatalf("executor message: %d %v", code, err)
	}
	if msg := s.next(mesosv1.EventMessage).Message; string(msg.Data) != "yo" {
		t.Fatalf("framework message %+v", msg)
	}
	s.mustCall(mesosv1.Call{Type: mesosv1.CallShutdown, Shutdown: &mesosv1.CallShutdownBody{
		AgentID: mesosv1.ID{Value: ag.id}, ExecutorID: mesosv1.ID{Value: "t1"}}})
	if k := ag.next(agentapi.EventKill).Kill; k.TaskID != "t1" {
		t.Fatalf("shutdown kill %+v", k)
	}
	// Calls with a wrong stream id are refused.
	ag.streamID = "bogus"
	if code, _ := ag.post(agentapi.Call{Type: agentapi.CallHeartbeat}); code != http.StatusForbidden {
		t.Fatalf("heartbeat with a bad stream id: %d", code)
	}
}

// TestStreamOutlivesServerTimeouts: streams must survive the server's read
// and write timeouts.
func TestStreamOutlivesServerTimeouts(t *testing.T) {
	c := newCluster()
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ReadTimeout = 50 * time.Millisecond
	srv.Config.WriteTimeout = 50 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	cfg := testConfig()
	cfg.URL = srv.URL
	cfg.HeartbeatInterval = 150 * time.Millisecond
	m, err := New(cfg, Deps{Registry: c.reg, Elector: c.el})
	if err != nil {
		t.Fatal(err)
	}
	m.Register(mux)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; srv.CloseClientConnections() })
	eventually(t, "leader", m.IsLeader)
	s := trySubscribe(t, &testMaster{Master: m, srv: srv}, frameworkInfo("fw"))
	s.next(mesosv1.EventSubscribed)
	for range 3 { // 450 ms: well past both timeouts
		ev := <-s.events
		if ev.Type != mesosv1.EventHeartbeat {
			t.Fatalf("got %s, want HEARTBEAT", ev.Type)
		}
	}
	if s.isEnded() {
		t.Fatal("stream ended")
	}
}

func TestFailoverTimeoutExpires(t *testing.T) {
	m, _ := startLeader(t, nil)
	fi := frameworkInfo("fw")
	fi.FailoverTimeout = 0.05
	s, ag := launched(t, m, fi, "t1")
	s.close()
	ag.next(agentapi.EventShutdownFramework)
	eventually(t, "framework completed after its failover timeout", func() bool {
		return len(m.Current().CompletedFrameworks) == 1
	})
}

func TestLaunchGroup(t *testing.T) {
	m, _ := startLeader(t, nil)
	ag := startAgent(t, m, agentSubscribeBody("host1", "cpus:2;mem:1024"))
	s := subscribe(t, m, frameworkInfo("fw"))
	o := s.next(mesosv1.EventOffers).Offers.Offers[0]
	ex := mesosv1.ExecutorInfo{Type: "DEFAULT", ExecutorID: mesosv1.ID{Value: "ex1"},
		Resources: mesosv1.Resources{mesosv1.NewScalar("cpus", 0.1), mesosv1.NewScalar("mem", 32)}.Allocate("*")}
	t1, t2 := cmdTask("g1", o, 0.5, 64), cmdTask("g2", o, 0.5, 64)
	s.mustCall(mesosv1.Call{Type: mesosv1.CallAccept, Accept: &mesosv1.CallAcceptBody{
		OfferIDs: []mesosv1.ID{o.ID},
		Operations: []mesosv1.Operation{{Type: mesosv1.OpLaunchGroup, LaunchGroup: &mesosv1.OpLaunchGroupBody{
			Executor: ex, TaskGroup: mesosv1.TaskGroupInfo{Tasks: []mesosv1.TaskInfo{t1, t2}}}}},
		Filters: &mesosv1.Filters{RefuseSeconds: new(0.0)},
	}})
	lg := ag.next(agentapi.EventLaunchGroup).LaunchGroup
	if lg.Executor.ExecutorID.Value != "ex1" || len(lg.TaskGroup.Tasks) != 2 || lg.Executor.FrameworkID.Value != s.fwID {
		t.Fatalf("launch group %+v", lg)
	}
	eventually(t, "group tasks staged with the executor's resources", func() bool {
		snap := m.Current()
		return len(snap.Frameworks) == 1 && len(snap.Agents) == 1 &&
			len(snap.Frameworks[0].Tasks) == 2 && snap.Agents[0].Used.ScalarSum("cpus") == 1.1 &&
			snap.Frameworks[0].Tasks[0].ExecutorID == "ex1"
	})
	// A group with one invalid task fails as a whole.
	o2 := s.next(mesosv1.EventOffers).Offers.Offers[0]
	bad := cmdTask("g4", o2, 100, 64)
	s.mustCall(mesosv1.Call{Type: mesosv1.CallAccept, Accept: &mesosv1.CallAcceptBody{
		OfferIDs: []mesosv1.ID{o2.ID},
		Operations: []mesosv1.Operation{{Type: mesosv1.OpLaunchGroup, LaunchGroup: &mesosv1.OpLaunchGroupBody{
			Executor:  mesosv1.ExecutorInfo{ExecutorID: mesosv1.ID{Value: "ex2"}},
			TaskGroup: mesosv1.TaskGroupInfo{Tasks: []mesosv1.TaskInfo{cmdTask("g3", o2, 0.1, 8), bad}}}}},
	}})
	for _, id := range []string{"g3", "g4"} {
		if st := s.update(id); st.State != mesosv1.TaskError || st.Reason != mesosv1.ReasonTaskInvalid {
			t.Fatalf("%s: %+v", id, st)
		}
	}
}

func TestUpdateFramework(t *testing.T) {
	m, c := startLeader(t, nil)
	startAgent(t, m, agentSubscribeBody("host1", "cpus:2;mem:1024"))
	s := subscribe(t, m, frameworkInfo("fw"))
	s.next(mesosv1.EventOffers)
	fi := frameworkInfo("fw-renamed")
	fi.Roles = []string{"web"}
	fi.ID = &mesosv1.ID{Value: "someone-else"}
	if code, _ := s.call(mesosv1.Call{Type: mesosv1.CallUpdateFramework, UpdateFramework: &mesosv1.CallUpdateFrameworkBody{FrameworkInfo: fi}}); code != http.StatusBadRequest {
		t.Fatalf("update with a foreign id: %d", code)
	}
	fi.ID = &mesosv1.ID{Value: s.fwID}
	s.mustCall(mesosv1.Call{Type: mesosv1.CallUpdateFramework, UpdateFramework: &mesosv1.CallUpdateFrameworkBody{FrameworkInfo: fi}})
	// The outstanding offer was for role "*", which the framework left.
	s.next(mesosv1.EventRescind)
	eventually(t, "new info in snapshot and registry", func() bool {
		snap := m.Current()
		st, _ := c.reg.Load(context.Background())
		return len(snap.Frameworks) == 1 && snap.Frameworks[0].Info.Name == "fw-renamed" &&
			len(st.Frameworks) == 1 && st.Frameworks[0].Info.Name == "fw-renamed"
	})
}

// TestSlowSubscriberIsDisconnected: the loop never blocks on a stream; a
// subscriber whose queue is full is closed.
func TestSlowSubscriberIsDisconnected(t *testing.T) {
	k, fw := benchKernel(t, 1, 0)
	sub := fw.sub
	for i := 0; !sub.closed; i++ {
		if i > k.cfg.SubscriberQueue+1 {
			t.Fatal("subscriber not closed after its queue filled")
		}
		k.send(sub, mesosv1.Event{Type: mesosv1.EventHeartbeat})
	}
	if k.counters["master/dropped_messages"] != 1 {
		t.Fatalf("dropped_messages = %v", k.counters["master/dropped_messages"])
	}
	// The handler then reports the end of the stream: the framework disconnects.
	k.frameworkStreamClosed(fw.id, sub, time.Now())
	if fw.state != fwDisconnected || fw.sub != nil {
		t.Fatalf("framework state %v", fw.state)
	}
}

// TestReconcileFloodKeepsTheStream: a framework with more tasks than
// SubscriberQueue that reconciles all of them explicitly and then
// implicitly, without reading, stays connected (its answers are what it
// asked for); a framework that lags beyond that is still disconnected.
func TestReconcileFloodKeepsTheStream(t *testing.T) {
	k, fw := benchKernel(t, 4, 200)
	k.cfg.SubscriberQueue = 64
	fw.sub.take()
	var all []mesosv1.ReconcileTask
	for id := range fw.tasks {
		all = append(all, mesosv1.ReconcileTask{TaskID: mesosv1.ID{Value: id}})
	}
	now := time.Now()
	k.reconcile(fw, &mesosv1.CallReconcileBody{Tasks: all}, now)
	k.reconcile(fw, nil, now)
	k.send(fw.sub, mesosv1.Event{Type: mesosv1.EventHeartbeat})
	if fw.sub.closed {
		t.Fatalf("disconnected after reconciling: %d queued", fw.sub.queued())
	}
	if got := fw.sub.queued(); got != 401 {
		t.Fatalf("%d events queued, want 2 × 200 answers and a heartbeat", got)
	}
	for i := 0; !fw.sub.closed; i++ {
		if i > k.cfg.SubscriberQueue {
			t.Fatal("a framework lagging beyond its allowance was not disconnected")
		}
		k.send(fw.sub, mesosv1.Event{Type: mesosv1.EventHeartbeat})
	}
}

func TestSnapshotGap(t *testing.T) {
	for _, c := range []struct{ cost, want time.Duration }{
		{0, minSnapshotGap},
		{100 * time.Microsecond, minSnapshotGap},
		{2 * time.Millisecond, 20 * time.Millisecond},
		{30 * time.Millisecond, 75 * time.Millisecond},
	} {
		if got := snapshotGap(c.cost, 75*time.Millisecond); got != c.want {
			t.Errorf("snapshotGap(%v) = %v, want %v", c.cost, got, c.want)
		}
	}
}
