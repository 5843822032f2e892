package adminrouter

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Kind says what a route does with a request.
type Kind int

// The route kinds. Each names one upstream or one built-in answer.
const (
	KindBadRequest       Kind = iota // 400: traversal, absolute-URL tricks, bad escapes
	KindNotFound                     // 404: no route
	KindRedirect                     // 301 to Route.Location
	KindMissing                      // 503: the component is not built yet (Route.Missing names it)
	KindMesos                        // the leading Mesos master
	KindMarathon                     // the leading Marathon
	KindService                      // /service/<id>/: a Marathon app or a framework's webui_url (resolved later)
	KindAgent                        // an agent's HTTP API (Route.ID is the agent ID)
	KindMesosDNS                     // the master's Mesos-DNS HTTP API
	KindNet                          // dcos-net's API: served by the same DNS HTTP API
	KindMetadata                     // /metadata
	KindDCOSVersion                  // /dcos-metadata/dcos-version.json
	KindUIConfig                     // /dcos-metadata/ui-config.json
	KindBuildInfo                    // /pkgpanda/active.buildinfo.full.json
	KindExhibitorStatus              // /exhibitor/exhibitor/v1/cluster/status
	KindMethodNotAllowed             // 405 on a built-in answer
	KindIAM                          // the IAM API (/acs/api/v1), served by the master's own IAM
	KindAgentSystem                  // an agent's Admin Router routes (/system/v1/agent/<id>/...; Route.Path is the agent-side path)
)

// kindNames is read-only.
var kindNames = [...]string{
	KindBadRequest: "bad-request", KindNotFound: "not-found", KindRedirect: "redirect",
	KindMissing: "missing", KindMesos: "mesos", KindMarathon: "marathon", KindService: "service",
	KindAgent: "agent", KindMesosDNS: "mesos-dns", KindNet: "net", KindMetadata: "metadata",
	KindDCOSVersion: "dcos-version", KindUIConfig: "ui-config", KindBuildInfo: "buildinfo",
	KindExhibitorStatus: "exhibitor-status", KindMethodNotAllowed: "method-not-allowed", KindIAM: "iam",
	KindAgentSystem: "agent-system",
}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Route is the outcome of matching a request path: what to do and, for
// proxied kinds, the upstream path. It is pure data so that an auth
// middleware can later decide per route (NeedsAuth follows the Auth column
// of the DC/OS route table).
type Route struct {
	Kind Kind
	// Prefix is the part of the request path the route consumed (escaped),
	// e.g. "/mesos" or "/agent/<id>"; Location headers from the upstream are
	// rewritten to keep it.
	Prefix string
	// Path is the escaped upstream path (always starts with "/").
	// For KindService it is the part after "/service/" (candidate ids and
	// the rest), split by ServiceCandidates.
	Path string
	// ID is the agent ID of KindAgent.
	ID string
	// Location is the target of KindRedirect.
	Location string
	// Missing names the component a KindMissing route waits for.
	Missing string
	// Reason explains a KindBadRequest.
	Reason string
	// NeedsAuth reports whether the route requires a token when security
	// is on (the Auth column of the DC/OS route table); Permission names
	// what it also needs in strict mode.
	NeedsAuth bool
}

// maxServiceIDSegments bounds the candidate ids of /service/<id>/ (DC/OS: 10).
const maxServiceIDSegments = 10

// Match maps a request's method and escaped path (r.URL.EscapedPath()) to
// a route. It does no I/O. Paths with "." or ".." segments (also
// percent-encoded), empty segments ("//"), backslashes, NUL bytes or bad
// escapes are KindBadRequest, so an upstream path never leaves its route.
func Match(method, escapedPath string) Route {
	if reason := checkPath(escapedPath); reason != "" {
		return Route{Kind: KindBadRequest, Reason: reason}
	}
	p := escapedPath
	token := func(r Route) Route { r.NeedsAuth = true; return r }
	switch {
	case p == "/":
		return Route{Kind: KindMissing, Missing: "the DC/OS web UI"}

	case p == "/mesos":
		return token(Route{Kind: KindRedirect, Location: "/mesos/"})
	case strings.HasPrefix(p, "/mesos/"):
		return token(Route{Kind: KindMesos, Prefix: "/mesos", Path: p[len("/mesos"):]})
	case strings.HasPrefix(p, "/cache/master/"):
		// Admin Router's cached copy of the master's state: the leader's
		// own endpoints serve snapshots already.
		return token(Route{Kind: KindMesos, Prefix: "/cache", Path: p[len("/cache"):]})

	case p == "/marathon" || p == "/service/marathon":
		return token(Route{Kind: KindRedirect, Location: p + "/"})
	case strings.HasPrefix(p, "/marathon/"):
		return token(Route{Kind: KindMarathon, Prefix: "/marathon", Path: p[len("/marathon"):]})
	case strings.HasPrefix(p, "/service/marathon/"):
		return token(Route{Kind: KindMarathon, Prefix: "/service/marathon", Path: p[len("/service/marathon"):]})
	case p == "/service/metronome" || strings.HasPrefix(p, "/service/metronome/"):
		return token(Route{Kind: KindMissing, Missing: "Metronome (DC/OS Jobs)"})
	case strings.HasPrefix(p, "/service/"):
		rest := p[len("/service/"):]
		if rest == "" {
			return Route{Kind: KindNotFound}
		}
		if !strings.Contains(rest, "/") {
			return token(Route{Kind: KindRedirect, Location: p + "/"})
		}
		return token(Route{Kind: KindService, Prefix: "/service", Path: rest})

	case strings.HasPrefix(p, "/agent/") || strings.HasPrefix(p, "/slave/"):
		prefixLen := len("/agent/")
		if strings.HasPrefix(p, "/slave/") {
			prefixLen = len("/slave/")
		}
		id, rest, slash := strings.Cut(p[prefixLen:], "/")
		if id == "" {
			return Route{Kind: KindNotFound}
		}
		if !slash {
			return token(Route{Kind: KindRedirect, Location: p + "/"})
		}
		uid, _ := url.PathUnescape(id)
		return token(Route{Kind: KindAgent, ID: uid, Prefix: p[:prefixLen+len(id)], Path: "/" + rest})

	case p == "/mesos_dns":
		return token(Route{Kind: KindRedirect, Location: "/mesos_dns/"})
	case strings.HasPrefix(p, "/mesos_dns/"):
		return token(Route{Kind: KindMesosDNS, Prefix: "/mesos_dns", Path: p[len("/mesos_dns"):]})
	case strings.HasPrefix(p, "/net/"):
		return token(Route{Kind: KindNet, Prefix: "/net", Path: p[len("/net"):]})
	case strings.HasPrefix(p, "/navstar/"):
		return token(Route{Kind: KindMissing, Missing: "the dcos-net lashup key API"})

	case strings.HasPrefix(p, "/system/v1/leader/mesos"), strings.HasPrefix(p, "/system/v1/leader/marathon"):
		// The leader's own /system/v1 API: every master answers the same
		// for the system APIs that exist, and none exists yet.
		return token(Route{Kind: KindMissing, Missing: "the system APIs of the leader (logs, metrics)"})
	case strings.HasPrefix(p, "/system/v1/agent/"):
		return token(agentSystem(p))
	case hasDirPrefix(p, "/system/v1/logs"):
		return token(Route{Kind: KindMissing, Missing: "logs (dcos-log)"})
	case hasDirPrefix(p, "/system/v1/metrics"):
		return token(Route{Kind: KindMissing, Missing: "metrics"})
	case hasDirPrefix(p, "/system/health/v1"):
		return token(Route{Kind: KindMissing, Missing: "diagnostics (dcos-diagnostics)"})
	case hasDirPrefix(p, "/system/checks/v1"):
		return token(Route{Kind: KindMissing, Missing: "checks (dcos-checks)"})

	case p == "/metadata":
		return builtIn(method, token(Route{Kind: KindMetadata}))
	case p == "/dcos-metadata/dcos-version.json":
		return builtIn(method, Route{Kind: KindDCOSVersion})
	case p == "/dcos-metadata/ui-config.json":
		return builtIn(method, Route{Kind: KindUIConfig})
	case strings.HasPrefix(p, "/dcos-metadata/"):
		return token(Route{Kind: KindNotFound})
	case p == "/pkgpanda/active.buildinfo.full.json":
		return builtIn(method, token(Route{Kind: KindBuildInfo}))
	case strings.HasPrefix(p, "/pkgpanda/"):
		return token(Route{Kind: KindMissing, Missing: "pkgpanda (the component package manager)"})
	case p == "/exhibitor/exhibitor/v1/cluster/status":
		return builtIn(method, Route{Kind: KindExhibitorStatus})
	case p == "/exhibitor" || strings.HasPrefix(p, "/exhibitor/"):
		return token(Route{Kind: KindMissing, Missing: "Exhibitor (only /exhibitor/exhibitor/v1/cluster/status is served)"})

	case hasDirPrefix(p, "/acs/api/v1/auth"):
		return Route{Kind: KindIAM, Prefix: "/acs/api/v1", Path: p[len("/acs/api/v1"):]}
	case hasDirPrefix(p, "/acs/api/v1"):
		return token(Route{Kind: KindIAM, Prefix: "/acs/api/v1", Path: p[len("/acs/api/v1"):]})
	case p == "/login":
		return Route{Kind: KindMissing, Missing: "login through an external identity provider (OpenID Connect); log in with POST /acs/api/v1/auth/login"}
	case hasDirPrefix(p, "/package"), p == "/capabilities", hasDirPrefix(p, "/cosmos"):
		return token(Route{Kind: KindMissing, Missing: "Cosmos (the package manager)"})
	case hasDirPrefix(p, "/dcos-history-service"):
		return token(Route{Kind: KindMissing, Missing: "the history service"})
	case hasDirPrefix(p, "/dcos-ui-update-service"):
		return token(Route{Kind: KindMissing, Missing: "the UI update service"})
	case p == "/nginx/status":
		return token(Route{Kind: KindMissing, Missing: "Admin Router status"})
	case p == "/nginx/metrics":
		return Route{Kind: KindMissing, Missing: "Admin Router metrics"}
	}
	return Route{Kind: KindNotFound}
}

// agentSystem maps /system/v1/agent/<id>/<rest> onto the agent's Admin
// Router (reference §5.1): logs/ and metrics/ under /system/v1/, the
// version probe and nginx metrics as they are.
func agentSystem(p string) Route {
	id, rest, slash := strings.Cut(p[len("/system/v1/agent/"):], "/")
	if id == "" || !slash || rest == "" {
		return Route{Kind: KindNotFound}
	}
	uid, _ := url.PathUnescape(id)
	prefix := p[:len("/system/v1/agent/")+len(id)]
	switch {
	case hasDirPrefix("/"+rest, "/logs"), hasDirPrefix("/"+rest, "/metrics"):
		return Route{Kind: KindAgentSystem, ID: uid, Prefix: prefix, Path: "/system/v1/" + rest}
	case rest == "dcos-metadata/dcos-version.json", rest == "nginx/metrics":
		return Route{Kind: KindAgentSystem, ID: uid, Prefix: prefix, Path: "/" + rest}
	}
	return Route{Kind: KindNotFound}
}

// builtIn restricts built-in JSON answers to GET and HEAD.
func builtIn(method string, r Route) Route {
	if method != http.MethodGet && method != http.MethodHead {
		r.Kind = KindMethodNotAllowed
	}
	return r
}

// hasDirPrefix reports whether p is dir or below it.
func hasDirPrefix(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// checkPath returns why an escaped path is refused ("" when it is fine).
func checkPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		return "path must start with /"
	}
	if strings.HasPrefix(p, "//") {
		return "path must not start with //"
	}
	if strings.ContainsAny(p, "\\\x00") {
		return "path must not contain backslashes or NUL"
	}
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
		if s == "" && i != len(segs)-1 {
			return "path must not contain empty segments"
		}
		u, err := url.PathUnescape(s)
		if err != nil {
			return "path has a bad percent-escape"
		}
		if strings.ContainsAny(u, "\\\x00") {
			return "path must not contain backslashes or NUL"
		}
		// An encoded slash must not smuggle a dot segment either ("%2F..").
		for _, part := range strings.Split(u, "/") {
			if part == "." || part == ".." {
				return "path must not contain . or .. segments"
			}
		}
	}
	return ""
}

// Candidate is one way to read /service/<rest>: the service id and the
// escaped path below it.
type Candidate struct {
	ID   string // unescaped, without leading slash: "a/b"
	Path string // escaped, starts with "/"
}

// ServiceCandidates splits the path after "/service/" into candidate ids,
// shortest first, up to 10 segments (the first that resolves wins). A
// candidate is only offered when a "/" follows it, so the id never swallows
// the whole path.
func ServiceCandidates(rest string) []Candidate {
	var out []Candidate
	for i, n := 0, 0; i < len(rest) && n < maxServiceIDSegments; i++ {
		if rest[i] != '/' {
			continue
		}
		n++
		id, err := url.PathUnescape(rest[:i])
		if err != nil || slices.Contains(strings.Split(id, "/"), "") {
			return out // an encoded slash must not make an empty id segment
		}
		out = append(out, Candidate{ID: id, Path: rest[i:]})
	}
	return out
}
