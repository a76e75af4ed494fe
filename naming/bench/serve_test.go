// Package bench holds the DNS benchmark: dnsbench.sh runs the servers
// below and, for comparison, Unbound and dnsmasq, all under dnsperf.
package bench

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"

	"github.com/miekg/dns"
	"github.com/shoal-p2p/shoal/naming"
)

// The names every server of the benchmark answers.
const (
	benchZone     = "shoal."         // members m0000.shoal. ...
	benchUpstream = "bench.example." // h0000.bench.example. ..., served by the upstream
)

// memberAddr and hostAddr are the addresses of the i-th name.
func memberAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{127, 1, byte(i >> 8), byte(i)}) }
func hostAddr(i int) netip.Addr   { return netip.AddrFrom4([4]byte{127, 2, byte(i >> 8), byte(i)}) }

type members []naming.Member

func (m members) Members() []naming.Member { return m }

// TestServe is not a test: dnsbench.sh runs it (from a test binary) as a
// server. DNSBENCH_ROLE is "shoal" (the node's DNS with the zone's names,
// forwarding to DNSBENCH_UPSTREAM) or "upstream" (an authoritative server
// for the outside names); DNSBENCH_LISTEN is its address, DNSBENCH_NAMES
// the number of names. It serves until SIGTERM.
func TestServe(t *testing.T) {
	role := os.Getenv("DNSBENCH_ROLE")
	if role == "" {
		t.Skip("run by dnsbench.sh")
	}
	n, err := strconv.Atoi(os.Getenv("DNSBENCH_NAMES"))
	if err != nil || n < 1 || n > 65535 {
		t.Fatalf("DNSBENCH_NAMES %q", os.Getenv("DNSBENCH_NAMES"))
	}
	listen := os.Getenv("DNSBENCH_LISTEN")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	switch role {
	case "shoal":
		var ms members
		for i := range n {
			ms = append(ms, naming.Member{Name: fmt.Sprintf("m%04d", i), ID: strconv.Itoa(i), Addrs: []netip.Addr{memberAddr(i)},
				Ports: map[string]int{"peer": 7481}})
		}
		s, err := naming.New(naming.Config{Listen: listen, Zone: benchZone, Upstreams: []string{os.Getenv("DNSBENCH_UPSTREAM")},
			CacheSize: 4 * n}, ms, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Serve(ctx); err != nil {
			t.Fatal(err)
		}
	case "upstream":
		answers := map[string]dns.RR{}
		for i := range n {
			name := fmt.Sprintf("h%04d.%s", i, benchUpstream)
			answers[name] = &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 86400}, A: hostAddr(i).AsSlice()}
		}
		h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
			m := new(dns.Msg)
			m.SetReply(r)
			m.Authoritative = true
			if rr, ok := answers[dns.CanonicalName(r.Question[0].Name)]; ok && r.Question[0].Qtype == dns.TypeA {
				m.Answer = []dns.RR{rr}
			} else {
				m.Rcode = dns.RcodeNameError
			}
			_ = w.WriteMsg(m)
		})
		srv := &dns.Server{Addr: listen, Net: "udp", Handler: h}
		go func() {
			<-ctx.Done()
			_ = srv.Shutdown()
		}()
		if err := srv.ListenAndServe(); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("DNSBENCH_ROLE %q", role)
	}
}
