package iam

import (
	"sync"
	"time"
)

// loginLimiter holds token buckets of failed logins, one per uid and one per
// client IP. A login is refused (429) while either bucket is empty; only failed
// attempts take a token, so a user who types the password right is never slowed.
type loginLimiter struct {
	burst  float64
	refill time.Duration // time to earn one token back

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxBuckets bounds memory under a spray of uids or addresses: past it, buckets
// that have refilled completely are dropped (they carry no information).
const maxBuckets = 10000

func newLoginLimiter(burst int, refill time.Duration) *loginLimiter {
	return &loginLimiter{burst: float64(burst), refill: refill, buckets: map[string]*bucket{}}
}

func (l *loginLimiter) level(key string, now time.Time) float64 {
	b, ok := l.buckets[key]
	if !ok {
		return l.burst
	}
	return min(l.burst, b.tokens+float64(now.Sub(b.at))/float64(l.refill))
}

// allow reports whether a login for these keys may proceed now, and if not,
// how long until it may.
func (l *loginLimiter) allow(now time.Time, keys ...string) (bool, time.Duration) {
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

// fail takes a token from each key's bucket.
func (l *loginLimiter) fail(now time.Time, keys ...string) {
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
