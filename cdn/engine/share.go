package engine

import (
	"bytes"
	"slices"
	"time"

	"github.com/anacrolix/torrent"
)

// Downloaders of the same item split the pieces between them.
//
// anacrolix asks a peer for the rarest pieces first, with ties broken in a
// random order of its own. When several nodes fetch a new item from one
// seeder, every piece is equally rare (only the seeder has it) until one of
// them has it, and a piece already on its way to one downloader still looks
// untaken to the others: they ask the seeder for it too, and the seeder's
// upload, the swarm's bottleneck, carries it twice. With 8 nodes the seeder
// sent 1.35 times the item.
//
// So each downloader takes a share: the downloaders it is connected to
// (itself included, seeds excluded) are ordered by peer ID, and the one at
// rank r of k asks first (high priority) for the pieces i with i mod k = r.
// The seeder then sends each piece to about one downloader, which passes
// it on to the others; the other pieces keep normal priority and come from
// whoever has them. Nodes connected to the same downloaders (a group is
// fully connected) agree on the split without a word; when they do not,
// some pieces are wanted first by two or by none, which costs no more than
// no split at all. Readers (the gateway) still go first: their priorities
// are higher than high.
//
// The split only helps while downloaders keep few requests open at each
// peer, so that they ask the seeder for their own share and not for pieces
// beyond it: see maxRequestsPerPeer.

// shareInterval is how often a download looks at who else downloads.
const shareInterval = 200 * time.Millisecond

// sharePieces keeps a download's share of the pieces at high priority
// until it is complete.
func (e *Engine) sharePieces(t *torrent.Torrent) {
	defer e.wg.Done()
	tick := time.NewTicker(shareInterval)
	defer tick.Stop()
	self := e.client.PeerID()
	rank, k := 0, 1
	for {
		if r, n := shareOf(self, t); r != rank || n != k {
			rank, k = r, n
			setShare(t, rank, k)
		}
		select {
		case <-tick.C:
		case <-t.Complete().On():
			return
		case <-t.Closed():
			return
		case <-e.ctx.Done():
			return
		}
	}
}

// shareOf returns this node's rank among the downloaders of t it is
// connected to, and how many they are (itself included).
func shareOf(self torrent.PeerID, t *torrent.Torrent) (rank, k int) {
	n := uint64(t.NumPieces())
	ids := [][]byte{self[:]}
	for _, pc := range t.PeerConns() {
		if pc.PeerPieces().GetCardinality() >= n {
			continue // a seed
		}
		id := pc.PeerID
		if !slices.ContainsFunc(ids, func(b []byte) bool { return bytes.Equal(b, id[:]) }) {
			ids = append(ids, id[:])
		}
	}
	slices.SortFunc(ids, bytes.Compare)
	return slices.IndexFunc(ids, func(b []byte) bool { return bytes.Equal(b, self[:]) }), len(ids)
}

// setShare raises the pieces of share rank of k that t still lacks to high
// priority and puts the others back to normal, where DownloadAll put them.
func setShare(t *torrent.Torrent, rank, k int) {
	for i := range t.NumPieces() {
		p := t.Piece(i)
		if p.State().Complete {
			continue
		}
		prio := torrent.PiecePriorityNormal
		if k > 1 && i%k == rank {
			prio = torrent.PiecePriorityHigh
		}
		p.SetPriority(prio)
	}
}
