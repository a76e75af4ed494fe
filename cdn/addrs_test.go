package cdn

import (
	"net/netip"
	"slices"
	"testing"
)

func TestChooseAdvertised(t *testing.T) {
	addrs := func(ss ...string) []netip.Addr {
		var out []netip.Addr
		for _, s := range ss {
			out = append(out, netip.MustParseAddr(s))
		}
		return out
	}
	machine := addrs("127.0.0.1", "::1", "203.0.113.7", "fe80::1", "192.168.1.20", "2001:db8::5", "fd00::9", "::ffff:10.0.0.3", "192.168.1.20")
	for _, c := range []struct {
		bind string
		have []netip.Addr
		want []netip.Addr
	}{
		{"0.0.0.0", machine, addrs("192.168.1.20", "10.0.0.3", "203.0.113.7")},
		{"::", machine, addrs("192.168.1.20", "10.0.0.3", "203.0.113.7", "2001:db8::5", "fd00::9")},
		{"0.0.0.0", addrs("127.0.0.1", "::1", "fe80::2"), addrs("127.0.0.1")},
		{"::", addrs("::1", "fe80::2"), addrs("::1")},
		{"0.0.0.0", nil, addrs("127.0.0.1")},
	} {
		if got := chooseAdvertised(netip.MustParseAddr(c.bind), c.have); !slices.Equal(got, c.want) {
			t.Errorf("bind %s, machine %v: got %v, want %v", c.bind, c.have, got, c.want)
		}
	}
}

func TestAdvertisedBindAddress(t *testing.T) {
	bind := netip.MustParseAddr("127.0.0.5")
	got, err := advertised(bind)
	if err != nil || !slices.Equal(got, []netip.Addr{bind}) {
		t.Fatalf("advertised(%s) = %v, %v; want just the bind address", bind, got, err)
	}
	got, err = advertised(netip.IPv4Unspecified())
	if err != nil || len(got) == 0 {
		t.Fatalf("advertised(0.0.0.0) = %v, %v; want this machine's addresses", got, err)
	}
	for _, a := range got {
		if !a.Is4() || a.IsUnspecified() {
			t.Errorf("advertised(0.0.0.0) lists %s", a)
		}
	}
}
