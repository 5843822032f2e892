// Package clustertest runs a real Basalt cluster inside one test: N masters
// (real embedded etcd, real leader election, real HTTP APIs on port 0) and M
// agents (fake or posix runtime), each with its own logger writing to the
// test log. It injects faults — stop or restart a master or an agent,
// partition an agent from the masters — and checks for leaked goroutines at
// cleanup.
//
// It composes internal/master and internal/agent exactly as the CLI does;
// it must not reach into their internals.
package clustertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/basalt-dcos/basalt/internal/agent"
	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/internal/containerizer/fake"
	"github.com/basalt-dcos/basalt/internal/iam"
	"github.com/basalt-dcos/basalt/internal/master"
	"github.com/basalt-dcos/basalt/internal/store"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Runtime selects the agents' container runtime.
type Runtime string

const (
	// Fake runs no processes: tasks are scripted by labels (see package fake).
	Fake Runtime = "fake"
	// Posix runs real processes through the posix runtime; the test binary's
	// TestMain must call posix.MaybeRunShim first.
	Posix Runtime = "posix"
)

// Options configures a cluster.
type Options struct {
	Masters int // 1 (default), 3 or 5
	Agents  int
	Runtime Runtime // default Fake
	// Master and Agent adjust each node's configuration after the harness
	// has set its defaults (fast timeouts, port 0, temp dirs).
	Master func(i int, cfg *master.Config)
	Agent  func(i int, cfg *agent.Config)
	// NoLeakCheck turns the goroutine-leak check off.
	NoLeakCheck bool
	// LoopbackHostnames makes agents advertise 127.0.0.1 as their hostname
	// (default agentN.test), so that tasks' ports are reachable by name.
	LoopbackHostnames bool
	// NoMarathon turns Marathon off on every master (kernel tests that
	// count frameworks).
	NoMarathon bool
	// NoDNS turns the masters' DNS servers off.
	NoDNS bool
	// AgentDNS runs every agent's local DNS server (on 127.0.0.1, port 0).
	AgentDNS bool
	// AgentResources replaces the agents' default resources (benchmarks
	// that pack thousands of tiny tasks).
	AgentResources string
	// StoreTLS runs a multi-master store over mutual TLS: the first master
	// bootstraps the cluster CA and the others join with its master join
	// token before their members start (internal/master/storetls.go).
	// Off, the masters' store speaks plain HTTP (--store-tls=false).
	StoreTLS bool
	// AgentMTLS serves TLS on the masters' API ports, requires agents to
	// present a node certificate, and has every agent join with the
	// cluster's join token first.
	AgentMTLS bool
}

// Cluster is a running cluster. Its methods must be called from the test's
// goroutine unless noted.
type Cluster struct {
	t       testing.TB
	opts    Options
	Masters []*MasterNode
	Agents  []*AgentNode
	client  *http.Client
}

// MasterNode is one master.
type MasterNode struct {
	Name string
	cfg  master.Config
	log  *slog.Logger

	mu     sync.Mutex
	m      *master.Master
	cancel context.CancelFunc
	done   chan error
	url    string
	marURL string
	arURL  string
}

// AgentNode is one agent.
type AgentNode struct {
	Name string
	cfg  agent.Config
	log  *slog.Logger
	// Fake is the simulated host of a Fake-runtime agent: it outlives agent
	// restarts, as processes outlive a real agent.
	Fake *fake.Runtime
	net  *partitionable

	mu     sync.Mutex
	a      *agent.Agent
	cancel context.CancelFunc
	done   chan error
}

// New starts a cluster and waits until a leader is elected and every agent
// is registered. Everything is stopped at the test's cleanup.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Masters == 0 {
		opts.Masters = 1
	}
	if opts.Runtime == "" {
		opts.Runtime = Fake
	}
	if !opts.NoLeakCheck {
		ignore := goleak.IgnoreCurrent()
		t.Cleanup(func() {
			// Runs after the cluster's own cleanup (cleanups run LIFO).
			if err := goleak.Find(append(leakIgnores(), ignore)...); err != nil {
				t.Errorf("goroutines leaked by the cluster: %v", err)
			}
		})
	}
	c := &Cluster{t: t, opts: opts}
	c.client = &http.Client{
		Transport:     harnessAuth{c},
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	// Every node's directory lives under base, made before stopAll is
	// registered: cleanups run last-in first-out, so the directories are
	// removed only after every node has stopped writing to them.
	base := t.TempDir()
	nodeDir := func(name string) string {
		d := filepath.Join(base, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	t.Cleanup(c.stopAll)

	// Masters: pick the store peer ports up front so the static member list
	// is known to all of them.
	var peers []string
	for range opts.Masters {
		peers = append(peers, freeAddr(t))
	}
	for i := range opts.Masters {
		cfg := master.DefaultConfig()
		cfg.DataDir = nodeDir(fmt.Sprintf("master%d", i+1))
		cfg.Listen = "127.0.0.1:0"
		cfg.AdvertiseIP = "127.0.0.1"
		if opts.Masters > 1 {
			cfg.Masters = peers
			cfg.StoreName = peers[i]
		}
		cfg.StoreTLS = opts.StoreTLS
		cfg.AgentHeartbeatInterval = 200 * time.Millisecond
		cfg.AgentPingTimeout = 500 * time.Millisecond
		cfg.MaxAgentPingTimeouts = 4
		cfg.AllocationInterval = 100 * time.Millisecond
		cfg.SchedulerHeartbeatInterval = time.Second
		cfg.AgentReregisterTimeout = 10 * time.Second
		cfg.ShutdownTimeout = 2 * time.Second
		cfg.Marathon = !opts.NoMarathon
		cfg.MarathonListen = "127.0.0.1:0"
		cfg.MarathonTick = 50 * time.Millisecond
		cfg.MarathonDeclineOfferDuration = time.Second
		cfg.MarathonKillRetry = 2 * time.Second
		cfg.DNS.Enabled = !opts.NoDNS
		cfg.DNS.Listen = "127.0.0.1:0"
		cfg.DNS.HTTPListen = "127.0.0.1:0"
		cfg.AdminRouterListen = "127.0.0.1:0"
		cfg.AdminRouterTLSListen = "127.0.0.1:0"
		cfg.AdminRouterCacheTTL = 100 * time.Millisecond
		cfg.Security = "disabled" // tests of security set it through opts.Master
		cfg.APITLS, cfg.RequireAgentCerts = opts.AgentMTLS, opts.AgentMTLS
		if opts.Master != nil {
			opts.Master(i, &cfg)
		}
		name := fmt.Sprintf("master%d", i+1)
		c.Masters = append(c.Masters, &MasterNode{Name: name, cfg: cfg, log: nodeLogger(t, name)})
	}
	// Start the masters together: a multi-member store needs a quorum to
	// become ready. With store TLS the first one goes first, and the others
	// join through the endpoint it serves before its store is up.
	for i, m := range c.Masters {
		c.startMaster(m)
		if i == 0 && opts.StoreTLS && opts.Masters > 1 {
			url, tok := c.bootstrapJoin(m)
			for _, o := range c.Masters[1:] {
				o.cfg.JoinURL, o.cfg.JoinToken = url, tok
			}
		}
	}
	for _, m := range c.Masters {
		c.waitMasterReady(m)
	}
	c.WaitLeader()

	for i := range opts.Agents {
		cfg := agent.DefaultConfig()
		cfg.Masters = c.MasterURLs()
		cfg.Listen = "127.0.0.1:0"
		cfg.AdminRouterListen = "127.0.0.1:0"
		cfg.Security = "disabled" // as the masters'; tests of security set both
		cfg.AdvertiseIP = "127.0.0.1"
		cfg.Hostname = fmt.Sprintf("agent%d.test", i+1)
		if opts.LoopbackHostnames {
			cfg.Hostname = "127.0.0.1"
		}
		cfg.WorkDir = nodeDir(fmt.Sprintf("agent%d", i+1))
		cfg.Resources = "cpus:4;mem:4096;disk:10000;ports:[31000-32000]"
		if opts.AgentResources != "" {
			cfg.Resources = opts.AgentResources
		}
		cfg.HeartbeatInterval = 200 * time.Millisecond
		cfg.RegistrationBackoffMin = 50 * time.Millisecond
		cfg.RegistrationBackoffMax = 500 * time.Millisecond
		cfg.StatusUpdateRetryMin = 200 * time.Millisecond
		cfg.StatusUpdateRetryMax = 2 * time.Second
		cfg.DefaultKillGrace = time.Second
		cfg.Containerizers = []string{string(opts.Runtime)}
		if opts.AgentDNS {
			cfg.Discovery.DNSListen = "127.0.0.1:0"
		}
		if opts.AgentMTLS {
			cfg.JoinToken = c.Masters[0].Master().JoinToken().Encode()
		}
		if opts.Agent != nil {
			opts.Agent(i, &cfg)
		}
		name := fmt.Sprintf("agent%d", i+1)
		n := &AgentNode{Name: name, cfg: cfg, log: nodeLogger(t, name), net: newPartitionable()}
		if opts.Runtime == Fake {
			n.Fake = fake.NewRuntime()
		}
		c.Agents = append(c.Agents, n)
		c.startAgent(n)
	}
	c.WaitAgentsActive(len(c.Agents))
	return c
}

func leakIgnores() []goleak.Option {
	// Background goroutines of libraries that outlive a stopped client or
	// server by design (pools, resolvers) and are not ours to stop.
	return []goleak.Option{
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
		goleak.IgnoreAnyFunction("go.etcd.io/etcd/client/pkg/v3/logutil.(*MergeLogger).outputLoop"),
		goleak.IgnoreAnyFunction("github.com/golang/glog.(*fileSink).flushDaemon"),
		goleak.IgnoreAnyFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		// A server connection finishing its last response waits for its
		// background read to return after the listener closed; it ends by
		// itself once the peer's side is gone.
		goleak.IgnoreAnyFunction("net/http.(*connReader).abortPendingRead"),
	}
}

// freeAddr returns a free loopback host:port (see store.ListenLoopback).
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := store.ListenLoopback()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// nodeLogger returns a logger that writes to the test log, prefixed with
// the node's name, and goes quiet once the test has finished.
func nodeLogger(t testing.TB, name string) *slog.Logger {
	w := &testWriter{t: t, prefix: name + ": "}
	t.Cleanup(w.close)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	t      testing.TB
	prefix string
	mu     sync.Mutex
	closed bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Log(w.prefix + strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}

func (c *Cluster) startMaster(n *MasterNode) {
	c.t.Helper()
	m, err := master.New(n.cfg, n.log)
	if err != nil {
		c.t.Fatalf("%s: %v", n.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	n.mu.Lock()
	n.m, n.cancel, n.done, n.url = m, cancel, done, ""
	n.mu.Unlock()
}

// bootstrapJoin waits until the bootstrap master n serves the master join
// and returns its URL and the master join token.
func (c *Cluster) bootstrapJoin(n *MasterNode) (string, string) {
	c.t.Helper()
	n.mu.Lock()
	m, done := n.m, n.done
	n.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for m.BootstrapJoinURL() == "" {
		select {
		case err := <-done:
			c.t.Fatalf("%s stopped before it served the master join: %v", n.Name, err)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s does not serve the master join", n.Name)
		}
	}
	return m.BootstrapJoinURL(), m.MasterJoinToken().Encode()
}

func (c *Cluster) waitMasterReady(n *MasterNode) {
	c.t.Helper()
	n.mu.Lock()
	m, done := n.m, n.done
	n.mu.Unlock()
	select {
	case <-m.Ready():
	case err := <-done:
		c.t.Fatalf("%s stopped before it was ready: %v", n.Name, err)
	case <-time.After(60 * time.Second):
		c.t.Fatalf("%s not ready after 60s", n.Name)
	}
	n.mu.Lock()
	n.url = "http://" + m.Addr()
	// Restarts listen on the same address, so agents and clients that
	// know the master's URL find it again.
	n.cfg.Listen = m.Addr()
	if u := m.MarathonURL(); u != "" {
		n.marURL = u
		n.cfg.MarathonListen = strings.TrimPrefix(u, "http://")
	}
	if u := m.AdminRouterURL(); u != "" {
		n.arURL = u
		n.cfg.AdminRouterListen = strings.TrimPrefix(u, "http://")
	}
	if a := m.AdminRouterTLSAddr(); a != "" {
		n.cfg.AdminRouterTLSListen = a
	}
	n.mu.Unlock()
}

func (c *Cluster) startAgent(n *AgentNode) {
	c.t.Helper()
	deps := agent.Deps{
		Logger:     n.log,
		HTTPClient: &http.Client{Transport: &http.Transport{DialContext: n.net.dial, DisableCompression: true, MaxIdleConnsPerHost: 16}},
	}
	if n.Fake != nil {
		deps.Containerizers = map[string]containerizer.Containerizer{
			string(Fake): fake.New(fake.Config{Runtime: n.Fake}),
		}
	}
	a, err := agent.New(n.cfg, deps)
	if err != nil {
		c.t.Fatalf("%s: %v", n.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-a.Ready():
	case err := <-done:
		c.t.Fatalf("%s stopped before it was ready: %v", n.Name, err)
	case <-time.After(30 * time.Second):
		c.t.Fatalf("%s not ready after 30s", n.Name)
	}
	n.mu.Lock()
	n.a, n.cancel, n.done = a, cancel, done
	// Restarts listen on the same address.
	n.cfg.Listen = a.Addr()
	n.mu.Unlock()
}

func (c *Cluster) stopAll() {
	for _, n := range c.Agents {
		n.stop(c.t)
	}
	for _, n := range c.Masters {
		n.stop(c.t)
	}
}

// life is the running state of a node: how to stop its Run and where its
// result arrives.
type life struct {
	cancel context.CancelFunc
	done   chan error
}

// stop cancels the node's Run and waits for it to return.
func (l life) stop(t testing.TB, name string) {
	if l.cancel == nil {
		return
	}
	l.cancel()
	select {
	case err := <-l.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("%s stopped: %v", name, err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("%s did not stop within 30s", name)
	}
}

func (n *MasterNode) stop(t testing.TB) {
	n.mu.Lock()
	l := life{n.cancel, n.done}
	n.cancel = nil
	n.mu.Unlock()
	l.stop(t, n.Name)
}

func (n *AgentNode) stop(t testing.TB) {
	n.mu.Lock()
	l := life{n.cancel, n.done}
	n.cancel = nil
	n.mu.Unlock()
	l.stop(t, n.Name)
}

// URL is the master's base URL (stable across restarts).
func (n *MasterNode) URL() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.url
}

// MarathonURL is the base URL of the master's Marathon API (stable across
// restarts). Any master's serves the leader's: followers proxy.
func (n *MasterNode) MarathonURL() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.marURL
}

// AdminRouterURL is the base URL of the master's Admin Router (stable
// across restarts). Every master's reaches the leaders.
func (n *MasterNode) AdminRouterURL() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.arURL
}

// MarathonLeader waits for and returns the master whose Marathon leads.
func (c *Cluster) MarathonLeader() *MasterNode {
	c.t.Helper()
	var leader *MasterNode
	Eventually(c.t, 30*time.Second, func() error {
		var leaders []*MasterNode
		for _, m := range c.Masters {
			if m.Running() {
				if mar := m.Master().Marathon(); mar != nil && mar.IsLeader() {
					leaders = append(leaders, m)
				}
			}
		}
		if len(leaders) != 1 {
			return fmt.Errorf("%d masters lead Marathon", len(leaders))
		}
		leader = leaders[0]
		return nil
	})
	return leader
}

// Running reports whether the master is running.
func (n *MasterNode) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cancel != nil
}

// IsLeader reports whether this master leads now.
func (n *MasterNode) IsLeader() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cancel != nil && n.m.IsLeader()
}

// Master returns the running master.
func (n *MasterNode) Master() *master.Master {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.m
}

// Agent returns the running agent.
func (n *AgentNode) Agent() *agent.Agent {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.a
}

// URL is the agent's base URL.
func (n *AgentNode) URL() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return "http://" + n.a.Addr()
}

// MasterURLs lists the masters' base URLs.
func (c *Cluster) MasterURLs() []string {
	out := make([]string, len(c.Masters))
	for i, m := range c.Masters {
		out[i] = m.URL()
	}
	return out
}

// Leader waits for and returns the leading master.
func (c *Cluster) Leader() *MasterNode {
	c.t.Helper()
	var leader *MasterNode
	Eventually(c.t, 30*time.Second, func() error {
		var leaders []*MasterNode
		for _, m := range c.Masters {
			if m.IsLeader() {
				leaders = append(leaders, m)
			}
		}
		if len(leaders) != 1 {
			return fmt.Errorf("%d masters claim leadership", len(leaders))
		}
		leader = leaders[0]
		return nil
	})
	return leader
}

// WaitLeader waits until exactly one master leads.
func (c *Cluster) WaitLeader() { c.t.Helper(); _ = c.Leader() }

// StopMaster stops master i cleanly (it resigns leadership).
func (c *Cluster) StopMaster(i int) { c.Masters[i].stop(c.t) }

// StartMaster starts a stopped master i again over its data directory.
func (c *Cluster) StartMaster(i int) {
	c.t.Helper()
	c.startMaster(c.Masters[i])
	c.waitMasterReady(c.Masters[i])
}

// StopAgent stops agent i; its tasks keep running (fake: in its Runtime).
func (c *Cluster) StopAgent(i int) { c.Agents[i].stop(c.t) }

// StartAgent starts a stopped agent i again over its work directory.
func (c *Cluster) StartAgent(i int) { c.t.Helper(); c.startAgent(c.Agents[i]) }

// RestartAgent stops and starts agent i.
func (c *Cluster) RestartAgent(i int) { c.t.Helper(); c.StopAgent(i); c.StartAgent(i) }

// Partition cuts agent i off from every master (existing connections are
// closed and new ones fail) until Heal.
func (c *Cluster) Partition(i int) { c.Agents[i].net.set(true) }

// Heal ends a partition of agent i.
func (c *Cluster) Heal(i int) { c.Agents[i].net.set(false) }

// State returns the leader's /master/state.
func (c *Cluster) State() *mesosv1.StateResponse {
	c.t.Helper()
	var st mesosv1.StateResponse
	c.GetJSON(c.Leader().URL()+"/master/state", &st)
	return &st
}

// GetJSON GETs url and decodes the JSON body into v, failing the test on error.
func (c *Cluster) GetJSON(url string, v any) {
	c.t.Helper()
	if err := c.getJSON(url, v); err != nil {
		c.t.Fatal(err)
	}
}

func (c *Cluster) getJSON(url string, v any) error {
	resp, err := c.client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	return json.Unmarshal(b, v)
}

// WaitAgentsActive waits until n agents are registered and active.
func (c *Cluster) WaitAgentsActive(n int) {
	c.t.Helper()
	Eventually(c.t, 30*time.Second, func() error {
		var leader *MasterNode
		for _, m := range c.Masters {
			if m.IsLeader() {
				leader = m
			}
		}
		if leader == nil {
			return errors.New("no leader")
		}
		var st mesosv1.StateResponse
		if err := c.getJSON(leader.URL()+"/master/state", &st); err != nil {
			return err
		}
		active := 0
		for _, s := range st.Slaves {
			if s.Active {
				active++
			}
		}
		if active != n {
			return fmt.Errorf("%d of %d agents active", active, n)
		}
		return nil
	})
}

// Eventually calls cond until it returns nil, failing the test with cond's
// last error after timeout. It polls; it never asserts how long it took.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := 5 * time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", timeout, err)
		}
		time.Sleep(wait)
		if wait < 100*time.Millisecond {
			wait *= 2
		}
	}
}

// partitionable is a dialer that can cut every connection it made.
type partitionable struct {
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]struct{}
	dialer net.Dialer
}

func newPartitionable() *partitionable {
	return &partitionable{conns: map[net.Conn]struct{}{}}
}

func (p *partitionable) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	p.mu.Lock()
	cut := p.cut
	p.mu.Unlock()
	if cut {
		return nil, fmt.Errorf("dial %s: network partitioned by test", addr)
	}
	conn, err := p.dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		conn.Close()
		return nil, fmt.Errorf("dial %s: network partitioned by test", addr)
	}
	tc := &trackedConn{Conn: conn, p: p}
	p.conns[tc] = struct{}{}
	return tc, nil
}

func (p *partitionable) set(cut bool) {
	p.mu.Lock()
	p.cut = cut
	var toClose []net.Conn
	if cut {
		for c := range p.conns {
			toClose = append(toClose, c)
		}
	}
	p.mu.Unlock()
	for _, c := range toClose {
		c.Close()
	}
}

type trackedConn struct {
	net.Conn
	p    *partitionable
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.p.mu.Lock()
		delete(c.p.conns, c)
		c.p.mu.Unlock()
	})
	return c.Conn.Close()
}

// harnessAuth lets the harness's own reads (State, WaitAgentsActive, GetJSON)
// through masters that check credentials (a test set Security): it sends a
// token of the Admin Router's system account, minted by a running master.
type harnessAuth struct{ c *Cluster }

func (h harnessAuth) RoundTrip(req *http.Request) (*http.Response, error) {
	for _, m := range h.c.Masters {
		if m.cfg.Security == "disabled" || !m.Running() {
			continue
		}
		mm := m.Master()
		if mm == nil || mm.IAM() == nil {
			continue
		}
		if tok, err := mm.IAM().IssueToken(iam.SystemAdminRouter); err == nil {
			req = req.Clone(req.Context())
			req.Header.Set("Authorization", "token="+tok)
			break
		}
	}
	return http.DefaultTransport.RoundTrip(req)
}
