package adminrouter

import (
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// routeTable enumerates the route table: every kind, every DC/OS path of
// reference §5.1 and what it needs. TestMatch checks Match against it;
// TestSecurityEveryRoute proves from it that every NeedsAuth route refuses
// a request without a token and every guarded route honours permissions.
var routeTable = []struct {
	method, path string
	want         Route
}{
	{"GET", "/", Route{Kind: KindMissing, Missing: "the DC/OS web UI"}},
	{"GET", "/mesos", Route{Kind: KindRedirect, Location: "/mesos/", NeedsAuth: true}},
	{"GET", "/mesos/", Route{Kind: KindMesos, Prefix: "/mesos", Path: "/", NeedsAuth: true}},
	{"GET", "/mesos/master/state", Route{Kind: KindMesos, Prefix: "/mesos", Path: "/master/state", NeedsAuth: true}},
	{"POST", "/mesos/api/v1", Route{Kind: KindMesos, Prefix: "/mesos", Path: "/api/v1", NeedsAuth: true}},
	{"GET", "/cache/master/state-summary", Route{Kind: KindMesos, Prefix: "/cache", Path: "/master/state-summary", NeedsAuth: true}},
	{"GET", "/marathon", Route{Kind: KindRedirect, Location: "/marathon/", NeedsAuth: true}},
	{"GET", "/marathon/v2/info", Route{Kind: KindMarathon, Prefix: "/marathon", Path: "/v2/info", NeedsAuth: true}},
	{"GET", "/service/marathon", Route{Kind: KindRedirect, Location: "/service/marathon/", NeedsAuth: true}},
	{"GET", "/service/marathon/v2/apps", Route{Kind: KindMarathon, Prefix: "/service/marathon", Path: "/v2/apps", NeedsAuth: true}},
	{"GET", "/service/metronome/v1/jobs", Route{Kind: KindMissing, Missing: "Metronome (DC/OS Jobs)", NeedsAuth: true}},
	{"GET", "/service/metronome", Route{Kind: KindMissing, Missing: "Metronome (DC/OS Jobs)", NeedsAuth: true}},
	{"GET", "/service/", Route{Kind: KindNotFound}},
	{"GET", "/service/web", Route{Kind: KindRedirect, Location: "/service/web/", NeedsAuth: true}},
	{"GET", "/service/web/", Route{Kind: KindService, Prefix: "/service", Path: "web/", NeedsAuth: true}},
	{"GET", "/service/grp/web/x", Route{Kind: KindService, Prefix: "/service", Path: "grp/web/x", NeedsAuth: true}},
	{"GET", "/agent/A1-S0/files/browse", Route{Kind: KindAgent, ID: "A1-S0", Prefix: "/agent/A1-S0", Path: "/files/browse", NeedsAuth: true}},
	{"GET", "/slave/A1-S0/state", Route{Kind: KindAgent, ID: "A1-S0", Prefix: "/slave/A1-S0", Path: "/state", NeedsAuth: true}},
	{"GET", "/agent/A1-S0", Route{Kind: KindRedirect, Location: "/agent/A1-S0/", NeedsAuth: true}},
	{"GET", "/agent/", Route{Kind: KindNotFound}},
	{"GET", "/mesos_dns", Route{Kind: KindRedirect, Location: "/mesos_dns/", NeedsAuth: true}},
	{"GET", "/mesos_dns/v1/version", Route{Kind: KindMesosDNS, Prefix: "/mesos_dns", Path: "/v1/version", NeedsAuth: true}},
	{"GET", "/net/v1/vips", Route{Kind: KindNet, Prefix: "/net", Path: "/v1/vips", NeedsAuth: true}},
	{"GET", "/navstar/lashup/key", Route{Kind: KindMissing, Missing: "the dcos-net lashup key API", NeedsAuth: true}},
	{"GET", "/system/v1/leader/mesos/logs/v1/range/", Route{Kind: KindMissing, Missing: "the system APIs of the leader (logs, metrics)", NeedsAuth: true}},
	{"GET", "/system/v1/leader/marathon/metrics/v0/node", Route{Kind: KindMissing, Missing: "the system APIs of the leader (logs, metrics)", NeedsAuth: true}},
	{"GET", "/system/v1/agent/A1/logs/v1/range/", Route{Kind: KindAgentSystem, ID: "A1", Prefix: "/system/v1/agent/A1", Path: "/system/v1/logs/v1/range/", NeedsAuth: true}},
	{"GET", "/system/v1/agent/A1/metrics/v0/node", Route{Kind: KindAgentSystem, ID: "A1", Prefix: "/system/v1/agent/A1", Path: "/system/v1/metrics/v0/node", NeedsAuth: true}},
	{"GET", "/system/v1/agent/A1/dcos-metadata/dcos-version.json", Route{Kind: KindAgentSystem, ID: "A1", Prefix: "/system/v1/agent/A1", Path: "/dcos-metadata/dcos-version.json", NeedsAuth: true}},
	{"GET", "/system/v1/agent/A1/state", Route{Kind: KindNotFound, NeedsAuth: true}},
	{"GET", "/system/v1/agent/A1", Route{Kind: KindNotFound, NeedsAuth: true}},
	{"GET", "/system/v1/logs/v1/range/", Route{Kind: KindMissing, Missing: "logs (dcos-log)", NeedsAuth: true}},
	{"GET", "/system/v1/metrics/v0/node", Route{Kind: KindMissing, Missing: "metrics", NeedsAuth: true}},
	{"GET", "/system/health/v1", Route{Kind: KindMissing, Missing: "diagnostics (dcos-diagnostics)", NeedsAuth: true}},
	{"GET", "/system/checks/v1/node", Route{Kind: KindMissing, Missing: "checks (dcos-checks)", NeedsAuth: true}},
	{"GET", "/metadata", Route{Kind: KindMetadata, NeedsAuth: true}},
	{"POST", "/metadata", Route{Kind: KindMethodNotAllowed, NeedsAuth: true}},
	{"GET", "/dcos-metadata/dcos-version.json", Route{Kind: KindDCOSVersion}},
	{"GET", "/dcos-metadata/ui-config.json", Route{Kind: KindUIConfig}},
	{"GET", "/dcos-metadata/bootstrap-config.json", Route{Kind: KindNotFound, NeedsAuth: true}},
	{"HEAD", "/pkgpanda/active.buildinfo.full.json", Route{Kind: KindBuildInfo, NeedsAuth: true}},
	{"GET", "/pkgpanda/active/", Route{Kind: KindMissing, Missing: "pkgpanda (the component package manager)", NeedsAuth: true}},
	{"GET", "/exhibitor/exhibitor/v1/cluster/status", Route{Kind: KindExhibitorStatus}},
	{"GET", "/exhibitor/exhibitor/v1/config/get-state", Route{Kind: KindMissing, Missing: "Exhibitor (only /exhibitor/exhibitor/v1/cluster/status is served)", NeedsAuth: true}},
	{"POST", "/acs/api/v1/auth/login", Route{Kind: KindIAM, Prefix: "/acs/api/v1", Path: "/auth/login"}},
	{"GET", "/acs/api/v1/auth/jwks", Route{Kind: KindIAM, Prefix: "/acs/api/v1", Path: "/auth/jwks"}},
	{"GET", "/acs/api/v1/users", Route{Kind: KindIAM, Prefix: "/acs/api/v1", Path: "/users", NeedsAuth: true}},
	{"PUT", "/acs/api/v1/users/alice", Route{Kind: KindIAM, Prefix: "/acs/api/v1", Path: "/users/alice", NeedsAuth: true}},
	{"GET", "/acs/api/v1/authx", Route{Kind: KindIAM, Prefix: "/acs/api/v1", Path: "/authx", NeedsAuth: true}},
	{"GET", "/login", Route{Kind: KindMissing, Missing: "login through an external identity provider (OpenID Connect); log in with POST /acs/api/v1/auth/login"}},
	{"POST", "/package/list", Route{Kind: KindMissing, Missing: "Cosmos (the package manager)", NeedsAuth: true}},
	{"GET", "/capabilities", Route{Kind: KindMissing, Missing: "Cosmos (the package manager)", NeedsAuth: true}},
	{"POST", "/cosmos/service/start", Route{Kind: KindMissing, Missing: "Cosmos (the package manager)", NeedsAuth: true}},
	{"GET", "/dcos-history-service/history/last", Route{Kind: KindMissing, Missing: "the history service", NeedsAuth: true}},
	{"GET", "/dcos-ui-update-service/api/v1/version/", Route{Kind: KindMissing, Missing: "the UI update service", NeedsAuth: true}},
	{"GET", "/nginx/status", Route{Kind: KindMissing, Missing: "Admin Router status", NeedsAuth: true}},
	{"GET", "/nginx/metrics", Route{Kind: KindMissing, Missing: "Admin Router metrics"}},
	{"GET", "/favicon.ico", Route{Kind: KindNotFound}},
	{"GET", "/mesosx", Route{Kind: KindNotFound}},

	// Attacks.
	{"GET", "/mesos/../etc/passwd", Route{Kind: KindBadRequest, Reason: "path must not contain . or .. segments"}},
	{"GET", "/mesos/%2e%2e/x", Route{Kind: KindBadRequest, Reason: "path must not contain . or .. segments"}},
	{"GET", "/service/web/%2E%2E%2Fx", Route{Kind: KindBadRequest, Reason: "path must not contain . or .. segments"}},
	{"GET", "/service/web/a%2f..%2fb", Route{Kind: KindBadRequest, Reason: "path must not contain . or .. segments"}},
	{"GET", "/agent/./x", Route{Kind: KindBadRequest, Reason: "path must not contain . or .. segments"}},
	{"GET", "//evil.example/x", Route{Kind: KindBadRequest, Reason: "path must not start with //"}},
	{"GET", "/mesos//evil", Route{Kind: KindBadRequest, Reason: "path must not contain empty segments"}},
	{"GET", "/mesos/a%5c..", Route{Kind: KindBadRequest, Reason: "path must not contain backslashes or NUL"}},
	{"GET", "/mesos/%zz", Route{Kind: KindBadRequest, Reason: "path has a bad percent-escape"}},
	{"GET", "http://evil/", Route{Kind: KindBadRequest, Reason: "path must start with /"}},
}

// agentRouteTable enumerates the agents' route table (reference §5.2).
var agentRouteTable = []struct {
	method, path string
	want         Route
}{
	{"GET", "/dcos-metadata/dcos-version.json", Route{Kind: KindDCOSVersion}},
	{"HEAD", "/dcos-metadata/dcos-version.json", Route{Kind: KindDCOSVersion}},
	{"POST", "/dcos-metadata/dcos-version.json", Route{Kind: KindMethodNotAllowed}},
	{"GET", "/pkgpanda/active/", Route{Kind: KindMissing, Missing: "pkgpanda (the component package manager)", NeedsAuth: true}},
	{"GET", "/system/health/v1", Route{Kind: KindMissing, Missing: "diagnostics (dcos-diagnostics)", NeedsAuth: true}},
	{"GET", "/system/v1/logs/v1/range/", Route{Kind: KindMissing, Missing: "logs (dcos-log)", NeedsAuth: true}},
	{"GET", "/system/v1/metrics/v0/node", Route{Kind: KindMissing, Missing: "metrics", NeedsAuth: true}},
	{"GET", "/system/checks/v1/node", Route{Kind: KindMissing, Missing: "checks (dcos-checks)", NeedsAuth: true}},
	{"GET", "/nginx/metrics", Route{Kind: KindMissing, Missing: "Admin Router metrics"}},
	{"GET", "/mesos/master/state", Route{Kind: KindNotFound, NeedsAuth: true}},
	{"GET", "/system/v1/logsx", Route{Kind: KindNotFound, NeedsAuth: true}},
	{"GET", "/system/v1/logs/../../etc", Route{Kind: KindBadRequest, Reason: "path must not contain . or .. segments"}},
	{"GET", "//evil/x", Route{Kind: KindBadRequest, Reason: "path must not start with //"}},
}

func TestMatchAgent(t *testing.T) {
	for _, tt := range agentRouteTable {
		if diff := cmp.Diff(tt.want, MatchAgent(tt.method, tt.path)); diff != "" {
			t.Errorf("MatchAgent(%s %s) (-want +got):\n%s", tt.method, tt.path, diff)
		}
	}
}

func TestMatch(t *testing.T) {
	seen := map[Kind]bool{}
	for _, tt := range routeTable {
		got := Match(tt.method, tt.path)
		seen[got.Kind] = true
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Match(%s %s) (-want +got):\n%s", tt.method, tt.path, diff)
		}
	}
	for k := KindBadRequest; k <= KindAgentSystem; k++ {
		if !seen[k] {
			t.Errorf("no case for route kind %v", k)
		}
	}
}

func TestServiceCandidates(t *testing.T) {
	got := ServiceCandidates("grp/web/x/y")
	want := []Candidate{{"grp", "/web/x/y"}, {"grp/web", "/x/y"}, {"grp/web/x", "/y"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	deep := strings.Repeat("a/", 15)
	if n := len(ServiceCandidates(deep)); n != maxServiceIDSegments {
		t.Errorf("%d candidates for 15 segments, want %d", n, maxServiceIDSegments)
	}
	if got := ServiceCandidates("my%20app/"); len(got) != 1 || got[0].ID != "my app" || got[0].Path != "/" {
		t.Errorf("escaped id: %+v", got)
	}
}

func TestRewriteLocation(t *testing.T) {
	up := &url.URL{Scheme: "http", Host: "10.0.0.5:31000"}
	tests := []struct{ loc, want string }{
		{"/login", "/service/web/login"},
		{"http://10.0.0.5:31000/a?b=c", "/service/web/a?b=c"},
		{"/service/web/x", "/service/web/x"},
		{"https://elsewhere.example/", ""},
		{"relative", ""},
	}
	for _, tt := range tests {
		got, ok := rewriteLocation(tt.loc, up, "/service/web")
		if tt.want == "" {
			if ok {
				t.Errorf("%q rewritten to %q, want unchanged", tt.loc, got)
			}
			continue
		}
		if got != tt.want {
			t.Errorf("rewriteLocation(%q) = %q, want %q", tt.loc, got, tt.want)
		}
	}
}

func TestStripDCOSCookies(t *testing.T) {
	h := make(map[string][]string)
	h["Cookie"] = []string{"a=1; dcos-acs-auth-cookie=tok; b=2", "dcos-acs-info-cookie=x"}
	stripDCOSCookies(h)
	if got := h["Cookie"]; len(got) != 1 || got[0] != "a=1; b=2" {
		t.Errorf("cookies after strip: %q", got)
	}
}
