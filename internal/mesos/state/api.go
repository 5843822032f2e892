package state

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Actions are the few operator calls of the read-side API that change
// state; the master implements them by sending a message to its event loop.
type Actions interface {
	// Teardown removes a framework: kills its tasks and moves it to the
	// completed frameworks. It returns ErrUnknownFramework (wrapped or not)
	// when no registered framework has that ID, and ErrNotLeader when this
	// master is not the leader.
	Teardown(ctx context.Context, frameworkID string) error
	// MarkAgentGone removes an agent for good (v1 MARK_AGENT_GONE): its
	// tasks are gone, and if it ever connects again it must register as a
	// new agent. It returns ErrUnknownAgent when no agent has that ID.
	MarkAgentGone(ctx context.Context, agentID string) error
}

// Errors an Actions implementation returns; the API maps them to HTTP.
var (
	// ErrUnknownFramework: no registered framework has the given ID (400).
	ErrUnknownFramework = errors.New("unknown framework")
	// ErrUnknownAgent: no registered agent has the given ID (400).
	ErrUnknownAgent = errors.New("unknown agent")
	// ErrNotLeader: this master is not the leader (503).
	ErrNotLeader = errors.New("not the leading master")
)

// API serves the master's read endpoints from the Source's current
// Snapshot. It never calls into the event loop except through Actions.
type API struct {
	src     Source
	actions Actions
	log     *slog.Logger
	// now is the clock for master/uptime_secs; tests replace it.
	now func() time.Time

	// cache holds the rendering of the most recently served snapshot.
	cache atomic.Pointer[rendering]
	// lastTasks and lastAgents hold the encoded records of the newest
	// snapshot rendered so far; the next snapshot reuses what it shares.
	lastTasks   atomic.Pointer[memo[*Task]]
	lastV1Tasks atomic.Pointer[memo[*Task]]
	lastAgents  atomic.Pointer[memo[*Agent]]
	lastOffers  atomic.Pointer[memo[*Offer]]

	// hub serves the SUBSCRIBE event stream (subscribe.go).
	hub hub
}

// NewAPI returns the read-side API over src. actions may be nil, in which
// case TEARDOWN answers 503; a nil logger discards.
func NewAPI(src Source, actions Actions, logger *slog.Logger) *API {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	a := &API{
		src:     src,
		actions: actions,
		log:     logger.With("component", "mesos-state"),
		now:     time.Now,
	}
	a.SetSubscribeConfig(SubscribeConfig{})
	return a
}

// rendering caches everything derived from one Snapshot. Each piece is
// computed at most once, on first use, so polling tools cost one encode per
// snapshot rather than one per request.
type rendering struct {
	snap *Snapshot

	state, summary, frameworks    lazyDoc
	slaves, roles, flags, version lazyBytes

	metricsOnce sync.Once
	metrics     map[string]float64

	tasks, v1Tasks taskMemo

	agentsOnce sync.Once
	agents     *memo[*Agent]
	agentsErr  error

	offersOnce sync.Once
	offers     *memo[*Offer]
	offersErr  error

	indexOnce sync.Once
	idx       *index

	sortedOnce sync.Once
	sorted     []*Task

	v1Once sync.Once
	v1Docs map[string]*lazyDoc // by call type; read-only once built
}

// lazyBytes is a JSON document rendered once.
type lazyBytes struct {
	once sync.Once
	b    []byte
	err  error
}

func (l *lazyBytes) get(render func() ([]byte, error)) ([]byte, error) {
	l.once.Do(func() { l.b, l.err = render() })
	return l.b, l.err
}

// lazyDoc is an assembled document rendered once.
type lazyDoc struct {
	once sync.Once
	d    *document
	err  error
}

func (l *lazyDoc) get(render func() (*document, error)) (*document, error) {
	l.once.Do(func() { l.d, l.err = render() })
	return l.d, l.err
}

// current returns the rendering of the Source's current snapshot, creating
// and publishing one if the cache holds another snapshot.
func (a *API) current() *rendering {
	return a.renderingFor(a.src.Current())
}

func (a *API) renderingFor(s *Snapshot) *rendering {
	for {
		old := a.cache.Load()
		if old != nil && old.snap == s {
			return old
		}
		r := &rendering{snap: s}
		// A request that loaded an older snapshot must not evict the
		// rendering of a newer one: serve it uncached instead.
		if old != nil && old.snap.Built.After(s.Built) {
			return r
		}
		if a.cache.CompareAndSwap(old, r) {
			return r
		}
	}
}

// index holds lookups derived from a snapshot.
type index struct {
	agents map[string]*Agent
	// tasks are all tasks of registered and completed frameworks (live,
	// unreachable and completed).
	tasks []*Task
	// Per agent and per framework task state counts and cross references,
	// over registered frameworks only (as Mesos' state-summary).
	agentCounts     map[string]*counts
	frameworkCounts map[string]*counts
	agentFrameworks map[string][]string
	frameworkAgents map[string][]string
}

func (r *rendering) index() *index {
	r.indexOnce.Do(func() { r.idx = buildIndex(r.snap) })
	return r.idx
}

// sortedTasks returns the snapshot's tasks in the order /master/tasks
// lists them ascending: by the timestamp of their first status (tasks
// without statuses first), then framework ID, then task ID.
func (r *rendering) sortedTasks() []*Task {
	r.sortedOnce.Do(func() {
		r.sorted = slices.Clone(r.index().tasks)
		slices.SortStableFunc(r.sorted, compareTasks)
	})
	return r.sorted
}

// counts are task counts per state.
type counts [len(countedStates)]int

// countedStates are the states state-summary reports, in Mesos' order.
var countedStates = [...]string{ // read-only
	mesosv1.TaskStaging, mesosv1.TaskStarting, mesosv1.TaskRunning, mesosv1.TaskKilling,
	mesosv1.TaskFinished, mesosv1.TaskKilled, mesosv1.TaskFailed, mesosv1.TaskLost,
	mesosv1.TaskError, mesosv1.TaskUnreachable,
}

func (c *counts) add(state string) {
	for i, s := range countedStates {
		if s == state {
			c[i]++
			return
		}
	}
}
