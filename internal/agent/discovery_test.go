package agent

import (
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestIsSelf(t *testing.T) {
	for _, c := range []struct {
		listen, ns string
		want       bool
	}{
		{"127.0.1.53:53", "127.0.1.53:53", true},
		{"127.0.1.53:53", "127.0.0.53:53", false}, // systemd-resolved beside the agent: an upstream
		{"127.0.1.53:53", "10.0.0.2:53", false},
		{"198.51.100.1:53", "198.51.100.1:53", true},
		{":53", "127.0.0.1:53", true},
		{"0.0.0.0:53", "127.0.0.53:53", true}, // the agent answers on every loopback address
		{"[::]:53", "[::1]:53", true},
		{":5353", "127.0.0.1:53", false},
	} {
		if got := isSelf(c.listen)(netip.MustParseAddrPort(c.ns)); got != c.want {
			t.Errorf("isSelf(%q)(%s) = %v, want %v", c.listen, c.ns, got, c.want)
		}
	}
}

func TestTaskResolvConfFunc(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	if f := taskResolvConf(DiscoveryConfig{}, log); f != nil {
		t.Error("a resolv.conf without an agent DNS server")
	}
	if f := taskResolvConf(DiscoveryConfig{DNSListen: "127.0.0.1:0"}, log); f != nil {
		t.Error("a resolv.conf naming a server that is not on port 53")
	}
	f := taskResolvConf(DiscoveryConfig{DNSListen: "198.51.100.1:53"}, log)
	if f == nil {
		t.Fatal("no resolv.conf for an agent DNS server on port 53")
	}
	b, err := f()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\nnameserver 198.51.100.1\n") || strings.Count(string(b), "nameserver") != 1 {
		t.Errorf("resolv.conf:\n%s", b)
	}
	if host, err := os.ReadFile(hostResolvConf); err == nil {
		for _, l := range strings.Split(string(host), "\n") {
			if strings.HasPrefix(l, "search ") && !strings.Contains(string(b), strings.Join(strings.Fields(l), " ")) {
				t.Errorf("the host's %q is not in\n%s", l, b)
			}
		}
	}
}

// TestDiscoveryDNSFlags: the flags that shape answers are checked and reach
// the agent's records, as the masters' flags of the same names do.
func TestDiscoveryDNSFlags(t *testing.T) {
	c := DefaultDiscoveryConfig()
	c.DNSListen = "127.0.0.1:0"
	c.DNSIPSources = []string{"netinfo", "nope"}
	c.DNSForwardZones = []string{"corp=not-an-ip"}
	err := c.validate()
	if err == nil || !strings.Contains(err.Error(), `unknown source "nope"`) || !strings.Contains(err.Error(), "dns-forward-zones") {
		t.Errorf("validate = %v, want both bad flags reported", err)
	}
	c.DNSIPSources = []string{"netinfo", "host"}
	c.DNSForwardZones = []string{"corp.example=10.0.0.2"}
	c.DNSEnforceRFC952 = true
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	a := &Agent{cfg: Config{Discovery: c, Masters: []string{"http://127.0.0.1:1"}}, log: slog.New(slog.DiscardHandler)}
	d, err := a.newDiscovery()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.rcfg.IPSources, c.DNSIPSources) || !d.rcfg.EnforceRFC952 {
		t.Errorf("records config %+v", d.rcfg)
	}
}
