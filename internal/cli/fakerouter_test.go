package cli

import (
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// fakeRouter is a small Admin Router with IAM behind it, as DC/OS exposes
// them (reference §5, §6, §8.5): unauthenticated metadata and login,
// token-checked everything else, /mesos/ and /agent/<id>/ proxied to a
// fakeCluster, /service/marathon/ answered with an empty app list, and the
// /acs/api/v1 users and groups API. Tokens are HS256 JWTs {"uid","exp"}
// (the dcos-oauth flavour); service accounts log in with an RS256 login
// token signed by their private key, checked against their public key.
type fakeRouter struct {
	t         *testing.T
	srv       *httptest.Server
	fc        *fakeCluster
	fm        *fakeMarathon // behind /service/marathon/
	clusterID string
	name      string
	auth      bool // token required on protected routes

	mu       sync.Mutex
	secret   []byte // HS256 key of issued tokens; rotate to revoke them all
	users    map[string]fakeUser
	groups   map[string][]string // gid → uids
	requests []fakeRequest
}

type fakeUser struct {
	Password    string
	Description string
	PublicKey   *rsa.PublicKey
	PublicPEM   string
}

type fakeRequest struct {
	Method, Path, Auth string
}

func newFakeRouter(t *testing.T, fc *fakeCluster, tlsServer bool) *fakeRouter {
	t.Helper()
	fr := &fakeRouter{
		t: t, fc: fc, clusterID: "6f1c8a2e-1111-4a4a-9b9b-000000000042", name: "fake-cluster", auth: true,
		secret: []byte("secret-1"),
		users:  map[string]fakeUser{"alice": {Password: "wonderland", Description: "Alice"}},
		groups: map[string][]string{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dcos-metadata/dcos-version.json", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"version": "1.13.0", "dcos-image-commit": "abc", "bootstrap-id": "def"})
	})
	mux.HandleFunc("POST /acs/api/v1/auth/login", fr.login)
	mux.HandleFunc("GET /acs/api/v1/auth/providers", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]loginProvider{
			"dcos-users": {AuthenticationType: "dcos-uid-password", ClientMethod: "dcos-usercredential-post-receive-authtoken",
				Config: map[string]string{"start_flow_url": "/acs/api/v1/auth/login"}, Description: "Default DC/OS login provider"},
			"dcos-services": {AuthenticationType: "dcos-uid-servicekey", ClientMethod: "dcos-servicecredential-post-receive-authtoken",
				Config: map[string]string{"start_flow_url": "/acs/api/v1/auth/login"}, Description: "Service accounts"},
		})
	})
	protected := http.NewServeMux()
	protected.HandleFunc("HEAD /pkgpanda/active.buildinfo.full.json", func(w http.ResponseWriter, r *http.Request) {})
	protected.HandleFunc("GET /metadata", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"PUBLIC_IPV4": "127.0.0.1", "CLUSTER_ID": fr.clusterID})
	})
	protected.HandleFunc("GET /mesos/master/state-summary", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"cluster": fr.name, "slaves": []any{}, "frameworks": []any{}})
	})
	if fc != nil {
		protected.Handle("/mesos/", proxyTo(fc.leader.URL, "/mesos"))
		protected.Handle("/agent/agent-private-S0/", proxyTo(fc.agent.URL, "/agent/agent-private-S0"))
	}
	fr.fm = newFakeMarathon(t)
	protected.Handle("/service/marathon/", proxyTo(fr.fm.srv.URL+"/marathon", "/service/marathon"))
	protected.HandleFunc("GET /acs/api/v1/users", fr.listUsers)
	protected.HandleFunc("PUT /acs/api/v1/users/{uid}", fr.putUser)
	protected.HandleFunc("DELETE /acs/api/v1/users/{uid}", fr.deleteUser)
	protected.HandleFunc("GET /acs/api/v1/groups", fr.listGroups)
	protected.HandleFunc("PUT /acs/api/v1/groups/{gid}", fr.putGroup)
	protected.HandleFunc("DELETE /acs/api/v1/groups/{gid}", fr.deleteGroup)
	protected.HandleFunc("PUT /acs/api/v1/groups/{gid}/users/{uid}", fr.addToGroup)
	mux.Handle("/", fr.checkToken(protected))

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fr.mu.Lock()
		fr.requests = append(fr.requests, fakeRequest{r.Method, r.URL.Path, r.Header.Get("Authorization")})
		fr.mu.Unlock()
		mux.ServeHTTP(w, r)
	})
	fr.srv = httptest.NewUnstartedServer(handler)
	// The TLS test's refused handshakes are expected; keep them out of the log.
	fr.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tlsServer {
		fr.srv.StartTLS()
	} else {
		fr.srv.Start()
	}
	t.Cleanup(fr.srv.Close)
	return fr
}

// proxyTo forwards to target (which may have a path) with prefix stripped,
// as Admin Router does for /mesos/, /agent/<id>/ and /service/marathon/.
func proxyTo(target, prefix string) http.Handler {
	u, _ := url.Parse(target)
	return &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(u)
		pr.Out.URL.Path = u.Path + strings.TrimPrefix(pr.In.URL.Path, prefix)
		pr.Out.URL.RawPath = ""
		pr.Out.Header.Del("Authorization") // upstreams never see the token
	}}
}

// iamError writes IAM's error body.
func iamError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"title": http.StatusText(status), "description": desc, "code": code})
}

func (fr *fakeRouter) issue(uid string) string {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"uid": uid, "exp": time.Now().Add(time.Hour).Unix()}).SignedString(fr.secret)
	if err != nil {
		fr.t.Error(err)
	}
	return tok
}

// revokeAll rotates the signing key: every issued token stops working.
func (fr *fakeRouter) revokeAll() {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	fr.secret = append(fr.secret, '+')
}

func (fr *fakeRouter) checkToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !fr.auth {
			next.ServeHTTP(w, r)
			return
		}
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "token=")
		fr.mu.Lock()
		secret := fr.secret
		fr.mu.Unlock()
		if ok {
			_, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return secret, nil },
				jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
			ok = err == nil
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", "acsjwt")
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, "<html><body><h1>401 Unauthorized</h1></body></html>")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (fr *fakeRouter) login(w http.ResponseWriter, r *http.Request) {
	var req struct {
		UID      string `json:"uid"`
		Password string `json:"password"`
		Token    string `json:"token"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.UID == "" {
		iamError(w, http.StatusBadRequest, "ERR_INVALID_DATA", "want {uid, password} or {uid, token}")
		return
	}
	fr.mu.Lock()
	u, ok := fr.users[req.UID]
	fr.mu.Unlock()
	fail := func() {
		w.Header().Set("WWW-Authenticate", "acsjwt")
		iamError(w, http.StatusUnauthorized, "ERR_INVALID_CREDENTIALS", "The login credentials are invalid.")
	}
	switch {
	case !ok:
		fail()
		return
	case req.Token != "":
		if u.PublicKey == nil {
			fail()
			return
		}
		claims := jwt.MapClaims{}
		_, err := jwt.ParseWithClaims(req.Token, claims, func(*jwt.Token) (any, error) { return u.PublicKey, nil },
			jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired())
		exp, _ := claims.GetExpirationTime()
		if err != nil || claims["uid"] != req.UID || exp == nil || time.Until(exp.Time) > 10*time.Minute {
			fail()
			return
		}
	case u.PublicKey != nil || req.Password != u.Password:
		fail()
		return
	}
	tok := fr.issue(req.UID)
	http.SetCookie(w, &http.Cookie{Name: "dcos-acs-auth-cookie", Value: tok, Path: "/", HttpOnly: true})
	writeJSON(w, http.StatusOK, map[string]string{"token": tok})
}

func (fr *fakeRouter) listUsers(w http.ResponseWriter, r *http.Request) {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	services := r.URL.Query().Get("type") == "service"
	arr := []map[string]any{}
	for uid, u := range fr.users {
		if (u.PublicKey != nil) != services {
			continue
		}
		e := map[string]any{"uid": uid, "description": u.Description, "url": "/acs/api/v1/users/" + uid,
			"is_remote": false, "is_service": services, "provider_type": "internal", "provider_id": ""}
		if services {
			e["public_key"] = u.PublicPEM
		}
		arr = append(arr, e)
	}
	writeJSON(w, http.StatusOK, map[string]any{"array": arr})
}

func (fr *fakeRouter) putUser(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Description string `json:"description"`
		Password    string `json:"password"`
		PublicKey   string `json:"public_key"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || (body.Password == "") == (body.PublicKey == "") {
		iamError(w, http.StatusBadRequest, "ERR_INVALID_DATA", "want a password or a public_key")
		return
	}
	u := fakeUser{Password: body.Password, Description: body.Description, PublicPEM: body.PublicKey}
	if body.PublicKey != "" {
		k, err := jwt.ParseRSAPublicKeyFromPEM([]byte(body.PublicKey))
		if err != nil {
			iamError(w, http.StatusBadRequest, "ERR_INVALID_PUBLIC_KEY", err.Error())
			return
		}
		u.PublicKey = k
	}
	uid := r.PathValue("uid")
	fr.mu.Lock()
	defer fr.mu.Unlock()
	if _, ok := fr.users[uid]; ok {
		iamError(w, http.StatusConflict, "ERR_USER_EXISTS", "User already exists.")
		return
	}
	fr.users[uid] = u
	w.WriteHeader(http.StatusCreated)
}

func (fr *fakeRouter) deleteUser(w http.ResponseWriter, r *http.Request) {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	uid := r.PathValue("uid")
	if _, ok := fr.users[uid]; !ok {
		iamError(w, http.StatusNotFound, "ERR_UNKNOWN_USER_ID", fmt.Sprintf("User with uid `%s` not known.", uid))
		return
	}
	delete(fr.users, uid)
	w.WriteHeader(http.StatusNoContent)
}

func (fr *fakeRouter) listGroups(w http.ResponseWriter, r *http.Request) {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	arr := []map[string]string{}
	for gid := range fr.groups {
		arr = append(arr, map[string]string{"gid": gid, "description": "group " + gid, "url": "/acs/api/v1/groups/" + gid})
	}
	writeJSON(w, http.StatusOK, map[string]any{"array": arr})
}

func (fr *fakeRouter) putGroup(w http.ResponseWriter, r *http.Request) {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	gid := r.PathValue("gid")
	if _, ok := fr.groups[gid]; ok {
		iamError(w, http.StatusConflict, "ERR_GROUP_EXISTS", "Group already exists.")
		return
	}
	fr.groups[gid] = nil
	w.WriteHeader(http.StatusCreated)
}

func (fr *fakeRouter) deleteGroup(w http.ResponseWriter, r *http.Request) {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	if _, ok := fr.groups[r.PathValue("gid")]; !ok {
		iamError(w, http.StatusNotFound, "ERR_UNKNOWN_GROUP_ID", "Group not known.")
		return
	}
	delete(fr.groups, r.PathValue("gid"))
	w.WriteHeader(http.StatusNoContent)
}

func (fr *fakeRouter) addToGroup(w http.ResponseWriter, r *http.Request) {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	gid, uid := r.PathValue("gid"), r.PathValue("uid")
	members, ok := fr.groups[gid]
	if _, known := fr.users[uid]; !ok || !known {
		iamError(w, http.StatusBadRequest, "ERR_UNKNOWN", "No such group or user.")
		return
	}
	if slices.Contains(members, uid) {
		iamError(w, http.StatusConflict, "ERR_USER_IN_GROUP", "Already a member.")
		return
	}
	fr.groups[gid] = append(members, uid)
	w.WriteHeader(http.StatusNoContent)
}

// recorded returns the requests seen so far whose path starts with prefix.
func (fr *fakeRouter) recorded(prefix string) []fakeRequest {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	var out []fakeRequest
	for _, r := range fr.requests {
		if strings.HasPrefix(r.Path, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// cliEnv is a CLI environment with its own BASALT_DIR and extra variables.
type cliEnv struct {
	dir  string
	vars map[string]string
}

func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	return &cliEnv{dir: filepath.Join(t.TempDir(), "basalt"), vars: map[string]string{}}
}

// run runs one command line; stdin is not a terminal.
func (e *cliEnv) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr strings.Builder
	env := Env{
		Stdout: &stdout,
		Stderr: &stderr,
		Stdin:  strings.NewReader(""),
		LookupEnv: func(k string) (string, bool) {
			if k == "BASALT_DIR" {
				return e.dir, true
			}
			v, ok := e.vars[k]
			return v, ok
		},
	}
	code := Run(t.Context(), args, env)
	return code, stdout.String(), stderr.String()
}

// mustRun runs a command line that must succeed and returns its stdout.
func (e *cliEnv) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := e.run(t, args...)
	if code != 0 {
		t.Fatalf("basalt %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
