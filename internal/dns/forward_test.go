package dns

import (
	"context"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// upstream is a tiny authoritative test server on 127.0.0.1:0.
type upstream struct {
	addr    string
	queries atomic.Int64
}

// startUpstream answers A for every name with ip (TTL 30), NXDOMAIN with an
// SOA (TTL 40, minimum 20) for names starting "nx.", and 100 A records for
// names starting "big." (truncated over UDP).
func startUpstream(t *testing.T, ip string) *upstream {
	t.Helper()
	u := &upstream{}
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		u.queries.Add(1)
		m := new(mdns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		q := r.Question[0]
		name := q.Name
		switch {
		case len(name) > 3 && name[:3] == "nx.":
			m.Rcode = mdns.RcodeNameError
			m.Ns = []mdns.RR{&mdns.SOA{Hdr: mdns.RR_Header{Name: "example.", Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: 40},
				Ns: "ns.example.", Mbox: "h.example.", Serial: 1, Refresh: 1, Retry: 1, Expire: 1, Minttl: 20}}
		case len(name) > 4 && name[:4] == "big.":
			for i := range 100 {
				m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 30},
					A: net.IPv4(192, 0, 2, byte(i+1))})
			}
		case q.Qtype == mdns.TypeA:
			m.Answer = []mdns.RR{&mdns.A{Hdr: mdns.RR_Header{Name: name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 30},
				A: net.ParseIP(ip)}}
		}
		if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
			size := 512
			if o := r.IsEdns0(); o != nil {
				size = 1232 // a cap below 100 records, to force TCP
			}
			m.Truncate(size)
		}
		_ = w.WriteMsg(m)
	})
	pc, ln, err := ListenPair("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.addr = pc.LocalAddr().String()
	for _, srv := range []*mdns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		done := make(chan struct{})
		go func() { defer close(done); _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown(); <-done })
	}
	return u
}

// deadAddr is an address where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

func forwardConfig(resolvers ...string) Config {
	cfg := testConfig()
	cfg.Recurse = true
	cfg.Resolvers = resolvers
	cfg.Timeout = 500 * time.Millisecond
	return cfg
}

func query(t *testing.T, network, addr, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	q := new(mdns.Msg)
	q.SetQuestion(name, qtype)
	return exchange(t, network, addr, q)
}

func TestForwardTwoUpstreamsOneDead(t *testing.T) {
	up := startUpstream(t, "192.0.2.1")
	s := newTestServer(t, forwardConfig(deadAddr(t), up.addr), testTable())
	addr := startServer(t, s)
	// Whichever comes first in the rotation, both are asked at once.
	for _, name := range []string{"a.example.", "b.example.", "c.example."} {
		r := query(t, "udp", addr, name, mdns.TypeA)
		if r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*mdns.A).A.String() != "192.0.2.1" {
			t.Fatalf("%s: %v", name, r)
		}
		if r.Authoritative || !r.RecursionAvailable {
			t.Errorf("%s: AA %v RA %v", name, r.Authoritative, r.RecursionAvailable)
		}
	}
	// The authoritative zones still answer locally.
	if r := query(t, "udp", addr, "web.marathon.mesos.", mdns.TypeA); len(r.Answer) != 2 || !r.Authoritative {
		t.Errorf("mesos name: %v", r)
	}
	if st := s.Stats(); st.Forwarded != 3 {
		t.Errorf("forwarded %d, want 3", st.Forwarded)
	}
}

func TestForwardZones(t *testing.T) {
	def := startUpstream(t, "192.0.2.1")
	corp := startUpstream(t, "192.0.2.2")
	sub := startUpstream(t, "192.0.2.3")
	masters := startUpstream(t, "192.0.2.4")
	cfg := forwardConfig(def.addr)
	cfg.ForwardZones = map[string][]string{
		"corp":            {corp.addr},
		"eng.corp.":       {sub.addr},
		"mesos":           {masters.addr}, // an agent's forwarder: the masters answer .mesos
		"ldap.corp.local": {deadAddr(t)},
	}
	addr := startServer(t, newTestServer(t, cfg, testTable()))
	for _, tc := range []struct{ name, want string }{
		{"www.example.", "192.0.2.1"},
		{"host.corp.", "192.0.2.2"},
		{"host.eng.corp.", "192.0.2.3"},
		{"eng.corp.", "192.0.2.3"},
		{"xeng.corp.", "192.0.2.2"}, // label boundary
		{"web.marathon.mesos.", "192.0.2.4"},
		{"ready.spartan.", "127.0.0.1"}, // not forwarded
	} {
		r := query(t, "udp", addr, tc.name, mdns.TypeA)
		if len(r.Answer) != 1 || r.Answer[0].(*mdns.A).A.String() != tc.want {
			t.Errorf("%s: got %v, want %s", tc.name, r.Answer, tc.want)
		}
	}
	if r := query(t, "udp", addr, "x.ldap.corp.local.", mdns.TypeA); r.Rcode != mdns.RcodeServerFailure {
		t.Errorf("dead zone upstream: rcode %s, want SERVFAIL", mdns.RcodeToString[r.Rcode])
	}
}

func TestForwardCache(t *testing.T) {
	up := startUpstream(t, "192.0.2.1")
	s := newTestServer(t, forwardConfig(up.addr), testTable())
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	s.now = func() time.Time { return *clock.Load() }
	addr := startServer(t, s)

	r1 := query(t, "udp", addr, "www.example.", mdns.TypeA)
	later := now.Add(10 * time.Second)
	clock.Store(&later)
	r2 := query(t, "udp", addr, "WWW.Example.", mdns.TypeA)
	if got := up.queries.Load(); got != 1 {
		t.Errorf("upstream asked %d times, want 1", got)
	}
	if r1.Answer[0].Header().Ttl != 30 || r2.Answer[0].Header().Ttl != 20 {
		t.Errorf("TTLs %d then %d, want 30 then 20", r1.Answer[0].Header().Ttl, r2.Answer[0].Header().Ttl)
	}
	if r2.Question[0].Name != "WWW.Example." {
		t.Errorf("question %q", r2.Question[0].Name)
	}

	// Negative answers are cached for min(SOA TTL, MINIMUM) = 20 s.
	for range 2 {
		if r := query(t, "udp", addr, "nx.example.", mdns.TypeA); r.Rcode != mdns.RcodeNameError {
			t.Fatalf("nx: %v", r)
		}
	}
	if got := up.queries.Load(); got != 2 {
		t.Errorf("upstream asked %d times after NXDOMAIN twice, want 2", got)
	}
	past := now.Add(45 * time.Second)
	clock.Store(&past)
	query(t, "udp", addr, "www.example.", mdns.TypeA)
	query(t, "udp", addr, "nx.example.", mdns.TypeA)
	if got := up.queries.Load(); got != 4 {
		t.Errorf("upstream asked %d times after expiry, want 4", got)
	}
	if st := s.Stats(); st.CacheHits != 2 || st.Forwarded != 4 {
		t.Errorf("stats %+v, want 2 hits and 4 forwarded", st)
	}
}

func TestCacheBounded(t *testing.T) {
	c := newCache(3, time.Minute)
	now := time.Now()
	for i := range 10 {
		m := new(mdns.Msg)
		m.Answer = []mdns.RR{&mdns.A{Hdr: mdns.RR_Header{Name: "x.", Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 3600}, A: net.IPv4(1, 2, 3, 4)}}
		c.put(cacheKey{name: string(rune('a'+i)) + ".", qtype: 1, qclass: 1}, m, now)
	}
	if c.len() != 3 {
		t.Errorf("cache holds %d, want 3", c.len())
	}
	if _, ok := c.get(cacheKey{name: "j.", qtype: 1, qclass: 1}, now); !ok {
		t.Error("most recent entry evicted")
	}
	if _, ok := c.get(cacheKey{name: "a.", qtype: 1, qclass: 1}, now); ok {
		t.Error("oldest entry kept")
	}
	// The TTL cap applies: 3600 s is served for a minute only.
	if _, ok := c.get(cacheKey{name: "j.", qtype: 1, qclass: 1}, now.Add(61*time.Second)); ok {
		t.Error("entry served past CacheMaxTTL")
	}
	// SERVFAIL and answers without an SOA are not cached.
	sf := new(mdns.Msg)
	sf.Rcode = mdns.RcodeServerFailure
	c.put(cacheKey{name: "sf."}, sf, now)
	if _, ok := c.get(cacheKey{name: "sf."}, now); ok {
		t.Error("SERVFAIL cached")
	}
}

func TestForwardTruncatedUpstreamRetriedOverTCP(t *testing.T) {
	up := startUpstream(t, "192.0.2.1")
	addr := startServer(t, newTestServer(t, forwardConfig(up.addr), testTable()))
	r := query(t, "tcp", addr, "big.example.", mdns.TypeA)
	if len(r.Answer) != 100 || r.Truncated {
		t.Errorf("%d answers, TC %v; want 100 via the upstream's TCP", len(r.Answer), r.Truncated)
	}
}

func TestForwardAllDeadIsServfail(t *testing.T) {
	s := newTestServer(t, forwardConfig(deadAddr(t), deadAddr(t), deadAddr(t)), testTable())
	addr := startServer(t, s)
	r := query(t, "udp", addr, "www.example.", mdns.TypeA)
	if r.Rcode != mdns.RcodeServerFailure {
		t.Errorf("rcode %s, want SERVFAIL", mdns.RcodeToString[r.Rcode])
	}
	if s.cache.len() != 0 {
		t.Error("failure cached")
	}
}

func TestForwardNoResolversIsRefused(t *testing.T) {
	addr := startServer(t, newTestServer(t, forwardConfig(), testTable()))
	if r := query(t, "udp", addr, "www.example.", mdns.TypeA); r.Rcode != mdns.RcodeRefused {
		t.Errorf("rcode %s, want REFUSED", mdns.RcodeToString[r.Rcode])
	}
}

func TestForwardExchangeHonoursContext(t *testing.T) {
	f := newForwarder(forwardConfig())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	q := new(mdns.Msg)
	q.SetQuestion("x.example.", mdns.TypeA)
	if _, err := f.exchange(ctx, q, []string{netip.MustParseAddrPort("127.0.0.1:9").String()}); err == nil {
		t.Error("exchange with a cancelled context succeeded")
	}
}
