package naming

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/shoal-p2p/shoal/naming/internal/dnstest"
)

func TestResolverLookups(t *testing.T) {
	up := exampleZone(t)
	s := forwardService(t, nil, dnstest.Start(t, "127.0.0.1:0", up))
	r := s.Resolver
	ctx := context.Background()

	addrs, err := r.LookupHost(ctx, "alice.shoal")
	if err != nil || !slices.Equal(addrs, []netip.Addr{netip.MustParseAddr("127.0.0.11"), netip.MustParseAddr("fd00::11")}) {
		t.Errorf("LookupHost alice: %v %v", addrs, err)
	}
	addrs, err = r.LookupHost(ctx, "alias.example.")
	if err != nil || !slices.Equal(addrs, []netip.Addr{netip.MustParseAddr("192.0.2.1")}) {
		t.Errorf("LookupHost alias.example: %v %v", addrs, err)
	}
	if addrs, err := r.LookupHost(ctx, "192.0.2.9"); err != nil || len(addrs) != 1 {
		t.Errorf("LookupHost literal: %v %v", addrs, err)
	}
	if _, err := r.LookupHost(ctx, "nobody.shoal."); !errors.Is(err, ErrNotFound) {
		t.Errorf("LookupHost nobody.shoal: %v, want ErrNotFound", err)
	}
	if _, err := r.LookupHost(ctx, "_tcp.bob.shoal."); !errors.Is(err, ErrNoRecords) {
		t.Errorf("LookupHost of a name without addresses: %v, want ErrNoRecords", err)
	}

	mx, err := r.LookupMX(ctx, "bob.shoal.")
	if err != nil || len(mx) != 1 || *mx[0] != (net.MX{Host: "bob.shoal.", Pref: 10}) {
		t.Errorf("LookupMX bob: %v %v", mx, err)
	}
	mx, err = r.LookupMX(ctx, "mail.example.")
	if err != nil || len(mx) != 1 || *mx[0] != (net.MX{Host: "www.example.", Pref: 10}) {
		t.Errorf("LookupMX mail.example.: %v %v", mx, err)
	}
	if mx, err = r.LookupMX(ctx, "alias.example."); !errors.Is(err, ErrNoRecords) {
		t.Errorf("LookupMX of a name without MX: %v %v, want ErrNoRecords", mx, err)
	}

	cname, srvs, err := r.LookupSRV(ctx, "shoal-peer", "tcp", "carol.shoal.")
	if err != nil || cname != "_shoal-peer._tcp.carol.shoal." || len(srvs) != 1 || *srvs[0] != (net.SRV{Target: "carol.shoal.", Port: 7481}) {
		t.Errorf("LookupSRV: %q %v %v", cname, srvs, err)
	}
	if _, _, err := r.LookupSRV(ctx, "imap", "tcp", "carol.shoal."); !errors.Is(err, ErrNotFound) {
		t.Errorf("LookupSRV of a service not offered: %v, want ErrNotFound", err)
	}
	txt, err := r.LookupTXT(ctx, "alice.shoal.")
	if err != nil || len(txt) != 1 || !strings.HasPrefix(txt[0], "id=id-alice") || !strings.Contains(txt[0], "key=") {
		t.Errorf("LookupTXT alice: %q %v (one record, its strings joined)", txt, err)
	}
	var de *net.DNSError
	if _, err := r.LookupTXT(ctx, "nobody.shoal."); !errors.As(err, &de) || !de.IsNotFound || de.IsTemporary || !errors.Is(err, ErrNotFound) {
		t.Errorf("LookupTXT nobody.shoal: %#v, want a not-found *net.DNSError", err)
	}
	if len(up.Queries()) == 0 {
		t.Error("upstream never asked for example. names")
	}
}

func TestResolverOfflineErrors(t *testing.T) {
	s := forwardService(t, nil)
	_, err := s.Resolver.LookupHost(context.Background(), "www.example.")
	if !errors.Is(err, ErrServerFailure) || !strings.HasPrefix(err.Error(), "naming: ") {
		t.Errorf("offline: %v, want ErrServerFailure", err)
	}
	var de *net.DNSError
	if _, err := s.Resolver.LookupTXT(context.Background(), "www.example."); !errors.As(err, &de) || !de.IsTemporary || !errors.Is(err, ErrServerFailure) {
		t.Errorf("LookupTXT offline: %#v, want a temporary *net.DNSError", err)
	}
	if _, err := s.Query(context.Background(), "bad name with spaces..", dns.TypeA); err == nil {
		t.Error("a bad name was accepted")
	}
}

func TestQueryServer(t *testing.T) {
	s := startService(t, Config{}, &memberList{ms: testMembers()}, nil)
	a, err := QueryServer(context.Background(), s.Addr().String(), "carol.shoal", dns.TypeA, 0)
	if err != nil {
		t.Fatal(err)
	}
	if a.Source != StepServer || len(a.Msg.Answer) != 1 || !a.Msg.Authoritative {
		t.Errorf("%+v", a)
	}
	out := FormatAnswer(a)
	for _, want := range []string{";; status: NOERROR", "flags: qr aa rd ra", "carol.shoal.\t60\tIN\tA\t127.0.0.13", ";; SOURCE: server", ";; 1. server " + s.Addr().String()} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := QueryServer(context.Background(), "not-an-ip", "x.", dns.TypeA, 0); err == nil {
		t.Error("a server that is no address was accepted")
	}
}

func TestQuerySources(t *testing.T) {
	up := exampleZone(t)
	s := forwardService(t, nil, dnstest.Start(t, "127.0.0.1:0", up))
	ctx := context.Background()
	for _, tc := range []struct{ name, source string }{
		{"alice.shoal.", StepZone}, {"www.example.", StepForward}, {"www.example.", StepCache}, {"ext.alice.shoal.", StepZone},
	} {
		a, err := s.Query(ctx, tc.name, dns.TypeA)
		if tc.name == "ext.alice.shoal." {
			// The chain leaves the zone for example.org., which the upstream
			// refuses: the zone's CNAME stays, marked as from the zone.
			if a.Source != StepZone || len(a.Msg.Answer) == 0 {
				t.Errorf("%s: %s %v %v", tc.name, a.Source, a.Msg, err)
			}
			continue
		}
		if err != nil || a.Source != tc.source {
			t.Errorf("%s: source %q, want %q (%v)", tc.name, a.Source, tc.source, err)
		}
	}
}
