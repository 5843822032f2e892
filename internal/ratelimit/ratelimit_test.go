package ratelimit

import (
	"testing"
	"time"
)

// TestFailures: burst failures per key pass, the next is refused with the
// wait until one token is back; keys are independent; any empty key of a
// request refuses it; tokens come back with time.
func TestFailures(t *testing.T) {
	l := NewFailures(3, time.Minute)
	now := time.Unix(1000, 0)
	for i := range 3 {
		if ok, _ := l.Allow(now, "ip:a"); !ok {
			t.Fatalf("attempt %d refused within the burst", i+1)
		}
		l.Fail(now, "ip:a", "uid:x")
	}
	ok, wait := l.Allow(now, "ip:a")
	if ok || wait != time.Minute {
		t.Fatalf("after the burst: ok=%v wait=%v, want refused for 1m", ok, wait)
	}
	if ok, _ := l.Allow(now, "ip:b"); !ok {
		t.Error("another key was refused")
	}
	if ok, _ := l.Allow(now, "ip:b", "uid:x"); ok {
		t.Error("a request with one empty key was allowed")
	}
	if ok, wait := l.Allow(now.Add(30*time.Second), "ip:a"); ok || wait != 30*time.Second {
		t.Errorf("half a refill later: ok=%v wait=%v, want refused for 30s", ok, wait)
	}
	if ok, _ := l.Allow(now.Add(time.Minute), "ip:a"); !ok {
		t.Error("a refill later: still refused")
	}
}

func TestFailuresBounded(t *testing.T) {
	l := NewFailures(1, time.Second)
	now := time.Unix(0, 0)
	for i := range maxBuckets + 10 {
		l.Fail(now, string(rune('a'+i%26))+time.Duration(i).String())
	}
	// Once they have refilled, a new failure drops the old buckets.
	l.Fail(now.Add(time.Hour), "new")
	l.mu.Lock()
	n := len(l.buckets)
	l.mu.Unlock()
	if n > 1 {
		t.Errorf("%d buckets kept, want only the new one", n)
	}
}

func TestRetryAfter(t *testing.T) {
	for wait, want := range map[time.Duration]string{0: "1", 500 * time.Millisecond: "1", time.Second: "2", 59*time.Second + time.Millisecond: "60"} {
		if got := RetryAfter(wait); got != want {
			t.Errorf("RetryAfter(%v) = %s, want %s", wait, got, want)
		}
	}
}
