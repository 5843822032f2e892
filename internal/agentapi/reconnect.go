package agentapi

import (
	"errors"
	"math/rand/v2"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Reconnect chooses the master an agent subscribes to next and how long it
// waits before that attempt. Both `basalt agent` and the simulator drive their
// connect loop with it, so that after a master failover thousands of agents
// find the new leader quickly without reconnecting in lockstep:
//
//   - After a lost stream the agent waits a jittered minimum backoff and tries
//     the master that served it first (a network blip keeps the same leader).
//   - A master that refused the connection (its process is gone) is skipped
//     until every master has refused; when the master itself refused, the next
//     one is tried at once, without a wait, since nothing was asked of it.
//   - A master that answered but could not take the agent (a standby with no
//     leader yet answers 503, or one redirected to a leader that refused) costs
//     a wait that doubles from the minimum up to the maximum, jittered over
//     [d/2, d). A standby that knows the leader redirects (307) and the HTTP
//     client follows it, so such an answer never reaches here as a failure.
//
// A short maximum (1s by default in both agents) keeps the agents close behind
// the election: the wait an agent adds after a leader exists is at most that.
// Its price is load on masters that cannot serve: with no leader, N agents
// send about N/max cheap requests a second (each answered 503 or refused).
//
// A Reconnect is not safe for concurrent use; each agent owns one.
type Reconnect struct {
	masters   []string
	minWait   time.Duration
	maxWait   time.Duration
	jitter    func(time.Duration) time.Duration
	next      int
	preferred string          // tried first: the master that served the last stream
	refused   map[string]bool // masters that refused a connection since the last registration
	backoff   time.Duration
}

// NewReconnect returns a Reconnect over masters (base URLs, no trailing
// slash), starting the round-robin at index first (agents spread their first
// attempts over the masters). jitter maps a wait d to the one actually slept;
// nil picks uniformly in [d/2, d].
func NewReconnect(masters []string, first int, minWait, maxWait time.Duration, jitter func(time.Duration) time.Duration) *Reconnect {
	if jitter == nil {
		jitter = func(d time.Duration) time.Duration {
			if d <= 0 {
				return 0
			}
			return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
		}
	}
	maxWait = max(maxWait, minWait)
	n := max(len(masters), 1)
	return &Reconnect{
		masters: masters, minWait: minWait, maxWait: maxWait, jitter: jitter,
		next: ((first % n) + n) % n, refused: map[string]bool{}, backoff: minWait,
	}
}

// Next returns the master to try now.
func (r *Reconnect) Next() string {
	if len(r.masters) == 0 {
		return ""
	}
	if p := r.preferred; p != "" && !r.refused[p] {
		return p
	}
	if len(r.refused) > 0 && !r.untried() {
		clear(r.refused) // every master refused: start a fresh round
	}
	for range r.masters {
		m := r.masters[r.next]
		r.next = (r.next + 1) % len(r.masters)
		if !r.refused[m] {
			return m
		}
	}
	return r.masters[0] // unreachable: untried() found one
}

// Lost records that a stream from master base ended after the agent had
// registered with it, and returns the wait before the next attempt: a
// jittered minimum backoff.
func (r *Reconnect) Lost(base string) time.Duration {
	r.backoff = r.minWait
	clear(r.refused)
	r.preferred = base
	return r.jitter(r.minWait)
}

// Failed records that an attempt at master ended, with err, before the
// agent registered, and returns the wait before the next attempt.
func (r *Reconnect) Failed(master string, err error) time.Duration {
	target := r.configured(failedBase(master, err)) // master, or the leader it redirected to
	if r.preferred == master || r.preferred == target {
		r.preferred = ""
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		r.refused[target] = true
		if target == master && r.untried() {
			return 0 // nothing asked of a master that is not there: next one now
		}
	}
	d := r.jitter(r.backoff)
	r.backoff = min(2*r.backoff, r.maxWait)
	return d
}

// configured maps a base URL to the configured master on the same host and
// port (a redirect over TLS names the leader's https URL), else returns it.
func (r *Reconnect) configured(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	for _, m := range r.masters {
		if mu, err := url.Parse(m); err == nil && mu.Host == u.Host {
			return m
		}
	}
	return base
}

// untried reports whether some master has not refused a connection.
func (r *Reconnect) untried() bool {
	for _, m := range r.masters {
		if !r.refused[m] {
			return true
		}
	}
	return false
}

// failedBase is the base URL of the server the failed request was last sent
// to: the redirect target when the client followed a 307, else master.
func failedBase(master string, err error) string {
	var ue *url.Error
	if !errors.As(err, &ue) || ue.URL == master || strings.HasPrefix(ue.URL, master+"/") {
		return master
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil || u.Host == "" {
		return master
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
}
