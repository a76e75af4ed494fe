package tracker

import (
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Config tunes the tracker; zero values take the defaults.
type Config struct {
	// Interval is how often clients should announce (default 2m); a peer
	// is forgotten after twice this without announcing.
	Interval time.Duration
	// MinInterval is the least time clients must wait between announces
	// (default Interval/4).
	MinInterval time.Duration
	// MaxPeers bounds the peers kept over all torrents (default 100000);
	// MaxTorrents the torrents (default 10000). When full, new peers and
	// torrents are refused until old ones expire.
	MaxPeers    int
	MaxTorrents int
	// DefaultNumWant is the number of peers returned when the client does
	// not say (default 50); MaxNumWant caps what it may ask for (200).
	DefaultNumWant int
	MaxNumWant     int
	// Allow, if set, limits the tracker to the torrents it accepts (for
	// instance those in the group's catalog).
	Allow func(infoHash [20]byte) bool
	// Now is the clock (default time.Now); tests turn it.
	Now    func() time.Time
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Interval <= 0 {
		c.Interval = 2 * time.Minute
	}
	if c.MinInterval <= 0 {
		c.MinInterval = c.Interval / 4
	}
	if c.MaxPeers <= 0 {
		c.MaxPeers = 100_000
	}
	if c.MaxTorrents <= 0 {
		c.MaxTorrents = 10_000
	}
	if c.DefaultNumWant <= 0 {
		c.DefaultNumWant = 50
	}
	if c.MaxNumWant <= 0 {
		c.MaxNumWant = 200
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Routes of the tracker on the peer API.
const (
	PathAnnounce = "/announce"
	PathScrape   = "/scrape"
)

// Tracker is an HTTP BitTorrent tracker. It is an http.Handler for
// /announce and /scrape; its methods are safe for concurrent use.
type Tracker struct {
	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	swarms    map[[20]byte]*swarm
	peers     int // over all swarms
	lastSweep time.Time
}

// New makes an empty tracker.
func New(cfg Config) *Tracker {
	cfg.setDefaults()
	return &Tracker{cfg: cfg, log: cfg.Logger, swarms: make(map[[20]byte]*swarm), lastSweep: cfg.Now()}
}

// Routes registers GET /announce and GET /scrape on the peer API's mux.
func (t *Tracker) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+PathAnnounce, t.serveAnnounce)
	mux.HandleFunc("GET "+PathScrape, t.serveScrape)
}

// ServeHTTP serves a path ending in /announce or /scrape, so the tracker can
// also be mounted under a prefix.
func (t *Tracker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch {
	case strings.HasSuffix(r.URL.Path, PathAnnounce):
		t.serveAnnounce(w, r)
	case strings.HasSuffix(r.URL.Path, PathScrape):
		t.serveScrape(w, r)
	default:
		http.NotFound(w, r)
	}
}

// Stats counts what the tracker holds.
type Stats struct {
	Torrents int `json:"torrents"`
	Peers    int `json:"peers"`
	Seeders  int `json:"seeders"`
}

// Stats counts the torrents and live peers.
func (t *Tracker) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweep(t.cfg.Now())
	s := Stats{Torrents: len(t.swarms), Peers: t.peers}
	for _, sw := range t.swarms {
		s.Seeders += sw.seeders
	}
	return s
}

// Swarm is what the tracker knows of one torrent.
type Swarm struct {
	Complete   int `json:"complete"`   // seeders
	Incomplete int `json:"incomplete"` // leechers
	Downloaded int `json:"downloaded"` // completed downloads reported
}

// Swarm reports on the torrent infoHash; ok is false if no live peer has
// announced it.
func (t *Tracker) Swarm(infoHash [20]byte) (s Swarm, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.cfg.Now()
	sw, ok := t.swarms[infoHash]
	if !ok {
		return Swarm{}, false
	}
	t.expireSwarm(infoHash, sw, now)
	if _, ok := t.swarms[infoHash]; !ok {
		return Swarm{}, false
	}
	return sw.info(), true
}
