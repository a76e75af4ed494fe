package engine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/shoal-p2p/shoal/storage"
)

// torrentBytes encodes a .torrent around info, for building bad ones.
func torrentBytes(t *testing.T, info any) []byte {
	t.Helper()
	ib, err := bencode.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bencode.Marshal(metainfo.MetaInfo{InfoBytes: ib})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBadInputsStoreNothing(t *testing.T) {
	n := newNode(t, nil)
	pieces := string(make([]byte, 20))
	good := metainfo.Info{Name: "ok.bin", PieceLength: 16 << 10, Length: 100, Pieces: []byte(pieces)}

	for _, spec := range []string{
		"",
		"hello",
		"0123456789abcdef",
		strings.Repeat("g", 40),
		strings.Repeat("1", 39),
		"magnet:?dn=nohash",
		"magnet:?xt=urn:btih:xyz",
		"magnet:?xt=urn:btih:" + strings.Repeat("z", 40),
		"magnet:?xt=urn:btih:" + strings.Repeat("a", 40) + "&x.pe=not-an-address",
		"magnet:?xt=urn:btih:" + strings.Repeat("a", 40) + "&tr=file:///etc/passwd",
		"magnet:%%",
		"http://example.com/" + strings.Repeat("a", 40),
	} {
		if d, err := n.Fetch(ctx(t), spec, ""); err == nil || !errors.Is(err, ErrBadInput) {
			t.Errorf("Fetch(%q) = %v, %v; want ErrBadInput", spec, d, err)
		}
	}

	badTorrents := map[string][]byte{
		"garbage":         []byte("this is not bencode"),
		"empty":           nil,
		"no info":         []byte("d8:announce3:urle"),
		"info not a dict": []byte("d4:infoi42ee"),
	}
	for name, info := range map[string]metainfo.Info{
		"short pieces":   {Name: "x", PieceLength: 16 << 10, Length: 100, Pieces: []byte("123")},
		"wrong count":    {Name: "x", PieceLength: 16 << 10, Length: 100_000, Pieces: []byte(pieces)},
		"no length":      {Name: "x", PieceLength: 16 << 10, Pieces: []byte(pieces)},
		"zero piece len": {Name: "x", Length: 100, Pieces: []byte(pieces)},
		"dotdot name":    {Name: "..", PieceLength: 16 << 10, Length: 100, Pieces: []byte(pieces)},
		"slash name":     {Name: "a/b", PieceLength: 16 << 10, Length: 100, Pieces: []byte(pieces)},
		"traversal path": {Name: "x", PieceLength: 16 << 10, Pieces: []byte(pieces),
			Files: []metainfo.FileInfo{{Path: []string{"..", "..", "etc", "passwd"}, Length: 100}}},
		"absolute path": {Name: "x", PieceLength: 16 << 10, Pieces: []byte(pieces),
			Files: []metainfo.FileInfo{{Path: []string{"", "etc"}, Length: 100}}},
		"duplicate path": {Name: "x", PieceLength: 16 << 10, Pieces: []byte(pieces),
			Files: []metainfo.FileInfo{{Path: []string{"a"}, Length: 50}, {Path: []string{"a"}, Length: 50}}},
	} {
		badTorrents[name] = torrentBytes(t, info)
	}
	for name, mi := range badTorrents {
		if d, err := n.AddTorrent(ctx(t), mi, ""); !errors.Is(err, ErrBadInput) {
			t.Errorf("AddTorrent(%s) = %v, %v; want ErrBadInput", name, d, err)
		}
	}

	empty := filepath.Join(n.dir, "empty")
	os.MkdirAll(filepath.Join(empty, "sub"), 0o755)
	zero := filepath.Join(n.dir, "zero.bin")
	os.WriteFile(zero, nil, 0o644)
	for name, try := range map[string]func() error{
		"missing path": func() error { _, err := n.Publish(ctx(t), filepath.Join(n.dir, "nope"), "", nil); return err },
		"empty folder": func() error { _, err := n.Publish(ctx(t), empty, "", nil); return err },
		"empty file":   func() error { _, err := n.Publish(ctx(t), zero, "", nil); return err },
		"name a/b":     func() error { _, err := n.Publish(ctx(t), zero, "a/b", nil); return err },
		"name ..":      func() error { _, err := n.Publish(ctx(t), zero, "..", nil); return err },
		"special file": func() error { _, err := n.Publish(ctx(t), "/dev/null", "", nil); return err },
		"unknown item": func() error { return n.Pause(strings.Repeat("a", 40)) },
		"bad hash":     func() error { return n.Remove("xyz", true) },
		"peers of bad": func() error { _, err := n.AddPeers("xyz", nil); return err },
	} {
		if err := try(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}

	if l := n.List(); len(l) != 0 {
		t.Errorf("List after bad inputs = %+v", l)
	}
	n.db.View(func(tx *storage.Tx) error {
		for _, b := range []string{itemsBucket, metainfoBucket, accessBucket, completionBucket} {
			if bk := tx.Bucket([]byte(b)); bk != nil && bk.Stats().KeyN != 0 {
				t.Errorf("bucket %s has %d keys after bad inputs", b, bk.Stats().KeyN)
			}
		}
		return nil
	})

	// And a good one works on the same engine.
	if _, err := n.AddTorrent(ctx(t), torrentBytes(t, good), t.TempDir()); err != nil {
		t.Errorf("good .torrent: %v", err)
	}
}

func TestPieceLength(t *testing.T) {
	for _, c := range []struct{ size, want int64 }{
		{1, 16 << 10},
		{4 << 20, 16 << 10},
		{31 << 20, 16 << 10},
		{32 << 20, 32 << 10},
		{1 << 30, 1 << 20},
		{50 << 30, 16 << 20},
		{1 << 40, 16 << 20},
	} {
		got := pieceLength(c.size)
		if got != c.want {
			t.Errorf("pieceLength(%d) = %d, want %d", c.size, got, c.want)
		}
		if n := (c.size + got - 1) / got; c.size >= 64<<20 && c.size <= 16<<30 && (n < 1000 || n > 2000) {
			t.Errorf("pieceLength(%d) gives %d pieces", c.size, n)
		}
	}
}
