package node

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shoal-p2p/shoal/mail/queue"
	"github.com/shoal-p2p/shoal/storage"
)

// MailDelivery is what became of one message the node queued: the queue
// forgets a message once every recipient is done, this record stays (the
// last maxDeliveries of them), so the Sent folder can show it.
type MailDelivery struct {
	QueueID    string              `json:"queue_id"`
	MessageID  string              `json:"message_id"` // without <>
	From       string              `json:"from"`
	Queued     time.Time           `json:"queued"`
	Recipients []MailDeliveryState `json:"recipients"`
}

// MailDeliveryState is one recipient's state: queued (not tried yet),
// delivered (at Time to Host), deferred (Reason; tried again at
// NextAttempt), bounced (Reason) or dropped (by hand).
type MailDeliveryState struct {
	Address     string    `json:"address"`
	State       string    `json:"state"`
	Time        time.Time `json:"time"`
	Host        string    `json:"host,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
}

// maxDeliveries is how many delivery records the node keeps.
const maxDeliveries = 1000

var deliveryBucket = storage.NewBucket[MailDelivery]("node.mail.deliveries")

// mailDeliveryLog keeps the delivery records from the queue's events, in
// memory for reading and in bbolt, written by one goroutine so the queue
// never waits for a commit.
type mailDeliveryLog struct {
	db  *storage.DB
	get func(ctx context.Context, id string) (queue.Message, error)

	mu   sync.Mutex
	byID map[string]MailDelivery
	dirt chan string // queue ids to write
}

func openMailDeliveryLog(db *storage.DB) (*mailDeliveryLog, error) {
	l := &mailDeliveryLog{db: db, byID: map[string]MailDelivery{}, dirt: make(chan string, 1024)}
	err := db.View(func(tx *storage.Tx) error {
		return deliveryBucket.ForEach(tx, func(k string, d MailDelivery) error {
			l.byID[k] = d
			return nil
		})
	})
	return l, err
}

// record applies one queue event.
func (l *mailDeliveryLog) record(e queue.Event) {
	if l == nil {
		return
	}
	l.mu.Lock()
	d, ok := l.byID[e.ID]
	l.mu.Unlock()
	if !ok {
		if e.Kind != queue.EventQueued || l.get == nil {
			return
		}
		// The queue still holds a message it has just queued.
		m, err := l.get(context.Background(), e.ID)
		if err != nil {
			return
		}
		d = MailDelivery{QueueID: m.ID, MessageID: strings.Trim(m.MessageID, "<>"), From: m.From, Queued: m.Queued}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if cur, ok := l.byID[e.ID]; ok {
		d = cur
	}
	d.Recipients = slices.Clone(d.Recipients)
	i := slices.IndexFunc(d.Recipients, func(r MailDeliveryState) bool { return r.Address == e.Recipient })
	if i < 0 {
		d.Recipients = append(d.Recipients, MailDeliveryState{Address: e.Recipient})
		i = len(d.Recipients) - 1
	}
	r := &d.Recipients[i]
	r.State, r.Time, r.Attempts, r.NextAttempt = string(e.Kind), e.Time, e.Attempts, e.NextAttempt
	if e.Host != "" {
		r.Host = e.Host
	}
	if e.Kind != queue.EventDelivered {
		r.Reason = e.Reason
	} else {
		r.Reason = ""
	}
	l.byID[e.ID] = d
	select {
	case l.dirt <- e.ID:
	default:
		// The writer is far behind; the record is written with the next
		// event of the message, or lost on a crash: it is only a report.
	}
}

// serve writes changed records until ctx ends, then what is left.
func (l *mailDeliveryLog) serve(ctx context.Context) {
	for {
		select {
		case id := <-l.dirt:
			l.write(id)
		case <-ctx.Done():
			for {
				select {
				case id := <-l.dirt:
					l.write(id)
				default:
					return
				}
			}
		}
	}
}

func (l *mailDeliveryLog) write(id string) {
	l.mu.Lock()
	d, ok := l.byID[id]
	var old []string
	if len(l.byID) > maxDeliveries {
		for k := range l.byID {
			old = append(old, k)
		}
		slices.Sort(old) // queue ids start with the time
		old = old[:len(old)-maxDeliveries]
		for _, k := range old {
			delete(l.byID, k)
		}
	}
	l.mu.Unlock()
	// A failed write (the database closing) leaves the record in memory
	// only: it is a report, not mail.
	_ = l.db.Batch(func(tx *storage.Tx) error {
		for _, k := range old {
			if err := deliveryBucket.Delete(tx, k); err != nil {
				return err
			}
		}
		if !ok {
			return nil
		}
		return deliveryBucket.Put(tx, id, d)
	})
}

// list is every record, newest first.
func (l *mailDeliveryLog) list() []MailDelivery {
	if l == nil {
		return []MailDelivery{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]MailDelivery, 0, len(l.byID))
	for _, d := range l.byID {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b MailDelivery) int { return b.Queued.Compare(a.Queued) })
	return out
}

func (l *mailDeliveryLog) byMessageID() map[string]MailDelivery {
	out := map[string]MailDelivery{}
	for _, d := range l.list() {
		if d.MessageID != "" {
			if _, ok := out[d.MessageID]; !ok {
				out[d.MessageID] = d
			}
		}
	}
	return out
}

// MailDeliveries lists the delivery records of the messages this node
// queued, newest first; user "" gives everyone's.
func (n *Node) MailDeliveries(ctx context.Context, user string) ([]MailDelivery, error) {
	m, err := n.mailOn()
	if err != nil {
		return nil, err
	}
	all := n.mailDeliveries.list()
	if user == "" {
		return all, nil
	}
	from := strings.ToLower(user) + "@" + m.Domain
	return slices.DeleteFunc(all, func(d MailDelivery) bool { return !strings.EqualFold(d.From, from) }), nil
}
