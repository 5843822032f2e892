// Package health runs one task's Mesos-native health check (TaskInfo.
// health_check: COMMAND, HTTP/HTTPS or TCP) on the agent, with Mesos'
// semantics: a first check after delay_seconds, one every interval_seconds
// after the previous ended, each bounded by timeout_seconds; failures during
// grace_period_seconds are ignored until the first success; after
// consecutive_failures failures in a row the task must be killed.
//
// It reports results through a callback and decides nothing else: the agent
// turns a Status into a TASK_RUNNING update (healthy set, reason
// REASON_TASK_HEALTH_CHECK_STATUS_UPDATED) and kills the task when Kill is
// set. It must not kill tasks or send updates itself.
package health

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Mesos defaults of HealthCheck.
const (
	DefaultDelay               = 15 * time.Second
	DefaultInterval            = 10 * time.Second
	DefaultTimeout             = 20 * time.Second
	DefaultGracePeriod         = 10 * time.Second
	DefaultConsecutiveFailures = 3
)

// Status is one reported health result.
type Status struct {
	// Healthy is the task's health after this check.
	Healthy bool
	// Kill is set when ConsecutiveFailures reached the limit: the agent
	// must kill the task. It is the last Status a Checker reports.
	Kill bool
	// ConsecutiveFailures counts the failed checks in a row (0 when healthy).
	ConsecutiveFailures int
	// Message says what the last check saw ("HTTP GET returned 503", ...).
	Message string
}

// Callback receives a Status on the first counted result, on every change
// between healthy and unhealthy, and when the task must be killed. It is
// called from the Checker's Run goroutine, one call at a time.
type Callback func(Status)

// Params are a health check's timings, resolved from the spec's defaults.
type Params struct {
	Delay               time.Duration
	Interval            time.Duration
	Timeout             time.Duration
	GracePeriod         time.Duration
	ConsecutiveFailures int // 0: never kill
}

// ParamsOf resolves the timings of hc, applying Mesos' defaults.
func ParamsOf(hc mesosv1.HealthCheck) Params {
	sec := func(p *float64, def time.Duration) time.Duration {
		if p == nil {
			return def
		}
		if *p <= 0 {
			return 0
		}
		return time.Duration(*p * float64(time.Second))
	}
	p := Params{
		Delay:               sec(hc.DelaySeconds, DefaultDelay),
		Interval:            sec(hc.IntervalSeconds, DefaultInterval),
		Timeout:             sec(hc.TimeoutSeconds, DefaultTimeout),
		GracePeriod:         sec(hc.GracePeriodSeconds, DefaultGracePeriod),
		ConsecutiveFailures: DefaultConsecutiveFailures,
	}
	if hc.ConsecutiveFailures != nil {
		p.ConsecutiveFailures = int(*hc.ConsecutiveFailures)
	}
	return p
}

// Checker runs one health check until its context ends or the task must be
// killed.
type Checker struct {
	params  Params
	probe   func(ctx context.Context) error // nil error = healthy
	cb      Callback
	log     *slog.Logger
	checkTy string
}

// New returns a Checker for spec, run against a task whose environment is
// env and whose sandbox is sandbox (the COMMAND check's environment and
// working directory). It does no I/O.
func New(spec mesosv1.HealthCheck, env []string, sandbox string, cb Callback, logger *slog.Logger) (*Checker, error) {
	if cb == nil {
		return nil, errors.New("health check: nil callback")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	probe, err := newProbe(spec, env, sandbox)
	if err != nil {
		return nil, fmt.Errorf("health check: %w", err)
	}
	return &Checker{
		params:  ParamsOf(spec),
		probe:   probe,
		cb:      cb,
		log:     logger.With("component", "health", "check_type", spec.Type),
		checkTy: spec.Type,
	}, nil
}

// Params returns the resolved timings.
func (c *Checker) Params() Params { return c.params }

// Run checks until ctx is done (returning nil) or the task must be killed
// (after reporting Kill, returning nil). Start it when the task starts: the
// delay and the grace period count from then.
func (c *Checker) Run(ctx context.Context) error {
	tr := newTracker(time.Now(), c.params)
	timer := time.NewTimer(c.params.Delay)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		err := c.check(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if st, report := tr.observe(err, time.Now()); report {
			c.log.Info("health changed", "healthy", st.Healthy, "kill", st.Kill,
				"consecutive_failures", st.ConsecutiveFailures, "message", st.Message)
			c.cb(st)
			if st.Kill {
				return nil
			}
		} else if err != nil {
			c.log.Debug("health check failed", "error", err)
		}
		timer.Reset(c.params.Interval)
	}
}

// check runs one probe bounded by the timeout.
func (c *Checker) check(ctx context.Context) error {
	if c.params.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.params.Timeout)
		defer cancel()
	}
	err := c.probe(ctx)
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("%s health check timed out after %v", c.checkTy, c.params.Timeout)
	}
	return err
}

// tracker is the pure bookkeeping of results: what to report and when.
type tracker struct {
	start       time.Time
	p           Params
	succeeded   bool // a check has passed: the grace period is over
	reported    bool
	lastHealthy bool
	consecutive int
}

func newTracker(start time.Time, p Params) *tracker { return &tracker{start: start, p: p} }

// observe records one result (err == nil: healthy) at now and says whether
// to report the returned Status.
func (t *tracker) observe(err error, now time.Time) (Status, bool) {
	if err == nil {
		t.succeeded = true
		t.consecutive = 0
		st := Status{Healthy: true, Message: "healthy"}
		report := !t.reported || !t.lastHealthy
		t.reported, t.lastHealthy = true, true
		return st, report
	}
	if !t.succeeded && now.Sub(t.start) < t.p.GracePeriod {
		return Status{}, false // still starting: does not count
	}
	t.consecutive++
	st := Status{ConsecutiveFailures: t.consecutive, Message: err.Error()}
	st.Kill = t.p.ConsecutiveFailures > 0 && t.consecutive >= t.p.ConsecutiveFailures
	report := !t.reported || t.lastHealthy || st.Kill
	t.reported, t.lastHealthy = true, false
	return st, report
}

// newProbe builds the check function of spec.
func newProbe(spec mesosv1.HealthCheck, env []string, sandbox string) (func(context.Context) error, error) {
	switch spec.Type {
	case mesosv1.HealthCheckHTTP:
		if spec.HTTP == nil || spec.HTTP.Port == 0 || spec.HTTP.Port > 65535 {
			return nil, errors.New("HTTP check needs http.port")
		}
		return httpProbe(*spec.HTTP)
	case mesosv1.HealthCheckTCP:
		if spec.TCP == nil || spec.TCP.Port == 0 || spec.TCP.Port > 65535 {
			return nil, errors.New("TCP check needs tcp.port")
		}
		addr := net.JoinHostPort(loopback(spec.TCP.Protocol), strconv.Itoa(int(spec.TCP.Port)))
		return func(ctx context.Context) error {
			var d net.Dialer
			conn, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return fmt.Errorf("TCP connection to %s failed: %w", addr, err)
			}
			return conn.Close()
		}, nil
	case mesosv1.HealthCheckCommand:
		if spec.Command == nil {
			return nil, errors.New("COMMAND check needs command")
		}
		return commandProbe(*spec.Command, env, sandbox)
	default:
		return nil, fmt.Errorf("unsupported check type %q", spec.Type)
	}
}

// loopback is the address a check reaches the task on (posix: the host).
func loopback(protocol string) string {
	if strings.EqualFold(protocol, "IPv6") {
		return "::1"
	}
	return "127.0.0.1"
}

func httpProbe(h mesosv1.HTTPCheckInfo) (func(context.Context) error, error) {
	scheme := h.Scheme
	if scheme == "" {
		scheme = "http"
	}
	if scheme != "http" && scheme != "https" {
		return nil, fmt.Errorf("unsupported HTTP check scheme %q", scheme)
	}
	p := h.Path
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	url := scheme + "://" + net.JoinHostPort(loopback(h.Protocol), strconv.Itoa(int(h.Port))) + p
	client := &http.Client{
		Transport: &http.Transport{
			// Tasks serve self-signed certificates; Mesos checks with curl -k.
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // see above
			DisableKeepAlives: true,
		},
		// 3xx is healthy as it is: do not follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("HTTP check request: %w", err)
		}
		req.Header.Set("User-Agent", "basalt-health-check")
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("HTTP GET %s failed: %w", url, err)
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode > 399 {
			return fmt.Errorf("HTTP GET %s returned %d", url, resp.StatusCode)
		}
		return nil
	}, nil
}

func commandProbe(cmd mesosv1.CommandInfo, env []string, sandbox string) (func(context.Context) error, error) {
	if cmd.Value == "" {
		return nil, errors.New("COMMAND check has no command value")
	}
	path, args := "/bin/sh", []string{"sh", "-c", cmd.Value}
	if !cmd.IsShell() {
		path, args = cmd.Value, cmd.Arguments
		if len(args) == 0 {
			args = []string{cmd.Value}
		}
	}
	fullEnv := append([]string{}, env...)
	if cmd.Environment != nil {
		for _, v := range cmd.Environment.Variables {
			fullEnv = append(fullEnv, v.Name+"="+v.Value) // later entries win
		}
	}
	return func(ctx context.Context) error {
		c := exec.CommandContext(ctx, path, args[1:]...)
		c.Args = args
		c.Env = fullEnv
		c.Dir = sandbox
		var out bytes.Buffer
		c.Stdout = &limitedBuffer{b: &out, n: 4096}
		c.Stderr = c.Stdout
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		// On timeout, kill the whole group: a shell's children too.
		c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
		c.WaitDelay = time.Second
		if err := c.Run(); err != nil {
			msg := strings.TrimSpace(out.String())
			if msg != "" {
				return fmt.Errorf("command check failed: %w: %s", err, msg)
			}
			return fmt.Errorf("command check failed: %w", err)
		}
		return nil
	}, nil
}

// limitedBuffer keeps the first n bytes written and discards the rest.
type limitedBuffer struct {
	b *bytes.Buffer
	n int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.n - l.b.Len(); room > 0 {
		l.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
