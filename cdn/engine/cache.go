package engine

import (
	"slices"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/shoal-p2p/shoal/storage"
)

// accessSaveEvery bounds how often one item's last access is written: the
// LRU order needs minutes, not every request.
const accessSaveEvery = 30 * time.Second

// touch records that the gateway read an item.
func (e *Engine) touch(ih metainfo.Hash) {
	now := time.Now().UTC()
	e.mu.Lock()
	it := e.items[ih]
	if it == nil {
		e.mu.Unlock()
		return
	}
	it.lastAccess = now
	due := now.Sub(it.savedAt) >= accessSaveEvery
	if due {
		it.savedAt = now
	}
	e.mu.Unlock()
	if due {
		if err := e.db.Batch(func(tx *storage.Tx) error { return access.Put(tx, ih.HexString(), now) }); err != nil {
			e.log.Warn("cannot save last access", "infohash", ih.HexString(), "err", err)
		}
	}
}

// saveAccess writes the last-access times not yet saved (all of them, when
// the engine closes).
func (e *Engine) saveAccess(all bool) {
	type pending struct {
		ih string
		at time.Time
	}
	var ps []pending
	e.mu.Lock()
	for ih, it := range e.items {
		if it.lastAccess.After(it.savedAt) && (all || time.Since(it.savedAt) >= accessSaveEvery) {
			ps = append(ps, pending{ih.HexString(), it.lastAccess})
			it.savedAt = it.lastAccess
		}
	}
	e.mu.Unlock()
	if len(ps) == 0 {
		return
	}
	err := e.db.Update(func(tx *storage.Tx) error {
		for _, p := range ps {
			if _, err := items.Get(tx, p.ih); err != nil {
				continue // removed
			}
			if err := access.Put(tx, p.ih, p.at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		e.log.Warn("cannot save last access times", "err", err)
	}
}

// Pin keeps an item in the cache for good; Unpin makes it evictable again.
// Only gateway-fetched items are ever evicted; pinning others is harmless.
func (e *Engine) Pin(infohash string) error {
	if err := e.setPinned(infohash, true); err != nil {
		return err
	}
	// A pinned item is kept whole.
	_, it, err := e.lookup(infohash)
	if err != nil {
		return err
	}
	e.mu.Lock()
	t := it.t
	e.mu.Unlock()
	if t != nil && t.Info() != nil {
		t.DownloadAll()
	}
	return nil
}

// Unpin undoes Pin.
func (e *Engine) Unpin(infohash string) error {
	if err := e.setPinned(infohash, false); err != nil {
		return err
	}
	e.evict()
	return nil
}

func (e *Engine) setPinned(infohash string, pinned bool) error {
	ih, _, err := e.lookup(infohash)
	if err != nil {
		return err
	}
	return e.update(ih, func(r *record) { r.Pinned = pinned })
}

// CacheUsage is the size of the gateway cache (items fetched for the
// gateway, pinned ones included) and its quota.
func (e *Engine) CacheUsage() (used, quota int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, it := range e.items {
		if it.rec.Origin == OriginCache {
			used += it.rec.Size
		}
	}
	return used, e.cfg.CacheQuota
}

// evict removes the least recently used cache items, never pinned ones nor
// ones being served, until the cache fits its quota.
func (e *Engine) evict() {
	e.evictMu.Lock()
	defer e.evictMu.Unlock()
	type cand struct {
		ih   metainfo.Hash
		last time.Time
		size int64
	}
	e.mu.Lock()
	var used int64
	var cands []cand
	for ih, it := range e.items {
		if it.rec.Origin != OriginCache {
			continue
		}
		used += it.rec.Size
		if !it.rec.Pinned && it.readers == 0 && it.rec.HasInfo {
			cands = append(cands, cand{ih, it.lastAccess, it.rec.Size})
		}
	}
	quota := e.cfg.CacheQuota
	e.mu.Unlock()
	if used <= quota {
		return
	}
	slices.SortFunc(cands, func(a, b cand) int { return a.last.Compare(b.last) })
	for _, c := range cands {
		if used <= quota {
			break
		}
		e.mu.Lock()
		it := e.items[c.ih]
		ok := it != nil && it.readers == 0 && !it.rec.Pinned
		var rec record
		if ok {
			rec = it.rec
		}
		e.mu.Unlock()
		if !ok {
			continue
		}
		item := e.item(rec)
		if err := e.Remove(c.ih.HexString(), true); err != nil {
			e.log.Warn("cannot evict", "infohash", c.ih.HexString(), "err", err)
			continue
		}
		used -= c.size
		e.log.Info("evicted from cache", "infohash", c.ih.HexString(), "name", item.Name, "size", c.size)
		e.publish(EventEvicted, item)
	}
}
