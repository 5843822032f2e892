package mesosv1

// This file holds the master's operator event stream (POST /api/v1 with
// {"type":"SUBSCRIBE"}, master.proto Event) as JSON: a RecordIO stream whose
// first record is SUBSCRIBED (the whole GET_STATE) and whose later records
// are the changes.

// OperatorSubscribe is the operator call that opens the event stream.
const OperatorSubscribe = "SUBSCRIBE"

// Operator event types (master.proto Event.Type).
const (
	OperatorEventSubscribed       = "SUBSCRIBED"
	OperatorEventTaskAdded        = "TASK_ADDED"
	OperatorEventTaskUpdated      = "TASK_UPDATED"
	OperatorEventAgentAdded       = "AGENT_ADDED"
	OperatorEventAgentRemoved     = "AGENT_REMOVED"
	OperatorEventFrameworkAdded   = "FRAMEWORK_ADDED"
	OperatorEventFrameworkUpdated = "FRAMEWORK_UPDATED"
	OperatorEventFrameworkRemoved = "FRAMEWORK_REMOVED"
	OperatorEventHeartbeat        = "HEARTBEAT"
)

// OperatorEvent is one event of the operator stream; the member named after
// Type is set (HEARTBEAT has none).
type OperatorEvent struct {
	Type             string                    `json:"type"`
	Subscribed       *OperatorSubscribed       `json:"subscribed,omitempty"`
	TaskAdded        *OperatorTaskAdded        `json:"task_added,omitempty"`
	TaskUpdated      *OperatorTaskUpdated      `json:"task_updated,omitempty"`
	AgentAdded       *OperatorAgentAdded       `json:"agent_added,omitempty"`
	AgentRemoved     *OperatorAgentRemoved     `json:"agent_removed,omitempty"`
	FrameworkAdded   *OperatorFrameworkEvent   `json:"framework_added,omitempty"`
	FrameworkUpdated *OperatorFrameworkEvent   `json:"framework_updated,omitempty"`
	FrameworkRemoved *OperatorFrameworkRemoved `json:"framework_removed,omitempty"`
}

// OperatorSubscribed is Event.Subscribed: the state the later events apply to.
type OperatorSubscribed struct {
	GetState                 OperatorState `json:"get_state"`
	HeartbeatIntervalSeconds float64       `json:"heartbeat_interval_seconds,omitempty"`
}

// OperatorTaskAdded is Event.TaskAdded: a task the master did not know.
type OperatorTaskAdded struct {
	Task Task `json:"task"`
}

// OperatorTaskUpdated is Event.TaskUpdated: a task's latest status and
// its new state.
type OperatorTaskUpdated struct {
	FrameworkID ID         `json:"framework_id"`
	Status      TaskStatus `json:"status"`
	State       string     `json:"state"`
}

// OperatorAgentAdded is Event.AgentAdded.
type OperatorAgentAdded struct {
	Agent OperatorAgent `json:"agent"`
}

// OperatorAgentRemoved is Event.AgentRemoved.
type OperatorAgentRemoved struct {
	AgentID ID `json:"agent_id"`
}

// OperatorFrameworkEvent is Event.FrameworkAdded and Event.FrameworkUpdated.
type OperatorFrameworkEvent struct {
	Framework OperatorFramework `json:"framework"`
}

// OperatorFrameworkRemoved is Event.FrameworkRemoved.
type OperatorFrameworkRemoved struct {
	FrameworkInfo FrameworkInfo `json:"framework_info"`
}
