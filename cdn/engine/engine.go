package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/dht/v2"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"golang.org/x/time/rate"

	"github.com/shoal-p2p/shoal/storage"
)

// Event types passed to Config.Publish.
const (
	EventProgress = "cdn.progress" // data: []Status of the items that are moving
	EventComplete = "cdn.complete" // data: Status of an item whose every piece is verified
	EventMissing  = "cdn.missing"  // data: Status of a published item whose files moved or changed
	EventEvicted  = "cdn.evicted"  // data: Item dropped from the cache
)

// DefaultCacheQuota bounds the gateway cache when Config.CacheQuota is 0.
const DefaultCacheQuota int64 = 10 << 30

// Sentinel errors, checked with errors.Is.
var (
	ErrClosed   = errors.New("engine: closed")
	ErrNotFound = errors.New("engine: no such item")
	ErrBadInput = errors.New("engine: bad input")
	ErrNoDHT    = errors.New("engine: the DHT is off")
)

// Config says how to run an engine. DB and DataDir are required.
type Config struct {
	// DB is the node's database; the engine keeps its buckets (cdn.*) there
	// and never closes it.
	DB *storage.DB
	// DataDir is the node's data dir; fetched content goes in DataDir/content.
	DataDir string
	// Bind is the address to listen on (default 127.0.0.1).
	Bind netip.Addr
	// Port is the BitTorrent port, TCP and UDP (uTP and the DHT); 0 picks a
	// free one, see Engine.Port.
	Port int
	// DHT turns the DHT server on. It starts from DHTStartingNodes (the
	// group's members and the nodes the user listed) and, with
	// DHTPublicRouters, from anacrolix's default public routers too; with
	// none of them, it waits for AddDHTNodes.
	DHT              bool
	DHTStartingNodes func() []netip.AddrPort
	DHTPublicRouters bool
	// Trackers gives the group's tracker announce URLs: listed in published
	// torrents and added to fetched ones. May be nil.
	Trackers func() []string
	// FindPeers, if set, is asked for peers of every torrent the engine starts
	// to fetch (members, hints); its answers are added as with AddPeers.
	FindPeers func(ctx context.Context, infohash string) []netip.AddrPort
	// Addr is the address other nodes reach this one at, told to trackers
	// (ip=) and put in magnets (x.pe, with the bound port); by default
	// Bind, unless Bind is unspecified (0.0.0.0 or ::): then none unless
	// set.
	Addr netip.Addr
	// Publisher names this node in the items it publishes.
	Publisher string
	// UploadRate and DownloadRate cap transfer in bytes/s; 0 is unlimited.
	// See SetRates.
	UploadRate, DownloadRate int64
	// CacheQuota bounds what the gateway keeps (default DefaultCacheQuota).
	CacheQuota int64
	// GatewayTimeout bounds how long the gateway looks for an unknown
	// torrent's metadata (default 30s).
	GatewayTimeout time.Duration
	// CheckInterval is how often published files are checked (default 30s).
	CheckInterval time.Duration
	// Private makes the torrents those of a private network (BEP 27): they
	// are published with the private flag, never announced to the DHT,
	// exchange no peers (PEX is off), announce only to Trackers, and
	// connect only to and from addresses AllowPeer takes, always
	// encrypted (MSE, RequirePreferred). The DHT itself still runs, for
	// membership. An open network's connections prefer encryption and
	// accept plain ones.
	Private bool
	// AllowPeer says whether a peer IP may connect or be connected to when
	// Private (the members' addresses). Nil with Private refuses all.
	AllowPeer func(netip.Addr) bool
	// TrackerDial, if set, connects to HTTP trackers (a private network's
	// members' trackers take its key handshake first).
	TrackerDial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Log receives the engine's logs (default: discarded).
	Log *slog.Logger
	// Publish receives events (Event*); may be nil.
	Publish func(eventType string, data any)
}

// Engine is one node's BitTorrent engine.
type Engine struct {
	cfg    Config
	log    *slog.Logger
	db     *storage.DB
	pc     *completion
	client *torrent.Client
	up     *rate.Limiter
	down   *rate.Limiter
	peers  *peerStore
	// addr is Config.Addr (or Bind), or the one SetAddr gave since (nil:
	// none).
	addr atomic.Pointer[netip.Addr]

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	mu     sync.Mutex
	items  map[metainfo.Hash]*item
	closed bool
	// announcing holds the tracker URLs each running torrent is announced
	// to (announce.go).
	announcing map[*torrent.Torrent]map[string]bool

	evictMu sync.Mutex // one eviction pass at a time

	dhtConns []net.PacketConn // the DHT servers' sockets (listen)
}

// item is the live state of one record. Fields are guarded by Engine.mu;
// rec is replaced whole, never edited in place.
type item struct {
	rec      record
	t        *torrent.Torrent // nil while paused or missing
	starting bool             // start is adding t
	missing  string           // why a published item cannot be served
	err      string           // the last thing that went wrong
	changed  chan struct{}    // closed and replaced when t or the state changes

	readers    int // gateway responses in progress
	lastAccess time.Time
	savedAt    time.Time // lastAccess as last written to the database

	// transfer rates, sampled by the progress loop
	sampledAt          time.Time
	lastRead, lastSent int64
	downRate, upRate   float64
}

func (it *item) notify() {
	close(it.changed)
	it.changed = make(chan struct{})
}

// Open starts an engine: it listens, then brings back every stored item
// (published items whose files moved or changed come back as missing).
func Open(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.DB == nil || cfg.DataDir == "" {
		return nil, fmt.Errorf("%w: Config.DB and Config.DataDir are required", ErrBadInput)
	}
	if !cfg.Bind.IsValid() {
		cfg.Bind = netip.MustParseAddr("127.0.0.1")
	}
	if cfg.CacheQuota <= 0 {
		cfg.CacheQuota = DefaultCacheQuota
	}
	if cfg.GatewayTimeout <= 0 {
		cfg.GatewayTimeout = 30 * time.Second
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = 30 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("engine: data dir: %w", err)
	}
	cfg.DataDir = dataDir
	if err := os.MkdirAll(contentDir(cfg.DataDir), 0o755); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if err := cfg.DB.Migrate("cdn.engine", migrations); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}

	e := &Engine{
		cfg:   cfg,
		log:   cfg.Log,
		db:    cfg.DB,
		pc:    newCompletion(cfg.DB, cfg.Log),
		up:    rate.NewLimiter(limitOf(cfg.UploadRate), 256<<10),
		down:  rate.NewLimiter(limitOf(cfg.DownloadRate), 256<<10),
		peers: newPeerStore(),
		items: make(map[metainfo.Hash]*item),
	}
	switch {
	case cfg.Addr.IsValid():
		e.SetAddr(cfg.Addr)
	case !cfg.Bind.IsUnspecified():
		e.SetAddr(cfg.Bind)
	}
	if err := e.listen(); err != nil {
		return nil, err
	}
	addDialers(e.client, cfg.Bind)
	e.ctx, e.cancel = context.WithCancel(context.Background())

	recs, last, err := loadRecords(e.db)
	if err != nil {
		e.Close()
		return nil, err
	}
	for _, rec := range recs {
		ih, err := parseInfoHash(rec.InfoHash)
		if err != nil {
			e.log.Warn("skipping stored item with a bad infohash", "infohash", rec.InfoHash)
			continue
		}
		it := &item{rec: rec, changed: make(chan struct{}), lastAccess: last[rec.InfoHash], savedAt: last[rec.InfoHash]}
		if it.lastAccess.IsZero() {
			it.lastAccess = rec.Added
		}
		e.items[ih] = it
	}
	for ih, it := range e.items {
		if err := ctx.Err(); err != nil {
			e.Close()
			return nil, fmt.Errorf("engine: open: %w", err)
		}
		if it.rec.Paused {
			continue
		}
		if it.rec.Origin == OriginPublished {
			if err := checkSigs(it.rec); err != nil {
				e.setMissing(ih, err)
				continue
			}
		}
		if err := e.start(ih); err != nil {
			e.log.Warn("cannot restart item", "infohash", ih.HexString(), "err", err)
		}
	}
	e.wg.Add(2)
	go e.loop()
	go func() {
		defer e.wg.Done()
		e.pc.run(e.ctx)
	}()
	e.log.Info("BitTorrent engine listening", "addr", netip.AddrPortFrom(cfg.Bind, uint16(e.Port())), "dht", cfg.DHT, "items", len(e.items))
	return e, nil
}

// maxRequestsPerPeer bounds the requests a download keeps open at one peer
// (32 blocks of 16 KiB: 512 KiB). anacrolix keeps up to 1000 (16 MiB) open
// at a peer that allows it, as anacrolix peers do: at a seeder whose upload
// is capped that is seconds of queue, and every downloader's queue is
// drawn from the same pieces, so the seeder sends many pieces twice or
// more (1.35 times the item with 8 nodes). With the split of share.go,
// 8 nodes took 8.8-9.1 s with 32 and 10.3 s with 64 (D_p2p 8 s); a single
// uncapped transfer on loopback is as fast with 32 as with 1000, and 512
// KiB covers the bandwidth-delay product of a fast LAN.
const maxRequestsPerPeer = 32

func contentDir(dataDir string) string { return filepath.Join(dataDir, "content") }

func limitOf(bytesPerSec int64) rate.Limit {
	if bytesPerSec <= 0 {
		return rate.Inf
	}
	return rate.Limit(bytesPerSec)
}

func (e *Engine) clientConfig() *torrent.ClientConfig {
	cfg := e.cfg
	cc := torrent.NewDefaultClientConfig()
	cc.DataDir = contentDir(cfg.DataDir)
	// Every torrent gets its own store; this one only keeps anacrolix from
	// opening its default sqlite/bolt completion database.
	cc.DefaultStorage = &fileStore{pc: e.pc, layout: downloadLayout(contentDir(cfg.DataDir))}
	host := cfg.Bind.String()
	if cfg.Bind.IsUnspecified() && cfg.Bind.Is6() {
		host = ""
	}
	cc.ListenHost = func(string) string { return host }
	cc.ListenPort = cfg.Port
	switch {
	case cfg.Bind.Is4():
		cc.DisableIPv6 = true
	case !cfg.Bind.IsUnspecified():
		cc.DisableIPv4 = true
	}
	// DHT nodes and peers (extended handshake) are told the address other
	// nodes reach this one at, as trackers are (announce.go).
	if a := e.addr.Load(); a != nil && a.Is4() {
		cc.PublicIp4 = a.AsSlice()
	} else if a != nil {
		cc.PublicIp6 = a.AsSlice()
	}
	cc.NoDefaultPortForwarding = true // no UPnP: the node talks only where it is told to
	cc.DisableWebtorrent = true       // WebRTC would reach out to public STUN servers
	cc.Seed = true
	// The engine chooses how to dial (addDialers): TCP only, from the bind
	// address.
	cc.DialForPeerConns = false
	// Two nodes that find each other at once (members, DHT, tracker) dial
	// each other both ways; anacrolix keeps both connections unless told,
	// so a node counted one peer twice and asked it for pieces on both.
	// Both ends keep the same one (the direction the lower peer ID dials).
	cc.DropDuplicatePeerIds = true
	// The engine announces to trackers itself (announce.go); torrents keep
	// their announce lists for their metainfo.
	cc.DisableTrackers = true
	// anacrolix's peer writer can miss a wake-up (tickleWriter broadcasts
	// without the writer's lock), leaving a wanted request unsent until the
	// writer's keep-alive timer fires: a stall of a whole minute by default.
	// A short timer bounds that stall; the cost is a 4-byte keep-alive on
	// idle connections we still want something from.
	cc.KeepAliveTimeout = 500 * time.Millisecond
	cc.UploadRateLimiter = e.up
	// A peer's extended handshake says how many requests it takes (reqq);
	// ask for no more than maxRequestsPerPeer whatever it says.
	cc.Callbacks.ReadExtendedHandshake = func(_ *torrent.PeerConn, d *pp.ExtendedHandshakeMessage) {
		if d.Reqq <= 0 || d.Reqq > maxRequestsPerPeer {
			d.Reqq = maxRequestsPerPeer
		}
	}
	cc.DownloadRateLimiter = e.down
	cc.PieceHashersPerTorrent = 4
	// Item 1 of issue 13: members' BitTorrent connections prefer MSE
	// (anacrolix's header obfuscation with RC4); a private network's
	// require it and take members only (see Config.Private).
	cc.HeaderObfuscationPolicy = torrent.HeaderObfuscationPolicy{Preferred: true, RequirePreferred: cfg.Private}
	if cfg.Private {
		cc.PeriodicallyAnnounceTorrentsToDht = false
		cc.DisablePEX = true
		cc.IPBlocklist = memberFilter{cfg.AllowPeer}
	}
	cc.Slogger = e.log.With("component", "torrent")
	// No uTP: peers are dialled over TCP (addDialers), and an accepted uTP
	// connection is as slow as a dialled one; a client that tries uTP
	// first falls back to TCP. The DHT runs on a UDP socket of the
	// engine's own (listen): anacrolix would otherwise open its uTP
	// socket for it.
	cc.DisableUTP = true
	cc.NoDHT = true
	cc.DhtStartingNodes = func(string) dht.StartingNodesGetter {
		return func() ([]dht.Addr, error) {
			var out []dht.Addr
			if cfg.DHTStartingNodes != nil {
				for _, ap := range cfg.DHTStartingNodes() {
					if ap.IsValid() && ap.Port() != 0 {
						out = append(out, dht.NewAddr(net.UDPAddrFromAddrPort(ap)))
					}
				}
			}
			if cfg.DHTPublicRouters {
				public, err := dht.GlobalBootstrapAddrs("udp")
				if err != nil {
					e.log.Warn("DHT: no public router resolved", "err", err)
				}
				out = append(out, public...)
			}
			if len(out) == 0 {
				// With no starting node at all, anacrolix/dht's bootstrap
				// returns without stopping the traversal it started, leaking
				// a goroutine every minute. A port-0 node never passes its
				// node filter, so the traversal starts, stalls and stops.
				out = append(out, dht.NewAddr(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 0}))
			}
			return out, nil
		}
	}
	cc.ConfigureAnacrolixDhtServer = func(sc *dht.ServerConfig) {
		sc.PeerStore = e.peers
		// anacrolix/dht shares one send limiter (25 packets/s, replies
		// dropped beyond it) among all servers of a process; each engine
		// gets its own.
		sc.SendLimiter = rate.NewLimiter(50, 50)
		// The member filter is for peer connections: the DHT that finds
		// members talks to the bootstrap nodes too.
		sc.IPBlocklist = nil
	}
	return cc
}

// listen starts the BitTorrent client on the bind address and port (TCP)
// and, with the DHT on, DHT servers on the same port over UDP. With port 0
// the UDP port that matches the one TCP got may be taken: a few tries.
func (e *Engine) listen() error {
	cfg := e.cfg
	for try := 1; ; try++ {
		cl, err := torrent.NewClient(e.clientConfig())
		if err != nil {
			return fmt.Errorf("engine: start BitTorrent client on %s port %d: %w", cfg.Bind, cfg.Port, err)
		}
		if !cfg.DHT {
			e.client = cl
			return nil
		}
		conns, err := startDHT(cl, cfg.Bind)
		if err == nil {
			e.client, e.dhtConns = cl, conns
			return nil
		}
		port := cl.LocalPort()
		cl.Close()
		if cfg.Port != 0 || try == 5 {
			return fmt.Errorf("engine: DHT on UDP %s port %d: %w", cfg.Bind, port, err)
		}
	}
}

// startDHT runs an anacrolix DHT server for cl on a UDP socket of cl's
// port, one per address family cl listens on, and returns the sockets. On
// an error it closes what it started.
func startDHT(cl *torrent.Client, bind netip.Addr) (conns []net.PacketConn, err error) {
	addrs := []netip.Addr{bind}
	if bind.Is6() && bind.IsUnspecified() { // "::": anacrolix listens on IPv4 and IPv6
		addrs = []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}
	}
	var servers []*dht.Server
	defer func() {
		if err != nil {
			for _, s := range servers {
				s.Close()
			}
			for _, pc := range conns {
				pc.Close()
			}
			conns = nil
		}
	}()
	port := uint16(cl.LocalPort())
	for _, a := range addrs {
		network := "udp4"
		if a.Is6() {
			network = "udp6"
		}
		pc, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, port)))
		if err != nil {
			return conns, err
		}
		conns = append(conns, pc)
		s, err := cl.NewAnacrolixDhtServer(pc)
		if err != nil {
			return conns, err
		}
		servers = append(servers, s)
		cl.AddDhtServer(torrent.AnacrolixDhtServerWrapper{Server: s})
	}
	return conns, nil
}

// addDialers sets how the client dials peers: over TCP only, and from the
// bind address when it is one.
//
// anacrolix dials TCP and uTP at once and keeps whichever connects first.
// Between two nodes uTP sometimes won, and go-libutp moved about 2 MiB/s
// with one request in flight where TCP moves 150-200 MiB/s on loopback:
// one uncapped 128 MiB transfer in six took a minute instead of under a
// second. uTP's point, yielding to other traffic (LEDBAT), is not what a
// group's CDN wants; the client does not accept uTP either (clientConfig).
//
// anacrolix also dials TCP with no local address, so the kernel picks the
// source: on a host with several addresses (nodes on 127.0.0.2 and
// 127.0.0.3, a machine on two networks) a peer saw the connection come
// from another address than the one the node listens on, and banned that
// one for bad data (127.0.0.1: every node on loopback) or passed it on by
// PEX.
func addDialers(cl *torrent.Client, bind netip.Addr) {
	for _, l := range cl.Listeners() {
		d, ok := l.(torrent.Dialer)
		if !ok || !strings.HasPrefix(d.DialerNetwork(), "tcp") {
			continue
		}
		if !bind.IsUnspecified() {
			d = torrent.NetworkDialer{Network: d.DialerNetwork(), Dialer: &net.Dialer{
				LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(bind, 0)),
				// As anacrolix's own: no dual-stack fallback, and BitTorrent
				// has keep-alives of its own.
				FallbackDelay: -1,
				KeepAlive:     -1,
			}}
		}
		cl.AddDialer(d)
	}
}

// SetAddr changes the address other nodes reach this one at (see
// Config.Addr): for magnets made from now on and the next announces.
func (e *Engine) SetAddr(a netip.Addr) { e.addr.Store(&a) }

// peerHint is this node's BitTorrent IP:port for magnets (x.pe), or "".
func (e *Engine) peerHint() string {
	if a := e.addr.Load(); a != nil {
		return netip.AddrPortFrom(*a, uint16(e.Port())).String()
	}
	return ""
}

// Port is the bound BitTorrent port (TCP and UDP).
func (e *Engine) Port() int { return e.client.LocalPort() }

// SetRates changes the upload and download caps (bytes/s, 0 = unlimited)
// while the engine runs.
func (e *Engine) SetRates(upload, download int64) {
	e.up.SetLimit(limitOf(upload))
	e.down.SetLimit(limitOf(download))
}

// Close stops the engine: connections close, torrents stop, last-access
// times are saved. The database stays open. Closing twice is harmless.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		e.mu.Lock()
		e.closed = true
		e.mu.Unlock()
		if e.cancel != nil {
			e.cancel()
		}
		e.pc.flush() // before the torrents' files close
		errs := e.client.Close()
		for _, s := range e.dhtServers() {
			s.Close()
		}
		for _, pc := range e.dhtConns {
			pc.Close() // the DHT server closes it too, in the background
		}
		e.wg.Wait()
		e.saveAccess(true)
		e.closeErr = errors.Join(errs...)
		if e.closeErr != nil {
			e.closeErr = fmt.Errorf("engine: close: %w", e.closeErr)
		}
	})
	return e.closeErr
}

// lookup finds an item by infohash text.
func (e *Engine) lookup(infohash string) (metainfo.Hash, *item, error) {
	ih, err := parseInfoHash(infohash)
	if err != nil {
		return ih, nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ih, nil, ErrClosed
	}
	it := e.items[ih]
	if it == nil {
		return ih, nil, fmt.Errorf("%w: %s", ErrNotFound, ih.HexString())
	}
	return ih, it, nil
}

func (e *Engine) publish(typ string, data any) {
	if e.cfg.Publish != nil {
		e.cfg.Publish(typ, data)
	}
}
