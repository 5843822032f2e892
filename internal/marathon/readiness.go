package marathon

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
)

// Readiness checks run on the leader, as in Marathon: an HTTP GET against a
// named port of a new RUNNING task, every intervalSeconds, until it answers
// with one of httpStatusCodesForReady. Deployments wait for it.

// startReadiness starts checking in's task if the app has a readiness check.
func (l *loop) startReadiness(in *instance, app v2.App, hasApp bool) {
	if !hasApp || len(app.ReadinessChecks) == 0 || in.ready || l.readiness[in.TaskID] != nil {
		return
	}
	rc := app.ReadinessChecks[0]
	port := 0
	for i, name := range portNames(app) {
		if name == rc.PortName && i < len(in.HostPorts) {
			port = in.HostPorts[i]
		}
	}
	if port == 0 || in.Hostname == "" {
		l.log.Warn("readiness check has no port; treating the task as ready", "app_id", app.ID, "port_name", rc.PortName)
		in.ready = true
		return
	}
	scheme := "http"
	if rc.Protocol == "HTTPS" {
		scheme = "https"
	}
	url := scheme + "://" + net.JoinHostPort(in.Hostname, strconv.Itoa(port)) + rc.Path
	interval := time.Duration(max(rc.IntervalSeconds, 1)) * time.Second
	timeout := time.Duration(max(rc.TimeoutSeconds, 1)) * time.Second
	codes := rc.HTTPStatusCodesForReady
	if len(codes) == 0 {
		codes = []int{http.StatusOK}
	}
	ctx, cancel := context.WithCancel(l.ctx)
	taskID := in.TaskID
	l.readiness[taskID] = cancel
	client := l.m.deps.HTTPClient
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if probe(ctx, client, url, timeout, codes) {
				l.post(func() {
					if cur := l.byTask[taskID]; cur != nil {
						cur.ready = true
						l.touch(cur.AppID)
						l.changed = true
					}
					delete(l.readiness, taskID)
				})
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

func (l *loop) stopReadiness(taskID string) {
	if cancel := l.readiness[taskID]; cancel != nil {
		cancel()
		delete(l.readiness, taskID)
	}
}

func probe(ctx context.Context, client *http.Client, url string, timeout time.Duration, codes []int) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return slices.Contains(codes, resp.StatusCode)
}

// portNames lists an app's port names in port order (port definitions,
// or port mappings with container networking).
func portNames(app v2.App) []string {
	var out []string
	if app.Container != nil && len(app.Container.PortMappings) > 0 {
		for _, pm := range app.Container.PortMappings {
			out = append(out, pm.Name)
		}
		return out
	}
	for _, pd := range app.PortDefinitions {
		out = append(out, pd.Name)
	}
	return out
}
