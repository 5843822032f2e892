package pki

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// RenewPath takes {"csr"} from a node presenting its current certificate
// (mTLS) and answers a JoinResponse with a new one for the same name.
const RenewPath = "/basalt/v1/renew"

// RenewHandler answers POST /basalt/v1/renew: the caller's verified client
// certificate must be a node certificate of this CA, not revoked (Revoked),
// and the CSR must name the same node. No secret is involved: the current
// certificate is the credential, so renewal outlives join-secret rotations.
func (p JoinPolicy) RenewHandler(revoked func(*x509.Certificate) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
			writeJoinError(w, http.StatusUnauthorized, "renewal needs the node's current certificate (mTLS)")
			return
		}
		cur := r.TLS.VerifiedChains[0][0]
		if !slices.Contains(cur.Subject.Organization, NodesOrganization) || (revoked != nil && revoked(cur)) {
			writeJoinError(w, http.StatusForbidden, "not a valid node certificate")
			return
		}
		var req struct {
			CSR string `json:"csr"`
		}
		dec := json.NewDecoder(io.LimitReader(http.MaxBytesReader(w, r.Body, maxJoinBody), maxJoinBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeJoinError(w, http.StatusBadRequest, "invalid renewal body: want JSON {\"csr\"}")
			return
		}
		csr, err := ParseCSR([]byte(req.CSR))
		if err != nil {
			writeJoinError(w, http.StatusBadRequest, "invalid csr: "+err.Error())
			return
		}
		if csr.Subject.CommonName != cur.Subject.CommonName {
			writeJoinError(w, http.StatusForbidden, "a node renews only its own name")
			return
		}
		der, err := p.CA.signClient(cur.Subject.CommonName, []string{NodesOrganization}, csr.PublicKey, p.NodeTTL)
		if err != nil {
			writeJoinError(w, http.StatusInternalServerError, "could not sign the certificate")
			return
		}
		if p.Logger != nil {
			p.Logger.Info("node certificate renewed", "node", cur.Subject.CommonName, "old_serial", SerialOf(cur))
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(JoinResponse{Certificate: string(pemBlock("CERTIFICATE", der)), CA: string(p.CA.certPEM)})
	})
}

// RenewDue reports whether a certificate of this package has a third or
// less of its lifetime left at now (its NotBefore is backdated: the
// lifetime counts from the issue time).
func RenewDue(cert *x509.Certificate, now time.Time) bool {
	life := cert.NotAfter.Sub(cert.NotBefore.Add(backdate))
	return cert.NotAfter.Sub(now) <= life/3
}

// Renew asks the master at masterURL (https://host:port of its API TLS
// port) for a new certificate for the same node, presenting the current
// one, with a fresh key.
func Renew(ctx context.Context, masterURL string, cur *Joined, base *http.Transport) (*Joined, error) {
	u, err := url.Parse(strings.TrimSuffix(masterURL, "/"))
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("renew: master URL %q: want https://host:port", masterURL)
	}
	if base == nil {
		base = http.DefaultTransport.(*http.Transport)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("renew: %w", err)
	}
	name := cur.Certificate.Leaf.Subject.CommonName
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}, key)
	if err != nil {
		return nil, fmt.Errorf("renew: create CSR: %w", err)
	}
	body, err := json.Marshal(map[string]string{"csr": string(pemBlock("CERTIFICATE REQUEST", csrDER))})
	if err != nil {
		return nil, err
	}
	tr := base.Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: cur.Pool(), Certificates: []tls.Certificate{cur.Certificate}}
	defer tr.CloseIdleConnections()
	data, err := fetch(ctx, &http.Client{Transport: tr}, http.MethodPost, u.String()+RenewPath, body, maxJoinBody)
	if err != nil {
		return nil, fmt.Errorf("renew: %w", err)
	}
	var jr JoinResponse
	if err := json.Unmarshal(data, &jr); err != nil {
		return nil, fmt.Errorf("renew: decode answer: %w", err)
	}
	cert, err := ParseCertPEM([]byte(jr.Certificate))
	if err != nil {
		return nil, fmt.Errorf("renew: %w", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: cur.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, fmt.Errorf("renew: issued certificate does not verify against the cluster CA: %w", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) || cert.Subject.CommonName != name {
		return nil, errors.New("renew: issued certificate is not for our key and name")
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &Joined{
		Certificate: tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert},
		CA:          cur.CA, CAPEM: cur.CAPEM,
		CertPEM: pemBlock("CERTIFICATE", cert.Raw),
		KeyPEM:  pemBlock("PRIVATE KEY", keyDER),
	}, nil
}

// HTTPSOnly sends every request over https, for clients that talk only to
// masters' ports that also speak TLS (their http URLs name the master API
// and Marathon ports, which tell TLS from plain HTTP by the first byte).
type HTTPSOnly struct{ Transport *http.Transport }

// RoundTrip sends req, over https when its URL says http.
func (t HTTPSOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" {
		r2 := req.Clone(req.Context())
		r2.URL.Scheme = "https"
		return t.Transport.RoundTrip(r2)
	}
	return t.Transport.RoundTrip(req)
}

// CloseIdleConnections closes the transport's idle connections.
func (t HTTPSOnly) CloseIdleConnections() { t.Transport.CloseIdleConnections() }
