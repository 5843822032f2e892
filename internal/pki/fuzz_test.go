package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"strings"
	"testing"
	"time"
)

func FuzzParseJoinToken(f *testing.F) {
	f.Add("K10" + strings.Repeat("ab", 32) + "::0123456789abcdef0123456789abcdef")
	f.Add("K10" + strings.Repeat("AB", 32) + "::node:password-1234567")
	f.Add("K10::")
	f.Add("0123456789abcdef")
	f.Add("K10" + strings.Repeat("0", 64) + ":::::::::::::::::::")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseJoinToken(s)
		if err != nil {
			return
		}
		again, err := ParseJoinToken(tok.Encode())
		if err != nil || again != tok {
			t.Fatalf("round trip of %q: %v, %+v != %+v", s, err, again, tok)
		}
		if got := tok.String(); got != "K10"+tok.CAHash+"::<redacted>" {
			t.Fatalf("String() = %q, want the secret redacted", got)
		}
	})
}

func FuzzParseCSR(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "agent-1"}}, key)
	if err != nil {
		f.Fatal(err)
	}
	good := pemBlock("CERTIFICATE REQUEST", der)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(append(append([]byte{}, good...), good...))
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"))
	f.Add([]byte{})
	ca, err := NewCA(fixedNow)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		csr, err := ParseCSR(data)
		if err != nil {
			return
		}
		// Whatever passes must be signable and verify.
		der, err := ca.WithClock(func() time.Time { return fixedNow }).signClient(csr.Subject.CommonName, []string{NodesOrganization}, csr.PublicKey, time.Hour)
		if err != nil {
			t.Fatalf("accepted CSR does not sign: %v", err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: fixedNow, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Fatalf("signed certificate does not verify: %v", err)
		}
	})
}

var fixedNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
