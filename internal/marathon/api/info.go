package api

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
)

// listDeployments is GET /v2/deployments.
func (a *API) listDeployments(w http.ResponseWriter, r *http.Request) {
	ds := a.b.Snapshot().Deployments
	if ds == nil {
		ds = []v2.Deployment{}
	}
	writeJSON(w, http.StatusOK, ds)
}

// cancelDeployment is DELETE /v2/deployments/{id}: without force the
// deployment is rolled back (200 and the rollback's deployment); with
// force it is only stopped (202, empty body).
func (a *API) cancelDeployment(w http.ResponseWriter, r *http.Request) {
	force, err := boolParam(r, "force", false)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.b.CancelDeployment(r.Context(), r.PathValue("id"), force)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if force || res == nil {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	writeDeployment(w, http.StatusOK, *res)
}

// listQueue is GET /v2/queue.
func (a *API) listQueue(w http.ResponseWriter, r *http.Request) {
	snap := a.b.Snapshot()
	out := struct {
		Queue []v2.QueueItem `json:"queue"`
	}{Queue: []v2.QueueItem{}}
	for _, q := range snap.Queue {
		if item, ok := queueItem(q, snap); ok {
			out.Queue = append(out.Queue, item)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// resetDelay is DELETE /v2/queue/{appId}/delay.
func (a *API) resetDelay(w http.ResponseWriter, r *http.Request) {
	raw, _, ok := cutPathSuffix(r.PathValue("rest"), "delay", false)
	if !ok {
		writeError(w, http.StatusNotFound, "Not found: use DELETE /v2/queue/{appId}/delay")
		return
	}
	id, err := canonicalID(raw)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.b.ResetDelay(r.Context(), id); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// info is GET /v2/info.
func (a *API) info(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.b.Info())
}

// leader is GET /v2/leader.
func (a *API) leader(w http.ResponseWriter, r *http.Request) {
	l := a.b.Leader()
	if l == "" {
		writeError(w, http.StatusNotFound, "There is no leader")
		return
	}
	writeJSON(w, http.StatusOK, v2.Leader{Leader: l})
}

// abdicate is DELETE /v2/leader. The backup and restore parameters of
// Marathon are not supported.
func (a *API) abdicate(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("backup") != "" || q.Get("restore") != "" {
		a.fail(w, r, badRequest("backup and restore are not supported"))
		return
	}
	if err := a.b.Abdicate(r.Context()); err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v2.ErrorBody{Message: "Leadership abdicated"})
}

// ping is GET /ping.
func (a *API) ping(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "must-revalidate,no-cache,no-store")
	writeText(w, "pong")
}

// metrics is GET /metrics.
func (a *API) metrics(w http.ResponseWriter, r *http.Request) {
	m := a.b.Metrics()
	if m == nil {
		m = map[string]any{}
	}
	writeJSON(w, http.StatusOK, m)
}

// metricsPrometheus is GET /metrics/prometheus (Marathon 1.7+): the
// gauges and counters of /metrics in the Prometheus text format, names
// with "." and "-" turned into "_".
func (a *API) metricsPrometheus(w http.ResponseWriter, r *http.Request) {
	m := a.b.Metrics()
	var b strings.Builder
	for _, kind := range []string{"gauges", "counters"} {
		group, _ := m[kind].(map[string]any)
		names := make([]string, 0, len(group))
		for name := range group {
			names = append(names, name)
		}
		sort.Strings(names)
		typ := "gauge"
		if kind == "counters" {
			typ = "counter"
		}
		for _, name := range names {
			var v float64
			switch x := group[name].(type) {
			case map[string]any:
				v, _ = toFloat(x["value"])
				if kind == "counters" {
					v, _ = toFloat(x["count"])
				}
			default:
				v, _ = toFloat(x)
			}
			pn := promName(name)
			fmt.Fprintf(&b, "# TYPE %s %s\n%s %s\n", pn, typ, pn, strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = io.WriteString(w, b.String())
}

// promName turns a Dropwizard metric name into a Prometheus one.
func promName(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == ':':
			return r
		}
		return '_'
	}, name)
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// emptyList answers [] (GET /v2/pods: there are never pods).
func (a *API) emptyList(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, []any{})
}

// pods answers the rest of /v2/pods: GET of the status listing is [],
// anything about a particular pod is 404 for reads and 501 for writes.
func (a *API) pods(w http.ResponseWriter, r *http.Request) {
	rest := strings.Trim(r.PathValue("rest"), "/")
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case read && (rest == "::status" || rest == ""):
		a.emptyList(w, r)
	case read:
		writeError(w, http.StatusNotFound, "pods are not supported")
	default:
		writeError(w, http.StatusNotImplemented, "pods are not supported")
	}
}

// plugins is GET /v2/plugins: no plugins.
func (a *API) plugins(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Plugins []any `json:"plugins"`
	}{Plugins: []any{}})
}
