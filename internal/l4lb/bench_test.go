package l4lb

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"testing"

	"github.com/basalt-dcos/basalt/internal/dns/records"
)

// benchVIP is on lo in the default namespace: 127.0.0.0/8 is already local,
// so the extra /32 changes nothing for other traffic and goes away at the end.
const benchVIP = "127.77.0.1"

// benchProxy starts the userspace data path with the real address manager
// on lo; the VIP listens on port 0. It returns the VIP's real address.
func benchProxy(b *testing.B, backend string) string {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("needs root (CAP_NET_ADMIN) to add " + benchVIP + " to lo")
	}
	var real string
	listen := func(proto string, a netip.AddrPort) (any, error) {
		ln, err := net.Listen("tcp", netip.AddrPortFrom(a.Addr(), 0).String())
		if err == nil {
			real = ln.Addr().String()
		}
		return ln, err
	}
	u := newUserspace(testConfig(), slog.New(slog.DiscardHandler), rtnlAddrs{ifname: "lo"}, listen, func() {})
	b.Cleanup(func() {
		if err := u.close(); err != nil {
			b.Error(err)
		}
	})
	be := netip.MustParseAddrPort(backend)
	v := records.VIP{IP: netip.MustParseAddr(benchVIP), Port: 80, Protocol: "tcp", Backends: []records.Backend{{IP: be.Addr(), Port: be.Port()}}}
	if err := u.sync([]records.VIP{v}); err != nil {
		b.Fatal(err)
	}
	return real
}

// BenchmarkProxyThroughput writes 64 KiB chunks to a sink, directly and
// through the proxy; compare the MB/s columns.
func BenchmarkProxyThroughput(b *testing.B) {
	sink, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sink.Close() })
	go func() {
		for {
			c, err := sink.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(io.Discard, c)
				c.Write([]byte{1}) // everything arrived
			}()
		}
	}()
	vipAddr := benchProxy(b, sink.Addr().String())
	chunk := make([]byte, 64<<10)
	for _, bc := range []struct{ name, addr string }{{"direct", sink.Addr().String()}, {"proxy", vipAddr}} {
		b.Run(bc.name, func(b *testing.B) {
			c, err := net.Dial("tcp", bc.addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			b.SetBytes(int64(len(chunk)))
			for b.Loop() {
				if _, err := c.Write(chunk); err != nil {
					b.Fatal(err)
				}
			}
			c.(*net.TCPConn).CloseWrite()
			if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
				b.Fatalf("sink did not confirm: %v", err)
			}
		})
	}
}

// BenchmarkProxyConnect measures connection setup: dial, receive the
// backend's first byte, close — directly and through the proxy (which adds
// an accept and a dial to the backend).
func BenchmarkProxyConnect(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte{1})
			c.Close()
		}
	}()
	vipAddr := benchProxy(b, ln.Addr().String())
	for _, bc := range []struct{ name, addr string }{{"direct", ln.Addr().String()}, {"proxy", vipAddr}} {
		b.Run(bc.name, func(b *testing.B) {
			buf := make([]byte, 1)
			for b.Loop() {
				c, err := net.Dial("tcp", bc.addr)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}
