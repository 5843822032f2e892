// Package recordstest makes cluster states for tests and benchmarks of the
// DNS records and the servers built on them.
package recordstest

import (
	"net/netip"
	"strconv"

	"github.com/basalt-dcos/basalt/internal/dns/records"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// State is a Marathon-like cluster: apps × perApp running tasks
// spread over agents, every app in a group with two named ports, one in
// ten declaring a named VIP.
func State(apps, perApp, agents int) *records.State {
	st := &records.State{
		Leader:  &mesosv1.MasterInfo{Address: &mesosv1.Address{IP: "10.0.0.1", Port: 5050}},
		Masters: []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")},
		Frameworks: []*mesosv1.OperatorFramework{{
			FrameworkInfo: mesosv1.FrameworkInfo{Name: "marathon", ID: &mesosv1.ID{Value: "fw-marathon"}, Hostname: "10.0.0.1", WebuiURL: "http://10.0.0.1:8080"},
		}},
	}
	for i := range agents {
		id := "5f1c0a8e-agent-S" + strconv.Itoa(i)
		st.Agents = append(st.Agents, &mesosv1.OperatorAgent{
			AgentInfo: mesosv1.AgentInfo{Hostname: "agent" + strconv.Itoa(i), Port: 5051, ID: &mesosv1.ID{Value: id}},
			PID:       "slave(1)@10.1." + strconv.Itoa(i/250) + "." + strconv.Itoa(i%250+1) + ":5051",
		})
	}
	n := 0
	for a := range apps {
		name := "app" + strconv.Itoa(a) + ".group" + strconv.Itoa(a%50)
		var vip *mesosv1.Labels
		if a%10 == 0 {
			vip = &mesosv1.Labels{Labels: []mesosv1.Label{{Key: "VIP_0", Value: "/group" + strconv.Itoa(a%50) + "/app" + strconv.Itoa(a) + ":80"}}}
		}
		for k := range perApp {
			ag := st.Agents[n%agents]
			p := uint32(10000 + n%20000)
			id := name + "." + strconv.Itoa(n) + "-0000-0000-0000-000000000000"
			healthy := true
			st.Tasks = append(st.Tasks, &mesosv1.Task{
				Name: name, TaskID: mesosv1.ID{Value: id}, FrameworkID: mesosv1.ID{Value: "fw-marathon"},
				AgentID: *ag.AgentInfo.ID, State: mesosv1.TaskRunning,
				Resources: []mesosv1.Resource{{Name: "ports", Type: mesosv1.Ranges, Ranges: &mesosv1.ValueRanges{Range: []mesosv1.ValueRange{{Begin: uint64(p), End: uint64(p + 1)}}}}},
				Discovery: &mesosv1.DiscoveryInfo{Visibility: "FRAMEWORK", Name: name, Ports: &mesosv1.Ports{Ports: []mesosv1.Port{
					{Number: p, Name: "http", Protocol: "tcp", Labels: vip},
					{Number: p + 1, Name: "admin", Protocol: "tcp"},
				}}},
				Statuses: []mesosv1.TaskStatus{{State: mesosv1.TaskRunning, Healthy: &healthy, ContainerStatus: &mesosv1.ContainerStatus{
					NetworkInfos: []mesosv1.NetworkInfo{{IPAddresses: []mesosv1.IPAddress{{IPAddress: ag.PID[9 : len(ag.PID)-5]}}}},
				}}},
			})
			_ = k
			n++
		}
	}
	return st
}
