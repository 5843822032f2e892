// Package master composes one Basalt master process: the store (an embedded
// etcd member, or a client of an external etcd), the leader-elected Mesos
// master kernel (internal/mesos) with its read side (internal/mesos/state),
// and the HTTP server on the master port (5050).
//
// It holds no business logic: it binds, opens, wires and shuts down. It must
// not exit the process; only internal/cli, internal/clustertest and e2e may
// import it.
package master

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/basalt-dcos/basalt/internal/adminrouter"
	"github.com/basalt-dcos/basalt/internal/dns"
	"github.com/basalt-dcos/basalt/internal/httpserve"
	"github.com/basalt-dcos/basalt/internal/iam"
	"github.com/basalt-dcos/basalt/internal/marathon"
	marathonapi "github.com/basalt-dcos/basalt/internal/marathon/api"
	"github.com/basalt-dcos/basalt/internal/mesos"
	"github.com/basalt-dcos/basalt/internal/mesos/state"
	"github.com/basalt-dcos/basalt/internal/pki"
	"github.com/basalt-dcos/basalt/internal/ratelimit"
	"github.com/basalt-dcos/basalt/internal/store"
	"github.com/basalt-dcos/basalt/internal/version"
	"github.com/basalt-dcos/basalt/pkg/operator"
)

// Master is one master process.
type Master struct {
	cfg Config
	log *slog.Logger

	ready     chan struct{}
	readyOnce sync.Once
	addr      atomic.Value // string
	mesos     atomic.Pointer[mesos.Master]
	marathon  atomic.Pointer[marathon.Marathon]
	marAddr   atomic.Value // string
	arAddr    atomic.Value // string
	dns       atomic.Pointer[dns.Node]
	st        atomic.Pointer[store.Store]
	iam       atomic.Pointer[iam.Service]

	bootstrapPassword atomic.Value // string
	front             frontState   // HTTPS and the cluster PKI (tls.go)
	masterToken       atomic.Pointer[pki.JoinToken]
	bootstrapURL      atomic.Value // string
}

// New validates cfg. It does no I/O.
func New(cfg Config, logger *slog.Logger) (*Master, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("master config: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m := &Master{cfg: cfg, log: logger.With("component", "master"), ready: make(chan struct{})}
	m.addr.Store("")
	m.marAddr.Store("")
	m.arAddr.Store("")
	m.front.joinFails = ratelimit.NewFailures(pki.DefaultJoinFailBurst, pki.DefaultJoinFailRefill)
	return m, nil
}

// Ready is closed once the HTTP server listens and the store is open.
func (m *Master) Ready() <-chan struct{} { return m.ready }

// Addr is the advertised host:port of the HTTP API ("" before Ready).
func (m *Master) Addr() string { return m.addr.Load().(string) }

// URL is the base URL of this master's HTTP API ("" before Ready).
func (m *Master) URL() string {
	if a := m.Addr(); a != "" {
		return "http://" + a
	}
	return ""
}

// IsLeader reports whether this master leads the Mesos kernel.
func (m *Master) IsLeader() bool {
	mm := m.mesos.Load()
	return mm != nil && mm.IsLeader()
}

// Mesos returns the Mesos master component (nil before Ready).
func (m *Master) Mesos() *mesos.Master { return m.mesos.Load() }

// Marathon returns the Marathon component (nil before Ready or when disabled).
func (m *Master) Marathon() *marathon.Marathon { return m.marathon.Load() }

// MarathonURL is the base URL of this master's Marathon API ("" before
// Ready or when disabled).
func (m *Master) MarathonURL() string {
	if a := m.marAddr.Load().(string); a != "" {
		return "http://" + a
	}
	return ""
}

// Store returns the open store (nil before Ready or after Run returns).
func (m *Master) Store() *store.Store { return m.st.Load() }

// advertiseIP picks the IPv4 address to advertise.
func advertiseIP(cfg Config, listenHost string) string {
	if cfg.AdvertiseIP != "" {
		return cfg.AdvertiseIP
	}
	if ip := net.ParseIP(listenHost); ip != nil && ip.To4() != nil && !ip.IsUnspecified() {
		return ip.String()
	}
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
				return ipn.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

// storeConfig builds the store configuration for this master.
func (m *Master) storeConfig(ip string) (store.Config, error) {
	cfg := m.cfg
	sc := store.Config{
		Prefix:            cfg.StorePrefix,
		HeartbeatInterval: cfg.StoreHeartbeatInterval,
		ElectionTimeout:   cfg.StoreElectionTimeout,
		SessionTTL:        cfg.StoreSessionTTL,
	}
	if len(cfg.StoreEndpoints) > 0 {
		sc.Endpoints = cfg.StoreEndpoints
		return sc, nil
	}
	sc.DataDir = filepath.Join(cfg.DataDir, "store")
	if cfg.StoreClientPort != 0 {
		sc.ClientURL = "http://" + net.JoinHostPort(ip, strconv.Itoa(cfg.StoreClientPort))
	}
	members, err := parseMasters(cfg.Masters, cfg.StorePeerPort)
	if err != nil {
		return sc, err
	}
	if len(members) == 0 {
		return sc, nil // single member on a free loopback peer port
	}
	name := cfg.StoreName
	if name == "" {
		for _, mem := range members {
			if h, _, err := net.SplitHostPort(trimScheme(mem.PeerURL)); err == nil && (h == ip || h == cfg.Hostname) {
				name = mem.Name
				break
			}
		}
	}
	if name == "" {
		return sc, fmt.Errorf("none of --masters %v is this master (%s); set --store-name", cfg.Masters, ip)
	}
	sc.Name = name
	sc.InitialCluster = members
	return sc, nil
}

func trimScheme(u string) string {
	for _, p := range []string{"http://", "https://"} {
		if len(u) > len(p) && u[:len(p)] == p {
			return u[len(p):]
		}
	}
	return u
}

// Run binds the HTTP listener, opens the store, and runs the Mesos master
// and the HTTP server until ctx ends. Shutdown resigns leadership, stops the
// server and closes the store.
func (m *Master) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", m.cfg.Listen)
	if err != nil {
		return fmt.Errorf("master: listen %s: %w", m.cfg.Listen, err)
	}
	defer ln.Close()
	host, portStr, _ := net.SplitHostPort(ln.Addr().String())
	port, _ := strconv.Atoi(portStr)
	ip := advertiseIP(m.cfg, host)
	advertised := net.JoinHostPort(ip, portStr)
	baseURL := "http://" + advertised

	sc, err := m.storeConfig(ip)
	if err != nil {
		return fmt.Errorf("master: %w", err)
	}
	sb, err := m.prepareStoreTLS(ctx, &sc, ip) // storetls.go
	if err != nil {
		return fmt.Errorf("master: %w", err)
	}
	if sb.tlsLn != nil {
		defer sb.tlsLn.Close()
	}
	st, err := store.Open(ctx, sc, m.log)
	sb.stop()
	if err != nil {
		return fmt.Errorf("master: open store: %w", err)
	}
	m.st.Store(st)
	defer func() {
		m.st.Store(nil)
		if err := st.Close(); err != nil {
			m.log.Warn("close store", "error", err)
		}
	}()

	// The IAM comes first: the component ports below check tokens with it
	// and the components call each other with its system accounts.
	var auth *iam.Service
	if m.cfg.AdminRouterListen != "" || m.cfg.AdminRouterTLSListen != "" || m.cfg.securityOn() {
		auth, err = m.newIAM(ctx, st, sb.kek)
		if err != nil {
			return fmt.Errorf("master: %w", err)
		}
		defer auth.Close()
		m.iam.Store(auth)
	}

	// The PKI next: with --api-tls the components below call the masters
	// (the leaders of Mesos and Marathon) over TLS, as this master.
	arTLS, err := m.setupPKI(ctx, st, ip, sb)
	if err != nil {
		return fmt.Errorf("master: %w", err)
	}
	if arTLS != nil && arTLS.ln != nil {
		defer arTLS.ln.Close()
	}
	defer arTLS.closePeers()
	masterURL := baseURL // how this master's components reach the Mesos leader (via this master)
	var mesosProxy http.RoundTripper
	if arTLS != nil && arTLS.peerTLS != nil {
		masterURL = "https://" + advertised
		mesosProxy = arTLS.peerTransport(16)
	}

	kcfg := m.cfg.kernelConfig(baseURL, ip, port)
	kcfg.Version = version.Version
	mm, err := mesos.New(kcfg, mesos.Deps{Registry: newStoreRegistry(st), Elector: storeElector{st}, Transport: mesosProxy, Logger: m.log})
	if err != nil {
		return fmt.Errorf("master: %w", err)
	}
	mux := http.NewServeMux()
	mm.Register(mux)
	if auth != nil {
		// The masters' public keys, for agents' Admin Routers (open, as
		// on the Admin Router's /acs/api/v1/auth/jwks).
		mux.HandleFunc("GET "+jwksPath, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(auth.JWKS())
		})
	}
	read := http.NewServeMux()
	state.NewAPI(mm, mm, m.log).Register(read)
	mux.Handle("/", mm.LeaderOnly(read))
	srv := &http.Server{
		Handler:           m.guardAgentAPI(m.guard("Mesos master", mesosPortRID, mesosOpen, mux)), // tls.go, portauth.go
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      time.Minute, // streams clear their own write deadline
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(m.log.Handler(), slog.LevelDebug),
	}
	var mar *marathon.Marathon
	var marSrv *http.Server
	var marLn net.Listener
	if m.cfg.Marathon {
		marLn, err = net.Listen("tcp", m.cfg.MarathonListen)
		if err != nil {
			return fmt.Errorf("master: marathon: listen %s: %w", m.cfg.MarathonListen, err)
		}
		defer marLn.Close()
		_, mport, _ := net.SplitHostPort(marLn.Addr().String())
		madv := net.JoinHostPort(ip, mport)
		mcfg := m.cfg.marathonConfig(masterURL, madv)
		mesosClient := arTLS.peerClient(marathonMesosClient(), 64)
		mar, err = marathon.New(mcfg, marathon.Deps{Store: st, Logger: m.log, MesosClient: m.systemClient(mesosClient, iam.SystemMarathon)})
		if err != nil {
			return fmt.Errorf("master: %w", err)
		}
		apiOpts := marathonapi.Options{AppDef: mcfg.AppDefOptions(), Self: madv}
		if arTLS != nil && arTLS.peerTLS != nil {
			// Followers proxy to the leader's port over TLS (serveMarathonTLS).
			apiOpts.HTTPClient, apiOpts.LeaderScheme = arTLS.peerClient(&http.Client{}, 16), "https"
		}
		marSrv = &http.Server{
			Handler:           m.guard("Marathon", marathonPortRID, marathonOpen, marathonapi.New(mar, apiOpts, m.log).Handler()),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    1 << 20,
			ErrorLog:          slog.NewLogLogger(m.log.Handler(), slog.LevelDebug),
		}
		m.marathon.Store(mar)
		m.marAddr.Store(madv)
	}
	var dnsNode *dns.Node
	var follower *operator.Follower
	if m.cfg.DNS.Enabled {
		dnsNode, follower, err = m.newDNS(ip, masterURL, arTLS)
		if err != nil {
			return fmt.Errorf("master: %w", err)
		}
		m.dns.Store(dnsNode)
	}
	var ar *adminrouter.Router
	var arLn net.Listener
	if m.cfg.AdminRouterListen != "" || m.cfg.AdminRouterTLSListen != "" {
		if m.cfg.AdminRouterListen != "" {
			arLn, err = net.Listen("tcp", m.cfg.AdminRouterListen)
			if err != nil {
				return fmt.Errorf("master: admin router: listen %s: %w", m.cfg.AdminRouterListen, err)
			}
			defer arLn.Close()
			_, arPort, _ := net.SplitHostPort(arLn.Addr().String())
			m.arAddr.Store(net.JoinHostPort(ip, arPort))
		}
		ar, err = m.newAdminRouter(ip, mm, mar, st, auth)
		if err != nil {
			return fmt.Errorf("master: %w", err)
		}
	}
	var debugSrv *http.Server
	var debugLn net.Listener
	if m.cfg.DebugListen != "" {
		debugLn, err = net.Listen("tcp", m.cfg.DebugListen)
		if err != nil {
			return fmt.Errorf("master: debug: listen %s: %w", m.cfg.DebugListen, err)
		}
		defer debugLn.Close()
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		debugSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		m.log.Info("serving /debug/pprof", "listen", debugLn.Addr().String())
	}
	m.mesos.Store(mm)
	m.addr.Store(advertised)
	m.log.Info("master serving", "addr", advertised, "listen", ln.Addr().String(), "store_members", len(sc.InitialCluster))

	g, gctx := errgroup.WithContext(ctx)
	mesosDone := make(chan struct{})
	g.Go(func() error {
		defer close(mesosDone)
		if err := mm.Run(gctx); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("mesos master: %w", err)
		}
		return nil
	})
	apiLn := m.serveAPITLS(gctx, g, ln, srv, mesosDone, arTLS) // ln, or its plain side with --api-tls
	g.Go(func() error {
		// After the kernel closed its streams, so Shutdown does not wait on them.
		if err := httpserve.Run(gctx, srv, apiLn, m.cfg.ShutdownTimeout, mesosDone); err != nil {
			return fmt.Errorf("master: serve: %w", err)
		}
		return nil
	})
	if mar != nil {
		marDone := make(chan struct{})
		g.Go(func() error {
			defer close(marDone)
			if err := mar.Run(gctx); err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("marathon: %w", err)
			}
			return nil
		})
		// Event streams end when the master stops, so Shutdown need not wait for them.
		marSrv.BaseContext = func(net.Listener) context.Context { return gctx }
		marPlain := m.serveMarathonTLS(gctx, g, marLn, marSrv, marDone, arTLS) // peertls.go
		g.Go(func() error {
			if err := httpserve.Run(gctx, marSrv, marPlain, m.cfg.ShutdownTimeout, marDone); err != nil {
				return fmt.Errorf("master: marathon serve: %w", err)
			}
			return nil
		})
	}
	if ar != nil {
		m.serveAdminRouter(gctx, g, ar, arLn, arTLS)
	}
	if arTLS != nil {
		g.Go(func() error { return arTLS.deny.Run(gctx, arTLS.denyRev) })
	}
	if debugSrv != nil {
		g.Go(func() error {
			if err := httpserve.Run(gctx, debugSrv, debugLn, m.cfg.ShutdownTimeout, nil); err != nil {
				return fmt.Errorf("master: debug serve: %w", err)
			}
			return nil
		})
	}
	if dnsNode != nil {
		g.Go(func() error {
			defer follower.HTTP.CloseIdleConnections() // no keep-alive goroutines outlive the master
			if err := follower.Run(gctx); err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("dns: follow the leader: %w", err)
			}
			return nil
		})
		g.Go(func() error { return dnsNode.Run(gctx) })
		select {
		case <-dnsNode.Ready():
		case <-gctx.Done():
		}
	}
	m.readyOnce.Do(func() { close(m.ready) })
	err = g.Wait()
	m.log.Info("master stopped")
	return err
}
