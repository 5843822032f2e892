package marathon

import "encoding/json"

// Task is a task as /v2/tasks and /v2/apps/{id}/tasks return it.
type Task struct {
	ID                 string              `json:"id"`
	AppID              string              `json:"appId"`
	Host               string              `json:"host"`
	Ports              []int               `json:"ports"`
	ServicePorts       []int               `json:"servicePorts"`
	SlaveID            string              `json:"slaveId"`
	State              string              `json:"state"`
	StagedAt           string              `json:"stagedAt,omitempty"`
	StartedAt          string              `json:"startedAt,omitempty"`
	Version            string              `json:"version"`
	IPAddresses        []IPAddr            `json:"ipAddresses"`
	HealthCheckResults []HealthCheckResult `json:"healthCheckResults,omitempty"`
	CheckResult        json.RawMessage     `json:"checkResult,omitempty"`
	LocalVolumes       []json.RawMessage   `json:"localVolumes"`
	Region             string              `json:"region,omitempty"`
	Zone               string              `json:"zone,omitempty"`
	Role               string              `json:"role,omitempty"`
}

// IPAddr is one of a task's IP addresses.
type IPAddr struct {
	IPAddress string `json:"ipAddress"`
	Protocol  string `json:"protocol"`
}

// HealthCheckResult is the health of one task for one health check.
type HealthCheckResult struct {
	Alive               bool    `json:"alive"`
	ConsecutiveFailures int     `json:"consecutiveFailures"`
	FirstSuccess        *string `json:"firstSuccess"`
	LastFailure         *string `json:"lastFailure"`
	LastSuccess         *string `json:"lastSuccess"`
	LastFailureCause    *string `json:"lastFailureCause"`
	InstanceID          string  `json:"instanceId"`
}

// TaskFailure is an app's lastTaskFailure.
type TaskFailure struct {
	AppID     string `json:"appId"`
	Host      string `json:"host"`
	Message   string `json:"message"`
	State     string `json:"state"`
	TaskID    string `json:"taskId"`
	Timestamp string `json:"timestamp"`
	Version   string `json:"version"`
	SlaveID   string `json:"slaveId,omitempty"`
}

// TaskStats is one bucket of taskStats (startedAfterLastScaling, withLatestConfig, totalSummary, ...).
type TaskStats struct {
	Stats struct {
		Counts struct {
			Staged    int `json:"staged"`
			Running   int `json:"running"`
			Healthy   int `json:"healthy"`
			Unhealthy int `json:"unhealthy"`
		} `json:"counts"`
		LifeTime *struct {
			AverageSeconds float64 `json:"averageSeconds"`
			MedianSeconds  float64 `json:"medianSeconds"`
		} `json:"lifeTime,omitempty"`
	} `json:"stats"`
}

// Group is a group of apps and groups. On input, Apps and Groups may be
// nil; on output they are always emitted.
type Group struct {
	ID           string   `json:"id"`
	Apps         []App    `json:"apps"`
	Pods         []any    `json:"pods"`
	Groups       []Group  `json:"groups"`
	Dependencies []string `json:"dependencies"`
	Version      string   `json:"version,omitempty"`
	EnforceRole  *bool    `json:"enforceRole,omitempty"`
	// ScaleBy and the version-only rollback body are request forms of PUT.
	ScaleBy *float64 `json:"scaleBy,omitempty"`
}

// GroupInfo is a group as GET /v2/groups returns it, with AppInfo apps.
type GroupInfo struct {
	ID           string      `json:"id"`
	Apps         []AppInfo   `json:"apps"`
	Pods         []any       `json:"pods"`
	Groups       []GroupInfo `json:"groups"`
	Dependencies []string    `json:"dependencies"`
	Version      string      `json:"version,omitempty"`
	EnforceRole  *bool       `json:"enforceRole,omitempty"`
}

// DeploymentRef is the {"id": ...} entry of an app's deployments.
type DeploymentRef struct {
	ID string `json:"id"`
}

// Deployment is a running deployment as GET /v2/deployments lists it.
type Deployment struct {
	ID             string           `json:"id"`
	Version        string           `json:"version"`
	AffectedApps   []string         `json:"affectedApps"`
	AffectedPods   []string         `json:"affectedPods"`
	Steps          []DeploymentStep `json:"steps"`
	CurrentActions []CurrentAction  `json:"currentActions"`
	CurrentStep    int              `json:"currentStep"`
	TotalSteps     int              `json:"totalSteps"`
}

// DeploymentStep is one step: actions that run concurrently.
type DeploymentStep struct {
	Actions []DeploymentAction `json:"actions"`
}

// Deployment action names (reference §2.6).
const (
	ActionStart   = "StartApplication"
	ActionStop    = "StopApplication"
	ActionScale   = "ScaleApplication"
	ActionRestart = "RestartApplication"
	ActionResolve = "ResolveArtifacts"
)

// DeploymentAction is one action on one app.
type DeploymentAction struct {
	Action string `json:"action"`
	App    string `json:"app"`
}

// CurrentAction is an action of the current step with its readiness results.
type CurrentAction struct {
	Action                string            `json:"action"`
	App                   string            `json:"app"`
	ReadinessCheckResults []ReadinessResult `json:"readinessCheckResults"`
}

// DeploymentResult is the body of every mutating call
// (also in header Marathon-Deployment-Id).
type DeploymentResult struct {
	DeploymentID string `json:"deploymentId"`
	Version      string `json:"version"`
}

// QueueItem is one entry of GET /v2/queue.
type QueueItem struct {
	App                    *AppInfo               `json:"app,omitempty"`
	Count                  int                    `json:"count"`
	Delay                  QueueDelay             `json:"delay"`
	Since                  string                 `json:"since"`
	ProcessedOffersSummary ProcessedOffersSummary `json:"processedOffersSummary"`
	LastUnusedOffers       []UnusedOffer          `json:"lastUnusedOffers,omitempty"`
}

// QueueDelay is an entry's backoff.
type QueueDelay struct {
	TimeLeftSeconds int  `json:"timeLeftSeconds"`
	Overdue         bool `json:"overdue"`
}

// ProcessedOffersSummary counts offers processed for a queue entry and
// why they were declined.
type ProcessedOffersSummary struct {
	ProcessedOffersCount       int            `json:"processedOffersCount"`
	UnusedOffersCount          int            `json:"unusedOffersCount"`
	LastUnusedOfferAt          string         `json:"lastUnusedOfferAt,omitempty"`
	LastUsedOfferAt            string         `json:"lastUsedOfferAt,omitempty"`
	RejectSummaryLastOffers    []RejectReason `json:"rejectSummaryLastOffers"`
	RejectSummaryLaunchAttempt []RejectReason `json:"rejectSummaryLaunchAttempt"`
}

// RejectReason counts offers rejected for one reason
// (InsufficientCpus, UnfulfilledConstraint, ...).
type RejectReason struct {
	Reason    string `json:"reason"`
	Declined  int    `json:"declined"`
	Processed int    `json:"processed"`
}

// UnusedOffer is one recently declined offer.
type UnusedOffer struct {
	Offer     json.RawMessage `json:"offer"`
	Reason    []string        `json:"reason"`
	Timestamp string          `json:"timestamp"`
}

// Info is GET /v2/info.
type Info struct {
	Name            string         `json:"name"`
	Version         string         `json:"version"`
	Buildref        string         `json:"buildref"`
	Elected         bool           `json:"elected"`
	Leader          *string        `json:"leader"`
	FrameworkID     *string        `json:"frameworkId"`
	MarathonConfig  map[string]any `json:"marathon_config"`
	ZookeeperConfig map[string]any `json:"zookeeper_config"`
	HTTPConfig      map[string]any `json:"http_config"`
}

// Leader is GET /v2/leader.
type Leader struct {
	Leader string `json:"leader"`
}

// ErrorBody is Marathon's error body: {"message", "details"?, "deployments"?}.
type ErrorBody struct {
	Message     string          `json:"message"`
	Details     []ErrorDetail   `json:"details,omitempty"`
	Deployments []DeploymentRef `json:"deployments,omitempty"`
}

// ErrorDetail is one problem at a JSON path of the submitted object.
type ErrorDetail struct {
	Path   string   `json:"path"`
	Errors []string `json:"errors"`
}

// Event is an SSE event: Type is the "event:" line, Data the JSON payload,
// which always has "eventType" and "timestamp".
type Event struct {
	Type string
	Data json.RawMessage
}
