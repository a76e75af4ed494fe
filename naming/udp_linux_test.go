package naming

import (
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/shoal-p2p/shoal/naming/internal/dnstest"
	"golang.org/x/sys/unix"
)

// TestRawUDP serves UDP on sockets of the server's own (IPv4 and IPv6):
// zone answers and cache hits inline, in batches, forwarded queries from
// their goroutine, and a Close that does not wait for the receive timeout.
func TestRawUDP(t *testing.T) {
	if rawUDPSockets() == 0 {
		t.Skip("a single P: dns.Server serves UDP")
	}
	for _, host := range []string{"127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			if ln, err := net.ListenPacket("udp", net.JoinHostPort(host, "0")); err != nil {
				t.Skipf("no %s here: %v", host, err)
			} else {
				ln.Close()
			}
			up := &dnstest.Authority{Origin: "example.", Records: dnstest.RRs(t, "example.", "$TTL 300", "@ SOA ns hm 1 2 3 4 60", "www A 192.0.2.1")}
			upAddr := dnstest.Start(t, "127.0.0.1:0", up)
			s := startService(t, Config{Listen: net.JoinHostPort(host, "0"), Upstreams: []string{upAddr.String()}},
				&memberList{ms: testMembers()}, nil)
			if n := len(s.Server.loops); n != rawUDPSockets() {
				t.Fatalf("%d sockets of the server's own, want %d", n, rawUDPSockets())
			}
			for range 2 { // asked, then from the packed cache
				if m := dnsExchange(t, "udp", s.Addr(), question("alice.shoal.", dns.TypeA)); len(m.Answer) != 1 {
					t.Errorf("zone name: %v", m)
				}
				if m := dnsExchange(t, "udp", s.Addr(), question("www.example.", dns.TypeA)); len(m.Answer) != 1 || !m.RecursionAvailable {
					t.Errorf("outside name: %v", m)
				}
			}
			if n := up.Count("www.example.", dns.TypeA); n != 1 {
				t.Errorf("upstream asked %d times, want once", n)
			}

			// Bursts from a few clients are read in batches, the lead
			// handed from worker to worker; every query gets its answer,
			// with its ID. (Bursts of 80 datagrams at most, within the
			// socket's receive buffer.)
			const clients, rounds, burst = 4, 5, 20
			var conns []net.Conn
			for range clients {
				conn, err := net.Dial("udp", s.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				conns = append(conns, conn)
			}
			buf := make([]byte, 4096)
			for r := range rounds {
				for i := range burst {
					q := question("bob.shoal.", dns.TypeA)
					q.Id = uint16(r*burst + i)
					p, _ := q.Pack()
					for _, conn := range conns {
						if _, err := conn.Write(p); err != nil {
							t.Fatal(err)
						}
					}
				}
				for c, conn := range conns {
					var ids []int
					_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
					for len(ids) < burst {
						n, err := conn.Read(buf)
						if err != nil {
							t.Fatalf("client %d, round %d: %d answers of %d: %v", c, r, len(ids), burst, err)
						}
						m := new(dns.Msg)
						if err := m.Unpack(buf[:n]); err != nil || len(m.Answer) != 1 {
							t.Fatalf("client %d: answer %v %v", c, m, err)
						}
						ids = append(ids, int(m.Id)-r*burst)
					}
					slices.Sort(ids)
					if ids[0] != 0 || ids[burst-1] != burst-1 || len(slices.Compact(ids)) != burst {
						t.Errorf("client %d, round %d: answered IDs %v", c, r, ids)
					}
				}
			}

			start := time.Now()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > rawRecvTimeout/2 {
				t.Errorf("Close took %v: readers not woken", d)
			}
		})
	}
}

func TestAddrPortOf(t *testing.T) {
	v4 := []byte{0, 0, 0x1f, 0x90, 192, 0, 2, 7, 0, 0, 0, 0, 0, 0, 0, 0}
	v6 := make([]byte, 28)
	copy(v6[2:], []byte{0x00, 0x35})
	copy(v6[8:], netip.MustParseAddr("2001:db8::1").AsSlice())
	binary.NativeEndian.PutUint16(v4, unix.AF_INET)
	binary.NativeEndian.PutUint16(v6, unix.AF_INET6)
	for _, tc := range []struct {
		sa   []byte
		want string
	}{
		{v4, "192.0.2.7:8080"}, {v6, "[2001:db8::1]:53"}, {v4[:6], ""}, {v6[:20], ""}, {nil, ""},
	} {
		got, ok := addrPortOf(tc.sa)
		if (tc.want == "" && ok) || (tc.want != "" && got.String() != tc.want) {
			t.Errorf("%x: %v %v, want %q", tc.sa, got, ok, tc.want)
		}
	}
}
