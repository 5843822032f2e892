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
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/basalt-dcos/basalt/internal/ratelimit"
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

// MastersOrganization is the organization of the certificates issued to
// masters for their store members (server and client authentication).
const MastersOrganization = "basalt:masters"

// Roles of a join request.
const (
	RoleNode   = ""       // an agent: a client certificate
	RoleMaster = "master" // a master: a peer certificate for its names, and the KEK
)

// maxJoinBody bounds a join request (a CSR is well under 4 KiB).
const maxJoinBody = 64 << 10

// JoinRequest is the body of POST /basalt/v1/join.
type JoinRequest struct {
	// Secret is the join token's secret.
	Secret string `json:"secret"`
	// CSR is a PEM CERTIFICATE REQUEST whose subject common name names the
	// node; only its public key and common name are used.
	CSR string `json:"csr"`
	// Role is RoleNode (omitted) or RoleMaster; a master authenticates with
	// the master join secret, not the node secret.
	Role string `json:"role,omitempty"`
	// Names are the addresses (IPs, DNS names) a joining master's peer
	// certificate must cover; masters only.
	Names []string `json:"names,omitempty"`
}

// JoinResponse is the answer to a successful join.
type JoinResponse struct {
	// Certificate is the node's client certificate (PEM).
	Certificate string `json:"certificate"`
	// CA is the CA bundle (PEM) that signs the masters' certificates.
	CA string `json:"ca"`
	// KEK is the cluster's key-encryption key (hex), for a joining master
	// only: it opens the private keys sealed in the store.
	KEK string `json:"kek,omitempty"`
}

// joinError is the body of every non-2xx answer.
type joinError struct {
	Message string `json:"message"`
}

// JoinHandler answers POST /basalt/v1/join for nodes only: with the right
// secret and a valid CSR it signs a client certificate valid for ttl. See
// JoinPolicy for masters, several secrets and refusals.
func JoinHandler(ca *CA, secret func() string, ttl time.Duration, logger *slog.Logger) http.Handler {
	return JoinPolicy{CA: ca, NodeSecrets: func() []string { return []string{secret()} }, NodeTTL: ttl, Logger: logger}.Handler()
}

// JoinPolicy says who may join and what they get.
type JoinPolicy struct {
	CA *CA
	// NodeSecrets are the secrets a node may join with (the current one and,
	// during a rotation's grace period, the previous one). Read per request.
	NodeSecrets func() []string
	// MasterSecret is the master join secret ("" or nil: masters cannot
	// join here). Read per request.
	MasterSecret func() string
	// KEK is handed to joining masters (nil: masters cannot join here).
	KEK *KEK
	// NodeTTL and MasterTTL are the lifetimes of the certificates issued.
	NodeTTL, MasterTTL time.Duration
	// Refuse, if set, may refuse a node name joining with secret (a
	// revoked node): a non-nil error is answered 403 with its text.
	Refuse func(name, secret string) error
	// Failures, if set, rate-limits wrong secrets per client IP: once a
	// client's bucket is empty its joins answer 429 with Retry-After until
	// it refills (internal/ratelimit). Share one between the handlers of a
	// master, so that its ports count together.
	Failures *ratelimit.Failures
	// Now is the clock of Failures (nil: time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Defaults of a master's join rate limit (as the IAM's login limit): ten
// wrong secrets from one address, then one more every six seconds.
const (
	DefaultJoinFailBurst  = 10
	DefaultJoinFailRefill = 6 * time.Second
)

// DecodeJoinRequest reads a join request body (at most maxJoinBody bytes,
// no unknown fields) and checks its shape: the role, and names only for
// masters. The CSR is checked by ParseCSR.
func DecodeJoinRequest(r io.Reader) (JoinRequest, error) {
	var req JoinRequest
	dec := json.NewDecoder(io.LimitReader(r, maxJoinBody+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return JoinRequest{}, errors.New("invalid join request body: want JSON {\"secret\", \"csr\", \"role\", \"names\"}")
	}
	if dec.More() {
		return JoinRequest{}, errors.New("invalid join request body: trailing data")
	}
	var errs []error
	switch req.Role {
	case RoleNode:
		if len(req.Names) > 0 {
			errs = append(errs, errors.New("names: only masters ask for names"))
		}
	case RoleMaster:
		if len(req.Names) == 0 || len(req.Names) > maxNames {
			errs = append(errs, fmt.Errorf("names: a master asks for 1-%d names", maxNames))
		}
		for _, n := range req.Names {
			if net.ParseIP(strings.TrimSpace(n)) == nil {
				if err := checkDNSName(n); err != nil {
					errs = append(errs, fmt.Errorf("names: %w", err))
				}
			}
		}
	default:
		errs = append(errs, fmt.Errorf("role %q: want \"\" (node) or %q", req.Role, RoleMaster))
	}
	if err := errors.Join(errs...); err != nil {
		return JoinRequest{}, fmt.Errorf("invalid join request: %w", err)
	}
	return req, nil
}

// Handler answers POST /basalt/v1/join. Wrong secret → 401; too many
// wrong secrets from the client's address → 429 with Retry-After; malformed
// body or CSR → 400; a refused (revoked) node → 403; plain HTTP → 403 (the
// secret must not travel in the clear).
func (p JoinPolicy) Handler() http.Handler {
	logger := p.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	now := p.Now
	if now == nil {
		now = time.Now
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			writeJoinError(w, http.StatusForbidden, "join only over TLS: the request carries the cluster secret")
			return
		}
		limitKey := "ip:" + clientIP(r)
		if p.Failures != nil {
			if ok, wait := p.Failures.Allow(now(), limitKey); !ok {
				w.Header().Set("Retry-After", ratelimit.RetryAfter(wait))
				writeJoinError(w, http.StatusTooManyRequests, "too many failed join attempts from this address; try again in "+ratelimit.RetryAfter(wait)+"s")
				return
			}
		}
		req, err := DecodeJoinRequest(http.MaxBytesReader(w, r.Body, maxJoinBody))
		if err != nil {
			writeJoinError(w, http.StatusBadRequest, err.Error())
			return
		}
		var wants []string
		switch {
		case req.Role == RoleMaster && p.MasterSecret != nil && p.KEK != nil:
			wants = []string{p.MasterSecret()}
		case req.Role == RoleNode && p.NodeSecrets != nil:
			wants = p.NodeSecrets()
		}
		if !secretMatches(req.Secret, wants) {
			if p.Failures != nil {
				p.Failures.Fail(now(), limitKey)
			}
			logger.Warn("join refused: wrong secret", "role", roleName(req.Role), "remote", r.RemoteAddr)
			writeJoinError(w, http.StatusUnauthorized, "join token secret is not this cluster's "+roleName(req.Role)+" secret")
			return
		}
		csr, err := ParseCSR([]byte(req.CSR))
		if err != nil {
			writeJoinError(w, http.StatusBadRequest, "invalid csr: "+err.Error())
			return
		}
		name := csr.Subject.CommonName
		if p.Refuse != nil {
			if err := p.Refuse(name, req.Secret); err != nil {
				logger.Warn("join refused", "node", name, "remote", r.RemoteAddr, "error", err)
				writeJoinError(w, http.StatusForbidden, err.Error())
				return
			}
		}
		resp := JoinResponse{CA: string(p.CA.certPEM)}
		var der []byte
		if req.Role == RoleMaster {
			der, err = p.CA.signNamed(req.Names, csr.PublicKey, p.MasterTTL, true)
			resp.KEK = hex.EncodeToString(p.KEK.raw)
		} else {
			der, err = p.CA.signClient(name, []string{NodesOrganization}, csr.PublicKey, p.NodeTTL)
		}
		if err != nil {
			logger.Error("join: sign certificate", "node", name, "error", err)
			writeJoinError(w, http.StatusInternalServerError, "could not sign the certificate")
			return
		}
		resp.Certificate = string(pemBlock("CERTIFICATE", der))
		logger.Info("node joined", "node", name, "role", roleName(req.Role), "remote", r.RemoteAddr)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(resp)
	})
}

func roleName(role string) string {
	if role == RoleMaster {
		return "master"
	}
	return "node"
}

// clientIP is the address of the connection's peer (proxies' headers are
// not trusted: the join endpoint is reached directly).
func clientIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// secretMatches compares got with every non-empty want in constant time.
func secretMatches(got string, wants []string) bool {
	ok := 0
	for _, w := range wants {
		if w != "" {
			ok |= subtle.ConstantTimeCompare([]byte(got), []byte(w))
		}
	}
	return ok == 1
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

// ErrCAMismatch: the master's CA is not the one the join token pins.
var ErrCAMismatch = errors.New("wrong cluster CA")

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
	j, _, err := join(ctx, masterURL, token, nodeName, RoleNode, nil, base)
	return j, err
}

// JoinMaster joins as a master named name (its store member name) with the
// master join token, as Join does, asking for a peer certificate (server
// and client authentication) for names. It returns the certificate and the
// cluster's key-encryption key.
func JoinMaster(ctx context.Context, masterURL string, token JoinToken, name string, names []string, base *http.Transport) (*Joined, *KEK, error) {
	return join(ctx, masterURL, token, name, RoleMaster, names, base)
}

func join(ctx context.Context, masterURL string, token JoinToken, nodeName, role string, names []string, base *http.Transport) (*Joined, *KEK, error) {
	j, kek, err := joinOnce(ctx, masterURL, token, nodeName, role, names, base)
	if err != nil {
		return nil, nil, fmt.Errorf("join: %w", err)
	}
	return j, kek, nil
}

func joinOnce(ctx context.Context, masterURL string, token JoinToken, nodeName, role string, names []string, base *http.Transport) (*Joined, *KEK, error) {
	u, err := url.Parse(strings.TrimSuffix(masterURL, "/"))
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, nil, fmt.Errorf("master URL %q: want https://host:port", masterURL)
	}
	if err := checkNodeName(nodeName); err != nil {
		return nil, nil, err
	}
	if base == nil {
		base = http.DefaultTransport.(*http.Transport)
	}

	// 1. The CA from the master's handshake, pinned by the token's hash.
	ca, err := pinnedCA(ctx, u, token.CAHash, base)
	if err != nil {
		return nil, nil, err
	}

	// 2. Verified: the master must present a certificate of that CA.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: nodeName}}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CSR: %w", err)
	}
	body, err := json.Marshal(JoinRequest{Secret: token.Secret, CSR: string(pemBlock("CERTIFICATE REQUEST", csrDER)), Role: role, Names: names})
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	verified := base.Clone()
	verified.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	defer verified.CloseIdleConnections()
	respBody, err := fetch(ctx, &http.Client{Transport: verified}, http.MethodPost, u.String()+JoinPath, body, maxJoinBody)
	if err != nil {
		return nil, nil, err
	}
	var jr JoinResponse
	if err := json.Unmarshal(respBody, &jr); err != nil {
		return nil, nil, fmt.Errorf("decode answer: %w", err)
	}
	cert, err := ParseCertPEM([]byte(jr.Certificate))
	if err != nil {
		return nil, nil, fmt.Errorf("issued certificate: %w", err)
	}
	var kek *KEK
	if role == RoleMaster {
		raw, err := hex.DecodeString(jr.KEK)
		if err != nil {
			return nil, nil, errors.New("the master's answer carries no valid key-encryption key")
		}
		if kek, err = NewKEK(raw); err != nil {
			return nil, nil, err
		}
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, nil, fmt.Errorf("issued certificate does not verify against the pinned CA: %w", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, nil, errors.New("issued certificate is not for the key we sent")
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return &Joined{
		Certificate: tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert},
		CA:          ca,
		CAPEM:       pemBlock("CERTIFICATE", ca.Raw),
		CertPEM:     pemBlock("CERTIFICATE", cert.Raw),
		KeyPEM:      pemBlock("PRIVATE KEY", keyDER),
	}, kek, nil
}

// pinnedCA finds the cluster CA in the certificate chain the master at u
// presents (masters send their CA after their own certificate), by the
// hash the token pins. It trusts nothing yet and sends nothing: the
// handshake, checked against an empty pool, fails as expected, and the
// certificates it carried are looked at only to find the one with the
// pinned hash. What it returns is then the only root of the connection
// that carries the secret, which verifies the master's certificate.
func pinnedCA(ctx context.Context, u *url.URL, caHash string, base *http.Transport) (*x509.Certificate, error) {
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "443"
	}
	dial := base.DialContext
	if dial == nil {
		dial = (&net.Dialer{Timeout: 30 * time.Second}).DialContext
	}
	conn, err := dial(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, fmt.Errorf("fetch the cluster CA: %w", err)
	}
	defer conn.Close()
	tc := tls.Client(conn, &tls.Config{ServerName: host, RootCAs: x509.NewCertPool(), MinVersion: tls.VersionTLS12})
	err = tc.HandshakeContext(ctx)
	var cve *tls.CertificateVerificationError
	if !errors.As(err, &cve) {
		if err == nil {
			err = errors.New("the master's certificate verified against no root")
		}
		return nil, fmt.Errorf("fetch the cluster CA: %w", err)
	}
	want := strings.ToLower(caHash)
	for _, c := range cve.UnverifiedCertificates {
		if c.IsCA && subtle.ConstantTimeCompare([]byte(CertHash(c)), []byte(want)) == 1 {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%w: the master presented no CA certificate with hash %s: not this cluster (or someone in between)", ErrCAMismatch, caHash)
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
