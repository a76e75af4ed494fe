package cdn

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-p2p/shoal/storage"
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
	got, err := advertised(bind, interfaceAddrs)
	if err != nil || !slices.Equal(got, []netip.Addr{bind}) {
		t.Fatalf("advertised(%s) = %v, %v; want just the bind address", bind, got, err)
	}
	got, err = advertised(netip.IPv4Unspecified(), interfaceAddrs)
	if err != nil || len(got) == 0 {
		t.Fatalf("advertised(0.0.0.0) = %v, %v; want this machine's addresses", got, err)
	}
	for _, a := range got {
		if !a.Is4() || a.IsUnspecified() {
			t.Errorf("advertised(0.0.0.0) lists %s", a)
		}
	}
}

// A node bound to all addresses follows the machine's: when they change,
// its record is signed anew with them, and its magnets and status name
// the new ones, without a restart.
func TestFollowsTheMachinesAddresses(t *testing.T) {
	var mu sync.Mutex
	machine := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.1.2.3")}
	db, err := storage.Open(filepath.Join(t.TempDir(), "shoal.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c, err := Start(context.Background(), Config{
		DB: db, DataDir: t.TempDir(), Signer: newSigner(t), Network: "shoal", Name: "laptop",
		Bind:       netip.IPv4Unspecified(),
		Membership: MembershipTiming{AddressInterval: 20 * time.Millisecond},
		MachineAddrs: func() ([]netip.Addr, error) {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(machine), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	first := c.Members.Self()
	if want := []netip.Addr{netip.MustParseAddr("10.1.2.3")}; !slices.Equal(first.Addresses, want) {
		t.Fatalf("record addresses %v, want %v", first.Addresses, want)
	}

	mu.Lock()
	machine = []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("192.168.7.9")}
	mu.Unlock()
	want := netip.MustParseAddr("192.168.7.9")
	deadline := time.Now().Add(10 * time.Second)
	for r := c.Members.Self(); !slices.Equal(r.Addresses, []netip.Addr{want}); r = c.Members.Self() {
		if time.Now().After(deadline) {
			t.Fatalf("record addresses still %v, want [%s]", r.Addresses, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r := c.Members.Self(); r.Seq <= first.Seq {
		t.Errorf("record not signed anew: seq %d after %d", r.Seq, first.Seq)
	}
	if c.Addr() != want || !strings.HasPrefix(c.PeerAddr(), want.String()+":") {
		t.Errorf("Addr %s, PeerAddr %s; want %s", c.Addr(), c.PeerAddr(), want)
	}
	src := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(src, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	it, err := c.Publish(context.Background(), src, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(it.Magnet, "x.pe=192.168.7.9%3A") {
		t.Errorf("magnet %s lacks the new address as its peer hint", it.Magnet)
	}
}

type keySigner ed25519.PrivateKey

func newSigner(t *testing.T) keySigner {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return keySigner(priv)
}

func (k keySigner) PublicKey() ed25519.PublicKey {
	return ed25519.PrivateKey(k).Public().(ed25519.PublicKey)
}
func (k keySigner) Sign(msg []byte) []byte { return ed25519.Sign(ed25519.PrivateKey(k), msg) }
