package appdef

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/basalt-dcos/basalt/pkg/marathon"
)

// Network modes and related constants.
const (
	modeHost      = "host"
	modeContainer = "container"
	modeBridge    = "container/bridge"

	containerDocker = "DOCKER"
	containerMesos  = "MESOS"

	defaultPortName = "default"
)

// archiveSuffixes are the file endings the fetcher extracts; a deprecated
// "uris" entry with one of them becomes a fetch entry with extract true.
// Read-only.
var archiveSuffixes = []string{".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".zip"}

// Normalize fills Marathon 1.10 defaults into app and folds deprecated
// fields (uris -> fetch, ports -> portDefinitions, docker.network ->
// networks, docker.portMappings -> container.portMappings). It is idempotent
// and makes every slice and map that Marathon always emits non-nil.
//
// It also turns empty optional collections into nil (args,
// acceptedResourceRoles, labels of ports and networks, ...), because the
// wire types omit them when empty: a normalised app then survives a JSON
// round trip unchanged. Scalar defaults (cpus 1, mem 128, ...) are not
// applied here — zero is a valid value for them — but by the decoder, which
// knows whether a field was given.
func Normalize(app *marathon.App) {
	if app.Env == nil {
		app.Env = map[string]marathon.EnvValue{}
	}
	if app.Labels == nil {
		app.Labels = map[string]string{}
	}
	if app.Secrets == nil {
		app.Secrets = map[string]marathon.SecretDef{}
	}
	app.Constraints = nonNilConstraints(app.Constraints)
	app.Args = nilIfEmpty(app.Args)
	app.AcceptedResourceRoles = nilIfEmpty(app.AcceptedResourceRoles)
	app.StoreURLs = nilIfEmpty(app.StoreURLs)
	if app.Dependencies == nil {
		app.Dependencies = []string{}
	}
	if app.KillSelection == "" {
		app.KillSelection = "YOUNGEST_FIRST"
	}
	if app.ResourceLimits != nil {
		app.ResourceLimits.Cpus = compactRaw(app.ResourceLimits.Cpus)
		app.ResourceLimits.Mem = compactRaw(app.ResourceLimits.Mem)
	}

	foldURIs(app)
	foldNetworking(app)
	normalizePorts(app)
	if app.Container != nil {
		normalizeContainer(app.Container)
	}
	normalizeChecks(app)
	normalizeStrategies(app)
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

func nilIfEmptyMap[K comparable, V any](m map[K]V) map[K]V {
	if len(m) == 0 {
		return nil
	}
	return m
}

// nonNilConstraints makes the list and each constraint non-nil (a nil
// constraint would be written as null, which is not a valid constraint).
func nonNilConstraints(cs [][]string) [][]string {
	if cs == nil {
		return [][]string{}
	}
	for i := range cs {
		if cs[i] == nil {
			cs[i] = []string{}
		}
	}
	return cs
}

func compactRaw(r json.RawMessage) json.RawMessage {
	if len(r) == 0 {
		return nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, r); err != nil {
		return r
	}
	return b.Bytes()
}

// isArchive reports whether the fetcher would extract uri.
func isArchive(uri string) bool {
	for _, s := range archiveSuffixes {
		if strings.HasSuffix(uri, s) {
			return true
		}
	}
	return false
}

// foldURIs moves deprecated uris into fetch (skipping ones fetch has).
func foldURIs(app *marathon.App) {
	for _, u := range app.URIs {
		if !slices.ContainsFunc(app.Fetch, func(f marathon.Fetch) bool { return f.URI == u }) {
			app.Fetch = append(app.Fetch, marathon.Fetch{URI: u, Extract: isArchive(u)})
		}
	}
	app.URIs = nil
	if app.Fetch == nil {
		app.Fetch = []marathon.Fetch{}
	}
}

// foldNetworking turns the deprecated docker.network, docker.portMappings
// and ipAddress into networks and container.portMappings, and defaults the
// networks to host.
func foldNetworking(app *marathon.App) {
	c := app.Container
	if c != nil && c.Docker != nil {
		d := c.Docker
		if len(app.Networks) == 0 {
			switch strings.ToUpper(d.Network) {
			case "BRIDGE":
				app.Networks = []marathon.Network{{Mode: modeBridge}}
			case "USER":
				n := marathon.Network{Mode: modeContainer}
				if app.IPAddress != nil {
					n.Name = app.IPAddress.NetworkName
				}
				app.Networks = []marathon.Network{n}
			case "HOST":
				app.Networks = []marathon.Network{{Mode: modeHost}}
			}
		}
		d.Network = ""
		if c.PortMappings == nil && d.PortMappings != nil {
			c.PortMappings = d.PortMappings
		}
		d.PortMappings = nil
	}
	if ip := app.IPAddress; ip != nil {
		if len(app.Networks) == 0 {
			app.Networks = []marathon.Network{{Mode: modeContainer, Name: ip.NetworkName, Labels: ip.Labels}}
		}
		if ip.Discovery != nil && len(ip.Discovery.Ports) > 0 {
			if app.Container == nil {
				app.Container = &marathon.Container{Type: containerMesos}
			}
			if app.Container.PortMappings == nil {
				for _, p := range ip.Discovery.Ports {
					app.Container.PortMappings = append(app.Container.PortMappings, marathon.PortMapping{
						ContainerPort: p.Number, Name: p.Name, Protocol: p.Protocol, Labels: p.Labels,
					})
				}
			}
		}
		app.IPAddress = nil
	}
	if len(app.Networks) == 0 {
		app.Networks = []marathon.Network{{Mode: modeHost}}
	}
	for i := range app.Networks {
		app.Networks[i].Labels = nilIfEmptyMap(app.Networks[i].Labels)
	}
}

// usesContainerNetworking reports whether the app's tasks get their own
// network namespace (container or container/bridge), so that its ports are
// container.portMappings rather than portDefinitions.
func usesContainerNetworking(app marathon.App) bool {
	return slices.ContainsFunc(app.Networks, func(n marathon.Network) bool { return n.Mode != modeHost })
}

func usesBridge(app marathon.App) bool {
	return slices.ContainsFunc(app.Networks, func(n marathon.Network) bool { return n.Mode == modeBridge })
}

// normalizePorts folds deprecated ports and fills the default port of the
// app's networking mode.
func normalizePorts(app *marathon.App) {
	if app.Ports != nil && app.PortDefinitions == nil {
		app.PortDefinitions = make([]marathon.PortDefinition, 0, len(app.Ports))
		for _, p := range app.Ports {
			app.PortDefinitions = append(app.PortDefinitions, marathon.PortDefinition{Port: p, Protocol: "tcp"})
		}
	}
	app.Ports = nil
	if usesContainerNetworking(*app) {
		if app.PortDefinitions == nil {
			app.PortDefinitions = []marathon.PortDefinition{}
		}
		if app.Container == nil {
			app.Container = &marathon.Container{Type: containerMesos}
		}
		if app.Container.PortMappings == nil {
			pm := marathon.PortMapping{Name: defaultPortName, Protocol: "tcp"}
			if usesBridge(*app) {
				pm.HostPort = new(int)
			}
			app.Container.PortMappings = []marathon.PortMapping{pm}
		}
	} else if app.PortDefinitions == nil {
		app.PortDefinitions = []marathon.PortDefinition{{Port: 0, Protocol: "tcp", Name: defaultPortName}}
	}
	for i := range app.PortDefinitions {
		pd := &app.PortDefinitions[i]
		if pd.Protocol == "" {
			pd.Protocol = "tcp"
		}
		pd.Labels = nilIfEmptyMap(pd.Labels)
	}
}

func normalizeContainer(c *marathon.Container) {
	if c.Type == "" {
		c.Type = containerDocker
	}
	if c.Volumes == nil {
		c.Volumes = []marathon.Volume{}
	}
	for i := range c.Volumes {
		v := &c.Volumes[i]
		if v.Persistent != nil {
			v.Persistent.Constraints = nilIfEmpty(v.Persistent.Constraints)
			for j := range v.Persistent.Constraints {
				if v.Persistent.Constraints[j] == nil {
					v.Persistent.Constraints[j] = []string{}
				}
			}
		}
		if v.External != nil {
			v.External.Options = nilIfEmptyMap(v.External.Options)
		}
	}
	if c.Docker != nil && c.Docker.Parameters == nil {
		c.Docker.Parameters = []marathon.Parameter{}
	}
	for i := range c.PortMappings {
		pm := &c.PortMappings[i]
		if pm.Protocol == "" {
			pm.Protocol = "tcp"
		}
		pm.Labels = nilIfEmptyMap(pm.Labels)
		pm.NetworkNames = nilIfEmpty(pm.NetworkNames)
	}
}

// httpish protocols have a path.
func httpish(protocol string) bool {
	switch protocol {
	case "HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS":
		return true
	}
	return false
}

func normalizeChecks(app *marathon.App) {
	if app.HealthChecks == nil {
		app.HealthChecks = []marathon.HealthCheck{}
	}
	for i := range app.HealthChecks {
		hc := &app.HealthChecks[i]
		if hc.Protocol == "" {
			hc.Protocol = "HTTP"
		}
		if hc.Path == "" && httpish(hc.Protocol) {
			hc.Path = "/"
		}
		if hc.PortIndex == nil && hc.Port == nil && hc.Protocol != "COMMAND" {
			hc.PortIndex = new(int)
		}
	}
	if app.ReadinessChecks == nil {
		app.ReadinessChecks = []marathon.ReadinessCheck{}
	}
	for i := range app.ReadinessChecks {
		if app.ReadinessChecks[i].HTTPStatusCodesForReady == nil {
			app.ReadinessChecks[i].HTTPStatusCodesForReady = []int{200}
		}
	}
	if app.Check != nil && app.Check.Exec != nil {
		app.Check.Exec.Command.Argv = nilIfEmpty(app.Check.Exec.Command.Argv)
	}
}

// isResident reports whether the app has local persistent volumes.
func isResident(app marathon.App) bool {
	return app.Container != nil && slices.ContainsFunc(app.Container.Volumes, func(v marathon.Volume) bool { return v.Persistent != nil })
}

// normalizeStrategies fills the upgrade and unreachable strategies, which
// differ for resident apps (reference §11 item 6).
func normalizeStrategies(app *marathon.App) {
	resident := isResident(*app)
	if app.UpgradeStrategy == nil {
		if resident {
			app.UpgradeStrategy = &marathon.UpgradeStrategy{MinimumHealthCapacity: 0.5, MaximumOverCapacity: 0}
		} else {
			app.UpgradeStrategy = &marathon.UpgradeStrategy{MinimumHealthCapacity: 1, MaximumOverCapacity: 1}
		}
	}
	if app.UnreachableStrategy == nil {
		if resident {
			app.UnreachableStrategy = &marathon.UnreachableStrategy{Disabled: true}
		} else {
			app.UnreachableStrategy = &marathon.UnreachableStrategy{}
		}
	}
	if resident && app.Residency == nil {
		app.Residency = &marathon.Residency{RelaunchEscalationTimeoutSeconds: 3600, TaskLostBehavior: "WAIT_FOREVER"}
	}
}
