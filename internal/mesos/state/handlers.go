package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Legacy read endpoints: decode the query, pick (or render) the document
// for the current snapshot, write it. No business logic lives here.

// jsonpCallback is what a ?jsonp= callback may look like: a JavaScript
// identifier path, so the parameter cannot inject script.
var jsonpCallback = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$.]{0,127}$`)

// encode renders v as JSON without HTML escaping (Mesos does not escape)
// and without a trailing newline.
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode response: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// encoder encodes many values in a row through one reusable buffer; each
// result is copied out at its exact size. Not safe for concurrent use.
type encoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

func newEncoder() *encoder {
	e := &encoder{}
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetEscapeHTML(false)
	return e
}

func (e *encoder) encode(v any) ([]byte, error) {
	e.buf.Reset()
	if err := e.enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode response: %w", err)
	}
	return bytes.Clone(bytes.TrimSuffix(e.buf.Bytes(), []byte("\n"))), nil
}

// write sends a JSON document, wrapped as a JSONP call when asked.
func (a *API) write(w http.ResponseWriter, r *http.Request, body []byte, err error) {
	var d *document
	if err == nil {
		d = wholeDocument(body)
	}
	a.writeDoc(w, r, d, err)
}

// writeDoc sends an assembled document, wrapped as a JSONP call when asked.
func (a *API) writeDoc(w http.ResponseWriter, r *http.Request, d *document, err error) {
	if err != nil {
		a.log.Error("render state endpoint", "path", r.URL.Path, "error", err)
		http.Error(w, "Failed to render the response", http.StatusInternalServerError)
		return
	}
	prefix, suffix := "", ""
	if cb := r.URL.Query().Get("jsonp"); cb != "" {
		if !jsonpCallback.MatchString(cb) {
			http.Error(w, "Invalid 'jsonp' callback: must be a JavaScript identifier", http.StatusBadRequest)
			return
		}
		prefix, suffix = cb+"(", ");"
		w.Header().Set("Content-Type", "text/javascript")
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(prefix)+d.size+len(suffix)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = io.WriteString(w, prefix)
	if _, err := d.WriteTo(w); err != nil {
		a.log.Debug("write response", "path", r.URL.Path, "error", err)
		return
	}
	_, _ = io.WriteString(w, suffix)
}

func (a *API) handleState(w http.ResponseWriter, r *http.Request) {
	rd := a.current()
	d, err := rd.state.get(func() (*document, error) { return a.renderState(rd) })
	a.writeDoc(w, r, d, err)
}

func (a *API) handleSummary(w http.ResponseWriter, r *http.Request) {
	rd := a.current()
	d, err := rd.summary.get(func() (*document, error) { return a.renderSummary(rd) })
	a.writeDoc(w, r, d, err)
}

func (a *API) handleSlaves(w http.ResponseWriter, r *http.Request) {
	rd := a.current()
	if id := r.URL.Query().Get("slave_id"); id != "" {
		b, err := encode(slaves(rd.snap, id))
		a.write(w, r, b, err)
		return
	}
	b, err := rd.slaves.get(func() ([]byte, error) { return encode(slaves(rd.snap, "")) })
	a.write(w, r, b, err)
}

func (a *API) handleFrameworks(w http.ResponseWriter, r *http.Request) {
	rd := a.current()
	if id := r.URL.Query().Get("framework_id"); id != "" {
		d, err := a.renderFrameworks(rd, id)
		a.writeDoc(w, r, d, err)
		return
	}
	d, err := rd.frameworks.get(func() (*document, error) { return a.renderFrameworks(rd, "") })
	a.writeDoc(w, r, d, err)
}

// defaultTaskLimit is /master/tasks' default page size, as in Mesos.
const defaultTaskLimit = 100

// tasksQuery is the decoded query of /master/tasks.
type tasksQuery struct {
	limit, offset int
	asc           bool
	frameworkID   string
	taskID        string
}

func parseTasksQuery(r *http.Request) (tasksQuery, error) {
	q := r.URL.Query()
	tq := tasksQuery{
		limit:       defaultTaskLimit,
		asc:         q.Get("order") == "asc", // anything else is descending, as in Mesos
		frameworkID: q.Get("framework_id"),
		taskID:      q.Get("task_id"),
	}
	num := func(name string, dst *int) error {
		v := q.Get(name)
		if v == "" {
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("invalid '%s' %q: must be a non-negative integer", name, v)
		}
		*dst = n
		return nil
	}
	if err := num("limit", &tq.limit); err != nil {
		return tq, err
	}
	if err := num("offset", &tq.offset); err != nil {
		return tq, err
	}
	return tq, nil
}

// selectTasks applies a tasks query to the snapshot's sorted task list.
func selectTasks(all []*Task, tq tasksQuery) []*Task {
	match := func(t *Task) bool {
		return (tq.frameworkID == "" || t.FrameworkID == tq.frameworkID) &&
			(tq.taskID == "" || t.Info.TaskID.Value == tq.taskID)
	}
	out := []*Task{}
	skipped := 0
	visit := func(t *Task) bool {
		if !match(t) {
			return true
		}
		if skipped < tq.offset {
			skipped++
			return true
		}
		if len(out) >= tq.limit {
			return false
		}
		out = append(out, t)
		return true
	}
	if tq.asc {
		for _, t := range all {
			if !visit(t) {
				break
			}
		}
	} else {
		for i := len(all) - 1; i >= 0; i-- {
			if !visit(all[i]) {
				break
			}
		}
	}
	return out
}

func (a *API) handleTasks(w http.ResponseWriter, r *http.Request) {
	tq, err := parseTasksQuery(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rd := a.current()
	d, err := a.renderTasks(rd, selectTasks(rd.sortedTasks(), tq))
	a.writeDoc(w, r, d, err)
}

func (a *API) handleRoles(w http.ResponseWriter, r *http.Request) {
	rd := a.current()
	b, err := rd.roles.get(func() ([]byte, error) { return encode(roles(rd.snap)) })
	a.write(w, r, b, err)
}

func (a *API) handleFlags(w http.ResponseWriter, r *http.Request) {
	rd := a.current()
	b, err := rd.flags.get(func() ([]byte, error) {
		return encode(&mesosv1.FlagsResponse{Flags: flagsOf(rd.snap)})
	})
	a.write(w, r, b, err)
}

// handleHealth answers 200 with an empty body, as Mesos' /health does.
func (a *API) handleHealth(w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(http.StatusOK)
}

// versionResponse is /version: every field present, as Mesos renders it.
type versionResponse struct {
	Version   string  `json:"version"`
	GitSHA    string  `json:"git_sha"`
	BuildDate string  `json:"build_date"`
	BuildTime float64 `json:"build_time"`
	BuildUser string  `json:"build_user"`
}

func (a *API) handleVersion(w http.ResponseWriter, r *http.Request) {
	rd := a.current()
	b, err := rd.version.get(func() ([]byte, error) {
		v := versionInfo(rd.snap)
		return encode(&versionResponse{Version: v.Version, GitSHA: v.GitSHA, BuildDate: v.BuildDate, BuildTime: v.BuildTime, BuildUser: v.BuildUser})
	})
	a.write(w, r, b, err)
}

// metrics returns the snapshot's metrics with the uptime as of now.
func (a *API) metrics(rd *rendering) map[string]float64 {
	rd.metricsOnce.Do(func() { rd.metrics = snapshotMetrics(rd.snap) })
	return withUptime(rd.metrics, rd.snap, a.now())
}

func (a *API) handleMetrics(w http.ResponseWriter, r *http.Request) {
	b, err := encode(a.metrics(a.current()))
	a.write(w, r, b, err)
}

// handleTeardown is the legacy POST /master/teardown with a form-encoded
// frameworkId.
func (a *API) handleTeardown(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxCallBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "Unable to parse request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	id := r.PostForm.Get("frameworkId")
	if id == "" {
		http.Error(w, "Missing 'frameworkId' in the request body", http.StatusBadRequest)
		return
	}
	a.teardown(w, r, id)
}

// teardown calls Actions.Teardown and maps its errors (one table for the
// legacy and the v1 endpoint).
func (a *API) teardown(w http.ResponseWriter, r *http.Request, frameworkID string) {
	if a.actions == nil {
		http.Error(w, "Teardown is not available on this master", http.StatusServiceUnavailable)
		return
	}
	err := a.actions.Teardown(r.Context(), frameworkID)
	if err == nil {
		a.log.Info("framework torn down by operator", "framework_id", frameworkID)
	}
	a.actionResult(w, r, err, "teardown framework", "framework_id", frameworkID)
}

// markAgentGone calls Actions.MarkAgentGone.
func (a *API) markAgentGone(w http.ResponseWriter, r *http.Request, agentID string) {
	if a.actions == nil {
		http.Error(w, "MARK_AGENT_GONE is not available on this master", http.StatusServiceUnavailable)
		return
	}
	err := a.actions.MarkAgentGone(r.Context(), agentID)
	if err == nil {
		a.log.Info("agent marked gone by operator", "agent_id", agentID)
	}
	a.actionResult(w, r, err, "mark agent gone", "agent_id", agentID)
}

// actionResult maps the result of an Actions call to HTTP: one table for
// every operator action.
func (a *API) actionResult(w http.ResponseWriter, r *http.Request, err error, what, key, id string) {
	switch {
	case err == nil:
		w.WriteHeader(http.StatusOK)
	case errors.Is(err, ErrUnknownFramework):
		http.Error(w, "No framework found with specified ID", http.StatusBadRequest)
	case errors.Is(err, ErrUnknownAgent):
		http.Error(w, "No agent found with specified ID", http.StatusBadRequest)
	case errors.Is(err, ErrNotLeader):
		http.Error(w, "Not the leading master", http.StatusServiceUnavailable)
	case r.Context().Err() != nil:
		// The client went away; nobody reads this answer.
		http.Error(w, "Request cancelled", http.StatusServiceUnavailable)
	default:
		a.log.Error(what, key, id, "error", err)
		http.Error(w, "Failed to "+what, http.StatusInternalServerError)
	}
}
