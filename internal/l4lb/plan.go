package l4lb

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"github.com/basalt-dcos/basalt/internal/dns/records"
)

// vipKey identifies one listener: address, port and protocol.
type vipKey struct {
	IP    netip.Addr
	Port  uint16
	Proto string // "tcp" or "udp"
}

func (k vipKey) String() string {
	return fmt.Sprintf("%s/%s", k.Proto, netip.AddrPortFrom(k.IP, k.Port))
}

func compareKeys(a, b vipKey) int {
	if c := a.IP.Compare(b.IP); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Port, b.Port); c != 0 {
		return c
	}
	return cmp.Compare(a.Proto, b.Proto)
}

// normalize turns the desired VIPs into one sorted, de-duplicated backend
// list per key. Entries that cannot be served (invalid address, port 0,
// unknown protocol) are reported and left out; two entries with the same
// key (e.g. the same IP VIP declared by two frameworks) are merged.
func normalize(vips []records.VIP) (map[vipKey][]netip.AddrPort, []error) {
	out := make(map[vipKey][]netip.AddrPort, len(vips))
	var errs []error
	for _, v := range vips {
		k := vipKey{IP: v.IP.Unmap().WithZone(""), Port: v.Port, Proto: v.Protocol}
		switch {
		case !k.IP.IsValid() || k.IP.IsUnspecified():
			errs = append(errs, fmt.Errorf("vip %q: invalid address %s", v.FQDN, v.IP))
			continue
		case k.Port == 0:
			errs = append(errs, fmt.Errorf("vip %s: port 0", k))
			continue
		case k.Proto != "tcp" && k.Proto != "udp":
			errs = append(errs, fmt.Errorf("vip %s: unknown protocol %q", k, v.Protocol))
			continue
		}
		bs := out[k]
		if bs == nil {
			bs = []netip.AddrPort{} // present with no backends: still listen, refuse connections
		}
		for _, b := range v.Backends {
			ip := b.IP.Unmap()
			if !ip.IsValid() || b.Port == 0 {
				errs = append(errs, fmt.Errorf("vip %s: backend %s (task %s): invalid address", k, netip.AddrPortFrom(b.IP, b.Port), b.TaskID))
				continue
			}
			bs = append(bs, netip.AddrPortFrom(ip, b.Port))
		}
		out[k] = bs
	}
	for k, bs := range out {
		slices.SortFunc(bs, netip.AddrPort.Compare)
		out[k] = slices.Compact(bs)
	}
	return out, errs
}

// plan is what one apply must change, each list sorted by key.
type plan struct {
	add    []vipKey // listen anew
	update []vipKey // same listener, different backends
	remove []vipKey // stop listening, drain
}

func (p plan) empty() bool { return len(p.add)+len(p.update)+len(p.remove) == 0 }

// diff compares what is applied with what is desired. Unchanged VIPs are not
// mentioned, so an apply after a state change that did not touch VIPs does
// nothing.
func diff(current, desired map[vipKey][]netip.AddrPort) plan {
	var p plan
	for k, want := range desired {
		have, ok := current[k]
		switch {
		case !ok:
			p.add = append(p.add, k)
		case !slices.Equal(have, want):
			p.update = append(p.update, k)
		}
	}
	for k := range current {
		if _, ok := desired[k]; !ok {
			p.remove = append(p.remove, k)
		}
	}
	slices.SortFunc(p.add, compareKeys)
	slices.SortFunc(p.update, compareKeys)
	slices.SortFunc(p.remove, compareKeys)
	return p
}
