package naming

import (
	"context"
	"encoding/base64"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// testMembers are three members: alice (this node), bob and carol.
func testMembers() []Member {
	return []Member{
		{
			Name: "alice", ID: "id-alice", PublicKey: testKey,
			Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.11"), netip.MustParseAddr("fd00::11")},
			Ports: map[string]int{"peer": 7481, "bittorrent": 7482, "http": 7488, "smtp": 7425, "dns": 7453},
			Records: []Record{
				{Name: "www", Type: "CNAME", Value: "@"},
				{Name: "site", Type: "A", Value: "192.0.2.1", TTL: 300},
				{Name: "info.alice.shoal", Type: "TXT", Value: `"hello world"`},
				{Name: "ext", Type: "CNAME", Value: "example.org."},
				{Name: "bad.bob.shoal.", Type: "A", Value: "192.0.2.66"}, // not alice's: skipped
			},
		},
		{
			Name: "bob", ID: "id-bob", Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.12")},
			Ports: map[string]int{"peer": 7481, "http": 7488}, RTT: 5 * time.Millisecond,
		},
		{
			Name: "carol", ID: "id-carol", Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.13")},
			Ports: map[string]int{"peer": 7481}, RTT: time.Millisecond,
		},
	}
}

// testChain is zone → guard (loopback) → a stub resolver that knows
// example.org.
func testChain(t *testing.T, ms []Member, content ContentLocator) (*Zone, Handler) {
	t.Helper()
	c := newClock()
	z, err := NewZone(Config{Now: c.Now}, &memberList{ms: ms}, content)
	if err != nil {
		t.Fatal(err)
	}
	stub := handlerFunc(func(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.RecursionAvailable = true
		if dns.CanonicalName(r.Question[0].Name) == "example.org." && r.Question[0].Qtype == dns.TypeA {
			rr, _ := dns.NewRR("example.org. 3600 IN A 192.0.2.99")
			m.Answer = append(m.Answer, rr)
		} else {
			m.Rcode = dns.RcodeNameError
		}
		return m.Rcode, w.WriteMsg(m)
	})
	z.Next = &RecursionGuard{Allow: loopback(), Next: stub}
	return z, z
}

func TestZoneTable(t *testing.T) {
	content := holders{"movie": {"id-bob", "id-carol", "id-alice", "id-nobody"}, "movie.mp4": {"id-carol"}, "my film.mp4": {"id-bob"}}
	z, h := testChain(t, testMembers(), content)
	serial := z.Serial()
	soaNeg := func(ttl int) string {
		return "shoal. " + strconv.Itoa(ttl) + " IN SOA alice.shoal. hostmaster.shoal. " + strconv.Itoa(int(serial)) + " 3600 600 86400 30"
	}
	key := base64.StdEncoding.EncodeToString(testKey)
	local := netip.MustParseAddr("127.0.0.1")
	outsider := netip.MustParseAddr("10.1.2.3")
	tests := []struct {
		name   string
		q      string
		qtype  uint16
		client netip.Addr
		rcode  int
		answer []string
		ns     []string
		extra  []string
	}{
		{name: "A", q: "alice.shoal.", qtype: dns.TypeA, answer: []string{"alice.shoal. 60 IN A 127.0.0.11"}},
		{name: "case", q: "ALICE.Shoal.", qtype: dns.TypeA, answer: []string{"alice.shoal. 60 IN A 127.0.0.11"}},
		{name: "AAAA", q: "alice.shoal.", qtype: dns.TypeAAAA, answer: []string{"alice.shoal. 60 IN AAAA fd00::11"}},
		{name: "TXT", q: "alice.shoal.", qtype: dns.TypeTXT, answer: []string{`alice.shoal. 60 IN TXT "id=id-alice" "key=` + key + `"`}},
		{name: "TXT without key", q: "bob.shoal.", qtype: dns.TypeTXT, answer: []string{`bob.shoal. 60 IN TXT "id=id-bob"`}},
		{name: "DKIM key", q: "shoal._domainkey.alice.shoal.", qtype: dns.TypeTXT,
			answer: []string{`shoal._domainkey.alice.shoal. 60 IN TXT "v=DKIM1; k=ed25519; p=` + key + `"`}},
		{name: "no DKIM key without a node key", q: "shoal._domainkey.bob.shoal.", qtype: dns.TypeTXT, rcode: dns.RcodeNameError, ns: []string{soaNeg(30)}},
		{name: "MX", q: "alice.shoal.", qtype: dns.TypeMX,
			answer: []string{"alice.shoal. 60 IN MX 10 alice.shoal."},
			extra:  []string{"alice.shoal. 60 IN A 127.0.0.11", "alice.shoal. 60 IN AAAA fd00::11"}},
		{name: "SRV peer", q: "_shoal-peer._tcp.bob.shoal.", qtype: dns.TypeSRV,
			answer: []string{"_shoal-peer._tcp.bob.shoal. 60 IN SRV 0 0 7481 bob.shoal."},
			extra:  []string{"bob.shoal. 60 IN A 127.0.0.12"}},
		{name: "SRV bittorrent", q: "_bittorrent._tcp.alice.shoal.", qtype: dns.TypeSRV,
			answer: []string{"_bittorrent._tcp.alice.shoal. 60 IN SRV 0 0 7482 alice.shoal."},
			extra:  []string{"alice.shoal. 60 IN A 127.0.0.11", "alice.shoal. 60 IN AAAA fd00::11"}},
		{name: "SRV http", q: "_http._tcp.alice.shoal.", qtype: dns.TypeSRV,
			answer: []string{"_http._tcp.alice.shoal. 60 IN SRV 0 0 7488 alice.shoal."},
			extra:  []string{"alice.shoal. 60 IN A 127.0.0.11", "alice.shoal. 60 IN AAAA fd00::11"}},
		{name: "SRV smtp", q: "_smtp._tcp.alice.shoal.", qtype: dns.TypeSRV,
			answer: []string{"_smtp._tcp.alice.shoal. 60 IN SRV 0 0 7425 alice.shoal."},
			extra:  []string{"alice.shoal. 60 IN A 127.0.0.11", "alice.shoal. 60 IN AAAA fd00::11"}},
		{name: "SRV dns over udp", q: "_dns._udp.alice.shoal.", qtype: dns.TypeSRV,
			answer: []string{"_dns._udp.alice.shoal. 60 IN SRV 0 0 7453 alice.shoal."},
			extra:  []string{"alice.shoal. 60 IN A 127.0.0.11", "alice.shoal. 60 IN AAAA fd00::11"}},
		{name: "SRV not advertised", q: "_smtp._tcp.bob.shoal.", qtype: dns.TypeSRV, rcode: dns.RcodeNameError, ns: []string{soaNeg(30)}},
		{name: "empty non-terminal", q: "_tcp.bob.shoal.", qtype: dns.TypeA, ns: []string{soaNeg(30)}},
		{name: "NODATA", q: "bob.shoal.", qtype: dns.TypeSRV, ns: []string{soaNeg(30)}},
		{name: "NXDOMAIN", q: "nobody.shoal.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{soaNeg(30)}},
		{name: "user A", q: "site.alice.shoal.", qtype: dns.TypeA, answer: []string{"site.alice.shoal. 300 IN A 192.0.2.1"}},
		{name: "user TXT", q: "info.alice.shoal.", qtype: dns.TypeTXT, answer: []string{`info.alice.shoal. 60 IN TXT "hello world"`}},
		{name: "user record outside own subdomain skipped", q: "bad.bob.shoal.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{soaNeg(30)}},
		{name: "CNAME in zone followed", q: "www.alice.shoal.", qtype: dns.TypeA,
			answer: []string{"www.alice.shoal. 60 IN CNAME alice.shoal.", "alice.shoal. 60 IN A 127.0.0.11"}},
		{name: "CNAME asked for", q: "www.alice.shoal.", qtype: dns.TypeCNAME,
			answer: []string{"www.alice.shoal. 60 IN CNAME alice.shoal."}},
		{name: "CNAME out of zone followed", q: "ext.alice.shoal.", qtype: dns.TypeA, client: local,
			answer: []string{"ext.alice.shoal. 60 IN CNAME example.org.", "example.org. 3600 IN A 192.0.2.99"}},
		{name: "CNAME out of zone not followed for outsiders", q: "ext.alice.shoal.", qtype: dns.TypeA, client: outsider,
			answer: []string{"ext.alice.shoal. 60 IN CNAME example.org."}},
		{name: "SOA", q: "shoal.", qtype: dns.TypeSOA, answer: []string{soaNeg(60)}},
		{name: "NS one per member", q: "shoal.", qtype: dns.TypeNS,
			answer: []string{"shoal. 60 IN NS alice.shoal.", "shoal. 60 IN NS bob.shoal.", "shoal. 60 IN NS carol.shoal."},
			extra: []string{"alice.shoal. 60 IN A 127.0.0.11", "alice.shoal. 60 IN AAAA fd00::11",
				"bob.shoal. 60 IN A 127.0.0.12", "carol.shoal. 60 IN A 127.0.0.13"}},
		{name: "content nearest first", q: "movie.cdn.shoal.", qtype: dns.TypeA,
			answer: []string{"movie.cdn.shoal. 10 IN A 127.0.0.11", "movie.cdn.shoal. 10 IN A 127.0.0.13", "movie.cdn.shoal. 10 IN A 127.0.0.12"}},
		{name: "content AAAA", q: "Movie.CDN.shoal.", qtype: dns.TypeAAAA, answer: []string{"movie.cdn.shoal. 10 IN AAAA fd00::11"}},
		{name: "content TXT", q: "movie.cdn.shoal.", qtype: dns.TypeTXT, ns: []string{soaNeg(10)}},
		{name: "content nobody holds", q: "other.cdn.shoal.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{soaNeg(10)}},
		{name: "content deeper name", q: "a.movie.cdn.shoal.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{soaNeg(10)}},
		{name: "content name with a dot", q: "Movie.MP4.cdn.shoal.", qtype: dns.TypeA, answer: []string{"movie.mp4.cdn.shoal. 10 IN A 127.0.0.13"}},
		{name: "content name with an escaped dot", q: `movie\.mp4.cdn.shoal.`, qtype: dns.TypeA, answer: []string{`movie\.mp4.cdn.shoal. 10 IN A 127.0.0.13`}},
		{name: "content name with a space", q: `my\032film.mp4.cdn.shoal.`, qtype: dns.TypeA, answer: []string{`my\032film.mp4.cdn.shoal. 10 IN A 127.0.0.12`}},
		{name: "cdn itself", q: "cdn.shoal.", qtype: dns.TypeA, ns: []string{soaNeg(30)}},
		{name: "ANY minimal", q: "alice.shoal.", qtype: dns.TypeANY, answer: []string{`alice.shoal. 60 IN HINFO "RFC8482" ""`}},
		{name: "outside name recursed for loopback", q: "example.org.", qtype: dns.TypeA, client: local,
			answer: []string{"example.org. 3600 IN A 192.0.2.99"}},
		{name: "outside name refused for outsiders", q: "example.org.", qtype: dns.TypeA, client: outsider, rcode: dns.RcodeRefused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rcode, m := serveRecorded(t, h, tc.client, question(tc.q, tc.qtype))
			if rcode != tc.rcode {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[rcode], dns.RcodeToString[tc.rcode])
			}
			if !written(rcode) {
				if m != nil {
					t.Fatalf("handler wrote %v with rcode %s", m, dns.RcodeToString[rcode])
				}
				return
			}
			if m == nil {
				t.Fatal("no response written")
			}
			if m.Rcode != tc.rcode {
				t.Errorf("response rcode %s, want %s", dns.RcodeToString[m.Rcode], dns.RcodeToString[tc.rcode])
			}
			if inside(dns.CanonicalName(tc.q), "shoal.") && !m.Authoritative {
				t.Error("AA not set on a zone answer")
			}
			if m.Question[0].Name != tc.q {
				t.Errorf("question %q, want the one asked, %q", m.Question[0].Name, tc.q)
			}
			for _, sec := range []struct {
				name      string
				got, want []string
			}{{"answer", rrStrings(m.Answer), norm(t, tc.answer)}, {"ns", rrStrings(m.Ns), norm(t, tc.ns)}, {"extra", rrStrings(m.Extra), norm(t, tc.extra)}} {
				if !slices.Equal(sec.got, sec.want) {
					t.Errorf("%s:\n got %q\nwant %q", sec.name, sec.got, sec.want)
				}
			}
		})
	}
}

func TestZoneSerialFollowsMembership(t *testing.T) {
	c := newClock()
	ml := &memberList{ms: testMembers()}
	z, err := NewZone(Config{Now: c.Now}, ml, nil)
	if err != nil {
		t.Fatal(err)
	}
	s0 := z.Serial()
	if s, changed := z.Refresh(); changed || s != s0 {
		t.Errorf("refresh without change: serial %d changed %v, want %d false", s, changed, s0)
	}
	// RTT is no DNS data: no new serial.
	ms := testMembers()
	ms[1].RTT = time.Second
	ml.set(ms)
	if s, changed := z.Refresh(); changed || s != s0 {
		t.Errorf("RTT change: serial %d changed %v, want %d false", s, changed, s0)
	}
	// A new user record is.
	ms[1].Records = append(ms[1].Records, Record{Name: "www", Type: "A", Value: "192.0.2.7"})
	ml.set(ms)
	s1, changed := z.Refresh()
	if !changed || s1 <= s0 {
		t.Fatalf("record added: serial %d changed %v, want > %d", s1, changed, s0)
	}
	// Removing a member: it stops resolving, the serial increases again.
	ml.set(slices.Delete(ms, 1, 2))
	s2, changed := z.Refresh()
	if !changed || s2 <= s1 {
		t.Fatalf("member removed: serial %d changed %v, want > %d", s2, changed, s1)
	}
	for _, name := range []string{"bob.shoal.", "www.bob.shoal.", "_shoal-peer._tcp.bob.shoal."} {
		if _, m := serveRecorded(t, z, netip.Addr{}, question(name, dns.TypeA)); m.Rcode != dns.RcodeNameError {
			t.Errorf("%s after removal: %s, want NXDOMAIN", name, dns.RcodeToString[m.Rcode])
		}
	}
	_, m := serveRecorded(t, z, netip.Addr{}, question("shoal.", dns.TypeNS))
	if len(m.Answer) != 2 {
		t.Errorf("NS after removal: %v, want alice and carol", rrStrings(m.Answer))
	}
	_, m = serveRecorded(t, z, netip.Addr{}, question("shoal.", dns.TypeSOA))
	if soa := m.Answer[0].(*dns.SOA); soa.Serial != s2 {
		t.Errorf("SOA serial %d, want %d", soa.Serial, s2)
	}
}

func TestZoneDuplicateAndBadNames(t *testing.T) {
	ms := []Member{
		{Name: "alice", ID: "1", Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}},
		{Name: "Alice", ID: "2", Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.2")}},
		{Name: "cdn", ID: "3"},
		{Name: "not a label", ID: "4"},
		{Name: "dave", ID: "5", Records: []Record{
			{Name: "@", Type: "CNAME", Value: "alice.shoal."},         // hides dave's own records: rejected
			{Name: "x", Type: "CNAME", Value: "alice.shoal."},         // fine
			{Name: "x", Type: "TXT", Value: "conflicts with a CNAME"}, // the CNAME goes
		}},
	}
	z, err := NewZone(Config{}, &memberList{ms: ms}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, m := serveRecorded(t, z, netip.Addr{}, question("alice.shoal.", dns.TypeA))
	if got := rrStrings(m.Answer); len(got) != 1 || !strings.HasSuffix(got[0], "127.0.0.1") {
		t.Errorf("alice: %q, want the first claim only", got)
	}
	_, m = serveRecorded(t, z, netip.Addr{}, question("shoal.", dns.TypeNS))
	if len(m.Answer) != 2 {
		t.Errorf("NS: %q, want alice and dave", rrStrings(m.Answer))
	}
	_, m = serveRecorded(t, z, netip.Addr{}, question("x.dave.shoal.", dns.TypeA))
	if len(m.Answer) != 0 {
		t.Errorf("x.dave: %q, want no CNAME next to other data", rrStrings(m.Answer))
	}
}

func TestParseRecord(t *testing.T) {
	tests := []struct {
		r       Record
		want    string // record text, or "" for an error
		errPart string
	}{
		{Record{Name: "www", Type: "A", Value: "192.0.2.1"}, "www.alice.shoal.\t0\tIN\tA\t192.0.2.1", ""},
		{Record{Name: "www.alice.shoal.", Type: "aaaa", Value: "2001:db8::1", TTL: 30}, "www.alice.shoal.\t30\tIN\tAAAA\t2001:db8::1", ""},
		{Record{Name: "WWW.Alice.Shoal", Type: "A", Value: "192.0.2.1"}, "www.alice.shoal.\t0\tIN\tA\t192.0.2.1", ""},
		{Record{Name: "@", Type: "MX", Value: "20 mail"}, "alice.shoal.\t0\tIN\tMX\t20 mail.alice.shoal.", ""},
		{Record{Name: "", Type: "TXT", Value: `"v=spf1 -all; x" "two"`}, "alice.shoal.\t0\tIN\tTXT\t\"v=spf1 -all; x\" \"two\"", ""},
		{Record{Name: "_xmpp._tcp", Type: "SRV", Value: "0 5 5222 alice.shoal."}, "_xmpp._tcp.alice.shoal.\t0\tIN\tSRV\t0 5 5222 alice.shoal.", ""},
		{Record{Name: "blog", Type: "CNAME", Value: "example.org."}, "blog.alice.shoal.\t0\tIN\tCNAME\texample.org.", ""},
		{Record{Name: "x", Type: "A", Value: "192.0.2.1", TTL: 1 << 30}, "x.alice.shoal.\t86400\tIN\tA\t192.0.2.1", ""},
		{Record{Name: "www.bob.shoal.", Type: "A", Value: "192.0.2.1"}, "", "outside"},
		{Record{Name: "www.bob.shoal", Type: "A", Value: "192.0.2.1"}, "", "outside"},
		{Record{Name: "shoal.", Type: "A", Value: "192.0.2.1"}, "", "outside"},
		{Record{Name: "example.org.", Type: "A", Value: "192.0.2.1"}, "", "outside"},
		{Record{Name: "www", Type: "NS", Value: "ns.example.org."}, "", "only A, AAAA"},
		{Record{Name: "www", Type: "BOGUS", Value: "x"}, "", "only A, AAAA"},
		{Record{Name: "@", Type: "CNAME", Value: "example.org."}, "", "hide"},
		{Record{Name: "www", Type: "A", Value: "not-an-ip"}, "", "A"},
		{Record{Name: "www", Type: "A", Value: ""}, "", "empty"},
		{Record{Name: "www", Type: "A", Value: "192.0.2.1\nevil.bob.shoal. A 192.0.2.2"}, "", "control"},
		{Record{Name: "www", Type: "A", Value: "192.0.2.1 192.0.2.2"}, "", "A"},
		{Record{Name: "a b", Type: "A", Value: "192.0.2.1"}, "", "not a domain"},
	}
	for _, tc := range tests {
		rr, err := ParseRecord("shoal.", "alice", tc.r)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%+v: accepted as %v, want an error", tc.r, rr)
			} else if !strings.Contains(err.Error(), tc.errPart) || !strings.HasPrefix(err.Error(), "naming: ") {
				t.Errorf("%+v: error %q, want one mentioning %q", tc.r, err, tc.errPart)
			}
			if err2 := ValidateRecord("shoal.", "alice", tc.r); (err2 == nil) != (err == nil) {
				t.Errorf("ValidateRecord and ParseRecord disagree on %+v", tc.r)
			}
			continue
		}
		if err != nil {
			t.Errorf("%+v: %v", tc.r, err)
			continue
		}
		if rr.String() != tc.want {
			t.Errorf("%+v:\n got %q\nwant %q", tc.r, rr.String(), tc.want)
		}
	}
}

func TestZoneRecordsList(t *testing.T) {
	z, _ := testChain(t, testMembers(), nil)
	rrs := z.Records()
	if rrs[0].Header().Rrtype != dns.TypeSOA {
		t.Fatalf("first record %v, want the SOA", rrs[0])
	}
	text := FormatRRs(rrs)
	for _, want := range []string{"alice.shoal.\t60\tIN\tA\t127.0.0.11", "site.alice.shoal.\t300\tIN\tA\t192.0.2.1", "shoal.\t60\tIN\tNS\tcarol.shoal."} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("records lack %q:\n%s", want, text)
		}
	}
}

// Query names come unpacked by dns, escaped as it escapes them.
func TestUnescapeName(t *testing.T) {
	for in, want := range map[string]string{
		"movie.mp4":       "movie.mp4",
		`movie\.mp4`:      "movie.mp4",
		`my\032film`:      "my film",
		`a\\b`:            `a\b`,
		`\"quoted\"`:      `"quoted"`,
		`\065\066\067.\x`: "ABC.x",
		`end\`:            `end\`, // does not pack: as it is
	} {
		if got := unescapeName(in); got != want {
			t.Errorf("unescapeName(%q) = %q, want %q", in, got, want)
		}
	}
}
