package cdn

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
)

// In an open network BitTorrent prefers encryption and takes standard
// clients either way: one that insists on MSE and one that speaks only in
// clear both get the item's metadata from a member.
func TestOpenNetworkSwarmTakesEncryptedAndPlain(t *testing.T) {
	a := startPrivate(t, "alpha", "127.0.0.77", nil)
	src := filepath.Join(t.TempDir(), "open.txt")
	if err := os.WriteFile(src, []byte("for anyone"), 0o600); err != nil {
		t.Fatal(err)
	}
	it, err := a.Publish(t.Context(), src, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, policy := range map[string]torrent.HeaderObfuscationPolicy{
		"mse only":   {Preferred: true, RequirePreferred: true},
		"clear only": {Preferred: false, RequirePreferred: true},
	} {
		cc := torrent.NewDefaultClientConfig()
		cc.DataDir = t.TempDir()
		cc.ListenHost = func(string) string { return "127.0.0.78" }
		cc.ListenPort = 0
		cc.NoDHT, cc.DisableUTP, cc.DisableIPv6, cc.NoDefaultPortForwarding = true, true, true, true
		cc.HeaderObfuscationPolicy = policy
		cl, err := torrent.NewClient(cc)
		if err != nil {
			t.Fatal(err)
		}
		tt, _ := cl.AddTorrentInfoHash(metainfo.NewHashFromHex(it.InfoHash))
		ap := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.77"), uint16(a.Engine.Port()))
		tt.AddPeers([]torrent.PeerInfo{{Addr: torrent.StringAddr(ap.String())}})
		select {
		case <-tt.GotInfo():
		case <-time.After(20 * time.Second):
			t.Errorf("%s: no metadata from an open network's member", name)
		}
		cl.Close()
	}
}
