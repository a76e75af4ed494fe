package naming

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Member is what the zone needs to know of a group member. The node builds
// it from the member's signed node record.
type Member struct {
	// Name is the member's label in the zone (NAME.shoal.), already made
	// unique by the node.
	Name      string
	ID        string
	PublicKey []byte
	Addrs     []netip.Addr
	// Ports are the advertised service ports by service: "peer",
	// "bittorrent", "http", "smtp", "submission", "imap", "pop3", "ftp",
	// "dns". Each becomes an SRV record.
	Ports map[string]int
	// Records are the member's own user records, already signature-checked.
	Records []Record
	// RTT is this node's measured round trip to the member (0 for itself);
	// content names list the nearest holders first.
	RTT time.Duration
}

// Record is a user's own DNS record. Name is relative to the member's name
// ("www", "@" or "" for the member's name itself) or absolute
// ("www.alice.shoal."; the trailing dot may be left off after the zone's
// name); either way it
// must lie inside NAME.<zone>. Value is the record's data in zone-file
// syntax ("192.0.2.1", "10 mail", "\"some text\""); names in it are
// relative to the member's name unless they end with a dot.
type Record struct {
	Name, Type, Value string
	// TTL in seconds; 0 means the zone's default.
	TTL uint32
}

// Members gives the group's members as a snapshot.
type Members interface {
	Members() []Member
}

// ContentLocator says which members hold a complete copy of an item.
type ContentLocator interface {
	// Holders returns the ids of members with a complete copy of item (an
	// item name or infohash, as the lower-case label of the query name).
	Holders(item string) []string
}

// DKIMSelector is the DKIM selector under which each member's node key is
// published: DKIMSelector._domainkey.NAME.shoal. TXT.
const DKIMSelector = "shoal"

// userType reports whether users may add records of type t.
func userType(t uint16) bool {
	switch t {
	case dns.TypeA, dns.TypeAAAA, dns.TypeCNAME, dns.TypeMX, dns.TypeTXT, dns.TypeSRV:
		return true
	}
	return false
}

// maxUserTTL caps the TTL of user records.
const maxUserTTL = 86400

// srvOwner is the SRV owner prefix for an advertised port's service.
func srvOwner(service string) (string, bool) {
	switch service {
	case "peer":
		return "_shoal-peer._tcp", true
	case "bittorrent", "http", "smtp", "submission", "imap", "pop3", "ftp":
		return "_" + service + "._tcp", true
	case "dns":
		return "_dns._udp", true
	}
	return "", false
}

// ParseRecord checks a member's user record and returns it as a DNS record.
// zone is the group's zone ("shoal."), member the member's name. A record
// outside the member's own subdomain, of a type users may not add (A, AAAA,
// CNAME, MX, TXT and SRV are allowed), or whose value does not parse, is
// rejected. The node and the CLI call it before signing a record.
func ParseRecord(zone, member string, r Record) (dns.RR, error) {
	zone = dns.CanonicalName(zone)
	member = strings.ToLower(member)
	if !validLabel(member) {
		return nil, fmt.Errorf("naming: member name %q is not a DNS label", member)
	}
	own := member + "." + zone
	name, err := recordName(zone, own, r.Name)
	if err != nil {
		return nil, err
	}
	t, ok := dns.StringToType[strings.ToUpper(strings.TrimSpace(r.Type))]
	if !ok || !userType(t) {
		return nil, fmt.Errorf("naming: record type %q: only A, AAAA, CNAME, MX, TXT and SRV may be added", r.Type)
	}
	if t == dns.TypeCNAME && name == own {
		return nil, fmt.Errorf("naming: a CNAME at %s would hide the member's own records", own)
	}
	if strings.TrimSpace(r.Value) == "" || strings.ContainsFunc(r.Value, func(c rune) bool { return c < ' ' && c != '\t' || c == 0x7f }) {
		return nil, fmt.Errorf("naming: record value %q is empty or has control characters", r.Value)
	}
	ttl := r.TTL
	if ttl > maxUserTTL {
		ttl = maxUserTTL
	}
	zp := dns.NewZoneParser(strings.NewReader(fmt.Sprintf("%s %d IN %s %s\n", name, ttl, dns.TypeToString[t], r.Value)), own, "")
	zp.SetIncludeAllowed(false)
	rr, ok := zp.Next()
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("naming: record %s %s %q: %w", name, dns.TypeToString[t], r.Value, err)
	}
	if !ok || rr == nil || rr.Header().Rrtype != t {
		return nil, fmt.Errorf("naming: record %s %s %q does not parse", name, dns.TypeToString[t], r.Value)
	}
	if _, more := zp.Next(); more {
		return nil, fmt.Errorf("naming: record value %q holds more than one record", r.Value)
	}
	rr.Header().Name = dns.CanonicalName(rr.Header().Name)
	return rr, nil
}

// ValidateRecord reports why a member's user record would be rejected, or
// nil; see ParseRecord.
func ValidateRecord(zone, member string, r Record) error {
	_, err := ParseRecord(zone, member, r)
	return err
}

// recordName makes a record's name absolute and checks that it lies inside
// own (NAME.zone.). A name ending in the zone's name counts as absolute
// even without the trailing dot.
func recordName(zone, own, name string) (string, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	switch {
	case name == "" || name == "@":
		return own, nil
	case dns.IsFqdn(name):
	case name == strings.TrimSuffix(zone, ".") || strings.HasSuffix(name, "."+strings.TrimSuffix(zone, ".")):
		name += "." // absolute without the trailing dot
	default:
		name += "." + own
	}
	if _, ok := dns.IsDomainName(name); !ok || strings.ContainsAny(name, " \t\\\"") {
		return "", fmt.Errorf("naming: record name %q is not a domain name", name)
	}
	if !dns.IsSubDomain(own, name) {
		return "", fmt.Errorf("naming: record name %s is outside the member's subdomain %s", name, own)
	}
	return name, nil
}

// validLabel reports whether s is a host name label: letters, digits and
// inner hyphens, at most 63 characters.
func validLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Zone is the group's zone, answered authoritatively. It is rebuilt from
// Members on Refresh (or from a given list on Update); its SOA serial
// increases whenever the records change. Names outside the zone go to Next.
type Zone struct {
	Next Handler

	origin     string
	cdn        string
	primary    string
	ttl        uint32
	contentTTL uint32
	negTTL     uint32
	members    Members
	content    ContentLocator
	now        func() time.Time
	log        *slog.Logger

	mu   sync.Mutex // serialises updates
	data atomic.Pointer[zoneData]
}

// zoneData is one immutable version of the zone.
type zoneData struct {
	serial uint32
	digest [32]byte
	// names maps every name of the zone, empty non-terminals included,
	// to its RRsets by type.
	names         map[string]map[uint16][]dns.RR
	soa           *dns.SOA
	negSOA        *dns.SOA // TTL min(SOA TTL, minimum), for negative answers (RFC 2308)
	contentNegSOA *dns.SOA // shorter still, for content names
	byID          map[string]zoneMember
}

type zoneMember struct {
	name  string // fqdn
	addrs []netip.Addr
	rtt   time.Duration
}

// NewZone returns the zone of cfg.Zone built from members (nil: empty until
// Update). content may be nil: content names then do not resolve.
func NewZone(cfg Config, members Members, content ContentLocator) (*Zone, error) {
	cfg = cfg.withDefaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	z := &Zone{
		origin:     cfg.Zone,
		cdn:        "cdn." + cfg.Zone,
		primary:    strings.ToLower(cfg.Primary),
		ttl:        seconds(cfg.TTL),
		contentTTL: seconds(cfg.ContentTTL),
		negTTL:     seconds(cfg.NegativeTTL),
		members:    members,
		content:    content,
		now:        cfg.Now,
		log:        cfg.Logger,
	}
	z.Refresh()
	return z, nil
}

func seconds(d time.Duration) uint32 {
	return uint32(max(1, d/time.Second))
}

// Name implements Handler.
func (z *Zone) Name() string { return "zone" }

// Origin is the zone's name, e.g. "shoal.".
func (z *Zone) Origin() string { return z.origin }

// Serial is the SOA serial of the current version.
func (z *Zone) Serial() uint32 { return z.data.Load().serial }

// Refresh rebuilds the zone from Members; the node calls it whenever the
// membership or a member's records change. It returns the serial and
// whether the records changed.
func (z *Zone) Refresh() (uint32, bool) {
	var ms []Member
	if z.members != nil {
		ms = z.members.Members()
	}
	return z.Update(ms)
}

// Update rebuilds the zone from ms; see Refresh.
func (z *Zone) Update(ms []Member) (uint32, bool) {
	z.mu.Lock()
	defer z.mu.Unlock()
	old := z.data.Load()
	d := z.build(ms)
	now := uint32(z.now().Unix())
	changed := old == nil || d.digest != old.digest
	switch {
	case old == nil:
		d.serial = now
	case changed:
		d.serial = max(old.serial+1, now)
	default:
		d.serial = old.serial
	}
	d.soa.Serial = d.serial
	d.negSOA.Serial = d.serial
	d.contentNegSOA.Serial = d.serial
	z.data.Store(d)
	if changed && old != nil {
		z.log.Info("zone changed", "zone", z.origin, "serial", d.serial, "members", len(d.byID))
	}
	return d.serial, changed
}

// Records lists the zone's records, SOA first, then by name and type.
func (z *Zone) Records() []dns.RR {
	d := z.data.Load()
	out := []dns.RR{d.soa}
	for _, set := range d.names {
		for t, rrs := range set {
			if t != dns.TypeSOA {
				out = append(out, rrs...)
			}
		}
	}
	slices.SortStableFunc(out[1:], func(a, b dns.RR) int {
		return cmp.Or(cmp.Compare(a.Header().Name, b.Header().Name),
			cmp.Compare(a.Header().Rrtype, b.Header().Rrtype),
			cmp.Compare(a.String(), b.String()))
	})
	return out
}

// build makes a version of the zone from ms, without serial.
func (z *Zone) build(ms []Member) *zoneData {
	d := &zoneData{
		names: map[string]map[uint16][]dns.RR{z.origin: {}},
		byID:  map[string]zoneMember{},
	}
	seenRR := map[string]bool{}
	add := func(rr dns.RR) {
		s := rr.String()
		if seenRR[s] {
			return
		}
		seenRR[s] = true
		name := rr.Header().Name
		set := d.names[name]
		if set == nil {
			set = map[uint16][]dns.RR{}
			d.names[name] = set
			// Empty non-terminals exist too: NODATA, not NXDOMAIN.
			for p := parent(name); p != "" && p != z.origin && dns.IsSubDomain(z.origin, p); p = parent(p) {
				if _, ok := d.names[p]; !ok {
					d.names[p] = map[uint16][]dns.RR{}
				}
			}
		}
		set[rr.Header().Rrtype] = append(set[rr.Header().Rrtype], rr)
	}
	d.names[z.cdn] = map[uint16][]dns.RR{}

	// The first claim of a name keeps it; the node should have made names
	// unique already.
	var kept []Member
	names := map[string]bool{}
	for _, m := range ms {
		label := strings.ToLower(m.Name)
		switch {
		case !validLabel(label) || label == "cdn":
			z.log.Warn("zone: member skipped: name is not a usable label", "name", m.Name, "id", m.ID)
			continue
		case names[label]:
			z.log.Warn("zone: member skipped: name already taken", "name", m.Name, "id", m.ID)
			continue
		}
		names[label] = true
		m.Name = label
		kept = append(kept, m)
	}
	slices.SortFunc(kept, func(a, b Member) int { return cmp.Compare(a.Name, b.Name) })

	for _, m := range kept {
		own := m.Name + "." + z.origin
		add(&dns.NS{Hdr: z.hdr(z.origin, dns.TypeNS, z.ttl), Ns: own})
		var addrs []netip.Addr
		for _, a := range m.Addrs {
			a = a.Unmap()
			switch {
			case a.Is4():
				add(&dns.A{Hdr: z.hdr(own, dns.TypeA, z.ttl), A: a.AsSlice()})
			case a.Is6():
				add(&dns.AAAA{Hdr: z.hdr(own, dns.TypeAAAA, z.ttl), AAAA: a.AsSlice()})
			default:
				continue
			}
			addrs = append(addrs, a)
		}
		txt := []string{"id=" + m.ID}
		if len(m.PublicKey) > 0 {
			txt = append(txt, "key="+base64.StdEncoding.EncodeToString(m.PublicKey))
		}
		add(&dns.TXT{Hdr: z.hdr(own, dns.TypeTXT, z.ttl), Txt: txt})
		if len(m.PublicKey) == ed25519.PublicKeySize {
			// The member's mail is signed with its node key (DKIM, RFC 8463).
			add(&dns.TXT{Hdr: z.hdr(DKIMSelector+"._domainkey."+own, dns.TypeTXT, z.ttl),
				Txt: []string{"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(m.PublicKey)}})
		}
		add(&dns.MX{Hdr: z.hdr(own, dns.TypeMX, z.ttl), Preference: 10, Mx: own})
		for _, svc := range slices.Sorted(maps.Keys(m.Ports)) {
			port := m.Ports[svc]
			prefix, ok := srvOwner(svc)
			if !ok || port < 1 || port > 65535 {
				continue
			}
			add(&dns.SRV{Hdr: z.hdr(prefix+"."+own, dns.TypeSRV, z.ttl), Port: uint16(port), Target: own})
		}
		for _, r := range m.Records {
			rr, err := ParseRecord(z.origin, m.Name, r)
			if err != nil {
				z.log.Warn("zone: user record skipped", "member", m.Name, "err", err)
				continue
			}
			if rr.Header().Ttl == 0 {
				rr.Header().Ttl = z.ttl
			}
			add(rr)
		}
		if _, dup := d.byID[m.ID]; !dup {
			d.byID[m.ID] = zoneMember{name: own, addrs: addrs, rtt: m.RTT}
		}
	}

	// A CNAME stands alone (RFC 1034 3.6.2): the member's own data wins.
	for name, set := range d.names {
		c := set[dns.TypeCNAME]
		if len(c) == 0 {
			continue
		}
		if len(set) > 1 {
			z.log.Warn("zone: CNAME skipped: the name has other records", "name", name)
			delete(set, dns.TypeCNAME)
		} else if len(c) > 1 {
			z.log.Warn("zone: extra CNAMEs skipped", "name", name)
			set[dns.TypeCNAME] = c[:1]
		}
	}

	mname := z.origin
	if len(kept) > 0 {
		mname = kept[0].Name + "." + z.origin
	}
	if names[z.primary] {
		mname = z.primary + "." + z.origin
	}
	d.soa = &dns.SOA{
		Hdr: z.hdr(z.origin, dns.TypeSOA, z.ttl), Ns: mname, Mbox: "hostmaster." + z.origin,
		Refresh: 3600, Retry: 600, Expire: 86400, Minttl: z.negTTL,
	}
	neg := *d.soa
	neg.Hdr.Ttl = min(z.ttl, z.negTTL)
	d.negSOA = &neg
	cneg := neg
	cneg.Hdr.Ttl = min(neg.Hdr.Ttl, z.contentTTL)
	d.contentNegSOA = &cneg

	h := sha256.New()
	fmt.Fprintf(h, "%s %s\n", mname, d.soa.Mbox)
	var all []string
	for _, set := range d.names {
		for _, rrs := range set {
			for _, rr := range rrs {
				all = append(all, rr.String())
			}
		}
	}
	slices.Sort(all)
	for _, s := range all {
		fmt.Fprintln(h, s)
	}
	h.Sum(d.digest[:0])
	return d
}

func (z *Zone) hdr(name string, t uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
}

// parent is name without its first label ("" for the root).
func parent(name string) string {
	i, end := dns.NextLabel(name, 0)
	if end {
		return ""
	}
	return name[i:]
}

// inside reports whether the canonical name lies in the canonical zone.
func inside(name, zone string) bool {
	if zone == "." || name == zone {
		return true
	}
	if !strings.HasSuffix(name, zone) {
		return false
	}
	i := len(name) - len(zone)
	if i < 1 || name[i-1] != '.' {
		return false
	}
	// An escaped dot ("a\.shoal.") does not end a label.
	return i < 2 || name[i-2] != '\\' || dns.IsSubDomain(zone, name)
}

// ServeDNS implements Handler: it answers names of the zone and hands the
// others to Next (REFUSED without one).
func (z *Zone) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	q := r.Question[0]
	name := dns.CanonicalName(q.Name)
	if !inside(name, z.origin) {
		if z.Next == nil {
			return dns.RcodeRefused, nil
		}
		return z.Next.ServeDNS(ctx, w, r)
	}
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		return dns.RcodeRefused, nil
	}
	d := z.data.Load()
	m, outside, content := z.answer(d, r, name)
	if !content && (outside == "" || !r.RecursionDesired || z.Next == nil) {
		// Nothing but this version of the zone went into the response.
		markPacked(w, packDep{zone: z, zoneData: d})
	}
	if tracing(ctx) {
		addStep(ctx, Step{Kind: StepZone, Zone: z.origin, Question: questionString(r), Result: summary(m) + ", authoritative", Rcode: m.Rcode})
	}
	if outside != "" && r.RecursionDesired && z.Next != nil {
		// The chain leaves the zone: follow it like a resolver would,
		// if the client may recurse.
		sub := new(dns.Msg)
		sub.SetQuestion(outside, q.Qtype)
		sub.Id = r.Id
		rec := &recorder{remote: w.RemoteAddr()}
		_, err := z.Next.ServeDNS(ctx, rec, sub)
		if errors.Is(err, errWouldBlock) {
			return dns.RcodeServerFailure, err
		}
		if err == nil && rec.msg != nil {
			m.Answer = append(m.Answer, rec.msg.Answer...)
			m.Rcode = rec.msg.Rcode
			if len(rec.msg.Answer) == 0 {
				m.Ns = append(m.Ns, rec.msg.Ns...)
			}
		}
	}
	if err := w.WriteMsg(m); err != nil {
		return dns.RcodeServerFailure, fmt.Errorf("naming: zone: write: %w", err)
	}
	return m.Rcode, nil
}

// maxChain bounds CNAME chains, in the zone and everywhere else.
const maxChain = 8

// answer builds the response to r for name (canonical, inside the zone).
// outside is the target of a CNAME chain that leaves the zone, if any;
// content says whether content names, whose holders change without a new
// version of the zone, went into the answer.
func (z *Zone) answer(d *zoneData, r *dns.Msg, name string) (m *dns.Msg, outside string, content bool) {
	qtype := r.Question[0].Qtype
	m = new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	for hops := 0; hops <= maxChain; hops++ {
		if name != z.cdn && inside(name, z.cdn) {
			z.contentAnswer(d, m, name, qtype)
			return m, "", true
		}
		set, ok := d.names[name]
		if !ok {
			m.Rcode = dns.RcodeNameError
			m.Ns = []dns.RR{d.negSOA}
			return m, "", false
		}
		if qtype == dns.TypeANY && hops == 0 {
			// RFC 8482: a minimal answer to ANY.
			m.Answer = append(m.Answer, &dns.HINFO{Hdr: z.hdr(name, dns.TypeHINFO, z.ttl), Cpu: "RFC8482"})
			return m, "", false
		}
		if qtype == dns.TypeSOA && name == z.origin {
			m.Answer = append(m.Answer, d.soa)
			return m, "", false
		}
		if rrs := set[qtype]; len(rrs) > 0 {
			m.Answer = append(m.Answer, rrs...)
			z.additional(d, m, rrs)
			return m, "", false
		}
		c := set[dns.TypeCNAME]
		if len(c) == 0 {
			break
		}
		m.Answer = append(m.Answer, c[0])
		target := dns.CanonicalName(c[0].(*dns.CNAME).Target)
		if !inside(target, z.origin) {
			return m, target, false
		}
		name = target
	}
	if len(m.Answer) == 0 || m.Answer[len(m.Answer)-1].Header().Rrtype == dns.TypeCNAME {
		m.Ns = []dns.RR{d.negSOA}
	}
	return m, "", false
}

// additional adds the zone's addresses of the targets of NS, MX and SRV
// records, so clients need not ask for them.
func (z *Zone) additional(d *zoneData, m *dns.Msg, rrs []dns.RR) {
	seen := map[string]bool{}
	for _, rr := range rrs {
		var target string
		switch rr := rr.(type) {
		case *dns.NS:
			target = rr.Ns
		case *dns.MX:
			target = rr.Mx
		case *dns.SRV:
			target = rr.Target
		default:
			return
		}
		target = dns.CanonicalName(target)
		if seen[target] {
			continue
		}
		seen[target] = true
		if set := d.names[target]; set != nil {
			m.Extra = append(m.Extra, set[dns.TypeA]...)
			m.Extra = append(m.Extra, set[dns.TypeAAAA]...)
		}
	}
}

// contentAnswer answers <item>.cdn.<zone>: the addresses of the members
// holding a complete copy, nearest first, with a short TTL. Without
// holders the name does not exist. The item is everything before
// cdn.<zone>, dots and escapes read as text: movie.mp4.cdn.shoal. (or
// movie\.mp4.cdn.shoal.) asks for the item named movie.mp4.
func (z *Zone) contentAnswer(d *zoneData, m *dns.Msg, name string, qtype uint16) {
	item := unescapeName(strings.TrimSuffix(name, "."+z.cdn))
	var holders []zoneMember
	if z.content != nil {
		seen := map[string]bool{}
		for _, id := range z.content.Holders(item) {
			if zm, ok := d.byID[id]; ok && !seen[id] {
				seen[id] = true
				holders = append(holders, zm)
			}
		}
	}
	if len(holders) == 0 {
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{d.contentNegSOA}
		return
	}
	slices.SortStableFunc(holders, func(a, b zoneMember) int {
		return cmp.Or(cmp.Compare(a.rtt, b.rtt), cmp.Compare(a.name, b.name))
	})
	for _, h := range holders {
		for _, a := range h.addrs {
			switch {
			case a.Is4() && (qtype == dns.TypeA || qtype == dns.TypeANY):
				m.Answer = append(m.Answer, &dns.A{Hdr: z.hdr(name, dns.TypeA, z.contentTTL), A: a.AsSlice()})
			case a.Is6() && (qtype == dns.TypeAAAA || qtype == dns.TypeANY):
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: z.hdr(name, dns.TypeAAAA, z.contentTTL), AAAA: a.AsSlice()})
			}
		}
	}
	if len(m.Answer) == 0 {
		m.Ns = []dns.RR{d.contentNegSOA}
	}
}

// unescapeName reads a name in presentation format (without its final
// dot) as text: \X is X and \DDD the byte DDD (RFC 1035 section 5.1), as
// dns packs it; the labels are joined with dots. A name that does not pack
// is taken as it is.
func unescapeName(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var buf [256]byte
	end, err := dns.PackDomainName(s+".", buf[:], 0, nil, false)
	if err != nil {
		return s
	}
	var labels []string
	for i := 0; i < end && buf[i] != 0; i += 1 + int(buf[i]) {
		labels = append(labels, string(buf[i+1:i+1+int(buf[i])]))
	}
	return strings.Join(labels, ".")
}
