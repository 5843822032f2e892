package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/internal/containerizer/containerizertest"
	"github.com/basalt-dcos/basalt/internal/containerizer/docker/dockertest"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// imageRuntime is the real runtime with the suite's tasks put into the test
// image: the conformance suite's specs carry no ContainerInfo.
type imageRuntime struct {
	*Docker
	image string
}

func (r imageRuntime) Launch(ctx context.Context, spec containerizer.LaunchSpec) error {
	spec.Task.Container = &mesosv1.ContainerInfo{Type: "DOCKER", Docker: &mesosv1.DockerInfo{Image: r.image, Network: "NONE"}}
	return r.Docker.Launch(ctx, spec)
}

func newOwner() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "test-" + hex.EncodeToString(b[:])
}

func newRuntime(t *testing.T, cfg Config) *Docker {
	t.Helper()
	d, err := New(cfg, Deps{Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func TestConformance(t *testing.T) {
	cli := dockertest.Client(t)
	img := dockertest.Image(t, cli)
	host := dockertest.Host(cli)
	var owners []string
	t.Cleanup(func() {
		for _, o := range owners {
			dockertest.NoContainers(t, cli, LabelOwner, o)
		}
	})
	containerizertest.Run(t,
		func(t *testing.T) containerizer.Containerizer {
			o := newOwner()
			owners = append(owners, o)
			return imageRuntime{newRuntime(t, Config{Host: host, Owner: o}), img}
		},
		containerizertest.Restart(func(t *testing.T, old containerizer.Containerizer) containerizer.Containerizer {
			prev := old.(imageRuntime)
			return imageRuntime{newRuntime(t, prev.cfg), img}
		}),
		containerizertest.SandboxPath(SandboxPath),
		containerizertest.RuntimeEnv("HOSTNAME", "HOME"),
		containerizertest.Timeout(60*time.Second),
	)
}

// launchSpec is a DOCKER task running script in img.
func launchSpec(t *testing.T, img, script string) containerizer.LaunchSpec {
	id := "c-" + newOwner()
	return containerizer.LaunchSpec{
		ContainerID: id, FrameworkID: "fw", ExecutorID: id, AgentID: "agent",
		Task: mesosv1.TaskInfo{
			Name: id, TaskID: mesosv1.ID{Value: id},
			Command:   &mesosv1.CommandInfo{Value: script},
			Container: &mesosv1.ContainerInfo{Type: "DOCKER", Docker: &mesosv1.DockerInfo{Image: img, Network: "NONE"}},
		},
		Sandbox: t.TempDir(), CPUs: 0.1, MemMB: 32,
	}
}

func TestBadInputFailsLaunch(t *testing.T) {
	cli := dockertest.Client(t)
	img := dockertest.Image(t, cli)
	owner := newOwner()
	d := newRuntime(t, Config{Host: dockertest.Host(cli), Owner: owner, AllowedParameters: []string{"label"}})
	t.Cleanup(func() { dockertest.NoContainers(t, cli, LabelOwner, owner) })
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		edit func(*containerizer.LaunchSpec)
		want string
	}{
		{"unknown image", func(s *containerizer.LaunchSpec) {
			s.Task.Container.Docker.Image = "basalt-test/no-such-image:" + newOwner()
		}, "pulling it failed"},
		{"forbidden parameter", func(s *containerizer.LaunchSpec) {
			s.Task.Container.Docker.Parameters = []mesosv1.Parameter{{Key: "cap-add", Value: "SYS_ADMIN"}}
		}, `"cap-add" is not allowed on this agent`},
		{"privileged", func(s *containerizer.LaunchSpec) { s.Task.Container.Docker.Privileged = true }, "--docker-allow-privileged"},
		{"missing executable", func(s *containerizer.LaunchSpec) {
			f := false
			s.Task.Command = &mesosv1.CommandInfo{Shell: &f, Value: "/no/such/program", Arguments: []string{"/no/such/program"}}
		}, `executable "/no/such/program" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := launchSpec(t, img, "exit 0")
			tc.edit(&sp)
			err := d.Launch(ctx, sp)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Launch: %v, want an error containing %q", err, tc.want)
			}
			if _, err := d.Wait(ctx, sp.ContainerID); !errors.Is(err, containerizer.ErrUnknownContainer) {
				t.Errorf("after a failed launch Wait says %v, want ErrUnknownContainer", err)
			}
		})
	}
	// The runtime still works afterwards.
	sp := launchSpec(t, img, "echo fine")
	if err := d.Launch(ctx, sp); err != nil {
		t.Fatal(err)
	}
	if term, err := d.Wait(ctx, sp.ContainerID); err != nil || !term.Success() {
		t.Fatalf("after bad launches: %+v, %v", term, err)
	}
	if err := d.Destroy(ctx, sp.ContainerID); err != nil {
		t.Fatal(err)
	}
}

func TestUnreachableDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "no-docker.sock")
	d := newRuntime(t, Config{Host: "unix://" + sock, Owner: newOwner()})
	ri := d.Probe(t.Context())
	if ri.Available || !strings.Contains(ri.Message, "unreachable") {
		t.Errorf("Probe of a missing daemon: %+v", ri)
	}
	sp := containerizer.LaunchSpec{
		ContainerID: "c1", Sandbox: t.TempDir(),
		Task: mesosv1.TaskInfo{TaskID: mesosv1.ID{Value: "t"}, Command: &mesosv1.CommandInfo{Value: "true"},
			Container: &mesosv1.ContainerInfo{Type: "DOCKER", Docker: &mesosv1.DockerInfo{Image: "x"}}},
	}
	err := d.Launch(t.Context(), sp)
	if err == nil || !strings.Contains(err.Error(), "Docker daemon at unix://"+sock+" is unreachable") {
		t.Errorf("Launch against a missing daemon: %v", err)
	}
}

func TestProbe(t *testing.T) {
	cli := dockertest.Client(t)
	d := newRuntime(t, Config{Host: dockertest.Host(cli), Owner: newOwner()})
	ri := d.Probe(t.Context())
	if !ri.Available || ri.Details["server_version"] == "" || ri.Details["cgroup_version"] == "" {
		t.Errorf("Probe: %+v", ri)
	}
}

// TestOutputAfterRestart: output written while no runtime watched the
// container is copied once the next runtime adopts it, and nothing twice.
func TestOutputAfterRestart(t *testing.T) {
	cli := dockertest.Client(t)
	img := dockertest.Image(t, cli)
	owner := newOwner()
	cfg := Config{Host: dockertest.Host(cli), Owner: owner}
	t.Cleanup(func() { dockertest.NoContainers(t, cli, LabelOwner, owner) })
	d1 := newRuntime(t, cfg)
	sp := launchSpec(t, img, "echo one; touch ready; while [ ! -e go ]; do sleep 0.05; done; echo two")
	if err := d1.Launch(t.Context(), sp); err != nil {
		t.Fatal(err)
	}
	waitFile(t, filepath.Join(sp.Sandbox, "ready"))
	waitContent(t, filepath.Join(sp.Sandbox, "stdout"), "one\n")
	_ = d1.Close() // the agent goes away
	if err := os.WriteFile(filepath.Join(sp.Sandbox, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	d2 := newRuntime(t, cfg)
	got, err := d2.Recover(t.Context(), []string{sp.ContainerID})
	if err != nil {
		t.Fatal(err)
	}
	if st := got[sp.ContainerID].State; st != containerizer.Running {
		t.Fatalf("recovered %+v", got)
	}
	if _, err := d2.Wait(t.Context(), sp.ContainerID); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(sp.Sandbox, "stdout")); string(b) != "one\ntwo\n" {
		t.Errorf("stdout after adoption = %q, want one and two once", b)
	}
	if err := d2.Destroy(t.Context(), sp.ContainerID); err != nil {
		t.Fatal(err)
	}
}

func waitFile(t *testing.T, p string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(p); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear", p)
		}
		time.Sleep(10 * time.Millisecond) // polling a file the task writes
	}
}

func waitContent(t *testing.T, p, want string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, _ := os.ReadFile(p); string(b) == want {
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(p)
			t.Fatalf("%s = %q, want %q", p, b, want)
		}
		time.Sleep(10 * time.Millisecond) // polling a file the runtime writes
	}
}
