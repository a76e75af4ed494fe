package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/shoal-p2p/shoal/storage"
)

// job is one delivery attempt: the due recipients of one message in one domain.
type job struct {
	id, domain string
}

// Serve delivers queued mail until ctx is cancelled, then waits for the
// attempts under way and returns nil. One Serve runs at a time.
func (q *Queue) Serve(ctx context.Context) error {
	if !q.serving.CompareAndSwap(false, true) {
		return errors.New("queue: Serve is already running")
	}
	defer q.serving.Store(false)
	var (
		mu       sync.Mutex
		inflight = map[job]bool{}
		wg       sync.WaitGroup
		finished = make(chan struct{}, 1)
	)
	defer wg.Wait()
	for {
		due, next, err := q.scan(q.opts.Now())
		if err != nil {
			q.log.Error("queue: scan", "err", err)
		}
		for _, j := range due {
			mu.Lock()
			busy := inflight[j] || len(inflight) >= q.opts.Concurrency
			if !busy {
				inflight[j] = true
			}
			mu.Unlock()
			if busy {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				q.attempt(ctx, j)
				mu.Lock()
				delete(inflight, j)
				mu.Unlock()
				select {
				case finished <- struct{}{}:
				default:
				}
			}()
		}
		wait := q.opts.PollInterval
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(q.opts.Now()), time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-q.kick:
		case <-finished:
		case <-t.C:
		}
		t.Stop()
	}
}

// scan finds the jobs due at now and the earliest later attempt; messages
// with a report owed to the sender count as due too (domain "").
func (q *Queue) scan(now time.Time) (due []job, next time.Time, err error) {
	err = q.db.View(func(tx *storage.Tx) error {
		return messages.ForEach(tx, func(id string, m Message) error {
			seen := map[string]bool{}
			for _, r := range m.Recipients {
				key := r.Domain
				if r.State != Pending {
					if !owed(m, r) {
						continue
					}
					key = "" // the report job
				}
				if r.NextAttempt.After(now) {
					if next.IsZero() || r.NextAttempt.Before(next) {
						next = r.NextAttempt
					}
					continue
				}
				if !seen[key] {
					seen[key] = true
					due = append(due, job{id, key})
				}
			}
			if len(m.Recipients) > 0 && done(m) && !seen[""] {
				due = append(due, job{id, ""}) // remove it
			}
			return nil
		})
	})
	return due, next, err
}

// done: every recipient delivered or bounced, with the reports sent.
func done(m Message) bool {
	for _, r := range m.Recipients {
		if r.State == Pending || owed(m, r) {
			return false
		}
	}
	return true
}

// outcome is what one attempt did for one recipient.
type outcome struct {
	delivered bool
	permanent bool   // a 5xx: bounce now
	status    string // enhanced status code
	reason    string
	host      string
}

// attempt runs job j: delivery for a domain, or the reports and clean-up of
// a message (domain "").
func (q *Queue) attempt(ctx context.Context, j job) {
	if j.domain == "" {
		q.finish(ctx, j.id)
		return
	}
	m, err := q.Get(ctx, j.id)
	if err != nil {
		return // dropped meanwhile
	}
	now := q.opts.Now()
	var rcpts []string
	for _, r := range m.Recipients {
		if r.Domain == j.domain && r.State == Pending && !r.NextAttempt.After(now) {
			rcpts = append(rcpts, r.Address)
		}
	}
	if len(rcpts) == 0 {
		return
	}
	raw, err := q.body(j.id)
	if err != nil {
		// Deferred like any failure, so a damaged record is not tried in a
		// tight loop; it bounces when its lifetime is over.
		q.log.Error("queue: body", "id", j.id, "err", err)
		if err := q.record(j.id, all(rcpts, outcome{status: "4.3.0", reason: fmt.Sprintf("reading the queued message: %v", err)})); err != nil {
			q.log.Error("queue: record attempt", "id", j.id, "err", err)
		}
		return
	}
	actx, cancel := context.WithTimeout(ctx, q.opts.Timeout)
	results := q.deliver(actx, m.From, j.domain, rcpts, raw)
	cancel()
	if ctx.Err() != nil {
		// Stopping: what was not answered is tried again after a restart.
		for addr, o := range results {
			if !o.delivered && !o.permanent {
				delete(results, addr)
			}
		}
	}
	if err := q.record(j.id, results); err != nil {
		q.log.Error("queue: record attempt", "id", j.id, "err", err)
	}
	q.finish(ctx, j.id)
}

// backoff is the wait after the n-th failed attempt: Postfix's doubling.
func (q *Queue) backoff(n int) time.Duration {
	d := q.opts.MinBackoff
	for i := 1; i < n && d < q.opts.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, q.opts.MaxBackoff)
}

// record commits the outcomes of an attempt and reports them.
func (q *Queue) record(id string, results map[string]outcome) error {
	now := q.opts.Now()
	var evs []Event
	err := q.db.Update(func(tx *storage.Tx) error {
		evs = evs[:0]
		m, err := messages.Get(tx, id)
		if errors.Is(err, storage.ErrNotFound) {
			return nil // dropped during the attempt
		}
		if err != nil {
			return err
		}
		for i := range m.Recipients {
			r := &m.Recipients[i]
			o, ok := results[r.Address]
			if !ok || r.State != Pending {
				continue
			}
			r.Attempts++
			r.LastAttempt = now
			r.Host = o.host
			r.LastReason = o.reason
			r.LastStatus = o.status
			ev := Event{ID: id, Recipient: r.Address, Time: now, Host: o.host, Reason: o.reason, Attempts: r.Attempts}
			switch {
			case o.delivered:
				r.State, r.DeliveredAt, r.NextAttempt = Delivered, now, time.Time{}
				ev.Kind = EventDelivered
			case o.permanent:
				r.State, r.NextAttempt = Bounced, time.Time{}
				ev.Kind = EventBounced
			case now.Sub(m.Queued) >= q.opts.Lifetime:
				r.State, r.NextAttempt = Bounced, time.Time{}
				r.LastReason = fmt.Sprintf("gave up after %d attempts in %v: %s", r.Attempts, now.Sub(m.Queued).Round(time.Second), o.reason)
				r.LastStatus = "5.4.7"
				ev.Kind, ev.Reason = EventBounced, r.LastReason
			default:
				r.NextAttempt = now.Add(q.backoff(r.Attempts))
				ev.Kind, ev.NextAttempt = EventDeferred, r.NextAttempt
			}
			evs = append(evs, ev)
		}
		return messages.Put(tx, id, m)
	})
	if err != nil {
		return err
	}
	for _, e := range evs {
		q.log.Info("queue: "+string(e.Kind), "id", id, "rcpt", e.Recipient, "host", e.Host, "reason", e.Reason, "attempts", e.Attempts)
	}
	q.emit(evs)
	return nil
}

// finish sends the reports a message owes its sender (bounces, and
// successes where NOTIFY asked), and removes a message whose recipients are
// all done.
func (q *Queue) finish(ctx context.Context, id string) {
	// One at a time, so that two jobs of one message never both see a
	// report as owed and send it twice.
	q.finishMu.Lock()
	defer q.finishMu.Unlock()
	m, err := q.Get(ctx, id)
	if err != nil {
		return
	}
	var due []Recipient
	now := q.opts.Now()
	for _, r := range m.Recipients {
		if owed(m, r) && !r.NextAttempt.After(now) {
			due = append(due, r)
		}
	}
	if len(due) > 0 {
		if err := q.report(ctx, m, due); err != nil {
			if now.Sub(m.Queued) < 2*q.opts.Lifetime {
				q.log.Error("queue: report, will try again", "id", id, "to", m.From, "err", err)
				q.reportLater(id, due)
				return
			}
			// A report that cannot be delivered for a second lifetime is
			// given up, or the message would stay forever.
			q.log.Error("queue: report given up", "id", id, "to", m.From, "err", err)
		}
	}
	err = q.db.Update(func(tx *storage.Tx) error {
		cur, err := messages.Get(tx, id)
		if err != nil {
			return err
		}
		for i := range cur.Recipients {
			for _, b := range due {
				if cur.Recipients[i].Address == b.Address {
					cur.Recipients[i].Notified = true
				}
			}
		}
		if done(cur) {
			if err := messages.Delete(tx, id); err != nil {
				return err
			}
			return tx.Bucket(bodies).Delete([]byte(id))
		}
		return messages.Put(tx, id, cur)
	})
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		q.log.Error("queue: finish", "id", id, "err", err)
	}
}

// reportLater puts off a report that could not be delivered.
func (q *Queue) reportLater(id string, bounced []Recipient) {
	later := q.opts.Now().Add(q.opts.MinBackoff)
	err := q.db.Update(func(tx *storage.Tx) error {
		m, err := messages.Get(tx, id)
		if err != nil {
			return err
		}
		for i := range m.Recipients {
			for _, b := range bounced {
				if m.Recipients[i].Address == b.Address {
					m.Recipients[i].NextAttempt = later
				}
			}
		}
		return messages.Put(tx, id, m)
	})
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		q.log.Error("queue: put off report", "id", id, "err", err)
	}
}
