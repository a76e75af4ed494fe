// Package node builds, starts and stops one Shoal node.
//
// It owns the node's config (shoal.toml), identity (identity.key), database
// (shoal.db, through storage), logs, event bus and the local control API that
// the GUI, the web client and the CLI use. Services start in order and stop in
// reverse; the database is closed last. Subsystems (cdn, naming, mail,
// streaming) are wired together here through the small interfaces they declare.
package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/shoal-p2p/shoal/cdn"
	"github.com/shoal-p2p/shoal/cdn/membership"
	"github.com/shoal-p2p/shoal/cdn/web/proxy"
	"github.com/shoal-p2p/shoal/naming"
	"github.com/shoal-p2p/shoal/storage"
	"github.com/shoal-p2p/shoal/streaming/packager"
)

// Version is Shoal's version; FyneApp.toml carries the same.
const Version = "0.1.0"

// Files of the data dir that the node writes besides config and identity.
const (
	DatabaseFile = "shoal.db"
	TokenFile    = "api-token"
	// UIAddressFile holds the control API's bound address while the node
	// runs, so the CLI finds it even when the configured port was 0.
	UIAddressFile = "ui-address"
)

// Options say how to start a node.
type Options struct {
	// DataDir holds the node's files; it is created if missing.
	DataDir string
	// Override applies command-line flags on top of shoal.toml. It may be nil.
	Override func(*Config)
	// Stderr receives human-readable logs; nil discards them.
	Stderr io.Writer
	// CDNTiming shortens gossip and failure detection; tests use it.
	CDNTiming cdn.MembershipTiming
	// MailClock stands in for the mail queue's clock (nil: time.Now); tests
	// move it past the queue lifetime to see a bounce.
	MailClock func() time.Time
	// MailPasswordCost is the bcrypt cost of new mail passwords (0: bcrypt's
	// default). Tests lower it: one login at cost 10 takes seconds under -race.
	MailPasswordCost int
	// Packaging tunes `publish --video` (tests use a fast x264 preset).
	Packaging packager.Options
	// Restarts says the program starts the node again when it asks to
	// (Node.RestartWanted), as `shoal node` does: creating or joining a
	// network then takes effect at once.
	Restarts bool
}

// Node is one running Shoal node.
type Node struct {
	dataDir string
	opts    Options
	started time.Time
	id      *Identity
	db      *storage.DB
	bus     *Bus
	log     *slog.Logger
	logFile io.Closer
	token   string
	api     *controlAPI
	cdn     *cdn.CDN
	// peerHTTP fetches from members' peer ports (gateways, sites).
	peerHTTP *http.Client
	dns      *naming.Service
	mail     *Mail // nil when mail is off
	// mailDeliveries records what became of queued mail; nil when mail is off.
	mailDeliveries *mailDeliveryLog
	proxy          *proxy.Proxy
	browser        *browseClient
	watching       watchSessions
	services       []service // started, in start order

	mu  sync.Mutex
	cfg Config // effective config of this run, with live changes

	closeOnce sync.Once
	closeErr  error

	restartOnce sync.Once
	restart     chan struct{} // closed when the node asks to be started again
}

// service is a part of the node that is started and stopped with it.
type service struct {
	name string
	stop func(ctx context.Context) error
}

// Start opens the data dir and starts every service. On error nothing is
// left running and the data dir is as it was, but for files created new.
func Start(ctx context.Context, opts Options) (_ *Node, err error) {
	if opts.DataDir == "" {
		return nil, errors.New("node: no data dir")
	}
	dir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("node: data dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("node: cannot create data dir %s: %w", dir, errors.Unwrap(err))
	}
	if err := syscall.Access(dir, 2 /* W_OK */); err != nil {
		return nil, fmt.Errorf("node: data dir %s is not writable", dir)
	}

	n := &Node{dataDir: dir, opts: opts, started: time.Now(), bus: NewBus(), restart: make(chan struct{})}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()

	// The database first: its lock keeps a second node off this data dir
	// before anything else in it is touched.
	if n.db, err = storage.Open(filepath.Join(dir, DatabaseFile)); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	cfgPath := filepath.Join(dir, ConfigFile)
	cfg, created, err := LoadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	if opts.Override != nil {
		opts.Override(&cfg)
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
	}
	if created {
		if err := SaveConfig(cfgPath, cfg); err != nil {
			return nil, err
		}
	}
	n.cfg = cfg
	if n.log, n.logFile, err = openLog(dir, cfg.Log.Level, opts.Stderr, n.bus); err != nil {
		return nil, err
	}
	if n.id, err = LoadOrCreateIdentity(filepath.Join(dir, IdentityFile)); err != nil {
		return nil, err
	}
	if n.token, err = loadOrCreateToken(filepath.Join(dir, TokenFile)); err != nil {
		return nil, err
	}
	if err := n.db.Migrate("node", nodeMigrations); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}

	if err := n.startCDN(ctx); err != nil {
		return nil, err
	}
	n.services = append(n.services, service{"watch sessions", n.stopWatching})
	if err := n.startNaming(ctx); err != nil {
		return nil, err
	}
	if err := n.startMail(ctx); err != nil {
		return nil, err
	}
	if err := n.startFTP(ctx); err != nil {
		return nil, err
	}
	if err := n.startProxy(ctx); err != nil {
		return nil, err
	}
	n.startSites()
	if err := n.startBrowser(); err != nil {
		return nil, err
	}
	if err := n.startAPI(); err != nil {
		return nil, err
	}

	n.log.Info("node started", "name", cfg.Name, "id", n.id.ID(), "network", cfg.Network,
		"ui", n.api.addr(), "data", dir, "config_created", created)
	n.bus.Publish(EventStarted, n.Status())
	return n, nil
}

func (n *Node) startAPI() error {
	api, err := newControlAPI(n)
	if err != nil {
		return err
	}
	n.api = api
	n.services = append(n.services, service{"control API", api.stop})
	if err := writeFileAtomic(filepath.Join(n.dataDir, UIAddressFile), []byte(api.addr()+"\n"), 0o600); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	return nil
}

// Close stops the services in reverse order of start and closes the
// database last. It is safe to call more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if n.log != nil && len(n.services) > 0 {
			n.bus.Publish(EventStopping, nil)
			n.log.Info("node stopping")
		}
		var errs []error
		for i := len(n.services) - 1; i >= 0; i-- {
			if err := n.services[i].stop(ctx); err != nil {
				errs = append(errs, fmt.Errorf("node: stop %s: %w", n.services[i].name, err))
			}
		}
		if n.api != nil {
			os.Remove(filepath.Join(n.dataDir, UIAddressFile))
		}
		if n.db != nil {
			if err := n.db.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if n.logFile != nil {
			n.logFile.Close()
		}
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// Log is the node's logger.
func (n *Node) Log() *slog.Logger { return n.log }

// Bus is the node's event bus.
func (n *Node) Bus() *Bus { return n.bus }

// Identity is the node's key pair.
func (n *Node) Identity() *Identity { return n.id }

// DataDir is the node's data dir, absolute.
func (n *Node) DataDir() string { return n.dataDir }

// UIAddress is the control API's bound address (host:port).
func (n *Node) UIAddress() string { return n.api.addr() }

// Config is the node's effective config.
func (n *Node) Config() Config {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cfg
}

// Service is one listening service, as shown in the status.
type Service struct {
	Name    string `json:"name"`
	Proto   string `json:"proto"`
	Address string `json:"address"`
	URL     string `json:"url,omitempty"`
}

// Status is what the node tells about itself.
type Status struct {
	Name      string `json:"name"`
	ID        string `json:"id"`
	PublicKey []byte `json:"public_key"`
	Network   string `json:"network"`
	// NetworkKind is "open" or "private".
	NetworkKind string    `json:"network_kind"`
	Version     string    `json:"version"`
	StartedAt   time.Time `json:"started_at"`
	UptimeS     float64   `json:"uptime_s"`
	DataDir     string    `json:"data_dir"`
	Services    []Service `json:"services"`
}

// Status reports the node's name, id, uptime and services.
func (n *Node) Status() Status {
	cfg := n.Config()
	return Status{
		Name:        cfg.Name,
		ID:          n.id.ID(),
		PublicKey:   n.id.PublicKey(),
		Network:     cfg.Network,
		NetworkKind: kindOf(n.cdn != nil && n.cdn.Private()),
		Version:     Version,
		StartedAt:   n.started.UTC(),
		UptimeS:     time.Since(n.started).Seconds(),
		DataDir:     n.dataDir,
		Services:    n.serviceList(),
	}
}

// serviceList lists the listening services for the status, each at the
// address other nodes reach it at.
func (n *Node) serviceList() []Service {
	out := []Service{{Name: "ui", Proto: "tcp", Address: n.api.addr(), URL: "http://" + n.api.addr() + "/"}}
	if n.cdn != nil {
		peer := n.cdn.PeerAddr()
		bt := netip.AddrPortFrom(n.cdn.Addr(), uint16(n.cdn.Engine.Port())).String()
		out = append(out,
			Service{Name: "peer", Proto: "tcp", Address: peer, URL: "http://" + peer + "/cdn/"},
			Service{Name: "tracker", Proto: "tcp", Address: peer, URL: "http://" + peer + "/announce"},
			Service{Name: "bittorrent", Proto: "tcp", Address: bt},
			Service{Name: "dht", Proto: "udp", Address: bt},
		)
	}
	if n.dns != nil {
		dns := n.dns.Addr()
		if dns.Addr().IsUnspecified() && n.cdn != nil {
			dns = netip.AddrPortFrom(n.cdn.Addr(), dns.Port())
		}
		out = append(out, Service{Name: "dns", Proto: "udp+tcp", Address: dns.String()})
	}
	if addr := n.ProxyAddr(); addr != "" {
		out = append(out, Service{Name: "proxy", Proto: "tcp", Address: addr, URL: "http://" + addr + "/proxy.pac"})
	}
	if n.mail != nil && n.cdn != nil {
		ports := n.cdn.Members.Self().Ports
		for _, name := range mailServices {
			if p, ok := ports[name]; ok {
				addr := netip.AddrPortFrom(n.cdn.Addr(), uint16(p)).String()
				out = append(out, Service{Name: name, Proto: "tcp", Address: addr, URL: mailURL(name, addr)})
			}
		}
	}
	if n.cdn != nil {
		if p, ok := n.cdn.Members.Self().Ports["ftp"]; ok {
			addr := netip.AddrPortFrom(n.cdn.Addr(), uint16(p)).String()
			out = append(out, Service{Name: "ftp", Proto: "tcp", Address: addr, URL: "ftp://" + addr + "/"})
		}
	}
	return out
}

// SettingsResult tells which saved settings wait for a restart.
type SettingsResult struct {
	Settings Config   `json:"settings"`
	Restart  []string `json:"restart_required"`
}

// Settings are the settings saved in shoal.toml, which may differ from the
// running config: Restart names those that wait for a restart. Flags given
// for this run are not settings and are not shown here.
func (n *Node) Settings() (SettingsResult, error) {
	saved, _, err := LoadConfig(filepath.Join(n.dataDir, ConfigFile))
	if err != nil {
		return SettingsResult{}, err
	}
	return SettingsResult{Settings: saved, Restart: pendingRestart(n.Config(), saved)}, nil
}

// pendingRestart names the settings of next that this run does not use.
func pendingRestart(running, next Config) []string {
	restart := []string{}
	if next.Network != running.Network || next.Private != running.Private {
		restart = append(restart, "network")
	}
	if next.Bind != running.Bind {
		restart = append(restart, "bind")
	}
	if next.UI != running.UI {
		restart = append(restart, "ui.address")
	}
	if next.Ports != running.Ports {
		restart = append(restart, "ports")
	}
	if !reflect.DeepEqual(next.DNS, running.DNS) {
		restart = append(restart, "dns")
	}
	if next.CDN.CacheQuotaMiB != running.CDN.CacheQuotaMiB {
		restart = append(restart, "cdn.cache_quota_mib")
	}
	if !slices.Equal(next.CDN.DHTBootstrap, running.CDN.DHTBootstrap) {
		restart = append(restart, "cdn.dht_bootstrap")
	}
	if next.CDN.PublicDHT != running.CDN.PublicDHT {
		restart = append(restart, "cdn.public_dht")
	}
	if !reflect.DeepEqual(next.Proxy, running.Proxy) {
		restart = append(restart, "proxy")
	}
	if next.Log != running.Log {
		restart = append(restart, "log.level")
	}
	if !slices.Equal(next.Join, running.Join) {
		restart = append(restart, "join")
	}
	return restart
}

// SaveSettings validates cfg, writes it to shoal.toml and applies what can
// change while running (the name). Invalid settings change nothing.
func (n *Node) SaveSettings(cfg Config) (SettingsResult, error) {
	cfg.fillLists()
	if err := cfg.Validate(); err != nil {
		return SettingsResult{}, fmt.Errorf("node: settings: %w", err)
	}
	if _, err := loadNetworkKey(n.dataDir, cfg); err != nil {
		return SettingsResult{}, fmt.Errorf("node: settings: %w", err) // private without a key would not start
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := SaveConfig(filepath.Join(n.dataDir, ConfigFile), cfg); err != nil {
		return SettingsResult{}, err
	}
	// The name and the rate caps change at once; the rest waits for a restart.
	if cfg.Name != n.cfg.Name && n.cdn != nil {
		if _, err := n.cdn.Members.UpdateSelf(func(r *membership.Record) { r.Name = cfg.Name }); err != nil {
			return SettingsResult{}, fmt.Errorf("node: rename: %w", err)
		}
	}
	n.cfg.Name = cfg.Name
	n.cfg.CDN.UploadKiBs, n.cfg.CDN.DownloadKiBs = cfg.CDN.UploadKiBs, cfg.CDN.DownloadKiBs
	if n.cdn != nil {
		n.cdn.Engine.SetRates(cfg.CDN.UploadKiBs<<10, cfg.CDN.DownloadKiBs<<10)
	}
	res := SettingsResult{Settings: cfg, Restart: pendingRestart(n.cfg, cfg)}
	n.bus.Publish(EventSettingsSaved, res)
	n.log.Info("settings saved", "restart_required", fmt.Sprint(res.Restart))
	return res, nil
}

// Backup writes a consistent snapshot of the node's database to w.
func (n *Node) Backup(w io.Writer) (int64, error) { return n.db.Backup(w) }

// Listen opens a TCP listener for a service. A port that is taken gives an
// error that names the port and the flag or setting that changes it.
func listen(what, addr, flagHint string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("node: %s port %s is taken by another program; change it with %s", what, addr, flagHint)
	}
	if err != nil {
		return nil, fmt.Errorf("node: %s on %s: %w", what, addr, err)
	}
	return ln, nil
}

// Subscribe returns the kept events after since, a channel of new events,
// and a function that ends the subscription.
func (n *Node) Subscribe(since uint64) ([]Event, <-chan Event, func()) {
	return n.bus.Subscribe(since)
}
