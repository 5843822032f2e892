package state

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// staticSource publishes snapshots the test swaps in.
type staticSource struct{ p atomic.Pointer[Snapshot] }

func newSource(s *Snapshot) *staticSource {
	src := &staticSource{}
	src.p.Store(s)
	return src
}

func (s *staticSource) Current() *Snapshot { return s.p.Load() }

// epoch is the fixture's time origin.
var epoch = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) // read-only

func at(sec float64) time.Time { return epoch.Add(time.Duration(sec * float64(time.Second))) }

func ts(sec float64) float64 { return secs(at(sec)) }

func ptr[T any](v T) *T { return &v }

func scalar(name string, v float64, role string) mesosv1.Resource {
	r := mesosv1.NewScalar(name, v)
	if role != "" {
		r.Reservations = []mesosv1.ReservationInfo{{Type: "STATIC", Role: role}}
	}
	return r
}

func allocated(rs mesosv1.Resources, role string) mesosv1.Resources { return rs.Allocate(role) }

func labels(kv ...string) *mesosv1.Labels {
	l := &mesosv1.Labels{}
	for i := 0; i+1 < len(kv); i += 2 {
		l.Labels = append(l.Labels, mesosv1.Label{Key: kv[i], Value: kv[i+1]})
	}
	return l
}

const (
	agent1 = "c0ffee00-0000-4000-8000-000000000001-S0"
	agent2 = "c0ffee00-0000-4000-8000-000000000001-S1"
	agent3 = "c0ffee00-0000-4000-8000-000000000001-S2"
	fwMara = "c0ffee00-0000-4000-8000-000000000001-0000"
	fwJobs = "c0ffee00-0000-4000-8000-000000000001-0001"
	fwGone = "c0ffee00-0000-4000-8000-000000000001-0002"
)

// fixture is a hand-built leader snapshot covering what the endpoints
// render: reserved and unreserved resources, port ranges, every attribute
// type, an unreachable and a deactivated agent, frameworks that are active,
// disconnected/recovered and completed, running, unreachable and completed
// tasks, statuses with container network infos and health, labels,
// discovery ports and outstanding offers.
func fixture() *Snapshot {
	leader := mesosv1.MasterInfo{
		ID: "master-1", IP: 16777343, Port: 5050, PID: "master@127.0.0.1:5050",
		Hostname: "m1.example.com", Version: "1.9.0",
		Address: &mesosv1.Address{Hostname: "m1.example.com", IP: "127.0.0.1", Port: 5050},
	}
	portsRes := mesosv1.NewRanges("ports", mesosv1.ValueRange{Begin: 31000, End: 31099}, mesosv1.ValueRange{Begin: 32000, End: 32000})
	public := mesosv1.Resources{scalar("cpus", 2, "slave_public"), scalar("mem", 1024, "slave_public")}
	total1 := mesosv1.Resources{scalar("cpus", 4, ""), scalar("mem", 8192, ""), scalar("disk", 10240, ""), portsRes}.Plus(public)
	dom := &mesosv1.DomainInfo{FaultDomain: &mesosv1.FaultDomain{}}
	dom.FaultDomain.Region.Name = "eu-west"
	dom.FaultDomain.Zone.Name = "eu-west-1a"

	webRes := mesosv1.Resources{scalar("cpus", 0.5, ""), scalar("mem", 128, ""), mesosv1.NewRanges("ports", mesosv1.ValueRange{Begin: 31000, End: 31000})}
	web := &Task{
		Info: mesosv1.TaskInfo{
			Name: "web", TaskID: mesosv1.ID{Value: "web.instance-1"}, AgentID: mesosv1.ID{Value: agent1},
			Resources: allocated(webRes, "*"),
			Command:   &mesosv1.CommandInfo{Value: "python3 -m http.server $PORT0"},
			Labels:    labels("HAPROXY_GROUP", "external", "owner", "web-team"),
			Discovery: &mesosv1.DiscoveryInfo{Visibility: "FRAMEWORK", Name: "web", Ports: &mesosv1.Ports{Ports: []mesosv1.Port{
				{Number: 31000, Name: "http", Protocol: "tcp", Labels: labels("VIP_0", "/web:80")},
			}}},
			HealthCheck: &mesosv1.HealthCheck{Type: mesosv1.HealthCheckHTTP, HTTP: &mesosv1.HTTPCheckInfo{Port: 31000, Path: "/"}},
			KillPolicy:  &mesosv1.KillPolicy{GracePeriod: &mesosv1.DurationInfo{Nanoseconds: 3e9}},
		},
		FrameworkID: fwMara, AgentID: agent1, ExecutorID: "", Role: "*", State: mesosv1.TaskRunning,
		Statuses: []mesosv1.TaskStatus{
			{TaskID: mesosv1.ID{Value: "web.instance-1"}, State: mesosv1.TaskStarting, Timestamp: ts(10), Source: mesosv1.SourceExecutor},
			{TaskID: mesosv1.ID{Value: "web.instance-1"}, State: mesosv1.TaskRunning, Timestamp: ts(11), Source: mesosv1.SourceExecutor,
				Healthy: ptr(true), Labels: labels("checked", "yes"),
				ContainerStatus: &mesosv1.ContainerStatus{
					ContainerID:  &mesosv1.ID{Value: "1b6b7c0e-0000-4000-8000-00000000c001"},
					NetworkInfos: []mesosv1.NetworkInfo{{Name: "dcos", IPAddresses: []mesosv1.IPAddress{{Protocol: "IPv4", IPAddress: "9.0.1.2"}}}},
					ExecutorPID:  4242,
				}},
		},
	}
	apiRes := mesosv1.Resources{scalar("cpus", 1, "slave_public"), scalar("mem", 256, "slave_public")}
	apiTask := &Task{
		Info: mesosv1.TaskInfo{
			Name: "api", TaskID: mesosv1.ID{Value: "api.instance-1"}, AgentID: mesosv1.ID{Value: agent1},
			Resources: allocated(apiRes, "slave_public"),
			Container: &mesosv1.ContainerInfo{Type: "DOCKER", Docker: &mesosv1.DockerInfo{Image: "nginx:1.27", Network: "BRIDGE",
				PortMappings: []mesosv1.DockerPortMapping{{HostPort: 31001, ContainerPort: 80, Protocol: "tcp"}}}},
		},
		FrameworkID: fwMara, AgentID: agent1, Role: "slave_public", State: mesosv1.TaskStaging,
	}
	lostRes := mesosv1.Resources{scalar("cpus", 0.1, ""), scalar("mem", 32, "")}
	unreachable := &Task{
		Info: mesosv1.TaskInfo{Name: "cache", TaskID: mesosv1.ID{Value: "cache.instance-1"}, AgentID: mesosv1.ID{Value: agent3},
			Resources: allocated(lostRes, "*"), Command: &mesosv1.CommandInfo{Value: "redis-server"}},
		FrameworkID: fwMara, AgentID: agent3, Role: "*", State: mesosv1.TaskUnreachable,
		Statuses: []mesosv1.TaskStatus{
			{TaskID: mesosv1.ID{Value: "cache.instance-1"}, State: mesosv1.TaskRunning, Timestamp: ts(5)},
			{TaskID: mesosv1.ID{Value: "cache.instance-1"}, State: mesosv1.TaskUnreachable, Timestamp: ts(300), Source: mesosv1.SourceMaster,
				Reason: mesosv1.ReasonAgentRemoved, UnreachableTime: &mesosv1.TimeInfo{Nanoseconds: at(300).UnixNano()}},
		},
	}
	finished := &Task{
		Info: mesosv1.TaskInfo{Name: "migrate", TaskID: mesosv1.ID{Value: "migrate.instance-1"}, AgentID: mesosv1.ID{Value: agent2},
			Resources: allocated(lostRes, "*"), Command: &mesosv1.CommandInfo{Value: "./migrate"}},
		FrameworkID: fwMara, AgentID: agent2, Role: "*", State: mesosv1.TaskFinished,
		Statuses: []mesosv1.TaskStatus{
			{TaskID: mesosv1.ID{Value: "migrate.instance-1"}, State: mesosv1.TaskRunning, Timestamp: ts(2)},
			{TaskID: mesosv1.ID{Value: "migrate.instance-1"}, State: mesosv1.TaskFinished, Timestamp: ts(3), Message: "Command exited with status 0"},
		},
	}
	jobRun := &Task{
		Info: mesosv1.TaskInfo{Name: "backup", TaskID: mesosv1.ID{Value: "backup_20261123120000.x"}, AgentID: mesosv1.ID{Value: agent2},
			Resources: allocated(lostRes, "*"), Command: &mesosv1.CommandInfo{Value: "backup.sh"}},
		FrameworkID: fwJobs, AgentID: agent2, Role: "*", State: mesosv1.TaskFailed,
		Statuses: []mesosv1.TaskStatus{
			{TaskID: mesosv1.ID{Value: "backup_20261123120000.x"}, State: mesosv1.TaskFailed, Timestamp: ts(20), Reason: mesosv1.ReasonCommandExecutorFailed},
		},
	}
	goneTask := &Task{
		Info: mesosv1.TaskInfo{Name: "old", TaskID: mesosv1.ID{Value: "old.1"}, AgentID: mesosv1.ID{Value: agent2},
			Resources: allocated(lostRes, "*"), Command: &mesosv1.CommandInfo{Value: "sleep 1000"}},
		FrameworkID: fwGone, AgentID: agent2, Role: "*", State: mesosv1.TaskKilled,
		Statuses: []mesosv1.TaskStatus{
			{TaskID: mesosv1.ID{Value: "old.1"}, State: mesosv1.TaskRunning, Timestamp: ts(1)},
			{TaskID: mesosv1.ID{Value: "old.1"}, State: mesosv1.TaskKilled, Timestamp: ts(40), Reason: mesosv1.ReasonFrameworkRemoved},
		},
	}
	offerRes := allocated(mesosv1.Resources{scalar("cpus", 3.5, ""), scalar("mem", 8064, ""), mesosv1.NewRanges("ports", mesosv1.ValueRange{Begin: 31002, End: 31099})}, "*")

	return &Snapshot{
		Built:       at(400),
		Self:        leader,
		Leader:      &leader,
		IsLeader:    true,
		StartTime:   at(0),
		ElectedTime: at(1),
		ClusterName: "basalt-test",
		Version:     "1.9.0",
		Flags:       map[string]string{"cluster": "basalt-test", "offer_timeout": "2mins", "port": "5050"},
		Agents: []*Agent{
			{
				Info: mesosv1.AgentInfo{Hostname: "a1.example.com", Port: 5051, ID: &mesosv1.ID{Value: agent1}, Domain: dom,
					Resources: total1,
					Attributes: []mesosv1.Attribute{
						{Name: "rack", Type: mesosv1.Text, Text: &mesosv1.ValueText{Value: "r1"}},
						{Name: "cores", Type: mesosv1.Scalar, Scalar: &mesosv1.ValueScalar{Value: 8}},
						{Name: "slots", Type: mesosv1.Ranges, Ranges: &mesosv1.ValueRanges{Range: []mesosv1.ValueRange{{Begin: 1, End: 4}}}},
						{Name: "disks", Type: mesosv1.Set, Set: &mesosv1.ValueSet{Item: []string{"ssd", "hdd"}}},
						{Name: "public_ip", Type: mesosv1.Text, Text: &mesosv1.ValueText{Value: "true"}},
					}},
				Endpoint: "10.0.0.1:5051", PID: "slave(1)@10.0.0.1:5051",
				Total: total1, Used: mesosv1.Resources(web.Info.Resources).Plus(apiTask.Info.Resources), Offered: offerRes,
				RegisteredTime: at(2), ReregisteredTime: at(50), Active: true, Version: "0.1.0-dev",
				Capabilities: []string{"MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT"},
				Runtimes:     []string{"posix", "docker"},
			},
			{
				Info: mesosv1.AgentInfo{Hostname: "a2.example.com", Port: 5051, ID: &mesosv1.ID{Value: agent2},
					Resources: mesosv1.Resources{scalar("cpus", 2, ""), scalar("mem", 2048, ""), scalar("gpus", 1, "")}},
				Endpoint: "10.0.0.2:5051", PID: "slave(1)@10.0.0.2:5051",
				Total:          mesosv1.Resources{scalar("cpus", 2, ""), scalar("mem", 2048, ""), scalar("gpus", 1, "")},
				RegisteredTime: at(3), Active: false, Version: "0.1.0-dev",
			},
			{
				Info: mesosv1.AgentInfo{Hostname: "a3.example.com", Port: 5051, ID: &mesosv1.ID{Value: agent3},
					Resources: mesosv1.Resources{scalar("cpus", 1, ""), scalar("mem", 512, "")}},
				Endpoint: "10.0.0.3:5051", PID: "slave(1)@10.0.0.3:5051",
				Total:          mesosv1.Resources{scalar("cpus", 1, ""), scalar("mem", 512, "")},
				RegisteredTime: at(4), Unreachable: true, UnreachableTime: at(300), Version: "0.1.0-dev",
			},
		},
		Frameworks: []*Framework{
			{
				Info: mesosv1.FrameworkInfo{User: "root", Name: "marathon", ID: &mesosv1.ID{Value: fwMara}, FailoverTimeout: 604800,
					Checkpoint: true, Roles: []string{"*", "slave_public"}, Hostname: "m1.example.com", Principal: "dcos_marathon",
					WebuiURL:     "http://m1.example.com:8080",
					Capabilities: []mesosv1.Capability{{Type: mesosv1.CapMultiRole}, {Type: mesosv1.CapPartitionAware}, {Type: mesosv1.CapTaskKillingState}},
					Labels:       labels("DCOS_SERVICE_NAME", "marathon")},
				Active: true, Connected: true,
				RegisteredTime: at(5), ReregisteredTime: at(60),
				Tasks:            []*Task{apiTask, web},
				UnreachableTasks: []*Task{unreachable},
				CompletedTasks:   []*Task{finished},
				Offers:           []*Offer{{ID: "offer-1", FrameworkID: fwMara, AgentID: agent1, Resources: offerRes}},
				Used:             mesosv1.Resources(web.Info.Resources).Plus(apiTask.Info.Resources),
				Offered:          offerRes,
			},
			{
				Info: mesosv1.FrameworkInfo{User: "nobody", Name: "metronome", ID: &mesosv1.ID{Value: fwJobs}, FailoverTimeout: 604800,
					Role: "*", Hostname: "m1.example.com"},
				Active: false, Connected: false, Recovered: true,
				RegisteredTime: at(6),
				CompletedTasks: []*Task{jobRun},
			},
		},
		CompletedFrameworks: []*Framework{
			{
				Info:           mesosv1.FrameworkInfo{User: "root", Name: "spark", ID: &mesosv1.ID{Value: fwGone}, Role: "analytics"},
				RegisteredTime: at(1), UnregisteredTime: at(40),
				CompletedTasks: []*Task{goneTask},
			},
		},
		Roles: []Role{
			{Name: "*", Weight: 1, Frameworks: []string{fwJobs, fwMara},
				Allocated: mesosv1.Resources(web.Info.Resources).Plus(offerRes), Offered: offerRes},
			{Name: "slave_public", Weight: 2.5, Frameworks: []string{fwMara},
				Allocated: apiTask.Info.Resources, Reserved: public},
		},
		Counters: map[string]float64{
			"master/messages_launch_tasks":  12,
			"master/tasks_finished":         7,
			"master/invalid_status_updates": 0,
		},
	}
}

// standbyFixture is a non-leader's snapshot: it knows the leader only.
func standbyFixture() *Snapshot {
	s := fixture()
	self := mesosv1.MasterInfo{ID: "master-2", IP: 33554559, Port: 5050, PID: "master@127.0.0.2:5050", Hostname: "m2.example.com", Version: "1.9.0"}
	return &Snapshot{
		Built: at(400), Self: self, Leader: s.Leader, IsLeader: false, StartTime: at(0),
		ClusterName: s.ClusterName, Version: s.Version, Flags: s.Flags,
	}
}

// bigSnapshot builds a leader snapshot with the given numbers of agents and
// tasks (spread over 10 frameworks), for the benchmarks and the race test.
func bigSnapshot(agents, tasks int) *Snapshot {
	s := fixture()
	s.Agents = nil
	s.Roles = nil
	s.CompletedFrameworks = nil
	base := s.Agents
	tmpl := fixture().Agents[0]
	for i := range agents {
		a := *tmpl
		id := fmt.Sprintf("c0ffee00-0000-4000-8000-000000000001-S%d", i)
		a.Info.ID = &mesosv1.ID{Value: id}
		a.Info.Hostname = fmt.Sprintf("agent-%05d.example.com", i)
		a.PID = fmt.Sprintf("slave(1)@10.%d.%d.%d:5051", i>>16&255, i>>8&255, i&255)
		base = append(base, &a)
	}
	s.Agents = base
	tmplTask := fixture().Frameworks[0].Tasks[1] // web
	var fws []*Framework
	for f := range 10 {
		fw := *fixture().Frameworks[0]
		fw.Info.ID = &mesosv1.ID{Value: fmt.Sprintf("c0ffee00-0000-4000-8000-000000000001-%04d", f)}
		fw.Tasks, fw.UnreachableTasks, fw.CompletedTasks, fw.Offers = nil, nil, nil, nil
		fws = append(fws, &fw)
	}
	for i := range tasks {
		t := *tmplTask
		fw := fws[i%len(fws)]
		t.Info.TaskID = mesosv1.ID{Value: fmt.Sprintf("app-%d.instance-%08d", i%500, i)}
		t.FrameworkID = fw.Info.ID.Value
		t.AgentID = s.Agents[i%len(s.Agents)].Info.ID.Value
		t.Statuses = append([]mesosv1.TaskStatus(nil), tmplTask.Statuses...)
		t.Statuses[0].Timestamp = ts(float64(i))
		fw.Tasks = append(fw.Tasks, &t)
	}
	s.Frameworks = fws
	return s
}
