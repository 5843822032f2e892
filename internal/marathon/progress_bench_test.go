package marathon

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/marathon/deploy"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// progressLoop builds a loop (not running) with apps × per instances,
// every instance STAGING, and one running start deployment per app.
func progressLoop(tb testing.TB, apps, per int) (*loop, []*instance) {
	tb.Helper()
	m := &Marathon{cfg: DefaultConfig(), log: slog.New(slog.NewTextHandler(io.Discard, nil)), bus: newBus()}
	root := emptyRoot()
	var deps []*deploymentRecord
	for a := range apps {
		id := fmt.Sprintf("/app-%04d", a)
		root.Apps[id] = v2.App{ID: id, Instances: per, Version: "v1"}
		deps = append(deps, &deploymentRecord{Plan: deploy.Plan{ID: fmt.Sprintf("d%d", a), Version: "v1",
			Steps: [][]deploy.Action{{{Kind: v2.ActionStart, AppID: id}}}}})
	}
	l := newLoop(m, tb.Context(), &persisted{root: root, versions: map[string][]string{}, deployments: deps, instances: map[string]*instance{}})
	var ins []*instance
	now := time.Now()
	for a := range apps {
		id := fmt.Sprintf("/app-%04d", a)
		for i := range per {
			in := &instance{ID: fmt.Sprintf("app-%04d.instance-%03d", a, i), AppID: id, Version: configVersion(root.Apps[id]),
				Goal: goalRunning, Incarnation: 1, Created: now, StagedAt: now,
				TaskID: fmt.Sprintf("app-%04d.instance-%03d._app.1", a, i), State: mesosv1.TaskStaging}
			l.index(in)
			ins = append(ins, in)
		}
	}
	l.progress(now)
	l.pending = nil
	return l, ins
}

// BenchmarkProgress1000Deployments: the loop's deployment progress after
// one task update, with 1,000 apps of 100 instances each deploying (the
// bench/scale launch): only the changed app's deployment is looked at.
func BenchmarkProgress1000Deployments(b *testing.B) {
	l, ins := progressLoop(b, 1000, 100)
	now := time.Now()
	states := []string{mesosv1.TaskStarting, mesosv1.TaskStaging}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		in := ins[i%len(ins)]
		l.onUpdate(mesosv1.TaskStatus{TaskID: mesosv1.ID{Value: in.TaskID}, State: states[(i/len(ins))%2]}, now)
		l.progress(now)
		l.pending, l.pendingAcks = nil, nil
	}
}

// TestProgressFollowsChangedApps: a deployment finishes when its app's
// last instance runs, although no other deployment is looked at.
func TestProgressFollowsChangedApps(t *testing.T) {
	l, ins := progressLoop(t, 3, 2)
	now := time.Now()
	for _, in := range ins[:2] { // app 0's two instances
		l.onUpdate(mesosv1.TaskStatus{TaskID: mesosv1.ID{Value: in.TaskID}, State: mesosv1.TaskRunning}, now)
	}
	l.progress(now)
	if len(l.deployments) != 2 || l.deployment("d0") != nil {
		t.Fatalf("after app 0 runs: %d deployments, d0 still there: %v", len(l.deployments), l.deployment("d0") != nil)
	}
	for _, in := range ins[2:] {
		l.onUpdate(mesosv1.TaskStatus{TaskID: mesosv1.ID{Value: in.TaskID}, State: mesosv1.TaskRunning}, now)
	}
	l.progress(now)
	if len(l.deployments) != 0 {
		t.Fatalf("after every app runs: %d deployments left", len(l.deployments))
	}
}

// BenchmarkOfferFlow100kInstances: deciding whether Marathon wants offers
// (and the queue's counts) after one task update, with 1,000 apps × 100
// instances all running: only the updated app is counted again (it was a
// scan of every instance after every batch).
func BenchmarkOfferFlow100kInstances(b *testing.B) {
	l, ins := progressLoop(b, 1000, 100)
	now := time.Now()
	for _, in := range ins {
		in.State = mesosv1.TaskRunning
	}
	l.subscribed, l.suppressed = true, true
	l.scheduledCounts()
	states := []string{mesosv1.TaskRunning, mesosv1.TaskStarting}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		in := ins[i%len(ins)]
		l.onUpdate(mesosv1.TaskStatus{TaskID: mesosv1.ID{Value: in.TaskID}, State: states[(i/len(ins))%2]}, now)
		l.offerFlow()
		l.pending, l.pendingAcks = nil, nil
	}
}

// TestScheduledCountsFollowUpdates: the per-app count of instances waiting
// for a task follows task ends, relaunches and expunges, as a scan of every
// instance would.
func TestScheduledCountsFollowUpdates(t *testing.T) {
	l, ins := progressLoop(t, 2, 3)
	now := time.Now()
	scan := func() map[string]int {
		m := map[string]int{}
		for _, in := range l.instances {
			if in.scheduled() {
				m[in.AppID]++
			}
		}
		return m
	}
	check := func(when string) {
		t.Helper()
		got, want := l.scheduledCounts(), scan()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: scheduled counts %v, a scan finds %v", when, got, want)
		}
	}
	check("staging")
	for _, in := range ins {
		l.onUpdate(mesosv1.TaskStatus{TaskID: mesosv1.ID{Value: in.TaskID}, State: mesosv1.TaskRunning}, now)
	}
	check("all running")
	l.onUpdate(mesosv1.TaskStatus{TaskID: mesosv1.ID{Value: ins[0].TaskID}, State: mesosv1.TaskFailed}, now)
	l.onUpdate(mesosv1.TaskStatus{TaskID: mesosv1.ID{Value: ins[4].TaskID}, State: mesosv1.TaskKilled}, now)
	check("two ended")
	if n := l.scheduledCounts(); n[ins[0].AppID] != 1 {
		t.Fatalf("app %s: %d scheduled after its task failed, want 1", ins[0].AppID, n[ins[0].AppID])
	}
	l.expunge(ins[4])
	check("one expunged")
}
