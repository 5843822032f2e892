package dns

import (
	"container/list"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

// cacheKey identifies a forwarded question. Names are lower case.
type cacheKey struct {
	name          string
	qtype, qclass uint16
	cd            bool
}

type cacheItem struct {
	key     cacheKey
	msg     *mdns.Msg // never modified once stored
	stored  time.Time
	expires time.Time
}

// cache is a bounded LRU of forwarded answers, positive and negative
// (RFC 2308), each kept for its smallest TTL capped at maxTTL. One mutex:
// the forwarded path already pays a network round trip per miss, and a hit
// copies its records, so the lock is not what limits it.
type cache struct {
	mu     sync.Mutex
	max    int
	maxTTL time.Duration
	ll     *list.List // front: most recently used; values are *cacheItem
	items  map[cacheKey]*list.Element
}

func newCache(max int, maxTTL time.Duration) *cache {
	return &cache{max: max, maxTTL: maxTTL, ll: list.New(), items: make(map[cacheKey]*list.Element)}
}

// get returns a copy of the cached answer with TTLs lowered by its age.
func (c *cache) get(k cacheKey, now time.Time) (*mdns.Msg, bool) {
	c.mu.Lock()
	el, ok := c.items[k]
	if !ok {
		c.mu.Unlock()
		return nil, false
	}
	it := el.Value.(*cacheItem)
	if !now.Before(it.expires) {
		c.ll.Remove(el)
		delete(c.items, k)
		c.mu.Unlock()
		return nil, false
	}
	c.ll.MoveToFront(el)
	c.mu.Unlock()

	age := uint32(now.Sub(it.stored) / time.Second)
	m := new(mdns.Msg)
	m.Rcode = it.msg.Rcode
	m.AuthenticatedData = it.msg.AuthenticatedData
	m.Answer = aged(it.msg.Answer, age)
	m.Ns = aged(it.msg.Ns, age)
	m.Extra = aged(it.msg.Extra, age)
	return m, true
}

func aged(rrs []mdns.RR, age uint32) []mdns.RR {
	if len(rrs) == 0 {
		return nil
	}
	out := make([]mdns.RR, len(rrs))
	for i, rr := range rrs {
		c := mdns.Copy(rr)
		h := c.Header()
		if h.Ttl > age {
			h.Ttl -= age
		} else {
			h.Ttl = 0
		}
		out[i] = c
	}
	return out
}

// put stores m (which must not be modified afterwards) if it is cacheable.
func (c *cache) put(k cacheKey, m *mdns.Msg, now time.Time) {
	ttl, ok := cacheTTL(m)
	if !ok {
		return
	}
	d := min(time.Duration(ttl)*time.Second, c.maxTTL)
	if d <= 0 {
		return
	}
	it := &cacheItem{key: k, msg: m, stored: now, expires: now.Add(d)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		el.Value = it
		c.ll.MoveToFront(el)
		return
	}
	c.items[k] = c.ll.PushFront(it)
	for c.ll.Len() > c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(*cacheItem).key)
	}
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

// cacheTTL is how long m may be cached: the smallest TTL of its answer and
// authority records when it has an answer; for NXDOMAIN and NODATA the
// SOA's min(TTL, MINIMUM) (RFC 2308 5); not at all without an SOA or for
// other rcodes or truncated answers.
func cacheTTL(m *mdns.Msg) (uint32, bool) {
	if m.Truncated {
		return 0, false
	}
	switch {
	case m.Rcode == mdns.RcodeSuccess && len(m.Answer) > 0:
		ttl := ^uint32(0)
		for _, sec := range [][]mdns.RR{m.Answer, m.Ns} {
			for _, rr := range sec {
				ttl = min(ttl, rr.Header().Ttl)
			}
		}
		return ttl, true
	case m.Rcode == mdns.RcodeSuccess || m.Rcode == mdns.RcodeNameError:
		for _, rr := range m.Ns {
			if soa, ok := rr.(*mdns.SOA); ok {
				return min(soa.Hdr.Ttl, soa.Minttl), true
			}
		}
	}
	return 0, false
}
