package master

import (
	"bufio"
	"net"
	"sync"
	"time"
)

// splitTLS lets one port serve TLS and plain HTTP (as Mesos does on 5050
// with SSL downgrade support): every accepted connection is handed to
// tlsLn if its first byte is a TLS handshake record (0x16), else to plain.
// The first byte is awaited in a goroutine per connection, for at most
// sniffTimeout, so a silent client never holds the accept loop. Closing
// one listener stops its Accept only (its server may shut down before the
// other's); closing both closes ln.
func splitTLS(ln net.Listener, sniffTimeout time.Duration) (plain, tlsLn net.Listener) {
	s := &splitter{ln: ln, timeout: sniffTimeout, done: make(chan struct{})}
	s.plain = &subListener{s: s, conns: make(chan net.Conn), closed: make(chan struct{})}
	s.tls = &subListener{s: s, conns: make(chan net.Conn), closed: make(chan struct{})}
	go s.acceptLoop()
	return s.plain, s.tls
}

type splitter struct {
	ln      net.Listener
	timeout time.Duration

	plain, tls *subListener

	once sync.Once
	done chan struct{}
	err  error // why accepting stopped; read after done
}

func (s *splitter) close(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.done)
		s.ln.Close()
	})
}

func (s *splitter) acceptLoop() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			s.close(err)
			return
		}
		go s.route(c)
	}
}

func (s *splitter) route(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(s.timeout))
	br := bufio.NewReader(c)
	first, err := br.Peek(1)
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		c.Close()
		return
	}
	to := s.plain
	if first[0] == 0x16 {
		to = s.tls
	}
	select {
	case to.conns <- &peekedConn{Conn: c, r: br}:
	case <-to.closed:
		c.Close()
	case <-s.done:
		c.Close()
	}
}

// subListener is one side of a splitter.
type subListener struct {
	s      *splitter
	conns  chan net.Conn
	once   sync.Once
	closed chan struct{}
}

func (l *subListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-l.s.done:
		return nil, l.s.err
	}
}

func (l *subListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	select {
	case <-l.s.plain.closed:
		select {
		case <-l.s.tls.closed:
			l.s.close(net.ErrClosed)
		default:
		}
	default:
	}
	return nil
}

func (l *subListener) Addr() net.Addr { return l.s.ln.Addr() }

// peekedConn reads the sniffed byte again before the rest.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
