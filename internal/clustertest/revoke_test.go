package clustertest

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/pki"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// TestRevocation: a revoked certificate fails the TLS handshake on the
// master API port; revoking an agent cuts its open stream (it goes
// inactive: its reconnects are refused) and its node name cannot join again
// with the same join token, only with a rotated one.
func TestRevocation(t *testing.T) {
	c := New(t, Options{Masters: 1, Agents: 1, AgentMTLS: true, NoDNS: true})
	m := c.Masters[0].Master()
	apiTLS := strings.Replace(m.URL(), "http://", "https://", 1)
	post := func(path, body string) map[string]string {
		t.Helper()
		resp, err := http.Post(m.AdminRouterURL()+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out := map[string]string{}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %s %v", path, resp.Status, out)
		}
		return out
	}

	// One certificate, by serial.
	probe, err := pki.Join(t.Context(), m.AdminRouterTLSURL(), m.JoinToken(), "probe", nil)
	if err != nil {
		t.Fatal(err)
	}
	get := func() error {
		tr := &http.Transport{TLSClientConfig: probe.ClientTLSConfig()}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(apiTLS + "/health")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	if err := get(); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	out := post("/basalt/v1/nodes/revoke", `{"id":"`+pki.SerialOf(probe.Certificate.Leaf)+`"}`)
	if out["revoked"] != "serial:"+pki.SerialOf(probe.Certificate.Leaf) {
		t.Fatalf("revoke answered %v", out)
	}
	Eventually(t, 10*time.Second, func() error {
		if err := get(); err == nil {
			return errors.New("a revoked certificate still gets through")
		}
		return nil
	})

	// An agent, by ID.
	var st mesosv1.StateResponse
	c.GetJSON(m.URL()+"/master/state", &st)
	if len(st.Slaves) != 1 {
		t.Fatalf("%d agents", len(st.Slaves))
	}
	id, host := st.Slaves[0].ID, st.Slaves[0].Hostname
	t.Logf("revoke agent: %v", post("/basalt/v1/nodes/revoke", `{"id":"`+id+`"}`))
	c.WaitAgentsActive(0) // stream cut, reconnects refused
	_, err = pki.Join(t.Context(), m.AdminRouterTLSURL(), m.JoinToken(), host, nil)
	var se *pki.JoinStatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusForbidden {
		t.Fatalf("revoked node joining with the same token: %v, want 403", err)
	}
	post("/basalt/v1/join-token/rotate", `{"grace_seconds":0}`)
	fresh, err := pki.Join(t.Context(), m.AdminRouterTLSURL(), m.JoinToken(), host, nil)
	if err != nil {
		t.Fatalf("revoked node with a rotated token: %v", err)
	}
	if fresh.Certificate.Leaf.Subject.CommonName != host {
		t.Fatal("unexpected certificate")
	}
}
