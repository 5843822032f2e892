package master

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/basalt-dcos/basalt/internal/iam"
	"github.com/basalt-dcos/basalt/internal/marathon"
	"github.com/basalt-dcos/basalt/internal/mesos"
	"github.com/basalt-dcos/basalt/internal/store"
)

// Config configures one master process. Every field with a flag tag is bound
// by internal/config (defaults < file < BASALT_* env < flags).
type Config struct {
	DataDir     string `flag:"data-dir" help:"directory for the master's state (the embedded store member lives in DATA_DIR/store)"`
	Hostname    string `flag:"hostname" help:"hostname advertised in MasterInfo (default: the advertised IP)"`
	AdvertiseIP string `flag:"advertise-ip" help:"IPv4 address advertised to agents, frameworks and other masters (default: the listen IP if set, else the first non-loopback IPv4, else 127.0.0.1)"`
	Listen      string `flag:"listen" help:"HTTP listen address of the Mesos master API (host:port; port 0 picks a free port)"`

	Masters         []string `flag:"masters" help:"static list of the masters forming the store cluster: IPs or host:port (default peer port), or name=http://host:port entries; empty = single member"`
	StoreName       string   `flag:"store-name" help:"this master's member name in --masters (default: the entry whose host is the advertised IP)"`
	StoreEndpoints  []string `flag:"store-endpoints" help:"use an external etcd cluster at these client URLs instead of an embedded member"`
	StorePeerPort   int      `flag:"store-peer-port" help:"default etcd peer port for --masters entries without one"`
	StoreClientPort int      `flag:"store-client-port" help:"etcd client port of the embedded member on the advertised IP (0: a free loopback port, for local use only)"`
	StorePrefix     string   `flag:"store-prefix" help:"key prefix of everything Basalt stores"`
	StoreTLS        bool     `flag:"store-tls" help:"mutual TLS on the embedded store's peer and client ports with certificates from the cluster CA, for a --masters cluster or a --store-client-port (the first --masters entry bootstraps the CA on its disk; the others join with --join-token); false: plain HTTP, for a trusted network"`
	JoinToken       string   `flag:"join-token" help:"master join token (K10<CA hash>::<secret>, in DATA_DIR/master-join-token of the first master) with which a master that is not the first of --masters gets its store certificate; prefer BASALT_JOIN_TOKEN to the flag"`
	JoinURL         string   `flag:"join-url" help:"https://host:port of a running master's Admin Router HTTPS port to join through (default: the first --masters host on this master's --adminrouter-tls-listen port)"`
	StoreCA         string   `flag:"store-ca" help:"CA bundle (PEM file) that an external etcd's (--store-endpoints) server certificates chain to; with --store-cert and --store-key the client speaks TLS"`
	StoreCert       string   `flag:"store-cert" help:"client certificate (PEM file) presented to an external etcd"`
	StoreKey        string   `flag:"store-key" help:"private key (PEM file) of --store-cert"`

	StoreHeartbeatInterval time.Duration `flag:"store-heartbeat-interval" help:"etcd raft heartbeat (0: store default)"`
	StoreElectionTimeout   time.Duration `flag:"store-election-timeout" help:"etcd raft election timeout (0: store default)"`
	StoreSessionTTL        time.Duration `flag:"store-session-ttl" help:"how long a crashed leader keeps leadership (0: store default)"`

	ClusterName string `flag:"cluster-name" help:"cluster name shown in state endpoints"`

	AgentPingTimeout                time.Duration      `flag:"agent-ping-timeout" help:"interval of agent liveness checks"`
	MaxAgentPingTimeouts            int                `flag:"max-agent-ping-timeouts" help:"missed liveness checks before an agent is unreachable"`
	AgentHeartbeatInterval          time.Duration      `flag:"agent-heartbeat-interval" help:"how often agents and the master exchange heartbeats"`
	AgentReregisterTimeout          time.Duration      `flag:"agent-reregister-timeout" help:"after a failover, agents that have not re-registered within it become unreachable"`
	OfferTimeout                    time.Duration      `flag:"offer-timeout" help:"rescind offers not answered within it (0: never)"`
	AllocationInterval              time.Duration      `flag:"allocation-interval" help:"period of batch allocation"`
	SchedulerHeartbeatInterval      time.Duration      `flag:"scheduler-heartbeat-interval" help:"HEARTBEAT period of scheduler streams"`
	Weights                         map[string]float64 `flag:"weights" help:"role weights: role=weight,..."`
	FilterGPUResources              bool               `flag:"filter-gpu-resources" help:"offer GPU agents only to GPU_RESOURCES frameworks"`
	MaxCompletedFrameworks          int                `flag:"max-completed-frameworks" help:"completed frameworks kept in memory"`
	MaxCompletedTasksPerFramework   int                `flag:"max-completed-tasks-per-framework" help:"completed tasks kept per framework"`
	MaxUnreachableTasksPerFramework int                `flag:"max-unreachable-tasks-per-framework" help:"unreachable tasks kept per framework"`

	Marathon                             bool          `flag:"marathon" help:"run Marathon (the /v2 API for long-running services) on this master"`
	MarathonListen                       string        `flag:"marathon-listen" help:"listen address of Marathon's /v2 API (host:port; port 0 picks a free port)"`
	MarathonMesosRole                    string        `flag:"marathon-mesos-role" help:"Mesos role Marathon registers with"`
	MarathonDefaultAcceptedResourceRoles []string      `flag:"marathon-default-accepted-resource-roles" help:"resource roles apps without acceptedResourceRoles may use"`
	MarathonDeclineOfferDuration         time.Duration `flag:"marathon-decline-offer-duration" help:"how long Marathon refuses offers it has no use for"`
	MarathonReconcileInterval            time.Duration `flag:"marathon-reconciliation-interval" help:"period of Marathon's implicit task reconciliation"`
	MarathonKillRetry                    time.Duration `flag:"marathon-kill-retry" help:"how often Marathon re-sends unconfirmed kills"`
	MarathonTick                         time.Duration `flag:"marathon-tick" help:"period of Marathon's housekeeping (deployments, timeouts, backoff)"`
	MarathonMaxInstancesPerOffer         int           `flag:"marathon-max-instances-per-offer" help:"most instances Marathon launches on one offer"`

	DNS DNSConfig

	AdminRouterListen    string        `flag:"adminrouter-listen" help:"listen address of the Admin Router, the one port in front of every component (host:port; port 0 picks a free port; empty disables it)"`
	AdminRouterTLSListen string        `flag:"adminrouter-tls-listen" help:"HTTPS listen address of the Admin Router, with a certificate from the cluster CA (host:port; port 0 picks a free port; empty disables HTTPS and the join endpoint)"`
	AdminRouterHTTP      string        `flag:"adminrouter-http" help:"what the Admin Router's plain HTTP port does: serve (every route, as on HTTPS) or redirect (307 to HTTPS, except /dcos-metadata/dcos-version.json and /ca/dcos-ca.crt)"`
	APITLS               bool          `flag:"api-tls" help:"also accept TLS on the master API port (--listen) and on Marathon's port, with a certificate from the cluster CA (each port tells TLS from plain HTTP by the first byte; plain HTTP keeps working), and call the other masters over TLS only (Marathon's scheduler, the DNS follower, standbys' proxies, the Admin Router); the join endpoint is served there too. Every master of a cluster must have the same setting"`
	RequireAgentCerts    bool          `flag:"require-agent-certs" help:"accept agents only over TLS with a node certificate from the cluster CA (basalt agent --join-token); needs --api-tls"`
	NodeCertTTL          time.Duration `flag:"node-cert-ttl" help:"lifetime of the client certificates issued to joining agents; agents renew theirs over mTLS once a third of it remains"`
	TLSCertTTL           time.Duration `flag:"tls-cert-ttl" help:"lifetime of this master's serving certificate; it is re-issued, without a restart, once a third of it remains"`
	AdminRouterCacheTTL  time.Duration `flag:"adminrouter-cache-ttl" help:"how stale the Admin Router's view of Marathon apps and Mesos agents/frameworks may be when resolving /service/ and /agent/ (0: default)"`

	Security              string        `flag:"security" help:"security mode of the Admin Router and of the component ports (5050, 8080, 8123): strict (a token on every protected route and port, permissions enforced; a node certificate also opens 5050 over TLS), permissive (a token required on the Admin Router, checked on the ports when given; missing permissions only logged) or disabled (no checks)"`
	Superuser             string        `flag:"superuser" help:"uid of the first user, created with dcos:superuser when the cluster has no user yet"`
	SuperuserPasswordFile string        `flag:"superuser-password-file" help:"file holding the first user's password; without it a one-time password is generated and written to DATA_DIR/bootstrap-password (0600)"`
	AuthTokenTTL          time.Duration `flag:"auth-token-ttl" help:"lifetime of the tokens POST /acs/api/v1/auth/login issues"`

	// ShutdownTimeout bounds the HTTP server's graceful shutdown.
	ShutdownTimeout time.Duration `flag:"shutdown-timeout" help:"how long a stopping master waits for HTTP requests to finish"`

	// DebugListen serves Go's /debug/pprof profiles, for finding what is
	// slow at scale (bench/scale). Off by default: the profiles are not
	// authenticated, so bind it to loopback.
	DebugListen string `flag:"debug-listen" help:"listen address of Go's /debug/pprof profiling endpoints, unauthenticated: bind to loopback (host:port; empty: off)"`
}

// DefaultStorePeerPort is etcd's peer port.
const DefaultStorePeerPort = 2380

// DefaultConfig returns the DC/OS defaults.
func DefaultConfig() Config {
	k := mesos.DefaultConfig()
	mcfg := marathon.DefaultConfig()
	return Config{
		DataDir:                              "/var/lib/basalt/master",
		Listen:                               ":5050",
		StorePeerPort:                        DefaultStorePeerPort,
		StorePrefix:                          store.DefaultPrefix,
		StoreTLS:                             true,
		AgentPingTimeout:                     k.AgentPingTimeout,
		MaxAgentPingTimeouts:                 k.MaxAgentPingTimeouts,
		AgentHeartbeatInterval:               k.AgentHeartbeatInterval,
		AgentReregisterTimeout:               k.AgentReregisterTimeout,
		OfferTimeout:                         k.OfferTimeout,
		AllocationInterval:                   k.AllocationInterval,
		SchedulerHeartbeatInterval:           k.HeartbeatInterval,
		FilterGPUResources:                   k.Allocator.FilterGPUs,
		MaxCompletedFrameworks:               k.MaxCompletedFrameworks,
		MaxCompletedTasksPerFramework:        k.MaxCompletedTasksPerFramework,
		MaxUnreachableTasksPerFramework:      k.MaxUnreachableTasksPerFramework,
		ShutdownTimeout:                      5 * time.Second,
		Marathon:                             true,
		MarathonListen:                       ":8080",
		MarathonMesosRole:                    mcfg.Role,
		MarathonDefaultAcceptedResourceRoles: mcfg.DefaultAcceptedResourceRoles,
		MarathonDeclineOfferDuration:         mcfg.DeclineOfferDuration,
		MarathonReconcileInterval:            mcfg.ReconcileInterval,
		MarathonKillRetry:                    mcfg.KillRetry,
		MarathonTick:                         mcfg.Tick,
		MarathonMaxInstancesPerOffer:         mcfg.MaxInstancesPerOffer,
		DNS:                                  DefaultDNSConfig(),
		AdminRouterListen:                    ":80",
		Security:                             string(iam.ModeStrict),
		Superuser:                            "bootstrapuser",
		AuthTokenTTL:                         5 * 24 * time.Hour,
		AdminRouterTLSListen:                 ":443",
		AdminRouterHTTP:                      HTTPServe,
		APITLS:                               true,
		TLSCertTTL:                           DefaultTLSCertTTL,
		NodeCertTTL:                          DefaultNodeCertTTL,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen %q: %w", c.Listen, err))
	}
	if c.AdvertiseIP != "" && net.ParseIP(c.AdvertiseIP).To4() == nil {
		errs = append(errs, fmt.Errorf("advertise-ip %q is not an IPv4 address", c.AdvertiseIP))
	}
	if len(c.StoreEndpoints) == 0 && c.DataDir == "" {
		errs = append(errs, errors.New("data-dir is required for the embedded store"))
	}
	if len(c.StoreEndpoints) > 0 && len(c.Masters) > 0 {
		errs = append(errs, errors.New("masters and store-endpoints exclude each other"))
	}
	if _, err := parseMasters(c.Masters, c.StorePeerPort); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.validateStoreTLS()...)
	if c.StorePeerPort < 0 || c.StorePeerPort > 65535 || c.StoreClientPort < 0 || c.StoreClientPort > 65535 {
		errs = append(errs, errors.New("store ports must be in 0-65535"))
	}
	if c.Marathon {
		if _, _, err := net.SplitHostPort(c.MarathonListen); err != nil {
			errs = append(errs, fmt.Errorf("marathon-listen %q: %w", c.MarathonListen, err))
		}
		if err := c.marathonConfig("http://127.0.0.1:1", "127.0.0.1:1").Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.DebugListen != "" {
		if _, _, err := net.SplitHostPort(c.DebugListen); err != nil {
			errs = append(errs, fmt.Errorf("debug-listen %q: %w", c.DebugListen, err))
		}
	}
	if c.AdminRouterListen != "" {
		if _, _, err := net.SplitHostPort(c.AdminRouterListen); err != nil {
			errs = append(errs, fmt.Errorf("adminrouter-listen %q: %w", c.AdminRouterListen, err))
		}
	}
	switch iam.Mode(c.Security) {
	case iam.ModeDisabled, iam.ModePermissive, iam.ModeStrict:
	default:
		errs = append(errs, fmt.Errorf("security %q: want strict, permissive or disabled", c.Security))
	}
	if c.AdminRouterListen != "" && c.Superuser == "" {
		errs = append(errs, errors.New("superuser must not be empty"))
	}
	if c.AuthTokenTTL <= 0 {
		errs = append(errs, errors.New("auth-token-ttl must be positive"))
	}
	errs = append(errs, c.validateTLS()...)
	if c.AdminRouterCacheTTL < 0 {
		errs = append(errs, errors.New("adminrouter-cache-ttl must not be negative"))
	}
	if err := c.DNS.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("shutdown-timeout must be positive"))
	}
	if err := c.kernelConfig("http://127.0.0.1:1", "127.0.0.1", 1).Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// kernelConfig maps the flat flags onto the kernel's Config.
func (c Config) kernelConfig(baseURL, ip string, port int) mesos.Config {
	k := mesos.DefaultConfig()
	k.Hostname = c.Hostname
	if k.Hostname == "" {
		k.Hostname = ip
	}
	k.IP, k.Port, k.URL = ip, port, baseURL
	k.ClusterName = c.ClusterName
	k.AgentPingTimeout = c.AgentPingTimeout
	k.MaxAgentPingTimeouts = c.MaxAgentPingTimeouts
	k.AgentHeartbeatInterval = c.AgentHeartbeatInterval
	k.AgentReregisterTimeout = c.AgentReregisterTimeout
	k.OfferTimeout = c.OfferTimeout
	k.AllocationInterval = c.AllocationInterval
	k.HeartbeatInterval = c.SchedulerHeartbeatInterval
	k.Allocator.Weights = c.Weights
	k.Allocator.FilterGPUs = c.FilterGPUResources
	k.MaxCompletedFrameworks = c.MaxCompletedFrameworks
	k.MaxCompletedTasksPerFramework = c.MaxCompletedTasksPerFramework
	k.MaxUnreachableTasksPerFramework = c.MaxUnreachableTasksPerFramework
	return k
}

// marathonConfig maps the flat flags onto Marathon's Config. Marathon
// reaches Mesos through this master's URL: a standby answers 307 with the
// leader's.
func (c Config) marathonConfig(masterURL, advertise string) marathon.Config {
	mc := marathon.DefaultConfig()
	mc.Masters = []string{masterURL}
	mc.Advertise = advertise
	mc.Hostname = c.Hostname
	mc.Role = c.MarathonMesosRole
	mc.DefaultAcceptedResourceRoles = c.MarathonDefaultAcceptedResourceRoles
	mc.DeclineOfferDuration = c.MarathonDeclineOfferDuration
	mc.ReconcileInterval = c.MarathonReconcileInterval
	mc.KillRetry = c.MarathonKillRetry
	mc.Tick = c.MarathonTick
	mc.MaxInstancesPerOffer = c.MarathonMaxInstancesPerOffer
	return mc
}

// parseMasters turns --masters entries into store members. Entries are
// "name=http://host:port", "host:port" or "host" (default peer port); bare
// entries are named after their host:port.
func parseMasters(entries []string, peerPort int) ([]store.Member, error) {
	if peerPort == 0 {
		peerPort = DefaultStorePeerPort
	}
	var out []store.Member
	var errs []error
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if name, u, ok := strings.Cut(e, "="); ok {
			pu, err := url.Parse(u)
			if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
				errs = append(errs, fmt.Errorf("masters entry %q: want name=http://host:port (https:// is the same with store TLS)", e))
				continue
			}
			out = append(out, store.Member{Name: name, PeerURL: u})
			continue
		}
		host, port := e, strconv.Itoa(peerPort)
		if h, p, err := net.SplitHostPort(e); err == nil {
			host, port = h, p
		}
		if host == "" {
			errs = append(errs, fmt.Errorf("masters entry %q: empty host", e))
			continue
		}
		hp := net.JoinHostPort(host, port)
		out = append(out, store.Member{Name: hp, PeerURL: "http://" + hp})
	}
	return out, errors.Join(errs...)
}
