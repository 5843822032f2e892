package dns

import (
	"bufio"
	"net/netip"
	"os"
	"strings"
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
