package cdn

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
)

// maxAdvertised bounds the addresses a node puts in its record (the
// record itself allows 16).
const maxAdvertised = 8

// advertised are the addresses other members reach this node at: the bind
// address, or, when the node listens on every address (0.0.0.0 or ::),
// the machine's own.
func advertised(bind netip.Addr) ([]netip.Addr, error) {
	if !bind.IsUnspecified() {
		return []netip.Addr{bind}, nil
	}
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("cdn: list the machine's addresses for bind %s: %w", bind, err)
	}
	var addrs []netip.Addr
	for _, a := range ifaddrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			addrs = append(addrs, p.Addr())
		}
	}
	return chooseAdvertised(bind, addrs), nil
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
