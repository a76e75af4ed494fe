package naming

import (
	"bytes"
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/shoal-p2p/shoal/naming/internal/dnstest"
)

var packedClient = netip.MustParseAddrPort("127.0.0.1:5300")

// askPacked sends m over in-process UDP with id and returns the response.
func askPacked(t *testing.T, s *Server, client netip.AddrPort, m *dns.Msg, id uint16) (*dns.Msg, []byte) {
	t.Helper()
	m.Id = id
	pkt, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	out := s.handlePacket(context.Background(), pkt, client, "udp")
	if out == nil {
		t.Fatalf("%s: no answer", questionString(m))
	}
	r := new(dns.Msg)
	if err := r.Unpack(out); err != nil {
		t.Fatalf("%s: unpack: %v", questionString(m), err)
	}
	if r.Id != id {
		t.Fatalf("%s: ID %d, want %d", questionString(m), r.Id, id)
	}
	return r, out
}

// packedLen is the number of responses kept.
func packedLen(s *Server) int {
	n := 0
	for i := range s.packed.shards {
		sh := &s.packed.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

func TestPackedZoneAnswers(t *testing.T) {
	ml := &memberList{ms: testMembers()}
	s, err := New(Config{ResolvConf: offlineConf(t)}, ml, nil)
	if err != nil {
		t.Fatal(err)
	}
	r1, out1 := askPacked(t, s.Server, packedClient, question("bob.shoal.", dns.TypeA), 1)
	if packedLen(s.Server) != 1 {
		t.Fatalf("%d responses kept, want 1", packedLen(s.Server))
	}
	r2, out2 := askPacked(t, s.Server, packedClient, question("bob.shoal.", dns.TypeA), 0xBEEF)
	if !bytes.Equal(out1[2:], out2[2:]) || r1.Id == r2.Id {
		t.Fatalf("second response differs beyond the ID:\n%v\n%v", r1, r2)
	}
	if got := rrStrings(r2.Answer); !slices.Equal(got, norm(t, []string{"bob.shoal. 60 IN A 127.0.0.12"})) {
		t.Fatalf("answer %q", got)
	}
	// The name's case is echoed: another key.
	r3, _ := askPacked(t, s.Server, packedClient, question("BoB.shoal.", dns.TypeA), 3)
	if r3.Question[0].Name != "BoB.shoal." {
		t.Errorf("question %q, want the query's case", r3.Question[0].Name)
	}
	// A new version of the zone voids the kept responses.
	ms := testMembers()
	ms[1].Addrs = []netip.Addr{netip.MustParseAddr("127.0.0.99")}
	ml.set(ms)
	if _, changed := s.Zone.Refresh(); !changed {
		t.Fatal("zone did not change")
	}
	r4, _ := askPacked(t, s.Server, packedClient, question("bob.shoal.", dns.TypeA), 4)
	if got := rrStrings(r4.Answer); !slices.Equal(got, norm(t, []string{"bob.shoal. 60 IN A 127.0.0.99"})) {
		t.Fatalf("after the zone changed: answer %q", got)
	}
	if r4.Ns == nil && r4.Rcode != dns.RcodeSuccess {
		t.Fatalf("rcode %d", r4.Rcode)
	}
}

func TestPackedContentNotKept(t *testing.T) {
	h := holders{"item": {"id-bob"}}
	s, err := New(Config{ResolvConf: offlineConf(t)}, &memberList{ms: testMembers()}, h)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := askPacked(t, s.Server, packedClient, question("item.cdn.shoal.", dns.TypeA), 1)
	if got := rrStrings(r.Answer); len(got) != 1 {
		t.Fatalf("answer %q", got)
	}
	h["item"] = []string{"id-carol"} // holders change without a new zone
	r, _ = askPacked(t, s.Server, packedClient, question("item.cdn.shoal.", dns.TypeA), 2)
	if got := rrStrings(r.Answer); len(got) != 1 || r.Answer[0].(*dns.A).A.String() != "127.0.0.13" {
		t.Fatalf("after holders changed: answer %q", got)
	}
}

func TestPackedCacheTTL(t *testing.T) {
	c := newClock()
	up := exampleZone(t)
	s := forwardService(t, c, dnstest.Start(t, "127.0.0.1:0", up))
	ask := func(id uint16) uint32 {
		t.Helper()
		r, _ := askPacked(t, s.Server, packedClient, question("www.example.", dns.TypeA), id)
		if len(r.Answer) != 1 {
			t.Fatalf("answer %v", r)
		}
		return r.Answer[0].Header().Ttl
	}
	if ttl := ask(1); ttl != 300 {
		t.Fatalf("first: TTL %d", ttl)
	}
	for i, tc := range []struct {
		advance time.Duration
		ttl     uint32
	}{
		{0, 300}, {300 * time.Millisecond, 300}, {700 * time.Millisecond, 299}, {999 * time.Millisecond, 299},
		{time.Millisecond, 298}, {100 * time.Second, 198}, {197 * time.Second, 1}, {999 * time.Millisecond, 1},
	} {
		c.Advance(tc.advance)
		for j := range 2 { // the second from the packed response
			if ttl := ask(uint16(10 + 2*i + j)); ttl != tc.ttl {
				t.Fatalf("step %d.%d: TTL %d, want %d", i, j, ttl, tc.ttl)
			}
		}
	}
	if n := up.Count("www.example.", dns.TypeA); n != 1 {
		t.Fatalf("upstream asked %d times, want 1", n)
	}
	c.Advance(time.Millisecond) // expired: asked again
	if ttl := ask(100); ttl != 300 {
		t.Fatalf("after expiry: TTL %d, want a fresh 300", ttl)
	}
	if n := up.Count("www.example.", dns.TypeA); n != 2 {
		t.Fatalf("upstream asked %d times, want 2", n)
	}
	// Flush voids the kept responses too.
	ask(101)
	s.Cache.Flush()
	ask(102)
	if n := up.Count("www.example.", dns.TypeA); n != 3 {
		t.Fatalf("after Flush: upstream asked %d times, want 3", n)
	}
}

func TestPackedCacheCNAMEChain(t *testing.T) {
	c := newClock()
	up := exampleZone(t)
	s := forwardService(t, c, dnstest.Start(t, "127.0.0.1:0", up))
	q := question("alias.example.", dns.TypeA)
	first, _ := askPacked(t, s.Server, packedClient, q, 1)
	c.Advance(1500 * time.Millisecond)
	for id := uint16(2); id < 4; id++ {
		r, _ := askPacked(t, s.Server, packedClient, q, id)
		if len(r.Answer) != len(first.Answer) || len(r.Answer) != 2 {
			t.Fatalf("answer %v", r.Answer)
		}
		for i, rr := range r.Answer {
			if want := first.Answer[i].Header().Ttl - 1; rr.Header().Ttl != want {
				t.Errorf("record %d TTL %d, want %d", i, rr.Header().Ttl, want)
			}
		}
	}
}

func TestPackedEDNSVariants(t *testing.T) {
	ms := testMembers()
	// Enough TXT records that a 512-byte answer truncates.
	for i := range 12 {
		ms[0].Records = append(ms[0].Records, Record{Name: "big", Type: "TXT", Value: `"` + string(rune('a'+i)) + " 0123456789012345678901234567890123456789\""})
	}
	s, err := New(Config{ResolvConf: offlineConf(t)}, &memberList{ms: ms}, nil)
	if err != nil {
		t.Fatal(err)
	}
	type variant struct {
		name string
		edns bool
		size uint16
		do   bool
	}
	variants := []variant{
		{"plain", false, 0, false}, {"edns", true, 1232, false}, {"do", true, 1232, true},
		{"edns512", true, 512, false}, {"do4096", true, 4096, true},
	}
	check := func(v variant, r *dns.Msg) {
		t.Helper()
		opt := r.IsEdns0()
		switch {
		case (opt != nil) != v.edns:
			t.Fatalf("%s: OPT %v", v.name, opt)
		case opt != nil && opt.Do() != v.do:
			t.Fatalf("%s: DO %v", v.name, opt.Do())
		}
		wantTC := !v.edns || v.size < 1000
		if r.Truncated != wantTC {
			t.Fatalf("%s: TC %v, want %v", v.name, r.Truncated, wantTC)
		}
		if !wantTC && len(r.Answer) != 12 {
			t.Fatalf("%s: %d records, want 12", v.name, len(r.Answer))
		}
	}
	id := uint16(0)
	for range 3 {
		for _, v := range variants {
			q := question("big.alice.shoal.", dns.TypeTXT)
			if v.edns {
				q.SetEdns0(v.size, v.do)
			}
			id++
			r, _ := askPacked(t, s.Server, packedClient, q, id)
			check(v, r)
		}
	}
	if n := packedLen(s.Server); n != len(variants) {
		t.Errorf("%d responses kept, want %d", n, len(variants))
	}
}

func TestPackedRecursionByClient(t *testing.T) {
	up := exampleZone(t)
	s := forwardService(t, nil, dnstest.Start(t, "127.0.0.1:0", up))
	q := question("www.example.", dns.TypeA)
	q.RecursionDesired = true
	for id := uint16(1); id < 3; id++ {
		if r, _ := askPacked(t, s.Server, packedClient, q, id); r.Rcode != dns.RcodeSuccess || !r.RecursionAvailable {
			t.Fatalf("loopback: %v", r)
		}
	}
	outside := netip.MustParseAddrPort("192.0.2.7:5300")
	for id := uint16(3); id < 5; id++ {
		if r, _ := askPacked(t, s.Server, outside, q, id); r.Rcode != dns.RcodeRefused || r.RecursionAvailable {
			t.Fatalf("outside client: rcode %d RA %v, want REFUSED without RA", r.Rcode, r.RecursionAvailable)
		}
	}
	// The zone answers both, RA only for the loopback client.
	for _, tc := range []struct {
		client netip.AddrPort
		ra     bool
	}{{packedClient, true}, {outside, false}, {packedClient, true}, {outside, false}} {
		r, _ := askPacked(t, s.Server, tc.client, question("bob.shoal.", dns.TypeA), 9)
		if r.RecursionAvailable != tc.ra || len(r.Answer) != 1 {
			t.Fatalf("%s: RA %v, answer %v", tc.client, r.RecursionAvailable, r.Answer)
		}
	}
}
