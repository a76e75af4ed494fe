package engine

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/shoal-p2p/shoal/storage"
)

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
	if e.cfg.Private {
		private := true
		info.Private = &private // BEP 27; what it asks is done by the client's config
	}
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
		parts := strings.Split(filepath.ToSlash(rel), "/")
		for _, part := range parts {
			if !safeComponent(part) {
				return fmt.Errorf("%w: %q cannot be shared: its name has a backslash", ErrBadInput, p)
			}
		}
		files = append(files, sourceFile{rel: parts, abs: p, size: fi.Size(), sig: sigOf(fi)})
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
