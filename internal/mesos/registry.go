package mesos

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Registry persists what a new leader cannot rebuild from agents: the agents
// (so that agents that do not come back after a failover can be marked
// unreachable), the frameworks (so that their failover timers survive a master
// failover) and the cluster ID. Tasks are not persisted: re-registering agents
// report them. The master batches its writes; an implementation should apply
// one Apply call atomically.
type Registry interface {
	Load(ctx context.Context) (RegistryState, error)
	Apply(ctx context.Context, ops ...RegistryOp) error
}

// RegistryState is the persisted registry.
type RegistryState struct {
	ClusterID  string
	Agents     []RegisteredAgent
	Frameworks []RegisteredFramework
}

// RegisteredAgent is the persisted record of an agent. Info.ID is set.
type RegisteredAgent struct {
	Info            mesosv1.AgentInfo `json:"info"`
	Endpoint        string            `json:"endpoint,omitempty"`
	Version         string            `json:"version,omitempty"`
	RegisteredTime  time.Time         `json:"registered_time"`
	Unreachable     bool              `json:"unreachable,omitempty"`
	UnreachableTime time.Time         `json:"unreachable_time,omitzero"`
	// Gone: an operator marked the agent gone (MARK_AGENT_GONE). The record
	// stays so that the agent, should it come back, is told to shut down and
	// register as a new agent.
	Gone bool `json:"gone,omitempty"`
}

// RegisteredFramework is the persisted record of a framework. Info.ID is set.
type RegisteredFramework struct {
	Info           mesosv1.FrameworkInfo `json:"info"`
	RegisteredTime time.Time             `json:"registered_time"`
	// Removed: the framework was torn down. The tombstone keeps a new leader
	// from letting the framework re-subscribe with its old ID.
	Removed     bool      `json:"removed,omitempty"`
	RemovedTime time.Time `json:"removed_time,omitzero"`
}

// RegistryOp is one registry change; exactly one field is set.
type RegistryOp struct {
	PutAgent        *RegisteredAgent
	DeleteAgent     string
	PutFramework    *RegisteredFramework
	DeleteFramework string
	SetClusterID    string
}

// Elector runs leader elections. Run campaigns until ctx ends; each time this
// candidate is elected it calls lead with a context cancelled when leadership
// is lost, and resigns when lead returns (then campaigns again). value is
// advertised while leading (the JSON of a LeaderInfo). Observe reports the
// value of the current leader ("" when there is none) on every change,
// starting with the current one; its channel closes when ctx ends.
type Elector interface {
	Run(ctx context.Context, value string, lead func(leaderCtx context.Context) error) error
	Observe(ctx context.Context) <-chan string
}

// MemRegistry is an in-memory Registry, safe for concurrent use. Several
// masters in one process can share one to test failover.
type MemRegistry struct {
	mu    sync.Mutex
	state RegistryState
	// Fail, when set, makes Apply fail (for tests of write errors).
	fail error
}

// NewMemRegistry returns an empty in-memory registry.
func NewMemRegistry() *MemRegistry { return &MemRegistry{} }

// SetFailure makes every later Apply return err (nil to heal).
func (r *MemRegistry) SetFailure(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = err
}

// Load returns a deep-enough copy of the registry.
func (r *MemRegistry) Load(ctx context.Context) (RegistryState, error) {
	if err := ctx.Err(); err != nil {
		return RegistryState{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return RegistryState{
		ClusterID:  r.state.ClusterID,
		Agents:     slices.Clone(r.state.Agents),
		Frameworks: slices.Clone(r.state.Frameworks),
	}, nil
}

// Apply applies ops atomically.
func (r *MemRegistry) Apply(ctx context.Context, ops ...RegistryOp) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	for _, op := range ops {
		switch {
		case op.PutAgent != nil:
			id := agentKey(op.PutAgent.Info)
			i := slices.IndexFunc(r.state.Agents, func(a RegisteredAgent) bool { return agentKey(a.Info) == id })
			if i >= 0 {
				r.state.Agents[i] = *op.PutAgent
			} else {
				r.state.Agents = append(r.state.Agents, *op.PutAgent)
			}
		case op.DeleteAgent != "":
			r.state.Agents = slices.DeleteFunc(r.state.Agents, func(a RegisteredAgent) bool { return agentKey(a.Info) == op.DeleteAgent })
		case op.PutFramework != nil:
			id := frameworkKey(op.PutFramework.Info)
			i := slices.IndexFunc(r.state.Frameworks, func(f RegisteredFramework) bool { return frameworkKey(f.Info) == id })
			if i >= 0 {
				r.state.Frameworks[i] = *op.PutFramework
			} else {
				r.state.Frameworks = append(r.state.Frameworks, *op.PutFramework)
			}
		case op.DeleteFramework != "":
			r.state.Frameworks = slices.DeleteFunc(r.state.Frameworks, func(f RegisteredFramework) bool { return frameworkKey(f.Info) == op.DeleteFramework })
		case op.SetClusterID != "":
			r.state.ClusterID = op.SetClusterID
		default:
			return errors.New("registry: empty operation")
		}
	}
	return nil
}

func agentKey(a mesosv1.AgentInfo) string {
	if a.ID == nil {
		return ""
	}
	return a.ID.Value
}

func frameworkKey(f mesosv1.FrameworkInfo) string {
	if f.ID == nil {
		return ""
	}
	return f.ID.Value
}

// MemElection is an in-memory Elector shared by the candidates of one
// process: the first candidate to campaign leads until its lead function
// returns or its context ends; Depose forces the current leader out.
type MemElection struct {
	mu        sync.Mutex
	leader    *memCandidate
	queue     []*memCandidate
	watchers  map[chan string]struct{}
	lastValue string
}

type memCandidate struct {
	value  string
	chosen chan struct{}
	demote context.CancelFunc
}

// NewMemElection returns an election with no candidates.
func NewMemElection() *MemElection {
	return &MemElection{watchers: map[chan string]struct{}{}}
}

// Depose ends the current leader's term (as a lost lease would); it campaigns
// again behind the other candidates.
func (e *MemElection) Depose() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.leader != nil && e.leader.demote != nil {
		e.leader.demote()
	}
}

// Run implements Elector.
func (e *MemElection) Run(ctx context.Context, value string, lead func(context.Context) error) error {
	for ctx.Err() == nil {
		c := &memCandidate{value: value, chosen: make(chan struct{})}
		e.mu.Lock()
		e.queue = append(e.queue, c)
		e.promoteLocked()
		e.mu.Unlock()
		select {
		case <-ctx.Done():
			e.mu.Lock()
			e.queue = slices.DeleteFunc(e.queue, func(x *memCandidate) bool { return x == c })
			if e.leader == c {
				e.leader = nil
				e.promoteLocked()
			}
			e.mu.Unlock()
			return nil
		case <-c.chosen:
		}
		lctx, cancel := context.WithCancel(ctx)
		e.mu.Lock()
		c.demote = cancel
		e.mu.Unlock()
		_ = lead(lctx) // errors are the caller's to log; resign either way
		cancel()
		e.mu.Lock()
		if e.leader == c {
			e.leader = nil
			e.promoteLocked()
		}
		e.mu.Unlock()
	}
	return nil
}

// promoteLocked makes the first queued candidate leader if there is none and
// tells watchers.
func (e *MemElection) promoteLocked() {
	if e.leader == nil && len(e.queue) > 0 {
		e.leader = e.queue[0]
		e.queue = e.queue[1:]
		close(e.leader.chosen)
	}
	v := ""
	if e.leader != nil {
		v = e.leader.value
	}
	if v == e.lastValue {
		return
	}
	e.lastValue = v
	for w := range e.watchers {
		select {
		case <-w: // drop a stale value: watchers only need the latest
		default:
		}
		w <- v
	}
}

// Observe implements Elector.
func (e *MemElection) Observe(ctx context.Context) <-chan string {
	ch := make(chan string, 1)
	e.mu.Lock()
	e.watchers[ch] = struct{}{}
	ch <- e.lastValue
	e.mu.Unlock()
	out := make(chan string)
	go func() {
		defer close(out)
		defer func() {
			e.mu.Lock()
			delete(e.watchers, ch)
			e.mu.Unlock()
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case v := <-ch:
				select {
				case out <- v:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}
