package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

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
	return startMemberWith(t, name, bind, fastCDN, func(c *Config) { c.Join = join })
}

// startMemberWith starts a node on bind on free ports with timing; edit,
// if not nil, changes its settings further.
func startMemberWith(t testing.TB, name, bind string, timing cdn.MembershipTiming, edit func(*Config)) *Node {
	t.Helper()
	return startMemberIn(t, Options{DataDir: t.TempDir(), CDNTiming: timing, MailPasswordCost: bcrypt.MinCost}, name, bind, edit)
}

// startMemberIn starts a node with opts (its data dir, timing, clock) as
// startMemberWith does; a test restarts a node on the same data dir with it.
func startMemberIn(t testing.TB, opts Options, name, bind string, edit func(*Config)) *Node {
	t.Helper()
	opts.Override = func(c *Config) {
		c.Name, c.Bind = name, bind
		c.UI.Address = "127.0.0.1:0"
		c.Ports = Ports{}
		c.DNS.Upstreams = []string{"127.0.0.1:1"} // tests never ask a real resolver
		if edit != nil {
			edit(c)
		}
	}
	n, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func waitFor(t testing.TB, what string, cond func() bool) {
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
	spec, err := b.CDN().Resolve(t.Context(), "film.bin")
	if err != nil {
		t.Fatal(err)
	}
	out, d := fetch(t, b, spec)
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

// A name published a moment ago on another member is found at once: the
// node asks the members for their catalogs instead of failing until the
// gossip brings them.
func TestFetchByNameJustPublished(t *testing.T) {
	// Gossip every hour: after the join nothing reaches beta by itself.
	slow := cdn.MembershipTiming{Interval: time.Hour, SuspectAfter: 2 * time.Hour, RemoveAfter: 3 * time.Hour,
		CatalogInterval: time.Hour}
	a := startMemberWith(t, "alpha", "127.0.0.2", slow, nil)
	b := startMemberWith(t, "beta", "127.0.0.3", slow, func(c *Config) { c.Join = []string{a.CDN().PeerAddr()} })
	waitFor(t, "beta to know alpha", func() bool { return aliveMembers(b) == 2 })

	data := []byte("published a moment ago\n")
	src := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(src, data, 0o600)
	it, err := a.Publish(context.Background(), src, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.CDN().Catalog.Get(it.InfoHash); ok {
		t.Fatal("beta's catalog already lists the item: the test needs the gossip not to have brought it")
	}
	out := t.TempDir()
	st, err := b.Fetch(t.Context(), "notes.txt", out)
	if err != nil {
		t.Fatalf("fetch by name: %v", err)
	}
	if st.InfoHash != it.InfoHash {
		t.Fatalf("fetched %s, want %s", st.InfoHash, it.InfoHash)
	}
	waitFor(t, "the download", func() bool {
		got, err := os.ReadFile(filepath.Join(out, "notes.txt"))
		return err == nil && bytes.Equal(got, data)
	})
	// A name nobody has is still refused, and nothing is added.
	if _, err := b.Fetch(t.Context(), "nobody-has-this.txt", out); !errors.Is(err, cdn.ErrUnknownName) {
		t.Fatalf("unknown name: err %v, want ErrUnknownName", err)
	}
	if n := len(b.Items()); n != 1 {
		t.Fatalf("beta has %d items, want 1", n)
	}
	// Two items of the same name: the name is refused, the infohash is
	// needed.
	other := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(other, []byte("other notes\n"), 0o600)
	if _, err := b.Publish(context.Background(), other, "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Fetch(t.Context(), "notes.txt", out); !errors.Is(err, cdn.ErrAmbiguousName) || statusFor(err) != http.StatusConflict {
		t.Fatalf("a name two items share: err %v, want ErrAmbiguousName (409)", err)
	}
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

// TestMembersFindEachOtherThroughTheDHT: alpha starts alone; beta and gamma
// are given no member to join, only alpha's BitTorrent port as a DHT node to
// start from (cdn.dht_bootstrap). Each announces its peer API under the
// network's DHT key and looks the key up on the real DHT, so all three come
// to list the same three members.
func TestMembersFindEachOtherThroughTheDHT(t *testing.T) {
	timing := fastCDN
	timing.DHTInterval = 200 * time.Millisecond
	alpha := startMemberWith(t, "alpha", "127.0.0.2", timing, nil)
	bootstrap := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), uint16(alpha.CDN().Engine.Port())).String()
	nodes := []*Node{alpha}
	for _, m := range []struct{ name, bind string }{{"beta", "127.0.0.3"}, {"gamma", "127.0.0.4"}} {
		nodes = append(nodes, startMemberWith(t, m.name, m.bind, timing, func(c *Config) {
			c.CDN.DHTBootstrap = []string{bootstrap}
		}))
	}
	var want []string
	for _, n := range nodes {
		if len(n.Config().Join) != 0 {
			t.Fatalf("%s was given members to join: %v", n.Config().Name, n.Config().Join)
		}
		want = append(want, n.Identity().ID())
	}
	slices.Sort(want)

	waitFor(t, "all three nodes to list the same three members", func() bool {
		for _, n := range nodes {
			if !slices.Equal(aliveIDs(n), want) {
				return false
			}
		}
		return true
	})
	// The bootstrap node is in the others' DHT routing tables, once.
	for _, n := range nodes[1:] {
		got := n.CDN().Engine.DHTNodes()
		if !slices.Contains(got, netip.MustParseAddrPort(bootstrap)) {
			t.Errorf("%s's DHT nodes %v lack the bootstrap node %s", n.Config().Name, got, bootstrap)
		}
		if unique := slices.Compact(slices.SortedFunc(slices.Values(got), netip.AddrPort.Compare)); len(unique) != len(got) {
			t.Errorf("%s's DHT nodes list one node twice: %v", n.Config().Name, got)
		}
	}
}

// aliveIDs are the IDs of the members n sees alive, itself included, sorted.
func aliveIDs(n *Node) []string {
	var ids []string
	for _, m := range n.CDN().Members.Members() {
		if m.State == membership.Alive {
			ids = append(ids, m.ID())
		}
	}
	slices.Sort(ids)
	return ids
}

// Members learnt by gossip join the DHT routing tables, so the DHT works
// for a group that was formed with --join alone.
func TestJoinedMembersEnterTheDHT(t *testing.T) {
	alpha := startMember(t, "alpha", "127.0.0.2")
	beta := startMember(t, "beta", "127.0.0.3", alpha.CDN().PeerAddr())
	nodes := []*Node{alpha, beta}
	want := []string{alpha.Identity().ID(), beta.Identity().ID()}
	slices.Sort(want)
	waitFor(t, "both nodes to list both members", func() bool {
		return slices.Equal(aliveIDs(alpha), want) && slices.Equal(aliveIDs(beta), want)
	})
	for i, n := range nodes {
		other := nodes[1-i]
		ap := netip.AddrPortFrom(netip.MustParseAddr(other.Config().Bind), uint16(other.CDN().Engine.Port()))
		waitFor(t, n.Config().Name+"'s DHT to know "+other.Config().Name, func() bool {
			return slices.Contains(n.CDN().Engine.DHTNodes(), ap)
		})
	}
}

// A node bound to 0.0.0.0 listens on every address and tells the others
// the machine's addresses, not 0.0.0.0: a member joins it, resolves it,
// and fetches what it publishes, through its magnet's hints and trackers.
func TestNodeListeningOnAllAddresses(t *testing.T) {
	alpha := startMember(t, "alpha", "0.0.0.0")
	beta := startMember(t, "beta", "127.0.0.3", alpha.CDN().PeerAddr())
	waitFor(t, "the two nodes to see each other", func() bool {
		return aliveMembers(alpha) == 2 && aliveMembers(beta) == 2
	})
	m, ok := beta.CDN().Members.Member(alpha.Identity().ID())
	if !ok || len(m.Record.Addresses) == 0 {
		t.Fatalf("beta's record of alpha: %+v", m.Record)
	}
	for _, a := range m.Record.Addresses {
		if a.IsUnspecified() || !a.Is4() {
			t.Errorf("alpha advertises %s", a)
		}
	}
	for _, s := range alpha.Status().Services {
		if strings.HasPrefix(s.Address, "0.0.0.0:") || strings.HasPrefix(s.Address, "[::]:") {
			t.Errorf("status lists %s at %s", s.Name, s.Address)
		}
	}

	data := make([]byte, 1<<20)
	rand.Read(data)
	src := filepath.Join(t.TempDir(), "notes.bin")
	os.WriteFile(src, data, 0o600)
	it, err := alpha.Publish(context.Background(), src, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(it.Magnet, "0.0.0.0") || strings.Contains(it.Magnet, "%5B%3A%3A%5D") {
		t.Errorf("magnet names the unspecified address: %s", it.Magnet)
	}
	out, _ := fetch(t, beta, it.Magnet)
	if got, err := os.ReadFile(filepath.Join(out, "notes.bin")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("fetched bytes differ (%v)", err)
	}
}

// fetch downloads spec on n into a new folder and waits until it is
// complete; it returns the folder and the download.
func fetch(t *testing.T, n *Node, spec string) (string, *engine.Download) {
	t.Helper()
	out := t.TempDir()
	d, err := n.CDN().Engine.Fetch(context.Background(), spec, out)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := d.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	return out, d
}
