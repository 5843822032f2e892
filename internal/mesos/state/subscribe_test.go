package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
	"github.com/basalt-dcos/basalt/pkg/recordio"
)

// notifySource is a Source and Notifier the test publishes to.
type notifySource struct {
	mu sync.Mutex
	s  *Snapshot
	ch chan struct{}
}

func newNotifySource(s *Snapshot) *notifySource { return &notifySource{s: s, ch: make(chan struct{})} }

func (n *notifySource) Current() *Snapshot {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.s
}

func (n *notifySource) Changed() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

func (n *notifySource) publish(s *Snapshot) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.s = s
	close(n.ch)
	n.ch = make(chan struct{})
}

// world is a mutable description of a cluster that renders snapshots the
// way the event loop does: unchanged task records and lists are shared.
type world struct {
	elected time.Time
	agents  map[string]*Agent
	fws     map[string]*Framework // the record's Tasks etc. are rebuilt by snap
	live    map[string][]*Task    // by framework, sorted by ID
	unr     map[string][]*Task
	done    map[string][]*Task
	gone    []*Framework
}

func newWorld() *world {
	return &world{elected: epoch, agents: map[string]*Agent{}, fws: map[string]*Framework{},
		live: map[string][]*Task{}, unr: map[string][]*Task{}, done: map[string][]*Task{}}
}

func (w *world) addAgent(id string) {
	w.agents[id] = &Agent{Info: mesosv1.AgentInfo{ID: &mesosv1.ID{Value: id}, Hostname: id + ".test"}, Active: true}
}

func (w *world) addFramework(id string) {
	w.fws[id] = &Framework{Info: mesosv1.FrameworkInfo{ID: &mesosv1.ID{Value: id}, Name: "fw-" + id}, Active: true, Connected: true}
}

func status(id, state string, ts float64) mesosv1.TaskStatus {
	return mesosv1.TaskStatus{TaskID: mesosv1.ID{Value: id}, State: state, Timestamp: ts}
}

func findIdx(list []*Task, id string) (int, bool) {
	return slices.BinarySearchFunc(list, id, func(t *Task, id string) int {
		switch {
		case t.Info.TaskID.Value < id:
			return -1
		case t.Info.TaskID.Value > id:
			return 1
		}
		return 0
	})
}

// launch adds a live task (copy-on-write of the framework's list).
func (w *world) launch(fw, agent, id, state string) {
	t := &Task{Info: mesosv1.TaskInfo{Name: id, TaskID: mesosv1.ID{Value: id}}, FrameworkID: fw, AgentID: agent,
		State: state, Statuses: []mesosv1.TaskStatus{status(id, state, 1)}}
	list := slices.Clone(w.live[fw])
	i, _ := findIdx(list, id)
	w.live[fw] = slices.Insert(list, i, t)
}

// update moves a task to state: live tasks stay live, UNREACHABLE moves to
// the unreachable list, terminal states to the completed list.
func (w *world) update(fw, id, state string, ts float64) {
	from := &w.live
	i, ok := findIdx(w.live[fw], id)
	if !ok {
		from = &w.unr
		i, ok = findIdx(w.unr[fw], id)
		if !ok {
			panic("no task " + id)
		}
	}
	old := (*from)[fw][i]
	nt := *old
	nt.State = state
	nt.Statuses = append(slices.Clone(old.Statuses), status(id, state, ts))
	list := slices.Delete(slices.Clone((*from)[fw]), i, i+1)
	(*from)[fw] = list
	switch {
	case mesosv1.IsTerminalState(state):
		w.done[fw] = append(slices.Clone(w.done[fw]), &nt)
	case state == mesosv1.TaskUnreachable:
		j, _ := findIdx(w.unr[fw], id)
		w.unr[fw] = slices.Insert(slices.Clone(w.unr[fw]), j, &nt)
	default:
		j, _ := findIdx(w.live[fw], id)
		w.live[fw] = slices.Insert(slices.Clone(w.live[fw]), j, &nt)
	}
}

// teardown kills a framework's tasks and moves it to the completed ones.
func (w *world) teardown(fw string, ts float64) {
	for _, t := range slices.Clone(w.live[fw]) {
		w.update(fw, t.Info.TaskID.Value, mesosv1.TaskKilled, ts)
	}
	f := *w.fws[fw]
	f.Active, f.Connected = false, false
	f.CompletedTasks = w.done[fw]
	w.gone = append(w.gone, &f)
	delete(w.fws, fw)
}

func (w *world) snap() *Snapshot {
	s := &Snapshot{Built: time.Now(), Self: mesosv1.MasterInfo{ID: "m1"}, IsLeader: true, ElectedTime: w.elected,
		Counters: map[string]float64{}, CompletedFrameworks: slices.Clone(w.gone)}
	s.Leader = &s.Self
	for _, id := range sortedKeys(w.agents) {
		a := *w.agents[id] // agent records are rebuilt every time
		s.Agents = append(s.Agents, &a)
	}
	for _, id := range sortedKeys(w.fws) {
		f := *w.fws[id]
		f.Tasks, f.UnreachableTasks, f.CompletedTasks = w.live[id], w.unr[id], w.done[id]
		s.Frameworks = append(s.Frameworks, &f)
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// stream is a test subscriber over HTTP.
type stream struct {
	t    *testing.T
	resp *http.Response
	rd   *recordio.Reader
}

func subscribe(t *testing.T, url string) *stream {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/api/v1", bytes.NewReader([]byte(`{"type":"SUBSCRIBE"}`)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("SUBSCRIBE: %s: %s", resp.Status, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	return &stream{t: t, resp: resp, rd: recordio.NewReader(resp.Body, 0)}
}

func (s *stream) next() (*mesosv1.OperatorEvent, error) {
	b, err := s.rd.ReadRecord()
	if err != nil {
		return nil, err
	}
	var ev mesosv1.OperatorEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		s.t.Fatalf("decode %q: %v", b, err)
	}
	return &ev, nil
}

// events reads n events, skipping heartbeats, and summarises them.
func (s *stream) events(n int) []string {
	s.t.Helper()
	var out []string
	for len(out) < n {
		ev, err := s.next()
		if err != nil {
			s.t.Fatalf("after %v: %v", out, err)
		}
		if ev.Type != mesosv1.OperatorEventHeartbeat {
			out = append(out, summary(ev))
		}
	}
	return out
}

func summary(ev *mesosv1.OperatorEvent) string {
	switch ev.Type {
	case mesosv1.OperatorEventSubscribed:
		st := ev.Subscribed.GetState
		return fmt.Sprintf("SUBSCRIBED agents=%d frameworks=%d tasks=%d hb=%g", len(st.GetAgents.Agents),
			len(st.GetFrameworks.Frameworks), len(st.GetTasks.Tasks), ev.Subscribed.HeartbeatIntervalSeconds)
	case mesosv1.OperatorEventTaskAdded:
		return "TASK_ADDED " + ev.TaskAdded.Task.TaskID.Value + " " + ev.TaskAdded.Task.State
	case mesosv1.OperatorEventTaskUpdated:
		u := ev.TaskUpdated
		return fmt.Sprintf("TASK_UPDATED %s/%s %s status=%s", u.FrameworkID.Value, u.Status.TaskID.Value, u.State, u.Status.State)
	case mesosv1.OperatorEventAgentAdded:
		return "AGENT_ADDED " + ev.AgentAdded.Agent.AgentInfo.ID.Value
	case mesosv1.OperatorEventAgentRemoved:
		return "AGENT_REMOVED " + ev.AgentRemoved.AgentID.Value
	case mesosv1.OperatorEventFrameworkAdded:
		return "FRAMEWORK_ADDED " + ev.FrameworkAdded.Framework.FrameworkInfo.ID.Value
	case mesosv1.OperatorEventFrameworkUpdated:
		f := ev.FrameworkUpdated.Framework
		return fmt.Sprintf("FRAMEWORK_UPDATED %s connected=%v", f.FrameworkInfo.ID.Value, f.Connected)
	case mesosv1.OperatorEventFrameworkRemoved:
		return "FRAMEWORK_REMOVED " + ev.FrameworkRemoved.FrameworkInfo.ID.Value
	}
	return ev.Type
}

func newStreamServer(t *testing.T, src Source, cfg SubscribeConfig) (*API, *httptest.Server) {
	t.Helper()
	api := NewAPI(src, nil, nil)
	api.SetSubscribeConfig(cfg)
	mux := http.NewServeMux()
	api.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return api, srv
}

// waitHubStopped polls until the hub's goroutine has exited.
func waitHubStopped(t *testing.T, api *API) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		api.hub.mu.Lock()
		running, done := api.hub.cancel != nil, api.hub.done
		api.hub.mu.Unlock()
		if !running {
			if done != nil {
				select {
				case <-done:
					return
				case <-time.After(time.Until(deadline)):
					t.Fatal("hub goroutine did not exit")
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("hub still running with no subscriber")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSubscribeStream(t *testing.T) {
	w := newWorld()
	w.addAgent("a1")
	w.addFramework("f1")
	w.launch("f1", "a1", "t1", mesosv1.TaskStaging)
	src := newNotifySource(w.snap())
	api, srv := newStreamServer(t, src, SubscribeConfig{Heartbeat: time.Hour})

	s := subscribe(t, srv.URL)
	steps := []struct {
		name   string
		change func()
		want   []string
	}{
		{"subscribed", nil, []string{"SUBSCRIBED agents=1 frameworks=1 tasks=1 hb=3600"}},
		{"add and update", func() {
			w.addAgent("a2")
			w.launch("f1", "a2", "t2", mesosv1.TaskStaging)
			w.update("f1", "t1", mesosv1.TaskRunning, 2)
		}, []string{"AGENT_ADDED a2", "TASK_UPDATED f1/t1 TASK_RUNNING status=TASK_RUNNING", "TASK_ADDED t2 TASK_STAGING"}},
		{"no change", func() {}, nil},
		{"terminal, unreachable agent, new framework, disconnect", func() {
			w.update("f1", "t1", mesosv1.TaskFinished, 3)
			w.agents["a2"].Unreachable = true
			w.update("f1", "t2", mesosv1.TaskUnreachable, 3)
			w.addFramework("f2")
			w.launch("f2", "a1", "u1", mesosv1.TaskRunning)
			w.fws["f1"].Connected = false
		}, []string{
			"FRAMEWORK_UPDATED f1 connected=false", "FRAMEWORK_ADDED f2",
			"TASK_UPDATED f1/t1 TASK_FINISHED status=TASK_FINISHED", "TASK_UPDATED f1/t2 TASK_UNREACHABLE status=TASK_UNREACHABLE",
			"TASK_ADDED u1 TASK_RUNNING", "AGENT_REMOVED a2",
		}},
		{"agent back, task back", func() {
			w.agents["a2"].Unreachable = false
			w.update("f1", "t2", mesosv1.TaskRunning, 4)
		}, []string{"AGENT_ADDED a2", "TASK_UPDATED f1/t2 TASK_RUNNING status=TASK_RUNNING"}},
		{"teardown", func() { w.teardown("f2", 5) }, []string{"TASK_UPDATED f2/u1 TASK_KILLED status=TASK_KILLED", "FRAMEWORK_REMOVED f2"}},
		{"unreachable again", func() { w.update("f1", "t2", mesosv1.TaskUnreachable, 6) },
			[]string{"TASK_UPDATED f1/t2 TASK_UNREACHABLE status=TASK_UNREACHABLE"}},
		// Publishes in quick succession may be diffed as one (coalesced),
		// so each step waits for its events before the next.
		{"unreachable task forgotten", func() { w.unr["f1"] = nil },
			[]string{"TASK_UPDATED f1/t2 TASK_UNKNOWN status=TASK_UNKNOWN"}},
	}
	for _, step := range steps {
		if step.change != nil {
			step.change()
			src.publish(w.snap())
		}
		if step.want == nil {
			continue
		}
		t.Logf("step %s", step.name)
		if got := s.events(len(step.want)); !slices.Equal(got, step.want) {
			t.Fatalf("%s:\n got %q\nwant %q", step.name, got, step.want)
		}
	}

	// A second subscriber starts from the current state.
	s2 := subscribe(t, srv.URL)
	if got := s2.events(1); got[0] != "SUBSCRIBED agents=2 frameworks=1 tasks=0 hb=3600" {
		t.Fatalf("second subscriber: %q", got)
	}

	// Losing leadership ends every stream.
	standby := w.snap()
	standby.IsLeader = false
	src.publish(standby)
	for _, st := range []*stream{s, s2} {
		for {
			ev, err := st.next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("stream ended with %v, want EOF", err)
				}
				break
			}
			t.Fatalf("event after leadership loss: %s", summary(ev))
		}
	}
	waitHubStopped(t, api)

	// A standby refuses to stream.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1", bytes.NewReader([]byte(`{"type":"SUBSCRIBE"}`)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("SUBSCRIBE on a standby: %s", resp.Status)
	}
	waitHubStopped(t, api)
}

func TestSubscribeHeartbeat(t *testing.T) {
	w := newWorld()
	src := newNotifySource(w.snap())
	_, srv := newStreamServer(t, src, SubscribeConfig{Heartbeat: 10 * time.Millisecond})
	s := subscribe(t, srv.URL)
	if ev, err := s.next(); err != nil || ev.Type != mesosv1.OperatorEventSubscribed {
		t.Fatalf("first event: %v %v", ev, err)
	}
	if ev, err := s.next(); err != nil || ev.Type != mesosv1.OperatorEventHeartbeat {
		t.Fatalf("second event: %v %v", ev, err)
	}
}

func TestSubscribeWithoutNotifier(t *testing.T) {
	_, srv := newStreamServer(t, newSource(fixture()), SubscribeConfig{})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1", bytes.NewReader([]byte(`{"type":"SUBSCRIBE"}`)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotImplemented {
		t.Fatalf("got %s", resp.Status)
	}
}

// A subscriber that does not drain its queue is disconnected; the others
// are not, and the hub stops when the last one leaves.
func TestSubscribeSlowSubscriberAndNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	w := newWorld()
	w.addFramework("f1")
	src := newNotifySource(w.snap())
	api := NewAPI(src, nil, nil)
	api.SetSubscribeConfig(SubscribeConfig{Queue: 2})
	h := &api.hub
	slow, _ := h.subscribe(src, src, api.log)
	fast, _ := h.subscribe(src, src, api.log)
	var got []string
	for i := range 3 {
		w.launch("f1", "a1", fmt.Sprintf("t%d", i), mesosv1.TaskRunning)
		src.publish(w.snap())
		select {
		case b := <-fast.ch:
			got = append(got, string(b))
		case <-time.After(10 * time.Second):
			t.Fatal("fast subscriber got nothing")
		}
	}
	select {
	case <-slow.end:
	case <-time.After(10 * time.Second):
		t.Fatal("slow subscriber was not disconnected")
	}
	select {
	case <-fast.end:
		t.Fatal("fast subscriber was disconnected")
	default:
	}
	if len(got) != 3 {
		t.Fatalf("fast subscriber got %d frames", len(got))
	}
	h.remove(slow, false) // the handler's deferred remove: harmless twice
	h.remove(fast, false)
	waitHubStopped(t, api)

	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before, %d after", before, runtime.NumGoroutine())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Subscribers that come and go while snapshots are published see a
// consistent stream and leave no goroutine behind (run with -race).
func TestSubscribeChurn(t *testing.T) {
	before := runtime.NumGoroutine()
	w := newWorld()
	w.addFramework("f1")
	src := newNotifySource(w.snap())
	api, srv := newStreamServer(t, src, SubscribeConfig{Heartbeat: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/api/v1", bytes.NewReader([]byte(`{"type":"SUBSCRIBE"}`)))
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					continue
				}
				rd := recordio.NewReader(resp.Body, 0)
				for range i + 1 {
					if _, err := rd.ReadRecord(); err != nil {
						break
					}
				}
				resp.Body.Close()
			}
		}()
	}
	for i := range 200 {
		w.launch("f1", "a1", fmt.Sprintf("t%03d", i), mesosv1.TaskRunning)
		src.publish(w.snap())
	}
	cancel()
	wg.Wait()
	srv.CloseClientConnections()
	waitHubStopped(t, api)
	http.DefaultClient.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before+2 { // the httptest server's own
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before, %d after", before, runtime.NumGoroutine())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkDiff100kTasks diffs two snapshots of 100,000 tasks (10
// frameworks, 1,000 agents) of which 100 tasks changed.
func BenchmarkDiff100kTasks(b *testing.B) {
	w := newWorld()
	for i := range 1000 {
		w.addAgent(fmt.Sprintf("a%04d", i))
	}
	for f := range 10 {
		fw := fmt.Sprintf("f%d", f)
		w.addFramework(fw)
		list := make([]*Task, 0, 10000)
		for i := range 10000 {
			id := fmt.Sprintf("task-%06d", i)
			list = append(list, &Task{Info: mesosv1.TaskInfo{Name: id, TaskID: mesosv1.ID{Value: id}}, FrameworkID: fw,
				AgentID: fmt.Sprintf("a%04d", i%1000), State: mesosv1.TaskRunning, Statuses: []mesosv1.TaskStatus{status(id, mesosv1.TaskRunning, 1)}})
		}
		w.live[fw] = list
	}
	prev := w.snap()
	for i := range 100 {
		w.update(fmt.Sprintf("f%d", i%10), fmt.Sprintf("task-%06d", i*97), mesosv1.TaskKilling, 2)
	}
	next := w.snap()
	if n := len(diffSnapshots(prev, next)); n != 100 {
		b.Fatalf("%d events, want 100", n)
	}
	b.ReportAllocs()
	for b.Loop() {
		diffSnapshots(prev, next)
	}
}
