package naming

import (
	"net"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// udpSockets is how many UDP sockets for dns.Server share the server's
// port where the sockets of its own do not apply (see listenRawUDP): one
// per CPU, each read by its own loop, the kernel spreading clients over
// them (SO_REUSEPORT). A single reading loop would put every query in one
// queue.
func udpSockets() int { return min(runtime.GOMAXPROCS(0), 8) }

// udpListenConfig sets SO_REUSEPORT on the sockets. Only sockets of the
// same user can join; the TCP listener, bound without it, still makes a
// second server on a taken port fail.
func udpListenConfig() net.ListenConfig {
	return net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
}
