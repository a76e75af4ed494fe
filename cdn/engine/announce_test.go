package engine

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// countingTracker is an HTTP tracker that answers every announce with no
// peers and counts announces per infohash and event.
type countingTracker struct {
	mu    sync.Mutex
	count map[string]map[string]int  // infohash hex → event ("" for none) → announces
	peers map[string]map[string]bool // infohash hex → "ip:port" of peers announced and not stopped
}

func (ct *countingTracker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/announce" {
		http.NotFound(w, r)
		return
	}
	var ih metainfo.Hash
	copy(ih[:], r.URL.Query().Get("info_hash"))
	ct.mu.Lock()
	if ct.count == nil {
		ct.count = map[string]map[string]int{}
	}
	if ct.count[ih.HexString()] == nil {
		ct.count[ih.HexString()] = map[string]int{}
	}
	event := r.URL.Query().Get("event")
	ct.count[ih.HexString()][event]++
	if ct.peers == nil {
		ct.peers = map[string]map[string]bool{}
	}
	if ct.peers[ih.HexString()] == nil {
		ct.peers[ih.HexString()] = map[string]bool{}
	}
	peer := net.JoinHostPort(r.URL.Query().Get("ip"), r.URL.Query().Get("port"))
	var others []map[string]any
	for p := range ct.peers[ih.HexString()] {
		if p != peer {
			host, port, _ := net.SplitHostPort(p)
			n, _ := strconv.Atoi(port)
			others = append(others, map[string]any{"ip": host, "port": n})
		}
	}
	if event == "stopped" {
		delete(ct.peers[ih.HexString()], peer)
	} else {
		ct.peers[ih.HexString()][peer] = true
	}
	ct.mu.Unlock()
	b, _ := bencode.Marshal(map[string]any{"interval": 1800, "peers": others})
	w.Write(b)
}

// announces counts the announces of one infohash, all events together.
func (ct *countingTracker) announces(ih string) (n int, byEvent map[string]int) {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	byEvent = map[string]int{}
	for ev, c := range ct.count[ih] {
		byEvent[ev] = c
		n += c
	}
	return n, byEvent
}

// A removed item is announced stopped once, then no more: anacrolix's
// announcer keeps a dropped torrent's announce state forever and, left to
// itself, alternates stopped and plain announces for it in a tight loop.
func TestRemovedItemStopsAnnouncing(t *testing.T) {
	ct := &countingTracker{}
	srv := httptest.NewServer(ct)
	defer srv.Close()
	announce := srv.URL + "/announce"
	n := newNode(t, func(c *Config) { c.Trackers = func() []string { return []string{announce} } })

	var ihs []string
	for i := range 3 {
		src := filepath.Join(n.dir, "share", string(rune('a'+i))+".bin")
		writeFile(t, src, 64<<10, uint64(40+i))
		item, err := n.Publish(ctx(t), src, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		ihs = append(ihs, item.InfoHash)
	}
	for _, ih := range ihs {
		eventually(t, 10*time.Second, "a first announce of "+ih, func() bool { c, _ := ct.announces(ih); return c > 0 })
	}
	// The third stays: a live torrent keeps the announcer's timer going.
	ihs = ihs[:2]
	before := map[string]int{}
	for _, ih := range ihs {
		if err := n.Remove(ih, false); err != nil {
			t.Fatal(err)
		}
		before[ih], _ = ct.announces(ih)
	}
	// Activity on the torrent that stays keeps the announcer busy.
	b := newNode(t, func(c *Config) { c.DownloadRate = 64 << 10 })
	src := filepath.Join(n.dir, "share", "big.bin")
	writeFile(t, src, 4<<20, 50)
	big, err := n.Publish(ctx(t), src, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Fetch(ctx(t), big.Magnet, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	for _, ih := range ihs {
		eventually(t, 5*time.Second, "the stopped announce of "+ih, func() bool { _, e := ct.announces(ih); return e["stopped"] > 0 })
	}
	time.Sleep(time.Second) // anything more would come now
	for _, ih := range ihs {
		c, byEvent := ct.announces(ih)
		// Seeding with an interval of 30 minutes, the only announces are
		// the first (started) and, once removed, one stopped.
		if c-before[ih] > 2 || byEvent["stopped"] != 1 || byEvent[""] > 0 {
			t.Errorf("%s: %d announces after its removal, %v in all; want one started, at most one stopped and nothing else",
				ih, c-before[ih], byEvent)
		}
	}
}

// A download whose only peer restarts (on a new port) finds it again
// through Config.FindPeers and completes.
func TestDownloadRefindsRestartedPeer(t *testing.T) {
	const size = 1 << 20
	a := newNode(t, nil)
	data := writeFile(t, filepath.Join(a.dir, "show.mkv"), size, 60)
	item, err := a.Publish(ctx(t), filepath.Join(a.dir, "show.mkv"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var aAddr atomic.Value // netip.AddrPort: where a listens now
	aAddr.Store(a.addr())
	asked := atomic.Int32{}
	b := newNode(t, func(c *Config) {
		c.DownloadRate = 128 << 10
		c.FindPeers = func(_ context.Context, ih string) []netip.AddrPort {
			if ih != item.InfoHash {
				return nil
			}
			asked.Add(1)
			return []netip.AddrPort{aAddr.Load().(netip.AddrPort)}
		}
	})
	// By infohash: no peer hint, b knows of a only through FindPeers.
	out := t.TempDir()
	d, err := b.Fetch(ctx(t), item.InfoHash, out)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "some data", func() bool {
		c := b.status(item.InfoHash).Completed
		return c > 0 && c < size
	})
	old := a.addr()
	a.restart()
	aAddr.Store(a.addr())
	t.Logf("a restarted: %s → %s", old, a.addr())
	b.SetRates(0, 0)
	wait(t, d, 20*time.Second)
	sameFile(t, filepath.Join(out, "show.mkv"), data)
	if asked.Load() < 2 {
		t.Errorf("FindPeers asked %d times", asked.Load())
	}
}

// A downloader that knows only the tracker finds the seeder through it.
func TestPeersFromTracker(t *testing.T) {
	ct := &countingTracker{}
	srv := httptest.NewServer(ct)
	defer srv.Close()
	trackers := func() []string { return []string{srv.URL + "/announce"} }
	a := newNode(t, func(c *Config) { c.Trackers = trackers })
	b := newNode(t, func(c *Config) { c.Trackers = trackers })
	data := writeFile(t, filepath.Join(a.dir, "talk.mp3"), 300_000, 70)
	item, err := a.Publish(ctx(t), filepath.Join(a.dir, "talk.mp3"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the seeder's announce", func() bool { c, _ := ct.announces(item.InfoHash); return c > 0 })
	out := t.TempDir()
	d, err := b.Fetch(ctx(t), item.InfoHash, out)
	if err != nil {
		t.Fatal(err)
	}
	wait(t, d, 30*time.Second)
	sameFile(t, filepath.Join(out, "talk.mp3"), data)
	eventually(t, 10*time.Second, "a completed announce", func() bool { _, e := ct.announces(item.InfoHash); return e["completed"] > 0 })
}
