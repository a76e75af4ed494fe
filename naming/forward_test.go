package naming

import (
	"context"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/shoal-p2p/shoal/naming/internal/dnstest"
)

// exampleZone is an upstream's data.
func exampleZone(t *testing.T) *dnstest.Authority {
	return &dnstest.Authority{Origin: "example.", Records: dnstest.RRs(t, "example.",
		"$TTL 300",
		"@ 3600 SOA ns hostmaster 1 3600 600 86400 60",
		"www A 192.0.2.1",
		"alias CNAME www",
		"mail MX 10 www",
		"far CNAME www.other.",
	)}
}

func forwardService(t *testing.T, c *clock, upstreams ...netip.AddrPort) *Service {
	t.Helper()
	cfg := Config{Listen: "127.0.0.1:0", Timeout: 500 * time.Millisecond, ResolvConf: offlineConf(t)}
	if c != nil {
		cfg.Now = c.Now
	}
	for _, u := range upstreams {
		cfg.Upstreams = append(cfg.Upstreams, u.String())
	}
	s, err := New(cfg, &memberList{ms: testMembers()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestForwardOffline(t *testing.T) {
	s := forwardService(t, nil)
	a, err := s.Query(context.Background(), "www.example.", dns.TypeA)
	if err == nil || a.Msg.Rcode != dns.RcodeServerFailure {
		t.Fatalf("offline: %v %v, want SERVFAIL and an error", a.Msg, err)
	}
	if len(a.Steps) != 1 || !strings.Contains(a.Steps[0].Result, "offline") {
		t.Errorf("steps %+v, want one saying offline", a.Steps)
	}
	// The zone still answers.
	if a, err := s.Query(context.Background(), "alice.shoal.", dns.TypeA); err != nil || a.Source != StepZone {
		t.Errorf("zone while offline: %v %v", a, err)
	}
}

func TestForwardResolvConf(t *testing.T) {
	c := newClock()
	p := t.TempDir() + "/resolv.conf"
	if err := os.WriteFile(p, []byte("search lan\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := NewForwarder(Config{ResolvConf: p, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.AddrPort{netip.MustParseAddrPort("192.0.2.53:53"), netip.MustParseAddrPort("[2001:db8::53]:53")}
	if got := f.Upstreams(); !slices.Equal(got, want) {
		t.Fatalf("upstreams %v, want %v", got, want)
	}
	if err := os.WriteFile(p, []byte("nameserver 192.0.2.54\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	c.Advance(resolvConfCheck)
	if got := f.Upstreams(); !slices.Equal(got, []netip.AddrPort{netip.MustParseAddrPort("192.0.2.54:53")}) {
		t.Errorf("after the file changed: %v", got)
	}
	f.exclude(netip.MustParseAddrPort("192.0.2.54:53"))
	if got := f.Upstreams(); len(got) != 0 {
		t.Errorf("own address not excluded: %v", got)
	}
}

func TestForwardFailover(t *testing.T) {
	up := exampleZone(t)
	good := dnstest.Start(t, "127.0.0.1:0", up)
	// A server that never answers.
	silent := dnstest.UDP(t, "127.0.0.1:0", func(*net.UDPConn, netip.AddrPort, *dns.Msg) {})
	s := forwardService(t, nil, silent, good)
	a, err := s.Query(context.Background(), "www.example.", dns.TypeA)
	if err != nil || len(a.Msg.Answer) != 1 {
		t.Fatalf("%v %v", a.Msg, err)
	}
	if len(a.Steps) != 2 || a.Steps[0].Result != "timeout" || a.Steps[1].Server != good.String() {
		t.Errorf("steps %+v, want a timeout then the good server", a.Steps)
	}
}

func TestForwardFollowsCNAME(t *testing.T) {
	mux := dns.NewServeMux()
	mux.Handle("example.", exampleZone(t))
	other := &dnstest.Authority{Origin: "other.", Records: dnstest.RRs(t, "other.", "$TTL 300", "@ SOA ns hm 1 2 3 4 60", "www A 192.0.2.2")}
	mux.Handle("other.", other)
	s := forwardService(t, nil, dnstest.Start(t, "127.0.0.1:0", mux))
	a, err := s.Query(context.Background(), "far.example.", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	want := norm(t, []string{"far.example. 300 IN CNAME www.other.", "www.other. 300 IN A 192.0.2.2"})
	if got := rrStrings(a.Msg.Answer); !slices.Equal(got, want) {
		t.Errorf("answer %q, want %q", got, want)
	}
}

// forgeUpstream is an upstream that first sends what forge makes of the
// real answer (nil: nothing), then, if honest, the real answer.
func forgeUpstream(t *testing.T, honest bool, forge func(conn *net.UDPConn, to netip.AddrPort, real *dns.Msg)) netip.AddrPort {
	zone := exampleZone(t)
	return dnstest.UDP(t, "127.0.0.1:0", func(conn *net.UDPConn, from netip.AddrPort, req *dns.Msg) {
		real := zone.Answer(req)
		forge(conn, from, real.Copy())
		if honest {
			dnstest.Send(t, conn, from, real)
		}
	})
}

func evilA(m *dns.Msg) {
	rr, _ := dns.NewRR(m.Question[0].Name + " 300 IN A 6.6.6.6")
	m.Answer = []dns.RR{rr}
}

func TestForwardRejectsForgedResponses(t *testing.T) {
	tests := []struct {
		name  string
		why   string
		forge func(t *testing.T, conn *net.UDPConn, to netip.AddrPort, real *dns.Msg)
	}{
		{"mismatched ID", "ID mismatch", func(t *testing.T, conn *net.UDPConn, to netip.AddrPort, m *dns.Msg) {
			evilA(m)
			m.Id++
			dnstest.Send(t, conn, to, m)
		}},
		{"mismatched question", "question mismatch", func(t *testing.T, conn *net.UDPConn, to netip.AddrPort, m *dns.Msg) {
			m.Question[0].Name = "evil.example."
			evilA(m)
			dnstest.Send(t, conn, to, m)
		}},
		{"other source port", "not the server asked", func(t *testing.T, _ *net.UDPConn, to netip.AddrPort, m *dns.Msg) {
			evilA(m)
			other, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Error(err)
				return
			}
			defer other.Close()
			dnstest.Send(t, other, to, m)
		}},
		{"other source address", "not the server asked", func(t *testing.T, conn *net.UDPConn, to netip.AddrPort, m *dns.Msg) {
			evilA(m)
			port := conn.LocalAddr().(*net.UDPAddr).Port
			other, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 66), Port: port})
			if err != nil {
				t.Logf("cannot bind 127.0.0.66:%d: %v", port, err)
				return
			}
			defer other.Close()
			dnstest.Send(t, other, to, m)
		}},
		{"not a response", "not a response", func(t *testing.T, conn *net.UDPConn, to netip.AddrPort, m *dns.Msg) {
			evilA(m)
			m.Response = false
			dnstest.Send(t, conn, to, m)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := forgeUpstream(t, true, func(conn *net.UDPConn, to netip.AddrPort, m *dns.Msg) { tc.forge(t, conn, to, m) })
			s := forwardService(t, nil, up)
			a, err := s.Query(context.Background(), "www.example.", dns.TypeA)
			if err != nil {
				t.Fatal(err)
			}
			want := norm(t, []string{"www.example. 300 IN A 192.0.2.1"})
			if got := rrStrings(a.Msg.Answer); !slices.Equal(got, want) {
				t.Fatalf("answer %q, want the real %q", got, want)
			}
			if tc.name == "other source address" && !strings.Contains(a.Steps[0].Result, "rejected") {
				return // could not bind the other address
			}
			if !strings.Contains(a.Steps[0].Result, tc.why) {
				t.Errorf("step %q does not report %q", a.Steps[0].Result, tc.why)
			}
			// Nothing forged was cached.
			a, _ = s.Query(context.Background(), "www.example.", dns.TypeA)
			if a.Source != StepCache || !slices.Equal(rrStrings(a.Msg.Answer), want) {
				t.Errorf("second query: %s %q", a.Source, rrStrings(a.Msg.Answer))
			}
		})
	}
	t.Run("only forgeries", func(t *testing.T) {
		up := forgeUpstream(t, false, func(conn *net.UDPConn, to netip.AddrPort, m *dns.Msg) {
			evilA(m)
			m.Id++
			dnstest.Send(t, conn, to, m)
		})
		s := forwardService(t, nil, up)
		a, err := s.Query(context.Background(), "www.example.", dns.TypeA)
		if err == nil || a.Msg.Rcode != dns.RcodeServerFailure || len(a.Msg.Answer) != 0 {
			t.Fatalf("%v %v, want SERVFAIL", a.Msg, err)
		}
	})
}

func TestForwardDropsRecordsOffTheChain(t *testing.T) {
	zone := exampleZone(t)
	zone.Modify = func(r, m *dns.Msg) {
		// Poison: records for names not asked, in every section.
		evil := dnstest.RRs(t, ".", "bank.test. 86400 IN A 6.6.6.6")
		m.Answer = append(m.Answer, evil...)
		m.Ns = append(m.Ns, dnstest.RRs(t, ".", "test. 86400 IN NS ns.evil.")...)
		m.Extra = append(m.Extra, dnstest.RRs(t, ".", "ns.evil. 86400 IN A 6.6.6.6", "bank.test. 86400 IN A 6.6.6.6")...)
	}
	mux := dns.NewServeMux()
	mux.Handle("example.", zone)
	honest := &dnstest.Authority{Origin: "test.", Records: dnstest.RRs(t, "test.", "$TTL 300", "@ SOA ns hm 1 2 3 4 60", "bank A 192.0.2.80")}
	mux.Handle("test.", honest)
	s := forwardService(t, nil, dnstest.Start(t, "127.0.0.1:0", mux))
	a, err := s.Query(context.Background(), "www.example.", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if got := rrStrings(append(append(a.Msg.Answer, a.Msg.Ns...), a.Msg.Extra...)); len(got) != 1 {
		t.Errorf("response keeps records off the chain: %q", got)
	}
	a, err = s.Query(context.Background(), "bank.test.", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if a.Source != StepForward || !slices.Equal(rrStrings(a.Msg.Answer), norm(t, []string{"bank.test. 300 IN A 192.0.2.80"})) {
		t.Errorf("bank.test: %s %q, want the honest answer from upstream, not a cached forgery", a.Source, rrStrings(a.Msg.Answer))
	}
}

func TestForwardTCPOnTruncation(t *testing.T) {
	var lines []string
	for range 60 {
		lines = append(lines, `big TXT "`+strings.Repeat("y", 60)+`"`)
	}
	zone := &dnstest.Authority{Origin: "example.", Records: dnstest.RRs(t, "example.", append([]string{"$TTL 300", "@ SOA ns hm 1 2 3 4 60"}, lines...)...)}
	var udpAsked, tcpAsked atomic.Int32
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := zone.Answer(r)
		if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
			udpAsked.Add(1)
			m.Answer, m.Truncated = nil, true
		} else {
			tcpAsked.Add(1)
		}
		_ = w.WriteMsg(m)
	})
	s := forwardService(t, nil, dnstest.Start(t, "127.0.0.1:0", h))
	a, err := s.Query(context.Background(), "big.example.", dns.TypeTXT)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Msg.Answer) != 60 || udpAsked.Load() != 1 || tcpAsked.Load() != 1 {
		t.Errorf("%d answers after %d UDP and %d TCP queries, want 60 after 1 and 1", len(a.Msg.Answer), udpAsked.Load(), tcpAsked.Load())
	}
	if !strings.Contains(a.Steps[0].Result, "TCP") {
		t.Errorf("step %q does not mention TCP", a.Steps[0].Result)
	}
	// Our own clients get the big answer truncated over UDP, whole over TCP.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if m := dnsExchange(t, "udp", s.Addr(), question("big.example.", dns.TypeTXT)); !m.Truncated {
		t.Error("UDP answer of 60 long TXT records not truncated")
	}
	if m := dnsExchange(t, "tcp", s.Addr(), question("big.example.", dns.TypeTXT)); m.Truncated || len(m.Answer) != 60 {
		t.Errorf("TCP: TC %v, %d answers", m.Truncated, len(m.Answer))
	}
}

func TestRandomIDsAndPorts(t *testing.T) {
	var mu sync.Mutex
	ids := map[uint16]bool{}
	ports := map[uint16]bool{}
	zone := exampleZone(t)
	up := dnstest.UDP(t, "127.0.0.1:0", func(conn *net.UDPConn, from netip.AddrPort, req *dns.Msg) {
		mu.Lock()
		defer mu.Unlock()
		ids[req.Id] = true
		ports[from.Port()] = true
		dnstest.Send(t, conn, from, zone.Answer(req))
	})
	s := forwardService(t, nil, up)
	for i := range 20 {
		s.Cache.Flush()
		if _, err := s.Query(context.Background(), "www.example.", dns.TypeA); err != nil {
			t.Fatalf("query %d: %v", i, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ids) < 18 || len(ports) < 18 {
		t.Errorf("20 queries used %d IDs and %d source ports, want nearly all different", len(ids), len(ports))
	}
}
