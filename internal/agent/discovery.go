package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/basalt-dcos/basalt/internal/dns"
	"github.com/basalt-dcos/basalt/internal/dns/records"
	"github.com/basalt-dcos/basalt/internal/l4lb"
	"github.com/basalt-dcos/basalt/pkg/operator"
)

// DiscoveryConfig is the agent's share of service discovery (the dcos-dns
// and dcos-l4lb roles of a DC/OS agent): a local DNS server for tasks and a
// balancer for named VIPs. Both follow the leading master's operator event
// stream, so the agent answers `.mesos` and `thisdcos.directory` names from
// its own copy of the records (the same records the masters serve) and
// keeps answering while the masters fail over.
type DiscoveryConfig struct {
	DNSListen    string   `flag:"dns-listen" help:"address of the agent's local DNS server for tasks, UDP and TCP (dcos-dns uses 198.51.100.1:53); on port 53, mesos runtime tasks get a resolv.conf naming it; empty: off"`
	DNSResolvers []string `flag:"dns-resolvers" help:"upstream resolvers (ip or ip:port) for names outside the cluster (default: the nameservers of /etc/resolv.conf)"`
	DNSDomain    string   `flag:"dns-domain" help:"the Mesos-DNS domain (as on the masters)"`
	// The rest shape the answers as the masters' flags of the same names
	// do: give an agent the masters' values, so that tasks get the same
	// answers from it as from a master.
	DNSIPSources     []string      `flag:"dns-ip-sources" help:"where a task's address comes from, in order: host, netinfo, mesos, docker (as on the masters)"`
	DNSEnforceRFC952 bool          `flag:"dns-enforce-rfc952" help:"limit labels to 24 characters with no leading digit (as on the masters)"`
	DNSTTL           time.Duration `flag:"dns-ttl" help:"TTL of records in the Mesos-DNS domain (as on the masters)"`
	DNSForwardZones  []string      `flag:"dns-forward-zones" help:"per-zone upstreams: zone=ip[:port]|ip[:port],... (as on the masters)"`
	L4LB             bool          `flag:"l4lb" help:"balance named VIPs (11.0.0.0/8 by default) on this agent; adding VIP addresses needs root"`
	L4LBIface        string        `flag:"l4lb-interface" help:"interface the VIP addresses are added to"`
	VIPRange         string        `flag:"vip-range" help:"address range of named VIPs (as on the masters)"`
}

// DefaultDiscoveryConfig has both parts off.
func DefaultDiscoveryConfig() DiscoveryConfig {
	return DiscoveryConfig{
		DNSDomain:    records.DefaultConfig().Domain,
		DNSIPSources: records.DefaultConfig().IPSources,
		DNSTTL:       dns.DefaultConfig().TTL,
		L4LBIface:    l4lb.DefaultConfig().Interface,
		VIPRange:     records.DefaultConfig().VIPRange.String(),
	}
}

func (c DiscoveryConfig) enabled() bool { return c.DNSListen != "" || c.L4LB }

// validate reports every problem at once.
func (c DiscoveryConfig) validate() error {
	if !c.enabled() {
		return nil
	}
	var errs []error
	if c.DNSListen != "" {
		if _, _, err := net.SplitHostPort(c.DNSListen); err != nil {
			errs = append(errs, fmt.Errorf("dns-listen %q: %w", c.DNSListen, err))
		}
	}
	if _, err := netip.ParsePrefix(c.VIPRange); err != nil {
		errs = append(errs, fmt.Errorf("vip-range %q: %w", c.VIPRange, err))
	}
	for _, r := range c.DNSResolvers {
		if _, err := dns.UpstreamAddr(r); err != nil {
			errs = append(errs, fmt.Errorf("dns-resolvers: %w", err))
		}
	}
	if err := records.CheckIPSources(c.DNSIPSources); err != nil {
		errs = append(errs, fmt.Errorf("dns-ip-sources: %w", err))
	}
	if _, err := dns.ParseForwardZones(c.DNSForwardZones); err != nil {
		errs = append(errs, err)
	}
	if c.DNSTTL < 0 {
		errs = append(errs, errors.New("dns-ttl must not be negative"))
	}
	return errors.Join(errs...)
}

// discovery is the running DNS server and VIP balancer of an agent.
type discovery struct {
	follower *operator.Follower
	node     *dns.Node      // nil when DNSListen is empty
	lb       *l4lb.Balancer // nil when L4LB is off
	rcfg     records.Config
	masters  []netip.Addr
}

// newDiscovery builds what the config enables (no I/O).
func (a *Agent) newDiscovery() (*discovery, error) {
	c := a.cfg.Discovery
	if !c.enabled() {
		return nil, nil
	}
	d := &discovery{
		follower: &operator.Follower{
			Masters: a.cfg.Masters,
			HTTP:    &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute}},
			Logger:  a.log,
		},
	}
	d.rcfg = records.DefaultConfig()
	d.rcfg.Domain = c.DNSDomain
	if len(c.DNSIPSources) > 0 {
		d.rcfg.IPSources = c.DNSIPSources
	}
	d.rcfg.EnforceRFC952 = c.DNSEnforceRFC952
	d.rcfg.VIPRange, _ = netip.ParsePrefix(c.VIPRange)
	for _, m := range a.cfg.Masters {
		if u, err := url.Parse(m); err == nil {
			if ip, err := netip.ParseAddr(u.Hostname()); err == nil {
				d.masters = append(d.masters, ip)
			}
		}
	}
	if c.L4LB {
		lcfg := l4lb.DefaultConfig()
		lcfg.Interface = c.L4LBIface
		lb, err := l4lb.New(lcfg, a.log)
		if err != nil {
			return nil, fmt.Errorf("l4lb: %w", err)
		}
		d.lb = lb
	}
	if c.DNSListen != "" {
		scfg := dns.DefaultConfig()
		scfg.Domain = d.rcfg.Domain
		scfg.SOAMname = "ns1." + d.rcfg.Domain
		scfg.SOARname = "root.ns1." + d.rcfg.Domain
		scfg.Recurse = true
		if c.DNSTTL > 0 {
			scfg.TTL = c.DNSTTL
		}
		scfg.ForwardZones, _ = dns.ParseForwardZones(c.DNSForwardZones) // checked by validate
		resolvers := c.DNSResolvers
		if len(resolvers) == 0 {
			resolvers = dns.HostResolvers(hostResolvConf, isSelf(c.DNSListen))
		}
		for _, r := range resolvers {
			hp, _ := dns.UpstreamAddr(r)
			scfg.Resolvers = append(scfg.Resolvers, hp)
		}
		var onVIPs func([]records.VIP)
		if d.lb != nil {
			onVIPs = d.lb.Sync
		}
		n, err := dns.NewNode(dns.NodeConfig{Server: scfg, Records: d.rcfg, Masters: d.masters, Listen: c.DNSListen}, d.follower, onVIPs, a.log)
		if err != nil {
			return nil, fmt.Errorf("dns: %w", err)
		}
		d.node = n
	}
	return d, nil
}

// run starts the follower, the DNS node and the balancer in g.
func (d *discovery) run(ctx context.Context, g *errgroup.Group) {
	g.Go(func() error {
		defer d.follower.HTTP.CloseIdleConnections() // no keep-alive goroutines outlive the agent
		if err := d.follower.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("follow the leading master: %w", err)
		}
		return nil
	})
	if d.lb != nil {
		g.Go(func() error { return d.lb.Run(ctx) })
	}
	if d.node != nil {
		g.Go(func() error { return d.node.Run(ctx) })
		return
	}
	// VIPs only: rebuild on every change and hand the VIPs to the balancer.
	g.Go(func() error {
		for {
			st := d.follower.State()
			t := records.Build(d.rcfg, &records.State{Leader: st.Leader, Masters: d.masters, Agents: st.Agents, Frameworks: st.Frameworks, Tasks: st.Tasks})
			d.lb.Sync(t.VIPs)
			select {
			case <-ctx.Done():
				return nil
			case <-d.follower.Changed():
			}
		}
	})
}

// isSelf tells whether a nameserver of the host's resolv.conf is the
// agent's own DNS server listening on listen, which must not forward to
// itself: the listen address itself, or with an unspecified address any
// loopback address on its port. Another server on the same host (say
// systemd-resolved's 127.0.0.53:53 beside an agent on 127.0.1.53:53) is an
// upstream like any other.
func isSelf(listen string) func(netip.AddrPort) bool {
	host, port, _ := net.SplitHostPort(listen)
	ip, err := netip.ParseAddr(host)
	unspecified := host == "" || (err == nil && ip.IsUnspecified())
	return func(ap netip.AddrPort) bool {
		if fmt.Sprint(ap.Port()) != port {
			return false
		}
		if unspecified {
			return ap.Addr().IsLoopback()
		}
		return err == nil && ap.Addr() == ip.Unmap()
	}
}

// hostResolvConf is the host's resolver configuration, read at every launch
// (DHCP may rewrite it) for its search list and options.
const hostResolvConf = "/etc/resolv.conf"

// taskResolvConf makes the resolv.conf of the mesos runtime's containers
// when the agent runs a DNS server for its tasks: the server's address (on
// port 53, the only one a resolv.conf can name) and the host's search list
// and options. Nil — containers keep the host's resolv.conf — when the agent
// runs no DNS server, or one that a resolv.conf cannot name (a warning says
// so).
func taskResolvConf(c DiscoveryConfig, log *slog.Logger) func() ([]byte, error) {
	if c.DNSListen == "" {
		return nil
	}
	ns, err := dns.TaskNameserver(c.DNSListen)
	if err != nil {
		log.Warn("tasks keep the host's resolv.conf: the agent's DNS server cannot be named in one", "error", err)
		return nil
	}
	log.Info("mesos runtime tasks resolve through the agent's DNS server", "nameserver", ns.String())
	return func() ([]byte, error) {
		host, err := os.ReadFile(hostResolvConf)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read the host's %s: %w", hostResolvConf, err)
		}
		return dns.TaskResolvConf(host, ns), nil
	}
}
