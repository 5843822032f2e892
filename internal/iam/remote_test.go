package iam

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestRemoteKeys: an agent-side verifier with the masters' JWKS accepts the
// IAM's tokens, fetches the key set again after a rotation (unknown kid),
// not more than once per MinRefetch, and refuses what the IAM refuses that
// it can see (alg none, expiry, another issuer, a tampered signature).
func TestRemoteKeys(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Issuer = "basalt" })
	var fetches atomic.Int32
	rk, err := NewRemoteKeys(RemoteKeysConfig{Issuer: "basalt", Now: f.clock.Now, MinRefetch: time.Minute,
		Fetch: func(context.Context) ([]byte, error) { fetches.Add(1); return f.svc.JWKS(), nil }})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := f.svc.IssueToken("root")
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "token="+tok)
	if p, err := rk.Authenticate(req); err != nil || p.UID != "root" {
		t.Fatalf("Authenticate = %+v, %v", p, err)
	}
	if _, err := rk.Authenticate(httptest.NewRequest("GET", "/", nil)); !errors.Is(err, ErrNoToken) {
		t.Errorf("no token: %v", err)
	}

	// A rotation: the new kid makes it fetch again, once.
	if err := f.svc.RotateKey(t.Context()); err != nil {
		t.Fatal(err)
	}
	tok2, _ := f.svc.IssueToken("root")
	f.clock.Advance(2 * time.Minute)
	if _, err := rk.VerifyToken(t.Context(), tok2); err != nil {
		t.Fatalf("token of the new key: %v", err)
	}
	if _, err := rk.VerifyToken(t.Context(), tok); err != nil {
		t.Errorf("token of the old key (still listed): %v", err)
	}
	// Unknown kids do not make it fetch more than once per MinRefetch.
	f.clock.Advance(2 * time.Minute)
	n := fetches.Load()
	forged := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"uid": "root", "iss": "basalt", "exp": f.clock.Now().Add(time.Hour).Unix()})
	forged.Header["kid"] = "nope"
	signed, _ := forged.SignedString(newRSAKey(t))
	for range 3 {
		if _, err := rk.VerifyToken(t.Context(), signed); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("unknown kid: %v", err)
		}
	}
	if got := fetches.Load(); got != n+1 {
		t.Errorf("fetches for three unknown-kid tokens: %d, want 1", got-n)
	}

	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"uid": "root", "iss": "basalt", "exp": f.clock.Now().Add(time.Hour).Unix()})
	noneTok, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	parts := strings.Split(tok2, ".")
	tampered := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
	for name, bad := range map[string]string{"alg none": noneTok, "tampered": tampered, "garbage": "a.b.c"} {
		if _, err := rk.VerifyToken(t.Context(), bad); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: %v", name, err)
		}
	}
	f.clock.Advance(6 * 24 * time.Hour)
	if _, err := rk.VerifyToken(t.Context(), tok2); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("expired: %v", err)
	}
	other, _ := NewRemoteKeys(RemoteKeysConfig{Issuer: "someone-else", Now: f.clock.Now,
		Fetch: func(context.Context) ([]byte, error) { return f.svc.JWKS(), nil }})
	fresh, _ := f.svc.IssueToken("root")
	if _, err := other.VerifyToken(t.Context(), fresh); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("another issuer: %v", err)
	}
}

func TestParseJWKS(t *testing.T) {
	f := newFixture(t)
	keys, err := ParseJWKS(f.svc.JWKS())
	if err != nil || len(keys) != 1 {
		t.Fatalf("ParseJWKS(the IAM's) = %d keys, %v", len(keys), err)
	}
	for _, bad := range []string{`{`, `{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`,
		`{"keys":[{"kty":"RSA","kid":"a","n":"AQAB","e":"AQAB"}]}`, `{"keys":[{"kty":"RSA","kid":"a","n":"!!","e":"AQAB"}]}`} {
		if _, err := ParseJWKS([]byte(bad)); err == nil {
			t.Errorf("ParseJWKS(%s) accepted", bad)
		}
	}
	if keys, err := ParseJWKS([]byte(`{"keys":[{"kty":"EC","kid":"x"}]}`)); err != nil || len(keys) != 0 {
		t.Errorf("an EC key: %v %v, want skipped", keys, err)
	}
}

func FuzzParseJWKS(f *testing.F) {
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"a","use":"sig","alg":"RS256","n":"AQAB","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"a","n":"` + strings.Repeat("_w", 200) + `","e":"AQAB"}]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		keys, err := ParseJWKS(doc)
		if err != nil {
			return
		}
		for kid, k := range keys {
			if kid == "" || k.N.BitLen() < 2048 || k.E < 3 {
				t.Fatalf("accepted a weak or unnamed key %q", kid)
			}
		}
	})
}
