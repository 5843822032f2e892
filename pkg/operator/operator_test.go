package operator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
	"github.com/basalt-dcos/basalt/pkg/recordio"
)

func task(fw, id, state string) mesosv1.Task {
	return mesosv1.Task{Name: id, TaskID: mesosv1.ID{Value: id}, FrameworkID: mesosv1.ID{Value: fw}, State: state,
		Statuses: []mesosv1.TaskStatus{{TaskID: mesosv1.ID{Value: id}, State: state}}}
}

func subscribed(tasks ...mesosv1.Task) *mesosv1.OperatorEvent {
	return &mesosv1.OperatorEvent{Type: mesosv1.OperatorEventSubscribed, Subscribed: &mesosv1.OperatorSubscribed{
		HeartbeatIntervalSeconds: 15,
		GetState: mesosv1.OperatorState{
			GetTasks:      mesosv1.OperatorTasks{Tasks: tasks},
			GetAgents:     mesosv1.OperatorAgents{Agents: []mesosv1.OperatorAgent{{AgentInfo: mesosv1.AgentInfo{ID: &mesosv1.ID{Value: "a1"}}}}},
			GetFrameworks: mesosv1.OperatorFrameworks{Frameworks: []mesosv1.OperatorFramework{{FrameworkInfo: mesosv1.FrameworkInfo{ID: &mesosv1.ID{Value: "f1"}}}}},
		},
	}}
}

func updated(fw, id, state string) *mesosv1.OperatorEvent {
	return &mesosv1.OperatorEvent{Type: mesosv1.OperatorEventTaskUpdated, TaskUpdated: &mesosv1.OperatorTaskUpdated{
		FrameworkID: mesosv1.ID{Value: fw}, State: state, Status: mesosv1.TaskStatus{TaskID: mesosv1.ID{Value: id}, State: state}}}
}

func ids(s *State) []string {
	var out []string
	for _, t := range s.Tasks {
		out = append(out, t.FrameworkID.Value+"/"+t.TaskID.Value+"="+t.State)
	}
	return out
}

func TestMirror(t *testing.T) {
	m := newMirror()
	m.apply(subscribed(task("f2", "b", mesosv1.TaskRunning), task("f1", "z", mesosv1.TaskRunning), task("f1", "a", mesosv1.TaskStaging)))
	s1 := m.state(nil)
	if got, want := ids(s1), []string{"f1/a=TASK_STAGING", "f1/z=TASK_RUNNING", "f2/b=TASK_RUNNING"}; !slices.Equal(got, want) {
		t.Fatalf("after SUBSCRIBED: %q", got)
	}
	if m.state(s1) != s1 {
		t.Fatal("State was rebuilt without a change")
	}

	steps := []struct {
		ev   *mesosv1.OperatorEvent
		want []string
	}{
		{updated("f1", "a", mesosv1.TaskRunning), []string{"f1/a=TASK_RUNNING", "f1/z=TASK_RUNNING", "f2/b=TASK_RUNNING"}},
		{&mesosv1.OperatorEvent{Type: mesosv1.OperatorEventTaskAdded, TaskAdded: &mesosv1.OperatorTaskAdded{Task: task("f1", "m", mesosv1.TaskStaging)}},
			[]string{"f1/a=TASK_RUNNING", "f1/m=TASK_STAGING", "f1/z=TASK_RUNNING", "f2/b=TASK_RUNNING"}},
		{updated("f1", "z", mesosv1.TaskFinished), []string{"f1/a=TASK_RUNNING", "f1/m=TASK_STAGING", "f2/b=TASK_RUNNING"}},
		{updated("f2", "b", mesosv1.TaskUnknown), []string{"f1/a=TASK_RUNNING", "f1/m=TASK_STAGING"}},
		{updated("f9", "nope", mesosv1.TaskRunning), []string{"f1/a=TASK_RUNNING", "f1/m=TASK_STAGING"}},
		{&mesosv1.OperatorEvent{Type: mesosv1.OperatorEventFrameworkRemoved, FrameworkRemoved: &mesosv1.OperatorFrameworkRemoved{
			FrameworkInfo: mesosv1.FrameworkInfo{ID: &mesosv1.ID{Value: "f1"}}}}, nil},
	}
	prev := s1
	for i, st := range steps {
		m.apply(st.ev)
		s := m.state(prev)
		if got := ids(s); !slices.Equal(got, st.want) {
			t.Fatalf("step %d (%s): got %q want %q", i, st.ev.Type, got, st.want)
		}
		if s.Version <= prev.Version && i != 4 {
			t.Fatalf("step %d: version %d after %d", i, s.Version, prev.Version)
		}
		prev = s
	}
	// Earlier views are untouched (copy-on-write).
	if got, want := ids(s1), []string{"f1/a=TASK_STAGING", "f1/z=TASK_RUNNING", "f2/b=TASK_RUNNING"}; !slices.Equal(got, want) {
		t.Fatalf("old State changed: %q", got)
	}
	if len(s1.Tasks[0].Statuses) != 1 {
		t.Fatalf("old task's statuses changed: %v", s1.Tasks[0].Statuses)
	}
	if len(prev.Frameworks) != 0 || len(prev.Agents) != 1 {
		t.Fatalf("frameworks %d agents %d", len(prev.Frameworks), len(prev.Agents))
	}
}

func TestMirrorStatusesBounded(t *testing.T) {
	m := newMirror()
	m.apply(subscribed(task("f1", "a", mesosv1.TaskRunning)))
	for range 3 * maxStatuses {
		m.apply(updated("f1", "a", mesosv1.TaskRunning))
	}
	if n := len(m.state(nil).Tasks[0].Statuses); n != maxStatuses {
		t.Fatalf("%d statuses", n)
	}
}

// The incremental State build must equal a full rebuild.
func TestMirrorIncrementalMatchesRebuild(t *testing.T) {
	m := newMirror()
	var tasks []mesosv1.Task
	for i := range 200 {
		tasks = append(tasks, task(fmt.Sprintf("f%d", i%3), fmt.Sprintf("t%03d", i), mesosv1.TaskRunning))
	}
	m.apply(subscribed(tasks...))
	var prev *State
	for i := range 300 {
		fw, id := fmt.Sprintf("f%d", i%3), fmt.Sprintf("t%03d", (i*37)%260)
		switch i % 4 {
		case 0:
			m.apply(updated(fw, id, mesosv1.TaskKilled))
		case 1:
			m.apply(&mesosv1.OperatorEvent{Type: mesosv1.OperatorEventTaskAdded, TaskAdded: &mesosv1.OperatorTaskAdded{Task: task(fw, id, mesosv1.TaskStaging)}})
		default:
			m.apply(updated(fw, id, mesosv1.TaskRunning))
		}
		if i%7 == 0 {
			prev = m.state(prev)
		}
	}
	got := m.state(prev)
	m.rebuildTasks = true
	m.cached = nil
	want := m.state(nil)
	if diff := cmp.Diff(ids(want), ids(got)); diff != "" {
		t.Fatalf("incremental != rebuild (-want +got):\n%s", diff)
	}
}

func TestDecodeEvent(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{`{"type":"HEARTBEAT"}`, true},
		{`{"type":"SOMETHING_NEW"}`, true},
		{`{"type":"TASK_ADDED"}`, false},
		{`{"type":"TASK_ADDED","task_added":{"task":{"task_id":{"value":"x"}}}}`, true},
		{`{"type":"TASK_UPDATED","task_updated":{"framework_id":{"value":"f"},"status":{"task_id":{"value":"x"}},"state":"TASK_RUNNING"}}`, true},
		{`{"type":"TASK_UPDATED","task_updated":{"status":{"task_id":{"value":"x"}}}}`, false},
		{`{"type":"AGENT_REMOVED","agent_removed":{"agent_id":{"value":"a"}}}`, true},
		{`{"type":"FRAMEWORK_REMOVED","framework_removed":{"framework_info":{}}}`, false},
		{`{"type":"SUBSCRIBED","subscribed":{"get_state":{},"heartbeat_interval_seconds":-1}}`, false},
		{`{}`, false},
		{`nope`, false},
	} {
		_, err := DecodeEvent([]byte(tc.in))
		if (err == nil) != tc.ok {
			t.Errorf("DecodeEvent(%s): %v", tc.in, err)
		}
		if err != nil && !errors.Is(err, ErrBadEvent) {
			t.Errorf("DecodeEvent(%s): %v is not ErrBadEvent", tc.in, err)
		}
	}
}

// FuzzDecodeEvent feeds arbitrary records to the decoder and the mirror.
func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		`{"type":"SUBSCRIBED","subscribed":{"get_state":{"get_tasks":{"tasks":[{"task_id":{"value":"t"},"framework_id":{"value":"f"},"state":"TASK_RUNNING"}]}},"heartbeat_interval_seconds":15}}`,
		`{"type":"TASK_ADDED","task_added":{"task":{"task_id":{"value":"x"},"framework_id":{"value":"f"},"state":"TASK_STAGING"}}}`,
		`{"type":"TASK_UPDATED","task_updated":{"framework_id":{"value":"f"},"status":{"task_id":{"value":"t"}},"state":"TASK_FINISHED"}}`,
		`{"type":"AGENT_ADDED","agent_added":{"agent":{"agent_info":{"id":{"value":"a"}}}}}`,
		`{"type":"FRAMEWORK_UPDATED","framework_updated":{"framework":{"framework_info":{"id":{"value":"f"}}}}}`,
		`{"type":"FRAMEWORK_REMOVED","framework_removed":{"framework_info":{"id":{"value":"f"}}}}`,
		`{"type":"HEARTBEAT"}`, `{"type":""}`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := DecodeEvent(b)
		if err != nil {
			return
		}
		m := newMirror()
		m.apply(subscribed(task("f", "t", mesosv1.TaskRunning)))
		m.apply(ev)
		s := m.state(nil)
		for _, tk := range s.Tasks {
			if terminal(tk.State) {
				t.Fatalf("terminal task in the mirror: %+v", tk)
			}
		}
	})
}

// fakeMaster serves /master/redirect, GET_MASTER and a SUBSCRIBE stream
// whose records the test sends.
type fakeMaster struct {
	srv    *httptest.Server
	frames chan []byte
}

func newFakeMaster(t *testing.T) *fakeMaster {
	fm := &fakeMaster{frames: make(chan []byte, 16)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /master/redirect", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "//"+r.Host)
		w.WriteHeader(http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("POST /api/v1", func(w http.ResponseWriter, r *http.Request) {
		var body [64]byte
		n, _ := r.Body.Read(body[:])
		if string(body[:n]) == `{"type":"GET_MASTER"}` {
			fmt.Fprint(w, `{"type":"GET_MASTER","get_master":{"master_info":{"id":"fake","ip":0,"port":5050,"hostname":"fake"}}}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		rw := recordio.NewWriter(w)
		for {
			select {
			case b := <-fm.frames:
				if len(b) == 0 { // end of stream
					return
				}
				if err := rw.WriteRecord(b); err != nil {
					return
				}
			case <-r.Context().Done():
				return
			}
		}
	})
	fm.srv = httptest.NewServer(mux)
	t.Cleanup(fm.srv.Close)
	return fm
}

func waitFor(t *testing.T, f *Follower, what string, cond func(*State) bool) *State {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if s := f.State(); cond(s) {
			return s
		}
		select {
		case <-f.Changed():
		case <-deadline:
			t.Fatalf("timed out waiting for %s; state %+v", what, f.State())
		}
	}
}

func TestFollowerKeepsStateAcrossReconnect(t *testing.T) {
	fm := newFakeMaster(t)
	f := &Follower{Masters: []string{"http://127.0.0.1:1", fm.srv.URL}, RetryMin: time.Millisecond, RetryMax: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	fm.frames <- []byte(`{"type":"SUBSCRIBED","subscribed":{"get_state":{"get_tasks":{"tasks":[{"task_id":{"value":"t1"},"framework_id":{"value":"f"},"state":"TASK_RUNNING"}]}},"heartbeat_interval_seconds":15}}`)
	s := waitFor(t, f, "subscribed", func(s *State) bool { return s.Connected && len(s.Tasks) == 1 })
	if s.Leader == nil || s.Leader.ID != "fake" {
		t.Fatalf("leader %+v", s.Leader)
	}
	fm.frames <- []byte(`{"type":"TASK_ADDED","task_added":{"task":{"task_id":{"value":"t2"},"framework_id":{"value":"f"},"state":"TASK_STAGING"}}}`)
	waitFor(t, f, "t2", func(s *State) bool { return len(s.Tasks) == 2 })

	fm.frames <- nil // the master ends the stream
	s = waitFor(t, f, "disconnected", func(s *State) bool { return !s.Connected })
	if len(s.Tasks) != 2 {
		t.Fatalf("state lost on disconnect: %q", ids(s))
	}
	fm.frames <- []byte(`{"type":"SUBSCRIBED","subscribed":{"get_state":{"get_tasks":{"tasks":[{"task_id":{"value":"t3"},"framework_id":{"value":"f"},"state":"TASK_RUNNING"}]}}}}`)
	s = waitFor(t, f, "resubscribed", func(s *State) bool { return s.Connected })
	if got := ids(s); !slices.Equal(got, []string{"f/t3=TASK_RUNNING"}) {
		t.Fatalf("after resubscribe: %q", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestSubscribeMissedHeartbeat(t *testing.T) {
	fm := newFakeMaster(t)
	fm.frames <- []byte(`{"type":"SUBSCRIBED","subscribed":{"get_state":{},"heartbeat_interval_seconds":0.01}}`)
	err := Subscribe(t.Context(), nil, fm.srv.URL, func(*mesosv1.OperatorEvent) error { return nil })
	if !errors.Is(err, ErrMissedHeartbeat) {
		t.Fatalf("got %v, want ErrMissedHeartbeat", err)
	}
}

// BenchmarkStateAfterOneChange: State() at 100,000 tasks after one
// TASK_UPDATED, the DNS server's pattern.
func BenchmarkStateAfterOneChange(b *testing.B) {
	m := newMirror()
	tasks := make([]mesosv1.Task, 0, 100000)
	for i := range 100000 {
		tasks = append(tasks, task(fmt.Sprintf("f%d", i%10), fmt.Sprintf("task-%06d", i), mesosv1.TaskRunning))
	}
	m.apply(subscribed(tasks...))
	prev := m.state(nil)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		m.apply(updated(fmt.Sprintf("f%d", i%10), fmt.Sprintf("task-%06d", (i*7919)%100000), mesosv1.TaskRunning))
		prev = m.state(prev)
	}
}
