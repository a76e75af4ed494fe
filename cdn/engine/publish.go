package engine

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/shoal-p2p/shoal/storage"
)

// Kinds of item.
const (
	KindFile   = "file"
	KindFolder = "folder"
)

// File is one file of an item; Path is relative to the item's root ("/"
// separated; for a single-file item, its name).
type File struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
}

// Item describes a piece of content the engine holds.
type Item struct {
	InfoHash  string    `json:"infohash"`
	Name      string    `json:"name"`
	Size      int64     `json:"size"`
	Files     []File    `json:"files,omitempty"`
	Kind      string    `json:"kind,omitempty"` // KindFile or KindFolder; empty until the metainfo is known
	Type      string    `json:"type,omitempty"` // video, audio, image, text, archive or other
	Publisher string    `json:"publisher,omitempty"`
	Time      time.Time `json:"time"`           // when it was published (or added, if unknown)
	Path      string    `json:"path,omitempty"` // where its data lies on this node
	Origin    string    `json:"origin"`
	Magnet    string    `json:"magnet"`
}

// Piece sizes: powers of two between these, aiming at no more than
// targetPieces pieces.
const (
	minPieceLength = 16 << 10
	maxPieceLength = 16 << 20
	targetPieces   = 2000
)

// pieceLength picks the smallest power of two, within bounds, that cuts size
// into at most targetPieces pieces (so between ~1000 and 2000 for any item
// bigger than 16 MiB and smaller than 32 GiB).
func pieceLength(size int64) int64 {
	l := int64(minPieceLength)
	for l < maxPieceLength && (size+l-1)/l > targetPieces {
		l *= 2
	}
	return l
}

// sourceFile is one file found under a path being published.
type sourceFile struct {
	rel  []string // path inside the item; nil for a single file
	abs  string
	sig  fileSig
	size int64
}

// Publish makes a torrent of a file or folder and seeds it from where it
// lies. It hashes the data (progress gets bytes done and total), records the
// item so it is seeded again after a restart, and returns it with its magnet.
// name defaults to the file or folder's own name.
func (e *Engine) Publish(ctx context.Context, path, name string, progress func(done, total int64)) (Item, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Item{}, fmt.Errorf("engine: publish %q: %w", path, err)
	}
	if name == "" {
		name = filepath.Base(abs)
	}
	if !safeComponent(name) {
		return Item{}, fmt.Errorf("%w: publish %q: name %q must be one path element", ErrBadInput, path, name)
	}
	files, isDir, err := scan(abs)
	if err != nil {
		return Item{}, fmt.Errorf("engine: publish %q: %w", path, err)
	}
	var total int64
	for _, f := range files {
		total += f.size
	}
	if total == 0 {
		return Item{}, fmt.Errorf("%w: publish %q: nothing to share (no data)", ErrBadInput, path)
	}

	info := metainfo.Info{Name: name, PieceLength: pieceLength(total)}
	if isDir {
		for _, f := range files {
			info.Files = append(info.Files, metainfo.FileInfo{Path: f.rel, Length: f.size})
		}
	} else {
		info.Length = total
	}
	info.Pieces, err = hashFiles(ctx, files, info.PieceLength, total, progress)
	if err != nil {
		return Item{}, fmt.Errorf("engine: publish %q: %w", path, err)
	}
	sigs := make([]fileSig, len(files))
	for i, f := range files {
		fi, err := os.Stat(f.abs)
		if err != nil || !matches(fi, &f.sig) {
			return Item{}, fmt.Errorf("engine: publish %q: %s changed while it was hashed; try again", path, f.abs)
		}
		sigs[i] = f.sig
	}
	infoBytes, err := bencode.Marshal(info)
	if err != nil {
		return Item{}, fmt.Errorf("engine: publish %q: %w", path, err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	var trackers []string
	if e.cfg.Trackers != nil {
		trackers = dedupe(e.cfg.Trackers())
	}
	mi := metainfo.MetaInfo{InfoBytes: infoBytes, CreationDate: now.Unix(), CreatedBy: "Shoal"}
	if len(trackers) > 0 {
		mi.Announce = trackers[0]
		for _, tr := range trackers {
			mi.AnnounceList = append(mi.AnnounceList, []string{tr})
		}
	}
	raw, err := bencode.Marshal(mi)
	if err != nil {
		return Item{}, fmt.Errorf("engine: publish %q: %w", path, err)
	}
	ih := mi.HashInfoBytes()

	rec := record{
		InfoHash:  ih.HexString(),
		Origin:    OriginPublished,
		Dir:       filepath.Dir(abs),
		Path:      abs,
		Sigs:      sigs,
		Publisher: e.cfg.Publisher,
		Time:      now,
		Added:     now,
		Trackers:  trackers,
		HasInfo:   true,
	}
	describe(&rec, &info)

	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return Item{}, ErrClosed
	}
	if old := e.items[ih]; old != nil {
		oldRec, missing := old.rec, old.missing
		e.mu.Unlock()
		if oldRec.Origin != OriginPublished {
			return Item{}, fmt.Errorf("%w: publish %q: this content is already here as a %s; remove it first", ErrBadInput, path, oldRec.Origin)
		}
		if oldRec.Path == abs && missing == "" {
			return e.item(oldRec), nil
		}
		// Same content from another place, or back after going missing:
		// take the new location.
		e.stop(old)
		e.mu.Lock()
		rec.Added, rec.Pinned = oldRec.Added, oldRec.Pinned
	}
	err = e.db.Update(func(tx *storage.Tx) error {
		if err := putMetainfo(tx, rec.InfoHash, raw); err != nil {
			return err
		}
		if err := markAllComplete(tx, ih, info.NumPieces()); err != nil {
			return err
		}
		return putRecord(tx, rec)
	})
	if err != nil {
		e.mu.Unlock()
		return Item{}, fmt.Errorf("engine: publish %q: %w", path, err)
	}
	e.items[ih] = &item{rec: rec, changed: make(chan struct{}), lastAccess: now}
	e.mu.Unlock()

	if err := e.start(ih); err != nil {
		return Item{}, fmt.Errorf("engine: publish %q: %w", path, err)
	}
	e.log.Info("published", "name", name, "infohash", rec.InfoHash, "size", total, "path", abs)
	return e.item(rec), nil
}

// scan lists the regular files of a file or folder, sorted, with their
// signatures. Symlinks and special files inside a folder are skipped.
func scan(abs string) (files []sourceFile, isDir bool, err error) {
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, false, err
	}
	if fi.Mode().IsRegular() {
		return []sourceFile{{abs: abs, size: fi.Size(), sig: sigOf(fi)}}, false, nil
	}
	if !fi.IsDir() {
		return nil, false, fmt.Errorf("%w: not a regular file or folder", ErrBadInput)
	}
	err = filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(abs, p)
		if err != nil {
			return err
		}
		files = append(files, sourceFile{rel: strings.Split(filepath.ToSlash(rel), "/"), abs: p, size: fi.Size(), sig: sigOf(fi)})
		return nil
	})
	if err != nil {
		return nil, true, err
	}
	if len(files) == 0 {
		return nil, true, fmt.Errorf("%w: the folder has no files", ErrBadInput)
	}
	slices.SortFunc(files, func(a, b sourceFile) int {
		return strings.Compare(strings.Join(a.rel, "/"), strings.Join(b.rel, "/"))
	})
	return files, true, nil
}

func sigOf(fi fs.FileInfo) fileSig {
	return fileSig{Size: fi.Size(), ModTime: fi.ModTime().UnixNano()}
}

// hashFiles computes the SHA-1 of every piece of the files laid end to end.
func hashFiles(ctx context.Context, files []sourceFile, pieceLen, total int64, progress func(done, total int64)) ([]byte, error) {
	var pieces []byte
	h := sha1.New()
	inPiece := int64(0)
	var done int64
	lastReport := time.Time{}
	buf := make([]byte, min(pieceLen, 1<<20))
	report := func(force bool) {
		if progress != nil && (force || time.Since(lastReport) >= 100*time.Millisecond) {
			lastReport = time.Now()
			progress(done, total)
		}
	}
	report(true)
	for _, f := range files {
		fh, err := os.Open(f.abs)
		if err != nil {
			return nil, err
		}
		left := f.size
		for left > 0 {
			if err := ctx.Err(); err != nil {
				fh.Close()
				return nil, err
			}
			n := min(int64(len(buf)), left, pieceLen-inPiece)
			if _, err := io.ReadFull(fh, buf[:n]); err != nil {
				fh.Close()
				if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
					return nil, fmt.Errorf("%s changed while it was hashed; try again", f.abs)
				}
				return nil, err
			}
			h.Write(buf[:n])
			inPiece += n
			left -= n
			done += n
			if inPiece == pieceLen {
				pieces = h.Sum(pieces)
				h.Reset()
				inPiece = 0
			}
			report(false)
		}
		fh.Close()
	}
	if inPiece > 0 {
		pieces = h.Sum(pieces)
	}
	report(true)
	return pieces, nil
}

// checkSigs reports whether a published item's files are still as hashed.
func checkSigs(rec record) error {
	var paths []string
	if rec.Kind == KindFolder {
		for _, f := range rec.Files {
			paths = append(paths, filepath.Join(rec.Path, filepath.FromSlash(f.Path)))
		}
	} else {
		paths = []string{rec.Path}
	}
	if len(paths) != len(rec.Sigs) {
		return fmt.Errorf("%w: %s: stored file list does not match", errChanged, rec.Path)
	}
	for i, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", errChanged, p, errors.Unwrap(err))
		}
		if !matches(fi, &rec.Sigs[i]) {
			return fmt.Errorf("%w: %s: size or modification time differs", errChanged, p)
		}
	}
	return nil
}

// setMissing stops serving a published item whose files no longer match.
func (e *Engine) setMissing(ih metainfo.Hash, cause error) {
	e.mu.Lock()
	it := e.items[ih]
	if it == nil || it.missing != "" {
		e.mu.Unlock()
		return
	}
	it.missing = cause.Error()
	e.mu.Unlock()
	e.log.Warn("published item is missing; not serving it", "infohash", ih.HexString(), "why", cause)
	e.stop(it)
	if st, err := e.Status(ih.HexString()); err == nil {
		e.publish(EventMissing, st)
	}
}

// checkPublished re-checks every published item's files: the ones that
// changed go missing, the missing ones that are back as hashed come back.
func (e *Engine) checkPublished() {
	e.mu.Lock()
	type pub struct {
		ih      metainfo.Hash
		rec     record
		missing bool
	}
	var pubs []pub
	for ih, it := range e.items {
		if it.rec.Origin == OriginPublished && !it.rec.Paused {
			pubs = append(pubs, pub{ih, it.rec, it.missing != ""})
		}
	}
	e.mu.Unlock()
	for _, p := range pubs {
		err := checkSigs(p.rec)
		switch {
		case err != nil && !p.missing:
			e.setMissing(p.ih, err)
		case err == nil && p.missing:
			e.mu.Lock()
			if it := e.items[p.ih]; it != nil {
				it.missing = ""
				it.notify()
			}
			e.mu.Unlock()
			e.log.Info("published item is back", "infohash", p.ih.HexString())
			if err := e.start(p.ih); err != nil {
				e.log.Warn("cannot restart published item", "infohash", p.ih.HexString(), "err", err)
			}
		}
	}
}

// item renders a record for callers.
func (e *Engine) item(rec record) Item {
	it := Item{
		InfoHash:  rec.InfoHash,
		Name:      rec.Name,
		Size:      rec.Size,
		Files:     slices.Clone(rec.Files),
		Kind:      rec.Kind,
		Type:      rec.Type,
		Publisher: rec.Publisher,
		Time:      rec.Time,
		Origin:    rec.Origin,
	}
	switch {
	case rec.Origin == OriginPublished:
		it.Path = rec.Path
	case rec.HasInfo:
		it.Path = filepath.Join(rec.Dir, rec.Name)
	}
	trackers := rec.Trackers
	if e.cfg.Trackers != nil {
		trackers = append(slices.Clone(trackers), e.cfg.Trackers()...)
	}
	it.Magnet = magnet(rec.InfoHash, rec.Name, dedupe(trackers), e.cfg.PeerHint)
	return it
}

// magnet builds a magnet link: xt, dn, one tr per tracker, x.pe.
func magnet(ih, name string, trackers []string, peer string) string {
	q := "xt=urn:btih:" + ih
	if name != "" {
		q += "&dn=" + url.QueryEscape(name)
	}
	for _, tr := range trackers {
		q += "&tr=" + url.QueryEscape(tr)
	}
	if peer != "" {
		q += "&x.pe=" + url.QueryEscape(peer)
	}
	return "magnet:?" + q
}

// Item returns one item.
func (e *Engine) Item(infohash string) (Item, error) {
	_, it, err := e.lookup(infohash)
	if err != nil {
		return Item{}, err
	}
	e.mu.Lock()
	rec := it.rec
	e.mu.Unlock()
	return e.item(rec), nil
}

// Published lists the items this node published, oldest first.
func (e *Engine) Published() []Item {
	var out []Item
	for _, rec := range e.records() {
		if rec.Origin == OriginPublished {
			out = append(out, e.item(rec))
		}
	}
	return out
}

// Torrent returns an item's .torrent file.
func (e *Engine) Torrent(infohash string) ([]byte, error) {
	_, it, err := e.lookup(infohash)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	rec := it.rec
	e.mu.Unlock()
	mi := e.metainfo(rec.InfoHash)
	if mi == nil {
		return nil, fmt.Errorf("%w: the metainfo of %s is not known yet", ErrNotFound, rec.InfoHash)
	}
	return mi, nil
}

// records snapshots every record, sorted by time added.
func (e *Engine) records() []record {
	e.mu.Lock()
	recs := make([]record, 0, len(e.items))
	for _, it := range e.items {
		recs = append(recs, it.rec)
	}
	e.mu.Unlock()
	slices.SortFunc(recs, func(a, b record) int {
		if c := a.Added.Compare(b.Added); c != 0 {
			return c
		}
		return strings.Compare(a.InfoHash, b.InfoHash)
	})
	return recs
}

// Types of content, coarsely, by extension.
var typeByExt = map[string]string{}

func init() {
	for typ, exts := range map[string]string{
		"video":   "mp4 m4v mkv webm avi mov mpg mpeg ts m2ts wmv flv ogv 3gp mpd m3u8",
		"audio":   "mp3 flac ogg oga opus wav m4a aac wma aiff",
		"image":   "jpg jpeg png gif webp svg bmp tif tiff ico heic avif",
		"text":    "txt md markdown html htm css js json xml csv tsv yaml yml toml log ini srt vtt rst",
		"archive": "zip tar gz tgz bz2 xz zst 7z rar iso deb rpm",
	} {
		for _, ext := range strings.Fields(exts) {
			typeByExt["."+ext] = typ
		}
	}
}

// typeOf is the coarse type of one file name.
func typeOf(name string) string {
	if t, ok := typeByExt[strings.ToLower(filepath.Ext(name))]; ok {
		return t
	}
	return "other"
}

// typeOfFiles is the type holding most of the bytes.
func typeOfFiles(files []File) string {
	bytes := map[string]int64{}
	best, bestN := "other", int64(-1)
	for _, f := range files {
		bytes[typeOf(f.Path)] += f.Size + 1
	}
	for _, typ := range []string{"video", "audio", "image", "text", "archive", "other"} {
		if bytes[typ] > bestN {
			best, bestN = typ, bytes[typ]
		}
	}
	return best
}
