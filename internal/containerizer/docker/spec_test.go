package docker

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/docker/go-connections/nat"
	"github.com/google/go-cmp/cmp"

	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

func dockerSpec(di mesosv1.DockerInfo, cmd *mesosv1.CommandInfo) containerizer.LaunchSpec {
	return containerizer.LaunchSpec{
		ContainerID: "cid", FrameworkID: "fw", AgentID: "ag", Sandbox: "/var/sb",
		Env: []string{"MESOS_SANDBOX=/var/sb", "FOO=bar"}, CPUs: 0.5, MemMB: 64,
		Task: mesosv1.TaskInfo{TaskID: mesosv1.ID{Value: "t1"}, Command: cmd,
			Container: &mesosv1.ContainerInfo{Type: "DOCKER", Docker: &di,
				Volumes: []mesosv1.Volume{{HostPath: "/data", ContainerPath: "/in", Mode: "RO"}}}},
	}
}

func TestBuildCreateBridge(t *testing.T) {
	sp := dockerSpec(mesosv1.DockerInfo{Image: "nginx:1", Network: "BRIDGE", PortMappings: []mesosv1.DockerPortMapping{
		{HostPort: 31000, ContainerPort: 80}, {HostPort: 31001, ContainerPort: 53, Protocol: "udp"},
	}, Parameters: []mesosv1.Parameter{{Key: "label", Value: "team=a"}, {Key: "--env", Value: "X=1"}}},
		&mesosv1.CommandInfo{Value: "echo hi"})
	allowed, err := ParseAllowedParameters([]string{"label", "--env"})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := buildCreate(sp, "own", policy{allowedParams: allowed})
	if err != nil {
		t.Fatal(err)
	}
	if cc.host.NetworkMode != "bridge" || cc.name != "mesos-cid" {
		t.Errorf("network %q name %q", cc.host.NetworkMode, cc.name)
	}
	want := nat.PortMap{"80/tcp": {{HostPort: "31000"}}, "53/udp": {{HostPort: "31001"}}}
	if diff := cmp.Diff(want, cc.host.PortBindings); diff != "" {
		t.Errorf("port bindings (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"/var/sb:/mnt/mesos/sandbox:rw", "/data:/in:ro"}, cc.host.Binds); diff != "" {
		t.Errorf("binds (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"FOO=bar", "MESOS_SANDBOX=/mnt/mesos/sandbox", "X=1"}, cc.config.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	if !slices.Equal(cc.config.Entrypoint, []string{"/bin/sh", "-c"}) || !slices.Equal(cc.config.Cmd, []string{"echo hi"}) {
		t.Errorf("entrypoint %q cmd %q", cc.config.Entrypoint, cc.config.Cmd)
	}
	if cc.host.NanoCPUs != 5e8 || cc.host.Memory != 64<<20 || cc.host.Init == nil || !*cc.host.Init {
		t.Errorf("limits/init: %+v", cc.host.Resources)
	}
	if cc.config.Labels["team"] != "a" || cc.config.Labels[LabelOwner] != "own" || cc.config.Labels[LabelTaskID] != "t1" {
		t.Errorf("labels %v", cc.config.Labels)
	}
}

func TestBuildCreateArgv(t *testing.T) {
	f := false
	cc, err := buildCreate(dockerSpec(mesosv1.DockerInfo{Image: "img"}, &mesosv1.CommandInfo{Shell: &f, Arguments: []string{"--port", "80"}}), "o", policy{})
	if err != nil {
		t.Fatal(err)
	}
	if cc.config.Entrypoint != nil || !slices.Equal(cc.config.Cmd, []string{"--port", "80"}) || cc.host.NetworkMode != "host" {
		t.Errorf("args appended to the image entrypoint: entrypoint %q cmd %q net %q", cc.config.Entrypoint, cc.config.Cmd, cc.host.NetworkMode)
	}
}

func TestBuildCreateReportsEveryProblem(t *testing.T) {
	sp := dockerSpec(mesosv1.DockerInfo{Image: "", Network: "HOST", Privileged: true,
		PortMappings: []mesosv1.DockerPortMapping{{ContainerPort: 80}},
		Parameters:   []mesosv1.Parameter{{Key: "volume", Value: "/:/host"}, {Key: "cap-add", Value: "ALL"}}}, nil)
	sp.Task.Container.Volumes = append(sp.Task.Container.Volumes, mesosv1.Volume{ContainerPath: "rel", HostPath: "/x"})
	_, err := buildCreate(sp, "o", policy{})
	var ise *InvalidSpecError
	if !errors.As(err, &ise) {
		t.Fatalf("error %v, want *InvalidSpecError", err)
	}
	for _, want := range []string{"docker.image is required", "need network BRIDGE or USER", "--docker-allow-privileged",
		`"volume" is not a docker parameter`, `"cap-add" is not allowed on this agent`, "must be absolute"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestParseAllowedParameters(t *testing.T) {
	got, err := ParseAllowedParameters([]string{" --label", "env", ""})
	if err != nil || !got["label"] || !got["env"] || len(got) != 2 {
		t.Errorf("got %v, %v", got, err)
	}
	if _, err := ParseAllowedParameters([]string{"volume"}); err == nil {
		t.Error("an unsupported parameter was accepted")
	}
}

// FuzzBuildCreate feeds arbitrary DockerInfo JSON (what a framework sends)
// through the conversion: it must never panic, and what it accepts must be
// consistent (the sandbox mount first, port bindings exposed).
func FuzzBuildCreate(f *testing.F) {
	f.Add(`{"image":"nginx","network":"BRIDGE","port_mappings":[{"host_port":31000,"container_port":80,"protocol":"tcp"}]}`, "echo", true)
	f.Add(`{"image":"x","network":"USER","parameters":[{"key":"shm-size","value":"64m"},{"key":"tmpfs","value":"/run:size=1m"}]}`, "", false)
	f.Add(`{"image":"x","privileged":true,"parameters":[{"key":"sysctl","value":"net.core.somaxconn=1024"},{"key":"pids-limit","value":"x"}]}`, "a b", true)
	f.Add(`{"image":"a b","network":"NONE","port_mappings":[{"host_port":70000,"container_port":0,"protocol":"sctp"}]}`, "", false)
	f.Fuzz(func(t *testing.T, docker, cmd string, shell bool) {
		var di mesosv1.DockerInfo
		if json.Unmarshal([]byte(docker), &di) != nil {
			return
		}
		sp := dockerSpec(di, &mesosv1.CommandInfo{Shell: &shell, Value: cmd, Arguments: strings.Fields(cmd)})
		sp.Task.Container.NetworkInfos = []mesosv1.NetworkInfo{{Name: "overlay"}}
		all := map[string]bool{}
		for k := range parameters {
			all[k] = true
		}
		cc, err := buildCreate(sp, "o", policy{allowedParams: all, allowPrivileged: true})
		if err != nil {
			var ise *InvalidSpecError
			if !errors.As(err, &ise) || len(ise.Problems) == 0 {
				t.Fatalf("error %v is not an InvalidSpecError with problems", err)
			}
			return
		}
		if cc.host.Binds[0] != "/var/sb:/mnt/mesos/sandbox:rw" || cc.config.Image == "" {
			t.Fatalf("accepted spec without sandbox mount or image: %+v", cc)
		}
		for p := range cc.host.PortBindings {
			if _, ok := cc.config.ExposedPorts[p]; !ok {
				t.Fatalf("port %s bound but not exposed", p)
			}
		}
		if cc.config.Labels[LabelContainerID] != "cid" {
			t.Fatalf("agent labels overwritten: %v", cc.config.Labels)
		}
	})
}

func TestBuildCreateUser(t *testing.T) {
	// CommandInfo.user and the framework's user name host accounts: not
	// used; the image's USER stands unless the "user" parameter is given.
	sp := dockerSpec(mesosv1.DockerInfo{Image: "img"}, &mesosv1.CommandInfo{Value: "id", User: "root"})
	sp.User = "root"
	if cc, err := buildCreate(sp, "o", policy{}); err != nil || cc.config.User != "" {
		t.Errorf("command.user: User %q, %v; want the image's", cc.config.User, err)
	}
	allowed, err := ParseAllowedParameters([]string{"user"})
	if err != nil {
		t.Fatal(err)
	}
	sp = dockerSpec(mesosv1.DockerInfo{Image: "img", Parameters: []mesosv1.Parameter{{Key: "user", Value: "nobody"}}}, &mesosv1.CommandInfo{Value: "id"})
	if cc, err := buildCreate(sp, "o", policy{allowedParams: allowed}); err != nil || cc.config.User != "nobody" {
		t.Errorf("user parameter: User %q, %v; want nobody", cc.config.User, err)
	}
}
