package naming

import (
	"context"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/shoal-p2p/shoal/naming/internal/dnstest"
)

// hierarchy is a root → TLD → authoritative tree on loopback, one address
// per server, all on one port (glue carries no port).
type hierarchy struct {
	root, test, example, other, evil *dnstest.Authority
	port                             uint16
}

func startHierarchy(t *testing.T) *hierarchy {
	t.Helper()
	h := &hierarchy{
		root: &dnstest.Authority{Origin: ".", Records: dnstest.RRs(t, ".",
			"$TTL 86400",
			". SOA a.root. nstld.root. 1 1800 900 604800 86400",
			"test. NS ns.test.", "ns.test. A 127.0.0.3",
			"other. NS ns.other.", "ns.other. A 127.0.0.5",
		)},
		test: &dnstest.Authority{Origin: "test.", Records: dnstest.RRs(t, "test.",
			"$TTL 3600",
			"@ SOA ns hostmaster 1 3600 600 86400 300",
			"@ NS ns", "ns A 127.0.0.3",
			"example NS ns.example", "ns.example A 127.0.0.4",
			"evil NS ns.evil", "ns.evil A 127.0.0.6",
			// A delegation whose name server lives in another TLD: no glue.
			"elsewhere NS ns.other.",
		)},
		example: &dnstest.Authority{Origin: "example.test.", Records: dnstest.RRs(t, "example.test.",
			"$TTL 300",
			"@ SOA ns hostmaster 1 3600 600 86400 60",
			"@ NS ns", "ns A 127.0.0.4",
			"www A 192.0.2.10", "www AAAA 2001:db8::10",
			"alias CNAME www",
			"far CNAME www.bank.other.",
			"@ MX 10 www",
		)},
		other: &dnstest.Authority{Origin: "other.", Records: dnstest.RRs(t, "other.",
			"$TTL 300",
			"@ SOA ns hostmaster 1 3600 600 86400 60",
			"@ NS ns", "ns A 127.0.0.5",
			"www.bank A 192.0.2.20",
			// ns.other. also serves elsewhere.test.
		)},
		evil: &dnstest.Authority{Origin: "evil.test.", Records: dnstest.RRs(t, "evil.test.",
			"$TTL 300",
			"@ SOA ns hostmaster 1 3600 600 86400 60",
			"x A 192.0.2.66",
			"y CNAME www.bank.other.",
		)},
	}
	// The evil server adds records for names outside its zone.
	h.evil.Modify = func(r, m *dns.Msg) {
		poison := dnstest.RRs(t, ".", "www.bank.other. 86400 IN A 6.6.6.6")
		m.Answer = append(m.Answer, poison...)
		m.Extra = append(m.Extra, dnstest.RRs(t, ".", "www.bank.other. 86400 IN A 6.6.6.6", "ns.other. 86400 IN A 6.6.6.6")...)
		m.Ns = append(m.Ns, dnstest.RRs(t, ".", "other. 86400 IN NS ns.other.")...)
	}
	elsewhere := &dnstest.Authority{Origin: "elsewhere.test.", Records: dnstest.RRs(t, "elsewhere.test.",
		"$TTL 300", "@ SOA ns.other. hostmaster 1 3600 600 86400 60", "host A 192.0.2.30")}
	otherMux := dns.NewServeMux()
	otherMux.Handle("other.", h.other)
	otherMux.Handle("elsewhere.test.", elsewhere)
	h.port = dnstest.StartSamePort(t,
		[]string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"},
		[]dns.Handler{h.root, h.test, h.example, otherMux, h.evil})
	return h
}

func (h *hierarchy) service(t *testing.T, c *clock) *Service {
	t.Helper()
	cfg := Config{
		Mode: ModeIterate, RootHints: []string{"127.0.0.2:" + strconv.Itoa(int(h.port))},
		NameServerPort: int(h.port), Timeout: time.Second,
	}
	if c != nil {
		cfg.Now = c.Now
	}
	s, err := New(cfg, &memberList{ms: testMembers()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestIterate(t *testing.T) {
	h := startHierarchy(t)
	s := h.service(t, nil)
	ctx := context.Background()
	a, err := s.Query(ctx, "www.example.test.", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rrStrings(a.Msg.Answer), norm(t, []string{"www.example.test. 300 IN A 192.0.2.10"}); !slices.Equal(got, want) {
		t.Fatalf("answer %q, want %q", got, want)
	}
	if a.Source != StepIterate {
		t.Errorf("source %q", a.Source)
	}
	var servers, zones []string
	for _, st := range a.Steps {
		servers = append(servers, strings.Split(st.Server, ":")[0])
		zones = append(zones, st.Zone)
	}
	if !slices.Equal(servers, []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}) || !slices.Equal(zones, []string{".", "test.", "example.test."}) {
		t.Errorf("steps went to %v for zones %v, want root, TLD, authoritative", servers, zones)
	}
	if !strings.HasPrefix(a.Steps[0].Result, "referral to test.") || !strings.HasPrefix(a.Steps[1].Result, "referral to example.test.") {
		t.Errorf("steps %q", []string{a.Steps[0].Result, a.Steps[1].Result})
	}
	text := FormatAnswer(a)
	for _, want := range []string{";; ANSWER SECTION:\nwww.example.test.\t300\tIN\tA\t192.0.2.10\n", ";; SOURCE: iterate", "iterate 127.0.0.2:", "(zone example.test.)"} {
		if !strings.Contains(text, want) {
			t.Errorf("formatted answer lacks %q:\n%s", want, text)
		}
	}

	// Known delegations are reused: the next name of the zone goes straight
	// to its server (the cache does not hold this name yet).
	before := len(h.root.Queries())
	a, err = s.Query(ctx, "www.example.test.", dns.TypeAAAA)
	if err != nil || len(a.Msg.Answer) != 1 || len(a.Steps) != 1 || len(h.root.Queries()) != before {
		t.Errorf("AAAA: %q in %d steps (%d new root queries), want 1 step to the authoritative server", rrStrings(a.Msg.Answer), len(a.Steps), len(h.root.Queries())-before)
	}
	// And then from the cache.
	if a, _ = s.Query(ctx, "www.example.test.", dns.TypeA); a.Source != StepCache {
		t.Errorf("again: from %s, want cache", a.Source)
	}
}

func TestIterateNegativeAndChains(t *testing.T) {
	h := startHierarchy(t)
	s := h.service(t, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		qtype  uint16
		rcode  int
		answer []string
		soa    string
	}{
		{"nothere.example.test.", dns.TypeA, dns.RcodeNameError, nil, "example.test."},
		{"nothere.test.", dns.TypeA, dns.RcodeNameError, nil, "test."},
		{"nothere.", dns.TypeA, dns.RcodeNameError, nil, "."},
		{"www.example.test.", dns.TypeTXT, dns.RcodeSuccess, nil, "example.test."},
		{"alias.example.test.", dns.TypeA, dns.RcodeSuccess, []string{"alias.example.test. 300 IN CNAME www.example.test.", "www.example.test. 300 IN A 192.0.2.10"}, ""},
		// A chain into another TLD: resolved from the root again.
		{"far.example.test.", dns.TypeA, dns.RcodeSuccess, []string{"far.example.test. 300 IN CNAME www.bank.other.", "www.bank.other. 300 IN A 192.0.2.20"}, ""},
		// Name server without glue, in another TLD.
		{"host.elsewhere.test.", dns.TypeA, dns.RcodeSuccess, []string{"host.elsewhere.test. 300 IN A 192.0.2.30"}, ""},
		{"example.test.", dns.TypeMX, dns.RcodeSuccess, []string{"example.test. 300 IN MX 10 www.example.test."}, ""},
	} {
		a, err := s.Query(ctx, tc.name, tc.qtype)
		if err != nil {
			t.Errorf("%s: %v (steps %+v)", tc.name, err, a.Steps)
			continue
		}
		if a.Msg.Rcode != tc.rcode || !slices.Equal(rrStrings(a.Msg.Answer), norm(t, tc.answer)) {
			t.Errorf("%s %s: %s %q, want %s %q", tc.name, dns.TypeToString[tc.qtype], dns.RcodeToString[a.Msg.Rcode], rrStrings(a.Msg.Answer), dns.RcodeToString[tc.rcode], tc.answer)
		}
		if tc.soa != "" && (len(a.Msg.Ns) != 1 || a.Msg.Ns[0].Header().Name != tc.soa) {
			t.Errorf("%s: authority %q, want the SOA of %s", tc.name, rrStrings(a.Msg.Ns), tc.soa)
		}
	}
}

func TestIterateOutOfBailiwickNotCached(t *testing.T) {
	h := startHierarchy(t)
	s := h.service(t, nil)
	ctx := context.Background()
	// evil.test.'s server answers with records for www.bank.other. and a
	// new address for ns.other. in every section.
	a, err := s.Query(ctx, "x.evil.test.", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if got := rrStrings(a.Msg.Answer); !slices.Equal(got, norm(t, []string{"x.evil.test. 300 IN A 192.0.2.66"})) {
		t.Errorf("answer %q keeps out-of-bailiwick records", got)
	}
	a, err = s.Query(ctx, "y.evil.test.", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	want := norm(t, []string{"y.evil.test. 300 IN CNAME www.bank.other.", "www.bank.other. 300 IN A 192.0.2.20"})
	if got := rrStrings(a.Msg.Answer); !slices.Equal(got, want) {
		t.Errorf("chain out of the evil zone: %q, want %q", got, want)
	}
	a, err = s.Query(ctx, "www.bank.other.", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if got := rrStrings(a.Msg.Answer); !slices.Equal(got, want[1:]) {
		t.Errorf("www.bank.other.: %q, want the real %q", got, want[1:])
	}
	if len(h.other.Queries()) == 0 {
		t.Error("other.'s real server was never asked")
	}
}

func TestIterateGivesUp(t *testing.T) {
	// Root hints that point nowhere: SERVFAIL once the timeout passes.
	s, err := New(Config{Mode: ModeIterate, RootHints: []string{"127.0.0.9:9"}, Timeout: 200 * time.Millisecond}, &memberList{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Query(context.Background(), "www.example.test.", dns.TypeA)
	if err == nil || a.Msg.Rcode != dns.RcodeServerFailure {
		t.Fatalf("%v %v, want SERVFAIL", a.Msg, err)
	}
	if len(a.Steps) == 0 || a.Steps[0].Server != netip.MustParseAddrPort("127.0.0.9:9").String() {
		t.Errorf("steps %+v", a.Steps)
	}
}
