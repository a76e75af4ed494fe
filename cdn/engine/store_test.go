package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/shoal-p2p/shoal/storage"
)

func openDB(t *testing.T, path string) *storage.DB {
	t.Helper()
	db, err := storage.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestCompletionPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shoal.db")
	db := openDB(t, path)
	pc := newCompletion(db, nil)
	ih := metainfo.Hash{1, 2, 3}
	key := func(i int) metainfo.PieceKey { return metainfo.PieceKey{InfoHash: ih, Index: i} }

	if c, err := pc.Get(key(0)); err != nil || c.Ok {
		t.Fatalf("unknown torrent: %+v, %v", c, err)
	}
	if err := pc.track(ih); err != nil {
		t.Fatal(err)
	}
	if c, _ := pc.Get(key(7)); !c.Ok || c.Complete {
		t.Fatalf("tracked torrent, unset piece: %+v", c)
	}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := pc.Set(key(i), i%2 == 0); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	db.Close()

	db = openDB(t, path)
	defer db.Close()
	pc = newCompletion(db, nil)
	for i := range 50 {
		if c, _ := pc.Get(key(i)); !c.Ok || c.Complete != (i%2 == 0) {
			t.Errorf("piece %d after reopen: %+v", i, c)
		}
	}
	if v := pc.verified(ih, 4); !v[0] || v[1] || !v[2] || v[3] {
		t.Errorf("verified = %v", v)
	}
	db.Update(func(tx *storage.Tx) error { return forgetCompletion(tx, ih.HexString()) })
	if c, _ := pc.Get(key(0)); c.Ok {
		t.Errorf("forgotten torrent still known: %+v", c)
	}
}

// A published file's store serves nothing once the file changed, and says so.
func TestPublishedStoreRefusesChangedFile(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, filepath.Join(dir, "shoal.db"))
	defer db.Close()
	path := filepath.Join(dir, "f.bin")
	data := writeFile(t, path, 40_000, 30)
	fi, _ := os.Stat(path)
	faults := make(chan error, 10)
	s := &fileStore{
		pc:     newCompletion(db, nil),
		layout: publishedLayout(path),
		sigs:   []fileSig{sigOf(fi)},
		fault:  func(err error) { faults <- err },
	}
	info := &metainfo.Info{Name: "f.bin", PieceLength: 16 << 10, Length: int64(len(data)), Pieces: make([]byte, 3*20)}
	ti, err := s.OpenTorrent(context.Background(), info, metainfo.Hash{9})
	if err != nil {
		t.Fatal(err)
	}
	defer ti.Close()
	p := ti.Piece(info.Piece(1))
	buf := make([]byte, 16<<10)
	if n, err := p.ReadAt(buf, 0); n != len(buf) || err != nil || string(buf) != string(data[16<<10:32<<10]) {
		t.Fatalf("ReadAt = %d, %v", n, err)
	}
	if _, err := p.WriteAt(buf, 0); err == nil {
		t.Error("a published store accepted a write")
	}
	// Edited in place: same size, new mtime.
	f, _ := os.OpenFile(path, os.O_WRONLY, 0)
	f.WriteAt([]byte{1, 2, 3}, 20_000)
	f.Close()
	later := time.Now().Add(time.Second)
	os.Chtimes(path, later, later)
	if n, err := p.ReadAt(buf, 0); !errors.Is(err, errChanged) || n != 0 {
		t.Errorf("ReadAt after edit = %d, %v; want errChanged", n, err)
	}
	select {
	case err := <-faults:
		if !errors.Is(err, errChanged) {
			t.Errorf("fault = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("no fault reported")
	}
	if c := p.Completion(); c.Complete {
		t.Error("a changed file's piece is complete")
	}
}

// A download's store writes where the torrent says, never outside its dir.
func TestDownloadStoreLayout(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, filepath.Join(dir, "shoal.db"))
	defer db.Close()
	out := filepath.Join(dir, "out")
	s := &fileStore{pc: newCompletion(db, nil), layout: downloadLayout(out)}
	info := &metainfo.Info{Name: "pack", PieceLength: 16 << 10, Pieces: make([]byte, 20), Files: []metainfo.FileInfo{
		{Path: []string{"a.txt"}, Length: 5},
		{Path: []string{"empty"}, Length: 0},
		{Path: []string{"sub", "b.txt"}, Length: 7},
	}}
	ih := metainfo.Hash{7}
	ti, err := s.OpenTorrent(context.Background(), info, ih)
	if err != nil {
		t.Fatal(err)
	}
	if !s.pc.known(ih) {
		t.Error("a torrent with no data on disk is not tracked as known-incomplete")
	}
	p := ti.Piece(info.Piece(0))
	if n, err := p.ReadAt(make([]byte, 12), 0); n != 0 || err != io.EOF {
		t.Errorf("ReadAt before any write = %d, %v", n, err)
	}
	if n, err := p.WriteAt([]byte("hello, world"), 0); n != 12 || err != nil {
		t.Fatalf("WriteAt = %d, %v", n, err)
	}
	if err := p.MarkComplete(); err != nil {
		t.Fatal(err)
	}
	ti.Close()
	for name, want := range map[string]string{"a.txt": "hello", "empty": "", "sub/b.txt": ", world"} {
		got, err := os.ReadFile(filepath.Join(out, "pack", name))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v", name, got, err)
		}
	}
	if c := p.Completion(); !c.Ok || !c.Complete {
		t.Errorf("completion = %+v", c)
	}
	os.Remove(filepath.Join(out, "pack", "sub", "b.txt"))
	if c := p.Completion(); c.Complete {
		t.Error("a piece whose file is gone is complete")
	}

	for _, bad := range []*metainfo.Info{
		{Name: "..", Length: 1},
		{Name: "x", Files: []metainfo.FileInfo{{Path: []string{"..", "y"}, Length: 1}}},
		{Name: "x", Files: []metainfo.FileInfo{{Path: []string{"a/../../y"}, Length: 1}}},
	} {
		if _, err := s.OpenTorrent(context.Background(), bad, metainfo.Hash{8}); err == nil {
			t.Errorf("layout accepted %+v", bad)
		}
	}
}

// A closed store refuses reads and writes, and a published one does not
// take that for a changed file.
func TestClosedStoreRefusesIO(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, filepath.Join(dir, "shoal.db"))
	defer db.Close()
	pc := newCompletion(db, nil)
	data := writeFile(t, filepath.Join(dir, "pub.bin"), 40_000, 31)
	fi, _ := os.Stat(filepath.Join(dir, "pub.bin"))
	info := &metainfo.Info{Name: "pub.bin", PieceLength: 16 << 10, Length: int64(len(data)), Pieces: make([]byte, 3*20)}
	faults := make(chan error, 10)
	stores := map[string]*fileStore{
		"published": {pc: pc, layout: publishedLayout(filepath.Join(dir, "pub.bin")), sigs: []fileSig{sigOf(fi)},
			fault: func(err error) { faults <- err }},
		"download": {pc: pc, layout: downloadLayout(filepath.Join(dir, "out"))},
	}
	for name, s := range stores {
		ti, err := s.OpenTorrent(context.Background(), info, metainfo.Hash{byte(len(name))})
		if err != nil {
			t.Fatal(err)
		}
		p := ti.Piece(info.Piece(1))
		buf := make([]byte, 16<<10)
		if s.sigs == nil {
			if _, err := p.WriteAt(data[16<<10:32<<10], 0); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := p.ReadAt(buf, 0); n != len(buf) || err != nil {
			t.Fatalf("%s: ReadAt = %d, %v", name, n, err)
		}
		if err := ti.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := p.ReadAt(buf, 0); !errors.Is(err, errStoreClosed) {
			t.Errorf("%s: ReadAt after close = %v, want errStoreClosed", name, err)
		}
		if _, err := p.WriteAt(buf, 0); err == nil {
			t.Errorf("%s: a closed store accepted a write", name)
		}
	}
	select {
	case err := <-faults:
		t.Errorf("fault reported: %v", err)
	case <-time.After(100 * time.Millisecond): // faults are reported from a goroutine
	}
}

// Reads of a published folder with more files than the store keeps open
// evict each other's handles; none of them may take that for a changed file
// (it marked the item missing), nor may a read under way fail as the store
// closes (after it, reads get errStoreClosed).
func TestPublishedStoreConcurrentReads(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, filepath.Join(dir, "shoal.db"))
	defer db.Close()
	const nfiles, fileSize = 3 * maxOpenFiles, 4 << 10
	root := filepath.Join(dir, "pub")
	info := &metainfo.Info{Name: "pub", PieceLength: fileSize}
	var sigs []fileSig
	var all []byte
	for i := range nfiles {
		name := fmt.Sprintf("f%03d", i)
		all = append(all, writeFile(t, filepath.Join(root, name), fileSize, uint64(100+i))...)
		fi, _ := os.Stat(filepath.Join(root, name))
		sigs = append(sigs, sigOf(fi))
		info.Files = append(info.Files, metainfo.FileInfo{Path: []string{name}, Length: fileSize})
	}
	info.Pieces = make([]byte, 20*nfiles)
	faults := make(chan error, 1)
	s := &fileStore{pc: newCompletion(db, nil), layout: publishedLayout(root), sigs: sigs,
		fault: func(err error) {
			select {
			case faults <- err:
			default:
			}
		}}
	ti, err := s.OpenTorrent(context.Background(), info, metainfo.Hash{5})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var closeOnce sync.Once
	var closed atomic.Bool
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, fileSize)
			for k := range 2000 {
				if g == 0 && k == 1000 {
					closeOnce.Do(func() { closed.Store(true); ti.Close() })
				}
				i := (k*7 + g*13) % nfiles
				n, err := ti.Piece(info.Piece(i)).ReadAt(buf, 0)
				if errors.Is(err, errStoreClosed) && closed.Load() {
					return
				}
				if n != fileSize || err != nil || !bytes.Equal(buf, all[i*fileSize:(i+1)*fileSize]) {
					t.Errorf("read %d of file %d = %d, %v", k, i, n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-faults:
		t.Errorf("fault reported: %v", err)
	default:
	}
}

// Verified pieces of a download are written by group commit: seen at once,
// in the database after one flush, and never recorded when their data could
// not be synced (the torrent's files closed first).
func TestCompletionGroupCommit(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, filepath.Join(dir, "shoal.db"))
	defer db.Close()
	pc := newCompletion(db, nil)
	s := &fileStore{pc: pc, layout: downloadLayout(filepath.Join(dir, "out"))}
	data := make([]byte, 3*16<<10)
	for i := range data {
		data[i] = byte(i * 7)
	}
	info := &metainfo.Info{Name: "g.bin", PieceLength: 16 << 10, Length: int64(len(data)), Pieces: make([]byte, 3*20)}
	ih := metainfo.Hash{42}
	ti, err := s.OpenTorrent(context.Background(), info, ih)
	if err != nil {
		t.Fatal(err)
	}
	stored := func(i int) bool {
		c, _ := newCompletion(db, nil).Get(metainfo.PieceKey{InfoHash: ih, Index: i})
		return c.Complete
	}
	for i := range 2 {
		p := ti.Piece(info.Piece(i))
		if _, err := p.WriteAt(data[i*16<<10:(i+1)*16<<10], 0); err != nil {
			t.Fatal(err)
		}
		if err := p.MarkComplete(); err != nil {
			t.Fatal(err)
		}
		if c := p.Completion(); !c.Ok || !c.Complete {
			t.Errorf("piece %d right after MarkComplete: %+v", i, c)
		}
	}
	if len(pc.unflushed(ih)) != 2 || stored(0) || stored(1) {
		t.Fatalf("marks reached the database before a flush (unflushed %v)", pc.unflushed(ih))
	}
	pc.flush()
	if len(pc.unflushed(ih)) != 0 || !stored(0) || !stored(1) || stored(2) {
		t.Fatalf("after a flush: unflushed %v, stored %v %v %v", pc.unflushed(ih), stored(0), stored(1), stored(2))
	}

	// Closing the torrent's files records what is pending first.
	p := ti.Piece(info.Piece(2))
	if _, err := p.WriteAt(data[2*16<<10:], 0); err != nil {
		t.Fatal(err)
	}
	if err := p.MarkComplete(); err != nil {
		t.Fatal(err)
	}
	ti.Close()
	if !stored(2) || len(pc.unflushed(ih)) != 0 {
		t.Errorf("closing the torrent did not record its verified piece (unflushed %v)", pc.unflushed(ih))
	}

	// A mark whose data cannot be synced any more is dropped, not recorded.
	pc.markComplete(metainfo.PieceKey{InfoHash: ih, Index: 1 << 20}, pendingMark{ts: p.(*pieceStore).t, files: []int{0}})
	pc.flush()
	if stored(1<<20) || len(pc.unflushed(ih)) != 0 {
		t.Errorf("a mark whose file was closed: stored %v, unflushed %v", stored(1<<20), pc.unflushed(ih))
	}
}
