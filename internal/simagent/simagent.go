// Package simagent simulates many Basalt agents in one process, for scale
// tests and benchmarks. Each simulated agent speaks the real agent protocol
// (internal/agentapi) over its own HTTP connection to the leading master:
// it registers and re-registers with a stable agent id, heartbeats, runs
// the tasks the master launches on the fake containerizer (RUNNING at once,
// behaviour scripted by the fake.* task labels and by Behavior), sends
// status updates with uuids and resends each until the framework's
// acknowledgement arrives, and answers KILL, RECONCILE, SHUTDOWN_FRAMEWORK
// and SHUTDOWN as internal/agent does.
//
// What is shared so that 10,000 agents fit in one process: one goroutine
// per agent reads its event stream (plus net/http's two per connection);
// heartbeats, update retries and the stream watchdog of every agent are
// driven by one ticking pump, and the calls going up are sent by a small
// pool of workers over one pooled HTTP client. A task costs no goroutine
// unless its labels script a delay or a run time (fake.run_for,
// fake.start_delay, fake.ignore_sigterm).
//
// It must not be used as an agent: nothing is checkpointed but an optional
// state file written when the simulator stops, tasks run no processes, and
// the agents' HTTP endpoints (/state, /files) are not served.
package simagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Config configures a simulator.
type Config struct {
	// Masters are the masters' base URLs (http://host:port); any of them
	// redirects to the leader.
	Masters []string `flag:"master" help:"masters' base URLs (http://host:port), comma-separated; any of them redirects to the leader"`
	// Count is the number of simulated agents.
	Count int `flag:"count" help:"number of simulated agents"`
	// Resources and Attributes of every agent, in the agent flags' text
	// form ("cpus:4;mem:4096;ports:[31000-32000]", "rack:r1;zone:a").
	Resources  string `flag:"resources" help:"resources of every simulated agent, as the agent's --resources"`
	Attributes string `flag:"attributes" help:"attributes of every simulated agent, as the agent's --attributes"`
	// HostnamePrefix names agent i "<prefix>-<i>" (zero-padded).
	HostnamePrefix string `flag:"hostname-prefix" help:"agent i is named PREFIX-i"`
	// IP is the address reported in RUNNING updates' container status
	// (host networking, as a real agent reports its own address).
	IP string `flag:"ip" help:"address reported as the tasks' IP in RUNNING updates"`
	// HeartbeatInterval is how often each agent sends HEARTBEAT; 0 takes
	// the interval the master names in SUBSCRIBED.
	HeartbeatInterval time.Duration `flag:"heartbeat-interval" help:"how often each agent sends HEARTBEAT (0: the interval the master names)"`
	// StatusUpdateRetryMin and Max bound the doubling resend interval of an
	// unacknowledged status update (as the agent's flags of the same name).
	StatusUpdateRetryMin time.Duration `flag:"status-update-retry-min" help:"first retry interval of an unacknowledged status update"`
	StatusUpdateRetryMax time.Duration `flag:"status-update-retry-max" help:"longest retry interval of an unacknowledged status update"`
	// RegistrationBackoffMin and Max bound the jittered wait before
	// reconnecting: Min after a lost stream, doubling up to Max while
	// attempts fail (agentapi.Reconnect).
	RegistrationBackoffMin time.Duration `flag:"registration-backoff-min" help:"first wait before reconnecting after a lost stream"`
	RegistrationBackoffMax time.Duration `flag:"registration-backoff-max" help:"longest wait before reconnecting"`
	// ConnectConcurrency bounds the SUBSCRIBE requests in flight at once,
	// so that 10,000 agents starting together do not all dial at once.
	ConnectConcurrency int `flag:"connect-concurrency" help:"most SUBSCRIBE requests in flight at once"`
	// Workers is the number of goroutines that send calls (updates and
	// heartbeats) to the master; also the most connections they hold.
	Workers int `flag:"workers" help:"goroutines (and most connections) sending the agents' calls"`
	// Tick is the period of the pump that makes heartbeats and update
	// retries due and watches the streams.
	Tick time.Duration `flag:"tick" help:"period of the pump that makes heartbeats and update retries due"`
	// Behavior scripts tasks that carry no fake.* labels.
	Behavior Behavior
	// StateFile, if set, is read at start (agents re-register with the ids
	// and tasks saved there) and written when Run returns.
	StateFile string `flag:"state-file" help:"file holding the agents' ids and tasks: read at start (the same agents re-register), written at exit"`
	// Seed seeds the random choices (failures, jitter); 0 picks one.
	Seed uint64
}

// Behavior scripts the tasks of the simulated agents.
type Behavior struct {
	// ExitAfter: a task exits with status 0 (TASK_FINISHED) this long after
	// it is RUNNING; 0 runs it until killed.
	ExitAfter time.Duration `flag:"exit-after" help:"tasks without fake.* labels exit with status 0 this long after RUNNING (0: run until killed)"`
	// FailProbability is the chance in [0,1] that a task fails instead
	// (exit status 1, TASK_FAILED) FailAfter after it is RUNNING.
	FailProbability float64       `flag:"fail-probability" help:"chance in [0,1] that a task fails (exit 1) instead"`
	FailAfter       time.Duration `flag:"fail-after" help:"how long after RUNNING a failing task fails"`
}

// DefaultConfig is a config for count agents of masters.
func DefaultConfig(count int, masters ...string) Config {
	return Config{
		Masters:                masters,
		Count:                  count,
		Resources:              "cpus:4;mem:4096;disk:10000;ports:[31000-32000]",
		HostnamePrefix:         "sim",
		IP:                     "127.0.0.1",
		StatusUpdateRetryMin:   10 * time.Second,
		StatusUpdateRetryMax:   10 * time.Minute,
		RegistrationBackoffMin: 100 * time.Millisecond,
		RegistrationBackoffMax: 1 * time.Second, // as `basalt agent`'s default
		ConnectConcurrency:     64,
		Workers:                32,
		Tick:                   100 * time.Millisecond,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if len(c.Masters) == 0 {
		errs = append(errs, errors.New("at least one master URL is required"))
	}
	for _, m := range c.Masters {
		if !strings.HasPrefix(m, "http://") && !strings.HasPrefix(m, "https://") {
			errs = append(errs, fmt.Errorf("master %q: want http://host:port", m))
		}
	}
	if c.Count < 1 {
		errs = append(errs, fmt.Errorf("count must be at least 1, got %d", c.Count))
	}
	if _, err := mesosv1.ParseResources(c.Resources, ""); err != nil {
		errs = append(errs, fmt.Errorf("resources: %w", err))
	}
	if _, err := mesosv1.ParseAttributes(c.Attributes); err != nil {
		errs = append(errs, fmt.Errorf("attributes: %w", err))
	}
	for name, d := range map[string]time.Duration{
		"status update retry min": c.StatusUpdateRetryMin, "status update retry max": c.StatusUpdateRetryMax,
		"registration backoff min": c.RegistrationBackoffMin, "registration backoff max": c.RegistrationBackoffMax,
		"tick": c.Tick,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", name, d))
		}
	}
	if c.StatusUpdateRetryMax < c.StatusUpdateRetryMin || c.RegistrationBackoffMax < c.RegistrationBackoffMin {
		errs = append(errs, errors.New("a maximum interval is below its minimum"))
	}
	if c.HeartbeatInterval < 0 || c.Behavior.ExitAfter < 0 || c.Behavior.FailAfter < 0 {
		errs = append(errs, errors.New("heartbeat interval, exit-after and fail-after must not be negative"))
	}
	if p := c.Behavior.FailProbability; p < 0 || p > 1 {
		errs = append(errs, fmt.Errorf("fail probability must be in [0,1], got %g", p))
	}
	if c.ConnectConcurrency < 1 || c.Workers < 1 {
		errs = append(errs, errors.New("connect concurrency and workers must be at least 1"))
	}
	return errors.Join(errs...)
}

// Simulator runs Config.Count simulated agents.
type Simulator struct {
	cfg        Config
	log        *slog.Logger
	resources  []mesosv1.Resource
	attributes []mesosv1.Attribute
	agents     []*simAgent

	streams *http.Client // SUBSCRIBE: one connection per agent
	calls   *http.Client // calls: pooled
	connect chan struct{}
	work    chan *simAgent

	rngMu sync.Mutex
	rng   *rand.Rand

	stats counters

	// runCtx is Run's context: goroutines that outlive a stream (waiting
	// for a scripted container) stop with it.
	runCtx context.Context
}

// counters are the simulator's own figures.
type counters struct {
	subscribes, subscribeErrors  atomic.Int64
	events, launches, kills      atomic.Int64
	updatesSent, acks, badAcks   atomic.Int64
	calls, callErrors            atomic.Int64
	heartbeats, streamsLost      atomic.Int64
	running, terminal, reconcile atomic.Int64
}

// Stats is a snapshot of the simulator's counters.
type Stats struct {
	Agents       int   `json:"agents"`
	Connected    int   `json:"connected"`
	Tasks        int   `json:"tasks"`   // tasks known (not yet forgotten)
	Running      int64 `json:"running"` // RUNNING updates queued
	Terminal     int64 `json:"terminal"`
	Subscribes   int64 `json:"subscribes"`
	SubscribeErr int64 `json:"subscribe_errors"`
	Events       int64 `json:"events"`
	Launches     int64 `json:"launches"`
	Kills        int64 `json:"kills"`
	UpdatesSent  int64 `json:"updates_sent"`
	Acks         int64 `json:"acks"`
	IgnoredAcks  int64 `json:"ignored_acks"`
	Calls        int64 `json:"calls"`
	CallErrors   int64 `json:"call_errors"`
	Heartbeats   int64 `json:"heartbeats"`
	StreamsLost  int64 `json:"streams_lost"`
	Reconciles   int64 `json:"reconciles"`
	Pending      int   `json:"pending_updates"` // unacknowledged updates
}

// New builds a simulator (no I/O, no goroutines). log may be nil.
func New(cfg Config, log *slog.Logger) (*Simulator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("simagent config: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	res, _ := mesosv1.ParseResources(cfg.Resources, "")
	attrs, _ := mesosv1.ParseAttributes(cfg.Attributes)
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	s := &Simulator{
		cfg: cfg, log: log.With("component", "simagent"), resources: res, attributes: attrs,
		streams: &http.Client{Transport: &http.Transport{
			// Each stream holds its connection for its whole life; an
			// idle pool would only keep dead ones.
			MaxIdleConnsPerHost: 1, IdleConnTimeout: time.Second, DisableCompression: true,
		}},
		calls: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: cfg.Workers, MaxConnsPerHost: cfg.Workers,
			IdleConnTimeout: time.Minute, DisableCompression: true,
		}},
		connect: make(chan struct{}, cfg.ConnectConcurrency),
		work:    make(chan *simAgent, cfg.Count),
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
	width := len(fmt.Sprint(cfg.Count - 1))
	for i := range cfg.Count {
		s.agents = append(s.agents, newSimAgent(s, i, fmt.Sprintf("%s-%0*d", cfg.HostnamePrefix, width, i)))
	}
	return s, nil
}

// Run runs every agent until ctx is done, then writes the state file.
func (s *Simulator) Run(ctx context.Context) error {
	if s.cfg.StateFile != "" {
		if err := s.loadState(s.cfg.StateFile); err != nil {
			return err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	s.runCtx = gctx
	for _, a := range s.agents {
		g.Go(func() error { a.connectLoop(gctx); return nil })
	}
	for range s.cfg.Workers {
		g.Go(func() error { s.worker(gctx); return nil })
	}
	g.Go(func() error { s.pump(gctx); return nil })
	err := g.Wait()
	s.streams.CloseIdleConnections()
	s.calls.CloseIdleConnections()
	if s.cfg.StateFile != "" {
		if serr := s.saveState(s.cfg.StateFile); serr != nil {
			err = errors.Join(err, serr)
		}
	}
	return err
}

// Stats returns the counters and a count of connected agents and tasks.
func (s *Simulator) Stats() Stats {
	st := Stats{Agents: len(s.agents)}
	for _, a := range s.agents {
		a.mu.Lock()
		if a.connected {
			st.Connected++
		}
		for _, fw := range a.frameworks {
			st.Tasks += len(fw.tasks)
			for _, t := range fw.tasks {
				st.Pending += len(t.pending)
			}
		}
		a.mu.Unlock()
	}
	c := &s.stats
	st.Running, st.Terminal = c.running.Load(), c.terminal.Load()
	st.Subscribes, st.SubscribeErr = c.subscribes.Load(), c.subscribeErrors.Load()
	st.Events, st.Launches, st.Kills = c.events.Load(), c.launches.Load(), c.kills.Load()
	st.UpdatesSent, st.Acks, st.IgnoredAcks = c.updatesSent.Load(), c.acks.Load(), c.badAcks.Load()
	st.Calls, st.CallErrors = c.calls.Load(), c.callErrors.Load()
	st.Heartbeats, st.StreamsLost, st.Reconciles = c.heartbeats.Load(), c.streamsLost.Load(), c.reconcile.Load()
	return st
}

// AgentIDs returns the agent id of every simulated agent ("" for one not
// registered yet), by index.
func (s *Simulator) AgentIDs() []string {
	out := make([]string, len(s.agents))
	for i, a := range s.agents {
		a.mu.Lock()
		out[i] = a.id
		a.mu.Unlock()
	}
	return out
}

// Disconnect drops agent i's stream and keeps it away for d (a network
// partition of one agent, as seen by the master); its tasks keep running.
func (s *Simulator) Disconnect(i int, d time.Duration) {
	a := s.agents[i]
	a.mu.Lock()
	a.pausedUntil = time.Now().Add(d)
	cancel := a.cancelSession
	a.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// Vanish makes agent i disappear for good, as a machine that loses power:
// its stream is cut, and it sends no heartbeat, update or re-registration
// again. Its tasks stay in its memory (TaskIDs still lists them).
func (s *Simulator) Vanish(i int) {
	a := s.agents[i]
	a.mu.Lock()
	a.gone, a.connected = true, false
	cancel := a.cancelSession
	a.cancelSession = nil
	a.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// SubscribedSince counts the agents whose latest SUBSCRIBED arrived at or
// after since, from the master at base (any master: ""), and returns when
// the last of them arrived. After a failover at since, n reaching the agent
// count means every agent has re-registered with the new leader.
func (s *Simulator) SubscribedSince(since time.Time, base string) (n int, last time.Time) {
	for _, a := range s.agents {
		a.mu.Lock()
		at, b := a.subscribedAt, a.base
		a.mu.Unlock()
		if at.Before(since) || (base != "" && b != base) {
			continue
		}
		n++
		if at.After(last) {
			last = at
		}
	}
	return n, last
}

// TaskIDs lists the tasks agent i knows (running or with an update not yet
// acknowledged).
func (s *Simulator) TaskIDs(i int) []string {
	a := s.agents[i]
	a.mu.Lock()
	defer a.mu.Unlock()
	var ids []string
	for _, fw := range a.frameworks {
		for id := range fw.tasks {
			ids = append(ids, id)
		}
	}
	return ids
}

// jitter returns a duration in [d/2, d).
func (s *Simulator) jitter(d time.Duration) time.Duration {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return d/2 + time.Duration(s.rng.Int64N(int64(d/2)+1))
}

// chance reports true with probability p.
func (s *Simulator) chance(p float64) bool {
	if p <= 0 {
		return false
	}
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.Float64() < p
}

// pump makes heartbeats and update retries due and watches the streams:
// one goroutine and one ticker for every agent.
func (s *Simulator) pump(ctx context.Context) {
	tick := time.NewTicker(s.cfg.Tick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			for _, a := range s.agents {
				if a.due(now) {
					s.enqueue(a)
				}
			}
		}
	}
}

// enqueue hands a to the workers unless it is already queued.
func (s *Simulator) enqueue(a *simAgent) {
	if a.queued.CompareAndSwap(false, true) {
		select {
		case s.work <- a: // never blocks: the channel holds every agent once
		default:
			a.queued.Store(false)
		}
	}
}

// worker sends the due calls of queued agents.
func (s *Simulator) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-s.work:
			a.queued.Store(false)
			a.sendDue(ctx, time.Now())
		}
	}
}
