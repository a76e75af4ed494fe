package storage

import (
	"encoding/binary"
	"fmt"
)

var metaBucket = []byte("storage.meta")

// Migration moves one component's data from schema version Version-1 to
// Version. Apply runs in the same transaction that records the new version,
// so a migration either happens whole or not at all.
type Migration struct {
	Version int
	Name    string
	Apply   func(tx *Tx) error
}

// SchemaVersion is the schema version of component, 0 if it never migrated.
func (db *DB) SchemaVersion(component string) (int, error) {
	var v int
	err := db.View(func(tx *Tx) error {
		v = schemaVersion(tx, component)
		return nil
	})
	return v, err
}

func schemaVersion(tx *Tx, component string) int {
	raw := tx.Bucket(metaBucket).Get([]byte("schema/" + component))
	if len(raw) != 8 {
		return 0
	}
	return int(binary.BigEndian.Uint64(raw))
}

// Migrate brings component's schema up to the last of ms, applying in order
// each migration above the stored version, one transaction each. Versions
// must be 1, 2, 3, ... with no gaps. A database written by a newer Shoal
// (stored version above the last migration) is refused rather than misread.
func (db *DB) Migrate(component string, ms []Migration) error {
	for i, m := range ms {
		if m.Version != i+1 {
			return fmt.Errorf("storage: migrations of %s: entry %d has version %d, want %d", component, i, m.Version, i+1)
		}
	}
	cur, err := db.SchemaVersion(component)
	if err != nil {
		return fmt.Errorf("storage: migrate %s: %w", component, err)
	}
	if cur > len(ms) {
		return fmt.Errorf("storage: %s schema version %d is newer than this Shoal knows (%d); use a newer Shoal", component, cur, len(ms))
	}
	for _, m := range ms[cur:] {
		err := db.Update(func(tx *Tx) error {
			if err := m.Apply(tx); err != nil {
				return err
			}
			var raw [8]byte
			binary.BigEndian.PutUint64(raw[:], uint64(m.Version))
			return tx.Bucket(metaBucket).Put([]byte("schema/"+component), raw[:])
		})
		if err != nil {
			return fmt.Errorf("storage: migrate %s to version %d (%s): %w", component, m.Version, m.Name, err)
		}
	}
	return nil
}
