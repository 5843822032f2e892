package mesos

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/basalt-dcos/basalt/internal/agentapi"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
	"github.com/basalt-dcos/basalt/pkg/recordio"
)

// DecodeCall parses and validates a scheduler call body. Errors are
// *apiError values: 400 for malformed or incomplete calls, 501 for call
// types Basalt does not implement.
func DecodeCall(body []byte) (*mesosv1.Call, error) {
	var call mesosv1.Call
	if err := json.Unmarshal(body, &call); err != nil {
		return nil, errBadRequest("Failed to parse body into Call: " + err.Error())
	}
	if err := validateCall(&call); err != nil {
		return nil, err
	}
	return &call, nil
}

// HTTPStatus returns the HTTP status an error from DecodeCall maps to.
func HTTPStatus(err error) int {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.code
	}
	return http.StatusInternalServerError
}

func validateCall(c *mesosv1.Call) error {
	bad := func(format string, args ...any) error { return errBadRequest(fmt.Sprintf(format, args...)) }
	if c.Type == "" {
		return bad("Expecting 'type' to be present")
	}
	if c.Type != mesosv1.CallSubscribe && (c.FrameworkID == nil || c.FrameworkID.Value == "") {
		return bad("Expecting 'framework_id' to be present")
	}
	switch c.Type {
	case mesosv1.CallSubscribe:
		if c.Subscribe == nil {
			return bad("Expecting 'subscribe' to be present")
		}
		fi := &c.Subscribe.FrameworkInfo
		if err := validateFrameworkInfo(fi); err != nil {
			return bad("Invalid FrameworkInfo: %v", err)
		}
		if c.FrameworkID != nil && (fi.ID == nil || fi.ID.Value != c.FrameworkID.Value) {
			return bad("'framework_id' differs from 'subscribe.framework_info.id'")
		}
		for _, r := range c.Subscribe.SuppressedRoles {
			if !containsString(fi.EffectiveRoles(), r) {
				return bad("Suppressed role %q is not one of the framework's roles", r)
			}
		}
	case mesosv1.CallTeardown, mesosv1.CallRevive, mesosv1.CallSuppress, mesosv1.CallRequest:
	case mesosv1.CallAccept:
		if c.Accept == nil {
			return bad("Expecting 'accept' to be present")
		}
		for _, op := range c.Accept.Operations {
			switch op.Type {
			case mesosv1.OpLaunch:
				if op.Launch == nil {
					return bad("Expecting 'launch' to be present in a LAUNCH operation")
				}
			case mesosv1.OpLaunchGroup:
				if op.LaunchGroup == nil {
					return bad("Expecting 'launch_group' to be present in a LAUNCH_GROUP operation")
				}
			case "":
				return bad("Expecting 'type' to be present in every operation")
			default:
				return errNotImplemented(fmt.Sprintf("Offer operation %s is not supported", op.Type))
			}
		}
	case mesosv1.CallDecline:
		if c.Decline == nil {
			return bad("Expecting 'decline' to be present")
		}
	case mesosv1.CallKill:
		if c.Kill == nil || c.Kill.TaskID.Value == "" {
			return bad("Expecting 'kill.task_id' to be present")
		}
	case mesosv1.CallShutdown:
		if c.Shutdown == nil || c.Shutdown.ExecutorID.Value == "" || c.Shutdown.AgentID.Value == "" {
			return bad("Expecting 'shutdown.executor_id' and 'shutdown.agent_id' to be present")
		}
	case mesosv1.CallAcknowledge:
		a := c.Acknowledge
		if a == nil || a.TaskID.Value == "" || a.AgentID.Value == "" {
			return bad("Expecting 'acknowledge' with 'task_id' and 'agent_id' to be present")
		}
		if len(a.UUID) == 0 {
			return bad("Expecting 'acknowledge.uuid' to be present")
		}
	case mesosv1.CallReconcile:
		if c.Reconcile != nil {
			for _, t := range c.Reconcile.Tasks {
				if t.TaskID.Value == "" {
					return bad("Expecting 'task_id' of every reconciled task to be present")
				}
			}
		}
	case mesosv1.CallMessage:
		if c.Message == nil || c.Message.AgentID.Value == "" || c.Message.ExecutorID.Value == "" {
			return bad("Expecting 'message' with 'agent_id' and 'executor_id' to be present")
		}
	case mesosv1.CallUpdateFramework:
		if c.UpdateFramework == nil {
			return bad("Expecting 'update_framework' to be present")
		}
		if err := validateFrameworkInfo(&c.UpdateFramework.FrameworkInfo); err != nil {
			return bad("Invalid FrameworkInfo: %v", err)
		}
	case mesosv1.CallAcceptInverseOffers, mesosv1.CallDeclineInverseOffers,
		mesosv1.CallAcknowledgeOperationStatus, mesosv1.CallReconcileOperations:
		return errNotImplemented(fmt.Sprintf("Call type %s is not implemented by Basalt", c.Type))
	default:
		return bad("Unknown call type %q", c.Type)
	}
	return nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// writeError answers with Mesos' plain-text error bodies.
func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg)
}

// checkJSONRequest enforces POST, a JSON body and a JSON-accepting client;
// it writes the error and returns false on failure.
func checkJSONRequest(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("Expecting a 'POST' request, received '%s'", r.Method))
		return false
	}
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType,
			fmt.Sprintf("Expecting 'Content-Type' of application/json (Basalt does not speak application/x-protobuf), received '%s'", ct))
		return false
	}
	if !acceptsJSON(r.Header.Values("Accept")) {
		writeError(w, http.StatusNotAcceptable, "Expecting 'Accept' to allow application/json")
		return false
	}
	return true
}

func acceptsJSON(values []string) bool {
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			switch mt {
			case "application/json", "application/*", "*/*", "application/recordio":
				return true
			}
		}
	}
	return false
}

func (m *Master) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, m.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("Request body exceeds %d bytes", m.cfg.MaxBodyBytes))
		} else {
			writeError(w, http.StatusBadRequest, "Failed to read request body: "+err.Error())
		}
		return nil, false
	}
	return body, true
}

// handleScheduler serves POST /api/v1/scheduler.
func (m *Master) handleScheduler(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && m.kernel.Load() == nil {
		m.redirectToLeader(w, r)
		return
	}
	if !checkJSONRequest(w, r) {
		return
	}
	body, ok := m.readBody(w, r)
	if !ok {
		return
	}
	call, err := DecodeCall(body)
	if err != nil {
		writeError(w, HTTPStatus(err), err.Error())
		return
	}
	k := m.kernel.Load()
	if k == nil {
		m.redirectToLeader(w, r)
		return
	}
	streamID := r.Header.Get(mesosv1.StreamIDHeader)
	if call.Type == mesosv1.CallSubscribe {
		if streamID != "" {
			writeError(w, http.StatusBadRequest, "Expecting 'Mesos-Stream-Id' header not to be set for SUBSCRIBE")
			return
		}
		var sub *subscriber
		var fwID string
		if err := k.call(r.Context(), func() {
			sub = k.subscribe(call.Subscribe, time.Now())
			if fi := k.frameworkBySub(sub); fi != "" {
				fwID = fi
			}
		}); err != nil {
			m.callFailed(w, r, err)
			return
		}
		hb, _ := json.Marshal(mesosv1.Event{Type: mesosv1.EventHeartbeat})
		serveStream(w, r, sub, mesosv1.StreamIDHeader, m.cfg.HeartbeatInterval, hb)
		k.post(func() { k.frameworkStreamClosed(fwID, sub, time.Now()) })
		return
	}
	if streamID == "" {
		writeError(w, http.StatusBadRequest, "All non-subscribe calls should include the 'Mesos-Stream-Id' header")
		return
	}
	var cerr error
	if err := k.call(r.Context(), func() { cerr = k.schedulerCall(call, streamID, time.Now()) }); err != nil {
		m.callFailed(w, r, err)
		return
	}
	if cerr != nil {
		writeError(w, HTTPStatus(cerr), cerr.Error())
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (k *kernel) frameworkBySub(sub *subscriber) string {
	for id, fw := range k.frameworks {
		if fw.sub == sub {
			return id
		}
	}
	return ""
}

func (m *Master) callFailed(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errNotLeader) {
		m.redirectToLeader(w, r)
		return
	}
	writeError(w, http.StatusServiceUnavailable, err.Error())
}

// serveStream writes a subscriber's events as a chunked RecordIO stream
// until the loop closes it or the client goes away, with heartbeats.
func serveStream(w http.ResponseWriter, r *http.Request, sub *subscriber, idHeader string, every time.Duration, heartbeat []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-cache")
	h.Set(idHeader, sub.streamID)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	// Streams are exempt from the server's read and write timeouts (a read
	// deadline would also end the stream: net/http cancels the request when
	// its background read fails).
	_ = rc.SetWriteDeadline(time.Time{})
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.Flush()
	// Records go out unflushed (the writer does not see the Flusher) and
	// each batch is flushed once.
	rw := recordio.NewWriter(struct{ io.Writer }{w})
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-sub.wake:
			batch, ended := sub.take()
			for _, b := range batch {
				if err := rw.WriteRecord(b); err != nil {
					return
				}
			}
			if len(batch) > 0 && rc.Flush() != nil {
				return
			}
			if ended {
				return
			}
		case <-tick.C:
			if err := rw.WriteRecord(heartbeat); err != nil || rc.Flush() != nil {
				return
			}
		case <-r.Context().Done():
			return
		}
	}
}

// handleAgent serves POST agentapi.Path.
func (m *Master) handleAgent(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && m.kernel.Load() == nil {
		m.redirectToLeader(w, r)
		return
	}
	if !checkJSONRequest(w, r) {
		return
	}
	body, ok := m.readBody(w, r)
	if !ok {
		return
	}
	var call agentapi.Call
	if err := json.Unmarshal(body, &call); err != nil {
		writeError(w, http.StatusBadRequest, "Failed to parse body into agent Call: "+err.Error())
		return
	}
	k := m.kernel.Load()
	if k == nil {
		m.redirectToLeader(w, r)
		return
	}
	if call.Type == agentapi.CallSubscribe {
		if err := validateAgentSubscribe(call.Subscribe); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		var sub *subscriber
		var id string
		if err := k.call(r.Context(), func() { sub, id = k.agentSubscribe(call, time.Now()) }); err != nil {
			m.callFailed(w, r, err)
			return
		}
		hb, _ := json.Marshal(agentapi.Event{Type: agentapi.EventHeartbeat})
		serveStream(w, r, sub, agentapi.StreamIDHeader, m.cfg.AgentHeartbeatInterval, hb)
		k.post(func() { k.agentStreamClosed(id, sub) })
		return
	}
	streamID := r.Header.Get(agentapi.StreamIDHeader)
	if streamID == "" || call.AgentID == "" {
		writeError(w, http.StatusBadRequest, "Agent calls other than SUBSCRIBE need 'agent_id' and the '"+agentapi.StreamIDHeader+"' header")
		return
	}
	switch call.Type {
	case agentapi.CallUpdate:
		if call.Update == nil {
			writeError(w, http.StatusBadRequest, "Expecting 'update' to be present")
			return
		}
	case agentapi.CallMessage:
		if call.Message == nil {
			writeError(w, http.StatusBadRequest, "Expecting 'message' to be present")
			return
		}
	case agentapi.CallHeartbeat:
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Unknown agent call type %q", call.Type))
		return
	}
	if call.Type == agentapi.CallHeartbeat {
		if err := k.heartbeat(call.AgentID, streamID); err != nil {
			if errors.Is(err, errNotLeader) {
				m.callFailed(w, r, err)
				return
			}
			writeError(w, HTTPStatus(err), err.Error())
			return
		}
		w.WriteHeader(http.StatusAccepted)
		return
	}
	var cerr error
	if err := k.call(r.Context(), func() {
		a, err := k.agentFor(call.AgentID, streamID)
		if err != nil {
			cerr = err
			return
		}
		now := time.Now()
		switch call.Type {
		case agentapi.CallUpdate:
			k.agentUpdate(a, call.Update, now)
		case agentapi.CallMessage:
			k.count("master/messages_executor_to_framework")
			if fw := k.frameworks[call.Message.FrameworkID]; fw != nil && fw.sub != nil {
				k.send(fw.sub, mesosv1.Event{Type: mesosv1.EventMessage, Message: &mesosv1.EventMessageBody{
					AgentID: mesosv1.ID{Value: a.id}, ExecutorID: mesosv1.ID{Value: call.Message.ExecutorID}, Data: call.Message.Data,
				}})
			}
		}
	}); err != nil {
		m.callFailed(w, r, err)
		return
	}
	if cerr != nil {
		writeError(w, HTTPStatus(cerr), cerr.Error())
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func validateAgentSubscribe(s *agentapi.Subscribe) error {
	if s == nil {
		return errors.New("expecting 'subscribe' to be present")
	}
	if s.ProtocolVersion != agentapi.Version {
		return fmt.Errorf("unsupported agent protocol version %d: this master speaks version %d", s.ProtocolVersion, agentapi.Version)
	}
	var errs []error
	if s.AgentInfo.Hostname == "" {
		errs = append(errs, errors.New("'agent_info.hostname' is required"))
	}
	if s.AgentInfo.ID != nil && s.AgentInfo.ID.Value == "" {
		errs = append(errs, errors.New("'agent_info.id.value' must not be empty"))
	}
	if err := mesosv1.Resources(s.AgentInfo.Resources).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("invalid agent resources: %w", err))
	}
	for i, t := range s.Tasks {
		if t.FrameworkID == "" || t.Info.TaskID.Value == "" {
			errs = append(errs, fmt.Errorf("task %d: 'framework_id' and 'info.task_id' are required", i))
		}
	}
	return errors.Join(errs...)
}
