// Package state is the read side of the Mesos master: an immutable Snapshot
// of the leader's view of the cluster, which the master's event loop builds
// and publishes atomically, and the HTTP endpoints that render it in Mesos'
// shapes (/master/state, /master/state-summary, /master/slaves,
// /master/frameworks, /master/tasks, /master/roles, /metrics/snapshot, the v1
// operator API's read calls ...).
//
// Reads never block writes: handlers only ever look at a published Snapshot
// and never call into the event loop. Nothing in a Snapshot may be modified
// after it is published.
package state

import (
	"time"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Snapshot is an immutable view of the master's state.
type Snapshot struct {
	// Built is when the event loop built this snapshot.
	Built time.Time

	// Self is this master; Leader is the current leader (nil when unknown).
	Self      mesosv1.MasterInfo
	Leader    *mesosv1.MasterInfo
	IsLeader  bool
	StartTime time.Time
	// ElectedTime is when this master became leader (zero when not leader).
	ElectedTime time.Time

	ClusterID   string
	ClusterName string
	Version     string
	Flags       map[string]string

	// Agents: registered agents (active or not) and unreachable ones, sorted by ID.
	Agents []*Agent
	// Frameworks: registered frameworks (connected or not), sorted by ID.
	Frameworks []*Framework
	// CompletedFrameworks: torn-down frameworks, most recent last, bounded.
	CompletedFrameworks []*Framework

	// Roles known to the allocator with their weights and usage.
	Roles []Role

	// Counters are the master's monotonic counters for /metrics/snapshot,
	// keyed by Mesos metric name (e.g. "master/messages_launch_tasks",
	// "master/tasks_finished" is derived, not counted). The read side adds
	// the gauges it can derive from the snapshot itself.
	Counters map[string]float64
}

// Agent is one agent as the master knows it.
type Agent struct {
	Info mesosv1.AgentInfo // ID, hostname, port, attributes, domain; Resources = total
	// Endpoint is host:port of the agent's HTTP API (/state, /files).
	Endpoint string
	PID      string // "slave(1)@ip:port", for tools that parse it

	Total   mesosv1.Resources
	Used    mesosv1.Resources // by tasks
	Offered mesosv1.Resources // in outstanding offers

	RegisteredTime   time.Time
	ReregisteredTime time.Time // zero if never re-registered

	// Active: connected and offering. Deactivated agents (draining,
	// disconnected within the timeout) are registered but not active.
	Active bool
	// Unreachable: marked unreachable after missing heartbeats; shown in
	// unreachable_slaves, not in slaves.
	Unreachable     bool
	UnreachableTime time.Time

	Version      string
	Capabilities []string
	Runtimes     []string // container runtimes that work on this agent
}

// Framework is one framework as the master knows it.
type Framework struct {
	Info mesosv1.FrameworkInfo // with ID set

	Active    bool // connected and not suppressed by the operator
	Connected bool
	// Recovered: known from the registry (after a master failover) but not
	// re-subscribed yet.
	Recovered bool

	RegisteredTime   time.Time
	ReregisteredTime time.Time
	UnregisteredTime time.Time // when it was torn down (completed frameworks)

	Tasks            []*Task // non-terminal, reachable tasks, sorted by ID
	UnreachableTasks []*Task
	CompletedTasks   []*Task // terminal tasks, most recent last, bounded
	Offers           []*Offer

	Used    mesosv1.Resources
	Offered mesosv1.Resources
}

// Task is one task as the master knows it.
type Task struct {
	Info        mesosv1.TaskInfo // the TaskInfo as launched (resources, labels, discovery, container, health check)
	FrameworkID string
	AgentID     string
	ExecutorID  string // the command executor uses the task id
	Role        string
	State       string
	// Statuses is the history of status updates, oldest first (bounded).
	Statuses []mesosv1.TaskStatus
}

// Offer is an outstanding offer.
type Offer struct {
	ID          string
	FrameworkID string
	AgentID     string
	Resources   mesosv1.Resources
}

// Role is a role known to the allocator.
type Role struct {
	Name       string
	Weight     float64
	Frameworks []string
	Allocated  mesosv1.Resources // offered + used
	Offered    mesosv1.Resources
	Reserved   mesosv1.Resources
}

// Source publishes snapshots; the master's event loop implements it.
// Current never blocks and never returns nil.
type Source interface {
	Current() *Snapshot
}
