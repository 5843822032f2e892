package mesosgo

import (
	"encoding/json"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	basaltmesos "github.com/basalt-dcos/basalt/internal/mesos"
)

func ptr[T any](v T) *T { return &v }

// richCalls are scheduler calls built with mesos-go, using the fields a
// Marathon-like framework sends.
func richCalls() []*scheduler.Call {
	fi := frameworkInfo("rich")
	fi.ID = &mesos.FrameworkID{Value: "fw"}
	fi.Roles = []string{"a", "b"}
	fi.Hostname = ptr("host.example")
	fi.Principal = ptr("principal")
	fi.WebUiURL = ptr("http://host.example:8080")
	fi.Checkpoint = ptr(true)
	fi.Capabilities = append(fi.Capabilities, mesos.FrameworkInfo_Capability{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE})
	fi.Labels = &mesos.Labels{Labels: []mesos.Label{{Key: "k", Value: ptr("v")}}}

	alloc := &mesos.Resource_AllocationInfo{Role: ptr("a")}
	cpus := mesos.Resource{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 0.5}, AllocationInfo: alloc}
	mem := mesos.Resource{Name: "mem", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 64}, AllocationInfo: alloc,
		Reservations: []mesos.Resource_ReservationInfo{{Type: mesos.Resource_ReservationInfo_STATIC.Enum(), Role: ptr("a")}}}
	ports := mesos.Resource{Name: "ports", Type: mesos.RANGES.Enum(), AllocationInfo: alloc,
		Ranges: &mesos.Value_Ranges{Range: []mesos.Value_Range{{Begin: 31000, End: 31001}}}}
	agent := mesos.AgentID{Value: "a1"}
	task := mesos.TaskInfo{
		Name: "web", TaskID: mesos.TaskID{Value: "web.1"}, AgentID: agent,
		Resources: []mesos.Resource{cpus, mem, ports},
		Command: &mesos.CommandInfo{
			Value: ptr("python3 -m http.server $PORT0"), Shell: ptr(true), User: ptr("nobody"),
			URIs:        []mesos.CommandInfo_URI{{Value: "http://example/x.tgz", Extract: ptr(true), Cache: ptr(false)}},
			Environment: &mesos.Environment{Variables: []mesos.Environment_Variable{{Name: "PORT0", Value: ptr("31000")}}},
		},
		Container: &mesos.ContainerInfo{
			Type:     mesos.ContainerInfo_DOCKER.Enum(),
			Hostname: ptr("web"),
			Docker: &mesos.ContainerInfo_DockerInfo{
				Image: "nginx:1", Network: mesos.ContainerInfo_DockerInfo_BRIDGE.Enum(), ForcePullImage: ptr(true),
				PortMappings: []mesos.ContainerInfo_DockerInfo_PortMapping{{HostPort: 31000, ContainerPort: 80, Protocol: ptr("tcp")}},
				Parameters:   []mesos.Parameter{{Key: "label", Value: "x=y"}},
			},
			Volumes: []mesos.Volume{{Mode: mesos.RW.Enum(), ContainerPath: "/data", HostPath: ptr("/tmp/data")}},
		},
		HealthCheck: &mesos.HealthCheck{
			Type: mesos.HealthCheck_HTTP, DelaySeconds: ptr(1.0), IntervalSeconds: ptr(10.0), TimeoutSeconds: ptr(5.0),
			ConsecutiveFailures: ptr(uint32(3)), GracePeriodSeconds: ptr(30.0),
			HTTP: &mesos.HealthCheck_HTTPCheckInfo{Port: 31000, Path: ptr("/health"), Scheme: ptr("http")},
		},
		KillPolicy: &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: int64(3 * time.Second)}},
		Labels:     &mesos.Labels{Labels: []mesos.Label{{Key: "HAPROXY_GROUP", Value: ptr("external")}}},
		Discovery: &mesos.DiscoveryInfo{
			Visibility: mesos.FRAMEWORK, Name: ptr("web"),
			Ports: &mesos.Ports{Ports: []mesos.Port{{Number: 31000, Name: ptr("http"), Protocol: ptr("tcp")}}},
		},
		Data: []byte("opaque"),
	}
	offer := mesos.OfferID{Value: "o1"}
	return []*scheduler.Call{
		calls.Subscribe(fi),
		calls.Accept(calls.OfferOperations{calls.OpLaunch(task)}.WithOffers(offer)).With(calls.RefuseSeconds(2 * time.Second)),
		calls.Decline(offer, mesos.OfferID{Value: "o2"}).With(calls.RefuseSeconds(time.Hour)),
		calls.ReviveWith([]string{"a"}),
		calls.SuppressWith([]string{"b"}),
		calls.Kill("web.1", "a1"),
		calls.Shutdown("exec", "a1"),
		calls.Acknowledge("a1", "web.1", []byte("0123456789abcdef")),
		calls.Reconcile(calls.ReconcileTasks(map[string]string{"web.1": "a1"})),
		calls.Reconcile(),
		calls.Message("a1", "exec", []byte("hello")),
		{Type: scheduler.Call_TEARDOWN},
	}
}

// Every field mesos-go puts in a call survives Basalt's decoding: Basalt's
// re-encoding of what it decoded carries each of them with the same value.
func TestMesosGoCallsDecode(t *testing.T) {
	for _, c := range richCalls() {
		c = c.With(calls.Framework("fw"))
		sent, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		decoded, err := basaltmesos.DecodeCall(sent)
		if err != nil {
			t.Errorf("%s: Basalt rejects %s: %v", c.GetType(), sent, err)
			continue
		}
		again, err := json.Marshal(decoded)
		if err != nil {
			t.Fatal(err)
		}
		var a, b map[string]any
		if err := json.Unmarshal(sent, &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(again, &b); err != nil {
			t.Fatal(err)
		}
		for _, d := range lost("", a, b) {
			t.Errorf("%s call, as Basalt reads it: %s\n  sent: %s\n  read: %s", c.GetType(), d, sent, again)
		}
	}
}
