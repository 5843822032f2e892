package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
	"github.com/basalt-dcos/basalt/pkg/recordio"
)

// master is a minimal scripted master: one stream, calls recorded on a channel.
type master struct {
	events chan mesosv1.Event
	calls  chan mesosv1.Call
	quit   chan struct{}
}

func newMaster(t *testing.T) (*master, string) {
	m := &master{events: make(chan mesosv1.Event, 16), calls: make(chan mesosv1.Call, 100), quit: make(chan struct{})}
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var call mesosv1.Call
		if err := json.NewDecoder(r.Body).Decode(&call); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if call.Type != mesosv1.CallSubscribe {
			m.calls <- call
			w.WriteHeader(http.StatusAccepted)
			if call.Type == mesosv1.CallTeardown {
				once.Do(func() { close(m.quit) })
			}
			return
		}
		w.Header().Set(mesosv1.StreamIDHeader, "s1")
		rw := recordio.NewWriter(w)
		send := func(ev mesosv1.Event) bool {
			b, _ := json.Marshal(ev)
			return rw.WriteRecord(b) == nil
		}
		send(mesosv1.Event{Type: mesosv1.EventSubscribed, Subscribed: &mesosv1.EventSubscribedBody{
			FrameworkID: mesosv1.ID{Value: "fw-1"}, HeartbeatIntervalSeconds: 60}})
		for {
			select {
			case ev := <-m.events:
				if !send(ev) {
					return
				}
			case <-m.quit:
				return
			case <-r.Context().Done():
				return
			}
		}
	}))
	t.Cleanup(func() {
		once.Do(func() { close(m.quit) })
		srv.Close()
	})
	return m, srv.URL
}

func (m *master) waitCall(t *testing.T, typ string) mesosv1.Call {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case c := <-m.calls:
			if c.Type == typ {
				return c
			}
		case <-deadline:
			t.Fatalf("no %s call within 10s", typ)
		}
	}
}

func offer(id string) mesosv1.Event {
	return mesosv1.Event{Type: mesosv1.EventOffers, Offers: &mesosv1.EventOffersBody{Offers: []mesosv1.Offer{{
		ID: mesosv1.ID{Value: id}, FrameworkID: mesosv1.ID{Value: "fw-1"}, AgentID: mesosv1.ID{Value: "a1"}, Hostname: "h1",
		Resources: []mesosv1.Resource{mesosv1.NewScalar("cpus", 1), mesosv1.NewScalar("mem", 128), mesosv1.NewScalar("disk", 100)},
	}}}}
}

func update(task, state string) mesosv1.Event {
	return mesosv1.Event{Type: mesosv1.EventUpdate, Update: &mesosv1.EventUpdateBody{Status: mesosv1.TaskStatus{
		TaskID: mesosv1.ID{Value: task}, State: state, AgentID: &mesosv1.ID{Value: "a1"}, UUID: []byte(task + state)}}}
}

func launched(t *testing.T, c mesosv1.Call) []string {
	t.Helper()
	var ids []string
	for _, op := range c.Accept.Operations {
		for _, ti := range op.Launch.TaskInfos {
			if ti.Command == nil || ti.Command.Value != "sleep 1" {
				t.Errorf("task %s command = %+v", ti.TaskID.Value, ti.Command)
			}
			if diff := cmp.Diff([]mesosv1.Resource{mesosv1.NewScalar("cpus", 0.25), mesosv1.NewScalar("mem", 32)}, ti.Resources); diff != "" {
				t.Errorf("task %s resources (-want +got):\n%s", ti.TaskID.Value, diff)
			}
			ids = append(ids, ti.TaskID.Value)
		}
	}
	return ids
}

func TestLaunchRelaunchFinish(t *testing.T) {
	m, url := newMaster(t)
	o := options{masters: url, name: "sleepfw", user: "root", role: "*", cmd: "sleep 1", tasks: 5, maxRetries: 1,
		cpus: 0.25, mem: 32, refuseSeconds: 5, relaunch: true, exitOnFinish: true}
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(t.Context(), o, slog.New(slog.DiscardHandler), &out) }()

	m.waitCall(t, mesosv1.CallReconcile)
	m.events <- offer("o1") // fits 4 of 5 tasks (cpus 1 / 0.25)
	got := launched(t, m.waitCall(t, mesosv1.CallAccept))
	if diff := cmp.Diff([]string{"sleepfw-0-0", "sleepfw-1-0", "sleepfw-2-0", "sleepfw-3-0"}, got); diff != "" {
		t.Errorf("first launch (-want +got):\n%s", diff)
	}
	m.events <- offer("o2")
	if got := launched(t, m.waitCall(t, mesosv1.CallAccept)); !cmp.Equal(got, []string{"sleepfw-4-0"}) {
		t.Errorf("second launch = %v", got)
	}
	m.waitCall(t, mesosv1.CallSuppress)
	m.events <- offer("o3") // nothing left to launch
	if c := m.waitCall(t, mesosv1.CallDecline); c.Decline.Filters.Refuse() != 5 {
		t.Errorf("decline filters = %+v", c.Decline.Filters)
	}

	for i := range 5 {
		id := "sleepfw-" + string(rune('0'+i)) + "-0"
		m.events <- update(id, mesosv1.TaskRunning)
		if i == 2 {
			m.events <- update(id, mesosv1.TaskFailed)
		} else {
			m.events <- update(id, mesosv1.TaskFinished)
		}
	}
	m.waitCall(t, mesosv1.CallRevive)
	m.events <- offer("o4")
	if got := launched(t, m.waitCall(t, mesosv1.CallAccept)); !cmp.Equal(got, []string{"sleepfw-2-1"}) {
		t.Errorf("relaunch = %v", got)
	}
	m.events <- update("sleepfw-2-1", mesosv1.TaskFinished)
	m.waitCall(t, mesosv1.CallTeardown)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after teardown")
	}

	counts := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		counts[line["event"].(string)]++
	}
	want := map[string]int{"subscribed": 1, "launch": 6, "status": 11, "relaunch": 1, "finished": 1, "teardown": 1}
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Errorf("output events (-want +got):\n%s", diff)
	}
}

func TestSignalTearsDown(t *testing.T) {
	m, url := newMaster(t)
	o := options{masters: url, name: "sleepfw", user: "root", role: "*", cmd: "sleep 1", tasks: 1, cpus: 0.1, mem: 32}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, o, slog.New(slog.DiscardHandler), &bytes.Buffer{}) }()
	m.waitCall(t, mesosv1.CallReconcile)
	cancel() // what SIGINT does
	m.waitCall(t, mesosv1.CallTeardown)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after teardown")
	}
}
