package membership

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"time"

	"github.com/shoal-p2p/shoal/storage"
)

// Buckets of the membership package in the node's database.
var (
	membersBucket = storage.NewBucket[Member]("membership.members")
	selfBucket    = storage.NewBucket[Record]("membership.self")
	tombBucket    = storage.NewBucket[tombstone]("membership.tombstones")
)

const selfKey = "record"

var migrations = []storage.Migration{
	{Version: 1, Name: "create buckets", Apply: func(tx *storage.Tx) error {
		for _, name := range []string{membersBucket.Name(), selfBucket.Name(), tombBucket.Name()} {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return err
			}
		}
		return nil
	}},
}

// statsFlushEvery bounds how often last-seen times and round trips, which
// change on every ping, are written: they are worth keeping across a
// restart, not worth an fsync per ping.
const statsFlushEvery = 30 * time.Second

// load reads the stored table and signs the local record afresh.
func (t *Table) load() error {
	if err := t.db.Migrate("membership", migrations); err != nil {
		return fmt.Errorf("membership: %w", err)
	}
	var (
		stored    Record
		haveStore bool
		members   []Member
	)
	err := t.db.View(func(tx *storage.Tx) error {
		r, err := selfBucket.Get(tx, selfKey)
		switch {
		case err == nil:
			stored, haveStore = r, true
		case !errors.Is(err, storage.ErrNotFound):
			return err
		}
		if err := membersBucket.ForEach(tx, func(_ string, m Member) error {
			members = append(members, m)
			return nil
		}); err != nil {
			return err
		}
		return tombBucket.ForEach(tx, func(id string, tomb tombstone) error {
			t.tombs[id] = tomb
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("membership: load: %w", err)
	}

	pub := t.signer.PublicKey()
	sameNode := haveStore && bytes.Equal(stored.PublicKey, pub)
	networkChanged := haveStore && stored.Network != t.cfg.Network
	if networkChanged {
		// Members of another network are of no use here and would be
		// refused by every member of this one.
		t.log.Info("membership: network changed; forgetting the old network's members",
			"old", stored.Network, "new", t.cfg.Network)
		members, t.tombs = nil, make(map[string]tombstone)
		if err := t.db.Update(func(tx *storage.Tx) error {
			for _, name := range []string{membersBucket.Name(), tombBucket.Name()} {
				if err := tx.DeleteBucket([]byte(name)); err != nil {
					return err
				}
				if _, err := tx.CreateBucket([]byte(name)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("membership: forget old network: %w", err)
		}
	}

	now := time.Now().UTC()
	var self Record
	if sameNode {
		self = stored.Clone()
	}
	self.Network = t.cfg.Network
	if !sameNode || networkChanged || self.Name != t.cfg.Name || self.NameSince.IsZero() {
		self.NameSince = now
	}
	self.Name = t.cfg.Name
	self.Addresses = append([]netip.Addr(nil), t.cfg.Addresses...)
	self.Ports = maps.Clone(t.cfg.Ports)
	self.Services = append([]string(nil), t.cfg.Services...)
	var prevSeq uint64
	if sameNode {
		prevSeq = stored.Seq
	}
	t.self = Record{PublicKey: pub, ID: NodeID(pub)}
	var cs changeSet
	if err := t.signSelf(self, prevSeq, now, &cs); err != nil {
		return err
	}

	for _, m := range members {
		if m.Record.ID == t.self.ID || m.Record.Network != t.cfg.Network {
			continue
		}
		t.members[m.Record.ID] = &entry{Member: m}
	}
	return nil
}

// flushStats writes the members whose last-seen time or round trip changed.
// Called with t.mu held.
func (t *Table) flushStats() error {
	var dirty []*entry
	for _, e := range t.members {
		if e.dirty {
			dirty = append(dirty, e)
		}
	}
	t.lastFlush = time.Now()
	if len(dirty) == 0 {
		return nil
	}
	err := t.db.Update(func(tx *storage.Tx) error {
		for _, e := range dirty {
			if err := membersBucket.Put(tx, e.Record.ID, e.Member); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("membership: store member stats: %w", err)
	}
	for _, e := range dirty {
		e.dirty = false
	}
	return nil
}
