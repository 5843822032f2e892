package posix_test

import (
	"os"
	"strings"
	"testing"

	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/internal/containerizer/containerizertest"
	"github.com/basalt-dcos/basalt/internal/containerizer/posix"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
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

// TestResolvConfNeedsNamespaces: a resolv.conf of the container's own is
// mounted in its mount namespace, which the posix runtime does not have: the
// launch is refused rather than the host's file touched.
func TestResolvConfNeedsNamespaces(t *testing.T) {
	c := newPosix(t, t.TempDir())
	sandbox := t.TempDir()
	spec := containerizer.LaunchSpec{
		ContainerID: "resolv", Sandbox: sandbox, Env: []string{"PATH=/usr/bin:/bin"},
		Task: mesosv1.TaskInfo{Name: "resolv", TaskID: mesosv1.ID{Value: "resolv"}, Command: &mesosv1.CommandInfo{Value: "true"}},
	}
	err := c.LaunchIsolated(t.Context(), spec, posix.Isolation{ResolvConf: []byte("nameserver 127.0.0.1\n")})
	if err == nil || !strings.Contains(err.Error(), "need the mesos runtime") {
		t.Errorf("LaunchIsolated with a resolv.conf on posix = %v, want a refusal", err)
	}
}
