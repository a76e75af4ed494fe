package catalog

import (
	"errors"
	"fmt"

	"github.com/shoal-p2p/shoal/storage"
)

// Buckets of the catalog package in the node's database.
var (
	localBucket  = storage.NewBucket[Item]("catalog.local")
	remoteBucket = storage.NewBucket[remote]("catalog.remote")
	metaBucket   = storage.NewBucket[uint64]("catalog.meta")
)

const versionKey = "version"

var errClosed = errors.New("catalog: closed")

var migrations = []storage.Migration{
	{Version: 1, Name: "create buckets", Apply: func(tx *storage.Tx) error {
		for _, name := range []string{localBucket.Name(), remoteBucket.Name(), metaBucket.Name()} {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return err
			}
		}
		return nil
	}},
}

func (c *Catalog) load() error {
	if err := c.db.Migrate("catalog", migrations); err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	err := c.db.View(func(tx *storage.Tx) error {
		v, err := metaBucket.Get(tx, versionKey)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		c.version = v
		if err := localBucket.ForEach(tx, func(ih string, it Item) error {
			c.local[ih] = it
			return nil
		}); err != nil {
			return err
		}
		return remoteBucket.ForEach(tx, func(id string, r remote) error {
			c.remote[id] = r
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("catalog: load: %w", err)
	}
	return nil
}

var errNoPeerAPI = errors.New("catalog: member advertises no peer API")
