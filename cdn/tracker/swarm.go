package tracker

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"time"
)

// peer is one client in one swarm, known by its peer id.
type peer struct {
	addr      netip.AddrPort
	key       string // the client's "key" parameter, if it sent one
	seeder    bool
	completed bool // it reported event=completed once
	last      time.Time
}

type swarm struct {
	peers      map[[20]byte]*peer
	seeders    int
	downloaded int
}

func (sw *swarm) info() Swarm {
	return Swarm{Complete: sw.seeders, Incomplete: len(sw.peers) - sw.seeders, Downloaded: sw.downloaded}
}

var (
	errFull      = errors.New("tracker is full, try again later")
	errKeyChange = errors.New("peer id announced from another address with another key")
)

// update applies one announce to the swarm state and returns the swarm.
// Called with t.mu held.
func (t *Tracker) update(a *announce, now time.Time) (*swarm, error) {
	t.sweepEvery(now)
	sw := t.swarms[a.infoHash]
	if sw != nil {
		t.expireSwarm(a.infoHash, sw, now)
		sw = t.swarms[a.infoHash]
	}
	var p *peer
	if sw != nil {
		if p = sw.peers[a.peerID]; p == nil {
			t.dropRestarted(sw, a)
			sw = t.swarms[a.infoHash] // nil if that emptied it
		}
	}
	if p != nil && p.addr != a.addr && p.key != "" && p.key != a.key {
		// Someone else using a known peer id from elsewhere: do not let
		// them move the peer.
		return nil, errKeyChange
	}
	if a.event == "stopped" {
		if p != nil {
			t.drop(sw, a.infoHash, a.peerID, p)
		}
		if sw == nil {
			return &swarm{}, nil
		}
		return sw, nil
	}
	if sw == nil {
		if len(t.swarms) >= t.cfg.MaxTorrents {
			t.sweep(now)
			if len(t.swarms) >= t.cfg.MaxTorrents {
				return nil, errFull
			}
		}
		sw = &swarm{peers: make(map[[20]byte]*peer)}
		t.swarms[a.infoHash] = sw
	}
	if p == nil {
		if t.peers >= t.cfg.MaxPeers {
			t.sweep(now)
			if t.peers >= t.cfg.MaxPeers {
				if len(sw.peers) == 0 {
					delete(t.swarms, a.infoHash)
				}
				return nil, errFull
			}
		}
		p = &peer{}
		sw.peers[a.peerID] = p
		t.peers++
	}
	if p.seeder {
		sw.seeders--
	}
	p.addr, p.last = a.addr, now
	if a.key != "" {
		p.key = a.key
	}
	p.seeder = a.left == 0
	if p.seeder {
		sw.seeders++
	}
	if a.event == "completed" && !p.completed {
		p.completed = true
		sw.downloaded++
	}
	return sw, nil
}

// dropRestarted drops the entry of sw at the address of a, an announce
// with a peer id sw does not know: a client that restarted comes back with
// a new peer id from the same address, and its old entry would otherwise
// be handed to others (and to itself) next to the new one until it
// expired. Called with t.mu held.
func (t *Tracker) dropRestarted(sw *swarm, a *announce) {
	for id, old := range sw.peers {
		if old.addr == a.addr {
			t.drop(sw, a.infoHash, id, old)
			return
		}
	}
}

// pick chooses up to n peers of sw for the announcer at random, leaving out
// the announcer. A seeder gets the leechers first and the other seeders
// after them, not none of them: a client fetching a magnet's metadata
// does not know the size yet and says left=0 (aria2 does), and would get
// no one to fetch it from.
func pick(sw *swarm, self [20]byte, seeder bool, n int) []peerOut {
	var first, then []peerOut
	for id, p := range sw.peers {
		switch {
		case id == self:
		case seeder && p.seeder:
			then = append(then, peerOut{id: id, addr: p.addr})
		default:
			first = append(first, peerOut{id: id, addr: p.addr})
		}
	}
	shuffle(first)
	shuffle(then)
	cands := append(first, then...)
	return cands[:min(n, len(cands))]
}

// shuffle puts ps in a random order.
func shuffle(ps []peerOut) {
	rand.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
}

type peerOut struct {
	id   [20]byte
	addr netip.AddrPort
}

// drop removes one peer. Called with t.mu held.
func (t *Tracker) drop(sw *swarm, ih, id [20]byte, p *peer) {
	if p.seeder {
		sw.seeders--
	}
	delete(sw.peers, id)
	t.peers--
	if len(sw.peers) == 0 {
		delete(t.swarms, ih)
	}
}

// ttl is how long a peer is kept without announcing.
func (t *Tracker) ttl() time.Duration { return 2 * t.cfg.Interval }

// expireSwarm forgets sw's peers that stopped announcing. Called with t.mu
// held.
func (t *Tracker) expireSwarm(ih [20]byte, sw *swarm, now time.Time) {
	for id, p := range sw.peers {
		if now.Sub(p.last) > t.ttl() {
			t.drop(sw, ih, id, p)
		}
	}
}

// sweep expires every swarm. Called with t.mu held.
func (t *Tracker) sweep(now time.Time) {
	for ih, sw := range t.swarms {
		t.expireSwarm(ih, sw, now)
	}
	t.lastSweep = now
}

// sweepEvery sweeps at most once per MinInterval, so memory of peers gone
// from quiet swarms is given back without a goroutine of its own.
func (t *Tracker) sweepEvery(now time.Time) {
	if now.Sub(t.lastSweep) >= t.cfg.MinInterval {
		t.sweep(now)
	}
}

var errBadScrapeHash = errors.New("info_hash must be 20 bytes, URL-escaped")
