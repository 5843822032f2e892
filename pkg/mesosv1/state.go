package mesosv1

// This file holds the shapes of the legacy master endpoints (/master/state,
// /master/state-summary, /master/slaves, /master/frameworks, /master/tasks) as
// Mesos renders them. Tools like mesos-dns, marathon-lb and the dcos CLI parse
// these, so the field names and nesting follow Mesos exactly; notably,
// resources are flat objects ({"cpus":1,"ports":"[31000-31005]"}) and task
// labels are a bare array of {key,value}.

// ResourceMap is Mesos' flat JSON form of a resource set: scalars as numbers,
// ranges as "[a-b, c-d]" strings, sets as "{a,b}" strings.
type ResourceMap map[string]any

// StateResponse is GET /master/state.
type StateResponse struct {
	Version                string            `json:"version"`
	GitSHA                 string            `json:"git_sha,omitempty"`
	BuildDate              string            `json:"build_date,omitempty"`
	BuildTime              float64           `json:"build_time,omitempty"`
	StartTime              float64           `json:"start_time"`
	ElectedTime            float64           `json:"elected_time,omitempty"`
	ID                     string            `json:"id"`
	PID                    string            `json:"pid"`
	Hostname               string            `json:"hostname"`
	ActivatedSlaves        int               `json:"activated_slaves"`
	DeactivatedSlaves      int               `json:"deactivated_slaves"`
	UnreachableSlaves      int               `json:"unreachable_slaves"`
	Cluster                string            `json:"cluster,omitempty"`
	Leader                 string            `json:"leader,omitempty"`
	LeaderInfo             *MasterInfo       `json:"leader_info,omitempty"`
	LogDir                 string            `json:"log_dir,omitempty"`
	Flags                  map[string]string `json:"flags"`
	Slaves                 []StateAgent      `json:"slaves"`
	RecoveredSlaves        []StateAgent      `json:"recovered_slaves"`
	Frameworks             []StateFramework  `json:"frameworks"`
	CompletedFrameworks    []StateFramework  `json:"completed_frameworks"`
	OrphanTasks            []StateTask       `json:"orphan_tasks"`
	UnregisteredFrameworks []string          `json:"unregistered_frameworks"`
}

// StateAgent is one entry of "slaves" in /master/state, /master/slaves and
// /master/state-summary (the summary adds the TASK_* counts and framework_ids).
type StateAgent struct {
	ID                      string                 `json:"id"`
	PID                     string                 `json:"pid"`
	Hostname                string                 `json:"hostname"`
	Port                    int                    `json:"port,omitempty"`
	RegisteredTime          float64                `json:"registered_time"`
	ReregisteredTime        float64                `json:"reregistered_time,omitempty"`
	Resources               ResourceMap            `json:"resources"`
	UsedResources           ResourceMap            `json:"used_resources"`
	OfferedResources        ResourceMap            `json:"offered_resources"`
	ReservedResources       map[string]ResourceMap `json:"reserved_resources"`
	UnreservedResources     ResourceMap            `json:"unreserved_resources"`
	ReservedResourcesFull   map[string][]Resource  `json:"reserved_resources_full,omitempty"`
	UnreservedResourcesFull []Resource             `json:"unreserved_resources_full,omitempty"`
	UsedResourcesFull       []Resource             `json:"used_resources_full,omitempty"`
	OfferedResourcesFull    []Resource             `json:"offered_resources_full,omitempty"`
	Attributes              map[string]any         `json:"attributes"`
	Active                  bool                   `json:"active"`
	Deactivated             bool                   `json:"deactivated"`
	Version                 string                 `json:"version"`
	Capabilities            []string               `json:"capabilities,omitempty"`
	Domain                  *DomainInfo            `json:"domain,omitempty"`

	// Basalt extension: the container runtimes this agent can run, and
	// whether it isolates tasks (issue: containers).
	Runtimes []string `json:"basalt_runtimes,omitempty"`

	// state-summary only.
	TaskCounts
	FrameworkIDs []string `json:"framework_ids,omitempty"`
}

// TaskCounts are the TASK_* counters of /master/state-summary.
type TaskCounts struct {
	TaskStaging     *int `json:"TASK_STAGING,omitempty"`
	TaskStarting    *int `json:"TASK_STARTING,omitempty"`
	TaskRunning     *int `json:"TASK_RUNNING,omitempty"`
	TaskKilling     *int `json:"TASK_KILLING,omitempty"`
	TaskFinished    *int `json:"TASK_FINISHED,omitempty"`
	TaskKilled      *int `json:"TASK_KILLED,omitempty"`
	TaskFailed      *int `json:"TASK_FAILED,omitempty"`
	TaskLost        *int `json:"TASK_LOST,omitempty"`
	TaskError       *int `json:"TASK_ERROR,omitempty"`
	TaskUnreachable *int `json:"TASK_UNREACHABLE,omitempty"`
}

// StateFramework is one entry of "frameworks" in /master/state and friends.
type StateFramework struct {
	ID               string       `json:"id"`
	Name             string       `json:"name"`
	PID              string       `json:"pid,omitempty"`
	User             string       `json:"user"`
	Hostname         string       `json:"hostname"`
	WebuiURL         string       `json:"webui_url"`
	FailoverTimeout  float64      `json:"failover_timeout"`
	Checkpoint       bool         `json:"checkpoint"`
	Role             string       `json:"role,omitempty"`
	Roles            []string     `json:"roles,omitempty"`
	Principal        string       `json:"principal,omitempty"`
	Capabilities     []string     `json:"capabilities"`
	Labels           []Label      `json:"labels,omitempty"`
	Active           bool         `json:"active"`
	Connected        bool         `json:"connected"`
	Recovered        bool         `json:"recovered"`
	RegisteredTime   float64      `json:"registered_time"`
	ReregisteredTime float64      `json:"reregistered_time,omitempty"`
	UnregisteredTime float64      `json:"unregistered_time"`
	Resources        ResourceMap  `json:"resources"`
	UsedResources    ResourceMap  `json:"used_resources"`
	OfferedResources ResourceMap  `json:"offered_resources"`
	Tasks            []StateTask  `json:"tasks"`
	CompletedTasks   []StateTask  `json:"completed_tasks"`
	UnreachableTasks []StateTask  `json:"unreachable_tasks"`
	Offers           []StateOffer `json:"offers"`
	Executors        []any        `json:"executors"`

	// state-summary only.
	TaskCounts
	SlaveIDs []string `json:"slave_ids,omitempty"`
}

// StateTask is a task as the master's endpoints render it.
type StateTask struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	FrameworkID string         `json:"framework_id"`
	ExecutorID  string         `json:"executor_id"`
	SlaveID     string         `json:"slave_id"`
	State       string         `json:"state"`
	Role        string         `json:"role,omitempty"`
	Resources   ResourceMap    `json:"resources"`
	Statuses    []StateStatus  `json:"statuses"`
	Labels      []Label        `json:"labels,omitempty"`
	Discovery   *DiscoveryInfo `json:"discovery,omitempty"`
	Container   *ContainerInfo `json:"container,omitempty"`
	HealthCheck *HealthCheck   `json:"health_check,omitempty"`
	KillPolicy  *KillPolicy    `json:"kill_policy,omitempty"`
}

// StateStatus is one entry of a task's "statuses".
type StateStatus struct {
	State           string           `json:"state"`
	Timestamp       float64          `json:"timestamp"`
	Healthy         *bool            `json:"healthy,omitempty"`
	Labels          []Label          `json:"labels,omitempty"`
	ContainerStatus *ContainerStatus `json:"container_status,omitempty"`
}

// StateOffer is an outstanding offer in /master/state.
type StateOffer struct {
	ID             string          `json:"id"`
	FrameworkID    string          `json:"framework_id"`
	AllocationInfo *AllocationInfo `json:"allocation_info,omitempty"`
	SlaveID        string          `json:"slave_id"`
	Resources      ResourceMap     `json:"resources"`
}

// StateSummaryResponse is GET /master/state-summary.
type StateSummaryResponse struct {
	Hostname   string           `json:"hostname"`
	Cluster    string           `json:"cluster,omitempty"`
	Slaves     []StateAgent     `json:"slaves"`
	Frameworks []StateFramework `json:"frameworks"`
}

// SlavesResponse is GET /master/slaves.
type SlavesResponse struct {
	Slaves          []StateAgent `json:"slaves"`
	RecoveredSlaves []StateAgent `json:"recovered_slaves"`
}

// FrameworksResponse is GET /master/frameworks.
type FrameworksResponse struct {
	Frameworks             []StateFramework `json:"frameworks"`
	CompletedFrameworks    []StateFramework `json:"completed_frameworks"`
	UnregisteredFrameworks []string         `json:"unregistered_frameworks"`
}

// TasksResponse is GET /master/tasks.
type TasksResponse struct {
	Tasks []StateTask `json:"tasks"`
}

// RolesResponse is GET /master/roles.
type RolesResponse struct {
	Roles []StateRole `json:"roles"`
}

// StateRole is one entry of /master/roles. Resources is what Mesos calls
// "allocated and offered"; Allocated (used by tasks), Offered and Reserved
// split it further.
type StateRole struct {
	Name       string      `json:"name"`
	Weight     float64     `json:"weight"`
	Frameworks []string    `json:"frameworks"`
	Resources  ResourceMap `json:"resources"`
	Allocated  ResourceMap `json:"allocated,omitempty"`
	Offered    ResourceMap `json:"offered,omitempty"`
	Reserved   ResourceMap `json:"reserved,omitempty"`
}

// FlagsResponse is GET /master/flags.
type FlagsResponse struct {
	Flags map[string]string `json:"flags"`
}
