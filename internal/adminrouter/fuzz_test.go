package adminrouter

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzMatch: the matcher never panics, and no proxied route's upstream path
// escapes its route (no dot segment survives decoding, the path stays
// absolute, and the prefix plus the upstream path is the request path).
func FuzzMatch(f *testing.F) {
	for _, s := range []string{"/", "/mesos/master/state", "/service/a/b/c", "/agent/x/files/read?path=/",
		"/mesos/%2e%2e/", "//evil", "/service/web/%2F..%2F", "/net/v1/vips", "/marathon/v2/apps//x",
		"/service/" + strings.Repeat("a/", 12), "/slave/%00/x"} {
		f.Add("GET", s)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		rt := Match(method, path)
		switch rt.Kind {
		case KindMesos, KindMarathon, KindAgent, KindMesosDNS, KindNet:
			checkUpstream(t, path, rt.Path)
			if rt.Prefix+rt.Path != path {
				t.Fatalf("%q: prefix %q + path %q is not the request path", path, rt.Prefix, rt.Path)
			}
		case KindAgentSystem:
			checkUpstream(t, path, rt.Path)
			if !strings.HasPrefix(path, rt.Prefix+"/") || !strings.HasSuffix(path, strings.TrimPrefix(rt.Path, "/system/v1")) {
				t.Fatalf("%q: agent system route %q %q", path, rt.Prefix, rt.Path)
			}
		case KindService:
			if !strings.HasPrefix(path, "/service/") || "/service/"+rt.Path != path {
				t.Fatalf("%q: service rest %q", path, rt.Path)
			}
			for _, c := range ServiceCandidates(rt.Path) {
				checkUpstream(t, path, c.Path)
				if c.ID == "" || strings.HasPrefix(c.ID, "/") {
					t.Fatalf("%q: bad candidate id %q", path, c.ID)
				}
			}
		case KindRedirect:
			if !strings.HasPrefix(rt.Location, "/") || strings.HasPrefix(rt.Location, "//") {
				t.Fatalf("%q: redirect to %q leaves the host", path, rt.Location)
			}
		}
	})
}

func checkUpstream(t *testing.T, path, up string) {
	t.Helper()
	if !strings.HasPrefix(up, "/") || strings.HasPrefix(up, "//") {
		t.Fatalf("%q: upstream path %q is not a local absolute path", path, up)
	}
	dec, err := url.PathUnescape(up)
	if err != nil {
		t.Fatalf("%q: upstream path %q does not decode: %v", path, up, err)
	}
	for _, seg := range strings.Split(dec, "/") {
		if seg == ".." || seg == "." {
			t.Fatalf("%q: upstream path %q has a dot segment", path, up)
		}
	}
	if strings.ContainsAny(dec, "\\\x00") {
		t.Fatalf("%q: upstream path %q has a backslash or NUL", path, up)
	}
}

// FuzzMatchAgent: the agent matcher never panics, refuses what the master's
// refuses, and only the version probe and the metrics stub are open.
func FuzzMatchAgent(f *testing.F) {
	for _, s := range []string{"/", "/dcos-metadata/dcos-version.json", "/system/v1/logs/v1/range/", "/system/health/v1",
		"/pkgpanda/%2e%2e/", "//evil", "/nginx/metrics"} {
		f.Add("GET", s)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		rt := MatchAgent(method, path)
		if (rt.Kind == KindBadRequest) != (Match(method, path).Kind == KindBadRequest) {
			t.Fatalf("%q: agent and master matchers disagree on a bad path", path)
		}
		if rt.Kind != KindBadRequest && !rt.NeedsAuth && path != "/dcos-metadata/dcos-version.json" && path != "/nginx/metrics" {
			t.Fatalf("%q is open on the agent router", path)
		}
	})
}
