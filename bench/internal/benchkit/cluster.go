// Package benchkit is what the benchmark programs under bench/ share: an
// in-process cluster run inside testing.Benchmark, a small JSON client of
// the cluster's APIs, result summaries and their markdown table, and a
// description of the machine and the commit measured.
package benchkit

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/basalt-dcos/basalt/internal/clustertest"
)

// Why testing.Benchmark: the house rules let only the CLI, clustertest and
// e2e import internal/master and internal/agent, and the CLI cannot start an
// agent with the fake runtime. clustertest can, but it wants a testing.TB,
// and testing.TB cannot be implemented outside package testing (it has an
// unexported method). testing.Benchmark is the standard library's way to
// run a benchmark function outside `go test`; its *testing.B is a real
// testing.TB, and benchTB embeds it to change only logging and failure
// reporting. With -test.benchtime=1x (see Init) the function runs once.

// keptLogLines bounds the warnings and errors kept for a failure report.
const keptLogLines = 200

// benchTB is the testing.TB handed to clustertest. Node logs (every node
// logs at debug level to its test) are dropped, except WARN and ERROR lines,
// of which the last keptLogLines are kept; a failure's message is kept too,
// since testing.Benchmark prints nothing.
type benchTB struct {
	testing.TB

	mu      sync.Mutex
	logs    []string
	failure []string
}

func (t *benchTB) keep(line string) {
	if !strings.Contains(line, "level=WARN") && !strings.Contains(line, "level=ERROR") {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.logs) == keptLogLines {
		t.logs = t.logs[1:]
	}
	t.logs = append(t.logs, line)
}

func (t *benchTB) fail(msg string) {
	t.mu.Lock()
	t.failure = append(t.failure, msg)
	t.mu.Unlock()
}

func (t *benchTB) Log(args ...any)                 { t.keep(fmt.Sprint(args...)) }
func (t *benchTB) Logf(format string, args ...any) { t.keep(fmt.Sprintf(format, args...)) }
func (t *benchTB) Error(args ...any)               { t.fail(fmt.Sprint(args...)); t.TB.Fail() }
func (t *benchTB) Errorf(format string, args ...any) {
	t.fail(fmt.Sprintf(format, args...))
	t.TB.Fail()
}
func (t *benchTB) Fatal(args ...any) { t.fail(fmt.Sprint(args...)); t.TB.FailNow() }
func (t *benchTB) Fatalf(format string, args ...any) {
	t.fail(fmt.Sprintf(format, args...))
	t.TB.FailNow()
}

// report is the failure and the recent warnings, or nil.
func (t *benchTB) report() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.failure) == 0 {
		return nil
	}
	return fmt.Errorf("cluster failed: %s\nlast node warnings/errors:\n%s",
		strings.Join(t.failure, "; "), strings.Join(t.logs, "\n"))
}

// WithCluster starts an in-process cluster (fake-runtime agents), runs f
// against it and stops it. Cluster failures (clustertest's Fatal) and f's
// error are returned.
// With showLogs, the kept warnings and errors are printed to stderr.
func WithCluster(opts clustertest.Options, showLogs bool, f func(c *clustertest.Cluster) error) error {
	opts.NoLeakCheck = true
	var (
		tb   *benchTB
		ferr error
		ran  bool
	)
	testing.Benchmark(func(b *testing.B) {
		if ran {
			// Defensive: benchtime 1x means one run; never build a second cluster.
			return
		}
		ran = true
		tb = &benchTB{TB: b}
		c := clustertest.New(tb, opts)
		ferr = f(c)
	})
	if tb == nil {
		return errors.New("benchmark function did not run")
	}
	if showLogs {
		tb.mu.Lock()
		fmt.Fprintf(os.Stderr, "node warnings/errors (last %d):\n%s\n", keptLogLines, strings.Join(tb.logs, "\n"))
		tb.mu.Unlock()
	}
	return errors.Join(ferr, tb.report())
}
