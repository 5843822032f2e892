package master

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzRedirectToTLS: whatever Host and path a client sends to the plain
// port, the redirect is an https URL on the TLS port with the same path and
// query, or the request is served plain.
func FuzzRedirectToTLS(f *testing.F) {
	f.Add("example.com", "/mesos/x?y=1")
	f.Add("[::1]:80", "/a%2Fb?c=%20")
	f.Add("", "/dcos-metadata/dcos-version.json")
	f.Add("10.0.0.1:80", "//evil.example/")
	f.Add("a:b:c", "/")
	plain := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(299) })
	h := redirectToTLS(&tlsFront{addr: "10.0.0.1:8443"}, plain)
	f.Fuzz(func(t *testing.T, host, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil || len(target) == 0 || target[0] != '/' {
			return
		}
		req := httptest.NewRequest("GET", "/", nil)
		req.URL, req.RequestURI, req.Host = u, target, host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == 299 {
			if !plainPath(u.Path) {
				t.Fatalf("%q served plain", u.Path)
			}
			return
		}
		loc, err := url.Parse(rec.Header().Get("Location"))
		if rec.Code != http.StatusTemporaryRedirect || err != nil {
			t.Fatalf("host %q target %q: %d Location %q (%v)", host, target, rec.Code, rec.Header().Get("Location"), err)
		}
		if loc.Scheme != "https" || loc.Port() != "8443" || loc.EscapedPath() != u.EscapedPath() || loc.RawQuery != u.RawQuery {
			t.Fatalf("host %q target %q: Location %q", host, target, loc)
		}
	})
}

func FuzzDecodeGrace(f *testing.F) {
	f.Add(`{"grace_seconds": 600}`)
	f.Add(`{"grace_seconds": -1}`)
	f.Add(``)
	f.Add(`{"grace": "1m"}`)
	f.Add(`{"grace_seconds": 99999999999999999}`)
	f.Fuzz(func(t *testing.T, body string) {
		g, err := decodeGrace(strings.NewReader(body))
		if err != nil {
			return
		}
		if g < 0 || g > maxGrace {
			t.Fatalf("grace %v out of range from %q", g, body)
		}
	})
}

// FuzzPeerPathKey: whatever path a master asks for, its counter key is a
// clean absolute path of at most three segments (two outside /api).
func FuzzPeerPathKey(f *testing.F) {
	for _, p := range []string{"/api/v1/scheduler", "/api/v1", "/master/state", "/v2/apps/a/b/c", "", "..//../x", "/api"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		k := peerPathKey(p)
		segs := strings.Split(strings.TrimPrefix(k, "/"), "/")
		if !strings.HasPrefix(k, "/") || strings.Contains(k, "//") || len(segs) > 3 || (segs[0] != "api" && len(segs) > 2) {
			t.Fatalf("peerPathKey(%q) = %q", p, k)
		}
	})
}
