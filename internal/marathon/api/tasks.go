package api

import (
	"bytes"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/basalt-dcos/basalt/internal/marathon"
	"github.com/basalt-dcos/basalt/internal/marathon/appdef"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
)

// tasksOut is the body of the task listings.
type tasksOut struct {
	Tasks []v2.Task `json:"tasks"`
}

// appTasks is GET /v2/apps/{id}/tasks.
func (a *API) appTasks(w http.ResponseWriter, r *http.Request, id string) {
	snap := a.b.Snapshot()
	if _, ok := snap.Root.Apps[id]; !ok {
		a.fail(w, r, &marathon.AppNotFoundError{ID: id})
		return
	}
	if prefersText(r) {
		writeText(w, haproxyText(snap, []string{id}))
		return
	}
	out := tasksOut{Tasks: []v2.Task{}}
	if st := snap.Apps[id]; st != nil {
		out.Tasks = append(out.Tasks, st.Tasks...)
	}
	writeJSON(w, http.StatusOK, out)
}

// listTasks is GET /v2/tasks: every task, filtered by status / status[]
// (running, staging, ... matched against TASK_<STATUS>), or the haproxy
// bridge text format.
func (a *API) listTasks(w http.ResponseWriter, r *http.Request) {
	snap := a.b.Snapshot()
	if prefersText(r) {
		writeText(w, haproxyText(snap, snap.AppIDs))
		return
	}
	q := r.URL.Query()
	states := map[string]bool{}
	for _, s := range append(q["status"], q["status[]"]...) {
		for _, part := range strings.Split(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				states["TASK_"+strings.ToUpper(part)] = true
			}
		}
	}
	keys := make([]string, 0, len(states))
	for st := range states {
		keys = append(keys, st)
	}
	sort.Strings(keys)
	cacheKey := "tasks:" + strings.Join(keys, ",")
	// Each app's tasks are encoded once per app status (see encodeApp).
	parts := make([][]byte, 0, len(snap.AppIDs))
	for _, id := range snap.AppIDs {
		st := snap.Apps[id]
		if st == nil || len(st.Tasks) == 0 {
			continue
		}
		b, err := st.Encoded(cacheKey, func() ([]byte, error) {
			var buf bytes.Buffer
			for _, t := range st.Tasks {
				if len(states) > 0 && !states[t.State] {
					continue
				}
				if buf.Len() > 0 {
					buf.WriteByte(',')
				}
				if err := encodeCompact(&buf, t); err != nil {
					return nil, err
				}
			}
			return buf.Bytes(), nil
		})
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if len(b) > 0 {
			parts = append(parts, b)
		}
	}
	streamJSONList(w, `{"tasks":[`, "]}\n", parts)
}

// killParams reads scale, wipe and force.
func killParams(r *http.Request) (marathon.KillRequest, error) {
	var req marathon.KillRequest
	var err error
	if req.Scale, err = boolParam(r, "scale", false); err != nil {
		return req, err
	}
	if req.Wipe, err = boolParam(r, "wipe", false); err != nil {
		return req, err
	}
	if req.Force, err = boolParam(r, "force", false); err != nil {
		return req, err
	}
	if req.Scale && req.Wipe {
		return req, badRequest("You cannot use scale and wipe at the same time.")
	}
	return req, nil
}

// killAppTasks is DELETE /v2/apps/{id}/tasks (every task of the app on
// host, "*" or absent meaning any host) and DELETE
// /v2/apps/{id}/tasks/{taskId} (taskID set).
func (a *API) killAppTasks(w http.ResponseWriter, r *http.Request, id, taskID string) {
	req, err := killParams(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	snap := a.b.Snapshot()
	if _, ok := snap.Root.Apps[id]; !ok {
		a.fail(w, r, &marathon.AppNotFoundError{ID: id})
		return
	}
	var tasks []v2.Task
	if st := snap.Apps[id]; st != nil {
		tasks = st.Tasks
	}
	host := r.URL.Query().Get("host")
	for _, t := range tasks {
		switch {
		case taskID != "":
			if t.ID == taskID {
				req.TaskIDs = append(req.TaskIDs, t.ID)
			}
		case host == "" || host == "*" || t.Host == host:
			req.TaskIDs = append(req.TaskIDs, t.ID)
		}
	}
	if taskID != "" && len(req.TaskIDs) == 0 {
		a.fail(w, r, &marathon.TaskNotFoundError{ID: taskID})
		return
	}
	if len(req.TaskIDs) == 0 {
		// Nothing matches: nothing to kill and no deployment.
		writeJSON(w, http.StatusOK, tasksOut{Tasks: []v2.Task{}})
		return
	}
	res, err := a.b.KillTasks(r.Context(), req)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if res.Deployment != nil {
		writeDeployment(w, http.StatusOK, *res.Deployment)
		return
	}
	if taskID != "" {
		task := v2.Task{}
		for _, t := range append(res.Tasks, tasks...) {
			if t.ID == taskID {
				task = t
				break
			}
		}
		writeJSON(w, http.StatusOK, struct {
			Task v2.Task `json:"task"`
		}{task})
		return
	}
	out := tasksOut{Tasks: append([]v2.Task{}, res.Tasks...)}
	writeJSON(w, http.StatusOK, out)
}

// deleteTasks is POST /v2/tasks/delete with body {"ids": [...]}.
func (a *API) deleteTasks(w http.ResponseWriter, r *http.Request) {
	req, err := killParams(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	body, err := a.readBody(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var in struct {
		IDs []string `json:"ids"`
	}
	if err := decodeJSON(body, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	req.TaskIDs = in.IDs
	res, err := a.b.KillTasks(r.Context(), req)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if res.Deployment != nil {
		writeDeployment(w, http.StatusOK, *res.Deployment)
		return
	}
	writeJSON(w, http.StatusOK, tasksOut{Tasks: append([]v2.Task{}, res.Tasks...)})
}

// haproxyText renders the apps ids in the haproxy-marathon-bridge format:
// for every service port of an app, one line
//
//	<app safe path> TAB <service port> TAB <host>:<port> TAB ... NEWLINE
//
// listing the app's running tasks with their host port at the service
// port's index. Marathon writes the app id in its safe-path form
// ("/group/app" -> "group_app") because the bridge uses it in haproxy
// section names. Apps without service ports have no line.
func haproxyText(snap *marathon.Snapshot, ids []string) string {
	var b strings.Builder
	for _, id := range ids {
		app, ok := snap.Root.Apps[id]
		if !ok {
			continue
		}
		var running []v2.Task
		if st := snap.Apps[id]; st != nil {
			for _, t := range st.Tasks {
				if t.State == "TASK_RUNNING" {
					running = append(running, t)
				}
			}
		}
		name := appdef.SafePath(id)
		for i, sp := range appdef.ServicePorts(app) {
			b.WriteString(name)
			b.WriteByte('\t')
			b.WriteString(strconv.Itoa(sp))
			b.WriteByte('\t')
			for _, t := range running {
				if i < len(t.Ports) {
					b.WriteString(t.Host + ":" + strconv.Itoa(t.Ports[i]))
					b.WriteByte('\t')
				}
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// writeText answers 200 with a text/plain body.
func writeText(w http.ResponseWriter, s string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(s)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(s))
}

// prefersText reports whether r's Accept header ranks text/plain above
// application/json (JSON wins ties and is the default).
func prefersText(r *http.Request) bool {
	accept := strings.Join(r.Header.Values("Accept"), ",")
	if accept == "" {
		return false
	}
	tq, ts := acceptQuality(accept, "text", "plain")
	jq, js := acceptQuality(accept, "application", "json")
	return tq > jq || (tq == jq && tq > 0 && ts > js)
}

// acceptQuality returns the q-value the Accept header gives typ/sub, from
// its most specific matching range, and that range's specificity (2 exact,
// 1 type/*, 0 */*). No match gives q 0, specificity -1.
func acceptQuality(accept, typ, sub string) (q float64, specificity int) {
	specificity = -1
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		t, s, _ := strings.Cut(mt, "/")
		spec := -1
		switch {
		case t == typ && s == sub:
			spec = 2
		case t == typ && s == "*":
			spec = 1
		case t == "*" && s == "*":
			spec = 0
		}
		if spec <= specificity {
			continue
		}
		qv := 1.0
		if qs, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(qs, 64); err == nil {
				qv = f
			}
		}
		q, specificity = qv, spec
	}
	return q, specificity
}
