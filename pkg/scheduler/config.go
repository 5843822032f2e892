package scheduler

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Defaults for the zero values of Config's timing fields.
const (
	DefaultMinBackoff       = 250 * time.Millisecond
	DefaultMaxBackoff       = 30 * time.Second
	DefaultHeartbeatMisses  = 5
	DefaultSubscribeTimeout = 30 * time.Second
	DefaultCallTimeout      = 30 * time.Second
)

// apiPath is the scheduler endpoint under a master's base URL.
const apiPath = "/api/v1/scheduler"

// Config configures a Client. Only Masters and Framework are required.
type Config struct {
	// Masters are the masters' base URLs, e.g. "http://10.0.0.1:5050" or
	// "https://cluster.example.com/mesos" behind a gateway. A URL without a
	// scheme gets "http://". The client tries them in turn and follows 307
	// redirects to the leader.
	Masters []string

	// Framework is sent with SUBSCRIBE. Leave ID nil for a new framework; set
	// it to resume one (framework failover). After the first SUBSCRIBED the
	// client keeps the assigned ID and re-subscribes with it. Remember that
	// FailoverTimeout defaults to 0: the master then kills the tasks as soon as
	// the framework disconnects.
	Framework mesosv1.FrameworkInfo

	// SuppressedRoles are sent with every SUBSCRIBE.
	SuppressedRoles []string

	// HTTPClient is used for the stream and the calls. Nil means a client with
	// its own transport. The client copies it and turns off its redirect
	// following (redirects are handled here) and, for the stream only, its
	// Timeout.
	HTTPClient *http.Client

	// Header holds extra headers sent on every request, e.g.
	// "Authorization: token=<jwt>" on DC/OS.
	Header http.Header

	// Logger receives lifecycle logs; nil discards them.
	Logger *slog.Logger

	// MinBackoff and MaxBackoff bound the jittered exponential delay between
	// rounds of subscription attempts.
	MinBackoff, MaxBackoff time.Duration

	// HeartbeatMisses is how many heartbeat intervals (from SUBSCRIBED) may
	// pass without any event before the stream is considered dead.
	HeartbeatMisses int

	// SubscribeTimeout bounds connecting to a master and receiving SUBSCRIBED.
	SubscribeTimeout time.Duration

	// CallTimeout bounds each call (ACCEPT, DECLINE, ...).
	CallTimeout time.Duration

	// MaxEventBytes limits one event's size; 0 means recordio.DefaultMaxRecord.
	MaxEventBytes int

	// ManualAcknowledge turns off automatic acknowledgement. By default the
	// client acknowledges every UPDATE that carries a uuid after the handler
	// returned nil for it, so a handler that persists what it must before
	// returning gets at-least-once delivery for free. With ManualAcknowledge the
	// handler must call Acknowledge itself.
	ManualAcknowledge bool
}

// Validate reports every problem in c at once.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Masters) == 0 {
		errs = append(errs, errors.New("no masters"))
	}
	for _, m := range c.Masters {
		if _, err := endpointFor(m); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Framework.Name == "" {
		errs = append(errs, errors.New("framework name is empty"))
	}
	if c.Framework.User == "" {
		errs = append(errs, errors.New("framework user is empty"))
	}
	if c.Framework.FailoverTimeout < 0 {
		errs = append(errs, errors.New("framework failover_timeout is negative"))
	}
	if c.MinBackoff < 0 || c.MaxBackoff < 0 || c.SubscribeTimeout < 0 || c.CallTimeout < 0 ||
		c.HeartbeatMisses < 0 || c.MaxEventBytes < 0 {
		errs = append(errs, errors.New("negative timing or size setting"))
	}
	if c.MinBackoff > 0 && c.MaxBackoff > 0 && c.MinBackoff > c.MaxBackoff {
		errs = append(errs, errors.New("min backoff exceeds max backoff"))
	}
	return errors.Join(errs...)
}

func (c *Config) withDefaults() {
	if c.MinBackoff == 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = max(DefaultMaxBackoff, c.MinBackoff)
	}
	if c.HeartbeatMisses == 0 {
		c.HeartbeatMisses = DefaultHeartbeatMisses
	}
	if c.SubscribeTimeout == 0 {
		c.SubscribeTimeout = DefaultSubscribeTimeout
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = DefaultCallTimeout
	}
}

// endpointFor turns a master base URL into its scheduler API URL.
func endpointFor(base string) (*url.URL, error) {
	s := strings.TrimSpace(base)
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("master %q: %w", base, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("master %q: scheme must be http or https", base)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("master %q: no host", base)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + apiPath
	u.RawPath = ""
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}
