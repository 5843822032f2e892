package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// The v1 operator API (POST /api/v1, reference §1.6): JSON calls in,
// protobuf-shaped JSON responses out.

// maxCallBytes bounds an operator call's body.
const maxCallBytes = 1 << 20

// notImplemented are master calls Mesos defines that Basalt does not
// implement (yet); they answer 501 rather than "unknown".
var notImplemented = map[string]bool{ // read-only
	"GET_LOGGING_LEVEL": true, "SET_LOGGING_LEVEL": true, "LIST_FILES": true, "READ_FILE": true,
	"GET_OPERATIONS": true, "UPDATE_WEIGHTS": true,
	"RESERVE_RESOURCES": true, "UNRESERVE_RESOURCES": true, "CREATE_VOLUMES": true, "DESTROY_VOLUMES": true,
	"GROW_VOLUME": true, "SHRINK_VOLUME": true, "GET_MAINTENANCE_STATUS": true, "GET_MAINTENANCE_SCHEDULE": true,
	"UPDATE_MAINTENANCE_SCHEDULE": true, "START_MAINTENANCE": true, "STOP_MAINTENANCE": true,
	"GET_QUOTA": true, "UPDATE_QUOTA": true, "SET_QUOTA": true, "REMOVE_QUOTA": true,
	"DRAIN_AGENT": true, "DEACTIVATE_AGENT": true, "REACTIVATE_AGENT": true,
}

// cachedCalls are the calls whose answer depends only on the snapshot, so
// it is rendered once per snapshot.
var cachedCalls = []string{ // read-only
	mesosv1.OperatorGetHealth, mesosv1.OperatorGetFlags, mesosv1.OperatorGetVersion,
	mesosv1.OperatorGetState, mesosv1.OperatorGetAgents, mesosv1.OperatorGetFrameworks,
	mesosv1.OperatorGetExecutors, mesosv1.OperatorGetTasks, mesosv1.OperatorGetRoles,
	mesosv1.OperatorGetWeights, mesosv1.OperatorGetMaster,
}

// callError is a decoding or dispatch failure with its HTTP status.
type callError struct {
	status int
	msg    string
}

func (e *callError) Error() string { return e.msg }

func badCall(format string, args ...any) error {
	return &callError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// decodeOperatorCall parses and validates one operator call body. Unknown
// fields are ignored, as Mesos' JSON parsing does.
func decodeOperatorCall(body []byte) (*mesosv1.OperatorCall, error) {
	var c mesosv1.OperatorCall
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, badCall("Failed to parse body into Call: %v", err)
	}
	switch {
	case c.Type == "":
		return nil, badCall("Expecting 'type' to be present")
	case c.Type == mesosv1.OperatorTeardown:
		if c.Teardown == nil || c.Teardown.FrameworkID.Value == "" {
			return nil, badCall("Expecting 'teardown.framework_id.value' to be present")
		}
	case c.Type == mesosv1.OperatorMarkAgentGone:
		if c.MarkAgentGone == nil || c.MarkAgentGone.AgentID.Value == "" {
			return nil, badCall("Expecting 'mark_agent_gone.agent_id.value' to be present")
		}
	case notImplemented[c.Type]:
		return nil, &callError{status: http.StatusNotImplemented, msg: fmt.Sprintf("Call type %s is not implemented", c.Type)}
	case c.Type == mesosv1.OperatorGetMetrics, c.Type == mesosv1.OperatorSubscribe:
	default:
		if !isCached(c.Type) {
			return nil, badCall("Unknown call type %q", c.Type)
		}
	}
	return &c, nil
}

func isCached(t string) bool {
	for _, c := range cachedCalls {
		if c == t {
			return true
		}
	}
	return false
}

// acceptsJSON reports whether an Accept header allows a JSON answer.
func acceptsJSON(accept string) bool {
	if accept == "" {
		return true
	}
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "application/json", "application/*", "*/*":
			return true
		}
	}
	return false
}

func (a *API) handleOperator(w http.ResponseWriter, r *http.Request) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		http.Error(w, "Expecting 'Content-Type' of application/json (protobuf is not supported)", http.StatusUnsupportedMediaType)
		return
	}
	if !acceptsJSON(r.Header.Get("Accept")) {
		http.Error(w, "Expecting 'Accept' to allow application/json", http.StatusNotAcceptable)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCallBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "Request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "Failed to read request body", http.StatusBadRequest)
		return
	}
	call, err := decodeOperatorCall(body)
	if err != nil {
		var ce *callError
		if errors.As(err, &ce) {
			http.Error(w, ce.msg, ce.status)
			return
		}
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	a.log.Debug("operator call", "type", call.Type)

	switch call.Type {
	case mesosv1.OperatorSubscribe:
		a.handleSubscribe(w, r)
		return
	case mesosv1.OperatorTeardown:
		a.teardown(w, r, call.Teardown.FrameworkID.Value)
		return
	case mesosv1.OperatorMarkAgentGone:
		a.markAgentGone(w, r, call.MarkAgentGone.AgentID.Value)
		return
	case mesosv1.OperatorGetMetrics:
		rd := a.current()
		b, err := encode(&mesosv1.OperatorResponse{Type: call.Type, GetMetrics: metricList(a.metrics(rd))})
		var d *document
		if err == nil {
			d = wholeDocument(b)
		}
		a.writeOperator(w, r, d, err)
		return
	}
	rd := a.current()
	d, err := rd.v1(call.Type).get(func() (*document, error) { return a.renderV1(call.Type, rd) })
	a.writeOperator(w, r, d, err)
}

func (a *API) writeOperator(w http.ResponseWriter, r *http.Request, d *document, err error) {
	if err != nil {
		a.log.Error("render operator response", "path", r.URL.Path, "error", err)
		http.Error(w, "Failed to render the response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(d.size))
	if _, err := d.WriteTo(w); err != nil {
		a.log.Debug("write response", "path", r.URL.Path, "error", err)
	}
}

// v1 returns the lazily rendered answer to a cached call type.
func (r *rendering) v1(callType string) *lazyDoc {
	r.v1Once.Do(func() {
		r.v1Docs = make(map[string]*lazyDoc, len(cachedCalls))
		for _, c := range cachedCalls {
			r.v1Docs[c] = &lazyDoc{}
		}
	})
	return r.v1Docs[callType]
}

// operatorResponse builds the answer to a snapshot-only call.
func operatorResponse(callType string, rd *rendering) *mesosv1.OperatorResponse {
	s := rd.snap
	resp := &mesosv1.OperatorResponse{Type: callType}
	switch callType {
	case mesosv1.OperatorGetHealth:
		resp.GetHealth = &mesosv1.OperatorHealth{Healthy: true}
	case mesosv1.OperatorGetFlags:
		resp.GetFlags = flagList(s)
	case mesosv1.OperatorGetVersion:
		resp.GetVersion = &mesosv1.OperatorVersion{VersionInfo: versionInfo(s)}
	case mesosv1.OperatorGetState:
		resp.GetState = &mesosv1.OperatorState{
			GetTasks:      *v1Tasks(s),
			GetExecutors:  *v1Executors(s),
			GetFrameworks: *v1Frameworks(s, rd.index()),
			GetAgents:     *v1Agents(s),
		}
	case mesosv1.OperatorGetAgents:
		resp.GetAgents = v1Agents(s)
	case mesosv1.OperatorGetFrameworks:
		resp.GetFrameworks = v1Frameworks(s, rd.index())
	case mesosv1.OperatorGetExecutors:
		resp.GetExecutors = v1Executors(s)
	case mesosv1.OperatorGetTasks:
		resp.GetTasks = v1Tasks(s)
	case mesosv1.OperatorGetRoles:
		resp.GetRoles = v1Roles(s)
	case mesosv1.OperatorGetWeights:
		resp.GetWeights = v1Weights(s)
	case mesosv1.OperatorGetMaster:
		resp.GetMaster = &mesosv1.OperatorMaster{
			MasterInfo:  s.Self,
			StartTime:   secs(s.StartTime),
			ElectedTime: secs(s.ElectedTime),
		}
	}
	return resp
}

func flagList(s *Snapshot) *mesosv1.OperatorFlags {
	out := &mesosv1.OperatorFlags{Flags: make([]mesosv1.OperatorFlag, 0, len(s.Flags))}
	for k, v := range s.Flags {
		out.Flags = append(out.Flags, mesosv1.OperatorFlag{Name: k, Value: v})
	}
	sort.Slice(out.Flags, func(i, j int) bool { return out.Flags[i].Name < out.Flags[j].Name })
	return out
}

func metricList(m map[string]float64) *mesosv1.OperatorMetrics {
	out := &mesosv1.OperatorMetrics{Metrics: make([]mesosv1.OperatorMetric, 0, len(m))}
	for k, v := range m {
		out.Metrics = append(out.Metrics, mesosv1.OperatorMetric{Name: k, Value: v})
	}
	sort.Slice(out.Metrics, func(i, j int) bool { return out.Metrics[i].Name < out.Metrics[j].Name })
	return out
}

// timeInfo renders t as {"nanoseconds"}; zero is absent.
func timeInfo(t time.Time) *mesosv1.TimeInfo {
	if t.IsZero() {
		return nil
	}
	return &mesosv1.TimeInfo{Nanoseconds: t.UnixNano()}
}

func resourcesOrEmpty(rs mesosv1.Resources) []mesosv1.Resource {
	if rs == nil {
		return []mesosv1.Resource{}
	}
	return rs
}

func v1Agents(s *Snapshot) *mesosv1.OperatorAgents {
	out := &mesosv1.OperatorAgents{Agents: []mesosv1.OperatorAgent{}, RecoveredAgents: []mesosv1.AgentInfo{}}
	for _, a := range s.Agents {
		if !registered(a) {
			continue
		}
		out.Agents = append(out.Agents, v1Agent(a))
	}
	return out
}

func v1Agent(a *Agent) mesosv1.OperatorAgent {
	caps := make([]mesosv1.AgentCapability, len(a.Capabilities))
	for i, c := range a.Capabilities {
		caps[i] = mesosv1.AgentCapability{Type: c}
	}
	return mesosv1.OperatorAgent{
		AgentInfo:          a.Info,
		Active:             a.Active,
		Deactivated:        !a.Active,
		Version:            a.Version,
		PID:                a.PID,
		RegisteredTime:     timeInfo(a.RegisteredTime),
		ReregisteredTime:   timeInfo(a.ReregisteredTime),
		TotalResources:     resourcesOrEmpty(a.Total),
		AllocatedResources: resourcesOrEmpty(a.Used),
		OfferedResources:   resourcesOrEmpty(a.Offered),
		Capabilities:       caps,
	}
}

func v1Framework(f *Framework, idx *index) mesosv1.OperatorFramework {
	of := mesosv1.OperatorFramework{
		FrameworkInfo:      f.Info,
		Active:             f.Active,
		Connected:          f.Connected,
		Recovered:          f.Recovered,
		RegisteredTime:     timeInfo(f.RegisteredTime),
		ReregisteredTime:   timeInfo(f.ReregisteredTime),
		UnregisteredTime:   timeInfo(f.UnregisteredTime),
		AllocatedResources: f.Used,
		OfferedResources:   f.Offered,
	}
	for _, o := range f.Offers {
		offer := mesosv1.Offer{
			ID:             mesosv1.ID{Value: o.ID},
			FrameworkID:    mesosv1.ID{Value: o.FrameworkID},
			AgentID:        mesosv1.ID{Value: o.AgentID},
			Resources:      resourcesOrEmpty(o.Resources),
			AllocationInfo: offerRole(o),
		}
		if a := idx.agents[o.AgentID]; a != nil {
			offer.Hostname = a.Info.Hostname
			offer.Attributes = a.Info.Attributes
			offer.Domain = a.Info.Domain
		}
		of.Offers = append(of.Offers, offer)
	}
	return of
}

func v1Frameworks(s *Snapshot, idx *index) *mesosv1.OperatorFrameworks {
	out := &mesosv1.OperatorFrameworks{
		Frameworks:          make([]mesosv1.OperatorFramework, len(s.Frameworks)),
		CompletedFrameworks: make([]mesosv1.OperatorFramework, len(s.CompletedFrameworks)),
	}
	for i, f := range s.Frameworks {
		out.Frameworks[i] = v1Framework(f, idx)
	}
	for i, f := range s.CompletedFrameworks {
		out.CompletedFrameworks[i] = v1Framework(f, idx)
	}
	return out
}

func v1Task(t *Task) mesosv1.Task {
	vt := mesosv1.Task{
		Name:        t.Info.Name,
		TaskID:      t.Info.TaskID,
		FrameworkID: mesosv1.ID{Value: t.FrameworkID},
		AgentID:     mesosv1.ID{Value: t.AgentID},
		State:       t.State,
		Resources:   resourcesOrEmpty(t.Info.Resources),
		Statuses:    t.Statuses,
		Labels:      t.Info.Labels,
		Discovery:   t.Info.Discovery,
		Container:   t.Info.Container.Redacted(),
		HealthCheck: t.Info.HealthCheck,
		KillPolicy:  t.Info.KillPolicy,
	}
	if vt.Statuses == nil {
		vt.Statuses = []mesosv1.TaskStatus{}
	}
	if t.ExecutorID != "" {
		vt.ExecutorID = &mesosv1.ID{Value: t.ExecutorID}
	}
	return vt
}

func appendV1Tasks(dst []mesosv1.Task, ts []*Task) []mesosv1.Task {
	for _, t := range ts {
		dst = append(dst, v1Task(t))
	}
	return dst
}

// v1Tasks is GET_TASKS: the tasks of registered frameworks by kind; every
// task of a completed framework counts as completed, as in Mesos.
func v1Tasks(s *Snapshot) *mesosv1.OperatorTasks {
	out := &mesosv1.OperatorTasks{
		Tasks:            []mesosv1.Task{},
		UnreachableTasks: []mesosv1.Task{},
		CompletedTasks:   []mesosv1.Task{},
	}
	for _, f := range s.Frameworks {
		out.Tasks = appendV1Tasks(out.Tasks, f.Tasks)
		out.UnreachableTasks = appendV1Tasks(out.UnreachableTasks, f.UnreachableTasks)
		out.CompletedTasks = appendV1Tasks(out.CompletedTasks, f.CompletedTasks)
	}
	for _, f := range s.CompletedFrameworks {
		for _, list := range [][]*Task{f.Tasks, f.UnreachableTasks, f.CompletedTasks} {
			out.CompletedTasks = appendV1Tasks(out.CompletedTasks, list)
		}
	}
	return out
}

// v1Executors lists the custom executors of live tasks; tasks run by the
// built-in command executor have none.
func v1Executors(s *Snapshot) *mesosv1.OperatorExecutors {
	out := &mesosv1.OperatorExecutors{Executors: []mesosv1.OperatorExecutor{}}
	type key struct{ agent, framework, executor string }
	seen := map[key]bool{}
	for _, f := range s.Frameworks {
		for _, t := range f.Tasks {
			ex := t.Info.Executor
			if ex == nil {
				continue
			}
			k := key{t.AgentID, t.FrameworkID, ex.ExecutorID.Value}
			if seen[k] {
				continue
			}
			seen[k] = true
			info := *ex
			if info.FrameworkID == nil {
				info.FrameworkID = &mesosv1.ID{Value: t.FrameworkID}
			}
			out.Executors = append(out.Executors, mesosv1.OperatorExecutor{ExecutorInfo: info, AgentID: mesosv1.ID{Value: t.AgentID}})
		}
	}
	return out
}

func v1Roles(s *Snapshot) *mesosv1.OperatorRoles {
	out := &mesosv1.OperatorRoles{Roles: make([]mesosv1.OperatorRole, len(s.Roles))}
	for i, r := range s.Roles {
		fids := make([]mesosv1.ID, len(r.Frameworks))
		for j, id := range r.Frameworks {
			fids[j] = mesosv1.ID{Value: id}
		}
		out.Roles[i] = mesosv1.OperatorRole{
			Name:       r.Name,
			Weight:     r.Weight,
			Frameworks: fids,
			Resources:  resourcesOrEmpty(r.Allocated),
			Allocated:  r.Allocated.Minus(r.Offered),
			Offered:    r.Offered,
			Reserved:   r.Reserved,
		}
	}
	return out
}

// v1Weights is GET_WEIGHTS: roles whose weight differs from the default 1.
func v1Weights(s *Snapshot) *mesosv1.OperatorWeights {
	out := &mesosv1.OperatorWeights{WeightInfos: []mesosv1.WeightInfo{}}
	for _, r := range s.Roles {
		if r.Weight != 0 && r.Weight != 1 {
			out.WeightInfos = append(out.WeightInfos, mesosv1.WeightInfo{Role: r.Name, Weight: r.Weight})
		}
	}
	return out
}
