// Package ratelimit slows down guessing: token buckets of failed attempts,
// one per key (a client IP, a uid), that refill over time. A request is
// refused while any of its keys' buckets is empty; only failures take a
// token, so a caller who gets it right is never slowed. The IAM's login and
// the masters' join endpoint use it (429 with Retry-After).
//
// It keeps memory bounded under a spray of keys, does no I/O and reads no
// clock: callers pass the time.
package ratelimit

import (
	"strconv"
	"sync"
	"time"
)

// Failures holds the buckets. Its methods are safe for concurrent use.
type Failures struct {
	burst  float64
	refill time.Duration // time to earn one token back

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxBuckets bounds memory under a spray of keys: past it, buckets that
// have refilled completely are dropped (they carry no information).
const maxBuckets = 10000

// NewFailures allows burst failures per key, and one more every refill.
func NewFailures(burst int, refill time.Duration) *Failures {
	return &Failures{burst: float64(burst), refill: refill, buckets: map[string]*bucket{}}
}

func (l *Failures) level(key string, now time.Time) float64 {
	b, ok := l.buckets[key]
	if !ok {
		return l.burst
	}
	return min(l.burst, b.tokens+float64(now.Sub(b.at))/float64(l.refill))
}

// Allow reports whether an attempt for these keys may proceed now, and if
// not, how long until it may.
func (l *Failures) Allow(now time.Time, keys ...string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for _, k := range keys {
		if lv := l.level(k, now); lv < 1 {
			wait = max(wait, time.Duration((1-lv)*float64(l.refill)))
		}
	}
	return wait == 0, wait
}

// Fail takes a token from each key's bucket.
func (l *Failures) Fail(now time.Time, keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buckets) >= maxBuckets {
		for k := range l.buckets {
			if l.level(k, now) >= l.burst {
				delete(l.buckets, k)
			}
		}
	}
	for _, k := range keys {
		lv := l.level(k, now)
		l.buckets[k] = &bucket{tokens: max(lv-1, 0), at: now}
	}
}

// RetryAfter is the Retry-After header value (whole seconds, rounded up,
// at least 1) for a wait Allow returned.
func RetryAfter(wait time.Duration) string {
	return strconv.Itoa(int(wait/time.Second) + 1)
}
