package pki

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Paths of the join flow, served on a master's TLS port.
const (
	// CACertPath serves the CA certificate (PEM); DC/OS clients fetch it
	// from the same path.
	CACertPath = "/ca/dcos-ca.crt"
	// JoinPath takes a JoinRequest and answers a JoinResponse.
	JoinPath = "/basalt/v1/join"
)

// NodesOrganization is the organization of client certificates issued to
// joining nodes.
const NodesOrganization = "basalt:nodes"

// maxJoinBody bounds a join request (a CSR is well under 4 KiB).
const maxJoinBody = 64 << 10

// JoinRequest is the body of POST /basalt/v1/join.
type JoinRequest struct {
	// Secret is the join token's secret.
	Secret string `json:"secret"`
	// CSR is a PEM CERTIFICATE REQUEST whose subject common name names the
	// node; only its public key and common name are used.
	CSR string `json:"csr"`
}

// JoinResponse is the answer to a successful join.
type JoinResponse struct {
	// Certificate is the node's client certificate (PEM).
	Certificate string `json:"certificate"`
	// CA is the CA bundle (PEM) that signs the masters' certificates.
	CA string `json:"ca"`
}

// joinError is the body of every non-2xx answer.
type joinError struct {
	Message string `json:"message"`
}

// JoinHandler answers POST /basalt/v1/join: with the right secret and a
// valid CSR it signs a client certificate valid for ttl. Wrong secret → 401;
// malformed body or CSR → 400; plain HTTP → 403 (the secret must not travel
// in the clear). secret is read per request so a rotated secret applies at
// once.
func JoinHandler(ca *CA, secret func() string, ttl time.Duration, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			writeJoinError(w, http.StatusForbidden, "join only over TLS: the request carries the cluster secret")
			return
		}
		var req JoinRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJoinBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeJoinError(w, http.StatusBadRequest, "invalid join request body: want JSON {\"secret\", \"csr\"}")
			return
		}
		want := secret()
		if want == "" || subtle.ConstantTimeCompare([]byte(req.Secret), []byte(want)) != 1 {
			logger.Warn("join refused: wrong secret", "remote", r.RemoteAddr)
			writeJoinError(w, http.StatusUnauthorized, "join token secret is not this cluster's")
			return
		}
		csr, err := ParseCSR([]byte(req.CSR))
		if err != nil {
			writeJoinError(w, http.StatusBadRequest, "invalid csr: "+err.Error())
			return
		}
		der, err := ca.signClient(csr.Subject.CommonName, []string{NodesOrganization}, csr.PublicKey, ttl)
		if err != nil {
			logger.Error("join: sign client certificate", "node", csr.Subject.CommonName, "error", err)
			writeJoinError(w, http.StatusInternalServerError, "could not sign the certificate")
			return
		}
		logger.Info("node joined", "node", csr.Subject.CommonName, "remote", r.RemoteAddr)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(JoinResponse{Certificate: string(pemBlock("CERTIFICATE", der)), CA: string(ca.certPEM)})
	})
}

// CACertHandler serves the CA certificate (public information).
func CACertHandler(ca *CA) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(ca.certPEM)
	})
}

func writeJoinError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(joinError{Message: msg})
}

// ParseCSR parses one PEM CERTIFICATE REQUEST, checks its signature, its
// key (ECDSA P-256/P-384, Ed25519 or RSA of 2048 bits or more) and its
// common name (a node name: 1-128 of letters, digits and .-_:).
func ParseCSR(data []byte) (*x509.CertificateRequest, error) {
	b, rest := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("want one PEM CERTIFICATE REQUEST block")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("trailing data after the CERTIFICATE REQUEST block")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	switch k := csr.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return nil, errors.New("ECDSA keys must be on P-256 or P-384")
		}
	case ed25519.PublicKey:
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, errors.New("RSA keys must have 2048 bits or more")
		}
	default:
		return nil, errors.New("unsupported key type")
	}
	if err := checkNodeName(csr.Subject.CommonName); err != nil {
		return nil, err
	}
	return csr, nil
}

// Joined is what a node gets from joining: its client certificate (with the
// key it generated and never sent) and the cluster CA.
type Joined struct {
	Certificate tls.Certificate
	CA          *x509.Certificate
	CAPEM       []byte
	CertPEM     []byte
	KeyPEM      []byte
}

// Pool is a pool holding the cluster CA.
func (j *Joined) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(j.CA)
	return p
}

// ClientTLSConfig verifies masters against the cluster CA and presents the
// node's certificate (mTLS).
func (j *Joined) ClientTLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: j.Pool(), Certificates: []tls.Certificate{j.Certificate}}
}

// JoinStatusError is a non-2xx answer of the join endpoint.
type JoinStatusError struct {
	StatusCode int
	Message    string
}

func (e *JoinStatusError) Error() string {
	return fmt.Sprintf("join refused: %d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// Join joins the cluster behind masterURL (https://host:port of a master's
// TLS port) as nodeName, the k3s way:
//
//  1. fetch the CA certificate over TLS without trusting anyone yet, and
//     check that its SHA-256 is the one in the token — a man in the middle
//     cannot substitute its own CA;
//  2. then, trusting only that CA (the master's certificate must verify),
//     send the secret and a CSR for a freshly generated key, and get the
//     signed client certificate back.
//
// The secret is sent only on the verified connection. base, if not nil, is
// cloned for dialing (proxies, test dialers); its TLS settings are replaced.
func Join(ctx context.Context, masterURL string, token JoinToken, nodeName string, base *http.Transport) (*Joined, error) {
	u, err := url.Parse(strings.TrimSuffix(masterURL, "/"))
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("join: master URL %q: want https://host:port", masterURL)
	}
	if err := checkNodeName(nodeName); err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	if base == nil {
		base = http.DefaultTransport.(*http.Transport)
	}

	// 1. Unverified fetch of the CA, verified against the token's hash.
	probe := base.Clone()
	// The only unverified connection: it carries no secret, and what it
	// returns is checked against the hash the token pins before any use.
	probe.TLSClientConfig = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // see above
	defer probe.CloseIdleConnections()
	caPEM, err := fetch(ctx, &http.Client{Transport: probe}, http.MethodGet, u.String()+CACertPath, nil, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("join: fetch the cluster CA: %w", err)
	}
	ca, err := ParseCertPEM(caPEM)
	if err != nil {
		return nil, fmt.Errorf("join: the master's CA: %w", err)
	}
	if got := CertHash(ca); subtle.ConstantTimeCompare([]byte(got), []byte(strings.ToLower(token.CAHash))) != 1 {
		return nil, fmt.Errorf("join: the master's CA has hash %s, the token pins %s: not this cluster (or someone in between)", got, token.CAHash)
	}

	// 2. Verified: the master must present a certificate of that CA.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: nodeName}}, key)
	if err != nil {
		return nil, fmt.Errorf("join: create CSR: %w", err)
	}
	body, err := json.Marshal(JoinRequest{Secret: token.Secret, CSR: string(pemBlock("CERTIFICATE REQUEST", csrDER))})
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	verified := base.Clone()
	verified.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	defer verified.CloseIdleConnections()
	respBody, err := fetch(ctx, &http.Client{Transport: verified}, http.MethodPost, u.String()+JoinPath, body, maxJoinBody)
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	var jr JoinResponse
	if err := json.Unmarshal(respBody, &jr); err != nil {
		return nil, fmt.Errorf("join: decode answer: %w", err)
	}
	cert, err := ParseCertPEM([]byte(jr.Certificate))
	if err != nil {
		return nil, fmt.Errorf("join: issued certificate: %w", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, fmt.Errorf("join: issued certificate does not verify against the pinned CA: %w", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("join: issued certificate is not for the key we sent")
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	return &Joined{
		Certificate: tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert},
		CA:          ca,
		CAPEM:       pemBlock("CERTIFICATE", ca.Raw),
		CertPEM:     pemBlock("CERTIFICATE", cert.Raw),
		KeyPEM:      pemBlock("PRIVATE KEY", keyDER),
	}, nil
}

// fetch does one request and returns the body of a 200, or a
// *JoinStatusError carrying the server's message.
func fetch(ctx context.Context, c *http.Client, method, u string, body []byte, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var je joinError
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &je) == nil && je.Message != "" {
			msg = je.Message
		}
		if len(msg) > 200 {
			msg = msg[:200]
		}
		return nil, &JoinStatusError{StatusCode: resp.StatusCode, Message: msg}
	}
	return data, nil
}
