package naming

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/shoal-p2p/shoal/naming/internal/dnstest"
)

func TestCacheTTL(t *testing.T) {
	c := newClock()
	up := exampleZone(t)
	s := forwardService(t, c, dnstest.Start(t, "127.0.0.1:0", up))
	ctx := context.Background()
	query := func() Answer {
		t.Helper()
		a, err := s.Query(ctx, "www.example.", dns.TypeA)
		if err != nil || len(a.Msg.Answer) != 1 {
			t.Fatalf("%v %v", a.Msg, err)
		}
		return a
	}
	if a := query(); a.Source != StepForward || a.Msg.Answer[0].Header().Ttl != 300 {
		t.Fatalf("first: %s TTL %d", a.Source, a.Msg.Answer[0].Header().Ttl)
	}
	c.Advance(100 * time.Second)
	if a := query(); a.Source != StepCache || a.Msg.Answer[0].Header().Ttl != 200 {
		t.Errorf("after 100s: %s TTL %d, want cache TTL 200", a.Source, a.Msg.Answer[0].Header().Ttl)
	}
	c.Advance(199 * time.Second)
	if a := query(); a.Source != StepCache || a.Msg.Answer[0].Header().Ttl != 1 {
		t.Errorf("after 299s: %s TTL %d, want cache TTL 1", a.Source, a.Msg.Answer[0].Header().Ttl)
	}
	c.Advance(time.Second)
	if a := query(); a.Source != StepForward || a.Msg.Answer[0].Header().Ttl != 300 {
		t.Errorf("after 300s: %s TTL %d, want a fresh answer", a.Source, a.Msg.Answer[0].Header().Ttl)
	}
	if n := up.Count("www.example.", dns.TypeA); n != 2 {
		t.Errorf("upstream asked %d times, want 2", n)
	}
}

func TestCacheNegative(t *testing.T) {
	c := newClock()
	up := exampleZone(t) // SOA TTL 3600, minimum 60: negative answers last 60s
	s := forwardService(t, c, dnstest.Start(t, "127.0.0.1:0", up))
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		qtype uint16
		rcode int
	}{{"nothere.example.", dns.TypeA, dns.RcodeNameError}, {"www.example.", dns.TypeTXT, dns.RcodeSuccess}} {
		a, err := s.Query(ctx, tc.name, tc.qtype)
		if err != nil || a.Msg.Rcode != tc.rcode || a.Source != StepForward {
			t.Fatalf("%s: %v %v", tc.name, a.Msg, err)
		}
		c.Advance(30 * time.Second)
		a, _ = s.Query(ctx, tc.name, tc.qtype)
		if a.Source != StepCache || a.Msg.Rcode != tc.rcode || len(a.Msg.Ns) != 1 || a.Msg.Ns[0].Header().Ttl != 30 {
			t.Errorf("%s after 30s: %s %s %q, want the negative answer from cache with SOA TTL 30", tc.name, a.Source, dns.RcodeToString[a.Msg.Rcode], rrStrings(a.Msg.Ns))
		}
		c.Advance(30 * time.Second)
		if a, _ = s.Query(ctx, tc.name, tc.qtype); a.Source != StepForward {
			t.Errorf("%s after 60s: from %s, want upstream again", tc.name, a.Source)
		}
		if n := up.Count(tc.name, tc.qtype); n != 2 {
			t.Errorf("%s: upstream asked %d times, want 2", tc.name, n)
		}
	}
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	up := &dnstest.Authority{Origin: "example.", Records: dnstest.RRs(t, "example.", "$TTL 300", "@ SOA ns hm 1 2 3 4 60", "a A 192.0.2.1", "b A 192.0.2.2", "c A 192.0.2.3")}
	addr := dnstest.Start(t, "127.0.0.1:0", up)
	s, err := New(Config{Listen: "127.0.0.1:0", Upstreams: []string{addr.String()}, CacheSize: 2}, &memberList{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, n := range []string{"a", "b", "a", "c", "a", "b"} {
		if _, err := s.Query(ctx, n+".example.", dns.TypeA); err != nil {
			t.Fatal(err)
		}
		if s.Cache.Len() > 2 {
			t.Fatalf("cache holds %d entries, bound is 2", s.Cache.Len())
		}
	}
	// a was used most, b was evicted by c, then c by b.
	for n, want := range map[string]int{"a": 1, "b": 2, "c": 1} {
		if got := up.Count(n+".example.", dns.TypeA); got != want {
			t.Errorf("%s asked upstream %d times, want %d", n, got, want)
		}
	}
}

func TestCacheFollowsCNAME(t *testing.T) {
	up := exampleZone(t)
	s := forwardService(t, nil, dnstest.Start(t, "127.0.0.1:0", up))
	ctx := context.Background()
	a, err := s.Query(ctx, "alias.example.", dns.TypeA)
	want := norm(t, []string{"alias.example. 300 IN CNAME www.example.", "www.example. 300 IN A 192.0.2.1"})
	if err != nil || !slices.Equal(rrStrings(a.Msg.Answer), want) {
		t.Fatalf("%q %v", rrStrings(a.Msg.Answer), err)
	}
	// The chain's parts answer their own questions from the cache.
	for _, q := range []struct {
		name  string
		qtype uint16
		want  []string
	}{
		{"www.example.", dns.TypeA, want[1:]},
		{"alias.example.", dns.TypeCNAME, want[:1]},
		{"ALIAS.example.", dns.TypeA, want},
	} {
		a, err := s.Query(ctx, q.name, q.qtype)
		if err != nil || a.Source != StepCache || !slices.Equal(rrStrings(a.Msg.Answer), q.want) {
			t.Errorf("%s %s: %s %q %v", q.name, dns.TypeToString[q.qtype], a.Source, rrStrings(a.Msg.Answer), err)
		}
	}
	// A CNAME in the cache leads to a cached target for other types too.
	if _, err := s.Query(ctx, "www.example.", dns.TypeMX); err != nil {
		t.Fatal(err)
	}
	a, _ = s.Query(ctx, "alias.example.", dns.TypeMX)
	if a.Source != StepCache || a.Msg.Rcode != dns.RcodeSuccess || len(a.Msg.Answer) != 1 {
		t.Errorf("alias MX: %s %q", a.Source, rrStrings(a.Msg.Answer))
	}
	if n := up.Count("www.example.", dns.TypeA); n != 0 {
		t.Errorf("www A asked upstream %d times, want 0", n)
	}
}

func TestCacheCapsTTL(t *testing.T) {
	c := newClock()
	up := &dnstest.Authority{Origin: "example.", Records: dnstest.RRs(t, "example.", "@ 60 SOA ns hm 1 2 3 4 60", "long 604800 A 192.0.2.1")}
	addr := dnstest.Start(t, "127.0.0.1:0", up)
	s, err := New(Config{Upstreams: []string{addr.String()}, MaxTTL: time.Hour, Now: c.Now}, &memberList{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Query(ctx, "long.example.", dns.TypeA); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Hour)
	if a, _ := s.Query(ctx, "long.example.", dns.TypeA); a.Source != StepForward {
		t.Errorf("after the cap: from %s, want upstream", a.Source)
	}
}
