package membership

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Run gossips, pings and discovers until ctx ends. Every Interval it marks
// members down or removes them as their time runs out, gossips with Fanout
// random live members, pings Pings more (those pinged least recently, down
// ones included, so a member that comes back is seen), and joins through
// the seeds while no other member answers. With a DHT it announces and
// looks for members every DHTInterval. It returns nil once ctx is done.
func (t *Table) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	if t.cfg.DHT != nil {
		wg.Go(func() { t.discoverLoop(ctx) })
	}
	tick := time.NewTicker(t.cfg.Interval)
	defer tick.Stop()
	for {
		t.round(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (t *Table) discoverLoop(ctx context.Context) {
	tick := time.NewTicker(t.cfg.DHTInterval)
	defer tick.Stop()
	for {
		t.discover(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// target is a member to contact this round.
type target struct {
	id    string
	seq   uint64
	addrs []string // the one that answered last first
}

func (t *Table) round(ctx context.Context) {
	now := time.Now()
	t.expire(now)
	gossip, ping, lonely := t.pickTargets(now)
	var wg sync.WaitGroup
	for _, tg := range gossip {
		wg.Go(func() {
			t.contact(tg, func(addr string) error {
				_, err := t.gossip(ctx, addr, tg.id)
				return err
			})
		})
	}
	for _, tg := range ping {
		wg.Go(func() {
			t.contact(tg, func(addr string) error { return t.ping(ctx, addr, tg.id, tg.seq) })
		})
	}
	if lonely {
		for _, seed := range t.cfg.Seeds {
			wg.Go(func() {
				if err := t.Join(ctx, seed); err != nil {
					t.log.Debug("membership: join through seed", "seed", seed, "err", err)
				}
			})
		}
	}
	wg.Wait()
	t.mu.Lock()
	if !t.closed && time.Since(t.lastFlush) >= statsFlushEvery {
		if err := t.flushStats(); err != nil {
			t.log.Error("membership: flush", "err", err)
		}
	}
	t.mu.Unlock()
}

// contact tries tg's addresses in turn until fn succeeds on one, and
// marks the member failed if none does.
func (t *Table) contact(tg target, fn func(addr string) error) {
	var err error
	for _, addr := range tg.addrs {
		if err = fn(addr); err == nil {
			return
		}
	}
	if err != nil {
		t.markFailed(tg.id, err)
	}
}

// pickTargets chooses whom to gossip with and whom to ping this round;
// lonely says no other member is alive or suspect.
func (t *Table) pickTargets(now time.Time) (gossip, ping []target, lonely bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var live, all []*entry
	for _, e := range t.members {
		if len(e.Record.PeerAddrs()) == 0 {
			continue
		}
		all = append(all, e)
		if e.State != Down {
			live = append(live, e)
		}
	}
	lonely = len(live) == 0
	pool := live
	if lonely {
		// After a restart or a partition everyone may look down: keep
		// trying them, they are the way back in.
		pool = all
	}
	rand.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	chosen := make(map[string]bool)
	for _, e := range pool[:min(t.cfg.Fanout, len(pool))] {
		gossip = append(gossip, t.targetOf(e, now))
		chosen[e.Record.ID] = true
	}
	// Enough pings that each member is tried about three times within
	// SuspectAfter, however large the table.
	pings := max(t.cfg.Pings, int(int64(len(all))*3*int64(t.cfg.Interval)/int64(t.cfg.SuspectAfter))+1)
	slices.SortFunc(all, func(a, b *entry) int { return a.lastAttempt.Compare(b.lastAttempt) })
	for _, e := range all {
		if len(ping) == pings {
			break
		}
		if !chosen[e.Record.ID] {
			ping = append(ping, t.targetOf(e, now))
		}
	}
	return gossip, ping, lonely
}

// targetOf makes e's target and counts this as an attempt. Called with t.mu
// held.
func (t *Table) targetOf(e *entry, now time.Time) target {
	e.lastAttempt = now
	addrs := e.Record.PeerAddrs()
	if i := slices.Index(addrs, e.addr); i > 0 {
		addrs[0], addrs[i] = addrs[i], addrs[0]
	}
	return target{id: e.Record.ID, seq: e.Record.Seq, addrs: addrs}
}
