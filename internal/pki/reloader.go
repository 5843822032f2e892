package pki

import (
	"crypto/tls"
	"fmt"
	"sync"
	"time"
)

// Reloader holds one serving certificate (followed by the CA's in the
// chain it presents) and re-issues it from the CA when
// less than a third of its lifetime remains, on the next handshake that asks
// for it: a long-running master renews without a restart. It reads the time
// from the CA's clock (CA.WithClock).
type Reloader struct {
	ca    *CA
	names []string
	ttl   time.Duration

	mu     sync.Mutex
	cur    *tls.Certificate
	issued time.Time
}

// NewReloader issues the first certificate for names (see IssueServer), so
// bad names fail here rather than in a handshake.
func NewReloader(ca *CA, names []string, ttl time.Duration) (*Reloader, error) {
	r := &Reloader{ca: ca, names: append([]string(nil), names...), ttl: ttl}
	if _, err := r.Certificate(); err != nil {
		return nil, err
	}
	return r, nil
}

// Certificate returns the current certificate, re-issuing it first if a
// third or less of its life remains.
func (r *Reloader) Certificate() (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.ca.now()
	if r.cur != nil {
		end := r.cur.Leaf.NotAfter
		life := end.Sub(r.issued)
		if end.Sub(now) > life/3 {
			return r.cur, nil
		}
	}
	c, err := r.ca.IssueServer(r.names, r.ttl)
	if err != nil {
		if r.cur != nil && now.Before(r.cur.Leaf.NotAfter) {
			return r.cur, nil // still valid: serve it and try again next handshake
		}
		return nil, fmt.Errorf("renew serving certificate: %w", err)
	}
	// The CA certificate follows the leaf, so that a joining node can pin it
	// by its hash before it trusts anyone (Join), with no unverified fetch.
	c.Certificate = append(c.Certificate, r.ca.cert.Raw)
	r.cur, r.issued = c, now
	return c, nil
}

// GetCertificate is tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.Certificate()
}

// ServerTLSConfig is the TLS configuration of Basalt's HTTPS servers: TLS
// 1.2 or newer, only AEAD cipher suites with forward secrecy for TLS 1.2
// (TLS 1.3's are all of that kind), HTTP/2 offered first.
func ServerTLSConfig(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: getCert,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		NextProtos: []string{"h2", "http/1.1"},
	}
}
