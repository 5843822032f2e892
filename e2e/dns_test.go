package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/basalt-dcos/basalt/internal/proccluster"
)

// webApp is a Marathon app in a group with two named ports and a VIP, so
// that DNS has A, SRV, named-port SRV and l4lb names to serve.
const webApp = `{
  "id": "/prod/web",
  "cmd": "sleep 1000",
  "cpus": 0.1, "mem": 16, "instances": 2,
  "portDefinitions": [
    {"port": 0, "name": "http", "protocol": "tcp", "labels": {"VIP_0": "/prod/web:80"}},
    {"port": 0, "name": "metrics", "protocol": "udp"}
  ]
}`

// needDig returns the path of dig, or skips (fails under CI=true) when it
// is missing: scripts/test installs it (dnsutils).
func needDig(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("dig")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("dig is missing (scripts/test installs dnsutils)")
		}
		t.Skip("dig is missing: install dnsutils (scripts/test does)")
	}
	return p
}

// dig runs dig against server (host:port) and returns its +short output
// lines, sorted, or the status line when short is false.
func dig(ctx context.Context, bin, server string, args ...string) (string, error) {
	host, port, _ := net.SplitHostPort(server)
	full := append([]string{"@" + host, "-p", port, "+time=2", "+tries=1"}, args...)
	out, err := exec.CommandContext(ctx, bin, full...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("dig %s: %v: %s", strings.Join(full, " "), err, out)
	}
	return string(out), nil
}

// digShort returns the answer data lines of a +short query, sorted.
func digShort(ctx context.Context, bin, server, name, qtype string, extra ...string) ([]string, error) {
	out, err := dig(ctx, bin, server, append([]string{"+short", name, qtype}, extra...)...)
	if err != nil {
		return nil, err
	}
	var lines []string
	for l := range strings.Lines(out) {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, ";") {
			lines = append(lines, l)
		}
	}
	slices.Sort(lines)
	return lines, nil
}

// digStatus returns the status of a full dig answer ("NOERROR", "NXDOMAIN").
func digStatus(ctx context.Context, bin, server, name, qtype string, extra ...string) (status string, answers int, err error) {
	out, err := dig(ctx, bin, server, append([]string{name, qtype}, extra...)...)
	if err != nil {
		return "", 0, err
	}
	for l := range strings.Lines(out) {
		if _, rest, ok := strings.Cut(l, "status: "); ok {
			status, _, _ = strings.Cut(rest, ",")
		}
		if _, rest, ok := strings.Cut(l, "ANSWER: "); ok {
			n, _, _ := strings.Cut(rest, ",")
			fmt.Sscan(n, &answers)
		}
	}
	return status, answers, nil
}

// upstreamDNS serves example.test. A 192.0.2.7 on 127.0.0.1 (UDP and TCP):
// the resolver the cluster forwards other names to.
func upstreamDNS(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		if len(r.Question) == 1 && strings.EqualFold(r.Question[0].Name, "example.test.") && r.Question[0].Qtype == mdns.TypeA {
			m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: r.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 30}, A: net.ParseIP("192.0.2.7")})
		} else {
			m.Rcode = mdns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	us := &mdns.Server{PacketConn: pc, Handler: h}
	ts := &mdns.Server{Listener: ln, Handler: h}
	go func() { _ = us.ActivateAndServe() }()
	go func() { _ = ts.ActivateAndServe() }()
	t.Cleanup(func() { _ = us.Shutdown(); _ = ts.Shutdown() })
	return pc.LocalAddr().String()
}

// TestDNSWithDig deploys a Marathon app in a group on real processes and
// asks the master's DNS server with dig, as a user would: A, SRV (per task
// and per named port), AAAA, NXDOMAIN, leader/master names, the l4lb name,
// forwarding of other names, TCP, and the Mesos-DNS HTTP API. Scaling the
// app shows a new task becomes resolvable without any poll interval.
func TestDNSWithDig(t *testing.T) {
	digBin := needDig(t)
	b := buildBins(t)
	up := upstreamDNS(t)
	c := startWith(t, proccluster.Options{
		Bin: b.basalt, Dir: t.TempDir(), Masters: 1, Agents: 1,
		MasterArgs: append(slices.Clone(fastMasterArgs), "--dns-resolvers", up),
		AgentArgs:  fastAgentArgs,
	})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	m := c.Masters[0]
	agentIP := proccluster.AgentIP(0)
	srv := m.DNSAddr

	if st, body := marathonDo(ctx, "POST", m.MarathonURL+"/v2/apps", webApp); st != http.StatusCreated {
		t.Fatalf("POST /v2/apps = %d %s", st, body)
	}
	waitFor(t, 60*time.Second, "both web tasks in DNS", func(ctx context.Context) error {
		srvs, err := digShort(ctx, digBin, srv, "_web-prod._tcp.marathon.mesos", "SRV")
		if err != nil {
			return err
		}
		if len(srvs) != 2 {
			return fmt.Errorf("SRV answers %q", srvs)
		}
		return nil
	})

	app, err := getApp(ctx, m.MarathonURL, "/prod/web")
	if err != nil {
		t.Fatal(err)
	}
	var httpPorts []string
	for _, tk := range app.Tasks {
		httpPorts = append(httpPorts, fmt.Sprint(tk.Ports[0]))
	}
	slices.Sort(httpPorts)

	check := func(name, qtype string, extra []string, want func([]string) error) {
		t.Helper()
		got, err := digShort(ctx, digBin, srv, name, qtype, extra...)
		if err != nil {
			t.Fatal(err)
		}
		if err := want(got); err != nil {
			t.Errorf("dig %s %s %v: %v (got %q)", name, qtype, extra, err, got)
		}
	}
	exactly := func(want ...string) func([]string) error {
		return func(got []string) error {
			if !slices.Equal(got, want) {
				return fmt.Errorf("want %q", want)
			}
			return nil
		}
	}
	srvPorts := func(targetSuffix string) func([]string) error {
		return func(got []string) error {
			var ports []string
			for _, l := range got {
				f := strings.Fields(l) // priority weight port target
				if len(f) != 4 || !strings.HasSuffix(f[3], targetSuffix) {
					return fmt.Errorf("bad SRV line %q", l)
				}
				ports = append(ports, f[2])
			}
			slices.Sort(ports)
			if !slices.Equal(ports, httpPorts) {
				return fmt.Errorf("SRV ports %q, want %q", ports, httpPorts)
			}
			return nil
		}
	}

	check("web.prod.marathon.mesos", "A", nil, exactly(agentIP)) // the DiscoveryInfo name keeps its dots
	check("web-prod.marathon.mesos", "A", nil, exactly(agentIP)) // the task name is one label
	check("WEB.Prod.Marathon.Mesos", "A", nil, exactly(agentIP))
	check("web.prod.marathon.mesos", "A", []string{"+tcp"}, exactly(agentIP))
	check("web.prod.marathon.slave.mesos", "A", nil, exactly(agentIP))
	check("_web-prod._tcp.marathon.mesos", "SRV", nil, srvPorts(".marathon.mesos."))
	check("_http._web-prod._tcp.marathon.mesos", "SRV", nil, srvPorts(".marathon.mesos."))
	// The .slave variant comes from the tasks' port resources, which carry no
	// protocol: every port of every task, under both _tcp and _udp.
	check("_web-prod._tcp.marathon.slave.mesos", "SRV", nil, func(got []string) error {
		if len(got) != 4 {
			return fmt.Errorf("want 4 (2 tasks × 2 ports)")
		}
		return nil
	})
	check("leader.mesos", "A", nil, exactly(m.IP))
	check("master.mesos", "A", nil, exactly(m.IP))
	check("slave.mesos", "A", nil, exactly(agentIP))
	check("agent.mesos", "A", nil, exactly(agentIP))
	check("web-prod.marathon.agentip.dcos.thisdcos.directory", "A", nil, exactly(agentIP))
	check("web-prod.marathon.autoip.dcos.thisdcos.directory", "A", nil, exactly(agentIP))
	check("web-prod.marathon.mesos.thisdcos.directory", "A", nil, exactly(agentIP))
	check("example.test", "A", nil, exactly("192.0.2.7"))
	check("example.test", "A", []string{"+tcp"}, exactly("192.0.2.7"))
	check("prodweb.marathon.l4lb.thisdcos.directory", "A", nil, func(got []string) error {
		if len(got) != 1 || !strings.HasPrefix(got[0], "11.") {
			return fmt.Errorf("want one address in 11.0.0.0/8")
		}
		return nil
	})

	for _, q := range []struct{ name, qtype, status string }{
		{"web.prod.marathon.mesos", "AAAA", "NOERROR"}, // the name exists, with no IPv6 address
		{"nope.marathon.mesos", "A", "NXDOMAIN"},
		{"nope.example.test", "A", "NXDOMAIN"}, // forwarded, the upstream's answer
	} {
		st, n, err := digStatus(ctx, digBin, srv, q.name, q.qtype)
		if err != nil {
			t.Fatal(err)
		}
		if st != q.status || n != 0 {
			t.Errorf("dig %s %s: status %s with %d answers, want %s with none", q.name, q.qtype, st, n, q.status)
		}
	}

	var hosts []struct{ Host, IP string }
	if err := c.GetJSON(ctx, m.DNSHTTPURL+"/v1/hosts/web.prod.marathon.mesos", &hosts); err != nil {
		t.Fatal(err)
	}
	if len(hosts) == 0 || hosts[0].IP != agentIP || hosts[0].Host != "web.prod.marathon.mesos." {
		t.Errorf("/v1/hosts = %+v", hosts)
	}

	// A third instance: resolvable as soon as it runs.
	if st, body := marathonDo(ctx, "PUT", m.MarathonURL+"/v2/apps/prod/web", `{"instances": 3}`); st != http.StatusOK {
		t.Fatalf("scale = %d %s", st, body)
	}
	waitFor(t, 60*time.Second, "the third task in DNS", func(ctx context.Context) error {
		srvs, err := digShort(ctx, digBin, srv, "_web-prod._tcp.marathon.mesos", "SRV")
		if err != nil {
			return err
		}
		if len(srvs) != 3 {
			return fmt.Errorf("%d SRV answers", len(srvs))
		}
		return nil
	})
}

// TestDNSSurvivesMasterKill kills the leading master of three with SIGKILL
// and checks that every surviving master's DNS keeps answering the app's
// name meanwhile, and that records follow the new leader (a scale-up shows
// in DNS).
func TestDNSSurvivesMasterKill(t *testing.T) {
	digBin := needDig(t)
	b := buildBins(t)
	c := startCluster(t, b, 3, 1)
	ctx := t.Context()
	agentIP := proccluster.AgentIP(0)

	if st, body := marathonDo(ctx, "POST", c.Masters[0].MarathonURL+"/v2/apps",
		`{"id": "/svc", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 1}`); st != http.StatusCreated {
		t.Fatalf("POST /v2/apps = %d %s", st, body)
	}
	for _, m := range c.Masters {
		waitFor(t, 60*time.Second, m.Name+" resolves svc.marathon.mesos", func(ctx context.Context) error {
			got, err := digShort(ctx, digBin, m.DNSAddr, "svc.marathon.mesos", "A")
			if err != nil {
				return err
			}
			if !slices.Equal(got, []string{agentIP}) {
				return fmt.Errorf("got %q", got)
			}
			return nil
		})
	}
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	leader, err := c.Leader(lctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if err := leader.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var rest []*proccluster.Proc
	for _, m := range c.Masters {
		if m != leader {
			rest = append(rest, m)
		}
	}
	// Right after the kill, before a new leader is elected, the survivors
	// answer from the state they last saw.
	for _, m := range rest {
		got, err := digShort(ctx, digBin, m.DNSAddr, "svc.marathon.mesos", "A")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, []string{agentIP}) {
			t.Errorf("%s right after the leader's kill: %q, want %q", m.Name, got, agentIP)
		}
	}
	var newLeader *proccluster.Proc
	waitFor(t, 60*time.Second, "a new leader", func(ctx context.Context) error {
		l, err := c.Leader(ctx)
		if err != nil {
			return err
		}
		newLeader = l
		return nil
	})
	waitFor(t, 60*time.Second, "leader.mesos names the new leader", func(ctx context.Context) error {
		for _, m := range rest {
			got, err := digShort(ctx, digBin, m.DNSAddr, "leader.mesos", "A")
			if err != nil {
				return err
			}
			if !slices.Equal(got, []string{newLeader.IP}) {
				return fmt.Errorf("%s: leader.mesos = %q, want %s", m.Name, got, newLeader.IP)
			}
		}
		return nil
	})
	waitFor(t, 60*time.Second, "scale through the new Marathon leader", func(ctx context.Context) error {
		st, body := marathonDo(ctx, "PUT", rest[0].MarathonURL+"/v2/apps/svc", `{"instances": 2}`)
		if st != http.StatusOK {
			return fmt.Errorf("scale = %d %s", st, body)
		}
		return nil
	})
	for _, m := range rest {
		waitFor(t, 60*time.Second, m.Name+" serves both svc tasks", func(ctx context.Context) error {
			out, err := dig(ctx, digBin, m.DNSAddr, "+short", "_svc._tcp.marathon.mesos", "SRV")
			if err != nil {
				return err
			}
			if n := strings.Count(out, "\n"); n != 2 {
				return fmt.Errorf("%d SRV answers: %s", n, out)
			}
			return nil
		})
	}
}
