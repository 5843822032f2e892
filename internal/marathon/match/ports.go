package match

import (
	"github.com/basalt-dcos/basalt/pkg/marathon"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// netMode is the app's kind of networking, decided by its first network
// (Marathon forbids mixing modes).
type netMode int

const (
	modeHost      netMode = iota // "host" (also no networks)
	modeBridge                   // "container/bridge"
	modeContainer                // "container" (named CNI/overlay networks)
)

func networkMode(app marathon.App) netMode {
	if len(app.Networks) == 0 {
		return modeHost
	}
	switch app.Networks[0].Mode {
	case "container/bridge":
		return modeBridge
	case "container":
		return modeContainer
	}
	return modeHost
}

// Host port kinds of a portSpec besides a literal port number.
const (
	hostNone    = -1 // no host port (container mode mapping without hostPort)
	hostDynamic = 0  // any free port of the offer
)

// portSpec is one port of the app: a port definition (host networking) or a
// port mapping (container networking), reduced to what matching and task
// building need.
type portSpec struct {
	name          string
	protocol      string
	labels        map[string]string
	host          int      // hostNone, hostDynamic or the literal host port
	containerPort int      // 0: same as the host port (container modes only)
	networks      []string // networkNames of a mapping
}

// portSpecs lists app's ports in order.
func portSpecs(app marathon.App) []portSpec {
	if networkMode(app) == modeHost {
		out := make([]portSpec, 0, len(app.PortDefinitions))
		for _, pd := range app.PortDefinitions {
			host := hostDynamic
			if app.RequirePorts && pd.Port > 0 {
				host = pd.Port
			}
			out = append(out, portSpec{name: pd.Name, protocol: pd.Protocol, labels: pd.Labels, host: host})
		}
		return out
	}
	out := make([]portSpec, 0, len(mappings(app)))
	for _, pm := range mappings(app) {
		host := hostNone
		if pm.HostPort != nil {
			host = max(*pm.HostPort, hostDynamic)
		}
		out = append(out, portSpec{name: pm.Name, protocol: pm.Protocol, labels: pm.Labels, host: host, containerPort: pm.ContainerPort, networks: pm.NetworkNames})
	}
	return out
}

// mappings returns the app's port mappings; the deprecated
// docker.portMappings is read when appdef has not folded it.
func mappings(app marathon.App) []marathon.PortMapping {
	if app.Container == nil {
		return nil
	}
	if len(app.Container.PortMappings) == 0 && app.Container.Docker != nil {
		return app.Container.Docker.PortMappings
	}
	return app.Container.PortMappings
}

// portSource is one offered "ports" resource the task may take ports from.
type portSource struct {
	res    mesosv1.Resource
	ranges []mesosv1.ValueRange
	picked []uint64
}

func (s *portSource) contains(p uint64) bool {
	for _, r := range s.ranges {
		if p >= r.Begin && p <= r.End {
			return true
		}
	}
	return false
}

// assignPorts picks one host port per spec from rs (taken in order): literal
// ports first, then the lowest free port of the earliest source for each
// dynamic one. It returns the host ports by spec (0 for hostNone) and the
// taken ports as one ranges resource per source.
func assignPorts(rs []mesosv1.Resource, specs []portSpec) ([]int, []mesosv1.Resource, bool) {
	hostPorts := make([]int, len(specs))
	if len(specs) == 0 {
		return hostPorts, nil, true
	}
	var sources []*portSource
	for _, r := range rs {
		if r.Name == mesosv1.ResPorts && r.Type == mesosv1.Ranges && r.Ranges != nil && len(r.Ranges.Range) > 0 {
			sources = append(sources, &portSource{res: r, ranges: r.Ranges.Range})
		}
	}
	taken := map[uint64]bool{}
	for i, s := range specs {
		if s.host <= hostDynamic {
			continue
		}
		p := uint64(s.host)
		if taken[p] {
			return nil, nil, false
		}
		src := findSource(sources, p)
		if src == nil {
			return nil, nil, false
		}
		taken[p] = true
		src.picked = append(src.picked, p)
		hostPorts[i] = s.host
	}
	for i, s := range specs {
		if s.host != hostDynamic {
			continue
		}
		src, p, ok := lowestFree(sources, taken)
		if !ok {
			return nil, nil, false
		}
		taken[p] = true
		src.picked = append(src.picked, p)
		hostPorts[i] = int(p)
	}
	var out []mesosv1.Resource
	for _, src := range sources {
		if len(src.picked) == 0 {
			continue
		}
		c := copyResource(src.res)
		rg := make([]mesosv1.ValueRange, len(src.picked))
		for i, p := range src.picked {
			rg[i] = mesosv1.ValueRange{Begin: p, End: p}
		}
		c.Ranges = &mesosv1.ValueRanges{Range: rg}
		out = append(out, c)
	}
	return hostPorts, out, true
}

func findSource(sources []*portSource, p uint64) *portSource {
	for _, s := range sources {
		if s.contains(p) {
			return s
		}
	}
	return nil
}

// maxPort bounds dynamic picks: offered ranges beyond it are not usable
// ports even if an agent advertises them.
const maxPort = 65535

// lowestFree returns the lowest port in the earliest source that is not in
// taken. Walking past taken ports is bounded by len(taken).
func lowestFree(sources []*portSource, taken map[uint64]bool) (*portSource, uint64, bool) {
	for _, s := range sources {
		for _, r := range s.ranges {
			for p := max(r.Begin, 1); p <= r.End && p <= maxPort; p++ {
				if !taken[p] {
					return s, p, true
				}
			}
		}
	}
	return nil, 0, false
}
