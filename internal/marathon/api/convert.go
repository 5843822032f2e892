package api

import (
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/basalt-dcos/basalt/internal/marathon"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
)

// This file converts the core's Snapshot to wire types.

// appEmbeds says which optional parts of an AppInfo to render
// (embed=apps.* / app.* / group.apps.*). Counts and deployments are always
// rendered, so apps.counts and apps.deployments need no flag.
type appEmbeds struct {
	tasks, readiness, lastTaskFailure, taskStats bool
}

// embedValues lists every embed value of r: the parameter may repeat and
// each value may be a comma-separated list.
func embedValues(r *http.Request) []string {
	var out []string
	for _, v := range r.URL.Query()["embed"] {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// parseAppEmbeds reads the embeds with prefix ("apps.", "app.", "group.apps.").
func parseAppEmbeds(values []string, prefix string) appEmbeds {
	var e appEmbeds
	for _, v := range values {
		name, ok := strings.CutPrefix(v, prefix)
		if !ok {
			continue
		}
		switch name {
		case "tasks":
			e.tasks = true
		case "readiness":
			e.readiness = true
		case "lastTaskFailure":
			e.lastTaskFailure = true
		case "failures": // deprecated: tasks and the last failure
			e.tasks = true
			e.lastTaskFailure = true
		case "taskStats":
			e.taskStats = true
		}
	}
	return e
}

// appInfoOut marshals an AppInfo. v2.AppInfo omits empty "tasks",
// "readinessCheckResults" and "taskStats"; when they were asked for,
// clients expect them even when empty (marathon-lb indexes app["tasks"]),
// so these fields shadow the embedded ones and are emitted whenever non-nil.
type appInfoOut struct {
	v2.AppInfo
	Tasks                 *[]v2.Task                `json:"tasks,omitempty"`
	ReadinessCheckResults *[]v2.ReadinessResult     `json:"readinessCheckResults,omitempty"`
	TaskStats             *map[string]*v2.TaskStats `json:"taskStats,omitempty"`
}

// appInfo renders app with its runtime status st (nil: no tasks yet).
func appInfo(app v2.App, st *marathon.AppStatus, e appEmbeds) appInfoOut {
	out := appInfoOut{AppInfo: v2.AppInfo{App: app, Deployments: []v2.DeploymentRef{}}}
	if st == nil {
		st = &marathon.AppStatus{}
	}
	out.TasksStaged = st.Staged
	out.TasksRunning = st.Running
	out.TasksHealthy = st.Healthy
	out.TasksUnhealthy = st.Unhealthy
	if len(st.Deployments) > 0 {
		out.Deployments = append(out.Deployments, st.Deployments...)
	}
	if e.tasks {
		tasks := append([]v2.Task{}, st.Tasks...)
		out.Tasks = &tasks
	}
	if e.readiness {
		rs := append([]v2.ReadinessResult{}, st.Readiness...)
		out.ReadinessCheckResults = &rs
	}
	if e.lastTaskFailure {
		out.LastTaskFailure = st.LastTaskFailure
	}
	if e.taskStats {
		stats := st.TaskStats
		if stats == nil {
			stats = map[string]*v2.TaskStats{}
		}
		out.TaskStats = &stats
	}
	return out
}

// groupEmbeds says which members of groups to render (embed=group.*).
type groupEmbeds struct {
	groups, apps, pods bool
	app                appEmbeds
}

// parseGroupEmbeds reads group embeds; with none, groups and apps (and the
// empty pods) are rendered, as Marathon does.
func parseGroupEmbeds(values []string) groupEmbeds {
	var e groupEmbeds
	explicit := false
	for _, v := range values {
		switch {
		case v == "group.groups":
			e.groups, explicit = true, true
		case v == "group.apps":
			e.apps, explicit = true, true
		case v == "group.pods":
			e.pods, explicit = true, true
		case strings.HasPrefix(v, "group.apps."):
			e.apps, explicit = true, true
		}
	}
	if !explicit {
		e.groups, e.apps, e.pods = true, true, true
	}
	e.app = parseAppEmbeds(values, "group.apps.")
	return e
}

// groupOut is a group as GET /v2/groups renders it; it mirrors
// v2.GroupInfo with appInfoOut apps.
type groupOut struct {
	ID           string       `json:"id"`
	Apps         []appInfoOut `json:"apps"`
	Pods         []any        `json:"pods"`
	Groups       []groupOut   `json:"groups"`
	Dependencies []string     `json:"dependencies"`
	Version      string       `json:"version,omitempty"`
	EnforceRole  *bool        `json:"enforceRole,omitempty"`
}

// groupInfo renders the tree g with the runtime status of its apps. Members
// not embedded are rendered as empty lists.
func groupInfo(g v2.Group, snap *marathon.Snapshot, e groupEmbeds) groupOut {
	out := groupOut{
		ID:           g.ID,
		Apps:         []appInfoOut{},
		Pods:         []any{},
		Groups:       []groupOut{},
		Dependencies: g.Dependencies,
		Version:      g.Version,
		EnforceRole:  g.EnforceRole,
	}
	if out.Dependencies == nil {
		out.Dependencies = []string{}
	}
	if e.apps {
		for _, app := range g.Apps {
			out.Apps = append(out.Apps, appInfo(app, snap.Apps[app.ID], e.app))
		}
	}
	if e.groups {
		for _, sub := range g.Groups {
			out.Groups = append(out.Groups, groupInfo(sub, snap, e))
		}
	}
	return out
}

// isoTime renders t as Marathon renders timestamps.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// queueItem renders one launch-queue entry; ok is false when its app is
// no longer in the snapshot.
func queueItem(q marathon.QueueEntry, snap *marathon.Snapshot) (v2.QueueItem, bool) {
	app, ok := snap.Root.Apps[q.AppID]
	if !ok {
		return v2.QueueItem{}, false
	}
	info := appInfo(app, snap.Apps[q.AppID], appEmbeds{}).AppInfo
	offers := q.Offers
	if offers.RejectSummaryLastOffers == nil {
		offers.RejectSummaryLastOffers = []v2.RejectReason{}
	}
	if offers.RejectSummaryLaunchAttempt == nil {
		offers.RejectSummaryLaunchAttempt = []v2.RejectReason{}
	}
	item := v2.QueueItem{
		App:   &info,
		Count: q.Count,
		Delay: v2.QueueDelay{
			TimeLeftSeconds: int(math.Ceil(q.Delay.Seconds())),
			Overdue:         q.Overdue,
		},
		ProcessedOffersSummary: offers,
	}
	if !q.Since.IsZero() {
		item.Since = isoTime(q.Since)
	}
	return item, true
}
