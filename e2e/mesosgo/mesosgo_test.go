package mesosgo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/recordio"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/basalt-dcos/basalt/internal/agent"
	"github.com/basalt-dcos/basalt/internal/clustertest"
	"github.com/basalt-dcos/basalt/internal/containerizer/posix"
)

func TestMain(m *testing.M) {
	if handled, code := posix.MaybeRunShim(); handled {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// waitFor bounds every event-driven wait; it is a deadline, not a timing
// assertion.
const waitFor = 30 * time.Second

// sched is a minimal mesos-go scheduler: one subscription stream decoded by
// mesos-go on its own goroutine, calls issued through mesos-go's httpsched
// caller. Every status update that carries a uuid is acknowledged with
// mesos-go's ACKNOWLEDGE call as soon as it is seen.
type sched struct {
	t      *testing.T
	caller calls.Caller
	events chan *scheduler.Event
	// streamErr holds why the stream ended once events is closed.
	streamErr error
	fwID      string

	updates []mesos.TaskStatus // every update seen, in order
	acked   int
	offers  []mesos.Offer // offers seen and not yet used or declined
	raw     rawStream     // the subscription stream's bytes, as Basalt sent them
	close   func()        // ends the subscription (the scheduler "crashes")
}

// rawStream collects the bytes of a subscription stream.
type rawStream struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *rawStream) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

func (r *rawStream) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.buf.Bytes())
}

// recorder is a RoundTripper that copies the body of every subscription
// stream (a 200 answer with a Mesos-Stream-Id) into raw as it is read.
type recorder struct {
	next http.RoundTripper
	raw  io.Writer
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusOK && resp.Header.Get("Mesos-Stream-Id") != "" {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.TeeReader(resp.Body, r.raw), resp.Body}
	}
	return resp, err
}

func frameworkInfo(name string) *mesos.FrameworkInfo {
	failover := time.Hour.Seconds()
	return &mesos.FrameworkInfo{
		User:            "root",
		Name:            name,
		FailoverTimeout: &failover,
		Capabilities: []mesos.FrameworkInfo_Capability{
			{Type: mesos.FrameworkInfo_Capability_PARTITION_AWARE},
			{Type: mesos.FrameworkInfo_Capability_TASK_KILLING_STATE},
		},
	}
}

// subscribe connects a mesos-go scheduler to master URL base and returns
// once SUBSCRIBED arrived. The stream is closed at cleanup.
func subscribe(t *testing.T, base string, info *mesos.FrameworkInfo) (*sched, *scheduler.Event_Subscribed) {
	t.Helper()
	tr := &http.Transport{ResponseHeaderTimeout: 15 * time.Second}
	s := &sched{t: t, events: make(chan *scheduler.Event, 1024)}
	cli := httpcli.New(
		httpcli.Endpoint(base+"/api/v1/scheduler"),
		httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeJSON]),
		httpcli.Do(httpcli.With(httpcli.RoundTripper(&recorder{next: tr, raw: &s.raw}))),
	)
	s.caller = httpsched.NewCaller(cli)

	ctx, cancel := context.WithCancel(context.Background())
	resp, err := s.caller.Call(ctx, calls.Subscribe(info))
	if err != nil {
		cancel()
		tr.CloseIdleConnections()
		t.Fatalf("SUBSCRIBE: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(s.events)
		for {
			var e scheduler.Event
			if err := resp.Decode(&e); err != nil {
				s.streamErr = err
				return
			}
			select {
			case s.events <- &e:
			case <-ctx.Done():
				s.streamErr = ctx.Err()
				return
			}
		}
	}()
	var once sync.Once
	s.close = func() {
		once.Do(func() {
			cancel()
			resp.Close()
			<-done
			tr.CloseIdleConnections()
		})
	}
	t.Cleanup(s.close)

	e := s.await("SUBSCRIBED", func(e *scheduler.Event) bool { return e.GetType() == scheduler.Event_SUBSCRIBED })
	sub := e.GetSubscribed()
	s.fwID = sub.GetFrameworkID().GetValue()
	if s.fwID == "" {
		t.Fatalf("SUBSCRIBED without a framework id: %+v", sub)
	}
	return s, sub
}

// call sends a mesos-go call on behalf of the subscribed framework and fails
// the test if Basalt rejects it.
func (s *sched) call(c *scheduler.Call) {
	s.t.Helper()
	if err := s.tryCall(c); err != nil {
		s.t.Fatalf("%s: %v", c.GetType(), err)
	}
}

func (s *sched) tryCall(c *scheduler.Call) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := s.caller.Call(ctx, c.With(calls.Framework(s.fwID)))
	if resp != nil {
		resp.Close()
	}
	return err
}

// await consumes events until match accepts one, or fails the test after
// waitFor.
func (s *sched) await(what string, match func(*scheduler.Event) bool) *scheduler.Event {
	s.t.Helper()
	deadline := time.NewTimer(waitFor)
	defer deadline.Stop()
	for {
		select {
		case e, ok := <-s.events:
			if !ok {
				s.t.Fatalf("waiting for %s: the subscription stream ended: %v", what, s.streamErr)
			}
			if s.handle(what, e, match) {
				return e
			}
		case <-deadline.C:
			s.t.Fatalf("no %s within %v", what, waitFor)
		}
	}
}

// drain handles the events already received, without waiting.
func (s *sched) drain() {
	s.t.Helper()
	for {
		select {
		case e, ok := <-s.events:
			if !ok {
				s.t.Fatalf("the subscription stream ended: %v", s.streamErr)
			}
			s.handle("", e, func(*scheduler.Event) bool { return false })
		default:
			return
		}
	}
}

// handle records and acknowledges updates and reports whether match
// accepts e; offers it does not accept are kept in s.offers.
func (s *sched) handle(what string, e *scheduler.Event, match func(*scheduler.Event) bool) bool {
	s.t.Helper()
	switch e.GetType() {
	case scheduler.Event_UPDATE:
		st := e.GetUpdate().GetStatus()
		s.updates = append(s.updates, st)
		if len(st.GetUUID()) > 0 {
			s.call(calls.Acknowledge(st.GetAgentID().GetValue(), st.TaskID.Value, st.GetUUID()))
			s.acked++
		}
	case scheduler.Event_ERROR:
		s.t.Fatalf("waiting for %s: ERROR event: %s", what, e.GetError().GetMessage())
	}
	if match(e) {
		return true
	}
	if e.GetType() == scheduler.Event_OFFERS {
		s.offers = append(s.offers, e.GetOffers().GetOffers()...)
	}
	return false
}

// awaitOffer returns an offer, seen before or arriving next.
func (s *sched) awaitOffer() mesos.Offer {
	s.t.Helper()
	if len(s.offers) == 0 {
		e := s.await("OFFERS", func(e *scheduler.Event) bool { return e.GetType() == scheduler.Event_OFFERS })
		s.offers = e.GetOffers().GetOffers()
		if len(s.offers) == 0 {
			s.t.Fatal("OFFERS event without offers")
		}
	}
	o := s.offers[0]
	s.offers = s.offers[1:]
	return o
}

// awaitState waits for an update of task id to state.
func (s *sched) awaitState(id string, state mesos.TaskState) mesos.TaskStatus {
	s.t.Helper()
	e := s.await(fmt.Sprintf("%s %s", id, state), func(e *scheduler.Event) bool {
		st := e.GetUpdate().GetStatus()
		return e.GetType() == scheduler.Event_UPDATE && st.TaskID.Value == id && st.GetState() == state
	})
	return e.GetUpdate().GetStatus()
}

// taskResources carves cpus and mem out of the offer's resources, keeping
// their role, reservations and allocation_info.
func taskResources(t *testing.T, o mesos.Offer, cpus, mem float64) mesos.Resources {
	t.Helper()
	want := map[string]float64{"cpus": cpus, "mem": mem}
	var out mesos.Resources
	for _, r := range o.GetResources() {
		need, ok := want[r.GetName()]
		if !ok || r.GetType() != mesos.SCALAR || r.GetScalar().GetValue() < need {
			continue
		}
		if r.GetAllocationInfo() == nil {
			t.Errorf("offered resource %s has no allocation_info", r.GetName())
		}
		r.Scalar = &mesos.Value_Scalar{Value: need}
		out = append(out, r)
		delete(want, r.GetName())
	}
	if len(want) > 0 {
		t.Fatalf("offer %s lacks %v: %v", o.ID.Value, want, mesos.Resources(o.GetResources()))
	}
	return out
}

// The whole life of a framework and one task, driven only by mesos-go.
func TestMesosGoSchedulerLifecycle(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Agents: 1, Agent: func(_ int, cfg *agent.Config) {
		// Attributes of each kind Mesos allows (text, scalar, ranges) and a fault domain, so that offers carry them.
		cfg.Attributes = "rack:r1;weight:2.5;slots:[1-4]"
		cfg.Domain = agent.Domain{Region: "eu", Zone: "eu-1"}
	}})
	s, sub := subscribe(t, c.MasterURLs()[0], frameworkInfo("mesos-go-compat"))
	if sub.GetHeartbeatIntervalSeconds() <= 0 {
		t.Errorf("SUBSCRIBED heartbeat_interval_seconds = %v", sub.GetHeartbeatIntervalSeconds())
	}
	if sub.GetMasterInfo() == nil || sub.GetMasterInfo().GetID() == "" {
		t.Errorf("SUBSCRIBED master_info = %+v", sub.GetMasterInfo())
	}

	// ACCEPT one offer with a LAUNCH built from mesos-go types.
	o := s.awaitOffer()
	if o.FrameworkID.Value != s.fwID || o.AgentID.Value == "" || o.GetHostname() == "" {
		t.Fatalf("offer %+v", o)
	}
	if d := o.GetDomain().GetFaultDomain(); d.GetRegion().Name != "eu" || d.GetZone().Name != "eu-1" {
		t.Errorf("offer domain = %+v", o.GetDomain())
	}
	attrs := map[string]mesos.Value_Type{}
	for _, a := range o.GetAttributes() {
		attrs[a.Name] = a.GetType()
	}
	if len(attrs) != 3 || attrs["rack"] != mesos.TEXT || attrs["weight"] != mesos.SCALAR || attrs["slots"] != mesos.RANGES {
		t.Errorf("offer attributes = %v", o.GetAttributes())
	}
	if o.GetAllocationInfo().GetRole() != "*" {
		t.Errorf("offer allocation_info = %+v, want role *", o.GetAllocationInfo())
	}
	const taskID = "mesos-go-task"
	cmd, shell := "sleep 1000", true
	task := mesos.TaskInfo{
		Name:      taskID,
		TaskID:    mesos.TaskID{Value: taskID},
		AgentID:   o.AgentID,
		Resources: taskResources(t, o, 0.1, 32),
		Command:   &mesos.CommandInfo{Value: &cmd, Shell: &shell},
		Labels:    &mesos.Labels{Labels: []mesos.Label{{Key: "compat", Value: &cmd}}},
	}
	s.call(calls.Accept(calls.OfferOperations{calls.OpLaunch(task)}.WithOffers(o.ID)).With(calls.RefuseSeconds(0)))

	agentID := o.AgentID.Value
	running := s.awaitState(taskID, mesos.TASK_RUNNING)
	if running.GetAgentID().GetValue() != agentID || len(running.GetUUID()) == 0 {
		t.Errorf("TASK_RUNNING update %+v", running)
	}
	var states []mesos.TaskState
	for _, u := range s.updates {
		states = append(states, u.GetState())
	}
	if len(states) == 0 || (states[0] != mesos.TASK_STARTING && states[0] != mesos.TASK_RUNNING) {
		t.Errorf("first updates of %s: %v", taskID, states)
	}

	// The acknowledgements reached the master: the task's latest status is
	// acknowledged there once the agent has heard of it. Basalt's state
	// shows the task running with the labels mesos-go sent.
	clustertest.Eventually(t, waitFor, func() error {
		for _, fw := range c.State().Frameworks {
			if fw.ID != s.fwID {
				continue
			}
			if len(fw.Tasks) != 1 || fw.Tasks[0].ID != taskID || fw.Tasks[0].State != "TASK_RUNNING" {
				return fmt.Errorf("tasks %+v", fw.Tasks)
			}
			if l := fw.Tasks[0].Labels; len(l) != 1 || l[0].Key != "compat" || l[0].Value != cmd {
				return fmt.Errorf("labels %+v", l)
			}
			return nil
		}
		return errors.New("framework not in state")
	})

	// Explicit reconciliation answers from the master, without a uuid.
	s.call(calls.Reconcile(calls.ReconcileTasks(map[string]string{taskID: agentID})))
	rec := s.await("reconciliation of "+taskID, func(e *scheduler.Event) bool {
		st := e.GetUpdate().GetStatus()
		return e.GetType() == scheduler.Event_UPDATE && st.TaskID.Value == taskID &&
			st.GetReason() == mesos.REASON_RECONCILIATION
	}).GetUpdate().GetStatus()
	if rec.GetState() != mesos.TASK_RUNNING || rec.GetSource() != mesos.SOURCE_MASTER || len(rec.GetUUID()) != 0 {
		t.Errorf("reconciliation update %+v", rec)
	}

	// ACCEPT of an offer that was already used drops the task, from the
	// master, with REASON_INVALID_OFFERS (the framework is partition-aware).
	ghost := task
	ghost.TaskID = mesos.TaskID{Value: "mesos-go-ghost"}
	s.call(calls.Accept(calls.OfferOperations{calls.OpLaunch(ghost)}.WithOffers(o.ID)))
	dropped := s.await("update of mesos-go-ghost", func(e *scheduler.Event) bool {
		return e.GetType() == scheduler.Event_UPDATE && e.GetUpdate().GetStatus().TaskID.Value == "mesos-go-ghost"
	}).GetUpdate().GetStatus()
	if dropped.GetState() != mesos.TASK_DROPPED || dropped.GetReason() != mesos.REASON_INVALID_OFFERS ||
		dropped.GetSource() != mesos.SOURCE_MASTER {
		t.Errorf("launch on a used offer: %+v", dropped)
	}

	// KILL → TASK_KILLED (through TASK_KILLING: the framework is
	// TASK_KILLING_STATE capable).
	s.call(calls.Kill(taskID, agentID))
	killed := s.awaitState(taskID, mesos.TASK_KILLED)
	if len(killed.GetUUID()) == 0 {
		t.Errorf("TASK_KILLED update without uuid: %+v", killed)
	}
	sawKilling := false
	for _, u := range s.updates {
		sawKilling = sawKilling || u.GetState() == mesos.TASK_KILLING
	}
	if !sawKilling {
		t.Errorf("no TASK_KILLING before TASK_KILLED")
	}

	// DECLINE every offer with a long filter (offers for the freed
	// resources may still be on their way): none stays outstanding.
	s.offers = append(s.offers, s.awaitOffer())
	clustertest.Eventually(t, waitFor, func() error {
		s.drain()
		if len(s.offers) > 0 {
			var ids []mesos.OfferID
			for _, o := range s.offers {
				ids = append(ids, o.ID)
			}
			s.offers = nil
			s.call(calls.Decline(ids...).With(calls.RefuseSeconds(time.Hour)))
		}
		for _, fw := range c.State().Frameworks {
			if fw.ID == s.fwID && len(fw.Offers) > 0 {
				return fmt.Errorf("%d offers still outstanding", len(fw.Offers))
			}
		}
		return nil
	})
	// REVIVE clears the filter: the agent is offered again.
	s.call(calls.Revive())
	o = s.awaitOffer()
	if o.AgentID.Value != agentID {
		t.Errorf("offer after REVIVE is for agent %q, want %q", o.AgentID.Value, agentID)
	}

	// Every update that carried a uuid was acknowledged without error.
	if s.acked == 0 {
		t.Error("nothing was acknowledged")
	}

	// TEARDOWN ends the stream and completes the framework.
	s.call(&scheduler.Call{Type: scheduler.Call_TEARDOWN})
	s.awaitStreamEnd()
	clustertest.Eventually(t, waitFor, func() error {
		st := c.State()
		for _, fw := range st.Frameworks {
			if fw.ID == s.fwID {
				return errors.New("framework still registered")
			}
		}
		for _, fw := range st.CompletedFrameworks {
			if fw.ID == s.fwID {
				return nil
			}
		}
		return errors.New("framework not among completed_frameworks")
	})

	// Nothing Basalt sent was lost on mesos-go: every field of every event
	// survives decoding into mesos-go's types and encoding back.
	checkEventsRoundTrip(t, s.raw.bytes(), "SUBSCRIBED", "OFFERS", "UPDATE")
}

// checkEventsRoundTrip decodes each RecordIO record of a raw subscription
// stream into a mesos-go Event (requiring the event types in want) and reports every field of the original
// JSON that mesos-go's re-encoding lacks or renders differently: a field
// name, enum value or shape that a real Mesos client does not understand.
func checkEventsRoundTrip(t *testing.T, raw []byte, want ...string) {
	t.Helper()
	r := recordio.NewReader(bytes.NewReader(raw))
	seen := map[string]int{}
	for {
		rec, err := r.ReadFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading the recorded stream: %v", err)
		}
		var orig map[string]any
		if err := json.Unmarshal(rec, &orig); err != nil {
			t.Fatalf("event is not a JSON object: %v: %s", err, rec)
		}
		var ev scheduler.Event
		if err := json.Unmarshal(rec, &ev); err != nil {
			t.Errorf("mesos-go cannot decode %s: %v", rec, err)
			continue
		}
		seen[ev.GetType().String()]++
		again, err := json.Marshal(&ev)
		if err != nil {
			t.Fatal(err)
		}
		var back map[string]any
		if err := json.Unmarshal(again, &back); err != nil {
			t.Fatal(err)
		}
		for _, d := range lost("", orig, back) {
			t.Errorf("%s event, as mesos-go reads it: %s\n  sent: %s", ev.GetType(), d, rec)
		}
	}
	for _, typ := range want {
		if seen[typ] == 0 {
			t.Errorf("no %s event recorded (saw %v)", typ, seen)
		}
	}
}

// lost lists the paths of values in sent that are missing from or differ in
// got, which is sent decoded by the other side and encoded again; nulls in
// sent mean "not set" and are ignored. Extra fields in got (explicit nulls
// and defaults) are fine.
func lost(path string, sent, got any) []string {
	switch sv := sent.(type) {
	case map[string]any:
		gv, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: sent an object, got %v", path, got)}
		}
		keys := make([]string, 0, len(sv))
		for k := range sv {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var out []string
		for _, k := range keys {
			if sv[k] == nil {
				continue
			}
			g, ok := gv[k]
			if !ok {
				out = append(out, fmt.Sprintf("%s.%s: dropped", path, k))
				continue
			}
			out = append(out, lost(path+"."+k, sv[k], g)...)
		}
		return out
	case []any:
		gv, ok := got.([]any)
		if !ok || len(gv) != len(sv) {
			return []string{fmt.Sprintf("%s: sent %v, got %v", path, sent, got)}
		}
		var out []string
		for i := range sv {
			out = append(out, lost(fmt.Sprintf("%s[%d]", path, i), sv[i], gv[i])...)
		}
		return out
	default:
		if fmt.Sprint(sent) != fmt.Sprint(got) {
			return []string{fmt.Sprintf("%s: sent %v, got %v", path, sent, got)}
		}
		return nil
	}
}

// awaitStreamEnd drains events until the master closes the stream.
func (s *sched) awaitStreamEnd() {
	s.t.Helper()
	deadline := time.NewTimer(waitFor)
	defer deadline.Stop()
	for {
		select {
		case e, ok := <-s.events:
			if !ok {
				if s.streamErr != nil && !errors.Is(s.streamErr, io.EOF) {
					s.t.Logf("stream ended with %v", s.streamErr)
				}
				return
			}
			if e.GetType() == scheduler.Event_ERROR {
				s.t.Logf("ERROR event before the stream ended: %s", e.GetError().GetMessage())
			}
		case <-deadline.C:
			s.t.Fatalf("the subscription stream did not end within %v", waitFor)
		}
	}
}

// A framework that lost its connection subscribes again with its framework
// id through a new mesos-go client, keeps its running task, and learns the
// task's state through implicit reconciliation.
func TestMesosGoResubscribe(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Agents: 1})
	info := frameworkInfo("mesos-go-failover")
	s, _ := subscribe(t, c.MasterURLs()[0], info)

	o := s.awaitOffer()
	const taskID = "survivor"
	cmd := "sleep 1000"
	task := mesos.TaskInfo{
		Name:      taskID,
		TaskID:    mesos.TaskID{Value: taskID},
		AgentID:   o.AgentID,
		Resources: taskResources(t, o, 0.5, 64),
		Command:   &mesos.CommandInfo{Value: &cmd},
	}
	s.call(calls.Accept(calls.OfferOperations{calls.OpLaunch(task)}.WithOffers(o.ID)))
	s.awaitState(taskID, mesos.TASK_RUNNING)
	fwID := s.fwID
	s.close()
	clustertest.Eventually(t, waitFor, func() error {
		for _, fw := range c.State().Frameworks {
			if fw.ID == fwID && fw.Connected {
				return errors.New("framework still connected")
			}
		}
		return nil
	})

	info.ID = &mesos.FrameworkID{Value: fwID}
	s2, sub := subscribe(t, c.MasterURLs()[0], info)
	if s2.fwID != fwID {
		t.Fatalf("resubscribed as %q, want %q", s2.fwID, fwID)
	}
	if sub.GetHeartbeatIntervalSeconds() <= 0 {
		t.Errorf("SUBSCRIBED heartbeat_interval_seconds = %v", sub.GetHeartbeatIntervalSeconds())
	}
	s2.call(calls.Reconcile())
	st := s2.await("implicit reconciliation", func(e *scheduler.Event) bool {
		st := e.GetUpdate().GetStatus()
		return e.GetType() == scheduler.Event_UPDATE && st.TaskID.Value == taskID && st.GetReason() == mesos.REASON_RECONCILIATION
	}).GetUpdate().GetStatus()
	if st.GetState() != mesos.TASK_RUNNING || st.GetAgentID().GetValue() != o.AgentID.Value {
		t.Errorf("reconciled %s as %+v", taskID, st)
	}
	clustertest.Eventually(t, waitFor, func() error {
		for _, fw := range c.State().Frameworks {
			if fw.ID != fwID {
				continue
			}
			if !fw.Connected || !fw.Active || fw.FailoverTimeout != time.Hour.Seconds() {
				return fmt.Errorf("framework connected=%v active=%v failover_timeout=%v", fw.Connected, fw.Active, fw.FailoverTimeout)
			}
			if len(fw.Tasks) != 1 || fw.Tasks[0].State != "TASK_RUNNING" {
				return fmt.Errorf("tasks %+v", fw.Tasks)
			}
			return nil
		}
		return errors.New("framework not in state")
	})
	// Heartbeats decode too (the harness's interval is a second).
	s2.await("HEARTBEAT", func(e *scheduler.Event) bool { return e.GetType() == scheduler.Event_HEARTBEAT })
	checkEventsRoundTrip(t, s.raw.bytes(), "SUBSCRIBED", "OFFERS", "UPDATE")
	checkEventsRoundTrip(t, s2.raw.bytes(), "SUBSCRIBED", "UPDATE", "HEARTBEAT")
}

// SUBSCRIBE sent to a standby master follows Basalt's 307 and its Location
// header the way mesos-go does. (mesos-go v0.0.11 keeps sending its other
// calls to the endpoint it was configured with, so a real framework must be
// pointed at the leader or a load balancer; only SUBSCRIBE is checked.)
func TestMesosGoSubscribeFollowsRedirect(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Masters: 3, Agents: 1})
	leader := c.Leader()
	var standby string
	for _, m := range c.Masters {
		if m != leader {
			standby = m.URL()
			break
		}
	}
	s, _ := subscribe(t, standby, frameworkInfo("mesos-go-redirected"))
	s.awaitOffer()
	clustertest.Eventually(t, waitFor, func() error {
		for _, fw := range c.State().Frameworks {
			if fw.ID == s.fwID && fw.Connected {
				return nil
			}
		}
		return fmt.Errorf("framework %s not connected at the leader", s.fwID)
	})
}
