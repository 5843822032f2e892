package records

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// VIPSpec is a parsed VIP label value.
type VIPSpec struct {
	// Name is the sanitised name of a named VIP ("my-service"), empty for
	// an IP VIP.
	Name string
	// IP is the address of an IP VIP (invalid for a named VIP).
	IP   netip.Addr
	Port uint16
	// Protocol is "tcp" or "udp" when the value carried a scheme
	// ("tcp://..."), else empty: the port's protocol applies.
	Protocol string
}

var (
	errVIPNoPort   = errors.New("VIP has no :port")
	errVIPBadPort  = errors.New("VIP port is not a number from 1 to 65535")
	errVIPNoName   = errors.New("VIP name is empty after sanitising")
	errVIPBadProto = errors.New("VIP protocol is neither tcp nor udp")
)

// ParseVIPLabel parses a VIP label value (reference §4.4): "<name>:<port>"
// ("/my-service:5555") or "<ip>:<port>" ("1.2.3.4:80", "[fd00::1]:80"),
// optionally prefixed by "tcp://" or "udp://" as legacy VIP_PORT<i> task
// labels are. Names are sanitised with VIPName.
func ParseVIPLabel(v string) (VIPSpec, error) {
	var spec VIPSpec
	v = strings.TrimSpace(v)
	if scheme, rest, ok := strings.Cut(v, "://"); ok {
		switch strings.ToLower(scheme) {
		case "tcp", "udp":
			spec.Protocol = strings.ToLower(scheme)
		default:
			return VIPSpec{}, fmt.Errorf("parse VIP %q: %w", v, errVIPBadProto)
		}
		v = rest
	}
	i := strings.LastIndexByte(v, ':')
	if i < 0 {
		return VIPSpec{}, fmt.Errorf("parse VIP %q: %w", v, errVIPNoPort)
	}
	host, portStr := v[:i], v[i+1:]
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return VIPSpec{}, fmt.Errorf("parse VIP %q: %w", v, errVIPBadPort)
	}
	spec.Port = uint16(port)
	h := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if ip, err := netip.ParseAddr(h); err == nil && ip.Zone() == "" {
		spec.IP = ip.Unmap()
		return spec, nil
	}
	if spec.Name = VIPName(host); spec.Name == "" {
		return VIPSpec{}, fmt.Errorf("parse VIP %q: %w", v, errVIPNoName)
	}
	return spec, nil
}

// vipAllocator hands out named VIP addresses from a range.
//
// Every node builds its own Table and they must agree on each named VIP's
// address without talking to each other, so the address is a function of
// the set of named VIPs alone: a VIP's home is SHA-256("<framework>/<name>")
// modulo the range size; names are placed in sorted order and a name whose
// home is taken probes the next addresses (wrapping round) until it finds a
// free one. The range's first and last addresses, and addresses used by IP
// VIPs, are never handed out.
//
// Consequence, and the rare case where an address moves: a VIP keeps its
// address for as long as the set of names does not change around it. When
// a new name appears whose probe sequence reaches an address held by a
// name that sorts after it, the later name is pushed on; likewise an IP VIP
// declared on a named VIP's address pushes it, and removing a name can let
// a displaced one move back home. With a /8 (16.7 million addresses) and
// hundreds of VIPs a collision at all is about one in a hundred thousand.
type vipAllocator struct {
	base  netip.Addr
	size  uint64 // addresses in the range (capped at 2^63)
	taken map[netip.Addr]bool
}

func newVIPAllocator(rng netip.Prefix, taken map[netip.Addr]bool) (*vipAllocator, bool) {
	if !rng.IsValid() {
		return nil, false
	}
	rng = rng.Masked()
	hostBits := rng.Addr().BitLen() - rng.Bits()
	if hostBits < 2 {
		return nil, false // no room once the first and last are excluded
	}
	size := uint64(1) << 63
	if hostBits < 63 {
		size = uint64(1) << hostBits
	}
	return &vipAllocator{base: rng.Addr(), size: size, taken: taken}, true
}

// addr is the range's address at offset off.
func (a *vipAllocator) addr(off uint64) netip.Addr {
	if a.base.Is4() {
		b := a.base.As4()
		v := binary.BigEndian.Uint32(b[:]) + uint32(off)
		binary.BigEndian.PutUint32(b[:], v)
		return netip.AddrFrom4(b)
	}
	b := a.base.As16()
	// off < 2^63 fits in the low 64 bits, which are zero in a masked
	// prefix of /64 or shorter and have room for off otherwise.
	lo := binary.BigEndian.Uint64(b[8:]) + off
	binary.BigEndian.PutUint64(b[8:], lo)
	return netip.AddrFrom16(b)
}

// allocate gives key ("<framework>/<name>") its address. Call it for the
// keys in sorted order. ok is false when the range is full.
func (a *vipAllocator) allocate(key string) (netip.Addr, bool) {
	sum := sha256.Sum256([]byte(key))
	usable := a.size - 2
	home := binary.BigEndian.Uint64(sum[:8]) % usable
	for i := uint64(0); i < usable && i < uint64(len(a.taken))+1; i++ {
		ip := a.addr(1 + (home+i)%usable)
		if !a.taken[ip] {
			a.taken[ip] = true
			return ip, true
		}
	}
	return netip.Addr{}, false
}
