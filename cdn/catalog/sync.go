package catalog

import (
	"context"
	"time"

	"github.com/shoal-p2p/shoal/cdn/membership"
	"github.com/shoal-p2p/shoal/storage"
)

// maxParallelFetches bounds the members fetched from at once.
const maxParallelFetches = 4

// Run fetches members' catalogs until ctx ends: at once when a member's
// record shows a new catalog version, and every Interval for any it missed.
// It returns nil once ctx is done.
func (c *Catalog) Run(ctx context.Context) error {
	tick := time.NewTicker(c.cfg.Interval)
	defer tick.Stop()
	for {
		c.reconcile(ctx, false)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-c.wake:
		}
	}
}

// onMemberChange follows the member table: a removed member's items go at
// once; anything else may mean a new catalog version, which Run checks.
func (c *Catalog) onMemberChange(ch membership.Change) {
	if ch.Member.Self {
		return
	}
	if ch.Kind == membership.Removed {
		c.drop(ch.Member.Record.ID)
		return
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Refresh fetches the catalog of every member that is not down, whatever
// the versions say, and returns when all have answered or ctx ends. A name
// published a moment ago on another node is known after it, without
// waiting for the gossip to bring the member's new catalog version.
func (c *Catalog) Refresh(ctx context.Context) { c.reconcile(ctx, true) }

// reconcile drops the catalogs of members no longer in the table and
// fetches those whose version differs from the member's record (all of
// them if force).
func (c *Catalog) reconcile(ctx context.Context, force bool) {
	members := c.members.Members()
	inTable := make(map[string]bool, len(members))
	type job struct {
		id      string
		version uint64
		addrs   []string
	}
	var jobs []job
	now := time.Now()
	c.mu.Lock()
	for _, m := range members {
		id := m.Record.ID
		inTable[id] = true
		if m.Self || m.State == membership.Down {
			continue
		}
		v := m.Record.CatalogVersion
		have, ok := c.remote[id]
		if !force && ((ok && have.Version == v) || (!ok && v == 0)) {
			continue
		}
		if t, ok := c.tries[id]; !force && ok && t.version == v && (!t.failed || now.Sub(t.at) < c.cfg.RetryAfter) {
			continue
		}
		c.tries[id] = try{version: v, at: now}
		jobs = append(jobs, job{id, v, m.Record.PeerAddrs()})
	}
	var gone []string
	for id := range c.remote {
		if !inTable[id] {
			gone = append(gone, id)
		}
	}
	c.mu.Unlock()
	for _, id := range gone {
		c.drop(id)
	}

	sem := make(chan struct{}, maxParallelFetches)
	done := make(chan struct{})
	for _, j := range jobs {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; done <- struct{}{} }()
			c.fetchFrom(ctx, j.id, j.version, j.addrs)
		}()
	}
	for range jobs {
		<-done
	}
}

// fetchFrom fetches member id's catalog from the first of addrs that serves
// it, and stores it.
func (c *Catalog) fetchFrom(ctx context.Context, id string, version uint64, addrs []string) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	var (
		l   Listing
		err error
	)
	for _, addr := range addrs {
		if l, err = c.fetch(ctx, addr, id); err == nil {
			break
		}
	}
	if err == nil && len(addrs) == 0 {
		err = errNoPeerAPI
	}
	if err != nil {
		c.log.Warn("catalog: fetch refused or failed", "member", id, "err", err)
		c.mu.Lock()
		c.tries[id] = try{version: version, at: time.Now(), failed: true}
		c.mu.Unlock()
		return
	}
	c.store(id, remote{Version: l.Version, Items: l.Items, Fetched: time.Now().UTC()})
}

// store keeps member id's catalog, unless the member left meanwhile.
func (c *Catalog) store(id string, r remote) {
	if _, ok := c.members.Member(id); !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if err := c.db.Update(func(tx *storage.Tx) error { return remoteBucket.Put(tx, id, r) }); err != nil {
		c.log.Error("catalog: store", "member", id, "err", err)
		return
	}
	c.remote[id] = r
	c.log.Debug("catalog: fetched", "member", id, "version", r.Version, "items", len(r.Items))
	c.changed(id)
}

// drop forgets member id's catalog.
func (c *Catalog) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.tries, id)
	if _, ok := c.remote[id]; !ok || c.closed {
		return
	}
	if err := c.db.Update(func(tx *storage.Tx) error { return remoteBucket.Delete(tx, id) }); err != nil {
		c.log.Error("catalog: drop", "member", id, "err", err)
		return
	}
	delete(c.remote, id)
	c.log.Info("catalog: dropped the items of a removed member", "member", id)
	c.changed(id)
}
