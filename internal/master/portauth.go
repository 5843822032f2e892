package master

// This file closes the components' own ports (Mesos :5050, Marathon :8080,
// Mesos-DNS HTTP :8123) when security is on, and gives the master's own
// components a system identity to call each other with (docs/iam.md,
// "Component ports"). The Admin Router is not behind these guards: it
// checks tokens itself and forwards the user's.

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path"
	"time"

	"github.com/basalt-dcos/basalt/internal/agentapi"
	"github.com/basalt-dcos/basalt/internal/iam"

	"github.com/basalt-dcos/basalt/internal/adminrouter"
)

// The permission each component port asks for (action full): the same one
// Admin Router asks for the route in front of it, so one grant serves both
// ways in (adminrouter.Permission; a test keeps them equal).
const (
	mesosPortRID    = "dcos:adminrouter:ops:mesos"
	marathonPortRID = "dcos:adminrouter:service:marathon"
	dnsPortRID      = "dcos:adminrouter:ops:mesos-dns"
)

// systemAccounts are the masters' system service accounts and what they
// may do: Marathon's scheduler and the DNS follower read and drive the
// Mesos master; the Admin Router's resolver caches read Mesos, Marathon
// and Mesos-DNS.
func systemAccounts() []iam.SystemAccount {
	return []iam.SystemAccount{
		{UID: iam.SystemMarathon, Description: "Marathon's scheduler (system account)", Grants: []string{mesosPortRID}},
		{UID: iam.SystemMesosDNS, Description: "Mesos-DNS, reading the operator API (system account)", Grants: []string{mesosPortRID}},
		{UID: iam.SystemAdminRouter, Description: "Admin Router's resolver caches (system account)", Grants: []string{mesosPortRID, marathonPortRID, dnsPortRID}},
	}
}

// ensureSystemAccounts creates the system accounts (every master, at start).
func ensureSystemAccounts(ctx context.Context, svc *iam.Service) error {
	var errs []error
	for _, a := range systemAccounts() {
		if err := svc.EnsureSystemAccount(ctx, a); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// securityOn reports whether the component ports check credentials.
func (c Config) securityOn() bool {
	return c.Security == string(iam.ModeStrict) || c.Security == string(iam.ModePermissive)
}

// systemClient is an HTTP client that calls the cluster's components as the
// system account uid (when the IAM runs; else base unchanged: even with
// security disabled here, the leader may be a master that checks). Use it
// only for calls to the masters' own ports.
func (m *Master) systemClient(base *http.Client, uid string) *http.Client {
	svc := m.iam.Load()
	if svc == nil {
		return base
	}
	c := *base
	c.Transport = &iam.Transport{Base: base.Transport, Source: svc.TokenSource(uid)}
	return &c
}

// systemTransport is systemClient for a bare transport.
func (m *Master) systemTransport(base http.RoundTripper, uid string) http.RoundTripper {
	svc := m.iam.Load()
	if svc == nil {
		return base
	}
	return &iam.Transport{Base: base, Source: svc.TokenSource(uid)}
}

// marathonMesosClient is Marathon's scheduler client before the system
// identity is added: acknowledgements, kills and launches go out
// concurrently, so it keeps enough idle connections for bursts.
func marathonMesosClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return &http.Client{Timeout: 30 * time.Second, Transport: t}
}

// portGuard checks the credentials of requests on one component port.
//
//   - strict: a valid token (Authorization "token=" or "Bearer", or the
//     dcos-acs-auth-cookie cookie) whose account holds rid, or a client
//     certificate from the cluster CA issued to a node; else 401 (with
//     WWW-Authenticate: acsjwt, as Admin Router) or 403.
//   - permissive: as DC/OS permissive, credentials are checked when they
//     are presented (a bad token is 401) and a request without any goes on
//     as anonymous; a missing permission is only logged.
//   - disabled: no check.
//
// open lists the paths that stay unauthenticated.
type portGuard struct {
	mode iam.Mode
	auth *iam.Service
	rid  string
	port string // for messages: "Mesos master", "Marathon", "Mesos-DNS"
	open func(r *http.Request) bool
	log  *slog.Logger
}

// guard wraps h with the port's checks (h itself when security is off).
func (m *Master) guard(port, rid string, open func(*http.Request) bool, h http.Handler) http.Handler {
	svc := m.iam.Load()
	if !m.cfg.securityOn() || svc == nil {
		return h
	}
	g := &portGuard{mode: iam.Mode(m.cfg.Security), auth: svc, rid: rid, port: port, open: open, log: m.log.With("port", port)}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.check(w, r) {
			h.ServeHTTP(w, r)
		}
	})
}

// check answers 401/403 itself and returns false when r must stop.
func (g *portGuard) check(w http.ResponseWriter, r *http.Request) bool {
	if g.open != nil && g.open(r) {
		return true
	}
	if hasNodeCert(r) {
		return true // a node of this cluster (an agent, a master)
	}
	p, err := g.auth.Authenticate(r)
	if err != nil {
		if g.mode == iam.ModePermissive && errors.Is(err, iam.ErrNoToken) {
			return true // anonymous, as DC/OS permissive lets through
		}
		adminrouter.WriteUnauthorized(w, r, g.log, err)
		return false
	}
	if g.auth.Allowed(p, g.rid, iam.ActionFull) {
		return true
	}
	if g.mode == iam.ModePermissive {
		g.log.Info("permission missing; allowed in permissive mode", "uid", p.UID, "rid", g.rid, "path", r.URL.Path)
		return true
	}
	adminrouter.WriteForbidden(w, p.UID, g.rid)
	return false
}

// jwksPath serves the IAM's public keys on the master API port too, for
// agents' Admin Routers, which know the masters by that port.
const jwksPath = "/acs/api/v1/auth/jwks"

// mesosOpen are the Mesos master's unauthenticated paths: leader discovery
// (/master/redirect, /redirect: Mesos does not authenticate them), the
// IAM's public keys (jwksPath, public by nature) and the
// agent protocol, whose own guard is --require-agent-certs (a node
// certificate from joining with the cluster's join token).
func mesosOpen(r *http.Request) bool {
	switch path.Clean("/" + r.URL.Path) {
	case "/master/redirect", "/redirect", agentapi.Path, jwksPath:
		return true
	}
	return false
}

// marathonOpen: Marathon's liveness probe.
func marathonOpen(r *http.Request) bool {
	return path.Clean("/"+r.URL.Path) == "/ping"
}
