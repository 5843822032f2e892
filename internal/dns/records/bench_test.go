package records_test

import (
	"testing"

	"github.com/basalt-dcos/basalt/internal/dns/records"
	"github.com/basalt-dcos/basalt/internal/dns/records/recordstest"
)

func benchBuild(b *testing.B, apps, perApp, agents int) {
	st := recordstest.State(apps, perApp, agents)
	cfg := records.DefaultConfig()
	b.ReportAllocs()
	b.ResetTimer()
	var names int
	for b.Loop() {
		names = len(records.Build(cfg, st).Names)
	}
	b.ReportMetric(float64(names), "names")
}

func BenchmarkBuild10kTasks(b *testing.B)  { benchBuild(b, 1000, 10, 100) }
func BenchmarkBuild100kTasks(b *testing.B) { benchBuild(b, 10000, 10, 1000) }

func TestSyntheticState(t *testing.T) {
	tab := records.Build(records.DefaultConfig(), recordstest.State(10, 3, 4))
	if len(tab.Frameworks) != 1 || len(tab.Frameworks[0].Tasks) != 30 || len(tab.VIPs) != 1 || len(tab.VIPs[0].Backends) != 3 {
		t.Fatalf("synthetic cluster: %d frameworks, VIPs %+v", len(tab.Frameworks), tab.VIPs)
	}
	if s := tab.Names["app0.group0.marathon.mesos."]; s == nil || len(s.A) != 3 {
		t.Fatalf("app0.group0.marathon.mesos. = %+v", s)
	}
}
