package node

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"

	"github.com/BurntSushi/toml"

	"github.com/shoal-p2p/shoal/cdn"
)

// ConfigFile is the config's file name inside the data dir.
const ConfigFile = "shoal.toml"

// Config is a node's settings, read from shoal.toml and overridden by flags.
type Config struct {
	// Name is the node's name in the group (NAME.shoal.), a DNS label.
	Name string `toml:"name" json:"name"`
	// Network is the group this node belongs to.
	Network string `toml:"network" json:"network"`
	// Private says the network is private: members hold its key
	// (network.key in the data dir, from 'shoal network create' or an
	// invitation), and nothing of it answers a node without the key.
	Private bool `toml:"private" json:"private"`
	// Bind is the IP address every peer-facing service listens on.
	Bind string `toml:"bind" json:"bind"`
	// Join lists members (HOST:PORT of their peer API) to join through.
	Join []string `toml:"join" json:"join"`
	UI   UIConfig `toml:"ui" json:"ui"`
	// Ports of the peer-facing services on Bind; 0 picks a free one.
	Ports Ports       `toml:"ports" json:"ports"`
	CDN   CDNConfig   `toml:"cdn" json:"cdn"`
	DNS   DNSConfig   `toml:"dns" json:"dns"`
	Mail  MailConfig  `toml:"mail" json:"mail"`
	FTP   FTPConfig   `toml:"ftp" json:"ftp"`
	Proxy ProxyConfig `toml:"proxy" json:"proxy"`
	Log   LogConfig   `toml:"log" json:"log"`
}

// ProxyConfig sets up the caching HTTP proxy (port ports.proxy).
type ProxyConfig struct {
	// Allowed are the client networks the proxy serves; never an open proxy.
	Allowed []string `toml:"allowed" json:"allowed"`
	// ConnectPorts are the ports CONNECT may tunnel to.
	ConnectPorts []int `toml:"connect_ports" json:"connect_ports"`
	// PACAll makes /proxy.pac send every site through the proxy, not only
	// the group's.
	PACAll bool `toml:"pac_all" json:"pac_all"`
	// CacheMiB is the cache's quota; least recently used responses go first.
	CacheMiB int64 `toml:"cache_mib" json:"cache_mib"`
}

// FTPConfig sets up the library's FTP server (read-only).
type FTPConfig struct {
	Enabled bool `toml:"enabled" json:"enabled"`
	// Anonymous lets "anonymous" and "ftp" in with any password; otherwise
	// a login is a mail user's.
	Anonymous bool `toml:"anonymous" json:"anonymous"`
	// PassivePorts is the range passive data connections use, "START-END";
	// "" picks free ports.
	PassivePorts string `toml:"passive_ports" json:"passive_ports"`
}

// passiveRange parses PassivePorts.
func (f FTPConfig) passiveRange() ([2]int, error) {
	if f.PassivePorts == "" {
		return [2]int{}, nil
	}
	var r [2]int
	start, end, ok := strings.Cut(f.PassivePorts, "-")
	var err1, err2 error
	r[0], err1 = strconv.Atoi(strings.TrimSpace(start))
	r[1], err2 = strconv.Atoi(strings.TrimSpace(end))
	if !ok || err1 != nil || err2 != nil || r[0] < 1 || r[1] < r[0] || r[1] > 65535 {
		return [2]int{}, fmt.Errorf("ftp.passive_ports %q must be START-END, 1 <= START <= END <= 65535", f.PassivePorts)
	}
	return r, nil
}

// MailConfig sets up the node's mail: every node is the mail server of
// its own domain NAME.shoal.
type MailConfig struct {
	Enabled bool `toml:"enabled" json:"enabled"`
	// User names the first user, made on first start; "" is the login name.
	User string `toml:"user" json:"user"`
	// RetryScale multiplies the outbound queue's retry delays (Postfix's
	// 300 s doubling to 4000 s); tests make it small. 0 means 1.
	RetryScale float64 `toml:"retry_scale" json:"retry_scale"`
}

// DNSConfig sets up the node's DNS server and resolver.
type DNSConfig struct {
	// Zone is the group's zone, "shoal" by default: NAME.shoal. is a node.
	Zone string `toml:"zone" json:"zone"`
	// Mode resolves other names by "forward"ing to Upstreams or "iterative"ly
	// from RootHints.
	Mode      string   `toml:"mode" json:"mode"`
	Upstreams []string `toml:"upstreams" json:"upstreams"`
	RootHints []string `toml:"root_hints" json:"root_hints"`
	// AllowRecursion are the client networks offered recursion and the cache.
	AllowRecursion []string `toml:"allow_recursion" json:"allow_recursion"`
	// RateLimit is responses per second per client prefix over UDP; 0 = off.
	RateLimit int `toml:"rate_limit" json:"rate_limit"`
}

// CDNConfig tunes sharing: rate caps, the gateway cache's size and where
// the DHT starts.
type CDNConfig struct {
	// UploadKiBs and DownloadKiBs cap BitTorrent transfers in KiB/s; 0 = no
	// cap. The upload cap also holds the files the peer port's gateway
	// sends (members' players, browsers), within the same budget.
	UploadKiBs   int64 `toml:"upload_kib_s" json:"upload_kib_s"`
	DownloadKiBs int64 `toml:"download_kib_s" json:"download_kib_s"`
	// CacheQuotaMiB bounds what the node keeps of content fetched for others.
	CacheQuotaMiB int64 `toml:"cache_quota_mib" json:"cache_quota_mib"`
	// DHTBootstrap lists DHT nodes (HOST:PORT, such as any member's
	// BitTorrent port) the DHT starts from besides the known members.
	DHTBootstrap []string `toml:"dht_bootstrap" json:"dht_bootstrap"`
	// PublicDHT lets the DHT start from the public BitTorrent routers too.
	PublicDHT bool `toml:"public_dht" json:"public_dht"`
}

// UIConfig is where the web client and control API listen.
type UIConfig struct {
	Address string `toml:"address" json:"address"`
}

// Ports are the peer-facing services' ports on the bind address.
type Ports struct {
	Peer       int `toml:"peer" json:"peer"`
	BitTorrent int `toml:"bittorrent" json:"bittorrent"`
	DNS        int `toml:"dns" json:"dns"`
	SMTP       int `toml:"smtp" json:"smtp"`
	Submission int `toml:"submission" json:"submission"`
	IMAP       int `toml:"imap" json:"imap"`
	POP3       int `toml:"pop3" json:"pop3"`
	FTP        int `toml:"ftp" json:"ftp"`
	Proxy      int `toml:"proxy" json:"proxy"`
}

// LogConfig sets the logs' verbosity.
type LogConfig struct {
	Level string `toml:"level" json:"level"`
}

// DefaultConfig is the config a node starts with when shoal.toml is missing.
func DefaultConfig() Config {
	return Config{
		Name:    defaultName(),
		Network: "shoal",
		Bind:    "127.0.0.1",
		Join:    []string{},
		UI:      UIConfig{Address: "127.0.0.1:7480"},
		Ports:   Ports{Peer: 7481, BitTorrent: 7482, DNS: 7453, SMTP: 7425, Submission: 7587, IMAP: 7143, POP3: 7110, FTP: 7421, Proxy: 7488},
		CDN:     CDNConfig{CacheQuotaMiB: 10 << 10, DHTBootstrap: []string{}},
		DNS: DNSConfig{Zone: "shoal", Mode: "forward", Upstreams: []string{}, RootHints: []string{},
			AllowRecursion: []string{"127.0.0.0/8", "::1/128"}, RateLimit: 100},
		Mail:  MailConfig{Enabled: true},
		FTP:   FTPConfig{Enabled: true},
		Proxy: ProxyConfig{Allowed: []string{"127.0.0.0/8", "::1/128"}, ConnectPorts: []int{443}, CacheMiB: 1024},
		Log:   LogConfig{Level: "info"},
	}
}

// defaultName is the host name made into a DNS label, or "node".
func defaultName() string {
	h, err := os.Hostname()
	if err != nil {
		return "node"
	}
	h = strings.ToLower(strings.SplitN(h, ".", 2)[0])
	h = regexp.MustCompile(`[^a-z0-9-]+`).ReplaceAllString(h, "-")
	h = strings.Trim(h, "-")
	if len(h) > 63 {
		h = h[:63]
	}
	if h == "" {
		return "node"
	}
	return h
}

var labelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// mailUserRE is a mail local part as Shoal takes it.
var mailUserRE = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,64}$`)

// Validate reports the first setting that is not usable, naming it as it is
// named in shoal.toml.
func (c Config) Validate() error {
	if !labelRE.MatchString(c.Name) {
		return fmt.Errorf("name %q must be a DNS label: 1-63 lower-case letters, digits and inner hyphens", c.Name)
	}
	if !labelRE.MatchString(c.Network) {
		return fmt.Errorf("network %q must be a DNS label: 1-63 lower-case letters, digits and inner hyphens", c.Network)
	}
	if _, err := netip.ParseAddr(c.Bind); err != nil {
		return fmt.Errorf("bind %q is not an IP address", c.Bind)
	}
	if err := validHostPort(c.UI.Address, true); err != nil {
		return fmt.Errorf("ui.address: %w", err)
	}
	for _, j := range c.Join {
		if err := validHostPort(j, false); err != nil {
			return fmt.Errorf("join %q: %w", j, err)
		}
	}
	for name, p := range map[string]int{"ports.peer": c.Ports.Peer, "ports.bittorrent": c.Ports.BitTorrent, "ports.dns": c.Ports.DNS,
		"ports.smtp": c.Ports.SMTP, "ports.submission": c.Ports.Submission, "ports.imap": c.Ports.IMAP, "ports.pop3": c.Ports.POP3,
		"ports.ftp": c.Ports.FTP, "ports.proxy": c.Ports.Proxy} {
		if p < 0 || p > 65535 {
			return fmt.Errorf("%s %d is not a port (0-65535, 0 picks a free one)", name, p)
		}
	}
	if c.CDN.UploadKiBs < 0 || c.CDN.DownloadKiBs < 0 {
		return errors.New("cdn.upload_kib_s and cdn.download_kib_s must be 0 (no cap) or more")
	}
	if c.CDN.CacheQuotaMiB < 1 {
		return fmt.Errorf("cdn.cache_quota_mib %d must be at least 1", c.CDN.CacheQuotaMiB)
	}
	for _, b := range c.CDN.DHTBootstrap {
		if err := validHostPort(b, false); err != nil {
			return fmt.Errorf("cdn.dht_bootstrap: %w", err)
		}
	}
	if err := c.DNS.validate(); err != nil {
		return err
	}
	if c.Mail.User != "" && !mailUserRE.MatchString(c.Mail.User) {
		return fmt.Errorf("mail.user %q must be a mail local part: letters, digits, '.', '_' and '-'", c.Mail.User)
	}
	if c.Mail.RetryScale < 0 {
		return fmt.Errorf("mail.retry_scale %v must be 0 (Postfix's delays) or more", c.Mail.RetryScale)
	}
	if _, err := c.FTP.passiveRange(); err != nil {
		return err
	}
	if err := c.Proxy.validate(); err != nil {
		return err
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level %q must be debug, info, warn or error", c.Log.Level)
	}
	return nil
}

func (p ProxyConfig) validate() error {
	for _, a := range p.Allowed {
		if _, err := netip.ParsePrefix(a); err != nil {
			return fmt.Errorf("proxy.allowed %q is not a network (such as 127.0.0.0/8)", a)
		}
	}
	for _, port := range p.ConnectPorts {
		if port < 1 || port > 65535 {
			return fmt.Errorf("proxy.connect_ports %d is not a port", port)
		}
	}
	if p.CacheMiB < 1 {
		return fmt.Errorf("proxy.cache_mib %d must be at least 1", p.CacheMiB)
	}
	return nil
}

func (d DNSConfig) validate() error {
	if !labelRE.MatchString(d.Zone) {
		return fmt.Errorf("dns.zone %q must be a DNS label", d.Zone)
	}
	if d.Mode != "forward" && d.Mode != "iterative" {
		return fmt.Errorf("dns.mode %q must be forward or iterative", d.Mode)
	}
	for _, list := range [][]string{d.Upstreams, d.RootHints} {
		for _, u := range list {
			if _, err := netip.ParseAddr(u); err == nil {
				continue
			}
			if _, err := netip.ParseAddrPort(u); err != nil {
				return fmt.Errorf("dns: %q is not IP or IP:PORT", u)
			}
		}
	}
	for _, p := range d.AllowRecursion {
		if _, err := netip.ParsePrefix(p); err != nil {
			return fmt.Errorf("dns.allow_recursion: %q is not a network like 192.168.1.0/24", p)
		}
	}
	if d.RateLimit < 0 {
		return fmt.Errorf("dns.rate_limit %d must be 0 (off) or more", d.RateLimit)
	}
	return nil
}

// fillLists makes missing lists empty, so they read as [] in JSON.
func (c *Config) fillLists() {
	if c.Join == nil {
		c.Join = []string{}
	}
	if c.CDN.DHTBootstrap == nil {
		c.CDN.DHTBootstrap = []string{}
	}
	if c.Proxy.Allowed == nil {
		c.Proxy.Allowed = []string{}
	}
	if c.Proxy.ConnectPorts == nil {
		c.Proxy.ConnectPorts = []int{}
	}
}

// validHostPort checks HOST:PORT as cdn.ParseHostPort does. Port 0 (a
// free port) is valid only for an address to listen on (zeroOK), never
// for one to reach.
func validHostPort(s string, zeroOK bool) error {
	if host, port, err := net.SplitHostPort(s); zeroOK && err == nil && host != "" && port == "0" {
		return nil
	}
	_, _, err := cdn.ParseHostPort(s)
	return err
}

// LoadConfig reads path. A missing file gives DefaultConfig and created=true;
// the caller decides whether to write it. Syntax errors name the file and line;
// unknown keys are errors too, so a typo is not silently ignored.
func LoadConfig(path string) (cfg Config, created bool, err error) {
	cfg = DefaultConfig()
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return cfg, true, nil
	}
	if err != nil {
		return cfg, false, fmt.Errorf("node: read config: %w", err)
	}
	md, err := toml.Decode(string(raw), &cfg)
	var perr toml.ParseError
	if errors.As(err, &perr) {
		return cfg, false, fmt.Errorf("node: %s:%d: %s", path, perr.Position.Line, perr.Message)
	}
	if err != nil {
		return cfg, false, fmt.Errorf("node: %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return cfg, false, fmt.Errorf("node: %s: unknown setting %q", path, und[0].String())
	}
	cfg.fillLists()
	if err := cfg.Validate(); err != nil {
		return cfg, false, fmt.Errorf("node: %s: %w", path, err)
	}
	return cfg, false, nil
}

// SaveConfig writes cfg to path with comments, through a temporary file so a
// crash never leaves half a config.
func SaveConfig(path string, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("node: config: %w", err)
	}
	var buf bytes.Buffer
	if err := configTemplate.Execute(&buf, cfg); err != nil {
		return fmt.Errorf("node: config: %w", err)
	}
	if err := writeFileAtomic(path, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("node: write config: %w", err)
	}
	return nil
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// tomlValue renders a Go value as a TOML value.
func tomlValue(v any) (string, error) {
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(map[string]any{"v": v}); err != nil {
		return "", err
	}
	return strings.TrimSpace(strings.TrimPrefix(buf.String(), "v = ")), nil
}

var configTemplate = template.Must(template.New("shoal.toml").Funcs(template.FuncMap{"toml": tomlValue}).Parse(
	`# Shoal node settings. Flags given on the command line override them for one run.
# Changes made here take effect when the node restarts.

# This node's name in the group: it answers as NAME.shoal. (a DNS label).
name = {{toml .Name}}

# The group of nodes this node belongs to.
network = {{toml .Network}}
# true: a private network, whose members hold its key (network.key in the
# data dir; 'shoal network create' makes one, 'shoal network join' takes one
# from an invitation). Nodes without the key get nothing from its members.
private = {{.Private}}

# The IP address every peer-facing service listens on. 127.0.0.1 keeps the
# node reachable from this machine only; use a LAN address to share with others,
# or 0.0.0.0 to listen on all (the group is told this machine's addresses).
bind = {{toml .Bind}}

# Members to join through: HOST:PORT of their peer API.
join = {{toml .Join}}

[ui]
# The web client and control API, for the local user only.
address = {{toml .UI.Address}}

[ports]
# Ports of the peer-facing services on the bind address. 0 picks a free port;
# the node advertises the ports it really bound.
peer = {{.Ports.Peer}}
bittorrent = {{.Ports.BitTorrent}}
dns = {{.Ports.DNS}}
# Mail: the SMTP relay between nodes, submission for mail programs, IMAP, POP3.
smtp = {{.Ports.SMTP}}
submission = {{.Ports.Submission}}
imap = {{.Ports.IMAP}}
pop3 = {{.Ports.POP3}}
# FTP: the library, read-only.
ftp = {{.Ports.FTP}}
# The caching HTTP proxy for browsers (see [proxy]).
proxy = {{.Ports.Proxy}}

[cdn]
# Caps on BitTorrent upload and download in KiB/s; 0 means no cap. The
# upload cap also holds what the gateway (/cdn/) serves, in one budget.
# They change at once when saved from the window or the web client.
upload_kib_s = {{.CDN.UploadKiBs}}
download_kib_s = {{.CDN.DownloadKiBs}}
# How much content fetched for others (the gateway's cache) the node keeps,
# in MiB; least recently used items go first. Pinned and published items stay.
cache_quota_mib = {{.CDN.CacheQuotaMiB}}
# The DHT finds the group's members for nodes given no join list. It starts
# from the known members and from these DHT nodes: HOST:PORT, such as any
# member's BitTorrent port (e.g. "192.0.2.10:7482").
dht_bootstrap = {{toml .CDN.DHTBootstrap}}
# true also starts the DHT from the public BitTorrent routers on the
# internet; by default the DHT stays within the group.
public_dht = {{.CDN.PublicDHT}}

[dns]
# The group's zone: the node called NAME answers as NAME.{{.DNS.Zone}}.
zone = {{toml .DNS.Zone}}
# Names outside the zone: "forward" them to the upstream servers (none
# listed = those of /etc/resolv.conf), or resolve them "iterative"ly from the
# root hints (none listed = the IANA root servers).
mode = {{toml .DNS.Mode}}
upstreams = {{toml .DNS.Upstreams}}
root_hints = {{toml .DNS.RootHints}}
# Clients offered recursion and the cache; others get REFUSED for outside names.
allow_recursion = {{toml .DNS.AllowRecursion}}
# Responses per second per client network over UDP, against amplification; 0 = off.
rate_limit = {{.DNS.RateLimit}}

[mail]
# Every node is the mail server of its own domain, NAME.{{.DNS.Zone}}.
enabled = {{.Mail.Enabled}}
# The first user, made on first start with a generated password; "" is the
# login name. More: shoal mail user add NAME.
user = {{toml .Mail.User}}
# Multiplies the outbound queue's retry delays (300 s doubling to 4000 s).
retry_scale = {{.Mail.RetryScale}}

[ftp]
# The library over FTP, read-only: one folder per item.
enabled = {{.FTP.Enabled}}
# true lets "anonymous" in; otherwise a login is a mail user's.
anonymous = {{.FTP.Anonymous}}
# Ports for passive data connections, "START-END" (for a firewall); "" = any free port.
passive_ports = {{toml .FTP.PassivePorts}}

[proxy]
# Client networks the proxy serves; anyone else gets 403 (never an open proxy).
allowed = {{toml .Proxy.Allowed}}
# Ports CONNECT (https through the proxy) may reach.
connect_ports = {{toml .Proxy.ConnectPorts}}
# false: /proxy.pac sends only the group's .{{.DNS.Zone}} sites through the
# proxy; true: every site.
pac_all = {{.Proxy.PACAll}}
# The cache's quota in MiB; least recently used responses go first.
cache_mib = {{.Proxy.CacheMiB}}

[log]
# debug, info, warn or error.
level = {{toml .Log.Level}}
`))
