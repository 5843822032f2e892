package agent

import (
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/internal/version"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// The shapes of the agent's /state (Mesos' slave(1)/state), which the CLI,
// the UI and DC/OS tools read. Field names follow Mesos exactly.

// StateResponse is GET /state on an agent.
type StateResponse struct {
	Version               string                         `json:"version"`
	GitSHA                string                         `json:"git_sha,omitempty"`
	BuildDate             string                         `json:"build_date,omitempty"`
	StartTime             float64                        `json:"start_time"`
	ID                    string                         `json:"id"`
	PID                   string                         `json:"pid"`
	Hostname              string                         `json:"hostname"`
	Capabilities          []string                       `json:"capabilities"`
	Resources             mesosv1.ResourceMap            `json:"resources"`
	ReservedResources     map[string]mesosv1.ResourceMap `json:"reserved_resources"`
	UnreservedResources   mesosv1.ResourceMap            `json:"unreserved_resources"`
	ReservedResourcesFull map[string][]mesosv1.Resource  `json:"reserved_resources_full"`
	Attributes            map[string]any                 `json:"attributes"`
	Domain                *mesosv1.DomainInfo            `json:"domain,omitempty"`
	MasterHostname        string                         `json:"master_hostname,omitempty"`
	LogDir                string                         `json:"log_dir,omitempty"`
	Flags                 map[string]string              `json:"flags"`
	// Basalt extension: the enabled container runtimes and whether each
	// works here (the last probe, taken when the agent subscribes).
	Runtimes            []containerizer.RuntimeInfo `json:"basalt_runtimes"`
	Frameworks          []StateFramework            `json:"frameworks"`
	CompletedFrameworks []StateFramework            `json:"completed_frameworks"`
	// Isolation says which runtime runs plain tasks and, when the mesos
	// runtime was asked for but the host cannot isolate, why (a Basalt
	// addition; Mesos has only the isolation flag).
	Isolation *StateIsolation `json:"isolation,omitempty"`
}

// StateFramework is a framework in the agent's /state.
type StateFramework struct {
	ID                 string          `json:"id"`
	Name               string          `json:"name"`
	User               string          `json:"user"`
	FailoverTimeout    float64         `json:"failover_timeout"`
	Checkpoint         bool            `json:"checkpoint"`
	Hostname           string          `json:"hostname"`
	Role               string          `json:"role"`
	Roles              []string        `json:"roles,omitempty"`
	Principal          string          `json:"principal,omitempty"`
	Capabilities       []string        `json:"capabilities"`
	Executors          []StateExecutor `json:"executors"`
	CompletedExecutors []StateExecutor `json:"completed_executors"`
}

// StateExecutor is an executor (for command tasks: one per task).
type StateExecutor struct {
	ID             string              `json:"id"`
	Name           string              `json:"name"`
	Source         string              `json:"source"`
	Container      string              `json:"container"`
	Directory      string              `json:"directory"`
	Resources      mesosv1.ResourceMap `json:"resources"`
	Role           string              `json:"role,omitempty"`
	Type           string              `json:"type,omitempty"`
	Labels         []mesosv1.Label     `json:"labels,omitempty"`
	Tasks          []mesosv1.StateTask `json:"tasks"`
	QueuedTasks    []mesosv1.StateTask `json:"queued_tasks"`
	CompletedTasks []mesosv1.StateTask `json:"completed_tasks"`
}

// stateTask renders a task record as Mesos' task JSON.
func (a *Agent) stateTask(rec *taskRecord, agentID string) mesosv1.StateTask {
	ti := rec.Task
	st := mesosv1.StateTask{
		ID:          ti.TaskID.Value,
		Name:        ti.Name,
		FrameworkID: rec.FrameworkID,
		ExecutorID:  "",
		SlaveID:     agentID,
		State:       mesosv1.TaskStaging,
		Resources:   mesosv1.Resources(ti.Resources).ToMap(),
		Statuses:    []mesosv1.StateStatus{},
		Discovery:   ti.Discovery,
		Container:   ti.Container,
		HealthCheck: ti.HealthCheck,
		KillPolicy:  ti.KillPolicy,
	}
	if ti.Executor != nil {
		st.ExecutorID = rec.ExecutorID
	}
	if len(ti.Resources) > 0 {
		st.Role = mesosv1.ReservationRole(ti.Resources[0])
	}
	if ti.Labels != nil {
		st.Labels = ti.Labels.Labels
	}
	for _, s := range rec.Statuses {
		ss := mesosv1.StateStatus{State: s.State, Timestamp: s.Timestamp, Healthy: s.Healthy, ContainerStatus: s.ContainerStatus}
		if s.Labels != nil {
			ss.Labels = s.Labels.Labels
		}
		st.Statuses = append(st.Statuses, ss)
		st.State = s.State
	}
	return st
}

// stateExecutor renders the executor of a task record.
func (a *Agent) stateExecutor(rec *taskRecord, agentID string, completed bool) StateExecutor {
	ti := rec.Task
	res := mesosv1.Resources(ti.Resources)
	name := "Command Executor (Task: " + ti.TaskID.Value + ")"
	typ := ""
	if ti.Executor != nil {
		res = res.Plus(ti.Executor.Resources)
		if ti.Executor.Name != "" {
			name = ti.Executor.Name
		}
		typ = ti.Executor.Type
	} else {
		typ = "COMMAND"
	}
	ex := StateExecutor{
		ID:             rec.ExecutorID,
		Name:           name,
		Source:         ti.TaskID.Value,
		Container:      rec.ContainerID,
		Directory:      rec.Sandbox,
		Resources:      res.ToMap(),
		Type:           typ,
		Tasks:          []mesosv1.StateTask{},
		QueuedTasks:    []mesosv1.StateTask{},
		CompletedTasks: []mesosv1.StateTask{},
	}
	if len(ti.Resources) > 0 {
		ex.Role = mesosv1.ReservationRole(ti.Resources[0])
	}
	st := a.stateTask(rec, agentID)
	if completed {
		ex.CompletedTasks = append(ex.CompletedTasks, st)
	} else {
		ex.Tasks = append(ex.Tasks, st)
	}
	return ex
}

func stateFramework(fw *framework) StateFramework {
	info := fw.info
	sf := StateFramework{
		ID:                 fw.id,
		Name:               info.Name,
		User:               info.User,
		FailoverTimeout:    info.FailoverTimeout,
		Checkpoint:         info.Checkpoint,
		Hostname:           info.Hostname,
		Role:               info.Role,
		Roles:              info.Roles,
		Principal:          info.Principal,
		Capabilities:       []string{},
		Executors:          []StateExecutor{},
		CompletedExecutors: []StateExecutor{},
	}
	if sf.Role == "" {
		sf.Role = info.EffectiveRoles()[0]
	}
	for _, c := range info.Capabilities {
		sf.Capabilities = append(sf.Capabilities, c.Type)
	}
	return sf
}

// state builds the /state document.
func (a *Agent) state() StateResponse {
	a.mu.Lock()
	defer a.mu.Unlock()
	res := a.resources
	s := StateResponse{
		Version:               version.Version,
		StartTime:             float64(a.startTime.UnixNano()) / 1e9,
		ID:                    a.agentID,
		PID:                   a.pid(),
		Hostname:              a.hostname,
		Capabilities:          []string{"MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT", "AGENT_OPERATION_FEEDBACK"},
		Resources:             res.ToMap(),
		ReservedResources:     map[string]mesosv1.ResourceMap{},
		UnreservedResources:   res.Unreserved().ToMap(),
		ReservedResourcesFull: map[string][]mesosv1.Resource{},
		Attributes:            map[string]any{},
		Flags:                 a.flags(),
		Runtimes:              slices.Clone(a.runtimes),
		Frameworks:            []StateFramework{},
		CompletedFrameworks:   []StateFramework{},
	}
	if a.isolation.Runtime != "" {
		iso := a.isolation
		s.Isolation = &iso
	}
	for role, rs := range res.Reservations() {
		if role == mesosv1.UnreservedRole {
			continue
		}
		s.ReservedResources[role] = rs.ToMap()
		s.ReservedResourcesFull[role] = rs
	}
	for _, at := range a.attributes {
		s.Attributes[at.Name] = mesosv1.AttributeValue(at)
	}
	if a.cfg.Domain.Region != "" {
		s.Domain = a.agentInfo("").Domain
	}
	if a.conn.connected {
		s.MasterHostname = a.conn.masterInfo.Hostname
		if s.MasterHostname == "" {
			s.MasterHostname = hostOf(a.conn.masterBase)
		}
	}
	for _, fw := range a.frameworks {
		sf := stateFramework(fw)
		for _, t := range fw.tasks {
			sf.Executors = append(sf.Executors, a.stateExecutor(&t.rec, a.agentID, false))
		}
		for i := range fw.completed {
			sf.CompletedExecutors = append(sf.CompletedExecutors, a.stateExecutor(&fw.completed[i].rec, a.agentID, true))
		}
		sortExecutors(sf.Executors)
		s.Frameworks = append(s.Frameworks, sf)
	}
	for _, fw := range a.completedFrameworks {
		sf := stateFramework(fw)
		for i := range fw.completed {
			sf.CompletedExecutors = append(sf.CompletedExecutors, a.stateExecutor(&fw.completed[i].rec, a.agentID, true))
		}
		s.CompletedFrameworks = append(s.CompletedFrameworks, sf)
	}
	sort.Slice(s.Frameworks, func(i, j int) bool { return s.Frameworks[i].ID < s.Frameworks[j].ID })
	return s
}

func sortExecutors(es []StateExecutor) {
	sort.Slice(es, func(i, j int) bool { return es[i].ID < es[j].ID })
}

// flags renders the configuration as Mesos' /flags map.
func (a *Agent) flags() map[string]string {
	return map[string]string{
		"work_dir":                       a.cfg.WorkDir,
		"master":                         joinComma(a.cfg.masterURLs()),
		"hostname":                       a.hostname,
		"advertise_ip":                   a.ip,
		"port":                           portOf(a.endpoint),
		"resources":                      a.resources.String(),
		"attributes":                     a.cfg.Attributes,
		"containerizers":                 joinComma(a.cfg.Containerizers),
		"docker_socket":                  a.cfg.Docker.Socket,
		"docker_allowed_parameters":      joinComma(a.cfg.Docker.AllowedParameters),
		"docker_allow_privileged":        strconv.FormatBool(a.cfg.Docker.AllowPrivileged),
		"isolation":                      a.isolation.isolationFlag(),
		"default_role":                   a.cfg.defaultRole(),
		"gc_delay":                       a.cfg.GCDelay.String(),
		"executor_shutdown_grace_period": a.cfg.ExecutorShutdownGrace.String(),
		"heartbeat_interval":             a.cfg.HeartbeatInterval.String(),
		"registration_backoff_factor":    a.cfg.RegistrationBackoffMin.String(),
		"checkpoint":                     "true",
		"recover":                        "reconnect",
		"strict":                         "true",
	}
}

func joinComma(xs []string) string { return strings.Join(xs, ",") }

func portOf(hostport string) string {
	for i := len(hostport) - 1; i >= 0; i-- {
		if hostport[i] == ':' {
			return hostport[i+1:]
		}
	}
	return ""
}

// uptime is how long the agent has run.
func (a *Agent) uptime() time.Duration { return time.Since(a.startTime) }
