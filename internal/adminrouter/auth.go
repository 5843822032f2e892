package adminrouter

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/basalt-dcos/basalt/internal/iam"
)

// Auth is the IAM as the router uses it: it verifies the request's token,
// decides permissions, and serves /acs/api/v1 (the prefix stripped, the
// caller's principal in the request context).
type Auth interface {
	Authenticate(r *http.Request) (iam.Principal, error)
	Allowed(p iam.Principal, rid, action string) bool
	Handler() http.Handler
}

// Permission is the DC/OS resource a route is guarded by (action "full",
// as Admin Router always asks). Routes that only need a valid token return
// "". /service/<id>/ is guarded per resolved id (ServicePermission).
// The names follow DC/OS Enterprise's Admin Router permissions where it had
// one for the path.
func Permission(rt Route) string {
	switch rt.Kind {
	case KindMesos:
		return "dcos:adminrouter:ops:mesos"
	case KindMarathon:
		return "dcos:adminrouter:service:marathon"
	case KindAgent:
		return "dcos:adminrouter:ops:slave"
	case KindAgentSystem:
		switch {
		case strings.HasPrefix(rt.Path, "/system/v1/logs"):
			return "dcos:adminrouter:ops:system-logs"
		case strings.HasPrefix(rt.Path, "/system/v1/metrics"):
			return "dcos:adminrouter:ops:system-metrics"
		}
		return "dcos:adminrouter:ops:slave"
	case KindMesosDNS:
		return "dcos:adminrouter:ops:mesos-dns"
	case KindNet:
		return "dcos:adminrouter:ops:networking"
	case KindMetadata:
		return "dcos:adminrouter:ops:metadata"
	case KindBuildInfo:
		return "dcos:adminrouter:ops:pkgpanda"
	case KindIAM:
		return "dcos:adminrouter:acs"
	}
	return ""
}

// ServicePermission guards /service/<id>/.
func ServicePermission(id string) string { return "dcos:adminrouter:service:" + id }

// AnonymousUID names the caller when security is disabled: everyone may do
// everything, the IAM API included.
const AnonymousUID = "anonymous"

// authorize applies the security mode to a matched route. It answers 401 or
// 403 itself and returns false when the request must stop; otherwise the
// returned request carries the principal (for the IAM handler and for
// per-service checks).
func (r *Router) authorize(w http.ResponseWriter, req *http.Request, rt Route) (*http.Request, bool) {
	switch r.cfg.Security {
	case iam.ModeDisabled, "":
		// As DC/OS with oauth_enabled false: no checks, and whatever
		// Authorization header a client sends (dcos sends "token=" with
		// nothing after it) is passed on untouched.
		p := iam.Principal{UID: AnonymousUID, Superuser: true}
		return req.WithContext(iam.WithPrincipal(req.Context(), p)), true
	}
	p, err := r.deps.Auth.Authenticate(req)
	if err != nil {
		if !rt.NeedsAuth {
			return req, true // open routes stay open; a bad token is ignored there
		}
		r.unauthorized(w, req, err)
		return nil, false
	}
	req = req.WithContext(iam.WithPrincipal(req.Context(), p))
	if !rt.NeedsAuth {
		return req, true // e.g. logging in again while holding an old token
	}
	if rid := Permission(rt); rid != "" && !r.allowed(w, req, p, rid) {
		return nil, false
	}
	return req, true
}

// allowed checks one permission; in permissive mode a refusal is logged and
// the request goes on, in strict mode it is answered 403.
func (r *Router) allowed(w http.ResponseWriter, req *http.Request, p iam.Principal, rid string) bool {
	if r.cfg.Security == iam.ModeDisabled || r.cfg.Security == "" || r.deps.Auth.Allowed(p, rid, "full") {
		return true
	}
	if r.cfg.Security == iam.ModePermissive {
		r.log.Info("permission missing; allowed in permissive mode", "uid", p.UID, "rid", rid, "path", req.URL.Path)
		return true
	}
	WriteForbidden(w, p.UID, rid)
	return false
}

// serviceAllowed checks /service/<id>/ once the id is resolved.
func (r *Router) serviceAllowed(w http.ResponseWriter, req *http.Request, id string) bool {
	if r.cfg.Security == iam.ModeDisabled || r.cfg.Security == "" {
		return true
	}
	p, _ := iam.PrincipalFrom(req.Context())
	return r.allowed(w, req, p, ServicePermission(id))
}

// unauthorized answers 401 the way DC/OS's Admin Router does.
func (r *Router) unauthorized(w http.ResponseWriter, req *http.Request, err error) {
	WriteUnauthorized(w, req, r.log, err)
}

// WriteUnauthorized answers 401 the way DC/OS's Admin Router does: the
// WWW-Authenticate challenge dcos clients look for, and a short body that
// says whether a token was missing or refused (why goes to the debug log).
// The master's component ports and the agent router answer the same way.
func WriteUnauthorized(w http.ResponseWriter, req *http.Request, log *slog.Logger, err error) {
	w.Header().Set("WWW-Authenticate", "acsjwt")
	msg := "401 Unauthorized: a valid authentication token is required (log in with basalt auth login)."
	if !errors.Is(err, iam.ErrNoToken) {
		msg = "401 Unauthorized: the authentication token is not valid; log in again."
		log.Debug("token refused", "path", req.URL.Path, "error", err)
	}
	writeText(w, http.StatusUnauthorized, msg)
}

// WriteForbidden answers 403 naming the permission uid lacks.
func WriteForbidden(w http.ResponseWriter, uid, rid string) {
	writeText(w, http.StatusForbidden, fmt.Sprintf("403 Forbidden: %s lacks the permission %s full.", uid, rid))
}

// tokenFromCookie moves the DC/OS session cookie's token into the
// Authorization header of a proxied request when the client sent none, as
// Admin Router does, so that upstreams see one form of credentials.
func tokenFromCookie(in *http.Request, out http.Header) {
	if in.Header.Get("Authorization") != "" {
		return
	}
	c, err := in.Cookie("dcos-acs-auth-cookie")
	if err != nil || c.Value == "" || strings.ContainsAny(c.Value, "\r\n") {
		return
	}
	out.Set("Authorization", "token="+c.Value)
}
