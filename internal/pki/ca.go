// Package pki is the cluster's public-key infrastructure: one cluster CA
// (ECDSA P-256, generated once and kept in the store), the serving
// certificates of the masters (re-issued before they expire, without a
// restart), client certificates for nodes, and the k3s-style join token with
// which an agent obtains one.
//
// It also bootstraps mutual TLS for the store between masters (MasterDir:
// the first master's CA, key-encryption key and master join secret on disk
// before the store exists; the master join), seals private keys at rest
// with the KEK, rotates the join secret, renews node certificates over mTLS
// and keeps the revocation deny-list.
//
// The CA's private key lives in the store (sealed with the KEK), in memory
// and on the bootstrap master's disk; it must never be logged, printed or
// sent over the network. The KEK goes only to masters that proved the
// master join secret, over TLS. Types that carry a
// secret (JoinToken) redact themselves in logs. The package knows nothing of
// masters, agents or Admin Router routes: internal/master mounts its handler
// and serves its TLS configuration.
package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"
)

const (
	// CALifetime is how long the cluster CA is valid.
	CALifetime = 20 * 365 * 24 * time.Hour
	// backdate is how far before "now" certificates become valid, so a node
	// whose clock runs a little behind accepts a fresh certificate.
	backdate = 5 * time.Minute
)

// CA is the cluster certificate authority. Its methods are safe for
// concurrent use.
type CA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	now     func() time.Time
}

// NewCA generates a fresh CA valid from now for CALifetime. EnsureCA is the
// way a cluster gets its one CA; NewCA is for it and for tests.
func NewCA(now time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Basalt cluster CA", Organization: []string{"Basalt"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		// SubjectKeyId: filled in by x509 for CA certificates.
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("self-sign CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse CA: %w", err)
	}
	return &CA{cert: cert, key: key, certPEM: pemBlock("CERTIFICATE", der), now: time.Now}, nil
}

// loadCA rebuilds a CA from its PEM certificate and PKCS#8 key.
func loadCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := ParseCertPEM(certPEM)
	if err != nil {
		return nil, err
	}
	if !cert.IsCA {
		return nil, errors.New("stored CA certificate is not a CA")
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil || kb.Type != "PRIVATE KEY" {
		return nil, errors.New("stored CA key is not a PEM PRIVATE KEY")
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, errors.New("stored CA key does not parse") // the parser's message could quote key bytes
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("stored CA key does not match its certificate")
	}
	return &CA{cert: cert, key: key, certPEM: pemBlock("CERTIFICATE", cert.Raw), now: time.Now}, nil
}

// keyPEM is the PKCS#8 PEM of the CA key, for the store only.
func (ca *CA) keyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(ca.key)
	if err != nil {
		return nil, fmt.Errorf("encode CA key: %w", err)
	}
	return pemBlock("PRIVATE KEY", der), nil
}

// WithClock returns the same CA (same key) reading the time from now when it
// issues certificates; tests use it to age certificates.
func (ca *CA) WithClock(now func() time.Time) *CA {
	c := *ca
	c.now = now
	return &c
}

// Certificate is the CA certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// CertPEM is the CA certificate in PEM (what ca.crt and /ca/dcos-ca.crt hold).
func (ca *CA) CertPEM() []byte { return bytes.Clone(ca.certPEM) }

// Hash is the hex SHA-256 of the CA certificate (DER), the value a join
// token pins.
func (ca *CA) Hash() string { return CertHash(ca.cert) }

// CertHash is the hex SHA-256 of cert's DER encoding.
func CertHash(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// Pool is a certificate pool holding only the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// IssueServer issues a serving certificate (ECDSA P-256 key) valid for ttl
// whose subject alternative names are names: IP addresses become IP SANs,
// everything else DNS SANs.
func (ca *CA) IssueServer(names []string, ttl time.Duration) (*tls.Certificate, error) {
	return ca.issueNamed(names, ttl, false)
}

// IssuePeer issues a certificate (ECDSA P-256 key) for a master's store
// member: valid for ttl, for both server and client authentication (an etcd
// member is a server to clients and peers and a client of its peers), with
// organization MastersOrganization, whose subject alternative names are names.
func (ca *CA) IssuePeer(names []string, ttl time.Duration) (*tls.Certificate, error) {
	return ca.issueNamed(names, ttl, true)
}

func (ca *CA) issueNamed(names []string, ttl time.Duration, peer bool) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("issue certificate: %w", err)
	}
	der, err := ca.signNamed(names, &key.PublicKey, ttl, peer)
	if err != nil {
		return nil, err
	}
	return tlsCert(der, key)
}

// signNamed signs a serving (or, with peer, a master peer) certificate for
// names and a public key held elsewhere.
func (ca *CA) signNamed(names []string, pub any, ttl time.Duration, peer bool) ([]byte, error) {
	var dns []string
	var ips []net.IP
	var errs []error
	for _, n := range names {
		n = strings.TrimSpace(n)
		if ip := net.ParseIP(n); ip != nil {
			ips = append(ips, ip)
			continue
		}
		if err := checkDNSName(n); err != nil {
			errs = append(errs, err)
			continue
		}
		dns = append(dns, n)
	}
	if len(dns)+len(ips) == 0 {
		errs = append(errs, errors.New("no names"))
	}
	if len(names) > maxNames {
		errs = append(errs, fmt.Errorf("%d names: at most %d", len(names), maxNames))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("issue certificate: %w", err)
	}
	cn := strings.TrimSpace(names[0])
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, Organization: []string{"Basalt"}},
		DNSNames:    dns,
		IPAddresses: ips,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if peer {
		tmpl.Subject.Organization = []string{MastersOrganization}
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := ca.sign(tmpl, pub, ttl)
	if err != nil {
		return nil, fmt.Errorf("issue certificate for %s: %w", cn, err)
	}
	return der, nil
}

// maxNames bounds the subject alternative names of one certificate.
const maxNames = 32

// IssueClient issues a client certificate (ECDSA P-256 key) for commonName
// with organizations org, valid for ttl.
func (ca *CA) IssueClient(commonName string, org []string, ttl time.Duration) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("issue client certificate: %w", err)
	}
	der, err := ca.signClient(commonName, org, &key.PublicKey, ttl)
	if err != nil {
		return nil, err
	}
	return tlsCert(der, key)
}

// signClient signs a client certificate for a public key held elsewhere
// (the join flow: the node keeps its key).
func (ca *CA) signClient(commonName string, org []string, pub any, ttl time.Duration) ([]byte, error) {
	if err := checkNodeName(commonName); err != nil {
		return nil, fmt.Errorf("issue client certificate: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName, Organization: org},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := ca.sign(tmpl, pub, ttl)
	if err != nil {
		return nil, fmt.Errorf("issue client certificate for %s: %w", commonName, err)
	}
	return der, nil
}

// sign fills in serial and validity (now-backdate .. now+ttl, never past
// the CA's own end) and signs tmpl.
func (ca *CA) sign(tmpl *x509.Certificate, pub any, ttl time.Duration) ([]byte, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("ttl %v must be positive", ttl)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := ca.now()
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-backdate)
	tmpl.NotAfter = now.Add(ttl)
	if tmpl.NotAfter.After(ca.cert.NotAfter) {
		tmpl.NotAfter = ca.cert.NotAfter
	}
	tmpl.AuthorityKeyId = ca.cert.SubjectKeyId
	return x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
}

func tlsCert(der []byte, key *ecdsa.PrivateKey) (*tls.Certificate, error) {
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse issued certificate: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// ParseCertPEM parses exactly one PEM CERTIFICATE block (nothing else but
// whitespace around it).
func ParseCertPEM(data []byte) (*x509.Certificate, error) {
	b, rest := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("want one PEM CERTIFICATE block")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("trailing data after the PEM CERTIFICATE block")
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return cert, nil
}

// checkDNSName accepts a DNS name (letters, digits, '-', '.', and a leading
// "*." wildcard label), 1-253 characters.
func checkDNSName(n string) error {
	if n == "" || len(n) > 253 {
		return fmt.Errorf("name %q: want 1-253 characters", n)
	}
	for i, label := range strings.Split(strings.TrimSuffix(n, "."), ".") {
		if label == "*" && i == 0 {
			continue
		}
		if label == "" || len(label) > 63 {
			return fmt.Errorf("name %q: empty or over-long label", n)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return fmt.Errorf("name %q is neither an IP address nor a DNS name", n)
			}
		}
	}
	return nil
}

// checkNodeName accepts the common name of a node's client certificate:
// 1-128 characters of letters, digits and ".-_:".
func checkNodeName(n string) error {
	if n == "" || len(n) > 128 {
		return fmt.Errorf("common name %q: want 1-128 characters", n)
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' || r == ':') {
			return fmt.Errorf("common name %q: only letters, digits and .-_: are allowed", n)
		}
	}
	return nil
}
