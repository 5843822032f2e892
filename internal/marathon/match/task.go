package match

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/basalt-dcos/basalt/pkg/marathon"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// ErrNothingToRun is returned for an app with neither cmd, args nor a
// container image: Mesos would reject its task.
var ErrNothingToRun = errors.New("app has no cmd, args or container image")

// BuildTask builds the TaskInfo that launches one instance of app.
//
// p.Match.HostPorts must have one entry per port of app (as Match returns
// them). Deviations from Marathon, on purpose or because pkg/mesosv1 lacks
// the field: the first health check only is sent, Marathon-side HTTP, HTTPS
// and TCP checks become agent-side checks, env entries that reference
// secrets are skipped (there is no secret store), non-host volumes
// (persistent, external, secret), tty and linuxInfo are not sent, and a
// custom executor is not supported (the command executor runs the task).
func BuildTask(app marathon.App, p TaskParams, cfg Config) (mesosv1.TaskInfo, error) {
	specs := portSpecs(app)
	if len(p.Match.HostPorts) != len(specs) {
		return mesosv1.TaskInfo{}, fmt.Errorf("build task %s: %d host ports for %d ports", p.TaskID, len(p.Match.HostPorts), len(specs))
	}
	ports := resolvePorts(networkMode(app), specs, p.Match.HostPorts)
	cmd, err := command(app, cfg)
	if err != nil {
		return mesosv1.TaskInfo{}, fmt.Errorf("build task %s: %w", p.TaskID, err)
	}
	cmd.Environment = environment(app, p, ports, cfg)

	name := taskName(app.ID)
	ti := mesosv1.TaskInfo{
		Name:      name,
		TaskID:    mesosv1.ID{Value: p.TaskID},
		AgentID:   mesosv1.ID{Value: p.AgentID},
		Resources: slices.Clone(p.Match.Resources),
		Command:   cmd,
		Container: containerInfo(app, ports),
		Labels:    labels(app.Labels),
		Discovery: discovery(name, ports),
	}
	if len(app.HealthChecks) > 0 {
		hc, err := healthCheck(app.HealthChecks[0], ports)
		if err != nil {
			return mesosv1.TaskInfo{}, fmt.Errorf("build task %s: health check: %w", p.TaskID, err)
		}
		ti.HealthCheck = hc
	}
	if g := app.TaskKillGracePeriodSeconds; g != nil && *g >= 0 && !math.IsInf(*g, 0) {
		ti.KillPolicy = &mesosv1.KillPolicy{GracePeriod: &mesosv1.DurationInfo{Nanoseconds: int64(math.Round(*g * 1e9))}}
	}
	return ti, nil
}

// taskName is the Mesos task name of an app id: the path reversed and
// joined by dots ("/group/app" -> "app.group"), which Mesos-DNS uses.
func taskName(id string) string {
	segs := strings.FieldsFunc(id, func(r rune) bool { return r == '/' })
	slices.Reverse(segs)
	return strings.Join(segs, ".")
}

// resolvedPort is one port of a task with its host port chosen.
type resolvedPort struct {
	portSpec
	mode     netMode
	hostPort int // 0: none
}

// containerSide is the port the process listens on: the container port,
// which defaults to the host port.
func (r resolvedPort) containerSide() int {
	if r.containerPort != 0 {
		return r.containerPort
	}
	return r.hostPort
}

// effective is the port the task is reached at from its own network view,
// for PORT* variables and health checks (reference §2.8): the container
// port in container mode when one is fixed, else the host port.
func (r resolvedPort) effective() int {
	if r.mode == modeContainer && r.containerPort != 0 {
		return r.containerPort
	}
	if r.hostPort != 0 {
		return r.hostPort
	}
	return r.containerPort
}

// discoveryNumber is the port announced in DiscoveryInfo: the host port,
// or the container port when there is none.
func (r resolvedPort) discoveryNumber() int {
	if r.hostPort != 0 {
		return r.hostPort
	}
	return r.containerPort
}

func resolvePorts(mode netMode, specs []portSpec, hostPorts []int) []resolvedPort {
	out := make([]resolvedPort, len(specs))
	for i, s := range specs {
		out[i] = resolvedPort{portSpec: s, mode: mode, hostPort: hostPorts[i]}
	}
	return out
}

// hasImage reports whether app runs a container image.
func hasImage(app marathon.App) bool {
	return app.Container != nil && app.Container.Docker != nil && app.Container.Docker.Image != ""
}

// command builds the CommandInfo (without environment). cmd runs through
// /bin/sh -c. args run without a shell: without an image, args[0] is the
// executable and args the argv; with an image, args are appended to the
// image's entrypoint (no value). With neither, an image runs its own
// entrypoint and cmd.
func command(app marathon.App, cfg Config) (*mesosv1.CommandInfo, error) {
	c := &mesosv1.CommandInfo{}
	switch {
	case app.Cmd != nil && *app.Cmd != "":
		c.Shell = ptr(true)
		c.Value = *app.Cmd
	case len(app.Args) > 0:
		c.Shell = ptr(false)
		c.Arguments = slices.Clone(app.Args)
		if !hasImage(app) {
			c.Value = app.Args[0]
		}
	case hasImage(app):
		c.Shell = ptr(false)
	default:
		return nil, ErrNothingToRun
	}
	switch {
	case app.User != nil && *app.User != "":
		c.User = *app.User
	case cfg.MesosUser != "":
		c.User = cfg.MesosUser
	}
	for _, f := range app.Fetch {
		c.URIs = append(c.URIs, mesosv1.CommandURI{
			Value:      f.URI,
			Extract:    ptr(f.Extract),
			Executable: ptr(f.Executable),
			Cache:      ptr(f.Cache),
			OutputFile: f.DestPath,
		})
	}
	return c, nil
}

// containerInfo builds the ContainerInfo, or nil for an app without a
// container on host networking.
func containerInfo(app marathon.App, ports []resolvedPort) *mesosv1.ContainerInfo {
	mode := networkMode(app)
	if app.Container == nil && mode == modeHost {
		return nil
	}
	ci := &mesosv1.ContainerInfo{Type: "MESOS"}
	var docker *marathon.Docker
	if app.Container != nil {
		docker = app.Container.Docker
		// DOCKER is the RAML default type, so an untyped container with a
		// docker section is a Docker container.
		if app.Container.Type == "DOCKER" || (app.Container.Type == "" && hasImage(app)) {
			ci.Type = "DOCKER"
		}
		for _, v := range app.Container.Volumes {
			if v.HostPath == "" {
				continue // persistent, external and secret volumes are not supported yet
			}
			mode := v.Mode
			if mode == "" {
				mode = "RW"
			}
			ci.Volumes = append(ci.Volumes, mesosv1.Volume{ContainerPath: v.ContainerPath, HostPath: v.HostPath, Mode: mode})
		}
	}

	if ci.Type == "DOCKER" {
		di := &mesosv1.DockerInfo{Network: "HOST"}
		if docker != nil {
			di.Image = docker.Image
			di.Privileged = docker.Privileged
			di.ForcePullImage = docker.ForcePullImage
			for _, prm := range docker.Parameters {
				di.Parameters = append(di.Parameters, mesosv1.Parameter{Key: prm.Key, Value: prm.Value})
			}
		}
		switch mode {
		case modeBridge:
			di.Network = "BRIDGE"
		case modeContainer:
			di.Network = "USER"
		}
		if mode != modeHost {
			for _, pt := range ports {
				if pt.hostPort == 0 {
					continue
				}
				for _, proto := range protocols(pt.protocol) {
					di.PortMappings = append(di.PortMappings, mesosv1.DockerPortMapping{
						HostPort: uint32(pt.hostPort), ContainerPort: uint32(pt.containerSide()), Protocol: proto,
					})
				}
			}
		}
		if mode == modeContainer {
			// The Docker containerizer reads the user network's name here.
			for _, n := range app.Networks {
				ci.NetworkInfos = append(ci.NetworkInfos, mesosv1.NetworkInfo{Name: n.Name, Labels: labels(n.Labels)})
			}
		}
		ci.Docker = di
		return ci
	}

	if docker != nil && docker.Image != "" {
		img := &mesosv1.Image{Type: "DOCKER", Docker: &mesosv1.DockerImage{Name: docker.Image}}
		if c := docker.Credential; c != nil && c.Principal != "" {
			img.Docker.Credential = &mesosv1.Credential{Principal: c.Principal, Secret: c.Secret}
		}
		if docker.ForcePullImage {
			img.Cached = ptr(false)
		}
		ci.Mesos = &mesosv1.MesosInfo{Image: img}
	}
	switch mode {
	case modeBridge:
		ci.NetworkInfos = []mesosv1.NetworkInfo{{Name: "mesos-bridge", PortMappings: networkPortMappings(ports, "", true)}}
	case modeContainer:
		single := len(app.Networks) == 1
		for _, n := range app.Networks {
			ci.NetworkInfos = append(ci.NetworkInfos, mesosv1.NetworkInfo{
				Name:         n.Name,
				Labels:       labels(n.Labels),
				PortMappings: networkPortMappings(ports, n.Name, single),
			})
		}
	}
	return ci
}

// networkPortMappings are the port mappings with a host port that belong
// to network name: all of them when only one network exists, else those
// whose networkNames list it.
func networkPortMappings(ports []resolvedPort, name string, single bool) []mesosv1.PortMapping {
	var out []mesosv1.PortMapping
	for _, pt := range ports {
		if pt.hostPort == 0 {
			continue
		}
		if !single && !portOnNetwork(pt, name) {
			continue
		}
		for _, proto := range protocols(pt.protocol) {
			out = append(out, mesosv1.PortMapping{HostPort: uint32(pt.hostPort), ContainerPort: uint32(pt.containerSide()), Protocol: proto})
		}
	}
	return out
}

func portOnNetwork(pt resolvedPort, name string) bool {
	return slices.Contains(pt.networks, name)
}

// protocols splits "udp,tcp" into its protocols; empty means tcp.
func protocols(p string) []string {
	var out []string
	for _, s := range strings.Split(p, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return []string{"tcp"}
	}
	return out
}

// labels turns a label map into Mesos labels sorted by key; nil for none.
func labels(m map[string]string) *mesosv1.Labels {
	if len(m) == 0 {
		return nil
	}
	out := &mesosv1.Labels{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out.Labels = append(out.Labels, mesosv1.Label{Key: k, Value: m[k]})
	}
	return out
}

// discovery builds the DiscoveryInfo DNS and VIPs read: one port per port
// and protocol, with the port's labels (VIP_n).
func discovery(name string, ports []resolvedPort) *mesosv1.DiscoveryInfo {
	d := &mesosv1.DiscoveryInfo{Visibility: "FRAMEWORK", Name: name, Ports: &mesosv1.Ports{Ports: []mesosv1.Port{}}}
	for _, pt := range ports {
		n := pt.discoveryNumber()
		if n == 0 {
			continue
		}
		for _, proto := range protocols(pt.protocol) {
			d.Ports.Ports = append(d.Ports.Ports, mesosv1.Port{Number: uint32(n), Name: pt.name, Protocol: proto, Labels: labels(pt.labels)})
		}
	}
	return d
}

// healthCheck maps a Marathon health check to the Mesos one the agent
// runs. Marathon-side HTTP/HTTPS/TCP checks are mapped to agent-side checks
// on purpose: Basalt runs no leader-side checker. maxConsecutiveFailures 0
// means "never kill" in Marathon; Mesos has no such value, so it becomes
// the largest count.
func healthCheck(hc marathon.HealthCheck, ports []resolvedPort) (*mesosv1.HealthCheck, error) {
	out := &mesosv1.HealthCheck{
		DelaySeconds:       ptr(float64(hc.DelaySeconds)),
		IntervalSeconds:    ptr(float64(hc.IntervalSeconds)),
		TimeoutSeconds:     ptr(float64(hc.TimeoutSeconds)),
		GracePeriodSeconds: ptr(float64(hc.GracePeriodSeconds)),
	}
	failures := uint32(math.MaxUint32)
	if hc.MaxConsecutiveFailures > 0 {
		failures = uint32(min(hc.MaxConsecutiveFailures, math.MaxUint32))
	}
	out.ConsecutiveFailures = &failures

	proto := hc.Protocol
	if proto == "" {
		proto = "HTTP"
	}
	switch proto {
	case "COMMAND":
		if hc.Command == nil || hc.Command.Value == "" {
			return nil, errors.New("COMMAND check without a command")
		}
		out.Type = mesosv1.HealthCheckCommand
		out.Command = &mesosv1.CommandInfo{Shell: ptr(true), Value: hc.Command.Value}
		return out, nil
	case "HTTP", "MESOS_HTTP", "HTTPS", "MESOS_HTTPS", "TCP", "MESOS_TCP":
	default:
		return nil, fmt.Errorf("unknown protocol %q", hc.Protocol)
	}
	port, err := checkPort(hc, ports)
	if err != nil {
		return nil, err
	}
	switch proto {
	case "TCP", "MESOS_TCP":
		out.Type = mesosv1.HealthCheckTCP
		out.TCP = &mesosv1.TCPCheckInfo{Port: port}
	default:
		scheme := "http"
		if strings.HasSuffix(proto, "HTTPS") {
			scheme = "https"
		}
		out.Type = mesosv1.HealthCheckHTTP
		out.HTTP = &mesosv1.HTTPCheckInfo{Scheme: scheme, Port: port, Path: hc.Path}
	}
	return out, nil
}

// checkPort is the literal port of a check, else the effective port at
// portIndex (default 0).
func checkPort(hc marathon.HealthCheck, ports []resolvedPort) (uint32, error) {
	if hc.Port != nil && *hc.Port > 0 {
		return uint32(*hc.Port), nil
	}
	idx := 0
	if hc.PortIndex != nil {
		idx = *hc.PortIndex
	}
	if idx < 0 || idx >= len(ports) {
		return 0, fmt.Errorf("portIndex %d out of range (%d ports)", idx, len(ports))
	}
	p := ports[idx].effective()
	if p <= 0 {
		return 0, fmt.Errorf("port %d has no port number", idx)
	}
	return uint32(p), nil
}

func ptr[T any](v T) *T { return &v }
