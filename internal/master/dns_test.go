package master

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseForwardZones(t *testing.T) {
	got, err := parseForwardZones([]string{"Corp.Example.=10.0.0.2|10.0.0.3:5353", "consul=[::1]:8600"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"corp.example.": {"10.0.0.2:53", "10.0.0.3:5353"}, "consul.": {"[::1]:8600"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("zones (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"nozone", "=1.2.3.4", "zone=", "zone=host.example", "zone=1.2.3.4|x"} {
		if _, err := parseForwardZones([]string{bad}); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestDNSConfigValidate(t *testing.T) {
	c := DefaultDNSConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c.IPSources = []string{"host", "carrier-pigeon"}
	c.VIPRange = "11.0.0.0/33"
	c.Resolvers = []string{"not-an-ip"}
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"carrier-pigeon", "vip-range", "not-an-ip"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestMasterAddrs(t *testing.T) {
	c := DefaultConfig()
	if got := masterAddrs(c, "10.0.0.9"); !cmp.Equal(got, []netip.Addr{netip.MustParseAddr("10.0.0.9")}, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })) {
		t.Errorf("single master: %v", got)
	}
	c.Masters = []string{"10.0.0.1", "10.0.0.2:2380", "m3=http://10.0.0.3:2380"}
	got := masterAddrs(c, "10.0.0.1")
	if len(got) != 3 || got[2].String() != "10.0.0.3" {
		t.Errorf("three masters: %v", got)
	}
}

// FuzzParseForwardZones: any flag value parses or errors; parsed upstreams
// are always ip:port and zones end in a dot.
func FuzzParseForwardZones(f *testing.F) {
	for _, s := range []string{"a=1.2.3.4", "corp.=10.0.0.1|10.0.0.2:53", "=", "x=[::1]:53", "a=b=c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		zones, err := parseForwardZones([]string{s})
		if err != nil {
			return
		}
		for z, ups := range zones {
			if !strings.HasSuffix(z, ".") {
				t.Errorf("zone %q", z)
			}
			for _, u := range ups {
				if _, err := netip.ParseAddrPort(u); err != nil {
					t.Errorf("upstream %q: %v", u, err)
				}
			}
		}
	})
}
