package naming

import (
	"context"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// clock is a settable clock for TTL tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// memberList is a Members whose list tests change.
type memberList struct {
	mu sync.Mutex
	ms []Member
}

func (l *memberList) Members() []Member {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ms)
}

func (l *memberList) set(ms []Member) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ms = ms
}

// holders is a ContentLocator from a map.
type holders map[string][]string

func (h holders) Holders(item string) []string { return h[item] }

// handlerFunc makes a function a Handler.
type handlerFunc func(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error)

func (f handlerFunc) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	return f(ctx, w, r)
}
func (f handlerFunc) Name() string { return "test" }

// offlineConf is a resolv.conf without name servers, for services whose
// forwarder must not go anywhere.
func offlineConf(t testing.TB) string {
	t.Helper()
	p := t.TempDir() + "/resolv.conf"
	if err := os.WriteFile(p, []byte("# no name servers\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// serveRecorded runs r through h as if sent by client (the zero value: the
// node itself) and returns the rcode and the written response, if any.
func serveRecorded(t testing.TB, h Handler, client netip.Addr, r *dns.Msg) (int, *dns.Msg) {
	t.Helper()
	rec := &recorder{}
	if client.IsValid() {
		rec.remote = net.UDPAddrFromAddrPort(netip.AddrPortFrom(client, 5353))
	}
	rcode, _ := h.ServeDNS(context.Background(), rec, r)
	return rcode, rec.msg
}

func question(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	return m
}

// rrStrings is each record's text, to compare with expectations.
func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		out = append(out, rr.String())
	}
	return out
}

// norm parses expected records so that they print like real ones.
func norm(t testing.TB, lines []string) []string {
	t.Helper()
	var out []string
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatalf("bad expected record %q: %v", l, err)
		}
		out = append(out, rr.String())
	}
	return out
}

// dnsExchange asks addr over network and fails the test on error.
func dnsExchange(t testing.TB, network string, addr netip.AddrPort, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 3 * time.Second, UDPSize: 65535}
	resp, _, err := c.Exchange(m, addr.String())
	if err != nil {
		t.Fatalf("exchange %s %s: %v", network, questionString(m), err)
	}
	return resp
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
