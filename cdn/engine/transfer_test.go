package engine

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	utp "github.com/anacrolix/go-libutp"
	"github.com/anacrolix/torrent"

	"github.com/shoal-p2p/shoal/storage"
)

func TestPublishFileFetchByMagnet(t *testing.T) {
	a := newNode(t, func(c *Config) {
		c.Publisher = "alpha"
		c.Trackers = func() []string { return []string{"http://127.0.0.1:1/announce"} }
	})
	b := newNode(t, nil)

	src := filepath.Join(a.dir, "share", "clip.mp4")
	data := writeFile(t, src, 3<<20+123, 1)
	var lastDone, lastTotal int64
	item, err := a.Publish(ctx(t), src, "", func(done, total int64) { lastDone, lastTotal = done, total })
	if err != nil {
		t.Fatal(err)
	}
	if lastDone != int64(len(data)) || lastTotal != int64(len(data)) {
		t.Errorf("hash progress ended at %d/%d, want %d", lastDone, lastTotal, len(data))
	}
	if item.Name != "clip.mp4" || item.Size != int64(len(data)) || item.Kind != KindFile || item.Type != "video" ||
		item.Publisher != "alpha" || item.Path != src || len(item.Files) != 1 || item.Files[0].Size != int64(len(data)) {
		t.Errorf("item = %+v", item)
	}
	m, err := url.Parse(item.Magnet)
	if err != nil {
		t.Fatal(err)
	}
	q := m.Query()
	if q.Get("xt") != "urn:btih:"+item.InfoHash || q.Get("dn") != "clip.mp4" ||
		q.Get("tr") != "http://127.0.0.1:1/announce" || q.Get("x.pe") != a.addr().String() {
		t.Errorf("magnet %s lacks xt, dn, tr or x.pe", item.Magnet)
	}
	if st := a.status(item.InfoHash); st.State != StateSeeding || st.Completed != st.Size {
		t.Errorf("publisher's status = %s %d/%d", st.State, st.Completed, st.Size)
	}

	// Only the magnet: b finds a through the x.pe hint.
	out := t.TempDir()
	d, err := b.Fetch(ctx(t), item.Magnet, out)
	if err != nil {
		t.Fatal(err)
	}
	wait(t, d, 30*time.Second)
	sameFile(t, filepath.Join(out, "clip.mp4"), data)
	st := b.status(item.InfoHash)
	if st.State != StateSeeding || st.Completed != int64(len(data)) || st.Kind != KindFile || st.Origin != OriginDownload {
		t.Errorf("downloader's status = %+v", st)
	}
	for i := range st.NumPieces {
		if st.Pieces[i/8]&(0x80>>(i%8)) == 0 {
			t.Fatalf("piece %d not set in the piece map", i)
		}
	}
	// Wait returns as the torrent completes; the event follows from the
	// engine's own goroutine.
	eventually(t, 5*time.Second, "the complete event", func() bool { return b.events.count(EventComplete) > 0 })
	if n := b.events.count(EventComplete); n != 1 {
		t.Errorf("%d %s events, want 1", n, EventComplete)
	}

	// Fetching it again is a no-op returning the same item.
	if d2, err := b.Fetch(ctx(t), item.InfoHash, ""); err != nil || d2.InfoHash() != item.InfoHash {
		t.Errorf("second Fetch = %v, %v", d2, err)
	}
	if n := len(b.List()); n != 1 {
		t.Errorf("List has %d items, want 1", n)
	}
}

func TestPublishFolderFetchByTorrent(t *testing.T) {
	a := newNode(t, nil)
	b := newNode(t, nil)

	root := filepath.Join(a.dir, "album")
	files := map[string][]byte{
		"cover.jpg":            writeFile(t, filepath.Join(root, "cover.jpg"), 70_000, 2),
		"cd1/01 intro.flac":    writeFile(t, filepath.Join(root, "cd1", "01 intro.flac"), 900_001, 3),
		"cd1/02 song.flac":     writeFile(t, filepath.Join(root, "cd1", "02 song.flac"), 1_200_000, 4),
		"cd2/deep/notes.txt":   writeFile(t, filepath.Join(root, "cd2", "deep", "notes.txt"), 1_000, 5),
		"cd2/deep/empty.txt":   writeFile(t, filepath.Join(root, "cd2", "deep", "empty.txt"), 0, 6),
		"cd2/deep/more/x.flac": writeFile(t, filepath.Join(root, "cd2", "deep", "more", "x.flac"), 65_536, 7),
	}
	// More files than a store keeps open at once.
	for i := range maxOpenFiles + 20 {
		rel := fmt.Sprintf("scans/page%03d.txt", i)
		files[rel] = writeFile(t, filepath.Join(root, filepath.FromSlash(rel)), 3000+i, uint64(1000+i))
	}
	item, err := a.Publish(ctx(t), root, "Album", nil)
	if err != nil {
		t.Fatal(err)
	}
	if item.Kind != KindFolder || item.Type != "audio" || item.Name != "Album" || len(item.Files) != len(files) {
		t.Errorf("item = %+v", item)
	}
	mi, err := a.Torrent(item.InfoHash)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	d, err := b.AddTorrent(ctx(t), mi, out)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := b.AddPeers(item.InfoHash, []netip.AddrPort{a.addr()}); err != nil || n != 1 {
		t.Fatalf("AddPeers = %d, %v", n, err)
	}
	wait(t, d, 30*time.Second)
	for rel, want := range files {
		sameFile(t, filepath.Join(out, "Album", filepath.FromSlash(rel)), want)
	}
}

// The first seeder leaves halfway; the download completes from another peer
// that has the rest.
func TestSeederLeavesHalfway(t *testing.T) {
	const size = 1 << 20
	first := newNode(t, func(c *Config) { c.UploadRate = 160 << 10 })
	other := newNode(t, nil)
	fetcher := newNode(t, nil)

	data := writeFile(t, filepath.Join(first.dir, "movie.mkv"), size, 8)
	item, err := first.Publish(ctx(t), filepath.Join(first.dir, "movie.mkv"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	// other has its own copy of the same bytes: same torrent, same infohash.
	writeFile(t, filepath.Join(other.dir, "movie.mkv"), size, 8)
	if it2, err := other.Publish(ctx(t), filepath.Join(other.dir, "movie.mkv"), "", nil); err != nil || it2.InfoHash != item.InfoHash {
		t.Fatalf("second publish = %v, %v", it2.InfoHash, err)
	}

	out := t.TempDir()
	d, err := fetcher.Fetch(ctx(t), item.InfoHash, out)
	if err != nil {
		t.Fatal(err)
	}
	fetcher.AddPeers(item.InfoHash, []netip.AddrPort{first.addr()})
	var atLeave int64
	eventually(t, 30*time.Second, "half the data from the first seeder", func() bool {
		atLeave = fetcher.status(item.InfoHash).Completed
		return atLeave >= size/3
	})
	if atLeave == size {
		t.Fatal("the capped seeder delivered everything before it could leave")
	}
	first.stop()
	fetcher.AddPeers(item.InfoHash, []netip.AddrPort{other.addr()})
	wait(t, d, 30*time.Second)
	sameFile(t, filepath.Join(out, "movie.mkv"), data)
}

// A peer that serves corrupt data is banned; the download completes from the
// honest one.
func TestCorruptPeerIsBanned(t *testing.T) {
	const size = 1 << 20
	honest := newNode(t, func(c *Config) {
		c.Bind = netip.MustParseAddr("127.0.0.2")
		c.UploadRate = 256 << 10
	})
	liar := newNode(t, func(c *Config) { c.Bind = netip.MustParseAddr("127.0.0.3") })
	fetcher := newNode(t, nil)

	data := writeFile(t, filepath.Join(honest.dir, "data.bin"), size, 9)
	item, err := honest.Publish(ctx(t), filepath.Join(honest.dir, "data.bin"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The liar publishes the same bytes, then corrupts its copy in place
	// and puts the size and mtime back: its completion still says every
	// piece is good, and its store does not notice.
	bad := filepath.Join(liar.dir, "data.bin")
	writeFile(t, bad, size, 9)
	if _, err := liar.Publish(ctx(t), bad, "", nil); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(bad)
	corrupt := make([]byte, size)
	copy(corrupt, data)
	for i := 0; i < size; i += 4096 {
		corrupt[i] ^= 0xff
	}
	if err := os.WriteFile(bad, corrupt, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(bad, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}

	out := t.TempDir()
	d, err := fetcher.Fetch(ctx(t), item.InfoHash, out)
	if err != nil {
		t.Fatal(err)
	}
	fetcher.AddPeers(item.InfoHash, []netip.AddrPort{liar.addr(), honest.addr()})
	wait(t, d, 40*time.Second)
	sameFile(t, filepath.Join(out, "data.bin"), data)
	banned := strings.Join(fetcher.client.BadPeerIPs(), ",")
	if !strings.Contains(banned, "127.0.0.3") || strings.Contains(banned, "127.0.0.2") {
		t.Errorf("banned IPs = %q, want the liar's (127.0.0.3) only", banned)
	}
}

// A restart mid-download keeps the verified pieces without hashing them.
func TestRestartResumesWithoutRehash(t *testing.T) {
	const size = 1 << 20
	seeder := newNode(t, func(c *Config) { c.UploadRate = 192 << 10 })
	fetcher := newNode(t, nil)
	data := writeFile(t, filepath.Join(seeder.dir, "big.iso"), size, 10)
	item, err := seeder.Publish(ctx(t), filepath.Join(seeder.dir, "big.iso"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if _, err := fetcher.Fetch(ctx(t), item.InfoHash, out); err != nil {
		t.Fatal(err)
	}
	fetcher.AddPeers(item.InfoHash, []netip.AddrPort{seeder.addr()})
	eventually(t, 30*time.Second, "a quarter of the data", func() bool {
		return fetcher.status(item.InfoHash).Completed >= size/4
	})
	eventually(t, 5*time.Second, "a progress event", func() bool {
		for _, sts := range fetcher.events.progress() {
			for _, st := range sts {
				if st.InfoHash == item.InfoHash && st.State == StateDownloading && st.Completed > 0 && st.NumPieces > 0 {
					return true
				}
			}
		}
		return false
	})

	fetcher.restart()
	before := fetcher.status(item.InfoHash)
	if before.State != StateDownloading || before.Completed < size/4 || before.Completed == size {
		t.Fatalf("after restart: %s with %d of %d bytes", before.State, before.Completed, size)
	}
	ih, _ := parseInfoHash(item.InfoHash)
	tor, _ := fetcher.client.Torrent(ih)
	if h := bytesHashed(tor); h != 0 {
		t.Fatalf("%d bytes hashed at restart, want 0", h)
	}
	d, _ := fetcher.Fetch(ctx(t), item.InfoHash, out)
	fetcher.AddPeers(item.InfoHash, []netip.AddrPort{seeder.addr()})
	wait(t, d, 30*time.Second)
	sameFile(t, filepath.Join(out, "big.iso"), data)
	if h := bytesHashed(tor); h > size-before.Completed {
		t.Errorf("%d bytes hashed after restart; only the %d missing should be", h, size-before.Completed)
	}

	// Complete, closed, reopened: complete at once, nothing hashed.
	fetcher.restart()
	st := fetcher.status(item.InfoHash)
	tor, _ = fetcher.client.Torrent(ih)
	if st.State != StateSeeding || st.Completed != size || bytesHashed(tor) != 0 {
		t.Errorf("reopened complete download: %s %d/%d, %d bytes hashed", st.State, st.Completed, size, bytesHashed(tor))
	}
}

func bytesHashed(t *torrent.Torrent) int64 {
	st := t.Stats()
	return st.BytesHashed.Int64()
}

// A node dials peers over TCP only, from its bind address: the peer sees
// the connection come from the address the node listens on (not 127.0.0.1,
// which the kernel picks on loopback), so a ban or a PEX entry names the
// right node; and no uTP connection is tried (see addDialers).
func TestDialsOverTCPFromTheBindAddress(t *testing.T) {
	fetcher := newNode(t, func(c *Config) { c.Bind = netip.MustParseAddr("127.0.0.3") })
	// A peer that listens on TCP and UDP at the same port, and only counts.
	tcp, err := net.Listen("tcp", "127.0.0.5:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	peer := netip.MustParseAddrPort(tcp.Addr().String())
	udp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(peer))
	if err != nil {
		t.Skipf("UDP port %d taken: %v", peer.Port(), err)
	}
	defer udp.Close()

	if _, err := fetcher.Fetch(ctx(t), strings.Repeat("ab", 20), t.TempDir()); err != nil {
		t.Fatal(err)
	}
	fetcher.AddPeers(strings.Repeat("ab", 20), []netip.AddrPort{peer})
	tcp.(*net.TCPListener).SetDeadline(time.Now().Add(20 * time.Second))
	c, err := tcp.Accept()
	if err != nil {
		t.Fatalf("no TCP connection from the node: %v", err)
	}
	c.Close()
	if from := netip.MustParseAddrPort(c.RemoteAddr().String()).Addr(); from != netip.MustParseAddr("127.0.0.3") {
		t.Errorf("the connection came from %s, want the bind address 127.0.0.3", from)
	}
	// anacrolix dials all its dialers at once: a uTP SYN would have come
	// with the TCP connection.
	udp.SetReadDeadline(time.Now().Add(time.Second))
	if n, from, err := udp.ReadFrom(make([]byte, 2048)); err == nil {
		t.Errorf("the node sent %d bytes over UDP from %s: it dialled uTP", n, from)
	}
}

// The engine takes no uTP connection (see clientConfig): a client that
// tries uTP first gets no answer and falls back to TCP, instead of a
// connection that moves 2 MiB/s. The DHT on the same UDP port still
// answers.
func TestNoIncomingUTP(t *testing.T) {
	n := newNode(t, func(c *Config) {
		c.Bind = netip.MustParseAddr("127.0.0.3")
		c.DHT = true
	})
	// An item it wants peers for: anacrolix turns connections away when
	// it wants none.
	if _, err := n.Fetch(ctx(t), strings.Repeat("cd", 20), t.TempDir()); err != nil {
		t.Fatal(err)
	}
	s, err := utp.NewSocket("udp4", "127.0.0.5:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dctx, cancel := context.WithTimeout(ctx(t), 3*time.Second)
	defer cancel()
	if c, err := s.DialContext(dctx, "udp4", n.addr().String()); err == nil {
		c.Close()
		t.Fatal("a uTP connection to the engine was accepted")
	}
	if len(n.dhtServers()) != 1 {
		t.Fatalf("%d DHT servers, want 1", len(n.dhtServers()))
	}
	other := newNode(t, func(c *Config) {
		c.Bind = netip.MustParseAddr("127.0.0.4")
		c.DHT = true
	})
	other.AddDHTNodes([]netip.AddrPort{n.addr()})
	eventually(t, 20*time.Second, "the DHT on the engine's UDP port to answer", func() bool {
		return len(n.DHTNodes()) > 0
	})
}

// A BitTorrent port whose UDP side (the DHT's) another program holds is
// refused with an error that says so, and the engine leaves nothing
// running (TestMain looks for leaked goroutines).
func TestDHTPortTaken(t *testing.T) {
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	port := pc.LocalAddr().(*net.UDPAddr).Port
	db, err := storage.Open(filepath.Join(t.TempDir(), "shoal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e, err := Open(ctx(t), Config{DataDir: t.TempDir(), DB: db, Bind: netip.MustParseAddr("127.0.0.1"),
		Port: port, DHT: true, Log: testLog()})
	if err == nil {
		e.Close()
		t.Fatalf("engine opened on port %d, whose UDP side is taken", port)
	}
	if want := fmt.Sprintf("DHT on UDP 127.0.0.1 port %d", port); !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
}
