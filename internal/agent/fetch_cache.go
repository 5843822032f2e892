package agent

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// The fetcher cache keeps the downloads of URIs fetched with cache: true,
// as the Mesos fetcher cache does: one file per URI in an agent-wide
// directory, named by the SHA-256 of the URI string, bounded in total size
// by evicting the least recently used entries. A sandbox gets a copy of
// the entry (never a hard link: the task may write to its files), then
// extraction and executable bits apply to that copy as for any download.
//
// Differences from Mesos: the key is the URI alone, not (user, URI),
// since the cache only holds bytes that every task fetching the URI would
// download anyway and each sandbox gets its own copy; the size of a
// download is learnt while it is written (no HEAD request first), so a
// URI larger than the whole cache is downloaded up to the bound, then
// fetched directly by every caller instead.
//
// Entries do not outlive the agent process: the directory is cleared of
// a previous run's entries on first use (as Mesos clears its cache at
// agent start), so a restart never serves an entry it has no record of.
//
//	open(uri) ──► entry present? ──yes──► open the file, mark it recent
//	                  │ no
//	                  ▼
//	        a download of uri in flight? ──yes──► wait for it, look again
//	                  │ no
//	                  ▼
//	        start one: temp file ──► rename to <sha256> ──► insert, evict LRU

// DefaultFetcherCacheSize is the default bound of the fetcher cache, as in
// Mesos (--fetcher_cache_size).
const DefaultFetcherCacheSize = 2 << 30

// FetcherCacheConfig configures the agent-wide fetcher cache.
type FetcherCacheConfig struct {
	Dir  string `flag:"fetcher-cache-dir" help:"directory of the fetcher cache for URIs fetched with cache: true (default: <work-dir>/fetcher-cache)"`
	Size int64  `flag:"fetcher-cache-size" help:"bytes the fetcher cache may hold, least recently used downloads are evicted beyond it (0: no cache)"`
}

// validate reports what is wrong with c.
func (c FetcherCacheConfig) validate() error {
	if c.Size < 0 {
		return errors.New("fetcher cache size must not be negative")
	}
	return nil
}

// errNotCacheable says a download is larger than the whole cache.
var errNotCacheable = errors.New("larger than the fetcher cache")

// cacheTempPrefix starts the names of downloads in progress.
const cacheTempPrefix = ".download-"

// cacheOpenAttempts bounds how often open looks for an entry that keeps
// being evicted between its download and its opening (only under heavy
// churn of a cache too small for the URIs fetched at once).
const cacheOpenAttempts = 3

// fetchCache is the agent-wide fetcher cache; safe for concurrent use.
type fetchCache struct {
	dir string
	max int64
	log *slog.Logger

	// mu guards the fields below. File operations that keep the index and
	// the directory in step (open, rename, remove) happen under it; the
	// downloads themselves do not.
	mu      sync.Mutex
	ready   bool                     // dir exists and holds no previous run's entries
	lru     *list.List               // of *cacheEntry, most recently used first
	entries map[string]*list.Element // key → element of lru
	used    int64                    // sum of the entries' sizes
	flights map[string]*cacheFlight  // key → download in progress
}

// cacheEntry is one cached download.
type cacheEntry struct {
	key  string
	size int64
}

// cacheFlight is one download shared by every caller asking for its URI
// meanwhile. It runs under its own context, cancelled when the last
// caller interested in it gives up.
type cacheFlight struct {
	done    chan struct{}
	err     error // set before done is closed
	waiting int   // callers still interested; guarded by fetchCache.mu
	cancel  context.CancelFunc
}

// newFetchCache returns the cache cfg describes for an agent working in
// workDir, nil if cfg turns it off. It does no I/O.
func newFetchCache(cfg FetcherCacheConfig, workDir string, log *slog.Logger) *fetchCache {
	if cfg.Size <= 0 {
		return nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir := cfg.Dir
	if dir == "" {
		dir = filepath.Join(workDir, "fetcher-cache")
	}
	return &fetchCache{
		dir:     dir,
		max:     min(cfg.Size, maxFetchBytes),
		log:     log,
		lru:     list.New(),
		entries: map[string]*list.Element{},
		flights: map[string]*cacheFlight{},
	}
}

// cacheKey is the name of uri's entry.
func cacheKey(uri string) string {
	sum := sha256.Sum256([]byte(uri))
	return hex.EncodeToString(sum[:])
}

func (c *fetchCache) path(key string) string { return filepath.Join(c.dir, key) }

// open returns uri's cached content, downloading it first if no entry
// holds it. Concurrent calls for one URI share one download. It returns
// errNotCacheable when the content is larger than the cache.
func (c *fetchCache) open(ctx context.Context, client *http.Client, uri string) (*os.File, error) {
	key := cacheKey(uri)
	for range cacheOpenAttempts {
		c.mu.Lock()
		if err := c.prepare(); err != nil {
			c.mu.Unlock()
			return nil, err
		}
		if el, ok := c.entries[key]; ok {
			// Opened under mu so that no eviction removes the file first;
			// once open, a later eviction does not disturb the reader.
			f, err := os.Open(c.path(key))
			if err == nil {
				c.lru.MoveToFront(el)
				c.mu.Unlock()
				return f, nil
			}
			c.log.Warn("fetcher cache entry vanished", "uri", uri, "error", err)
			c.remove(el)
		}
		fl := c.flights[key]
		if fl == nil {
			fl = c.start(ctx, client, uri, key)
		}
		fl.waiting++
		c.mu.Unlock()

		select {
		case <-fl.done:
			if fl.err != nil {
				return nil, fl.err
			}
		case <-ctx.Done():
			c.mu.Lock()
			fl.waiting--
			if fl.waiting == 0 {
				// Nobody wants it any more: stop it, and let the next
				// caller start afresh rather than join a cancelled one.
				fl.cancel()
				if c.flights[key] == fl {
					delete(c.flights, key)
				}
			}
			c.mu.Unlock()
			return nil, ctx.Err()
		}
	}
	return nil, fmt.Errorf("fetcher cache: the entry was evicted %d times before it could be read; the cache is too small for the URIs fetched at once", cacheOpenAttempts)
}

// start begins downloading uri into the entry key. Called with mu held.
func (c *fetchCache) start(ctx context.Context, client *http.Client, uri, key string) *cacheFlight {
	// The download outlives the caller that started it if others wait for
	// it, so it does not stop with that caller's context (only with the
	// last waiter's, see open), but keeps its values.
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	fl := &cacheFlight{done: make(chan struct{}), cancel: cancel}
	c.flights[key] = fl
	go func() {
		defer cancel()
		err := c.download(dctx, client, uri, key)
		c.mu.Lock()
		if c.flights[key] == fl {
			delete(c.flights, key)
		}
		c.mu.Unlock()
		fl.err = err
		close(fl.done)
	}()
	return fl
}

// download writes uri's content to a temporary file and renames it to
// the entry key, so a failed download leaves no entry behind.
func (c *fetchCache) download(ctx context.Context, client *http.Client, uri, key string) error {
	src, err := openURI(ctx, client, uri)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(c.dir, cacheTempPrefix+"*")
	if err != nil {
		return fmt.Errorf("fetcher cache: %w", err)
	}
	n, err := io.Copy(tmp, io.LimitReader(src, c.max+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > c.max {
		err = errNotCacheable
	}
	if err != nil {
		_ = os.Remove(tmp.Name()) // best effort; prepare removes leftovers on the next start
		if errors.Is(err, errNotCacheable) {
			return err
		}
		return fmt.Errorf("download: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := os.Rename(tmp.Name(), c.path(key)); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("fetcher cache: %w", err)
	}
	c.insert(key, n)
	return nil
}

// insert records the entry key of size bytes as the most recently used
// and evicts the least recently used others beyond the bound. Called with
// mu held; size is at most c.max, so the new entry itself stays.
func (c *fetchCache) insert(key string, size int64) {
	if el, ok := c.entries[key]; ok {
		// Replaced by a download that raced a cancelled one; the file is
		// already the new one, so only the index is dropped.
		c.used -= el.Value.(*cacheEntry).size
		c.lru.Remove(el)
	}
	c.entries[key] = c.lru.PushFront(&cacheEntry{key: key, size: size})
	c.used += size
	for c.used > c.max {
		back := c.lru.Back()
		e := back.Value.(*cacheEntry)
		if err := os.Remove(c.path(e.key)); err != nil && !errors.Is(err, os.ErrNotExist) {
			c.log.Warn("fetcher cache: cannot remove an evicted entry", "path", c.path(e.key), "error", err)
		}
		c.log.Debug("fetcher cache: evicted", "key", e.key, "size", e.size)
		c.remove(back)
	}
}

// remove drops an entry from the index. Called with mu held.
func (c *fetchCache) remove(el *list.Element) {
	e := el.Value.(*cacheEntry)
	c.lru.Remove(el)
	delete(c.entries, e.key)
	c.used -= e.size
}

// prepare creates the cache directory on first use and removes what a
// previous run left in it: its entries and unfinished downloads, nothing
// else (the directory is configurable and might be shared). Called with
// mu held.
func (c *fetchCache) prepare() error {
	if c.ready {
		return nil
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return fmt.Errorf("fetcher cache: %w", err)
	}
	des, err := os.ReadDir(c.dir)
	if err != nil {
		return fmt.Errorf("fetcher cache: %w", err)
	}
	for _, de := range des {
		if name := de.Name(); isCacheKey(name) || strings.HasPrefix(name, cacheTempPrefix) {
			if err := os.Remove(filepath.Join(c.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("fetcher cache: clear a previous run's entry: %w", err)
			}
		}
	}
	c.ready = true
	return nil
}

// isCacheKey reports whether name has the form of a cache key.
func isCacheKey(name string) bool {
	if len(name) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(name)
	return err == nil && strings.ToLower(name) == name
}
