package engine

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-p2p/shoal/storage"
)

func TestPauseResumeRemove(t *testing.T) {
	const size = 1 << 20
	seeder := newNode(t, func(c *Config) { c.UploadRate = 192 << 10 })
	fetcher := newNode(t, nil)
	data := writeFile(t, filepath.Join(seeder.dir, "song.ogg"), size, 20)
	item, err := seeder.Publish(ctx(t), filepath.Join(seeder.dir, "song.ogg"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if _, err := fetcher.Fetch(ctx(t), item.Magnet, out); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "some data", func() bool { return fetcher.status(item.InfoHash).Completed > 0 })
	if err := fetcher.Pause(item.InfoHash); err != nil {
		t.Fatal(err)
	}
	ih, _ := parseInfoHash(item.InfoHash)
	if _, running := fetcher.client.Torrent(ih); running {
		t.Error("a paused torrent is still in the client")
	}
	st := fetcher.status(item.InfoHash)
	if st.State != StatePaused || st.Completed == 0 || st.Completed == size {
		t.Errorf("paused: %s %d/%d", st.State, st.Completed, size)
	}
	srv := httptest.NewServer(fetcher.Gateway())
	defer srv.Close()
	if resp, _ := get(t, "GET", srv.URL+"/cdn/"+item.InfoHash); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("gateway on a paused item: %d", resp.StatusCode)
	}

	// Paused survives a restart; the magnet's peer hint too.
	fetcher.restart()
	d := &Download{e: fetcher.Engine, ih: ih}
	if st := fetcher.status(item.InfoHash); st.State != StatePaused {
		t.Errorf("after restart: %s", st.State)
	}
	if err := fetcher.Resume(item.InfoHash); err != nil {
		t.Fatal(err)
	}
	seeder.SetRates(0, 0)
	wait(t, d, 30*time.Second)
	sameFile(t, filepath.Join(out, "song.ogg"), data)

	// Removed without data: the file stays. Added again from the .torrent
	// with no peer at all, the data on disk is verified, not downloaded.
	if err := fetcher.Remove(item.InfoHash, false); err != nil {
		t.Fatal(err)
	}
	if _, err := fetcher.Status(item.InfoHash); !errors.Is(err, ErrNotFound) {
		t.Errorf("status after remove: %v", err)
	}
	sameFile(t, filepath.Join(out, "song.ogg"), data)
	mi, _ := seeder.Torrent(item.InfoHash)
	d, err = fetcher.AddTorrent(ctx(t), mi, out)
	if err != nil {
		t.Fatal(err)
	}
	wait(t, d, 30*time.Second)
	if st := fetcher.status(item.InfoHash); st.Peers != 0 || st.State != StateSeeding {
		t.Errorf("re-added: %s with %d peers", st.State, st.Peers)
	}

	// Removed with data: the file goes.
	if err := fetcher.Remove(item.InfoHash, true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "song.ogg")); !os.IsNotExist(err) {
		t.Errorf("data still there: %v", err)
	}
	// A published item's own file is never deleted.
	if err := seeder.Remove(item.InfoHash, true); err != nil {
		t.Fatal(err)
	}
	sameFile(t, filepath.Join(seeder.dir, "song.ogg"), data)
}

// TestCrashChild is the process TestKill9MidDownloadResumes kills.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("SHOAL_ENGINE_CRASH_DIR")
	if dir == "" {
		t.Skip("helper process of TestKill9MidDownloadResumes")
	}
	db, err := storage.Open(filepath.Join(dir, "shoal.db"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := Open(context.Background(), Config{DB: db, DataDir: dir, Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.Fetch(context.Background(), os.Getenv("SHOAL_ENGINE_CRASH_MAGNET"), filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	for {
		st, err := d.Status()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Println("completed", st.Completed)
		time.Sleep(20 * time.Millisecond) // reporting pace; the parent kills us
	}
}

// A kill -9 mid-download loses nothing that was verified: the download
// comes back, keeps its pieces without hashing them, and finishes.
func TestKill9MidDownloadResumes(t *testing.T) {
	const size = 1 << 20
	seeder := newNode(t, func(c *Config) { c.UploadRate = 128 << 10 })
	data := writeFile(t, filepath.Join(seeder.dir, "film.mp4"), size, 21)
	item, err := seeder.Publish(ctx(t), filepath.Join(seeder.dir, "film.mp4"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), "SHOAL_ENGINE_CRASH_DIR="+dir, "SHOAL_ENGINE_CRASH_MAGNET="+item.Magnet)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var reported int64
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "completed "); ok {
			reported, _ = strconv.ParseInt(v, 10, 64)
			if reported >= size/4 {
				break
			}
		}
	}
	if reported < size/4 || reported == size {
		t.Fatalf("child reported %d of %d bytes before the kill", reported, size)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	n := newNodeIn(t, dir, nil)
	st := n.status(item.InfoHash)
	if st.Completed < reported || st.State != StateDownloading {
		t.Fatalf("after kill -9: %s with %d bytes; %d were verified before", st.State, st.Completed, reported)
	}
	ih, _ := parseInfoHash(item.InfoHash)
	tor, _ := n.client.Torrent(ih)
	if h := bytesHashed(tor); h > size-st.Completed {
		t.Errorf("%d bytes hashed at restart; verified pieces must not be", h)
	}
	seeder.SetRates(0, 0)
	wait(t, &Download{e: n.Engine, ih: ih}, 30*time.Second)
	sameFile(t, filepath.Join(dir, "out", "film.mp4"), data)
}

// A download that cannot write its data stops and says why.
func TestWriteErrorIsShown(t *testing.T) {
	const size = 256 << 10
	seeder := newNode(t, nil)
	fetcher := newNode(t, nil)
	writeFile(t, filepath.Join(seeder.dir, "notes.txt"), size, 21)
	item, err := seeder.Publish(ctx(t), filepath.Join(seeder.dir, "notes.txt"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	// A folder where the file should go: no write can succeed (as root too).
	if err := os.Mkdir(filepath.Join(out, "notes.txt"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := fetcher.Fetch(ctx(t), item.Magnet, out); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the write error in the status", func() bool {
		return strings.HasPrefix(fetcher.status(item.InfoHash).Error, "cannot write data:")
	})
	t.Log(fetcher.status(item.InfoHash).Error)
	if st := fetcher.status(item.InfoHash); st.Completed != 0 {
		t.Errorf("completed %d bytes it could not write", st.Completed)
	}
}

// Pausing and resuming the publisher and a downloader while data flows
// loses nothing: no read of a handle closed under it is taken for a changed
// file (which marked the item missing) and no read fails as a torrent stops
// (anacrolix panicked).
func TestPauseWhileUploading(t *testing.T) {
	const size = 64 << 20
	seeder := newNode(t, nil)
	f1 := newNode(t, nil)
	f2 := newNode(t, nil)
	data := writeFile(t, filepath.Join(seeder.dir, "big.bin"), size, 3)
	item, err := seeder.Publish(ctx(t), filepath.Join(seeder.dir, "big.bin"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var ds []*Download
	var outs []string
	for _, f := range []*testNode{f1, f2} {
		out := t.TempDir()
		d, err := f.Fetch(ctx(t), item.Magnet, out)
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
		outs = append(outs, out)
	}
	for range 8 {
		before := f2.status(item.InfoHash).Completed
		eventually(t, 30*time.Second, "progress", func() bool {
			c := f2.status(item.InfoHash).Completed
			return c > before+(1<<20) || c == size
		})
		if err := seeder.Pause(item.InfoHash); err != nil {
			t.Fatal(err)
		}
		if err := seeder.Resume(item.InfoHash); err != nil {
			t.Fatal(err)
		}
		if err := f1.Pause(item.InfoHash); err != nil {
			t.Fatal(err)
		}
		if err := f1.Resume(item.InfoHash); err != nil {
			t.Fatal(err)
		}
		for _, f := range []*testNode{f1, f2} {
			f.AddPeers(item.InfoHash, []netip.AddrPort{seeder.addr()})
		}
	}
	if st := seeder.status(item.InfoHash); st.State != StateSeeding {
		t.Fatalf("seeder: %s %s", st.State, st.Error)
	}
	for i, d := range ds {
		wait(t, d, 60*time.Second)
		sameFile(t, filepath.Join(outs[i], "big.bin"), data)
	}
}

// A published file edited while peers download it: the publisher stops
// serving it (missing) and keeps running. anacrolix v1.61.0 panicked when a
// read that failed on the edited file was handled after the torrent stopped.
func TestPublishedFileChangesWhileUploading(t *testing.T) {
	const size = 64 << 20
	seeder := newNode(t, nil)
	src := filepath.Join(seeder.dir, "big.bin")
	writeFile(t, src, size, 4)
	item, err := seeder.Publish(ctx(t), src, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var fetchers []*testNode
	for range 3 {
		f := newNode(t, func(c *Config) { c.DownloadRate = 8 << 20 })
		if _, err := f.Fetch(ctx(t), item.Magnet, t.TempDir()); err != nil {
			t.Fatal(err)
		}
		fetchers = append(fetchers, f)
	}
	for _, f := range fetchers {
		eventually(t, 30*time.Second, "data flowing to every downloader", func() bool { return f.status(item.InfoHash).Completed > 0 })
	}
	// Edited in place at the end, where no downloader is done yet.
	h, err := os.OpenFile(src, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteAt(bytes.Repeat([]byte{0xee}, 1<<20), size-(1<<20)); err != nil {
		t.Fatal(err)
	}
	h.Close()
	later := time.Now().Add(time.Second)
	os.Chtimes(src, later, later)
	eventually(t, 30*time.Second, "the item missing", func() bool { return seeder.status(item.InfoHash).State == StateMissing })
	for _, f := range fetchers {
		if st := f.status(item.InfoHash); st.Completed == size {
			t.Errorf("a downloader completed from an edited file")
		}
	}
}
