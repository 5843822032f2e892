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

func FuzzDecodeJoinRequest(f *testing.F) {
	f.Add(`{"secret":"0123456789abcdef","csr":"x"}`)
	f.Add(`{"secret":"0123456789abcdef","csr":"x","role":"master","names":["10.0.0.1","m1.example"]}`)
	f.Add(`{"secret":"s","csr":"","role":"master","names":[]}`)
	f.Add(`{"secret":"s","role":"node"}`)
	f.Add(`{"secret":"s","names":["a"]}{}`)
	f.Add(`{"secret":"s","unknown":1}`)
	f.Fuzz(func(t *testing.T, body string) {
		req, err := DecodeJoinRequest(strings.NewReader(body))
		if err != nil {
			return
		}
		if req.Role != RoleNode && req.Role != RoleMaster {
			t.Fatalf("accepted role %q", req.Role)
		}
		if req.Role == RoleNode && len(req.Names) > 0 {
			t.Fatal("a node asked for names")
		}
		if req.Role == RoleMaster && (len(req.Names) == 0 || len(req.Names) > maxNames) {
			t.Fatalf("a master with %d names", len(req.Names))
		}
	})
}

func FuzzOpenEnvelope(f *testing.F) {
	kek, _, err := GenerateKEK()
	if err != nil {
		f.Fatal(err)
	}
	sealed, err := kek.Seal([]byte("-----BEGIN PRIVATE KEY-----"), "pki/ca")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed, "pki/ca")
	f.Add(sealed, "iam/keys/00000001")
	f.Add("bkek1:"+kek.ID()+":", "pki/ca")
	f.Add("bkek1:0123456789abcdef:AAAA", "")
	f.Add("-----BEGIN PRIVATE KEY-----", "pki/ca")
	f.Fuzz(func(t *testing.T, s, aad string) {
		pt, err := kek.Open(s, aad)
		if err != nil {
			if strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Fatalf("error quotes the value: %v", err)
			}
			return
		}
		// Only what this KEK sealed for this aad opens.
		if s != sealed || aad != "pki/ca" || string(pt) != "-----BEGIN PRIVATE KEY-----" {
			t.Fatalf("opened a value it did not seal: %q (aad %q)", s, aad)
		}
	})
}

func FuzzParseSerial(f *testing.F) {
	f.Add("40b3b49bf23892baa853b999fbbb6392")
	f.Add("40:B3:B4:9B")
	f.Add("0x00ff")
	f.Add("")
	f.Add("agent-1")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseSerial(s)
		if err != nil {
			return
		}
		again, err := ParseSerial(c)
		if err != nil || again != c {
			t.Fatalf("canonical %q of %q does not round-trip: %q %v", c, s, again, err)
		}
	})
}

// FuzzOpenSecret: a stored join secret (sealed or clear) either opens to a
// well-formed secret or fails with an error that does not quote it.
func FuzzOpenSecret(f *testing.F) {
	k, err := NewKEK(make([]byte, 32))
	if err != nil {
		f.Fatal(err)
	}
	sealed, err := k.Seal([]byte("0123456789abcdef0123456789abcdef"), secretStoreKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed)
	f.Add("0123456789abcdef0123456789abcdef")
	f.Add("bkek1:0011223344556677:AAAA")
	f.Add("short")
	f.Fuzz(func(t *testing.T, v string) {
		s, _, err := openSecret(k, v, secretStoreKey)
		if err != nil {
			if checkSecret(v) == nil && strings.Contains(err.Error(), v) {
				t.Fatalf("error quotes the stored value: %v", err)
			}
			return
		}
		if checkSecret(s) != nil {
			t.Fatalf("opened a malformed secret %q", s)
		}
	})
}
