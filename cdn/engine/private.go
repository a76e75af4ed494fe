package engine

import (
	"net"
	"net/netip"

	"github.com/anacrolix/torrent/iplist"
)

// memberFilter is anacrolix's IP block list turned round: it blocks every
// address that allow does not take. anacrolix asks it for accepted
// connections and for the peers it would dial, whatever their source.
type memberFilter struct{ allow func(netip.Addr) bool }

func (f memberFilter) Lookup(ip net.IP) (iplist.Range, bool) {
	a, ok := netip.AddrFromSlice(ip)
	if ok && f.allow != nil && f.allow(a.Unmap()) {
		return iplist.Range{}, false
	}
	return iplist.Range{First: ip, Last: ip, Description: "not a member of the private network"}, true
}

// NumRanges is 1: the list is not empty.
func (memberFilter) NumRanges() int { return 1 }
