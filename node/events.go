package node

import (
	"sync"
	"time"
)

// Event types published on the bus.
const (
	EventStarted       = "node.started"
	EventStopping      = "node.stopping"
	EventSettingsSaved = "settings.saved"
	EventLog           = "log"
)

// Event is one thing that happened in the node, for the GUI, the web client
// and the CLI. Seq increases by one per event, so a subscriber sees gaps.
type Event struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	Type string    `json:"type"`
	Data any       `json:"data,omitempty"`
}

// Bus fans events out to subscribers and keeps the most recent ones, so a
// window or web page opened late still shows what happened before.
type Bus struct {
	mu      sync.Mutex
	seq     uint64
	history []Event // ring of the last historySize events, oldest first
	subs    map[chan Event]struct{}
}

const (
	historySize   = 500
	subscriberBuf = 256
)

// NewBus makes an empty bus.
func NewBus() *Bus { return &Bus{subs: make(map[chan Event]struct{})} }

// Publish sends an event to every subscriber. It never blocks: a subscriber
// whose buffer is full misses the event and sees a gap in Seq.
func (b *Bus) Publish(typ string, data any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	ev := Event{Seq: b.seq, Time: time.Now().UTC(), Type: typ, Data: data}
	if len(b.history) == historySize {
		copy(b.history, b.history[1:])
		b.history = b.history[:historySize-1]
	}
	b.history = append(b.history, ev)
	for ch := range b.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

// Subscribe returns the kept events with Seq > since, a channel of the
// events that follow, and a function that ends the subscription.
func (b *Bus) Subscribe(since uint64) (backlog []Event, events <-chan Event, cancel func()) {
	ch := make(chan Event, subscriberBuf)
	b.mu.Lock()
	if since > b.seq {
		since = 0 // an id from before a restart of the node: send all that is kept
	}
	for _, ev := range b.history {
		if ev.Seq > since {
			backlog = append(backlog, ev)
		}
	}
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	var once sync.Once
	return backlog, ch, func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, ch)
			b.mu.Unlock()
		})
	}
}
