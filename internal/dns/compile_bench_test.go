package dns

import (
	"net/netip"
	"strconv"
	"testing"

	"github.com/basalt-dcos/basalt/internal/dns/records"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// clusterTable is what records.Build makes of a Marathon cluster: apps ×
// perApp running tasks on agents, each with two named ports, one app in
// ten with a named VIP — the shape of the names a real cluster has (task,
// app, SRV per port, canonical, thisdcos.directory mirrors).
func clusterTable(apps, perApp, agents int) *records.Table {
	st := &records.State{
		Leader:  &mesosv1.MasterInfo{Address: &mesosv1.Address{IP: "10.0.0.1", Port: 5050}},
		Masters: []netip.Addr{netip.MustParseAddr("10.0.0.1")},
		Frameworks: []*mesosv1.OperatorFramework{{
			FrameworkInfo: mesosv1.FrameworkInfo{Name: "marathon", ID: &mesosv1.ID{Value: "fw"}, Hostname: "10.0.0.1"},
		}},
	}
	for i := range agents {
		st.Agents = append(st.Agents, &mesosv1.OperatorAgent{
			AgentInfo: mesosv1.AgentInfo{Hostname: "agent" + strconv.Itoa(i), Port: 5051, ID: &mesosv1.ID{Value: "S" + strconv.Itoa(i)}},
			PID:       "slave(1)@10.1." + strconv.Itoa(i/250) + "." + strconv.Itoa(i%250+1) + ":5051",
		})
	}
	n := 0
	for a := range apps {
		name := "app" + strconv.Itoa(a) + ".group" + strconv.Itoa(a%50)
		var vip *mesosv1.Labels
		if a%10 == 0 {
			vip = &mesosv1.Labels{Labels: []mesosv1.Label{{Key: "VIP_0", Value: "/app" + strconv.Itoa(a) + ":80"}}}
		}
		for range perApp {
			ag := st.Agents[n%agents]
			p := uint32(10000 + n%20000)
			st.Tasks = append(st.Tasks, &mesosv1.Task{
				Name: name, TaskID: mesosv1.ID{Value: name + "." + strconv.Itoa(n)}, FrameworkID: mesosv1.ID{Value: "fw"},
				AgentID: *ag.AgentInfo.ID, State: mesosv1.TaskRunning,
				Resources: []mesosv1.Resource{{Name: "ports", Type: mesosv1.Ranges, Ranges: &mesosv1.ValueRanges{Range: []mesosv1.ValueRange{{Begin: uint64(p), End: uint64(p + 1)}}}}},
				Discovery: &mesosv1.DiscoveryInfo{Visibility: "FRAMEWORK", Name: name, Ports: &mesosv1.Ports{Ports: []mesosv1.Port{
					{Number: p, Name: "http", Protocol: "tcp", Labels: vip},
					{Number: p + 1, Name: "admin", Protocol: "tcp"},
				}}},
				Statuses: []mesosv1.TaskStatus{{State: mesosv1.TaskRunning}},
			})
			n++
		}
	}
	return records.Build(records.DefaultConfig(), st)
}

// BenchmarkCompileCluster10k compiles a 10,000-task cluster's table, as a
// rebuild does after every change.
func BenchmarkCompileCluster10k(b *testing.B) {
	cfg := testConfig()
	t := clusterTable(1000, 10, 100)
	b.ReportMetric(float64(len(t.Names)), "names")
	b.ReportAllocs()
	for b.Loop() {
		compile(cfg, t, 1, nil)
	}
}

// BenchmarkRecompileCluster10k compiles the table of the same cluster with
// one more app of 10 tasks, reusing the previous compile: the cost of a
// rebuild after a launch.
func BenchmarkRecompileCluster10k(b *testing.B) {
	cfg := testConfig()
	prev := compile(cfg, clusterTable(1000, 10, 100), 1, nil)
	t := clusterTable(1001, 10, 100)
	b.ReportAllocs()
	for b.Loop() {
		compile(cfg, t, 2, prev)
	}
}
