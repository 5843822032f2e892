// Package version reports the version of this Basalt build. It must stay a
// leaf: no imports of other Basalt packages, no I/O.
package version

import "runtime/debug"

// Version is the Basalt version string. It is a var, not a const, only
// because the Go linker can set nothing else:
//
//	go build -ldflags "-X github.com/basalt-dcos/basalt/internal/version.Version=1.2.3" ./cmd/basalt
//
// It is set by the linker and read-only at run time: no code assigns it.
var Version = "0.1.0-dev"

// Commit is the VCS revision the binary was built from ("unknown" when the
// build did not record one).
func Commit() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}
