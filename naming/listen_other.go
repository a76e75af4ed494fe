//go:build !linux

package naming

import (
	"net"
	"net/netip"
)

// udpSockets is 1 where SO_REUSEPORT does not spread load (macOS gives
// all datagrams to one socket) or does not exist (Windows).
func udpSockets() int { return 1 }

func udpListenConfig() net.ListenConfig { return net.ListenConfig{} }

// listenRawUDP binds no sockets: elsewhere than on Linux, dns.Server on
// the netpoller serves UDP.
func listenRawUDP(netip.AddrPort) ([]udpLoop, error) { return nil, nil }
