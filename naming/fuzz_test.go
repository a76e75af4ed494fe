package naming

import (
	"bytes"
	"context"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// FuzzServeDNS feeds arbitrary packets to the server's packet entry point
// (accept rules, unpack, checks, the whole chain, EDNS, truncation). Any
// response must be a well-formed DNS response to that query that fits the
// client's UDP buffer. Run: go test -fuzz FuzzServeDNS ./naming
func FuzzServeDNS(f *testing.F) {
	seed := func(name string, qtype uint16, edns bool, mod func(*dns.Msg)) []byte {
		m := question(name, qtype)
		m.Id = 0x1234
		if edns {
			m.SetEdns0(4096, true)
		}
		if mod != nil {
			mod(m)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	for _, s := range [][]byte{
		seed("alice.shoal.", dns.TypeA, false, nil),
		seed("alice.shoal.", dns.TypeAAAA, true, nil),
		seed("_shoal-peer._tcp.bob.shoal.", dns.TypeSRV, false, nil),
		seed("www.alice.shoal.", dns.TypeA, true, nil),
		seed("ext.alice.shoal.", dns.TypeA, false, nil),
		seed("movie.cdn.shoal.", dns.TypeA, false, nil),
		seed("big.alice.shoal.", dns.TypeTXT, false, nil),
		seed("shoal.", dns.TypeNS, true, nil),
		seed("shoal.", dns.TypeANY, false, nil),
		seed("shoal.", dns.TypeAXFR, false, nil),
		seed("nobody.shoal.", dns.TypeMX, false, nil),
		seed("www.example.org.", dns.TypeA, false, nil),
		seed("alice.shoal.", dns.TypeA, true, func(m *dns.Msg) { m.IsEdns0().SetVersion(1) }),
		seed("alice.shoal.", dns.TypeA, false, func(m *dns.Msg) { m.Opcode = dns.OpcodeUpdate }),
		seed("alice.shoal.", dns.TypeA, false, func(m *dns.Msg) { m.Response = true }),
		seed("alice.shoal.", dns.TypeA, false, func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS }),
		{0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1}, // compression loop
		{0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0},
		{},
	} {
		f.Add(s, false, true)
		f.Add(s, true, false)
	}
	ms := testMembers()
	for range 40 {
		ms[0].Records = append(ms[0].Records, Record{Name: "big", Type: "TXT", Value: `"` + string(bytes.Repeat([]byte("f"), 50)) + `"`})
	}
	s, err := New(Config{ResolvConf: offlineConf(f), RateLimit: RateLimit{Off: true}}, &memberList{ms: ms}, holders{"movie": {"id-bob", "id-carol"}})
	if err != nil {
		f.Fatal(err)
	}
	local := netip.MustParseAddrPort("127.0.0.1:5300")
	remote := netip.MustParseAddrPort("203.0.113.9:5300")
	f.Fuzz(func(t *testing.T, pkt []byte, tcp, fromLocal bool) {
		network, client := "udp", remote
		if tcp {
			network = "tcp"
		}
		if fromLocal {
			client = local
		}
		out := s.Server.handlePacket(context.Background(), pkt, client, network)
		if out == nil {
			return
		}
		m := new(dns.Msg)
		if err := m.Unpack(out); err != nil {
			t.Fatalf("response does not unpack: %v\n%x", err, out)
		}
		if !m.Response || len(pkt) < 2 || !bytes.Equal(out[:2], pkt[:2]) {
			t.Fatalf("response is not one to this query: %v", m)
		}
		if network == "udp" {
			limit := dns.MinMsgSize
			req := new(dns.Msg)
			if req.Unpack(pkt) == nil && req.IsEdns0() != nil {
				limit = max(limit, min(int(req.IsEdns0().UDPSize()), ednsSize))
			}
			if len(out) > limit {
				t.Fatalf("UDP response of %d bytes over the client's %d", len(out), limit)
			}
		}
	})
}
