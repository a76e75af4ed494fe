package engine

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent"
)

// Downloaders of one item split its pieces: each asks first for its own
// share, and all of them complete.
func TestDownloadersSplitThePieces(t *testing.T) {
	const size = 8 << 20
	seeder := newNode(t, func(c *Config) { c.UploadRate = 2 << 20 })
	data := writeFile(t, filepath.Join(seeder.dir, "film.mkv"), size, 21)
	item, err := seeder.Publish(ctx(t), filepath.Join(seeder.dir, "film.mkv"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var fetchers []*testNode
	addrs := []netip.AddrPort{seeder.addr()}
	for range 3 {
		f := newNode(t, nil)
		fetchers = append(fetchers, f)
		addrs = append(addrs, f.addr())
	}
	var downloads []*Download
	var outs []string
	for _, f := range fetchers {
		out := t.TempDir()
		d, err := f.Fetch(ctx(t), item.InfoHash, out)
		if err != nil {
			t.Fatal(err)
		}
		f.AddPeers(item.InfoHash, addrs)
		downloads, outs = append(downloads, d), append(outs, out)
	}

	// The three see each other as downloaders, take different ranks and
	// ask first for the pieces of their rank.
	eventually(t, 20*time.Second, "three downloaders with a share each", func() bool {
		ranks := map[int]bool{}
		for _, f := range fetchers {
			tt := f.torrentOf(t, item.InfoHash)
			if tt.Info() == nil {
				return false
			}
			r, k := shareOf(f.client.PeerID(), tt)
			if k != 3 || shareMismatch(tt, r, k) != "" {
				return false
			}
			ranks[r] = true
		}
		return len(ranks) == 3
	})
	for i, d := range downloads {
		wait(t, d, 60*time.Second)
		sameFile(t, filepath.Join(outs[i], "film.mkv"), data)
	}
	// How much the seeder sent depends on timing (a loaded machine forwards
	// late and the downloaders ask the seeder instead): logged, not
	// checked. docs/BENCHMARKS.md measures it on 8 nodes.
	up := seeder.status(item.InfoHash).Uploaded
	t.Logf("the seeder sent %.2f times the item", float64(up)/size)
}

// shareMismatch describes the first piece t lacks whose priority is not
// what share rank of k says ("" if none).
func shareMismatch(t *torrent.Torrent, rank, k int) string {
	for i := range t.NumPieces() {
		st := t.Piece(i).State()
		if st.Complete || st.Priority == torrent.PiecePriorityNone {
			continue // not wanted now: done, or being checked
		}
		want := torrent.PiecePriorityNormal
		if i%k == rank {
			want = torrent.PiecePriorityHigh
		}
		if st.Priority != want {
			return fmt.Sprintf("piece %d has priority %d, want %d", i, st.Priority, want)
		}
	}
	return ""
}

// torrentOf is the running torrent of an item.
func (n *testNode) torrentOf(t *testing.T, ih string) *torrent.Torrent {
	t.Helper()
	_, it, err := n.lookup(ih)
	if err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if it.t == nil {
		t.Fatalf("%s is not running", ih)
	}
	return it.t
}
