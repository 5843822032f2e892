// Package mesosv1 holds the JSON wire types of the Apache Mesos v1 HTTP APIs
// (mesos.proto, scheduler.proto, master.proto) as Basalt speaks them: field
// names are the protobuf names in snake_case, enums are their string names,
// bytes are base64, exactly as Mesos' own JSON encoding renders them, so that
// existing schedulers and tools read them unchanged.
//
// Only the subset Basalt implements is modelled; unknown fields in input are
// ignored by encoding/json, which matches Mesos' tolerance. This package holds
// data and small helpers only: it must not import internal packages or do I/O.
package mesosv1

// ID is the shape of every Mesos identifier message (FrameworkID, AgentID,
// OfferID, TaskID, ExecutorID, ContainerID): {"value": "..."}.
type ID struct {
	Value string `json:"value"`
}

// Label is a key/value pair attached to tasks, frameworks and statuses.
type Label struct {
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
}

// Labels is the Mesos Labels message.
type Labels struct {
	Labels []Label `json:"labels"`
}

// Get returns the value of the first label named key.
func (l *Labels) Get(key string) (string, bool) {
	if l == nil {
		return "", false
	}
	for _, lb := range l.Labels {
		if lb.Key == key {
			return lb.Value, true
		}
	}
	return "", false
}

// Address is a network address as Mesos reports it in MasterInfo/AgentInfo.
type Address struct {
	Hostname string `json:"hostname,omitempty"`
	IP       string `json:"ip,omitempty"`
	Port     int    `json:"port"`
}

// MasterInfo describes a master (reference §1.1).
type MasterInfo struct {
	ID       string   `json:"id"`
	IP       uint32   `json:"ip"` // IPv4 in network byte order packed as Mesos does
	Port     int      `json:"port"`
	PID      string   `json:"pid,omitempty"` // master@ip:port
	Hostname string   `json:"hostname,omitempty"`
	Version  string   `json:"version,omitempty"`
	Address  *Address `json:"address,omitempty"`
}

// Value types for resources and attributes.
const (
	Scalar = "SCALAR"
	Ranges = "RANGES"
	Set    = "SET"
	Text   = "TEXT"
)

// ValueScalar is Value.Scalar.
type ValueScalar struct {
	Value float64 `json:"value"`
}

// ValueRange is one inclusive range [Begin, End].
type ValueRange struct {
	Begin uint64 `json:"begin"`
	End   uint64 `json:"end"`
}

// ValueRanges is Value.Ranges.
type ValueRanges struct {
	Range []ValueRange `json:"range"`
}

// ValueSet is Value.Set.
type ValueSet struct {
	Item []string `json:"item"`
}

// ValueText is Value.Text.
type ValueText struct {
	Value string `json:"value"`
}

// ReservationInfo is Resource.ReservationInfo (the `reservations` stack).
type ReservationInfo struct {
	Type      string  `json:"type,omitempty"` // STATIC | DYNAMIC
	Role      string  `json:"role,omitempty"`
	Principal string  `json:"principal,omitempty"`
	Labels    *Labels `json:"labels,omitempty"`
}

// AllocationInfo says which role a resource was offered/allocated to.
type AllocationInfo struct {
	Role string `json:"role,omitempty"`
}

// Resource is one named resource with its value (reference §1.2).
// Role is the legacy single-role field; "*" (or empty) is unreserved.
type Resource struct {
	Name           string            `json:"name"`
	Type           string            `json:"type"`
	Scalar         *ValueScalar      `json:"scalar,omitempty"`
	Ranges         *ValueRanges      `json:"ranges,omitempty"`
	Set            *ValueSet         `json:"set,omitempty"`
	Role           string            `json:"role,omitempty"`
	Reservations   []ReservationInfo `json:"reservations,omitempty"`
	AllocationInfo *AllocationInfo   `json:"allocation_info,omitempty"`
}

// Attribute is an agent attribute (reference §1.2).
type Attribute struct {
	Name   string       `json:"name"`
	Type   string       `json:"type"`
	Scalar *ValueScalar `json:"scalar,omitempty"`
	Ranges *ValueRanges `json:"ranges,omitempty"`
	Set    *ValueSet    `json:"set,omitempty"`
	Text   *ValueText   `json:"text,omitempty"`
}

// DomainInfo carries the fault domain of an agent or master.
type DomainInfo struct {
	FaultDomain *FaultDomain `json:"fault_domain,omitempty"`
}

// FaultDomain is region + zone.
type FaultDomain struct {
	Region struct {
		Name string `json:"name"`
	} `json:"region"`
	Zone struct {
		Name string `json:"name"`
	} `json:"zone"`
}

// AgentInfo describes an agent as masters and frameworks see it.
type AgentInfo struct {
	Hostname   string      `json:"hostname"`
	Port       int         `json:"port,omitempty"`
	Resources  []Resource  `json:"resources,omitempty"`
	Attributes []Attribute `json:"attributes,omitempty"`
	ID         *ID         `json:"id,omitempty"`
	Domain     *DomainInfo `json:"domain,omitempty"`
}

// Framework capability names (reference §1.5).
const (
	CapRevocableResources   = "REVOCABLE_RESOURCES"
	CapTaskKillingState     = "TASK_KILLING_STATE"
	CapGPUResources         = "GPU_RESOURCES"
	CapSharedResources      = "SHARED_RESOURCES"
	CapPartitionAware       = "PARTITION_AWARE"
	CapMultiRole            = "MULTI_ROLE"
	CapReservationRefinment = "RESERVATION_REFINEMENT"
	CapRegionAware          = "REGION_AWARE"
)

// Capability is FrameworkInfo.Capability.
type Capability struct {
	Type string `json:"type"`
}

// FrameworkInfo describes a framework (reference §1.5). FailoverTimeout is in
// seconds and defaults to 0, as in Mesos.
type FrameworkInfo struct {
	User            string         `json:"user"`
	Name            string         `json:"name"`
	ID              *ID            `json:"id,omitempty"`
	FailoverTimeout float64        `json:"failover_timeout,omitempty"`
	Checkpoint      bool           `json:"checkpoint,omitempty"`
	Role            string         `json:"role,omitempty"`
	Roles           []string       `json:"roles,omitempty"`
	Hostname        string         `json:"hostname,omitempty"`
	Principal       string         `json:"principal,omitempty"`
	WebuiURL        string         `json:"webui_url,omitempty"`
	Capabilities    []Capability   `json:"capabilities,omitempty"`
	Labels          *Labels        `json:"labels,omitempty"`
	OfferFilters    map[string]any `json:"offer_filters,omitempty"`
}

// HasCapability reports whether the framework declared capability c.
func (f *FrameworkInfo) HasCapability(c string) bool {
	for _, cp := range f.Capabilities {
		if cp.Type == c {
			return true
		}
	}
	return false
}

// EffectiveRoles returns the framework's roles: Roles when MULTI_ROLE is set,
// else the legacy Role, defaulting to "*".
func (f *FrameworkInfo) EffectiveRoles() []string {
	if f.HasCapability(CapMultiRole) && len(f.Roles) > 0 {
		return f.Roles
	}
	if len(f.Roles) > 0 && f.Role == "" {
		return f.Roles
	}
	if f.Role == "" {
		return []string{"*"}
	}
	return []string{f.Role}
}

// Environment is CommandInfo.Environment.
type Environment struct {
	Variables []EnvVariable `json:"variables"`
}

// EnvVariable is one environment variable. Type SECRET is not supported.
type EnvVariable struct {
	Name  string `json:"name"`
	Type  string `json:"type,omitempty"` // VALUE (default) | SECRET
	Value string `json:"value,omitempty"`
}

// CommandURI is CommandInfo.URI: something the fetcher downloads into the sandbox.
type CommandURI struct {
	Value      string `json:"value"`
	Executable *bool  `json:"executable,omitempty"`
	Extract    *bool  `json:"extract,omitempty"`
	Cache      *bool  `json:"cache,omitempty"`
	OutputFile string `json:"output_file,omitempty"`
}

// CommandInfo is what to run. Shell defaults to true: Value is run with /bin/sh -c.
// With Shell false, Value is the executable and Arguments its argv.
type CommandInfo struct {
	URIs        []CommandURI `json:"uris,omitempty"`
	Environment *Environment `json:"environment,omitempty"`
	Shell       *bool        `json:"shell,omitempty"`
	Value       string       `json:"value,omitempty"`
	Arguments   []string     `json:"arguments,omitempty"`
	User        string       `json:"user,omitempty"`
}

// IsShell reports the effective value of Shell (default true).
func (c *CommandInfo) IsShell() bool { return c.Shell == nil || *c.Shell }

// Image is Image (docker or appc) for the mesos containerizer.
type Image struct {
	Type   string       `json:"type"` // DOCKER | APPC
	Docker *DockerImage `json:"docker,omitempty"`
	Cached *bool        `json:"cached,omitempty"`
}

// DockerImage names a docker image, with the registry credential to pull it
// (if any).
type DockerImage struct {
	Name       string      `json:"name"`
	Credential *Credential `json:"credential,omitempty"`
}

// Credential is a principal and its secret (Mesos' Credential). Its String
// does not show the secret.
type Credential struct {
	Principal string `json:"principal"`
	Secret    string `json:"secret,omitempty"`
}

func (c Credential) String() string { return c.Principal + ":<redacted>" }

// Volume is a container volume.
type Volume struct {
	Mode          string  `json:"mode"` // RW | RO
	ContainerPath string  `json:"container_path"`
	HostPath      string  `json:"host_path,omitempty"`
	Image         *Image  `json:"image,omitempty"`
	Source        *VolSrc `json:"source,omitempty"`
}

// VolSrc is Volume.Source; kept opaque beyond its type for now.
type VolSrc struct {
	Type string `json:"type"`
}

// PortMapping maps a host port to a container port.
type PortMapping struct {
	HostPort      uint32 `json:"host_port"`
	ContainerPort uint32 `json:"container_port"`
	Protocol      string `json:"protocol,omitempty"`
}

// NetworkInfo is a container network and its addresses.
type NetworkInfo struct {
	IPAddresses  []IPAddress   `json:"ip_addresses,omitempty"`
	Name         string        `json:"name,omitempty"`
	Groups       []string      `json:"groups,omitempty"`
	Labels       *Labels       `json:"labels,omitempty"`
	PortMappings []PortMapping `json:"port_mappings,omitempty"`
}

// IPAddress is NetworkInfo.IPAddress.
type IPAddress struct {
	Protocol  string `json:"protocol,omitempty"` // IPv4 | IPv6
	IPAddress string `json:"ip_address,omitempty"`
}

// DockerInfo is ContainerInfo.DockerInfo (docker containerizer).
type DockerInfo struct {
	Image          string              `json:"image"`
	Network        string              `json:"network,omitempty"` // HOST | BRIDGE | NONE | USER
	PortMappings   []DockerPortMapping `json:"port_mappings,omitempty"`
	Privileged     bool                `json:"privileged,omitempty"`
	Parameters     []Parameter         `json:"parameters,omitempty"`
	ForcePullImage bool                `json:"force_pull_image,omitempty"`
}

// DockerPortMapping is DockerInfo.PortMapping.
type DockerPortMapping struct {
	HostPort      uint32 `json:"host_port"`
	ContainerPort uint32 `json:"container_port"`
	Protocol      string `json:"protocol,omitempty"`
}

// Parameter is a key/value docker CLI parameter.
type Parameter struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// MesosInfo is ContainerInfo.MesosInfo.
type MesosInfo struct {
	Image *Image `json:"image,omitempty"`
}

// ContainerInfo selects and configures the container runtime (type MESOS or DOCKER).
type ContainerInfo struct {
	Type         string        `json:"type"`
	Volumes      []Volume      `json:"volumes,omitempty"`
	Hostname     string        `json:"hostname,omitempty"`
	Docker       *DockerInfo   `json:"docker,omitempty"`
	Mesos        *MesosInfo    `json:"mesos,omitempty"`
	NetworkInfos []NetworkInfo `json:"network_infos,omitempty"`
	// TTYInfo asks for a terminal (nested container sessions: task exec -t).
	TTYInfo *TTYInfo `json:"tty_info,omitempty"`
}

// Redacted returns c without secrets (image credentials), for state
// endpoints; c itself is not changed. nil stays nil.
func (c *ContainerInfo) Redacted() *ContainerInfo {
	if c == nil || c.Mesos == nil || c.Mesos.Image == nil || c.Mesos.Image.Docker == nil || c.Mesos.Image.Docker.Credential == nil {
		return c
	}
	cp := *c
	mi := *c.Mesos
	img := *mi.Image
	d := *img.Docker
	d.Credential = &Credential{Principal: d.Credential.Principal}
	img.Docker, mi.Image, cp.Mesos = &d, &img, &mi
	return &cp
}

// ExecutorInfo describes a custom executor. Basalt runs command tasks with
// its built-in command executor; a task with ExecutorInfo is run the same way
// using the executor's command.
type ExecutorInfo struct {
	Type        string         `json:"type,omitempty"` // DEFAULT | CUSTOM
	ExecutorID  ID             `json:"executor_id"`
	FrameworkID *ID            `json:"framework_id,omitempty"`
	Command     *CommandInfo   `json:"command,omitempty"`
	Container   *ContainerInfo `json:"container,omitempty"`
	Resources   []Resource     `json:"resources,omitempty"`
	Name        string         `json:"name,omitempty"`
	Labels      *Labels        `json:"labels,omitempty"`
}

// DurationInfo is a duration in nanoseconds.
type DurationInfo struct {
	Nanoseconds int64 `json:"nanoseconds"`
}

// KillPolicy says how long to wait between SIGTERM and SIGKILL.
type KillPolicy struct {
	GracePeriod *DurationInfo `json:"grace_period,omitempty"`
}

// HealthCheck types.
const (
	HealthCheckCommand = "COMMAND"
	HealthCheckHTTP    = "HTTP"
	HealthCheckTCP     = "TCP"
)

// HealthCheck is the Mesos-native health check executed by the agent.
// Durations are seconds, with Mesos defaults: delay 15, interval 10,
// timeout 20, consecutive_failures 3, grace_period 10.
type HealthCheck struct {
	Type                string         `json:"type,omitempty"`
	DelaySeconds        *float64       `json:"delay_seconds,omitempty"`
	IntervalSeconds     *float64       `json:"interval_seconds,omitempty"`
	TimeoutSeconds      *float64       `json:"timeout_seconds,omitempty"`
	ConsecutiveFailures *uint32        `json:"consecutive_failures,omitempty"`
	GracePeriodSeconds  *float64       `json:"grace_period_seconds,omitempty"`
	Command             *CommandInfo   `json:"command,omitempty"`
	HTTP                *HTTPCheckInfo `json:"http,omitempty"`
	TCP                 *TCPCheckInfo  `json:"tcp,omitempty"`
}

// HTTPCheckInfo is HealthCheck.HTTPCheckInfo. Scheme defaults to http, Path to "/".
type HTTPCheckInfo struct {
	Protocol string   `json:"protocol,omitempty"`
	Scheme   string   `json:"scheme,omitempty"`
	Port     uint32   `json:"port"`
	Path     string   `json:"path,omitempty"`
	Statuses []uint32 `json:"statuses,omitempty"`
}

// TCPCheckInfo is HealthCheck.TCPCheckInfo.
type TCPCheckInfo struct {
	Protocol string `json:"protocol,omitempty"`
	Port     uint32 `json:"port"`
}

// Port is a DiscoveryInfo port.
type Port struct {
	Number     uint32  `json:"number"`
	Name       string  `json:"name,omitempty"`
	Protocol   string  `json:"protocol,omitempty"`
	Visibility string  `json:"visibility,omitempty"`
	Labels     *Labels `json:"labels,omitempty"`
}

// Ports is DiscoveryInfo.Ports.
type Ports struct {
	Ports []Port `json:"ports"`
}

// DiscoveryInfo is how DNS and load balancers learn about a task.
type DiscoveryInfo struct {
	Visibility  string  `json:"visibility"` // FRAMEWORK | CLUSTER | EXTERNAL
	Name        string  `json:"name,omitempty"`
	Environment string  `json:"environment,omitempty"`
	Location    string  `json:"location,omitempty"`
	Version     string  `json:"version,omitempty"`
	Ports       *Ports  `json:"ports,omitempty"`
	Labels      *Labels `json:"labels,omitempty"`
}

// TaskInfo describes a task to launch. Exactly one of Command and Executor is set.
type TaskInfo struct {
	Name        string         `json:"name"`
	TaskID      ID             `json:"task_id"`
	AgentID     ID             `json:"agent_id"`
	Resources   []Resource     `json:"resources"`
	Executor    *ExecutorInfo  `json:"executor,omitempty"`
	Command     *CommandInfo   `json:"command,omitempty"`
	Container   *ContainerInfo `json:"container,omitempty"`
	HealthCheck *HealthCheck   `json:"health_check,omitempty"`
	KillPolicy  *KillPolicy    `json:"kill_policy,omitempty"`
	Data        []byte         `json:"data,omitempty"`
	Labels      *Labels        `json:"labels,omitempty"`
	Discovery   *DiscoveryInfo `json:"discovery,omitempty"`
}

// TaskGroupInfo is a set of tasks launched together (LAUNCH_GROUP).
type TaskGroupInfo struct {
	Tasks []TaskInfo `json:"tasks"`
}

// Task states (reference §1.8).
const (
	TaskStaging        = "TASK_STAGING"
	TaskStarting       = "TASK_STARTING"
	TaskRunning        = "TASK_RUNNING"
	TaskKilling        = "TASK_KILLING"
	TaskFinished       = "TASK_FINISHED"
	TaskFailed         = "TASK_FAILED"
	TaskKilled         = "TASK_KILLED"
	TaskError          = "TASK_ERROR"
	TaskLost           = "TASK_LOST"
	TaskDropped        = "TASK_DROPPED"
	TaskUnreachable    = "TASK_UNREACHABLE"
	TaskGone           = "TASK_GONE"
	TaskGoneByOperator = "TASK_GONE_BY_OPERATOR"
	TaskUnknown        = "TASK_UNKNOWN"
)

// IsTerminalState reports whether a task in state s will never run again.
// TASK_LOST is treated as terminal by the master (as Mesos does for
// bookkeeping), even though a lost task may later be found running.
func IsTerminalState(s string) bool {
	switch s {
	case TaskFinished, TaskFailed, TaskKilled, TaskError, TaskLost, TaskDropped, TaskGone, TaskGoneByOperator:
		return true
	}
	return false
}

// Status sources.
const (
	SourceMaster   = "SOURCE_MASTER"
	SourceAgent    = "SOURCE_AGENT"
	SourceExecutor = "SOURCE_EXECUTOR"
)

// Status reasons used by Basalt (a subset of Mesos' TaskStatus.Reason).
const (
	ReasonCommandExecutorFailed        = "REASON_COMMAND_EXECUTOR_FAILED"
	ReasonContainerLaunchFailed        = "REASON_CONTAINER_LAUNCH_FAILED"
	ReasonContainerLimitationMemory    = "REASON_CONTAINER_LIMITATION_MEMORY"
	ReasonContainerLimitationDisk      = "REASON_CONTAINER_LIMITATION_DISK"
	ReasonContainerPreempted           = "REASON_CONTAINER_PREEMPTED"
	ReasonExecutorTerminated           = "REASON_EXECUTOR_TERMINATED"
	ReasonFrameworkRemoved             = "REASON_FRAMEWORK_REMOVED"
	ReasonGCError                      = "REASON_GC_ERROR"
	ReasonInvalidFrameworkID           = "REASON_INVALID_FRAMEWORKID"
	ReasonInvalidOffers                = "REASON_INVALID_OFFERS"
	ReasonMasterDisconnected           = "REASON_MASTER_DISCONNECTED"
	ReasonReconciliation               = "REASON_RECONCILIATION"
	ReasonResourcesUnknown             = "REASON_RESOURCES_UNKNOWN"
	ReasonAgentDisconnected            = "REASON_SLAVE_DISCONNECTED"
	ReasonAgentRemoved                 = "REASON_SLAVE_REMOVED"
	ReasonAgentRemovedByOperator       = "REASON_SLAVE_REMOVED_BY_OPERATOR"
	ReasonAgentRestarted               = "REASON_SLAVE_RESTARTED"
	ReasonAgentUnknown                 = "REASON_SLAVE_UNKNOWN"
	ReasonTaskCheckStatusUpdated       = "REASON_TASK_CHECK_STATUS_UPDATED"
	ReasonTaskHealthCheckStatusUpdated = "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"
	ReasonTaskInvalid                  = "REASON_TASK_INVALID"
	ReasonTaskKilledDuringLaunch       = "REASON_TASK_KILLED_DURING_LAUNCH"
	ReasonTaskUnauthorized             = "REASON_TASK_UNAUTHORIZED"
	ReasonTaskUnknown                  = "REASON_TASK_UNKNOWN"
)

// ContainerStatus is TaskStatus.ContainerStatus.
type ContainerStatus struct {
	ContainerID  *ID           `json:"container_id,omitempty"`
	NetworkInfos []NetworkInfo `json:"network_infos,omitempty"`
	ExecutorPID  uint32        `json:"executor_pid,omitempty"`
}

// TaskStatus is a status update. Timestamp is seconds since the epoch.
// UUID is set only on updates that must be acknowledged (reference §11.3).
type TaskStatus struct {
	TaskID          ID               `json:"task_id"`
	State           string           `json:"state"`
	Message         string           `json:"message,omitempty"`
	Source          string           `json:"source,omitempty"`
	Reason          string           `json:"reason,omitempty"`
	Data            []byte           `json:"data,omitempty"`
	AgentID         *ID              `json:"agent_id,omitempty"`
	ExecutorID      *ID              `json:"executor_id,omitempty"`
	Timestamp       float64          `json:"timestamp,omitempty"`
	UUID            []byte           `json:"uuid,omitempty"`
	Healthy         *bool            `json:"healthy,omitempty"`
	Labels          *Labels          `json:"labels,omitempty"`
	ContainerStatus *ContainerStatus `json:"container_status,omitempty"`
	UnreachableTime *TimeInfo        `json:"unreachable_time,omitempty"`
}

// TimeInfo is a point in time in nanoseconds since the epoch.
type TimeInfo struct {
	Nanoseconds int64 `json:"nanoseconds"`
}

// Offer is a resource offer to a framework.
type Offer struct {
	ID             ID              `json:"id"`
	FrameworkID    ID              `json:"framework_id"`
	AgentID        ID              `json:"agent_id"`
	Hostname       string          `json:"hostname"`
	URL            *URL            `json:"url,omitempty"`
	Domain         *DomainInfo     `json:"domain,omitempty"`
	Resources      []Resource      `json:"resources"`
	Attributes     []Attribute     `json:"attributes,omitempty"`
	ExecutorIDs    []ID            `json:"executor_ids,omitempty"`
	AllocationInfo *AllocationInfo `json:"allocation_info,omitempty"`
}

// URL is the agent's URL in an offer.
type URL struct {
	Scheme  string  `json:"scheme"`
	Address Address `json:"address"`
	Path    string  `json:"path,omitempty"`
}

// Filters is the offer filter attached to ACCEPT/DECLINE. RefuseSeconds
// defaults to 5 when nil (reference §1.4).
type Filters struct {
	RefuseSeconds *float64 `json:"refuse_seconds,omitempty"`
}

// DefaultRefuseSeconds is Mesos' Filters.refuse_seconds default.
const DefaultRefuseSeconds = 5.0

// MaxRefuseSeconds caps refuse_seconds at 365 days, as Mesos does.
const MaxRefuseSeconds = 365 * 24 * 3600.0

// Refuse returns the effective refuse_seconds of f (nil-safe), capped.
func (f *Filters) Refuse() float64 {
	if f == nil || f.RefuseSeconds == nil {
		return DefaultRefuseSeconds
	}
	v := *f.RefuseSeconds
	if v < 0 {
		return 0
	}
	if v > MaxRefuseSeconds {
		return MaxRefuseSeconds
	}
	return v
}
