package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoal-p2p/shoal/cdn"
	"github.com/shoal-p2p/shoal/cdn/engine"
	"github.com/shoal-p2p/shoal/cdn/membership"
)

var fastCDN = cdn.MembershipTiming{
	Interval: 100 * time.Millisecond, SuspectAfter: time.Second, RemoveAfter: 3 * time.Second,
	CatalogInterval: 200 * time.Millisecond,
}

// startMember starts a node on bind with fast gossip, joining through join.
func startMember(t *testing.T, name, bind string, join ...string) *Node {
	t.Helper()
	n, err := Start(context.Background(), Options{DataDir: t.TempDir(), CDNTiming: fastCDN, Override: func(c *Config) {
		c.Name, c.Bind, c.Join = name, bind, join
		c.UI.Address = "127.0.0.1:0"
		c.Ports = Ports{}
		c.DNS.Upstreams = []string{"127.0.0.1:1"} // tests never ask a real resolver
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// TestTwoNodesShareAFileByName: B joins A, sees A's published file in the
// network catalog, and fetches it by name; the bytes are equal.
func TestTwoNodesShareAFileByName(t *testing.T) {
	a := startMember(t, "alpha", "127.0.0.2")
	b := startMember(t, "beta", "127.0.0.3", a.CDN().PeerAddr())

	waitFor(t, "the two nodes to see each other", func() bool {
		return aliveMembers(a) == 2 && aliveMembers(b) == 2
	})

	data := make([]byte, 3<<20+12345)
	rand.Read(data)
	src := filepath.Join(t.TempDir(), "film.bin")
	os.WriteFile(src, data, 0o600)
	var lastDone int64
	it, err := a.Publish(context.Background(), src, "", func(done, total int64) { lastDone = done })
	if err != nil {
		t.Fatal(err)
	}
	if lastDone != int64(len(data)) {
		t.Errorf("publish progress ended at %d of %d", lastDone, len(data))
	}

	waitFor(t, "beta's catalog to list film.bin", func() bool {
		e, ok := b.CDN().Catalog.Get(it.InfoHash)
		return ok && len(e.Holders) > 0
	})
	spec, err := b.CDN().Resolve("film.bin")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	d, err := b.CDN().Engine.Fetch(context.Background(), spec, out)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := d.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	st, _ := d.Status()
	if st.State != engine.StateSeeding {
		t.Errorf("state after download = %s", st.State)
	}
	got, err := os.ReadFile(filepath.Join(out, "film.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("fetched bytes differ (%v)", err)
	}

	// Renaming applies at once and reaches the other member.
	cfg := a.Config()
	cfg.Name = "alpha2"
	if _, err := a.SaveSettings(cfg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "beta to learn alpha's new name", func() bool {
		m, ok := b.CDN().Members.Member(a.Identity().ID())
		return ok && m.Record.Name == "alpha2"
	})
}

func aliveMembers(n *Node) int {
	c := 0
	for _, m := range n.CDN().Members.Members() {
		if m.State == membership.Alive {
			c++
		}
	}
	return c
}
