package l4lb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"syscall"

	"github.com/basalt-dcos/basalt/internal/dns/records"
)

// backend is a data path that makes VIPs answer. The userspace proxy is the
// one that runs everywhere; an IPVS backend can implement the same two
// methods where the kernel offers it. sync and close are called from one
// goroutine (the Balancer's Run loop).
type backend interface {
	// sync makes the data path match desired, touching only VIPs that
	// changed. It is idempotent; an error says which VIPs are not served.
	sync(desired []records.VIP) error
	// close stops serving every VIP and undoes every change sync made.
	close() error
	// status describes what is applied.
	status() backendStatus
}

type backendStatus struct {
	addresses []netip.Addr
	vips      []VIPStatus
}

// addrManager puts VIP addresses on an interface. add reports added=false
// when the address was already present (then it is never removed).
type addrManager interface {
	add(ip netip.Addr) (added bool, err error)
	remove(ip netip.Addr) error
}

// proxy serves one VIP key.
type proxy interface {
	// setBackends swaps the backend list; connections to backends no longer
	// listed drain.
	setBackends(addrs []netip.AddrPort)
	// stop closes the listener and lets connections drain.
	stop()
	// active is the number of connections or sessions still open.
	active() int
	// close ends everything at once and waits for the proxy's goroutines.
	close()
}

// listenFunc opens the socket for a VIP; tests substitute it.
type listenFunc func(proto string, addr netip.AddrPort) (any, error)

func defaultListen(proto string, addr netip.AddrPort) (any, error) {
	var lc net.ListenConfig
	if proto == "udp" {
		return lc.ListenPacket(context.Background(), "udp", addr.String())
	}
	return lc.Listen(context.Background(), "tcp", addr.String())
}

// userspace is the proxy backend: VIP addresses on an interface, a listener
// per VIP and connections spliced in this process.
type userspace struct {
	cfg    Config
	log    *slog.Logger
	addrs  addrManager
	listen listenFunc
	wake   func() // asks the Run loop for another apply (a drain finished)

	applied  map[vipKey][]netip.AddrPort
	proxies  map[vipKey]proxy
	draining map[proxy]netip.Addr
	// addrOwned has an entry per address present for a VIP: true when this
	// balancer added it (and so removes it), false when it was there before.
	addrOwned map[netip.Addr]bool
	// denied is set once adding an address failed for lack of privilege;
	// no more attempts are made (privileges do not come back at run time).
	denied error
}

func newUserspace(cfg Config, log *slog.Logger, addrs addrManager, listen listenFunc, wake func()) *userspace {
	return &userspace{
		cfg: cfg, log: log, addrs: addrs, listen: listen, wake: wake,
		applied:   map[vipKey][]netip.AddrPort{},
		proxies:   map[vipKey]proxy{},
		draining:  map[proxy]netip.Addr{},
		addrOwned: map[netip.Addr]bool{},
	}
}

func (u *userspace) sync(desired []records.VIP) error {
	want, errs := normalize(desired)
	p := diff(u.applied, want)
	for _, k := range p.remove {
		px := u.proxies[k]
		px.stop()
		u.draining[px] = k.IP
		delete(u.proxies, k)
		delete(u.applied, k)
		u.log.Info("vip removed", "vip", k.String())
	}
	for _, k := range p.update {
		u.proxies[k].setBackends(want[k])
		u.applied[k] = want[k]
		u.log.Debug("vip backends changed", "vip", k.String(), "backends", len(want[k]))
	}
	for _, k := range p.add {
		if err := u.start(k, want[k]); err != nil {
			errs = append(errs, err)
			continue
		}
		u.applied[k] = want[k]
		u.log.Info("vip added", "vip", k.String(), "backends", len(want[k]))
	}
	u.reap()
	return errors.Join(errs...)
}

// start puts the address in place and listens on one VIP. A VIP that
// fails is not recorded as applied, so the next sync tries it again.
func (u *userspace) start(k vipKey, backends []netip.AddrPort) error {
	if u.denied != nil {
		return fmt.Errorf("vip %s: not served: %w", k, u.denied)
	}
	if _, ok := u.addrOwned[k.IP]; !ok {
		added, err := u.addrs.add(k.IP)
		if err != nil {
			if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) || errors.Is(err, errors.ErrUnsupported) {
				u.denied = err
				u.log.Warn("cannot add VIP addresses; VIPs are not served on this node", "interface", u.cfg.Interface, "error", err)
			}
			return fmt.Errorf("vip %s: %w", k, err)
		}
		u.addrOwned[k.IP] = added
		if added {
			u.log.Info("vip address added", "address", k.IP.String(), "interface", u.cfg.Interface)
		}
	}
	sock, err := u.listen(k.Proto, netip.AddrPortFrom(k.IP, k.Port))
	if err != nil {
		return fmt.Errorf("vip %s: listen: %w", k, err)
	}
	idle := func() { u.wake() }
	var px proxy
	switch s := sock.(type) {
	case net.Listener:
		px = newTCPProxy(k, s, backends, u.cfg, u.log, idle)
	case net.PacketConn:
		px = newUDPProxy(k, s, backends, u.cfg, u.log, idle)
	default:
		return fmt.Errorf("vip %s: listen returned %T", k, sock)
	}
	u.proxies[k] = px
	return nil
}

// reap forgets drained proxies and removes addresses nothing uses any more.
func (u *userspace) reap() {
	inUse := map[netip.Addr]bool{}
	for k := range u.proxies {
		inUse[k.IP] = true
	}
	for px, ip := range u.draining {
		if px.active() > 0 {
			inUse[ip] = true
			continue
		}
		px.close()
		delete(u.draining, px)
	}
	for ip, owned := range u.addrOwned {
		if inUse[ip] {
			continue
		}
		if owned {
			if err := u.addrs.remove(ip); err != nil {
				u.log.Warn("remove VIP address", "address", ip.String(), "error", err)
				continue // tried again on the next sync
			}
			u.log.Info("vip address removed", "address", ip.String(), "interface", u.cfg.Interface)
		}
		delete(u.addrOwned, ip)
	}
}

func (u *userspace) close() error {
	var errs []error
	for k, px := range u.proxies {
		px.close()
		delete(u.proxies, k)
	}
	for px := range u.draining {
		px.close()
		delete(u.draining, px)
	}
	clear(u.applied)
	for ip, owned := range u.addrOwned {
		if owned {
			if err := u.addrs.remove(ip); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		delete(u.addrOwned, ip)
	}
	return errors.Join(errs...)
}

func (u *userspace) status() backendStatus {
	var st backendStatus
	for ip, owned := range u.addrOwned {
		if owned {
			st.addresses = append(st.addresses, ip)
		}
	}
	slices.SortFunc(st.addresses, netip.Addr.Compare)
	for k, bs := range u.applied {
		st.vips = append(st.vips, VIPStatus{IP: k.IP, Port: k.Port, Protocol: k.Proto, Backends: len(bs)})
	}
	slices.SortFunc(st.vips, func(a, b VIPStatus) int {
		return compareKeys(vipKey{a.IP, a.Port, a.Protocol}, vipKey{b.IP, b.Port, b.Protocol})
	})
	return st
}
