package tracker

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/tracker"
	"github.com/anacrolix/torrent/types/infohash"
)

// TestAnacrolixTrackerClient announces and scrapes with the tracker client
// of anacrolix/torrent, the library Shoal's engine uses.
func TestAnacrolixTrackerClient(t *testing.T) {
	tr := New(Config{Interval: time.Minute})
	mux := http.NewServeMux()
	tr.Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	cl, err := tracker.NewClient(srv.URL+PathAnnounce, tracker.NewClientOpts{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ih := infohash.T(hash20(40))
	seeder := tracker.AnnounceRequest{InfoHash: ih, PeerId: hash20(41), Left: 0, Port: 6881, Event: tracker.Started, NumWant: -1}
	res, err := cl.Announce(ctx, seeder, tracker.AnnounceOpt{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Interval != 60 || res.Seeders != 1 || len(res.Peers) != 0 {
		t.Fatalf("seeder's answer %+v", res)
	}
	// The leecher says it listens on 127.0.0.5 (a second node on this
	// machine): honoured, as it announces from loopback.
	leecher := tracker.AnnounceRequest{InfoHash: ih, PeerId: hash20(42), Left: 1000, Port: 6882, Event: tracker.Started, NumWant: -1}
	res, err = cl.Announce(ctx, leecher, tracker.AnnounceOpt{ClientIp4: net.ParseIP("127.0.0.5")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Peers) != 1 || !res.Peers[0].IP.Equal(net.ParseIP("127.0.0.1")) || res.Peers[0].Port != 6881 {
		t.Fatalf("leecher got %v, want the seeder at 127.0.0.1:6881", res.Peers)
	}
	if res.Seeders != 1 || res.Leechers != 1 {
		t.Fatalf("counts %d seeders %d leechers", res.Seeders, res.Leechers)
	}
	seeder.Event = tracker.None
	res, err = cl.Announce(ctx, seeder, tracker.AnnounceOpt{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Peers) != 1 || !res.Peers[0].IP.Equal(net.ParseIP("127.0.0.5")) || res.Peers[0].Port != 6882 {
		t.Fatalf("seeder got %v, want the leecher at 127.0.0.5:6882", res.Peers)
	}

	sc, err := cl.Scrape(ctx, []infohash.T{ih})
	if err != nil {
		t.Fatal(err)
	}
	if len(sc) != 1 || sc[0].Seeders != 1 || sc[0].Leechers != 1 {
		t.Fatalf("scrape %+v", sc)
	}

	leecher.Event = tracker.Stopped
	if _, err := cl.Announce(ctx, leecher, tracker.AnnounceOpt{}); err != nil {
		t.Fatal(err)
	}
	if s, _ := tr.Swarm(ih); s.Incomplete != 0 || s.Complete != 1 {
		t.Fatalf("after stopped: %+v", s)
	}

	// A bad request gives the client the tracker's reason.
	bad := seeder
	bad.Port = 0
	if _, err := cl.Announce(ctx, bad, tracker.AnnounceOpt{}); err == nil || !bytes.Contains([]byte(err.Error()), []byte("port")) {
		t.Fatalf("port 0: err = %v, want the failure reason", err)
	}
}

// TestAria2FindsSeederThroughTracker runs two aria2c processes that know of
// each other only through this tracker: one seeds a file, the other
// downloads it, with DHT, local discovery and peer exchange off.
func TestAria2FindsSeederThroughTracker(t *testing.T) {
	aria2, err := exec.LookPath("aria2c")
	if err != nil {
		t.Skip("aria2c not installed (apt-get install aria2)")
	}
	tr := New(Config{Interval: time.Minute})
	mux := http.NewServeMux()
	tr.Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	dir := t.TempDir()
	seedDir, getDir := filepath.Join(dir, "seed"), filepath.Join(dir, "get")
	os.Mkdir(seedDir, 0o755)
	os.Mkdir(getDir, 0o755)
	data := make([]byte, 300<<10)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(seedDir, "blob.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	info := metainfo.Info{PieceLength: 32 << 10}
	if err := info.BuildFromFilePath(filepath.Join(seedDir, "blob.bin")); err != nil {
		t.Fatal(err)
	}
	mi := metainfo.MetaInfo{Announce: srv.URL + PathAnnounce}
	if mi.InfoBytes, err = bencode.Marshal(info); err != nil {
		t.Fatal(err)
	}
	torrentPath := filepath.Join(dir, "blob.torrent")
	f, err := os.Create(torrentPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := mi.Write(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ih := mi.HashInfoBytes()

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	common := []string{"--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false",
		"--enable-peer-exchange=false", "--file-allocation=none", "--console-log-level=warn",
		"--summary-interval=0", "--bt-stop-timeout=30", "--check-certificate=false"}
	seed := exec.CommandContext(ctx, aria2, append(common, "--dir="+seedDir, "--seed-ratio=0.0",
		"--check-integrity=true", fmt.Sprintf("--listen-port=%d", freePort(t)), torrentPath)...)
	var seedOut bytes.Buffer
	seed.Stdout, seed.Stderr = &seedOut, &seedOut
	if err := seed.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		seed.Process.Kill()
		seed.Wait()
	}()

	// Start the downloader once the seeder is on the tracker.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if s, ok := tr.Swarm(ih); ok && s.Complete == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("aria2 seeder never announced as complete; its output:\n%s", seedOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	get := exec.CommandContext(ctx, aria2, append(common, "--dir="+getDir, "--seed-time=0",
		fmt.Sprintf("--listen-port=%d", freePort(t)), torrentPath)...)
	if out, err := get.CombinedOutput(); err != nil {
		t.Fatalf("aria2 download: %v\n%s\nseeder:\n%s", err, out, seedOut.String())
	}
	got, err := os.ReadFile(filepath.Join(getDir, "blob.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded file differs (%d bytes, err %v)", len(got), err)
	}
	// The downloader said "stopped" on its way out: only the seeder is left.
	if s, _ := tr.Swarm(ih); s.Complete != 1 || s.Incomplete != 0 {
		t.Errorf("after the download the swarm is %+v, want the seeder alone", s)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
