package mesosv1

// This file holds the v1 operator API (POST /api/v1 on a master,
// master.proto Call/Response) as JSON: {"type":"GET_X"} in,
// {"type":"GET_X","get_x":{...}} out. Unlike the legacy endpoints in
// state.go, these are protobuf shapes: IDs are {"value"}, times are
// {"nanoseconds"}, resources are arrays of Resource and labels are
// {"labels":[...]}.

// Operator (master) call types.
const (
	OperatorGetHealth     = "GET_HEALTH"
	OperatorGetFlags      = "GET_FLAGS"
	OperatorGetVersion    = "GET_VERSION"
	OperatorGetMetrics    = "GET_METRICS"
	OperatorGetState      = "GET_STATE"
	OperatorGetAgents     = "GET_AGENTS"
	OperatorGetFrameworks = "GET_FRAMEWORKS"
	OperatorGetExecutors  = "GET_EXECUTORS"
	OperatorGetTasks      = "GET_TASKS"
	OperatorGetRoles      = "GET_ROLES"
	OperatorGetWeights    = "GET_WEIGHTS"
	OperatorGetMaster     = "GET_MASTER"
	OperatorTeardown      = "TEARDOWN"
	OperatorMarkAgentGone = "MARK_AGENT_GONE"
)

// OperatorCall is a v1 operator API call; the member named after Type
// carries the arguments.
type OperatorCall struct {
	Type          string                     `json:"type"`
	GetMetrics    *OperatorGetMetricsCall    `json:"get_metrics,omitempty"`
	Teardown      *OperatorTeardownCall      `json:"teardown,omitempty"`
	MarkAgentGone *OperatorMarkAgentGoneCall `json:"mark_agent_gone,omitempty"`
}

// OperatorMarkAgentGoneCall is Call.MarkAgentGone.
type OperatorMarkAgentGoneCall struct {
	AgentID ID `json:"agent_id"`
}

// OperatorGetMetricsCall is Call.GetMetrics.
type OperatorGetMetricsCall struct {
	Timeout *DurationInfo `json:"timeout,omitempty"`
}

// OperatorTeardownCall is Call.Teardown.
type OperatorTeardownCall struct {
	FrameworkID ID `json:"framework_id"`
}

// OperatorResponse is a v1 operator API response; exactly the member named
// after Type is set.
type OperatorResponse struct {
	Type          string              `json:"type"`
	GetHealth     *OperatorHealth     `json:"get_health,omitempty"`
	GetFlags      *OperatorFlags      `json:"get_flags,omitempty"`
	GetVersion    *OperatorVersion    `json:"get_version,omitempty"`
	GetMetrics    *OperatorMetrics    `json:"get_metrics,omitempty"`
	GetState      *OperatorState      `json:"get_state,omitempty"`
	GetAgents     *OperatorAgents     `json:"get_agents,omitempty"`
	GetFrameworks *OperatorFrameworks `json:"get_frameworks,omitempty"`
	GetExecutors  *OperatorExecutors  `json:"get_executors,omitempty"`
	GetTasks      *OperatorTasks      `json:"get_tasks,omitempty"`
	GetRoles      *OperatorRoles      `json:"get_roles,omitempty"`
	GetWeights    *OperatorWeights    `json:"get_weights,omitempty"`
	GetMaster     *OperatorMaster     `json:"get_master,omitempty"`
}

// OperatorHealth is Response.GetHealth.
type OperatorHealth struct {
	Healthy bool `json:"healthy"`
}

// OperatorFlag is one flag of Response.GetFlags.
type OperatorFlag struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
}

// OperatorFlags is Response.GetFlags.
type OperatorFlags struct {
	Flags []OperatorFlag `json:"flags"`
}

// VersionInfo is the build of a master or agent (GET_VERSION, /version).
type VersionInfo struct {
	Version   string  `json:"version"`
	BuildDate string  `json:"build_date,omitempty"`
	BuildTime float64 `json:"build_time,omitempty"`
	BuildUser string  `json:"build_user,omitempty"`
	GitSHA    string  `json:"git_sha,omitempty"`
	GitBranch string  `json:"git_branch,omitempty"`
	GitTag    string  `json:"git_tag,omitempty"`
}

// OperatorVersion is Response.GetVersion.
type OperatorVersion struct {
	VersionInfo VersionInfo `json:"version_info"`
}

// OperatorMetric is one metric of Response.GetMetrics.
type OperatorMetric struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
}

// OperatorMetrics is Response.GetMetrics.
type OperatorMetrics struct {
	Metrics []OperatorMetric `json:"metrics"`
}

// AgentCapability is AgentInfo.Capability.
type AgentCapability struct {
	Type string `json:"type"`
}

// OperatorAgent is one agent of Response.GetAgents.
type OperatorAgent struct {
	AgentInfo          AgentInfo         `json:"agent_info"`
	Active             bool              `json:"active"`
	Deactivated        bool              `json:"deactivated"`
	Version            string            `json:"version"`
	PID                string            `json:"pid,omitempty"`
	RegisteredTime     *TimeInfo         `json:"registered_time,omitempty"`
	ReregisteredTime   *TimeInfo         `json:"reregistered_time,omitempty"`
	TotalResources     []Resource        `json:"total_resources"`
	AllocatedResources []Resource        `json:"allocated_resources"`
	OfferedResources   []Resource        `json:"offered_resources"`
	Capabilities       []AgentCapability `json:"capabilities"`
}

// OperatorAgents is Response.GetAgents.
type OperatorAgents struct {
	Agents          []OperatorAgent `json:"agents"`
	RecoveredAgents []AgentInfo     `json:"recovered_agents"`
}

// OperatorFramework is one framework of Response.GetFrameworks.
type OperatorFramework struct {
	FrameworkInfo      FrameworkInfo `json:"framework_info"`
	Active             bool          `json:"active"`
	Connected          bool          `json:"connected"`
	Recovered          bool          `json:"recovered"`
	RegisteredTime     *TimeInfo     `json:"registered_time,omitempty"`
	ReregisteredTime   *TimeInfo     `json:"reregistered_time,omitempty"`
	UnregisteredTime   *TimeInfo     `json:"unregistered_time,omitempty"`
	Offers             []Offer       `json:"offers,omitempty"`
	AllocatedResources []Resource    `json:"allocated_resources,omitempty"`
	OfferedResources   []Resource    `json:"offered_resources,omitempty"`
}

// OperatorFrameworks is Response.GetFrameworks.
type OperatorFrameworks struct {
	Frameworks          []OperatorFramework `json:"frameworks"`
	CompletedFrameworks []OperatorFramework `json:"completed_frameworks"`
}

// OperatorExecutor is one executor of Response.GetExecutors.
type OperatorExecutor struct {
	ExecutorInfo ExecutorInfo `json:"executor_info"`
	AgentID      ID           `json:"agent_id"`
}

// OperatorExecutors is Response.GetExecutors. Tasks run by Basalt's built-in
// command executor have no ExecutorInfo, so this is often empty.
type OperatorExecutors struct {
	Executors []OperatorExecutor `json:"executors"`
}

// Task is mesos.proto's Task: a task as the master knows it.
type Task struct {
	Name        string         `json:"name"`
	TaskID      ID             `json:"task_id"`
	FrameworkID ID             `json:"framework_id"`
	ExecutorID  *ID            `json:"executor_id,omitempty"`
	AgentID     ID             `json:"agent_id"`
	State       string         `json:"state"`
	Resources   []Resource     `json:"resources"`
	Statuses    []TaskStatus   `json:"statuses"`
	Labels      *Labels        `json:"labels,omitempty"`
	Discovery   *DiscoveryInfo `json:"discovery,omitempty"`
	Container   *ContainerInfo `json:"container,omitempty"`
	HealthCheck *HealthCheck   `json:"health_check,omitempty"`
	KillPolicy  *KillPolicy    `json:"kill_policy,omitempty"`
	User        string         `json:"user,omitempty"`
}

// OperatorTasks is Response.GetTasks.
type OperatorTasks struct {
	PendingTasks     []TaskInfo `json:"pending_tasks,omitempty"`
	Tasks            []Task     `json:"tasks"`
	UnreachableTasks []Task     `json:"unreachable_tasks"`
	CompletedTasks   []Task     `json:"completed_tasks"`
	OrphanTasks      []Task     `json:"orphan_tasks,omitempty"`
}

// OperatorState is Response.GetState.
type OperatorState struct {
	GetTasks      OperatorTasks      `json:"get_tasks"`
	GetExecutors  OperatorExecutors  `json:"get_executors"`
	GetFrameworks OperatorFrameworks `json:"get_frameworks"`
	GetAgents     OperatorAgents     `json:"get_agents"`
}

// OperatorRole is one role of Response.GetRoles.
type OperatorRole struct {
	Name       string     `json:"name"`
	Weight     float64    `json:"weight"`
	Frameworks []ID       `json:"frameworks"`
	Resources  []Resource `json:"resources"` // allocated + offered, as Mesos
	Allocated  []Resource `json:"allocated,omitempty"`
	Offered    []Resource `json:"offered,omitempty"`
	Reserved   []Resource `json:"reserved,omitempty"`
}

// OperatorRoles is Response.GetRoles.
type OperatorRoles struct {
	Roles []OperatorRole `json:"roles"`
}

// WeightInfo is a role's weight.
type WeightInfo struct {
	Weight float64 `json:"weight"`
	Role   string  `json:"role"`
}

// OperatorWeights is Response.GetWeights.
type OperatorWeights struct {
	WeightInfos []WeightInfo `json:"weight_infos"`
}

// OperatorMaster is Response.GetMaster. Times are seconds since the epoch.
type OperatorMaster struct {
	MasterInfo  MasterInfo `json:"master_info"`
	StartTime   float64    `json:"start_time,omitempty"`
	ElectedTime float64    `json:"elected_time,omitempty"`
}
