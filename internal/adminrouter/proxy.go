package adminrouter

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"
)

// target is where one proxied request goes.
type target struct {
	name string // shown in error bodies: "Marathon", "service /foo"
	// resolve returns the upstream's base URL ("http://host:port", maybe
	// with a base path); it is called again before a retry, so a retry
	// reaches a new leader.
	resolve func() (string, bool)
	// path is the escaped upstream path below the base URL.
	path string
	// prefix is what the route consumed; upstream redirects to absolute
	// paths are rewritten to keep it when rewriteLocation is set.
	prefix          string
	rewriteLocation bool
}

type targetKey struct{}

// dcosCookies are the DC/OS session cookies, which must not reach services
// (read-only).
var dcosCookies = [...]string{"dcos-acs-auth-cookie", "dcos-acs-info-cookie"}

// proxy is one streaming reverse proxy shared by every proxied route; the
// destination travels in the request's context.
type proxy struct {
	rp  *httputil.ReverseProxy
	log *slog.Logger
}

func newProxy(transport http.RoundTripper, retryDelay time.Duration, log *slog.Logger) *proxy {
	p := &proxy{log: log}
	p.rp = &httputil.ReverseProxy{
		Rewrite:   p.rewrite,
		Transport: &retryTransport{next: transport, delay: retryDelay},
		// No periodic flushing for bodies of known length (they are
		// complete once copied; flushing each write costs a syscall per
		// response). ReverseProxy flushes every write of streaming
		// responses by itself: text/event-stream and any body without a
		// Content-Length (chunked: RecordIO subscriptions, logs), so those
		// reach the client as they come (tested).
		FlushInterval:  0,
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.errorHandler,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		// Reuse copy buffers: otherwise each response allocates and
		// clears 32 KiB.
		BufferPool: &bufferPool{pool: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}},
	}
	return p
}

// bufferPool implements httputil.BufferPool over a sync.Pool.
type bufferPool struct{ pool sync.Pool }

func (b *bufferPool) Get() []byte  { return *b.pool.Get().(*[]byte) }
func (b *bufferPool) Put(p []byte) { b.pool.Put(&p) }

func (p *proxy) serve(w http.ResponseWriter, r *http.Request, t target) {
	r = r.WithContext(context.WithValue(r.Context(), targetKey{}, &t))
	p.rp.ServeHTTP(w, r)
}

// rewrite points the outgoing request at the target's current upstream.
func (p *proxy) rewrite(pr *httputil.ProxyRequest) {
	t := pr.In.Context().Value(targetKey{}).(*target)
	base, _ := t.resolve()
	setUpstream(pr.Out.URL, base, t.path)
	pr.Out.Host = "" // the upstream's own host, as nginx's proxy_pass does
	pr.SetXForwarded()
	tokenFromCookie(pr.In, pr.Out.Header)
	stripDCOSCookies(pr.Out.Header)
}

// setUpstream rewrites u to base + escaped path, keeping the query.
func setUpstream(u *url.URL, base, escapedPath string) {
	b, err := url.Parse(base)
	if err != nil || b.Host == "" {
		// Unparseable upstream: leave an address nothing listens on, so
		// the error handler answers 502.
		u.Scheme, u.Host = "http", "invalid.invalid"
		return
	}
	u.Scheme, u.Host = b.Scheme, b.Host
	raw := strings.TrimSuffix(b.EscapedPath(), "/") + escapedPath
	u.RawPath = raw
	u.Path, _ = url.PathUnescape(raw)
	if u.EscapedPath() == u.Path {
		u.RawPath = ""
	}
}

// stripDCOSCookies removes the DC/OS session cookies and keeps the rest.
func stripDCOSCookies(h http.Header) {
	lines := h.Values("Cookie")
	if len(lines) == 0 {
		return
	}
	var kept []string
	for _, line := range lines {
		for _, c := range strings.Split(line, ";") {
			name, _, _ := strings.Cut(strings.TrimSpace(c), "=")
			drop := false
			for _, d := range dcosCookies {
				if name == d {
					drop = true
				}
			}
			if !drop && strings.TrimSpace(c) != "" {
				kept = append(kept, strings.TrimSpace(c))
			}
		}
	}
	h.Del("Cookie")
	if len(kept) > 0 {
		h.Set("Cookie", strings.Join(kept, "; "))
	}
}

// modifyResponse keeps redirects inside the route's prefix.
func (p *proxy) modifyResponse(resp *http.Response) error {
	t, _ := resp.Request.Context().Value(targetKey{}).(*target)
	if t == nil || !t.rewriteLocation || t.prefix == "" {
		return nil
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil
	}
	if nl, ok := rewriteLocation(loc, resp.Request.URL, t.prefix); ok {
		resp.Header.Set("Location", nl)
	}
	return nil
}

// rewriteLocation maps an upstream's Location to the client's view: an
// absolute path, or an absolute URL at the upstream itself, gets the route's
// prefix. Redirects elsewhere are left alone.
func rewriteLocation(loc string, upstream *url.URL, prefix string) (string, bool) {
	u, err := url.Parse(loc)
	if err != nil {
		return "", false
	}
	switch {
	case u.Scheme == "" && u.Host == "" && strings.HasPrefix(u.Path, "/"):
	case (u.Scheme == "http" || u.Scheme == "https") && u.Host == upstream.Host:
		u.Scheme, u.Host, u.User = "", "", nil
	default:
		return "", false
	}
	if strings.HasPrefix(u.EscapedPath(), prefix+"/") {
		return u.String(), true // already under the prefix
	}
	p := prefix + u.EscapedPath()
	u.RawPath = p
	u.Path, _ = url.PathUnescape(p)
	return u.String(), true
}

func (p *proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	t, _ := r.Context().Value(targetKey{}).(*target)
	name := "the upstream"
	if t != nil {
		name = t.name
	}
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the client left
	}
	p.log.Debug("proxy failed", "upstream", name, "method", r.Method, "path", r.URL.Path, "error", err)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		writeText(w, http.StatusRequestEntityTooLarge, "413 Request Entity Too Large.")
		return
	}
	writeText(w, http.StatusBadGateway, "502 Bad Gateway: "+name+" did not answer.")
}

// retryTransport retries an idempotent request once when the upstream
// refused the connection: after a leader change the old leader's port is
// closed, and the next resolve names the new one.
type retryTransport struct {
	next  http.RoundTripper
	delay time.Duration
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err == nil || !errors.Is(err, syscall.ECONNREFUSED) || !idempotent(req) {
		return resp, err
	}
	tg, _ := req.Context().Value(targetKey{}).(*target)
	if tg == nil {
		return resp, err
	}
	if t.delay > 0 {
		timer := time.NewTimer(t.delay)
		select {
		case <-req.Context().Done():
			timer.Stop()
			return nil, err
		case <-timer.C:
		}
	}
	base, ok := tg.resolve()
	if !ok {
		return nil, err
	}
	retry := req.Clone(req.Context())
	setUpstream(retry.URL, base, tg.path)
	return t.next.RoundTrip(retry)
}

// idempotent reports whether a request may be sent twice: an idempotent
// method without a body to replay.
func idempotent(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0
	}
	return false
}
