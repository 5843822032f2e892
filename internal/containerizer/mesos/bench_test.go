package mesos

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

func benchSpec(b *testing.B, id string) containerizer.LaunchSpec {
	sandbox := b.TempDir()
	return containerizer.LaunchSpec{
		ContainerID: id,
		Task:        mesosv1.TaskInfo{Name: id, TaskID: mesosv1.ID{Value: id}, Command: &mesosv1.CommandInfo{Value: "sleep 1000"}},
		Sandbox:     sandbox,
		Env:         []string{"PATH=/usr/bin:/bin"},
		CPUs:        0.1, MemMB: 32, DiskMB: 10,
	}
}

// BenchmarkLaunch measures Launch (cgroup created, shim claimed, task
// started in its namespaces and cgroup) one at a time, each container
// destroyed before the next. Run with -benchtime=50x.
func BenchmarkLaunch(b *testing.B) {
	requireIsolation(b)
	c := newMesos(b, Config{StateDir: b.TempDir(), CgroupsRoot: testRoot(b)})
	benchLaunches(b, c, nil)
}

// benchLaunches launches (and destroys, untimed) one container per
// iteration, with container as the tasks' ContainerInfo, and reports the
// launch latency's p50 and p99.
func benchLaunches(b *testing.B, c *Containerizer, container *mesosv1.ContainerInfo) {
	ctx := context.Background()
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		sp := benchSpec(b, fmt.Sprintf("b%d", i))
		sp.Task.Container = container
		start := time.Now()
		if err := c.Launch(ctx, sp); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		b.StopTimer()
		if err := c.Destroy(ctx, sp.ContainerID); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
	}
}

// BenchmarkConcurrentLaunch launches 100 containers at once and reports
// launches per second.
func BenchmarkConcurrentLaunch(b *testing.B) {
	requireIsolation(b)
	const n = 100
	c := newMesos(b, Config{StateDir: b.TempDir(), CgroupsRoot: testRoot(b)})
	ctx := context.Background()
	var total time.Duration
	for round := 0; b.Loop(); round++ {
		specs := make([]containerizer.LaunchSpec, n)
		for i := range specs {
			specs[i] = benchSpec(b, fmt.Sprintf("r%d-%d", round, i))
		}
		start := time.Now()
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range specs {
			wg.Go(func() { errs[i] = c.Launch(ctx, specs[i]) })
		}
		wg.Wait()
		total += time.Since(start)
		b.StopTimer()
		for i := range specs {
			if errs[i] != nil {
				b.Errorf("launch %d: %v", i, errs[i])
			}
			_ = c.Destroy(ctx, specs[i].ContainerID)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "launches/s")
}

// BenchmarkLaunchImage is BenchmarkLaunch with the task in a cached image:
// the store's lookup, the overlay and the mounts are inside the timing.
// Run with -benchtime=50x.
func BenchmarkLaunchImage(b *testing.B) {
	e := newImageEnv(b)
	c := e.c
	ctx := context.Background()
	warm := benchSpec(b, "warm")
	warm.Task.Container = &mesosv1.ContainerInfo{Type: "MESOS", Mesos: &mesosv1.MesosInfo{
		Image: &mesosv1.Image{Type: "DOCKER", Docker: &mesosv1.DockerImage{Name: e.ref}}}}
	if err := c.Launch(ctx, warm); err != nil {
		b.Fatal(err)
	}
	if err := c.Destroy(ctx, warm.ContainerID); err != nil {
		b.Fatal(err)
	}
	benchLaunches(b, c, warm.Task.Container)
}
