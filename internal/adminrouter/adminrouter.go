// Package adminrouter is Basalt's Admin Router: the one HTTP port of a
// master through which users and dcos-style clients reach every component
// (the Mesos master, Marathon, Mesos-DNS, services' web UIs, agents, cluster
// metadata), always at the current leader of each, as DC/OS's nginx-based
// Admin Router does (reference §5).
//
// The route table (routes.go) is a pure function of the request path; the
// proxy (proxy.go) streams responses and never buffers them (request bodies
// to /service/<id>/ are buffered up to a limit first, as nginx does, unless
// the app opts out); service and agent resolution
// (resolve.go) reads the leaders' own APIs through short-lived caches.
// Security (auth.go) follows the configured mode: every Route says whether
// it needs a token (NeedsAuth) and which permission guards it (Permission);
// the IAM (internal/iam) verifies tokens and serves /acs/api/v1. The package
// must not hold any component's state of record, and must not import
// internal/master.
package adminrouter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/basalt-dcos/basalt/internal/httpserve"
	"github.com/basalt-dcos/basalt/internal/iam"
)

// DCOSVersion is the DC/OS release whose public interfaces Basalt follows;
// /dcos-metadata/dcos-version.json reports it so that dcos clients accept the
// cluster.
const DCOSVersion = "1.13.0"

// Config configures the router. It is data.
type Config struct {
	// PublicIPv4 is reported by /metadata.
	PublicIPv4 string
	// Version is Basalt's version; Commit the build's source revision
	// (reported as dcos-image-commit).
	Version string
	Commit  string
	// CacheTTL bounds how stale the caches of Marathon apps and Mesos
	// state used to resolve /service/ and /agent/ may be.
	CacheTTL time.Duration
	// RetryDelay is how long an idempotent request whose leader refused
	// the connection waits before it retries once at the (new) leader.
	RetryDelay time.Duration
	// MaxBodyBytes bounds request bodies sent to upstreams.
	MaxBodyBytes int64
	// RequestBufferBytes is how much of a request body to /service/<id>/
	// is read before the request goes upstream (as nginx's
	// proxy_request_buffering, on unless the app's label
	// DCOS_SERVICE_REQUEST_BUFFERING is false): a body that fits is sent
	// whole, with a Content-Length; the rest of a longer one streams.
	RequestBufferBytes int64
	// MaxHeaderBytes, ReadHeaderTimeout and IdleTimeout bound clients.
	MaxHeaderBytes    int
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	// ShutdownTimeout bounds graceful shutdown of the server.
	ShutdownTimeout time.Duration
	// Security is the security mode: disabled (no checks), permissive
	// (a token on every token route; missing permissions are logged) or
	// strict (permissions enforced, 403).
	Security iam.Mode
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		CacheTTL:           2 * time.Second,
		RetryDelay:         250 * time.Millisecond,
		MaxBodyBytes:       1 << 30,
		RequestBufferBytes: 1 << 20,
		MaxHeaderBytes:     64 << 10,
		ReadHeaderTimeout:  10 * time.Second,
		IdleTimeout:        2 * time.Minute,
		ShutdownTimeout:    5 * time.Second,
		Security:           iam.ModeDisabled,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.CacheTTL <= 0 {
		errs = append(errs, errors.New("adminrouter: cache TTL must be positive"))
	}
	if c.RetryDelay < 0 {
		errs = append(errs, errors.New("adminrouter: retry delay must not be negative"))
	}
	if c.RequestBufferBytes < 0 {
		errs = append(errs, errors.New("adminrouter: request buffer size must not be negative"))
	}
	if c.MaxBodyBytes <= 0 || c.MaxHeaderBytes <= 0 || c.ReadHeaderTimeout <= 0 || c.IdleTimeout <= 0 || c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("adminrouter: header size, timeouts and shutdown timeout must be positive"))
	}
	switch c.Security {
	case iam.ModeDisabled, iam.ModePermissive, iam.ModeStrict:
	default:
		errs = append(errs, fmt.Errorf("adminrouter: security mode %q: want disabled, permissive or strict", c.Security))
	}
	return errors.Join(errs...)
}

// Upstreams tells the router where each component's leader is. Every method
// is called per request and must be cheap (an atomic load): leadership
// changes take effect on the next request.
type Upstreams interface {
	// MesosLeader is the leading Mesos master's base URL.
	MesosLeader() (string, bool)
	// MarathonLeader is the leading Marathon's base URL.
	MarathonLeader() (string, bool)
	// MesosDNS is the base URL of the local Mesos-DNS HTTP API ("" when off).
	MesosDNS() string
}

// Cluster answers the built-in metadata routes.
type Cluster interface {
	ClusterID(ctx context.Context) (string, error)
	// StoreMembers is the store's membership in Exhibitor's terms.
	StoreMembers(ctx context.Context) ([]ExhibitorServer, error)
}

// ExhibitorServer is one entry of Exhibitor's /v1/cluster/status.
type ExhibitorServer struct {
	Code        int    `json:"code"`
	Description string `json:"description"`
	Hostname    string `json:"hostname"`
	IsLeader    bool   `json:"isLeader"`
}

// Deps are the router's collaborators.
type Deps struct {
	Upstreams Upstreams
	Cluster   Cluster
	// Transport carries proxied requests (nil: a keep-alive transport of
	// its own).
	Transport http.RoundTripper
	// ResolverTransport carries the router's own reads (the caches of
	// Marathon apps and Mesos state behind /service/ and /agent/); nil:
	// Transport. The master gives it the router's system identity, while
	// proxied requests keep the user's credentials.
	ResolverTransport http.RoundTripper
	Logger            *slog.Logger
	// Auth is the IAM; required unless security is disabled (then nil
	// answers /acs/api/v1 with 503).
	Auth Auth
}

// Router is the Admin Router of one master.
type Router struct {
	cfg   Config
	deps  Deps
	log   *slog.Logger
	res   *resolver
	proxy *proxy
	iamH  http.Handler // the IAM's handler (nil without an IAM)
}

// New validates cfg. It does no I/O.
func New(cfg Config, deps Deps) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Upstreams == nil || deps.Cluster == nil {
		return nil, errors.New("adminrouter: Upstreams and Cluster are required")
	}
	if deps.Auth == nil && cfg.Security != iam.ModeDisabled {
		return nil, fmt.Errorf("adminrouter: security %s needs the IAM (Deps.Auth)", cfg.Security)
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if deps.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 256
		t.MaxIdleConns = 1024
		deps.Transport = t
	}
	r := &Router{cfg: cfg, deps: deps, log: deps.Logger.With("component", "adminrouter")}
	if deps.ResolverTransport == nil {
		deps.ResolverTransport = deps.Transport
	}
	r.res = newResolver(cfg.CacheTTL, deps.Upstreams, deps.ResolverTransport)
	r.proxy = newProxy(deps.Transport, cfg.RetryDelay, r.log)
	if deps.Auth != nil {
		r.iamH = deps.Auth.Handler()
	}
	return r, nil
}

// Handler returns the router's HTTP handler (the whole route table).
func (r *Router) Handler() http.Handler { return http.HandlerFunc(r.serve) }

// Serve serves on ln until ctx ends, then shuts the server down. Streams
// (SSE, RecordIO) end with ctx. The caller owns ln.
func (r *Router) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           r.Handler(),
		ReadHeaderTimeout: r.cfg.ReadHeaderTimeout,
		IdleTimeout:       r.cfg.IdleTimeout,
		MaxHeaderBytes:    r.cfg.MaxHeaderBytes,
		// No ReadTimeout or WriteTimeout: bodies stream both ways (uploads
		// to services, SSE and RecordIO subscriptions) for as long as the
		// client stays; slow clients are bounded by ReadHeaderTimeout and
		// the upstream's own limits.
		BaseContext: func(net.Listener) context.Context { return ctx },
		ErrorLog:    slog.NewLogLogger(r.log.Handler(), slog.LevelDebug),
	}
	err := httpserve.Run(ctx, srv, ln, r.cfg.ShutdownTimeout, nil)
	if t, ok := r.deps.Transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
	if err != nil {
		return fmt.Errorf("adminrouter: serve: %w", err)
	}
	return nil
}

// serve dispatches one request along its route.
func (r *Router) serve(w http.ResponseWriter, req *http.Request) {
	if req.URL.IsAbs() || req.URL.Host != "" || req.URL.Opaque != "" {
		writeText(w, http.StatusBadRequest, "400 Bad Request: absolute request URIs are not accepted.")
		return
	}
	if req.ContentLength > r.cfg.MaxBodyBytes {
		writeText(w, http.StatusRequestEntityTooLarge, "413 Request Entity Too Large.")
		return
	}
	if req.Body != nil && req.Body != http.NoBody {
		req.Body = http.MaxBytesReader(w, req.Body, r.cfg.MaxBodyBytes)
	}
	rt := Match(req.Method, req.URL.EscapedPath())
	if rt.Kind == KindBadRequest {
		writeText(w, http.StatusBadRequest, "400 Bad Request: "+rt.Reason+".")
		return
	}
	req, ok := r.authorize(w, req, rt)
	if !ok {
		return
	}
	switch rt.Kind {
	case KindNotFound:
		writeText(w, http.StatusNotFound, "404 Not Found: no route for this path.")
	case KindMethodNotAllowed:
		w.Header().Set("Allow", "GET, HEAD")
		writeText(w, http.StatusMethodNotAllowed, "405 Method Not Allowed.")
	case KindRedirect:
		loc := rt.Location
		if req.URL.RawQuery != "" {
			loc += "?" + req.URL.RawQuery
		}
		http.Redirect(w, req, loc, http.StatusMovedPermanently)
	case KindMissing:
		writeText(w, http.StatusServiceUnavailable, "503 Service Unavailable: "+rt.Missing+" is not part of this Basalt release yet.")
	case KindMesos:
		r.toLeader(w, req, rt, "Mesos master", r.deps.Upstreams.MesosLeader)
	case KindMarathon:
		r.toLeader(w, req, rt, "Marathon", r.deps.Upstreams.MarathonLeader)
	case KindMesosDNS, KindNet:
		r.toLeader(w, req, rt, "Mesos-DNS", func() (string, bool) {
			u := r.deps.Upstreams.MesosDNS()
			return u, u != ""
		})
	case KindService:
		r.service(w, req, rt)
	case KindAgent, KindAgentSystem:
		r.agent(w, req, rt)
	case KindMetadata, KindDCOSVersion, KindUIConfig, KindBuildInfo, KindExhibitorStatus:
		r.builtIn(w, req, rt)
	case KindIAM:
		r.iam(w, req, rt)
	default:
		writeText(w, http.StatusInternalServerError, "500 Internal Server Error: unhandled route.")
	}
}

// iam hands /acs/api/v1 to the IAM with the prefix stripped.
func (r *Router) iam(w http.ResponseWriter, req *http.Request, rt Route) {
	if r.iamH == nil {
		writeText(w, http.StatusServiceUnavailable, "503 Service Unavailable: the IAM is not running on this master.")
		return
	}
	out := req.Clone(req.Context())
	out.URL.Path, _ = url.PathUnescape(rt.Path)
	out.URL.RawPath = rt.Path
	if out.URL.EscapedPath() == out.URL.Path {
		out.URL.RawPath = ""
	}
	r.iamH.ServeHTTP(w, out)
}

// toLeader proxies to a component found by leader (re-resolved on retry).
func (r *Router) toLeader(w http.ResponseWriter, req *http.Request, rt Route, what string, leader func() (string, bool)) {
	if _, ok := leader(); !ok {
		writeText(w, http.StatusServiceUnavailable, "503 Service Unavailable: no "+what+" leader is known right now; retry shortly.")
		return
	}
	r.proxy.serve(w, req, target{name: what, resolve: leader, path: rt.Path, prefix: rt.Prefix, rewriteLocation: true})
}

// writeText writes a short plain-text answer.
func writeText(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg+"\n")
}
