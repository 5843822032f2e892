package mesos

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-dcos/basalt/internal/agentapi"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

func TestLaunchFlow(t *testing.T) {
	m, _ := startLeader(t, nil)
	ag := startAgent(t, m, agentSubscribeBody("host1", "cpus:4;mem:4096;ports:[31000-32000]"))
	s := subscribe(t, m, frameworkInfo("fw1"))
	if !strings.HasSuffix(s.fwID, "-0001") {
		t.Errorf("framework id %q, want a <run>-0001 id", s.fwID)
	}
	offers := s.next(mesosv1.EventOffers).Offers.Offers
	if len(offers) != 1 {
		t.Fatalf("got %d offers, want 1", len(offers))
	}
	o := offers[0]
	if o.AgentID.Value != ag.id || o.Hostname != "host1" || o.AllocationInfo == nil || o.AllocationInfo.Role != "*" {
		t.Fatalf("unexpected offer %+v", o)
	}
	if got := mesosv1.Resources(o.Resources).ScalarSum("cpus"); got != 4 {
		t.Fatalf("offered cpus %v, want 4", got)
	}

	s.launch(o, cmdTask("t1", o, 1, 128))
	ev := ag.next(agentapi.EventLaunch)
	if len(ev.Launch.Tasks) != 1 || ev.Launch.Tasks[0].TaskID.Value != "t1" || ev.Launch.Framework.ID.Value != s.fwID {
		t.Fatalf("unexpected launch %+v", ev.Launch)
	}
	eventually(t, "task staging in snapshot", func() bool {
		snap := m.Current()
		return len(snap.Frameworks) == 1 && len(snap.Frameworks[0].Tasks) == 1 && snap.Frameworks[0].Tasks[0].State == mesosv1.TaskStaging
	})

	ag.status(s.fwID, "t1", mesosv1.TaskRunning)
	st := s.update("t1")
	if st.State != mesosv1.TaskRunning || len(st.UUID) == 0 {
		t.Fatalf("update %+v", st)
	}
	s.ack(st)
	ack := ag.next(agentapi.EventAcknowledge)
	if diff := cmp.Diff(&agentapi.Acknowledge{FrameworkID: s.fwID, TaskID: "t1", UUID: st.UUID}, ack.Acknowledge); diff != "" {
		t.Errorf("ack (-want +got):\n%s", diff)
	}

	// Unused resources came back; the remaining 3 cpus are offered again.
	o2 := s.next(mesosv1.EventOffers).Offers.Offers[0]
	if got := mesosv1.Resources(o2.Resources).ScalarSum("cpus"); got != 3 {
		t.Fatalf("re-offered cpus %v, want 3", got)
	}

	eventually(t, "agent used resources", func() bool {
		snap := m.Current()
		return len(snap.Agents) == 1 && snap.Agents[0].Used.ScalarSum("cpus") == 1
	})

	ag.status(s.fwID, "t1", mesosv1.TaskFinished)
	if st := s.update("t1"); st.State != mesosv1.TaskFinished {
		t.Fatalf("update %+v", st)
	}
	eventually(t, "task completed and resources freed", func() bool {
		snap := m.Current()
		if len(snap.Frameworks) != 1 || len(snap.Agents) != 1 {
			return false
		}
		fw := snap.Frameworks[0]
		return len(fw.Tasks) == 0 && len(fw.CompletedTasks) == 1 && fw.CompletedTasks[0].State == mesosv1.TaskFinished &&
			snap.Agents[0].Used.IsEmpty() && snap.Counters["master/tasks_finished"] == 1
	})
}

func TestInvalidLaunches(t *testing.T) {
	m, _ := startLeader(t, nil)
	startAgent(t, m, agentSubscribeBody("host1", "cpus:2;mem:1024"))
	s := subscribe(t, m, frameworkInfo("fw1"))

	o := s.next(mesosv1.EventOffers).Offers.Offers[0]
	noCmd := cmdTask("nocmd", o, 0.1, 10)
	noCmd.Command = nil
	wrongAgent := cmdTask("wrongagent", o, 0.1, 10)
	wrongAgent.AgentID = mesosv1.ID{Value: "other"}
	s.launch(o, cmdTask("ok", o, 1, 100), cmdTask("ok", o, 0.1, 10), cmdTask("big", o, 5, 100), noCmd, wrongAgent)
	want := map[string]string{"ok": "", "big": mesosv1.TaskError, "nocmd": mesosv1.TaskError, "wrongagent": mesosv1.TaskError}
	for range 4 { // the duplicate "ok" is the 4th TASK_ERROR
		st := s.next(mesosv1.EventUpdate).Update.Status
		if st.State != mesosv1.TaskError || st.Reason != mesosv1.ReasonTaskInvalid || st.Source != mesosv1.SourceMaster {
			t.Fatalf("unexpected status %+v", st)
		}
		if _, ok := want[st.TaskID.Value]; !ok {
			t.Fatalf("unexpected task %q", st.TaskID.Value)
		}
	}

	// A used offer id is invalid: TASK_LOST with REASON_INVALID_OFFERS.
	s.launch(o, cmdTask("again", o, 0.1, 10))
	st := s.update("again")
	if st.State != mesosv1.TaskLost || st.Reason != mesosv1.ReasonInvalidOffers {
		t.Fatalf("reused offer: %+v", st)
	}

	// Partition-aware frameworks get TASK_DROPPED.
	pa := subscribe(t, m, frameworkInfo("pa", mesosv1.CapPartitionAware))
	pa.launch(o, cmdTask("pa1", o, 0.1, 10))
	if st := pa.update("pa1"); st.State != mesosv1.TaskDropped || st.Reason != mesosv1.ReasonInvalidOffers {
		t.Fatalf("partition-aware invalid offer: %+v", st)
	}
	eventually(t, "invalid counters", func() bool {
		c := m.Current().Counters
		return c["master/invalid_operations"] == 4 && c["master/invalid_offers"] == 2
	})
}

func TestSchedulerAPIErrors(t *testing.T) {
	m, _ := startLeader(t, nil)
	url := m.srv.URL + "/api/v1/scheduler"
	s := subscribe(t, m, frameworkInfo("fw1"))

	do := func(method, ct, accept, streamID, body string) (int, string) {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		if streamID != "" {
			req.Header.Set(mesosv1.StreamIDHeader, streamID)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b := make([]byte, 512)
		n, _ := resp.Body.Read(b)
		return resp.StatusCode, string(b[:n])
	}
	revive := `{"type":"REVIVE","framework_id":{"value":"` + s.fwID + `"}}`
	tests := []struct {
		name                             string
		method, ct, accept, stream, body string
		want                             int
	}{
		{"get", http.MethodGet, "", "", "", "", http.StatusMethodNotAllowed},
		{"protobuf", http.MethodPost, "application/x-protobuf", "", s.streamID, revive, http.StatusUnsupportedMediaType},
		{"no content type", http.MethodPost, "", "", s.streamID, revive, http.StatusUnsupportedMediaType},
		{"accept xml", http.MethodPost, "application/json", "application/xml", s.streamID, revive, http.StatusNotAcceptable},
		{"malformed", http.MethodPost, "application/json", "", s.streamID, `{"type":`, http.StatusBadRequest},
		{"missing framework id", http.MethodPost, "application/json", "", s.streamID, `{"type":"REVIVE"}`, http.StatusBadRequest},
		{"missing stream id", http.MethodPost, "application/json", "", "", revive, http.StatusBadRequest},
		{"wrong stream id", http.MethodPost, "application/json", "", "nope", revive, http.StatusBadRequest},
		{"not subscribed", http.MethodPost, "application/json", "", s.streamID, `{"type":"REVIVE","framework_id":{"value":"nope"}}`, http.StatusForbidden},
		{"unknown type", http.MethodPost, "application/json", "", s.streamID, `{"type":"FLY","framework_id":{"value":"` + s.fwID + `"}}`, http.StatusBadRequest},
		{"inverse offers", http.MethodPost, "application/json", "", s.streamID, `{"type":"ACCEPT_INVERSE_OFFERS","framework_id":{"value":"` + s.fwID + `"}}`, http.StatusNotImplemented},
		{"reserve", http.MethodPost, "application/json", "", s.streamID, `{"type":"ACCEPT","framework_id":{"value":"` + s.fwID + `"},"accept":{"offer_ids":[],"operations":[{"type":"RESERVE"}]}}`, http.StatusNotImplemented},
		{"ack without uuid", http.MethodPost, "application/json", "", s.streamID, `{"type":"ACKNOWLEDGE","framework_id":{"value":"` + s.fwID + `"},"acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"}}}`, http.StatusBadRequest},
		{"subscribe without user", http.MethodPost, "application/json", "", "", `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"name":"x"}}}`, http.StatusBadRequest},
		{"subscribe bad role", http.MethodPost, "application/json", "", "", `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"x","role":"../x"}}}`, http.StatusBadRequest},
		{"subscribe with stream id", http.MethodPost, "application/json", "", "abc", `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"x"}}}`, http.StatusBadRequest},
		{"ok", http.MethodPost, "application/json; charset=utf-8", "application/json", s.streamID, revive, http.StatusAccepted},
		{"unknown fields", http.MethodPost, "application/json", "", s.streamID, `{"type":"REVIVE","zzz":1,"framework_id":{"value":"` + s.fwID + `"}}`, http.StatusAccepted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(tc.method, tc.ct, tc.accept, tc.stream, tc.body)
			if code != tc.want {
				t.Errorf("got %d (%s), want %d", code, body, tc.want)
			}
		})
	}
}

func TestAgentProtocolVersion(t *testing.T) {
	m, _ := startLeader(t, nil)
	sub := agentSubscribeBody("h", "cpus:1;mem:128")
	sub.ProtocolVersion = agentapi.Version + 1
	resp := postJSON(t, m.srv.URL+agentapi.Path, nil, agentapi.Call{Type: agentapi.CallSubscribe, Subscribe: &sub})
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("got %d, want 400", resp.StatusCode)
	}
}
