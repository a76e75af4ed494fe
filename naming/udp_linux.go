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

// rawUDP is one of the server's UDP sockets when it is bound to one
// address: a blocking socket of its own, outside Go's netpoller, served
// by rawWorkers goroutines as leader and followers. The leader sleeps in
// the kernel until datagrams come and takes up to rawBatchSize of them in
// one call (recvmmsg(2)); it answers those that need no waiting (see
// handleUDP) and sends the answers in one call (sendmmsg(2)), as a C
// server's thread would: no parking and waking of goroutines through epoll
// and the scheduler between queries. When it finds a backlog (at least
// rawHandOff datagrams), it hands the lead to a follower, which reads the
// next batch while it answers this one; the followers wait in Go. Queries
// that must wait (an upstream) get a goroutine each, as with dns.Server,
// which sends the answer on the same socket.
//
// Only the leader sleeps in the kernel, where the runtime counts it in a
// system call, holding its P: see rawUDPSockets. The workers are not
// locked to their threads: a goroutine in a system call keeps its thread
// anyway, and the yield of a locked goroutine (see rawYieldEvery) hands
// its P to another thread and back, which costs more.
//
// The socket is closed only once its workers and the goroutines they
// started are done (see Server.shutdownLocked): no one uses a closed
// descriptor.
type rawUDP struct {
	fd      int
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
// (SO_REUSEPORT). It returns none, and no error, where they do not apply:
// a single P, an address with a zone, or all addresses (an answer must
// then leave from the address asked, which dns.Server's sessions do).
func listenRawUDP(ap netip.AddrPort) ([]udpLoop, error) {
	a := ap.Addr().Unmap()
	n := rawUDPSockets()
	if n == 0 || a.Zone() != "" || a.IsUnspecified() {
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
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("naming: listen udp %s: SO_REUSEPORT: %w", ap, err)
	}
	tv := unix.NsecToTimeval(rawRecvTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("naming: listen udp %s: SO_RCVTIMEO: %w", ap, err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("naming: listen udp %s: %w", ap, err)
	}
	u := &rawUDP{fd: fd, lead: make(chan struct{}, 1), done: make(chan struct{})}
	u.lead <- struct{}{}
	return u, nil
}

// mmsghdr is struct mmsghdr of recvmmsg(2) and sendmmsg(2) (Go pads it
// to its alignment as C does).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// rawBatch is a reader's memory, reused from call to call: the datagrams
// read with their sources, and the answers to send.
type rawBatch struct {
	bufs  [rawBatchSize][dns.DefaultMsgSize]byte
	names [rawBatchSize][rawSockaddrSize]byte
	iov   [rawBatchSize]unix.Iovec
	in    [rawBatchSize]mmsghdr
	oiov  [rawBatchSize]unix.Iovec
	out   [rawBatchSize]mmsghdr
	sc    [rawBatchSize]udpScratch // for handleUDP, one per datagram
}

func newRawBatch() *rawBatch {
	b := new(rawBatch)
	for i := range b.in {
		b.iov[i].Base = &b.bufs[i][0]
		b.iov[i].SetLen(len(b.bufs[i]))
		b.in[i].hdr.Iov = &b.iov[i]
		b.in[i].hdr.SetIovlen(1)
		b.in[i].hdr.Name = &b.names[i][0]
		b.out[i].hdr.Iov = &b.oiov[i]
		b.out[i].hdr.SetIovlen(1)
	}
	return b
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
	b := newRawBatch()
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
		for i := range b.in {
			b.in[i].hdr.Namelen = rawSockaddrSize
		}
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
			pkt := b.bufs[i][:b.in[i].n]
			out, done := s.handleUDP(&b.sc[i], pkt, from)
			if !done {
				pkt, name := slices.Clone(pkt), slices.Clone(name)
				s.wg.Go(func() {
					if out := s.answerPacket(s.ctx, pkt, from, "udp"); len(out) > 0 {
						u.sendTo(out, name)
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

// sendTo sends one datagram to the socket address name.
func (u *rawUDP) sendTo(out, name []byte) {
	_, _, _ = unix.Syscall6(unix.SYS_SENDTO, uintptr(u.fd), uintptr(unsafe.Pointer(&out[0])), uintptr(len(out)),
		unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&name[0])), uintptr(len(name)))
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
