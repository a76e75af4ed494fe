package naming

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/shoal-p2p/shoal/naming/internal/dnstest"
)

// startService runs a service on 127.0.0.1:0 for the test.
func startService(t *testing.T, cfg Config, members Members, content ContentLocator) *Service {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.ResolvConf == "" && len(cfg.Upstreams) == 0 {
		cfg.ResolvConf = offlineConf(t)
	}
	s, err := New(cfg, members, content)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if s.Addr().Port() == 0 {
		t.Fatal("bound port not reported")
	}
	return s
}

func TestServerUDPAndTCP(t *testing.T) {
	s := startService(t, Config{}, &memberList{ms: testMembers()}, nil)
	for _, network := range []string{"udp", "tcp"} {
		m := dnsExchange(t, network, s.Addr(), question("bob.shoal.", dns.TypeA))
		if got := rrStrings(m.Answer); !slices.Equal(got, norm(t, []string{"bob.shoal. 60 IN A 127.0.0.12"})) {
			t.Errorf("%s: answer %q", network, got)
		}
		if !m.Authoritative || !m.RecursionAvailable {
			t.Errorf("%s: AA %v RA %v, want both for a loopback client", network, m.Authoritative, m.RecursionAvailable)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestServerEDNS(t *testing.T) {
	s := startService(t, Config{}, &memberList{ms: testMembers()}, nil)
	q := question("alice.shoal.", dns.TypeA)
	if m := dnsExchange(t, "udp", s.Addr(), q); m.IsEdns0() != nil {
		t.Error("OPT in the answer to a query without one")
	}
	q.SetEdns0(4096, true)
	m := dnsExchange(t, "udp", s.Addr(), q)
	opt := m.IsEdns0()
	if opt == nil {
		t.Fatal("no OPT in the answer to an EDNS query")
	}
	if opt.UDPSize() != ednsSize || !opt.Do() {
		t.Errorf("OPT size %d DO %v, want %d true", opt.UDPSize(), opt.Do(), ednsSize)
	}
	q = question("alice.shoal.", dns.TypeA)
	q.SetEdns0(1232, false)
	q.IsEdns0().SetVersion(1)
	if m := dnsExchange(t, "udp", s.Addr(), q); m.Rcode != dns.RcodeBadVers {
		t.Errorf("EDNS version 1: rcode %s, want BADVERS", dns.RcodeToString[m.Rcode])
	}
}

func TestServerTruncation(t *testing.T) {
	big := testMembers()
	for i := range 40 {
		big[0].Records = append(big[0].Records, Record{Name: "big", Type: "TXT", Value: fmt.Sprintf(`"%02d %s"`, i, strings.Repeat("x", 40))})
	}
	for i := range 30 {
		big[1].Addrs = append(big[1].Addrs, netip.MustParseAddr(fmt.Sprintf("fd00::1:%x", i)))
	}
	s := startService(t, Config{}, &memberList{ms: big}, nil)

	m := dnsExchange(t, "udp", s.Addr(), question("big.alice.shoal.", dns.TypeTXT))
	if !m.Truncated || len(m.Answer) == 40 {
		t.Errorf("UDP without EDNS: TC %v with %d answers, want TC and fewer", m.Truncated, len(m.Answer))
	}
	m.Compress = true // as sent
	if b, _ := m.Pack(); len(b) > 512 {
		t.Errorf("UDP answer of %d bytes, over 512", len(b))
	}
	q := question("big.alice.shoal.", dns.TypeTXT)
	q.SetEdns0(1232, false)
	m = dnsExchange(t, "udp", s.Addr(), q)
	m.Compress = true
	if b, _ := m.Pack(); !m.Truncated || len(b) > 1232 {
		t.Errorf("UDP with EDNS 1232: TC %v, %d bytes; want TC within 1232", m.Truncated, len(b))
	}
	m = dnsExchange(t, "tcp", s.Addr(), question("big.alice.shoal.", dns.TypeTXT))
	if m.Truncated || len(m.Answer) != 40 {
		t.Errorf("TCP: TC %v with %d answers, want all 40", m.Truncated, len(m.Answer))
	}
	// A client that follows TC gets everything.
	c := &dns.Client{Net: "udp"}
	m, _, err := c.Exchange(question("big.alice.shoal.", dns.TypeTXT), s.Addr().String())
	if err != nil || !m.Truncated {
		t.Fatalf("want a truncated UDP answer, got %v %v", m, err)
	}
	// Only additional records dropped: no TC (RFC 2181 9).
	m = dnsExchange(t, "udp", s.Addr(), question("bob.shoal.", dns.TypeMX))
	if m.Truncated || len(m.Answer) != 1 {
		t.Errorf("MX with too much glue: TC %v answers %d, want no TC and the MX", m.Truncated, len(m.Answer))
	}
}

func TestThreeNodes(t *testing.T) {
	ml := &memberList{ms: testMembers()}
	var nodes []*Service
	for range 3 {
		nodes = append(nodes, startService(t, Config{}, ml, nil))
	}
	for i, n := range nodes {
		for _, other := range []string{"alice", "bob", "carol"} {
			m := dnsExchange(t, "udp", n.Addr(), question(other+".shoal.", dns.TypeA))
			if len(m.Answer) != 1 || m.Rcode != dns.RcodeSuccess {
				t.Errorf("node %d: %s A: %s %q", i, other, dns.RcodeToString[m.Rcode], rrStrings(m.Answer))
			}
			m = dnsExchange(t, "tcp", n.Addr(), question("_shoal-peer._tcp."+other+".shoal.", dns.TypeSRV))
			if len(m.Answer) != 1 || m.Answer[0].(*dns.SRV).Port != 7481 {
				t.Errorf("node %d: %s SRV: %q", i, other, rrStrings(m.Answer))
			}
			m = dnsExchange(t, "udp", n.Addr(), question(other+".shoal.", dns.TypeTXT))
			if len(m.Answer) != 1 || m.Answer[0].(*dns.TXT).Txt[0] != "id=id-"+other {
				t.Errorf("node %d: %s TXT: %q", i, other, rrStrings(m.Answer))
			}
		}
	}
	before := nodes[0].Zone.Serial()
	ml.set(testMembers()[:2]) // carol leaves
	for _, n := range nodes {
		n.Zone.Refresh()
	}
	for i, n := range nodes {
		if m := dnsExchange(t, "udp", n.Addr(), question("carol.shoal.", dns.TypeA)); m.Rcode != dns.RcodeNameError {
			t.Errorf("node %d: carol after removal: %s, want NXDOMAIN", i, dns.RcodeToString[m.Rcode])
		}
		m := dnsExchange(t, "udp", n.Addr(), question("shoal.", dns.TypeSOA))
		if serial := m.Answer[0].(*dns.SOA).Serial; serial <= before {
			t.Errorf("node %d: serial %d after removal, want > %d", i, serial, before)
		}
	}
}

func TestRefusedOutsideRecursion(t *testing.T) {
	up := &dnstest.Authority{Origin: "example.", Records: dnstest.RRs(t, "example.", "$TTL 300", "@ SOA ns hm 1 2 3 4 60", "www A 192.0.2.1")}
	upAddr := dnstest.Start(t, "127.0.0.1:0", up)
	// Tests run on loopback: an allow list without it makes us an outsider.
	s := startService(t, Config{Upstreams: []string{upAddr.String()}, AllowRecursion: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
		&memberList{ms: testMembers()}, nil)
	for _, network := range []string{"udp", "tcp"} {
		m := dnsExchange(t, network, s.Addr(), question("www.example.", dns.TypeA))
		if m.Rcode != dns.RcodeRefused || len(m.Answer) != 0 {
			t.Errorf("%s: outside name: %s %q, want REFUSED", network, dns.RcodeToString[m.Rcode], rrStrings(m.Answer))
		}
		m = dnsExchange(t, network, s.Addr(), question("alice.shoal.", dns.TypeA))
		if m.Rcode != dns.RcodeSuccess || !m.Authoritative || m.RecursionAvailable {
			t.Errorf("%s: zone name: %s AA %v RA %v, want an authoritative answer without RA", network, dns.RcodeToString[m.Rcode], m.Authoritative, m.RecursionAvailable)
		}
	}
	if n := len(up.Queries()); n != 0 {
		t.Errorf("upstream asked %d times for an outsider", n)
	}
	// The node itself may still resolve.
	if a, err := s.Query(context.Background(), "www.example.", dns.TypeA); err != nil || len(a.Msg.Answer) != 1 {
		t.Errorf("in process: %v %v", a.Msg, err)
	}
}

func TestRateLimit(t *testing.T) {
	c := newClock()
	s, err := New(Config{ResolvConf: offlineConf(t), Now: c.Now,
		RateLimit: RateLimit{Rate: 5, Burst: 5, Slip: 2, Exempt: []netip.Prefix{}}}, &memberList{ms: testMembers()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pkt, _ := question("alice.shoal.", dns.TypeA).Pack()
	ask := func(client string, network string) string {
		out := s.Server.handlePacket(context.Background(), pkt, netip.MustParseAddrPort(client), network)
		if out == nil {
			return "drop"
		}
		m := new(dns.Msg)
		if err := m.Unpack(out); err != nil {
			t.Fatal(err)
		}
		if m.Truncated && len(m.Answer) == 0 {
			return "slip"
		}
		return "answer"
	}
	var got []string
	for range 9 {
		got = append(got, ask("198.51.100.7:1000", "udp"))
	}
	want := []string{"answer", "answer", "answer", "answer", "answer", "drop", "slip", "drop", "slip"}
	if !slices.Equal(got, want) {
		t.Errorf("one client over the limit:\n got %v\nwant %v", got, want)
	}
	if v := ask("198.51.100.200:1000", "udp"); v == "answer" {
		t.Error("another host of the same /24 was answered: the limit is per prefix")
	}
	if v := ask("198.51.101.7:1000", "udp"); v != "answer" {
		t.Errorf("another /24: %s, want answer", v)
	}
	if v := ask("198.51.100.7:1000", "tcp"); v != "answer" {
		t.Errorf("TCP: %s, want answer (TCP is not limited)", v)
	}
	if v := ask("[2001:db8:0:1::1]:1000", "udp"); v != "answer" {
		t.Errorf("IPv6: %s, want answer", v)
	}
	c.Advance(time.Second)
	if v := ask("198.51.100.7:1000", "udp"); v != "answer" {
		t.Errorf("after a second: %s, want answer (bucket refilled)", v)
	}
	// Over the wire, a slipped answer is an empty truncated one.
	w := startService(t, Config{RateLimit: RateLimit{Rate: 1, Burst: 1, Slip: 1, Exempt: []netip.Prefix{}}, Now: c.Now}, &memberList{ms: testMembers()}, nil)
	if m := dnsExchange(t, "udp", w.Addr(), question("alice.shoal.", dns.TypeA)); m.Truncated || len(m.Answer) != 1 {
		t.Errorf("first query: %v", m)
	}
	if m := dnsExchange(t, "udp", w.Addr(), question("alice.shoal.", dns.TypeA)); !m.Truncated || len(m.Answer) != 0 {
		t.Errorf("second query: TC %v answers %d, want an empty TC answer", m.Truncated, len(m.Answer))
	}
	if m := dnsExchange(t, "tcp", w.Addr(), question("alice.shoal.", dns.TypeA)); len(m.Answer) != 1 {
		t.Errorf("over TCP: %v", m)
	}
}

func TestMalformedPackets(t *testing.T) {
	s := startService(t, Config{}, &memberList{ms: testMembers()}, nil)
	valid, _ := question("alice.shoal.", dns.TypeA).Pack()
	response := slices.Clone(valid)
	response[2] |= 0x80 // QR: a response, never answered
	twoQuestions := slices.Clone(valid)
	twoQuestions[5] = 2
	truncated := valid[:len(valid)-3]
	for name, pkt := range map[string][]byte{
		"empty": {}, "short": {1, 2, 3}, "header only": valid[:12], "response": response,
		"two questions": twoQuestions, "cut short": truncated, "garbage": []byte(strings.Repeat("\xff", 300)),
	} {
		out := s.Server.handlePacket(context.Background(), pkt, netip.MustParseAddrPort("127.0.0.1:999"), "udp")
		switch name {
		case "cut short", "header only":
			m := new(dns.Msg)
			if out == nil || m.Unpack(out) != nil || m.Rcode != dns.RcodeFormatError || len(out) > len(pkt)+12 {
				t.Errorf("%s: want a short FORMERR, got %x", name, out)
			}
		default:
			if out != nil {
				t.Errorf("%s: answered %x, want dropped", name, out)
			}
		}
	}
	// The real sockets survive the same and still answer.
	conn, err := net.Dial("udp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, pkt := range [][]byte{{1}, response, twoQuestions, []byte(strings.Repeat("\x00", 4000))} {
		_, _ = conn.Write(pkt)
	}
	tc, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = tc.Write([]byte{0, 40, 1, 2, 3}) // a length with too little behind it
	tc.Close()
	if m := dnsExchange(t, "udp", s.Addr(), question("alice.shoal.", dns.TypeA)); len(m.Answer) != 1 {
		t.Errorf("after malformed packets: %v", m)
	}
	if m := dnsExchange(t, "tcp", s.Addr(), question("alice.shoal.", dns.TypeA)); len(m.Answer) != 1 {
		t.Errorf("after malformed packets, TCP: %v", m)
	}
}

func TestServerRejectsOddQueries(t *testing.T) {
	s := startService(t, Config{}, &memberList{ms: testMembers()}, nil)
	for _, tc := range []struct {
		m     *dns.Msg
		rcode int
	}{
		{question("shoal.", dns.TypeAXFR), dns.RcodeRefused},
		{&dns.Msg{MsgHdr: dns.MsgHdr{Id: 7, Opcode: dns.OpcodeNotify}, Question: []dns.Question{{Name: "shoal.", Qtype: dns.TypeSOA, Qclass: dns.ClassINET}}}, dns.RcodeNotImplemented},
		{&dns.Msg{MsgHdr: dns.MsgHdr{Id: 8, Opcode: dns.OpcodeUpdate}, Question: []dns.Question{{Name: "shoal.", Qtype: dns.TypeSOA, Qclass: dns.ClassINET}}}, dns.RcodeNotImplemented},
		{&dns.Msg{MsgHdr: dns.MsgHdr{Id: 9}, Question: []dns.Question{{Name: "alice.shoal.", Qtype: dns.TypeA, Qclass: dns.ClassCHAOS}}}, dns.RcodeRefused},
		// Outside the zone too: not forwarded (dig CH TXT version.bind got
		// SERVFAIL from a node without upstreams after a wait).
		{&dns.Msg{MsgHdr: dns.MsgHdr{Id: 10, RecursionDesired: true}, Question: []dns.Question{{Name: "version.bind.", Qtype: dns.TypeTXT, Qclass: dns.ClassCHAOS}}}, dns.RcodeRefused},
		{&dns.Msg{MsgHdr: dns.MsgHdr{Id: 11, RecursionDesired: true}, Question: []dns.Question{{Name: "example.org.", Qtype: dns.TypeA, Qclass: dns.ClassHESIOD}}}, dns.RcodeRefused},
	} {
		if m := dnsExchange(t, "tcp", s.Addr(), tc.m); m.Rcode != tc.rcode {
			t.Errorf("%s opcode %d: %s, want %s", questionString(tc.m), tc.m.Opcode, dns.RcodeToString[m.Rcode], dns.RcodeToString[tc.rcode])
		}
	}
}

func TestServerPortInUse(t *testing.T) {
	s := startService(t, Config{}, &memberList{}, nil)
	other, err := New(Config{Listen: s.Addr().String(), ResolvConf: offlineConf(t)}, &memberList{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Start(context.Background()); err == nil || !strings.HasPrefix(err.Error(), "naming: ") {
		other.Close()
		t.Fatalf("second server on a taken port: %v, want a naming: error", err)
	}
}

func TestServerUDPPortInUse(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0") // no SO_REUSEPORT: no one may join
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s := NewServer(Config{Listen: pc.LocalAddr().String()}, nil)
	if err := s.Start(context.Background()); err == nil || !errors.Is(err, syscall.EADDRINUSE) || !strings.HasPrefix(err.Error(), "naming: ") {
		s.Close()
		t.Fatalf("UDP port taken: %v, want a naming: error wrapping EADDRINUSE", err)
	}
}

func TestServerStartCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, err := New(Config{Listen: "127.0.0.1:0", ResolvConf: offlineConf(t)}, &memberList{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Whether it got to serve or not, nothing may be left running.
	if err := s.Start(ctx); err == nil {
		s.Close()
	}
}

func TestServeUntilCancelled(t *testing.T) {
	s, err := New(Config{Listen: "127.0.0.1:0", ResolvConf: offlineConf(t)}, &memberList{ms: testMembers()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	eventually(t, 5*time.Second, func() bool { return s.Addr().IsValid() }, "the server to bind")
	if m := dnsExchange(t, "udp", s.Addr(), question("alice.shoal.", dns.TypeA)); len(m.Answer) != 1 {
		t.Errorf("%v", m)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Zone: "not a zone"},
		{Mode: "telepathy"},
		{Upstreams: []string{"dns.example.org"}},
		{RootHints: []string{"300.1.1.1"}},
		{NameServerPort: 70000},
	} {
		if _, err := New(cfg, &memberList{}, nil); err == nil || !strings.HasPrefix(err.Error(), "naming: ") {
			t.Errorf("%+v: %v, want a naming: error", cfg, err)
		}
	}
	if _, err := New(Config{Listen: "no port"}, &memberList{}, nil); err != nil {
		t.Fatal(err) // the address is checked on Start
	} else if err := NewServer(Config{Listen: "no port"}, nil).Start(context.Background()); err == nil {
		t.Error("a listen address without port was accepted")
	}
}
