package records

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

func FuzzLabel(f *testing.F) {
	for _, s := range []string{"web", "Web_Server.Prod", "-1-2-abc", "héllo", strings.Repeat("a-", 40), "", "_", "9"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, rfc952 bool) {
		l := Label(s, rfc952)
		if l != "" {
			if !ValidName(l + ".") {
				t.Fatalf("Label(%q) = %q, not a valid DNS label", s, l)
			}
			if strings.HasPrefix(l, "_") || len(l) > 63 || (rfc952 && (len(l) > 24 || ('0' <= l[0] && l[0] <= '9'))) {
				t.Fatalf("Label(%q, %v) = %q breaks its limits", s, rfc952, l)
			}
		}
		if again := Label(l, rfc952); again != l {
			t.Fatalf("Label not idempotent: %q -> %q -> %q", s, l, again)
		}
		if d := DomainFrag(s, rfc952); d != "" && !ValidName(d+".") && len(d) <= 253 {
			t.Fatalf("DomainFrag(%q) = %q, not a valid name", s, d)
		}
	})
}

func FuzzParseVIPLabel(f *testing.F) {
	for _, s := range []string{"/my-service:5555", "1.2.3.4:80", "[fd00::1]:443", "tcp://5.5.5.5:9000", "udp://x:53", ":80", "a:", "a:99999", "[::ffff:1.2.3.4]:1", "fe80::1%eth0:80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := ParseVIPLabel(s)
		if err != nil {
			return
		}
		if spec.Port == 0 {
			t.Fatalf("ParseVIPLabel(%q) = port 0", s)
		}
		if (spec.Name == "") == !spec.IP.IsValid() {
			t.Fatalf("ParseVIPLabel(%q) = %+v: want exactly one of name and IP", s, spec)
		}
		if spec.Name != "" && (spec.Name != VIPName(spec.Name) || !ValidName(spec.Name+".") && len(spec.Name) <= 253) {
			t.Fatalf("ParseVIPLabel(%q) name %q is not sanitised", s, spec.Name)
		}
		if spec.Protocol != "" && spec.Protocol != "tcp" && spec.Protocol != "udp" {
			t.Fatalf("ParseVIPLabel(%q) protocol %q", s, spec.Protocol)
		}
	})
}

// FuzzBuild builds a small cluster whose framework, task, discovery,
// port and label names come from the fuzzer, and checks that every name
// in the Table is a valid lower-case FQDN and that Build is repeatable.
func FuzzBuild(f *testing.F) {
	f.Add("marathon", "web.prod", "web.prod", "http", "tcp", "VIP_0", "/my-service:80", "VIP_PORT0", "tcp://1.2.3.4:80", uint16(31000), "a-b-S3", false)
	f.Add("My Framework", "Data_Node 1!", "", "", "udp", "VIP", "/grp/app:8080", "VIP_PORTx", "udp://x:1", uint16(1), "S0", true)
	f.Add(strings.Repeat("f.", 60), strings.Repeat("t", 300), strings.Repeat("d.", 100), strings.Repeat("_", 70), "sctp", "vip_1", "[fd00::1]:1", "VIP_PORT0", "tcp://"+strings.Repeat("n", 300)+":1", uint16(65535), strings.Repeat("-", 5), false)
	f.Fuzz(func(t *testing.T, fwName, taskName, discName, portName, proto, vipKey, vipVal, taskLabelKey, taskLabelVal string, port uint16, agentID string, rfc952 bool) {
		cfg := DefaultConfig()
		cfg.EnforceRFC952 = rfc952
		cfg.IPSources = []string{"netinfo", "host"}
		healthy := port%2 == 0
		st := &State{
			Leader:  &mesosv1.MasterInfo{Address: &mesosv1.Address{IP: "10.0.0.1", Port: 5050}},
			Masters: []netip.Addr{netip.MustParseAddr("10.0.0.1")},
			Agents: []*mesosv1.OperatorAgent{{
				AgentInfo: mesosv1.AgentInfo{Hostname: "10.0.1.1", ID: &mesosv1.ID{Value: agentID}},
			}},
			Frameworks: []*mesosv1.OperatorFramework{{
				FrameworkInfo: mesosv1.FrameworkInfo{Name: fwName, ID: &mesosv1.ID{Value: "fw"}, Hostname: "10.0.0.1", WebuiURL: "http://10.0.0.1:8080"},
			}},
			Tasks: []*mesosv1.Task{{
				Name: taskName, TaskID: mesosv1.ID{Value: taskName + "-id"}, FrameworkID: mesosv1.ID{Value: "fw"},
				AgentID: mesosv1.ID{Value: agentID}, State: mesosv1.TaskRunning,
				Resources: []mesosv1.Resource{{Name: "ports", Type: mesosv1.Ranges, Ranges: &mesosv1.ValueRanges{Range: []mesosv1.ValueRange{{Begin: uint64(port), End: uint64(port)}}}}},
				Labels:    &mesosv1.Labels{Labels: []mesosv1.Label{{Key: taskLabelKey, Value: taskLabelVal}}},
				Discovery: &mesosv1.DiscoveryInfo{Name: discName, Ports: &mesosv1.Ports{Ports: []mesosv1.Port{{
					Number: uint32(port), Name: portName, Protocol: proto,
					Labels: &mesosv1.Labels{Labels: []mesosv1.Label{{Key: vipKey, Value: vipVal}}},
				}}}},
				Statuses: []mesosv1.TaskStatus{{State: mesosv1.TaskRunning, Healthy: &healthy, ContainerStatus: &mesosv1.ContainerStatus{
					NetworkInfos: []mesosv1.NetworkInfo{{IPAddresses: []mesosv1.IPAddress{{IPAddress: "fd00::5"}, {IPAddress: "9.0.0.5"}}}},
				}}},
			}},
		}
		tab := Build(cfg, st)
		check := func(what, n string) {
			if !ValidName(n) || strings.ToLower(n) != n {
				t.Fatalf("%s %q is not a valid lower-case FQDN", what, n)
			}
		}
		for n, s := range tab.Names {
			check("name", n)
			for _, r := range s.SRV {
				check("SRV target of "+n, r.Target)
				if r.Port == 0 {
					t.Fatalf("SRV %s with port 0", n)
				}
			}
			for _, a := range s.A {
				if !a.Is4() {
					t.Fatalf("A record %v of %s is not IPv4", a, n)
				}
			}
			for _, a := range s.AAAA {
				if !a.Is6() || a.Is4In6() {
					t.Fatalf("AAAA record %v of %s is not IPv6", a, n)
				}
			}
		}
		for _, v := range tab.VIPs {
			if v.FQDN != "" {
				check("VIP", v.FQDN)
			}
			if v.Protocol != "tcp" && v.Protocol != "udp" {
				t.Fatalf("VIP protocol %q", v.Protocol)
			}
		}
		if Dump(tab) != Dump(Build(cfg, st)) {
			t.Fatal("Build is not repeatable")
		}
	})
}
