package benchkit

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"time"
)

// Run is one invocation of a bench command, for its report.
type Run struct {
	Command    string // "go run ./bench/<name> <args>"
	Started    time.Time
	LoadBefore string
	// Commit is the checkout's commit when the run started, which is what
	// a benchmark that builds its binaries at the start measures (it used
	// to be read at the end, naming commits made while a long run ran).
	Commit string
	load   string
}

// Start records the command line, the start time and the load average.
func Start(name string, args []string) *Run {
	return &Run{Command: "go run ./bench/" + name + " " + strings.Join(args, " "), Started: time.Now(), LoadBefore: LoadAvg(), Commit: Commit()}
}

// PrintHeader writes the line that heads every results table: machine,
// commit, command, wall time, and the load average at start and end.
func (r *Run) PrintHeader(w io.Writer) {
	r.load = fmt.Sprintf("load average (1 min) %s at start, %s at end", r.LoadBefore, LoadAvg())
	fmt.Fprintf(w, "Machine: %s; commit %s; command: `%s`; wall time %s; %s\n\n",
		Machine(), r.Commit, r.Command, time.Since(r.Started).Round(time.Second), r.load)
}

// WriteJSON writes the results with the same facts as the header to path
// ("" writes nothing). Call PrintHeader first.
func (r *Run) WriteJSON(path string, results []Result) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(map[string]any{
		"machine": Machine(), "commit": r.Commit, "command": r.Command,
		"date": time.Now().UTC().Format(time.RFC3339), "load": r.load, "results": results,
	}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// CPUProfile profiles this process into path until the returned stop is
// called ("" profiles nothing).
func CPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
