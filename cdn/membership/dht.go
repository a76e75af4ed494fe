package membership

import (
	"context"
	"net/netip"
	"time"
)

// DHT is what discovery needs from the node's DHT: announce a port under a
// key, and find who announced under it. The node's BitTorrent engine
// satisfies it; a nil DHT turns discovery off.
type DHT interface {
	DHTAnnounce(ctx context.Context, key [20]byte, port int) error
	DHTPeers(ctx context.Context, key [20]byte) ([]netip.AddrPort, error)
}

// Bounds of one discovery pass.
const (
	dhtTimeout  = 30 * time.Second
	dhtMaxJoins = 8
)

// discover announces this node's peer API under the network's key and joins
// through the peers found there that are not known members yet.
func (t *Table) discover(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, dhtTimeout)
	defer cancel()
	key := DHTKey(t.cfg.Network)
	if t.cfg.DHTKey != nil {
		key = t.cfg.DHTKey()
	}
	self := t.Self()
	if port := self.Ports[PeerPort]; port > 0 {
		if err := t.cfg.DHT.DHTAnnounce(ctx, key, port); err != nil {
			t.log.Debug("membership: DHT announce", "err", err)
		}
	}
	peers, err := t.cfg.DHT.DHTPeers(ctx, key)
	if err != nil {
		t.log.Debug("membership: DHT peers", "err", err)
		return
	}
	known := make(map[string]bool)
	for _, m := range t.Members() {
		for _, a := range m.Record.PeerAddrs() {
			known[a] = true
		}
	}
	joins := 0
	for _, p := range peers {
		addr := p.String()
		if known[addr] || !p.IsValid() || p.Port() == 0 {
			continue
		}
		known[addr] = true
		if joins++; joins > dhtMaxJoins {
			break
		}
		if err := t.Join(ctx, addr); err != nil {
			t.log.Debug("membership: join through DHT", "addr", addr, "err", err)
		} else {
			t.log.Info("membership: joined through the DHT", "addr", addr)
		}
	}
}
