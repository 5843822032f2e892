package adminrouter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/basalt-dcos/basalt/internal/httpserve"
	"github.com/basalt-dcos/basalt/internal/iam"
)

// This file is the agents' Admin Router (DC/OS: nginx on every agent,
// port 61001; reference §5.2): the node's system APIs behind one port. It
// has no IAM of its own: tokens are verified with the masters' public keys
// (iam.RemoteKeys), so only their validity is checked, as open DC/OS does.

// MatchAgent maps a request on an agent's Admin Router to a route. It does
// no I/O; bad paths are KindBadRequest as on the master.
func MatchAgent(method, escapedPath string) Route {
	if reason := checkPath(escapedPath); reason != "" {
		return Route{Kind: KindBadRequest, Reason: reason}
	}
	p := escapedPath
	token := func(r Route) Route { r.NeedsAuth = true; return r }
	switch {
	case p == "/dcos-metadata/dcos-version.json":
		return builtIn(method, Route{Kind: KindDCOSVersion})
	case hasDirPrefix(p, "/pkgpanda"):
		return token(Route{Kind: KindMissing, Missing: "pkgpanda (the component package manager)"})
	case hasDirPrefix(p, "/system/health/v1"):
		return token(Route{Kind: KindMissing, Missing: "diagnostics (dcos-diagnostics)"})
	case hasDirPrefix(p, "/system/v1/logs"):
		return token(Route{Kind: KindMissing, Missing: "logs (dcos-log)"})
	case hasDirPrefix(p, "/system/v1/metrics"):
		return token(Route{Kind: KindMissing, Missing: "metrics"})
	case hasDirPrefix(p, "/system/checks/v1"):
		return token(Route{Kind: KindMissing, Missing: "checks (dcos-checks)"})
	case p == "/nginx/metrics":
		return Route{Kind: KindMissing, Missing: "Admin Router metrics"}
	}
	return token(Route{Kind: KindNotFound})
}

// TokenVerifier checks a request's token (iam.RemoteKeys on agents).
type TokenVerifier interface {
	Authenticate(r *http.Request) (iam.Principal, error)
}

// AgentConfig configures an agent's Admin Router. It is data.
type AgentConfig struct {
	Version, Commit string
	// Security: strict and permissive ask for a valid token on the token
	// routes (there are no permissions to check here); disabled does not.
	Security          iam.Mode
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	ShutdownTimeout   time.Duration
}

// DefaultAgentConfig returns the defaults.
func DefaultAgentConfig() AgentConfig {
	return AgentConfig{Security: iam.ModeStrict, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, ShutdownTimeout: 5 * time.Second}
}

// AgentRouter is the Admin Router of one agent.
type AgentRouter struct {
	cfg  AgentConfig
	auth TokenVerifier
	log  *slog.Logger
}

// NewAgent validates cfg. It does no I/O. auth may be nil only when
// security is disabled.
func NewAgent(cfg AgentConfig, auth TokenVerifier, logger *slog.Logger) (*AgentRouter, error) {
	var errs []error
	switch cfg.Security {
	case iam.ModeDisabled:
	case iam.ModePermissive, iam.ModeStrict:
		if auth == nil {
			errs = append(errs, fmt.Errorf("adminrouter: security %s needs a token verifier", cfg.Security))
		}
	default:
		errs = append(errs, fmt.Errorf("adminrouter: security mode %q: want disabled, permissive or strict", cfg.Security))
	}
	if cfg.ReadHeaderTimeout <= 0 || cfg.IdleTimeout <= 0 || cfg.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("adminrouter: timeouts must be positive"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &AgentRouter{cfg: cfg, auth: auth, log: logger.With("component", "adminrouter-agent")}, nil
}

// Handler is the agent router's HTTP handler.
func (a *AgentRouter) Handler() http.Handler { return http.HandlerFunc(a.serve) }

// Serve serves on ln until ctx ends. The caller owns ln.
func (a *AgentRouter) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: a.cfg.ReadHeaderTimeout,
		ReadTimeout:       time.Minute,
		WriteTimeout:      time.Minute,
		IdleTimeout:       a.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
	if err := httpserve.Run(ctx, srv, ln, a.cfg.ShutdownTimeout, nil); err != nil {
		return fmt.Errorf("adminrouter: agent: serve: %w", err)
	}
	return nil
}

func (a *AgentRouter) serve(w http.ResponseWriter, req *http.Request) {
	if req.URL.IsAbs() || req.URL.Host != "" || req.URL.Opaque != "" {
		writeText(w, http.StatusBadRequest, "400 Bad Request: absolute request URIs are not accepted.")
		return
	}
	rt := MatchAgent(req.Method, req.URL.EscapedPath())
	if rt.Kind == KindBadRequest {
		writeText(w, http.StatusBadRequest, "400 Bad Request: "+rt.Reason+".")
		return
	}
	if rt.NeedsAuth && a.cfg.Security != iam.ModeDisabled {
		if _, err := a.auth.Authenticate(req); err != nil {
			WriteUnauthorized(w, req, a.log, err)
			return
		}
	}
	switch rt.Kind {
	case KindNotFound:
		writeText(w, http.StatusNotFound, "404 Not Found: no route for this path on the agent's Admin Router.")
	case KindMethodNotAllowed:
		w.Header().Set("Allow", "GET, HEAD")
		writeText(w, http.StatusMethodNotAllowed, "405 Method Not Allowed.")
	case KindMissing:
		writeText(w, http.StatusServiceUnavailable, "503 Service Unavailable: "+rt.Missing+" is not part of this Basalt release yet.")
	case KindDCOSVersion:
		writeJSON(w, req, dcosVersion(a.cfg.Version, a.cfg.Commit))
	default:
		writeText(w, http.StatusInternalServerError, "500 Internal Server Error: unhandled route.")
	}
}
