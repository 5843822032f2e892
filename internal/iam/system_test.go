package iam

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestSystemAccount: EnsureSystemAccount creates a service account with
// exactly its grants, is idempotent (and runs on a second master of the same
// store), does not count as the first user, and nobody can log in as it.
func TestSystemAccount(t *testing.T) {
	f := newFixture(t)
	a := SystemAccount{UID: SystemMarathon, Description: "test", Grants: []string{"dcos:adminrouter:ops:mesos"}}
	for range 2 {
		if err := f.svc.EnsureSystemAccount(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
	other := newService(t, f.st, f.clock)
	if err := other.EnsureSystemAccount(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	tok, err := other.TokenSource(SystemMarathon).Token()
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.svc.VerifyToken(tok) // minted by one master, checked by another
	if err != nil || p.UID != SystemMarathon || !p.IsService || p.Superuser {
		t.Fatalf("VerifyToken = %+v, %v", p, err)
	}
	if !f.svc.Allowed(p, "dcos:adminrouter:ops:mesos", ActionFull) {
		t.Error("the grant is missing")
	}
	if f.svc.Allowed(p, "dcos:adminrouter:service:marathon", ActionFull) || f.svc.Allowed(p, SuperuserRID, ActionFull) {
		t.Error("the system account holds more than its grants")
	}
	// No private key exists: a login token signed with any key is refused.
	r := f.do(Principal{}, "POST", "/auth/login", map[string]string{"uid": SystemMarathon, "token": tok})
	if r.code != http.StatusUnauthorized {
		t.Errorf("login as the system account with its own auth token: %d %s", r.code, r.body)
	}
	if err := f.svc.EnsureSystemAccount(t.Context(), SystemAccount{UID: "bad uid!"}); err == nil {
		t.Error("an invalid uid was accepted")
	}
}

// TestTokenSource: the token is reused until half its lifetime has passed,
// then renewed; Transport adds it only to requests without credentials.
func TestTokenSource(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.TokenTTL = time.Hour })
	if err := f.svc.EnsureSystemAccount(t.Context(), SystemAccount{UID: SystemMesosDNS}); err != nil {
		t.Fatal(err)
	}
	src := f.svc.TokenSource(SystemMesosDNS)
	t1, err := src.Token()
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(20 * time.Minute)
	if t2, _ := src.Token(); t2 != t1 {
		t.Error("renewed before half the lifetime")
	}
	f.clock.Advance(11 * time.Minute)
	t3, err := src.Token()
	if err != nil || t3 == t1 {
		t.Fatalf("not renewed after half the lifetime: %v", err)
	}
	if _, err := f.svc.VerifyToken(t3); err != nil {
		t.Errorf("renewed token: %v", err)
	}

	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	c := &http.Client{Transport: &Transport{Source: src}}
	for _, auth := range []string{"", "token=users-own"} {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	c.CloseIdleConnections()
	if len(seen) != 2 || seen[0] != "token="+t3 || seen[1] != "token=users-own" {
		t.Errorf("Authorization headers seen = %q", seen)
	}
	if _, err := f.svc.TokenSource("nobody").Token(); err == nil {
		t.Error("a token for an unknown account")
	}
}
