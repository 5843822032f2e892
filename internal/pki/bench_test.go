package pki

import (
	"testing"
	"time"
)

// BenchmarkIssueServer: one serving certificate (key generation and
// signature), the cost of a renewal.
//
//	go test ./internal/pki -run '^$' -bench IssueServer
func BenchmarkIssueServer(b *testing.B) {
	ca, err := NewCA(time.Now())
	if err != nil {
		b.Fatal(err)
	}
	names := []string{"10.0.0.1", "master.mesos", "leader.mesos", "localhost", "127.0.0.1"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ca.IssueServer(names, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}
