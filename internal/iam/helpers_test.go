package iam

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/store"
	"github.com/basalt-dcos/basalt/internal/store/storetest"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"
)

// etcd and gRPC keep a few process-wide goroutines (see internal/store's
// TestMain); everything of ours, the watch above all, must be gone.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreTopFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
		goleak.IgnoreTopFunction("github.com/golang/glog.(*fileSink).flushDaemon"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("net/http.(*conn).serve"),
		goleak.IgnoreAnyFunction("net/http.(*connReader).backgroundRead"),
	)
}

// cheapArgon2 keeps tests fast; BenchmarkLogin measures the default cost.
var cheapArgon2 = Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1} // read-only

// clock is a settable time source for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	t     *testing.T
	st    *store.Store
	svc   *Service
	clock *clock
	h     http.Handler
	root  Principal // the bootstrap superuser
	pw    string    // its password
}

func newService(t testing.TB, st *store.Store, clk *clock, mod ...func(*Config)) *Service {
	t.Helper()
	cfg := Config{Store: st, Logger: storetest.Logger(t), Now: clk.Now, Argon2: cheapArgon2}
	for _, m := range mod {
		m(&cfg)
	}
	s, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// newFixture opens a store, starts a Service and bootstraps the superuser
// "root".
func newFixture(t *testing.T, mod ...func(*Config)) *fixture {
	t.Helper()
	st := storetest.Open(t)
	clk := newClock()
	s := newService(t, st, clk, mod...)
	pw, err := s.EnsureSuperuser(t.Context(), "root", "")
	if err != nil || pw == "" {
		t.Fatalf("EnsureSuperuser = %q, %v", pw, err)
	}
	return &fixture{t: t, st: st, svc: s, clock: clk, h: s.Handler(),
		root: Principal{UID: "root", Superuser: true}, pw: pw}
}

type response struct {
	code   int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// apiErr decodes a DC/OS error body.
func (r response) apiErr(t *testing.T) apiError {
	t.Helper()
	var e apiError
	r.json(t, &e)
	if e.Title == "" || e.Description == "" || e.Code == "" {
		t.Fatalf("error body %s lacks title, description or code", r.body)
	}
	return e
}

// do sends a request to the Handler as p (no principal if p.UID is "").
func (f *fixture) do(p Principal, method, path string, body any) response {
	f.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		data, err := json.Marshal(b)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req := httptest.NewRequestWithContext(f.t.Context(), method, path, rd)
	req.RemoteAddr = "192.0.2.1:4000"
	if p.UID != "" {
		req = req.WithContext(WithPrincipal(req.Context(), p))
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return response{code: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

func (f *fixture) want(r response, code int) {
	f.t.Helper()
	if r.code != code {
		f.t.Fatalf("status %d, want %d; body %s", r.code, code, r.body)
	}
}

// login posts credentials from addr and returns the response.
func (f *fixture) login(addr string, body any) response {
	f.t.Helper()
	data, _ := json.Marshal(body)
	req := httptest.NewRequestWithContext(f.t.Context(), "POST", "/auth/login", bytes.NewReader(data))
	req.RemoteAddr = addr
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return response{code: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

func newRSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func publicPEM(t testing.TB, k *rsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// sign makes an RS256 token with claims, header kid (if non-empty) and key.
func sign(t testing.TB, key *rsa.PrivateKey, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// eventually polls cond until it holds or 10 s pass (a change on another
// Service travels through the store's watch).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// httpRequestBuilder makes a GET request with an optional Authorization
// header and auth cookie, for fuzzing the token sources.
type httpRequestBuilder struct{ header, cookie string }

func (b *httpRequestBuilder) build() *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	if b.header != "" {
		r.Header["Authorization"] = []string{b.header}
	}
	if b.cookie != "" {
		r.Header["Cookie"] = []string{AuthCookie + "=" + b.cookie}
	}
	return r
}
