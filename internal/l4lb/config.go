package l4lb

import (
	"errors"
	"fmt"
	"time"
)

// Config tunes the balancer. Every timeout is a field so tests can shrink it.
type Config struct {
	// Interface is where VIP addresses are added (/32 or /128, scope host).
	Interface string
	// DialTimeout bounds one attempt to connect to a backend; on failure the
	// next backend is tried.
	DialTimeout time.Duration
	// DrainTimeout is how long a connection may keep running after its
	// backend or its VIP was removed. Zero closes such connections at once.
	DrainTimeout time.Duration
	// UDPIdleTimeout ends a UDP session (one client address ↔ one backend)
	// after this long without a datagram in either direction.
	UDPIdleTimeout time.Duration
}

// DefaultConfig returns the settings an agent runs with.
func DefaultConfig() Config {
	return Config{
		Interface:      "lo",
		DialTimeout:    5 * time.Second,
		DrainTimeout:   5 * time.Minute,
		UDPIdleTimeout: time.Minute,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Interface == "" {
		errs = append(errs, errors.New("interface: must not be empty"))
	}
	if c.DialTimeout <= 0 {
		errs = append(errs, fmt.Errorf("dial timeout: must be positive, got %s", c.DialTimeout))
	}
	if c.DrainTimeout < 0 {
		errs = append(errs, fmt.Errorf("drain timeout: must not be negative, got %s", c.DrainTimeout))
	}
	if c.UDPIdleTimeout <= 0 {
		errs = append(errs, fmt.Errorf("udp idle timeout: must be positive, got %s", c.UDPIdleTimeout))
	}
	return errors.Join(errs...)
}
