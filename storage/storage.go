// Package storage is a node's one bbolt database, shoal.db.
//
// It opens the file with a lock timeout (a second process on the same data
// dir fails at once instead of hanging), gives typed buckets whose values are
// JSON, keeps a schema version per component with ordered migrations, and
// writes consistent snapshots for backups. Each domain package owns its bucket
// names, record types and migrations; storage imports no project package.
package storage

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Tx is a bbolt transaction, so domain packages need not import bbolt.
type Tx = bbolt.Tx

// ErrLocked reports that another process holds the database open.
var ErrLocked = errors.New("storage: the database is in use by another process")

// lockTimeout bounds the wait for bbolt's file lock: long enough to ride out a
// process that is just closing, short enough that a second node fails at once.
const lockTimeout = 300 * time.Millisecond

// DB is an open shoal.db.
type DB struct {
	bolt *bbolt.DB
	path string
}

// Open opens or creates the database at path. If another process has it
// open, Open fails with an error wrapping ErrLocked.
func Open(path string) (*DB, error) {
	b, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: lockTimeout, FreelistType: bbolt.FreelistMapType})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s (is a node already running on this data dir?)", ErrLocked, path)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	db := &DB{bolt: b, path: path}
	if err := db.Update(func(tx *Tx) error {
		_, err := tx.CreateBucketIfNotExists(metaBucket)
		return err
	}); err != nil {
		b.Close()
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	return db, nil
}

// Path is the database file's path.
func (db *DB) Path() string { return db.path }

// Close closes the database. Closing twice is harmless.
func (db *DB) Close() error {
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("storage: close: %w", err)
	}
	return nil
}

// View runs fn in a read-only transaction.
func (db *DB) View(fn func(tx *Tx) error) error { return db.bolt.View(fn) }

// Update runs fn in a read-write transaction, committed (and fsynced) when fn
// returns nil.
func (db *DB) Update(fn func(tx *Tx) error) error { return db.bolt.Update(fn) }

// Batch is Update for many small concurrent writers: calls may be combined
// into one transaction, so fn may run more than once and must be idempotent.
func (db *DB) Batch(fn func(tx *Tx) error) error { return db.bolt.Batch(fn) }

// Backup writes a consistent snapshot of the whole database to w, taken in
// one read transaction while writers go on. The result is a valid shoal.db.
func (db *DB) Backup(w io.Writer) (int64, error) {
	var n int64
	err := db.View(func(tx *Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("storage: backup: %w", err)
	}
	return n, nil
}

// BackupFile writes a snapshot to path through a temporary file, so a
// half-written backup never stands under the final name.
func (db *DB) BackupFile(path string) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".shoal-backup-*")
	if err != nil {
		return 0, fmt.Errorf("storage: backup: %w", err)
	}
	defer os.Remove(tmp.Name())
	n, err := db.Backup(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return 0, fmt.Errorf("storage: backup to %s: %w", path, err)
	}
	return n, nil
}
