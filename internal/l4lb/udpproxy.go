package l4lb

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// udpProxy relays datagrams for one VIP. Each client address gets a session:
// a connected socket to one backend, picked when its first datagram
// arrives. Replies go back from the VIP socket, so the client sees them come
// from VIP:port. A session ends after UDPIdleTimeout without traffic, or
// after DrainTimeout once its backend leaves the list. When the VIP is
// removed its socket is gone and replies cannot be sent, so stop ends every
// session at once: UDP has no connections to drain.
type udpProxy struct {
	key  vipKey
	pc   net.PacketConn
	pick *picker
	cfg  Config
	log  *slog.Logger
	// onIdle is called when a stopped proxy's last session has ended.
	onIdle func()
	wg     sync.WaitGroup

	mu       sync.Mutex
	sessions map[netip.AddrPort]*udpSession
	stopped  bool
}

type udpSession struct {
	client   netip.AddrPort
	upstream net.Conn
	backend  netip.AddrPort
	last     atomic.Int64 // unix nanoseconds of the last datagram either way
	drain    *time.Timer
}

func newUDPProxy(k vipKey, pc net.PacketConn, backends []netip.AddrPort, cfg Config, log *slog.Logger, onIdle func()) *udpProxy {
	p := &udpProxy{key: k, pc: pc, pick: newPicker(backends), cfg: cfg, log: log, onIdle: onIdle, sessions: map[netip.AddrPort]*udpSession{}}
	p.wg.Go(p.serve)
	return p
}

func (p *udpProxy) serve() {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := p.pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			p.log.Debug("udp read", "vip", p.key.String(), "error", err)
			continue
		}
		ua, ok := from.(*net.UDPAddr)
		if !ok {
			continue
		}
		client := ua.AddrPort()
		s := p.session(client)
		if s == nil {
			continue
		}
		s.last.Store(time.Now().UnixNano())
		if _, err := s.upstream.Write(buf[:n]); err != nil {
			p.log.Debug("udp write to backend", "vip", p.key.String(), "backend", s.backend.String(), "error", err)
		}
	}
}

// session finds or opens the client's session; nil when no backend is usable.
func (p *udpProxy) session(client netip.AddrPort) *udpSession {
	p.mu.Lock()
	s := p.sessions[client]
	p.mu.Unlock()
	if s != nil {
		return s
	}
	d := net.Dialer{Timeout: p.cfg.DialTimeout}
	up, b, err := p.pick.dial(func(b netip.AddrPort) (net.Conn, error) { return d.Dial("udp", b.String()) })
	if err != nil {
		p.log.Debug("no backend reachable", "vip", p.key.String(), "error", err)
		return nil
	}
	s = &udpSession{client: client, upstream: up, backend: b}
	s.last.Store(time.Now().UnixNano())
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		up.Close()
		return nil
	}
	p.sessions[client] = s
	if !p.pick.current().has[b] {
		p.armDrain(s)
	}
	p.wg.Go(func() { p.replies(s) })
	return s
}

// replies copies the backend's datagrams to the client until the session
// idles out or is closed.
func (p *udpProxy) replies(s *udpSession) {
	defer func() {
		p.mu.Lock()
		if p.sessions[s.client] == s {
			delete(p.sessions, s.client)
		}
		if s.drain != nil {
			s.drain.Stop()
		}
		idle := p.stopped && len(p.sessions) == 0
		p.mu.Unlock()
		s.upstream.Close()
		if idle {
			p.onIdle()
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		deadline := time.Unix(0, s.last.Load()).Add(p.cfg.UDPIdleTimeout)
		if !time.Now().Before(deadline) {
			return
		}
		s.upstream.SetReadDeadline(deadline)
		n, err := s.upstream.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue // re-checks the idle deadline, which traffic may have moved
			}
			// ICMP port unreachable and the like: the backend may come back.
			continue
		}
		s.last.Store(time.Now().UnixNano())
		if _, err := p.pc.WriteTo(buf[:n], net.UDPAddrFromAddrPort(s.client)); err != nil && errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

// armDrain starts s's drain timer. p.mu must be held.
func (p *udpProxy) armDrain(s *udpSession) {
	if s.drain == nil {
		s.drain = time.AfterFunc(p.cfg.DrainTimeout, func() { s.upstream.Close() })
	}
}

func (p *udpProxy) setBackends(addrs []netip.AddrPort) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pick.store(addrs)
	set := p.pick.current()
	for _, s := range p.sessions {
		if set.has[s.backend] {
			if s.drain != nil && s.drain.Stop() {
				s.drain = nil
			}
			continue
		}
		p.armDrain(s)
	}
}

func (p *udpProxy) stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	p.pc.Close()
	for _, s := range p.sessions {
		s.upstream.Close()
	}
	idle := len(p.sessions) == 0
	p.mu.Unlock()
	if idle {
		p.onIdle()
	}
}

func (p *udpProxy) active() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sessions)
}

func (p *udpProxy) close() {
	p.stop()
	p.wg.Wait()
}
