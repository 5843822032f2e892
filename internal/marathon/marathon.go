// Package marathon is Basalt's Marathon: the framework that keeps
// long-running services running (DC/OS's distributed init). Every master
// runs one; they elect a leader in the store ("marathon" election), and the
// leader subscribes to the Mesos master through the scheduler API client
// (pkg/scheduler) — never through the kernel's Go types — with a failover
// timeout of one week, so it can run anywhere a master URL is reachable.
//
// State of record lives under the store prefix "marathon/": the framework
// ID, every app (current definition and its versions), explicit groups,
// running deployments and every instance. The leader loads it on election,
// reconciles tasks with Mesos after every (re)subscription, and then one
// goroutine (the loop) owns all of it: API mutations, Mesos events and timers
// are messages to the loop; readers get an immutable Snapshot.
//
// The decisions are pure code in subpackages: appdef (definitions),
// deploy (plans and step progress), match (offers and TaskInfos). The /v2
// HTTP API is internal/marathon/api.
package marathon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/basalt-dcos/basalt/internal/marathon/appdef"
	"github.com/basalt-dcos/basalt/internal/marathon/match"
	"github.com/basalt-dcos/basalt/internal/store"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
)

// Config configures Marathon. Zero durations take the defaults of DefaultConfig.
type Config struct {
	// Masters are the Mesos masters' base URLs.
	Masters []string
	// Advertise is this node's /v2 API address (host:port), published in
	// the election so that followers can proxy to the leader.
	Advertise string
	// Hostname is the framework's hostname (default: Advertise's host).
	Hostname string

	FrameworkName   string
	Role            string // --mesos_role
	User            string // framework user
	Principal       string
	FailoverTimeout time.Duration
	WebUIURL        string

	// Options for definitions and matching.
	DefaultAcceptedResourceRoles []string
	MesosUser                    string
	EnvVarsPrefix                string
	LocalPortMin, LocalPortMax   int
	DefaultNetworkName           string

	// MaxInstancesPerOffer bounds launches per offer (DC/OS: 100).
	MaxInstancesPerOffer int
	// DeclineOfferDuration is the refuse filter on offers Marathon has no use for.
	DeclineOfferDuration time.Duration
	// ReconcileInterval is the period of implicit reconciliation.
	ReconcileInterval time.Duration
	// TaskLaunchTimeout fails a task that has not reached RUNNING in time
	// (DC/OS: one day).
	TaskLaunchTimeout time.Duration
	// KillRetry is how often unconfirmed kills are re-sent.
	KillRetry time.Duration
	// MaxVersions is how many versions of an app are kept.
	MaxVersions int
	// Tick is the period of the loop's housekeeping (deployments, unreachable
	// timeouts, backoff expiry, readiness checks).
	Tick time.Duration
}

// DefaultConfig returns DC/OS's Marathon settings (reference §2.9).
func DefaultConfig() Config {
	return Config{
		FrameworkName:                "marathon",
		Role:                         "*",
		User:                         "root",
		Principal:                    "dcos_marathon",
		FailoverTimeout:              7 * 24 * time.Hour,
		DefaultAcceptedResourceRoles: []string{"*"},
		MesosUser:                    "root",
		LocalPortMin:                 10000,
		LocalPortMax:                 20000,
		DefaultNetworkName:           "dcos",
		MaxInstancesPerOffer:         100,
		DeclineOfferDuration:         5 * time.Second,
		ReconcileInterval:            10 * time.Minute,
		TaskLaunchTimeout:            24 * time.Hour,
		KillRetry:                    10 * time.Second,
		MaxVersions:                  50,
		Tick:                         250 * time.Millisecond,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if len(c.Masters) == 0 {
		errs = append(errs, errors.New("marathon: no mesos masters"))
	}
	if c.FrameworkName == "" || c.User == "" {
		errs = append(errs, errors.New("marathon: framework name and user are required"))
	}
	if c.LocalPortMin <= 0 || c.LocalPortMax < c.LocalPortMin || c.LocalPortMax > 65535 {
		errs = append(errs, errors.New("marathon: bad local port range"))
	}
	if c.MaxInstancesPerOffer <= 0 {
		errs = append(errs, errors.New("marathon: max instances per offer must be positive"))
	}
	return errors.Join(errs...)
}

// AppDefOptions are the settings app definitions are defaulted and
// validated with.
func (c Config) AppDefOptions() appdef.Options {
	return appdef.Options{
		DefaultAcceptedResourceRoles: c.DefaultAcceptedResourceRoles,
		MesosRole:                    c.Role,
		DefaultNetworkName:           c.DefaultNetworkName,
		LocalPortMin:                 c.LocalPortMin,
		LocalPortMax:                 c.LocalPortMax,
	}
}

func (c Config) matchConfig() match.Config {
	return match.Config{
		DefaultAcceptedResourceRoles: c.DefaultAcceptedResourceRoles,
		MesosRole:                    c.Role,
		MesosUser:                    c.MesosUser,
		EnvVarsPrefix:                c.EnvVarsPrefix,
	}
}

// Deps are Marathon's collaborators.
type Deps struct {
	Store  *store.Store
	Logger *slog.Logger
	// HTTPClient runs readiness checks, and talks to the Mesos masters
	// when MesosClient is nil; nil means a default client.
	HTTPClient *http.Client
	// MesosClient is the scheduler's client to the Mesos masters (nil:
	// HTTPClient). The master gives it Marathon's system identity; it must
	// not be used to reach tasks, which would then see that identity.
	MesosClient *http.Client
}

// Marathon is one Marathon instance (leader or standby).
type Marathon struct {
	cfg  Config
	deps Deps
	log  *slog.Logger

	snap   atomic.Pointer[Snapshot]
	leader atomic.Pointer[string] // the leader's API address, as observed
	cur    atomic.Pointer[loop]   // the leading loop while this node leads

	bus *bus

	abdicateMu sync.Mutex
	abdicate   context.CancelFunc
}

// ErrNotRunning is returned when a call arrives while the loop is stopping.
var ErrNotRunning = errors.New("marathon is not running")

// New validates cfg. It does no I/O.
func New(cfg Config, deps Deps) (*Marathon, error) {
	d := DefaultConfig()
	if cfg.FailoverTimeout == 0 {
		cfg.FailoverTimeout = d.FailoverTimeout
	}
	if cfg.DeclineOfferDuration == 0 {
		cfg.DeclineOfferDuration = d.DeclineOfferDuration
	}
	if cfg.ReconcileInterval == 0 {
		cfg.ReconcileInterval = d.ReconcileInterval
	}
	if cfg.TaskLaunchTimeout == 0 {
		cfg.TaskLaunchTimeout = d.TaskLaunchTimeout
	}
	if cfg.KillRetry == 0 {
		cfg.KillRetry = d.KillRetry
	}
	if cfg.MaxVersions == 0 {
		cfg.MaxVersions = d.MaxVersions
	}
	if cfg.Tick == 0 {
		cfg.Tick = d.Tick
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil {
		return nil, errors.New("marathon: a store is required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if deps.HTTPClient == nil {
		// Acknowledgements, kills and launches go out concurrently: keep
		// enough idle connections to the master that bursts reuse them.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		deps.HTTPClient = &http.Client{Timeout: 30 * time.Second, Transport: t}
	}
	if deps.MesosClient == nil {
		deps.MesosClient = deps.HTTPClient
	}
	m := &Marathon{cfg: cfg, deps: deps, log: deps.Logger.With("component", "marathon"), bus: newBus()}
	m.snap.Store(&Snapshot{Root: emptyRoot(), Apps: map[string]*AppStatus{}})
	empty := ""
	m.leader.Store(&empty)
	return m, nil
}

// Snapshot returns the latest published state. On a standby it is empty.
func (m *Marathon) Snapshot() *Snapshot { return m.snap.Load() }

// IsLeader reports whether this node leads.
func (m *Marathon) IsLeader() bool { return m.cur.Load() != nil }

// Leader returns the leader's API address ("" when none is known).
func (m *Marathon) Leader() string {
	if m.IsLeader() {
		return m.cfg.Advertise
	}
	return *m.leader.Load()
}

// Subscribe streams Marathon's events until ctx ends. A subscriber that
// falls behind loses events rather than slowing Marathon down.
func (m *Marathon) Subscribe(ctx context.Context) <-chan v2.Event { return m.bus.subscribe(ctx) }

// do runs fn on the leading loop and waits for it.
func (m *Marathon) do(ctx context.Context, fn func(*loop) error) error {
	l := m.cur.Load()
	if l == nil {
		return &NotLeaderError{Leader: m.Leader()}
	}
	return l.call(ctx, fn)
}

// Run campaigns for leadership and, while leading, runs the framework. It
// returns when ctx ends.
func (m *Marathon) Run(ctx context.Context) error {
	return m.run(ctx)
}

// Version is the Marathon version Basalt reports (/v2/info, /ping): a
// Marathon 1.10 API level.
const Version = "1.10.0"

// isoTime renders t as Marathon renders timestamps.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
