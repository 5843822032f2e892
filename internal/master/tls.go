package master

// This file wires the cluster PKI (internal/pki) into the master: the
// Admin Router's HTTPS port with a certificate from the cluster CA, the
// plain port's serve/redirect modes, and the join endpoints on the HTTPS
// port. It is kept apart from the Admin Router's own wiring
// (adminrouter.go).

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/basalt-dcos/basalt/internal/adminrouter"
	"github.com/basalt-dcos/basalt/internal/agentapi"
	"github.com/basalt-dcos/basalt/internal/httpserve"
	"github.com/basalt-dcos/basalt/internal/pki"
	"github.com/basalt-dcos/basalt/internal/ratelimit"
	"github.com/basalt-dcos/basalt/internal/store"
)

// Modes of the Admin Router's plain HTTP port (--adminrouter-http).
const (
	HTTPServe    = "serve"    // every route, as on HTTPS
	HTTPRedirect = "redirect" // 307 to HTTPS except plainPaths
)

// plainPath reports the paths that stay plain in redirect mode: what a
// client reads before it trusts the cluster (the version probe of `dcos
// cluster setup`, and the CA certificate itself, whose fingerprint the user
// checks).
func plainPath(p string) bool {
	return p == "/dcos-metadata/dcos-version.json" || p == pki.CACertPath
}

const (
	// DefaultTLSCertTTL is the default lifetime of a master's serving
	// certificate.
	DefaultTLSCertTTL = 90 * 24 * time.Hour
	// DefaultNodeCertTTL is the default lifetime of the client
	// certificates issued to joining nodes (--node-cert-ttl).
	DefaultNodeCertTTL = 365 * 24 * time.Hour
)

// frontState is the master's TLS state once Run has set it up.
type frontState struct {
	tls atomic.Pointer[tlsFront]

	trOnce sync.Once
	tr     *http.Transport

	// joinFails rate-limits wrong join secrets per client address, on
	// every port that serves the join endpoint.
	joinFails *ratelimit.Failures
}

// tlsFront is the PKI of one running master and its Admin Router's HTTPS
// port (ln nil when off).
type tlsFront struct {
	ca           *pki.CA
	certs        *pki.Reloader
	tokenMu      sync.Mutex
	token        pki.JoinToken // the current node join token, as last read
	kek          *pki.KEK      // nil: keys in the clear
	masterSecret func() string
	admin        http.Handler  // the security API (security_api.go); nil before the store is up
	renew        http.Handler  // node certificate renewal over mTLS
	deny         *pki.DenyList // revoked certificates and nodes, followed by Run
	denyRev      int64
	ln           net.Listener // TCP; TLS is layered on when serving
	addr         string       // advertised host:port

	peerTLS *tls.Config       // calling other masters (nil: API TLS is off)
	peersMu sync.Mutex        // guards peers
	peers   []*http.Transport // made by peerTransport, closed by closePeers
	seen    peerRequests      // what other masters asked over TLS
}

// transport is the Admin Router's upstream transport: the master owns it so
// it can close its idle connections once every port that proxies has
// stopped.
func (f *frontState) transport() *http.Transport {
	f.trOnce.Do(func() {
		f.tr = http.DefaultTransport.(*http.Transport).Clone()
		f.tr.MaxIdleConnsPerHost = 256
		f.tr.MaxIdleConns = 1024
	})
	return f.tr
}

func (c Config) validateTLS() []error {
	var errs []error
	if c.AdminRouterTLSListen != "" {
		if _, _, err := net.SplitHostPort(c.AdminRouterTLSListen); err != nil {
			errs = append(errs, fmt.Errorf("adminrouter-tls-listen %q: %w", c.AdminRouterTLSListen, err))
		}
	}
	if (c.AdminRouterTLSListen != "" || c.APITLS) && c.TLSCertTTL < 10*time.Second {
		errs = append(errs, errors.New("tls-cert-ttl must be at least 10s"))
	}
	if (c.AdminRouterTLSListen != "" || c.APITLS) && c.NodeCertTTL < 10*time.Second {
		errs = append(errs, errors.New("node-cert-ttl must be at least 10s"))
	}
	if c.RequireAgentCerts && !c.APITLS {
		errs = append(errs, errors.New("require-agent-certs needs api-tls"))
	}
	switch c.AdminRouterHTTP {
	case HTTPServe:
	case HTTPRedirect:
		if c.AdminRouterTLSListen == "" {
			errs = append(errs, errors.New("adminrouter-http redirect needs adminrouter-tls-listen"))
		}
	default:
		errs = append(errs, fmt.Errorf("adminrouter-http %q: want serve or redirect", c.AdminRouterHTTP))
	}
	return errs
}

// certNames are the names a master's certificate covers.
func (m *Master) certNames(ip string) []string {
	names := []string{ip}
	if h := m.cfg.Hostname; h != "" && h != ip {
		names = append(names, h)
	}
	for _, n := range []string{"master.mesos", "leader.mesos", "localhost", "127.0.0.1"} {
		if n != ip {
			names = append(names, n)
		}
	}
	return names
}

// setupPKI ensures the cluster CA (the bootstrap master's disk CA when the
// store speaks TLS; its key sealed with the KEK when there is one) and the
// join secrets, renews this master's store certificate, issues its serving
// certificate and binds the Admin Router's HTTPS port (if on; the bootstrap
// master bound it already). It returns nil when neither HTTPS port nor API
// TLS is on.
func (m *Master) setupPKI(ctx context.Context, st *store.Store, ip string, sb *storeBoot) (*tlsFront, error) {
	if m.cfg.AdminRouterTLSListen == "" && !m.cfg.APITLS {
		return nil, nil
	}
	opts := pki.CAOptions{KEK: sb.kek, Logger: m.log}
	if sb.boot != nil {
		opts.Use = sb.boot.CA
	} else if m.cfg.storeTLSOn() {
		opts.Wait = true // the CA is the bootstrap master's: never make another
	}
	ca, err := pki.EnsureCA(ctx, st, opts)
	if err != nil {
		return nil, err
	}
	f := &tlsFront{ca: ca, kek: sb.kek}
	if m.cfg.storeTLSOn() {
		if err := m.checkStoreCA(ca, sb); err != nil {
			return nil, err
		}
		bootSecret := ""
		if sb.boot != nil {
			bootSecret = sb.boot.MasterToken.Secret
		}
		secret, err := pki.EnsureMasterSecret(ctx, st, sb.kek, bootSecret)
		if err != nil {
			return nil, err
		}
		f.masterSecret = m.masterSecretSource(st, sb.kek, secret)
	}
	tok, err := pki.EnsureJoinToken(ctx, st, ca, sb.kek, m.log)
	if err != nil {
		return nil, err
	}
	f.token = tok
	f.deny = pki.NewDenyList(st, m.log)
	if f.denyRev, err = f.deny.Load(ctx); err != nil {
		return nil, err
	}
	f.admin = m.securityAPI(f)
	f.renew = m.joinPolicy(f).RenewHandler(f.deny.Revoked)
	certs, err := pki.NewReloader(ca, m.certNames(ip), m.cfg.TLSCertTTL)
	if err != nil {
		return nil, err
	}
	f.certs = certs
	if m.cfg.AdminRouterTLSListen != "" {
		ln := sb.tlsLn
		if ln == nil {
			if ln, err = net.Listen("tcp", m.cfg.AdminRouterTLSListen); err != nil {
				return nil, fmt.Errorf("admin router: listen %s: %w", m.cfg.AdminRouterTLSListen, err)
			}
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		f.ln, f.addr = ln, net.JoinHostPort(ip, port)
		m.log.Info("admin router https", "addr", f.addr, "ca_sha256", ca.Hash())
	}
	if m.cfg.APITLS {
		m.upstreamTLS(f, ip)
	}
	m.front.tls.Store(f)
	return f, nil
}

// upstreamTLS sets up calling other masters over TLS (--api-tls on every
// master; peerTLSConfig). The Admin Router's upstream transport, which
// also reaches agents and tasks' services, trusts the system roots and the
// cluster CA and presents this master's certificate only to servers that
// ask for one from the cluster CA; its routes to the leaders of Mesos and
// Marathon go through a peer transport instead (arTransport).
func (m *Master) upstreamTLS(f *tlsFront, ip string) {
	f.peerTLS = m.peerTLSConfig(f, ip)
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	roots.AddCert(f.ca.Certificate())
	caSubject := f.ca.Certificate().RawSubject
	m.front.transport().TLSClientConfig = &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    roots,
		GetClientCertificate: func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			for _, ca := range cri.AcceptableCAs {
				if bytes.Equal(ca, caSubject) {
					return f.peerTLS.GetClientCertificate(cri)
				}
			}
			return &tls.Certificate{}, nil // not our cluster: no certificate
		},
	}
}

// peerTLSConfig is how this master calls other masters' ports over TLS:
// the cluster CA is the only root (every master's certificate names its
// addresses), and the client certificate it presents when asked is its
// own (CN=master:<ip>, O=basalt:masters), issued from the CA and
// re-issued when a third of its life remains.
func (m *Master) peerTLSConfig(f *tlsFront, ip string) *tls.Config {
	var mu sync.Mutex
	var cur *tls.Certificate
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    f.ca.Pool(),
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			mu.Lock()
			defer mu.Unlock()
			if cur == nil || pki.RenewDue(cur.Leaf, time.Now()) {
				c, err := f.ca.IssueClient("master:"+ip, []string{pki.MastersOrganization}, m.cfg.TLSCertTTL)
				if err != nil {
					if cur != nil {
						return cur, nil
					}
					return nil, err
				}
				cur = c
			}
			return cur, nil
		},
	}
}

// peerClient returns base calling masters over TLS when API TLS is on (f
// not nil, see peerTransport); else base unchanged.
func (f *tlsFront) peerClient(base *http.Client, maxIdlePerHost int) *http.Client {
	if f == nil || f.peerTLS == nil {
		return base
	}
	c := *base
	c.Transport = f.peerTransport(maxIdlePerHost)
	return &c
}

// peerTransport is a transport for the clients that talk only to masters'
// own ports (Marathon's scheduler client, the DNS follower, a standby's
// read proxy, Marathon's proxy to its leader): every request goes over
// https, whatever scheme its URL has (the masters' API and Marathon ports
// speak both with --api-tls, and a leader's URL in the store or in a
// redirect may say http), verified against the cluster CA, presenting this
// master's certificate. Its idle connections are closed when the master
// stops (closePeers).
func (f *tlsFront) peerTransport(maxIdlePerHost int) http.RoundTripper {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = f.peerTLS
	tr.MaxIdleConnsPerHost = maxIdlePerHost
	tr.ForceAttemptHTTP2 = false // the API ports speak HTTP/1.1 over TLS
	f.peersMu.Lock()
	f.peers = append(f.peers, tr)
	f.peersMu.Unlock()
	return pki.HTTPSOnly{Transport: tr}
}

// closePeers closes the idle connections of every peerTransport.
func (f *tlsFront) closePeers() {
	if f == nil {
		return
	}
	f.peersMu.Lock()
	defer f.peersMu.Unlock()
	for _, tr := range f.peers {
		tr.CloseIdleConnections()
	}
}

// joinPolicy is who may join through this master: nodes with the join
// secret, and masters with the master secret when the store speaks TLS.
func (m *Master) joinPolicy(f *tlsFront) pki.JoinPolicy {
	p := pki.JoinPolicy{
		CA: f.ca,
		NodeSecrets: func() []string {
			// Read per join (joins are rare): another master may have rotated.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			secrets, err := pki.JoinSecrets(ctx, m.Store(), f.kek, time.Now())
			if err != nil {
				m.log.Warn("read the join secrets", "error", err)
				return nil
			}
			f.setToken(pki.JoinToken{CAHash: f.ca.Hash(), Secret: secrets[0]})
			return secrets
		},
		NodeTTL:   m.cfg.NodeCertTTL,
		MasterTTL: peerCertTTL,
		Failures:  m.front.joinFails,
		Logger:    m.log,
	}
	if f.deny != nil {
		p.Refuse = f.deny.RefuseJoin
	}
	if f.masterSecret != nil && f.kek != nil {
		p.MasterSecret = f.masterSecret
		p.KEK = f.kek
	}
	return p
}

// serveAPITLS, when --api-tls is on, splits the master API listener: TLS
// connections get handler (plus the CA and join endpoints) on a server like
// plain; it returns the plain side. HTTP/1.1 only: the agent and scheduler
// streams are long-lived HTTP/1.1 responses.
func (m *Master) serveAPITLS(ctx context.Context, g *errgroup.Group, ln net.Listener, plain *http.Server, before <-chan struct{}, f *tlsFront) net.Listener {
	if f == nil || !m.cfg.APITLS {
		return ln
	}
	plainLn, tlsRaw := splitTLS(ln, plain.ReadHeaderTimeout)
	// A revoked certificate fails the handshake (apiTLSConfig); connections
	// that were open when it was revoked are cut (an agent's stream among
	// them).
	cfg := apiTLSConfig(f)
	conns := &connTracker{conns: map[*tls.Conn]struct{}{}}
	f.deny.OnChange(func() {
		if n := conns.cut(f.deny.Revoked); n > 0 {
			m.log.Info("cut connections of revoked certificates", "connections", n)
		}
	})
	join := m.joinPolicy(f).Handler()
	srv := &http.Server{
		Handler:           front(f, join, f.notePeers("mesos", plain.Handler)),
		ReadHeaderTimeout: plain.ReadHeaderTimeout,
		ReadTimeout:       plain.ReadTimeout,
		WriteTimeout:      plain.WriteTimeout,
		IdleTimeout:       plain.IdleTimeout,
		MaxHeaderBytes:    plain.MaxHeaderBytes,
		ErrorLog:          plain.ErrorLog,
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){}, // no h2
		ConnState:         conns.state,
	}
	tlsLn := tls.NewListener(tlsRaw, cfg)
	g.Go(func() error {
		return serveErr("serve tls", httpserve.Run(ctx, srv, tlsLn, m.cfg.ShutdownTimeout, before))
	})
	return plainLn
}

// guardAgentAPI refuses the agent protocol (agentapi.Path) to callers
// without a node certificate from the cluster CA when
// --require-agent-certs is on.
func (m *Master) guardAgentAPI(h http.Handler) http.Handler {
	if !m.cfg.RequireAgentCerts {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if path.Clean("/"+r.URL.Path) == agentapi.Path && !hasNodeCert(r) {
			http.Error(w, "agents must connect over TLS with a node certificate from the cluster CA (basalt agent --join-token)", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// hasNodeCert: the client presented a certificate that verified against the
// cluster CA (VerifyClientCertIfGiven) and was issued to a node.
func hasNodeCert(r *http.Request) bool {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return false
	}
	return slices.Contains(r.TLS.VerifiedChains[0][0].Subject.Organization, pki.NodesOrganization)
}

// serveAdminRouter serves the Admin Router on its plain port (plainLn, nil
// when off) and its HTTPS port (f, nil when off) until ctx ends, then closes
// the upstream transport's idle connections.
func (m *Master) serveAdminRouter(ctx context.Context, g *errgroup.Group, ar *adminrouter.Router, plainLn net.Listener, f *tlsFront) {
	var wg sync.WaitGroup
	run := func(fn func() error) {
		wg.Add(1)
		g.Go(func() error { defer wg.Done(); return fn() })
	}
	switch {
	case plainLn == nil:
	case f == nil || f.ln == nil:
		run(func() error { return ar.Serve(ctx, plainLn) })
	default:
		// The CA certificate is public: plain serves it too, so that
		// `curl -o ca.crt http://master/ca/dcos-ca.crt` bootstraps trust
		// (check its fingerprint, as `dcos cluster setup` asks users to).
		h := front(f, nil, ar.Handler())
		if m.cfg.AdminRouterHTTP == HTTPRedirect {
			h = redirectToTLS(f, h)
		}
		srv := m.arServer(ctx, h)
		run(func() error {
			return serveErr("admin router http", httpserve.Run(ctx, srv, plainLn, m.cfg.ShutdownTimeout, nil))
		})
	}
	if f != nil && f.ln != nil {
		join := m.joinPolicy(f).Handler()
		srv := m.arServer(ctx, front(f, join, ar.Handler()))
		tlsLn := tls.NewListener(f.ln, pki.ServerTLSConfig(f.certs.GetCertificate))
		run(func() error {
			return serveErr("admin router https", httpserve.Run(ctx, srv, tlsLn, m.cfg.ShutdownTimeout, nil))
		})
	}
	g.Go(func() error {
		wg.Wait()
		m.front.transport().CloseIdleConnections()
		return nil
	})
}

// front serves the PKI's own paths (the CA certificate; with join set,
// the join endpoint) and hands everything else to the router untouched. It
// matches exact paths rather than using http.ServeMux, which would clean
// paths and redirect before the router sees (and refuses) them.
func front(f *tlsFront, join, router http.Handler) http.Handler {
	ca := pki.CACertHandler(f.ca)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == pki.CACertPath && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			ca.ServeHTTP(w, r)
		case join != nil && r.URL.Path == pki.JoinPath && r.Method == http.MethodPost:
			join.ServeHTTP(w, r)
		case join != nil && f.renew != nil && r.URL.Path == pki.RenewPath && r.Method == http.MethodPost:
			f.renew.ServeHTTP(w, r)
		case f.admin != nil && securityPath(r.URL.Path):
			f.admin.ServeHTTP(w, r)
		default:
			router.ServeHTTP(w, r)
		}
	})
}

// arServer is an http.Server with the Admin Router's limits. No read or
// write timeout: bodies stream both ways (see adminrouter.Router.Serve).
func (m *Master) arServer(ctx context.Context, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(m.log.Handler(), slog.LevelDebug),
	}
}

func serveErr(what string, err error) error {
	if err != nil {
		return fmt.Errorf("master: %s: %w", what, err)
	}
	return nil
}

// redirectToTLS answers 307 to the same host, path and query on the HTTPS
// port, except for plainPath paths, which plain serves.
func redirectToTLS(f *tlsFront, plain http.Handler) http.Handler {
	_, tlsPort, _ := net.SplitHostPort(f.addr)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if plainPath(r.URL.Path) {
			plain.ServeHTTP(w, r)
			return
		}
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		if !redirectHost(host) {
			host, _, _ = net.SplitHostPort(f.addr) // no usable Host header: our own address
		}
		hostPort := net.JoinHostPort(host, tlsPort)
		if tlsPort == "443" {
			hostPort = host
			if net.ParseIP(host) != nil && net.ParseIP(host).To4() == nil {
				hostPort = "[" + host + "]"
			}
		}
		u := url.URL{Scheme: "https", Host: hostPort, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
		w.Header().Set("Location", u.String())
		w.WriteHeader(http.StatusTemporaryRedirect)
	})
}

// redirectHost accepts an IP address or a DNS name (letters, digits, '-',
// '_', '.') to redirect to.
func redirectHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// AdminRouterTLSAddr is the advertised host:port of the Admin Router's
// HTTPS port ("" before Ready or when disabled).
func (m *Master) AdminRouterTLSAddr() string {
	if f := m.front.tls.Load(); f != nil {
		return f.addr // "" when only API TLS is on
	}
	return ""
}

// AdminRouterTLSURL is the https base URL of the Admin Router ("" before
// Ready or when disabled). Its certificate verifies against CACertPEM.
func (m *Master) AdminRouterTLSURL() string {
	if a := m.AdminRouterTLSAddr(); a != "" {
		return "https://" + a
	}
	return ""
}

// CACertPEM is the cluster CA certificate (nil before Ready or when HTTPS is
// off).
func (m *Master) CACertPEM() []byte {
	if f := m.front.tls.Load(); f != nil {
		return f.ca.CertPEM()
	}
	return nil
}

// JoinToken is the cluster's join token (zero before Ready or when HTTPS is
// off). Its String redacts the secret; Encode is the full token.
func (m *Master) JoinToken() pki.JoinToken {
	if f := m.front.tls.Load(); f != nil {
		return f.getToken()
	}
	return pki.JoinToken{}
}

func (f *tlsFront) setToken(t pki.JoinToken) {
	f.tokenMu.Lock()
	f.token = t
	f.tokenMu.Unlock()
}

func (f *tlsFront) getToken() pki.JoinToken {
	f.tokenMu.Lock()
	defer f.tokenMu.Unlock()
	return f.token
}

// connTracker knows the open TLS connections of a server, to cut those
// whose client certificate gets revoked.
type connTracker struct {
	mu    sync.Mutex
	conns map[*tls.Conn]struct{}
}

func (t *connTracker) state(c net.Conn, s http.ConnState) {
	tc, ok := c.(*tls.Conn)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch s {
	case http.StateNew:
		t.conns[tc] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		delete(t.conns, tc)
	}
}

// cut closes every connection whose client certificate revoked reports,
// and returns how many.
func (t *connTracker) cut(revoked func(*x509.Certificate) bool) int {
	t.mu.Lock()
	conns := make([]*tls.Conn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	n := 0
	for _, c := range conns {
		cs := c.ConnectionState()
		if cs.HandshakeComplete && len(cs.PeerCertificates) > 0 && revoked(cs.PeerCertificates[0]) {
			c.Close()
			n++
		}
	}
	return n
}
