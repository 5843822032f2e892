package posix_test

import (
	"os"
	"testing"

	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/internal/containerizer/containerizertest"
	"github.com/basalt-dcos/basalt/internal/containerizer/posix"
)

func TestMain(m *testing.M) {
	if handled, code := posix.MaybeRunShim(); handled {
		os.Exit(code)
	}
	if arg, ok := os.LookupEnv(agentEnv); ok {
		os.Exit(runTestAgent(arg))
	}
	os.Exit(m.Run())
}

func newPosix(t *testing.T, stateDir string) *posix.Containerizer {
	t.Helper()
	c, err := posix.New(posix.Config{StateDir: stateDir}, posix.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestConformance(t *testing.T) {
	containerizertest.Run(t,
		func(t *testing.T) containerizer.Containerizer { return newPosix(t, t.TempDir()) },
		containerizertest.Restart(func(t *testing.T, old containerizer.Containerizer) containerizer.Containerizer {
			return newPosix(t, old.(*posix.Containerizer).StateDir())
		}),
	)
}
