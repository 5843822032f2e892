package scheduler

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
	"github.com/basalt-dcos/basalt/pkg/recordio"
)

// fakeMaster plays the master's side of the scheduler API, scripted by the
// test: it records every request, answers SUBSCRIBE with a stream that starts
// with SUBSCRIBED and then carries whatever the test pushes, and answers calls
// with a configurable status.
type fakeMaster struct {
	t    testing.TB
	srv  *httptest.Server
	quit chan struct{}

	// streams receives every stream the master opens.
	streams chan *fakeStream

	mu         sync.Mutex
	subscribes []recorded
	calls      []recorded
	redirect   string  // when set, every request gets 307 with this Location
	subStatus  int     // when set, SUBSCRIBE gets this status
	callStatus int     // status for calls; 0 means 202
	callBody   string  // body for calls
	heartbeat  float64 // heartbeat_interval_seconds in SUBSCRIBED
	current    string  // stream id of the open stream
	open       *fakeStream
	n          int
}

type recorded struct {
	Call     mesosv1.Call
	StreamID string // Mesos-Stream-Id header
	Auth     string // Authorization header
}

type fakeStream struct {
	id     string
	events chan mesosv1.Event
	end    chan struct{} // close to end the stream from the master's side
	closed chan struct{} // closed when the stream has ended
}

func newFakeMaster(t testing.TB) *fakeMaster {
	t.Helper()
	f := &fakeMaster{
		t:         t,
		quit:      make(chan struct{}),
		streams:   make(chan *fakeStream, 16),
		heartbeat: 60,
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		close(f.quit)
		f.srv.Close()
	})
	return f
}

func (f *fakeMaster) URL() string { return f.srv.URL }

func (f *fakeMaster) set(fn func(f *fakeMaster)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeMaster) recordedCalls() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.calls...)
}

func (f *fakeMaster) recordedSubscribes() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.subscribes...)
}

func (f *fakeMaster) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/v1/scheduler" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	var call mesosv1.Call
	if err := json.NewDecoder(r.Body).Decode(&call); err != nil {
		http.Error(w, "bad json: "+err.Error(), http.StatusBadRequest)
		return
	}
	rec := recorded{Call: call, StreamID: r.Header.Get(mesosv1.StreamIDHeader), Auth: r.Header.Get("Authorization")}

	f.mu.Lock()
	if f.redirect != "" {
		loc := f.redirect
		f.mu.Unlock()
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusTemporaryRedirect)
		return
	}
	if call.Type != mesosv1.CallSubscribe {
		f.calls = append(f.calls, rec)
		status, body, current, open := f.callStatus, f.callBody, f.current, f.open
		f.mu.Unlock()
		if rec.StreamID != current {
			http.Error(w, "framework is not subscribed", http.StatusForbidden)
			return
		}
		if call.Type == mesosv1.CallTeardown && open != nil {
			// Like Mesos, end the stream before answering the call.
			close(open.end)
			<-open.closed
		}
		if status == 0 {
			status = http.StatusAccepted
		}
		w.WriteHeader(status)
		fmt.Fprint(w, body)
		return
	}
	f.subscribes = append(f.subscribes, rec)
	if f.subStatus != 0 {
		status := f.subStatus
		f.mu.Unlock()
		http.Error(w, "subscribe refused", status)
		return
	}
	f.n++
	s := &fakeStream{id: fmt.Sprintf("stream-%d", f.n), events: make(chan mesosv1.Event, 16),
		end: make(chan struct{}), closed: make(chan struct{})}
	defer close(s.closed)
	f.current, f.open = s.id, s
	hb := f.heartbeat
	f.mu.Unlock()

	fid := "fw-1"
	if id := call.Subscribe.FrameworkInfo.ID; id != nil {
		fid = id.Value
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(mesosv1.StreamIDHeader, s.id)
	w.WriteHeader(http.StatusOK)
	rw := recordio.NewWriter(w)
	write := func(ev mesosv1.Event) bool {
		b, err := json.Marshal(ev)
		if err != nil {
			f.t.Errorf("marshal event: %v", err)
			return false
		}
		return rw.WriteRecord(b) == nil
	}
	if !write(mesosv1.Event{Type: mesosv1.EventSubscribed, Subscribed: &mesosv1.EventSubscribedBody{
		FrameworkID: mesosv1.ID{Value: fid}, HeartbeatIntervalSeconds: hb,
	}}) {
		return
	}
	f.streams <- s
	for {
		select {
		case ev := <-s.events:
			if !write(ev) {
				return
			}
		case <-s.end:
			return
		case <-r.Context().Done():
			return
		case <-f.quit:
			return
		}
	}
}

// nextStream waits for the master to open a stream.
func (f *fakeMaster) nextStream(t testing.TB) *fakeStream {
	t.Helper()
	select {
	case s := <-f.streams:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no stream opened within 10s")
		return nil
	}
}
