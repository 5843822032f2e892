package l4lb

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
)

// errNoBackends is returned when a VIP has no backend to send a connection to.
var errNoBackends = errors.New("no backends")

// backendSet is an immutable backend list, swapped whole by setBackends.
type backendSet struct {
	addrs []netip.AddrPort // sorted
	has   map[netip.AddrPort]bool
}

func newBackendSet(addrs []netip.AddrPort) *backendSet {
	s := &backendSet{addrs: addrs, has: make(map[netip.AddrPort]bool, len(addrs))}
	for _, a := range addrs {
		s.has[a] = true
	}
	return s
}

// picker chooses backends round-robin over the current list. Connection
// handlers read the list without locks; the apply loop swaps it.
type picker struct {
	set  atomic.Pointer[backendSet]
	next atomic.Uint64
}

func newPicker(addrs []netip.AddrPort) *picker {
	p := &picker{}
	p.set.Store(newBackendSet(addrs))
	return p
}

func (p *picker) store(addrs []netip.AddrPort) { p.set.Store(newBackendSet(addrs)) }
func (p *picker) current() *backendSet         { return p.set.Load() }

// dial connects to one backend: it starts at the next round-robin position
// and, when a dial fails, tries the following backends once each. It returns
// the connection, the backend it reached, and, when all failed, every error.
func (p *picker) dial(dial func(netip.AddrPort) (net.Conn, error)) (net.Conn, netip.AddrPort, error) {
	set := p.current()
	n := len(set.addrs)
	if n == 0 {
		return nil, netip.AddrPort{}, errNoBackends
	}
	start := p.next.Add(1) - 1
	var errs []error
	for i := range n {
		b := set.addrs[(start+uint64(i))%uint64(n)]
		c, err := dial(b)
		if err == nil {
			return c, b, nil
		}
		errs = append(errs, fmt.Errorf("backend %s: %w", b, err))
	}
	return nil, netip.AddrPort{}, errors.Join(errs...)
}
