package marathon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/basalt-dcos/basalt/internal/store"
	"github.com/basalt-dcos/basalt/internal/version"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
)

// AppVersions lists the kept versions of app id, newest first.
func (m *Marathon) AppVersions(ctx context.Context, id string) ([]string, error) {
	var out []string
	err := m.do(ctx, func(l *loop) error {
		if _, ok := l.root.Apps[id]; !ok {
			return &AppNotFoundError{ID: id}
		}
		out = slices.Clone(l.versions[id])
		return nil
	})
	slices.Reverse(out)
	if out == nil && err == nil {
		out = []string{}
	}
	return out, err
}

// AppVersion returns app id as it was at version.
func (m *Marathon) AppVersion(ctx context.Context, id, ver string) (v2.App, error) {
	if _, err := m.AppVersions(ctx, id); err != nil {
		return v2.App{}, err
	}
	b, err := m.deps.Store.Get(ctx, versionKey(id, ver))
	if errors.Is(err, store.ErrNotFound) {
		return v2.App{}, &AppNotFoundError{ID: id, Version: ver}
	}
	if err != nil {
		return v2.App{}, fmt.Errorf("read app %s version %s: %w", id, ver, err)
	}
	var a v2.App
	if err := json.Unmarshal(b, &a); err != nil {
		return v2.App{}, fmt.Errorf("decode app %s version %s: %w", id, ver, err)
	}
	return a, nil
}

// GroupVersions lists the versions of group id: every version of an app
// under it and of the group itself, newest first.
func (m *Marathon) GroupVersions(ctx context.Context, id string) ([]string, error) {
	var out []string
	err := m.do(ctx, func(l *loop) error {
		seen := map[string]bool{}
		found := id == "/"
		prefix := strings.TrimSuffix(id, "/") + "/"
		if g, ok := l.root.Groups[id]; ok {
			found = true
			if g.Version != "" {
				seen[g.Version] = true
			}
		}
		for appID, vs := range l.versions {
			if id == "/" || strings.HasPrefix(appID, prefix) {
				found = true
				for _, v := range vs {
					seen[v] = true
				}
			}
		}
		if !found {
			return &GroupNotFoundError{ID: id}
		}
		for v := range seen {
			out = append(out, v)
		}
		return nil
	})
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	if out == nil && err == nil {
		out = []string{}
	}
	return out, err
}

// Info is GET /v2/info.
func (m *Marathon) Info() v2.Info {
	info := v2.Info{
		Name: "marathon", Version: Version, Buildref: version.Version, Elected: m.IsLeader(),
		MarathonConfig: map[string]any{
			"master":                          strings.Join(m.cfg.Masters, ","),
			"mesos_role":                      m.cfg.Role,
			"mesos_user":                      m.cfg.MesosUser,
			"framework_name":                  m.cfg.FrameworkName,
			"failover_timeout":                int64(m.cfg.FailoverTimeout.Seconds()),
			"hostname":                        m.cfg.Hostname,
			"local_port_min":                  m.cfg.LocalPortMin,
			"local_port_max":                  m.cfg.LocalPortMax,
			"max_instances_per_offer":         m.cfg.MaxInstancesPerOffer,
			"decline_offer_duration":          m.cfg.DeclineOfferDuration.Milliseconds(),
			"task_launch_timeout":             m.cfg.TaskLaunchTimeout.Milliseconds(),
			"reconciliation_interval":         m.cfg.ReconcileInterval.Milliseconds(),
			"default_accepted_resource_roles": m.cfg.DefaultAcceptedResourceRoles,
			"env_vars_prefix":                 m.cfg.EnvVarsPrefix,
			"checkpoint":                      true,
			"features":                        []string{},
		},
		ZookeeperConfig: map[string]any{"zk": "basalt-store://marathon", "zk_timeout": 10000, "zk_session_timeout": 10000, "zk_max_versions": m.cfg.MaxVersions},
		HTTPConfig:      map[string]any{"http_port": m.httpPort(), "https_port": 8443},
	}
	if l := m.Leader(); l != "" {
		info.Leader = &l
	}
	if id := m.Snapshot().FrameworkID; id != "" {
		info.FrameworkID = &id
	}
	return info
}

func (m *Marathon) httpPort() int {
	if i := strings.LastIndexByte(m.cfg.Advertise, ':'); i >= 0 {
		var p int
		fmt.Sscanf(m.cfg.Advertise[i+1:], "%d", &p)
		return p
	}
	return 8080
}

// Metrics returns Dropwizard-style JSON for /metrics.
func (m *Marathon) Metrics() map[string]any {
	s := m.Snapshot()
	var running, staged, healthy int
	for _, a := range s.Apps {
		running += a.Running
		staged += a.Staged
		healthy += a.Healthy
	}
	queued := 0
	for _, q := range s.Queue {
		queued += q.Count
	}
	gauge := func(v any) map[string]any { return map[string]any{"value": v} }
	leader := 0
	if m.IsLeader() {
		leader = 1
	}
	return map[string]any{
		"version": "4.0.0",
		"gauges": map[string]any{
			"marathon.apps.active.gauge":               gauge(len(s.AppIDs)),
			"marathon.deployments.active.gauge":        gauge(len(s.Deployments)),
			"marathon.tasks.running.gauge":             gauge(running),
			"marathon.tasks.staged.gauge":              gauge(staged),
			"marathon.tasks.healthy.gauge":             gauge(healthy),
			"marathon.instances.launch-queue.gauge":    gauge(queued),
			"marathon.leadership.current.gauge":        gauge(leader),
			"marathon.http.event-streams.active.gauge": gauge(m.bus.count()),
			"marathon.groups.active.gauge":             gauge(len(s.Root.Groups)),
		},
		"counters": map[string]any{}, "histograms": map[string]any{}, "meters": map[string]any{}, "timers": map[string]any{},
	}
}
