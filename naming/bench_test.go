package naming

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
	"github.com/shoal-p2p/shoal/naming/internal/dnstest"
)

// benchService has 1000 members and an upstream with 1000 names, cached.
func benchService(b *testing.B) (*Service, [][]byte, [][]byte) {
	var ms []Member
	var zone, cached [][]byte
	lines := []string{"$TTL 86400", "@ SOA ns hm 1 2 3 4 60"}
	for i := range 1000 {
		ms = append(ms, Member{Name: fmt.Sprintf("m%04d", i), ID: fmt.Sprint(i),
			Addrs: []netip.Addr{netip.AddrFrom4([4]byte{127, 1, byte(i >> 8), byte(i)})}, Ports: map[string]int{"peer": 7481}})
		lines = append(lines, fmt.Sprintf("h%04d A 127.2.%d.%d", i, i>>8, i&255))
		q := question(fmt.Sprintf("m%04d.shoal.", i), dns.TypeA)
		p, _ := q.Pack()
		zone = append(zone, p)
		q = question(fmt.Sprintf("h%04d.bench.example.", i), dns.TypeA)
		p, _ = q.Pack()
		cached = append(cached, p)
	}
	up := &dnstest.Authority{Origin: "bench.example.", Records: dnstest.RRs(b, "bench.example.", lines...)}
	addr := dnstest.Start(b, "127.0.0.1:0", up)
	s, err := New(Config{Upstreams: []string{addr.String()}, CacheSize: 10000}, &memberList{ms: ms}, nil)
	if err != nil {
		b.Fatal(err)
	}
	client := netip.MustParseAddrPort("127.0.0.1:5300")
	for _, p := range cached {
		if out := s.Server.handlePacket(context.Background(), p, client, "udp"); out == nil {
			b.Fatal("no answer while warming the cache")
		}
	}
	return s, zone, cached
}

// BenchmarkServe measures the server's work per query without sockets:
// accept, unpack, chain, EDNS/truncation, pack.
func BenchmarkServe(b *testing.B) {
	s, zone, cached := benchService(b)
	client := netip.MustParseAddrPort("127.0.0.1:5300")
	for _, load := range []struct {
		name string
		pkts [][]byte
	}{{"zone", zone}, {"cached", cached}} {
		b.Run(load.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if s.Server.handlePacket(context.Background(), load.pkts[i%len(load.pkts)], client, "udp") == nil {
					b.Fatal("no answer")
				}
				i++
			}
		})
	}
}
