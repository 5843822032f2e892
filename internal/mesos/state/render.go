package state

import (
	"cmp"
	"slices"
	"time"

	"github.com/basalt-dcos/basalt/internal/version"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// This file converts a Snapshot into the legacy endpoints' shapes
// (pkg/mesosv1/state.go), following what Mesos' master renders field by
// field: resources as flat maps, task labels as bare arrays, times as
// fractional seconds since the epoch.

// secs renders t as Mesos does (fractional seconds); zero stays 0.
func secs(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

func buildIndex(s *Snapshot) *index {
	idx := &index{
		agents:          make(map[string]*Agent, len(s.Agents)),
		agentCounts:     map[string]*counts{},
		frameworkCounts: map[string]*counts{},
		agentFrameworks: map[string][]string{},
		frameworkAgents: map[string][]string{},
	}
	for _, a := range s.Agents {
		idx.agents[agentID(a)] = a
	}
	n := 0
	for _, f := range s.Frameworks {
		n += len(f.Tasks) + len(f.UnreachableTasks) + len(f.CompletedTasks)
	}
	for _, f := range s.CompletedFrameworks {
		n += len(f.Tasks) + len(f.UnreachableTasks) + len(f.CompletedTasks)
	}
	idx.tasks = make([]*Task, 0, n)

	type pair struct{ agent, framework string }
	seen := map[pair]bool{}
	for _, f := range s.Frameworks {
		fid := frameworkID(f)
		fc := &counts{}
		idx.frameworkCounts[fid] = fc
		for _, list := range [][]*Task{f.Tasks, f.UnreachableTasks, f.CompletedTasks} {
			for _, t := range list {
				idx.tasks = append(idx.tasks, t)
				fc.add(t.State)
				ac := idx.agentCounts[t.AgentID]
				if ac == nil {
					ac = &counts{}
					idx.agentCounts[t.AgentID] = ac
				}
				ac.add(t.State)
				if p := (pair{t.AgentID, fid}); !seen[p] {
					seen[p] = true
					idx.agentFrameworks[t.AgentID] = append(idx.agentFrameworks[t.AgentID], fid)
					idx.frameworkAgents[fid] = append(idx.frameworkAgents[fid], t.AgentID)
				}
			}
		}
	}
	for _, ids := range idx.agentFrameworks {
		slices.Sort(ids)
	}
	for _, ids := range idx.frameworkAgents {
		slices.Sort(ids)
	}
	for _, f := range s.CompletedFrameworks {
		for _, list := range [][]*Task{f.Tasks, f.UnreachableTasks, f.CompletedTasks} {
			idx.tasks = append(idx.tasks, list...)
		}
	}
	return idx
}

// compareTasks orders tasks by their first status' timestamp (tasks
// without statuses first), then framework and task ID for a stable order.
func compareTasks(a, b *Task) int {
	switch {
	case len(a.Statuses) == 0 && len(b.Statuses) > 0:
		return -1
	case len(a.Statuses) > 0 && len(b.Statuses) == 0:
		return 1
	case len(a.Statuses) > 0:
		if c := cmp.Compare(a.Statuses[0].Timestamp, b.Statuses[0].Timestamp); c != 0 {
			return c
		}
	}
	if c := cmp.Compare(a.FrameworkID, b.FrameworkID); c != 0 {
		return c
	}
	return cmp.Compare(a.Info.TaskID.Value, b.Info.TaskID.Value)
}

func agentID(a *Agent) string {
	if a.Info.ID == nil {
		return ""
	}
	return a.Info.ID.Value
}

func frameworkID(f *Framework) string {
	if f.Info.ID == nil {
		return ""
	}
	return f.Info.ID.Value
}

// registered reports whether an agent belongs in "slaves" (unreachable
// agents are only counted).
func registered(a *Agent) bool { return !a.Unreachable }

func versionOf(s *Snapshot) string {
	if s.Version != "" {
		return s.Version
	}
	return version.Version
}

func flagsOf(s *Snapshot) map[string]string {
	if s.Flags == nil {
		return map[string]string{}
	}
	return s.Flags
}

// stateAgent renders an agent; full adds the *_full resource arrays that
// only /master/slaves carries.
func stateAgent(a *Agent, full bool) mesosv1.StateAgent {
	attrs := make(map[string]any, len(a.Info.Attributes))
	for _, at := range a.Info.Attributes {
		attrs[at.Name] = mesosv1.AttributeValue(at)
	}
	total := a.Total
	reservations := total.Reservations()
	reserved := make(map[string]mesosv1.ResourceMap, len(reservations))
	for role, rs := range reservations {
		reserved[role] = rs.ToMap()
	}
	unreserved := total.Unreserved()
	sa := mesosv1.StateAgent{
		ID:                  agentID(a),
		PID:                 a.PID,
		Hostname:            a.Info.Hostname,
		Port:                a.Info.Port,
		RegisteredTime:      secs(a.RegisteredTime),
		ReregisteredTime:    secs(a.ReregisteredTime),
		Resources:           total.ToMap(),
		UsedResources:       a.Used.ToMap(),
		OfferedResources:    a.Offered.ToMap(),
		ReservedResources:   reserved,
		UnreservedResources: unreserved.ToMap(),
		Attributes:          attrs,
		Active:              a.Active,
		Deactivated:         !a.Active,
		Version:             a.Version,
		Capabilities:        a.Capabilities,
		Domain:              a.Info.Domain,
		Runtimes:            a.Runtimes,
	}
	if full {
		sa.ReservedResourcesFull = make(map[string][]mesosv1.Resource, len(reservations))
		for role, rs := range reservations {
			sa.ReservedResourcesFull[role] = nonNil(rs)
		}
		sa.UnreservedResourcesFull = nonNil(unreserved)
		sa.UsedResourcesFull = nonNil(a.Used.Normalize())
		sa.OfferedResourcesFull = nonNil(a.Offered.Normalize())
	}
	return sa
}

func nonNil(rs mesosv1.Resources) []mesosv1.Resource {
	if rs == nil {
		return []mesosv1.Resource{}
	}
	return rs
}

func labelList(l *mesosv1.Labels) []mesosv1.Label {
	if l == nil {
		return nil
	}
	return l.Labels
}

func stateTask(t *Task) mesosv1.StateTask {
	statuses := make([]mesosv1.StateStatus, len(t.Statuses))
	for i, st := range t.Statuses {
		statuses[i] = mesosv1.StateStatus{
			State:           st.State,
			Timestamp:       st.Timestamp,
			Healthy:         st.Healthy,
			Labels:          labelList(st.Labels),
			ContainerStatus: st.ContainerStatus,
		}
	}
	return mesosv1.StateTask{
		ID:          t.Info.TaskID.Value,
		Name:        t.Info.Name,
		FrameworkID: t.FrameworkID,
		ExecutorID:  t.ExecutorID,
		SlaveID:     t.AgentID,
		State:       t.State,
		Role:        t.Role,
		Resources:   mesosv1.Resources(t.Info.Resources).ToMap(),
		Statuses:    statuses,
		Labels:      labelList(t.Info.Labels),
		Discovery:   t.Info.Discovery,
		Container:   t.Info.Container.Redacted(),
		HealthCheck: t.Info.HealthCheck,
		KillPolicy:  t.Info.KillPolicy,
	}
}

func capabilityNames(f *Framework) []string {
	out := make([]string, len(f.Info.Capabilities))
	for i, c := range f.Info.Capabilities {
		out[i] = c.Type
	}
	return out
}

func offerRole(o *Offer) *mesosv1.AllocationInfo {
	for _, r := range o.Resources {
		if role := mesosv1.AllocationRole(r); role != "" {
			return &mesosv1.AllocationInfo{Role: role}
		}
	}
	return nil
}

// stateFramework renders a framework as /master/state and
// /master/frameworks do, but without its task lists, which the document
// builder appends from the cached task JSON.
func stateFramework(f *Framework) mesosv1.StateFramework {
	sf := frameworkHead(f)
	sf.Offers = make([]mesosv1.StateOffer, len(f.Offers))
	for i, o := range f.Offers {
		sf.Offers[i] = stateOffer(o)
	}
	return sf
}

func stateOffer(o *Offer) mesosv1.StateOffer {
	return mesosv1.StateOffer{
		ID:             o.ID,
		FrameworkID:    o.FrameworkID,
		AllocationInfo: offerRole(o),
		SlaveID:        o.AgentID,
		Resources:      o.Resources.ToMap(),
	}
}

// frameworkHead is stateFramework without the offers (nil), which the
// document builder appends from the cached offer JSON.
func frameworkHead(f *Framework) mesosv1.StateFramework {
	sf := mesosv1.StateFramework{
		ID:               frameworkID(f),
		Name:             f.Info.Name,
		User:             f.Info.User,
		Hostname:         f.Info.Hostname,
		WebuiURL:         f.Info.WebuiURL,
		FailoverTimeout:  f.Info.FailoverTimeout,
		Checkpoint:       f.Info.Checkpoint,
		Principal:        f.Info.Principal,
		Capabilities:     capabilityNames(f),
		Labels:           labelList(f.Info.Labels),
		Active:           f.Active,
		Connected:        f.Connected,
		Recovered:        f.Recovered,
		RegisteredTime:   secs(f.RegisteredTime),
		UnregisteredTime: secs(f.UnregisteredTime),
		Resources:        f.Used.Plus(f.Offered).ToMap(),
		UsedResources:    f.Used.ToMap(),
		OfferedResources: f.Offered.ToMap(),
		Executors:        []any{},
	}
	if !f.ReregisteredTime.IsZero() && !f.ReregisteredTime.Equal(f.RegisteredTime) {
		sf.ReregisteredTime = secs(f.ReregisteredTime)
	}
	// Multi-role frameworks carry "roles"; others the legacy "role".
	if f.Info.HasCapability(mesosv1.CapMultiRole) {
		sf.Roles = f.Info.Roles
	} else {
		sf.Role = f.Info.Role
		if sf.Role == "" {
			sf.Role = mesosv1.UnreservedRole
		}
	}
	return sf
}

// stateHead renders /master/state without its lists (slaves, frameworks
// ...), which the document builder appends from cached pieces. A standby's
// snapshot has no agents or frameworks; it still names the leader, as a
// Mesos standby does.
func stateHead(s *Snapshot) *mesosv1.StateResponse {
	resp := &mesosv1.StateResponse{
		Version:     versionOf(s),
		StartTime:   secs(s.StartTime),
		ElectedTime: secs(s.ElectedTime),
		ID:          s.Self.ID,
		PID:         s.Self.PID,
		Hostname:    s.Self.Hostname,
		Cluster:     s.ClusterName,
		Flags:       flagsOf(s),
	}
	if s.Leader != nil {
		resp.Leader = s.Leader.PID
		leader := *s.Leader
		resp.LeaderInfo = &leader
	}
	for _, a := range s.Agents {
		switch {
		case a.Unreachable:
			resp.UnreachableSlaves++
		case a.Active:
			resp.ActivatedSlaves++
		default:
			resp.DeactivatedSlaves++
		}
	}
	return resp
}

// summaryFramework is a framework in /master/state-summary: only the
// fields Mesos' summary carries, plus task counts and agent IDs.
type summaryFramework struct {
	ID               string              `json:"id"`
	Name             string              `json:"name"`
	PID              string              `json:"pid,omitempty"`
	UsedResources    mesosv1.ResourceMap `json:"used_resources"`
	OfferedResources mesosv1.ResourceMap `json:"offered_resources"`
	Capabilities     []string            `json:"capabilities"`
	Hostname         string              `json:"hostname"`
	WebuiURL         string              `json:"webui_url"`
	Active           bool                `json:"active"`
	Connected        bool                `json:"connected"`
	Recovered        bool                `json:"recovered"`
	mesosv1.TaskCounts
	SlaveIDs []string `json:"slave_ids"`
}

func taskCounts(c *counts) mesosv1.TaskCounts {
	if c == nil {
		c = &counts{}
	}
	v := *c // copy: the pointers below must not alias the index
	return mesosv1.TaskCounts{
		TaskStaging: &v[0], TaskStarting: &v[1], TaskRunning: &v[2], TaskKilling: &v[3],
		TaskFinished: &v[4], TaskKilled: &v[5], TaskFailed: &v[6], TaskLost: &v[7],
		TaskError: &v[8], TaskUnreachable: &v[9],
	}
}

func emptyIfNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// slaves renders /master/slaves, optionally for one agent ID ("" = all).
func slaves(s *Snapshot, only string) *mesosv1.SlavesResponse {
	resp := &mesosv1.SlavesResponse{Slaves: []mesosv1.StateAgent{}, RecoveredSlaves: []mesosv1.StateAgent{}}
	for _, a := range s.Agents {
		if registered(a) && (only == "" || agentID(a) == only) {
			resp.Slaves = append(resp.Slaves, stateAgent(a, true))
		}
	}
	return resp
}

// roles renders /master/roles.
func roles(s *Snapshot) *mesosv1.RolesResponse {
	resp := &mesosv1.RolesResponse{Roles: make([]mesosv1.StateRole, len(s.Roles))}
	for i, r := range s.Roles {
		resp.Roles[i] = mesosv1.StateRole{
			Name:       r.Name,
			Weight:     r.Weight,
			Frameworks: emptyIfNil(r.Frameworks),
			Resources:  r.Allocated.ToMap(),
			Allocated:  r.Allocated.Minus(r.Offered).ToMap(),
			Offered:    r.Offered.ToMap(),
			Reserved:   r.Reserved.ToMap(),
		}
	}
	return resp
}

// versionInfo renders /version and GET_VERSION.
func versionInfo(s *Snapshot) mesosv1.VersionInfo {
	return mesosv1.VersionInfo{Version: versionOf(s)}
}
