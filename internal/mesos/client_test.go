package mesos

import (
	"context"
	"sync"
	"testing"

	"github.com/basalt-dcos/basalt/internal/agentapi"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
	"github.com/basalt-dcos/basalt/pkg/scheduler"
)

// TestSchedulerClient drives the master with pkg/scheduler, the client
// Marathon and Metronome use, including redirects from a standby.
func TestSchedulerClient(t *testing.T) {
	c := newCluster()
	m := c.start(t, nil)
	eventually(t, "leader", m.IsLeader)
	standby := c.start(t, nil)
	eventually(t, "standby sees leader", func() bool { _, ok := standby.Leader(); return ok })
	ag := startAgent(t, m, agentSubscribeBody("host1", "cpus:2;mem:1024"))

	fi := frameworkInfo("client")
	fi.FailoverTimeout = 60
	cl, err := scheduler.New(scheduler.Config{Masters: []string{standby.srv.URL}, Framework: fi})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var once sync.Once
	go func() {
		done <- cl.Run(ctx, func(ctx context.Context, c *scheduler.Client, ev mesosv1.Event) error {
			if ev.Type != mesosv1.EventOffers {
				return nil
			}
			once.Do(func() {
				o := ev.Offers.Offers[0]
				_ = c.Accept(ctx, []mesosv1.ID{o.ID}, []mesosv1.Operation{{Type: mesosv1.OpLaunch,
					Launch: &mesosv1.OpLaunchBody{TaskInfos: []mesosv1.TaskInfo{cmdTask("c1", o, 1, 64)}}}}, nil)
			})
			return nil
		})
	}()
	defer func() { cancel(); <-done }()
	ag.next(agentapi.EventLaunch)
	ag.status(cl.FrameworkID(), "c1", mesosv1.TaskRunning)
	if a := ag.next(agentapi.EventAcknowledge).Acknowledge; a.TaskID != "c1" {
		t.Fatalf("ack %+v", a)
	}
	if err := cl.Teardown(t.Context()); err != nil {
		t.Fatal(err)
	}
	ag.next(agentapi.EventShutdownFramework)
}
