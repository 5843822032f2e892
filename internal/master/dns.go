package master

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/basalt-dcos/basalt/internal/dns"
	"github.com/basalt-dcos/basalt/internal/dns/records"
	"github.com/basalt-dcos/basalt/internal/iam"
	"github.com/basalt-dcos/basalt/pkg/operator"
)

// DNSConfig is the master's DNS role: Mesos-DNS (`.mesos`) and dcos-dns
// (`thisdcos.directory`) records of the cluster, forwarding for other names,
// and the Mesos-DNS HTTP API.
type DNSConfig struct {
	Enabled       bool          `flag:"dns" help:"serve the cluster's DNS (.mesos and thisdcos.directory records, forwarding) on this master"`
	Listen        string        `flag:"dns-listen" help:"DNS listen address, UDP and TCP (DC/OS: :61053; port 0 picks a free port)"`
	HTTPListen    string        `flag:"dns-http-listen" help:"listen address of the Mesos-DNS HTTP API (/v1/hosts, /v1/services, ...; empty: off)"`
	Domain        string        `flag:"dns-domain" help:"the Mesos-DNS domain"`
	TTL           time.Duration `flag:"dns-ttl" help:"TTL of records in the Mesos-DNS domain"`
	Resolvers     []string      `flag:"dns-resolvers" help:"upstream resolvers (ip or ip:port) for other names (default: the nameservers of /etc/resolv.conf)"`
	ForwardZones  []string      `flag:"dns-forward-zones" help:"per-zone upstreams: zone=ip[:port]|ip[:port],..."`
	Recurse       bool          `flag:"dns-recurse" help:"forward names outside the cluster's zones to the resolvers"`
	Timeout       time.Duration `flag:"dns-timeout" help:"timeout of one upstream query"`
	IPSources     []string      `flag:"dns-ip-sources" help:"where a task's address comes from, in order: host, netinfo, mesos, docker"`
	EnforceRFC952 bool          `flag:"dns-enforce-rfc952" help:"limit labels to 24 characters with no leading digit"`
	VIPRange      string        `flag:"vip-range" help:"address range of named VIPs (minuteman_min_named_ip..max)"`
}

// DefaultDNSConfig returns DC/OS's values.
func DefaultDNSConfig() DNSConfig {
	r := records.DefaultConfig()
	s := dns.DefaultConfig()
	return DNSConfig{
		Enabled:    true,
		Listen:     ":61053",
		HTTPListen: ":8123",
		Domain:     r.Domain,
		TTL:        s.TTL,
		Recurse:    true,
		Timeout:    s.Timeout,
		IPSources:  r.IPSources,
		VIPRange:   r.VIPRange.String(),
	}
}

// Validate reports every problem at once.
func (c DNSConfig) Validate() error {
	if !c.Enabled {
		return nil
	}
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("dns-listen %q: %w", c.Listen, err))
	}
	if c.HTTPListen != "" {
		if _, _, err := net.SplitHostPort(c.HTTPListen); err != nil {
			errs = append(errs, fmt.Errorf("dns-http-listen %q: %w", c.HTTPListen, err))
		}
	}
	if _, err := c.nodeConfig("127.0.0.1", nil, nil); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// nodeConfig maps the flags onto the DNS node's config. masters are the
// masters' addresses; resolvers overrides c.Resolvers when c.Resolvers is
// empty (the host's nameservers).
func (c DNSConfig) nodeConfig(ip string, masters []netip.Addr, hostResolvers []string) (dns.NodeConfig, error) {
	var errs []error
	rc := records.DefaultConfig()
	rc.Domain = strings.Trim(strings.ToLower(c.Domain), ".")
	rc.IPSources = c.IPSources
	rc.EnforceRFC952 = c.EnforceRFC952
	if p, err := netip.ParsePrefix(c.VIPRange); err != nil {
		errs = append(errs, fmt.Errorf("vip-range %q: %w", c.VIPRange, err))
	} else {
		rc.VIPRange = p
	}
	if err := records.CheckIPSources(c.IPSources); err != nil {
		errs = append(errs, fmt.Errorf("dns-ip-sources: %w", err))
	}
	sc := dns.DefaultConfig()
	sc.Domain = rc.Domain
	sc.TTL = c.TTL
	sc.Timeout = c.Timeout
	sc.Recurse = c.Recurse
	sc.SOAMname = "ns1." + rc.Domain
	sc.SOARname = "root.ns1." + rc.Domain
	resolvers := c.Resolvers
	if len(resolvers) == 0 {
		resolvers = hostResolvers
	}
	for _, r := range resolvers {
		hp, err := dns.UpstreamAddr(r)
		if err != nil {
			errs = append(errs, fmt.Errorf("dns-resolvers: %w", err))
			continue
		}
		sc.Resolvers = append(sc.Resolvers, hp)
	}
	zones, err := parseForwardZones(c.ForwardZones)
	if err != nil {
		errs = append(errs, err)
	}
	sc.ForwardZones = zones
	if len(masters) > 0 {
		sc.NSAddrs = masters
	} else if a, err := netip.ParseAddr(ip); err == nil {
		sc.NSAddrs = []netip.Addr{a}
	}
	if err := sc.Validate(); err != nil {
		errs = append(errs, err)
	}
	return dns.NodeConfig{Server: sc, Records: rc, Masters: sc.NSAddrs, Listen: c.Listen, HTTPListen: c.HTTPListen}, errors.Join(errs...)
}

// parseForwardZones parses "zone=ip[:port]|ip[:port]" entries (the agent
// takes the same flag).
func parseForwardZones(entries []string) (map[string][]string, error) {
	return dns.ParseForwardZones(entries)
}

// masterAddrs are the masters' IPs for master.<domain>: the hosts of
// --masters, else this master's own IP.
func masterAddrs(c Config, ip string) []netip.Addr {
	var out []netip.Addr
	members, _ := parseMasters(c.Masters, c.StorePeerPort)
	for _, m := range members {
		host := m.PeerURL
		host = strings.TrimPrefix(host, "http://")
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if a, err := netip.ParseAddr(host); err == nil {
			out = append(out, a.Unmap())
		}
	}
	if len(out) == 0 {
		if a, err := netip.ParseAddr(ip); err == nil {
			out = append(out, a.Unmap())
		}
	}
	return out
}

// newDNS builds the master's DNS node and the follower of the leading
// master's state that feeds it. The follower starts at this master's own
// URL: a standby's /master/redirect names the leader. With API TLS (peer) it
// follows over TLS, as this master.
func (m *Master) newDNS(ip, baseURL string, peer *tlsFront) (*dns.Node, *operator.Follower, error) {
	_, lport, _ := net.SplitHostPort(m.cfg.DNS.Listen)
	self := func(ap netip.AddrPort) bool {
		return strconv.Itoa(int(ap.Port())) == lport && (ap.Addr().IsLoopback() || ap.Addr().String() == ip)
	}
	ncfg, err := m.cfg.DNS.nodeConfig(ip, masterAddrs(m.cfg, ip), dns.HostResolvers("/etc/resolv.conf", self))
	if err != nil {
		return nil, nil, fmt.Errorf("dns: %w", err)
	}
	ncfg.HTTPGuard = func(h http.Handler) http.Handler { return m.guard("Mesos-DNS", dnsPortRID, nil, h) }
	f := &operator.Follower{
		Masters: []string{baseURL},
		HTTP:    m.systemClient(peer.peerClient(&http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}}, 4), iam.SystemMesosDNS),
		Logger:  m.log,
	}
	n, err := dns.NewNode(ncfg, f, nil, m.log)
	if err != nil {
		return nil, nil, fmt.Errorf("dns: %w", err)
	}
	return n, f, nil
}

// DNSAddr is the DNS server's bound address ("" when off or before Ready).
func (m *Master) DNSAddr() string {
	if n := m.dns.Load(); n != nil {
		return n.Addr()
	}
	return ""
}

// DNSHTTPURL is the base URL of the Mesos-DNS HTTP API ("" when off).
func (m *Master) DNSHTTPURL() string {
	if n := m.dns.Load(); n != nil && n.HTTPAddr() != "" {
		return baseURLOf(n.HTTPAddr())
	}
	return ""
}

// DNS is the master's DNS node (nil when off), for tests.
func (m *Master) DNS() *dns.Node { return m.dns.Load() }

// baseURLOf makes a local URL of a bound address: an unspecified host
// becomes 127.0.0.1.
func baseURLOf(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if a, err := netip.ParseAddr(host); err == nil && a.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
