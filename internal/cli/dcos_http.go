package cli

// This file is the CLI's HTTP side of a DC/OS-style cluster behind Admin
// Router: TLS settings from core.ssl_verify, the Authorization header, and
// the calls `cluster setup`, `auth` and `security org` make (metadata,
// login, /acs/api/v1). Client commands (node, task, marathon...) get their
// HTTP client from here too.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// sslVerify values of core.ssl_verify, as in dcos-cli.
const (
	sslVerifyOn  = "true"
	sslVerifyOff = "false"
)

// tlsConfig turns a core.ssl_verify value into a TLS config: "true" (or
// empty) verifies against the system roots, "false" skips verification
// (only ever set by --insecure or `config set`), anything else names a PEM
// file of CA certificates that replaces the system roots.
func tlsConfig(sslVerify string) (*tls.Config, error) {
	switch sslVerify {
	case "", sslVerifyOn:
		return nil, nil
	case sslVerifyOff:
		return &tls.Config{InsecureSkipVerify: true}, nil //nolint:gosec // the user asked for it (--insecure)
	}
	pem, err := os.ReadFile(sslVerify)
	if err != nil {
		return nil, fmt.Errorf("core.ssl_verify: read CA certificates: %w", err)
	}
	pool, err := caPool(pem)
	if err != nil {
		return nil, fmt.Errorf("core.ssl_verify %s: %w", sslVerify, err)
	}
	return &tls.Config{RootCAs: pool}, nil
}

func caPool(pem []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no PEM certificate found")
	}
	return pool, nil
}

// newHTTPClient is an http.Client with the given TLS config and timeout.
func newHTTPClient(tc *tls.Config, timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &http.Client{Transport: tr, Timeout: timeout}
}

// dcosClient calls a cluster's Admin Router.
type dcosClient struct {
	base  *url.URL // the cluster URL, without a trailing slash
	http  *http.Client
	token string // sent as Authorization: token=<token> when set
}

// parseClusterURL checks a cluster URL: http or https, a host, no query.
// A bare host gets https://, as dcos-cli does.
func parseClusterURL(raw string) (*url.URL, error) {
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("cluster URL %q: want http(s)://host[:port]", raw)
	}
	return u, nil
}

// httpError is a non-2xx answer from the cluster.
type httpError struct {
	Method, Path string
	StatusCode   int
	Message      string // the API's message, or the start of the body
}

func (e *httpError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	s := fmt.Sprintf("%s %s: %s (HTTP %d)", e.Method, e.Path, msg, e.StatusCode)
	if e.StatusCode == http.StatusUnauthorized {
		s += `: log in with "basalt auth login"`
	}
	return s
}

// apiMessage pulls the human message out of an error body: IAM's
// {"title","description","code"}, Marathon's and Cosmos's {"message"}, else
// the start of the text (an HTML page from a proxy becomes its text).
func apiMessage(body []byte) string {
	var e struct {
		Title       string `json:"title"`
		Description string `json:"description"`
		Message     string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil {
		switch {
		case e.Description != "":
			return e.Description
		case e.Message != "":
			return e.Message
		case e.Title != "":
			return e.Title
		}
	}
	msg := strings.TrimSpace(string(body))
	if strings.HasPrefix(msg, "<") {
		return "" // an HTML page: the status says more
	}
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	return msg
}

// do sends method path with in (JSON) and decodes a 2xx answer into out
// (when not nil). It returns the status code.
func (c *dcosClient) do(ctx context.Context, method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	u := *c.base
	p, q, _ := strings.Cut(path, "?")
	u.Path = strings.TrimRight(u.Path, "/") + p
	u.RawQuery = q
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "token="+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, explainTransportError(method, u.Redacted(), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: %w", method, u.Redacted(), err)
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, &httpError{Method: method, Path: p, StatusCode: resp.StatusCode, Message: apiMessage(data)}
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode the answer: %w", method, p, err)
		}
	}
	return resp.StatusCode, nil
}

// explainTransportError says what to do about a certificate the client
// does not trust, instead of only Go's x509 message.
func explainTransportError(method, u string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
	)
	if errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify) {
		return fmt.Errorf("%s %s: %w (give the cluster's CA with --ca-certs FILE, or --insecure to skip verification)", method, u, err)
	}
	return fmt.Errorf("%s %s: %w", method, u, err)
}

// clusterInfo is what `cluster setup` learns before it logs in.
type clusterInfo struct {
	Version      string // dcos-version.json "version"
	AuthRequired bool   // a protected resource answered 401
	Challenge    string // its WWW-Authenticate ("acsjwt", "oauthjwt")
}

// detect asks the unauthenticated /dcos-metadata/dcos-version.json whether
// this is a DC/OS-style cluster (moving c.base where a redirect led), and HEADs a protected resource
// (/pkgpanda/active.buildinfo.full.json) to learn whether it wants a login.
func (c *dcosClient) detect(ctx context.Context) (*clusterInfo, error) {
	const versionPath = "/dcos-metadata/dcos-version.json"
	u := c.base.JoinPath(versionPath)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, explainTransportError(http.MethodGet, u.Redacted(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var v struct {
		Version string `json:"version"`
	}
	switch {
	case err != nil:
		return nil, fmt.Errorf("GET %s: %w", u.Redacted(), err)
	case resp.StatusCode != http.StatusOK:
		err = &httpError{Method: http.MethodGet, Path: versionPath, StatusCode: resp.StatusCode, Message: apiMessage(body)}
	default:
		err = json.Unmarshal(body, &v)
	}
	if err != nil {
		return nil, fmt.Errorf("%s does not look like a DC/OS or Basalt cluster: %w", c.base.Redacted(), err)
	}
	// Follow where the cluster sent us (http to https, a canonical host),
	// as dcos-cli does: later POSTs must not hit a redirect.
	if final := resp.Request.URL; final.Host != c.base.Host || final.Scheme != c.base.Scheme {
		if c.base.Scheme == "https" && final.Scheme != "https" {
			return nil, fmt.Errorf("%s redirects to %s: refusing to leave https", c.base.Redacted(), final.Redacted())
		}
		if p, ok := strings.CutSuffix(final.Path, versionPath); ok && final.RawQuery == "" {
			moved := &url.URL{Scheme: final.Scheme, Host: final.Host, Path: p}
			c.base = moved
		}
	}
	info := &clusterInfo{Version: v.Version}
	u = c.base.JoinPath("/pkgpanda/active.buildinfo.full.json")
	req, err = http.NewRequestWithContext(ctx, http.MethodHead, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err = c.http.Do(req)
	if err != nil {
		return nil, explainTransportError(http.MethodHead, u.Redacted(), err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		info.AuthRequired = true
		info.Challenge = strings.TrimSpace(resp.Header.Get("WWW-Authenticate"))
	}
	return info, nil
}

// clusterID reads CLUSTER_ID from /metadata.
func (c *dcosClient) clusterID(ctx context.Context) (string, error) {
	var md struct {
		ClusterID string `json:"CLUSTER_ID"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/metadata", nil, &md); err != nil {
		return "", fmt.Errorf("read the cluster ID: %w", err)
	}
	if md.ClusterID == "" {
		return "", errors.New("read the cluster ID: /metadata has no CLUSTER_ID")
	}
	return md.ClusterID, nil
}

// clusterName is the "cluster" of the Mesos master's state-summary, or "".
func (c *dcosClient) clusterName(ctx context.Context) string {
	var s struct {
		Cluster string `json:"cluster"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/mesos/master/state-summary", nil, &s); err != nil {
		return ""
	}
	return s.Cluster
}

// loginRequest is the body of POST /acs/api/v1/auth/login: uid and password
// for a user, uid and a signed login token for a service account.
type loginRequest struct {
	UID      string `json:"uid"`
	Password string `json:"password,omitempty"`
	Token    string `json:"token,omitempty"`
}

// login exchanges credentials for an auth token.
func (c *dcosClient) login(ctx context.Context, req loginRequest) (string, error) {
	var resp struct {
		Token string `json:"token"`
	}
	status, err := c.do(ctx, http.MethodPost, "/acs/api/v1/auth/login", req, &resp)
	if status == http.StatusUnauthorized {
		var he *httpError
		msg := "wrong credentials"
		if errors.As(err, &he) && he.Message != "" {
			msg = he.Message
		}
		return "", fmt.Errorf("log in as %q: %s", req.UID, msg)
	}
	if err != nil {
		return "", fmt.Errorf("log in as %q: %w", req.UID, err)
	}
	if resp.Token == "" {
		return "", fmt.Errorf("log in as %q: the answer holds no token", req.UID)
	}
	return resp.Token, nil
}

// serviceLoginLifetime is how long a service account's login token is
// valid; DC/OS accepts at most 10 minutes.
const serviceLoginLifetime = 5 * time.Minute

// signServiceLogin signs the service-account login token: RS256 over
// {"uid", "exp"} with the account's private key (PKCS#1 or PKCS#8 PEM).
func signServiceLogin(uid string, keyPEM []byte, now time.Time) (string, error) {
	key, err := jwt.ParseRSAPrivateKeyFromPEM(keyPEM)
	if err != nil {
		return "", fmt.Errorf("private key: %w", err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"uid": uid,
		"exp": now.Add(serviceLoginLifetime).Unix(),
	})
	return tok.SignedString(key)
}
