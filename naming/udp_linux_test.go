package naming

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"
	"unsafe"

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

// TestRawUDPAllAddresses serves UDP on sockets of the server's own bound
// to all addresses (0.0.0.0, which Go's TCP listener makes ::, and ::).
// The clients' sockets are connected, as many resolvers' are: they drop an
// answer from any address but the one they asked, so an answer sent from
// the wrong address (the kernel's pick for 127.0.0.2 is 127.0.0.1) times
// out. Each client asks a zone name (answered inline, in a batch) and an
// outside name (forwarded, then answered by its own goroutine), then both
// again (inline, from the packed cache).
func TestRawUDPAllAddresses(t *testing.T) {
	if rawUDPSockets() == 0 {
		t.Skip("a single P: dns.Server serves UDP")
	}
	clients := []string{"127.0.0.1", "127.0.0.2"}
	v6 := hasUDP(t, "::1")
	if v6 {
		clients = append(clients, "::1")
	}
	for _, host := range []string{"0.0.0.0", "::"} {
		t.Run(host, func(t *testing.T) {
			if host == "::" && !v6 {
				t.Skip("no IPv6 loopback here")
			}
			up, upAddr := startClientsUpstream(t, len(clients))
			s := startService(t, Config{Listen: net.JoinHostPort(host, "0"), Upstreams: []string{upAddr.String()}},
				&memberList{ms: testMembers()}, nil)
			if n := len(s.Server.loops); n != rawUDPSockets() {
				t.Fatalf("%d sockets of the server's own, want %d", n, rawUDPSockets())
			}
			if n := len(s.Server.servers); n != 1 {
				t.Fatalf("%d dns.Servers, want 1 (TCP): UDP served by dns.Server", n)
			}
			askFrom(t, up, s.Addr().Port(), clients)
		})
	}
}

// TestRawUDPAllIPv4 serves an IPv4 socket bound to 0.0.0.0, which the
// server binds where Go binds its TCP listener on IPv4 alone (a system
// without IPv6): the destinations and sources are IP_PKTINFO's.
func TestRawUDPAllIPv4(t *testing.T) {
	up, upAddr := startClientsUpstream(t, 2)
	s := startService(t, Config{Upstreams: []string{upAddr.String()}}, &memberList{ms: testMembers()}, nil)
	u, err := bindRawUDP(netip.MustParseAddrPort("0.0.0.0:0"))
	if err != nil {
		t.Fatal(err)
	}
	if u.pktinfo != unix.AF_INET {
		t.Fatalf("control messages of family %d, want AF_INET", u.pktinfo)
	}
	sa, err := unix.Getsockname(u.fd)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		u.serve(s.Server)
	}()
	t.Cleanup(func() {
		// As Server.shutdownLocked: the socket is closed once its
		// workers and the goroutines they started are done.
		u.stop()
		<-done
		_ = s.Close()
		_ = u.Close()
	})
	askFrom(t, up, uint16(sa.(*unix.SockaddrInet4).Port), []string{"127.0.0.1", "127.0.0.2"})
}

// hasUDP reports whether UDP binds on host.
func hasUDP(t *testing.T, host string) bool {
	t.Helper()
	pc, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
	if err != nil {
		return false
	}
	pc.Close()
	return true
}

// startClientsUpstream starts an upstream with a name per client,
// h0.example. and on.
func startClientsUpstream(t *testing.T, clients int) (*dnstest.Authority, netip.AddrPort) {
	t.Helper()
	lines := []string{"$TTL 300", "@ SOA ns hm 1 2 3 4 60"}
	for c := range clients {
		lines = append(lines, fmt.Sprintf("h%d A 192.0.2.%d", c, c+1))
	}
	up := &dnstest.Authority{Origin: "example.", Records: dnstest.RRs(t, "example.", lines...)}
	return up, dnstest.Start(t, "127.0.0.1:0", up)
}

// askFrom asks the server on port, from a connected socket to each of
// the clients' addresses, a zone name and the client's outside name, twice.
func askFrom(t *testing.T, up *dnstest.Authority, port uint16, clients []string) {
	t.Helper()
	for c, host := range clients {
		to := netip.AddrPortFrom(netip.MustParseAddr(host), port)
		conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(to))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		name := fmt.Sprintf("h%d.example.", c)
		for range 2 { // asked, then from the packed cache
			if m := askConnected(t, conn, question("alice.shoal.", dns.TypeA)); len(m.Answer) != 1 {
				t.Errorf("%s: zone name: %v", to, m)
			}
			if m := askConnected(t, conn, question(name, dns.TypeA)); len(m.Answer) != 1 || !m.RecursionAvailable {
				t.Errorf("%s: outside name: %v", to, m)
			}
		}
		if n := up.Count(name, dns.TypeA); n != 1 {
			t.Errorf("%s: upstream asked %d times, want once", to, n)
		}
	}
}

// askConnected sends q on conn and waits for its answer; an answer from
// another address than conn's peer never comes (the kernel drops it).
func askConnected(t *testing.T, conn *net.UDPConn, q *dns.Msg) *dns.Msg {
	t.Helper()
	p, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(p); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, dns.DefaultMsgSize)
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("%s asked %s: no answer from it: %v", questionString(q), conn.RemoteAddr(), err)
		}
		m := new(dns.Msg)
		if err := m.Unpack(buf[:n]); err != nil {
			t.Fatalf("%s: answer: %v", conn.RemoteAddr(), err)
		}
		if m.Id == q.Id {
			return m
		}
	}
}

// TestPktinfo writes the control message that sets an answer's source
// and reads it back as the kernel gives a datagram's destination.
func TestPktinfo(t *testing.T) {
	for _, tc := range []struct {
		family  int
		addr    string
		ifindex uint32
		want    pktDst
	}{
		{unix.AF_INET, "127.0.0.2", 1, pktDst{addr: netip.MustParseAddr("127.0.0.2")}},
		{unix.AF_INET6, "::1", 1, pktDst{addr: netip.MustParseAddr("::1")}},
		{unix.AF_INET6, "::ffff:127.0.0.2", 1, pktDst{addr: netip.MustParseAddr("::ffff:127.0.0.2")}},
		{unix.AF_INET6, "fe80::1", 3, pktDst{addr: netip.MustParseAddr("fe80::1"), ifindex: 3}},
		{unix.AF_INET6, "ff02::1", 3, pktDst{}},
		{unix.AF_INET, "0.0.0.0", 1, pktDst{}},
	} {
		var c cmsgBuf
		var msg unix.Msghdr
		setSource(&msg, &c, tc.family, newPktDst(netip.MustParseAddr(tc.addr), tc.ifindex))
		if tc.want == (pktDst{}) {
			if msg.Control != nil || msg.Controllen != 0 {
				t.Errorf("%s: a control message (%d bytes) for no source", tc.addr, msg.Controllen)
			}
			continue
		}
		if got := dstOf(c.bytes()[:msg.Controllen]); got != tc.want {
			t.Errorf("%s: read back %+v, want %+v", tc.addr, got, tc.want)
		}
	}

	// A message before the pktinfo is skipped; a cut one is none.
	var c cmsgBuf
	h := (*unix.Cmsghdr)(unsafe.Pointer(&c))
	h.Level, h.Type = unix.SOL_SOCKET, unix.SCM_TIMESTAMP
	h.SetLen(unix.CmsgLen(8))
	var next cmsgBuf
	n := next.putPktinfo(unix.AF_INET6, pktDst{addr: netip.MustParseAddr("::1")})
	ctl := append(c.bytes()[:unix.CmsgSpace(8)], next.bytes()[:n]...)
	var aligned [4]cmsgBuf
	b := unsafe.Slice(aligned[0].ptr(), len(aligned)*rawCtlSize)
	copy(b, ctl)
	if got := dstOf(b[:len(ctl)]); got.addr != netip.MustParseAddr("::1") {
		t.Errorf("after another message: %+v", got)
	}
	for _, cut := range []int{0, unix.CmsgLen(0) - 1, unix.CmsgSpace(8) + unix.CmsgLen(unix.SizeofInet6Pktinfo) - 1} {
		if got := dstOf(b[:cut]); got != (pktDst{}) {
			t.Errorf("cut to %d bytes: %+v", cut, got)
		}
	}
}
