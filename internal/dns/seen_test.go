package dns

import (
	"testing"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
	"github.com/basalt-dcos/basalt/pkg/operator"
)

// TestSeenStateChanged: a rebuild is needed for what records read (tasks
// coming and going, state, health, addresses, agents' addresses, the
// leader), and not for other news (a new status that changes none of them,
// agents' resources).
func TestSeenStateChanged(t *testing.T) {
	healthy, sick := true, false
	task := func(id, state string, h *bool, ip string) *mesosv1.Task {
		st := mesosv1.TaskStatus{TaskID: mesosv1.ID{Value: id}, State: state, Healthy: h}
		if ip != "" {
			st.ContainerStatus = &mesosv1.ContainerStatus{NetworkInfos: []mesosv1.NetworkInfo{{IPAddresses: []mesosv1.IPAddress{{IPAddress: ip}}}}}
		}
		return &mesosv1.Task{TaskID: mesosv1.ID{Value: id}, State: state, Statuses: []mesosv1.TaskStatus{st}}
	}
	agent := func(pid string, cpus float64) *mesosv1.OperatorAgent {
		return &mesosv1.OperatorAgent{PID: pid, AgentInfo: mesosv1.AgentInfo{Hostname: "h", ID: &mesosv1.ID{Value: "S1"}},
			TotalResources: []mesosv1.Resource{mesosv1.NewScalar("cpus", cpus)}}
	}
	a := task("a", mesosv1.TaskRunning, nil, "")
	b := task("b", mesosv1.TaskRunning, &healthy, "9.0.0.2")
	base := &operator.State{Leader: &mesosv1.MasterInfo{ID: "m1"}, Agents: []*mesosv1.OperatorAgent{agent("slave(1)@10.0.0.1:5051", 4)}, Tasks: []*mesosv1.Task{a, b}}
	steps := []struct {
		name string
		st   func() *operator.State
		want bool
	}{
		{"first", func() *operator.State { return base }, true},
		{"same pointers", func() *operator.State { return base }, false},
		{"a new status keeping state, health and address", func() *operator.State {
			s := *base
			s.Tasks = []*mesosv1.Task{task("a", mesosv1.TaskRunning, nil, ""), b}
			return &s
		}, false},
		{"agent resources only", func() *operator.State {
			s := *base
			s.Tasks = []*mesosv1.Task{task("a", mesosv1.TaskRunning, nil, ""), b}
			s.Agents = []*mesosv1.OperatorAgent{agent("slave(1)@10.0.0.1:5051", 3)}
			return &s
		}, false},
		{"a task staging, then starting (records read running tasks only)", func() *operator.State {
			s := *base
			s.Tasks = []*mesosv1.Task{a, b, task("c", mesosv1.TaskStaging, nil, "")}
			return &s
		}, false},
		{"it runs", func() *operator.State {
			s := *base
			s.Tasks = []*mesosv1.Task{a, b, task("c", mesosv1.TaskRunning, nil, "")}
			return &s
		}, true},
		{"it fails", func() *operator.State {
			s := *base
			s.Tasks = []*mesosv1.Task{a, b, task("c", mesosv1.TaskFailed, nil, "")}
			return &s
		}, true},
		{"health", func() *operator.State {
			s := *base
			s.Tasks = []*mesosv1.Task{a, task("b", mesosv1.TaskRunning, &sick, "9.0.0.2")}
			return &s
		}, true},
		{"address", func() *operator.State {
			s := *base
			s.Tasks = []*mesosv1.Task{a, task("b", mesosv1.TaskRunning, &sick, "9.0.0.3")}
			return &s
		}, true},
		{"state", func() *operator.State {
			s := *base
			s.Tasks = []*mesosv1.Task{task("a", mesosv1.TaskKilling, nil, ""), task("b", mesosv1.TaskRunning, &sick, "9.0.0.3")}
			return &s
		}, true},
		{"a task that was no longer running gone", func() *operator.State {
			s := *base
			s.Tasks = []*mesosv1.Task{task("b", mesosv1.TaskRunning, &sick, "9.0.0.3")}
			return &s
		}, false},
		{"agent address", func() *operator.State {
			s := *base
			s.Tasks = []*mesosv1.Task{task("b", mesosv1.TaskRunning, &sick, "9.0.0.3")}
			s.Agents = []*mesosv1.OperatorAgent{agent("slave(1)@10.0.0.7:5051", 3)}
			return &s
		}, true},
		{"leader", func() *operator.State {
			s := *base
			s.Tasks = []*mesosv1.Task{task("b", mesosv1.TaskRunning, &sick, "9.0.0.3")}
			s.Agents = []*mesosv1.OperatorAgent{agent("slave(1)@10.0.0.7:5051", 3)}
			s.Leader = &mesosv1.MasterInfo{ID: "m2"}
			return &s
		}, true},
		{"a running task gone", func() *operator.State {
			s := *base
			s.Tasks = nil
			s.Agents = []*mesosv1.OperatorAgent{agent("slave(1)@10.0.0.7:5051", 3)}
			s.Leader = &mesosv1.MasterInfo{ID: "m2"}
			return &s
		}, true},
	}
	var seen seenState
	for _, step := range steps {
		if got := seen.changed(step.st()); got != step.want {
			t.Errorf("%s: changed = %v, want %v", step.name, got, step.want)
		}
	}
}
