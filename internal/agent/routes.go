package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/basalt-dcos/basalt/internal/version"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// routes is the agent's whole HTTP surface. Mesos serves the agent process
// as slave(1) and delegates unprefixed paths to it, so both spellings work.
func (a *Agent) routes() http.Handler {
	mux := http.NewServeMux()
	for _, p := range []string{"/state", "/state.json", "/slave(1)/state", "/slave(1)/state.json"} {
		mux.HandleFunc("GET "+p, a.handleState)
	}
	for _, p := range []string{"/health", "/slave(1)/health"} {
		mux.HandleFunc("GET "+p, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	}
	for _, p := range []string{"/flags", "/slave(1)/flags"} {
		mux.HandleFunc("GET "+p, a.handleFlags)
	}
	mux.HandleFunc("GET /version", a.handleVersion)
	for _, p := range []string{"/metrics/snapshot", "/metrics/snapshot.json"} {
		mux.HandleFunc("GET "+p, a.handleMetrics)
	}
	for _, p := range []string{"/monitor/statistics", "/monitor/statistics.json"} {
		mux.HandleFunc("GET "+p, a.handleStatistics)
	}
	for _, p := range []string{"/api/v1", "/slave(1)/api/v1"} {
		mux.HandleFunc("POST "+p, a.handleAPI)
	}
	mux.Handle("/files/", a.files)
	return mux
}

func writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	if cb := r.URL.Query().Get("jsonp"); cb != "" {
		w.Header().Set("Content-Type", "text/javascript")
		_, _ = w.Write([]byte(cb + "("))
		_ = enc.Encode(v)
		_, _ = w.Write([]byte(");"))
		return
	}
	_ = enc.Encode(v)
}

func (a *Agent) handleState(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, a.state())
}

func (a *Agent) handleFlags(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	f := a.flags()
	a.mu.Unlock()
	writeJSON(w, r, map[string]any{"flags": f})
}

func (a *Agent) handleVersion(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, map[string]string{"version": version.Version})
}

// handleMetrics serves the slave/* gauges and counters Mesos agents expose.
func (a *Agent) handleMetrics(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := map[string]float64{}
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	m["slave/registered"] = b2f(a.conn.connected)
	m["slave/uptime_secs"] = a.uptime().Seconds()
	m["slave/frameworks_active"] = float64(len(a.frameworks))
	states := map[string]float64{}
	var used mesosv1.Resources
	executors := 0
	for _, fw := range a.frameworks {
		for _, t := range fw.tasks {
			states[t.latestState()]++
			if !t.terminal() {
				used = append(used, t.rec.Task.Resources...)
				executors++
			}
		}
	}
	for s, n := range a.counters.terminal {
		states[s] += float64(n)
	}
	for name, s := range map[string]string{
		"staging": mesosv1.TaskStaging, "starting": mesosv1.TaskStarting, "running": mesosv1.TaskRunning,
		"killing": mesosv1.TaskKilling, "finished": mesosv1.TaskFinished, "failed": mesosv1.TaskFailed,
		"killed": mesosv1.TaskKilled, "lost": mesosv1.TaskLost, "gone": mesosv1.TaskGone,
	} {
		m["slave/tasks_"+name] = states[s]
	}
	m["slave/executors_running"] = float64(executors)
	m["slave/valid_status_updates"] = float64(a.counters.validUpdates)
	m["slave/invalid_status_updates"] = float64(a.counters.invalidUpdates)
	m["slave/container_launch_errors"] = float64(a.counters.launchErrors)
	m["slave/recovery_errors"] = float64(a.counters.recoveryErrors)
	for _, name := range []string{mesosv1.ResCPUs, mesosv1.ResMem, mesosv1.ResDisk, mesosv1.ResGPUs} {
		total := a.resources.ScalarSum(name)
		u := mesosv1.Resources(used).ScalarSum(name)
		m["slave/"+name+"_total"] = total
		m["slave/"+name+"_used"] = u
		pct := 0.0
		if total > 0 {
			pct = u / total
		}
		m["slave/"+name+"_percent"] = pct
	}
	writeJSON(w, r, m)
}

// statisticsEntry is one element of /monitor/statistics.
type statisticsEntry struct {
	ExecutorID   string     `json:"executor_id"`
	ExecutorName string     `json:"executor_name"`
	FrameworkID  string     `json:"framework_id"`
	Source       string     `json:"source"`
	Statistics   statistics `json:"statistics"`
}

// statistics is Mesos' ResourceStatistics subset.
type statistics struct {
	Timestamp          float64 `json:"timestamp"`
	CPUsUserTimeSecs   float64 `json:"cpus_user_time_secs"`
	CPUsSystemTimeSecs float64 `json:"cpus_system_time_secs"`
	CPUsLimit          float64 `json:"cpus_limit"`
	MemRSSBytes        uint64  `json:"mem_rss_bytes"`
	MemLimitBytes      uint64  `json:"mem_limit_bytes"`
	DiskUsedBytes      uint64  `json:"disk_used_bytes,omitempty"`
	DiskLimitBytes     uint64  `json:"disk_limit_bytes,omitempty"`
	// From cgroups (the mesos runtime).
	CPUsNrPeriods         uint64  `json:"cpus_nr_periods,omitempty"`
	CPUsNrThrottled       uint64  `json:"cpus_nr_throttled,omitempty"`
	CPUsThrottledTimeSecs float64 `json:"cpus_throttled_time_secs,omitempty"`
	MemTotalBytes         uint64  `json:"mem_total_bytes,omitempty"`
}

// handleStatistics reports the usage of every running container.
func (a *Agent) handleStatistics(w http.ResponseWriter, r *http.Request) {
	type item struct {
		rec taskRecord
		t   *task
	}
	var items []item
	a.mu.Lock()
	for _, fw := range a.frameworks {
		for _, t := range fw.tasks {
			if t.phase != phaseRunning || t.cz == nil {
				continue
			}
			items = append(items, item{t: t, rec: t.rec})
		}
	}
	a.mu.Unlock()
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	out := []statisticsEntry{}
	for _, it := range items {
		u, err := it.t.cz.Usage(ctx, it.rec.ContainerID)
		if err != nil {
			continue
		}
		out = append(out, statisticsEntry{
			ExecutorID:   it.rec.ExecutorID,
			ExecutorName: "Command Executor (Task: " + it.rec.Task.TaskID.Value + ")",
			FrameworkID:  it.rec.FrameworkID,
			Source:       it.rec.Task.TaskID.Value,
			Statistics: statistics{
				Timestamp:             float64(u.Timestamp.UnixNano()) / 1e9,
				CPUsUserTimeSecs:      u.CPUsUserSeconds,
				CPUsSystemTimeSecs:    u.CPUsSystemSeconds,
				CPUsLimit:             u.CPUsLimit,
				MemRSSBytes:           u.MemRSSBytes,
				MemLimitBytes:         u.MemLimitBytes,
				DiskUsedBytes:         u.DiskUsedBytes,
				DiskLimitBytes:        u.DiskLimitBytes,
				CPUsNrPeriods:         u.CPUsNrPeriods,
				CPUsNrThrottled:       u.CPUsNrThrottled,
				CPUsThrottledTimeSecs: u.CPUsThrottledSeconds,
				MemTotalBytes:         u.MemTotalBytes,
			},
		})
	}
	writeJSON(w, r, out)
}
