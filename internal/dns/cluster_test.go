package dns_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/basalt-dcos/basalt/internal/clustertest"
)

// These scenarios run real masters (store, Mesos, Marathon, DNS following
// the leader's operator event stream) and fake-runtime agents in one
// process, deploy through Marathon and ask the masters' DNS servers.

// post POSTs body, again while Marathon answers 503: a standby that has not
// yet seen who leads cannot forward the request (nothing was done), and a
// client asks again, as this one does.
func post(t *testing.T, url, body string) {
	t.Helper()
	clustertest.Eventually(t, 30*time.Second, func() error {
		resp, err := http.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			return fmt.Errorf("POST %s = %d", url, resp.StatusCode)
		}
		if resp.StatusCode/100 != 2 {
			t.Fatalf("POST %s = %d", url, resp.StatusCode)
		}
		return nil
	})
}

func put(t *testing.T, url, body string) error {
	req, err := http.NewRequest("PUT", url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("PUT %s = %d", url, resp.StatusCode)
	}
	return nil
}

// ask sends one query over UDP and returns the answer's data as strings.
func ask(server, name string, qtype uint16) ([]string, int, error) {
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), qtype)
	c := &mdns.Client{Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, server)
	if err != nil {
		return nil, 0, err
	}
	var out []string
	for _, rr := range r.Answer {
		switch v := rr.(type) {
		case *mdns.A:
			out = append(out, v.A.String())
		case *mdns.SRV:
			out = append(out, fmt.Sprintf("%d %s", v.Port, v.Target))
		default:
			out = append(out, rr.String())
		}
	}
	slices.Sort(out)
	return out, r.Rcode, nil
}

func TestMarathonAppResolvable(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Agents: 2, LoopbackHostnames: true, AgentDNS: true})
	m := c.Masters[0]
	dnsAddr := m.Master().DNSAddr()
	post(t, m.MarathonURL()+"/v2/apps", `{"id": "/prod/web", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 3,
		"portDefinitions": [{"port": 0, "name": "http", "labels": {"VIP_0": "/prod/web:80"}}]}`)
	clustertest.Eventually(t, 30*time.Second, func() error {
		got, _, err := ask(dnsAddr, "_web-prod._tcp.marathon.mesos", mdns.TypeSRV)
		if err != nil {
			return err
		}
		if len(got) != 3 {
			var names []string
			if tb := m.Master().DNS().Table(); tb != nil {
				for n := range tb.Names {
					names = append(names, n)
				}
			}
			slices.Sort(names)
			return fmt.Errorf("SRV %q; names %q", got, names)
		}
		return nil
	})
	got, rcode, err := ask(dnsAddr, "web.prod.marathon.mesos", mdns.TypeA)
	if err != nil || rcode != mdns.RcodeSuccess || !slices.Equal(got, []string{"127.0.0.1"}) {
		t.Errorf("A web.prod.marathon.mesos = %q rcode %d err %v", got, rcode, err)
	}
	got, _, err = ask(dnsAddr, "prodweb.marathon.l4lb.thisdcos.directory", mdns.TypeA)
	if err != nil || len(got) != 1 || !strings.HasPrefix(got[0], "11.") {
		t.Errorf("VIP name = %q err %v", got, err)
	}
	vips := m.Master().DNS().Table().VIPs
	if len(vips) != 1 || len(vips[0].Backends) != 3 || vips[0].Port != 80 {
		t.Errorf("VIPs = %+v", vips)
	}
	// The agents' own DNS servers hold the same records.
	for _, a := range c.Agents {
		clustertest.Eventually(t, 10*time.Second, func() error {
			got, _, err := ask(a.Agent().DNSAddr(), "_web-prod._tcp.marathon.mesos", mdns.TypeSRV)
			if err != nil {
				return err
			}
			if len(got) != 3 {
				return fmt.Errorf("%s: SRV %q", a.Name, got)
			}
			return nil
		})
	}
	_, rcode, _ = ask(dnsAddr, "nope.marathon.mesos", mdns.TypeA)
	if rcode != mdns.RcodeNameError {
		t.Errorf("unknown name rcode %d, want NXDOMAIN", rcode)
	}

	// Scale down: removed tasks leave DNS.
	if err := put(t, m.MarathonURL()+"/v2/apps/prod/web", `{"instances": 1}`); err != nil {
		t.Fatal(err)
	}
	clustertest.Eventually(t, 30*time.Second, func() error {
		got, _, err := ask(dnsAddr, "_web-prod._tcp.marathon.mesos", mdns.TypeSRV)
		if err != nil {
			return err
		}
		if len(got) != 1 {
			return fmt.Errorf("SRV %q", got)
		}
		return nil
	})
}

// TestDNSFollowsLeaderFailover stops the leading master of three: the
// others keep answering from the state they had, then follow the new
// leader (leader.mesos moves; a new task appears).
func TestDNSFollowsLeaderFailover(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Masters: 3, Agents: 1, LoopbackHostnames: true})
	lead := c.Leader()
	var rest []*clustertest.MasterNode
	for _, m := range c.Masters {
		if m != lead {
			rest = append(rest, m)
		}
	}
	post(t, rest[0].MarathonURL()+"/v2/apps", `{"id": "/svc", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 1}`)
	for _, m := range c.Masters {
		clustertest.Eventually(t, 30*time.Second, func() error {
			got, _, err := ask(m.Master().DNSAddr(), "_svc._tcp.marathon.mesos", mdns.TypeSRV)
			if err != nil {
				return err
			}
			if len(got) != 1 {
				return fmt.Errorf("%s: SRV %q", m.Name, got)
			}
			return nil
		})
	}
	for i, m := range c.Masters {
		if m == lead {
			c.StopMaster(i)
		}
	}
	for _, m := range rest {
		got, _, err := ask(m.Master().DNSAddr(), "_svc._tcp.marathon.mesos", mdns.TypeSRV)
		if err != nil || len(got) != 1 {
			t.Errorf("%s right after the leader stopped: %q %v", m.Name, got, err)
		}
	}
	newLead := c.Leader()
	clustertest.Eventually(t, 60*time.Second, func() error {
		return put(t, rest[0].MarathonURL()+"/v2/apps/svc", `{"instances": 2}`)
	})
	for _, m := range rest {
		clustertest.Eventually(t, 60*time.Second, func() error {
			got, _, err := ask(m.Master().DNSAddr(), "_svc._tcp.marathon.mesos", mdns.TypeSRV)
			if err != nil {
				return err
			}
			if len(got) != 2 {
				return fmt.Errorf("%s: SRV %q", m.Name, got)
			}
			leader, _, err := ask(m.Master().DNSAddr(), "leader.mesos", mdns.TypeA)
			if err != nil {
				return err
			}
			if !slices.Equal(leader, []string{"127.0.0.1"}) || newLead == nil {
				return fmt.Errorf("leader.mesos %q", leader)
			}
			return nil
		})
	}
}
