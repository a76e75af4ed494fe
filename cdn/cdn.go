// Package cdn is Shoal's content delivery network: one node's BitTorrent
// engine (cdn/engine), member table (cdn/membership), catalog of the network
// (cdn/catalog) and tracker (cdn/tracker), served together on the node's
// peer API. The node starts a CDN with its database, identity and ports;
// the CLI, the GUI and the web client reach it through the node.
package cdn

import (
	"context"
	"crypto/tls"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shoal-p2p/shoal/cdn/catalog"
	"github.com/shoal-p2p/shoal/cdn/engine"
	"github.com/shoal-p2p/shoal/cdn/membership"
	"github.com/shoal-p2p/shoal/cdn/peertls"
	"github.com/shoal-p2p/shoal/cdn/pnet"
	"github.com/shoal-p2p/shoal/cdn/tracker"
	"github.com/shoal-p2p/shoal/storage"
)

// Config says who the node is and where the CDN listens.
type Config struct {
	DB      *storage.DB
	DataDir string
	Signer  membership.Signer
	Network string
	Name    string
	// Bind is the IP every peer-facing service listens on; with 0.0.0.0 or
	// :: they listen on all, and the node tells members the machine's
	// addresses (see advertised).
	Bind netip.Addr
	// PeerPort is the peer API's port, TorrentPort BitTorrent's (TCP and
	// UDP, with the DHT); 0 picks a free one.
	PeerPort, TorrentPort int
	// Join lists members' peer APIs (HOST:PORT) to join through.
	Join []string
	// DHTBootstrap lists DHT nodes (HOST:PORT, such as a member's
	// BitTorrent port) the DHT starts from besides the known members, so a
	// node given no Join can find the members through the DHT. Callers
	// check the entries with ParseHostPort; one that does not parse or
	// resolve is logged and skipped.
	DHTBootstrap []string
	// PublicDHT lets the DHT start from the public BitTorrent routers too;
	// by default it starts only from the group.
	PublicDHT bool
	// UploadRate and DownloadRate cap transfers in bytes/s; 0 = no cap.
	UploadRate, DownloadRate int64
	CacheQuota               int64
	// Membership tunes gossip and failure detection; zero values take the
	// defaults (tests shorten them).
	Membership MembershipTiming
	// MachineAddrs lists the machine's addresses, of which a node bound to
	// all (0.0.0.0, ::) advertises a choice (see advertised); by default
	// its network interfaces'. Tests give their own.
	MachineAddrs func() ([]netip.Addr, error)
	// NetworkKey makes the network private (cdn/pnet): the peer port
	// takes only connections that prove the key, then TLS; nil is an open
	// network. KeyFile is where a rekey from a member writes the new key.
	NetworkKey *pnet.Keys
	KeyFile    string
	Log        *slog.Logger
	// Publish sends progress and membership events to the node's bus.
	Publish func(eventType string, data any)
}

// MembershipTiming is how fast members gossip, give up on each other and
// look for each other through the DHT.
type MembershipTiming struct {
	Interval, SuspectAfter, RemoveAfter, CatalogInterval, DHTInterval time.Duration
	// AddressInterval is how often a node bound to all addresses looks
	// whether the machine's changed (default 30s).
	AddressInterval time.Duration
}

// Event types the CDN publishes besides the engine's.
const (
	EventMember  = "cdn.member"  // data: membership.Member after a change
	EventCatalog = "cdn.catalog" // data: {"node": id} whose catalog changed
)

// CDN is one node's part of the content delivery network.
type CDN struct {
	Engine  *engine.Engine
	Members *membership.Table
	Catalog *catalog.Catalog
	Tracker *tracker.Tracker

	// table and cat are Members and Catalog for the engine's callbacks,
	// which start before those two exist.
	table atomic.Pointer[membership.Table]
	cat   atomic.Pointer[catalog.Catalog]
	// sites serves the peer API's requests for a site's Host (SetSites).
	sites atomic.Pointer[siteHosts]
	// clients call members' peer APIs; Close closes their idle
	// connections.
	clients []*http.Client
	// peerTLS and peerPlain count requests to the member routes.
	peerTLS, peerPlain atomic.Int64
	cert               tls.Certificate
	// gate takes the peer port's connections in a private network.
	gate *pnet.Gate
	// rekeyMu makes one rekey at a time, sent or received.
	rekeyMu sync.Mutex

	cfg      Config
	addrs    atomic.Pointer[[]netip.Addr] // advertised: where other nodes reach this one
	peerLn   net.Listener
	srv      *http.Server
	ctx      context.Context // ends when the CDN closes
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	unsub    func()
	closeMu  sync.Once
	closeErr error
}

// Start opens the engine, the member table and the catalog and serves the
// peer API. On error nothing is left running.
func Start(ctx context.Context, cfg Config) (_ *CDN, err error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Publish == nil {
		cfg.Publish = func(string, any) {}
	}
	if cfg.MachineAddrs == nil {
		cfg.MachineAddrs = interfaceAddrs
	}
	if cfg.Membership.AddressInterval <= 0 {
		cfg.Membership.AddressInterval = 30 * time.Second
	}
	c := &CDN{cfg: cfg}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	publish := cfg.Publish
	cfg.Publish = func(typ string, data any) {
		publish(typ, data)
		if st, ok := data.(engine.Status); ok && typ == engine.EventComplete {
			c.holdsCopy(st)
		}
	}
	c.cfg = cfg
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	addrs, err := advertised(cfg.Bind, cfg.MachineAddrs)
	if err != nil {
		return nil, err
	}
	c.addrs.Store(&addrs)
	cert, err := peertls.Certificate(cfg.Signer, membership.NodeID(cfg.Signer.PublicKey()))
	if err != nil {
		return nil, fmt.Errorf("cdn: %w", err)
	}
	c.cert = cert
	peerClient := func(timeout, header time.Duration) *http.Client {
		cl := peertls.NewClient(cert, membership.NodeID, peertls.ClientConfig{
			Timeout: timeout, DialTimeout: 2 * time.Second, ResponseHeaderTimeout: header, Dial: c.dialRaw})
		c.clients = append(c.clients, cl)
		return cl
	}
	c.peerLn, err = listen(netip.AddrPortFrom(cfg.Bind, uint16(cfg.PeerPort)), "peer API", "--peer-port or ports.peer in shoal.toml")
	if err != nil {
		return nil, err
	}
	peerPort := c.peerLn.Addr().(*net.TCPAddr).Port

	c.Engine, err = engine.Open(ctx, engine.Config{
		DB:               cfg.DB,
		DataDir:          cfg.DataDir,
		Bind:             cfg.Bind,
		Addr:             addrs[0],
		Port:             cfg.TorrentPort,
		DHT:              true,
		DHTStartingNodes: c.dhtNodes,
		DHTPublicRouters: cfg.PublicDHT,
		Trackers:         c.trackers,
		FindPeers:        c.findPeers,
		Publisher:        membership.NodeID(cfg.Signer.PublicKey()),
		Private:          c.Private(),
		AllowPeer:        c.IsMemberAddr,
		TrackerDial:      c.dialRaw,
		UploadRate:       cfg.UploadRate,
		DownloadRate:     cfg.DownloadRate,
		CacheQuota:       cfg.CacheQuota,
		Log:              cfg.Log.With("part", "engine"),
		Publish:          cfg.Publish,
	})
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("cdn: BitTorrent port %d on %s is taken by another program; change it with --bittorrent-port or ports.bittorrent in shoal.toml", cfg.TorrentPort, cfg.Bind)
		}
		return nil, fmt.Errorf("cdn: %w", err)
	}

	c.Members, err = membership.New(cfg.DB, cfg.Signer, membership.Config{
		Network:      cfg.Network,
		Name:         cfg.Name,
		Addresses:    addrs,
		Ports:        map[string]int{membership.PeerPort: peerPort, "bittorrent": c.Engine.Port()},
		Services:     []string{"peer", "bittorrent", "tracker", "gateway"},
		Seeds:        cfg.Join,
		Interval:     cfg.Membership.Interval,
		SuspectAfter: cfg.Membership.SuspectAfter,
		RemoveAfter:  cfg.Membership.RemoveAfter,
		DHT:          c.Engine,
		DHTInterval:  cfg.Membership.DHTInterval,
		DHTKey:       c.dhtKey(),
		HTTPClient:   peerClient(5*time.Second, 3*time.Second),
		PeerTLS:      true,
		Logger:       cfg.Log.With("part", "membership"),
	})
	if err != nil {
		return nil, fmt.Errorf("cdn: %w", err)
	}
	c.table.Store(c.Members)
	c.Catalog, err = catalog.New(cfg.DB, c.Members, catalog.Config{
		Interval:   cfg.Membership.CatalogInterval,
		OnChange:   func(id string) { cfg.Publish(EventCatalog, map[string]string{"node": id}) },
		HTTPClient: peerClient(10*time.Second, 5*time.Second),
		PeerTLS:    true,
		Logger:     cfg.Log.With("part", "catalog"),
	})
	if err != nil {
		return nil, fmt.Errorf("cdn: %w", err)
	}
	c.cat.Store(c.Catalog)
	c.Tracker = tracker.New(tracker.Config{Logger: cfg.Log.With("part", "tracker")})
	c.unsub = c.Members.Subscribe(func(ch membership.Change) {
		cfg.Publish(EventMember, ch.Member)
		// A member learnt by gossip joins the DHT's routing table (the DHT
		// pings it first), so look-ups work in a group formed by --join.
		if m := ch.Member; !m.Self && m.State == membership.Alive && (ch.Kind == membership.Joined || ch.Kind == membership.StateChanged) {
			if ap, ok := endpoint(m, "bittorrent"); ok {
				c.Engine.AddDHTNodes([]netip.AddrPort{ap})
			}
		}
	})

	// Published items the catalog does not list yet (a crash between the
	// two writes) are added again.
	for _, it := range c.Engine.Published() {
		if _, ok := c.Catalog.Get(it.InfoHash); !ok {
			if err := c.Catalog.AddLocal(catalogItem(it, cfg.Name)); err != nil {
				cfg.Log.Warn("catalog: re-adding a published item failed", "infohash", it.InfoHash, "err", err)
			}
		}
	}

	mux := http.NewServeMux()
	c.Members.Routes(mux)
	c.Catalog.Routes(mux)
	c.Tracker.Routes(mux)
	mux.Handle(engine.GatewayPrefix, c.Engine.Gateway())
	c.srv = &http.Server{Handler: c.counted(c.byHost(mux)), ReadHeaderTimeout: 10 * time.Second,
		// Failed handshakes (scanners, TLS 1.2 clients) are no news.
		ErrorLog:    slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug),
		BaseContext: func(net.Listener) context.Context { return c.ctx }}
	c.rekeyRoutes(mux)
	if keys := cfg.NetworkKey; keys != nil {
		// A private network's peer port: the key handshake, then TLS;
		// nothing in clear, and nothing at all without the key.
		c.gate = pnet.NewGate(c.peerLn, keys, pnet.GateConfig{Log: cfg.Log.With("part", "pnet")})
		c.goRun(func() { c.srv.Serve(tls.NewListener(c.gate, peertls.ServerConfig(cert))) })
		keys.OnChange(func(uint64) {
			for _, cl := range c.clients {
				cl.CloseIdleConnections()
			}
		})
	} else {
		// One port for both: members call each other over TLS, standard
		// clients (aria2, browsers, curl, the proxy) in clear.
		tlsLn, plainLn := peertls.Split(c.peerLn, peertls.ServerConfig(cert), 10*time.Second)
		c.goRun(func() { c.srv.Serve(tlsLn) })
		c.goRun(func() { c.srv.Serve(plainLn) })
	}
	c.goRun(func() { c.Members.Run(c.ctx) })
	c.goRun(func() { c.Catalog.Run(c.ctx) })
	if cfg.Bind.IsUnspecified() {
		c.goRun(func() { c.followAddrs(c.ctx) })
	}
	return c, nil
}

// PeerRequests counts the requests the peer API answered to its member
// routes (/peer/), over TLS and in clear.
type PeerRequests struct {
	TLS, Plain int64
}

// PeerRequests is how many requests to the member routes came over TLS and
// how many in clear since Start.
func (c *CDN) PeerRequests() PeerRequests {
	return PeerRequests{TLS: c.peerTLS.Load(), Plain: c.peerPlain.Load()}
}

func (c *CDN) counted(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/peer/") {
			if r.TLS != nil {
				c.peerTLS.Add(1)
			} else {
				c.peerPlain.Add(1)
			}
		}
		h.ServeHTTP(w, r)
	})
}

// siteHosts is a handler for the hosts under a zone.
type siteHosts struct {
	zone string
	h    http.Handler
}

// SetSites has h answer the peer API's requests whose Host is a site,
// LABEL.NAME.ZONE (at least two labels under zone); the rest, NAME.ZONE
// and addresses, keep the peer API.
func (c *CDN) SetSites(zone string, h http.Handler) {
	c.sites.Store(&siteHosts{zone: "." + strings.ToLower(strings.Trim(zone, ".")), h: h})
}

func (c *CDN) byHost(peer http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := c.sites.Load(); s != nil {
			host := r.Host
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			host = strings.TrimSuffix(strings.ToLower(host), ".")
			if rest, ok := strings.CutSuffix(host, s.zone); ok && strings.Contains(rest, ".") {
				s.h.ServeHTTP(w, r)
				return
			}
		}
		peer.ServeHTTP(w, r)
	})
}

func (c *CDN) goRun(fn func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn()
	}()
}

// PeerAddr is the peer API's address as other nodes reach it (Addr and
// the bound port).
func (c *CDN) PeerAddr() string {
	return netip.AddrPortFrom(c.Addr(), uint16(c.peerLn.Addr().(*net.TCPAddr).Port)).String()
}

// Addr is the address other nodes reach this one at: the bind address, or
// the first of the machine's when it listens on all (see advertised).
func (c *CDN) Addr() netip.Addr { return (*c.addrs.Load())[0] }

// Close stops the peer API, the loops and the engine. It is idempotent.
func (c *CDN) Close() error {
	c.closeMu.Do(func() {
		var errs []error
		if c.cancel != nil {
			c.cancel()
		}
		if c.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			errs = append(errs, c.srv.Shutdown(ctx))
			cancel()
		}
		if c.peerLn != nil {
			c.peerLn.Close() // also when Shutdown came before Serve
		}
		if c.gate != nil {
			c.gate.Close()
		}
		c.wg.Wait()
		if c.unsub != nil {
			c.unsub()
		}
		if c.Catalog != nil {
			errs = append(errs, c.Catalog.Close())
		}
		if c.Members != nil {
			errs = append(errs, c.Members.Close())
		}
		if c.Engine != nil {
			errs = append(errs, c.Engine.Close())
		}
		for _, cl := range c.clients {
			cl.CloseIdleConnections()
		}
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}

// alive are the members other than this node that answer.
func (c *CDN) alive() []membership.Member {
	t := c.table.Load()
	if t == nil {
		return nil
	}
	var out []membership.Member
	for _, m := range t.Members() {
		if !m.Self && m.State == membership.Alive {
			out = append(out, m)
		}
	}
	return out
}

// endpoint is a member's service address, from its signed record.
func endpoint(m membership.Member, service string) (netip.AddrPort, bool) {
	port, ok := m.Record.Ports[service]
	if !ok || port <= 0 || len(m.Record.Addresses) == 0 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(m.Record.Addresses[0], uint16(port)), true
}

// dhtNodes starts the DHT from the members and the configured bootstrap
// nodes; public routers are the engine's to add, and only when asked.
func (c *CDN) dhtNodes() []netip.AddrPort {
	var out []netip.AddrPort
	for _, m := range c.alive() {
		if ap, ok := endpoint(m, "bittorrent"); ok {
			out = append(out, ap)
		}
	}
	for _, hp := range c.cfg.DHTBootstrap {
		aps, err := resolveHostPort(c.ctx, hp)
		if err != nil {
			c.cfg.Log.Warn("DHT bootstrap node not resolved", "node", hp, "err", err)
			continue
		}
		out = append(out, aps...)
	}
	return out
}

// ParseHostPort splits HOST:PORT, the address of another node's service,
// and checks the port (1 to 65535).
func ParseHostPort(s string) (host string, port uint16, err error) {
	host, p, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return "", 0, fmt.Errorf("%q is not HOST:PORT", s)
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return "", 0, fmt.Errorf("%q has no port from 1 to 65535", s)
	}
	return host, uint16(n), nil
}

// dnsTimeout bounds resolving one bootstrap node's host name.
const dnsTimeout = 5 * time.Second

// resolveHostPort turns HOST:PORT into addresses; an IP is taken as it is,
// a host name is looked up each time, as its addresses may change.
func resolveHostPort(ctx context.Context, s string) ([]netip.AddrPort, error) {
	host, port, err := ParseHostPort(s)
	if err != nil {
		return nil, err
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(ip.Unmap(), port)}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, dnsTimeout)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	out := make([]netip.AddrPort, len(ips))
	for i, ip := range ips {
		out[i] = netip.AddrPortFrom(ip.Unmap(), port)
	}
	return out, nil
}

// trackers are the announce URLs of the group: this node's and the members'.
func (c *CDN) trackers() []string {
	var out []string
	if c.peerLn != nil {
		out = append(out, "http://"+c.PeerAddr()+"/announce")
	}
	for _, m := range c.alive() {
		if ap, ok := endpoint(m, membership.PeerPort); ok {
			out = append(out, "http://"+ap.String()+"/announce")
		}
	}
	if c.Private() {
		// Over the key handshake (TrackerDial) and TLS: the trackers of a
		// private network answer members only.
		for i, u := range out {
			out[i] = "https" + strings.TrimPrefix(u, "http")
		}
	}
	return out
}

// findPeers are the BitTorrent addresses of the members that hold an item
// by the catalog, then of every other member (any member may have it cached).
func (c *CDN) findPeers(_ context.Context, infohash string) []netip.AddrPort {
	var first, rest []netip.AddrPort
	holders := map[string]bool{}
	if cat := c.cat.Load(); cat != nil {
		if e, ok := cat.Get(infohash); ok {
			for _, h := range e.Holders {
				holders[h.ID] = true
			}
		}
	}
	for _, m := range c.alive() {
		ap, ok := endpoint(m, "bittorrent")
		if !ok {
			continue
		}
		if holders[m.ID()] {
			first = append(first, ap)
		} else {
			rest = append(rest, ap)
		}
	}
	return append(first, rest...)
}

// holdsCopy lists a completed download in this node's catalog, so the
// network knows one more member holds a complete copy.
func (c *CDN) holdsCopy(st engine.Status) {
	cat := c.cat.Load()
	if cat == nil {
		return
	}
	it := catalogItem(st.Item, "")
	if e, ok := cat.Get(st.InfoHash); ok {
		it = e.Item // keep the publisher's description
	}
	if err := cat.AddLocal(it); err != nil {
		c.cfg.Log.Warn("catalog: listing a completed download failed", "infohash", st.InfoHash, "err", err)
	}
}

// Publish shares a file or folder and lists it in the catalog.
func (c *CDN) Publish(ctx context.Context, path, name string, progress func(done, total int64)) (engine.Item, error) {
	it, err := c.Engine.Publish(ctx, path, name, progress)
	if err != nil {
		return it, err
	}
	if err := c.Catalog.AddLocal(catalogItem(it, c.Members.Self().Name)); err != nil {
		return it, fmt.Errorf("cdn: publish %s: %w", path, err)
	}
	return it, nil
}

// Remove stops sharing an item and drops it from this node's catalog.
func (c *CDN) Remove(infohash string, withData bool) error {
	if err := c.Engine.Remove(infohash, withData); err != nil {
		return err
	}
	if _, ok := c.Catalog.Get(infohash); ok {
		return c.Catalog.RemoveLocal(infohash)
	}
	return nil
}

// Errors of Resolve: a name the catalog lacks, or one that several items share.
var (
	ErrUnknownName   = errors.New("cdn: unknown name")
	ErrAmbiguousName = errors.New("cdn: ambiguous name")
)

func isBase32(s string) bool {
	_, err := base32.StdEncoding.DecodeString(strings.ToUpper(s))
	return err == nil
}

// refreshWait bounds how long Resolve waits for members' catalogs when a
// name is not in this node's copy.
const refreshWait = 3 * time.Second

// Resolve turns what a user typed — a magnet, an infohash or an item's name
// in the network catalog — into something the engine fetches. A name this
// node does not know yet (published a moment ago elsewhere: catalogs follow
// the gossip by a second or two) is looked for again after asking the
// members for their catalogs.
func (c *CDN) Resolve(ctx context.Context, spec string) (string, error) {
	if ih, err := catalog.ParseInfoHash(spec); err == nil {
		return ih, nil
	}
	if len(spec) == 32 && isBase32(spec) { // the base32 form of an infohash
		return spec, nil
	}
	if len(spec) > 8 && spec[:8] == "magnet:?" {
		return spec, nil
	}
	found := c.named(spec)
	if len(found) == 0 {
		ctx, cancel := context.WithTimeout(ctx, refreshWait)
		c.Catalog.Refresh(ctx)
		cancel()
		found = c.named(spec)
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("%w: no item named %q in the network's catalog", ErrUnknownName, spec)
	case 1:
		if found[0].Item.Magnet != "" {
			return found[0].Item.Magnet, nil
		}
		return found[0].Item.InfoHash, nil
	default:
		return "", fmt.Errorf("%w: %d items are named %q; give the infohash", ErrAmbiguousName, len(found), spec)
	}
}

// named returns the network catalog's items named exactly name.
func (c *CDN) named(name string) []catalog.Entry {
	var found []catalog.Entry
	for _, e := range c.Catalog.Network() {
		if e.Item.Name == name {
			found = append(found, e)
		}
	}
	return found
}

func catalogItem(it engine.Item, publisherName string) catalog.Item {
	files := make([]catalog.File, len(it.Files))
	for i, f := range it.Files {
		files[i] = catalog.File{Path: f.Path, Size: f.Size}
	}
	kind := it.Type
	if it.Kind == engine.KindFolder && !engine.IsPresentation(it) {
		kind = engine.KindFolder
	}
	return catalog.Item{
		InfoHash: it.InfoHash, Name: it.Name, Size: it.Size, Files: files, Kind: kind,
		Publisher: it.Publisher, PublisherName: publisherName, Published: it.Time, Magnet: it.Magnet,
	}
}

func listen(ap netip.AddrPort, what, hint string) (net.Listener, error) {
	ln, err := net.Listen("tcp", ap.String())
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("cdn: %s port %s is taken by another program; change it with %s", what, ap, hint)
	}
	if err != nil {
		return nil, fmt.Errorf("cdn: %s on %s: %w", what, ap, err)
	}
	return ln, nil
}
