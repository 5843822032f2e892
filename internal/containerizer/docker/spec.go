package docker

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/go-connections/nat"

	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// SandboxPath is where a task sees its sandbox inside the container; the
// agent's sandbox directory is bind-mounted there and MESOS_SANDBOX points
// at it (as the Mesos Docker containerizer does).
const SandboxPath = "/mnt/mesos/sandbox"

// Labels set on every container this runtime creates. Recovery finds
// containers by LabelOwner and LabelContainerID.
const (
	LabelContainerID = "io.basalt.container-id"
	LabelOwner       = "io.basalt.owner"
	LabelAgentID     = "io.basalt.agent-id"
	LabelFrameworkID = "io.basalt.framework-id"
	LabelTaskID      = "io.basalt.task-id"
)

// InvalidSpecError is a task's Docker description this runtime refuses
// (unknown network, forbidden parameter, privileged without permission,
// ...). Its message is meant for the user who wrote the app.
type InvalidSpecError struct{ Problems []string }

func (e *InvalidSpecError) Error() string {
	return "invalid docker container: " + strings.Join(e.Problems, "; ")
}

// policy is what the agent's configuration allows a task to ask for.
type policy struct {
	allowedParams   map[string]bool
	allowPrivileged bool
}

// createConfig is what ContainerCreate needs, derived from a LaunchSpec.
type createConfig struct {
	name   string
	image  string
	force  bool // forcePullImage
	config container.Config
	host   container.HostConfig
}

// buildCreate turns a LaunchSpec into the container to create. It is pure:
// every problem of the spec is reported at once in an *InvalidSpecError.
func buildCreate(spec containerizer.LaunchSpec, owner string, pol policy) (createConfig, error) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	ci := spec.Task.Container
	if ci == nil && spec.Task.Executor != nil {
		ci = spec.Task.Executor.Container
	}
	if ci == nil || ci.Type != "DOCKER" || ci.Docker == nil {
		return createConfig{}, &InvalidSpecError{Problems: []string{"the task has no DOCKER container with a docker section"}}
	}
	di := ci.Docker
	image := strings.TrimSpace(di.Image)
	if image == "" {
		bad("docker.image is required")
	} else if strings.ContainsAny(image, " \t\n") {
		bad("docker.image %q contains white space", di.Image)
	}
	cc := createConfig{
		name:  "mesos-" + spec.ContainerID,
		image: image,
		force: di.ForcePullImage,
	}
	cfg := &cc.config
	host := &cc.host
	cfg.Image = image
	cfg.WorkingDir = SandboxPath
	cfg.Hostname = ci.Hostname
	cfg.Labels = map[string]string{
		LabelContainerID: spec.ContainerID,
		LabelOwner:       owner,
		LabelAgentID:     spec.AgentID,
		LabelFrameworkID: spec.FrameworkID,
		LabelTaskID:      spec.Task.TaskID.Value,
	}
	cfg.Env = containerEnv(spec.Env)

	// The command: shell form runs /bin/sh -c in the image; argv form
	// replaces the entrypoint when it names an executable (arguments[0] is
	// argv[0], as for every CommandInfo), and otherwise appends its
	// arguments to the image's own entrypoint.
	if cmd := commandOf(spec.Task); cmd != nil {
		switch {
		case cmd.Shell == nil || *cmd.Shell:
			if cmd.Value != "" {
				cfg.Entrypoint = []string{"/bin/sh", "-c"}
				cfg.Cmd = []string{cmd.Value}
			}
		case cmd.Value != "":
			cfg.Entrypoint = []string{cmd.Value}
			if len(cmd.Arguments) > 1 {
				cfg.Cmd = slices.Clone(cmd.Arguments[1:])
			} else {
				cfg.Cmd = []string{} // not the image's CMD
			}
		default:
			if len(cmd.Arguments) > 0 {
				cfg.Cmd = slices.Clone(cmd.Arguments)
			}
		}
	}

	// CommandInfo.user is not used, as in Mesos' Docker containerizer: it
	// names a host account (Marathon fills it from --mesos_user for every
	// app), which the image need not have. The task runs as the image's
	// USER unless the "user" parameter (allow-listed) says otherwise.

	init := true // an init process forwards SIGTERM to the task and reaps zombies
	host.Init = &init
	host.Binds = []string{spec.Sandbox + ":" + SandboxPath + ":rw"}
	for i, v := range ci.Volumes {
		switch {
		case v.HostPath == "":
			bad("volumes[%d]: only host volumes (host_path) are supported by the docker runtime", i)
			continue
		case !path.IsAbs(v.HostPath) || !path.IsAbs(v.ContainerPath):
			bad("volumes[%d]: host_path and container_path must be absolute (got %q, %q)", i, v.HostPath, v.ContainerPath)
			continue
		case strings.Contains(v.HostPath, ":") || strings.Contains(v.ContainerPath, ":"):
			bad("volumes[%d]: paths must not contain ':'", i)
			continue
		}
		mode := "rw"
		switch v.Mode {
		case "", "RW":
		case "RO":
			mode = "ro"
		default:
			bad("volumes[%d]: mode %q is not RW or RO", i, v.Mode)
			continue
		}
		host.Binds = append(host.Binds, v.HostPath+":"+v.ContainerPath+":"+mode)
	}

	if spec.CPUs > 0 {
		host.NanoCPUs = int64(spec.CPUs * 1e9)
		host.CPUShares = max(2, int64(spec.CPUs*1024))
	}
	if spec.MemMB > 0 {
		host.Memory = int64(spec.MemMB * (1 << 20))
	}

	switch di.Network {
	case "", "HOST":
		host.NetworkMode = "host"
		if len(di.PortMappings) > 0 {
			bad("port mappings need network BRIDGE or USER, not HOST")
		}
	case "BRIDGE":
		host.NetworkMode = "bridge"
	case "NONE":
		host.NetworkMode = "none"
		if len(di.PortMappings) > 0 {
			bad("port mappings need network BRIDGE or USER, not NONE")
		}
	case "USER":
		name := ""
		if len(ci.NetworkInfos) > 0 {
			name = ci.NetworkInfos[0].Name
		}
		switch {
		case name == "":
			bad("network USER needs the name of a Docker network (container.network_infos[0].name)")
		case len(ci.NetworkInfos) > 1:
			bad("a docker container joins one user network, not %d", len(ci.NetworkInfos))
		case name == "host" || name == "none" || strings.HasPrefix(name, "container:"):
			bad("user network name %q is reserved by Docker", name)
		default:
			host.NetworkMode = container.NetworkMode(name)
		}
	default:
		bad("docker.network %q is not HOST, BRIDGE, USER or NONE", di.Network)
	}
	for i, pm := range di.PortMappings {
		proto := strings.ToLower(pm.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		if proto != "tcp" && proto != "udp" {
			bad("port_mappings[%d]: protocol %q is not tcp or udp", i, pm.Protocol)
			continue
		}
		if pm.ContainerPort == 0 || pm.ContainerPort > 65535 || pm.HostPort > 65535 {
			bad("port_mappings[%d]: ports must be in 1-65535 (container %d, host %d)", i, pm.ContainerPort, pm.HostPort)
			continue
		}
		p := nat.Port(fmt.Sprintf("%d/%s", pm.ContainerPort, proto))
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = nat.PortSet{}
			host.PortBindings = nat.PortMap{}
		}
		cfg.ExposedPorts[p] = struct{}{}
		b := nat.PortBinding{}
		if pm.HostPort != 0 {
			b.HostPort = strconv.Itoa(int(pm.HostPort))
		}
		host.PortBindings[p] = append(host.PortBindings[p], b)
	}

	if di.Privileged {
		if pol.allowPrivileged {
			host.Privileged = true
		} else {
			bad("privileged containers are not allowed on this agent (start it with --docker-allow-privileged)")
		}
	}
	for i, prm := range di.Parameters {
		key := strings.TrimPrefix(prm.Key, "--")
		apply, known := parameters[key]
		switch {
		case !known:
			bad("parameters[%d]: %q is not a docker parameter this runtime supports (supported: %s)", i, prm.Key, strings.Join(slices.Sorted(maps.Keys(parameters)), ", "))
		case !pol.allowedParams[key]:
			bad("parameters[%d]: %q is not allowed on this agent (allowed: %s; see --docker-allowed-parameters)", i, prm.Key, allowedList(pol.allowedParams))
		default:
			if err := apply(&cc, prm.Value); err != nil {
				bad("parameters[%d] %s=%q: %v", i, key, prm.Value, err)
			}
		}
	}
	if len(problems) > 0 {
		return createConfig{}, &InvalidSpecError{Problems: problems}
	}
	return cc, nil
}

func allowedList(m map[string]bool) string {
	if len(m) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}

// containerEnv is the task's environment inside the container: MESOS_SANDBOX
// is the bind mount's path there.
func containerEnv(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if strings.HasPrefix(kv, "MESOS_SANDBOX=") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, "MESOS_SANDBOX="+SandboxPath)
}

// commandOf is the command a task runs (its own or its executor's).
func commandOf(ti mesosv1.TaskInfo) *mesosv1.CommandInfo {
	if ti.Command != nil {
		return ti.Command
	}
	if ti.Executor != nil {
		return ti.Executor.Command
	}
	return nil
}

// parameters are the `docker run` options a task may pass as
// docker.parameters (when the agent allows the key), and how each maps onto
// the Engine API. Repeated keys accumulate where docker run's do. The table
// is read-only.
var parameters = map[string]func(*createConfig, string) error{
	"label": func(c *createConfig, v string) error {
		k, val, _ := strings.Cut(v, "=")
		if k == "" {
			return errors.New("want key=value")
		}
		if strings.HasPrefix(k, "io.basalt.") {
			return errors.New("io.basalt.* labels belong to the agent")
		}
		c.config.Labels[k] = val
		return nil
	},
	"env": func(c *createConfig, v string) error {
		if k, _, _ := strings.Cut(v, "="); k == "" {
			return errors.New("want NAME=value")
		}
		c.config.Env = append(c.config.Env, v)
		return nil
	},
	"user": func(c *createConfig, v string) error {
		if v == "" {
			return errors.New("empty user")
		}
		c.config.User = v
		return nil
	},
	"hostname": func(c *createConfig, v string) error {
		if v == "" || strings.ContainsAny(v, " /") {
			return errors.New("not a host name")
		}
		c.config.Hostname = v
		return nil
	},
	"workdir": func(c *createConfig, v string) error {
		if !path.IsAbs(v) {
			return errors.New("want an absolute path")
		}
		c.config.WorkingDir = v
		return nil
	},
	"cap-add":      appendTo(func(c *createConfig) *[]string { return (*[]string)(&c.host.CapAdd) }),
	"cap-drop":     appendTo(func(c *createConfig) *[]string { return (*[]string)(&c.host.CapDrop) }),
	"dns":          appendTo(func(c *createConfig) *[]string { return &c.host.DNS }),
	"dns-search":   appendTo(func(c *createConfig) *[]string { return &c.host.DNSSearch }),
	"add-host":     appendTo(func(c *createConfig) *[]string { return &c.host.ExtraHosts }),
	"security-opt": appendTo(func(c *createConfig) *[]string { return &c.host.SecurityOpt }),
	"shm-size": func(c *createConfig, v string) error {
		n, err := parseBytes(v)
		if err != nil {
			return err
		}
		c.host.ShmSize = n
		return nil
	},
	"pids-limit": func(c *createConfig, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return errors.New("want an integer")
		}
		c.host.PidsLimit = &n
		return nil
	},
	"read-only": func(c *createConfig, v string) error {
		b, err := strconv.ParseBool(cmpOr(v, "true"))
		if err != nil {
			return errors.New("want true or false")
		}
		c.host.ReadonlyRootfs = b
		return nil
	},
	"tmpfs": func(c *createConfig, v string) error {
		p, opts, _ := strings.Cut(v, ":")
		if !path.IsAbs(p) {
			return errors.New("want /path[:options]")
		}
		if c.host.Tmpfs == nil {
			c.host.Tmpfs = map[string]string{}
		}
		c.host.Tmpfs[p] = opts
		return nil
	},
	"sysctl": func(c *createConfig, v string) error {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return errors.New("want name=value")
		}
		if c.host.Sysctls == nil {
			c.host.Sysctls = map[string]string{}
		}
		c.host.Sysctls[k] = val
		return nil
	},
	"oom-score-adj": func(c *createConfig, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < -1000 || n > 1000 {
			return errors.New("want an integer in -1000..1000")
		}
		c.host.OomScoreAdj = n
		return nil
	},
}

func appendTo(field func(*createConfig) *[]string) func(*createConfig, string) error {
	return func(c *createConfig, v string) error {
		if v == "" {
			return errors.New("empty value")
		}
		f := field(c)
		*f = append(*f, v)
		return nil
	}
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// parseBytes parses docker's size syntax: a number with an optional
// b, k, m or g suffix (powers of 1024).
func parseBytes(v string) (int64, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	mult := int64(1)
	if s != "" {
		switch s[len(s)-1] {
		case 'b':
			s = s[:len(s)-1]
		case 'k':
			mult, s = 1<<10, s[:len(s)-1]
		case 'm':
			mult, s = 1<<20, s[:len(s)-1]
		case 'g':
			mult, s = 1<<30, s[:len(s)-1]
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size such as 64m", v)
	}
	return n * mult, nil
}

// ParseAllowedParameters parses the agent's --docker-allowed-parameters
// list (comma-separated keys, with or without leading dashes) and rejects
// keys this runtime cannot apply.
func ParseAllowedParameters(keys []string) (map[string]bool, error) {
	out := map[string]bool{}
	var errs []error
	for _, k := range keys {
		k = strings.TrimPrefix(strings.TrimSpace(k), "--")
		if k == "" {
			continue
		}
		if _, ok := parameters[k]; !ok {
			errs = append(errs, fmt.Errorf("docker parameter %q is not supported (supported: %s)", k, strings.Join(slices.Sorted(maps.Keys(parameters)), ", ")))
			continue
		}
		out[k] = true
	}
	return out, errors.Join(errs...)
}
