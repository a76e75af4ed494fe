package engine

import (
	"errors"
	"fmt"
	"time"

	"github.com/shoal-p2p/shoal/storage"
)

// Bucket names. Items and access times are JSON through storage.Bucket;
// metainfo and completion are raw bytes.
const (
	itemsBucket      = "cdn.items"
	metainfoBucket   = "cdn.metainfo"
	accessBucket     = "cdn.access"
	completionBucket = "cdn.completion"
)

var (
	items  = storage.NewBucket[record](itemsBucket)
	access = storage.NewBucket[time.Time](accessBucket)
)

// migrations of the engine's buckets, component "cdn.engine".
var migrations = []storage.Migration{
	{Version: 1, Name: "create buckets", Apply: func(tx *storage.Tx) error {
		for _, name := range []string{itemsBucket, metainfoBucket, accessBucket, completionBucket} {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return err
			}
		}
		return nil
	}},
}

// Origins: how an item came to this node.
const (
	OriginPublished = "published" // this node published it from a local file or folder
	OriginDownload  = "download"  // the user fetched it (Fetch, AddTorrent)
	OriginCache     = "cache"     // the gateway fetched it; evictable unless pinned
)

// record is what the engine remembers of one item across restarts.
type record struct {
	InfoHash string `json:"infohash"`
	Origin   string `json:"origin"`
	// Dir is the storage root: a published item's parent directory, or the
	// directory a download writes into.
	Dir string `json:"dir"`
	// Path is a published item's file or folder.
	Path string `json:"path,omitempty"`
	// Sigs are what a published item's files looked like when hashed.
	Sigs []fileSig `json:"sigs,omitempty"`

	Name        string    `json:"name,omitempty"`
	Size        int64     `json:"size,omitempty"`
	Files       []File    `json:"files,omitempty"`
	Kind        string    `json:"kind,omitempty"`
	Type        string    `json:"type,omitempty"`
	Publisher   string    `json:"publisher,omitempty"`
	Time        time.Time `json:"time"`
	Added       time.Time `json:"added"`
	PieceLength int64     `json:"piece_length,omitempty"`
	NumPieces   int       `json:"num_pieces,omitempty"`
	HasInfo     bool      `json:"has_info,omitempty"`

	Trackers []string `json:"trackers,omitempty"`
	Peers    []string `json:"peers,omitempty"` // hints from the magnet (x.pe)
	Paused   bool     `json:"paused,omitempty"`
	Pinned   bool     `json:"pinned,omitempty"`
}

// fileSig is a file's size and modification time, enough to notice that a
// published file was replaced or edited.
type fileSig struct {
	Size    int64 `json:"size"`
	ModTime int64 `json:"mtime"` // Unix nanoseconds
}

func putRecord(tx *storage.Tx, rec record) error { return items.Put(tx, rec.InfoHash, rec) }

func putMetainfo(tx *storage.Tx, ih string, mi []byte) error {
	b, err := tx.CreateBucketIfNotExists([]byte(metainfoBucket))
	if err != nil {
		return err
	}
	return b.Put([]byte(ih), mi)
}

func getMetainfo(tx *storage.Tx, ih string) []byte {
	b := tx.Bucket([]byte(metainfoBucket))
	if b == nil {
		return nil
	}
	v := b.Get([]byte(ih))
	if v == nil {
		return nil
	}
	return append([]byte(nil), v...)
}

// deleteItem forgets everything stored about an item.
func deleteItem(tx *storage.Tx, ih string) error {
	if err := items.Delete(tx, ih); err != nil {
		return err
	}
	if err := access.Delete(tx, ih); err != nil {
		return err
	}
	if b := tx.Bucket([]byte(metainfoBucket)); b != nil {
		if err := b.Delete([]byte(ih)); err != nil {
			return err
		}
	}
	return forgetCompletion(tx, ih)
}

func loadRecords(db *storage.DB) ([]record, map[string]time.Time, error) {
	var recs []record
	last := make(map[string]time.Time)
	err := db.View(func(tx *storage.Tx) error {
		if err := items.ForEach(tx, func(_ string, r record) error {
			recs = append(recs, r)
			return nil
		}); err != nil {
			return err
		}
		return access.ForEach(tx, func(k string, t time.Time) error {
			last[k] = t
			return nil
		})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("engine: load items: %w", err)
	}
	return recs, last, nil
}

// errStop ends a ForEach early.
var errStop = errors.New("stop")
