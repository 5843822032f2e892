package master

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"testing"
	"time"
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
		b.ReportAllocs()
		for b.Loop() {
			resp, err := c.Get(url + path)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("%s: %d", url, resp.StatusCode)
			}
		}
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
