package clustertest

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/agentapi"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// TestAgentMTLS: three masters that require node certificates; agents join
// with the cluster's token (fetch the CA, check its hash, send the secret
// and a CSR) and then register and send updates over mTLS, re-register
// with a new leader after a failover (a standby's 307 names the leader's
// http URL; the agent keeps to https), and join again after a restart.
// Without a node certificate the agent protocol is refused, over plain HTTP
// and over TLS alike.
func TestAgentMTLS(t *testing.T) {
	c := New(t, Options{Masters: 3, Agents: 2, AgentMTLS: true})
	fw := c.StartFramework(FrameworkInfo("mtls", time.Hour))
	fw.Launch(Task("t1", "sleep 1000"))
	fw.WaitState("t1", mesosv1.TaskRunning, 30*time.Second)

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.Masters[0].Master().CACertPEM())

	// Failover: the agents find the new leader and keep to mTLS.
	stopped := -1
	for i, m := range c.Masters {
		if m == c.Leader() {
			c.StopMaster(i)
			stopped = i
			break
		}
	}
	c.WaitLeader()
	c.WaitAgentsActive(2)
	c.RestartAgent(0)
	c.WaitAgentsActive(2)

	noCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer noCert.Transport.(*http.Transport).CloseIdleConnections()
	for i, m := range c.Masters {
		if i == stopped {
			continue
		}
		u := m.URL()
		for _, base := range []string{u, strings.Replace(u, "http://", "https://", 1)} {
			resp, err := noCert.Post(base+agentapi.Path, "application/json", strings.NewReader(`{"type":"SUBSCRIBE"}`))
			if err != nil {
				t.Fatalf("POST %s: %v", base+agentapi.Path, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("agent protocol without a node certificate at %s: %d, want 403", base, resp.StatusCode)
			}
		}
		// The rest of the API still answers plain and TLS on the one port.
		resp, err := noCert.Get(strings.Replace(u, "http://", "https://", 1) + "/version")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET /version over TLS at %s: %d", u, resp.StatusCode)
		}
	}
}
