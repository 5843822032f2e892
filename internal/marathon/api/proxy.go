package api

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
)

// Response (and, for loop detection, request) headers of leader proxying.
const (
	headerLeader = "X-Marathon-Leader"
	headerVia    = "X-Marathon-Via"
)

// serve routes r: leader-only paths go to the local mux on the leader and
// to the leader otherwise; the rest is always served here.
func (a *API) serve(w http.ResponseWriter, r *http.Request) {
	if !leaderOnly(r) {
		a.mux.ServeHTTP(w, r)
		return
	}
	if a.b.IsLeader() {
		if l := a.b.Leader(); l != "" {
			w.Header().Set(headerLeader, "http://"+l)
		}
		a.mux.ServeHTTP(w, r)
		return
	}
	leader := a.b.Leader()
	if leader == "" || (a.opts.Self != "" && leader == a.opts.Self) {
		// A stale election record naming this node counts as no leader:
		// proxying to ourselves would loop.
		writeError(w, http.StatusServiceUnavailable, "Could not determine the current leader")
		return
	}
	if a.opts.Self != "" {
		for _, v := range r.Header.Values(headerVia) {
			if strings.Contains(v, a.opts.Self) {
				writeError(w, http.StatusBadGateway, "Detected proxying loop.")
				return
			}
		}
	}
	a.proxy(w, r, leader)
}

// leaderOnly reports whether r must be served by the leader: every /v2
// path and /metrics, except GET /v2/leader, which every node can answer
// (it is how clients find the leader, and says 404 when there is none).
func leaderOnly(r *http.Request) bool {
	p := r.URL.Path
	if p == "/v2/leader" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		return false
	}
	return p == "/v2" || strings.HasPrefix(p, "/v2/") || p == "/metrics" || strings.HasPrefix(p, "/metrics/")
}

// proxy forwards r to the leader at host:port leader. Responses stream
// (FlushInterval -1), so /v2/events works through a standby.
func (a *API) proxy(w http.ResponseWriter, r *http.Request, leader string) {
	target := &url.URL{Scheme: "http", Host: leader}
	public := target.String()
	if a.opts.LeaderScheme == "https" {
		target.Scheme = "https"
	}
	via := ""
	if a.opts.Self != "" {
		via = "1.1 " + a.opts.Self
	}
	transport := http.DefaultTransport
	if a.opts.HTTPClient != nil && a.opts.HTTPClient.Transport != nil {
		transport = a.opts.HTTPClient.Transport
	}
	p := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
			if via != "" {
				pr.Out.Header.Add(headerVia, via)
			}
		},
		Transport:     transport,
		FlushInterval: -1,
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Set(headerLeader, public)
			if via != "" {
				resp.Header.Set(headerVia, via)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				return // the client went away
			}
			a.log.Warn("proxy to the Marathon leader failed", "leader", leader, "method", r.Method, "path", r.URL.Path, "error", err)
			writeError(w, http.StatusBadGateway, "Could not reach the current leader at "+leader)
		},
	}
	p.ServeHTTP(w, r)
}
