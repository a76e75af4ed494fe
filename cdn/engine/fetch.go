package engine

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/shoal-p2p/shoal/storage"
)

// Download is a handle on an item being fetched.
type Download struct {
	e  *Engine
	ih metainfo.Hash
}

// InfoHash is the item's infohash in hex.
func (d *Download) InfoHash() string { return d.ih.HexString() }

// Status is the item's current status.
func (d *Download) Status() (Status, error) { return d.e.Status(d.ih.HexString()) }

// Wait blocks until every piece is verified, the item is removed, the engine
// closes or ctx ends. A paused item is waited for until it is resumed.
func (d *Download) Wait(ctx context.Context) error {
	for {
		d.e.mu.Lock()
		it := d.e.items[d.ih]
		closed := d.e.closed
		var changed chan struct{}
		var done, stopped <-chan struct{}
		if it != nil {
			changed = it.changed
			if it.t != nil {
				done, stopped = it.t.Complete().On(), it.t.Closed()
			}
		}
		d.e.mu.Unlock()
		switch {
		case closed:
			return ErrClosed
		case it == nil:
			return fmt.Errorf("%w: %s was removed", ErrNotFound, d.ih.HexString())
		}
		select {
		case <-done:
			d.e.pc.flush() // whole once every piece's mark is on disk
			return nil
		case <-stopped:
		case <-changed:
		case <-d.e.ctx.Done():
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// fetchSpec is what a magnet link or an infohash says.
type fetchSpec struct {
	ih       metainfo.Hash
	name     string
	trackers []string
	peers    []string
	magnet   bool
}

// parseInfoHash reads a v1 infohash: 40 hex digits or 32 base32 characters.
func parseInfoHash(s string) (metainfo.Hash, error) {
	var ih metainfo.Hash
	var err error
	switch len(s) {
	case 40:
		var n int
		n, err = hex.Decode(ih[:], []byte(s))
		if err == nil && n != 20 {
			err = errors.New("short")
		}
	case 32:
		var raw []byte
		raw, err = base32.StdEncoding.DecodeString(strings.ToUpper(s))
		if err == nil && len(raw) != 20 {
			err = errors.New("short")
		}
		copy(ih[:], raw)
	default:
		err = errors.New("wrong length")
	}
	if err != nil {
		return ih, fmt.Errorf("%w: %q is not an infohash (40 hex digits or 32 base32 characters)", ErrBadInput, s)
	}
	return ih, nil
}

// parseSpec reads a magnet link or a bare infohash.
func parseSpec(spec string) (fetchSpec, error) {
	spec = strings.TrimSpace(spec)
	if len(spec) >= 7 && strings.EqualFold(spec[:7], "magnet:") {
		m, err := metainfo.ParseMagnetUri(spec)
		if err != nil {
			return fetchSpec{}, fmt.Errorf("%w: bad magnet link: %v", ErrBadInput, err)
		}
		fs := fetchSpec{ih: m.InfoHash, name: m.DisplayName, trackers: m.Trackers, magnet: true}
		if fs.name != "" && !safeComponent(fs.name) {
			fs.name = ""
		}
		for _, pe := range m.Params["x.pe"] {
			ap, err := netip.ParseAddrPort(pe)
			if err != nil || ap.Port() == 0 {
				return fetchSpec{}, fmt.Errorf("%w: bad magnet link: peer hint x.pe=%q is not IP:port", ErrBadInput, pe)
			}
			fs.peers = append(fs.peers, ap.String())
		}
		for _, tr := range fs.trackers {
			if _, err := urlScheme(tr); err != nil {
				return fetchSpec{}, fmt.Errorf("%w: bad magnet link: tracker %q: %v", ErrBadInput, tr, err)
			}
		}
		return fs, nil
	}
	ih, err := parseInfoHash(spec)
	if err != nil {
		return fetchSpec{}, fmt.Errorf("%w: %q is neither a magnet link nor an infohash", ErrBadInput, spec)
	}
	return fetchSpec{ih: ih}, nil
}

func urlScheme(u string) (string, error) {
	scheme, _, ok := strings.Cut(u, "://")
	switch strings.ToLower(scheme) {
	case "http", "https", "udp", "ws", "wss":
		if ok {
			return scheme, nil
		}
	}
	return "", errors.New("not an http, https or udp URL")
}

// Fetch starts downloading what spec names — a magnet link or an infohash —
// into outDir (default DataDir/content). It returns at once; the download
// goes on in the background, survives restarts, and can be waited for.
// Fetching something already here returns it.
func (e *Engine) Fetch(ctx context.Context, spec, outDir string) (*Download, error) {
	fs, err := parseSpec(spec)
	if err != nil {
		return nil, err
	}
	return e.add(ctx, fs, nil, outDir, OriginDownload)
}

// IsTorrentFile tells whether what a user typed to get an item names a
// .torrent file (whose bytes go to AddTorrent) rather than something Fetch
// takes: a magnet link may end in ".torrent" too (dn=film.torrent).
func IsTorrentFile(spec string) bool {
	return strings.HasSuffix(strings.ToLower(spec), ".torrent") && !strings.HasPrefix(spec, "magnet:")
}

// AddTorrent starts downloading the torrent described by a .torrent file's
// bytes, like Fetch.
func (e *Engine) AddTorrent(ctx context.Context, mi []byte, outDir string) (*Download, error) {
	m, err := metainfo.Load(bytes.NewReader(mi))
	if err != nil {
		return nil, fmt.Errorf("%w: not a .torrent file: %v", ErrBadInput, err)
	}
	if len(m.InfoBytes) == 0 {
		return nil, fmt.Errorf("%w: the .torrent has no info dictionary", ErrBadInput)
	}
	info, err := m.UnmarshalInfo()
	if err != nil {
		return nil, fmt.Errorf("%w: the .torrent's info does not parse: %v", ErrBadInput, err)
	}
	if err := validateInfo(&info); err != nil {
		return nil, err
	}
	fs := fetchSpec{ih: m.HashInfoBytes(), name: info.BestName()}
	for _, tier := range m.UpvertedAnnounceList() {
		fs.trackers = append(fs.trackers, tier...)
	}
	// Store exactly what describes the content, not whatever else the file
	// carried.
	raw, err := bencode.Marshal(metainfo.MetaInfo{
		InfoBytes:    m.InfoBytes,
		Announce:     m.Announce,
		AnnounceList: m.AnnounceList,
		CreationDate: m.CreationDate,
		CreatedBy:    m.CreatedBy,
		Comment:      m.Comment,
	})
	if err != nil {
		return nil, fmt.Errorf("engine: re-encode .torrent: %w", err)
	}
	return e.add(ctx, fs, &addedInfo{raw: raw, info: &info, created: m.CreationDate}, outDir, OriginDownload)
}

type addedInfo struct {
	raw     []byte
	info    *metainfo.Info
	created int64
}

// validateInfo refuses what the engine cannot store safely or correctly.
func validateInfo(info *metainfo.Info) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: bad .torrent: "+format, append([]any{ErrBadInput}, a...)...)
	}
	if !info.HasV1() || info.HasV2() {
		return bad("only BitTorrent v1 torrents are supported")
	}
	if info.PieceLength <= 0 || info.PieceLength > 64<<20 {
		return bad("piece length %d", info.PieceLength)
	}
	if len(info.Pieces) == 0 || len(info.Pieces)%20 != 0 {
		return bad("piece hashes are %d bytes, not a multiple of 20", len(info.Pieces))
	}
	total := info.TotalLength()
	if total <= 0 {
		return bad("no data")
	}
	if want := (total + info.PieceLength - 1) / info.PieceLength; int64(len(info.Pieces)/20) != want {
		return bad("%d piece hashes for %d pieces", len(info.Pieces)/20, want)
	}
	if !safeComponent(info.BestName()) {
		return bad("unsafe name %q", info.BestName())
	}
	if info.IsDir() {
		seen := map[string]bool{}
		for _, f := range info.Files {
			if f.Length < 0 {
				return bad("negative file length")
			}
			if _, err := safeJoin("/", f.BestPath()); err != nil {
				return bad("unsafe file path %q", strings.Join(f.BestPath(), "/"))
			}
			p := strings.Join(f.BestPath(), "/")
			if seen[p] {
				return bad("file %q listed twice", p)
			}
			seen[p] = true
		}
	}
	return nil
}

// add registers a new item (stored before anything else happens, so it
// survives a crash right after) and starts it.
func (e *Engine) add(ctx context.Context, fs fetchSpec, ai *addedInfo, outDir, origin string) (*Download, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ihHex := fs.ih.HexString()
	if outDir == "" {
		outDir = contentDir(e.cfg.DataDir)
		if origin == OriginCache {
			outDir = filepath.Join(contentDir(e.cfg.DataDir), ".cache", ihHex)
		}
	}
	dir, err := filepath.Abs(outDir)
	if err != nil {
		return nil, fmt.Errorf("engine: out dir %q: %w", outDir, err)
	}
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("%w: out dir %q is not a directory", ErrBadInput, outDir)
	}

	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, ErrClosed
	}
	if it := e.items[fs.ih]; it != nil {
		t := it.t
		e.mu.Unlock()
		if t != nil {
			addPeers(t, parseAddrs(fs.peers))
			if len(fs.trackers) > 0 {
				t.AddTrackers([][]string{fs.trackers})
				e.announceTo(t, fs.trackers)
			}
		}
		return &Download{e: e, ih: fs.ih}, nil
	}
	now := time.Now().UTC()
	rec := record{
		InfoHash: ihHex,
		Origin:   origin,
		Dir:      dir,
		Name:     fs.name,
		Added:    now,
		Trackers: dedupe(fs.trackers),
		Peers:    dedupe(fs.peers),
	}
	if ai != nil {
		describe(&rec, ai.info)
		rec.HasInfo = true
		rec.Time = now
		if ai.created > 0 {
			rec.Time = time.Unix(ai.created, 0).UTC()
		}
	}
	err = e.db.Update(func(tx *storage.Tx) error {
		if ai != nil {
			if err := putMetainfo(tx, ihHex, ai.raw); err != nil {
				return err
			}
		}
		// Completion left over from an earlier life of this torrent is not
		// to be trusted.
		if err := forgetCompletion(tx, ihHex); err != nil {
			return err
		}
		return putRecord(tx, rec)
	})
	if err != nil {
		e.mu.Unlock()
		return nil, fmt.Errorf("engine: store %s: %w", ihHex, err)
	}
	e.items[fs.ih] = &item{rec: rec, changed: make(chan struct{}), lastAccess: now}
	e.mu.Unlock()

	if err := e.start(fs.ih); err != nil {
		e.forget(fs.ih)
		return nil, fmt.Errorf("engine: add %s: %w", ihHex, err)
	}
	e.log.Info("fetching", "infohash", ihHex, "name", rec.Name, "dir", dir, "origin", origin)
	return &Download{e: e, ih: fs.ih}, nil
}

func parseAddrs(ss []string) []netip.AddrPort {
	var out []netip.AddrPort
	for _, s := range ss {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			out = append(out, ap)
		}
	}
	return out
}

// forget drops an item from memory and the database (not its data).
func (e *Engine) forget(ih metainfo.Hash) {
	e.mu.Lock()
	it := e.items[ih]
	delete(e.items, ih)
	if it != nil {
		it.notify()
	}
	e.mu.Unlock()
	if it != nil {
		e.stop(it)
	}
	if err := e.db.Update(func(tx *storage.Tx) error { return deleteItem(tx, ih.HexString()) }); err != nil {
		e.log.Error("cannot forget item", "infohash", ih.HexString(), "err", err)
	}
}

// Pause stops an item's transfers (it stops seeding, too) until Resume.
func (e *Engine) Pause(infohash string) error {
	return e.setPaused(infohash, true)
}

// Resume undoes Pause.
func (e *Engine) Resume(infohash string) error {
	return e.setPaused(infohash, false)
}

func (e *Engine) setPaused(infohash string, paused bool) error {
	ih, it, err := e.lookup(infohash)
	if err != nil {
		return err
	}
	if err := e.update(ih, func(r *record) { r.Paused = paused }); err != nil {
		return err
	}
	if paused {
		e.stop(it)
		return nil
	}
	e.mu.Lock()
	missing, rec := it.missing != "", it.rec
	e.mu.Unlock()
	if missing {
		return nil
	}
	if rec.Origin == OriginPublished {
		if err := checkSigs(rec); err != nil {
			e.setMissing(ih, err)
			return nil
		}
	}
	return e.start(ih)
}

// update changes an item's record in memory and in the database.
func (e *Engine) update(ih metainfo.Hash, fn func(*record)) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	it := e.items[ih]
	if it == nil {
		return fmt.Errorf("%w: %s", ErrNotFound, ih.HexString())
	}
	rec := it.rec
	rec.Files = append([]File(nil), rec.Files...)
	fn(&rec)
	if err := e.db.Update(func(tx *storage.Tx) error { return putRecord(tx, rec) }); err != nil {
		return fmt.Errorf("engine: update %s: %w", ih.HexString(), err)
	}
	it.rec = rec
	it.notify()
	return nil
}

// Remove drops an item. With withData, the files it downloaded are deleted
// too; a published item's own files are never deleted.
func (e *Engine) Remove(infohash string, withData bool) error {
	ih, it, err := e.lookup(infohash)
	if err != nil {
		return err
	}
	e.mu.Lock()
	rec := it.rec
	e.mu.Unlock()
	e.forget(ih)
	if withData && rec.Origin != OriginPublished {
		if err := removeData(rec); err != nil {
			return fmt.Errorf("engine: remove data of %s: %w", rec.InfoHash, err)
		}
	}
	e.log.Info("removed", "infohash", rec.InfoHash, "name", rec.Name, "with_data", withData)
	return nil
}

// removeData deletes the files a download wrote, then the directories it
// made that are left empty.
func removeData(rec record) error {
	if !rec.HasInfo || !safeComponent(rec.Name) {
		return nil
	}
	root := filepath.Join(rec.Dir, rec.Name)
	var errs []error
	if rec.Kind == KindFolder {
		for _, f := range rec.Files {
			p, err := safeJoin(root, strings.Split(f.Path, "/"))
			if err != nil {
				continue
			}
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
			for d := filepath.Dir(p); len(d) > len(root); d = filepath.Dir(d) {
				if os.Remove(d) != nil {
					break
				}
			}
		}
	}
	if err := os.Remove(root); err != nil && !errors.Is(err, os.ErrNotExist) && rec.Kind != KindFolder {
		errs = append(errs, err)
	}
	if rec.Origin == OriginCache {
		os.Remove(rec.Dir) // the per-item cache directory
	}
	return errors.Join(errs...)
}

// AddPeers gives an item's swarm more peers to try (from members, trackers,
// hints). It returns how many were new.
func (e *Engine) AddPeers(infohash string, addrs []netip.AddrPort) (int, error) {
	_, it, err := e.lookup(infohash)
	if err != nil {
		return 0, err
	}
	e.mu.Lock()
	t := it.t
	e.mu.Unlock()
	if t == nil {
		return 0, nil
	}
	return addPeers(t, addrs), nil
}
