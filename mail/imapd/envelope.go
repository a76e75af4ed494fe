package imapd

import (
	"bufio"
	"bytes"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"
)

// envelopeCache keeps the envelopes of bodies the server has parsed, by
// body ID. A body never changes, so an entry is never stale; the cache only
// saves reading and parsing the header again, the bulk of a client's
// FETCH (ENVELOPE FLAGS) of a whole mailbox. It is Dovecot's cache file
// without the file: filled by the first FETCH after a start.
type envelopeCache struct {
	mu    sync.Mutex
	max   int
	byID  map[string]*imap.Envelope
	order []string // insertion order, oldest first: the eviction order
	head  int      // index of the oldest entry in order once it is full
}

func newEnvelopeCache(max int) *envelopeCache {
	return &envelopeCache{max: max, byID: make(map[string]*imap.Envelope)}
}

func (c *envelopeCache) get(id string) (*imap.Envelope, bool) {
	if id == "" {
		return nil, false
	}
	c.mu.Lock()
	e, ok := c.byID[id]
	c.mu.Unlock()
	return e, ok
}

func (c *envelopeCache) put(id string, e *imap.Envelope) {
	if id == "" || c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byID[id]; ok {
		return
	}
	if len(c.order) < c.max {
		c.order = append(c.order, id)
	} else {
		delete(c.byID, c.order[c.head])
		c.order[c.head] = id
		c.head = (c.head + 1) % c.max
	}
	c.byID[id] = e
}

// envelope parses the envelope of a body (or of its header alone).
func envelope(body []byte) *imap.Envelope {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(body)))
	if err != nil {
		return &imap.Envelope{}
	}
	return imapserver.ExtractEnvelope(h)
}
