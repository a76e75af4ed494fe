package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/anacrolix/dht/v2"
	"github.com/anacrolix/dht/v2/krpc"
	peer_store "github.com/anacrolix/dht/v2/peer-store"
	"github.com/anacrolix/torrent"
)

// dhtServers are the client's anacrolix DHT servers (one per UDP socket).
func (e *Engine) dhtServers() []*dht.Server {
	var out []*dht.Server
	for _, s := range e.client.DhtServers() {
		if w, ok := s.(torrent.AnacrolixDhtServerWrapper); ok {
			out = append(out, w.Server)
		}
	}
	return out
}

// DHTAnnounce announces this node at port under key (any 20 bytes, such as
// a hash of the network name) to the DHT nodes closest to it. It returns once
// the announce is done, or with an error if no DHT node answered.
func (e *Engine) DHTAnnounce(ctx context.Context, key [20]byte, port int) error {
	if port <= 0 || port > 65535 {
		return fmt.Errorf("%w: DHT announce: port %d", ErrBadInput, port)
	}
	servers := e.dhtServers()
	if len(servers) == 0 {
		return ErrNoDHT
	}
	var errs []error
	answered := false
	for _, s := range servers {
		a, err := s.AnnounceTraversal(key, dht.AnnouncePeer(dht.AnnouncePeerOpts{Port: port}))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		_, err = drain(ctx, a)
		if a.TraversalStats().NumResponses > 0 {
			answered = true
		}
		if err != nil {
			return fmt.Errorf("engine: DHT announce: %w", err)
		}
	}
	if !answered {
		errs = append(errs, errors.New("no DHT node answered"))
		return fmt.Errorf("engine: DHT announce: %w", errors.Join(errs...))
	}
	return nil
}

// DHTPeers looks up the peers announced under key: those the DHT nodes
// closest to it know, and those announced to this node itself.
func (e *Engine) DHTPeers(ctx context.Context, key [20]byte) ([]netip.AddrPort, error) {
	servers := e.dhtServers()
	if len(servers) == 0 {
		return nil, ErrNoDHT
	}
	seen := map[netip.AddrPort]bool{}
	var out []netip.AddrPort
	add := func(na krpc.NodeAddr) {
		ip, ok := netip.AddrFromSlice(na.IP)
		if !ok || na.Port <= 0 || na.Port > 65535 {
			return
		}
		ap := netip.AddrPortFrom(ip.Unmap(), uint16(na.Port))
		if !seen[ap] {
			seen[ap] = true
			out = append(out, ap)
		}
	}
	for _, na := range e.peers.GetPeers(key) {
		add(na)
	}
	var errs []error
	answered := false
	for _, s := range servers {
		a, err := s.AnnounceTraversal(key)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		found, err := drain(ctx, a)
		for _, na := range found {
			add(na)
		}
		if a.TraversalStats().NumResponses > 0 {
			answered = true
		}
		if err != nil {
			return out, fmt.Errorf("engine: DHT lookup: %w", err)
		}
	}
	if len(out) == 0 && !answered {
		errs = append(errs, errors.New("no DHT node answered"))
		return nil, fmt.Errorf("engine: DHT lookup: %w", errors.Join(errs...))
	}
	return out, nil
}

// drain collects an announce's peers until it finishes or ctx ends. The
// traversal blocks until its Peers are read, so they always must be.
func drain(ctx context.Context, a *dht.Announce) ([]krpc.NodeAddr, error) {
	defer a.Close()
	var found []krpc.NodeAddr
	for {
		select {
		case pv, ok := <-a.Peers:
			if !ok {
				<-a.Finished()
				return found, nil
			}
			found = append(found, pv.Peers...)
		case <-ctx.Done():
			// Stopped early: let the traversal end before the caller reads
			// its stats (they are not safe to read while it runs).
			a.Close()
			for range a.Peers {
			}
			<-a.Finished()
			return found, ctx.Err()
		}
	}
}

// AddDHTNodes tells the DHT about nodes (members' BitTorrent ports).
func (e *Engine) AddDHTNodes(addrs []netip.AddrPort) {
	for _, s := range e.dhtServers() {
		for _, ap := range addrs {
			if !ap.IsValid() || ap.Port() == 0 {
				continue
			}
			// A node with an unknown ID is pinged, and joins the table if it answers.
			s.AddNode(krpc.NodeInfo{Addr: krpc.NodeAddr{IP: net.IP(ap.Addr().Unmap().AsSlice()), Port: int(ap.Port())}})
		}
	}
}

// DHTNodes lists the nodes in the DHT routing tables, each once: a node
// known to several DHT servers (one per socket) is one node.
func (e *Engine) DHTNodes() []netip.AddrPort {
	seen := map[netip.AddrPort]bool{}
	var out []netip.AddrPort
	for _, s := range e.dhtServers() {
		for _, ni := range s.Nodes() {
			ip, ok := netip.AddrFromSlice(ni.Addr.IP)
			if !ok {
				continue
			}
			ap := netip.AddrPortFrom(ip.Unmap(), uint16(ni.Addr.Port))
			if !seen[ap] {
				seen[ap] = true
				out = append(out, ap)
			}
		}
	}
	return out
}

// peerStore keeps the peers announced to this DHT node. Unlike anacrolix's
// in-memory store it keys peers by address and port, so several nodes on
// one IP (127.0.0.1 in tests, one machine in a LAN) are all remembered.
type peerStore struct {
	mu    sync.Mutex
	peers map[peer_store.InfoHash]map[netip.AddrPort]time.Time
}

const (
	peerTTL        = 30 * time.Minute
	maxPeersPerKey = 1000
	maxPeerKeys    = 10000
)

var _ peer_store.Interface = (*peerStore)(nil)

func newPeerStore() *peerStore {
	return &peerStore{peers: make(map[peer_store.InfoHash]map[netip.AddrPort]time.Time)}
}

func (ps *peerStore) AddPeer(ih peer_store.InfoHash, na krpc.NodeAddr) {
	ip, ok := netip.AddrFromSlice(na.IP)
	if !ok || na.Port <= 0 || na.Port > 65535 {
		return
	}
	ap := netip.AddrPortFrom(ip.Unmap(), uint16(na.Port))
	now := time.Now()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	m := ps.peers[ih]
	if m == nil {
		if len(ps.peers) >= maxPeerKeys {
			for k := range ps.peers {
				ps.expire(k, now)
			}
			if len(ps.peers) >= maxPeerKeys {
				return // full of live entries: a busy public DHT, not a group
			}
		}
		m = make(map[netip.AddrPort]time.Time)
		ps.peers[ih] = m
	}
	if _, ok := m[ap]; !ok && len(m) >= maxPeersPerKey {
		ps.expire(ih, now)
		if len(m) >= maxPeersPerKey {
			return
		}
	}
	m[ap] = now
}

func (ps *peerStore) GetPeers(ih peer_store.InfoHash) []krpc.NodeAddr {
	now := time.Now()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.expire(ih, now)
	var out []krpc.NodeAddr
	for ap := range ps.peers[ih] {
		out = append(out, krpc.NodeAddr{IP: net.IP(ap.Addr().AsSlice()), Port: int(ap.Port())})
	}
	return out
}

func (ps *peerStore) expire(ih peer_store.InfoHash, now time.Time) {
	for ap, at := range ps.peers[ih] {
		if now.Sub(at) > peerTTL {
			delete(ps.peers[ih], ap)
		}
	}
	if len(ps.peers[ih]) == 0 {
		delete(ps.peers, ih)
	}
}
