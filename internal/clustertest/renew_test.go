package clustertest

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/master"
	"github.com/basalt-dcos/basalt/internal/pki"
)

// TestNodeCertRenewal: with a short node certificate lifetime, a node
// renews over mTLS with its current certificate (no join secret: it works
// after a rotation too) once a third of the lifetime remains, and gets a
// new certificate for the same name; a revoked certificate cannot renew.
func TestNodeCertRenewal(t *testing.T) {
	c := New(t, Options{Masters: 1, Agents: 1, AgentMTLS: true, NoDNS: true,
		Master: func(_ int, cfg *master.Config) { cfg.NodeCertTTL = 12 * time.Second }})
	m := c.Masters[0].Master()
	apiTLS := strings.Replace(m.URL(), "http://", "https://", 1)
	j, err := pki.Join(t.Context(), m.AdminRouterTLSURL(), m.JoinToken(), "renewer", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Until(j.Certificate.Leaf.NotAfter); got > 13*time.Second {
		t.Fatalf("certificate lives %v, want about 12s", got)
	}
	resp, err := http.Post(m.AdminRouterURL()+"/basalt/v1/join-token/rotate", "application/json", strings.NewReader(`{"grace_seconds":0}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	Eventually(t, 20*time.Second, func() error {
		if !pki.RenewDue(j.Certificate.Leaf, time.Now()) {
			return errors.New("not due yet")
		}
		return nil
	})
	next, err := pki.Renew(t.Context(), apiTLS, j, nil)
	if err != nil {
		t.Fatalf("renew: %v", err)
	}
	if next.Certificate.Leaf.Subject.CommonName != "renewer" || pki.SerialOf(next.Certificate.Leaf) == pki.SerialOf(j.Certificate.Leaf) ||
		!next.Certificate.Leaf.NotAfter.After(j.Certificate.Leaf.NotAfter) {
		t.Fatalf("renewed certificate: CN %s, not after %v", next.Certificate.Leaf.Subject.CommonName, next.Certificate.Leaf.NotAfter)
	}
	// Revoked: no renewal.
	resp, err = http.Post(m.AdminRouterURL()+"/basalt/v1/nodes/revoke", "application/json", strings.NewReader(`{"id":"`+pki.SerialOf(next.Certificate.Leaf)+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := pki.Renew(t.Context(), apiTLS, next, nil); err == nil {
		t.Fatal("a revoked certificate renewed")
	}
	// Without a client certificate: refused.
	if _, err := pki.Renew(t.Context(), m.AdminRouterTLSURL(), j, nil); err == nil {
		t.Fatal("renewal on a port that does not verify client certificates")
	}
}

// TestAgentRenewsOverMTLS: an agent whose node certificate lives 30 s
// renews it at a reconnect after two thirds of that, and so reconnects
// again after the first certificate has expired.
func TestAgentRenewsOverMTLS(t *testing.T) {
	start := time.Now()
	c := New(t, Options{Masters: 3, Agents: 1, AgentMTLS: true, NoDNS: true,
		Master: func(_ int, cfg *master.Config) { cfg.NodeCertTTL = 30 * time.Second }})
	after := func(d time.Duration) {
		t.Helper()
		Eventually(t, d+10*time.Second, func() error {
			if time.Since(start) < d {
				return errors.New("too early")
			}
			return nil
		})
	}
	failover := func() {
		t.Helper()
		old := c.Leader()
		for i, m := range c.Masters {
			if m == old {
				c.StopMaster(i)
				c.WaitLeader()
				c.WaitAgentsActive(1) // the agent reconnects to the new leader: a new handshake
				c.StartMaster(i)
				return
			}
		}
	}
	after(21 * time.Second) // due: a third of 30 s left
	failover()
	after(32 * time.Second) // the first certificate has expired
	failover()
}
