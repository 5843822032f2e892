// Package agent is Basalt's agent role (the Mesos agent): it registers with
// the leading master over the internal agent protocol (internal/agentapi),
// offers the host's resources, runs the tasks the master sends it through a
// containerizer, reports their states with reliable, checkpointed status
// updates, recovers its tasks after a restart, and serves the agent's HTTP
// endpoints (/state, /files, /metrics/snapshot, /monitor/statistics).
//
// It decides nothing about placement or allocation (the master does) and must
// not import the master's packages: the agent and the master share only
// agentapi and pkg/mesosv1. Health checks (health/) and the /files handler
// (files/) are subpackages.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/basalt-dcos/basalt/internal/agent/files"
	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/internal/containerizer/docker"
	"github.com/basalt-dcos/basalt/internal/containerizer/mesos"
	"github.com/basalt-dcos/basalt/internal/containerizer/posix"
	"github.com/basalt-dcos/basalt/internal/httpserve"
	"github.com/basalt-dcos/basalt/internal/l4lb"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Deps are the agent's collaborators.
type Deps struct {
	Logger *slog.Logger // nil: discard
	// Containerizers by name. nil: built from Config.Containerizers.
	Containerizers map[string]containerizer.Containerizer
	// HTTPClient talks to the masters and fetches http(s) URIs; nil: a
	// client without an overall timeout (the master stream is long-lived).
	HTTPClient *http.Client
}

// Agent is one agent. Create it with New and start it with Run.
type Agent struct {
	cfg Config
	// disc is the DNS server and VIP balancer (nil when both are off).
	disc *discovery
	log  *slog.Logger
	http *http.Client
	// masterHTTP talks to the masters only (over mTLS once joined): the
	// Admin Router's fetches of their public keys.
	masterHTTP *http.Client
	arAddr     atomic.Value // string: the Admin Router's bound address
	// fetchCache holds the downloads of URIs fetched with cache: true; nil
	// when the configured size is 0.
	fetchCache *fetchCache

	conts          map[string]containerizer.Containerizer
	ownConts       bool // conts were built by New: Run closes them when it returns
	defaultRuntime string
	isolation      StateIsolation // which runtime isolates plain tasks, and why not (isolation.go)
	ckpt           *checkpointer
	files          *files.Handler
	execs          *execSessions // task exec sessions (execapi.go)

	ready     chan struct{}
	startTime time.Time
	wake      chan struct{} // pokes the status update sender

	// Set once in Run before any goroutine starts; read-only afterwards.
	addr       string // bound listener address
	endpoint   string // advertised ip:port
	ip         string
	hostname   string
	resources  mesosv1.Resources
	attributes []mesosv1.Attribute
	runCtx     context.Context
	tasksWG    sync.WaitGroup

	// mu guards the agent's state below and every task's fields. Unlike a
	// single event-loop goroutine, a mutex lets the master connection, the
	// per-task goroutines (launch, wait, health) and the HTTP handlers each
	// block on their own I/O; the rule that keeps this simple is that no
	// I/O happens under mu (checkpoints are snapshotted under it and
	// written after it is released, ordered by per-file versions).
	mu                  sync.Mutex
	runtimes            []containerizer.RuntimeInfo // last probe of conts, by name
	agentID             string
	frameworks          map[string]*framework
	completedFrameworks []*framework
	conn                connState
	counters            counters
}

// connState is the agent's view of its master connection; guarded by mu.
type connState struct {
	connected  bool
	streamID   string
	masterBase string // scheme://host:port of the leader we are subscribed to
	masterInfo mesosv1.MasterInfo
}

// counters are cumulative metrics; guarded by mu.
type counters struct {
	validUpdates   int
	invalidUpdates int
	launchErrors   int
	recoveryErrors int
	terminal       map[string]int // terminal state → count of forgotten tasks
}

// New validates cfg and returns an agent. It does no I/O.
func New(cfg Config, deps Deps) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("agent config: %w", err)
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "agent")
	workDir, err := filepath.Abs(cfg.WorkDir)
	if err != nil {
		return nil, fmt.Errorf("agent work dir: %w", err)
	}
	cfg.WorkDir = workDir
	conts := deps.Containerizers
	var isolation StateIsolation
	if conts == nil {
		conts = map[string]containerizer.Containerizer{}
		for _, name := range cfg.Containerizers {
			switch name {
			case posix.Name:
				if conts[posix.Name] != nil {
					continue // built as the mesos runtime's fallback
				}
				p, err := newPosixRuntime(cfg, workDir, deps.Logger)
				if err != nil {
					return nil, fmt.Errorf("agent: %w", err)
				}
				conts[name] = p
			case docker.Name:
				// The work dir tells this agent's containers apart from
				// those of other agents on the same daemon.
				d, err := docker.New(docker.Config{
					Host:              cfg.Docker.host(),
					Owner:             workDir,
					AllowedParameters: cfg.Docker.AllowedParameters,
					AllowPrivileged:   cfg.Docker.AllowPrivileged,
				}, docker.Deps{Logger: deps.Logger})
				if err != nil {
					return nil, fmt.Errorf("agent: %w", err)
				}
				conts[name] = d
			case mesos.Name:
				if conts[posix.Name] != nil {
					// posix is listed first: the mesos runtime's fallback
					// would be the same runtime.
					if _, err := mesos.Available(); err != nil {
						continue
					}
				}
				cz, info, err := newMesosRuntime(cfg, workDir, deps.Logger, log, mesos.Available)
				if err != nil {
					return nil, fmt.Errorf("agent: %w", err)
				}
				conts[cz.Name()] = cz
				isolation = info
			default:
				return nil, fmt.Errorf("agent: containerizer %q is not available in this build (available: mesos, posix, docker)", name)
			}
		}
	}
	def := ""
	for _, name := range cfg.Containerizers {
		if _, ok := conts[name]; ok && name != "docker" {
			def = name
			break
		}
	}
	if def == "" {
		for name := range conts {
			if name != "docker" && (def == "" || name < def) {
				def = name
			}
		}
	}
	if def == "" {
		return nil, errors.New("agent: no containerizer for MESOS tasks (configure posix)")
	}
	if isolation.Runtime == "" {
		isolation.Runtime = def
	}
	client := deps.HTTPClient
	if client == nil {
		// Status updates and calls to the master go out concurrently; keep
		// their connections instead of dialing for each burst.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 16
		client = &http.Client{Transport: t}
	}
	a := &Agent{
		cfg:            cfg,
		log:            log,
		http:           client,
		fetchCache:     newFetchCache(cfg.FetcherCache, workDir, log),
		conts:          conts,
		ownConts:       deps.Containerizers == nil,
		defaultRuntime: def,
		isolation:      isolation,
		ckpt:           newCheckpointer(workDir),
		files:          files.New(log),
		execs:          newExecSessions(),
		ready:          make(chan struct{}),
		wake:           make(chan struct{}, 1),
		frameworks:     map[string]*framework{},
		counters:       counters{terminal: map[string]int{}},
	}
	disc, err := a.newDiscovery()
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	a.disc = disc
	return a, nil
}

// DNSAddr is the bound address of the agent's DNS server ("" when off or
// before it listens).
func (a *Agent) DNSAddr() string {
	if a.disc == nil || a.disc.node == nil {
		return ""
	}
	return a.disc.node.Addr()
}

// L4LBStatus is the VIP balancer's status (ok false when it is off).
func (a *Agent) L4LBStatus() (l4lb.Status, bool) {
	if a.disc == nil || a.disc.lb == nil {
		return l4lb.Status{}, false
	}
	return a.disc.lb.Status(), true
}

// Ready is closed once the agent's HTTP API listens.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// Addr returns the bound host:port of the HTTP API once Ready is closed.
func (a *Agent) Addr() string {
	select {
	case <-a.ready:
		return a.addr
	default:
		return ""
	}
}

// ID returns the agent id once the agent has registered (or recovered one
// from its checkpoint), else "".
func (a *Agent) ID() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.agentID
}

// Run starts the agent and blocks until ctx is done or it fails. Ending ctx
// shuts the agent down cleanly: it stops talking to the master and serving
// HTTP, and leaves its tasks running so that the next agent over the same
// work dir recovers them.
func (a *Agent) Run(ctx context.Context) error {
	a.startTime = time.Now()
	if err := os.MkdirAll(a.cfg.WorkDir, 0o755); err != nil {
		return fmt.Errorf("agent: create work dir: %w", err)
	}
	if err := a.ckpt.init(); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if err := a.setupIdentity(ctx); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	closeJoined, err := a.join(ctx) // join.go; no-op without --join-token
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	defer closeJoined()
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("agent: listen on %s: %w", a.cfg.Listen, err)
	}
	ar, arLn, err := a.newAdminRouter() // adminrouter.go
	if err != nil {
		ln.Close()
		return fmt.Errorf("agent: %w", err)
	}
	if arLn != nil {
		defer arLn.Close()
	}
	a.addr = ln.Addr().String()
	_, port, _ := net.SplitHostPort(a.addr)
	a.endpoint = net.JoinHostPort(a.ip, port)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.runCtx = runCtx
	if err := a.recover(runCtx); err != nil {
		ln.Close()
		a.closeContainerizers()
		return fmt.Errorf("agent: recover: %w", err)
	}

	srv := &http.Server{
		Handler:           withAdminRouter(ar, a.routes()), // adminrouter.go
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	g, gctx := errgroup.WithContext(runCtx)
	g.Go(func() error {
		if err := httpserve.Run(gctx, srv, ln, 5*time.Second, nil); err != nil {
			return fmt.Errorf("agent: serve http: %w", err)
		}
		return nil
	})
	if a.disc != nil {
		a.disc.run(gctx, g)
	}
	if ar != nil {
		g.Go(func() error { return ar.Serve(gctx, arLn) })
	}
	g.Go(func() error { return a.connectLoop(gctx) })
	g.Go(func() error { return a.sendLoop(gctx) })
	close(a.ready)
	a.log.Info("agent started", "addr", a.addr, "endpoint", a.endpoint, "hostname", a.hostname,
		"resources", a.resources.String(), "work_dir", a.cfg.WorkDir)
	err = g.Wait()
	cancel()
	a.tasksWG.Wait()
	a.closeContainerizers()
	a.log.Info("agent stopped")
	return err
}

// closeContainerizers releases what the runtimes the agent built keep
// besides containers (the posix runtime's idle warm shims); containers keep
// running for the next agent.
func (a *Agent) closeContainerizers() {
	if !a.ownConts {
		return
	}
	for name, cz := range a.conts {
		if c, ok := cz.(interface{ Close() error }); ok {
			if err := c.Close(); err != nil {
				a.log.Warn("close containerizer", "runtime", name, "error", err)
			}
		}
	}
}

// goTask runs f in a task goroutine that Run waits for before returning.
func (a *Agent) goTask(f func(ctx context.Context)) {
	a.tasksWG.Add(1)
	go func() {
		defer a.tasksWG.Done()
		f(a.runCtx)
	}()
}

// setupIdentity settles hostname, IP, resources and attributes.
func (a *Agent) setupIdentity(ctx context.Context) error {
	a.hostname = a.cfg.Hostname
	if a.hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("hostname: %w", err)
		}
		a.hostname = h
	}
	a.ip = a.cfg.AdvertiseIP
	if a.ip == "" {
		a.ip = detectIP(ctx, a.cfg.masterURLs())
	}
	explicit, err := mesosv1.ParseResources(a.cfg.Resources, a.cfg.defaultRole())
	if err != nil {
		return fmt.Errorf("resources: %w", err)
	}
	host, err := DetectHost(a.cfg.WorkDir)
	if err != nil {
		return err
	}
	detected, err := DetectedResources(host, a.cfg.Public)
	if err != nil {
		return err
	}
	a.resources = MergeResources(explicit, detected, a.cfg.defaultRole())
	attrs, err := mesosv1.ParseAttributes(a.cfg.Attributes)
	if err != nil {
		return fmt.Errorf("attributes: %w", err)
	}
	if a.cfg.Public {
		has := false
		for _, at := range attrs {
			has = has || at.Name == "public_ip"
		}
		if !has {
			attrs = append(attrs, mesosv1.Attribute{Name: "public_ip", Type: mesosv1.Text, Text: &mesosv1.ValueText{Value: "true"}})
		}
	}
	a.attributes = attrs
	return nil
}

// detectIP returns the local address that routes to the first master that
// resolves, else the first non-loopback IPv4 address, else 127.0.0.1.
func detectIP(ctx context.Context, masters []string) string {
	for _, m := range masters {
		host := hostOf(m)
		if host == "" {
			continue
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "udp", net.JoinHostPort(host, "9"))
		if err != nil {
			continue
		}
		ip := c.LocalAddr().(*net.UDPAddr).IP.String()
		c.Close()
		return ip
	}
	addrs, _ := net.InterfaceAddrs()
	for _, ad := range addrs {
		if n, ok := ad.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	return "127.0.0.1"
}

// agentInfo is how the agent describes itself to masters.
func (a *Agent) agentInfo(id string) mesosv1.AgentInfo {
	_, p, _ := net.SplitHostPort(a.endpoint)
	port := 0
	fmt.Sscan(p, &port)
	info := mesosv1.AgentInfo{
		Hostname:   a.hostname,
		Port:       port,
		Resources:  a.resources,
		Attributes: a.attributes,
	}
	if id != "" {
		info.ID = &mesosv1.ID{Value: id}
	}
	if a.cfg.Domain.Region != "" {
		fd := &mesosv1.FaultDomain{}
		fd.Region.Name = a.cfg.Domain.Region
		fd.Zone.Name = a.cfg.Domain.Zone
		info.Domain = &mesosv1.DomainInfo{FaultDomain: fd}
	}
	return info
}

// pid is the agent's libprocess-style pid, "slave(1)@ip:port".
func (a *Agent) pid() string { return "slave(1)@" + a.endpoint }
