// Command basalt is the single binary of a Basalt cluster: masters, agents,
// the single-node `basalt up`, and the dcos-style client commands. It only
// dispatches: the command tree lives in internal/cli, and this is the one
// place that exits the process.
package main

import (
	"os"

	"github.com/basalt-dcos/basalt/internal/cli"
	"github.com/basalt-dcos/basalt/internal/containerizer/posix"
)

func main() {
	// The posix containerizer re-executes this binary as each task's shim;
	// that must happen before anything else (flags, signals, logging).
	if handled, code := posix.MaybeRunShim(); handled {
		os.Exit(code)
	}
	os.Exit(cli.Main(os.Args[1:]))
}
