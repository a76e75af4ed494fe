package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/anacrolix/torrent/metainfo"
	tstorage "github.com/anacrolix/torrent/storage"
)

// errChanged reports that a published file no longer is what was hashed.
var errChanged = errors.New("engine: published file changed on disk")

// fileStore is torrent storage on plain files, read and written with
// pread/pwrite. A writable store creates files under its root as data
// arrives; a read-only store (a published item) serves files in place and
// refuses any read from a file whose size or mtime moved since it was hashed.
type fileStore struct {
	pc *completion
	// layout gives the absolute path of each file of the torrent, in order.
	layout func(info *metainfo.Info) ([]string, error)
	// sigs, when set, make the store read-only: file i must match sigs[i].
	sigs []fileSig
	// fault is told (in a new goroutine) that published data went bad.
	fault func(error)
}

var _ tstorage.ClientImpl = (*fileStore)(nil)

type storeFile struct {
	path   string
	offset int64 // in the torrent
	length int64
	sig    *fileSig
}

type torrentStore struct {
	s     *fileStore
	ih    metainfo.Hash
	files []storeFile

	mu      sync.Mutex
	handles map[int]*openFile // at most maxOpenFiles
	closed  bool
}

// openFile is a cached handle and how many reads and writes use it now; one
// dropped from the cache is closed when the last of them is done.
type openFile struct {
	f       *os.File
	users   int
	dropped bool
}

// OpenTorrent binds the store to one torrent, once its info is known.
func (s *fileStore) OpenTorrent(_ context.Context, info *metainfo.Info, ih metainfo.Hash) (tstorage.TorrentImpl, error) {
	paths, err := s.layout(info)
	if err != nil {
		return tstorage.TorrentImpl{}, err
	}
	var files []storeFile
	i := 0
	for fi := range info.UpvertedFilesIter() {
		if i >= len(paths) {
			return tstorage.TorrentImpl{}, fmt.Errorf("engine: layout of %s has %d paths, too few", ih.HexString(), len(paths))
		}
		f := storeFile{path: paths[i], offset: fi.TorrentOffset, length: fi.Length}
		if s.sigs != nil {
			if i >= len(s.sigs) {
				return tstorage.TorrentImpl{}, fmt.Errorf("engine: published %s: file list changed", ih.HexString())
			}
			f.sig = &s.sigs[i]
		}
		files = append(files, f)
		i++
	}
	ts := &torrentStore{s: s, ih: ih, files: files, handles: make(map[int]*openFile)}
	if s.sigs == nil {
		if err := ts.prepare(); err != nil {
			return tstorage.TorrentImpl{}, err
		}
	}
	return tstorage.TorrentImpl{Piece: ts.piece, Close: ts.close}, nil
}

// prepare readies a writable torrent: empty files are created (nothing will
// ever be written to them), and a torrent whose files do not exist yet is
// recorded as known-incomplete so no piece is hashed for nothing.
func (ts *torrentStore) prepare() error {
	anyExists := false
	for _, f := range ts.files {
		if f.length == 0 {
			if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
				return fmt.Errorf("engine: %w", err)
			}
			fh, err := os.OpenFile(f.path, os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				return fmt.Errorf("engine: %w", err)
			}
			fh.Close()
			continue
		}
		if _, err := os.Stat(f.path); err == nil {
			anyExists = true
		}
	}
	if !anyExists && !ts.s.pc.known(ts.ih) {
		return ts.s.pc.track(ts.ih)
	}
	return nil
}

func (ts *torrentStore) piece(p metainfo.Piece) tstorage.PieceImpl {
	return &pieceStore{t: ts, index: p.Index(), offset: p.Offset(), length: p.Length()}
}

// close drops the cached file handles, each closed when its last user is
// done: anacrolix reads a peer's request outside its lock, so a read may be
// under way as the torrent stops. Later reads and writes get errStoreClosed.
func (ts *torrentStore) close() error {
	ts.s.pc.flush() // verified pieces are recorded while their files are open
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.closed = true
	var errs []error
	for i := range ts.handles {
		errs = append(errs, ts.drop(i))
	}
	return errors.Join(errs...)
}

// drop takes file i's handle out of the cache, closing it unless in use.
// ts.mu is held.
func (ts *torrentStore) drop(i int) error {
	of := ts.handles[i]
	delete(ts.handles, i)
	of.dropped = true
	if of.users == 0 {
		return of.f.Close()
	}
	return nil
}

// maxOpenFiles bounds the handles one torrent keeps open (a published
// folder may hold thousands of files), apart from those in use.
const maxOpenFiles = 64

// acquire returns file i's handle, opening it if need be, for one read or
// write; release gives it back. create says a missing file may be created.
func (ts *torrentStore) acquire(i int, create bool) (*openFile, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.closed {
		return nil, errStoreClosed
	}
	if of := ts.handles[i]; of != nil {
		of.users++
		return of, nil
	}
	if len(ts.handles) >= maxOpenFiles {
		for j := range ts.handles {
			ts.drop(j)
			break
		}
	}
	f := ts.files[i]
	var h *os.File
	var err error
	switch {
	case f.sig != nil:
		h, err = os.Open(f.path)
	case create:
		if err = os.MkdirAll(filepath.Dir(f.path), 0o755); err == nil {
			h, err = os.OpenFile(f.path, os.O_RDWR|os.O_CREATE, 0o644)
		}
	default:
		h, err = os.OpenFile(f.path, os.O_RDWR, 0)
	}
	if err != nil {
		return nil, err
	}
	of := &openFile{f: h, users: 1}
	ts.handles[i] = of
	return of, nil
}

func (ts *torrentStore) release(of *openFile) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	of.users--
	if of.dropped && of.users == 0 {
		of.f.Close()
	}
}

// errStoreClosed is returned once the torrent's storage is closed.
var errStoreClosed = errors.New("engine: torrent storage closed")

// withHandle runs fn on file i's handle.
func (ts *torrentStore) withHandle(i int, create bool, fn func(*os.File) (int, error)) (int, error) {
	of, err := ts.acquire(i, create)
	if err != nil {
		return 0, err
	}
	defer ts.release(of)
	return fn(of.f)
}

// spans calls fn for each file-sized part of [off, off+n) of the torrent.
func (ts *torrentStore) spans(off, n int64, fn func(i int, fileOff, n int64) error) error {
	i := sort.Search(len(ts.files), func(i int) bool { return ts.files[i].offset+ts.files[i].length > off })
	for ; i < len(ts.files) && n > 0; i++ {
		f := ts.files[i]
		if f.length == 0 {
			continue
		}
		fo := off - f.offset
		l := min(n, f.length-fo)
		if err := fn(i, fo, l); err != nil {
			return err
		}
		off += l
		n -= l
	}
	return nil
}

// matches checks a published file's size and mtime against its signature.
func matches(fi fs.FileInfo, sig *fileSig) bool {
	return fi.Mode().IsRegular() && fi.Size() == sig.Size && fi.ModTime().UnixNano() == sig.ModTime
}

func (ts *torrentStore) faulted(err error) {
	if ts.s.fault != nil {
		go ts.s.fault(err)
	}
}

// pieceStore is one piece's view of a torrentStore.
type pieceStore struct {
	t      *torrentStore
	index  int
	offset int64
	length int64
}

func (p *pieceStore) key() metainfo.PieceKey {
	return metainfo.PieceKey{InfoHash: p.t.ih, Index: p.index}
}

func (p *pieceStore) ReadAt(b []byte, off int64) (int, error) {
	b = b[:min(int64(len(b)), max(p.length-off, 0))]
	if len(b) == 0 {
		return 0, io.EOF
	}
	n := 0
	err := p.t.spans(p.offset+off, int64(len(b)), func(i int, fo, l int64) error {
		sig := p.t.files[i].sig
		m, err := p.t.withHandle(i, false, func(h *os.File) (int, error) {
			m, err := h.ReadAt(b[n:n+int(l)], fo)
			if sig != nil {
				// Checked after the read: a write that raced with it has
				// moved the mtime by now, so changed bytes never go out.
				if fi, serr := h.Stat(); serr != nil || !matches(fi, sig) {
					return 0, errChanged
				}
			}
			return m, err
		})
		if errors.Is(err, errChanged) {
			err = fmt.Errorf("%w: %s", errChanged, p.t.files[i].path)
			p.t.faulted(err)
			return err
		}
		n += m
		if errors.Is(err, fs.ErrNotExist) {
			return io.EOF
		}
		if err != nil {
			return err
		}
		if int64(m) < l {
			return io.EOF
		}
		return nil
	})
	if errors.Is(err, errChanged) {
		n = 0 // nothing from a changed file goes out
	}
	return n, err
}

func (p *pieceStore) WriteAt(b []byte, off int64) (int, error) {
	if p.t.s.sigs != nil {
		return 0, errors.New("engine: published data is read-only")
	}
	n := 0
	err := p.t.spans(p.offset+off, int64(len(b)), func(i int, fo, l int64) error {
		m, err := p.t.withHandle(i, true, func(h *os.File) (int, error) {
			return h.WriteAt(b[n:n+int(l)], fo)
		})
		n += m
		return err
	})
	return n, err
}

// MarkComplete records the piece as verified. A download's mark waits for
// the group commit (completion.markComplete), which syncs the piece's data
// before writing it, so a crash never leaves a verified mark on data that
// did not reach the disk.
func (p *pieceStore) MarkComplete() error {
	if p.t.s.sigs != nil {
		return p.t.s.pc.Set(p.key(), true)
	}
	var files []int
	p.t.spans(p.offset, p.length, func(i int, _, _ int64) error {
		files = append(files, i)
		return nil
	})
	p.t.s.pc.markComplete(p.key(), pendingMark{ts: p.t, files: files})
	return nil
}

func (p *pieceStore) MarkNotComplete() error {
	if p.t.s.sigs != nil {
		p.t.faulted(fmt.Errorf("%w: piece %d no longer matches its hash", errChanged, p.index))
	}
	return p.t.s.pc.Set(p.key(), false)
}

// Completion trusts the database, but not blindly: a piece is complete only
// while its files are there, long enough (downloads) or exactly as hashed
// (published items).
func (p *pieceStore) Completion() tstorage.Completion {
	c, err := p.t.s.pc.Get(p.key())
	if err != nil || !c.Ok || !c.Complete {
		return c
	}
	p.t.spans(p.offset, p.length, func(i int, fo, l int64) error {
		f := p.t.files[i]
		fi, err := os.Stat(f.path)
		switch {
		case err != nil:
			c.Complete = false
		case f.sig != nil && !matches(fi, f.sig):
			c.Complete = false
			p.t.faulted(fmt.Errorf("%w: %s", errChanged, f.path))
		case fi.Size() < fo+l:
			c.Complete = false
		}
		if !c.Complete {
			return errStop
		}
		return nil
	})
	return c
}

// downloadLayout places a torrent's files under dir the way every client
// does (dir/name for one file, dir/name/path... for several), refusing any
// name that would leave dir.
func downloadLayout(dir string) func(info *metainfo.Info) ([]string, error) {
	return func(info *metainfo.Info) ([]string, error) {
		name := info.BestName()
		if !safeComponent(name) {
			return nil, fmt.Errorf("engine: unsafe torrent name %q", name)
		}
		root := filepath.Join(dir, name)
		if !info.IsDir() {
			return []string{root}, nil
		}
		var paths []string
		for fi := range info.UpvertedFilesIter() {
			p, err := safeJoin(root, fi.BestPath())
			if err != nil {
				return nil, err
			}
			paths = append(paths, p)
		}
		return paths, nil
	}
}

// publishedLayout maps a published torrent onto the file or folder it was
// made from, whatever name the torrent carries.
func publishedLayout(path string) func(info *metainfo.Info) ([]string, error) {
	return func(info *metainfo.Info) ([]string, error) {
		if !info.IsDir() {
			return []string{path}, nil
		}
		var paths []string
		for fi := range info.UpvertedFilesIter() {
			p, err := safeJoin(path, fi.BestPath())
			if err != nil {
				return nil, err
			}
			paths = append(paths, p)
		}
		return paths, nil
	}
}

// safeComponent reports whether s can be one element of a path inside a
// directory: not empty, not . or .., no separator, no NUL.
func safeComponent(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\\\x00")
}

func safeJoin(root string, parts []string) (string, error) {
	if len(parts) == 0 {
		return "", fmt.Errorf("engine: empty file path in torrent")
	}
	for _, p := range parts {
		if !safeComponent(p) {
			return "", fmt.Errorf("engine: unsafe file path %q in torrent", strings.Join(parts, "/"))
		}
	}
	return filepath.Join(append([]string{root}, parts...)...), nil
}
