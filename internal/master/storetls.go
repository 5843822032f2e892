package master

// This file gives the store mutual TLS between masters, and solves its
// bootstrap problem: the cluster CA lives in the store, but the store's
// members need certificates before the store exists.
//
//	first --masters entry (bootstrap)        every other master
//	─────────────────────────────────        ──────────────────
//	DATA_DIR/pki: CA, KEK, master secret     (nothing on disk yet)
//	issue own peer cert from the disk CA
//	serve /ca/dcos-ca.crt + master join  ◄── POST /basalt/v1/join role=master
//	  on the Admin Router HTTPS port          (master join token; CA pinned)
//	                                     ──► peer cert for its names + KEK
//	start etcd member (https, mTLS)          write DATA_DIR/pki, start member
//	           └──────── quorum ─────────────────┘
//	store the disk CA (key sealed with the KEK) and the master secret;
//	the bootstrap server hands its listener to the Admin Router.
//
// A master that has joined once keeps its files and never needs the token
// again. See docs/tls.md.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/basalt-dcos/basalt/internal/pki"
	"github.com/basalt-dcos/basalt/internal/store"
)

const (
	// peerCertTTL is the lifetime of a master's store certificate; it is
	// re-issued at start once a third of it remains.
	peerCertTTL = 365 * 24 * time.Hour
	// MasterJoinTokenFile is where the bootstrap master writes the master
	// join token (0600, in its data dir).
	MasterJoinTokenFile = "master-join-token"
	// pkiDirName is the master's PKI directory inside its data dir.
	pkiDirName = "pki"
)

func (c Config) validateStoreTLS() []error {
	var errs []error
	if len(c.StoreEndpoints) > 0 {
		set := 0
		for _, f := range []string{c.StoreCA, c.StoreCert, c.StoreKey} {
			if f != "" {
				set++
			}
		}
		if set != 0 && set != 3 {
			errs = append(errs, errors.New("store-ca, store-cert and store-key go together"))
		}
	} else if c.StoreCA != "" || c.StoreCert != "" || c.StoreKey != "" {
		errs = append(errs, errors.New("store-ca, store-cert and store-key are for --store-endpoints (the embedded store uses the cluster CA)"))
	}
	if c.JoinToken != "" {
		if _, err := pki.ParseJoinToken(c.JoinToken); err != nil { // never quotes the secret
			errs = append(errs, err)
		}
	}
	if c.JoinURL != "" {
		if u, err := url.Parse(c.JoinURL); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("join-url %q: want https://host:port", c.JoinURL))
		}
	}
	if c.storeTLSOn() && len(c.Masters) > 1 && c.AdminRouterTLSListen == "" {
		errs = append(errs, errors.New("store-tls with several --masters needs adminrouter-tls-listen: masters join through it (or set --store-tls=false)"))
	}
	return errs
}

// storeTLSOn reports whether the embedded store speaks TLS: --store-tls and
// ports that other hosts reach (a --masters cluster or a fixed client port).
// A lone member on free loopback ports (basalt up, tests) stays plain.
func (c Config) storeTLSOn() bool {
	return c.StoreTLS && len(c.StoreEndpoints) == 0 && (len(c.Masters) > 1 || c.StoreClientPort != 0)
}

// pkiDir is this master's PKI directory.
func (m *Master) pkiDir() pki.MasterDir {
	return pki.MasterDir(filepath.Join(m.cfg.DataDir, pkiDirName))
}

// storeBoot is what prepareStoreTLS leaves for setupPKI once the store is up.
type storeBoot struct {
	boot *pki.Bootstrapped // the bootstrap master's disk PKI (nil on others)
	kek  *pki.KEK          // nil: keys stay in the clear (no KEK file)
	// tlsLn is the Admin Router's HTTPS listener, bound early by the
	// bootstrap master to serve the master join before the store exists.
	tlsLn net.Listener
	stop  func()   // stops the bootstrap server, keeping tlsLn open
	names []string // this master's store certificate names
}

// isBootstrap reports whether this master bootstraps the store's PKI: the
// first --masters entry, or a lone member.
func (m *Master) isBootstrap(sc store.Config) bool {
	return len(sc.InitialCluster) == 0 || sc.InitialCluster[0].Name == sc.Name
}

// prepareStoreTLS sets sc.TLS (and https URLs) before the store opens. The
// bootstrap master creates its disk PKI and serves the master join; the
// others join (unless they did before). It also picks the KEK.
func (m *Master) prepareStoreTLS(ctx context.Context, sc *store.Config, ip string) (*storeBoot, error) {
	dir := m.pkiDir()
	sb := &storeBoot{stop: func() {}}
	if !sc.Embedded() {
		if m.cfg.StoreCA != "" {
			sc.TLS = &store.TLSFiles{CAFile: m.cfg.StoreCA, CertFile: m.cfg.StoreCert, KeyFile: m.cfg.StoreKey}
		}
		// External etcd: no join flow hands masters a common KEK, and masters
		// that each made their own could not read each other's keys. The
		// operator creates one and copies it to every master (docs/tls.md);
		// without it the keys stay in the clear.
		kek, err := dir.LoadKEK()
		if errors.Is(err, fs.ErrNotExist) {
			m.log.Warn("no key-encryption key (DATA_DIR/pki/kek): private keys are stored in the clear in the external etcd")
			return sb, nil
		}
		if err != nil {
			return nil, err
		}
		sb.kek = kek
		return sb, nil
	}
	if !m.cfg.storeTLSOn() {
		// A lone member makes its own KEK. Masters of a plain-HTTP --masters
		// cluster have no join flow to share one: they use a KEK the
		// operator copied to each (docs/tls.md), else keys stay in the clear.
		var err error
		if len(sc.InitialCluster) <= 1 {
			sb.kek, err = dir.LoadOrCreateKEK()
		} else if sb.kek, err = dir.LoadKEK(); errors.Is(err, fs.ErrNotExist) {
			sb.kek, err = nil, nil
		}
		return sb, err
	}
	sc.TLS = dir.StoreTLS()
	if sc.ClientURL == "" {
		// Pick the free loopback client port now (store.Open would pick
		// one on a random 127/8 address) on 127.0.0.1, which the store
		// certificate names whatever the port is after a restart.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("store client port: %w", err)
		}
		sc.ClientURL = "https://" + l.Addr().String()
		l.Close()
	}
	sc.ClientURL = toHTTPS(sc.ClientURL)
	sc.PeerURL = toHTTPS(sc.PeerURL)
	for i := range sc.InitialCluster {
		sc.InitialCluster[i].PeerURL = toHTTPS(sc.InitialCluster[i].PeerURL)
	}
	names := m.peerNames(*sc, ip)
	sb.names = names
	if m.isBootstrap(*sc) {
		boot, err := dir.Bootstrap()
		if err != nil {
			return nil, err
		}
		if _, err := dir.EnsurePeerCert(boot.CA, names, peerCertTTL); err != nil {
			return nil, fmt.Errorf("store certificate: %w", err)
		}
		path := filepath.Join(m.cfg.DataDir, MasterJoinTokenFile)
		if err := writeSecret(path, boot.MasterToken.Encode()+"\n"); err != nil {
			return nil, fmt.Errorf("write the master join token: %w", err)
		}
		sb.boot, sb.kek = boot, boot.KEK
		m.masterToken.Store(&boot.MasterToken)
		if len(sc.InitialCluster) > 1 {
			if err := m.serveBootstrapJoin(sb, ip); err != nil {
				return nil, err
			}
		}
		m.log.Info("store TLS bootstrapped", "ca_sha256", boot.CA.Hash(), "master_join_token_file", path)
		return sb, nil
	}
	if !dir.Joined() {
		if err := m.joinAsMaster(ctx, *sc, names); err != nil {
			return nil, err
		}
	}
	kek, err := dir.LoadKEK()
	if err != nil {
		return nil, err
	}
	sb.kek = kek
	return sb, nil
}

// peerNames are the names this master's store certificate covers: every
// address its member is dialed or checked on.
func (m *Master) peerNames(sc store.Config, ip string) []string {
	names := []string{ip}
	add := func(n string) {
		if n == "" {
			return
		}
		for _, have := range names {
			if have == n {
				return
			}
		}
		names = append(names, n)
	}
	for _, u := range []string{sc.PeerURL, sc.ClientURL} {
		if pu, err := url.Parse(u); err == nil {
			add(pu.Hostname())
		}
	}
	for _, mem := range sc.InitialCluster {
		if mem.Name == sc.Name {
			if pu, err := url.Parse(mem.PeerURL); err == nil {
				add(pu.Hostname())
			}
		}
	}
	add(m.cfg.Hostname)
	add("localhost")
	add("127.0.0.1")
	return names
}

func toHTTPS(u string) string {
	if rest, ok := strings.CutPrefix(u, "http://"); ok {
		return "https://" + rest
	}
	return u
}

// joinURL is where a joining master asks: --join-url, else the first
// --masters host on this master's Admin Router HTTPS port.
func (m *Master) joinURL(sc store.Config) (string, error) {
	if m.cfg.JoinURL != "" {
		return strings.TrimSuffix(m.cfg.JoinURL, "/"), nil
	}
	_, port, err := net.SplitHostPort(m.cfg.AdminRouterTLSListen)
	if err != nil || port == "0" || len(sc.InitialCluster) == 0 {
		return "", errors.New("set --join-url to a running master's https://host:port (the Admin Router HTTPS port)")
	}
	pu, err := url.Parse(sc.InitialCluster[0].PeerURL)
	if err != nil {
		return "", err
	}
	return "https://" + net.JoinHostPort(pu.Hostname(), port), nil
}

// joinAsMaster obtains this master's store certificate and the KEK with
// the master join token, retrying while the bootstrap master is not up yet
// (masters of a new cluster start together). A refusal (wrong token, wrong
// CA) ends it at once.
func (m *Master) joinAsMaster(ctx context.Context, sc store.Config, names []string) error {
	if m.cfg.JoinToken == "" {
		return fmt.Errorf("store TLS: this master (%s) is not the first of --masters and has not joined: set --join-token to the first master's DATA_DIR/%s (or --store-tls=false)", sc.Name, MasterJoinTokenFile)
	}
	tok, err := pki.ParseJoinToken(m.cfg.JoinToken)
	if err != nil {
		return err
	}
	u, err := m.joinURL(sc)
	if err != nil {
		return fmt.Errorf("store TLS: %w", err)
	}
	backoff := 100 * time.Millisecond
	for {
		j, kek, err := pki.JoinMaster(ctx, u, tok, sc.Name, names, nil)
		if err == nil {
			if err := m.pkiDir().SaveJoin(j, kek); err != nil {
				return err
			}
			m.log.Info("joined the cluster as a master", "join_url", u, "ca_sha256", pki.CertHash(j.CA), "kek_id", kek.ID())
			return nil
		}
		var se *pki.JoinStatusError
		if errors.As(err, &se) || errors.Is(err, pki.ErrCAMismatch) {
			return fmt.Errorf("store TLS: %w", err)
		}
		m.log.Debug("join: master not reachable yet; retrying", "join_url", u, "error", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("store TLS: join through %s: %w (last: %v)", u, ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// serveBootstrapJoin binds the Admin Router's HTTPS port now and serves the
// CA certificate and the master join on it until the store is up (sb.stop).
// Everything else answers 503.
func (m *Master) serveBootstrapJoin(sb *storeBoot, ip string) error {
	if m.cfg.AdminRouterTLSListen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", m.cfg.AdminRouterTLSListen)
	if err != nil {
		return fmt.Errorf("admin router: listen %s: %w", m.cfg.AdminRouterTLSListen, err)
	}
	tcp, ok := ln.(*net.TCPListener)
	if !ok {
		ln.Close()
		return errors.New("admin router: not a TCP listener")
	}
	certs, err := pki.NewReloader(sb.boot.CA, m.certNames(ip), m.cfg.TLSCertTTL)
	if err != nil {
		ln.Close()
		return err
	}
	secret := sb.boot.MasterToken.Secret
	policy := pki.JoinPolicy{CA: sb.boot.CA, MasterSecret: func() string { return secret }, KEK: sb.boot.KEK, MasterTTL: peerCertTTL, Failures: m.front.joinFails, Logger: m.log}
	f := &tlsFront{ca: sb.boot.CA}
	notYet := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "master starting: the store is not up yet", http.StatusServiceUnavailable)
	})
	srv := m.arServer(context.Background(), front(f, policy.Handler(), notYet))
	hl := &handoffListener{TCPListener: tcp}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(tls.NewListener(hl, pki.ServerTLSConfig(certs.GetCertificate)))
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	m.bootstrapURL.Store("https://" + net.JoinHostPort(ip, port))
	sb.tlsLn = ln
	sb.stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.ShutdownTimeout)
		defer cancel()
		_ = srv.Shutdown(ctx) // closes hl, not ln
		<-done
		_ = tcp.SetDeadline(time.Time{})
	}
	m.log.Info("serving the master join until the store is up", "addr", net.JoinHostPort(ip, port))
	return nil
}

// handoffListener lets a short-lived server accept on a TCP listener and
// give it back: Close wakes a blocked Accept with a deadline and leaves the
// socket open for the next server.
type handoffListener struct {
	*net.TCPListener
	closed atomic.Bool
}

func (l *handoffListener) Accept() (net.Conn, error) {
	c, err := l.TCPListener.Accept()
	if l.closed.Load() {
		if c != nil {
			c.Close() // the client retries and reaches the next server
		}
		return nil, net.ErrClosed
	}
	return c, err
}

func (l *handoffListener) Close() error {
	l.closed.Store(true)
	return l.SetDeadline(time.Now())
}

// MasterJoinToken is the master join token when this master bootstrapped
// the store's PKI (zero otherwise). Encode is the full token.
func (m *Master) MasterJoinToken() pki.JoinToken {
	if t := m.masterToken.Load(); t != nil {
		return *t
	}
	return pki.JoinToken{}
}

// BootstrapJoinURL is the https URL on which the bootstrap master serves
// the master join before its store is up ("" otherwise).
func (m *Master) BootstrapJoinURL() string {
	v, _ := m.bootstrapURL.Load().(string)
	return v
}

// checkStoreCA makes sure the store's CA is the one this master's store
// certificate chains to, and renews that certificate from it when a third
// of its life remains (etcd picks up the new files at the next handshake).
func (m *Master) checkStoreCA(ca *pki.CA, sb *storeBoot) error {
	dir := m.pkiDir()
	disk, err := dir.CACert()
	if err != nil {
		return fmt.Errorf("store TLS: %w", err)
	}
	if pki.CertHash(disk) != ca.Hash() {
		return fmt.Errorf("store TLS: the store's CA %s is not %s in %s", ca.Hash(), pki.CertHash(disk), string(dir))
	}
	renewed, err := dir.EnsurePeerCert(ca, sb.names, peerCertTTL)
	if err != nil {
		return fmt.Errorf("store TLS: renew the store certificate: %w", err)
	}
	if renewed {
		m.log.Info("renewed the store certificate")
	}
	return nil
}

// masterSecretSource returns the master join secret, reading it from the
// store until the bootstrap master has stored it (a master that started
// before the bootstrap master finished its setup finds "" at first).
func (m *Master) masterSecretSource(st *store.Store, kek *pki.KEK, known string) func() string {
	var cur atomic.Value
	cur.Store(known)
	return func() string {
		if s := cur.Load().(string); s != "" {
			return s
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := pki.EnsureMasterSecret(ctx, st, kek, "")
		if err != nil {
			m.log.Warn("read the master join secret", "error", err)
			return ""
		}
		cur.Store(s)
		return s
	}
}
