package membership

import (
	"bytes"
	"fmt"
	"time"

	"github.com/shoal-p2p/shoal/storage"
)

// apply stores records that passed check. Records not newer than the stored
// ones are skipped and logged; a record of a removed member comes back only
// if it is newer than the one it was removed with, or if it comes from the
// member itself (owner is the id of the node that sent it as its own).
func (t *Table) apply(recs []Record, owner string) error {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return errClosed
	}
	var cs changeSet
	updated := map[string]*entry{}
	var untomb []string
	for _, r := range recs {
		if r.ID == t.self.ID {
			t.outrunSelf(r, now, &cs)
			continue
		}
		cur := updated[r.ID]
		if cur == nil {
			cur = t.members[r.ID]
		}
		if cur == nil {
			if tomb, ok := t.tombs[r.ID]; ok {
				if tomb.Banned || (r.Seq <= tomb.Seq && r.ID != owner) {
					// Members that have not removed it yet keep relaying it.
					t.log.Debug("membership: record skipped", "id", r.ID, "seq", r.Seq, "reason", ErrRemoved)
					continue
				}
				untomb = append(untomb, r.ID)
			}
		} else if r.Seq == cur.Record.Seq && bytes.Equal(r.Sig, cur.Record.Sig) {
			continue // already stored: the usual case for a sender's own record
		} else if err := fresher(r, cur.Record); err != nil {
			t.log.Info("membership: record rejected", "id", r.ID, "seq", r.Seq, "reason", err)
			continue
		}
		next := &entry{}
		if cur != nil {
			*next = *cur
		} else {
			next.FirstSeen = now
			next.State = Alive
		}
		next.Record = r.Clone()
		if cur == nil || cur.Record.Name != r.Name {
			next.NameSince = claimTime(r)
		}
		updated[r.ID] = next
	}
	if len(updated) == 0 && len(untomb) == 0 {
		t.publish(&cs)
		return nil
	}
	err := t.db.Update(func(tx *storage.Tx) error {
		for id, e := range updated {
			if err := membersBucket.Put(tx, id, e.Member); err != nil {
				return err
			}
		}
		for _, id := range untomb {
			if err := tombBucket.Delete(tx, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.publish(&cs)
		return fmt.Errorf("membership: store records: %w", err)
	}
	for _, id := range untomb {
		delete(t.tombs, id)
	}
	for id, e := range updated {
		e.dirty = false
		if _, ok := t.members[id]; ok {
			cs.note(Updated, id)
		} else {
			cs.note(Joined, id)
			t.log.Info("membership: member joined", "id", id, "name", e.Record.Name)
		}
		t.members[id] = e
	}
	t.publish(&cs)
	return nil
}

// fresher says why r may not replace cur, or nil if it may.
func fresher(r, cur Record) error {
	switch {
	case r.Seq < cur.Seq:
		return fmt.Errorf("%w: seq %d, stored %d", ErrStale, r.Seq, cur.Seq)
	case r.Seq == cur.Seq && bytes.Equal(r.Sig, cur.Sig):
		return fmt.Errorf("%w: seq %d already stored", ErrStale, r.Seq)
	case r.Seq == cur.Seq:
		// Signed by the member's own key, so the member itself signed two
		// different records with one seq; keep the first.
		return fmt.Errorf("%w: seq %d already stored with different contents", ErrStale, r.Seq)
	}
	return nil
}

// claimTime is when r's owner says it began to claim its name, never after
// the record itself.
func claimTime(r Record) time.Time {
	if r.NameSince.IsZero() || r.NameSince.After(r.Time) {
		return r.Time
	}
	return r.NameSince
}

// outrunSelf handles a record of the local node coming back through gossip.
// If it is newer than the local one, or as new but different (a restored
// database, a clock set back), the local record is re-signed above it, or
// others would keep the stray one. Called with t.mu held.
func (t *Table) outrunSelf(r Record, now time.Time, cs *changeSet) {
	if r.Seq < t.self.Seq || (r.Seq == t.self.Seq && bytes.Equal(r.Sig, t.self.Sig)) {
		return
	}
	if now.Sub(t.outrun) < outrunEvery {
		// Two nodes running with one key would outrun each other forever.
		return
	}
	t.outrun = now
	t.log.Warn("membership: another record of this node is in circulation; re-signing above it", "seq", r.Seq)
	if err := t.signSelf(t.self.Clone(), r.Seq, now, cs); err != nil {
		t.log.Error("membership: re-sign local record", "err", err)
	}
}

// outrunEvery bounds how often the local record is re-signed above a stray
// copy of itself.
const outrunEvery = time.Minute

// markSeen records that member id answered at addr after rtt.
func (t *Table) markSeen(id, addr string, rtt time.Duration) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.members[id]
	if !ok || t.closed {
		return
	}
	e.LastSeen = now
	e.lastAttempt = now
	e.addr = addr
	if e.RTT == 0 {
		e.RTT = rtt
	} else {
		// The smoothing of TCP's SRTT (RFC 6298): 7/8 old, 1/8 new.
		e.RTT = (7*e.RTT + rtt) / 8
	}
	e.dirty = true
	if e.State != Alive {
		prev := e.State
		e.State, e.DownSince = Alive, time.Time{}
		var cs changeSet
		t.storeState(e, &cs)
		t.publish(&cs)
		t.log.Info("membership: member answers again", "id", id, "name", e.Record.Name, "was", prev)
	}
}

// markFailed records that member id did not answer.
func (t *Table) markFailed(id string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.members[id]
	if !ok || t.closed {
		return
	}
	e.lastAttempt = time.Now()
	if e.State == Alive {
		e.State = Suspect
		var cs changeSet
		t.storeState(e, &cs)
		t.publish(&cs)
		t.log.Debug("membership: member suspect", "id", id, "name", e.Record.Name, "err", err)
	}
}

// storeState writes e after a state change. Called with t.mu held.
func (t *Table) storeState(e *entry, cs *changeSet) {
	err := t.db.Update(func(tx *storage.Tx) error { return membersBucket.Put(tx, e.Record.ID, e.Member) })
	if err != nil {
		// The state is soft: it is right in memory and is found again
		// after a restart by pinging.
		t.log.Error("membership: store member state", "id", e.Record.ID, "err", err)
	} else {
		e.dirty = false
	}
	cs.note(StateChanged, e.Record.ID)
}

// expire marks members down that have not answered for SuspectAfter and
// removes those down for RemoveAfter. Times before the table was opened
// count from the opening: a node that was off for a day does not drop its
// members before it has tried to reach them.
func (t *Table) expire(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	var cs changeSet
	for id, tomb := range t.tombs {
		if now.After(tomb.Until) {
			delete(t.tombs, id)
			t.deleteTomb(id)
		}
	}
	for id, e := range t.members {
		since := latest(e.LastSeen, e.FirstSeen, t.opened)
		if e.State != Down && now.Sub(since) > t.cfg.SuspectAfter {
			e.State, e.DownSince = Down, now
			t.storeState(e, &cs)
			t.log.Info("membership: member down", "id", id, "name", e.Record.Name, "last_seen", e.LastSeen)
			continue
		}
		if e.State == Down && now.Sub(latest(e.DownSince, t.opened)) > t.cfg.RemoveAfter {
			t.remove(e, now, false, &cs)
		}
	}
	t.publish(&cs)
}

// Remove drops the member id from the table now, as if it had been down
// for the whole grace period, and bans it for as long as a tombstone
// lasts: no record of it comes back, even one it sends itself (a rekey
// that removes it lets its open connections finish first).
func (t *Table) Remove(id string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return errClosed
	}
	if id == t.self.ID {
		return fmt.Errorf("membership: %s is this node", id)
	}
	e, ok := t.members[id]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotMember, id)
	}
	var cs changeSet
	t.remove(e, time.Now(), true, &cs)
	t.publish(&cs)
	if _, still := t.members[id]; still {
		return fmt.Errorf("membership: remove %s: not stored (see the log)", id)
	}
	return nil
}

// remove drops a member and leaves a tombstone, which bans it if banned.
// Called with t.mu held.
func (t *Table) remove(e *entry, now time.Time, banned bool, cs *changeSet) {
	id := e.Record.ID
	tomb := tombstone{Seq: e.Record.Seq, Until: now.Add(2 * (t.cfg.SuspectAfter + t.cfg.RemoveAfter)), Banned: banned}
	err := t.db.Update(func(tx *storage.Tx) error {
		if err := membersBucket.Delete(tx, id); err != nil {
			return err
		}
		return tombBucket.Put(tx, id, tomb)
	})
	if err != nil {
		t.log.Error("membership: remove member", "id", id, "err", err)
		return
	}
	cs.removed(t.snapshot(e))
	delete(t.members, id)
	t.tombs[id] = tomb
	t.log.Info("membership: member removed", "id", id, "name", e.Record.Name)
}

func (t *Table) deleteTomb(id string) {
	if err := t.db.Update(func(tx *storage.Tx) error { return tombBucket.Delete(tx, id) }); err != nil {
		t.log.Error("membership: delete tombstone", "id", id, "err", err)
	}
}

func latest(ts ...time.Time) time.Time {
	var m time.Time
	for _, t := range ts {
		if t.After(m) {
			m = t
		}
	}
	return m
}
