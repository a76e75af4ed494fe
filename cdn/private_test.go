package cdn

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/shoal-p2p/shoal/cdn/membership"
	"github.com/shoal-p2p/shoal/cdn/pnet"
	"github.com/shoal-p2p/shoal/storage"
)

// startPrivate starts a CDN of the private network whose key is k (an
// open one's with a nil k), its key file in its data dir.
func startPrivate(t *testing.T, name, bind string, k *pnet.Key, join ...string) *CDN {
	t.Helper()
	dir := t.TempDir()
	db, err := storage.Open(filepath.Join(dir, "shoal.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := Config{
		DB: db, DataDir: dir, Signer: newSigner(t), Network: "friends", Name: name,
		Bind: netip.MustParseAddr(bind), Join: join, Membership: fastTiming,
	}
	if k != nil {
		cfg.NetworkKey, cfg.KeyFile = pnet.NewKeys(*k), filepath.Join(dir, pnet.KeyFile)
		if err := pnet.SaveKey(cfg.KeyFile, *k); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustKey(t *testing.T) *pnet.Key {
	t.Helper()
	k, err := pnet.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return &k
}

// outsiderAddr is where the node without the key calls from.
const outsiderAddr = "127.0.0.79"

// outsiderHTTP is a plain HTTP and TLS client calling from outsiderAddr.
func outsiderHTTP() *http.Client {
	d := &net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(outsiderAddr)}}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: d.DialContext, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
}

// In a private network, members join, gossip, list each other's catalogs
// and swarm; an outsider who knows a member's address and an item's
// infohash gets no answer from gossip, catalog, gateway, tracker or the
// swarm, in clear or over TLS, and another node with a key of its own
// cannot join.
func TestPrivateNetworkShutsOutsidersOut(t *testing.T) {
	k := mustKey(t)
	a := startPrivate(t, "alpha", "127.0.0.71", k)
	src := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(src, []byte("for members only"), 0o600); err != nil {
		t.Fatal(err)
	}
	it, err := a.Publish(t.Context(), src, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	b := startPrivate(t, "beta", "127.0.0.72", k, a.PeerAddr())
	waitUntil(t, "beta to join alpha", func() bool { return knows(b, a.Members.ID()) && knows(a, b.Members.ID()) })
	waitUntil(t, "beta to list alpha's item", func() bool { _, ok := b.Catalog.Get(it.InfoHash); return ok })

	// Members fetch from each other, over encrypted BitTorrent.
	d, err := b.Engine.Fetch(t.Context(), it.Magnet, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := d.Wait(ctx); err != nil {
		t.Fatalf("member fetch: %v", err)
	}

	// Members announce to each other's trackers, through the key and TLS.
	var ih20 [20]byte
	copy(ih20[:], metainfo.NewHashFromHex(it.InfoHash).Bytes())
	waitUntil(t, "alpha's tracker to list both members", func() bool {
		s, ok := a.Tracker.Swarm(ih20)
		return ok && s.Complete+s.Incomplete >= 2
	})

	// The DHT key is not the network name's.
	if a.dhtKey()() == membership.DHTKey("friends") {
		t.Error("a private network announces under its name's DHT key")
	}

	// Every route, in clear and over TLS: no HTTP answer at all.
	ih, _ := hex.DecodeString(it.InfoHash)
	q := url.Values{"info_hash": {string(ih)}, "peer_id": {"-AR1360-abcdefghijkl"}, "port": {"6881"}, "compact": {"1"}}
	out := outsiderHTTP()
	for _, path := range []string{membership.PathPing, membership.PathRecord, "/peer/v1/catalog",
		"/cdn/" + it.InfoHash + "/secret.txt", "/announce?" + q.Encode()} {
		for _, scheme := range []string{"http", "https"} {
			u := scheme + "://" + a.PeerAddr() + path
			resp, err := out.Get(u)
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				t.Errorf("outsider GET %s: %s %q", u, resp.Status, body)
			}
		}
	}
	if a.RefusedAtHandshake() < 10 {
		t.Errorf("RefusedAtHandshake = %d, want at least 10", a.RefusedAtHandshake())
	}

	// A node of the same network name with another key, and one of an open
	// network, cannot join.
	for name, key := range map[string]*pnet.Key{"otherkey": mustKey(t), "open": nil} {
		o := startPrivate(t, name, outsiderAddr, key)
		err := o.Members.Join(t.Context(), a.PeerAddr())
		if err == nil {
			t.Errorf("%s joined the private network", name)
		}
		if key != nil && !errors.Is(err, pnet.ErrWrongKey) {
			t.Errorf("%s: %v, want ErrWrongKey", name, err)
		}
		if _, ok := a.Members.Member(o.Members.ID()); ok {
			t.Errorf("alpha lists %s", name)
		}
	}

	// A real BitTorrent client that knows the infohash and alpha's port
	// gets no connection and no byte, with encryption or without.
	for _, enc := range []bool{true, false} {
		cc := torrent.NewDefaultClientConfig()
		cc.DataDir = t.TempDir()
		cc.ListenHost = func(string) string { return outsiderAddr }
		cc.ListenPort = 0
		cc.NoDHT, cc.DisableUTP, cc.DisableIPv6, cc.NoDefaultPortForwarding = true, true, true, true
		cc.HeaderObfuscationPolicy = torrent.HeaderObfuscationPolicy{Preferred: enc, RequirePreferred: enc}
		cl, err := torrent.NewClient(cc)
		if err != nil {
			t.Fatal(err)
		}
		tt, _ := cl.AddTorrentInfoHash(metainfo.NewHashFromHex(it.InfoHash))
		ap := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.71"), uint16(a.Engine.Port()))
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			tt.AddPeers([]torrent.PeerInfo{{Addr: torrent.StringAddr(ap.String()), Trusted: true}})
			time.Sleep(200 * time.Millisecond)
		}
		st := tt.Stats()
		if st.BytesRead.Int64() > 0 || tt.Info() != nil {
			t.Errorf("outsider swarm (encryption %v): read %d bytes, info %v", enc, st.BytesRead.Int64(), tt.Info() != nil)
		}
		cl.Close()
	}
	// Nor from the member that fetched.
	if st, _ := b.Engine.Status(it.InfoHash); st.InfoHash == "" {
		t.Error("beta lost its copy")
	}
}

// A rekey hands the new key to the live members, which keep talking; the
// member removed with it does not get it and is shut out.
func TestRekeyAndRemove(t *testing.T) {
	k := mustKey(t)
	a := startPrivate(t, "alpha", "127.0.0.73", k)
	b := startPrivate(t, "beta", "127.0.0.74", k, a.PeerAddr())
	c := startPrivate(t, "gamma", "127.0.0.75", k, a.PeerAddr())
	for _, x := range []*CDN{b, c} {
		waitUntil(t, "all to know each other", func() bool {
			return knows(a, x.Members.ID()) && knows(x, a.Members.ID())
		})
	}
	waitUntil(t, "beta and gamma to know each other", func() bool { return knows(b, c.Members.ID()) })
	old := a.KeyFingerprint()

	res, err := a.Rekey(t.Context(), []string{c.Members.ID()})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Sent) != 1 || res.Sent[0] != b.Members.ID() || len(res.Failed) != 0 {
		t.Fatalf("rekey: %+v", res)
	}
	if a.KeyFingerprint() == old || b.KeyFingerprint() != a.KeyFingerprint() || c.KeyFingerprint() != old {
		t.Fatalf("fingerprints: alpha %s beta %s gamma %s, old %s", a.KeyFingerprint(), b.KeyFingerprint(), c.KeyFingerprint(), old)
	}
	if fk, err := pnet.LoadKey(b.cfg.KeyFile); err != nil || fk.Fingerprint() != b.KeyFingerprint() {
		t.Errorf("beta's key file: %v %v", fk.Fingerprint(), err)
	}
	if _, ok := b.Members.Member(c.Members.ID()); ok {
		t.Error("beta still lists gamma after the rekey that removed it")
	}
	// Alpha and beta keep working: a fresh gossip round over new
	// connections.
	after := time.Now()
	waitUntil(t, "alpha and beta to talk after the rekey", func() bool {
		m, ok := b.Members.Member(a.Members.ID())
		return ok && m.State == membership.Alive && m.LastSeen.After(after.Add(time.Second))
	})
	if err := b.Members.Join(t.Context(), a.PeerAddr()); err != nil {
		t.Errorf("beta with the new key: %v", err)
	}
	// Gamma is out.
	for _, to := range []*CDN{a, b} {
		if err := c.Members.Join(t.Context(), to.PeerAddr()); !errors.Is(err, pnet.ErrWrongKey) {
			t.Errorf("gamma joining %s after the rekey: %v, want ErrWrongKey", to.Members.Self().Name, err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	if _, ok := a.Members.Member(c.Members.ID()); ok {
		t.Error("alpha lists gamma again")
	}
	// Bad rekeys change nothing.
	fp := a.KeyFingerprint()
	if _, err := a.Rekey(t.Context(), []string{"nosuchmember"}); !errors.Is(err, membership.ErrNotMember) {
		t.Errorf("rekey removing an unknown id: %v", err)
	}
	if a.KeyFingerprint() != fp {
		t.Error("a refused rekey changed the key")
	}
	open := startPrivate(t, "open", "127.0.0.76", nil)
	if _, err := open.Rekey(t.Context(), nil); !errors.Is(err, ErrOpenNetwork) {
		t.Errorf("rekey of an open network: %v", err)
	}
}
