package master

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/iam"
	"github.com/basalt-dcos/basalt/internal/pki"
	"github.com/basalt-dcos/basalt/internal/store/storetest"
)

// BenchmarkAdminRouterTLS: a new connection (TCP, plus the TLS handshake
// for https) and one small GET through the Admin Router, plain vs HTTPS,
// and the same GET on a kept-alive HTTPS connection.
//
//	go test ./internal/master -run '^$' -bench AdminRouterTLS -benchtime 2s
func BenchmarkAdminRouterTLS(b *testing.B) {
	m := startNodes(b, []Config{testConfig(b)})[0].m
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(m.CACertPEM())
	const path = "/dcos-metadata/dcos-version.json"
	run := func(b *testing.B, url string, tr *http.Transport) {
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		b.Cleanup(tr.CloseIdleConnections)
		req, _ := http.NewRequest("GET", url+path, nil)
		benchGET(b, c, req)
	}
	b.Run("plain-new-conn", func(b *testing.B) {
		run(b, m.AdminRouterURL(), &http.Transport{DisableKeepAlives: true})
	})
	b.Run("tls-new-conn", func(b *testing.B) {
		run(b, m.AdminRouterTLSURL(), &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{RootCAs: pool}})
	})
	b.Run("plain-keepalive", func(b *testing.B) {
		run(b, m.AdminRouterURL(), &http.Transport{})
	})
	b.Run("tls-keepalive-h2", func(b *testing.B) {
		run(b, m.AdminRouterTLSURL(), &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: pool}})
	})
}

// BenchmarkMarathonPortAuth: GET /v2/apps on Marathon's own port with
// keep-alive, on a master with security disabled (no check) and on a strict
// one with a user's token (token check and permission on every request).
//
//	go test ./internal/master -run '^$' -bench MarathonPortAuth -benchtime 2s
func BenchmarkMarathonPortAuth(b *testing.B) {
	strictCfg := testConfig(b)
	strictCfg.Security = "strict"
	nodes := startNodes(b, []Config{testConfig(b), strictCfg})
	open, strict := nodes[0].m, nodes[1].m
	tok, err := strict.IAM().IssueToken(strictCfg.Superuser)
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range []*Master{open, strict} {
		eventually(b, "a Marathon leader", func() bool {
			req, _ := http.NewRequest("GET", m.MarathonURL()+"/v2/apps", nil)
			req.Header.Set("Authorization", "token="+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
	}
	run := func(b *testing.B, url, token string) {
		tr := &http.Transport{}
		b.Cleanup(tr.CloseIdleConnections)
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		req, _ := http.NewRequest("GET", url+"/v2/apps", nil)
		if token != "" {
			req.Header.Set("Authorization", "token="+token)
		}
		benchGET(b, c, req)
	}
	b.Run("disabled", func(b *testing.B) { run(b, open.MarathonURL(), "") })
	b.Run("strict-token", func(b *testing.B) { run(b, strict.MarathonURL(), tok) })
}

// BenchmarkPortGuard: the check a component port makes per request in
// strict mode (token from the header, cached verification, permission), in
// process, around a handler that does nothing.
//
//	go test ./internal/master -run '^$' -bench PortGuard -benchtime 2s
func BenchmarkPortGuard(b *testing.B) {
	cfg := testConfig(b)
	cfg.Security = "strict"
	m, err := New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	svc, err := iam.New(b.Context(), iam.Config{Store: storetest.Open(b), Issuer: iam.ClusterIssuer})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(svc.Close)
	if err := ensureSystemAccounts(b.Context(), svc); err != nil {
		b.Fatal(err)
	}
	m.iam.Store(svc)
	tok, err := svc.IssueToken(iam.SystemMarathon)
	if err != nil {
		b.Fatal(err)
	}
	h := m.guard("Marathon", mesosPortRID, nil, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req := httptest.NewRequest("GET", "/v2/apps", nil)
	req.Header.Set("Authorization", "token="+tok)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}

// BenchmarkPeerTLS: what master-to-master TLS costs a call. A GET of
// /version on the master API port and of /v2/apps on Marathon's port,
// plain HTTP vs the peer transport (https, cluster CA, the master's client
// certificate), on a kept-alive connection; and a new connection each time
// (TCP, plus the mutual TLS handshake).
//
//	go test ./internal/master -run '^$' -bench PeerTLS -benchtime 2s
func BenchmarkPeerTLS(b *testing.B) {
	m := startNodes(b, []Config{testConfig(b)})[0].m
	f := m.front.tls.Load()
	if f == nil || f.peerTLS == nil {
		b.Fatal("API TLS is off")
	}
	eventually(b, "a Marathon leader", func() bool {
		resp, err := http.Get(m.MarathonURL() + "/v2/apps")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	run := func(b *testing.B, url string, rt http.RoundTripper) {
		c := &http.Client{Transport: rt, Timeout: 10 * time.Second}
		if cl, ok := rt.(interface{ CloseIdleConnections() }); ok {
			b.Cleanup(cl.CloseIdleConnections)
		}
		req, _ := http.NewRequest("GET", url, nil)
		benchGET(b, c, req)
	}
	for _, tc := range []struct{ name, url string }{{"mesos", m.URL() + "/version"}, {"marathon", m.MarathonURL() + "/v2/apps"}} {
		b.Run(tc.name+"/plain-keepalive", func(b *testing.B) { run(b, tc.url, &http.Transport{}) })
		b.Run(tc.name+"/tls-keepalive", func(b *testing.B) { run(b, tc.url, f.peerTransport(4)) })
		b.Run(tc.name+"/plain-new-conn", func(b *testing.B) { run(b, tc.url, &http.Transport{DisableKeepAlives: true}) })
		b.Run(tc.name+"/tls-new-conn", func(b *testing.B) {
			tr := f.peerTransport(4).(pki.HTTPSOnly)
			tr.Transport.DisableKeepAlives = true
			run(b, tc.url, tr)
		})
	}
}

// benchGET sends req with c once per benchmark iteration, reading each
// body to the end so the connection can be kept alive, and fails on
// anything but 200.
func benchGET(b *testing.B, c *http.Client, req *http.Request) {
	b.Helper()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: %d", req.URL, resp.StatusCode)
		}
	}
}
