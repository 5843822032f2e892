package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	mdns "github.com/miekg/dns"

	"github.com/basalt-dcos/basalt/internal/dns/records"
)

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// testTable is a small hand-built cluster: one app "web" with two tasks,
// a 200-address name, and a thisdcos.directory name.
func testTable() *records.Table {
	big := &records.RRSet{}
	for i := range 200 {
		big.A = append(big.A, netip.AddrFrom4([4]byte{10, 1, byte(i / 250), byte(i%250 + 1)}))
	}
	return &records.Table{
		Domain: "mesos",
		Names: map[string]*records.RRSet{
			"web.marathon.mesos.": {A: addrs("10.0.0.1", "10.0.0.2"), AAAA: addrs("fd00::1")},
			"_web._tcp.marathon.mesos.": {SRV: []records.SRV{
				{Target: "web-abcde-s1.marathon.mesos.", Port: 31000, Weight: 1},
				{Target: "web-fghij-s2.marathon.mesos.", Port: 31001, Weight: 1},
			}},
			"web-abcde-s1.marathon.mesos.":                  {A: addrs("10.0.0.1")},
			"web-fghij-s2.marathon.mesos.":                  {A: addrs("10.0.0.2")},
			"big.marathon.mesos.":                           big,
			"web.marathon.agentip.dcos.thisdcos.directory.": {A: addrs("10.0.0.1")},
			"outside.example.":                              {A: addrs("192.0.2.99")}, // not in a zone: ignored
		},
		Frameworks: []records.EnumFramework{{
			Name: "marathon",
			Tasks: []records.EnumTask{{
				Name: "web", ID: "web.1234",
				Records: []records.EnumRecord{
					{Name: "web.marathon.mesos.", Host: "10.0.0.1", RType: "A"},
					{Name: "_web._tcp.marathon.mesos.", Host: "web-abcde-s1.marathon.mesos.:31000", RType: "SRV"},
				},
			}},
		}},
		VIPs: []records.VIP{{
			Name: "my-service", Framework: "marathon", FQDN: "my-service.marathon.l4lb.thisdcos.directory.",
			IP: netip.MustParseAddr("11.0.0.1"), Port: 5555, Protocol: "tcp",
			Backends: []records.Backend{{IP: netip.MustParseAddr("10.0.0.1"), Port: 31000, TaskID: "web.1234"}},
		}},
	}
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Recurse = false
	cfg.NSAddrs = addrs("10.0.0.100")
	cfg.Masters = addrs("10.0.0.100", "10.0.0.101")
	cfg.Timeout = 2 * time.Second
	return cfg
}

// startServer serves s on 127.0.0.1:0 (UDP and TCP) until the test ends
// and returns the address.
func startServer(t testing.TB, s *Server) string {
	t.Helper()
	pc, ln, err := ListenPair("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, pc, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	addr := pc.LocalAddr().String()
	// Wait until it answers (the TCP listener is open already; UDP reads
	// start when the goroutine runs).
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := &mdns.Client{Net: "udp", Timeout: 200 * time.Millisecond}
		m := new(mdns.Msg)
		m.SetQuestion("ready.spartan.", mdns.TypeA)
		if _, _, err := c.Exchange(m, addr); err == nil {
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("server at %s never answered", addr)
		}
	}
}

func newTestServer(t testing.TB, cfg Config, tbl *records.Table) *Server {
	t.Helper()
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Swap(tbl)
	return s
}

func exchange(t testing.TB, network, addr string, m *mdns.Msg) *mdns.Msg {
	t.Helper()
	c := &mdns.Client{Net: network, Timeout: 5 * time.Second}
	if o := m.IsEdns0(); o != nil {
		c.UDPSize = o.UDPSize()
	}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s: %v", network, m.Question[0].String(), err)
	}
	return r
}

// summary is an answer in a comparable form.
type summary struct {
	Rcode         string
	AA, TC        bool
	Answer        []string // RR strings, sorted
	Ns            []string // types only
	Extra         []string // RR strings without OPT, sorted
	AnswerOwnerOK bool
}

func summarize(q *mdns.Msg, r *mdns.Msg) summary {
	s := summary{Rcode: mdns.RcodeToString[r.Rcode], AA: r.Authoritative, TC: r.Truncated, AnswerOwnerOK: true}
	for _, rr := range r.Answer {
		s.Answer = append(s.Answer, strings.ReplaceAll(rr.String(), "\t", " "))
		if rr.Header().Name != q.Question[0].Name {
			s.AnswerOwnerOK = false
		}
	}
	for _, rr := range r.Ns {
		s.Ns = append(s.Ns, mdns.TypeToString[rr.Header().Rrtype])
	}
	for _, rr := range r.Extra {
		if rr.Header().Rrtype != mdns.TypeOPT {
			s.Extra = append(s.Extra, strings.ReplaceAll(rr.String(), "\t", " "))
		}
	}
	slices.Sort(s.Answer)
	slices.Sort(s.Extra)
	return s
}

func TestAuthoritativeAnswers(t *testing.T) {
	s := newTestServer(t, testConfig(), testTable())
	addr := startServer(t, s)
	noerr := func(ans ...string) summary {
		return summary{Rcode: "NOERROR", AA: true, Answer: ans, AnswerOwnerOK: true}
	}
	nodata := summary{Rcode: "NOERROR", AA: true, Ns: []string{"SOA"}, AnswerOwnerOK: true}
	nx := summary{Rcode: "NXDOMAIN", AA: true, Ns: []string{"SOA"}, AnswerOwnerOK: true}
	tests := []struct {
		name  string
		qname string
		qtype uint16
		want  summary
	}{
		{"A", "web.marathon.mesos.", mdns.TypeA, noerr(
			"web.marathon.mesos. 60 IN A 10.0.0.1", "web.marathon.mesos. 60 IN A 10.0.0.2")},
		{"AAAA", "web.marathon.mesos.", mdns.TypeAAAA, noerr("web.marathon.mesos. 60 IN AAAA fd00::1")},
		{"SRV with additionals", "_web._tcp.marathon.mesos.", mdns.TypeSRV, func() summary {
			s := noerr("_web._tcp.marathon.mesos. 60 IN SRV 0 1 31000 web-abcde-s1.marathon.mesos.",
				"_web._tcp.marathon.mesos. 60 IN SRV 0 1 31001 web-fghij-s2.marathon.mesos.")
			s.Extra = []string{"web-abcde-s1.marathon.mesos. 60 IN A 10.0.0.1", "web-fghij-s2.marathon.mesos. 60 IN A 10.0.0.2"}
			return s
		}()},
		{"ANY", "web.marathon.mesos.", mdns.TypeANY, noerr(
			"web.marathon.mesos. 60 IN A 10.0.0.1", "web.marathon.mesos. 60 IN A 10.0.0.2", "web.marathon.mesos. 60 IN AAAA fd00::1")},
		{"NODATA for a type the name lacks", "web-abcde-s1.marathon.mesos.", mdns.TypeAAAA, nodata},
		{"NODATA for a type the zone never holds", "web.marathon.mesos.", mdns.TypeMX, nodata},
		{"NODATA for an empty non-terminal", "marathon.mesos.", mdns.TypeA, nodata},
		{"NXDOMAIN", "nope.marathon.mesos.", mdns.TypeA, nx},
		{"NXDOMAIN in thisdcos.directory", "nope.thisdcos.directory.", mdns.TypeA, nx},
		{"a table name outside every zone is not served", "outside.example.", mdns.TypeA,
			summary{Rcode: "REFUSED", AnswerOwnerOK: true}},
		{"SOA at the apex", "mesos.", mdns.TypeSOA, noerr(
			fmt.Sprintf("mesos. 60 IN SOA ns1.mesos. root.ns1.mesos. %d 60 600 86400 60", s.z.Load().serial))},
		{"SOA below the apex", "web.marathon.mesos.", mdns.TypeSOA, nodata},
		{"NS at the apex", "mesos.", mdns.TypeNS, func() summary {
			s := noerr("mesos. 60 IN NS ns1.mesos.")
			s.Extra = []string{"ns1.mesos. 60 IN A 10.0.0.100"}
			return s
		}()},
		{"ns1", "ns1.mesos.", mdns.TypeA, noerr("ns1.mesos. 60 IN A 10.0.0.100")},
		{"mixed case", "WeB-AbCdE-s1.MARATHON.mesos.", mdns.TypeA, noerr("WeB-AbCdE-s1.MARATHON.mesos. 60 IN A 10.0.0.1")},
		{"thisdcos.directory TTL", "web.marathon.agentip.dcos.thisdcos.directory.", mdns.TypeA,
			noerr("web.marathon.agentip.dcos.thisdcos.directory. 5 IN A 10.0.0.1")},
		{"ready.spartan", "ready.spartan.", mdns.TypeA, noerr("ready.spartan. 5 IN A 127.0.0.1")},
		{"zk-1", "zk-1.zk.", mdns.TypeA, noerr("zk-1.zk. 5 IN A 10.0.0.100")},
		{"zk-2", "zk-2.zk.", mdns.TypeA, noerr("zk-2.zk. 5 IN A 10.0.0.101")},
		{"zk-5 wraps", "zk-5.zk.", mdns.TypeA, noerr("zk-5.zk. 5 IN A 10.0.0.100")},
		{"no recursion", "example.com.", mdns.TypeA, summary{Rcode: "REFUSED", AnswerOwnerOK: true}},
	}
	for _, tc := range tests {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(tc.name+"/"+network, func(t *testing.T) {
				q := new(mdns.Msg)
				q.SetQuestion(tc.qname, tc.qtype)
				r := exchange(t, network, addr, q)
				if r.Id != q.Id {
					t.Errorf("id %d, want %d", r.Id, q.Id)
				}
				if diff := cmp.Diff(tc.want, summarize(q, r)); diff != "" {
					t.Errorf("answer (-want +got):\n%s", diff)
				}
				if r.Question[0].Name != tc.qname {
					t.Errorf("question %q, want %q", r.Question[0].Name, tc.qname)
				}
			})
		}
	}
	if st := s.Stats(); st.Queries == 0 || st.NXDomain == 0 || st.Refused == 0 {
		t.Errorf("stats not counted: %+v", st)
	}
}

func TestRotation(t *testing.T) {
	s := newTestServer(t, testConfig(), testTable())
	firsts := map[string]bool{}
	for range 4 {
		q := new(mdns.Msg)
		q.SetQuestion("web.marathon.mesos.", mdns.TypeA)
		r := s.handle(q, true)
		firsts[r.Answer[0].(*mdns.A).A.String()] = true
	}
	if len(firsts) != 2 {
		t.Errorf("first answers %v, want both addresses first in turn", firsts)
	}
}

func TestTruncation(t *testing.T) {
	for _, tc := range []struct {
		name     string
		network  string
		edns     uint16
		truncBit bool
		wantTC   bool
		wantAll  bool
	}{
		{"udp 512 sets TC", "udp", 0, true, true, false},
		{"udp 512 without SetTruncateBit", "udp", 0, false, false, false},
		{"udp EDNS0 4096 fits", "udp", 4096, true, false, true},
		{"tcp", "tcp", 0, true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.SetTruncateBit = tc.truncBit
			addr := startServer(t, newTestServer(t, cfg, testTable()))
			q := new(mdns.Msg)
			q.SetQuestion("big.marathon.mesos.", mdns.TypeA)
			if tc.edns != 0 {
				q.SetEdns0(tc.edns, false)
			}
			r := exchange(t, tc.network, addr, q)
			if r.Truncated != tc.wantTC {
				t.Errorf("TC %v, want %v", r.Truncated, tc.wantTC)
			}
			if got := len(r.Answer) == 200; got != tc.wantAll {
				t.Errorf("%d answers; want all 200: %v", len(r.Answer), tc.wantAll)
			}
			if len(r.Answer) == 0 {
				t.Errorf("no answers: send what fits")
			}
			if tc.edns != 0 && r.IsEdns0() == nil {
				t.Errorf("EDNS0 query answered without OPT")
			}
		})
	}
	t.Run("client retries over TCP", func(t *testing.T) {
		addr := startServer(t, newTestServer(t, testConfig(), testTable()))
		q := new(mdns.Msg)
		q.SetQuestion("big.marathon.mesos.", mdns.TypeA)
		r := exchange(t, "udp", addr, q)
		if !r.Truncated {
			t.Fatal("not truncated")
		}
		r = exchange(t, "tcp", addr, q)
		if len(r.Answer) != 200 || r.Truncated {
			t.Errorf("TCP retry: %d answers, TC %v", len(r.Answer), r.Truncated)
		}
	})
}

func TestMalformedPackets(t *testing.T) {
	s := newTestServer(t, testConfig(), testTable())
	addr := startServer(t, s)
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, b := range [][]byte{
		{1, 2, 3},
		{0x12, 0x34, 0x01, 0x00, 0x00, 0x05, 0, 0, 0, 0, 0, 0, 0xff}, // 5 questions, no data
		make([]byte, 600),
	} {
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	q := new(mdns.Msg)
	q.SetQuestion("web.marathon.mesos.", mdns.TypeA)
	if r := exchange(t, "udp", addr, q); len(r.Answer) != 2 {
		t.Errorf("after garbage: %v", r)
	}
	// Two questions: FORMERR. miekg's server already refuses qdcount != 1
	// before the handler; the handler refuses them too.
	q2 := q.Copy()
	q2.Question = append(q2.Question, mdns.Question{Name: "x.mesos.", Qtype: mdns.TypeA, Qclass: mdns.ClassINET})
	if r := s.handle(q2, true); r.Rcode != mdns.RcodeFormatError {
		t.Errorf("two questions: rcode %s", mdns.RcodeToString[r.Rcode])
	}
	q3 := q.Copy()
	q3.Opcode = mdns.OpcodeUpdate
	if r := s.handle(q3, true); r.Rcode != mdns.RcodeNotImplemented {
		t.Errorf("update: rcode %s", mdns.RcodeToString[r.Rcode])
	}
	q4 := q.Copy()
	q4.SetEdns0(1232, false)
	q4.IsEdns0().SetVersion(1)
	if r := s.handle(q4, true); r.Rcode != mdns.RcodeBadVers {
		t.Errorf("EDNS version 1: rcode %s", mdns.RcodeToString[r.Rcode])
	}
}

func TestSwapUnderConcurrentQueries(t *testing.T) {
	s := newTestServer(t, testConfig(), testTable())
	addr := startServer(t, s)
	t2 := testTable()
	t2.Names = map[string]*records.RRSet{"web.marathon.mesos.": {A: addrs("10.9.9.9")}}
	ok := map[string]bool{"10.0.0.1": true, "10.0.0.2": true, "10.9.9.9": true}

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for i := range 4 {
		wg.Go(func() {
			q := new(mdns.Msg)
			q.SetQuestion("web.marathon.mesos.", mdns.TypeA)
			for n := 0; ctx.Err() == nil; n++ {
				var r *mdns.Msg
				if i == 0 && n%10 == 0 { // some over the network, most direct
					c := &mdns.Client{Net: "udp", Timeout: 5 * time.Second}
					var err error
					if r, _, err = c.Exchange(q, addr); err != nil {
						errc <- err
						return
					}
				} else {
					r = s.handle(q, true)
				}
				if r.Rcode != mdns.RcodeSuccess || len(r.Answer) == 0 {
					errc <- fmt.Errorf("answer %v", r)
					return
				}
				for _, rr := range r.Answer {
					if !ok[rr.(*mdns.A).A.String()] {
						errc <- fmt.Errorf("unexpected %v", rr)
						return
					}
				}
			}
		})
	}
	for i := range 200 {
		if i%2 == 0 {
			s.Swap(t2)
		} else {
			s.Swap(testTable())
		}
	}
	cancel()
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	bad := DefaultConfig()
	bad.Domain = ".mesos"
	bad.TTL = 0
	bad.Timeout = 0
	bad.Resolvers = []string{"not-an-ip"}
	bad.ForwardZones = map[string][]string{"corp": nil}
	err := bad.Validate()
	if err == nil {
		t.Fatal("bad config passed")
	}
	for _, want := range []string{"domain", "ttl", "timeout", "resolver", "forward zone"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := New(bad, nil); err == nil {
		t.Error("New accepted a bad config")
	}
}

func TestListenPair(t *testing.T) {
	pc, ln, err := ListenPair("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	defer ln.Close()
	up := pc.LocalAddr().(*net.UDPAddr).Port
	tp := ln.Addr().(*net.TCPAddr).Port
	if up != tp || up == 0 {
		t.Errorf("udp port %d, tcp port %d", up, tp)
	}
	// A fixed port that is taken fails with an error, not a panic.
	if _, _, err := ListenPair(ln.Addr().String()); err == nil {
		t.Error("ListenPair on a taken port succeeded")
	}
	if _, _, err := ListenPair("nonsense"); err == nil {
		t.Error("ListenPair without a port succeeded")
	}
}

func TestServeStopsWithContext(t *testing.T) {
	s := newTestServer(t, testConfig(), testTable())
	pc, ln, err := ListenPair("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // cancelled before Serve even starts: must still return
	if err := s.Serve(ctx, pc, ln); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Serve: %v", err)
	}
}

func packQuery(tb testing.TB, name string, qtype uint16, edns bool) []byte {
	tb.Helper()
	q := new(mdns.Msg)
	q.SetQuestion(name, qtype)
	if edns {
		q.SetEdns0(1232, false)
	}
	b, err := q.Pack()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func FuzzHandlePacket(f *testing.F) {
	for _, s := range []struct {
		name  string
		qtype uint16
		edns  bool
	}{
		{"web.marathon.mesos.", mdns.TypeA, false},
		{"_web._tcp.marathon.mesos.", mdns.TypeSRV, true},
		{"big.marathon.mesos.", mdns.TypeA, false},
		{"mesos.", mdns.TypeANY, true},
		{"WEB.marathon.MESOS.", mdns.TypeAAAA, false},
		{"example.com.", mdns.TypeA, false},
	} {
		f.Add(packQuery(f, s.name, s.qtype, s.edns))
	}
	f.Add([]byte{})
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0})
	s := newTestServer(f, testConfig(), testTable()) // recursion off: no network
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, udp := range []bool{true, false} {
			out := s.handlePacket(b, udp)
			if out == nil {
				continue
			}
			var m mdns.Msg
			if err := m.Unpack(out); err != nil {
				t.Fatalf("answer does not parse: %v", err)
			}
			if !m.Response {
				t.Fatal("answer without QR")
			}
			if udp && len(out) > 65535 {
				t.Fatalf("answer of %d bytes", len(out))
			}
		}
	})
	if st := s.Stats(); st.Panics != 0 {
		f.Errorf("%d panics", st.Panics)
	}
}

// benchTable has n names of two A records each, plus SRVs for a tenth.
func benchTable(n int) *records.Table {
	t := &records.Table{Domain: "mesos", Names: make(map[string]*records.RRSet, n+n/10)}
	for i := range n {
		ip1 := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		ip2 := netip.AddrFrom4([4]byte{10, 128 | byte(i>>16), byte(i >> 8), byte(i)})
		t.Names[fmt.Sprintf("app%d.marathon.mesos.", i)] = &records.RRSet{A: []netip.Addr{ip1, ip2}}
		if i%10 == 0 {
			t.Names[fmt.Sprintf("_app%d._tcp.marathon.mesos.", i)] = &records.RRSet{SRV: []records.SRV{
				{Target: fmt.Sprintf("app%d.marathon.mesos.", i), Port: 31000, Weight: 1}}}
		}
	}
	t.Names["web.marathon.mesos."] = &records.RRSet{A: addrs("10.0.0.1", "10.0.0.2", "10.0.0.3")}
	return t
}

func BenchmarkCompile10k(b *testing.B) {
	cfg := testConfig()
	t := benchTable(10000)
	b.ReportAllocs()
	for b.Loop() {
		compile(cfg, t, 1, nil)
	}
}

// BenchmarkServeA is the query path without the network: unpack a query,
// answer it, pack the answer (what miekg's server does around ServeDNS).
func BenchmarkServeA(b *testing.B) {
	s := newTestServer(b, testConfig(), benchTable(10000))
	q := packQuery(b, "web.marathon.mesos.", mdns.TypeA, false)
	b.ReportAllocs()
	for b.Loop() {
		if s.handlePacket(q, true) == nil {
			b.Fatal("no answer")
		}
	}
}

// BenchmarkHandleA is the handler alone on a decoded query.
func BenchmarkHandleA(b *testing.B) {
	s := newTestServer(b, testConfig(), benchTable(10000))
	q := new(mdns.Msg)
	q.SetQuestion("web.marathon.mesos.", mdns.TypeA)
	b.ReportAllocs()
	for b.Loop() {
		s.handle(q, true)
	}
}

// BenchmarkServeAUDP is one query at a time through real UDP on loopback,
// miekg's client included.
func BenchmarkServeAUDP(b *testing.B) {
	s := newTestServer(b, testConfig(), benchTable(10000))
	addr := startServer(b, s)
	c := &mdns.Client{Net: "udp", Timeout: 5 * time.Second}
	conn, err := c.Dial(addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	q := new(mdns.Msg)
	q.SetQuestion("web.marathon.mesos.", mdns.TypeA)
	b.ReportAllocs()
	for b.Loop() {
		r, _, err := c.ExchangeWithConn(q, conn)
		if err != nil || len(r.Answer) != 3 {
			b.Fatalf("%v %v", r, err)
		}
	}
}

// BenchmarkServeAUDPParallel is many clients at once through real UDP.
func BenchmarkServeAUDPParallel(b *testing.B) {
	s := newTestServer(b, testConfig(), benchTable(10000))
	addr := startServer(b, s)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := &mdns.Client{Net: "udp", Timeout: 5 * time.Second}
		conn, err := c.Dial(addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		q := new(mdns.Msg)
		q.SetQuestion("web.marathon.mesos.", mdns.TypeA)
		for pb.Next() {
			if _, _, err := c.ExchangeWithConn(q, conn); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
