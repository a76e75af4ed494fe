// Package dnstest has helpers for the naming tests: a minimal authoritative
// server for one zone (to build a root → TLD → authoritative hierarchy on
// loopback), servers started on loopback for the length of a test, and
// record parsing.
package dnstest

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// RRs parses zone-file lines relative to origin; it fails the test on a
// bad line.
func RRs(t testing.TB, origin string, lines ...string) []dns.RR {
	t.Helper()
	var out []dns.RR
	zp := dns.NewZoneParser(strings.NewReader(strings.Join(lines, "\n")+"\n"), origin, "")
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		out = append(out, rr)
	}
	if err := zp.Err(); err != nil {
		t.Fatalf("dnstest: parse records: %v", err)
	}
	return out
}

// Authority answers for one zone from its records the way an
// authoritative server does: answers with AA, referrals with glue for
// delegated children, CNAMEs followed inside the zone, NXDOMAIN and NODATA
// with the SOA, REFUSED outside the zone.
type Authority struct {
	Origin  string
	Records []dns.RR
	// Modify, if set, may change each response before it is sent: it makes
	// a server that lies.
	Modify func(r, m *dns.Msg)

	mu      sync.Mutex
	queries []dns.Question
}

// Queries returns the questions asked so far.
func (a *Authority) Queries() []dns.Question {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]dns.Question(nil), a.queries...)
}

// Count is how many questions for name (any case) and qtype were asked.
func (a *Authority) Count(name string, qtype uint16) int {
	n := 0
	for _, q := range a.Queries() {
		if strings.EqualFold(q.Name, name) && q.Qtype == qtype {
			n++
		}
	}
	return n
}

// ServeDNS implements dns.Handler.
func (a *Authority) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := a.Answer(r)
	if a.Modify != nil {
		a.Modify(r, m)
	}
	_ = w.WriteMsg(m)
}

// Answer is the response to r.
func (a *Authority) Answer(r *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(r)
	if len(r.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		return m
	}
	q := r.Question[0]
	a.mu.Lock()
	a.queries = append(a.queries, q)
	a.mu.Unlock()
	origin := dns.CanonicalName(a.Origin)
	name := dns.CanonicalName(q.Name)
	if !dns.IsSubDomain(origin, name) {
		m.Rcode = dns.RcodeRefused
		return m
	}
	// The deepest delegation above name, if any.
	cut, cutLabels := "", 0
	for _, rr := range a.Records {
		owner := dns.CanonicalName(rr.Header().Name)
		if rr.Header().Rrtype == dns.TypeNS && owner != origin && dns.IsSubDomain(owner, name) &&
			dns.CountLabel(owner) > cutLabels {
			cut, cutLabels = owner, dns.CountLabel(owner)
		}
	}
	if cut != "" {
		targets := map[string]bool{}
		for _, rr := range a.at(cut, dns.TypeNS) {
			m.Ns = append(m.Ns, rr)
			targets[dns.CanonicalName(rr.(*dns.NS).Ns)] = true
		}
		for _, rr := range a.Records {
			t := rr.Header().Rrtype
			if (t == dns.TypeA || t == dns.TypeAAAA) && targets[dns.CanonicalName(rr.Header().Name)] {
				m.Extra = append(m.Extra, rr)
			}
		}
		return m
	}
	m.Authoritative = true
	for hops := 0; hops < 8; hops++ {
		if rrs := a.at(name, q.Qtype); len(rrs) > 0 {
			m.Answer = append(m.Answer, rrs...)
			return m
		}
		c := a.at(name, dns.TypeCNAME)
		if len(c) == 0 {
			break
		}
		m.Answer = append(m.Answer, c[0])
		name = dns.CanonicalName(c[0].(*dns.CNAME).Target)
		if !dns.IsSubDomain(origin, name) {
			return m
		}
	}
	if !a.exists(name) {
		m.Rcode = dns.RcodeNameError
	}
	m.Ns = a.at(origin, dns.TypeSOA)
	return m
}

func (a *Authority) at(name string, t uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range a.Records {
		if rr.Header().Rrtype == t && dns.CanonicalName(rr.Header().Name) == name {
			out = append(out, rr)
		}
	}
	return out
}

// exists reports whether name or a name below it has records.
func (a *Authority) exists(name string) bool {
	for _, rr := range a.Records {
		if dns.IsSubDomain(name, dns.CanonicalName(rr.Header().Name)) {
			return true
		}
	}
	return false
}

// Start serves h on UDP and TCP at addr ("127.0.0.2:0": any free port)
// until the test ends and returns the bound address.
func Start(t testing.TB, addr string, h dns.Handler) netip.AddrPort {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			t.Fatalf("dnstest: listen udp %s: %v", addr, err)
		}
		p := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err != nil {
			pc.Close()
			if port != "0" {
				t.Fatalf("dnstest: listen tcp %s: %v", addr, err)
			}
			continue
		}
		serve(t, pc, ln, h)
		return netip.MustParseAddrPort(pc.LocalAddr().String())
	}
	t.Fatalf("dnstest: no port free on %s", host)
	return netip.AddrPort{}
}

// StartSamePort serves hs[i] on ips[i], all on one port (glue carries no
// port, so a hierarchy on loopback uses one port on several addresses),
// and returns the port.
func StartSamePort(t testing.TB, ips []string, hs []dns.Handler) uint16 {
	t.Helper()
	for range 50 {
		pc0, err := net.ListenPacket("udp", net.JoinHostPort(ips[0], "0"))
		if err != nil {
			t.Fatalf("dnstest: listen %s: %v", ips[0], err)
		}
		port := strconv.Itoa(pc0.LocalAddr().(*net.UDPAddr).Port)
		pcs := []net.PacketConn{pc0}
		var lns []net.Listener
		ok := true
		for i, ip := range ips {
			if i > 0 {
				pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, port))
				if err != nil {
					ok = false
					break
				}
				pcs = append(pcs, pc)
			}
			ln, err := net.Listen("tcp", net.JoinHostPort(ip, port))
			if err != nil {
				ok = false
				break
			}
			lns = append(lns, ln)
		}
		if !ok {
			for _, c := range pcs {
				c.Close()
			}
			for _, l := range lns {
				l.Close()
			}
			continue
		}
		for i := range ips {
			serve(t, pcs[i], lns[i], hs[i])
		}
		p, _ := strconv.Atoi(port)
		return uint16(p)
	}
	t.Fatal("dnstest: no port free on all addresses")
	return 0
}

// serve runs h on pc and ln until the test ends.
func serve(t testing.TB, pc net.PacketConn, ln net.Listener, h dns.Handler) {
	t.Helper()
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		up := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(up) }
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = srv.ActivateAndServe()
		}()
		<-up
		t.Cleanup(func() {
			_ = srv.Shutdown()
			<-done
		})
	}
}

// UDP runs a raw UDP server at addr for the test: handle gets each
// query and the socket, and answers (or not) as it likes. It is for
// servers that misbehave in ways Authority cannot.
func UDP(t testing.TB, addr string, handle func(conn *net.UDPConn, from netip.AddrPort, req *dns.Msg)) netip.AddrPort {
	t.Helper()
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Fatalf("dnstest: listen %s: %v", addr, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			req := new(dns.Msg)
			if req.Unpack(buf[:n]) != nil {
				continue
			}
			handle(conn, from, req)
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return netip.MustParseAddrPort(conn.LocalAddr().String())
}

// Send packs m and sends it from conn to to.
func Send(t testing.TB, conn *net.UDPConn, to netip.AddrPort, m *dns.Msg) {
	b, err := m.Pack()
	if err != nil {
		t.Errorf("dnstest: pack: %v", err)
		return
	}
	_, _ = conn.WriteToUDPAddrPort(b, to)
}
