package engine

import (
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Kinds of item.
const (
	KindFile   = "file"
	KindFolder = "folder"
)

// PresentationManifest is the manifest at the root of a folder that is a
// DASH presentation (what `shoal publish --video` publishes).
const PresentationManifest = "manifest.mpd"

// IsPresentation tells whether an item is a DASH presentation: a folder
// with PresentationManifest at its root.
func IsPresentation(it Item) bool {
	if it.Kind != KindFolder {
		return false
	}
	for _, f := range it.Files {
		if f.Path == PresentationManifest {
			return true
		}
	}
	return false
}

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
	it.Magnet = magnet(rec.InfoHash, rec.Name, dedupe(trackers), e.peerHint())
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
		"video":   "mp4 m4v m4s mkv webm avi mov mpg mpeg ts m2ts wmv flv ogv 3gp mpd m3u8",
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
