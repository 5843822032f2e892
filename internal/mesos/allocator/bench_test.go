package allocator

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time. Benchmarks report it per
// op next to ns/op because the shared build box is often oversubscribed,
// which inflates wall time but not CPU time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchCluster builds 10,000 agents (every tenth with a reservation to
// role r0) and 100 frameworks spread over the given number of roles.
func benchCluster(b *testing.B, roles int) *Allocator {
	b.Helper()
	a := New(testConfig())
	plain := rs(b, "cpus:8;mem:32768;disk:100000;ports:[31000-32000]")
	reserved := rs(b, "cpus:6;mem:24576;disk:100000;ports:[31000-32000];cpus(r0):2;mem(r0):8192")
	for i := range 10000 {
		total := plain
		if i%10 == 0 {
			total = reserved
		}
		a.AddAgent(fmt.Sprintf("agent-%05d", i), total)
	}
	for i := range 100 {
		a.AddFramework(fmt.Sprintf("fw-%03d", i), []string{fmt.Sprintf("r%d", i%roles)}, false, nil)
	}
	return a
}

// BenchmarkAllocate10kAgents100Frameworks measures one Allocate cycle.
// free: every agent has all its resources free (the cycle hands out 10,000+
// offers; recovering them afterwards is not timed). allocated: every agent
// is fully allocated, the steady state between offers.
func BenchmarkAllocate10kAgents100Frameworks(b *testing.B) {
	for _, roles := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("free/roles=%d", roles), func(b *testing.B) {
			a := benchCluster(b, roles)
			a.refresh()
			b.ReportAllocs()
			b.ResetTimer()
			offers := 0
			var cpu time.Duration
			for range b.N {
				start := cpuTime(b)
				got := a.Allocate(t0())
				cpu += cpuTime(b) - start
				offers = len(got)
				b.StopTimer()
				for _, o := range got {
					a.Recover(o.FrameworkID, o.AgentID, o.Resources, 0, t0())
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(offers), "offers/op")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
	// idle: every agent is free but no framework wants offers — all
	// suppressed, or all having declined every agent with a filter.
	// filtered-cold: the first cycle after the filters were installed (or
	// after any agent changed), which checks every filter once.
	for _, idle := range []string{"suppressed", "filtered", "filtered-cold"} {
		b.Run("idle/"+idle, func(b *testing.B) {
			a := benchCluster(b, 10)
			for id, fw := range a.frameworks {
				if idle == "suppressed" {
					a.Suppress(id, nil)
					continue
				}
				for agentID, ag := range a.agents {
					a.Recover(id, agentID, bundleRes(ag, ag.total).Allocate(fw.roles[0]), time.Hour, t0())
				}
			}
			a.Allocate(t0())
			b.ReportAllocs()
			b.ResetTimer()
			var cpu time.Duration
			for range b.N {
				if idle == "filtered-cold" {
					b.StopTimer()
					for _, ag := range a.agents {
						ag.version++ // forget cached filter verdicts and idle marks
					}
					b.StartTimer()
				}
				start := cpuTime(b)
				if got := a.Allocate(t0()); len(got) != 0 {
					b.Fatalf("offered %d", len(got))
				}
				cpu += cpuTime(b) - start
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
	b.Run("allocated", func(b *testing.B) {
		a := benchCluster(b, 10)
		if got := a.Allocate(t0()); len(got) < 10000 {
			b.Fatalf("setup offered only %d", len(got))
		}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if got := a.Allocate(t0()); len(got) != 0 {
				b.Fatalf("offered %d", len(got))
			}
		}
	})
}

// BenchmarkRecover10kOffers measures giving back a whole cycle's offers.
func BenchmarkRecover10kOffers(b *testing.B) {
	a := benchCluster(b, 10)
	b.ReportAllocs()
	b.ResetTimer()
	var cpu time.Duration
	for range b.N {
		b.StopTimer()
		got := a.Allocate(t0())
		b.StartTimer()
		start := cpuTime(b)
		for _, o := range got {
			a.Recover(o.FrameworkID, o.AgentID, o.Resources, 0, t0())
		}
		cpu += cpuTime(b) - start
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
}
