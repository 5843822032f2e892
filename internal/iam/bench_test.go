package iam

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/store/storetest"
)

// Run: go test ./internal/iam -run '^$' -bench . -benchtime 2s

func benchService(b *testing.B, argon Argon2Params) (*Service, string) {
	b.Helper()
	st := storetest.Open(b)
	s := newService(b, st, newClock(), func(c *Config) { c.Argon2 = argon })
	if _, err := s.EnsureSuperuser(b.Context(), "root", "root-password"); err != nil {
		b.Fatal(err)
	}
	tok, err := s.IssueToken("root")
	if err != nil {
		b.Fatal(err)
	}
	return s, tok
}

// BenchmarkVerifyToken: what every authenticated request pays for a token
// seen before (the verified-token cache, then the expiry, key and account
// checks). BenchmarkVerifySignature is the first use of a token.
func BenchmarkVerifyToken(b *testing.B) {
	s, tok := benchService(b, cheapArgon2)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.VerifyToken(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifySignature: the RS256 verification and claim checks of a
// token's first use.
func BenchmarkVerifySignature(b *testing.B) {
	s, tok := benchService(b, cheapArgon2)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.verifySigned(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticate is VerifyToken plus finding the token in a request
// (header "Authorization: token=...").
func BenchmarkAuthenticate(b *testing.B) {
	s, tok := benchService(b, cheapArgon2)
	r := httptest.NewRequest("GET", "/service/marathon/v2/apps", nil)
	r.Header.Set("Authorization", "token="+tok)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Authenticate(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAllowed: an authorization decision for a non-superuser.
func BenchmarkAllowed(b *testing.B) {
	s, _ := benchService(b, cheapArgon2)
	if err := s.createUser(b.Context(), "alice", newUser{Password: "alice-pw"}); err != nil {
		b.Fatal(err)
	}
	if err := s.createGroup(b.Context(), "ops", ""); err != nil {
		b.Fatal(err)
	}
	if err := s.addMember(b.Context(), "ops", "alice"); err != nil {
		b.Fatal(err)
	}
	if err := s.grant(b.Context(), "g", "dcos:adminrouter:service:marathon", "ops", "full"); err != nil {
		b.Fatal(err)
	}
	p := Principal{UID: "alice"}
	for b.Loop() {
		if !s.Allowed(p, "dcos:adminrouter:service:marathon", "read") {
			b.Fatal("not allowed")
		}
	}
}

// BenchmarkLogin: POST /auth/login with the default argon2id cost (the hash
// dominates); reports ms per login.
func BenchmarkLogin(b *testing.B) {
	s, _ := benchService(b, DefaultArgon2)
	h := s.Handler()
	body := []byte(`{"uid":"root","password":"root-password"}`)
	start := time.Now()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/auth/login", bytes.NewReader(body))
		r.RemoteAddr = "192.0.2.1:1"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("login %d %s", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/login")
}
