package store_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/basalt-dcos/basalt/internal/store"
	"github.com/basalt-dcos/basalt/internal/store/storetest"
)

// tlsFiles writes a throwaway CA and one certificate for 127.0.0.0/8 use
// (server and client auth, IP SANs of the loopback addresses the members
// and clients use) into a temp dir. internal/pki makes the real ones; it
// cannot be imported here (its tests import storetest).
func tlsFiles(t testing.TB, ips ...string) *store.TLSFiles {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "member"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	f := &store.TLSFiles{CAFile: filepath.Join(dir, "ca.crt"), CertFile: filepath.Join(dir, "peer.crt"), KeyFile: filepath.Join(dir, "peer.key")}
	for path, b := range map[string]*pem.Block{f.CAFile: {Type: "CERTIFICATE", Bytes: caDER}, f.CertFile: {Type: "CERTIFICATE", Bytes: der}, f.KeyFile: {Type: "PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(path, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// withTLS turns a storetest config to mutual TLS with one certificate for
// every member (on 127.0.0.1, so that the certificate names the address).
func withTLS(f *store.TLSFiles) func(*store.Config) {
	return func(c *store.Config) {
		c.TLS = f
		c.ClientURL = "https://127.0.0.1:" + portOf(c.ClientURL)
		c.PeerURL = "https://127.0.0.1:" + portOf(c.PeerURL)
	}
}

func portOf(u string) string {
	i := strings.LastIndex(u, ":")
	return u[i+1:]
}

func freePort127(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "http://" + l.Addr().String()
}

// TestTLSCluster: three members over mutual TLS agree on writes, and a
// client without a certificate from the CA reads nothing.
func TestTLSCluster(t *testing.T) {
	f := tlsFiles(t, "127.0.0.1")
	c := storetest.StartCluster(t, 3, func(cfg *store.Config) {
		cfg.ClientURL, cfg.PeerURL = freePort127(t), freePort127(t)
		withTLS(f)(cfg)
	})
	ctx := t.Context()
	if err := c.Store(0).Apply(ctx, store.Put("k", []byte("v"))); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Store(2).Get(ctx, "k"); err != nil || string(v) != "v" {
		t.Fatalf("read on another member: %q %v", v, err)
	}
	ep := c.Configs[1].ClientURL
	plain, err := clientv3.New(clientv3.Config{Endpoints: []string{strings.Replace(ep, "https", "http", 1)}, DialTimeout: time.Second, Logger: zap.NewNop()})
	if err == nil {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = plain.Get(cctx, "/basalt/k")
		cancel()
		plain.Close()
		if err == nil {
			t.Error("a plaintext client read a TLS store")
		}
	}
}

func TestConfigTLSURLs(t *testing.T) {
	cfg := store.Config{DataDir: "/x", ClientURL: "http://127.0.0.1:1", TLS: &store.TLSFiles{CAFile: "a", CertFile: "b", KeyFile: "c"}}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "https") {
		t.Errorf("http client URL with TLS: %v", err)
	}
	cfg = store.Config{DataDir: "/x", ClientURL: "https://127.0.0.1:1"}
	if err := cfg.Validate(); err == nil {
		t.Error("https client URL without TLS accepted")
	}
	cfg = store.Config{DataDir: "/x", TLS: &store.TLSFiles{}}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "cert file") {
		t.Errorf("empty TLS files: %v", err)
	}
}
