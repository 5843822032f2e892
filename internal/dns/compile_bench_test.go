package dns

import (
	"testing"

	"github.com/basalt-dcos/basalt/internal/dns/records"
	"github.com/basalt-dcos/basalt/internal/dns/records/recordstest"
)

// clusterTable is what records.Build makes of a Marathon cluster of apps ×
// perApp running tasks: the shape of a real cluster's names (task, app, SRV
// per port, canonical, thisdcos.directory mirrors).
func clusterTable(apps, perApp, agents int) *records.Table {
	return records.Build(records.DefaultConfig(), recordstest.State(apps, perApp, agents))
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
