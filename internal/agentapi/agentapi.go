// Package agentapi defines Basalt's internal agent↔master protocol: the wire
// messages and the protocol version. It has the same shape as the Mesos v1
// scheduler API: the agent opens one long-lived SUBSCRIBE request to the
// leading master (POST /internal/agent/v1, RecordIO stream of Events down) and
// sends Calls up on separate POSTs carrying the stream id, batched.
//
// It holds data only; the master side lives in internal/mesos and the agent
// side in internal/agent. Agents open every connection, so an agent needs to
// reach masters and nothing else.
//
// Protocol changelog (bump Version on any incompatible change):
//
//	1  initial protocol: SUBSCRIBE (register/re-register with tasks), UPDATE
//	   (batched status updates), HEARTBEAT; events SUBSCRIBED, LAUNCH,
//	   LAUNCH_GROUP, KILL, ACKNOWLEDGE, SHUTDOWN_FRAMEWORK, MESSAGE, HEARTBEAT.
package agentapi

import "github.com/basalt-dcos/basalt/pkg/mesosv1"

// Version is the protocol version this build speaks. A master refuses agents
// whose version it does not support with 400 and a message naming both.
const Version = 1

// Path is the master endpoint for both the stream and the calls.
const Path = "/internal/agent/v1"

// StreamIDHeader carries the stream id the master assigned in SUBSCRIBED on
// every Call after SUBSCRIBE.
const StreamIDHeader = "Basalt-Agent-Stream-Id"

// Call types sent by agents.
const (
	CallSubscribe = "SUBSCRIBE"
	CallUpdate    = "UPDATE"
	CallHeartbeat = "HEARTBEAT"
	CallMessage   = "MESSAGE" // executor → framework data
)

// Call is a message from an agent to the master.
type Call struct {
	Type    string `json:"type"`
	AgentID string `json:"agent_id,omitempty"` // set on every call but a first SUBSCRIBE

	Subscribe *Subscribe       `json:"subscribe,omitempty"`
	Update    *Update          `json:"update,omitempty"`
	Message   *ExecutorMessage `json:"message,omitempty"`
}

// Subscribe registers (AgentInfo.ID unset) or re-registers (ID set) an agent.
// A re-registering agent reports every task it still knows, with its latest
// state, and the FrameworkInfo of their frameworks, so that a new leading
// master can rebuild its view of the cluster (the master persists only the
// registry of agents and frameworks).
type Subscribe struct {
	ProtocolVersion int                     `json:"protocol_version"`
	AgentInfo       mesosv1.AgentInfo       `json:"agent_info"`
	Version         string                  `json:"version"` // basalt version
	Capabilities    []string                `json:"capabilities,omitempty"`
	Runtimes        []string                `json:"runtimes,omitempty"` // containerizers that work here
	Tasks           []Task                  `json:"tasks,omitempty"`
	Frameworks      []mesosv1.FrameworkInfo `json:"frameworks,omitempty"`
	// Endpoint is the agent's HTTP address (host:port) for /files, /state and
	// the agent's own operator API.
	Endpoint string `json:"endpoint"`
}

// Task is a task the agent knows, as reported on re-registration.
type Task struct {
	Info        mesosv1.TaskInfo     `json:"info"`
	FrameworkID string               `json:"framework_id"`
	State       string               `json:"state"`
	Statuses    []mesosv1.TaskStatus `json:"statuses,omitempty"` // latest last
	ContainerID string               `json:"container_id,omitempty"`
}

// Update carries status updates, oldest first. Each has a UUID; the agent
// resends an update until the master forwards the framework's ACKNOWLEDGE for
// it (or the task's framework is gone). Only the oldest unacknowledged update
// of each task is in flight at a time, so updates stay in order per task.
type Update struct {
	Updates []StatusUpdate `json:"updates"`
}

// StatusUpdate is one task status update.
type StatusUpdate struct {
	FrameworkID string             `json:"framework_id"`
	Status      mesosv1.TaskStatus `json:"status"`
}

// ExecutorMessage carries framework message data from an executor.
type ExecutorMessage struct {
	FrameworkID string `json:"framework_id"`
	ExecutorID  string `json:"executor_id"`
	Data        []byte `json:"data"`
}

// Event types sent by the master.
const (
	EventSubscribed        = "SUBSCRIBED"
	EventLaunch            = "LAUNCH"
	EventLaunchGroup       = "LAUNCH_GROUP"
	EventKill              = "KILL"
	EventAcknowledge       = "ACKNOWLEDGE"
	EventShutdownFramework = "SHUTDOWN_FRAMEWORK"
	EventMessage           = "MESSAGE"
	EventHeartbeat         = "HEARTBEAT"
	// EventReconcile asks the agent to resend the latest status of the
	// listed tasks (empty: every task), e.g. after a master failover.
	EventReconcile = "RECONCILE"
	// EventShutdown tells an agent that the master removed it (agent gone);
	// it must kill its tasks and register as a new agent.
	EventShutdown = "SHUTDOWN"
)

// Event is a message from the master to an agent.
type Event struct {
	Type string `json:"type"`

	Subscribed        *Subscribed        `json:"subscribed,omitempty"`
	Launch            *Launch            `json:"launch,omitempty"`
	LaunchGroup       *LaunchGroup       `json:"launch_group,omitempty"`
	Kill              *Kill              `json:"kill,omitempty"`
	Acknowledge       *Acknowledge       `json:"acknowledge,omitempty"`
	ShutdownFramework *ShutdownFramework `json:"shutdown_framework,omitempty"`
	Message           *FrameworkMessage  `json:"message,omitempty"`
	Reconcile         *Reconcile         `json:"reconcile,omitempty"`
	Shutdown          *Shutdown          `json:"shutdown,omitempty"`
}

// Subscribed confirms (re-)registration.
type Subscribed struct {
	AgentID                  string             `json:"agent_id"`
	StreamID                 string             `json:"stream_id"`
	HeartbeatIntervalSeconds float64            `json:"heartbeat_interval_seconds"`
	MasterInfo               mesosv1.MasterInfo `json:"master_info"`
}

// Launch asks the agent to run tasks of one framework.
type Launch struct {
	Framework mesosv1.FrameworkInfo `json:"framework"`
	Tasks     []mesosv1.TaskInfo    `json:"tasks"`
}

// LaunchGroup asks the agent to run a task group under one executor.
type LaunchGroup struct {
	Framework mesosv1.FrameworkInfo `json:"framework"`
	Executor  mesosv1.ExecutorInfo  `json:"executor"`
	TaskGroup mesosv1.TaskGroupInfo `json:"task_group"`
}

// Kill asks the agent to kill a task. KillPolicy overrides the task's own.
type Kill struct {
	FrameworkID string              `json:"framework_id"`
	TaskID      string              `json:"task_id"`
	KillPolicy  *mesosv1.KillPolicy `json:"kill_policy,omitempty"`
}

// Acknowledge forwards a framework's acknowledgement of a status update.
type Acknowledge struct {
	FrameworkID string `json:"framework_id"`
	TaskID      string `json:"task_id"`
	UUID        []byte `json:"uuid"`
}

// ShutdownFramework asks the agent to kill every task of a framework and
// forget it (teardown or failover timeout).
type ShutdownFramework struct {
	FrameworkID string `json:"framework_id"`
}

// FrameworkMessage carries scheduler → executor data.
type FrameworkMessage struct {
	FrameworkID string `json:"framework_id"`
	ExecutorID  string `json:"executor_id"`
	Data        []byte `json:"data"`
}

// Reconcile asks for the latest status of tasks.
type Reconcile struct {
	TaskIDs []string `json:"task_ids,omitempty"`
}

// Shutdown carries the reason an agent was removed.
type Shutdown struct {
	Message string `json:"message"`
}
