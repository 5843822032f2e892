package adminrouter

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
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
		if !s.stream {
			var ok bool
			if req, ok = r.bufferBody(w, req); !ok {
				return
			}
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
		rewriteLocation: rt.Kind == KindAgent, // the agent's own API; its Admin Router does not redirect
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
		body = dcosVersion(r.cfg.Version, r.cfg.Commit)
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
	writeJSON(w, req, body)
}

// dcosVersion is the body of /dcos-metadata/dcos-version.json.
func dcosVersion(version, commit string) map[string]any {
	return map[string]any{
		"version":           DCOSVersion,
		"dcos-image-commit": commit,
		"bootstrap-id":      commit,
		"basalt":            map[string]string{"version": version, "commit": commit},
	}
}

// writeJSON answers 200 with body as JSON (headers only for HEAD).
func writeJSON(w http.ResponseWriter, req *http.Request, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if req.Method == http.MethodHead {
		return
	}
	_ = json.NewEncoder(w).Encode(body)
}

// bufferBody reads up to RequestBufferBytes of the request body before the
// request is proxied. A body that ends within the limit goes upstream whole,
// with its Content-Length (the upstream never waits on a slow client, and a
// refused connection can be retried); the rest of a longer body streams
// after the buffered part. It answers 413 or 400 itself when reading fails.
func (r *Router) bufferBody(w http.ResponseWriter, req *http.Request) (*http.Request, bool) {
	if req.Body == nil || req.Body == http.NoBody || r.cfg.RequestBufferBytes == 0 {
		return req, true
	}
	buf, err := io.ReadAll(io.LimitReader(req.Body, r.cfg.RequestBufferBytes+1))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeText(w, http.StatusRequestEntityTooLarge, "413 Request Entity Too Large.")
		} else {
			writeText(w, http.StatusBadRequest, "400 Bad Request: the request body could not be read.")
		}
		return nil, false
	}
	out := req.Clone(req.Context())
	if int64(len(buf)) <= r.cfg.RequestBufferBytes {
		req.Body.Close()
		out.Body = io.NopCloser(bytes.NewReader(buf))
		out.ContentLength = int64(len(buf))
		out.TransferEncoding = nil
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
		return out, true
	}
	out.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), req.Body), req.Body}
	return out, true
}
