package state

import (
	"math"
	"time"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// terminalTaskMetrics are the task counters Mesos counts over the master's
// lifetime. The master may count them in Snapshot.Counters; otherwise they
// are derived from the completed tasks the snapshot still holds.
var terminalTaskMetrics = map[string]string{ // read-only
	mesosv1.TaskFinished: "master/tasks_finished",
	mesosv1.TaskFailed:   "master/tasks_failed",
	mesosv1.TaskKilled:   "master/tasks_killed",
	mesosv1.TaskLost:     "master/tasks_lost",
	mesosv1.TaskError:    "master/tasks_error",
	mesosv1.TaskDropped:  "master/tasks_dropped",
	mesosv1.TaskGone:     "master/tasks_gone",
}

// gaugeTaskMetrics are the live task gauges, always derived from the snapshot.
var gaugeTaskMetrics = map[string]string{ // read-only
	mesosv1.TaskStaging:     "master/tasks_staging",
	mesosv1.TaskStarting:    "master/tasks_starting",
	mesosv1.TaskRunning:     "master/tasks_running",
	mesosv1.TaskKilling:     "master/tasks_killing",
	mesosv1.TaskUnreachable: "master/tasks_unreachable",
}

// snapshotMetrics derives /metrics/snapshot from s, without the uptime
// (which depends on the time of the request). Snapshot.Counters are
// included; derived gauges override a counter of the same name, while
// derived terminal task counts yield to one.
func snapshotMetrics(s *Snapshot) map[string]float64 {
	m := make(map[string]float64, len(s.Counters)+64)
	for k, v := range s.Counters {
		m[k] = v
	}
	set := func(k string, v float64) { m[k] = v }
	elected := 0.0
	if s.IsLeader {
		elected = 1
	}
	set("master/elected", elected)

	var active, inactive, unreachable, connected float64
	var total, used mesosv1.Resources
	for _, a := range s.Agents {
		if a.Unreachable {
			unreachable++
			continue
		}
		if a.Active {
			active++
			connected++
		} else {
			inactive++
		}
		total = append(total, a.Total...)
		used = append(used, a.Used...)
	}
	set("master/slaves_active", active)
	set("master/slaves_inactive", inactive)
	set("master/slaves_connected", connected)
	set("master/slaves_disconnected", active+inactive-connected)
	set("master/slaves_unreachable", unreachable)

	var fActive, fConnected, offers float64
	for _, f := range s.Frameworks {
		if f.Active {
			fActive++
		}
		if f.Connected {
			fConnected++
		}
		offers += float64(len(f.Offers))
	}
	n := float64(len(s.Frameworks))
	set("master/frameworks_active", fActive)
	set("master/frameworks_inactive", n-fActive)
	set("master/frameworks_connected", fConnected)
	set("master/frameworks_disconnected", n-fConnected)
	set("master/outstanding_offers", offers)

	gauges := map[string]float64{}
	terminal := map[string]float64{}
	for _, fs := range [][]*Framework{s.Frameworks, s.CompletedFrameworks} {
		for _, f := range fs {
			for _, list := range [][]*Task{f.Tasks, f.UnreachableTasks, f.CompletedTasks} {
				for _, t := range list {
					if name, ok := gaugeTaskMetrics[t.State]; ok {
						gauges[name]++
					} else if name, ok := terminalTaskMetrics[t.State]; ok {
						terminal[name]++
					}
				}
			}
		}
	}
	for _, name := range gaugeTaskMetrics {
		set(name, gauges[name])
	}
	for _, name := range terminalTaskMetrics {
		if _, counted := s.Counters[name]; !counted {
			set(name, terminal[name])
		}
	}

	for _, name := range []string{mesosv1.ResCPUs, mesosv1.ResMem, mesosv1.ResDisk, mesosv1.ResGPUs} {
		t, u := total.ScalarSum(name), used.ScalarSum(name)
		set("master/"+name+"_total", t)
		set("master/"+name+"_used", u)
		pct := 0.0
		if t > 0 {
			pct = u / t
		}
		set("master/"+name+"_percent", pct)
	}
	return m
}

// withUptime returns a copy of m with master/uptime_secs as of now.
func withUptime(m map[string]float64, s *Snapshot, now time.Time) map[string]float64 {
	out := make(map[string]float64, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	up := 0.0
	if !s.StartTime.IsZero() {
		up = math.Max(0, now.Sub(s.StartTime).Seconds())
	}
	out["master/uptime_secs"] = up
	return out
}
