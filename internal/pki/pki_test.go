package pki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/ratelimit"
	"github.com/basalt-dcos/basalt/internal/store/storetest"
)

func newCA(t testing.TB) *CA {
	t.Helper()
	ca, err := NewCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestIssueServerVerifiesForEveryName(t *testing.T) {
	ca := newCA(t)
	names := []string{"10.0.0.7", "master.mesos", "leader.mesos", "localhost", "127.0.0.1", "::1"}
	c, err := ca.IssueServer(names, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, err := c.Leaf.Verify(x509.VerifyOptions{DNSName: n, Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("verify for %s: %v", n, err)
		}
	}
	if _, err := c.Leaf.Verify(x509.VerifyOptions{DNSName: "other.mesos", Roots: ca.Pool()}); err == nil {
		t.Error("certificate verified for a name it does not carry")
	}
	if got := len(c.Leaf.IPAddresses); got != 3 {
		t.Errorf("IP SANs = %d, want 3", got)
	}
	if _, err := c.Leaf.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: newCA(t).Pool()}); err == nil {
		t.Error("certificate verified against another CA")
	}
}

func TestIssueRejectsBadInput(t *testing.T) {
	ca := newCA(t)
	for _, names := range [][]string{nil, {""}, {"bad name"}, {"a..b"}} {
		if _, err := ca.IssueServer(names, time.Hour); err == nil {
			t.Errorf("IssueServer(%q) succeeded", names)
		}
	}
	if _, err := ca.IssueServer([]string{"localhost"}, 0); err == nil {
		t.Error("IssueServer with ttl 0 succeeded")
	}
	for _, cn := range []string{"", "a b", strings.Repeat("x", 129)} {
		if _, err := ca.IssueClient(cn, nil, time.Hour); err == nil {
			t.Errorf("IssueClient(%q) succeeded", cn)
		}
	}
}

func TestIssueClient(t *testing.T) {
	ca := newCA(t)
	c, err := ca.IssueClient("agent-1", []string{NodesOrganization}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatal(err)
	}
	if c.Leaf.Subject.CommonName != "agent-1" || len(c.Leaf.Subject.Organization) != 1 || c.Leaf.Subject.Organization[0] != NodesOrganization {
		t.Errorf("subject = %v", c.Leaf.Subject)
	}
	if _, err := c.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("client certificate verified for server auth")
	}
}

// TestEnsureCAOnce: masters starting together agree on one CA and one join
// secret, and a restart reads them back rather than making new ones.
func TestEnsureCAOnce(t *testing.T) {
	st := storetest.Open(t)
	ctx := t.Context()
	const n = 8
	hashes := make([]string, n)
	tokens := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ca, err := EnsureCA(ctx, st, CAOptions{})
			if err != nil {
				errs <- err
				return
			}
			tok, err := EnsureJoinToken(ctx, st, ca, nil, nil)
			if err != nil {
				errs <- err
				return
			}
			hashes[i], tokens[i] = ca.Hash(), tok.Encode()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := 1; i < n; i++ {
		if hashes[i] != hashes[0] || tokens[i] != tokens[0] {
			t.Fatalf("caller %d got CA %s token %s, caller 0 got %s %s", i, hashes[i], tokens[i], hashes[0], tokens[0])
		}
	}
	again, err := EnsureCA(ctx, st, CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Hash() != hashes[0] {
		t.Error("a second EnsureCA returned another CA")
	}
	// The reloaded CA signs certificates the first one's pool accepts.
	c, err := again.IssueServer([]string{"localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Leaf.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: again.Pool()}); err != nil {
		t.Fatal(err)
	}
	tok, err := ParseJoinToken(tokens[0])
	if err != nil {
		t.Fatalf("stored token does not parse: %v", err)
	}
	if tok.CAHash != hashes[0] {
		t.Errorf("token pins %s, CA is %s", tok.CAHash, hashes[0])
	}
}

// serveTLS serves h over TLS with cfg on a loopback port until the test
// ends and returns its https URL. (httptest's StartTLS would put its own
// certificate first.)
func serveTLS(t testing.TB, h http.Handler, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)}
	go func() { _ = srv.Serve(tls.NewListener(ln, cfg)) }()
	t.Cleanup(func() { srv.Close() })
	return "https://" + ln.Addr().String()
}

// fakeClock is a settable clock.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// TestReloaderRenews serves real TLS with a short-lived certificate and an
// injected clock: before two thirds of its life the same certificate is
// served, after it a new one, and both verify against the CA at the time the
// client believes it is.
func TestReloaderRenews(t *testing.T) {
	clock := &fakeClock{}
	clock.Set(time.Now())
	ca := newCA(t).WithClock(clock.Now)
	const ttl = 90 * time.Minute
	r, err := NewReloader(ca, []string{"127.0.0.1", "localhost"}, ttl)
	if err != nil {
		t.Fatal(err)
	}
	u := serveTLS(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }), ServerTLSConfig(r.GetCertificate))

	serial := func() string {
		t.Helper()
		conn, err := tls.Dial("tcp", strings.TrimPrefix(u, "https://"), &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", Time: clock.Now})
		if err != nil {
			t.Fatalf("handshake at %v: %v", clock.Now(), err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	first := serial()
	clock.Advance(ttl / 2) // more than a third remains
	if got := serial(); got != first {
		t.Errorf("renewed at half life: serial %s, was %s", got, first)
	}
	clock.Advance(ttl / 4) // a quarter remains
	second := serial()
	if second == first {
		t.Fatal("not renewed with a quarter of its life left")
	}
	clock.Advance(ttl / 2) // past the first certificate's end: the second is still valid
	if got := serial(); got != second {
		t.Errorf("renewed again at %v of the second's life", ttl/2)
	}
}

// startJoinServer serves the join endpoints over TLS like a master does.
func startJoinServer(t *testing.T, ca *CA, secret string) string {
	t.Helper()
	r, err := NewReloader(ca, []string{"127.0.0.1", "localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+CACertPath, CACertHandler(ca))
	mux.Handle("POST "+JoinPath, JoinHandler(ca, func() string { return secret }, time.Hour, slog.New(slog.DiscardHandler)))
	return serveTLS(t, mux, ServerTLSConfig(r.GetCertificate))
}

func TestJoin(t *testing.T) {
	ca := newCA(t)
	const secret = "0123456789abcdef0123456789abcdef"
	srvURL := startJoinServer(t, ca, secret)
	tok := JoinToken{CAHash: ca.Hash(), Secret: secret}

	j, err := Join(t.Context(), srvURL, tok, "agent-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Certificate.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("joined certificate: %v", err)
	}
	if j.Certificate.Leaf.Subject.CommonName != "agent-1" {
		t.Errorf("CN = %q", j.Certificate.Leaf.Subject.CommonName)
	}
	if CertHash(j.CA) != ca.Hash() {
		t.Error("joined CA differs")
	}
	// The certificate works for mTLS against a server that requires it.
	sr, _ := NewReloader(ca, []string{"127.0.0.1"}, time.Hour)
	mcfg := ServerTLSConfig(sr.GetCertificate)
	mcfg.ClientAuth = tls.RequireAndVerifyClientCert
	mcfg.ClientCAs = ca.Pool()
	mtlsURL := serveTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.TLS.PeerCertificates[0].Subject.CommonName))
	}), mcfg)
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: j.ClientTLSConfig()}}).Get(mtlsURL)
	if err != nil {
		t.Fatalf("mTLS with the joined certificate: %v", err)
	}
	resp.Body.Close()

	// Wrong secret: 401 from the server.
	_, err = Join(t.Context(), srvURL, JoinToken{CAHash: ca.Hash(), Secret: "wrong-secret-wrong-secret"}, "agent-2", nil)
	var se *JoinStatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong secret: err = %v, want a 401", err)
	}
	// Another CA's hash: refused before the secret is sent.
	_, err = Join(t.Context(), srvURL, JoinToken{CAHash: newCA(t).Hash(), Secret: secret}, "agent-3", nil)
	if !errors.Is(err, ErrCAMismatch) || errors.As(err, &se) {
		t.Errorf("wrong CA hash: err = %v", err)
	}
}

// TestJoinServerRefusesMITM: a server with another CA that copies the real
// (public) CA certificate into its chain and into /ca/dcos-ca.crt passes
// the hash check but fails the verified connection, so the secret never
// reaches it.
func TestJoinServerRefusesMITM(t *testing.T) {
	real := newCA(t)
	evil := newCA(t)
	got := make(chan string, 1)
	r, _ := NewReloader(evil, []string{"127.0.0.1"}, time.Hour)
	withReal := func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		c, err := r.GetCertificate(hello)
		if err != nil {
			return nil, err
		}
		cc := *c
		cc.Certificate = append(append([][]byte(nil), c.Certificate...), real.cert.Raw)
		return &cc, nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+CACertPath, CACertHandler(real))
	mux.HandleFunc("POST "+JoinPath, func(w http.ResponseWriter, r *http.Request) { got <- "secret sent"; w.WriteHeader(500) })
	srvURL := serveTLS(t, mux, ServerTLSConfig(withReal))
	_, err := Join(t.Context(), srvURL, JoinToken{CAHash: real.Hash(), Secret: "0123456789abcdef0123456789abcdef"}, "agent-1", nil)
	var ue x509.UnknownAuthorityError
	if !errors.As(err, &ue) {
		t.Errorf("err = %v, want an unknown-authority error", err)
	}
	select {
	case <-got:
		t.Error("the secret reached a server with another CA")
	default:
	}
}

func TestJoinHandlerErrors(t *testing.T) {
	ca := newCA(t)
	const secret = "0123456789abcdef0123456789abcdef"
	srvURL := startJoinServer(t, ca, secret)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	for _, tc := range []struct {
		body string
		want int
	}{
		{`{`, 400},
		{`{"secret":"` + secret + `","csr":"nope"}`, 400},
		{`{"secret":"` + secret + `","csr":"","extra":1}`, 400},
		{`{"secret":"nope","csr":"nope"}`, 401},
		{`{}`, 401},
	} {
		resp, err := c.Post(srvURL+JoinPath, "application/json", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %s, want %d JSON", tc.body, resp.StatusCode, resp.Header.Get("Content-Type"), tc.want)
		}
	}
	// Plain HTTP never gets as far as the secret.
	plain := httptest.NewServer(JoinHandler(ca, func() string { return secret }, time.Hour, nil))
	defer plain.Close()
	resp, err := http.Post(plain.URL, "application/json", strings.NewReader(`{"secret":"`+secret+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("plain HTTP join: %d, want 403", resp.StatusCode)
	}
}

func TestParseJoinToken(t *testing.T) {
	h := strings.Repeat("ab", 32)
	good := "K10" + h + "::user:0123456789abcdef"
	tok, err := ParseJoinToken(" " + good + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if tok.Encode() != good {
		t.Errorf("round trip %q, want %q", tok.Encode(), good)
	}
	if strings.Contains(tok.String(), "0123456789abcdef") {
		t.Error("String leaks the secret")
	}
	for _, bad := range []string{"", "0123456789abcdef0123", "K10" + h, "K10" + h[:63] + "::0123456789abcdef", "K10" + strings.Repeat("zz", 32) + "::0123456789abcdef", "K10" + h + "::short", "K10" + h + "::0123456789abcdef with space"} {
		if _, err := ParseJoinToken(bad); err == nil {
			t.Errorf("ParseJoinToken(%q) succeeded", bad)
		} else if strings.Contains(err.Error(), "0123456789abcdef") {
			t.Errorf("error quotes the secret: %v", err)
		}
	}
}

// TestJoinRateLimited: after the burst of wrong secrets from one address,
// joins from it answer 429 with Retry-After and a JSON message — the right
// secret too, so guessing cannot go on — until the bucket refills.
func TestJoinRateLimited(t *testing.T) {
	ca := newCA(t)
	const secret = "0123456789abcdef0123456789abcdef"
	clock := &fakeClock{}
	clock.Set(time.Unix(1_000_000, 0))
	r, err := NewReloader(ca, []string{"127.0.0.1", "localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	policy := JoinPolicy{CA: ca, NodeSecrets: func() []string { return []string{secret} }, NodeTTL: time.Hour,
		Failures: ratelimit.NewFailures(3, time.Minute), Now: clock.Now}
	mux := http.NewServeMux()
	mux.Handle("GET "+CACertPath, CACertHandler(ca))
	mux.Handle("POST "+JoinPath, policy.Handler())
	srvURL := serveTLS(t, mux, ServerTLSConfig(r.GetCertificate))

	wrong := JoinToken{CAHash: ca.Hash(), Secret: "wrong-secret-0123456789"}
	for i := range 3 {
		_, err := Join(t.Context(), srvURL, wrong, "guesser", nil)
		var se *JoinStatusError
		if !errors.As(err, &se) || se.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong secret %d: %v, want 401", i+1, err)
		}
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	defer c.CloseIdleConnections()
	resp, err := c.Post(srvURL+JoinPath, "application/json", strings.NewReader(`{"secret":"wrong-secret-0123456789","csr":""}`))
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Message string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "61" || body.Message == "" {
		t.Fatalf("after the burst: %d Retry-After %q message %q, want 429, 61, a message", resp.StatusCode, resp.Header.Get("Retry-After"), body.Message)
	}
	var se *JoinStatusError
	if _, err := Join(t.Context(), srvURL, JoinToken{CAHash: ca.Hash(), Secret: secret}, "agent-1", nil); !errors.As(err, &se) || se.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the right secret while limited: %v, want 429", err)
	}
	clock.Advance(time.Minute)
	if _, err := Join(t.Context(), srvURL, JoinToken{CAHash: ca.Hash(), Secret: secret}, "agent-1", nil); err != nil {
		t.Fatalf("after a refill: %v", err)
	}
}
