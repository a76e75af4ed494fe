package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shoal-p2p/shoal/cdn/membership"
	"github.com/shoal-p2p/shoal/storage"
)

// Members is what the catalog needs of the member table;
// *membership.Table satisfies it.
type Members interface {
	ID() string
	Self() membership.Record
	Member(id string) (membership.Member, bool)
	Members() []membership.Member
	SetCatalogVersion(v uint64) error
	Subscribe(fn func(membership.Change)) (cancel func())
}

// Config tunes the catalog; zero values take the defaults.
type Config struct {
	// Interval is how often Run checks every member's catalog version,
	// besides reacting to membership changes at once (default 5s).
	Interval time.Duration
	// RetryAfter is the wait before fetching again from a member whose
	// catalog could not be fetched (default 10s).
	RetryAfter time.Duration
	// OnChange, if set, is called after the local or the network catalog
	// changed, with the id of the node whose catalog it was, from a
	// goroutine of the catalog's own; it may call the catalog.
	OnChange func(node string)
	// HTTPClient fetches members' catalogs. The default has short
	// timeouts and uses no proxy.
	HTTPClient *http.Client
	// PeerTLS has catalogs fetched over https; HTTPClient is then a
	// peertls client, which checks the member's key.
	PeerTLS bool
	Logger  *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Interval <= 0 {
		c.Interval = 5 * time.Second
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Catalog is one node's view of what the network shares. Its methods are
// safe for concurrent use.
type Catalog struct {
	cfg       Config
	db        *storage.DB
	members   Members
	log       *slog.Logger
	client    *http.Client
	ownClient bool

	mu      sync.Mutex
	version uint64
	local   map[string]Item   // by info hash
	remote  map[string]remote // by node id
	tries   map[string]try    // by node id, fetches of this run
	closed  bool

	wake        chan struct{}
	unsubscribe func()

	// Changes waiting for OnChange, and the goroutine that delivers them.
	pending    map[string]bool
	notify     chan struct{}
	notifyDone chan struct{}
}

// remote is a member's catalog as last fetched.
type remote struct {
	Version uint64    `json:"version"`
	Items   []Item    `json:"items"`
	Fetched time.Time `json:"fetched"`
}

// try is the last fetch attempt from a member.
type try struct {
	version uint64 // the version its record showed
	at      time.Time
	failed  bool
}

// New opens the catalog stored in db, puts its version into the local
// record and follows the member table's changes. Run fetches.
func New(db *storage.DB, members Members, cfg Config) (*Catalog, error) {
	cfg.setDefaults()
	c := &Catalog{
		cfg:     cfg,
		db:      db,
		members: members,
		log:     cfg.Logger,
		client:  cfg.HTTPClient,
		local:   make(map[string]Item),
		remote:  make(map[string]remote),
		tries:   make(map[string]try),
		wake:    make(chan struct{}, 1),
		pending: make(map[string]bool),
		notify:  make(chan struct{}, 1),
	}
	if c.client == nil {
		c.client = &http.Client{
			Timeout: 10 * time.Second,
			Transport: &http.Transport{
				Proxy:                 nil,
				DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
				ResponseHeaderTimeout: 5 * time.Second,
				MaxIdleConnsPerHost:   2,
				IdleConnTimeout:       30 * time.Second,
			},
		}
		c.ownClient = true
	}
	if err := c.load(); err != nil {
		return nil, err
	}
	if err := members.SetCatalogVersion(c.version); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	c.unsubscribe = members.Subscribe(c.onMemberChange)
	if cfg.OnChange != nil {
		c.notifyDone = make(chan struct{})
		go c.deliver()
	}
	return c, nil
}

// Close stops following the member table. It does not close the database.
func (c *Catalog) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.unsubscribe()
	if c.notifyDone != nil {
		close(c.notify)
		<-c.notifyDone
	}
	if c.ownClient {
		c.client.CloseIdleConnections()
	}
	return nil
}

// Version is the local catalog's version.
func (c *Catalog) Version() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.version
}

// Local lists the local catalog by name.
func (c *Catalog) Local() []Item {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Item, 0, len(c.local))
	for _, it := range c.local {
		out = append(out, it.clone())
	}
	sortItems(out)
	return out
}

// AddLocal adds or replaces an item of the local catalog. An empty
// Publisher, PublisherName or Published is kept from the item it replaces,
// or else is this node, this node's name and now. An item equal to the one
// stored changes nothing.
func (c *Catalog) AddLocal(it Item) error {
	it = it.clone()
	if _, err := ParseInfoHash(it.InfoHash); err != nil {
		return err
	}
	self := c.members.Self()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errClosed
	}
	old, had := c.local[strings.ToLower(it.InfoHash)]
	switch {
	case it.Publisher == "" && had:
		it.Publisher, it.PublisherName = old.Publisher, old.PublisherName
	case it.Publisher == "":
		it.Publisher, it.PublisherName = self.ID, self.Name
	}
	if it.Published.IsZero() {
		it.Published = old.Published
		if !had {
			it.Published = time.Now().UTC()
		}
	}
	if err := it.validate(); err != nil {
		return err
	}
	if had && sameJSON(old, it) {
		return nil
	}
	next := maps.Clone(c.local)
	next[it.InfoHash] = it
	return c.commitLocal(next, func(tx *storage.Tx) error { return localBucket.Put(tx, it.InfoHash, it) })
}

func sameJSON(a, b any) bool {
	ra, err1 := json.Marshal(a)
	rb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ra, rb)
}

// RemoveLocal removes an item from the local catalog; removing one that is
// not there changes nothing.
func (c *Catalog) RemoveLocal(infoHash string) error {
	ih, err := ParseInfoHash(infoHash)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errClosed
	}
	if _, ok := c.local[ih]; !ok {
		return nil
	}
	next := maps.Clone(c.local)
	delete(next, ih)
	return c.commitLocal(next, func(tx *storage.Tx) error { return localBucket.Delete(tx, ih) })
}

// commitLocal stores a change of the local catalog with a new version and
// puts the version into the local record, so gossip announces it. Called
// with c.mu held, which keeps versions and records in step.
func (c *Catalog) commitLocal(next map[string]Item, write func(tx *storage.Tx) error) error {
	// The version is also the time in milliseconds, so it keeps growing
	// even if the database is lost: members compare versions for equality.
	v := max(c.version+1, uint64(time.Now().UnixMilli()))
	err := c.db.Update(func(tx *storage.Tx) error {
		if err := write(tx); err != nil {
			return err
		}
		return metaBucket.Put(tx, versionKey, v)
	})
	if err != nil {
		return fmt.Errorf("catalog: store: %w", err)
	}
	c.local, c.version = next, v
	if err := c.members.SetCatalogVersion(v); err != nil {
		return fmt.Errorf("catalog: announce version: %w", err)
	}
	c.changed(c.members.ID())
	return nil
}

// changed queues a call of OnChange. Called with c.mu held.
func (c *Catalog) changed(node string) {
	if c.cfg.OnChange == nil || c.closed {
		return
	}
	c.pending[node] = true
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// deliver calls OnChange for queued changes until Close.
func (c *Catalog) deliver() {
	defer close(c.notifyDone)
	for range c.notify {
		c.mu.Lock()
		nodes := slices.Sorted(maps.Keys(c.pending))
		clear(c.pending)
		c.mu.Unlock()
		for _, n := range nodes {
			c.cfg.OnChange(n)
		}
	}
}

func sortItems(items []Item) {
	slices.SortFunc(items, func(a, b Item) int { return compareItems(a, b) })
}
