package membership

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/shoal-p2p/shoal/storage"
)

// Config says who the local node is and how the table behaves. Network and
// Name are required; zero durations and counts take the defaults below.
type Config struct {
	Network string
	// Name, Addresses, Ports and Services go into the local record when
	// the table opens; change them later with UpdateSelf.
	Name      string
	Addresses []netip.Addr
	Ports     map[string]int
	Services  []string
	// Seeds are HOST:PORT peer APIs that Run joins through for as long as
	// no other member answers (the --join flag).
	Seeds []string

	// Interval is the time between gossip rounds (default 2s).
	Interval time.Duration
	// Fanout is how many members each round gossips with (default 3).
	Fanout int
	// Pings is how many further members each round pings at least, those
	// pinged least recently first (default 3). More are pinged when the
	// table is large, so that each member is tried about three times
	// within SuspectAfter.
	Pings int
	// SuspectAfter is how long a member may go without answering before it
	// is marked down (default 15s).
	SuspectAfter time.Duration
	// RemoveAfter is the grace period after which a down member is removed
	// (default 10m).
	RemoveAfter time.Duration

	// DHT, when set, is used to announce this node's peer API under
	// DHTKey(Network) and to find other members, every DHTInterval
	// (default 1m).
	DHT         DHT
	DHTInterval time.Duration
	// DHTKey, when set, is the key announced under instead of
	// DHTKey(Network): a private network's is derived from its key, so
	// that outsiders cannot look members up. It is asked on every pass,
	// as a rekey changes it.
	DHTKey func() [20]byte

	// HTTPClient talks to other members' peer APIs. The default has short
	// timeouts and uses no proxy.
	HTTPClient *http.Client
	// PeerTLS has members called over https (HTTPClient is then a
	// peertls client, which checks their keys) and has gossip, which
	// changes the table, accepted over TLS only.
	PeerTLS bool
	Logger  *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Interval <= 0 {
		c.Interval = 2 * time.Second
	}
	if c.Fanout <= 0 {
		c.Fanout = 3
	}
	if c.Pings <= 0 {
		c.Pings = 3
	}
	if c.SuspectAfter <= 0 {
		c.SuspectAfter = 15 * time.Second
	}
	if c.RemoveAfter <= 0 {
		c.RemoveAfter = 10 * time.Minute
	}
	if c.DHTInterval <= 0 {
		c.DHTInterval = time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Table is the member table of one node: the local record and every member
// it knows, persisted in the node's database. Its methods are safe for
// concurrent use.
type Table struct {
	cfg       Config
	db        *storage.DB
	signer    Signer
	log       *slog.Logger
	client    *http.Client
	ownClient bool
	opened    time.Time

	mu        sync.Mutex
	self      Record
	members   map[string]*entry
	tombs     map[string]tombstone
	names     map[string]string // id -> display name, the local node included
	lastFlush time.Time
	outrun    time.Time // last time the local record was re-signed above a stray copy
	closed    bool

	subs subscribers
}

// entry is a member with what only this run needs.
type entry struct {
	Member
	lastAttempt time.Time // last time this node tried to reach it
	addr        string    // the peer API address that answered last
	dirty       bool      // LastSeen or RTT changed since the last flush
}

// tombstone remembers a removed member so that gossip from members who
// have not removed it yet does not bring it back.
type tombstone struct {
	Seq   uint64    `json:"seq"`
	Until time.Time `json:"until"`
	// Banned keeps out even the member's own newer records (Remove).
	Banned bool `json:"banned,omitempty"`
}

// New opens the member table stored in db and (re-)signs the local record
// from cfg with a fresh sequence number. It starts no goroutines but those
// of subscribers; Run does the gossip.
func New(db *storage.DB, signer Signer, cfg Config) (*Table, error) {
	cfg.setDefaults()
	if !ValidName(cfg.Network) {
		return nil, fmt.Errorf("membership: network %q is not a DNS label", cfg.Network)
	}
	if !ValidName(cfg.Name) {
		return nil, fmt.Errorf("membership: name %q is not a DNS label", cfg.Name)
	}
	t := &Table{
		cfg:     cfg,
		db:      db,
		signer:  signer,
		log:     cfg.Logger,
		client:  cfg.HTTPClient,
		opened:  time.Now(),
		members: make(map[string]*entry),
		tombs:   make(map[string]tombstone),
	}
	if t.client == nil {
		t.client = newHTTPClient()
		t.ownClient = true
	}
	if err := t.load(); err != nil {
		return nil, err
	}
	t.lastFlush = t.opened
	t.recomputeNames()
	return t, nil
}

func newHTTPClient() *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			// Peer traffic goes straight to the member, never through a proxy.
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			ResponseHeaderTimeout: 3 * time.Second,
			MaxIdleConnsPerHost:   2,
			IdleConnTimeout:       30 * time.Second,
		},
	}
}

// Close writes what is not yet written (last-seen times, round trips) and
// stops the subscribers. It does not close the database. Calling it twice
// is harmless.
func (t *Table) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	err := t.flushStats()
	t.mu.Unlock()
	t.subs.closeAll()
	if t.ownClient {
		t.client.CloseIdleConnections()
	}
	return err
}

// ID is the local node's id.
func (t *Table) ID() string { return NodeID(t.signer.PublicKey()) }

// Network is the network's name.
func (t *Table) Network() string { return t.cfg.Network }

// Self is the local node's current signed record.
func (t *Table) Self() Record {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.self.Clone()
}

// Members lists every member, the local node included, by display name.
func (t *Table) Members() []Member {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := []Member{t.selfMember()}
	for _, e := range t.members {
		out = append(out, t.snapshot(e))
	}
	slices.SortFunc(out, func(a, b Member) int {
		return cmp.Or(cmp.Compare(a.DisplayName, b.DisplayName), cmp.Compare(a.Record.ID, b.Record.ID))
	})
	return out
}

// Member is the member with node id id, the local node included.
func (t *Table) Member(id string) (Member, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id == t.self.ID {
		return t.selfMember(), true
	}
	e, ok := t.members[id]
	if !ok {
		return Member{}, false
	}
	return t.snapshot(e), true
}

// Lookup is the member shown under displayName.
func (t *Table) Lookup(displayName string) (Member, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, n := range t.names {
		if n != displayName {
			continue
		}
		if id == t.self.ID {
			return t.selfMember(), true
		}
		if e, ok := t.members[id]; ok {
			return t.snapshot(e), true
		}
	}
	return Member{}, false
}

// UpdateSelf changes the local record: fn edits a copy (name, addresses,
// ports, services, zone, catalog version; the identity fields are restored
// afterwards). If anything changed, the record is re-signed with a higher
// sequence number, stored and announced to subscribers; gossip spreads it.
// fn runs with the table locked and must not call it.
func (t *Table) UpdateSelf(fn func(r *Record)) (Record, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	next := t.self.Clone()
	fn(&next)
	var cs changeSet
	changed, err := t.resignSelf(next, time.Now(), &cs)
	if err != nil {
		return t.self.Clone(), err
	}
	if changed {
		t.publish(&cs)
	}
	return t.self.Clone(), nil
}

// SetCatalogVersion puts v into the local record, re-signing it if it
// differs.
func (t *Table) SetCatalogVersion(v uint64) error {
	_, err := t.UpdateSelf(func(r *Record) { r.CatalogVersion = v })
	return err
}

// resignSelf makes next the local record if it differs from the current
// one. Called with t.mu held.
func (t *Table) resignSelf(next Record, now time.Time, cs *changeSet) (bool, error) {
	cur := t.self
	next.Network = cur.Network
	next.PublicKey, next.ID = cur.PublicKey, cur.ID
	next.NameSince = cur.NameSince
	next.Seq, next.Time = cur.Seq, cur.Time
	if bytes.Equal(next.SigningBytes(), cur.SigningBytes()) {
		return false, nil
	}
	if next.Name != cur.Name {
		next.NameSince = now.UTC()
	}
	if err := t.signSelf(next, cur.Seq, now, cs); err != nil {
		return false, err
	}
	return true, nil
}

// signSelf signs next with a seq above prevSeq and makes it the local
// record. Called with t.mu held.
func (t *Table) signSelf(next Record, prevSeq uint64, now time.Time, cs *changeSet) error {
	now = now.UTC()
	next.Seq = nextSeq(prevSeq, now)
	next.Time = now
	next.Sign(t.signer)
	if err := next.Verify(); err != nil {
		return fmt.Errorf("membership: local record: %w", err)
	}
	if err := t.db.Update(func(tx *storage.Tx) error { return selfBucket.Put(tx, selfKey, next) }); err != nil {
		return fmt.Errorf("membership: store local record: %w", err)
	}
	t.self = next
	cs.note(Updated, next.ID)
	return nil
}

// nextSeq is above prev and, normally, the time in milliseconds: a node
// that lost its database still signs records newer than those others keep.
func nextSeq(prev uint64, now time.Time) uint64 {
	return max(prev+1, uint64(now.UnixMilli()))
}

func (t *Table) selfMember() Member {
	return Member{
		Record:      t.self.Clone(),
		DisplayName: t.names[t.self.ID],
		Self:        true,
		State:       Alive,
		LastSeen:    time.Now(),
		FirstSeen:   t.opened,
		NameSince:   t.self.NameSince,
	}
}

func (t *Table) snapshot(e *entry) Member {
	m := e.Member
	m.Record = e.Record.Clone()
	m.DisplayName = t.names[e.Record.ID]
	return m
}

// digest is id -> seq of every record worth spreading: the local one and
// those of members not down.
func (t *Table) digest() map[string]uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := map[string]uint64{t.self.ID: t.self.Seq}
	for id, e := range t.members {
		if e.State != Down {
			d[id] = e.Record.Seq
		}
	}
	return d
}

// diff answers a gossip digest: the records the caller lacks or has older,
// and the ids of records the caller has newer.
func (t *Table) diff(theirs map[string]uint64) (give []Record, want []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := theirs[t.self.ID]; !ok || s < t.self.Seq {
		give = append(give, t.self.Clone())
	}
	for id, e := range t.members {
		if e.State == Down {
			continue
		}
		if s, ok := theirs[id]; !ok || s < e.Record.Seq {
			give = append(give, e.Record.Clone())
		}
	}
	for id, s := range theirs {
		if id == t.self.ID || len(want) >= maxRecords {
			continue
		}
		if tomb, ok := t.tombs[id]; ok && (s <= tomb.Seq || tomb.Banned) {
			continue
		}
		if e, ok := t.members[id]; !ok || e.Record.Seq < s {
			want = append(want, id)
		}
	}
	slices.Sort(want)
	return give, want
}

// records are the stored records of ids, the local one included.
func (t *Table) records(ids []string) []Record {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Record
	for _, id := range ids {
		if id == t.self.ID {
			out = append(out, t.self.Clone())
		} else if e, ok := t.members[id]; ok {
			out = append(out, e.Record.Clone())
		}
	}
	return out
}

// check is what every record from outside must pass before it is applied.
func (t *Table) check(r *Record) error {
	if err := r.Verify(); err != nil {
		return err
	}
	if r.Network != t.cfg.Network {
		return fmt.Errorf("%w: %q, this is %q", ErrWrongNetwork, r.Network, t.cfg.Network)
	}
	return nil
}

var errClosed = errors.New("membership: table closed")
