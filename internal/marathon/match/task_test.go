package match

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-dcos/basalt/pkg/marathon"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// build matches app against a plentiful offer and builds its task.
func build(t *testing.T, app marathon.App, cfg Config) mesosv1.TaskInfo {
	t.Helper()
	m := Match(app, testOffer(t, plentiful, ""), nil, cfg)
	if !m.Matched {
		t.Fatalf("Match() did not match: %v", m.Reasons)
	}
	ti, err := BuildTask(app, TaskParams{TaskID: "group_app.instance-1._app.1", AgentID: "a1", Hostname: "host-1", Match: m}, cfg)
	if err != nil {
		t.Fatalf("BuildTask() error: %v", err)
	}
	return ti
}

func envMap(ti mesosv1.TaskInfo) map[string]string {
	out := map[string]string{}
	if ti.Command == nil || ti.Command.Environment == nil {
		return out
	}
	for _, v := range ti.Command.Environment.Variables {
		out[v.Name] = v.Value
	}
	return out
}

func TestBuildTaskBasics(t *testing.T) {
	app := testApp()
	app.Labels = map[string]string{"b": "2", "a": "1"}
	app.TaskKillGracePeriodSeconds = ptr(2.5)
	app.Fetch = []marathon.Fetch{{URI: "https://example.com/x.tgz", Extract: true, Cache: true, DestPath: "y.tgz"}}
	ti := build(t, app, dcosCfg)

	if ti.Name != "app.group" || ti.TaskID.Value != "group_app.instance-1._app.1" || ti.AgentID.Value != "a1" {
		t.Errorf("name/ids = %q %q %q", ti.Name, ti.TaskID.Value, ti.AgentID.Value)
	}
	if s := mesosv1.Resources(ti.Resources).String(); s != "cpus:1;mem:128;ports:[31000-31000]" {
		t.Errorf("resources = %s", s)
	}
	if ti.Container != nil {
		t.Errorf("container = %+v, want none", ti.Container)
	}
	wantCmd := &mesosv1.CommandInfo{
		Shell: ptr(true), Value: "sleep 100", User: "root",
		URIs: []mesosv1.CommandURI{{Value: "https://example.com/x.tgz", Extract: ptr(true), Executable: ptr(false), Cache: ptr(true), OutputFile: "y.tgz"}},
	}
	gotCmd := *ti.Command
	gotCmd.Environment = nil
	if diff := cmp.Diff(wantCmd, &gotCmd); diff != "" {
		t.Errorf("command (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&mesosv1.Labels{Labels: []mesosv1.Label{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}}}, ti.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&mesosv1.KillPolicy{GracePeriod: &mesosv1.DurationInfo{Nanoseconds: 2_500_000_000}}, ti.KillPolicy); diff != "" {
		t.Errorf("kill policy (-want +got):\n%s", diff)
	}
	if ti.HealthCheck != nil {
		t.Errorf("health check = %+v, want none", ti.HealthCheck)
	}
	wantDisc := &mesosv1.DiscoveryInfo{Visibility: "FRAMEWORK", Name: "app.group", Ports: &mesosv1.Ports{Ports: []mesosv1.Port{
		{Number: 31000, Name: "default", Protocol: "tcp"},
	}}}
	if diff := cmp.Diff(wantDisc, ti.Discovery); diff != "" {
		t.Errorf("discovery (-want +got):\n%s", diff)
	}
}

func TestBuildTaskEnvironment(t *testing.T) {
	app := testApp()
	app.Cpus, app.Mem, app.Disk, app.Gpus = 0.1, 128, 0, 0
	app.PortDefinitions = []marathon.PortDefinition{{Port: 10000, Name: "http"}, {Port: 10001}}
	app.Labels = map[string]string{
		"DCOS_SERVICE_NAME":          "web",
		"com.example/team-name":      "core",
		strings.Repeat("k", 513):     "skipped: key too long",
		"long-value":                 strings.Repeat("v", 513),
		"HAPROXY_0_VHOST":            "web.example.com",
		"MARATHON_SINGLE_INSTANCE_X": "",
	}
	app.Env = map[string]marathon.EnvValue{
		"FOO":                  {Value: "bar"},
		"MARATHON_APP_VERSION": {Value: "user wins"},
		"DB_PASSWORD":          {Secret: "db"},
	}
	app.User = ptr("nobody")
	cfg := dcosCfg
	cfg.EnvVarsPrefix = "X_"
	ti := build(t, app, cfg)

	want := map[string]string{
		"X_PORT0":                              "31000",
		"X_PORT1":                              "31001",
		"X_PORT":                               "31000",
		"X_PORTS":                              "31000,31001",
		"X_PORT_HTTP":                          "31000",
		"X_HOST":                               "host-1",
		"MARATHON_APP_ID":                      "/group/app",
		"MARATHON_APP_VERSION":                 "user wins",
		"MARATHON_APP_RESOURCE_CPUS":           "0.1",
		"MARATHON_APP_RESOURCE_MEM":            "128.0",
		"MARATHON_APP_RESOURCE_DISK":           "0.0",
		"MARATHON_APP_RESOURCE_GPUS":           "0",
		"MESOS_TASK_ID":                        "group_app.instance-1._app.1",
		"MARATHON_APP_LABELS":                  "DCOS_SERVICE_NAME HAPROXY_0_VHOST MARATHON_SINGLE_INSTANCE_X COM_EXAMPLE_TEAM_NAME",
		"MARATHON_APP_LABEL_DCOS_SERVICE_NAME": "web",
		"MARATHON_APP_LABEL_HAPROXY_0_VHOST":   "web.example.com",
		"MARATHON_APP_LABEL_MARATHON_SINGLE_INSTANCE_X": "",
		"MARATHON_APP_LABEL_COM_EXAMPLE_TEAM_NAME":      "core",
		"FOO": "bar",
	}
	if diff := cmp.Diff(want, envMap(ti)); diff != "" {
		t.Errorf("environment (-want +got):\n%s", diff)
	}
	vars := ti.Command.Environment.Variables
	for i := 1; i < len(vars); i++ {
		if vars[i-1].Name >= vars[i].Name {
			t.Errorf("variables not sorted: %q before %q", vars[i-1].Name, vars[i].Name)
		}
	}
	if ti.Command.User != "nobody" {
		t.Errorf("user = %q, want the app's", ti.Command.User)
	}
}

func TestBuildTaskContainerPortEnv(t *testing.T) {
	app := testApp()
	app.Networks = []marathon.Network{{Mode: "container", Name: "dcos"}}
	app.PortDefinitions = []marathon.PortDefinition{}
	app.Container = &marathon.Container{Type: "MESOS", Docker: &marathon.Docker{Image: "nginx:1"}, PortMappings: []marathon.PortMapping{
		{ContainerPort: 8080, Name: "web"},                   // fixed container port, no host port
		{ContainerPort: 9090, HostPort: ptr(0), Name: "adm"}, // fixed container port and a host port
		{ContainerPort: 0, HostPort: ptr(0)},                 // container port follows the host port
	}}
	app.Cmd = nil
	ti := build(t, app, dcosCfg)
	env := envMap(ti)
	for k, v := range map[string]string{
		"PORT0": "8080", "PORT1": "9090", "PORT2": "31001", "PORT": "8080", "PORTS": "8080,9090,31001",
		"PORT_WEB": "8080", "PORT_ADM": "9090", "MARATHON_APP_DOCKER_IMAGE": "nginx:1",
	} {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	wantCI := &mesosv1.ContainerInfo{
		Type:  "MESOS",
		Mesos: &mesosv1.MesosInfo{Image: &mesosv1.Image{Type: "DOCKER", Docker: &mesosv1.DockerImage{Name: "nginx:1"}}},
		NetworkInfos: []mesosv1.NetworkInfo{{Name: "dcos", PortMappings: []mesosv1.PortMapping{
			{HostPort: 31000, ContainerPort: 9090, Protocol: "tcp"},
			{HostPort: 31001, ContainerPort: 31001, Protocol: "tcp"},
		}}},
	}
	if diff := cmp.Diff(wantCI, ti.Container); diff != "" {
		t.Errorf("container (-want +got):\n%s", diff)
	}
	wantPorts := []mesosv1.Port{
		{Number: 8080, Name: "web", Protocol: "tcp"},
		{Number: 31000, Name: "adm", Protocol: "tcp"},
		{Number: 31001, Protocol: "tcp"},
	}
	if diff := cmp.Diff(wantPorts, ti.Discovery.Ports.Ports); diff != "" {
		t.Errorf("discovery ports (-want +got):\n%s", diff)
	}
	if ti.Command.Shell == nil || *ti.Command.Shell || ti.Command.Value != "" || len(ti.Command.Arguments) != 0 {
		t.Errorf("command = %+v, want the image's entrypoint (shell false, nothing else)", ti.Command)
	}
}

func TestBuildTaskDockerBridge(t *testing.T) {
	app := testApp()
	app.Networks = []marathon.Network{{Mode: "container/bridge"}}
	app.PortDefinitions = []marathon.PortDefinition{}
	app.Container = &marathon.Container{
		Type: "DOCKER",
		Docker: &marathon.Docker{
			Image: "nginx", Privileged: true, ForcePullImage: true,
			Parameters: []marathon.Parameter{{Key: "label", Value: "a=b"}},
		},
		PortMappings: []marathon.PortMapping{
			{ContainerPort: 80, HostPort: ptr(0), Protocol: "tcp", Name: "http", Labels: map[string]string{"VIP_0": "/web:80"}},
			{ContainerPort: 53, HostPort: ptr(31005), Protocol: "udp,tcp", Name: "dns"},
			{ContainerPort: 0, HostPort: ptr(0), Protocol: "tcp"},
		},
		Volumes: []marathon.Volume{
			{ContainerPath: "/data", HostPath: "/srv/data", Mode: "RO"},
			{ContainerPath: "pv", Persistent: &marathon.PersistentVolume{Size: 10}, Mode: "RW"},
		},
	}
	ti := build(t, app, dcosCfg)
	want := &mesosv1.ContainerInfo{
		Type:    "DOCKER",
		Volumes: []mesosv1.Volume{{ContainerPath: "/data", HostPath: "/srv/data", Mode: "RO"}},
		Docker: &mesosv1.DockerInfo{
			Image: "nginx", Network: "BRIDGE", Privileged: true, ForcePullImage: true,
			Parameters: []mesosv1.Parameter{{Key: "label", Value: "a=b"}},
			PortMappings: []mesosv1.DockerPortMapping{
				{HostPort: 31000, ContainerPort: 80, Protocol: "tcp"},
				{HostPort: 31005, ContainerPort: 53, Protocol: "udp"},
				{HostPort: 31005, ContainerPort: 53, Protocol: "tcp"},
				{HostPort: 31001, ContainerPort: 31001, Protocol: "tcp"},
			},
		},
	}
	if diff := cmp.Diff(want, ti.Container); diff != "" {
		t.Errorf("container (-want +got):\n%s", diff)
	}
	vip := &mesosv1.Labels{Labels: []mesosv1.Label{{Key: "VIP_0", Value: "/web:80"}}}
	wantPorts := []mesosv1.Port{
		{Number: 31000, Name: "http", Protocol: "tcp", Labels: vip},
		{Number: 31005, Name: "dns", Protocol: "udp"},
		{Number: 31005, Name: "dns", Protocol: "tcp"},
		{Number: 31001, Protocol: "tcp"},
	}
	if diff := cmp.Diff(wantPorts, ti.Discovery.Ports.Ports); diff != "" {
		t.Errorf("discovery ports (-want +got):\n%s", diff)
	}
	env := envMap(ti)
	if env["PORT0"] != "31000" || env["PORT1"] != "31005" || env["PORTS"] != "31000,31005,31001" {
		t.Errorf("bridge ports env = %v %v %v, want the host ports", env["PORT0"], env["PORT1"], env["PORTS"])
	}
}

func TestBuildTaskDockerUserNetwork(t *testing.T) {
	app := testApp()
	app.Networks = []marathon.Network{{Mode: "container", Name: "dcos", Labels: map[string]string{"k": "v"}}}
	app.PortDefinitions = []marathon.PortDefinition{}
	app.Container = &marathon.Container{Type: "DOCKER", Docker: &marathon.Docker{Image: "nginx"},
		PortMappings: []marathon.PortMapping{{ContainerPort: 80}}}
	ti := build(t, app, dcosCfg)
	want := &mesosv1.ContainerInfo{
		Type:         "DOCKER",
		Docker:       &mesosv1.DockerInfo{Image: "nginx", Network: "USER"},
		NetworkInfos: []mesosv1.NetworkInfo{{Name: "dcos", Labels: &mesosv1.Labels{Labels: []mesosv1.Label{{Key: "k", Value: "v"}}}}},
	}
	if diff := cmp.Diff(want, ti.Container); diff != "" {
		t.Errorf("container (-want +got):\n%s", diff)
	}
}

func TestBuildTaskMesosForcePull(t *testing.T) {
	app := testApp()
	app.Container = &marathon.Container{Type: "MESOS", Docker: &marathon.Docker{Image: "busybox", ForcePullImage: true}}
	ti := build(t, app, dcosCfg)
	want := &mesosv1.ContainerInfo{Type: "MESOS", Mesos: &mesosv1.MesosInfo{Image: &mesosv1.Image{
		Type: "DOCKER", Docker: &mesosv1.DockerImage{Name: "busybox"}, Cached: ptr(false),
	}}}
	if diff := cmp.Diff(want, ti.Container); diff != "" {
		t.Errorf("container (-want +got):\n%s", diff)
	}
}

func TestBuildTaskMesosImageCredential(t *testing.T) {
	app := testApp()
	app.Container = &marathon.Container{Type: "MESOS", Docker: &marathon.Docker{Image: "reg:5000/app:1",
		Credential: &marathon.DockerCredential{Principal: "alice", Secret: "s3cret"}}}
	ti := build(t, app, dcosCfg)
	want := &mesosv1.ContainerInfo{Type: "MESOS", Mesos: &mesosv1.MesosInfo{Image: &mesosv1.Image{
		Type: "DOCKER", Docker: &mesosv1.DockerImage{Name: "reg:5000/app:1", Credential: &mesosv1.Credential{Principal: "alice", Secret: "s3cret"}},
	}}}
	if diff := cmp.Diff(want, ti.Container); diff != "" {
		t.Errorf("container (-want +got):\n%s", diff)
	}
}

func TestBuildTaskCommand(t *testing.T) {
	docker := &marathon.Container{Type: "DOCKER", Docker: &marathon.Docker{Image: "alpine"}}
	tests := []struct {
		name      string
		cmd       *string
		args      []string
		container *marathon.Container
		user      *string
		cfg       Config
		want      *mesosv1.CommandInfo
	}{
		{name: "cmd runs in a shell", cmd: ptr("echo hi && sleep 1"), cfg: dcosCfg,
			want: &mesosv1.CommandInfo{Shell: ptr(true), Value: "echo hi && sleep 1", User: "root"}},
		{name: "args without image", args: []string{"/bin/sleep", "10"},
			want: &mesosv1.CommandInfo{Shell: ptr(false), Value: "/bin/sleep", Arguments: []string{"/bin/sleep", "10"}}},
		{name: "args with image go to the entrypoint", args: []string{"--port", "80"}, container: docker,
			want: &mesosv1.CommandInfo{Shell: ptr(false), Arguments: []string{"--port", "80"}}},
		{name: "cmd with image", cmd: ptr("nginx -g 'daemon off;'"), container: docker,
			want: &mesosv1.CommandInfo{Shell: ptr(true), Value: "nginx -g 'daemon off;'"}},
		{name: "image alone", container: docker,
			want: &mesosv1.CommandInfo{Shell: ptr(false)}},
		{name: "app user wins over the config", cmd: ptr("true"), user: ptr("nobody"), cfg: dcosCfg,
			want: &mesosv1.CommandInfo{Shell: ptr(true), Value: "true", User: "nobody"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := testApp()
			app.Cmd, app.Args, app.Container, app.User = tt.cmd, tt.args, tt.container, tt.user
			ti := build(t, app, tt.cfg)
			got := *ti.Command
			got.Environment = nil
			if diff := cmp.Diff(tt.want, &got); diff != "" {
				t.Errorf("command (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildTaskNothingToRun(t *testing.T) {
	app := testApp()
	app.Cmd = nil
	m := Match(app, testOffer(t, plentiful, ""), nil, dcosCfg)
	_, err := BuildTask(app, TaskParams{TaskID: "t", Match: m}, dcosCfg)
	if !errors.Is(err, ErrNothingToRun) {
		t.Errorf("BuildTask() error = %v, want ErrNothingToRun", err)
	}
}

func TestBuildTaskHostPortsMismatch(t *testing.T) {
	_, err := BuildTask(testApp(), TaskParams{TaskID: "t", Match: Result{Matched: true}}, dcosCfg)
	if err == nil {
		t.Error("BuildTask() with no host ports for a one-port app succeeded")
	}
}

func TestBuildTaskHealthCheck(t *testing.T) {
	u := func(v float64) *float64 { return &v }
	times := func(hc mesosv1.HealthCheck, failures uint32) *mesosv1.HealthCheck {
		hc.DelaySeconds, hc.IntervalSeconds, hc.TimeoutSeconds, hc.GracePeriodSeconds = u(15), u(60), u(20), u(300)
		hc.ConsecutiveFailures = &failures
		return &hc
	}
	hc := func(proto string) marathon.HealthCheck {
		return marathon.HealthCheck{Protocol: proto, Path: "/health", GracePeriodSeconds: 300, IntervalSeconds: 60,
			TimeoutSeconds: 20, MaxConsecutiveFailures: 3, DelaySeconds: 15}
	}
	tests := []struct {
		name    string
		check   marathon.HealthCheck
		want    *mesosv1.HealthCheck
		wantErr bool
	}{
		{name: "MESOS_HTTP on port index 1", check: func() marathon.HealthCheck { c := hc("MESOS_HTTP"); c.PortIndex = ptr(1); return c }(),
			want: times(mesosv1.HealthCheck{Type: "HTTP", HTTP: &mesosv1.HTTPCheckInfo{Scheme: "http", Port: 31001, Path: "/health"}}, 3)},
		{name: "legacy HTTP becomes an agent check", check: hc("HTTP"),
			want: times(mesosv1.HealthCheck{Type: "HTTP", HTTP: &mesosv1.HTTPCheckInfo{Scheme: "http", Port: 31000, Path: "/health"}}, 3)},
		{name: "MESOS_HTTPS", check: hc("MESOS_HTTPS"),
			want: times(mesosv1.HealthCheck{Type: "HTTP", HTTP: &mesosv1.HTTPCheckInfo{Scheme: "https", Port: 31000, Path: "/health"}}, 3)},
		{name: "HTTPS", check: hc("HTTPS"),
			want: times(mesosv1.HealthCheck{Type: "HTTP", HTTP: &mesosv1.HTTPCheckInfo{Scheme: "https", Port: 31000, Path: "/health"}}, 3)},
		{name: "literal port wins", check: func() marathon.HealthCheck { c := hc("MESOS_TCP"); c.Port = ptr(8080); c.PortIndex = ptr(1); return c }(),
			want: times(mesosv1.HealthCheck{Type: "TCP", TCP: &mesosv1.TCPCheckInfo{Port: 8080}}, 3)},
		{name: "TCP", check: hc("TCP"),
			want: times(mesosv1.HealthCheck{Type: "TCP", TCP: &mesosv1.TCPCheckInfo{Port: 31000}}, 3)},
		{name: "COMMAND", check: func() marathon.HealthCheck {
			c := hc("COMMAND")
			c.Command = &marathon.Command{Value: "curl -f localhost:$PORT0"}
			c.MaxConsecutiveFailures = 0
			return c
		}(),
			want: times(mesosv1.HealthCheck{Type: "COMMAND", Command: &mesosv1.CommandInfo{Shell: ptr(true), Value: "curl -f localhost:$PORT0"}}, math.MaxUint32)},
		{name: "COMMAND without command", check: hc("COMMAND"), wantErr: true},
		{name: "port index out of range", check: func() marathon.HealthCheck { c := hc("MESOS_HTTP"); c.PortIndex = ptr(2); return c }(), wantErr: true},
		{name: "unknown protocol", check: hc("GOPHER"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := testApp()
			app.PortDefinitions = []marathon.PortDefinition{{Port: 10000}, {Port: 10001}}
			app.HealthChecks = []marathon.HealthCheck{tt.check, hc("TCP")}
			m := Match(app, testOffer(t, plentiful, ""), nil, dcosCfg)
			ti, err := BuildTask(app, TaskParams{TaskID: "t", AgentID: "a", Hostname: "h", Match: m}, dcosCfg)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("BuildTask() succeeded with health check %+v", ti.HealthCheck)
				}
				return
			}
			if err != nil {
				t.Fatalf("BuildTask() error: %v", err)
			}
			if diff := cmp.Diff(tt.want, ti.HealthCheck); diff != "" {
				t.Errorf("health check (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTaskName(t *testing.T) {
	for id, want := range map[string]string{"/group/app": "app.group", "/app": "app", "/a/b/c": "c.b.a", "/": ""} {
		if got := taskName(id); got != want {
			t.Errorf("taskName(%q) = %q, want %q", id, got, want)
		}
	}
}

func TestScalaDouble(t *testing.T) {
	for v, want := range map[float64]string{
		128: "128.0", 0.1: "0.1", 1: "1.0", 0: "0.0", 0.001: "0.001", 1.5: "1.5",
		0.0005: "5.0E-4", 1e7: "1.0E7", 12345678.5: "1.23456785E7", 65536: "65536.0",
	} {
		if got := scalaDouble(v); got != want {
			t.Errorf("scalaDouble(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestBuildTaskUntypedContainerIsDocker(t *testing.T) {
	app := testApp()
	app.Container = &marathon.Container{Docker: &marathon.Docker{Image: "alpine"}}
	ti := build(t, app, dcosCfg)
	want := &mesosv1.ContainerInfo{Type: "DOCKER", Docker: &mesosv1.DockerInfo{Image: "alpine", Network: "HOST"}}
	if diff := cmp.Diff(want, ti.Container); diff != "" {
		t.Errorf("container (-want +got):\n%s", diff)
	}
}
