package iam

import (
	"crypto/sha256"
	"sync"
	"time"
)

// verifiedCache remembers tokens whose signature and claims were verified, so
// that a client sending the same token on every request pays one RS256
// verification (~100 µs) instead of one per request. An entry holds only what
// the checks that can change over time need: the expiry (time passes), the kid
// (a key can be dropped after rotation) and the uid with its issue time (the
// account can be deleted). Those are checked again on every hit.
type verifiedCache struct {
	mu      sync.RWMutex
	entries map[[32]byte]verified
	max     int
}

type verified struct {
	uid string
	kid string
	exp time.Time
	iat time.Time // zero if the token had none
}

func newVerifiedCache(max int) *verifiedCache {
	return &verifiedCache{entries: make(map[[32]byte]verified), max: max}
}

func (c *verifiedCache) get(tok string) (verified, bool) {
	k := sha256.Sum256([]byte(tok))
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.entries[k]
	return v, ok
}

func (c *verifiedCache) put(tok string, v verified) {
	k := sha256.Sum256([]byte(tok))
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		// Evict an arbitrary entry (map order is random): no bookkeeping, and
		// an evicted token is only verified again.
		for old := range c.entries {
			delete(c.entries, old)
			break
		}
	}
	c.entries[k] = v
}
