package dns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
	"golang.org/x/sync/errgroup"

	"github.com/basalt-dcos/basalt/internal/dns/records"
)

// LocalZone is the dcos-dns zone served beside the Mesos-DNS domain.
const LocalZone = "thisdcos.directory"

// Config is the server's configuration. DefaultConfig gives Mesos-DNS's and
// DC/OS's values.
type Config struct {
	// Domain is the Mesos-DNS domain without dots at either end ("mesos").
	Domain string
	// TTL is the TTL of records in Domain (Mesos-DNS `ttl`, 60 s).
	TTL time.Duration
	// LocalTTL is the TTL of records in thisdcos.directory, spartan. and
	// zk. (dcos-dns uses 5 s).
	LocalTTL time.Duration
	// Refresh is reported as RefreshSeconds by /v1/config and /v1/axfr.
	// Basalt swaps tables on every change; the number tells HTTP pollers
	// (dcos-net polls /v1/axfr) how often to come back. DC/OS: 30 s.
	Refresh time.Duration

	// SOA fields, as Mesos-DNS's SOAMname, SOARname, SOARefresh, SOARetry,
	// SOAExpire and SOAMinttl. Names may be given with or without the final dot.
	SOAMname   string
	SOARname   string
	SOARefresh uint32
	SOARetry   uint32
	SOAExpire  uint32
	SOAMinttl  uint32

	// Recurse turns on forwarding of names outside the authoritative zones
	// and the RA flag in answers. With it off, such names answer REFUSED.
	Recurse bool
	// Resolvers are the upstreams ("host:port"; ":53" is added when no port
	// is given) for names that no ForwardZones entry covers. Empty: REFUSED.
	Resolvers []string
	// ForwardZones maps a zone ("example.com") to its upstreams; the most
	// specific zone that contains a name wins. An agent's forwarder sends
	// "mesos" and "thisdcos.directory" to the masters this way. A zone
	// listed here is forwarded even when it is one of the server's own
	// authoritative zones.
	ForwardZones map[string][]string
	// Timeout bounds one query to one upstream (Mesos-DNS `timeout`, 5 s).
	Timeout time.Duration

	// SetTruncateBit: when a UDP answer exceeds the client's size, send what
	// fits with TC set, so the client retries over TCP (DC/OS: true). When
	// false, what fits is sent without TC, as Mesos-DNS does by default.
	SetTruncateBit bool

	// CacheSize bounds the number of forwarded answers kept (0: no cache).
	CacheSize int
	// CacheMaxTTL caps how long a forwarded answer, positive or negative,
	// is served from the cache.
	CacheMaxTTL time.Duration

	// NSAddrs are the addresses of ns1.<domain> (the SOA mname), used when
	// the table holds none for that name.
	NSAddrs []netip.Addr
	// Masters are the addresses behind zk-1.zk. .. zk-5.zk.; NSAddrs when empty.
	Masters []netip.Addr
}

// DefaultConfig returns Mesos-DNS's defaults with DC/OS's choices
// (SetTruncateBit, a 30 s refresh).
func DefaultConfig() Config {
	return Config{
		Domain:         "mesos",
		TTL:            60 * time.Second,
		LocalTTL:       5 * time.Second,
		Refresh:        30 * time.Second,
		SOAMname:       "ns1.mesos",
		SOARname:       "root.ns1.mesos",
		SOARefresh:     60,
		SOARetry:       600,
		SOAExpire:      86400,
		SOAMinttl:      60,
		Recurse:        true,
		Timeout:        5 * time.Second,
		SetTruncateBit: true,
		CacheSize:      10000,
		CacheMaxTTL:    5 * time.Minute,
	}
}

// Validate reports every problem in c at once.
func (c Config) Validate() error {
	var errs []error
	if c.Domain == "" || strings.HasPrefix(c.Domain, ".") || strings.HasSuffix(c.Domain, ".") {
		errs = append(errs, fmt.Errorf("domain %q: must be non-empty with no dot at either end", c.Domain))
	} else if _, ok := mdns.IsDomainName(c.Domain); !ok {
		errs = append(errs, fmt.Errorf("domain %q: not a domain name", c.Domain))
	}
	if c.TTL < time.Second || c.TTL > 24*time.Hour {
		errs = append(errs, fmt.Errorf("ttl %s: must be between 1s and 24h", c.TTL))
	}
	if c.LocalTTL < time.Second || c.LocalTTL > 24*time.Hour {
		errs = append(errs, fmt.Errorf("local ttl %s: must be between 1s and 24h", c.LocalTTL))
	}
	if c.Refresh < 0 {
		errs = append(errs, fmt.Errorf("refresh %s: must not be negative", c.Refresh))
	}
	for _, n := range []struct{ key, v string }{{"SOAMname", c.SOAMname}, {"SOARname", c.SOARname}} {
		if _, ok := mdns.IsDomainName(n.v); !ok || n.v == "" || n.v == "." {
			errs = append(errs, fmt.Errorf("%s %q: not a domain name", n.key, n.v))
		}
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout %s: must be positive", c.Timeout))
	}
	if c.CacheSize < 0 {
		errs = append(errs, fmt.Errorf("cache size %d: must not be negative", c.CacheSize))
	}
	if c.CacheSize > 0 && c.CacheMaxTTL <= 0 {
		errs = append(errs, fmt.Errorf("cache max ttl %s: must be positive when the cache is on", c.CacheMaxTTL))
	}
	for _, u := range c.Resolvers {
		if err := checkUpstream(u); err != nil {
			errs = append(errs, fmt.Errorf("resolver %q: %w", u, err))
		}
	}
	for z, ups := range c.ForwardZones {
		if _, ok := mdns.IsDomainName(z); !ok || z == "" {
			errs = append(errs, fmt.Errorf("forward zone %q: not a domain name", z))
		}
		if len(ups) == 0 {
			errs = append(errs, fmt.Errorf("forward zone %q: no upstreams", z))
		}
		for _, u := range ups {
			if err := checkUpstream(u); err != nil {
				errs = append(errs, fmt.Errorf("forward zone %q upstream %q: %w", z, u, err))
			}
		}
	}
	for _, a := range append(append([]netip.Addr(nil), c.NSAddrs...), c.Masters...) {
		if !a.IsValid() {
			errs = append(errs, errors.New("ns or master address: invalid address"))
		}
	}
	return errors.Join(errs...)
}

func checkUpstream(u string) error {
	_, err := netip.ParseAddrPort(withPort(u))
	if err != nil {
		return errors.New("want ip or ip:port")
	}
	return nil
}

// UpstreamAddr normalises an upstream resolver given as "ip" or "ip:port"
// (flags, resolv.conf) to "ip:port", port 53 by default.
func UpstreamAddr(s string) (string, error) {
	s = strings.TrimSpace(s)
	ap, err := netip.ParseAddrPort(withPort(s))
	if err != nil {
		return "", fmt.Errorf("%q is neither ip nor ip:port", s)
	}
	return ap.String(), nil
}

// withPort adds ":53" to an upstream given without a port.
func withPort(u string) string {
	if _, err := netip.ParseAddrPort(u); err == nil {
		return u
	}
	if a, err := netip.ParseAddr(strings.Trim(u, "[]")); err == nil {
		return netip.AddrPortFrom(a, 53).String()
	}
	return u
}

// Stats are the server's counters since New.
type Stats struct {
	Queries   uint64 // messages answered (including errors)
	NoError   uint64
	NXDomain  uint64
	ServFail  uint64
	Refused   uint64
	FormErr   uint64
	NotImp    uint64
	Truncated uint64 // UDP answers sent with TC
	Forwarded uint64 // queries sent upstream (cache misses)
	CacheHits uint64
	Panics    uint64
}

// Server answers DNS queries from the current table and forwards the rest.
// It is safe for concurrent use.
type Server struct {
	cfg   Config
	log   *slog.Logger
	z     atomic.Pointer[compiled]
	rot   atomic.Uint32 // rotation counter for A/AAAA/SRV order
	fwd   *forwarder
	cache *cache
	now   func() time.Time

	opt *mdns.OPT // the OPT record of every EDNS answer; shared, never modified

	nQueries, nTruncated, nForwarded, nCacheHits, nPanics atomic.Uint64
	nRcode                                                [16]atomic.Uint64
}

// ednsSize is the UDP payload size this server advertises.
const ednsSize = 1232

// New returns a server with an empty table. It does no I/O.
func New(cfg Config, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("dns config: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{
		cfg: cfg,
		log: logger.With("component", "dns"),
		now: time.Now,
	}
	s.opt = &mdns.OPT{Hdr: mdns.RR_Header{Name: ".", Rrtype: mdns.TypeOPT}}
	s.opt.SetUDPSize(ednsSize)
	s.fwd = newForwarder(cfg)
	if cfg.CacheSize > 0 {
		s.cache = newCache(cfg.CacheSize, cfg.CacheMaxTTL)
	}
	s.Swap(&records.Table{Domain: cfg.Domain})
	return s, nil
}

// Swap installs t as the table answered from. t must not be modified
// afterwards. Queries in flight finish with the table they started with.
func (s *Server) Swap(t *records.Table) {
	if t == nil {
		t = &records.Table{Domain: s.cfg.Domain}
	}
	serial := uint32(s.now().Unix())
	if old := s.z.Load(); old != nil && serial <= old.serial {
		serial = old.serial + 1
	}
	s.z.Store(compile(s.cfg, t, serial, s.z.Load()))
}

// Table returns the table currently answered from.
func (s *Server) Table() *records.Table { return s.z.Load().table }

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Queries:   s.nQueries.Load(),
		NoError:   s.nRcode[mdns.RcodeSuccess].Load(),
		NXDomain:  s.nRcode[mdns.RcodeNameError].Load(),
		ServFail:  s.nRcode[mdns.RcodeServerFailure].Load(),
		Refused:   s.nRcode[mdns.RcodeRefused].Load(),
		FormErr:   s.nRcode[mdns.RcodeFormatError].Load(),
		NotImp:    s.nRcode[mdns.RcodeNotImplemented].Load(),
		Truncated: s.nTruncated.Load(),
		Forwarded: s.nForwarded.Load(),
		CacheHits: s.nCacheHits.Load(),
		Panics:    s.nPanics.Load(),
	}
}

// Serve answers DNS on pc (UDP) and ln (TCP) until ctx is done; either may
// be nil. It closes both before it returns.
func (s *Server) Serve(ctx context.Context, pc net.PacketConn, ln net.Listener) error {
	g, ctx := errgroup.WithContext(ctx)
	run := func(srv *mdns.Server) {
		started := make(chan struct{})
		done := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		srv.MsgInvalidFunc = func([]byte, error) { s.nRcode[mdns.RcodeFormatError].Add(1) }
		g.Go(func() error {
			defer close(done)
			err := srv.ActivateAndServe()
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("dns serve: %w", err)
		})
		g.Go(func() error {
			select {
			case <-ctx.Done():
			case <-done:
				return nil
			}
			select {
			case <-started:
			case <-done:
				return nil
			}
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = srv.ShutdownContext(sctx) // errors here only mean it had stopped already
			return nil
		})
	}
	if pc != nil {
		// Queries are small; 4096 bytes per pooled read buffer is plenty.
		run(&mdns.Server{PacketConn: pc, Handler: s, UDPSize: 4096})
	}
	if ln != nil {
		run(&mdns.Server{Listener: ln, Handler: s, ReadTimeout: 10 * time.Second, IdleTimeout: func() time.Duration { return 10 * time.Second }})
	}
	if pc == nil && ln == nil {
		<-ctx.Done()
	}
	return g.Wait()
}

// ServeDNS implements mdns.Handler.
func (s *Server) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	_, udp := w.RemoteAddr().(*net.UDPAddr)
	m := s.handle(r, udp)
	if err := w.WriteMsg(m); err != nil {
		s.log.Debug("dns write", "error", err)
	}
}

// handlePacket answers one wire-format query as ServeDNS behind miekg's
// server would: undecodable headers are dropped (nil), undecodable bodies
// get FORMERR. It is the network-free path for fuzzing and benchmarks.
func (s *Server) handlePacket(b []byte, udp bool) []byte {
	r := new(mdns.Msg)
	if err := r.Unpack(b); err != nil {
		var h mdns.MsgHdr
		if len(b) < 12 {
			return nil
		}
		h.Id = uint16(b[0])<<8 | uint16(b[1])
		m := &mdns.Msg{MsgHdr: h}
		m.Response = true
		m.Rcode = mdns.RcodeFormatError
		s.count(m)
		out, _ := m.Pack()
		return out
	}
	out, err := s.handle(r, udp).Pack()
	if err != nil {
		return nil
	}
	return out
}

// handle answers one query. It never panics: a panic is logged and
// answered SERVFAIL.
func (s *Server) handle(r *mdns.Msg, udp bool) (m *mdns.Msg) {
	defer func() {
		if p := recover(); p != nil {
			s.nPanics.Add(1)
			s.log.Error("dns handler panic", "panic", fmt.Sprint(p))
			m = new(mdns.Msg)
			m.SetRcode(r, mdns.RcodeServerFailure)
			s.count(m)
		}
	}()
	m = s.answer(r, udp)
	s.count(m)
	return m
}

func (s *Server) count(m *mdns.Msg) {
	s.nQueries.Add(1)
	s.nRcode[m.Rcode&0xF].Add(1)
	if m.Truncated {
		s.nTruncated.Add(1)
	}
}

func (s *Server) answer(r *mdns.Msg, udp bool) *mdns.Msg {
	m := new(mdns.Msg)
	if r.Response || len(r.Question) != 1 {
		m.SetRcodeFormatError(r)
		return m
	}
	if r.Opcode != mdns.OpcodeQuery {
		m.SetRcode(r, mdns.RcodeNotImplemented)
		return m
	}
	m.SetReply(r)
	m.RecursionAvailable = s.cfg.Recurse

	size := mdns.MinMsgSize
	edns := r.IsEdns0()
	if edns != nil {
		if edns.Version() != 0 {
			// RFC 6891 6.1.3: BADVERS needs the extended rcode in our OPT.
			o := &mdns.OPT{Hdr: mdns.RR_Header{Name: ".", Rrtype: mdns.TypeOPT}}
			o.SetUDPSize(ednsSize)
			o.SetExtendedRcode(mdns.RcodeBadVers)
			m.Extra = append(m.Extra, o)
			m.Rcode = mdns.RcodeBadVers
			return m
		}
		if sz := int(edns.UDPSize()); sz > size {
			size = sz
		}
	}

	q := r.Question[0]
	name := strings.ToLower(q.Name)
	z := s.z.Load()
	if fz := s.fwd.zoneFor(name); fz == nil || fz.zone == "." {
		if zone := z.zoneOf(name); zone != nil {
			s.authoritative(m, z, zone, q, name)
			return s.finish(m, edns != nil, udp, size)
		}
	}
	if !s.cfg.Recurse {
		m.Rcode = mdns.RcodeRefused
		return s.finish(m, edns != nil, udp, size)
	}
	s.forward(m, r, name, q)
	return s.finish(m, edns != nil, udp, size)
}

// finish adds the OPT record and fits a UDP answer into the client's size.
func (s *Server) finish(m *mdns.Msg, edns, udp bool, size int) *mdns.Msg {
	if edns {
		m.Extra = append(m.Extra, s.opt)
	}
	if !udp {
		m.Compress = len(m.Answer)+len(m.Ns)+len(m.Extra) > 8
		return m
	}
	n := len(m.Answer)
	m.Truncate(size)
	// miekg sets TC also when it drops only additional records; RFC 2181
	// 9 asks for TC only when the answer itself is incomplete.
	m.Truncated = s.cfg.SetTruncateBit && len(m.Answer) < n
	return m
}

// authoritative fills m from the compiled zones.
func (s *Server) authoritative(m *mdns.Msg, z *compiled, zone *authZone, q mdns.Question, name string) {
	m.Authoritative = true
	if q.Qclass != mdns.ClassINET && q.Qclass != mdns.ClassANY {
		m.Rcode = mdns.RcodeRefused
		return
	}
	e := z.names[name]
	if e == nil {
		m.Rcode = mdns.RcodeNameError
		m.Ns = zone.soaNeg
		return
	}
	k := int(s.rot.Add(1))
	var ans []mdns.RR
	switch q.Qtype {
	case mdns.TypeA:
		ans = rotated(e.a, k)
	case mdns.TypeAAAA:
		ans = rotated(e.aaaa, k)
	case mdns.TypeSRV:
		ans = rotated(e.srv, k)
		m.Extra = e.extra
	case mdns.TypeSOA:
		if e.apex {
			ans = zone.soa
		}
	case mdns.TypeNS:
		if e.apex {
			ans = zone.ns
			m.Extra = zone.nsExtra
		}
	case mdns.TypeANY:
		n := len(e.a) + len(e.aaaa) + len(e.srv)
		if e.apex {
			n += 2
		}
		ans = make([]mdns.RR, 0, n)
		if e.apex {
			ans = append(ans, zone.soa[0], zone.ns[0])
		}
		ans = append(ans, e.a...)
		ans = append(ans, e.aaaa...)
		ans = append(ans, e.srv...)
		m.Extra = e.extra
	}
	if len(ans) == 0 {
		m.Ns = zone.soaNeg
		m.Extra = nil
		return
	}
	if q.Name != name {
		ans = renamed(ans, q.Name)
	}
	m.Answer = ans
}

// rotated returns rrs starting at index k mod len, in a new slice (the
// compiled slices are shared and never modified).
func rotated(rrs []mdns.RR, k int) []mdns.RR {
	n := len(rrs)
	switch n {
	case 0:
		return nil
	case 1:
		return rrs[:1:1] // a full slice expression: appends by miekg copy
	}
	k %= n
	out := make([]mdns.RR, 0, n)
	out = append(out, rrs[k:]...)
	return append(out, rrs[:k]...)
}

// renamed copies rrs with the owner name in the question's case (0x20
// randomisation). It allocates, which only mixed-case questions pay for.
func renamed(rrs []mdns.RR, owner string) []mdns.RR {
	out := make([]mdns.RR, len(rrs))
	for i, rr := range rrs {
		c := mdns.Copy(rr)
		if strings.EqualFold(c.Header().Name, owner) {
			c.Header().Name = owner
		}
		out[i] = c
	}
	return out
}

// compiled is a table turned into ready-made records. Everything in it is
// shared by concurrent queries and never modified; its slices have
// cap == len so that an append by a reader copies.
type compiled struct {
	table  *records.Table
	serial uint32
	// ttl and localTTL are the TTLs its records carry (for reuse by the
	// next compile only when they are the same).
	ttl, localTTL uint32
	zones         []*authZone
	names         map[string]*entry
}

// authZone is one zone this server is authoritative for.
type authZone struct {
	apex    string    // "mesos."
	soa     []mdns.RR // the SOA, for SOA and ANY queries at the apex
	soaNeg  []mdns.RR // the SOA with the negative-caching TTL, for authority sections
	ns      []mdns.RR
	nsExtra []mdns.RR
}

// entry is every record of one name.
type entry struct {
	apex         bool
	a, aaaa, srv []mdns.RR
	extra        []mdns.RR // A/AAAA of the SRV targets
	// reused: a, aaaa and srv are the previous compile's, for a name whose
	// records did not change.
	reused bool
	// set is the table's record set this entry was made from (nil for the
	// names the server adds itself and empty non-terminals).
	set *records.RRSet
}

// zoneOf returns the zone that name (lower case, fully qualified) is in.
func (z *compiled) zoneOf(name string) *authZone {
	for _, zone := range z.zones {
		if inZone(name, zone.apex) {
			return zone
		}
	}
	return nil
}

// inZone reports whether name is apex or below it, on a label boundary.
func inZone(name, apex string) bool {
	if !strings.HasSuffix(name, apex) {
		return false
	}
	n := len(name) - len(apex)
	return n == 0 || name[n-1] == '.'
}

func fqdn(s string) string {
	s = strings.ToLower(s)
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// compile builds the ready-to-answer form of t. It is O(names); records of
// a name whose set is the same as in prev (the table answered from until
// now; nil for none) are shared with prev instead of made again, so a
// rebuild after one task changed allocates for that task's names only.
func compile(cfg Config, t *records.Table, serial uint32, prev *compiled) *compiled {
	domain := fqdn(cfg.Domain)
	ttl := uint32(cfg.TTL / time.Second)
	local := uint32(cfg.LocalTTL / time.Second)
	mname := fqdn(cfg.SOAMname)

	z := &compiled{table: t, serial: serial, ttl: ttl, localTTL: local, names: make(map[string]*entry, len(t.Names)*2+8)}
	ttls := map[string]uint32{}
	for _, apex := range []string{domain, LocalZone + ".", "spartan.", "zk."} {
		zt := local
		if apex == domain {
			zt = ttl
		}
		ttls[apex] = zt
		soa := &mdns.SOA{
			Hdr:     mdns.RR_Header{Name: apex, Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: zt},
			Ns:      mname,
			Mbox:    fqdn(cfg.SOARname),
			Serial:  serial,
			Refresh: cfg.SOARefresh,
			Retry:   cfg.SOARetry,
			Expire:  cfg.SOAExpire,
			Minttl:  cfg.SOAMinttl,
		}
		neg := *soa
		neg.Hdr.Ttl = min(zt, cfg.SOAMinttl) // RFC 2308 5
		zone := &authZone{
			apex:   apex,
			soa:    []mdns.RR{soa},
			soaNeg: []mdns.RR{&neg},
			ns:     []mdns.RR{&mdns.NS{Hdr: mdns.RR_Header{Name: apex, Rrtype: mdns.TypeNS, Class: mdns.ClassINET, Ttl: zt}, Ns: mname}},
		}
		z.zones = append(z.zones, zone)
		z.names[apex] = &entry{apex: true}
	}

	add := func(name string, set *records.RRSet) {
		zone := z.zoneOf(name)
		if zone == nil {
			return // not ours to answer; the builder should not produce it
		}
		e := z.names[name]
		if e == nil {
			e = &entry{}
			z.names[name] = e
		}
		e.reused, e.set = false, nil // appends copy (cap == len), so prev is untouched
		zt := ttls[zone.apex]
		hdr := func(t uint16) mdns.RR_Header {
			return mdns.RR_Header{Name: name, Rrtype: t, Class: mdns.ClassINET, Ttl: zt}
		}
		if len(set.A) > 0 {
			rrs := make([]mdns.A, 0, len(set.A))
			for _, a := range set.A {
				if a.Is4() || a.Is4In6() {
					rrs = append(rrs, mdns.A{Hdr: hdr(mdns.TypeA), A: net.IP(a.Unmap().AsSlice())})
				}
			}
			for i := range rrs {
				e.a = append(e.a, &rrs[i])
			}
		}
		if len(set.AAAA) > 0 {
			rrs := make([]mdns.AAAA, 0, len(set.AAAA))
			for _, a := range set.AAAA {
				if a.Is6() && !a.Is4In6() {
					rrs = append(rrs, mdns.AAAA{Hdr: hdr(mdns.TypeAAAA), AAAA: net.IP(a.AsSlice())})
				}
			}
			for i := range rrs {
				e.aaaa = append(e.aaaa, &rrs[i])
			}
		}
		if len(set.SRV) > 0 {
			rrs := make([]mdns.SRV, len(set.SRV))
			for i, v := range set.SRV {
				rrs[i] = mdns.SRV{Hdr: hdr(mdns.TypeSRV), Priority: v.Priority, Weight: v.Weight, Port: v.Port, Target: fqdn(v.Target)}
				e.srv = append(e.srv, &rrs[i])
			}
		}
	}
	var prevNames map[string]*entry
	if prev != nil && prev.ttl == ttl && prev.localTTL == local {
		prevNames = prev.names
	}
	for name, set := range t.Names {
		if set == nil {
			continue
		}
		fq := fqdn(name)
		if pe := prevNames[fq]; pe != nil && pe.set != nil && sameSet(pe.set, set) && z.names[fq] == nil {
			z.names[fq] = &entry{a: pe.a, aaaa: pe.aaaa, srv: pe.srv, extra: pe.extra, reused: true, set: set}
			continue
		}
		add(fq, set)
		if e := z.names[fq]; e != nil {
			e.set = set
		}
	}

	// Names the server itself owns, unless the table already has them.
	ns1 := mname
	if e := z.names[ns1]; (e == nil || len(e.a)+len(e.aaaa) == 0) && len(cfg.NSAddrs) > 0 {
		set := &records.RRSet{}
		for _, a := range cfg.NSAddrs {
			if a.Unmap().Is4() {
				set.A = append(set.A, a)
			} else {
				set.AAAA = append(set.AAAA, a)
			}
		}
		add(ns1, set)
	}
	add("ready.spartan.", &records.RRSet{A: []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1})}})
	masters := cfg.Masters
	if len(masters) == 0 {
		masters = cfg.NSAddrs
	}
	if len(masters) > 0 {
		for i := range 5 {
			a := masters[i%len(masters)]
			set := &records.RRSet{}
			if a.Unmap().Is4() {
				set.A = []netip.Addr{a}
			} else {
				set.AAAA = []netip.Addr{a}
			}
			add(fmt.Sprintf("zk-%d.zk.", i+1), set)
		}
	}

	// Empty non-terminals exist (NODATA, not NXDOMAIN), and additionals.
	parents := make([]string, 0, 8)
	for name, e := range z.names {
		if e.apex {
			continue
		}
		zone := z.zoneOf(name)
		parents = parents[:0]
		for p := name; ; {
			i := strings.IndexByte(p, '.')
			if i < 0 || i == len(p)-1 {
				break
			}
			p = p[i+1:]
			if len(p) <= len(zone.apex) {
				break
			}
			if _, ok := z.names[p]; ok {
				break
			}
			parents = append(parents, p)
		}
		for _, p := range parents {
			z.names[p] = &entry{}
		}
	}
	for _, e := range z.names {
		if len(e.srv) == 0 {
			continue
		}
		if e.reused && targetsReused(z, e.srv) {
			continue // e.extra is the previous compile's, from the same records
		}
		e.extra = nil
		for i, rr := range e.srv {
			target := rr.(*mdns.SRV).Target
			if slicesIndexTarget(e.srv[:i], target) {
				continue
			}
			if te := z.names[target]; te != nil {
				e.extra = append(e.extra, te.a...)
				e.extra = append(e.extra, te.aaaa...)
			}
		}
	}
	for _, e := range z.names {
		e.a, e.aaaa, e.srv, e.extra = clip(e.a), clip(e.aaaa), clip(e.srv), clip(e.extra)
	}
	for _, zone := range z.zones {
		if e := z.names[mname]; e != nil && inZone(mname, zone.apex) {
			zone.nsExtra = clip(append(append([]mdns.RR(nil), e.a...), e.aaaa...))
		}
	}
	return z
}

// targetsReused reports whether every target of srv has a reused entry
// (the same addresses as in the previous compile), so that the additional
// records computed then still hold.
func targetsReused(z *compiled, srv []mdns.RR) bool {
	for _, rr := range srv {
		if te := z.names[rr.(*mdns.SRV).Target]; te == nil || !te.reused {
			return false
		}
	}
	return true
}

// sameSet reports whether a and b hold the same records in the same order.
func sameSet(a, b *records.RRSet) bool {
	return a == b || slices.Equal(a.A, b.A) && slices.Equal(a.AAAA, b.AAAA) && slices.Equal(a.SRV, b.SRV)
}

func slicesIndexTarget(rrs []mdns.RR, target string) bool {
	for _, rr := range rrs {
		if rr.(*mdns.SRV).Target == target {
			return true
		}
	}
	return false
}

func clip(rrs []mdns.RR) []mdns.RR {
	if len(rrs) == 0 {
		return nil
	}
	return rrs[:len(rrs):len(rrs)]
}
