package naming

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// rawUDP is one of the server's UDP sockets on Linux: a blocking socket
// of its own, outside Go's netpoller, served by rawWorkers goroutines as
// leader and followers. The leader sleeps in the kernel until datagrams
// come and takes up to rawBatchSize of them in one call (recvmmsg(2)); it
// answers those that need no waiting (see handleUDP) and sends the
// answers in one call (sendmmsg(2)), as a C server's thread would: no
// parking and waking of goroutines through epoll and the scheduler between
// queries. When it finds a backlog (at least rawHandOff datagrams), it
// hands the lead to a follower, which reads the next batch while it
// answers this one; the followers wait in Go. Queries that must wait (an
// upstream) get a goroutine each, as with dns.Server, which sends the
// answer on the same socket.
//
// Only the leader sleeps in the kernel, where the runtime counts it in a
// system call, holding its P: see rawUDPSockets. The workers are not
// locked to their threads: a goroutine in a system call keeps its thread
// anyway, and the yield of a locked goroutine (see rawYieldEvery) hands
// its P to another thread and back, which costs more.
//
// On a socket bound to all addresses (0.0.0.0, ::) an answer must leave
// from the address its query was sent to: a client, whether it checks the
// source or has connected its socket, drops an answer from another of the
// machine's addresses, and the kernel would pick the address of the route
// back. The kernel then gives each datagram its destination in a control
// message (IP_PKTINFO, IPV6_PKTINFO), and the answer carries it back as
// its source (see pktDst). Bound to one address, the socket's address is
// the source: no control messages, on either side.
//
// The socket is closed only once its workers and the goroutines they
// started are done (see Server.shutdownLocked): no one uses a closed
// descriptor.
type rawUDP struct {
	fd int
	// pktinfo is, bound to all addresses, the family of the control
	// messages that carry destinations and sources (AF_INET, AF_INET6);
	// 0 bound to one address.
	pktinfo int
	lead    chan struct{} // holds the lead while no worker has it
	done    chan struct{} // closed by stop
	stopped atomic.Bool
	closed  atomic.Bool
}

const (
	// rawBatchSize is the most datagrams a worker takes in one call.
	rawBatchSize = 16
	// rawWorkers is the number of goroutines serving a socket.
	rawWorkers = 2
	// rawHandOff is the batch from which the leader hands the lead on
	// before answering: a smaller one is no sign of a backlog, and
	// waking a follower costs more than answering a few datagrams.
	rawHandOff = 4
	// rawSockaddrSize holds a sockaddr_in or a sockaddr_in6.
	rawSockaddrSize = unix.SizeofSockaddrInet6
	// rawCtlSize holds the control messages of a datagram on a socket
	// bound to all addresses: one in_pktinfo or in6_pktinfo (40 bytes on
	// 64-bit systems), with room to spare should the kernel add one; what
	// does not fit is cut (MSG_CTRUNC), never written past the buffer.
	rawCtlSize = 64
	// rawYieldEvery is how often a busy worker passes through the
	// scheduler. The runtime takes a goroutine that has not for 10ms for
	// one that runs too long: it preempts it, takes its P while it sleeps
	// in the kernel and wakes every 20µs for a while after to watch,
	// which costs much more than the yield.
	rawYieldEvery = 5 * time.Millisecond
	// rawRecvTimeout bounds the leader's sleep in the kernel, so that it
	// sees stop even if shutdown(2) did not wake it.
	rawRecvTimeout = time.Second
)

// rawUDPSockets is how many sockets of its own the server reads on one
// address: one per two Ps, at most 8; none with a single P (dns.Server on
// the netpoller then serves UDP). A leader asleep in the kernel keeps its
// P, so half the Ps stay free for the rest of the node. With every P held
// by a sleeping leader, a goroutine made ready (a forwarded query, its
// upstream's answer, any of the node's work) waits for the runtime's
// monitor to take a P back: measured with a sleeping reader on each of two
// Ps, forwarded queries' p99 went from ~1ms to 10-15ms.
func rawUDPSockets() int {
	if p := runtime.GOMAXPROCS(0); p >= 2 {
		return min(p/2, 8)
	}
	return 0
}

// listenRawUDP binds rawUDPSockets() blocking UDP sockets sharing ap
// (SO_REUSEPORT), on one address or on all (0.0.0.0, ::). It returns
// none, and no error, where they do not apply: a single P, or an address
// with a zone.
func listenRawUDP(ap netip.AddrPort) ([]udpLoop, error) {
	a := ap.Addr().Unmap()
	n := rawUDPSockets()
	if n == 0 || a.Zone() != "" {
		return nil, nil
	}
	var loops []udpLoop
	for range n {
		u, err := bindRawUDP(netip.AddrPortFrom(a, ap.Port()))
		if err != nil {
			for _, l := range loops {
				_ = l.Close()
			}
			return nil, err
		}
		loops = append(loops, u)
	}
	return loops, nil
}

// bindRawUDP opens a blocking UDP socket bound to ap.
func bindRawUDP(ap netip.AddrPort) (*rawUDP, error) {
	var domain int
	var sa unix.Sockaddr
	if ap.Addr().Is4() {
		domain, sa = unix.AF_INET, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		domain, sa = unix.AF_INET6, &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	fd, err := unix.Socket(domain, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("naming: listen udp %s: socket: %w", ap, err)
	}
	u := &rawUDP{fd: fd, lead: make(chan struct{}, 1), done: make(chan struct{})}
	if ap.Addr().IsUnspecified() {
		u.pktinfo = domain
	}
	if err := u.setOptions(); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("naming: listen udp %s: %w", ap, err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("naming: listen udp %s: %w", ap, err)
	}
	u.lead <- struct{}{}
	return u, nil
}

// setOptions sets the socket's options before it is bound: SO_REUSEPORT,
// the receive timeout, and on all addresses the control messages.
func (u *rawUDP) setOptions() error {
	if err := unix.SetsockoptInt(u.fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		return fmt.Errorf("SO_REUSEPORT: %w", err)
	}
	tv := unix.NsecToTimeval(rawRecvTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(u.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fmt.Errorf("SO_RCVTIMEO: %w", err)
	}
	switch u.pktinfo {
	case unix.AF_INET:
		if err := unix.SetsockoptInt(u.fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1); err != nil {
			return fmt.Errorf("IP_PKTINFO: %w", err)
		}
	case unix.AF_INET6:
		// Dual stack whatever net.ipv6.bindv6only says, as Go binds the
		// server's TCP listener on ::. IPv4 datagrams then come with an
		// IPV6_PKTINFO too, their destination v4-mapped, and the kernel
		// takes one back as the source of an answer to IPv4.
		if err := unix.SetsockoptInt(u.fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err != nil {
			return fmt.Errorf("IPV6_V6ONLY: %w", err)
		}
		if err := unix.SetsockoptInt(u.fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1); err != nil {
			return fmt.Errorf("IPV6_RECVPKTINFO: %w", err)
		}
	}
	return nil
}

// mmsghdr is struct mmsghdr of recvmmsg(2) and sendmmsg(2) (Go pads it
// to its alignment as C does).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// rawBatch is a reader's memory, reused from call to call: the datagrams
// read with their sources (and, bound to all addresses, destinations), and
// the answers to send.
type rawBatch struct {
	bufs  [rawBatchSize][dns.DefaultMsgSize]byte
	names [rawBatchSize][rawSockaddrSize]byte
	iov   [rawBatchSize]unix.Iovec
	in    [rawBatchSize]mmsghdr
	oiov  [rawBatchSize]unix.Iovec
	out   [rawBatchSize]mmsghdr
	sc    [rawBatchSize]udpScratch // for handleUDP, one per datagram
	ctl   [rawBatchSize]cmsgBuf    // the datagrams' control messages
	octl  [rawBatchSize]cmsgBuf    // the answers'
}

// newRawBatch returns a batch for u; the datagrams' control buffers are
// given to the kernel only on a socket bound to all addresses.
func newRawBatch(u *rawUDP) *rawBatch {
	b := new(rawBatch)
	for i := range b.in {
		b.iov[i].Base = &b.bufs[i][0]
		b.iov[i].SetLen(len(b.bufs[i]))
		b.in[i].hdr.Iov = &b.iov[i]
		b.in[i].hdr.SetIovlen(1)
		b.in[i].hdr.Name = &b.names[i][0]
		if u.pktinfo != 0 {
			b.in[i].hdr.Control = b.ctl[i].ptr()
		}
		b.out[i].hdr.Iov = &b.oiov[i]
		b.out[i].hdr.SetIovlen(1)
	}
	return b
}

// reset readies the batch for the next read: the kernel wrote the lengths
// of what it read over those of the buffers.
func (b *rawBatch) reset(u *rawUDP) {
	for i := range b.in {
		b.in[i].hdr.Namelen = rawSockaddrSize
	}
	if u.pktinfo != 0 {
		for i := range b.in {
			b.in[i].hdr.SetControllen(rawCtlSize)
		}
	}
}

// dst is where datagram i was sent to (bound to all addresses).
func (b *rawBatch) dst(i int) pktDst {
	return dstOf(b.ctl[i].bytes()[:min(int(b.in[i].hdr.Controllen), rawCtlSize)])
}

// serve reads and answers until stop, with rawWorkers goroutines.
func (u *rawUDP) serve(s *Server) {
	var wg sync.WaitGroup
	for range rawWorkers - 1 {
		wg.Go(func() { u.work(s) })
	}
	u.work(s)
	wg.Wait()
}

// work is one worker of the socket: it waits for the lead, reads a batch
// as leader, and answers it, having handed the lead on if the batch was
// large.
func (u *rawUDP) work(s *Server) {
	b := newRawBatch(u)
	yielded := time.Now()
	leading := false
	for {
		if !leading {
			select {
			case <-u.lead:
				leading = true
			case <-u.done:
				return
			}
		}
		b.reset(u)
		n, err := u.recv(b.in[:])
		if u.stopped.Load() {
			return
		}
		if err != nil {
			if !errors.Is(err, unix.EINTR) && !errors.Is(err, unix.EAGAIN) {
				s.log.Debug("naming: udp read", "err", err)
				time.Sleep(10 * time.Millisecond) // not in a loop at full speed
			}
			continue
		}
		if n >= rawHandOff {
			u.lead <- struct{}{}
			leading = false
		}
		k := 0
		for i := range n {
			name := b.names[i][:b.in[i].hdr.Namelen]
			from, ok := addrPortOf(name)
			if !ok {
				continue
			}
			var dst pktDst
			if u.pktinfo != 0 {
				dst = b.dst(i)
			}
			pkt := b.bufs[i][:b.in[i].n]
			out, done := s.handleUDP(&b.sc[i], pkt, from)
			if !done {
				pkt, name := slices.Clone(pkt), slices.Clone(name)
				s.wg.Go(func() {
					if out := s.answerPacket(s.ctx, pkt, from, "udp"); len(out) > 0 {
						u.sendTo(out, name, dst)
					}
				})
				continue
			}
			if len(out) == 0 {
				continue
			}
			b.oiov[k].Base = &out[0]
			b.oiov[k].SetLen(len(out))
			b.out[k].hdr.Name = &b.names[i][0]
			b.out[k].hdr.Namelen = b.in[i].hdr.Namelen
			if u.pktinfo != 0 {
				setSource(&b.out[k].hdr, &b.octl[k], u.pktinfo, dst)
			}
			k++
		}
		u.send(b.out[:k])
		if now := time.Now(); now.Sub(yielded) >= rawYieldEvery {
			runtime.Gosched()
			yielded = now
		}
	}
}

// recv reads up to len(msgs) datagrams, waiting for the first only.
func (u *rawUDP) recv(msgs []mmsghdr) (int, error) {
	n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(u.fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)),
		unix.MSG_WAITFORONE, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// send sends msgs. Those the kernel refuses (a full buffer, a client it
// cannot reach) are dropped, as UDP answers may be.
func (u *rawUDP) send(msgs []mmsghdr) {
	for len(msgs) > 0 {
		n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(u.fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)),
			unix.MSG_DONTWAIT, 0, 0)
		if e != 0 || n == 0 {
			n = 1 // the first was refused
		}
		msgs = msgs[min(int(n), len(msgs)):]
	}
}

// sendTo sends one datagram to the socket address name; bound to all
// addresses, from dst.
func (u *rawUDP) sendTo(out, name []byte, dst pktDst) {
	if u.pktinfo == 0 {
		_, _, _ = unix.Syscall6(unix.SYS_SENDTO, uintptr(u.fd), uintptr(unsafe.Pointer(&out[0])), uintptr(len(out)),
			unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&name[0])), uintptr(len(name)))
		return
	}
	iov := unix.Iovec{Base: &out[0]}
	iov.SetLen(len(out))
	msg := unix.Msghdr{Name: &name[0], Namelen: uint32(len(name)), Iov: &iov}
	msg.SetIovlen(1)
	var ctl cmsgBuf
	setSource(&msg, &ctl, u.pktinfo, dst)
	_, _, _ = unix.Syscall(unix.SYS_SENDMSG, uintptr(u.fd), uintptr(unsafe.Pointer(&msg)), unix.MSG_DONTWAIT)
}

// stop makes serve return: the followers leave at once, and shutdown(2)
// wakes the leader asleep in the kernel (on a UDP socket it fails with
// ENOTCONN, but wakes it all the same), or else the receive timeout will.
func (u *rawUDP) stop() {
	if u.stopped.Swap(true) {
		return
	}
	close(u.done)
	_ = unix.Shutdown(u.fd, unix.SHUT_RD)
}

// Close closes the socket; serve and the goroutines it started must be
// done.
func (u *rawUDP) Close() error {
	if u.closed.Swap(true) {
		return nil
	}
	if err := unix.Close(u.fd); err != nil {
		return fmt.Errorf("naming: close udp socket: %w", err)
	}
	return nil
}

// addrPortOf decodes a sockaddr_in or sockaddr_in6.
func addrPortOf(sa []byte) (netip.AddrPort, bool) {
	if len(sa) < 4 {
		return netip.AddrPort{}, false
	}
	port := binary.BigEndian.Uint16(sa[2:])
	switch binary.NativeEndian.Uint16(sa) {
	case unix.AF_INET:
		if len(sa) >= unix.SizeofSockaddrInet4 {
			return netip.AddrPortFrom(netip.AddrFrom4([4]byte(sa[4:8])), port), true
		}
	case unix.AF_INET6:
		if len(sa) >= unix.SizeofSockaddrInet6 {
			return netip.AddrPortFrom(netip.AddrFrom16([16]byte(sa[8:24])), port), true
		}
	}
	return netip.AddrPort{}, false
}

// pktDst is where a datagram came on a socket bound to all addresses: the
// address its answer must leave from, and the interface, kept only where
// that address needs it.
type pktDst struct {
	addr    netip.Addr // none: the kernel picks the source
	ifindex uint32
}

// newPktDst is the destination a in on the interface ifindex, as the
// source of an answer. A multicast address cannot be one: the kernel
// picks then. The interface goes only with an IPv6 link-local address,
// which the kernel takes as a source only with its link; elsewhere the
// routing table chooses the way out, as for any answer (a route back by
// another interface stays usable).
func newPktDst(a netip.Addr, ifindex uint32) pktDst {
	if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() {
		return pktDst{}
	}
	if !a.Is6() || !a.IsLinkLocalUnicast() {
		ifindex = 0
	}
	return pktDst{addr: a, ifindex: ifindex}
}

// dstOf finds a datagram's destination in its control messages: an
// IPV6_PKTINFO (which IPv4 datagrams on a socket bound to :: carry too,
// the address v4-mapped) or an IP_PKTINFO. Without either it is none.
func dstOf(ctl []byte) pktDst {
	for len(ctl) >= unix.CmsgLen(0) {
		h, data, rest, err := unix.ParseOneSocketControlMessage(ctl)
		if err != nil {
			break
		}
		switch {
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			return newPktDst(netip.AddrFrom16([16]byte(data[:16])), binary.NativeEndian.Uint32(data[16:]))
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			// ipi_spec_dst rather than ipi_addr: the kernel's source for
			// answers, the address asked for a unicast query, an address
			// of the interface for a broadcast one.
			return newPktDst(netip.AddrFrom4([4]byte(data[4:8])), binary.NativeEndian.Uint32(data))
		}
		ctl = rest
	}
	return pktDst{}
}

// cmsgBuf is room for control messages, aligned as a cmsghdr must be.
type cmsgBuf [rawCtlSize / 8]uint64

func (c *cmsgBuf) ptr() *byte { return (*byte)(unsafe.Pointer(c)) }

func (c *cmsgBuf) bytes() []byte { return unsafe.Slice(c.ptr(), rawCtlSize) }

// setSource makes msg leave from dst's address: it writes in ctl the
// control message for a socket of the family (IP_PKTINFO's ipi_spec_dst,
// IPV6_PKTINFO's ipi6_addr, v4-mapped for IPv4 on ::) and points msg to
// it. Without an address msg carries none, and the kernel picks.
func setSource(msg *unix.Msghdr, ctl *cmsgBuf, family int, dst pktDst) {
	n := ctl.putPktinfo(family, dst)
	if n == 0 {
		msg.Control = nil
	} else {
		msg.Control = ctl.ptr()
	}
	msg.SetControllen(n)
}

// putPktinfo writes the control message that sends from dst on a socket
// of the family and returns its length, 0 if none applies.
func (c *cmsgBuf) putPktinfo(family int, dst pktDst) int {
	h := (*unix.Cmsghdr)(unsafe.Pointer(c))
	data := unsafe.Add(unsafe.Pointer(c), unix.CmsgLen(0))
	switch {
	case !dst.addr.IsValid():
		return 0
	case family == unix.AF_INET && dst.addr.Is4():
		h.Level, h.Type = unix.IPPROTO_IP, unix.IP_PKTINFO
		h.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
		*(*unix.Inet4Pktinfo)(data) = unix.Inet4Pktinfo{Ifindex: int32(dst.ifindex), Spec_dst: dst.addr.As4()}
		return unix.CmsgSpace(unix.SizeofInet4Pktinfo)
	case family == unix.AF_INET6:
		h.Level, h.Type = unix.IPPROTO_IPV6, unix.IPV6_PKTINFO
		h.SetLen(unix.CmsgLen(unix.SizeofInet6Pktinfo))
		*(*unix.Inet6Pktinfo)(data) = unix.Inet6Pktinfo{Addr: dst.addr.As16(), Ifindex: dst.ifindex}
		return unix.CmsgSpace(unix.SizeofInet6Pktinfo)
	}
	return 0
}
