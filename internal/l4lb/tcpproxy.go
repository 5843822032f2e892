package l4lb

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// tcpProxy accepts connections on one VIP and splices each to a backend.
//
// Connection life: accepted → dialing (picker, next backend on failure) →
// spliced → closed. A spliced connection whose backend leaves the list, or
// whose VIP is removed, gets a drain timer (DrainTimeout) that closes it
// unless it ends first or its backend comes back.
type tcpProxy struct {
	key    vipKey
	ln     net.Listener
	pick   *picker
	cfg    Config
	log    *slog.Logger
	onIdle func() // called when a stopped proxy's last connection ends

	ctx    context.Context // cancelled by close: aborts dials
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	conns   map[*tcpConn]struct{}
	stopped bool
}

type tcpConn struct {
	client   net.Conn
	upstream net.Conn // nil while dialing
	backend  netip.AddrPort
	drain    *time.Timer
}

func (c *tcpConn) closeBoth() {
	c.client.Close()
	if c.upstream != nil {
		c.upstream.Close()
	}
}

func newTCPProxy(k vipKey, ln net.Listener, backends []netip.AddrPort, cfg Config, log *slog.Logger, onIdle func()) *tcpProxy {
	ctx, cancel := context.WithCancel(context.Background())
	p := &tcpProxy{
		key: k, ln: ln, pick: newPicker(backends), cfg: cfg, log: log, onIdle: onIdle,
		ctx: ctx, cancel: cancel, conns: map[*tcpConn]struct{}{},
	}
	p.wg.Go(p.serve)
	return p
}

func (p *tcpProxy) serve() {
	backoff := 5 * time.Millisecond
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait a little and go on.
			p.log.Warn("accept", "vip", p.key.String(), "error", err)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-p.ctx.Done():
				t.Stop()
				return
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		tc := &tcpConn{client: c}
		p.mu.Lock()
		if p.stopped {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[tc] = struct{}{}
		p.mu.Unlock()
		p.wg.Go(func() { p.handle(tc) })
	}
}

func (p *tcpProxy) handle(tc *tcpConn) {
	defer p.forget(tc)
	d := net.Dialer{Timeout: p.cfg.DialTimeout}
	up, b, err := p.pick.dial(func(b netip.AddrPort) (net.Conn, error) {
		return d.DialContext(p.ctx, "tcp", b.String())
	})
	if err != nil {
		p.log.Debug("no backend reachable", "vip", p.key.String(), "error", err)
		tc.client.Close()
		return
	}
	p.mu.Lock()
	tc.upstream, tc.backend = up, b
	if p.ctx.Err() != nil {
		p.mu.Unlock()
		tc.closeBoth()
		return
	}
	// The list may have changed while dialing.
	if p.stopped || !p.pick.current().has[b] {
		p.armDrain(tc)
	}
	p.mu.Unlock()

	done := make(chan struct{})
	go func() {
		pipe(up, tc.client, tc)
		close(done)
	}()
	pipe(tc.client, up, tc)
	<-done
	tc.closeBoth()
}

// pipe copies src to dst, then half-closes dst so the peer sees EOF. An
// error (reset, drain timer) tears down both sides.
func pipe(dst, src net.Conn, tc *tcpConn) {
	_, err := io.Copy(dst, src)
	if err != nil {
		tc.closeBoth()
		return
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		if cw.CloseWrite() == nil {
			return
		}
	}
	tc.closeBoth()
}

func (p *tcpProxy) forget(tc *tcpConn) {
	p.mu.Lock()
	delete(p.conns, tc)
	if tc.drain != nil {
		tc.drain.Stop()
	}
	idle := p.stopped && len(p.conns) == 0
	p.mu.Unlock()
	if idle {
		p.onIdle()
	}
}

// armDrain starts tc's drain timer. p.mu must be held.
func (p *tcpProxy) armDrain(tc *tcpConn) {
	if tc.drain != nil {
		return
	}
	if p.cfg.DrainTimeout == 0 {
		tc.drain = time.AfterFunc(0, tc.closeBoth)
		return
	}
	tc.drain = time.AfterFunc(p.cfg.DrainTimeout, tc.closeBoth)
}

func (p *tcpProxy) setBackends(addrs []netip.AddrPort) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pick.store(addrs)
	set := p.pick.current()
	for tc := range p.conns {
		if tc.upstream == nil {
			continue // still dialing; handle checks the list when done
		}
		if set.has[tc.backend] {
			// Back in the list before its drain ran out: keep it.
			if tc.drain != nil && tc.drain.Stop() {
				tc.drain = nil
			}
			continue
		}
		p.armDrain(tc)
	}
}

func (p *tcpProxy) stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	p.ln.Close()
	for tc := range p.conns {
		if tc.upstream != nil {
			p.armDrain(tc)
		}
	}
	idle := len(p.conns) == 0
	p.mu.Unlock()
	if idle {
		p.onIdle()
	}
}

func (p *tcpProxy) active() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

func (p *tcpProxy) close() {
	p.stop()
	p.cancel()
	p.mu.Lock()
	for tc := range p.conns {
		tc.closeBoth()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
