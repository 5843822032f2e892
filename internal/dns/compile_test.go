package dns

import (
	"maps"
	"net/netip"
	"slices"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/basalt-dcos/basalt/internal/dns/records"
)

// TestCompileReuse: compiling a table against the previous compile answers
// exactly as compiling it from nothing, for names kept, changed, added and
// removed — SRV additionals included when only a target's address moved —
// and leaves the previous compile as it was.
func TestCompileReuse(t *testing.T) {
	cfg := testConfig()
	a := func(s ...string) []netip.Addr {
		var out []netip.Addr
		for _, x := range s {
			out = append(out, netip.MustParseAddr(x))
		}
		return out
	}
	t1 := &records.Table{Domain: "mesos", Names: map[string]*records.RRSet{
		"kept.marathon.mesos.":        {A: a("10.0.0.1", "10.0.0.2")},
		"moved.marathon.mesos.":       {A: a("10.0.0.3")},
		"gone.marathon.mesos.":        {A: a("10.0.0.4")},
		"v6.marathon.mesos.":          {AAAA: a("fd00::1")},
		"t1.agent.mesos.":             {A: a("10.1.0.1")},
		"t2.agent.mesos.":             {A: a("10.1.0.2")},
		"_kept._tcp.marathon.mesos.":  {SRV: []records.SRV{{Target: "t1.agent.mesos.", Port: 80}}},
		"_moved._tcp.marathon.mesos.": {SRV: []records.SRV{{Target: "t2.agent.mesos.", Port: 81}}},
		"_gone._tcp.marathon.mesos.":  {SRV: []records.SRV{{Target: "t1.agent.mesos.", Port: 82}}},
	}}
	t2 := &records.Table{Domain: "mesos", Names: map[string]*records.RRSet{
		"kept.marathon.mesos.":        {A: a("10.0.0.1", "10.0.0.2")},
		"moved.marathon.mesos.":       {A: a("10.0.0.30")},
		"v6.marathon.mesos.":          {AAAA: a("fd00::1")},
		"new.marathon.mesos.":         {A: a("10.0.0.5")},
		"t1.agent.mesos.":             {A: a("10.1.0.1")},
		"t2.agent.mesos.":             {A: a("10.1.0.22")}, // the SRV stays, its target moves
		"_kept._tcp.marathon.mesos.":  {SRV: []records.SRV{{Target: "t1.agent.mesos.", Port: 80}}},
		"_moved._tcp.marathon.mesos.": {SRV: []records.SRV{{Target: "t2.agent.mesos.", Port: 81}}},
		"_new._tcp.marathon.mesos.":   {SRV: []records.SRV{{Target: "new.marathon.mesos.", Port: 83}}},
	}}
	prev := compile(cfg, t1, 1, nil)
	before := dumpCompiled(prev)
	inc := compile(cfg, t2, 2, prev)
	if got, want := dumpCompiled(inc), dumpCompiled(compile(cfg, t2, 2, nil)); !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("reusing compile differs from a fresh one:\n got %v\nwant %v", got, want)
	}
	if after := dumpCompiled(prev); !maps.EqualFunc(after, before, slices.Equal) {
		t.Errorf("the previous compile changed:\n got %v\nwant %v", after, before)
	}
	if e := inc.names["kept.marathon.mesos."]; e == nil || !e.reused || &e.a[0] != &prev.names["kept.marathon.mesos."].a[0] {
		t.Error("an unchanged name's records were made again, not shared")
	}
	if e := inc.names["_moved._tcp.marathon.mesos."]; e == nil || len(e.extra) != 1 || e.extra[0].(*mdns.A).A.String() != "10.1.0.22" {
		t.Errorf("SRV additionals after the target moved: %v", e)
	}
}

// dumpCompiled lists every name's records as text.
func dumpCompiled(z *compiled) map[string][]string {
	out := map[string][]string{}
	for name, e := range z.names {
		var rrs []string
		for _, set := range [][]mdns.RR{e.a, e.aaaa, e.srv, {nil}, e.extra} {
			for _, rr := range set {
				if rr == nil {
					rrs = append(rrs, "--")
					continue
				}
				rrs = append(rrs, rr.String())
			}
		}
		out[name] = rrs
	}
	return out
}
