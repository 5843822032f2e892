package marathon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/basalt-dcos/basalt/internal/marathon/deploy"
	"github.com/basalt-dcos/basalt/internal/store"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
	"github.com/basalt-dcos/basalt/pkg/scheduler"
)

// inboxSize bounds queued messages; senders block beyond it (backpressure
// on the Mesos event stream and the API).
const inboxSize = 4096

// maxBatch is how many messages the loop handles before it persists,
// re-plans and publishes. Each batch costs one store write, which on a
// loaded disk takes 100 ms or more: at 512 the loop drained at most ~1,700
// events a second, less than a 10,000-agent launch sends, so Marathon's
// scheduler stream fell behind the master. A message writes at most a few
// operations, so a batch stays well inside one transaction (MaxTxnOps).
const maxBatch = 2048

// publishEvery bounds how often a busy loop re-renders the snapshot; a
// publish that took long spaces the next ones further (publishGap).
const publishEvery = 20 * time.Millisecond

// publishGap is the least time between two publishes: publishEvery, or
// four times what the last one cost, so that rendering uses at most a fifth
// of the loop while every app changes (a launch of 1,000 apps re-rendered
// them all every 20 ms).
func (l *loop) publishGap() time.Duration { return max(publishEvery, 4*l.publishCost) }

// appRuntime is per-app state that is not persisted.
type appRuntime struct {
	delay       time.Duration // current backoff step (0: none)
	delayUntil  time.Time
	lastFailure *v2.TaskFailure
	queuedSince time.Time
	offers      offerStats
}

// offerStats feeds /v2/queue's processedOffersSummary.
type offerStats struct {
	processed, unused int
	lastUnused        time.Time
	lastUsed          time.Time
	reasons           map[string]int
}

// loop is the leader's state and the goroutine that owns it.
type loop struct {
	m   *Marathon
	cfg Config
	log *slog.Logger
	st  *store.Store
	// guard fences every write: it fails once this leadership's election
	// key is gone, so a deposed leader cannot overwrite its successor.
	guard   store.Op
	guarded bool
	sched   atomic.Pointer[scheduler.Client]
	ctx     context.Context

	inbox   chan func()
	stopped chan struct{}
	calls   sync.WaitGroup // goroutines making scheduler calls
	work    *callQueue
	flow    chan bool // REVIVE (true) / SUPPRESS (false), in order

	frameworkID string
	root        deploy.Root
	versions    map[string][]string
	deployments []*deploymentRecord
	instances   map[string]*instance
	byApp       map[string]map[string]*instance
	byTask      map[string]*instance
	apps        map[string]*appRuntime
	lastVersion time.Time
	suppressed  bool
	reviveDue   bool // new launches or an elapsed backoff: clear decline filters
	subscribed  bool
	lastRecon   time.Time
	lastScan    time.Time
	reconcileAt []time.Time // follow-up reconciliations still due
	// unknownKills rate-limits kills of tasks no instance owns.
	unknownKills map[string]time.Time

	pending     []store.Op
	pendingAcks []mesosv1.TaskStatus
	acks        ackSet          // acknowledgements queued or in flight
	dirtyApps   map[string]bool // apps to render again
	// moved are apps whose instances, definition or backoff changed since
	// the last progress: only deployments acting on them can move (all of
	// them when moveAll).
	moved   map[string]bool
	moveAll bool
	// scheduled counts, per app, the instances that want a task and have
	// none active; unsure are the apps touched since it was last counted.
	// offerFlow and the queue read it after every batch, which at 100,000
	// instances must not cost a scan of them all.
	scheduled   map[string]int
	unsure      map[string]bool
	locked      map[string][]string // lockedApps(), nil: compute again
	checkApps   map[string]bool     // apps the scale check must look at
	allDirty    bool
	rootDirty   bool // the root or the deployments changed: publish, and sort the app IDs again
	rendered    map[string]*AppStatus
	lastPublish time.Time
	publishCost time.Duration // how long the last publish took
	changed     bool          // something happened that may move deployments
	mustPublish bool          // an API call waits to read its own write
	pubTimer    *time.Timer
	replies     []func()

	readiness map[string]context.CancelFunc // task id -> running readiness checker
}

func newLoop(m *Marathon, ctx context.Context, p *persisted) *loop {
	l := &loop{
		m: m, cfg: m.cfg, log: m.log, st: m.deps.Store, ctx: ctx,
		inbox:        make(chan func(), inboxSize),
		stopped:      make(chan struct{}),
		work:         newCallQueue(),
		flow:         make(chan bool, 16),
		frameworkID:  p.frameworkID,
		root:         p.root,
		versions:     p.versions,
		deployments:  p.deployments,
		instances:    map[string]*instance{},
		byApp:        map[string]map[string]*instance{},
		byTask:       map[string]*instance{},
		apps:         map[string]*appRuntime{},
		dirtyApps:    map[string]bool{},
		moved:        map[string]bool{},
		moveAll:      true,
		scheduled:    map[string]int{},
		unsure:       map[string]bool{},
		checkApps:    map[string]bool{},
		allDirty:     true,
		rendered:     map[string]*AppStatus{},
		readiness:    map[string]context.CancelFunc{},
		unknownKills: map[string]time.Time{},
	}
	for _, in := range p.instances {
		l.index(in)
	}
	for id := range p.root.Apps {
		l.checkApps[id] = true
	}
	l.changed = true
	return l
}

// call runs fn on the loop and waits for its result.
func (l *loop) call(ctx context.Context, fn func(*loop) error) error {
	done := make(chan error, 1)
	select {
	case l.inbox <- func() {
		err := fn(l)
		l.mustPublish = true
		// Reply once the change is persisted and published, so the caller
		// reads its own write.
		l.replies = append(l.replies, func() { done <- err })
	}:
	case <-ctx.Done():
		return ctx.Err()
	case <-l.stopped:
		return &NotLeaderError{Leader: l.m.Leader()}
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-l.stopped:
		return &NotLeaderError{Leader: l.m.Leader()}
	}
}

// post queues fn without waiting; false if the loop has stopped.
func (l *loop) post(fn func()) bool {
	select {
	case l.inbox <- fn:
		return true
	case <-l.stopped:
		return false
	case <-l.ctx.Done():
		return false
	}
}

// run is the loop. It returns when ctx ends.
func (l *loop) run() {
	defer close(l.stopped)
	defer func() {
		for _, cancel := range l.readiness {
			cancel()
		}
	}()
	tick := time.NewTicker(l.cfg.Tick)
	defer tick.Stop()
	l.pubTimer = time.NewTimer(time.Hour)
	defer l.pubTimer.Stop()
	l.publish(time.Now(), true)
	for {
		select {
		case <-l.ctx.Done():
			return
		case fn := <-l.inbox:
			fn()
			for i := 1; i < maxBatch; i++ {
				select {
				case fn := <-l.inbox:
					fn()
					continue
				default:
				}
				break
			}
		case <-tick.C:
			l.housekeeping(time.Now())
		case <-l.pubTimer.C:
			l.mustPublish = true
		}
		l.settle(time.Now())
	}
}

// settle runs after every batch: move deployments and the scale check,
// persist, acknowledge, fix the offer flow, publish.
func (l *loop) settle(now time.Time) {
	defer func() {
		for _, r := range l.replies {
			r()
		}
		l.replies = l.replies[:0]
	}()
	if l.changed {
		l.changed = false
		l.progress(now)
	}
	if err := l.flush(); err != nil {
		l.log.Error("persist marathon state", "error", err)
	}
	l.offerFlow()
	if !l.allDirty && !l.rootDirty && len(l.dirtyApps) == 0 {
		return
	}
	if l.mustPublish || now.Sub(l.lastPublish) >= l.publishGap() {
		l.mustPublish = false
		l.publish(now, true)
		return
	}
	l.pubTimer.Reset(l.publishGap() - now.Sub(l.lastPublish))
}

// flush writes pending store operations, then queues the acknowledgements
// that waited for them.
func (l *loop) flush() error {
	if len(l.pending) > 0 {
		ops := l.pending
		l.pending = nil
		ctx, cancel := context.WithTimeout(l.ctx, 30*time.Second)
		err := l.write(ctx, ops...)
		cancel()
		if err != nil {
			// Unacknowledged updates are resent by the agent; dropping them
			// here keeps memory and store consistent enough to recover.
			l.pendingAcks = nil
			return fmt.Errorf("apply %d ops: %w", len(ops), err)
		}
	}
	if len(l.pendingAcks) > 0 {
		l.acknowledge(l.pendingAcks)
		l.pendingAcks = nil
	}
	return nil
}

// write applies ops, fenced by the leadership guard. A refused write means
// leadership is gone: it reports a NotLeaderError.
func (l *loop) write(ctx context.Context, ops ...store.Op) error {
	if l.guarded {
		ops = append([]store.Op{l.guard}, ops...)
	}
	err := l.st.Apply(ctx, ops...)
	if errors.Is(err, store.ErrConflict) {
		l.log.Warn("write refused: this node no longer holds Marathon's leadership")
		return &NotLeaderError{}
	}
	return err
}

// callWorkers is how many scheduler calls (acknowledgements, kills,
// accepts, declines, reconciliations) are in flight at once. A burst — a
// thousand kills when a big app is removed — queues here instead of opening
// a thousand connections to the master. An agent sends a task's next update
// only after the previous one is acknowledged, so calls may complete in any
// order. Each call waits for a turn of the master's loop, so acknowledgements
// flow at about callWorkers per turn: with 8, a master whose loop took 50 ms
// under load acknowledged ~150 updates a second while a launch of 100,000
// tasks needs thousands (every task sends STARTING and RUNNING, the second
// only once the first is acknowledged). The HTTP client keeps 64 idle
// connections to the master, enough for all of them.
const callWorkers = 32

// callQueue holds scheduler calls waiting to be made: unbounded, so the
// loop never blocks on it or drops one (a dropped acknowledgement costs an
// agent retry much later).
type callQueue struct {
	mu    sync.Mutex
	items []func(context.Context)
	wake  chan struct{}
}

func newCallQueue() *callQueue { return &callQueue{wake: make(chan struct{}, 1)} }

func (q *callQueue) push(fns ...func(context.Context)) {
	q.mu.Lock()
	q.items = append(q.items, fns...)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// pushFront queues fn ahead of everything waiting: answers to offers must
// not wait behind a burst of kills or acknowledgements.
func (q *callQueue) pushFront(fn func(context.Context)) {
	q.mu.Lock()
	q.items = append([]func(context.Context){fn}, q.items...)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *callQueue) pop() (func(context.Context), bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return nil, false
	}
	fn := q.items[0]
	q.items[0] = nil
	q.items = q.items[1:]
	if len(q.items) > 0 {
		select { // keep another worker busy
		case q.wake <- struct{}{}:
		default:
		}
	}
	return fn, true
}

// callLoop makes the queued calls, callWorkers at a time, until ctx ends.
func (l *loop) callLoop() {
	var wg sync.WaitGroup
	for range callWorkers {
		wg.Go(func() {
			for {
				fn, ok := l.work.pop()
				if !ok {
					select {
					case <-l.ctx.Done():
						return
					case <-l.work.wake:
						continue
					}
				}
				fn(l.ctx)
			}
		})
	}
	wg.Wait()
}

// acknowledge queues acknowledgements of updates. An update whose
// acknowledgement is already queued (the agent resent it because the first
// acknowledgement was slow to come) is acknowledged once: at 100,000 tasks
// a queue more than the agents' 10 s retry long made every update come back
// and be acknowledged again, four calls per update, which kept the queue long.
func (l *loop) acknowledge(sts []mesosv1.TaskStatus) {
	fns := make([]func(context.Context), 0, len(sts))
	for _, st := range sts {
		key := ackKey{task: st.TaskID.Value, uuid: string(st.UUID)}
		if len(st.UUID) > 0 && !l.acks.add(key) {
			continue
		}
		fns = append(fns, func(ctx context.Context) {
			defer l.acks.remove(key)
			if err := l.sched.Load().Acknowledge(ctx, st); err != nil && ctx.Err() == nil {
				l.log.Debug("acknowledge", "task_id", st.TaskID.Value, "error", err)
			}
		})
	}
	l.work.push(fns...)
}

// ackKey names one status update.
type ackKey struct{ task, uuid string }

// ackSet holds the updates whose acknowledgement is queued or in flight;
// the loop adds, the call workers remove.
type ackSet struct {
	mu sync.Mutex
	m  map[ackKey]struct{}
}

// add records k and reports whether it was absent.
func (s *ackSet) add(k ackKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[k]; ok {
		return false
	}
	if s.m == nil {
		s.m = map[ackKey]struct{}{}
	}
	s.m[k] = struct{}{}
	return true
}

func (s *ackSet) remove(k ackKey) {
	s.mu.Lock()
	delete(s.m, k)
	s.mu.Unlock()
}

// index adds or re-files an instance in the lookup maps.
func (l *loop) index(in *instance) {
	if old := l.instances[in.ID]; old != nil && old.TaskID != "" && old.TaskID != in.TaskID {
		delete(l.byTask, old.TaskID)
	}
	l.instances[in.ID] = in
	if l.byApp[in.AppID] == nil {
		l.byApp[in.AppID] = map[string]*instance{}
	}
	l.byApp[in.AppID][in.ID] = in
	if in.TaskID != "" {
		l.byTask[in.TaskID] = in
	}
	l.touch(in.AppID)
	l.checkApps[in.AppID] = true
}

// touch marks an app changed: rendered again at the next publish, and its
// deployments looked at by the next progress.
func (l *loop) touch(appID string) {
	l.dirtyApps[appID] = true
	l.moved[appID] = true
	l.unsure[appID] = true
}

// scheduledCounts returns, per app, how many instances are scheduled (want
// a task and have none active); apps with none are absent. It counts again
// only the apps touched since the last call: every change of an instance
// touches its app.
func (l *loop) scheduledCounts() map[string]int {
	for id := range l.unsure {
		n := 0
		for _, in := range l.byApp[id] {
			if in.scheduled() {
				n++
			}
		}
		if n == 0 {
			delete(l.scheduled, id)
		} else {
			l.scheduled[id] = n
		}
	}
	clear(l.unsure)
	return l.scheduled
}

// save marks in changed: it is re-indexed and written at the next flush.
func (l *loop) save(in *instance) {
	l.index(in)
	l.pending = append(l.pending, putJSON(instanceKey(in.ID), in))
	l.changed = true
}

// expunge forgets an instance.
func (l *loop) expunge(in *instance) {
	delete(l.instances, in.ID)
	if m := l.byApp[in.AppID]; m != nil {
		delete(m, in.ID)
		if len(m) == 0 {
			delete(l.byApp, in.AppID)
		}
	}
	if in.TaskID != "" && l.byTask[in.TaskID] == in {
		delete(l.byTask, in.TaskID)
	}
	l.stopReadiness(in.TaskID)
	l.pending = append(l.pending, store.Delete(instanceKey(in.ID)))
	l.touch(in.AppID)
	l.checkApps[in.AppID] = true
	l.changed = true
}

func (l *loop) runtime(appID string) *appRuntime {
	r := l.apps[appID]
	if r == nil {
		r = &appRuntime{}
		l.apps[appID] = r
	}
	return r
}

// instancesOf returns an app's instances sorted by creation.
func (l *loop) instancesOf(appID string) []*instance {
	m := l.byApp[appID]
	out := make([]*instance, 0, len(m))
	for _, in := range m {
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// nextVersion returns a version timestamp later than every earlier one.
func (l *loop) nextVersion(now time.Time) string {
	t := now.UTC().Truncate(time.Millisecond)
	if !t.After(l.lastVersion) {
		t = l.lastVersion.Add(time.Millisecond)
	}
	l.lastVersion = t
	return isoTime(t)
}

// event publishes a Marathon event.
func (l *loop) event(typ string, now time.Time, fields map[string]any) {
	l.m.bus.publish(typ, now, fields)
}

// lockedApps returns the apps held by running deployments (with their
// ids). It is computed once per change of the deployments (the scale
// check asks after every batch); callers must not modify it.
func (l *loop) lockedApps() map[string][]string {
	if l.locked != nil {
		return l.locked
	}
	out := map[string][]string{}
	for _, d := range l.deployments {
		for _, id := range d.affected() {
			out[id] = append(out[id], d.Plan.ID)
		}
	}
	l.locked = out
	return out
}

// errStopped is returned to calls made while leadership ends.
var errStopped = errors.New("marathon leadership ended")
