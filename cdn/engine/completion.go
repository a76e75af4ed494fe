package engine

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"

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
type completion struct {
	db *storage.DB
}

var _ interface {
	tstorage.PieceCompletion
	tstorage.PieceCompletionPersistenter
} = (*completion)(nil)

func pieceKey(i int) []byte {
	var k [4]byte
	binary.BigEndian.PutUint32(k[:], uint32(i))
	return k[:]
}

// Get reports a piece's completion; Ok is false for a torrent not yet known.
func (c *completion) Get(pk metainfo.PieceKey) (tstorage.Completion, error) {
	var cn tstorage.Completion
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

// Set records a piece's completion in its own transaction. db.Batch would
// hold each piece up to its batch delay, and pieces are verified one after
// another, so a download paid that delay per piece.
func (c *completion) Set(pk metainfo.PieceKey, complete bool) error {
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
