package dns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/basalt-dcos/basalt/internal/dns/records"
	"github.com/basalt-dcos/basalt/internal/httpserve"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
	"github.com/basalt-dcos/basalt/pkg/operator"
)

// StateSource is where a Node learns the cluster's state: the leading
// master's operator event stream, mirrored (*operator.Follower).
type StateSource interface {
	// Changed receives a signal after the state changed (coalesced).
	Changed() <-chan struct{}
	// State is the current immutable view; never nil.
	State() *operator.State
}

// NodeConfig configures the DNS role of one node.
type NodeConfig struct {
	Server  Config
	Records records.Config
	// Masters are the masters' addresses (master.<domain>, zk-N.zk).
	Masters []netip.Addr
	// Listen is the DNS address (UDP and TCP on the same port; port 0
	// picks one).
	Listen string
	// HTTPListen is the Mesos-DNS HTTP API's address ("" = none).
	HTTPListen string
	// HTTPGuard, when set, wraps the HTTP API's handler (the master checks
	// credentials there when security is on).
	HTTPGuard func(http.Handler) http.Handler
}

// Node serves DNS for one node: it rebuilds the records whenever the
// followed state changes, swaps them into the server atomically, and hands
// the VIPs to OnVIPs (the l4lb balancer) when set. Without a StateSource it
// is a pure forwarder (an agent's local resolver).
type Node struct {
	cfg    NodeConfig
	src    StateSource
	onVIPs func([]records.VIP)
	log    *slog.Logger
	srv    *Server

	ready    chan struct{}
	once     sync.Once
	addr     atomic.Value // string
	httpAddr atomic.Value // string
	table    atomic.Pointer[records.Table]
	builds   atomic.Uint64
	// lastBuild is how long the last rebuild took (nanoseconds).
	lastBuild atomic.Int64
	// lastEnd is when the last rebuild finished (owned by the rebuild loop).
	lastEnd time.Time
	// seen is what the last build was made from (owned by the rebuild loop).
	seen    seenState
	skipped atomic.Uint64
}

// Rebuilds reports how many times the records were rebuilt, and how many
// state changes were skipped because nothing records depend on changed.
func (n *Node) Rebuilds() (built, skipped uint64) { return n.builds.Load(), n.skipped.Load() }

// minRebuildGap is the least time between the end of one rebuild and the
// start of the next.
const minRebuildGap = 20 * time.Millisecond

// rebuildPause is the pause after a rebuild, in multiples of its duration:
// 3 bounds rebuilds to a quarter of a core under continuous churn. At
// 100,000 tasks a rebuild takes hundreds of milliseconds; with a pause as
// long as the build (half a core) DNS took a sixth of a launch's CPU on
// 2 cores, for names that were at most a second fresher.
const rebuildPause = 3

// NewNode validates cfg and builds the server. It does no I/O. src may be
// nil (forward only); onVIPs may be nil.
func NewNode(cfg NodeConfig, src StateSource, onVIPs func([]records.VIP), logger *slog.Logger) (*Node, error) {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Listen == "" {
		return nil, errors.New("dns: listen address is required")
	}
	if len(cfg.Server.NSAddrs) == 0 {
		cfg.Server.NSAddrs = cfg.Masters
	}
	srv, err := New(cfg.Server, logger)
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, src: src, onVIPs: onVIPs, log: logger.With("component", "dns"), srv: srv, ready: make(chan struct{})}
	n.addr.Store("")
	n.httpAddr.Store("")
	return n, nil
}

// Ready is closed once the listeners are bound.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// Addr is the bound DNS address ("" before Ready).
func (n *Node) Addr() string { return n.addr.Load().(string) }

// HTTPAddr is the bound HTTP API address ("" before Ready or when off).
func (n *Node) HTTPAddr() string { return n.httpAddr.Load().(string) }

// Server is the node's DNS server (for stats and tests).
func (n *Node) Server() *Server { return n.srv }

// Table is the records currently served (nil before the first build).
func (n *Node) Table() *records.Table { return n.table.Load() }

// Run binds the listeners and serves until ctx is done.
func (n *Node) Run(ctx context.Context) error {
	pc, ln, err := ListenPair(n.cfg.Listen)
	if err != nil {
		return fmt.Errorf("dns: listen %s: %w", n.cfg.Listen, err)
	}
	var hln net.Listener
	if n.cfg.HTTPListen != "" {
		hln, err = net.Listen("tcp", n.cfg.HTTPListen)
		if err != nil {
			pc.Close()
			ln.Close()
			return fmt.Errorf("dns: http listen %s: %w", n.cfg.HTTPListen, err)
		}
		n.httpAddr.Store(hln.Addr().String())
	}
	n.addr.Store(pc.LocalAddr().String())
	if n.src != nil {
		n.rebuild() // serve what the source already knows before the first change
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return n.srv.Serve(gctx, pc, ln) })
	if hln != nil {
		h := n.srv.HTTPHandler()
		if n.cfg.HTTPGuard != nil {
			h = n.cfg.HTTPGuard(h)
		}
		hs := &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    1 << 16,
			ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelDebug),
		}
		g.Go(func() error {
			if err := httpserve.Run(gctx, hs, hln, 2*time.Second, nil); err != nil {
				return fmt.Errorf("dns: http serve: %w", err)
			}
			return nil
		})
	}
	if n.src != nil {
		g.Go(func() error {
			for {
				select {
				case <-gctx.Done():
					return nil
				case <-n.src.Changed():
				}
				// Under continuous churn, rebuilds are spaced so that they use
				// at most a quarter of a core: a pause of rebuildPause times
				// the last build (at least minRebuildGap) before the next.
				// Changes that arrive meanwhile coalesce into that next build.
				gap := max(minRebuildGap, rebuildPause*time.Duration(n.lastBuild.Load()))
				if wait := gap - time.Since(n.lastEnd); wait > 0 {
					select {
					case <-gctx.Done():
						return nil
					case <-time.After(wait):
					}
				}
				n.rebuild()
			}
		})
	}
	n.once.Do(func() { close(n.ready) })
	n.log.Info("dns serving", "addr", n.Addr(), "http", n.HTTPAddr(), "authoritative", n.src != nil)
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// rebuild builds the records from the current state and swaps them in,
// unless nothing that records depend on changed. Changes that arrive while
// it runs coalesce into the next signal.
func (n *Node) rebuild() {
	start := time.Now()
	st := n.src.State()
	if n.table.Load() != nil && !n.seen.changed(st) {
		n.skipped.Add(1)
		return
	}
	t := records.Build(n.cfg.Records, &records.State{
		Leader:     st.Leader,
		Masters:    n.cfg.Masters,
		Agents:     st.Agents,
		Frameworks: st.Frameworks,
		Tasks:      st.Tasks,
	})
	n.srv.Swap(t)
	n.table.Store(t)
	if n.onVIPs != nil {
		n.onVIPs(t.VIPs)
	}
	n.lastEnd = time.Now()
	d := n.lastEnd.Sub(start)
	n.lastBuild.Store(int64(d))
	if n.builds.Add(1) == 1 {
		n.log.Info("dns records built", "names", len(t.Names), "tasks", len(st.Tasks), "duration", d)
	} else {
		n.log.Debug("dns records built", "names", len(t.Names), "tasks", len(st.Tasks), "duration", d)
	}
}

// seenState remembers what the last build was made from, so that state
// changes records cannot see (a task's new status that keeps its state,
// health and addresses; tasks that are not running; agents' and
// frameworks' resources) cost a scan of pointers instead of a rebuild.
type seenState struct {
	leader     string
	agents     []*mesosv1.OperatorAgent
	frameworks []*mesosv1.OperatorFramework
	tasks      map[string]taskSig
	ptrs       map[string]*mesosv1.Task
}

// taskSig is what records read from a task besides its immutable launch
// info: its state and its latest status's health, addresses and labels.
type taskSig struct {
	state   string
	healthy int8 // -1 unhealthy, 0 unknown, 1 healthy
	ips     string
	labels  string
}

func signature(t *mesosv1.Task) taskSig {
	sig := taskSig{state: t.State}
	if len(t.Statuses) == 0 {
		return sig
	}
	st := &t.Statuses[len(t.Statuses)-1]
	if st.Healthy != nil {
		sig.healthy = -1
		if *st.Healthy {
			sig.healthy = 1
		}
	}
	var b strings.Builder
	if cs := st.ContainerStatus; cs != nil {
		for _, ni := range cs.NetworkInfos {
			for _, ip := range ni.IPAddresses {
				b.WriteString(ip.IPAddress)
				b.WriteByte(',')
			}
		}
	}
	sig.ips = b.String()
	if st.Labels != nil {
		b.Reset()
		for _, l := range st.Labels.Labels {
			b.WriteString(l.Key)
			b.WriteByte('=')
			b.WriteString(l.Value)
			b.WriteByte(',')
		}
		sig.labels = b.String()
	}
	return sig
}

// changed reports whether st differs from the last state in anything
// records read, and remembers st.
func (s *seenState) changed(st *operator.State) bool {
	leader := ""
	if st.Leader != nil {
		leader = st.Leader.ID + "@" + st.Leader.Hostname
		if st.Leader.Address != nil {
			leader += "/" + st.Leader.Address.IP
		}
	}
	dirty := leader != s.leader ||
		!slices.EqualFunc(st.Agents, s.agents, sameAgent) ||
		!slices.EqualFunc(st.Frameworks, s.frameworks, sameFramework)
	tasks := make(map[string]taskSig, len(s.tasks)+8)
	ptrs := make(map[string]*mesosv1.Task, len(s.tasks)+8)
	for _, t := range st.Tasks {
		// records.Build reads running tasks only: a task staging, starting
		// or already finished is as good as absent. So a launch rebuilds
		// once, when its task runs, not for each status on the way.
		if t == nil || t.State != mesosv1.TaskRunning {
			continue
		}
		id := t.TaskID.Value
		ptrs[id] = t
		if !dirty && s.ptrs[id] == t {
			tasks[id] = s.tasks[id]
			continue
		}
		sig := signature(t)
		tasks[id] = sig
		if old, ok := s.tasks[id]; !ok || old != sig {
			dirty = true
		}
	}
	if len(tasks) != len(s.tasks) {
		dirty = true // a running task left (one that joined is not in s.tasks)
	}
	s.leader, s.agents, s.frameworks, s.tasks, s.ptrs = leader, st.Agents, st.Frameworks, tasks, ptrs
	return dirty
}

// sameAgent compares what records read of an agent: its identity and
// address (resources change with every offer and are not read).
func sameAgent(a, b *mesosv1.OperatorAgent) bool {
	if a == b {
		return true
	}
	return a.PID == b.PID && a.AgentInfo.Hostname == b.AgentInfo.Hostname && a.AgentInfo.Port == b.AgentInfo.Port &&
		idOf(a.AgentInfo.ID) == idOf(b.AgentInfo.ID)
}

// sameFramework compares what records read of a framework.
func sameFramework(a, b *mesosv1.OperatorFramework) bool {
	if a == b {
		return true
	}
	return idOf(a.FrameworkInfo.ID) == idOf(b.FrameworkInfo.ID) && a.FrameworkInfo.Name == b.FrameworkInfo.Name &&
		a.FrameworkInfo.Hostname == b.FrameworkInfo.Hostname && a.FrameworkInfo.WebuiURL == b.FrameworkInfo.WebuiURL
}

func idOf(id *mesosv1.ID) string {
	if id == nil {
		return ""
	}
	return id.Value
}
