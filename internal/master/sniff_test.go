package master

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/pki"
)

// TestSplitTLS: one port, a plain and a TLS server; a client that never
// speaks is dropped after the sniff timeout without holding others up;
// closing one side leaves the other serving.
func TestSplitTLS(t *testing.T) {
	ca, err := pki.NewCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pki.NewReloader(ca, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	plain, tlsRaw := splitTLS(ln, 200*time.Millisecond)
	say := func(s string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, s) })
	}
	plainSrv := &http.Server{Handler: say("plain")}
	tlsSrv := &http.Server{Handler: say("tls")}
	plainDone := make(chan error, 1)
	tlsDone := make(chan error, 1)
	go func() { plainDone <- plainSrv.Serve(plain) }()
	go func() { tlsDone <- tlsSrv.Serve(tls.NewListener(tlsRaw, pki.ServerTLSConfig(certs.GetCertificate))) }()

	silent, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	addr := ln.Addr().String()
	pool := x509.NewCertPool()
	pool.AddCert(ca.Certificate())
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	body := func(u string) string {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := body("http://" + addr + "/"); got != "plain" {
		t.Errorf("plain: %q", got)
	}
	if got := body("https://" + addr + "/"); got != "tls" {
		t.Errorf("tls: %q", got)
	}
	// The silent client is closed by the splitter after the sniff timeout.
	_ = silent.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = silent.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("silent client: read %v, want it closed by the splitter", err)
	}

	if err := plainSrv.Close(); err != nil {
		t.Fatal(err)
	}
	<-plainDone
	if got := body("https://" + addr + "/"); got != "tls" {
		t.Errorf("tls after the plain side closed: %q", got)
	}
	if _, err := c.Get("http://" + addr + "/"); err == nil {
		t.Error("plain request served after the plain side closed")
	}
	tlsSrv.Close()
	<-tlsDone
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("the port still accepts after both sides closed")
	}
}
