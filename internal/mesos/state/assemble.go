package state

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// The big documents (/master/state, /master/state-summary,
// /master/frameworks) are assembled from pieces rather than encoded in one
// go: each task's and agent's JSON is encoded once and reused for as long
// as the master keeps publishing the same record. Snapshots are immutable
// and the event loop treats records as copy-on-write, so a pointer seen in
// an earlier snapshot still holds the same content: after the first
// render, a new snapshot costs only the records that changed.
//
// The heads of objects (every field but the long lists) are encoded with
// encoding/json from the mesosv1 types, with the lists hidden, so the
// shapes stay those of pkg/mesosv1; reference_test.go checks the assembled
// documents against encoding the whole mesosv1 value.

// memo maps records to their encoded JSON; read-only once published.
type memo[K comparable] struct {
	built time.Time
	m     map[K][]byte
}

// lookup returns the cached JSON of k in m, nil-safe.
func (m *memo[K]) lookup(k K) ([]byte, bool) {
	if m == nil {
		return nil, false
	}
	b, ok := m.m[k]
	return b, ok
}

// taskMemo is one rendering's encodings of its tasks in one shape.
type taskMemo struct {
	once sync.Once
	m    atomic.Pointer[memo[*Task]]
	err  error
}

// memoTasks encodes every task of r's snapshot with enc into tm, reusing
// the encodings of the newest earlier snapshot (last) for shared records.
func (a *API) memoTasks(r *rendering, tm *taskMemo, last *atomic.Pointer[memo[*Task]], enc func(*encoder, *Task) ([]byte, error)) (*memo[*Task], error) {
	tm.once.Do(func() {
		e := newEncoder()
		prev := last.Load()
		tasks := r.index().tasks
		m := &memo[*Task]{built: r.snap.Built, m: make(map[*Task][]byte, len(tasks))}
		for _, t := range tasks {
			if b, ok := prev.lookup(t); ok {
				m.m[t] = b
				continue
			}
			b, err := enc(e, t)
			if err != nil {
				tm.err = err
				return
			}
			m.m[t] = b
		}
		tm.m.Store(m)
		publishMemo(last, m)
	})
	return tm.m.Load(), tm.err
}

// taskJSON returns every task of r's snapshot as the legacy endpoints
// render it.
func (a *API) taskJSON(r *rendering) (*memo[*Task], error) {
	return a.memoTasks(r, &r.tasks, &a.lastTasks, func(e *encoder, t *Task) ([]byte, error) { return e.encode(stateTask(t)) })
}

// v1TaskJSON returns every task of r's snapshot as the operator API
// renders it.
func (a *API) v1TaskJSON(r *rendering) (*memo[*Task], error) {
	return a.memoTasks(r, &r.v1Tasks, &a.lastV1Tasks, func(e *encoder, t *Task) ([]byte, error) { return e.encode(v1Task(t)) })
}

// agentJSON returns the encoded (summary form) agent of every registered
// agent in r's snapshot, reusing the previous snapshot's encodings.
func (a *API) agentJSON(r *rendering) (*memo[*Agent], error) {
	r.agentsOnce.Do(func() {
		e := newEncoder()
		prev := a.lastAgents.Load()
		s := r.snap
		m := &memo[*Agent]{built: s.Built, m: make(map[*Agent][]byte, len(s.Agents))}
		for _, ag := range s.Agents {
			if !registered(ag) {
				continue
			}
			if b, ok := prev.lookup(ag); ok {
				m.m[ag] = b
				continue
			}
			b, err := e.encode(stateAgent(ag, false))
			if err != nil {
				r.agentsErr = err
				return
			}
			m.m[ag] = b
		}
		publishMemo(&a.lastAgents, m)
		r.agents = m
	})
	return r.agents, r.agentsErr
}

// publishMemo makes m the memo the next snapshot starts from, unless a
// newer one is already there.
func publishMemo[K comparable](p interface {
	Load() *memo[K]
	CompareAndSwap(old, new *memo[K]) bool
}, m *memo[K]) {
	for {
		old := p.Load()
		if old != nil && old.built.After(m.built) {
			return
		}
		if p.CompareAndSwap(old, m) {
			return
		}
	}
}

// oneTaskJSON returns a single task's JSON from whichever memo has it, or
// encodes it (for /master/tasks, which must not encode every task).
func (a *API) oneTaskJSON(r *rendering, t *Task) ([]byte, error) {
	if b, ok := r.tasks.m.Load().lookup(t); ok {
		return b, nil
	}
	if b, ok := a.lastTasks.Load().lookup(t); ok {
		return b, nil
	}
	return encode(stateTask(t))
}

// stateHeadJSON hides the lists of mesosv1.StateResponse: a field of the
// outer struct with the same JSON name wins, and omitempty drops it.
type stateHeadJSON struct {
	*mesosv1.StateResponse
	Slaves                 []int `json:"slaves,omitempty"`
	RecoveredSlaves        []int `json:"recovered_slaves,omitempty"`
	Frameworks             []int `json:"frameworks,omitempty"`
	CompletedFrameworks    []int `json:"completed_frameworks,omitempty"`
	OrphanTasks            []int `json:"orphan_tasks,omitempty"`
	UnregisteredFrameworks []int `json:"unregistered_frameworks,omitempty"`
}

// frameworkHeadJSON hides the task, offer and executor lists of
// mesosv1.StateFramework (appended after the head in Mesos' order).
type frameworkHeadJSON struct {
	*mesosv1.StateFramework
	Tasks            []int `json:"tasks,omitempty"`
	CompletedTasks   []int `json:"completed_tasks,omitempty"`
	UnreachableTasks []int `json:"unreachable_tasks,omitempty"`
	Offers           []int `json:"offers,omitempty"`
	Executors        []int `json:"executors,omitempty"`
}

// offerJSON returns the encoded offers of r's snapshot's frameworks,
// reusing the previous snapshot's encodings (a framework may hold an
// offer for each of 10,000 agents; most outlive many snapshots).
func (a *API) offerJSON(r *rendering) (*memo[*Offer], error) {
	r.offersOnce.Do(func() {
		e := newEncoder()
		prev := a.lastOffers.Load()
		s := r.snap
		n := 0
		for _, f := range s.Frameworks {
			n += len(f.Offers)
		}
		m := &memo[*Offer]{built: s.Built, m: make(map[*Offer][]byte, n)}
		for _, f := range s.Frameworks {
			for _, o := range f.Offers {
				if b, ok := prev.lookup(o); ok {
					m.m[o] = b
					continue
				}
				b, err := e.encode(stateOffer(o))
				if err != nil {
					r.offersErr = err
					return
				}
				m.m[o] = b
			}
		}
		publishMemo(&a.lastOffers, m)
		r.offers = m
	})
	return r.offers, r.offersErr
}

// writeFramework appends one framework in full.
func writeFramework(b *builder, f *Framework, tasks *memo[*Task], offers *memo[*Offer]) error {
	sf := frameworkHead(f)
	head, err := encode(frameworkHeadJSON{StateFramework: &sf})
	if err != nil {
		return err
	}
	comma := b.openObject(head)
	elems := make([][]byte, len(f.Offers))
	for i, o := range f.Offers {
		if oj, ok := offers.lookup(o); ok {
			elems[i] = oj
			continue
		}
		// Completed frameworks' records are not in the memo (they
		// carry no offers).
		oj, err := encode(stateOffer(o))
		if err != nil {
			return err
		}
		elems[i] = oj
	}
	b.array(comma, "offers", elems)
	b.str(`,"executors":[]`) // always empty: tasks run under the command executor
	comma = true
	for i, list := range [][]*Task{f.Tasks, f.CompletedTasks, f.UnreachableTasks} {
		name := [...]string{"tasks", "completed_tasks", "unreachable_tasks"}[i]
		elems := make([][]byte, len(list))
		for j, t := range list {
			elems[j] = tasks.m[t]
		}
		b.array(comma, name, elems)
		comma = true
	}
	b.str("}")
	return nil
}

// writeFrameworks appends `"name":[...]` with the frameworks whose ID is
// only ("" = all).
func writeFrameworks(b *builder, comma bool, name string, fs []*Framework, only string, tasks *memo[*Task], offers *memo[*Offer]) error {
	if comma {
		b.str(",")
	}
	b.str(`"` + name + `":[`)
	first := true
	for _, f := range fs {
		if only != "" && frameworkID(f) != only {
			continue
		}
		if !first {
			b.str(",")
		}
		first = false
		if err := writeFramework(b, f, tasks, offers); err != nil {
			return err
		}
	}
	b.str("]")
	return nil
}

// renderState assembles /master/state.
func (a *API) renderState(r *rendering) (*document, error) {
	tasks, err := a.taskJSON(r)
	if err != nil {
		return nil, err
	}
	agents, err := a.agentJSON(r)
	if err != nil {
		return nil, err
	}
	offers, err := a.offerJSON(r)
	if err != nil {
		return nil, err
	}
	s := r.snap
	head, err := encode(stateHeadJSON{StateResponse: stateHead(s)})
	if err != nil {
		return nil, err
	}
	b := &builder{}
	// Two segments per task and agent (its bytes, then the separator).
	b.d.segs = make([][]byte, 0, 2*(len(tasks.m)+len(agents.m))+64)
	comma := b.openObject(head)
	var elems [][]byte
	for _, ag := range s.Agents {
		if registered(ag) {
			elems = append(elems, agents.m[ag])
		}
	}
	b.array(comma, "slaves", elems)
	b.array(true, "recovered_slaves", nil)
	if err := writeFrameworks(b, true, "frameworks", s.Frameworks, "", tasks, offers); err != nil {
		return nil, err
	}
	if err := writeFrameworks(b, true, "completed_frameworks", s.CompletedFrameworks, "", tasks, offers); err != nil {
		return nil, err
	}
	b.array(true, "orphan_tasks", nil)
	b.array(true, "unregistered_frameworks", nil)
	b.str("}")
	return b.done(), nil
}

// renderFrameworks assembles /master/frameworks, optionally for one ID.
func (a *API) renderFrameworks(r *rendering, only string) (*document, error) {
	tasks, err := a.taskJSON(r)
	if err != nil {
		return nil, err
	}
	offers, err := a.offerJSON(r)
	if err != nil {
		return nil, err
	}
	b := &builder{}
	b.str("{")
	if err := writeFrameworks(b, false, "frameworks", r.snap.Frameworks, only, tasks, offers); err != nil {
		return nil, err
	}
	if err := writeFrameworks(b, true, "completed_frameworks", r.snap.CompletedFrameworks, only, tasks, offers); err != nil {
		return nil, err
	}
	b.array(true, "unregistered_frameworks", nil)
	b.str("}")
	return b.done(), nil
}

// writeCounts appends the TASK_* counts of state-summary.
func writeCounts(b *builder, c *counts) {
	if c == nil {
		c = &counts{}
	}
	for i, st := range countedStates {
		b.str(`,"` + st + `":` + strconv.Itoa(c[i]))
	}
}

// renderSummary assembles /master/state-summary.
func (a *API) renderSummary(r *rendering) (*document, error) {
	agents, err := a.agentJSON(r)
	if err != nil {
		return nil, err
	}
	s, idx := r.snap, r.index()
	head, err := encode(struct {
		Hostname string `json:"hostname"`
		Cluster  string `json:"cluster,omitempty"`
	}{s.Self.Hostname, s.ClusterName})
	if err != nil {
		return nil, err
	}
	b := &builder{}
	b.openObject(head)
	b.str(`,"slaves":[`)
	first := true
	for _, ag := range s.Agents {
		if !registered(ag) {
			continue
		}
		if !first {
			b.str(",")
		}
		first = false
		id := agentID(ag)
		b.openObject(agents.m[ag])
		writeCounts(b, idx.agentCounts[id])
		ids, err := encode(emptyIfNil(idx.agentFrameworks[id]))
		if err != nil {
			return nil, err
		}
		b.str(`,"framework_ids":`)
		b.raw(ids)
		b.str("}")
	}
	b.str(`],"frameworks":[`)
	for i, f := range s.Frameworks {
		if i > 0 {
			b.str(",")
		}
		id := frameworkID(f)
		fb, err := encode(summaryFramework{
			ID:               id,
			Name:             f.Info.Name,
			UsedResources:    f.Used.ToMap(),
			OfferedResources: f.Offered.ToMap(),
			Capabilities:     capabilityNames(f),
			Hostname:         f.Info.Hostname,
			WebuiURL:         f.Info.WebuiURL,
			Active:           f.Active,
			Connected:        f.Connected,
			Recovered:        f.Recovered,
			TaskCounts:       taskCounts(idx.frameworkCounts[id]),
			SlaveIDs:         emptyIfNil(idx.frameworkAgents[id]),
		})
		if err != nil {
			return nil, err
		}
		b.raw(fb)
	}
	b.str("]}")
	return b.done(), nil
}

// renderTasks assembles a /master/tasks answer.
func (a *API) renderTasks(r *rendering, ts []*Task) (*document, error) {
	b := &builder{}
	elems := make([][]byte, len(ts))
	for i, t := range ts {
		e, err := a.oneTaskJSON(r, t)
		if err != nil {
			return nil, err
		}
		elems[i] = e
	}
	b.str("{")
	b.array(false, "tasks", elems)
	b.str("}")
	return b.done(), nil
}

// writeV1Tasks appends the GET_TASKS object: the tasks of registered
// frameworks by kind; every task of a completed framework is completed.
func writeV1Tasks(b *builder, s *Snapshot, tasks *memo[*Task]) {
	var live, unreachable, completed [][]byte
	add := func(dst [][]byte, ts []*Task) [][]byte {
		for _, t := range ts {
			dst = append(dst, tasks.m[t])
		}
		return dst
	}
	for _, f := range s.Frameworks {
		live = add(live, f.Tasks)
		unreachable = add(unreachable, f.UnreachableTasks)
		completed = add(completed, f.CompletedTasks)
	}
	for _, f := range s.CompletedFrameworks {
		completed = add(add(add(completed, f.Tasks), f.UnreachableTasks), f.CompletedTasks)
	}
	b.str("{")
	b.array(false, "tasks", live)
	b.array(true, "unreachable_tasks", unreachable)
	b.array(true, "completed_tasks", completed)
	b.str("}")
}

// renderV1 assembles the answer to a cached operator call. GET_TASKS and
// GET_STATE reuse the tasks' encodings across snapshots; the rest are
// small and encoded whole.
func (a *API) renderV1(callType string, r *rendering) (*document, error) {
	switch callType {
	case mesosv1.OperatorGetTasks, mesosv1.OperatorGetState:
	default:
		b, err := encode(operatorResponse(callType, r))
		if err != nil {
			return nil, err
		}
		return wholeDocument(b), nil
	}
	tasks, err := a.v1TaskJSON(r)
	if err != nil {
		return nil, err
	}
	s := r.snap
	b := &builder{}
	b.d.segs = make([][]byte, 0, 2*len(tasks.m)+64)
	if callType == mesosv1.OperatorGetTasks {
		b.str(`{"type":"GET_TASKS","get_tasks":`)
		writeV1Tasks(b, s, tasks)
		b.str("}")
		return b.done(), nil
	}
	b.str(`{"type":"GET_STATE","get_state":{"get_tasks":`)
	writeV1Tasks(b, s, tasks)
	for _, part := range []struct {
		name string
		v    any
	}{
		{"get_executors", v1Executors(s)},
		{"get_frameworks", v1Frameworks(s, r.index())},
		{"get_agents", v1Agents(s)},
	} {
		pb, err := encode(part.v)
		if err != nil {
			return nil, err
		}
		b.str(`,"` + part.name + `":`)
		b.raw(pb)
	}
	b.str("}}")
	return b.done(), nil
}
