package clustertest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/basalt-dcos/basalt/internal/agent"
	"github.com/basalt-dcos/basalt/internal/master"
	"github.com/basalt-dcos/basalt/internal/pki"
)

// TestStrictSecurityComponentPorts runs three strict masters and an agent
// joined with the cluster's join token (mTLS). The components' own ports
// (Mesos, Marathon, Mesos-DNS HTTP) refuse requests without a token or with
// a bad one (401 acsjwt, as Admin Router) and accept a user's token and,
// on the Mesos port, a node certificate. Marathon still launches tasks (its
// scheduler calls the master as dcos_marathon), the masters' and the agent's
// DNS still answer (their followers read the operator API as dcos_mesos_dns
// and as the node), and all of it keeps working after the Mesos leader is
// stopped (the system tokens verify on the new leader).
func TestStrictSecurityComponentPorts(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("Correct-Horse-9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := New(t, Options{Masters: 3, Agents: 1, AgentMTLS: true, AgentDNS: true, LoopbackHostnames: true,
		Master: func(_ int, cfg *master.Config) {
			cfg.Security = "strict"
			cfg.Superuser = "admin"
			cfg.SuperuserPasswordFile = pw
		},
		Agent: func(_ int, cfg *agent.Config) { cfg.Security = "strict" }})
	c.WaitAgentsActive(1)
	admin := loginAt(t, c.Masters[0].AdminRouterURL(), "admin", "Correct-Horse-9")

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, m := range c.Masters {
		mm := m.Master()
		for _, u := range []string{mm.URL() + "/master/state", mm.MarathonURL() + "/v2/apps", mm.DNSHTTPURL() + "/v1/version"} {
			code, hdr, body := doReq(t, http.DefaultClient, "GET", u, "", "")
			if code != http.StatusUnauthorized || hdr.Get("WWW-Authenticate") != "acsjwt" || !strings.Contains(body, "token is required") {
				t.Errorf("GET %s without a token: %d %q %q", u, code, hdr.Get("WWW-Authenticate"), body)
			}
			code, _, body = doReq(t, http.DefaultClient, "GET", u, "not.a.token", "")
			if code != http.StatusUnauthorized || !strings.Contains(body, "not valid") {
				t.Errorf("GET %s with a bad token: %d %q", u, code, body)
			}
			Eventually(t, 30*time.Second, func() error {
				if code, _, body := doReq(t, http.DefaultClient, "GET", u, admin, ""); code != http.StatusOK {
					return fmt.Errorf("GET %s as admin: %d %.200s", u, code, body)
				}
				return nil
			})
		}
		// Open: leader discovery and Marathon's liveness probe.
		if code, _, _ := doReq(t, noFollow, "GET", mm.URL()+"/master/redirect", "", ""); code != http.StatusTemporaryRedirect {
			t.Errorf("/master/redirect without a token: %d", code)
		}
		if code, _, _ := doReq(t, http.DefaultClient, "GET", mm.MarathonURL()+"/ping", "", ""); code != http.StatusOK {
			t.Errorf("Marathon /ping without a token: %d", code)
		}
	}

	// The agent's Admin Router checks tokens with the masters' keys
	// (fetched over mTLS): the version probe is open, the rest needs a
	// valid token, and its components do not exist yet (503).
	agentAR := "http://" + c.Agents[0].Agent().AdminRouterAddr()
	if code, _, body := doReq(t, http.DefaultClient, "GET", agentAR+"/dcos-metadata/dcos-version.json", "", ""); code != http.StatusOK || !strings.Contains(body, `"version"`) {
		t.Errorf("agent dcos-version.json: %d %s", code, body)
	}
	for tok, want := range map[string]int{"": http.StatusUnauthorized, "not.a.token": http.StatusUnauthorized, admin: http.StatusServiceUnavailable} {
		if code, _, body := doReq(t, http.DefaultClient, "GET", agentAR+"/system/health/v1", tok, ""); code != want {
			t.Errorf("agent /system/health/v1 with token %.10q: %d %s, want %d", tok, code, body, want)
		}
	}

	// The same through a master's Admin Router (/system/v1/agent/<id>/),
	// which forwards the user's token to the agent's API port.
	agentID := c.Agents[0].Agent().ID()
	sys := c.Masters[2].AdminRouterURL() + "/system/v1/agent/" + agentID
	if code, _, _ := doReq(t, http.DefaultClient, "GET", sys+"/logs/v1/range/", "", ""); code != http.StatusUnauthorized {
		t.Errorf("/system/v1/agent/<id>/logs without a token: %d", code)
	}
	if code, _, body := doReq(t, http.DefaultClient, "GET", sys+"/dcos-metadata/dcos-version.json", admin, ""); code != http.StatusOK || !strings.Contains(body, `"version"`) {
		t.Errorf("/system/v1/agent/<id>/dcos-metadata/dcos-version.json: %d %s", code, body)
	}
	if code, _, body := doReq(t, http.DefaultClient, "GET", sys+"/logs/v1/range/", admin, ""); code != http.StatusServiceUnavailable || !strings.Contains(body, "dcos-log") {
		t.Errorf("/system/v1/agent/<id>/logs as admin: %d %s, want the agent's 503", code, body)
	}

	// A node certificate from the cluster CA opens the Mesos port over TLS.
	tok, err := pki.ParseJoinToken(c.Masters[0].Master().JoinToken().Encode())
	if err != nil {
		t.Fatal(err)
	}
	lead := c.Leader().Master()
	tlsBase := strings.Replace(lead.URL(), "http://", "https://", 1)
	joined, err := pki.Join(t.Context(), tlsBase, tok, "node-x", nil)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(lead.CACertPEM())
	withCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{joined.Certificate}}}}
	noCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(withCert.CloseIdleConnections)
	t.Cleanup(noCert.CloseIdleConnections)
	if code, _, body := doReq(t, withCert, "GET", tlsBase+"/master/state", "", ""); code != http.StatusOK {
		t.Errorf("/master/state with a node certificate: %d %.200s", code, body)
	}
	if code, _, _ := doReq(t, noCert, "GET", tlsBase+"/master/state", "", ""); code != http.StatusUnauthorized {
		t.Errorf("/master/state over TLS without a certificate or token: %d", code)
	}

	// Marathon launches through the Admin Router with the user's token.
	ar := c.Masters[1].AdminRouterURL()
	if code, _, body := doReq(t, http.DefaultClient, "POST", ar+"/service/marathon/v2/apps", admin,
		`{"id": "/web", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 1}`); code != http.StatusCreated {
		t.Fatalf("POST /v2/apps: %d %s", code, body)
	}
	waitSRV := func(what string, n int) {
		t.Helper()
		servers := []string{c.Agents[0].Agent().DNSAddr()}
		for _, m := range c.Masters {
			if m.Running() {
				servers = append(servers, m.Master().DNSAddr())
			}
		}
		for _, s := range servers {
			Eventually(t, 60*time.Second, func() error {
				got, err := askSRV(s, "_web._tcp.marathon.mesos")
				if err != nil {
					return err
				}
				if len(got) != n {
					return fmt.Errorf("%s: DNS %s: SRV %q, want %d", what, s, got, n)
				}
				return nil
			})
		}
	}
	waitSRV("first launch", 1)

	// Failover of the Mesos master: Marathon re-subscribes with its system
	// identity at the new leader and launches again; DNS follows.
	for i, m := range c.Masters {
		if m.IsLeader() {
			c.StopMaster(i)
			break
		}
	}
	c.WaitLeader()
	var live *MasterNode
	for _, m := range c.Masters {
		if m.Running() {
			live = m
			break
		}
	}
	Eventually(t, 60*time.Second, func() error {
		code, _, body := doReq(t, http.DefaultClient, "PUT", live.AdminRouterURL()+"/service/marathon/v2/apps/web", admin, `{"instances": 2}`)
		if code/100 != 2 {
			return fmt.Errorf("scale: %d %s", code, body)
		}
		return nil
	})
	waitSRV("after failover", 2)
}

func doReq(t *testing.T, c *http.Client, method, url, token, body string) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "token="+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func loginAt(t *testing.T, ar, uid, password string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"uid": uid, "password": password})
	code, _, resp := doReq(t, http.DefaultClient, "POST", ar+"/acs/api/v1/auth/login", "", string(body))
	var out struct{ Token string }
	if code != http.StatusOK || json.NewDecoder(bytes.NewReader([]byte(resp))).Decode(&out) != nil || out.Token == "" {
		t.Fatalf("login %s: %d %s", uid, code, resp)
	}
	return out.Token
}

func askSRV(server, name string) ([]string, error) {
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), mdns.TypeSRV)
	r, _, err := (&mdns.Client{Timeout: 2 * time.Second}).Exchange(m, server)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range r.Answer {
		if v, ok := rr.(*mdns.SRV); ok {
			out = append(out, fmt.Sprintf("%d %s", v.Port, v.Target))
		}
	}
	slices.Sort(out)
	return out, nil
}
