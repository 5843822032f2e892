package houserules

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestHouseRules checks the whole module. A failure names the file and line
// and the rule; fix the code, or change the rule tables in rules_test.go on
// purpose.
func TestHouseRules(t *testing.T) {
	root, module, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	violations, err := check(root, module)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range violations {
		t.Error(v)
	}
}

// TestRulesCatchViolations runs the checker over a small fake module that
// breaks every rule once, so that a rule cannot silently stop working.
func TestRulesCatchViolations(t *testing.T) {
	got, err := check(filepath.Join("testdata", "bad"), "example.com/bad")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"cmd/tool/main.go:6: package-level var counter: make it a const, move it into a struct, or document it as read-only",
		"internal/master/master.go:9: assigns package-level var cache: keep state in a struct",
		"internal/mesos/allocator/alloc.go:6: domain package internal/mesos/allocator must not import example.com/bad/internal/cli",
		"internal/mesos/allocator/alloc.go:7: domain package internal/mesos/allocator must not import net/http",
		"internal/other/other.go:1: package other has no package doc comment saying what it is for and must not do",
		"internal/other/other.go:4: internal/master may be imported only by internal/cli, internal/clustertest, e2e (and itself)",
		"internal/other/other.go:11: os.Exit outside cmd/: return an error instead",
		"internal/other/other.go:12: log.Fatalf outside cmd/: return an error instead",
		"internal/other/other_test.go:13: os.Exit outside cmd/: return an error instead",
		"internal/other/tls.go:7: InsecureSkipVerify outside tests: verify the peer (the cluster CA), or list the file in insecureTLSAllowed with its reason",
		"internal/other/tls.go:12: InsecureSkipVerify outside tests: verify the peer (the cluster CA), or list the file in insecureTLSAllowed with its reason",
		"internal/util/util.go:2: package util: name says nothing about its purpose (forbidden: util, common, helpers, misc, types...)",
		"pkg/client/client.go:4: pkg/ is for outside users and must not import example.com/bad/internal/other",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
}
