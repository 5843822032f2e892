package dns

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"unicode/utf8"
)

// HostResolvers reads the nameservers of a resolv.conf file (normally
// /etc/resolv.conf) as "ip:53" upstreams. Addresses for which self reports
// true are left out, so a host whose resolv.conf points at Basalt's own DNS
// does not make it forward to itself. A missing file gives none.
func HostResolvers(path string, self func(netip.AddrPort) bool) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(fields[1])
		if err != nil {
			continue
		}
		ap := netip.AddrPortFrom(a.Unmap(), 53)
		if self != nil && self(ap) {
			continue
		}
		out = append(out, ap.String())
	}
	return out
}

// TaskNameserver is the address a task's resolv.conf names for the agent's
// DNS server listening on listen (the agent's --dns-listen). A resolv.conf
// cannot name a port, so the server must listen on port 53; an unspecified
// address (":53", "0.0.0.0:53", "[::]:53") is reached on loopback, which a
// task on the host's network shares with the agent.
func TaskNameserver(listen string) (netip.Addr, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("dns listen address %q: %w", listen, err)
	}
	if port != "53" {
		return netip.Addr{}, fmt.Errorf("dns listen address %q: a resolv.conf can only name port 53, not %s", listen, port)
	}
	if host == "" {
		return netip.AddrFrom4([4]byte{127, 0, 0, 1}), nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("dns listen address %q: a resolv.conf needs an IP address: %w", listen, err)
	}
	a = a.Unmap()
	switch {
	case a == netip.IPv4Unspecified():
		return netip.AddrFrom4([4]byte{127, 0, 0, 1}), nil
	case a == netip.IPv6Unspecified():
		return netip.IPv6Loopback(), nil
	}
	return a, nil
}

// TaskResolvConf is the resolv.conf of a task that resolves through the
// agent's DNS server at nameserver: that one nameserver, then the search
// list, domain, sortlist and options of the host's resolv.conf (host; nil or
// empty when the host has none), in their order. The host's nameservers are
// left out on purpose: the agent's server forwards every name it does not
// serve to them, and a resolver that asks several servers at once (musl
// does) would otherwise take an upstream's NXDOMAIN for a .mesos name.
// Comments, unknown keywords and lines with control characters are dropped.
func TaskResolvConf(host []byte, nameserver netip.Addr) []byte {
	var b strings.Builder
	b.WriteString("# Written by the Basalt agent: the agent's DNS server (--dns-listen),\n")
	b.WriteString("# then the search list and options of the host's /etc/resolv.conf.\n")
	b.WriteString("nameserver " + nameserver.String() + "\n")
	for line := range strings.Lines(string(host)) {
		fields := strings.Fields(line)
		if len(fields) < 2 || strings.ContainsFunc(line, func(r rune) bool {
			return r != '\t' && r != '\n' && r != '\r' && (r < ' ' || r == 0x7f || r == utf8.RuneError)
		}) {
			continue
		}
		switch fields[0] {
		case "search", "domain", "sortlist", "options":
			b.WriteString(strings.Join(fields, " ") + "\n")
		}
	}
	return []byte(b.String())
}

// ParseForwardZones parses --dns-forward-zones entries, "zone=ip[:port]|ip[:port]",
// into Config.ForwardZones (zones lower case with a final dot, upstreams
// ip:port), reporting every bad entry.
func ParseForwardZones(entries []string) (map[string][]string, error) {
	out := map[string][]string{}
	var errs []error
	for _, e := range entries {
		zone, ups, ok := strings.Cut(strings.TrimSpace(e), "=")
		zone = strings.ToLower(strings.Trim(strings.TrimSpace(zone), "."))
		if !ok || zone == "" || ups == "" {
			errs = append(errs, fmt.Errorf("dns-forward-zones entry %q: want zone=ip[:port]|ip[:port]", e))
			continue
		}
		for _, u := range strings.Split(ups, "|") {
			hp, err := UpstreamAddr(u)
			if err != nil {
				errs = append(errs, fmt.Errorf("dns-forward-zones entry %q: %w", e, err))
				continue
			}
			out[zone+"."] = append(out[zone+"."], hp)
		}
	}
	return out, errors.Join(errs...)
}
