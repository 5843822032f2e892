package mesos

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/basalt-dcos/basalt/internal/mesos/state"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Deps are the Master's collaborators.
type Deps struct {
	Registry Registry
	Elector  Elector
	Logger   *slog.Logger // nil discards
	// Transport is used to proxy read requests from a standby to the leader
	// (nil: http.DefaultTransport).
	Transport http.RoundTripper
}

// LeaderInfo is the value a master advertises while it leads: its
// MasterInfo and the base URL clients are redirected to.
type LeaderInfo struct {
	MasterInfo mesosv1.MasterInfo `json:"master_info"`
	URL        string             `json:"url"`
}

// ParseLeaderInfo decodes an election value.
func ParseLeaderInfo(v string) (LeaderInfo, error) {
	var li LeaderInfo
	if err := json.Unmarshal([]byte(v), &li); err != nil {
		return LeaderInfo{}, fmt.Errorf("parse leader info: %w", err)
	}
	if li.URL == "" {
		return LeaderInfo{}, errors.New("parse leader info: no url")
	}
	return li, nil
}

// Master is one Mesos master: a candidate in the election that runs the
// kernel while it leads, and serves redirects (or proxies reads) while it is
// a standby.
type Master struct {
	cfg       Config
	log       *slog.Logger
	registry  Registry
	elector   Elector
	transport http.RoundTripper

	self      mesosv1.MasterInfo
	startTime time.Time
	flags     map[string]string

	kernel atomic.Pointer[kernel]
	snap   atomic.Pointer[state.Snapshot]
	leader atomic.Pointer[LeaderInfo]

	// changedMu guards changed, which publish closes and replaces so that
	// readers (the operator event stream) wake without polling.
	changedMu sync.Mutex
	changed   chan struct{}
}

// New validates cfg and returns a Master. It does no I/O.
func New(cfg Config, deps Deps) (*Master, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("mesos master config: %w", err)
	}
	if deps.Registry == nil || deps.Elector == nil {
		return nil, errors.New("mesos master: Registry and Elector are required")
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.ID == "" {
		cfg.ID = uuid.NewString()
	}
	u, _ := url.Parse(cfg.URL)
	if cfg.IP == "" {
		if ip := net.ParseIP(u.Hostname()); ip != nil {
			cfg.IP = ip.String()
		} else {
			cfg.IP = "127.0.0.1"
		}
	}
	if cfg.Port == 0 {
		cfg.Port, _ = strconv.Atoi(u.Port())
	}
	if cfg.Hostname == "" {
		cfg.Hostname = u.Hostname()
	}
	tr := deps.Transport
	if tr == nil {
		tr = http.DefaultTransport
	}
	m := &Master{
		cfg: cfg, log: log.With("component", "mesos-master"), registry: deps.Registry, elector: deps.Elector,
		transport: tr, startTime: time.Now(), changed: make(chan struct{}),
	}
	m.self = mesosv1.MasterInfo{
		ID: cfg.ID, IP: packIP(cfg.IP), Port: cfg.Port, PID: fmt.Sprintf("master@%s:%d", cfg.IP, cfg.Port),
		Hostname: cfg.Hostname, Version: cfg.Version,
		Address: &mesosv1.Address{Hostname: cfg.Hostname, IP: cfg.IP, Port: cfg.Port},
	}
	m.flags = flagsOf(cfg)
	m.publish(m.standbySnapshot())
	return m, nil
}

// packIP packs an IPv4 address as Mesos' MasterInfo.ip does: the address
// bytes in network order read as a little-endian integer.
func packIP(s string) uint32 {
	ip := net.ParseIP(s).To4()
	if ip == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(ip)
}

func flagsOf(c Config) map[string]string {
	return map[string]string{
		"hostname":                            c.Hostname,
		"ip":                                  c.IP,
		"port":                                strconv.Itoa(c.Port),
		"cluster":                             c.ClusterName,
		"agent_ping_timeout":                  c.AgentPingTimeout.String(),
		"max_agent_ping_timeouts":             strconv.Itoa(c.MaxAgentPingTimeouts),
		"agent_reregister_timeout":            c.AgentReregisterTimeout.String(),
		"offer_timeout":                       c.OfferTimeout.String(),
		"allocation_interval":                 c.AllocationInterval.String(),
		"max_completed_frameworks":            strconv.Itoa(c.MaxCompletedFrameworks),
		"max_completed_tasks_per_framework":   strconv.Itoa(c.MaxCompletedTasksPerFramework),
		"max_unreachable_tasks_per_framework": strconv.Itoa(c.MaxUnreachableTasksPerFramework),
		"min_allocatable_resources":           fmt.Sprintf("cpus:%g|mem:%g", c.Allocator.MinAllocatableCPUs, c.Allocator.MinAllocatableMem),
		"filter_gpu_resources":                strconv.FormatBool(c.Allocator.FilterGPUs),
		"weights":                             weightsString(c.Allocator.Weights),
		"allocator":                           "HierarchicalDRF",
	}
}

func weightsString(w map[string]float64) string {
	out := ""
	for _, role := range slices.Sorted(maps.Keys(w)) {
		if out != "" {
			out += ","
		}
		out += fmt.Sprintf("%s=%g", role, w[role])
	}
	return out
}

// Info returns this master's MasterInfo.
func (m *Master) Info() mesosv1.MasterInfo { return m.self }

// URL returns this master's base URL.
func (m *Master) URL() string { return m.cfg.URL }

// IsLeader reports whether this master currently runs the kernel.
func (m *Master) IsLeader() bool { return m.kernel.Load() != nil }

// Leader returns the current leader as last observed.
func (m *Master) Leader() (LeaderInfo, bool) {
	if m.IsLeader() {
		return LeaderInfo{MasterInfo: m.self, URL: m.cfg.URL}, true
	}
	// A stale value naming this master (it just lost leadership) is no leader.
	if li := m.leader.Load(); li != nil && li.URL != m.cfg.URL {
		return *li, true
	}
	return LeaderInfo{}, false
}

// Current implements state.Source: the latest published snapshot.
func (m *Master) Current() *state.Snapshot { return m.snap.Load() }

// Changed implements state.Notifier: the channel is closed by the next
// publish.
func (m *Master) Changed() <-chan struct{} {
	m.changedMu.Lock()
	defer m.changedMu.Unlock()
	return m.changed
}

// publish stores s and wakes whoever waits on Changed. It runs at most
// every SnapshotInterval, so the channel allocation is negligible.
func (m *Master) publish(s *state.Snapshot) {
	m.snap.Store(s)
	m.changedMu.Lock()
	close(m.changed)
	m.changed = make(chan struct{})
	m.changedMu.Unlock()
}

func (m *Master) standbySnapshot() *state.Snapshot {
	s := &state.Snapshot{
		Built: time.Now(), Self: m.self, StartTime: m.startTime,
		ClusterName: m.cfg.ClusterName, Version: m.cfg.Version, Flags: m.flags, Counters: map[string]float64{},
	}
	if li := m.leader.Load(); li != nil {
		info := li.MasterInfo
		s.Leader = &info
	}
	return s
}

// Teardown implements state.Actions.
func (m *Master) Teardown(ctx context.Context, frameworkID string) error {
	k := m.kernel.Load()
	if k == nil {
		return state.ErrNotLeader
	}
	var err error
	if cerr := k.call(ctx, func() {
		fw := k.frameworks[frameworkID]
		if fw == nil {
			err = fmt.Errorf("teardown %s: %w", frameworkID, state.ErrUnknownFramework)
			return
		}
		k.teardown(fw, time.Now())
	}); cerr != nil {
		if errors.Is(cerr, errNotLeader) {
			return state.ErrNotLeader
		}
		return cerr
	}
	return err
}

// MarkAgentGone implements state.Actions.
func (m *Master) MarkAgentGone(ctx context.Context, agentID string) error {
	k := m.kernel.Load()
	if k == nil {
		return state.ErrNotLeader
	}
	var err error
	if cerr := k.call(ctx, func() {
		a := k.agents[agentID]
		if a == nil {
			err = fmt.Errorf("mark agent %s gone: %w", agentID, state.ErrUnknownAgent)
			return
		}
		k.markGone(a, time.Now())
	}); cerr != nil {
		if errors.Is(cerr, errNotLeader) {
			return state.ErrNotLeader
		}
		return cerr
	}
	return err
}

// Run campaigns for leadership until ctx ends, running the kernel while
// leading. Losing leadership stops the kernel and closes every stream.
func (m *Master) Run(ctx context.Context) error {
	value, err := json.Marshal(LeaderInfo{MasterInfo: m.self, URL: m.cfg.URL})
	if err != nil {
		return fmt.Errorf("encode leader info: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		for v := range m.elector.Observe(gctx) {
			if v == "" {
				m.leader.Store(nil)
			} else if li, err := ParseLeaderInfo(v); err != nil {
				m.log.Warn("ignoring an unreadable leader", "error", err)
				m.leader.Store(nil)
			} else {
				m.leader.Store(&li)
			}
			if m.kernel.Load() == nil {
				m.publish(m.standbySnapshot())
			}
		}
		return nil
	})
	g.Go(func() error {
		return m.elector.Run(gctx, string(value), m.lead)
	})
	err = g.Wait()
	m.leader.Store(nil)
	m.publish(m.standbySnapshot())
	return err
}

// lead is one leadership term.
func (m *Master) lead(leaderCtx context.Context) error {
	m.log.Info("elected leading master", "master_id", m.self.ID)
	reg, err := m.registry.Load(leaderCtx)
	if err != nil {
		m.log.Error("cannot load the registry; resigning", "error", err)
		return fmt.Errorf("load registry: %w", err)
	}
	k := newKernel(m, leaderCtx, reg)
	m.kernel.Store(k)
	k.run(leaderCtx)
	m.kernel.CompareAndSwap(k, nil)
	m.publish(m.standbySnapshot())
	m.log.Info("no longer leading", "master_id", m.self.ID)
	return nil
}
