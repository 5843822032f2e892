package iam

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/store/storetest"
	"github.com/golang-jwt/jwt/v5"
)

func TestIssueAndVerify(t *testing.T) {
	f := newFixture(t)
	tok, err := f.svc.IssueToken("root")
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.svc.VerifyToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	if p != (Principal{UID: "root", Superuser: true}) {
		t.Fatalf("principal %+v", p)
	}
	// The header names the key and the algorithm; the claims are DC/OS's.
	parts := strings.Split(tok, ".")
	var hdr, claims map[string]any
	for i, v := range []*map[string]any{&hdr, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatal(err)
		}
	}
	if hdr["alg"] != "RS256" || hdr["kid"] != f.svc.snap.Load().active().kid {
		t.Errorf("header %v", hdr)
	}
	for _, c := range []string{"uid", "exp", "iat", "iss"} {
		if _, ok := claims[c]; !ok {
			t.Errorf("claim %s missing from %v", c, claims)
		}
	}
	if exp := int64(claims["exp"].(float64)); exp != f.clock.Now().Add(DefaultTokenTTL).Unix() {
		t.Errorf("exp %d, want 5 days ahead", exp)
	}
	if _, err := f.svc.IssueToken("nobody"); err == nil {
		t.Error("IssueToken for an unknown uid succeeded")
	}
}

// TestVerifyRejects is the attack list: every token here must fail with
// ErrInvalidToken.
func TestVerifyRejects(t *testing.T) {
	f := newFixture(t)
	k := f.svc.snap.Load().active()
	now := f.clock.Now()
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"uid": "root", "iss": DefaultIssuer, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	with := func(edit func(jwt.MapClaims)) jwt.MapClaims { c := good(); edit(c); return c }
	other := newRSAKey(t)

	pubDER, _ := x509.MarshalPKIXPublicKey(k.pub)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hs256 := func(secret []byte) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, good())
		tok.Header["kid"] = k.kid
		s, err := tok.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	none := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, good())
		tok.Header["kid"] = k.kid
		s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	valid := sign(t, k.priv, k.kid, good())
	if _, err := f.svc.VerifyToken(valid); err != nil {
		t.Fatalf("control token rejected: %v", err)
	}
	tampered := func() string {
		parts := strings.Split(valid, ".")
		payload, _ := json.Marshal(with(func(c jwt.MapClaims) { c["uid"] = "mallory" }))
		parts[1] = base64.RawURLEncoding.EncodeToString(payload)
		return strings.Join(parts, ".")
	}
	ps256 := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodPS256, good())
		tok.Header["kid"] = k.kid
		s, err := tok.SignedString(k.priv)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	cases := map[string]string{
		"alg none":                  none(),
		"HS256 with public PEM":     hs256(pubPEM),
		"HS256 with public DER":     hs256(pubDER),
		"PS256 with our key":        ps256(),
		"unknown kid":               sign(t, k.priv, "no-such-kid", good()),
		"no kid":                    sign(t, k.priv, "", good()),
		"right kid, other key":      sign(t, other, k.kid, good()),
		"wrong issuer":              sign(t, k.priv, k.kid, with(func(c jwt.MapClaims) { c["iss"] = "dcos-oauth" })),
		"no issuer":                 sign(t, k.priv, k.kid, with(func(c jwt.MapClaims) { delete(c, "iss") })),
		"expired":                   sign(t, k.priv, k.kid, with(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() })),
		"no exp":                    sign(t, k.priv, k.kid, with(func(c jwt.MapClaims) { delete(c, "exp") })),
		"nbf in the future":         sign(t, k.priv, k.kid, with(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() })),
		"iat in the future":         sign(t, k.priv, k.kid, with(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Hour).Unix() })),
		"no uid":                    sign(t, k.priv, k.kid, with(func(c jwt.MapClaims) { delete(c, "uid") })),
		"uid not a string":          sign(t, k.priv, k.kid, with(func(c jwt.MapClaims) { c["uid"] = 7 })),
		"unknown uid":               sign(t, k.priv, k.kid, with(func(c jwt.MapClaims) { c["uid"] = "ghost" })),
		"tampered payload":          tampered(),
		"truncated signature":       valid[:len(valid)-5],
		"garbage":                   "not.a.jwt",
		"two parts":                 "eyJhbGciOiJSUzI1NiJ9.e30",
		"padded base64 (not JWS)":   strings.Replace(valid, ".", "=.", 1),
		"too long":                  valid + strings.Repeat("A", maxTokenLen),
		"exp as a string":           sign(t, k.priv, k.kid, with(func(c jwt.MapClaims) { c["exp"] = "tomorrow" })),
		"expired beyond the leeway": sign(t, k.priv, k.kid, with(func(c jwt.MapClaims) { c["exp"] = now.Add(-2 * DefaultClockLeeway).Unix() })),
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := f.svc.VerifyToken(tok)
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("VerifyToken = %+v, %v; want ErrInvalidToken", p, err)
			}
		})
	}
	if _, err := f.svc.VerifyToken(""); !errors.Is(err, ErrNoToken) {
		t.Errorf("empty token: %v, want ErrNoToken", err)
	}
	// Small skew is tolerated: iat a few seconds ahead, exp a few seconds past.
	skewed := sign(t, k.priv, k.kid, with(func(c jwt.MapClaims) {
		c["iat"] = now.Add(5 * time.Second).Unix()
		c["exp"] = now.Add(-5 * time.Second).Unix()
	}))
	if _, err := f.svc.VerifyToken(skewed); err != nil {
		t.Errorf("token within the clock leeway rejected: %v", err)
	}
}

func TestVerifyRejectsDeletedUser(t *testing.T) {
	f := newFixture(t)
	f.want(f.do(f.root, "PUT", "/users/alice", map[string]string{"password": "secret-1"}), 201)
	tok, err := f.svc.IssueToken("alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.VerifyToken(tok); err != nil {
		t.Fatal(err)
	}
	f.want(f.do(f.root, "DELETE", "/users/alice", nil), 204)
	if _, err := f.svc.VerifyToken(tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("deleted user's token: %v", err)
	}
	// Re-created later under the same uid: the old token stays dead.
	f.clock.Advance(time.Hour)
	f.want(f.do(f.root, "PUT", "/users/alice", map[string]string{"password": "secret-2"}), 201)
	if _, err := f.svc.VerifyToken(tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("token of the previous alice accepted: %v", err)
	}
}

func TestExpiryFollowsClock(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.TokenTTL = time.Hour })
	tok, err := f.svc.IssueToken("root")
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(59 * time.Minute)
	if _, err := f.svc.VerifyToken(tok); err != nil {
		t.Fatalf("token rejected before expiry: %v", err)
	}
	f.clock.Advance(2*time.Minute + DefaultClockLeeway)
	if _, err := f.svc.VerifyToken(tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("expired token: %v", err)
	}
}

func TestAuthenticateTokenSources(t *testing.T) {
	f := newFixture(t)
	tok, err := f.svc.IssueToken("root")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		header  string
		cookie  string
		wantErr error
	}{
		{"token=", "token=" + tok, "", nil},
		{"Token= any case", "Token=" + tok, "", nil},
		{"Bearer", "Bearer " + tok, "", nil},
		{"bearer lower case", "bearer " + tok, "", nil},
		{"cookie", "", tok, nil},
		{"header wins over cookie", "token=" + tok, "garbage", nil},
		{"nothing", "", "", ErrNoToken},
		{"other scheme, no cookie", "Basic cm9vdDpwdw==", "", ErrNoToken},
		{"bad header token", "token=garbage", "", ErrInvalidToken},
		{"bad cookie", "", "garbage", ErrInvalidToken},
		{"empty token=", "token=", "", ErrNoToken},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if c.header != "" {
				r.Header.Set("Authorization", c.header)
			}
			if c.cookie != "" {
				r.Header.Set("Cookie", AuthCookie+"="+c.cookie)
			}
			p, err := f.svc.Authenticate(r)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("Authenticate = %+v, %v; want %v", p, err, c.wantErr)
				}
				return
			}
			if err != nil || p.UID != "root" {
				t.Fatalf("Authenticate = %+v, %v", p, err)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.TokenTTL = time.Hour })
	other := newService(t, f.st, f.clock, func(c *Config) { c.TokenTTL = time.Hour })

	old, err := f.svc.IssueToken("root")
	if err != nil {
		t.Fatal(err)
	}
	oldKid := f.svc.snap.Load().active().kid
	if got := other.snap.Load().active().kid; got != oldKid {
		t.Fatalf("second Service on the same store uses key %s, want %s", got, oldKid)
	}
	if err := f.svc.RotateKey(t.Context()); err != nil {
		t.Fatal(err)
	}
	newKid := f.svc.snap.Load().active().kid
	if newKid == oldKid {
		t.Fatal("rotation kept the key")
	}
	fresh, err := f.svc.IssueToken("root")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Service{f.svc, other} {
		for _, tok := range []string{old, fresh} {
			if _, err := s.VerifyToken(tok); err != nil {
				t.Fatalf("token rejected after rotation: %v", err)
			}
		}
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	r := f.do(Principal{}, "GET", "/auth/jwks", nil)
	f.want(r, 200)
	r.json(t, &set)
	if len(set.Keys) != 2 || set.Keys[0].Kid != newKid || set.Keys[1].Kid != oldKid {
		t.Fatalf("JWKS %s, want the new key then the old one", r.body)
	}
	for _, k := range set.Keys {
		if k.Kty != "RSA" || k.Alg != "RS256" || k.Use != "sig" || k.N == "" || k.E != "AQAB" {
			t.Errorf("JWK %+v", k)
		}
	}
	// The rotation reaches the other master through the store's watch, and
	// it then signs with the new key too.
	eventually(t, "the rotated key on the second Service", func() bool { return other.snap.Load().active().kid == newKid })

	// Once the old key has been retired for longer than a token lives, the next
	// rotation drops it and its tokens fail.
	f.clock.Advance(time.Hour + 2*DefaultClockLeeway)
	if err := f.svc.RotateKey(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.svc.snap.Load().keys[oldKid]; ok {
		t.Fatal("key retired two token lifetimes ago still loaded")
	}
	if got := len(f.svc.snap.Load().keyOrder); got != 2 {
		t.Fatalf("%d keys after the second rotation, want 2", got)
	}
	// Its token was verified (and cached) before; it must fail now, on its
	// expiry as on its key.
	if _, err := f.svc.VerifyToken(old); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("token of a dropped key: %v", err)
	}
}

// TestMastersStartTogether: Services created at once on an empty store agree
// on one signing key.
func TestMastersStartTogether(t *testing.T) {
	c := storetest.StartCluster(t, 3)
	clk := newClock()
	svcs := make([]*Service, 3)
	errs := make([]error, 3)
	done := make(chan int)
	for i := range svcs {
		go func() {
			svcs[i], errs[i] = New(t.Context(), Config{Store: c.Store(i), Now: clk.Now, Argon2: cheapArgon2})
			done <- i
		}()
	}
	for range svcs {
		<-done
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("New on member %d: %v", i, err)
		}
		t.Cleanup(svcs[i].Close)
	}
	want := svcs[0].snap.Load().active().kid
	for i, s := range svcs {
		if got := s.snap.Load().active().kid; got != want || len(s.snap.Load().keyOrder) != 1 {
			t.Fatalf("member %d signs with %s (%d keys), member 0 with %s", i, got, len(s.snap.Load().keyOrder), want)
		}
	}
	// A user created through one master logs in and is verified on another.
	if _, err := svcs[0].EnsureSuperuser(t.Context(), "root", "bootstrap-pw"); err != nil {
		t.Fatal(err)
	}
	if pw, err := svcs[1].EnsureSuperuser(t.Context(), "root2", ""); err != nil || pw != "" {
		t.Fatalf("second bootstrap on another master = %q, %v; want nothing", pw, err)
	}
	tok, err := svcs[0].IssueToken("root")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the user on member 2", func() bool {
		p, err := svcs[2].VerifyToken(tok)
		return err == nil && p.Superuser
	})
}

// TestVerifiedCacheRechecks: a token verified once is re-checked on every use
// for what can change: its expiry, its key, its account.
func TestVerifiedCacheRechecks(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.TokenTTL = 10 * 24 * time.Hour })
	f.want(f.do(f.root, "PUT", "/users/alice", map[string]string{"password": "alice-pw"}), 201)
	tok := mustToken(t, f.svc, "alice")
	for range 2 {
		if _, err := f.svc.VerifyToken(tok); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := f.svc.verified.get(tok); !ok {
		t.Fatal("verified token not cached")
	}
	// Drop the key that signed it (two rotations, the first one long ago).
	if err := f.svc.RotateKey(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(10*24*time.Hour + time.Hour)
	if err := f.svc.RotateKey(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Expired and key gone: either way rejected, from the cache.
	if _, err := f.svc.VerifyToken(tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("cached token after expiry and key removal: %v", err)
	}
	// The cache is bounded.
	c := newVerifiedCache(3)
	for i := range 10 {
		c.put(strings.Repeat("x", i+1), verified{uid: "u"})
	}
	if len(c.entries) != 3 {
		t.Fatalf("cache holds %d entries, max 3", len(c.entries))
	}
}
