package mesos

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/basalt-dcos/basalt/internal/mesos/allocator"
)

// Config configures a Master. Every timeout is a field so tests can shrink it.
type Config struct {
	// Identity of this master, advertised in MasterInfo and the election value.
	// ID defaults to a random UUID (in New); Hostname to IP.
	ID       string
	Hostname string
	IP       string // IPv4 the master advertises
	Port     int
	// URL is this master's base URL (e.g. "http://10.0.0.1:5050"); standbys
	// redirect to the leader's URL. Required.
	URL string

	ClusterName string
	Version     string // basalt version reported in MasterInfo and /version

	// AgentPingTimeout × MaxAgentPingTimeouts is how long an agent may go
	// without any call (HEARTBEAT, UPDATE...) before it is marked unreachable
	// (DC/OS: 15 s × 20 = 300 s).
	AgentPingTimeout     time.Duration
	MaxAgentPingTimeouts int
	// AgentHeartbeatInterval is how often agents are asked to send HEARTBEAT
	// calls and how often the master sends HEARTBEAT events down agent streams.
	// Default 15 s, DC/OS' agent ping interval: 10,000 agents then send 667
	// heartbeats a second (an agent that misses MaxAgentPingTimeouts ping
	// checks is unreachable; any call counts).
	AgentHeartbeatInterval time.Duration
	// AgentReregisterTimeout: after a failover, agents from the registry that
	// have not re-registered within it are marked unreachable.
	AgentReregisterTimeout time.Duration
	// OfferTimeout rescinds offers a framework has not answered (DC/OS 2m; 0 = never).
	OfferTimeout time.Duration
	// AllocationInterval is the period of full allocation runs.
	AllocationInterval time.Duration
	// HeartbeatInterval is the scheduler stream's HEARTBEAT period.
	HeartbeatInterval time.Duration

	MaxCompletedFrameworks          int
	MaxCompletedTasksPerFramework   int
	MaxUnreachableTasksPerFramework int
	// MaxStatusesPerTask bounds each task's status history in snapshots.
	MaxStatusesPerTask int

	// Allocator configures DRF (weights, min allocatable, GPU filtering).
	Allocator allocator.Config

	// SnapshotInterval is the longest gap between a change and the
	// snapshot that shows it: snapshots are rebuilt ten times their cost
	// apart (at least 5 ms), but never less often than this.
	SnapshotInterval time.Duration
	// SubscriberQueue is how many events a stream may lag behind before it is
	// disconnected.
	SubscriberQueue int
	// MaxBodyBytes limits call bodies.
	MaxBodyBytes int64
	// RegistryRetry is the backoff between failed registry writes.
	RegistryRetry time.Duration
}

// DefaultConfig returns DC/OS's defaults (reference §1.4, §1.9, §11.4).
func DefaultConfig() Config {
	return Config{
		Version:                         "0.1.0-dev",
		AgentPingTimeout:                15 * time.Second,
		MaxAgentPingTimeouts:            20,
		AgentHeartbeatInterval:          15 * time.Second,
		AgentReregisterTimeout:          10 * time.Minute,
		OfferTimeout:                    2 * time.Minute,
		AllocationInterval:              time.Second,
		HeartbeatInterval:               15 * time.Second,
		MaxCompletedFrameworks:          50,
		MaxCompletedTasksPerFramework:   1000,
		MaxUnreachableTasksPerFramework: 1000,
		MaxStatusesPerTask:              16,
		Allocator:                       allocator.DefaultConfig(),
		SnapshotInterval:                75 * time.Millisecond,
		SubscriberQueue:                 4096,
		MaxBodyBytes:                    16 << 20,
		RegistryRetry:                   200 * time.Millisecond,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	pos := func(name string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %v", name, d))
		}
	}
	if c.URL == "" {
		errs = append(errs, errors.New("URL is required"))
	} else if u, err := url.Parse(c.URL); err != nil || u.Scheme == "" || u.Host == "" {
		errs = append(errs, fmt.Errorf("URL %q is not an absolute URL", c.URL))
	}
	pos("AgentPingTimeout", c.AgentPingTimeout)
	pos("AgentHeartbeatInterval", c.AgentHeartbeatInterval)
	pos("AgentReregisterTimeout", c.AgentReregisterTimeout)
	pos("AllocationInterval", c.AllocationInterval)
	pos("HeartbeatInterval", c.HeartbeatInterval)
	pos("SnapshotInterval", c.SnapshotInterval)
	pos("RegistryRetry", c.RegistryRetry)
	if c.OfferTimeout < 0 {
		errs = append(errs, fmt.Errorf("OfferTimeout must not be negative, got %v", c.OfferTimeout))
	}
	if c.MaxAgentPingTimeouts < 1 {
		errs = append(errs, fmt.Errorf("MaxAgentPingTimeouts must be at least 1, got %d", c.MaxAgentPingTimeouts))
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"MaxCompletedFrameworks", c.MaxCompletedFrameworks},
		{"MaxCompletedTasksPerFramework", c.MaxCompletedTasksPerFramework},
		{"MaxUnreachableTasksPerFramework", c.MaxUnreachableTasksPerFramework},
		{"MaxStatusesPerTask", c.MaxStatusesPerTask},
		{"SubscriberQueue", c.SubscriberQueue},
	} {
		if f.v < 1 {
			errs = append(errs, fmt.Errorf("%s must be at least 1, got %d", f.name, f.v))
		}
	}
	if c.MaxBodyBytes < 1024 {
		errs = append(errs, fmt.Errorf("MaxBodyBytes must be at least 1024, got %d", c.MaxBodyBytes))
	}
	for role, w := range c.Allocator.Weights {
		if w <= 0 {
			errs = append(errs, fmt.Errorf("weight of role %q must be positive, got %v", role, w))
		}
	}
	return errors.Join(errs...)
}
