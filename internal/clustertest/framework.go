package clustertest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
	"github.com/basalt-dcos/basalt/pkg/scheduler"
)

// Framework is a scheduler for tests, driven through the real Go scheduler
// client (pkg/scheduler) against the cluster's masters. Tasks queued with
// Launch are placed on the next offers that fit; every status update is
// recorded; offers it does not need are declined.
type Framework struct {
	t      testing.TB
	Client *scheduler.Client
	cancel context.CancelFunc
	done   chan error

	mu         sync.Mutex
	pending    []mesosv1.TaskInfo
	updates    []mesosv1.TaskStatus
	latest     map[string]mesosv1.TaskStatus
	subscribes int
	errEvents  []string
	changed    chan struct{}
}

// FrameworkInfo returns a FrameworkInfo with the given name, user root, and
// the PARTITION_AWARE and TASK_KILLING_STATE capabilities.
func FrameworkInfo(name string, failoverTimeout time.Duration) mesosv1.FrameworkInfo {
	return mesosv1.FrameworkInfo{
		User: "root", Name: name,
		FailoverTimeout: failoverTimeout.Seconds(),
		Capabilities: []mesosv1.Capability{
			{Type: mesosv1.CapPartitionAware}, {Type: mesosv1.CapTaskKillingState},
		},
	}
}

// StartFramework subscribes a framework and waits for SUBSCRIBED. It is
// stopped (without teardown) at cleanup.
func (c *Cluster) StartFramework(info mesosv1.FrameworkInfo) *Framework {
	c.t.Helper()
	return c.StartFrameworkWith(info, nil)
}

// StartFrameworkWith is StartFramework sending header on every request
// (e.g. Authorization when the masters run strict).
func (c *Cluster) StartFrameworkWith(info mesosv1.FrameworkInfo, header http.Header) *Framework {
	c.t.Helper()
	cl, err := scheduler.New(scheduler.Config{
		Masters:    c.MasterURLs(),
		Framework:  info,
		Header:     header,
		Logger:     nodeLogger(c.t, "framework "+info.Name),
		MinBackoff: 50 * time.Millisecond,
		MaxBackoff: 500 * time.Millisecond,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &Framework{t: c.t, Client: cl, cancel: cancel, done: make(chan error, 1),
		latest: map[string]mesosv1.TaskStatus{}, changed: make(chan struct{})}
	go func() { f.done <- cl.Run(ctx, f.handle) }()
	c.t.Cleanup(f.Stop)
	f.Wait(30*time.Second, "SUBSCRIBED", func() bool { return f.subscribes > 0 })
	return f
}

// Stop disconnects the framework without tearing it down (a scheduler
// crash, as far as the master can tell).
func (f *Framework) Stop() {
	if f.cancel == nil {
		return
	}
	f.cancel()
	f.cancel = nil
	select {
	case <-f.done:
	case <-time.After(30 * time.Second):
		f.t.Errorf("framework did not stop")
	}
}

// Teardown tears the framework down through the master and stops it.
func (f *Framework) Teardown() {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.Client.Teardown(ctx); err != nil {
		f.t.Fatalf("teardown: %v", err)
	}
	f.Stop()
}

// ID is the framework's id.
func (f *Framework) ID() string { return f.Client.FrameworkID() }

func (f *Framework) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *Framework) handle(ctx context.Context, c *scheduler.Client, ev mesosv1.Event) error {
	switch ev.Type {
	case mesosv1.EventSubscribed:
		f.mu.Lock()
		f.subscribes++
		f.notify()
		f.mu.Unlock()
		// Learn the state of every task after each (re-)subscription.
		return ignoreNotLeader(c.Reconcile(ctx, nil))
	case mesosv1.EventOffers:
		return f.offers(ctx, c, ev.Offers.Offers)
	case mesosv1.EventUpdate:
		f.mu.Lock()
		st := ev.Update.Status
		f.updates = append(f.updates, st)
		f.latest[st.TaskID.Value] = st
		f.notify()
		f.mu.Unlock()
	case mesosv1.EventError:
		f.mu.Lock()
		f.errEvents = append(f.errEvents, ev.Error.Message)
		f.notify()
		f.mu.Unlock()
	}
	return nil
}

func ignoreNotLeader(err error) error {
	if errors.Is(err, scheduler.ErrNotLeader) || errors.Is(err, scheduler.ErrNotSubscribed) || errors.Is(err, scheduler.ErrUnavailable) {
		return nil
	}
	return err
}

// offers places pending tasks on the offers that fit and declines the rest.
func (f *Framework) offers(ctx context.Context, c *scheduler.Client, offers []mesosv1.Offer) error {
	for _, o := range offers {
		f.mu.Lock()
		free := mesosv1.Resources(o.Resources)
		var launch []mesosv1.TaskInfo
		var keep []mesosv1.TaskInfo
		for _, task := range f.pending {
			role := ""
			if o.AllocationInfo != nil {
				role = o.AllocationInfo.Role
			} else if len(o.Resources) > 0 {
				role = mesosv1.AllocationRole(o.Resources[0])
			}
			need := mesosv1.Resources(task.Resources).Allocate(role)
			if free.Contains(need) {
				task.AgentID = o.AgentID
				task.Resources = need
				free = free.Minus(need)
				launch = append(launch, task)
				continue
			}
			keep = append(keep, task)
		}
		f.pending = keep
		f.mu.Unlock()
		var err error
		if len(launch) > 0 {
			err = c.Accept(ctx, []mesosv1.ID{o.ID}, []mesosv1.Operation{scheduler.LaunchOp(launch...)}, scheduler.Refuse(0.1))
		} else {
			err = c.Decline(ctx, []mesosv1.ID{o.ID}, scheduler.Refuse(0.2))
		}
		if err := ignoreNotLeader(err); err != nil {
			return err
		}
	}
	return nil
}

// Task builds a task with the given id, shell command and small resources.
func Task(id, cmd string, labels ...mesosv1.Label) mesosv1.TaskInfo {
	t := mesosv1.TaskInfo{
		Name:   id,
		TaskID: mesosv1.ID{Value: id},
		Resources: mesosv1.Resources{
			mesosv1.NewScalar(mesosv1.ResCPUs, 0.1),
			mesosv1.NewScalar(mesosv1.ResMem, 32),
		},
		Command: &mesosv1.CommandInfo{Value: cmd},
	}
	if len(labels) > 0 {
		t.Labels = &mesosv1.Labels{Labels: labels}
	}
	return t
}

// Launch queues tasks for the next offers and revives offers.
func (f *Framework) Launch(tasks ...mesosv1.TaskInfo) {
	f.t.Helper()
	f.mu.Lock()
	f.pending = append(f.pending, tasks...)
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ignoreNotLeader(f.Client.Revive(ctx)); err != nil {
		f.t.Fatalf("revive: %v", err)
	}
}

// Wait blocks until cond (called with the framework's lock held) is true.
func (f *Framework) Wait(timeout time.Duration, what string, cond func() bool) {
	f.t.Helper()
	deadline := time.After(timeout)
	for {
		f.mu.Lock()
		ok := cond()
		ch := f.changed
		f.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case err := <-f.done:
			f.done <- err
			f.t.Fatalf("waiting for %s: framework stopped: %v", what, err)
		case <-deadline:
			f.t.Fatalf("waiting for %s: timed out after %v; latest: %s", what, timeout, f.describe())
		}
	}
}

func (f *Framework) describe() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := ""
	for id, st := range f.latest {
		s += fmt.Sprintf("%s=%s(%s) ", id, st.State, st.Reason)
	}
	return s
}

// WaitState waits until the latest update of task id is in state.
func (f *Framework) WaitState(id, state string, timeout time.Duration) mesosv1.TaskStatus {
	f.t.Helper()
	f.Wait(timeout, id+" "+state, func() bool { return f.latest[id].State == state })
	return f.Latest(id)
}

// Latest returns the latest update of task id.
func (f *Framework) Latest(id string) mesosv1.TaskStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.latest[id]
}

// Updates returns every update received for task id, in order.
func (f *Framework) Updates(id string) []mesosv1.TaskStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []mesosv1.TaskStatus
	for _, u := range f.updates {
		if u.TaskID.Value == id {
			out = append(out, u)
		}
	}
	return out
}

// Subscribes counts SUBSCRIBED events (1 + re-subscriptions).
func (f *Framework) Subscribes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.subscribes
}

// Errors returns the ERROR events received.
func (f *Framework) Errors() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.errEvents...)
}
