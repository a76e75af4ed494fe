package naming

import (
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/miekg/dns"
)

// Mode is how names outside the group's zone are resolved.
type Mode string

// The resolver's modes.
const (
	// ModeForward asks upstream recursive servers (Config.Upstreams or the
	// system's from Config.ResolvConf).
	ModeForward Mode = "forward"
	// ModeIterate walks the name server hierarchy from Config.RootHints.
	ModeIterate Mode = "iterate"
)

// Config holds the settings of a node's DNS. The zero value of every field
// means its default.
type Config struct {
	// Listen is the HOST:PORT the server binds on UDP and TCP; port 0 picks
	// a free one (the same for both). Default 127.0.0.1:7453.
	Listen string
	// Zone is the group's zone. Default "shoal.".
	Zone string
	// Primary is the member named in the SOA as the primary server.
	// Default: the first member by name.
	Primary string
	// TTL of the members' own records. Default 60s.
	TTL time.Duration
	// ContentTTL is the TTL of content names (<item>.cdn.<zone>). Default 10s.
	ContentTTL time.Duration
	// NegativeTTL is the SOA minimum: how long others cache that a name of
	// the zone does not exist. Default 30s.
	NegativeTTL time.Duration

	// Mode is the resolver's mode. Default ModeForward.
	Mode Mode
	// Upstreams are the servers to forward to, "IP" or "IP:PORT". Empty
	// means the nameservers of ResolvConf.
	Upstreams []string
	// ResolvConf is the file with the system's name servers. Default
	// /etc/resolv.conf. A missing file or one without name servers leaves
	// the forwarder offline: it answers SERVFAIL at once.
	ResolvConf string
	// RootHints are the root servers' addresses, "IP" or "IP:PORT".
	// Default: the IANA root servers.
	RootHints []string
	// NameServerPort is the port of name servers learned from referrals
	// (glue carries no port). Default 53.
	NameServerPort int
	// Timeout bounds one query to one upstream server. Default 2s.
	Timeout time.Duration

	// CacheSize is the cache's bound in entries. Default 10000.
	CacheSize int
	// MaxTTL caps how long an answer is cached. Default 24h.
	MaxTTL time.Duration
	// MaxNegativeTTL caps how long a negative answer is cached. Default 1h.
	MaxNegativeTTL time.Duration

	// AllowRecursion lists the clients offered recursion and the cache;
	// others get REFUSED for names outside the zone. Default: loopback.
	AllowRecursion []netip.Prefix
	// RateLimit limits responses per client prefix over UDP.
	RateLimit RateLimit

	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives the log. Default: discard.
	Logger *slog.Logger
}

// RateLimit configures response rate limiting: a token bucket per client
// prefix (/24 for IPv4, /56 for IPv6) over UDP. TCP is not limited: its
// source cannot be spoofed.
type RateLimit struct {
	// Off disables rate limiting.
	Off bool
	// Rate is the responses per second a prefix is allowed. Default 100.
	Rate float64
	// Burst is the bucket's size. Default Rate.
	Burst int
	// Slip: every Slip-th response over the limit is sent empty with TC set
	// (a real client retries over TCP); the others are dropped. 0 drops all
	// of them. Default 2.
	Slip int
	// Exempt prefixes are never limited. Default: loopback (only local
	// processes can claim a loopback source). Set a non-nil empty slice to
	// limit loopback too.
	Exempt []netip.Prefix
}

// loopback is the default for AllowRecursion and RateLimit.Exempt.
func loopback() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:7453"
	}
	if c.Zone == "" {
		c.Zone = "shoal."
	}
	c.Zone = dns.CanonicalName(c.Zone)
	if c.TTL <= 0 {
		c.TTL = 60 * time.Second
	}
	if c.ContentTTL <= 0 {
		c.ContentTTL = 10 * time.Second
	}
	if c.NegativeTTL <= 0 {
		c.NegativeTTL = 30 * time.Second
	}
	if c.Mode == "" {
		c.Mode = ModeForward
	}
	if c.ResolvConf == "" {
		c.ResolvConf = "/etc/resolv.conf"
	}
	if len(c.RootHints) == 0 {
		c.RootHints = ianaRootServers()
	}
	if c.NameServerPort == 0 {
		c.NameServerPort = 53
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Second
	}
	if c.CacheSize <= 0 {
		c.CacheSize = 10000
	}
	if c.MaxTTL <= 0 {
		c.MaxTTL = 24 * time.Hour
	}
	if c.MaxNegativeTTL <= 0 {
		c.MaxNegativeTTL = time.Hour
	}
	if c.AllowRecursion == nil {
		c.AllowRecursion = loopback()
	}
	if c.RateLimit.Rate <= 0 {
		c.RateLimit.Rate = 100
	}
	if c.RateLimit.Burst <= 0 {
		c.RateLimit.Burst = max(1, int(c.RateLimit.Rate))
	}
	if c.RateLimit.Slip == 0 {
		c.RateLimit.Slip = 2
	} else if c.RateLimit.Slip < 0 {
		c.RateLimit.Slip = 0
	}
	if c.RateLimit.Exempt == nil {
		c.RateLimit.Exempt = loopback()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = discardLogger()
	}
	return c
}

func discardLogger() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}

// check reports the first setting that cannot work.
func (c Config) check() error {
	if c.Zone == "." || slices.ContainsFunc(dns.SplitDomainName(c.Zone), func(l string) bool { return !validLabel(l) }) {
		return fmt.Errorf("naming: zone %q is not a domain name of host name labels", c.Zone)
	}
	if c.Mode != ModeForward && c.Mode != ModeIterate {
		return fmt.Errorf("naming: mode %q must be %q or %q", c.Mode, ModeForward, ModeIterate)
	}
	if c.NameServerPort < 1 || c.NameServerPort > 65535 {
		return fmt.Errorf("naming: name server port %d out of range", c.NameServerPort)
	}
	if _, err := parseServers(c.Upstreams, 53); err != nil {
		return fmt.Errorf("naming: upstreams: %w", err)
	}
	if _, err := parseServers(c.RootHints, 53); err != nil {
		return fmt.Errorf("naming: root hints: %w", err)
	}
	return nil
}

// parseServers parses "IP" and "IP:PORT" entries; a bare IP gets port.
func parseServers(ss []string, port uint16) ([]netip.AddrPort, error) {
	out := make([]netip.AddrPort, 0, len(ss))
	for _, s := range ss {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			out = append(out, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither IP nor IP:PORT", s)
		}
		out = append(out, netip.AddrPortFrom(a.Unmap(), port))
	}
	return out, nil
}

// ianaRootServers are a. to m.root-servers.net (IPv4), from the IANA root
// hints file.
func ianaRootServers() []string {
	return []string{
		"198.41.0.4", "170.247.170.2", "192.33.4.12", "199.7.91.13",
		"192.203.230.10", "192.5.5.241", "192.112.36.4", "198.97.190.53",
		"192.36.148.17", "192.58.128.30", "193.0.14.129", "199.7.83.42",
		"202.12.27.33",
	}
}
