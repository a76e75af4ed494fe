package engine

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	tstorage "github.com/anacrolix/torrent/storage"

	"github.com/shoal-p2p/shoal/storage"
)

// completion keeps which pieces are verified in the node's database, so a
// restart trusts them instead of hashing everything again.
//
// Layout: bucket cdn.completion holds one sub-bucket per torrent (keyed by the
// 20-byte infohash) whose keys are the 4-byte big-endian indexes of verified
// pieces. A torrent without a sub-bucket is unknown (anacrolix then checks its
// pieces); once the sub-bucket exists, an absent key means "not verified", so
// a fresh download needs neither an initial hash pass nor a write per piece.
//
// Verified pieces of downloads are recorded by group commit: markComplete
// keeps the mark in memory (Get sees it at once), and flush, at most
// groupDelay later, syncs the files those pieces are in, each once, then
// writes every mark in one transaction. A crash loses at most the marks of
// the last groupDelay, whose pieces are fetched again; a mark never reaches
// the database before its data reached the disk. An item counts as whole
// and its pieces count as verified (Status, EventComplete) only once their
// marks are flushed, and a torrent's files are not closed before that.
type completion struct {
	db  *storage.DB
	log *slog.Logger

	mu      sync.Mutex
	pending map[metainfo.PieceKey]pendingMark
	kick    chan struct{} // one buffered wake-up for run
	flushMu sync.Mutex    // one flush at a time
}

// pendingMark is a verified piece whose mark is not in the database yet,
// and where its data is, to be synced first.
type pendingMark struct {
	ts    *torrentStore
	files []int
}

// groupDelay is how long a verified piece's mark may wait for others to be
// written with it.
const groupDelay = 100 * time.Millisecond

func newCompletion(db *storage.DB, log *slog.Logger) *completion {
	return &completion{db: db, log: log, pending: make(map[metainfo.PieceKey]pendingMark), kick: make(chan struct{}, 1)}
}

// markComplete records a verified piece of a download; its data is synced
// and its mark written by the next flush.
func (c *completion) markComplete(pk metainfo.PieceKey, m pendingMark) {
	c.mu.Lock()
	c.pending[pk] = m
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// run flushes pending marks groupDelay after the first of them, until ctx
// ends; then once more.
func (c *completion) run(ctx context.Context) {
	defer c.flush()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(groupDelay):
		}
		c.flush()
	}
}

// flush syncs the files of every pending mark, each file once, and writes
// the marks in one transaction. A mark whose data could not be synced is
// dropped: its piece is fetched again after a restart.
func (c *completion) flush() {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	c.mu.Lock()
	batch := make(map[metainfo.PieceKey]pendingMark, len(c.pending))
	for pk, m := range c.pending {
		batch[pk] = m
	}
	c.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	type file struct {
		ts *torrentStore
		i  int
	}
	synced := make(map[file]error)
	write := make([]metainfo.PieceKey, 0, len(batch))
	for pk, m := range batch {
		var err error
		for _, i := range m.files {
			f := file{m.ts, i}
			serr, done := synced[f]
			if !done {
				_, serr = m.ts.withHandle(i, false, func(h *os.File) (int, error) { return 0, h.Sync() })
				synced[f] = serr
			}
			err = errors.Join(err, serr)
		}
		if err != nil {
			if c.log != nil {
				c.log.Warn("piece not recorded as verified: its data did not reach the disk", "infohash", pk.InfoHash.HexString(), "piece", pk.Index, "err", err)
			}
			continue
		}
		write = append(write, pk)
	}
	err := c.db.Update(func(tx *storage.Tx) error {
		for _, pk := range write {
			ih, err := completionBucketFor(tx, pk.InfoHash)
			if err != nil {
				return err
			}
			if err := ih.Put(pieceKey(pk.Index), []byte{1}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && c.log != nil {
		c.log.Warn("verified pieces not recorded", "pieces", len(write), "err", err)
	}
	c.mu.Lock()
	for pk, m := range batch {
		if cur, ok := c.pending[pk]; ok && cur.ts == m.ts {
			delete(c.pending, pk)
		}
	}
	c.mu.Unlock()
}

// unflushed lists a torrent's verified pieces whose marks are not in the
// database yet.
func (c *completion) unflushed(ih metainfo.Hash) []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for pk := range c.pending {
		if pk.InfoHash == ih {
			out = append(out, pk.Index)
		}
	}
	return out
}

func pieceKey(i int) []byte {
	var k [4]byte
	binary.BigEndian.PutUint32(k[:], uint32(i))
	return k[:]
}

// Get reports a piece's completion; Ok is false for a torrent not yet known.
func (c *completion) Get(pk metainfo.PieceKey) (tstorage.Completion, error) {
	var cn tstorage.Completion
	c.mu.Lock()
	_, pending := c.pending[pk]
	c.mu.Unlock()
	if pending {
		return tstorage.Completion{Ok: true, Complete: true}, nil
	}
	err := c.db.View(func(tx *storage.Tx) error {
		b := tx.Bucket([]byte(completionBucket))
		if b == nil {
			return nil
		}
		ih := b.Bucket(pk.InfoHash[:])
		if ih == nil {
			return nil
		}
		cn.Ok = true
		cn.Complete = ih.Get(pieceKey(pk.Index)) != nil
		return nil
	})
	if err != nil {
		err = fmt.Errorf("engine: piece completion: %w", err)
		cn.Err = err
	}
	return cn, err
}

// Set records a piece's completion in its own transaction (markComplete is
// the cheaper way for downloads).
func (c *completion) Set(pk metainfo.PieceKey, complete bool) error {
	if !complete {
		c.mu.Lock()
		delete(c.pending, pk)
		c.mu.Unlock()
	}
	if cur, err := c.Get(pk); err == nil && cur.Ok && cur.Complete == complete {
		return nil
	}
	err := c.db.Update(func(tx *storage.Tx) error {
		ih, err := completionBucketFor(tx, pk.InfoHash)
		if err != nil {
			return err
		}
		if complete {
			return ih.Put(pieceKey(pk.Index), []byte{1})
		}
		return ih.Delete(pieceKey(pk.Index))
	})
	if err != nil {
		return fmt.Errorf("engine: set piece %d of %s: %w", pk.Index, pk.InfoHash.HexString(), err)
	}
	return nil
}

// Close does nothing: the database belongs to the node.
func (c *completion) Close() error { return nil }

// Persistent tells anacrolix that completion survives the process, so data
// must be flushed before a piece is marked complete.
func (c *completion) Persistent() bool { return true }

// known reports whether the torrent has a completion record.
func (c *completion) known(ih metainfo.Hash) bool {
	var ok bool
	c.db.View(func(tx *storage.Tx) error {
		b := tx.Bucket([]byte(completionBucket))
		ok = b != nil && b.Bucket(ih[:]) != nil
		return nil
	})
	return ok
}

// track starts a completion record with no piece verified.
func (c *completion) track(ih metainfo.Hash) error {
	return c.db.Update(func(tx *storage.Tx) error {
		_, err := completionBucketFor(tx, ih)
		return err
	})
}

// verified lists which of n pieces are verified.
func (c *completion) verified(ih metainfo.Hash, n int) []bool {
	done := make([]bool, n)
	c.db.View(func(tx *storage.Tx) error {
		b := tx.Bucket([]byte(completionBucket))
		if b == nil {
			return nil
		}
		sub := b.Bucket(ih[:])
		if sub == nil {
			return nil
		}
		return sub.ForEach(func(k, _ []byte) error {
			if len(k) == 4 {
				if i := int(binary.BigEndian.Uint32(k)); i < n {
					done[i] = true
				}
			}
			return nil
		})
	})
	return done
}

func completionBucketFor(tx *storage.Tx, ih metainfo.Hash) (interface {
	Put(k, v []byte) error
	Delete(k []byte) error
}, error) {
	b, err := tx.CreateBucketIfNotExists([]byte(completionBucket))
	if err != nil {
		return nil, err
	}
	return b.CreateBucketIfNotExists(ih[:])
}

// markAllComplete records every piece of a torrent as verified, in the
// caller's transaction (Publish, having just hashed the data).
func markAllComplete(tx *storage.Tx, ih metainfo.Hash, n int) error {
	if err := forgetCompletion(tx, ih.HexString()); err != nil {
		return err
	}
	sub, err := completionBucketFor(tx, ih)
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		if err := sub.Put(pieceKey(i), []byte{1}); err != nil {
			return err
		}
	}
	return nil
}

// forgetCompletion drops a torrent's completion record.
func forgetCompletion(tx *storage.Tx, ihHex string) error {
	raw, err := hex.DecodeString(ihHex)
	if err != nil || len(raw) != 20 {
		return fmt.Errorf("engine: bad infohash %q", ihHex)
	}
	b := tx.Bucket([]byte(completionBucket))
	if b == nil || b.Bucket(raw) == nil {
		return nil
	}
	return b.DeleteBucket(raw)
}
