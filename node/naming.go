package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/shoal-p2p/shoal/cdn/catalog"
	"github.com/shoal-p2p/shoal/cdn/membership"
	"github.com/shoal-p2p/shoal/naming"
)

// startNaming starts the DNS server for the group's zone on the bind
// address, fed by the member table and the catalog, and advertises its port
// in the node record.
func (n *Node) startNaming(ctx context.Context) error {
	d := n.cfg.DNS
	var allow []netip.Prefix
	for _, p := range d.AllowRecursion {
		allow = append(allow, netip.MustParsePrefix(p)) // validated with the config
	}
	cfg := naming.Config{
		Listen:         netip.AddrPortFrom(netip.MustParseAddr(n.cfg.Bind), uint16(n.cfg.Ports.DNS)).String(),
		Zone:           d.Zone + ".",
		Mode:           naming.Mode(d.Mode),
		Upstreams:      d.Upstreams,
		RootHints:      d.RootHints,
		AllowRecursion: allow,
		RateLimit:      naming.RateLimit{Off: d.RateLimit == 0, Rate: float64(d.RateLimit)},
		Logger:         n.log.With("part", "dns"),
	}
	svc, err := naming.New(cfg, zoneMembers{n.cdn.Members}, contentHolders{n.cdn.Catalog, n.cdn.Members})
	if err != nil {
		return fmt.Errorf("node: dns: %w", err)
	}
	if err := svc.Start(ctx); err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("node: DNS port %s is taken by another program; change it with --dns-port or ports.dns in shoal.toml", cfg.Listen)
		}
		return fmt.Errorf("node: dns: %w", err)
	}
	n.dns = svc
	unsub := n.cdn.Members.Subscribe(func(membership.Change) { svc.Zone.Refresh() })
	n.services = append(n.services, service{"DNS", func(context.Context) error {
		unsub()
		return svc.Close()
	}})
	if _, err := n.cdn.Members.UpdateSelf(func(r *membership.Record) {
		r.Ports["dns"] = int(svc.Addr().Port())
		if !slices.Contains(r.Services, "dns") {
			r.Services = append(r.Services, "dns")
		}
	}); err != nil {
		return fmt.Errorf("node: dns: advertise port: %w", err)
	}
	svc.Zone.Refresh()
	return nil
}

// zoneMembers shows the member table to the zone.
type zoneMembers struct{ t *membership.Table }

func (z zoneMembers) Members() []naming.Member {
	var out []naming.Member
	for _, m := range z.t.Members() {
		if m.State == membership.Down {
			continue
		}
		r := m.Record
		nm := naming.Member{Name: m.DisplayName, ID: r.ID, PublicKey: r.PublicKey,
			Addrs: r.Addresses, Ports: r.Ports, RTT: m.RTT}
		for _, zr := range r.Zone {
			nm.Records = append(nm.Records, naming.Record{Name: zr.Name, Type: zr.Type, Value: zr.Value, TTL: zr.TTL})
		}
		out = append(out, nm)
	}
	return out
}

// contentHolders answers content names from the catalog: the members
// that list the item, by its infohash or its name.
type contentHolders struct {
	c *catalog.Catalog
	t *membership.Table
}

func (h contentHolders) Holders(item string) []string {
	var entries []catalog.Entry
	if ih, err := catalog.ParseInfoHash(item); err == nil {
		if e, ok := h.c.Get(ih); ok {
			entries = append(entries, e)
		}
	} else {
		for _, e := range h.c.Network() {
			if strings.EqualFold(e.Item.Name, item) || strings.EqualFold(dnsLabel(e.Item.Name), item) {
				entries = append(entries, e)
			}
		}
	}
	var ids []string
	for _, e := range entries {
		for _, holder := range e.Holders {
			if holder.State != membership.Down && !slices.Contains(ids, holder.ID) {
				ids = append(ids, holder.ID)
			}
		}
	}
	return ids
}

// dnsLabel is an item name as one DNS label: "My Film.mp4" -> "my-film-mp4".
func dnsLabel(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// DNS is the node's DNS service.
func (n *Node) DNS() *naming.Service { return n.dns }

// DNSRecord is a user's own record under the node's name.
type DNSRecord = membership.ZoneRecord

// DNSRecords are the user's own records, signed into the node record.
func (n *Node) DNSRecords() []DNSRecord { return n.cdn.Members.Self().Zone }

// SetDNSRecord adds one of the user's records after checking it lies under
// the node's own name; it spreads to every member with the node record.
// Names are stored relative to the node ("www", "@"), so "www" and
// "www.alice.shoal." are one name; adding a record that exists is a no-op.
func (n *Node) SetDNSRecord(r DNSRecord) error {
	r.Type = strings.ToUpper(r.Type)
	member := n.zoneName()
	if err := naming.ValidateRecord(n.cfg.DNS.Zone+".", member, naming.Record{Name: r.Name, Type: r.Type, Value: r.Value, TTL: r.TTL}); err != nil {
		return fmt.Errorf("%w: %v", errBadRecord, err)
	}
	own := member + "." + n.cfg.DNS.Zone
	r.Name = relativeName(r.Name, own)
	// The table is locked while the callback runs: it must not call back.
	_, err := n.cdn.Members.UpdateSelf(func(self *membership.Record) {
		self.Zone = slices.DeleteFunc(self.Zone, func(z membership.ZoneRecord) bool {
			return relativeName(z.Name, own) == r.Name && z.Type == r.Type && z.Value == r.Value
		})
		self.Zone = append(self.Zone, r)
	})
	if err != nil {
		return fmt.Errorf("node: dns record: %w", err)
	}
	n.dns.Zone.Refresh()
	return nil
}

// RemoveDNSRecord removes the user's records of a name and type.
func (n *Node) RemoveDNSRecord(name, typ string) error {
	if name == "" || typ == "" {
		return fmt.Errorf("%w: give the name and the type of the record to remove", errBadRecord)
	}
	typ = strings.ToUpper(typ)
	own := n.zoneName() + "." + n.cfg.DNS.Zone
	name = relativeName(name, own)
	found := false
	_, err := n.cdn.Members.UpdateSelf(func(self *membership.Record) {
		self.Zone = slices.DeleteFunc(self.Zone, func(z membership.ZoneRecord) bool {
			match := relativeName(z.Name, own) == name && z.Type == typ
			found = found || match
			return match
		})
	})
	if err != nil {
		return fmt.Errorf("node: dns record: %w", err)
	}
	if !found {
		return fmt.Errorf("%w: no record %s %s", errNoRoute, name, typ)
	}
	n.dns.Zone.Refresh()
	return nil
}

var errBadRecord = errors.New("node: bad record")

// zoneName is the node's label in the zone: its name, or NAME-<id> when
// another member claimed the name first.
func (n *Node) zoneName() string {
	if m, ok := n.cdn.Members.Member(n.id.ID()); ok && m.DisplayName != "" {
		return m.DisplayName
	}
	return n.Config().Name
}

// relativeName is a record name relative to the node whose full name is
// own ("alice.shoal"): "www", or "@" for the node's own name.
func relativeName(name, own string) string {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	switch {
	case name == "" || name == "@" || name == own:
		return "@"
	case strings.HasSuffix(name, "."+own):
		return strings.TrimSuffix(name, "."+own)
	}
	return name
}

// DNSQuery resolves name through the node's own chain and tells its path.
func (n *Node) DNSQuery(ctx context.Context, name, qtype string) (naming.Answer, error) {
	if _, ok := dns.IsDomainName(name); !ok || name == "" {
		return naming.Answer{}, fmt.Errorf("%w: %q is not a domain name", errBadRecord, name)
	}
	t, ok := dns.StringToType[strings.ToUpper(qtype)]
	if !ok {
		return naming.Answer{}, fmt.Errorf("%w: unknown record type %q", errBadRecord, qtype)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return n.dns.Query(ctx, name, t)
}

// dnsRoutes are the control API's routes for names.
func (a *controlAPI) dnsRoutes(api func(string, http.HandlerFunc)) {
	api("GET /api/v1/dns/zone", a.getZone)
	api("GET /api/v1/dns/records", a.getDNSRecords)
	api("POST /api/v1/dns/records", a.postDNSRecord)
	api("DELETE /api/v1/dns/records", a.deleteDNSRecord)
	api("GET /api/v1/dns/query", a.getDNSQuery)
}

// zoneRecord is a record of the zone in JSON.
type zoneRecord struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	TTL   uint32 `json:"ttl"`
	Value string `json:"value"`
	Text  string `json:"text"` // the zone-file line
}

func jsonRRs(rrs []dns.RR) []zoneRecord {
	out := make([]zoneRecord, 0, len(rrs))
	for _, rr := range rrs {
		h := rr.Header()
		text := rr.String()
		value := strings.TrimPrefix(text, h.String())
		out = append(out, zoneRecord{Name: h.Name, Type: dns.TypeToString[h.Rrtype], TTL: h.Ttl, Value: value, Text: text})
	}
	return out
}

func (a *controlAPI) getZone(w http.ResponseWriter, r *http.Request) {
	z := a.n.dns.Zone
	writeJSON(w, http.StatusOK, map[string]any{"zone": z.Origin(), "serial": z.Serial(), "records": jsonRRs(z.Records()),
		"server": a.n.dns.Addr().String()})
}

func (a *controlAPI) getDNSRecords(w http.ResponseWriter, r *http.Request) {
	recs := a.n.DNSRecords()
	if recs == nil {
		recs = []DNSRecord{}
	}
	writeJSON(w, http.StatusOK, recs)
}

func (a *controlAPI) postDNSRecord(w http.ResponseWriter, r *http.Request) {
	var rec DNSRecord
	if err := decodeJSON(w, r, &rec); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if err := a.n.SetDNSRecord(rec); err != nil {
		writeError(w, statusFor(err), err)
		return
	}
	a.getDNSRecords(w, r)
}

func (a *controlAPI) deleteDNSRecord(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := a.n.RemoveDNSRecord(q.Get("name"), q.Get("type")); err != nil {
		writeError(w, statusFor(err), err)
		return
	}
	a.getDNSRecords(w, r)
}

// getDNSQuery resolves ?name=&type= (default A) and answers with the
// records, the path and dig-like text.
func (a *controlAPI) getDNSQuery(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	typ := q.Get("type")
	if typ == "" {
		typ = "A"
	}
	if q.Get("name") == "" {
		writeError(w, http.StatusBadRequest, errors.New("no name to look up"))
		return
	}
	ans, err := a.n.DNSQuery(r.Context(), q.Get("name"), typ)
	if err != nil && ans.Msg == nil {
		writeError(w, statusFor(err), err)
		return
	}
	out := map[string]any{"source": ans.Source, "steps": ans.Steps, "text": naming.FormatAnswer(ans)}
	if ans.Msg != nil {
		out["rcode"] = dns.RcodeToString[ans.Msg.Rcode]
		out["answer"] = jsonRRs(ans.Msg.Answer)
		out["authority"] = jsonRRs(ans.Msg.Ns)
	}
	if err != nil {
		out["error"] = err.Error()
	}
	writeJSON(w, http.StatusOK, out)
}
