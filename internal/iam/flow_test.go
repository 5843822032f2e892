package iam

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/basalt-dcos/basalt/internal/store/storetest"
)

// TestRouterFlow drives the Handler the way Admin Router will: log in on one
// master, then send the cookie to another, which authenticates it, puts the
// principal in the context and serves a management call.
func TestRouterFlow(t *testing.T) {
	c := storetest.StartCluster(t, 2)
	clk := newClock()
	a := newService(t, c.Store(0), clk)
	b := newService(t, c.Store(1), clk)
	if _, err := a.EnsureSuperuser(t.Context(), "root", "root-password"); err != nil {
		t.Fatal(err)
	}
	router := func(s *Service) http.Handler {
		h := s.Handler()
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if p, err := s.Authenticate(r); err == nil {
				r = r.WithContext(WithPrincipal(r.Context(), p))
			} else if !errors.Is(err, ErrNoToken) {
				w.Header().Set("WWW-Authenticate", "acsjwt")
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	// Log in on b right away: b has not necessarily seen root through its
	// watch yet, and finds it by re-reading.
	req := httptest.NewRequestWithContext(t.Context(), "POST", "/auth/login",
		bytes.NewReader([]byte(`{"uid":"root","password":"root-password"}`)))
	req.RemoteAddr = "192.0.2.60:1"
	rec := httptest.NewRecorder()
	router(b).ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("login on the second master: %d %s", rec.Code, rec.Body)
	}
	cookie := rec.Result().Cookies()[0]
	if cookie.Name != AuthCookie {
		t.Fatalf("first cookie %s", cookie.Name)
	}

	req = httptest.NewRequestWithContext(t.Context(), "PUT", "/users/alice", bytes.NewReader([]byte(`{"password":"alice-pw"}`)))
	req.AddCookie(cookie)
	rec = httptest.NewRecorder()
	router(a).ServeHTTP(rec, req)
	if rec.Code != 201 {
		t.Fatalf("create user with the cookie on the first master: %d %s", rec.Code, rec.Body)
	}
	// The write is visible to a management read on the other master at once.
	req = httptest.NewRequestWithContext(t.Context(), "GET", "/users", nil)
	req.Header.Set("Authorization", "token="+cookie.Value)
	rec = httptest.NewRecorder()
	router(b).ServeHTTP(rec, req)
	var list arrayOf[userJSON]
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || len(list.Array) != 2 {
		t.Fatalf("users on the second master: %d %s", rec.Code, rec.Body)
	}
	// Without a token the management API answers 401.
	rec = httptest.NewRecorder()
	router(a).ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), "GET", "/users", nil))
	if rec.Code != 401 {
		t.Fatalf("no token: %d", rec.Code)
	}
}

func TestConfigAndMode(t *testing.T) {
	if err := (Config{}).Validate(); err == nil {
		t.Error("Config without a store validated")
	}
	st := storetest.Open(t)
	if err := (Config{Store: st, TokenTTL: -1, Argon2: Argon2Params{MemoryKiB: 1, Time: 1, Threads: 1}}).Validate(); err == nil {
		t.Error("negative TTL and tiny argon2 memory validated")
	}
	for _, m := range []string{"disabled", "permissive", "strict"} {
		if got, err := ParseMode(m); err != nil || string(got) != m {
			t.Errorf("ParseMode(%s) = %s, %v", m, got, err)
		}
	}
	if _, err := ParseMode("off"); err == nil {
		t.Error("ParseMode(off) succeeded")
	}
	// A synthetic superuser (security disabled) is allowed everything; an
	// empty principal nothing.
	s := newService(t, st, newClock())
	if !s.Allowed(Principal{UID: "dcos_anonymous", Superuser: true}, "dcos:anything", "delete") {
		t.Error("synthetic superuser refused")
	}
	if s.Allowed(Principal{}, SuperuserRID, "read") {
		t.Error("empty principal allowed")
	}
	if _, ok := PrincipalFrom(t.Context()); ok {
		t.Error("principal from an empty context")
	}
}

// TestWatchFollowsChanges: a master that serves no request still follows the
// others' changes through its watch (nothing here triggers a re-read on b).
func TestWatchFollowsChanges(t *testing.T) {
	st := storetest.Open(t)
	clk := newClock()
	a := newService(t, st, clk)
	b := newService(t, st, clk)
	if err := a.createUser(t.Context(), "alice", newUser{Password: "alice-pw"}); err != nil {
		t.Fatal(err)
	}
	if err := a.grant(t.Context(), "u", "dcos:adminrouter:package", "alice", ActionRead); err != nil {
		t.Fatal(err)
	}
	eventually(t, "alice's grant on b", func() bool {
		return b.Allowed(Principal{UID: "alice"}, "dcos:adminrouter:package", ActionRead)
	})
	if err := a.RotateKey(t.Context()); err != nil {
		t.Fatal(err)
	}
	kid := a.snap.Load().active().kid
	eventually(t, "the new key on b", func() bool { return b.snap.Load().active().kid == kid })
	if err := a.deleteUser(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "alice gone on b", func() bool {
		_, ok := b.snap.Load().users["alice"]
		return !ok && !b.Allowed(Principal{UID: "alice"}, "dcos:adminrouter:package", ActionRead)
	})
}
