package master

// This file is the server side of master-to-master TLS (--api-tls): the TLS
// configuration of the sniffed ports (the master API port and Marathon's
// port), Marathon's TLS side, and a count of what other masters asked over
// TLS. The client side is peerTLSConfig and peerTransport (tls.go).

import (
	"context"
	"crypto/tls"
	"errors"
	"maps"
	"net"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/basalt-dcos/basalt/internal/httpserve"
	"github.com/basalt-dcos/basalt/internal/pki"
)

// apiTLSConfig is the TLS side of a sniffed port: this master's serving
// certificate, HTTP/1.1 only (the agent, scheduler and event streams are
// long-lived HTTP/1.1 responses), a client certificate from the cluster CA
// verified when given, and revoked certificates refused in the handshake.
func apiTLSConfig(f *tlsFront) *tls.Config {
	cfg := pki.ServerTLSConfig(f.certs.GetCertificate)
	cfg.NextProtos = []string{"http/1.1"}
	cfg.ClientAuth = tls.VerifyClientCertIfGiven
	cfg.ClientCAs = f.ca.Pool()
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) > 0 && f.deny.Revoked(cs.PeerCertificates[0]) {
			return errors.New("certificate revoked")
		}
		return nil
	}
	return cfg
}

// serveMarathonTLS, when --api-tls is on, splits Marathon's listener as
// serveAPITLS does the master API's: users keep plain HTTP (as on DC/OS's
// :8080), and masters proxying to the Marathon leader (Marathon's
// followers, the Admin Router) reach it over TLS on the same address, so
// the leader's address in its election record serves both. It returns the
// plain side.
func (m *Master) serveMarathonTLS(ctx context.Context, g *errgroup.Group, ln net.Listener, plain *http.Server, before <-chan struct{}, f *tlsFront) net.Listener {
	if f == nil || !m.cfg.APITLS {
		return ln
	}
	plainLn, tlsRaw := splitTLS(ln, plain.ReadHeaderTimeout)
	srv := &http.Server{
		Handler:           f.notePeers("marathon", plain.Handler),
		ReadHeaderTimeout: plain.ReadHeaderTimeout,
		IdleTimeout:       plain.IdleTimeout,
		MaxHeaderBytes:    plain.MaxHeaderBytes,
		ErrorLog:          plain.ErrorLog,
		BaseContext:       plain.BaseContext,
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){}, // no h2
	}
	tlsLn := tls.NewListener(tlsRaw, apiTLSConfig(f))
	g.Go(func() error {
		return serveErr("marathon serve tls", httpserve.Run(ctx, srv, tlsLn, m.cfg.ShutdownTimeout, before))
	})
	return plainLn
}

// hasMasterCert: the client presented a certificate that verified against
// the cluster CA and was issued to a master. It is an identity for counting
// and logging only: a master's certificate opens nothing by itself, since
// masters forward their users' requests (with the users' tokens).
func hasMasterCert(r *http.Request) bool {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return false
	}
	return slices.Contains(r.TLS.VerifiedChains[0][0].Subject.Organization, pki.MastersOrganization)
}

// peerRequests counts the requests masters made over TLS with their
// certificate, by "port METHOD path-prefix".
type peerRequests struct {
	mu sync.Mutex
	n  map[string]int64
}

// maxPeerKeys bounds the counters (the paths come from masters, but /v2
// paths carry app IDs).
const maxPeerKeys = 1024

func (p *peerRequests) add(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == nil {
		p.n = map[string]int64{}
	}
	if _, ok := p.n[key]; ok || len(p.n) < maxPeerKeys {
		p.n[key]++
	}
}

func (p *peerRequests) snapshot() map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.n)
}

// peerPathKey cuts a path to what tells the callers apart: three segments
// under /api (/api/v1/scheduler, /api/v1), else two (/master/state,
// /v2/apps).
func peerPathKey(p string) string {
	p = path.Clean("/" + p)
	segs := strings.SplitN(strings.TrimPrefix(p, "/"), "/", 4)
	n := 2
	if segs[0] == "api" {
		n = 3
	}
	if len(segs) > n {
		segs = segs[:n]
	}
	return "/" + strings.Join(segs, "/")
}

// notePeers counts h's requests from masters over TLS (port names the port:
// "mesos", "marathon").
func (f *tlsFront) notePeers(port string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hasMasterCert(r) {
			f.seen.add(port + " " + r.Method + " " + peerPathKey(r.URL.Path))
		}
		h.ServeHTTP(w, r)
	})
}

// PeerTLSRequests counts the requests that masters (this one included, when
// its components call their own leader) made to this master's API and
// Marathon ports over TLS, presenting their master certificate, by
// "port METHOD path" ("mesos POST /api/v1/scheduler", "marathon GET
// /v2/apps"). For tests and debugging; nil when API TLS is off.
func (m *Master) PeerTLSRequests() map[string]int64 {
	f := m.front.tls.Load()
	if f == nil || f.peerTLS == nil {
		return nil
	}
	return f.seen.snapshot()
}
