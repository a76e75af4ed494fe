// Package httpcache is a shared HTTP cache after RFC 9111, the one the
// node's proxy puts in front of outside origins and of the group's sites.
//
// It is shared, not private: it never stores `private` responses, stores a
// response to a request with Authorization only when the response allows it
// (public, s-maxage, must-revalidate), takes s-maxage first and treats it as
// proxy-revalidate. Responses are kept as files in a folder with an index in
// a bucket of the node's bbolt database, under a quota with LRU eviction.
// Concurrent misses for one URL make one origin request (collapsed
// forwarding). Every answer carries Via and Cache-Status (RFC 9211).
package httpcache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-p2p/shoal/storage"
)

// index is the bucket of the node's database that holds the stored responses.
var index = storage.NewBucket[record]("cdn.web.cache")

// Options configure a Cache.
type Options struct {
	// DB holds the index; Dir the bodies (created if missing).
	DB  *storage.DB
	Dir string
	// MaxBytes is the quota for bodies; least recently used responses go
	// first when it is exceeded. 0 means 1 GiB.
	MaxBytes int64
	// Upstream fetches what the cache cannot answer. Requests reach it
	// with an absolute URL, hop-by-hop headers removed and Via added.
	Upstream http.RoundTripper
	// Name is the cache's name in Via and Cache-Status; default "shoal".
	Name string
	// Now is the clock (tests move it); default time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// memBody is the largest body kept in memory besides its file, and memTotal
// the memory all of them may take: the hit path of small objects then costs
// no file system call.
const (
	memBody  = 64 << 10
	memTotal = 64 << 20
)

// Cache is a shared HTTP cache. It is an http.Handler for requests whose URL
// is absolute (a forward proxy's requests); make it with Open.
type Cache struct {
	opts Options

	mu      sync.RWMutex
	entries map[string]*entry   // index key -> entry
	byURL   map[string][]*entry // URL -> its variants
	size    int64
	mem     int64

	flightMu sync.Mutex
	flights  map[string]*flight

	stats counters
}

type counters struct {
	requests, hits, revalidated, misses, bypassed atomic.Int64
	bytesServed, bytesFromCache                   atomic.Int64
}

// flight is one origin request that concurrent misses for a URL wait for.
type flight struct {
	done chan struct{}
	// stored tells the waiters to look in the cache again; otherwise the
	// response was not shareable and each goes to the origin itself.
	stored  bool
	waiters atomic.Int32
}

// Open loads the index from the database and removes body files it does not
// name (left by a crash between writing a file and committing it).
func Open(opts Options) (*Cache, error) {
	if opts.DB == nil || opts.Dir == "" || opts.Upstream == nil {
		return nil, errors.New("httpcache: DB, Dir and Upstream are required")
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 1 << 30
	}
	if opts.Name == "" {
		opts.Name = "shoal"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("httpcache: %w", err)
	}
	c := &Cache{opts: opts, entries: map[string]*entry{}, byURL: map[string][]*entry{}, flights: map[string]*flight{}}
	known := map[string]bool{}
	var missing []string
	err := opts.DB.View(func(tx *storage.Tx) error {
		return index.ForEach(tx, func(key string, rec record) error {
			if _, err := os.Stat(filepath.Join(opts.Dir, rec.File)); err != nil {
				missing = append(missing, key)
				return nil
			}
			known[rec.File] = true
			c.insertLocked(newEntry(key, rec))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("httpcache: load index: %w", err)
	}
	if len(missing) > 0 {
		if err := opts.DB.Update(func(tx *storage.Tx) error {
			for _, k := range missing {
				if err := index.Delete(tx, k); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return nil, fmt.Errorf("httpcache: drop lost entries: %w", err)
		}
	}
	files, err := os.ReadDir(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("httpcache: %w", err)
	}
	for _, f := range files {
		if !known[f.Name()] {
			os.Remove(filepath.Join(opts.Dir, f.Name()))
		}
	}
	c.evict()
	return c, nil
}

// Close writes the entries' last use times to the index, so LRU order
// survives a restart. The cache must not be used after Close.
func (c *Cache) Close() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	err := c.opts.DB.Update(func(tx *storage.Tx) error {
		for k, e := range c.entries {
			e.rec.LastUsed = time.Unix(0, e.lastUsed.Load())
			if err := index.Put(tx, k, e.rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("httpcache: close: %w", err)
	}
	return nil
}

// Key is the cache key of an absolute URL: scheme and host in lower case,
// the default port dropped, no fragment.
func Key(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Host)
	if h, p, err := net.SplitHostPort(host); err == nil && ((scheme == "http" && p == "80") || (scheme == "https" && p == "443")) {
		host = h
		if strings.Contains(h, ":") {
			host = "[" + h + "]"
		}
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if u.RawQuery != "" || u.ForceQuery {
		path += "?" + u.RawQuery
	}
	return scheme + "://" + host + path
}

func (c *Cache) insertLocked(e *entry) {
	if old := c.entries[e.key]; old != nil {
		c.removeLocked(old)
	}
	c.entries[e.key] = e
	u := primaryOf(e.key)
	c.byURL[u] = append(c.byURL[u], e)
	c.size += e.rec.Size
	c.mem += int64(len(e.inMemory()))
}

// removeLocked drops e from memory; the caller deletes its file and record.
func (c *Cache) removeLocked(e *entry) {
	if c.entries[e.key] != e {
		return
	}
	delete(c.entries, e.key)
	u := primaryOf(e.key)
	vs := c.byURL[u]
	for i, v := range vs {
		if v == e {
			vs = append(vs[:i:i], vs[i+1:]...)
			break
		}
	}
	if len(vs) == 0 {
		delete(c.byURL, u)
	} else {
		c.byURL[u] = vs
	}
	c.size -= e.rec.Size
	c.mem -= int64(len(e.inMemory()))
}

// drop removes entries from memory, the index and the folder.
func (c *Cache) drop(es ...*entry) {
	if len(es) == 0 {
		return
	}
	c.mu.Lock()
	for _, e := range es {
		c.removeLocked(e)
	}
	c.mu.Unlock()
	err := c.opts.DB.Update(func(tx *storage.Tx) error {
		for _, e := range es {
			if err := index.Delete(tx, e.key); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		c.opts.Log.Warn("httpcache: drop", "err", err)
	}
	for _, e := range es {
		os.Remove(filepath.Join(c.opts.Dir, e.rec.File))
	}
}

// lookup finds the most recent stored response that r selects.
func (c *Cache) lookup(u string, r *http.Request) *entry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var best *entry
	for _, e := range c.byURL[u] {
		if e.matches(r) && (best == nil || e.rec.ResponseTime.After(best.rec.ResponseTime)) {
			best = e
		}
	}
	return best
}

// Invalidate drops every stored response for the absolute URL raw.
func (c *Cache) Invalidate(raw string) (int, error) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return 0, fmt.Errorf("httpcache: %q is not an absolute URL", raw)
	}
	return c.invalidate(Key(u)), nil
}

func (c *Cache) invalidate(key string) int {
	c.mu.RLock()
	vs := append([]*entry(nil), c.byURL[key]...)
	c.mu.RUnlock()
	c.drop(vs...)
	return len(vs)
}

// Purge drops everything and reports how many responses went.
func (c *Cache) Purge() int {
	c.mu.RLock()
	all := make([]*entry, 0, len(c.entries))
	for _, e := range c.entries {
		all = append(all, e)
	}
	c.mu.RUnlock()
	c.drop(all...)
	return len(all)
}

// evict drops least recently used responses until the bodies fit the quota.
func (c *Cache) evict() {
	for {
		c.mu.RLock()
		if c.size <= c.opts.MaxBytes {
			c.mu.RUnlock()
			return
		}
		var oldest *entry
		for _, e := range c.entries {
			if oldest == nil || e.lastUsed.Load() < oldest.lastUsed.Load() {
				oldest = e
			}
		}
		c.mu.RUnlock()
		if oldest == nil {
			return
		}
		c.drop(oldest)
	}
}

// Stats are the cache's counters since it was opened and its contents now.
type Stats struct {
	Requests    int64 `json:"requests"`
	Hits        int64 `json:"hits"`        // answered from the cache alone
	Revalidated int64 `json:"revalidated"` // answered from the cache after a 304
	Misses      int64 `json:"misses"`
	Bypassed    int64 `json:"bypassed"` // not cacheable: unsafe methods, no-store, ranges
	// HitRatio counts hits and revalidated answers among requests;
	// ByteHitRatio the body bytes they served among all served.
	HitRatio     float64 `json:"hit_ratio"`
	ByteHitRatio float64 `json:"byte_hit_ratio"`
	BytesServed  int64   `json:"bytes_served"`
	BytesSaved   int64   `json:"bytes_saved"` // body bytes that did not come from an origin
	Entries      int     `json:"entries"`
	Size         int64   `json:"size"`
	MaxBytes     int64   `json:"max_bytes"`
}

// Stats reads the counters.
func (c *Cache) Stats() Stats {
	s := Stats{Requests: c.stats.requests.Load(), Hits: c.stats.hits.Load(), Revalidated: c.stats.revalidated.Load(),
		Misses: c.stats.misses.Load(), Bypassed: c.stats.bypassed.Load(),
		BytesServed: c.stats.bytesServed.Load(), BytesSaved: c.stats.bytesFromCache.Load(), MaxBytes: c.opts.MaxBytes}
	if s.Requests > 0 {
		s.HitRatio = float64(s.Hits+s.Revalidated) / float64(s.Requests)
	}
	if s.BytesServed > 0 {
		s.ByteHitRatio = float64(s.BytesSaved) / float64(s.BytesServed)
	}
	c.mu.RLock()
	s.Entries, s.Size = len(c.entries), c.size
	c.mu.RUnlock()
	return s
}

func randomName() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// status is a Cache-Status entry's parameters after the cache's name.
func (c *Cache) cacheStatus(h http.Header, params string) {
	h.Add("Cache-Status", c.opts.Name+"; "+params)
}

func (c *Cache) addVia(h http.Header, proto string) {
	v := "1.1"
	if proto != "" {
		if after, ok := strings.CutPrefix(proto, "HTTP/"); ok {
			v = after
		}
	}
	h.Add("Via", v+" "+c.opts.Name)
}

// ttl is the remaining freshness in whole seconds, for Cache-Status.
func ttl(e *entry, now time.Time) string {
	return strconv.FormatInt(int64((e.lifetime-e.age(now))/time.Second), 10)
}

// errTimeout tells a gateway timeout from other origin failures.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
