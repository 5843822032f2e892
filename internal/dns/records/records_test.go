package records

import (
	"crypto/sha1"
	"encoding/json"
	"flag"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

type fixture struct {
	Masters  []netip.Addr           `json:"masters"`
	Leader   *mesosv1.MasterInfo    `json:"leader"`
	GetState *mesosv1.OperatorState `json:"get_state"`
}

func loadState(t testing.TB) *State {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx fixture
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	return StateFromOperator(fx.GetState, fx.Leader, fx.Masters)
}

func goldenConfigs() map[string]Config {
	rfc := DefaultConfig()
	rfc.EnforceRFC952 = true
	rfc.IPSources = []string{"netinfo", "mesos", "host"}
	return map[string]Config{"default": DefaultConfig(), "rfc952_netinfo": rfc}
}

func TestGolden(t *testing.T) {
	st := loadState(t)
	for name, cfg := range goldenConfigs() {
		t.Run(name, func(t *testing.T) {
			got := Dump(Build(cfg, st))
			path := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/dns/records -update)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s differs (-want +got); rerun with -update if intended:\n%s", path, diff)
			}
		})
	}
}

// TestKeyLines checks, against hand-derived expectations from reference
// §4.1, §4.3 and §4.4, the lines that matter most in the golden output.
func TestKeyLines(t *testing.T) {
	st := loadState(t)
	tab := Build(DefaultConfig(), st)
	dump := Dump(tab)
	h1 := TaskHash("web.0a0a0a0a-0000-0000-0000-000000000001")
	h3 := TaskHash("prod_web.0a0a0a0a-0000-0000-0000-000000000003")
	hb := TaskHash("bridged.0a0a0a0a-0000-0000-0000-000000000004")
	want := []string{
		"web.marathon.mesos. A 10.0.1.1",
		"web.marathon.mesos. A 10.0.1.3",
		"web-" + h1 + "-s3.marathon.mesos. A 10.0.1.3",
		"web-" + h1 + "-s3.marathon.slave.mesos. A 10.0.1.3",
		"_web._tcp.marathon.mesos. SRV 0 1 31000 web-" + h1 + "-s3.marathon.mesos.",
		"_web._udp.marathon.mesos. SRV 0 1 31001 web-" + h1 + "-s3.marathon.mesos.",
		"_http._web._tcp.marathon.mesos. SRV 0 1 31000 web-" + h1 + "-s3.marathon.mesos.",
		"_dns._web._udp.marathon.mesos. SRV 0 1 31001 web-" + h1 + "-s3.marathon.mesos.",
		"_web._tcp.marathon.slave.mesos. SRV 0 1 31000 web-" + h1 + "-s3.marathon.slave.mesos.",
		"_web._udp.marathon.slave.mesos. SRV 0 1 31000 web-" + h1 + "-s3.marathon.slave.mesos.",
		// Marathon's /prod/web: task name "web.prod".
		"web.prod.marathon.mesos. A 10.0.1.1",
		"web-prod.marathon.mesos. A 10.0.1.1",
		"web-prod-" + h3 + "-s1.marathon.mesos. A 10.0.1.1",
		"_web-prod._tcp.marathon.mesos. SRV 0 1 31005 web-prod-" + h3 + "-s1.marathon.mesos.",
		"web-prod.marathon.agentip.dcos.thisdcos.directory. A 10.0.1.1",
		// Docker bridge: host source first, so the agent's address.
		"bridged.marathon.mesos. A 10.0.1.4",
		"_web._bridged._tcp.marathon.mesos. SRV 0 1 31010 bridged-" + hb + "-s4.marathon.mesos.",
		"bridged.marathon.containerip.dcos.thisdcos.directory. A 172.17.0.2",
		"bridged.marathon.autoip.dcos.thisdcos.directory. A 10.0.1.4",
		"bridged.marathon.agentip.dcos.thisdcos.directory. A 10.0.1.4",
		// IPv6 container on an overlay: no host ports, so autoip is the container.
		"db-v6.marathon.containerip.dcos.thisdcos.directory. AAAA fd01:b::2:8000:0:2",
		"db-v6.marathon.autoip.dcos.thisdcos.directory. AAAA fd01:b::2:8000:0:2",
		"db-v6.marathon.autoip.dcos.thisdcos.directory. A 9.0.2.5",
		// Framework names keep their dots; task names become one label.
		"data-node1.myframework.prod-env.mesos. A 10.0.1.3",
		"job1-run-20261205.metronome.mesos. A 10.0.1.1",
		// Cluster names.
		"leader.mesos. A 10.0.0.2",
		"_leader._tcp.mesos. SRV 0 1 5050 leader.mesos.",
		"_leader._udp.mesos. SRV 0 1 5050 leader.mesos.",
		"master.mesos. A 10.0.0.3",
		"master0.mesos. A 10.0.0.1",
		"_master._tcp.mesos. SRV 0 1 5050 master2.mesos.",
		"slave.mesos. A 10.0.1.4",
		"_slave._tcp.mesos. SRV 0 1 5052 slave.mesos.",
		"marathon.mesos. A 10.0.0.2",
		"_framework._tcp.marathon.mesos. SRV 0 1 8080 marathon.mesos.",
		// The mirror.
		"web.marathon.mesos.thisdcos.directory. A 10.0.1.3",
		"_web._tcp.marathon.mesos.thisdcos.directory. SRV 0 1 31000 web-" + h1 + "-s3.marathon.mesos.",
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(dump, "\n") {
		lines[l] = true
	}
	for _, w := range want {
		if !lines[w] {
			t.Errorf("missing line %q", w)
		}
	}
	for _, absent := range []string{"_web._tcp.marathon.mesos. SRV 0 1 31300 ", "orphan", "31200", "\nmetronome.mesos. A"} {
		if strings.Contains(dump, absent) {
			t.Errorf("dump contains %q, which must not appear", absent)
		}
	}

	// VIPs.
	byFQDN := map[string]VIP{}
	for _, v := range tab.VIPs {
		byFQDN[v.FQDN+"|"+v.IP.String()] = v
	}
	find := func(fqdn string) VIP {
		t.Helper()
		for k, v := range byFQDN {
			if strings.HasPrefix(k, fqdn+"|") {
				return v
			}
		}
		t.Fatalf("no VIP %s in %v", fqdn, tab.VIPs)
		return VIP{}
	}
	my := find("my-service.marathon.l4lb.thisdcos.directory.")
	wantBE := []Backend{{IP: netip.MustParseAddr("10.0.1.3"), Port: 31000, TaskID: "web.0a0a0a0a-0000-0000-0000-000000000001"}}
	if diff := cmp.Diff(wantBE, my.Backends, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("my-service backends (the unhealthy task must be left out):\n%s", diff)
	}
	if !netip.MustParsePrefix("11.0.0.0/8").Contains(my.IP) || my.Port != 80 || my.Protocol != "tcp" {
		t.Errorf("my-service = %v:%d/%s", my.IP, my.Port, my.Protocol)
	}
	if set := tab.Names["my-service.marathon.l4lb.thisdcos.directory."]; set == nil || len(set.A) != 1 || set.A[0] != my.IP {
		t.Errorf("my-service FQDN records = %+v, want A %v", set, my.IP)
	}
	find("grpapp.marathon.l4lb.thisdcos.directory.")
	db := find("db.marathon.l4lb.thisdcos.directory.")
	if len(db.Backends) != 1 || db.Backends[0].IP != netip.MustParseAddr("9.0.2.5") || db.Backends[0].Port != 5432 {
		t.Errorf("db backends = %v, want the overlay address 9.0.2.5:5432", db.Backends)
	}
	legacy := find("legacy-svc.myframework.prod-env.l4lb.thisdcos.directory.")
	if legacy.Protocol != "udp" || legacy.Port != 53 || len(legacy.Backends) != 1 || legacy.Backends[0].Port != 4001 {
		t.Errorf("legacy VIP = %+v", legacy)
	}
	var ipv VIP
	for _, v := range tab.VIPs {
		if v.IP == netip.MustParseAddr("10.10.0.1") {
			ipv = v
		}
	}
	if len(ipv.Backends) != 1 || ipv.Backends[0].IP != netip.MustParseAddr("10.0.1.4") || ipv.Backends[0].Port != 31010 {
		t.Errorf("IP VIP (bridge task) backends = %v, want agent 10.0.1.4:31010", ipv.Backends)
	}
}

func TestBuildDeterministic(t *testing.T) {
	st := loadState(t)
	cfg := DefaultConfig()
	want := Build(cfg, st)
	r := rand.New(rand.NewPCG(1, 2))
	for range 10 {
		sh := *st
		sh.Tasks = append([]*mesosv1.Task(nil), st.Tasks...)
		sh.Agents = append([]*mesosv1.OperatorAgent(nil), st.Agents...)
		sh.Frameworks = append([]*mesosv1.OperatorFramework(nil), st.Frameworks...)
		r.Shuffle(len(sh.Tasks), func(i, j int) { sh.Tasks[i], sh.Tasks[j] = sh.Tasks[j], sh.Tasks[i] })
		r.Shuffle(len(sh.Agents), func(i, j int) { sh.Agents[i], sh.Agents[j] = sh.Agents[j], sh.Agents[i] })
		r.Shuffle(len(sh.Frameworks), func(i, j int) { sh.Frameworks[i], sh.Frameworks[j] = sh.Frameworks[j], sh.Frameworks[i] })
		got := Build(cfg, &sh)
		if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Fatalf("Build depends on input order:\n%s", diff)
		}
	}
}

func TestBuildEmpty(t *testing.T) {
	tab := Build(Config{}, &State{})
	if tab.Domain != "mesos" || len(tab.Names) != 0 || len(tab.VIPs) != 0 || len(tab.Frameworks) != 0 {
		t.Errorf("Build of nothing = %+v", tab)
	}
}

// zbase32Ref is an independent, bit-by-bit z-base-32 encoder.
func zbase32Ref(data []byte) string {
	const alpha = "ybndrfg8ejkmcpqxot1uwisza345h769"
	var out []byte
	acc, n := 0, 0
	for _, by := range data {
		for i := 7; i >= 0; i-- {
			acc = acc<<1 | int(by>>uint(i)&1)
			n++
			if n == 5 {
				out = append(out, alpha[acc])
				acc, n = 0, 0
			}
		}
	}
	if n > 0 {
		out = append(out, alpha[acc<<(5-n)])
	}
	return string(out)
}

func TestTaskHash(t *testing.T) {
	// The z-base-32 specification's example: 0xF0BFC7 -> "6n9hq".
	if got := zbase32Ref([]byte{0xF0, 0xBF, 0xC7}); got != "6n9hq" {
		t.Fatalf("reference encoder: %q, want 6n9hq", got)
	}
	for _, id := range []string{"", "web.0a0a0a0a-0000-0000-0000-000000000001", "x", strings.Repeat("é", 100)} {
		sum := sha1.Sum([]byte(id))
		want := zbase32Ref(sum[:])[:5]
		if got := TaskHash(id); got != want {
			t.Errorf("TaskHash(%q) = %q, want %q", id, got, want)
		}
	}
	// SHA-1("") starts da39a3ee: bits 11011 01000 11100 11010 00111 are
	// 27 8 28 26 7, which the alphabet turns into "5eh48".
	if got := TaskHash(""); got != "5eh48" {
		t.Errorf(`TaskHash("") = %q, want "5eh48" (computed by hand)`, got)
	}
}

func TestLabel(t *testing.T) {
	long := strings.Repeat("a", 70)
	tests := []struct {
		in, want, want952 string
	}{
		{"web", "web", "web"},
		{"Web_Server.Prod", "web-server-prod", "web-server-prod"},
		{"My Framework", "myframework", "myframework"},
		{"--x--", "x", "x"},
		{"1st-worker", "1st-worker", "st-worker"},
		{"123", "123", ""},
		{"-1-2-abc", "1-2-abc", "abc"},
		{"!!!", "", ""},
		{"", "", ""},
		{"héllo", "hllo", "hllo"},
		{long, strings.Repeat("a", 63), strings.Repeat("a", 24)},
		{strings.Repeat("a", 62) + "-b", strings.Repeat("a", 62), strings.Repeat("a", 24)},
		{"averyveryverylongapplicationname", "averyveryverylongapplicationname", "averyveryverylongapplica"},
		{strings.Repeat("a", 23) + "_b", strings.Repeat("a", 23) + "-b", strings.Repeat("a", 23)},
	}
	for _, tc := range tests {
		if got := Label(tc.in, false); got != tc.want {
			t.Errorf("Label(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := Label(tc.in, true); got != tc.want952 {
			t.Errorf("Label(%q, rfc952) = %q, want %q", tc.in, got, tc.want952)
		}
	}
	for in, want := range map[string]string{
		"My Framework.Prod_Env": "myframework.prod-env",
		"marathon":              "marathon",
		"a..b.":                 "a.b",
		".!.":                   "",
		"/my-service":           "my-service",
		"/grp/app":              "grpapp",
	} {
		if got := DomainFrag(in, false); got != want {
			t.Errorf("DomainFrag(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseVIPLabel(t *testing.T) {
	tests := []struct {
		in   string
		want VIPSpec
		err  bool
	}{
		{in: "/my-service:5555", want: VIPSpec{Name: "my-service", Port: 5555}},
		{in: "/grp/app:80", want: VIPSpec{Name: "grpapp", Port: 80}},
		{in: "1.2.3.4:80", want: VIPSpec{IP: netip.MustParseAddr("1.2.3.4"), Port: 80}},
		{in: "[fd00::1]:443", want: VIPSpec{IP: netip.MustParseAddr("fd00::1"), Port: 443}},
		{in: "tcp://5.5.5.5:9000", want: VIPSpec{IP: netip.MustParseAddr("5.5.5.5"), Port: 9000, Protocol: "tcp"}},
		{in: "UDP://Legacy_Svc:53", want: VIPSpec{Name: "legacy-svc", Port: 53, Protocol: "udp"}},
		{in: "/svc", err: true},
		{in: "/svc:0", err: true},
		{in: "/svc:65536", err: true},
		{in: "/:80", err: true},
		{in: "sctp://a:1", err: true},
	}
	for _, tc := range tests {
		got, err := ParseVIPLabel(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("ParseVIPLabel(%q) error = %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" && !tc.err {
			t.Errorf("ParseVIPLabel(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestVIPAllocator(t *testing.T) {
	keys := []string{"marathon/a", "marathon/b", "marathon/c"}
	alloc := func(rng string, taken ...string) map[string]netip.Addr {
		tk := map[netip.Addr]bool{}
		for _, s := range taken {
			tk[netip.MustParseAddr(s)] = true
		}
		a, ok := newVIPAllocator(netip.MustParsePrefix(rng), tk)
		if !ok {
			t.Fatalf("no allocator for %s", rng)
		}
		out := map[string]netip.Addr{}
		for _, k := range keys {
			if ip, ok := a.allocate(k); ok {
				out[k] = ip
			}
		}
		return out
	}
	first := alloc("11.0.0.0/8")
	if diff := cmp.Diff(first, alloc("11.0.0.0/8"), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("not deterministic:\n%s", diff)
	}
	// A /30 has two usable addresses: the third key gets none, and the
	// network and broadcast addresses are never used.
	small := alloc("10.9.9.0/30")
	if len(small) != 2 {
		t.Errorf("/30 allocated %v, want 2 addresses", small)
	}
	for _, ip := range small {
		if ip.String() == "10.9.9.0" || ip.String() == "10.9.9.3" {
			t.Errorf("allocated %v, the range's first or last address", ip)
		}
	}
	// A taken address (an IP VIP) is skipped.
	tiny := alloc("10.9.9.0/29", "10.9.9.1", "10.9.9.2", "10.9.9.3", "10.9.9.4")
	for k, ip := range tiny {
		if s := ip.String(); s != "10.9.9.5" && s != "10.9.9.6" {
			t.Errorf("%s got %v, want 10.9.9.5 or .6", k, ip)
		}
	}
	v6 := alloc("fd00:11::/64")
	for k, ip := range v6 {
		if !netip.MustParsePrefix("fd00:11::/64").Contains(ip) {
			t.Errorf("%s got %v outside the range", k, ip)
		}
	}
}
