package naming

import (
	"hash/maphash"
	"sync"
	"time"
)

// packedCache keeps the packed UDP responses to queries answered inline,
// keyed by the query's bytes after its ID (so the name's case, the flags,
// EDNS with its size and DO bit, all that shapes the response, are part of
// the key) and whether the client may recurse. A repeated query is then
// answered by copying the response and patching its ID, without unpacking
// or packing. Only responses a handler vouched for are kept (see
// packDep): zone answers while the zone's version lasts, cache hits until
// the next second of their TTLs' count-down or their expiry, so the TTLs
// sent are always those the cache would give.
type packedCache struct {
	seed   maphash.Seed
	shards [packedShards]packedShard
}

const (
	packedShards   = 16
	packedPerShard = 512 // entries per shard (at most 8192, some 14 MB); a full shard is emptied
	packedMaxKey   = 512 // longer queries are not kept
)

type packedShard struct {
	mu sync.RWMutex
	m  map[string]*packedEntry
	_  [40]byte // keep the shards' locks on different cache lines
}

// packedEntry is one kept response; it is not changed once stored.
type packedEntry struct {
	out []byte
	dep packDep
}

// packDep is what a response depends on, as the handler that wrote it
// says (through packMarker). The zero packDep is no response to keep.
type packDep struct {
	zone     *Zone
	zoneData *zoneData // valid while zone.data holds it
	cache    *Cache
	cacheGen uint64    // valid while the cache was not flushed
	until    time.Time // and the cache's clock is before until
	bad      bool      // marked more than once, or by something unknown
}

// packMarker is implemented by the server's ResponseWriter: a handler
// that writes a response depending on nothing but dep marks it so before
// writing it.
type packMarker interface {
	markPacked(dep packDep)
}

// valid reports whether a response with dep may still be sent.
func (d *packDep) valid() bool {
	switch {
	case d.bad:
		return false
	case d.zone != nil:
		return d.zone.data.Load() == d.zoneData
	case d.cache != nil:
		return d.cache.gen.Load() == d.cacheGen && d.cache.now().Before(d.until)
	}
	return false
}

func newPackedCache() *packedCache {
	c := &packedCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = map[string]*packedEntry{}
	}
	return c
}

// shard is the shard of key.
func (c *packedCache) shard(key []byte) *packedShard {
	return &c.shards[maphash.Bytes(c.seed, key)%packedShards]
}

// get appends to dst the kept response to pkt (a query with at least a
// header) with pkt's ID, or returns nil. key is the query's key (see
// keyOf).
func (c *packedCache) get(dst, key, pkt []byte) []byte {
	sh := c.shard(key)
	sh.mu.RLock()
	e := sh.m[string(key)]
	sh.mu.RUnlock()
	if e == nil {
		return nil
	}
	if !e.dep.valid() {
		sh.mu.Lock()
		if sh.m[string(key)] == e {
			delete(sh.m, string(key))
		}
		sh.mu.Unlock()
		return nil
	}
	dst = append(dst[:0], e.out...)
	dst[0], dst[1] = pkt[0], pkt[1]
	return dst
}

// put keeps out, the response to the query of key, if dep allows.
func (c *packedCache) put(key, out []byte, dep packDep) {
	if dep.bad || (dep.zone == nil && dep.cache == nil) || len(out) < 12 || len(key) > packedMaxKey || !dep.valid() {
		return
	}
	e := &packedEntry{out: append([]byte(nil), out...), dep: dep}
	sh := c.shard(key)
	sh.mu.Lock()
	if len(sh.m) >= packedPerShard {
		clear(sh.m)
	}
	sh.m[string(key)] = e
	sh.mu.Unlock()
}

// keyOf builds in buf the key of query pkt for a client that may (ra) or
// may not recurse: the bytes after the ID, then ra. ok is false for
// packets too short or too long to be kept.
func keyOf(buf, pkt []byte, ra bool) (key []byte, ok bool) {
	if len(pkt) < 12 || len(pkt)-2 > packedMaxKey-1 {
		return nil, false
	}
	key = append(buf[:0], pkt[2:]...)
	if ra {
		return append(key, 1), true
	}
	return append(key, 0), true
}

// markPacked records dep for the response about to be written.
func (rw *responseWriter) markPacked(dep packDep) {
	if rw.wrote || rw.dep != (packDep{}) {
		rw.dep.bad = true
		return
	}
	rw.dep = dep
}

// markPacked tells w, if it is the server's, that the response about to be
// written depends on dep only.
func markPacked(w any, dep packDep) {
	if m, ok := w.(packMarker); ok {
		m.markPacked(dep)
	}
}
