// Package marathon holds the wire types of the Marathon /v2 REST API (apps,
// groups, tasks, deployments, queue, events, info) and a Go client for it.
//
// The types follow Marathon 1.10's JSON exactly (field names, which fields
// are always emitted), because real clients (the dcos CLI, go-marathon,
// marathon-lb) crash on a missing "labels" or "env". They carry no behaviour
// beyond JSON: defaults, validation and partial updates live in
// internal/marathon/appdef, scheduling in internal/marathon. This package
// must not import internal packages: outside users build against it.
package marathon

import (
	"encoding/json"
	"errors"
)

var errNotDisabled = errors.New(`unreachableStrategy: the only string allowed is "disabled"`)

// App is a Marathon app definition (reference §2.3) as submitted and as
// returned by GET /v2/apps/{id}. After normalisation (appdef.Normalize) every
// slice and map below is non-nil, so it marshals as [] or {} as Marathon's
// does. Read-only fields (Version, VersionInfo) are set by the server.
type App struct {
	ID                         string               `json:"id"`
	Cmd                        *string              `json:"cmd,omitempty"`
	Args                       []string             `json:"args,omitempty"`
	User                       *string              `json:"user,omitempty"`
	Env                        map[string]EnvValue  `json:"env"`
	Instances                  int                  `json:"instances"`
	Cpus                       float64              `json:"cpus"`
	Mem                        float64              `json:"mem"`
	Disk                       float64              `json:"disk"`
	Gpus                       int                  `json:"gpus"`
	Executor                   string               `json:"executor"`
	ExecutorResources          *ExecutorResources   `json:"executorResources,omitempty"`
	ResourceLimits             *ResourceLimits      `json:"resourceLimits,omitempty"`
	Constraints                [][]string           `json:"constraints"`
	AcceptedResourceRoles      []string             `json:"acceptedResourceRoles,omitempty"`
	Role                       *string              `json:"role,omitempty"`
	Fetch                      []Fetch              `json:"fetch"`
	URIs                       []string             `json:"uris,omitempty"` // deprecated; folded into Fetch
	StoreURLs                  []string             `json:"storeUrls,omitempty"`
	BackoffSeconds             float64              `json:"backoffSeconds"`
	BackoffFactor              float64              `json:"backoffFactor"`
	MaxLaunchDelaySeconds      float64              `json:"maxLaunchDelaySeconds"`
	Container                  *Container           `json:"container,omitempty"`
	HealthChecks               []HealthCheck        `json:"healthChecks"`
	Check                      *Check               `json:"check,omitempty"`
	ReadinessChecks            []ReadinessCheck     `json:"readinessChecks"`
	Dependencies               []string             `json:"dependencies"`
	UpgradeStrategy            *UpgradeStrategy     `json:"upgradeStrategy,omitempty"`
	Labels                     map[string]string    `json:"labels"`
	IPAddress                  *IPAddress           `json:"ipAddress,omitempty"` // deprecated
	Version                    string               `json:"version,omitempty"`
	VersionInfo                *VersionInfo         `json:"versionInfo,omitempty"`
	Residency                  *Residency           `json:"residency,omitempty"`
	Secrets                    map[string]SecretDef `json:"secrets"`
	TaskKillGracePeriodSeconds *float64             `json:"taskKillGracePeriodSeconds,omitempty"`
	UnreachableStrategy        *UnreachableStrategy `json:"unreachableStrategy,omitempty"`
	KillSelection              string               `json:"killSelection"`
	RequirePorts               bool                 `json:"requirePorts"`
	PortDefinitions            []PortDefinition     `json:"portDefinitions"`
	Ports                      []int                `json:"ports,omitempty"` // deprecated; folded into PortDefinitions
	Networks                   []Network            `json:"networks"`
	TTY                        *bool                `json:"tty,omitempty"`
}

// AppInfo is an App as GET /v2/apps returns it, with the runtime fields and
// the embedded extras asked for with embed=.
type AppInfo struct {
	App
	TasksStaged           int                   `json:"tasksStaged"`
	TasksRunning          int                   `json:"tasksRunning"`
	TasksHealthy          int                   `json:"tasksHealthy"`
	TasksUnhealthy        int                   `json:"tasksUnhealthy"`
	Deployments           []DeploymentRef       `json:"deployments"`
	ReadinessCheckResults []ReadinessResult     `json:"readinessCheckResults,omitempty"`
	Tasks                 []Task                `json:"tasks,omitempty"`
	LastTaskFailure       *TaskFailure          `json:"lastTaskFailure,omitempty"`
	TaskStats             map[string]*TaskStats `json:"taskStats,omitempty"`
}

// EnvValue is an env entry: a plain string, or {"secret": "<name>"}.
type EnvValue struct {
	Value  string
	Secret string // set when the entry references a secret
}

// MarshalJSON writes a string, or {"secret": name} for a secret reference.
func (e EnvValue) MarshalJSON() ([]byte, error) {
	if e.Secret != "" {
		return json.Marshal(map[string]string{"secret": e.Secret})
	}
	return json.Marshal(e.Value)
}

// UnmarshalJSON accepts a string or {"secret": name}.
func (e *EnvValue) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*e = EnvValue{Value: s}
		return nil
	}
	var ref struct {
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		return err
	}
	*e = EnvValue{Secret: ref.Secret}
	return nil
}

// SecretDef is a secrets entry: {"source": "<path>"}.
type SecretDef struct {
	Source string `json:"source"`
}

// ExecutorResources are the resources of a pod's or custom executor.
type ExecutorResources struct {
	Cpus float64 `json:"cpus"`
	Mem  float64 `json:"mem"`
	Disk float64 `json:"disk"`
}

// ResourceLimits are the burst limits (Marathon 1.10): a number or "unlimited".
type ResourceLimits struct {
	Cpus json.RawMessage `json:"cpus,omitempty"`
	Mem  json.RawMessage `json:"mem,omitempty"`
}

// Fetch is one URI the agent's fetcher downloads into the sandbox.
type Fetch struct {
	URI        string `json:"uri"`
	Extract    bool   `json:"extract"`
	Executable bool   `json:"executable"`
	Cache      bool   `json:"cache"`
	DestPath   string `json:"destPath,omitempty"`
}

// PortDefinition is a host-mode port (reference §2.3).
type PortDefinition struct {
	Port     int               `json:"port"`
	Protocol string            `json:"protocol"`
	Name     string            `json:"name,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
}

// Network is one entry of networks: host, container or container/bridge.
type Network struct {
	Mode   string            `json:"mode"`
	Name   string            `json:"name,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
}

// Container is the container section.
type Container struct {
	Type         string        `json:"type"`
	Docker       *Docker       `json:"docker,omitempty"`
	Volumes      []Volume      `json:"volumes"`
	PortMappings []PortMapping `json:"portMappings,omitzero"`
	LinuxInfo    *LinuxInfo    `json:"linuxInfo,omitempty"`
}

// Docker is container.docker.
type Docker struct {
	Image          string            `json:"image"`
	ForcePullImage bool              `json:"forcePullImage"`
	Privileged     bool              `json:"privileged"`
	Parameters     []Parameter       `json:"parameters"`
	PullConfig     *PullConfig       `json:"pullConfig,omitempty"`
	Network        string            `json:"network,omitempty"`      // deprecated
	PortMappings   []PortMapping     `json:"portMappings,omitempty"` // deprecated
	Credential     *DockerCredential `json:"credential,omitempty"`   // deprecated
}

// Parameter is a Docker CLI flag (key without dashes) and its value.
type Parameter struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// PullConfig names the secret holding registry credentials.
type PullConfig struct {
	Secret string `json:"secret"`
}

// DockerCredential is the deprecated principal/secret pair.
type DockerCredential struct {
	Principal string `json:"principal"`
	Secret    string `json:"secret,omitempty"`
}

// PortMapping maps a container port to a host port (container and
// container/bridge networking).
type PortMapping struct {
	ContainerPort int               `json:"containerPort"`
	HostPort      *int              `json:"hostPort,omitempty"`
	ServicePort   int               `json:"servicePort"`
	Protocol      string            `json:"protocol"`
	Name          string            `json:"name,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	NetworkNames  []string          `json:"networkNames,omitempty"`
}

// Volume is a host, persistent, external or secret volume; which one is
// decided by which of HostPath, Persistent, External or Secret is set.
type Volume struct {
	ContainerPath string            `json:"containerPath"`
	HostPath      string            `json:"hostPath,omitempty"`
	Mode          string            `json:"mode,omitempty"`
	Persistent    *PersistentVolume `json:"persistent,omitempty"`
	External      *ExternalVolume   `json:"external,omitempty"`
	Secret        string            `json:"secret,omitempty"`
}

// PersistentVolume is a local persistent volume.
type PersistentVolume struct {
	Type        string     `json:"type,omitempty"`
	Size        float64    `json:"size"`
	MaxSize     float64    `json:"maxSize,omitempty"`
	ProfileName string     `json:"profileName,omitempty"`
	Constraints [][]string `json:"constraints,omitempty"`
}

// ExternalVolume is a volume from an outside provider (dvdi, csi).
type ExternalVolume struct {
	Name     string            `json:"name,omitempty"`
	Provider string            `json:"provider,omitempty"`
	Options  map[string]string `json:"options,omitempty"`
	Size     float64           `json:"size,omitempty"`
	Shared   bool              `json:"shared,omitempty"`
}

// LinuxInfo is container.linuxInfo.
type LinuxInfo struct {
	Seccomp *Seccomp `json:"seccomp,omitempty"`
	IPCInfo *IPCInfo `json:"ipcInfo,omitempty"`
}

// Seccomp selects a seccomp profile.
type Seccomp struct {
	ProfileName string `json:"profileName,omitempty"`
	Unconfined  bool   `json:"unconfined"`
}

// IPCInfo is the IPC namespace mode and /dev/shm size.
type IPCInfo struct {
	Mode    string `json:"mode"`
	ShmSize int    `json:"shmSize,omitempty"`
}

// HealthCheck is one healthChecks entry (reference §2.5).
type HealthCheck struct {
	Protocol               string   `json:"protocol"`
	Path                   string   `json:"path,omitempty"`
	PortIndex              *int     `json:"portIndex,omitempty"`
	Port                   *int     `json:"port,omitempty"`
	Command                *Command `json:"command,omitempty"`
	GracePeriodSeconds     int      `json:"gracePeriodSeconds"`
	IntervalSeconds        int      `json:"intervalSeconds"`
	TimeoutSeconds         int      `json:"timeoutSeconds"`
	MaxConsecutiveFailures int      `json:"maxConsecutiveFailures"`
	DelaySeconds           int      `json:"delaySeconds"`
	IgnoreHTTP1xx          bool     `json:"ignoreHttp1xx,omitempty"`
	IPProtocol             string   `json:"ipProtocol,omitempty"`
}

// Command is a COMMAND health check's command.
type Command struct {
	Value string `json:"value"`
}

// Check is a Mesos check (reported, never kills).
type Check struct {
	HTTP            *CheckHTTP `json:"http,omitempty"`
	TCP             *CheckTCP  `json:"tcp,omitempty"`
	Exec            *CheckExec `json:"exec,omitempty"`
	IntervalSeconds int        `json:"intervalSeconds"`
	TimeoutSeconds  int        `json:"timeoutSeconds"`
	DelaySeconds    int        `json:"delaySeconds"`
}

// CheckHTTP is an HTTP check.
type CheckHTTP struct {
	PortIndex *int   `json:"portIndex,omitempty"`
	Port      *int   `json:"port,omitempty"`
	Path      string `json:"path,omitempty"`
	Scheme    string `json:"scheme,omitempty"`
}

// CheckTCP is a TCP check.
type CheckTCP struct {
	PortIndex *int `json:"portIndex,omitempty"`
	Port      *int `json:"port,omitempty"`
}

// CheckExec is a command check.
type CheckExec struct {
	Command CheckCommand `json:"command"`
}

// CheckCommand is a shell string or an argv.
type CheckCommand struct {
	Shell string   `json:"shell,omitempty"`
	Argv  []string `json:"argv,omitempty"`
}

// ReadinessCheck gates deployments on an HTTP endpoint of new tasks.
type ReadinessCheck struct {
	Name                    string `json:"name"`
	Protocol                string `json:"protocol"`
	Path                    string `json:"path"`
	PortName                string `json:"portName"`
	IntervalSeconds         int    `json:"intervalSeconds"`
	TimeoutSeconds          int    `json:"timeoutSeconds"`
	HTTPStatusCodesForReady []int  `json:"httpStatusCodesForReady"`
	PreserveLastResponse    bool   `json:"preserveLastResponse"`
}

// ReadinessResult is the latest readiness outcome of one task.
type ReadinessResult struct {
	Name         string             `json:"name"`
	TaskID       string             `json:"taskId"`
	Ready        bool               `json:"ready"`
	LastResponse *ReadinessResponse `json:"lastResponse,omitempty"`
}

// ReadinessResponse is the HTTP response kept when preserveLastResponse.
type ReadinessResponse struct {
	Status      int    `json:"status"`
	ContentType string `json:"contentType"`
	Body        string `json:"body"`
}

// UpgradeStrategy bounds capacity during a rolling replacement.
type UpgradeStrategy struct {
	MinimumHealthCapacity float64 `json:"minimumHealthCapacity"`
	MaximumOverCapacity   float64 `json:"maximumOverCapacity"`
}

// UnreachableStrategy is {inactiveAfterSeconds, expungeAfterSeconds} or the
// string "disabled" (Disabled true).
type UnreachableStrategy struct {
	Disabled             bool
	InactiveAfterSeconds float64
	ExpungeAfterSeconds  float64
}

// MarshalJSON writes "disabled" or the object.
func (u UnreachableStrategy) MarshalJSON() ([]byte, error) {
	if u.Disabled {
		return []byte(`"disabled"`), nil
	}
	return json.Marshal(struct {
		InactiveAfterSeconds float64 `json:"inactiveAfterSeconds"`
		ExpungeAfterSeconds  float64 `json:"expungeAfterSeconds"`
	}{u.InactiveAfterSeconds, u.ExpungeAfterSeconds})
}

// UnmarshalJSON accepts "disabled" or the object. Other strings are an
// error the decoder reports at /unreachableStrategy.
func (u *UnreachableStrategy) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		if s != "disabled" {
			return errNotDisabled
		}
		*u = UnreachableStrategy{Disabled: true}
		return nil
	}
	var o struct {
		InactiveAfterSeconds *float64 `json:"inactiveAfterSeconds"`
		ExpungeAfterSeconds  *float64 `json:"expungeAfterSeconds"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	*u = UnreachableStrategy{}
	if o.InactiveAfterSeconds != nil {
		u.InactiveAfterSeconds = *o.InactiveAfterSeconds
	}
	if o.ExpungeAfterSeconds != nil {
		u.ExpungeAfterSeconds = *o.ExpungeAfterSeconds
	}
	return nil
}

// IPAddress is the deprecated IP-per-task section.
type IPAddress struct {
	NetworkName string            `json:"networkName,omitempty"`
	Groups      []string          `json:"groups,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Discovery   *struct {
		Ports []struct {
			Number   int               `json:"number"`
			Name     string            `json:"name"`
			Protocol string            `json:"protocol"`
			Labels   map[string]string `json:"labels,omitempty"`
		} `json:"ports"`
	} `json:"discovery,omitempty"`
}

// VersionInfo tells when the app last scaled and last changed config.
type VersionInfo struct {
	LastScalingAt      string `json:"lastScalingAt"`
	LastConfigChangeAt string `json:"lastConfigChangeAt"`
}

// Residency is the deprecated resident-task section.
type Residency struct {
	RelaunchEscalationTimeoutSeconds int    `json:"relaunchEscalationTimeoutSeconds"`
	TaskLostBehavior                 string `json:"taskLostBehavior"`
}
