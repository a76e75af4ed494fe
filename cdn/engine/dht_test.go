package engine

import (
	"crypto/sha1"
	"errors"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestDHTAnnounceAndLookup(t *testing.T) {
	first := newNode(t, func(c *Config) { c.DHT = true })
	second := newNode(t, func(c *Config) {
		c.DHT = true
		c.DHTStartingNodes = func() []netip.AddrPort { return []netip.AddrPort{first.addr()} }
	})
	third := newNode(t, func(c *Config) { c.DHT = true })

	// Members announce their peer-API port under a key from the network name.
	key := sha1.Sum([]byte("shoal network: test"))
	want := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 7481)
	if err := second.DHTAnnounce(ctx(t), key, 7481); err != nil {
		t.Fatal(err)
	}
	for name, n := range map[string]*testNode{"first (holds it)": first, "second (asks first)": second} {
		peers, err := n.DHTPeers(ctx(t), key)
		if err != nil || !slices.Contains(peers, want) {
			t.Errorf("%s: DHTPeers = %v, %v; want %v", name, peers, err, want)
		}
	}

	// A node that knows nobody learns of one and finds the key through it.
	if _, err := third.DHTPeers(ctx(t), key); err == nil {
		t.Error("a DHT with no nodes answered a lookup")
	}
	third.AddDHTNodes([]netip.AddrPort{first.addr()})
	eventually(t, 10*time.Second, "the new node in the routing table", func() bool { return len(third.DHTNodes()) > 0 })
	if peers, err := third.DHTPeers(ctx(t), key); err != nil || !slices.Contains(peers, want) {
		t.Errorf("third: DHTPeers = %v, %v; want %v", peers, err, want)
	}

	// Torrents announce themselves: third finds the publisher of an infohash
	// through the DHT alone.
	data := writeFile(t, filepath.Join(first.dir, "dht.bin"), 100_000, 15)
	item, err := first.Publish(ctx(t), filepath.Join(first.dir, "dht.bin"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	ih, _ := parseInfoHash(item.InfoHash)
	eventually(t, 10*time.Second, "the torrent's announce", func() bool {
		peers, _ := third.DHTPeers(ctx(t), ih)
		return slices.Contains(peers, first.addr())
	})
	out := t.TempDir()
	d, err := third.Fetch(ctx(t), item.InfoHash, out)
	if err != nil {
		t.Fatal(err)
	}
	wait(t, d, 30*time.Second)
	sameFile(t, filepath.Join(out, "dht.bin"), data)

	off := newNode(t, nil)
	if err := off.DHTAnnounce(ctx(t), key, 1); !errors.Is(err, ErrNoDHT) {
		t.Errorf("announce without a DHT: %v", err)
	}
}
