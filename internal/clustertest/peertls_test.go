package clustertest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/pki"
)

// TestMastersTalkTLS: three masters with API TLS (and store TLS, so they
// share a KEK). Every master-to-master
// call reaches the other side's TLS server with a master certificate (the
// servers count what arrives that way, from r.TLS): Marathon's scheduler
// client at the Mesos leader, the masters' DNS followers (operator
// SUBSCRIBE), a standby's read proxy, Marathon's followers proxying to
// the Marathon leader (whose port speaks TLS beside plain HTTP), and the
// Admin Router's route to Marathon. After the Mesos leader is stopped,
// Marathon subscribes again at the new leader over TLS and launches, and
// the DNS of the surviving masters follows. The node join secret is sealed
// in the store, and a join brute force gets 429.
func TestMastersTalkTLS(t *testing.T) {
	c := New(t, Options{Masters: 3, Agents: 1, StoreTLS: true, AgentMTLS: true, LoopbackHostnames: true})
	ctx := t.Context()

	// The node join secret is not in the store in the clear.
	secret := c.Masters[0].Master().JoinToken().Secret
	raw, err := c.Masters[0].Master().Store().Get(ctx, "pki/join-secret")
	if err != nil {
		t.Fatal(err)
	}
	if secret == "" || strings.Contains(string(raw), secret) || !pki.IsEnvelope(string(raw)) {
		t.Fatalf("stored join secret: sealed %v, holds the secret %v", pki.IsEnvelope(string(raw)), strings.Contains(string(raw), secret))
	}

	marLead := c.MarathonLeader()
	var marFollower *MasterNode
	for _, m := range c.Masters {
		if m != marLead {
			marFollower = m
			break
		}
	}
	// A follower proxies to the leader over TLS; users see the leader's
	// plain URL.
	code, hdr, body := doReq(t, http.DefaultClient, "POST", marFollower.MarathonURL()+"/v2/apps", "",
		`{"id": "/web", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 1}`)
	if code != http.StatusCreated {
		t.Fatalf("POST /v2/apps through a follower: %d %s", code, body)
	}
	if got := hdr.Get("X-Marathon-Leader"); got != marLead.MarathonURL() {
		t.Errorf("X-Marathon-Leader through a follower: %q, want %q", got, marLead.MarathonURL())
	}
	waitPeer(t, marLead, "marathon POST /v2/apps", 1)
	// The Admin Router reaches the Marathon leader over TLS too.
	if code, _, body := doReq(t, http.DefaultClient, "GET", marFollower.AdminRouterURL()+"/service/marathon/v2/apps", "", ""); code != http.StatusOK {
		t.Fatalf("GET /service/marathon/v2/apps: %d %s", code, body)
	}
	waitPeer(t, marLead, "marathon GET /v2/apps", 1)

	lead := c.Leader()
	// Marathon subscribed (and calls) over TLS; the three DNS followers
	// subscribed to the operator API over TLS.
	waitPeer(t, lead, "mesos POST /api/v1/scheduler", 1)
	waitPeer(t, lead, "mesos POST /api/v1", 3)
	for _, m := range c.Masters {
		if m == lead {
			continue
		}
		// A standby proxies reads to the leader over TLS.
		if code, _, body := doReq(t, http.DefaultClient, "GET", m.URL()+"/master/state", "", ""); code != http.StatusOK {
			t.Fatalf("GET /master/state on a standby: %d %.200s", code, body)
		}
		break
	}
	waitPeer(t, lead, "mesos GET /master/state", 1)
	waitSRVAt(t, c, "_web._tcp.marathon.mesos", 1)

	// Failover: the new Mesos leader sees Marathon subscribe and the DNS
	// followers subscribe again, over TLS.
	for i, m := range c.Masters {
		if m == lead {
			c.StopMaster(i)
		}
	}
	next := c.Leader()
	waitPeer(t, next, "mesos POST /api/v1/scheduler", 1)
	waitPeer(t, next, "mesos POST /api/v1", 2)
	live := c.MarathonLeader()
	Eventually(t, 60*time.Second, func() error {
		code, _, body := doReq(t, http.DefaultClient, "PUT", live.MarathonURL()+"/v2/apps/web", "", `{"instances": 2}`)
		if code/100 != 2 {
			return fmt.Errorf("scale: %d %s", code, body)
		}
		return nil
	})
	waitSRVAt(t, c, "_web._tcp.marathon.mesos", 2)

	// Join brute force: after ten wrong secrets from this address the
	// master answers 429 with Retry-After, in the join endpoint's shape.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(next.Master().CACertPEM())
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(cl.CloseIdleConnections)
	joinURL := strings.Replace(next.URL(), "http://", "https://", 1) + pki.JoinPath
	var last int
	var retry, msg string
	for range pki.DefaultJoinFailBurst + 1 {
		resp, err := cl.Post(joinURL, "application/json", strings.NewReader(`{"secret":"not-the-secret-0123456789","csr":""}`))
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Message string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		last, retry, msg = resp.StatusCode, resp.Header.Get("Retry-After"), body.Message
		if last != http.StatusUnauthorized {
			break
		}
	}
	if last != http.StatusTooManyRequests || retry == "" || msg == "" {
		t.Errorf("join brute force: %d Retry-After %q message %q, want 429 with both", last, retry, msg)
	}
}

// waitPeer waits until master n has served at least min requests under key
// (Master.PeerTLSRequests) to other masters over TLS.
func waitPeer(t *testing.T, n *MasterNode, key string, min int64) {
	t.Helper()
	Eventually(t, 60*time.Second, func() error {
		seen := n.Master().PeerTLSRequests()
		if seen[key] < min {
			return fmt.Errorf("%s: %d requests %q from masters over TLS, want %d (seen: %v)", n.Name, seen[key], key, min, seen)
		}
		return nil
	})
}

// waitSRVAt waits until every running master's DNS answers n SRV records
// for name.
func waitSRVAt(t *testing.T, c *Cluster, name string, n int) {
	t.Helper()
	for _, m := range c.Masters {
		if !m.Running() {
			continue
		}
		s := m.Master().DNSAddr()
		Eventually(t, 60*time.Second, func() error {
			got, err := askSRV(s, name)
			if err != nil {
				return err
			}
			if len(got) != n {
				return fmt.Errorf("DNS %s: SRV %q, want %d", s, got, n)
			}
			return nil
		})
	}
}
