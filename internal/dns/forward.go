package dns

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
)

// forwarder sends queries for names outside the authoritative zones to
// upstream resolvers.
type forwarder struct {
	timeout   time.Duration
	resolvers []string
	zones     []fwdZone // most specific (longest) first
	next      atomic.Uint32
	udp, tcp  *mdns.Client
}

type fwdZone struct {
	zone      string // "example.com."
	upstreams []string
}

// parallel is how many upstreams are asked at once (dcos-dns asks two).
const parallel = 2

func newForwarder(cfg Config) *forwarder {
	f := &forwarder{
		timeout: cfg.Timeout,
		udp:     &mdns.Client{Net: "udp", Timeout: cfg.Timeout, UDPSize: 65535},
		tcp:     &mdns.Client{Net: "tcp", Timeout: cfg.Timeout},
	}
	for _, u := range cfg.Resolvers {
		f.resolvers = append(f.resolvers, withPort(u))
	}
	for z, ups := range cfg.ForwardZones {
		fz := fwdZone{zone: fqdn(z)}
		for _, u := range ups {
			fz.upstreams = append(fz.upstreams, withPort(u))
		}
		f.zones = append(f.zones, fz)
	}
	sort.Slice(f.zones, func(i, j int) bool {
		if len(f.zones[i].zone) != len(f.zones[j].zone) {
			return len(f.zones[i].zone) > len(f.zones[j].zone)
		}
		return f.zones[i].zone < f.zones[j].zone
	})
	return f
}

// zoneFor returns the most specific forward zone containing name, or nil.
func (f *forwarder) zoneFor(name string) *fwdZone {
	for i := range f.zones {
		if inZone(name, f.zones[i].zone) || f.zones[i].zone == "." {
			return &f.zones[i]
		}
	}
	return nil
}

// upstreams returns where name goes: its forward zone's upstreams, else the
// resolvers.
func (f *forwarder) upstreams(name string) []string {
	if z := f.zoneFor(name); z != nil {
		return z.upstreams
	}
	return f.resolvers
}

var errAllFailed = errors.New("no upstream answered")

// exchange asks ups, two at a time starting at a rotating offset, and
// returns the first answer with rcode NOERROR or NXDOMAIN.
func (f *forwarder) exchange(ctx context.Context, q *mdns.Msg, ups []string) (*mdns.Msg, error) {
	if len(ups) == 0 {
		return nil, errAllFailed
	}
	start := int(f.next.Add(1)) % len(ups)
	order := make([]string, 0, len(ups))
	order = append(order, ups[start:]...)
	order = append(order, ups[:start]...)

	type result struct {
		m   *mdns.Msg
		err error
	}
	var errs []error
	for i := 0; i < len(order); i += parallel {
		batch := order[i:min(i+parallel, len(order))]
		bctx, cancel := context.WithCancel(ctx)
		ch := make(chan result, len(batch))
		for _, u := range batch {
			go func() {
				m, err := f.one(bctx, q.Copy(), u)
				ch <- result{m, err}
			}()
		}
		for range batch {
			r := <-ch
			if r.err == nil {
				cancel()
				return r.m, nil
			}
			errs = append(errs, r.err)
		}
		cancel()
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("%w: %w", errAllFailed, errors.Join(errs...))
}

// one asks one upstream over UDP, and again over TCP when the UDP answer
// was truncated.
func (f *forwarder) one(ctx context.Context, q *mdns.Msg, upstream string) (*mdns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	m, _, err := f.udp.ExchangeContext(ctx, q, upstream)
	if err == nil && m.Truncated {
		m, _, err = f.tcp.ExchangeContext(ctx, q, upstream)
	}
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", upstream, err)
	}
	if m.Rcode != mdns.RcodeSuccess && m.Rcode != mdns.RcodeNameError {
		return nil, fmt.Errorf("upstream %s: rcode %s", upstream, mdns.RcodeToString[m.Rcode])
	}
	if len(m.Question) != 1 || !strings.EqualFold(m.Question[0].Name, q.Question[0].Name) || m.Question[0].Qtype != q.Question[0].Qtype {
		return nil, fmt.Errorf("upstream %s: answer to another question", upstream)
	}
	return m, nil
}

// forward fills m (already SetReply to r) with the upstreams' answer,
// from the cache when it has one.
func (s *Server) forward(m, r *mdns.Msg, name string, q mdns.Question) {
	ups := s.fwd.upstreams(name)
	if len(ups) == 0 {
		m.Rcode = mdns.RcodeRefused
		return
	}
	key := cacheKey{name: name, qtype: q.Qtype, qclass: q.Qclass, cd: r.CheckingDisabled}
	now := s.now()
	if s.cache != nil {
		if c, ok := s.cache.get(key, now); ok {
			s.nCacheHits.Add(1)
			fill(m, c)
			return
		}
	}
	s.nForwarded.Add(1)
	uq := new(mdns.Msg)
	uq.Id = mdns.Id()
	uq.RecursionDesired = true
	uq.CheckingDisabled = r.CheckingDisabled
	uq.Question = []mdns.Question{{Name: name, Qtype: q.Qtype, Qclass: q.Qclass}}
	uq.SetEdns0(ednsSize, false)

	// The client's own deadline is a few seconds at most; ours is one
	// timeout per round of two upstreams.
	rounds := (len(ups) + parallel - 1) / parallel
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rounds)*s.cfg.Timeout)
	defer cancel()
	up, err := s.fwd.exchange(ctx, uq, ups)
	if err != nil {
		s.log.Debug("dns forward", "name", name, "error", err)
		m.Rcode = mdns.RcodeServerFailure
		return
	}
	up.Extra = withoutOPT(up.Extra)
	if s.cache != nil {
		s.cache.put(key, up, now)
	}
	fill(m, up)
}

// fill copies an upstream answer's sections and flags into m. The RRs are
// shared with the cache and must not be modified; section slices are
// clipped so appends copy.
func fill(m, up *mdns.Msg) {
	m.Rcode = up.Rcode
	m.Authoritative = false
	m.AuthenticatedData = up.AuthenticatedData
	m.Answer = clip(up.Answer)
	m.Ns = clip(up.Ns)
	m.Extra = clip(up.Extra)
}

func withoutOPT(rrs []mdns.RR) []mdns.RR {
	out := rrs[:0:0]
	for _, rr := range rrs {
		if rr.Header().Rrtype != mdns.TypeOPT {
			out = append(out, rr)
		}
	}
	return out
}
