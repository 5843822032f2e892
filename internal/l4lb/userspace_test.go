package l4lb

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/dns/records"
)

// fakeNet stands in for the interface and the VIP sockets: addresses are
// recorded, and each VIP listens on 127.0.0.1 port 0 instead of VIP:port.
type fakeNet struct {
	mu      sync.Mutex
	addErr  error
	calls   []string
	present map[netip.Addr]bool
	real    map[vipKey]string // VIP key → the address it really listens on
	listens int
}

func newFakeNet() *fakeNet {
	return &fakeNet{present: map[netip.Addr]bool{}, real: map[vipKey]string{}}
}

func (f *fakeNet) add(ip netip.Addr) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "add "+ip.String())
	if f.addErr != nil {
		return false, f.addErr
	}
	f.present[ip] = true
	return true, nil
}

func (f *fakeNet) remove(ip netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "remove "+ip.String())
	delete(f.present, ip)
	return nil
}

func (f *fakeNet) listen(proto string, a netip.AddrPort) (any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listens++
	k := vipKey{IP: a.Addr(), Port: a.Port(), Proto: proto}
	if proto == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err == nil {
			f.real[k] = pc.LocalAddr().String()
		}
		return pc, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err == nil {
		f.real[k] = ln.Addr().String()
	}
	return ln, err
}

func (f *fakeNet) snapshot() (calls []string, listens int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls), f.listens
}

func (f *fakeNet) addr(k vipKey) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.real[k]
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.DialTimeout = 5 * time.Second
	cfg.DrainTimeout = time.Hour // drains end because connections close, unless a test says otherwise
	cfg.UDPIdleTimeout = time.Minute
	return cfg
}

// startIdentityBackends starts n identity servers on 127.0.0.1 port 0.
func startIdentityBackends(t *testing.T, n int) (addrs []string, byID map[string]string) {
	t.Helper()
	byID = map[string]string{}
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("backend-%d", i)
		serveIdentity(t, ln, id)
		addrs = append(addrs, ln.Addr().String())
		byID[id] = ln.Addr().String()
	}
	return addrs, byID
}

func TestUserspaceApplyAndDrain(t *testing.T) {
	fn := newFakeNet()
	woke := make(chan struct{}, 1)
	u := newUserspace(testConfig(), testLogger(t), fn, fn.listen, func() {
		select {
		case woke <- struct{}{}:
		default:
		}
	})
	t.Cleanup(func() { u.close() })

	backends, byID := startIdentityBackends(t, 3)
	k := key("11.0.0.7:80", "tcp")
	all := []records.VIP{vip("11.0.0.7:80", "tcp", backends...)}
	if err := u.sync(all); err != nil {
		t.Fatal(err)
	}
	calls, listens := fn.snapshot()
	if !slices.Equal(calls, []string{"add 11.0.0.7"}) || listens != 1 {
		t.Fatalf("first sync: calls %v, %d listens", calls, listens)
	}

	// Idempotent: syncing the same state touches nothing.
	for range 5 {
		if err := u.sync(all); err != nil {
			t.Fatal(err)
		}
	}
	if c, l := fn.snapshot(); len(c) != 1 || l != 1 {
		t.Fatalf("repeated sync touched the network: calls %v, %d listens", c, l)
	}

	dial := func() *identityConn {
		t.Helper()
		c, err := net.Dial("tcp", fn.addr(k))
		if err != nil {
			t.Fatal(err)
		}
		ic, err := openIdentity(c)
		if err != nil {
			t.Fatalf("through the proxy: %v", err)
		}
		return ic
	}
	seen := map[string]int{}
	var long *identityConn
	for range 9 {
		c := dial()
		seen[c.id]++
		if c.id == "backend-1" && long == nil {
			long = c // kept open across the backend's removal
			continue
		}
		c.echo(t, "hello")
		c.Close()
	}
	if len(seen) != 3 {
		t.Fatalf("round robin reached %v, want all three backends", seen)
	}

	// backend-1 leaves (a health change): no new connection reaches it, the
	// open one keeps working.
	without := []records.VIP{vip("11.0.0.7:80", "tcp", byID["backend-0"], byID["backend-2"])}
	if err := u.sync(without); err != nil {
		t.Fatal(err)
	}
	if c, l := fn.snapshot(); len(c) != 1 || l != 1 {
		t.Fatalf("backend change touched addresses or listeners: calls %v, %d listens", c, l)
	}
	for range 6 {
		c := dial()
		if c.id == "backend-1" {
			t.Fatalf("new connection reached removed backend-1")
		}
		c.Close()
	}
	long.echo(t, "still here")

	// The VIP goes while a connection is open: the listener closes, the
	// address stays until the connection ends.
	if err := u.sync(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", fn.addr(k)); err == nil {
		t.Error("removed VIP still accepts connections")
	}
	long.echo(t, "draining")
	if c, _ := fn.snapshot(); slices.Contains(c, "remove 11.0.0.7") {
		t.Fatalf("address removed while a connection used it: %v", c)
	}
	long.Close()
	eventually(t, "address removal after the drain", func() bool {
		select {
		case <-woke:
			if err := u.sync(nil); err != nil {
				t.Fatal(err)
			}
		default:
		}
		c, _ := fn.snapshot()
		return slices.Contains(c, "remove 11.0.0.7")
	})
	if st := u.status(); len(st.addresses) != 0 || len(st.vips) != 0 {
		t.Errorf("status after removal: %+v", st)
	}
}

func TestUserspaceDrainTimeout(t *testing.T) {
	fn := newFakeNet()
	cfg := testConfig()
	cfg.DrainTimeout = 0 // close at once
	u := newUserspace(cfg, testLogger(t), fn, fn.listen, func() {})
	t.Cleanup(func() { u.close() })
	backends, _ := startIdentityBackends(t, 1)
	k := key("11.0.0.7:80", "tcp")
	if err := u.sync([]records.VIP{vip("11.0.0.7:80", "tcp", backends...)}); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", fn.addr(k))
	if err != nil {
		t.Fatal(err)
	}
	ic, err := openIdentity(c)
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := u.sync([]records.VIP{vip("11.0.0.7:80", "tcp")}); err != nil {
		t.Fatal(err)
	}
	if _, err := ic.r.ReadString('\n'); err == nil {
		t.Fatal("connection to a removed backend outlived a zero drain timeout")
	}
	// With no backends the VIP still listens but refuses by closing.
	c2, err := net.Dial("tcp", fn.addr(k))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := openIdentity(c2); err == nil {
		t.Fatal("a VIP without backends answered")
	}
}

func TestUserspaceNoPrivilege(t *testing.T) {
	fn := newFakeNet()
	fn.addErr = fmt.Errorf("add address: %w", syscall.EPERM)
	u := newUserspace(testConfig(), testLogger(t), fn, fn.listen, func() {})
	t.Cleanup(func() { u.close() })
	vips := []records.VIP{vip("11.0.0.7:80", "tcp"), vip("11.0.0.8:80", "tcp")}
	for range 3 {
		err := u.sync(vips)
		if got := len(errorLines(err)); got != 2 {
			t.Fatalf("sync without privilege: %d errors (%v), want one per VIP", got, err)
		}
	}
	if c, l := fn.snapshot(); len(c) != 1 || l != 0 {
		t.Fatalf("after a permission error: calls %v, %d listens; want one attempt", c, l)
	}
}

func TestUserspaceUDP(t *testing.T) {
	fn := newFakeNet()
	u := newUserspace(testConfig(), testLogger(t), fn, fn.listen, func() {})
	t.Cleanup(func() { u.close() })
	var backends []string
	for i := range 2 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		go func() {
			buf := make([]byte, 1500)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				pc.WriteTo(fmt.Appendf(nil, "udp-%d:%s", i, buf[:n]), from)
			}
		}()
		backends = append(backends, pc.LocalAddr().String())
	}
	k := key("11.0.0.9:53", "udp")
	if err := u.sync([]records.VIP{vip("11.0.0.9:53", "udp", backends...)}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i := range 4 {
		c, err := net.Dial("udp", fn.addr(k))
		if err != nil {
			t.Fatal(err)
		}
		// One session per client address: every datagram of c goes to the same backend.
		var first string
		for j := range 3 {
			msg := fmt.Sprintf("q%d-%d", i, j)
			got := udpAsk(t, c, msg)
			id := got[:len("udp-0")]
			if first == "" {
				first = id
			} else if id != first {
				t.Fatalf("session moved from %s to %s", first, id)
			}
			if got != id+":"+msg {
				t.Fatalf("answer %q to %q", got, msg)
			}
		}
		seen[first] = true
		c.Close()
	}
	if len(seen) != 2 {
		t.Errorf("sessions reached %v, want both backends", seen)
	}
}

// udpAsk sends msg until an answer comes (UDP may drop the first datagram
// while the session is set up; on loopback it does not, but be safe).
func udpAsk(t *testing.T, c net.Conn, msg string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	buf := make([]byte, 1500)
	for ctx.Err() == nil {
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		if err == nil {
			return string(buf[:n])
		}
	}
	t.Fatalf("no answer to %q", msg)
	return ""
}
