package adminrouter

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/iam"
)

// fakeAuth stands in for the IAM in the router's own tests: fixed tokens and
// grants. (The real IAM behind a real router is tested in internal/master.)
type fakeAuth struct {
	tokens map[string]iam.Principal
	grants map[string]map[string]bool // uid -> rid -> granted (full)

	mu   sync.Mutex
	last *http.Request // the last request the IAM handler saw
}

func (f *fakeAuth) Authenticate(r *http.Request) (iam.Principal, error) {
	tok := ""
	if h := r.Header.Get("Authorization"); h != "" {
		switch {
		case strings.HasPrefix(h, "token="):
			tok = strings.TrimPrefix(h, "token=")
		case strings.HasPrefix(h, "Bearer "):
			tok = strings.TrimPrefix(h, "Bearer ")
		}
	} else if c, err := r.Cookie("dcos-acs-auth-cookie"); err == nil {
		tok = c.Value
	}
	if tok == "" {
		return iam.Principal{}, iam.ErrNoToken
	}
	p, ok := f.tokens[tok]
	if !ok {
		return iam.Principal{}, fmt.Errorf("%w: unknown token", iam.ErrInvalidToken)
	}
	return p, nil
}

func (f *fakeAuth) Allowed(p iam.Principal, rid, action string) bool {
	return p.Superuser || f.grants[p.UID][rid]
}

func (f *fakeAuth) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.last = r
		f.mu.Unlock()
		p, _ := iam.PrincipalFrom(r.Context())
		fmt.Fprintf(w, "iam %s %s as %q", r.Method, r.URL.Path, p.UID)
	})
}

func newFakeAuth() *fakeAuth {
	return &fakeAuth{
		tokens: map[string]iam.Principal{
			"root-token":   {UID: "root", Superuser: true},
			"nobody-token": {UID: "nobody"},
			"ops-token":    {UID: "ops"},
		},
		grants: map[string]map[string]bool{"ops": {
			"dcos:adminrouter:ops:mesos": true, "dcos:adminrouter:service:marathon": true,
		}},
	}
}

// newSecureRouter serves a router in the given mode whose every upstream
// is one backend answering 200 with what it received.
func newSecureRouter(t *testing.T, mode iam.Mode, auth *fakeAuth) (ar string, got func() *http.Request) {
	t.Helper()
	var mu sync.Mutex
	var last *http.Request
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		last = r.Clone(context.Background())
		mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/v2/apps") || strings.HasPrefix(r.URL.Path, "/master/state-summary") {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"apps": [], "slaves": [], "frameworks": []}`)
			return
		}
		_, _ = io.WriteString(w, "upstream "+r.URL.Path)
	}))
	t.Cleanup(backend.Close)
	cfg := DefaultConfig()
	cfg.Security = mode
	cfg.CacheTTL = 10 * time.Millisecond
	deps := Deps{Upstreams: &upstreams{mesos: []string{backend.URL}, marathon: backend.URL, dns: backend.URL}, Cluster: cluster{}}
	if auth != nil {
		deps.Auth = auth
	}
	addr := serveRouter(t, cfg, deps)
	return "http://" + addr, func() *http.Request {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

func doAuth(t *testing.T, c *http.Client, method, url, header string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if header != "" {
		req.Header.Set("Authorization", header)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestSecurityEveryRoute walks the whole route table in strict mode: every
// NeedsAuth route refuses a request without a token (401 with the acsjwt
// challenge) and one with a forged token; every route guarded by a
// permission refuses a user without it (403) and admits one with it; open
// routes stay open.
func TestSecurityEveryRoute(t *testing.T) {
	auth := newFakeAuth()
	ar, _ := newSecureRouter(t, iam.ModeStrict, auth)
	c := testClient(t)
	for _, tt := range routeTable {
		if tt.want.Kind == KindBadRequest {
			continue
		}
		name := tt.method + " " + tt.path
		code, h, body := doAuth(t, c, tt.method, ar+tt.path, "")
		if tt.want.NeedsAuth {
			if code != http.StatusUnauthorized || h.Get("WWW-Authenticate") != "acsjwt" {
				t.Errorf("%s without a token: %d %q (WWW-Authenticate %q), want 401 acsjwt", name, code, body, h.Get("WWW-Authenticate"))
			}
			if code, _, body := doAuth(t, c, tt.method, ar+tt.path, "token=forged"); code != http.StatusUnauthorized {
				t.Errorf("%s with a forged token: %d %q, want 401", name, code, body)
			}
		} else if code == http.StatusUnauthorized || code == http.StatusForbidden {
			t.Errorf("%s is open in DC/OS but answered %d %q", name, code, body)
		}
		if !tt.want.NeedsAuth {
			continue
		}
		rid := Permission(tt.want)
		if rid == "" {
			if code, _, body := doAuth(t, c, tt.method, ar+tt.path, "token=nobody-token"); code == http.StatusUnauthorized || code == http.StatusForbidden {
				t.Errorf("%s needs only a valid token, answered %d %q", name, code, body)
			}
			continue
		}
		if code, _, body := doAuth(t, c, tt.method, ar+tt.path, "token=nobody-token"); code != http.StatusForbidden || (tt.method != "HEAD" && !strings.Contains(body, rid)) {
			t.Errorf("%s without %s: %d %q, want 403 naming it", name, rid, code, body)
		}
		if code, _, body := doAuth(t, c, tt.method, ar+tt.path, "Bearer root-token"); code == http.StatusUnauthorized || code == http.StatusForbidden {
			t.Errorf("%s as superuser: %d %q", name, code, body)
		}
	}
	// A granted permission admits exactly its routes.
	if code, _, body := doAuth(t, c, "GET", ar+"/mesos/master/state", "token=ops-token"); code != http.StatusOK {
		t.Errorf("ops on /mesos/: %d %q", code, body)
	}
	if code, _, _ := doAuth(t, c, "GET", ar+"/mesos_dns/v1/version", "token=ops-token"); code != http.StatusForbidden {
		t.Errorf("ops on /mesos_dns/: %d, want 403", code)
	}

	// The agents' Admin Router: every token route refuses no token and a
	// forged one, and answers a valid token (with 503/404/200: none of
	// these components exists yet); open routes stay open.
	agentAR, err := NewAgent(DefaultAgentConfig(), auth, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(agentAR.Handler())
	defer srv.Close()
	for _, tt := range agentRouteTable {
		if tt.want.Kind == KindBadRequest {
			if code, _, _ := doAuth(t, c, tt.method, srv.URL+tt.path, "token=nobody-token"); code != http.StatusBadRequest {
				t.Errorf("agent %s %s: %d, want 400", tt.method, tt.path, code)
			}
			continue
		}
		name := "agent " + tt.method + " " + tt.path
		code, h, body := doAuth(t, c, tt.method, srv.URL+tt.path, "")
		if tt.want.NeedsAuth {
			if code != http.StatusUnauthorized || h.Get("WWW-Authenticate") != "acsjwt" {
				t.Errorf("%s without a token: %d %q, want 401 acsjwt", name, code, body)
			}
			if code, _, body := doAuth(t, c, tt.method, srv.URL+tt.path, "token=forged"); code != http.StatusUnauthorized {
				t.Errorf("%s with a forged token: %d %q, want 401", name, code, body)
			}
			code, _, body = doAuth(t, c, tt.method, srv.URL+tt.path, "token=nobody-token")
		}
		want := map[Kind]int{KindMissing: 503, KindNotFound: 404, KindDCOSVersion: 200, KindMethodNotAllowed: 405}[tt.want.Kind]
		if code != want {
			t.Errorf("%s: %d %q, want %d", name, code, body, want)
		}
	}
}

// TestSecurityServicePermission: /service/<id>/ is guarded by
// dcos:adminrouter:service:<id>, checked once the id resolves.
func TestSecurityServicePermission(t *testing.T) {
	auth := newFakeAuth()
	ar, _ := newSecureRouter(t, iam.ModeStrict, auth)
	c := testClient(t)
	// /service/marathon/ is Marathon's own route.
	if code, _, body := doAuth(t, c, "GET", ar+"/service/marathon/v2/info", "token=ops-token"); code != http.StatusOK {
		t.Errorf("ops on /service/marathon/: %d %q", code, body)
	}
	if code, _, _ := doAuth(t, c, "GET", ar+"/service/marathon/v2/info", "token=nobody-token"); code != http.StatusForbidden {
		t.Errorf("nobody on /service/marathon/: %d, want 403", code)
	}
	// An unknown service is 404 for anyone with a token (nothing to guard).
	if code, _, _ := doAuth(t, c, "GET", ar+"/service/ghost/", "token=nobody-token"); code != http.StatusNotFound {
		t.Errorf("unknown service: %d, want 404", code)
	}
}

// TestSecurityModes: permissive needs a token but only logs missing
// permissions; disabled checks nothing and passes an empty "token=" on.
func TestSecurityModes(t *testing.T) {
	c := testClient(t)
	t.Run("permissive", func(t *testing.T) {
		ar, _ := newSecureRouter(t, iam.ModePermissive, newFakeAuth())
		if code, _, _ := doAuth(t, c, "GET", ar+"/mesos/master/state", ""); code != http.StatusUnauthorized {
			t.Errorf("no token: %d, want 401", code)
		}
		if code, _, body := doAuth(t, c, "GET", ar+"/mesos/master/state", "token=nobody-token"); code != http.StatusOK {
			t.Errorf("token without the permission: %d %q, want 200", code, body)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		ar, got := newSecureRouter(t, iam.ModeDisabled, nil)
		code, _, body := doAuth(t, c, "GET", ar+"/mesos/master/state", "token=")
		if code != http.StatusOK {
			t.Fatalf("disabled: %d %q", code, body)
		}
		if h := got().Header.Get("Authorization"); h != "token=" {
			t.Errorf("upstream Authorization %q, want the client's empty token= passed on", h)
		}
		if code, _, body := doAuth(t, c, "GET", ar+"/acs/api/v1/users", ""); code != http.StatusServiceUnavailable {
			t.Errorf("/acs/api/v1 without an IAM: %d %q, want 503", code, body)
		}
	})
	t.Run("strict needs the IAM", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.Security = iam.ModeStrict
		if _, err := New(cfg, Deps{Upstreams: &upstreams{}, Cluster: cluster{}}); err == nil {
			t.Error("strict without Deps.Auth accepted")
		}
		cfg.Security = "lax"
		if _, err := New(cfg, Deps{Upstreams: &upstreams{}, Cluster: cluster{}, Auth: newFakeAuth()}); err == nil {
			t.Error("unknown mode accepted")
		}
	})
}

// TestSecurityCookieAndIAM: the session cookie authenticates, reaches the
// upstream as an Authorization header (the cookies themselves do not), and
// /acs/api/v1 reaches the IAM with the prefix stripped and the principal
// attached.
func TestSecurityCookieAndIAM(t *testing.T) {
	auth := newFakeAuth()
	ar, got := newSecureRouter(t, iam.ModeStrict, auth)
	c := testClient(t)
	req, _ := http.NewRequest("GET", ar+"/mesos/master/state", nil)
	req.Header.Set("Cookie", "dcos-acs-auth-cookie=root-token; keep=1; dcos-acs-info-cookie=e30")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("cookie login: %d", resp.StatusCode)
	}
	up := got()
	if h := up.Header.Get("Authorization"); h != "token=root-token" {
		t.Errorf("upstream Authorization %q", h)
	}
	if ck := up.Header.Get("Cookie"); ck != "keep=1" {
		t.Errorf("upstream Cookie %q, want only keep=1", ck)
	}

	code, _, body := doAuth(t, c, "GET", ar+"/acs/api/v1/users/alice", "token=root-token")
	if code != http.StatusOK || body != `iam GET /users/alice as "root"` {
		t.Errorf("IAM route: %d %q", code, body)
	}
	code, _, body = doAuth(t, c, "POST", ar+"/acs/api/v1/auth/login", "")
	if code != http.StatusOK || body != `iam POST /auth/login as ""` {
		t.Errorf("login route without a token: %d %q", code, body)
	}
	if code, _, _ := doAuth(t, c, "GET", ar+"/acs/api/v1/users", "token=nobody-token"); code != http.StatusForbidden {
		t.Errorf("/acs/api/v1 without dcos:adminrouter:acs: %d, want 403", code)
	}
}
