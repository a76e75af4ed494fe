package engine

import (
	"bytes"
	"crypto/sha1"
	"fmt"

	"github.com/anacrolix/torrent/metainfo"
)

// Pieces is an item's piece layout: enough to check bytes of any of its
// files, wherever they came from, against the item's piece hashes.
type Pieces struct {
	InfoHash string
	Length   int64 // bytes per piece; the last may be shorter
	Size     int64 // bytes in the item
	Hashes   [][20]byte
	Files    []FileSpan // in the item's order
}

// FileSpan is where a file lies in the item's bytes.
type FileSpan struct {
	Path   string
	Offset int64
	Size   int64
}

// Pieces is the piece layout of an item whose metainfo this node knows.
func (e *Engine) Pieces(infohash string) (Pieces, error) {
	_, it, err := e.lookup(infohash)
	if err != nil {
		return Pieces{}, err
	}
	e.mu.Lock()
	ih := it.rec.InfoHash
	e.mu.Unlock()
	mi := e.metainfo(ih)
	if mi == nil {
		return Pieces{}, fmt.Errorf("%w: the metainfo of %s is not known yet", ErrNotFound, ih)
	}
	return ParsePieces(ih, mi)
}

// ParsePieces reads the piece layout from a .torrent file (as a gateway's
// /cdn/<infohash>.torrent serves it) and checks that its info dictionary
// hashes to infohash, so a layout from anyone can be trusted.
func ParsePieces(infohash string, torrent []byte) (Pieces, error) {
	want, err := parseInfoHash(infohash)
	if err != nil {
		return Pieces{}, err
	}
	mi, err := metainfo.Load(bytes.NewReader(torrent))
	if err != nil {
		return Pieces{}, fmt.Errorf("engine: the metainfo of %s: %w", infohash, err)
	}
	if got := mi.HashInfoBytes(); got != want {
		return Pieces{}, fmt.Errorf("engine: the metainfo given for %s is that of %s", want.HexString(), got.HexString())
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return Pieces{}, fmt.Errorf("engine: the metainfo of %s: %w", infohash, err)
	}
	if info.PieceLength <= 0 || len(info.Pieces)%20 != 0 || len(info.Pieces)/20 != info.NumPieces() {
		return Pieces{}, fmt.Errorf("engine: the metainfo of %s has a bad piece table", infohash)
	}
	p := Pieces{InfoHash: want.HexString(), Length: info.PieceLength, Size: info.TotalLength()}
	p.Hashes = make([][20]byte, len(info.Pieces)/20)
	for i := range p.Hashes {
		copy(p.Hashes[i][:], info.Pieces[i*20:])
	}
	var off int64
	for fi := range info.UpvertedV1Files() {
		p.Files = append(p.Files, FileSpan{Path: fi.DisplayPath(&info), Offset: off, Size: fi.Length})
		off += fi.Length
	}
	return p, nil
}

// File finds a file of the item by its path.
func (p Pieces) File(path string) (FileSpan, bool) {
	for _, f := range p.Files {
		if f.Path == path {
			return f, true
		}
	}
	return FileSpan{}, false
}

// Check tells whether data is piece i, whole.
func (p Pieces) Check(i int, data []byte) bool {
	if i < 0 || i >= len(p.Hashes) || int64(len(data)) != p.PieceSize(i) {
		return false
	}
	return sha1.Sum(data) == p.Hashes[i]
}

// PieceSize is the length of piece i.
func (p Pieces) PieceSize(i int) int64 {
	return min(p.Length, p.Size-int64(i)*p.Length)
}

// Spans lists the parts of files that hold the item's bytes [off, off+n):
// what to read, in order, to have those bytes.
func (p Pieces) Spans(off, n int64) []FileSpan {
	var out []FileSpan
	for _, f := range p.Files {
		lo, hi := max(off, f.Offset), min(off+n, f.Offset+f.Size)
		if lo < hi {
			out = append(out, FileSpan{Path: f.Path, Offset: lo - f.Offset, Size: hi - lo})
		}
	}
	return out
}
