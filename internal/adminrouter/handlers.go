package adminrouter

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/basalt-dcos/basalt/internal/iam"
)

// service proxies /service/<id>/... to the first candidate id that resolves.
func (r *Router) service(w http.ResponseWriter, req *http.Request, rt Route) {
	var lastErr error
	for _, c := range ServiceCandidates(rt.Path) {
		s, err := r.res.service(req.Context(), c.ID)
		if errors.Is(err, errServiceNotFound) {
			continue
		}
		if err != nil {
			lastErr = err
			continue
		}
		if !r.serviceAllowed(w, req, c.ID) {
			return
		}
		prefix := "/service/" + escapeID(c.ID)
		path := c.Path
		if !s.rewrite {
			path = prefix + c.Path
		}
		base := s.base
		r.proxy.serve(w, req, target{
			name:            "service " + c.ID,
			resolve:         func() (string, bool) { return base, true },
			path:            path,
			prefix:          prefix,
			rewriteLocation: s.rewrite,
		})
		return
	}
	if lastErr != nil {
		r.log.Warn("service resolution failed", "path", req.URL.Path, "error", lastErr)
		writeText(w, http.StatusServiceUnavailable, "503 Service Unavailable: cannot resolve services right now (the Marathon or Mesos leader did not answer).")
		return
	}
	writeText(w, http.StatusNotFound, "404 Not Found: service not found.")
}

// escapeID escapes each segment of a service id.
func escapeID(id string) string {
	segs := strings.Split(id, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// agent proxies /agent/<id>/... to the agent's HTTP API.
func (r *Router) agent(w http.ResponseWriter, req *http.Request, rt Route) {
	base, err := r.res.agent(req.Context(), rt.ID)
	if errors.Is(err, errAgentNotFound) {
		writeText(w, http.StatusNotFound, "404 Not Found: agent "+rt.ID+" is not known to the leading master.")
		return
	}
	if err != nil {
		r.log.Warn("agent resolution failed", "agent_id", rt.ID, "error", err)
		writeText(w, http.StatusServiceUnavailable, "503 Service Unavailable: cannot resolve agents right now (the Mesos leader did not answer).")
		return
	}
	r.proxy.serve(w, req, target{
		name:            "agent " + rt.ID,
		resolve:         func() (string, bool) { return base, true },
		path:            rt.Path,
		prefix:          rt.Prefix,
		rewriteLocation: true,
	})
}

// builtIn answers the metadata routes.
func (r *Router) builtIn(w http.ResponseWriter, req *http.Request, rt Route) {
	var body any
	switch rt.Kind {
	case KindMetadata:
		id, err := r.deps.Cluster.ClusterID(req.Context())
		if err != nil {
			r.log.Warn("cluster id", "error", err)
			writeText(w, http.StatusServiceUnavailable, "503 Service Unavailable: the cluster ID cannot be read from the store right now.")
			return
		}
		body = map[string]string{"PUBLIC_IPV4": r.cfg.PublicIPv4, "CLUSTER_ID": id}
	case KindDCOSVersion:
		body = map[string]any{
			"version":           DCOSVersion,
			"dcos-image-commit": r.cfg.Commit,
			"bootstrap-id":      r.cfg.Commit,
			"basalt":            map[string]string{"version": r.cfg.Version, "commit": r.cfg.Commit},
		}
	case KindUIConfig:
		off := map[string]bool{"enabled": false}
		body = map[string]any{
			"uiConfiguration": map[string]any{"plugins": map[string]any{
				"banner":         off,
				"branding":       off,
				"external-links": off,
				"authentication": map[string]bool{"enabled": r.cfg.Security != iam.ModeDisabled},
				"oauth":          map[string]any{"enabled": false, "authHost": ""},
				"tracking":       off,
				"mesos":          map[string]string{"logging-strategy": "logrotate"},
			}},
			"clusterConfiguration": map[string]bool{"firstUser": false},
		}
	case KindBuildInfo:
		// The installed "packages": Basalt is one binary.
		body = map[string]any{"basalt": map[string]string{"version": r.cfg.Version, "commit": r.cfg.Commit}}
	case KindExhibitorStatus:
		servers, err := r.deps.Cluster.StoreMembers(req.Context())
		if err != nil {
			r.log.Warn("store status", "error", err)
			writeText(w, http.StatusServiceUnavailable, "503 Service Unavailable: the store does not answer.")
			return
		}
		if servers == nil {
			servers = []ExhibitorServer{}
		}
		body = servers
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if req.Method == http.MethodHead {
		return
	}
	_ = json.NewEncoder(w).Encode(body)
}
