package mesos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/basalt-dcos/basalt/internal/mesos/allocator"
	"github.com/basalt-dcos/basalt/internal/mesos/state"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// errNotLeader is returned by kernel calls once the loop has stopped (the
// master lost leadership or is shutting down).
var errNotLeader = errors.New("not the leading master")

// kernel is one leadership term: the event loop and everything it owns.
// Every field below msgs is touched only by the loop goroutine.
type kernel struct {
	cfg  Config
	log  *slog.Logger
	m    *Master
	msgs chan func()
	done chan struct{} // closed when the loop has exited

	self        mesosv1.MasterInfo
	runID       string // prefix of IDs minted in this term
	clusterID   string
	electedTime time.Time
	ctx         context.Context // the term's context (for registry writes)

	alloc     *allocator.Allocator
	agents    map[string]*agent
	agentList []*agent // k.agents sorted by id; nil: rebuild
	// agentSubs maps an agent id to its latest stream, for heartbeats,
	// which are answered without the loop (heartbeat). Written by the loop.
	agentSubs    sync.Map
	frameworks   map[string]*framework
	offers       map[string]*offer
	completedFws []*state.Framework // most recent last, bounded
	completedIDs map[string]bool
	// goneAgents were marked gone by an operator; kept (and persisted) so a
	// returning agent is told to shut down and register anew.
	goneAgents map[string]RegisteredAgent

	seqFramework, seqAgent, seqOffer int

	counters map[string]float64

	// allocation requests gathered while processing a batch of messages
	allocAgents map[string]bool
	allocAll    bool

	pendingOps []RegistryOp
	persister  *persister

	snapDirty    bool
	lastSnapshot time.Time
	snapCost     time.Duration // what building and publishing the last snapshot took
	snapTimer    *time.Timer
	snapArmed    bool

	reregisterDeadline bool // true while recovered agents may still re-register
}

func newKernel(m *Master, ctx context.Context, reg RegistryState) *kernel {
	cfg := m.cfg
	k := &kernel{
		cfg:          cfg,
		log:          m.log,
		m:            m,
		msgs:         make(chan func(), 1024),
		done:         make(chan struct{}),
		self:         m.self,
		runID:        uuid.NewString(),
		clusterID:    reg.ClusterID,
		electedTime:  time.Now(),
		ctx:          ctx,
		alloc:        allocator.New(cfg.Allocator),
		agents:       map[string]*agent{},
		frameworks:   map[string]*framework{},
		offers:       map[string]*offer{},
		completedIDs: map[string]bool{},
		goneAgents:   map[string]RegisteredAgent{},
		counters:     map[string]float64{},
		allocAgents:  map[string]bool{},
		persister:    newPersister(m.registry, cfg.RegistryRetry, m.log),
	}
	if k.clusterID == "" {
		k.clusterID = uuid.NewString()
		k.persist(RegistryOp{SetClusterID: k.clusterID})
	}
	now := k.electedTime
	for _, ra := range reg.Agents {
		if ra.Info.ID == nil || ra.Info.ID.Value == "" {
			continue
		}
		if ra.Gone {
			k.goneAgents[ra.Info.ID.Value] = ra
			continue
		}
		a := newAgent(ra.Info.ID.Value, ra.Info, ra.Endpoint, ra.Version, ra.RegisteredTime)
		if ra.Unreachable {
			a.state = agentUnreachable
			a.unreachableTime = ra.UnreachableTime
		} else {
			a.state = agentRecovered
			k.reregisterDeadline = true
		}
		k.agents[a.id] = a
	}
	for _, rf := range reg.Frameworks {
		if rf.Info.ID == nil || rf.Info.ID.Value == "" {
			continue
		}
		if rf.Removed {
			k.completedIDs[rf.Info.ID.Value] = true
			continue
		}
		fw := k.addFramework(rf.Info, rf.RegisteredTime)
		fw.state = fwRecovered
		k.startFailoverTimer(fw, now)
	}
	if k.reregisterDeadline {
		time.AfterFunc(cfg.AgentReregisterTimeout, func() { k.post(k.reregisterTimeout) })
	}
	k.snapDirty = true
	return k
}

// call runs fn on the loop and waits for it. It fails with errNotLeader when
// the loop has stopped (fn did not run) or ctx's error if ctx ends first.
func (k *kernel) call(ctx context.Context, fn func()) error {
	ran := make(chan struct{})
	select {
	case k.msgs <- func() { fn(); close(ran) }:
	case <-k.done:
		return errNotLeader
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ran:
		return nil
	case <-k.done:
		// The loop exited; fn either ran (ran is closed) or never will.
		select {
		case <-ran:
			return nil
		default:
			return errNotLeader
		}
	}
}

// post queues fn for the loop without waiting (timers use it).
func (k *kernel) post(fn func()) {
	select {
	case k.msgs <- fn:
	case <-k.done:
	}
}

// run is the event loop. It returns when ctx ends (leadership lost or shutdown).
func (k *kernel) run(ctx context.Context) {
	defer close(k.done)
	pctx, stopPersister := context.WithCancel(context.WithoutCancel(ctx))
	persisterDone := make(chan struct{})
	go func() { defer close(persisterDone); k.persister.run(pctx) }()
	defer func() {
		// Let queued registry writes finish briefly so a clean handover does
		// not lose the latest agents/frameworks; a lost leader gives up fast.
		k.persister.closeAndWait(k.cfg.RegistryRetry * 5)
		stopPersister()
		<-persisterDone
	}()

	allocTick := time.NewTicker(k.cfg.AllocationInterval)
	defer allocTick.Stop()
	pingTick := time.NewTicker(k.cfg.AgentPingTimeout)
	defer pingTick.Stop()
	k.snapTimer = time.NewTimer(time.Hour)
	k.snapTimer.Stop()
	defer k.snapTimer.Stop()

	k.log.Info("leading", "cluster_id", k.clusterID, "agents", len(k.agents), "frameworks", len(k.frameworks))
	k.afterBatch()
	for {
		select {
		case <-ctx.Done():
			k.shutdown()
			return
		case fn := <-k.msgs:
			fn()
			for range 256 { // drain a batch before allocating and publishing
				select {
				case fn := <-k.msgs:
					fn()
					continue
				default:
				}
				break
			}
		case <-allocTick.C:
			k.allocAll = true
		case <-pingTick.C:
			k.checkPings(time.Now())
		case <-k.snapTimer.C:
			k.snapArmed = false
		}
		k.snapDirty = true
		k.afterBatch()
	}
}

// afterBatch runs queued allocations, hands registry writes to the
// persister and publishes a snapshot if one is due.
func (k *kernel) afterBatch() {
	now := time.Now()
	if k.allocAll {
		k.allocAll = false
		clear(k.allocAgents)
		k.makeOffers(k.alloc.Allocate(now), now)
	} else if len(k.allocAgents) > 0 {
		ids := slices.Sorted(maps.Keys(k.allocAgents))
		clear(k.allocAgents)
		k.makeOffers(k.alloc.AllocateAgents(now, ids), now)
	}
	if len(k.pendingOps) > 0 {
		k.persister.enqueue(k.pendingOps)
		k.pendingOps = nil
	}
	if !k.snapDirty {
		return
	}
	every := snapshotGap(k.snapCost, k.cfg.SnapshotInterval)
	if gap := now.Sub(k.lastSnapshot); gap >= every {
		k.m.publish(k.buildSnapshot(now))
		k.snapCost = time.Since(now)
		k.lastSnapshot = now
		k.snapDirty = false
	} else if !k.snapArmed {
		k.snapArmed = true
		k.snapTimer.Reset(every - gap)
	}
}

// heartbeat records an agent's HEARTBEAT without the loop: it marks the
// agent's stream seen (checkPings reads it), so 10,000 agents' heartbeats
// cost neither a trip through the loop nor a snapshot. It fails as a call
// on the loop would: errNotLeader once the loop stopped, forbidden for a
// stream that is not the agent's current one.
func (k *kernel) heartbeat(agentID, streamID string) error {
	select {
	case <-k.done:
		return errNotLeader
	default:
	}
	v, ok := k.agentSubs.Load(agentID)
	if !ok {
		return errForbidden("agent " + agentID + " is not subscribed on this stream")
	}
	sub := v.(*subscriber)
	if sub.streamID != streamID || sub.isEnded() {
		return errForbidden("agent " + agentID + " is not subscribed on this stream")
	}
	sub.seen.Store(true)
	return nil
}

// shutdown closes every stream so clients reconnect to the next leader.
func (k *kernel) shutdown() {
	for _, fw := range k.frameworks {
		k.closeSub(fw.sub)
		fw.sub = nil
		if fw.failoverTimer != nil {
			fw.failoverTimer.Stop()
		}
	}
	for _, a := range k.agents {
		k.closeSub(a.sub)
		a.sub = nil
	}
	for _, o := range k.offers {
		if o.timer != nil {
			o.timer.Stop()
		}
	}
	if len(k.pendingOps) > 0 {
		k.persister.enqueue(k.pendingOps)
		k.pendingOps = nil
	}
	k.log.Info("stopped leading")
}

func (k *kernel) count(name string) { k.counters[name]++ }

func (k *kernel) persist(op RegistryOp) { k.pendingOps = append(k.pendingOps, op) }

func (k *kernel) persistAgent(a *agent) {
	info := a.info
	info.ID = &mesosv1.ID{Value: a.id}
	k.persist(RegistryOp{PutAgent: &RegisteredAgent{
		Info: info, Endpoint: a.endpoint, Version: a.version, RegisteredTime: a.registeredTime,
		Unreachable: a.state == agentUnreachable, UnreachableTime: a.unreachableTime,
	}})
}

func (k *kernel) persistFramework(fw *framework) {
	k.persist(RegistryOp{PutFramework: &RegisteredFramework{Info: fw.info, RegisteredTime: fw.registeredTime}})
}

// minSnapshotGap is the shortest gap between two snapshots.
const minSnapshotGap = 5 * time.Millisecond

// snapshotGap is how long after the last snapshot the next may be built.
// Snapshots follow changes closely while they are cheap (a small cluster
// publishes within milliseconds) and every longest when they are not: the
// gap is ten times what the last one cost, so they take at most a tenth of
// a core.
func snapshotGap(lastCost, longest time.Duration) time.Duration {
	return min(longest, max(minSnapshotGap, 10*lastCost))
}

// subscriber is one event stream (a framework's or an agent's). The loop
// is the only producer: it queues encoded events and closes the stream; the
// HTTP handler takes everything queued at once, writes it and flushes once,
// so a burst (a reconciliation of every task) costs one flush per batch,
// not one per event.
type subscriber struct {
	streamID string
	closed   bool       // owned by the loop
	fw       *framework // the framework whose stream it is; nil for an agent's
	// seen: an agent heartbeat arrived on this stream since the loop's
	// last ping check.
	seen atomic.Bool

	mu    sync.Mutex
	queue [][]byte
	ended bool          // closed by the loop: the handler drains and returns
	wake  chan struct{} // capacity 1: something was queued or the stream ended
}

func newSubscriber() *subscriber {
	return &subscriber{streamID: uuid.NewString(), wake: make(chan struct{}, 1)}
}

// push queues b unless limit events are already waiting.
func (s *subscriber) push(b []byte, limit int) bool {
	s.mu.Lock()
	ok := len(s.queue) < limit
	if ok {
		s.queue = append(s.queue, b)
	}
	s.mu.Unlock()
	if ok {
		s.signal()
	}
	return ok
}

func (s *subscriber) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// take returns everything queued and whether the stream has ended (after
// these events).
func (s *subscriber) take() ([][]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queue
	s.queue = nil
	return q, s.ended
}

// isEnded reports whether the loop closed the stream.
func (s *subscriber) isEnded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

// queued is how many events wait.
func (s *subscriber) queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// send encodes ev and queues it without ever blocking the loop. A
// subscriber that lags too far is disconnected: an agent at SubscriberQueue
// events, a framework at SubscriberQueue plus twice its tasks — what a
// scheduler's reconciliation of all its tasks (explicit, then implicit)
// queues at once, so that asking never gets it disconnected.
func (k *kernel) send(sub *subscriber, ev any) {
	if sub == nil || sub.closed {
		return
	}
	b, err := json.Marshal(ev)
	if err != nil {
		k.log.Error("encode event", "error", err)
		return
	}
	limit := k.cfg.SubscriberQueue
	if fw := sub.fw; fw != nil {
		limit += 2 * (len(fw.tasks) + len(fw.unreachable))
	}
	if !sub.push(b, limit) {
		k.log.Warn("disconnecting a subscriber that fell behind", "stream_id", sub.streamID, "queued", sub.queued())
		k.count("master/dropped_messages")
		k.closeSub(sub)
	}
}

func (k *kernel) closeSub(sub *subscriber) {
	if sub == nil || sub.closed {
		return
	}
	sub.closed = true
	sub.mu.Lock()
	sub.ended = true
	sub.mu.Unlock()
	sub.signal()
}

// persister writes registry operations in order, batching whatever queued
// up while the previous write was in flight.
type persister struct {
	reg   Registry
	retry time.Duration
	log   *slog.Logger

	queue  chan []RegistryOp
	closed chan struct{}
	idle   chan struct{}
}

func newPersister(reg Registry, retry time.Duration, log *slog.Logger) *persister {
	return &persister{reg: reg, retry: retry, log: log, queue: make(chan []RegistryOp, 4096),
		closed: make(chan struct{}), idle: make(chan struct{})}
}

func (p *persister) enqueue(ops []RegistryOp) {
	select {
	case p.queue <- ops:
	default:
		// The registry is far behind; block rather than lose writes.
		p.queue <- ops
	}
}

func (p *persister) run(ctx context.Context) {
	defer close(p.idle)
	for {
		var batch []RegistryOp
		select {
		case <-ctx.Done():
			return
		case ops := <-p.queue:
			batch = append(batch, ops...)
		case <-p.closed:
			select {
			case ops := <-p.queue:
				batch = append(batch, ops...)
			default:
				return
			}
		}
	more:
		for len(batch) < 1000 {
			select {
			case ops := <-p.queue:
				batch = append(batch, ops...)
			default:
				break more
			}
		}
		for {
			err := p.reg.Apply(ctx, batch...)
			if err == nil {
				break
			}
			p.log.Warn("registry write failed; retrying", "error", err, "ops", len(batch))
			select {
			case <-ctx.Done():
				return
			case <-time.After(p.retry):
			}
		}
	}
}

// closeAndWait lets the persister drain its queue for at most d.
func (p *persister) closeAndWait(d time.Duration) {
	close(p.closed)
	select {
	case <-p.idle:
	case <-time.After(d):
	}
}

// buildSnapshot renders the loop's state. It costs what changed since the
// last snapshot, not the size of the cluster: the records of agents,
// frameworks, tasks and offers that did not change are the previous
// snapshot's (each agent and framework keeps its last record and what it
// was built from), so the read side also reuses their encoded JSON.
func (k *kernel) buildSnapshot(now time.Time) *state.Snapshot {
	self := k.self
	s := &state.Snapshot{
		Built: now, Self: self, Leader: &self, IsLeader: true,
		StartTime: k.m.startTime, ElectedTime: k.electedTime,
		ClusterID: k.clusterID, ClusterName: k.cfg.ClusterName, Version: k.cfg.Version,
		Flags: k.m.flags, Counters: maps.Clone(k.counters),
	}
	if k.agentList == nil {
		k.agentList = slices.SortedFunc(maps.Values(k.agents), func(x, y *agent) int { return strings.Compare(x.id, y.id) })
	}
	s.Agents = make([]*state.Agent, 0, len(k.agentList))
	reserved := map[string]mesosv1.Resources{}
	for _, a := range k.agentList {
		if a.state == agentRecovered {
			continue
		}
		s.Agents = append(s.Agents, a.snapshot())
		if a.state == agentUnreachable {
			continue
		}
		for role, r := range a.reservations() {
			reserved[role] = reserved[role].Plus(r)
		}
	}
	// Offered resources per role: a framework with one role offers only
	// in it, so its (normalized) offered sum counts whole; the offers of
	// multi-role frameworks are summed one by one. Everything is
	// concatenated and normalized once per role: Plus per offer
	// renormalizes the growing sum each time (85 ms a snapshot with
	// 10,000 offers).
	offeredByRole := map[string]mesosv1.Resources{}
	s.Frameworks = make([]*state.Framework, 0, len(k.frameworks))
	for _, id := range slices.Sorted(maps.Keys(k.frameworks)) {
		fw := k.frameworks[id]
		s.Frameworks = append(s.Frameworks, k.frameworkSnapshot(fw))
		if roles := fw.info.EffectiveRoles(); len(roles) == 1 {
			if len(fw.offers) > 0 {
				offeredByRole[roles[0]] = append(offeredByRole[roles[0]], fw.offered...)
			}
			continue
		}
		for _, o := range fw.offers {
			offeredByRole[o.role] = append(offeredByRole[o.role], o.resources...)
		}
	}
	for role, r := range offeredByRole {
		offeredByRole[role] = r.Normalize()
	}
	s.CompletedFrameworks = slices.Clone(k.completedFws)
	for _, ri := range k.alloc.Roles() {
		s.Roles = append(s.Roles, state.Role{
			Name: ri.Name, Weight: ri.Weight, Frameworks: ri.Frameworks, Allocated: ri.Allocated,
			Offered: offeredByRole[ri.Name], Reserved: reserved[ri.Name],
		})
	}
	sort.Slice(s.Roles, func(i, j int) bool { return s.Roles[i].Name < s.Roles[j].Name })
	return s
}

// frameworkSnapshot returns fw's record for a snapshot: the previous one
// while nothing it shows changed. A returned record is immutable.
func (k *kernel) frameworkSnapshot(fw *framework) *state.Framework {
	if fw.unreachableDirty || (fw.unreachableSnap == nil && len(fw.unreachable) > 0) {
		fw.unreachableSnap = nil
		for _, id := range slices.Sorted(maps.Keys(fw.unreachable)) {
			fw.unreachableSnap = append(fw.unreachableSnap, fw.unreachable[id].st)
		}
		fw.unreachableDirty = false
	}
	if fw.offerList == nil && len(fw.offers) > 0 {
		fw.offerList = make([]*state.Offer, 0, len(fw.offers))
		for _, id := range slices.Sorted(maps.Keys(fw.offers)) {
			o := fw.offers[id]
			if o.snap == nil {
				o.snap = &state.Offer{ID: o.id, FrameworkID: fw.id, AgentID: o.agentID, Resources: o.resources}
			}
			fw.offerList = append(fw.offerList, o.snap)
		}
	}
	fw.flushLive()
	fw.liveShared = true
	key := fwSnapKey{
		infoVer: fw.infoVer, completedVer: fw.completedVer, state: fw.state,
		registered: fw.registeredTime, reregistered: fw.reregisteredTime,
		live: taskListKeyOf(fw.live), unreachable: taskListKeyOf(fw.unreachableSnap),
		offers: offerListKeyOf(fw.offerList), used: keyOf(fw.used), offered: keyOf(fw.offered),
	}
	if fw.snap != nil && fw.snapKey == key {
		return fw.snap
	}
	fw.snap = &state.Framework{
		Info:             fw.info,
		Active:           fw.state == fwConnected,
		Connected:        fw.state == fwConnected,
		Recovered:        fw.state == fwRecovered,
		RegisteredTime:   fw.registeredTime,
		ReregisteredTime: fw.reregisteredTime,
		Tasks:            fw.live,
		UnreachableTasks: fw.unreachableSnap,
		CompletedTasks:   slices.Clone(fw.completed),
		Used:             fw.used,
		Offered:          fw.offered,
		Offers:           fw.offerList,
	}
	fw.snapKey = key
	return fw.snap
}

// reregisterTimeout marks agents recovered from the registry that did not
// come back unreachable.
func (k *kernel) reregisterTimeout() {
	k.reregisterDeadline = false
	now := time.Now()
	for _, a := range k.agents {
		if a.state == agentRecovered {
			k.log.Warn("agent did not re-register after failover; marking it unreachable", "agent_id", a.id)
			a.state = agentUnreachable
			a.unreachableTime = now
			k.count("master/slave_unreachable_completed")
			k.persistAgent(a)
		}
	}
}

func (k *kernel) nextOfferID() string {
	k.seqOffer++
	return fmt.Sprintf("%s-O%d", k.runID, k.seqOffer)
}
