package fake_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/internal/containerizer/containerizertest"
	"github.com/basalt-dcos/basalt/internal/containerizer/fake"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

func TestConformance(t *testing.T) {
	containerizertest.Run(t,
		func(t *testing.T) containerizer.Containerizer { return fake.New(fake.Config{}) },
		containerizertest.NoProcesses(),
		containerizertest.Restart(func(t *testing.T, old containerizer.Containerizer) containerizer.Containerizer {
			return fake.New(fake.Config{Runtime: old.(*fake.Containerizer).Runtime()})
		}),
	)
}

func spec(id string, labels ...string) containerizer.LaunchSpec {
	var l *mesosv1.Labels
	if len(labels) > 0 {
		l = &mesosv1.Labels{}
		for i := 0; i+1 < len(labels); i += 2 {
			l.Labels = append(l.Labels, mesosv1.Label{Key: labels[i], Value: labels[i+1]})
		}
	}
	return containerizer.LaunchSpec{ContainerID: id, Task: mesosv1.TaskInfo{Labels: l}, CPUs: 1, MemMB: 32}
}

func TestScriptedExitAndReason(t *testing.T) {
	c := fake.New(fake.Config{})
	ctx := t.Context()
	if err := c.Launch(ctx, spec("oom", fake.LabelRunFor, "1ms", fake.LabelExitCode, "137",
		fake.LabelReason, mesosv1.ReasonContainerLimitationMemory)); err != nil {
		t.Fatal(err)
	}
	term, err := c.Wait(ctx, "oom")
	if err != nil {
		t.Fatal(err)
	}
	if term.ExitCode != 137 || term.Reason != mesosv1.ReasonContainerLimitationMemory || term.Success() {
		t.Errorf("termination %+v", term)
	}
}

func TestBadLabelsFailLaunch(t *testing.T) {
	c := fake.New(fake.Config{})
	for _, l := range [][]string{
		{fake.LabelRunFor, "soon"},
		{fake.LabelExitCode, "x"},
		{fake.LabelFailStart, "maybe"},
		{fake.LabelStartDelay, "-1s"},
	} {
		if err := c.Launch(t.Context(), spec("bad-"+l[0], l...)); err == nil {
			t.Errorf("labels %v: launch succeeded", l)
		}
	}
}

func TestExitEndAndInspection(t *testing.T) {
	rt := fake.NewRuntime()
	c := fake.New(fake.Config{Runtime: rt, Name: "docker"})
	if c.Name() != "docker" {
		t.Errorf("Name() = %q", c.Name())
	}
	ctx := t.Context()
	for _, id := range []string{"a", "b", "c"} {
		if err := c.Launch(ctx, spec(id)); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := c.Exit("a", 3); !ok || err != nil {
		t.Fatalf("Exit: %v %v", ok, err)
	}
	if ok, _ := c.Exit("a", 4); ok {
		t.Errorf("second Exit ended the container again")
	}
	if _, err := rt.Exit("zzz", 1); !errors.Is(err, containerizer.ErrUnknownContainer) {
		t.Errorf("Exit of unknown: %v", err)
	}
	if term, _ := c.Wait(ctx, "a"); term.ExitCode != 3 {
		t.Errorf("a: %+v", term)
	}
	if got := rt.Running(); fmt.Sprint(got) != "[b c]" {
		t.Errorf("Running() = %v", got)
	}
	if n := rt.LaunchCount(); n != 3 || len(rt.Launches()) != 3 {
		t.Errorf("launches = %d", n)
	}
	if sp, ok := rt.Spec("b"); !ok || sp.ContainerID != "b" {
		t.Errorf("Spec(b) = %+v %v", sp, ok)
	}
	rt.SetLaunchHook(func(s containerizer.LaunchSpec) error { return errors.New("no room") })
	if err := c.Launch(ctx, spec("d")); err == nil {
		t.Errorf("launch with a failing hook succeeded")
	}
	if term, _ := c.Wait(ctx, "d"); term.Reason != mesosv1.ReasonContainerLaunchFailed {
		t.Errorf("failed launch termination %+v", term)
	}
}

func TestStartDelayHonoursContext(t *testing.T) {
	c := fake.New(fake.Config{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.Launch(ctx, spec("slow", fake.LabelStartDelay, "1h")); !errors.Is(err, context.Canceled) {
		t.Errorf("Launch: %v, want context.Canceled", err)
	}
	if err := c.Launch(t.Context(), spec("quick", fake.LabelStartDelay, "1ms")); err != nil {
		t.Errorf("Launch: %v", err)
	}
}

// BenchmarkLaunch100k launches 100,000 long-running containers into one
// runtime (the agent simulator's scale), then kills them all.
func BenchmarkLaunch100k(b *testing.B) {
	const n = 100_000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("c%d", i)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c := fake.New(fake.Config{})
		for _, id := range ids {
			if err := c.Launch(ctx, spec(id)); err != nil {
				b.Fatal(err)
			}
		}
		for _, id := range ids {
			if err := c.Kill(ctx, id, time.Second); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/container")
}
