//go:build !linux

package naming

import "net"

// udpSockets is 1 where SO_REUSEPORT does not spread load (macOS gives
// all datagrams to one socket) or does not exist (Windows).
func udpSockets() int { return 1 }

func udpListenConfig() net.ListenConfig { return net.ListenConfig{} }
