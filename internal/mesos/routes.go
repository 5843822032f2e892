package mesos

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/basalt-dcos/basalt/internal/agentapi"
)

// Register mounts the master's write-side surface on mux:
//
//	POST /api/v1/scheduler    v1 scheduler API (JSON; RecordIO stream on SUBSCRIBE)
//	POST /internal/agent/v1   agent protocol (agentapi.Path)
//	GET  /master/redirect     307 to the leading master's base URL (503 if none)
//	GET  /redirect            same
//
// Other methods on the API paths answer 405. On a standby, API calls are
// redirected (307) to the leader. The read side (internal/mesos/state) is
// mounted by the caller, wrapped in LeaderOnly.
func (m *Master) Register(mux *http.ServeMux) {
	mux.HandleFunc("/api/v1/scheduler", m.handleScheduler)
	mux.HandleFunc(agentapi.Path, m.handleAgent)
	mux.HandleFunc("GET /master/redirect", m.handleRedirect)
	mux.HandleFunc("GET /redirect", m.handleRedirect)
}

// handleRedirect answers 307 with the leader's base URL.
func (m *Master) handleRedirect(w http.ResponseWriter, r *http.Request) {
	li, ok := m.Leader()
	if !ok {
		http.Error(w, "No leader elected", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Location", leaderURLFor(r, li.URL))
	w.WriteHeader(http.StatusTemporaryRedirect)
}

// leaderURLFor is the leader's base URL u as r's client should follow it: a
// request that came over TLS is sent to the leader over https (the masters'
// API ports all speak TLS with --api-tls), never back to plain HTTP, as
// Mesos' scheme-relative redirects keep the client's scheme.
func leaderURLFor(r *http.Request, u string) string {
	if rest, ok := strings.CutPrefix(u, "http://"); ok && r.TLS != nil {
		return "https://" + rest
	}
	return u
}

// redirectToLeader answers a call that reached a standby.
func (m *Master) redirectToLeader(w http.ResponseWriter, r *http.Request) {
	li, ok := m.Leader()
	if !ok || li.URL == m.cfg.URL {
		http.Error(w, "No leader elected", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Location", leaderURLFor(r, li.URL)+r.URL.RequestURI())
	w.WriteHeader(http.StatusTemporaryRedirect)
}

// LeaderOnly wraps the read side: on the leader (or when no other leader is
// known) h serves from the local snapshot; on a standby the request is
// proxied to the leader, because a standby's own snapshot has no agents.
func (m *Master) LeaderOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.IsLeader() {
			h.ServeHTTP(w, r)
			return
		}
		li, ok := m.Leader()
		if !ok || li.URL == m.cfg.URL {
			h.ServeHTTP(w, r)
			return
		}
		target, err := url.Parse(li.URL)
		if err != nil {
			http.Error(w, "bad leader URL", http.StatusBadGateway)
			return
		}
		p := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				pr.SetXForwarded()
			},
			Transport: m.transport,
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				m.log.Debug("proxy to leader failed", "error", err, "leader", li.URL)
				http.Error(w, "Leading master is unreachable", http.StatusServiceUnavailable)
			},
		}
		p.ServeHTTP(w, r)
	})
}
