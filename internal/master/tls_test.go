package master

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/basalt-dcos/basalt/internal/pki"
)

// tlsClient trusts only the cluster CA in caPEM (no InsecureSkipVerify) and
// speaks HTTP/2 when offered.
func tlsClient(t *testing.T, caPEM []byte, follow bool) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("CA PEM does not parse: %q", caPEM)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr}
	if !follow {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return c
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// TestAdminRouterTLS runs two masters on one store: the first in strict
// security with its plain port in redirect mode, the second (a client of the
// first's etcd) with security disabled and its plain port in serve mode.
// Both serve HTTPS with their own certificate from the one cluster CA, the
// strict one asks for a token over HTTPS too, the redirect keeps path and
// query, and a node joins through either.
func TestAdminRouterTLS(t *testing.T) {
	cfg1 := testConfig(t)
	cfg1.Security = "strict"
	cfg1.AdminRouterHTTP = HTTPRedirect
	first := startNodes(t, []Config{cfg1})[0].m
	cfg2 := testConfig(t)
	cfg2.Security = "disabled"
	cfg2.StoreEndpoints = first.Store().Endpoints()
	// A master on an external etcd opens the sealed keys with the KEK the
	// operator copied from the first master (docs/tls.md).
	kek, err := os.ReadFile(filepath.Join(cfg1.DataDir, "pki", "kek"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(cfg2.DataDir, "pki"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg2.DataDir, "pki", "kek"), kek, 0o600); err != nil {
		t.Fatal(err)
	}
	second := startNodes(t, []Config{cfg2})[0].m
	eventually(t, "leader", func() bool { return first.IsLeader() || second.IsLeader() })

	ca := first.CACertPEM()
	if len(ca) == 0 || !bytes.Equal(ca, second.CACertPEM()) {
		t.Fatalf("masters have different CAs:\n%s\n%s", ca, second.CACertPEM())
	}
	if first.JoinToken() != second.JoinToken() {
		t.Fatal("masters have different join tokens")
	}
	c := tlsClient(t, ca, true)
	serials := map[string]bool{}
	for _, m := range []*Master{first, second} {
		u := m.AdminRouterTLSURL()
		if !strings.HasPrefix(u, "https://127.0.0.1:") {
			t.Fatalf("AdminRouterTLSURL = %q", u)
		}
		resp, body := get(t, c, u+"/dcos-metadata/dcos-version.json")
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"version"`) {
			t.Errorf("%s: %d %s", u, resp.StatusCode, body)
		}
		if resp.ProtoMajor != 2 {
			t.Errorf("%s: protocol %s, want HTTP/2", u, resp.Proto)
		}
		leaf := resp.TLS.PeerCertificates[0]
		serials[leaf.SerialNumber.String()] = true
		for _, name := range []string{"master.mesos", "leader.mesos", "localhost", "127.0.0.1"} {
			if err := leaf.VerifyHostname(name); err != nil {
				t.Errorf("%s: certificate: %v", u, err)
			}
		}
		// A route proxied to the Mesos leader, through HTTPS; in strict
		// security HTTPS asks for a token as plain HTTP does.
		if m == first {
			if resp, _ := get(t, c, u+"/mesos/master/state"); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s/mesos/master/state without a token in strict security: %d, want 401", u, resp.StatusCode)
			}
		} else {
			// The disabled master forwards without credentials: the leader's
			// own port decides (open when the disabled master leads, a token
			// asked for when the strict one does: mixed modes are not a
			// configuration to run, docs/iam.md).
			eventually(t, "mesos through https", func() bool {
				resp, _ := get(t, c, u+"/mesos/master/state")
				if first.IsLeader() {
					return resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "acsjwt"
				}
				return resp.StatusCode == http.StatusOK
			})
		}
		resp, body = get(t, c, u+pki.CACertPath)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, ca) {
			t.Errorf("%s%s: %d, body is not the CA", u, pki.CACertPath, resp.StatusCode)
		}
		// TLS 1.1 is refused.
		old := &tls.Config{RootCAs: c.Transport.(*http.Transport).TLSClientConfig.RootCAs, MaxVersion: tls.VersionTLS11}
		if conn, err := tls.Dial("tcp", m.AdminRouterTLSAddr(), old); err == nil {
			conn.Close()
			t.Errorf("%s accepted TLS 1.1", u)
		}
	}
	if len(serials) != 2 {
		t.Error("both masters serve the same certificate")
	}

	// Redirect mode on the first master's plain port.
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, _ := get(t, plain, first.AdminRouterURL()+"/mesos/master/state?jsonp=x&a=%2F")
	want := first.AdminRouterTLSURL() + "/mesos/master/state?jsonp=x&a=%2F"
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != want {
		t.Errorf("plain redirect: %d Location %q, want 307 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	resp, _ = get(t, c, first.AdminRouterURL()+"/metadata")
	if resp.TLS == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("following the redirect: %d, TLS %v; want the HTTPS port's 401", resp.StatusCode, resp.TLS != nil)
	}
	for _, p := range []string{"/dcos-metadata/dcos-version.json", pki.CACertPath} {
		resp, _ := get(t, plain, first.AdminRouterURL()+p)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("plain %s in redirect mode: %d, want 200", p, resp.StatusCode)
		}
	}
	// Serve mode on the second's plain port.
	for _, p := range []string{"/metadata", pki.CACertPath} {
		resp, _ = get(t, plain, second.AdminRouterURL()+p)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("plain %s in serve mode: %d", p, resp.StatusCode)
		}
	}

	// A node joins through either master with the printed token.
	for i, m := range []*Master{first, second} {
		tok, err := pki.ParseJoinToken(m.JoinToken().Encode())
		if err != nil {
			t.Fatal(err)
		}
		j, err := pki.Join(t.Context(), m.AdminRouterTLSURL(), tok, "agent-"+string(rune('1'+i)), nil)
		if err != nil {
			t.Fatalf("join through %s: %v", m.AdminRouterTLSURL(), err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		if _, err := j.Certificate.Leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("joined certificate: %v", err)
		}
	}
	tok := first.JoinToken()
	tok.Secret = strings.Repeat("0", 64)
	_, err = pki.Join(t.Context(), first.AdminRouterTLSURL(), tok, "agent-x", nil)
	var se *pki.JoinStatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusUnauthorized {
		t.Errorf("join with a wrong secret: %v, want 401", err)
	}
}

func TestRedirectToTLS(t *testing.T) {
	plain := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(299) })
	for _, tc := range []struct{ addr, host, target, want string }{
		{"10.0.0.1:443", "example.com", "/mesos/x?y=1", "https://example.com/mesos/x?y=1"},
		{"10.0.0.1:443", "example.com:80", "/a%2Fb", "https://example.com/a%2Fb"},
		{"10.0.0.1:8443", "[::1]:80", "/", "https://[::1]:8443/"},
		{"10.0.0.1:443", "[::1]", "/", "https://[::1]/"},
		{"10.0.0.1:8443", "", "/q", "https://10.0.0.1:8443/q"},
		{"10.0.0.1:8443", "a:b:c", "/q", "https://10.0.0.1:8443/q"},
		{"10.0.0.1:8443", "evil/x", "/q", "https://10.0.0.1:8443/q"},
	} {
		h := redirectToTLS(&tlsFront{addr: tc.addr}, plain)
		req := httptest.NewRequest("GET", tc.target, nil)
		req.Host = tc.host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusTemporaryRedirect || rec.Header().Get("Location") != tc.want {
			t.Errorf("%s%s via %s: %d %q, want %q", tc.host, tc.target, tc.addr, rec.Code, rec.Header().Get("Location"), tc.want)
		}
	}
	rec := httptest.NewRecorder()
	redirectToTLS(&tlsFront{addr: "10.0.0.1:443"}, plain).ServeHTTP(rec, httptest.NewRequest("GET", "/dcos-metadata/dcos-version.json", nil))
	if rec.Code != 299 {
		t.Errorf("dcos-version.json redirected: %d", rec.Code)
	}
}

func TestTLSConfigValidate(t *testing.T) {
	cfg := testConfig(t)
	cfg.AdminRouterHTTP = "both"
	if cfg.Validate() == nil {
		t.Error("adminrouter-http both accepted")
	}
	cfg = testConfig(t)
	cfg.AdminRouterHTTP = HTTPRedirect
	cfg.AdminRouterTLSListen = ""
	if cfg.Validate() == nil {
		t.Error("redirect without HTTPS accepted")
	}
	cfg = testConfig(t)
	cfg.TLSCertTTL = 0
	if cfg.Validate() == nil {
		t.Error("tls-cert-ttl 0 accepted")
	}
}
