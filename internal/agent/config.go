package agent

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/basalt-dcos/basalt/internal/containerizer/docker"
	"github.com/basalt-dcos/basalt/internal/containerizer/image"
	"github.com/basalt-dcos/basalt/internal/containerizer/posix"
	"github.com/basalt-dcos/basalt/internal/iam"
	"github.com/basalt-dcos/basalt/internal/pki"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// DC/OS port ranges (reference §1.2): private agents keep the ports of the
// DC/OS system services out of the offer; public agents offer almost all.
const (
	PrivatePorts = "[1025-2180,2182-3887,3889-5049,5052-8079,8082-8180,8182-32000]"
	PublicPorts  = "[1-21,23-5050,5052-32000]"
)

// PublicRole is the role every resource of a public agent is reserved to.
const PublicRole = "slave_public"

// Config configures an agent. Every field is a flag of `basalt agent`.
type Config struct {
	Masters     []string `flag:"master" help:"base URLs of the masters (http://host:5050), tried in turn"`
	Listen      string   `flag:"listen" help:"address of the agent's HTTP API"`
	JoinToken   string   `flag:"join-token" help:"cluster join token (K10<CA hash>::<secret>, in DATA_DIR/join-token of basalt up): join through the masters' TLS port (master --api-tls) and speak the agent protocol over mTLS"`
	Hostname    string   `flag:"hostname" help:"hostname the agent advertises (default: the host's name)"`
	AdvertiseIP string   `flag:"advertise-ip" help:"IP the agent advertises (default: the address that reaches the master)"`
	WorkDir     string   `flag:"work-dir" help:"directory for sandboxes and checkpoints"`
	Resources   string   `flag:"resources" help:"resources to offer, text (cpus:4;mem:4096;ports:[31000-32000]) or JSON; missing ones are detected"`
	Attributes  string   `flag:"attributes" help:"agent attributes (rack:a;zone:2)"`
	Public      bool     `flag:"public" help:"public agent: resources reserved to slave_public, attribute public_ip:true, DC/OS public port range"`
	// AdminRouterListen is the agent's Admin Router (reference §5.2).
	AdminRouterListen string `flag:"adminrouter-listen" help:"address of the agent's Admin Router (DC/OS :61001): /dcos-metadata/dcos-version.json and the node's system APIs (empty: off; port 0 picks a free port)"`
	Security          string `flag:"security" help:"security mode of the agent's Admin Router: strict or permissive (a valid token on its token routes, checked with the masters' public keys) or disabled; use the masters' mode"`
	// Containerizers lists the runtimes to enable; the first one that is not
	// docker runs tasks without a DOCKER ContainerInfo.
	Containerizers []string `flag:"containerizers" help:"container runtimes to enable (mesos: namespaces and cgroups, falling back to posix where the agent cannot isolate; posix; docker: runs tasks whose container type is DOCKER)"`
	// PosixWarmShims is how many idle task shims the posix runtime keeps
	// started, so a launch does not wait for a process to start (each costs
	// about 3 MiB of private memory; it shares the binary with the agent);
	// 0 turns them off.
	PosixWarmShims int `flag:"posix-warm-shims" help:"idle pre-started task shims of the posix runtime (faster launches; 0: none)"`
	// Docker configures the docker runtime (with --containerizers=...,docker).
	Docker DockerConfig
	// Images configures where the mesos runtime pulls container images.
	Images ImagesConfig

	HeartbeatInterval      time.Duration `flag:"heartbeat-interval" help:"how often the agent sends heartbeats to the master"`
	RegistrationBackoffMin time.Duration `flag:"registration-backoff-min" help:"first delay before reconnecting to a master"`
	RegistrationBackoffMax time.Duration `flag:"registration-backoff-max" help:"longest delay between reconnection attempts"`
	StatusUpdateRetryMin   time.Duration `flag:"status-update-retry-min" help:"first retry interval of an unacknowledged status update"`
	StatusUpdateRetryMax   time.Duration `flag:"status-update-retry-max" help:"longest retry interval of an unacknowledged status update"`
	DefaultKillGrace       time.Duration `flag:"default-kill-grace" help:"grace between SIGTERM and SIGKILL when a task has no kill policy"`
	ExecutorShutdownGrace  time.Duration `flag:"executor-shutdown-grace-period" help:"grace given to tasks when their framework shuts down"`
	GCDelay                time.Duration `flag:"gc-delay" help:"how long a finished task's sandbox is kept"`

	Domain       Domain
	Isolation    IsolationConfig
	FetcherCache FetcherCacheConfig
	Discovery    DiscoveryConfig
}

// DockerConfig configures the docker runtime.
type DockerConfig struct {
	Socket            string   `flag:"docker-socket" help:"Docker Engine API address: a unix socket path or unix:// / tcp:// URL"`
	AllowedParameters []string `flag:"docker-allowed-parameters" help:"docker.parameters keys tasks may use (e.g. label,env,shm-size); none by default"`
	AllowPrivileged   bool     `flag:"docker-allow-privileged" help:"let tasks run privileged Docker containers"`
}

// ImagesConfig configures the mesos runtime's image store (Mesos'
// --docker_registry and --docker_config).
type ImagesConfig struct {
	Registry   string        `flag:"docker-registry" help:"mesos runtime: registry of image names without a host (host[:port])"`
	Mirror     string        `flag:"docker-registry-mirror" help:"mesos runtime: registry (host[:port]) tried first for images of --docker-registry"`
	ConfigFile string        `flag:"docker-config" help:"mesos runtime: docker config.json whose \"auths\" hold registry credentials"`
	Insecure   []string      `flag:"docker-insecure-registries" help:"mesos runtime: registries (host[:port]) that may be reached over plain HTTP"`
	Timeout    time.Duration `flag:"docker-registry-timeout" help:"mesos runtime: how long to wait to connect to a registry and for each answer"`
}

// storeConfig is the image store's configuration for an agent work dir.
func (c ImagesConfig) storeConfig(workDir string) image.Config {
	return image.Config{
		Dir: filepath.Join(workDir, "images"), DefaultRegistry: c.Registry, Mirror: c.Mirror,
		InsecureRegistries: c.Insecure, DockerConfig: c.ConfigFile, RegistryTimeout: c.Timeout,
	}
}

// host is the Engine API address of Socket.
func (d DockerConfig) host() string {
	if strings.HasPrefix(d.Socket, "/") {
		return "unix://" + d.Socket
	}
	return d.Socket
}

// Domain is the agent's fault domain (optional; both or neither).
type Domain struct {
	Region string `flag:"domain-region" help:"fault domain region of this agent"`
	Zone   string `flag:"domain-zone" help:"fault domain zone of this agent"`
}

// DefaultConfig returns the defaults of a DC/OS private agent.
func DefaultConfig() Config {
	return Config{
		Masters:                []string{"http://127.0.0.1:5050"},
		Listen:                 ":5051",
		AdminRouterListen:      ":61001",
		Security:               "strict",
		WorkDir:                "/var/lib/basalt/agent",
		Containerizers:         []string{"mesos"},
		PosixWarmShims:         posix.DefaultWarmShims,
		Docker:                 DockerConfig{Socket: "/var/run/docker.sock"},
		Images:                 ImagesConfig{Registry: image.DefaultRegistry, Timeout: image.DefaultRegistryTimeout},
		HeartbeatInterval:      5 * time.Second,
		RegistrationBackoffMin: 100 * time.Millisecond,
		RegistrationBackoffMax: 1 * time.Second,
		StatusUpdateRetryMin:   10 * time.Second,
		StatusUpdateRetryMax:   10 * time.Minute,
		DefaultKillGrace:       3 * time.Second,
		ExecutorShutdownGrace:  5 * time.Second,
		GCDelay:                48 * time.Hour,
		Isolation:              DefaultIsolationConfig(),
		FetcherCache:           FetcherCacheConfig{Size: DefaultFetcherCacheSize},
		Discovery:              DefaultDiscoveryConfig(),
	}
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if err := c.Discovery.validate(); err != nil {
		errs = append(errs, err)
	}
	if len(c.Masters) == 0 {
		errs = append(errs, errors.New("at least one master URL is required"))
	}
	if c.JoinToken != "" {
		if _, err := pki.ParseJoinToken(c.JoinToken); err != nil { // never quotes the secret
			errs = append(errs, err)
		}
	}
	for _, m := range c.Masters {
		u, err := url.Parse(m)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("master %q: want an http(s)://host:port URL", m))
		}
	}
	if c.Listen == "" {
		errs = append(errs, errors.New("listen address is required"))
	}
	if c.AdminRouterListen != "" {
		if _, _, err := net.SplitHostPort(c.AdminRouterListen); err != nil {
			errs = append(errs, fmt.Errorf("adminrouter-listen %q: %w", c.AdminRouterListen, err))
		}
	}
	if _, err := iam.ParseMode(c.Security); err != nil {
		errs = append(errs, fmt.Errorf("security: %w", err))
	}
	if c.WorkDir == "" {
		errs = append(errs, errors.New("work dir is required"))
	}
	if len(c.Containerizers) == 0 {
		errs = append(errs, errors.New("at least one containerizer is required"))
	}
	if slices.Contains(c.Containerizers, docker.Name) {
		if err := (docker.Config{Host: c.Docker.host(), Owner: "-", AllowedParameters: c.Docker.AllowedParameters}).Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.Isolation.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Images.storeConfig("/work-dir").Validate(); err != nil {
		errs = append(errs, err)
	}
	if _, err := mesosv1.ParseResources(c.Resources, c.defaultRole()); err != nil {
		errs = append(errs, fmt.Errorf("resources: %w", err))
	}
	if _, err := mesosv1.ParseAttributes(c.Attributes); err != nil {
		errs = append(errs, fmt.Errorf("attributes: %w", err))
	}
	for name, d := range map[string]time.Duration{
		"heartbeat interval":       c.HeartbeatInterval,
		"registration backoff min": c.RegistrationBackoffMin,
		"registration backoff max": c.RegistrationBackoffMax,
		"status update retry min":  c.StatusUpdateRetryMin,
		"status update retry max":  c.StatusUpdateRetryMax,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", name))
		}
	}
	if c.RegistrationBackoffMax < c.RegistrationBackoffMin {
		errs = append(errs, errors.New("registration backoff max is below its min"))
	}
	if c.StatusUpdateRetryMax < c.StatusUpdateRetryMin {
		errs = append(errs, errors.New("status update retry max is below its min"))
	}
	if c.DefaultKillGrace < 0 || c.ExecutorShutdownGrace < 0 || c.GCDelay < 0 {
		errs = append(errs, errors.New("kill grace, shutdown grace and gc delay must not be negative"))
	}
	if err := c.FetcherCache.validate(); err != nil {
		errs = append(errs, err)
	}
	if (c.Domain.Region == "") != (c.Domain.Zone == "") {
		errs = append(errs, errors.New("fault domain needs both region and zone"))
	}
	return errors.Join(errs...)
}

// defaultRole is the role of resources given without one.
func (c Config) defaultRole() string {
	if c.Public {
		return PublicRole
	}
	return mesosv1.UnreservedRole
}

// masterURLs returns the master base URLs without trailing slashes.
func (c Config) masterURLs() []string {
	out := make([]string, len(c.Masters))
	for i, m := range c.Masters {
		out[i] = strings.TrimRight(m, "/")
	}
	return out
}
