package cdn

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/shoal-p2p/shoal/cdn/membership"
)

// maxAdvertised bounds the addresses a node puts in its record (the
// record itself allows 16).
const maxAdvertised = 8

// advertised are the addresses other members reach this node at: the bind
// address, or, when the node listens on every address (0.0.0.0 or ::),
// the machine's own (of which machine gives the list).
func advertised(bind netip.Addr, machine func() ([]netip.Addr, error)) ([]netip.Addr, error) {
	if !bind.IsUnspecified() {
		return []netip.Addr{bind}, nil
	}
	addrs, err := machine()
	if err != nil {
		return nil, fmt.Errorf("cdn: list the machine's addresses for bind %s: %w", bind, err)
	}
	return chooseAdvertised(bind, addrs), nil
}

// interfaceAddrs are the addresses of the machine's network interfaces.
func interfaceAddrs() ([]netip.Addr, error) {
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	for _, a := range ifaddrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			addrs = append(addrs, p.Addr())
		}
	}
	return addrs, nil
}

// followAddrs keeps the advertised addresses of a node bound to all
// addresses those of the machine, looking every AddressInterval: when a
// laptop moves to another network, its record (signed anew and gossiped),
// its magnets and its tracker announces follow without a restart.
func (c *CDN) followAddrs(ctx context.Context) {
	tick := time.NewTicker(c.cfg.Membership.AddressInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		addrs, err := advertised(c.cfg.Bind, c.cfg.MachineAddrs)
		if err != nil {
			c.cfg.Log.Warn("cannot list the machine's addresses", "err", err)
			continue
		}
		if old := *c.addrs.Load(); slices.Equal(old, addrs) {
			continue
		}
		c.cfg.Log.Info("the machine's addresses changed", "addresses", addrs)
		c.addrs.Store(&addrs)
		c.Engine.SetAddr(addrs[0])
		if _, err := c.Members.UpdateSelf(func(r *membership.Record) { r.Addresses = addrs }); err != nil {
			c.cfg.Log.Warn("cannot update this node's record with its new addresses", "err", err)
		}
	}
}

// chooseAdvertised picks, from the machine's addresses, those a node bound
// to the unspecified address bind is reached at: of bind's family (both for
// ::, which Linux serves dual-stack), neither link-local (they need a zone)
// nor multicast; IPv4 before IPv6, private (LAN) before public. Loopback
// only when there is nothing else, so a lone machine still works.
func chooseAdvertised(bind netip.Addr, addrs []netip.Addr) []netip.Addr {
	var out, loop []netip.Addr
	for _, a := range addrs {
		a = a.Unmap()
		switch {
		case bind.Is4() && !a.Is4(),
			!a.IsValid(), a.IsUnspecified(), a.IsMulticast(),
			a.IsLinkLocalUnicast(), a.Zone() != "",
			slices.Contains(out, a), slices.Contains(loop, a):
		case a.IsLoopback():
			loop = append(loop, a)
		default:
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		out = loop
	}
	if len(out) == 0 { // not even loopback listed: still this machine
		out = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	}
	rank := func(a netip.Addr) int {
		switch {
		case a.Is4() && a.IsPrivate():
			return 0
		case a.Is4():
			return 1
		case a.IsPrivate():
			return 3 // IPv6 unique local
		default:
			return 2
		}
	}
	slices.SortStableFunc(out, func(a, b netip.Addr) int { return rank(a) - rank(b) })
	if len(out) > maxAdvertised {
		out = out[:maxAdvertised]
	}
	return out
}
