package iam

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/store/storetest"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"
)

func cookieNamed(t *testing.T, h http.Header, name string) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no cookie %s in %v", name, h["Set-Cookie"])
	return nil
}

func TestLoginUser(t *testing.T) {
	f := newFixture(t)
	r := f.login("192.0.2.7:1000", map[string]string{"uid": "root", "password": f.pw})
	f.want(r, 200)
	var body struct{ Token string }
	r.json(t, &body)
	p, err := f.svc.VerifyToken(body.Token)
	if err != nil || p.UID != "root" || !p.Superuser {
		t.Fatalf("login token: %+v, %v", p, err)
	}
	auth := cookieNamed(t, r.header, AuthCookie)
	if auth.Value != body.Token || !auth.HttpOnly || auth.Path != "/" {
		t.Errorf("auth cookie %+v", auth)
	}
	info := cookieNamed(t, r.header, InfoCookie)
	raw, err := base64.URLEncoding.DecodeString(info.Value)
	if err != nil {
		t.Fatalf("info cookie %q: %v", info.Value, err)
	}
	var ui map[string]any
	if err := json.Unmarshal(raw, &ui); err != nil || ui["uid"] != "root" || ui["is_remote"] != false {
		t.Errorf("info cookie %s, %v", raw, err)
	}
	if _, ok := ui["description"]; !ok {
		t.Errorf("info cookie %s lacks description", raw)
	}

	// Logout clears both cookies.
	r = f.do(Principal{}, "GET", "/auth/logout", nil)
	f.want(r, 200)
	for _, name := range []string{AuthCookie, InfoCookie} {
		if c := cookieNamed(t, r.header, name); c.MaxAge >= 0 || c.Value != "" {
			t.Errorf("logout left %+v", c)
		}
	}
}

// TestLoginFailures: wrong password, unknown uid and a service account trying
// a password all get the same 401 body, so a client learns nothing about which
// uids exist.
func TestLoginFailures(t *testing.T) {
	f := newFixture(t)
	key := newRSAKey(t)
	f.want(f.do(f.root, "PUT", "/users/svc", map[string]string{"public_key": publicPEM(t, key)}), 201)
	var first []byte
	for i, body := range []map[string]string{
		{"uid": "root", "password": "wrong"},
		{"uid": "nobody", "password": "wrong"},
		{"uid": "svc", "password": "wrong"},
		{"uid": "nobody", "token": "eyJhbGciOiJSUzI1NiJ9.e30.x"},
		{"uid": "root", "token": sign(t, key, "", jwt.MapClaims{"uid": "root", "exp": time.Now().Add(time.Minute).Unix()})},
	} {
		r := f.login("192.0.2.8:1000", body)
		f.want(r, 401)
		if r.header.Get("WWW-Authenticate") != "acsjwt" {
			t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
		}
		if e := r.apiErr(t); e.Code != "ERR_INVALID_CREDENTIALS" {
			t.Errorf("code %s", e.Code)
		}
		if i == 0 {
			first = r.body
		} else if string(r.body) != string(first) {
			t.Errorf("failure %d body %s differs from %s", i, r.body, first)
		}
	}
	for _, bad := range []string{`{"uid":"root"}`, `{"password":"x"}`, `{"token":"oidc"}`, `[1]`, `{"uid":"root","password":"a","token":"b"}`, `{`} {
		req := f.do(Principal{}, "POST", "/auth/login", bad)
		f.want(req, 400)
		if e := req.apiErr(t); e.Code != "ERR_INVALID_DATA" {
			t.Errorf("%s: code %s", bad, e.Code)
		}
	}
}

func TestServiceAccountLogin(t *testing.T) {
	f := newFixture(t)
	key := newRSAKey(t)
	f.want(f.do(f.root, "PUT", "/users/svc-acct", map[string]string{"description": "CI", "public_key": publicPEM(t, key)}), 201)
	now := f.clock.Now()
	loginTok := func(claims jwt.MapClaims) string { return sign(t, key, "", claims) }

	r := f.login("192.0.2.9:1", map[string]string{"uid": "svc-acct",
		"token": loginTok(jwt.MapClaims{"uid": "svc-acct", "exp": now.Add(5 * time.Minute).Unix()})})
	f.want(r, 200)
	var body struct{ Token string }
	r.json(t, &body)
	if p, err := f.svc.VerifyToken(body.Token); err != nil || p.UID != "svc-acct" || !p.IsService || p.Superuser {
		t.Fatalf("service token: %+v, %v", p, err)
	}

	other := newRSAKey(t)
	for name, tok := range map[string]string{
		"valid 20 minutes": loginTok(jwt.MapClaims{"uid": "svc-acct", "exp": now.Add(20 * time.Minute).Unix()}),
		"no exp":           loginTok(jwt.MapClaims{"uid": "svc-acct"}),
		"expired":          loginTok(jwt.MapClaims{"uid": "svc-acct", "exp": now.Add(-5 * time.Minute).Unix()}),
		"uid mismatch":     loginTok(jwt.MapClaims{"uid": "root", "exp": now.Add(time.Minute).Unix()}),
		"other key":        sign(t, other, "", jwt.MapClaims{"uid": "svc-acct", "exp": now.Add(time.Minute).Unix()}),
		"alg none": func() string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"uid": "svc-acct", "exp": now.Add(time.Minute).Unix()}).
				SignedString(jwt.UnsafeAllowNoneSignatureType)
			return s
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			f.t = t
			f.want(f.login("192.0.2.10:1", map[string]string{"uid": "svc-acct", "token": tok}), 401)
		})
	}
}

func TestLoginRateLimit(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.LoginBurst = 3; c.LoginRefill = time.Minute })
	f.want(f.do(f.root, "PUT", "/users/alice", map[string]string{"password": "alice-pw"}), 201)
	good := map[string]string{"uid": "alice", "password": "alice-pw"}
	bad := map[string]string{"uid": "alice", "password": "guess"}

	// Successes take nothing from the buckets.
	for range 5 {
		f.want(f.login("192.0.2.20:1", good), 200)
	}
	// Three failures from three addresses empty alice's bucket...
	for i := range 3 {
		f.want(f.login("192.0.2."+string(rune('1'+i))+"1:1", bad), 401)
	}
	r := f.login("192.0.2.99:1", good)
	f.want(r, 429)
	if e := r.apiErr(t); e.Code != "ERR_TOO_MANY_LOGIN_ATTEMPTS" || r.header.Get("Retry-After") == "" {
		t.Errorf("429 %s, Retry-After %q", r.body, r.header.Get("Retry-After"))
	}
	// ...but root is not affected,
	f.want(f.login("192.0.2.99:1", map[string]string{"uid": "root", "password": f.pw}), 200)
	// and one refill later alice may try again.
	f.clock.Advance(time.Minute)
	f.want(f.login("192.0.2.99:1", good), 200)

	// One address spraying uids is limited by its own bucket.
	for i := range 3 {
		f.want(f.login("198.51.100.1:1", map[string]string{"uid": "u" + string(rune('a'+i)) + "x", "password": "p"}), 401)
	}
	f.want(f.login("198.51.100.1:1", map[string]string{"uid": "root", "password": f.pw}), 429)
	f.want(f.login("198.51.100.2:1", map[string]string{"uid": "root", "password": f.pw}), 200)
}

func TestPasswordHashes(t *testing.T) {
	h, err := hashPassword("correct horse", cheapArgon2)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %s", h)
	}
	for pw, want := range map[string]bool{"correct horse": true, "correct horsE": false, "": false} {
		if ok, err := checkPassword(h, pw); ok != want || err != nil {
			t.Errorf("argon2 check %q = %v, %v", pw, ok, err)
		}
	}
	b, err := bcrypt.GenerateFromPassword([]byte("legacy"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for pw, want := range map[string]bool{"legacy": true, "Legacy": false} {
		if ok, err := checkPassword(string(b), pw); ok != want || err != nil {
			t.Errorf("bcrypt check %q = %v, %v", pw, ok, err)
		}
	}
	for _, bad := range []string{
		"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1000,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
	} {
		if ok, err := checkPassword(bad, "x"); ok || err == nil {
			t.Errorf("hash %q accepted: %v, %v", bad, ok, err)
		}
	}
	// A user whose stored hash is bcrypt (imported) logs in.
	f := newFixture(t)
	if err := f.svc.db.users.Put(t.Context(), "legacy", userRecord{UID: "legacy", PasswordHash: string(b), CreatedAt: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.want(f.login("192.0.2.30:1", map[string]string{"uid": "legacy", "password": "legacy"}), 200)
	// The login replaced the bcrypt hash with an argon2id one; it still works.
	rec, err := f.svc.db.users.Get(t.Context(), "legacy")
	if err != nil || !strings.HasPrefix(rec.PasswordHash, "$argon2id$") {
		t.Fatalf("hash after a bcrypt login: %q, %v", rec.PasswordHash, err)
	}
	f.want(f.login("192.0.2.30:1", map[string]string{"uid": "legacy", "password": "legacy"}), 200)
	f.want(f.login("192.0.2.30:1", map[string]string{"uid": "legacy", "password": "Legacy"}), 401)
}

func TestEnsureSuperuser(t *testing.T) {
	f := newFixture(t)
	// The fixture bootstrapped root with a random one-time password.
	if len(f.pw) < 20 {
		t.Fatalf("one-time password %q too short", f.pw)
	}
	f.want(f.login("192.0.2.40:1", map[string]string{"uid": "root", "password": f.pw}), 200)
	// Never twice: not with another uid, not with a given password, not after
	// every user is gone.
	for _, uid := range []string{"root", "admin"} {
		if pw, err := f.svc.EnsureSuperuser(t.Context(), uid, "given-password"); pw != "" || err != nil {
			t.Fatalf("second EnsureSuperuser(%s) = %q, %v", uid, pw, err)
		}
	}
	f.want(f.do(f.root, "DELETE", "/users/root", nil), 204)
	if pw, err := f.svc.EnsureSuperuser(t.Context(), "admin", ""); pw != "" || err != nil {
		t.Fatalf("EnsureSuperuser after deleting every user = %q, %v", pw, err)
	}
	f.want(f.login("192.0.2.40:1", map[string]string{"uid": "admin", "password": "given-password"}), 401)

	// A superuser given by flag uses that password and returns none.
	h := newService(t, storetest.Open(t), newClock())
	if pw, err := h.EnsureSuperuser(t.Context(), "ops", "flag-password"); pw != "" || err != nil {
		t.Fatalf("EnsureSuperuser with a password = %q, %v", pw, err)
	}
	tok, err := h.IssueToken("ops")
	if err != nil {
		t.Fatal(err)
	}
	if p, err := h.VerifyToken(tok); err != nil || !p.Superuser {
		t.Fatalf("flag superuser: %+v, %v", p, err)
	}
	if _, err := h.EnsureSuperuser(t.Context(), "Bad Name", ""); err == nil {
		t.Error("EnsureSuperuser accepted an invalid uid")
	}
}
