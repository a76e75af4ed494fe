package naming

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Server answers DNS on one address, UDP and TCP on the same port, by
// running each query through a Handler. It speaks EDNS0 (answers carry an
// OPT when the query did and fit the client's buffer, at most 1232 bytes
// over UDP), truncates UDP answers that do not fit (TC: the client asks
// again over TCP, which carries any size), limits UDP responses per client
// prefix, and drops malformed queries.
//
// TCP runs on dns.Server. UDP, on Linux, runs on blocking sockets of its
// own, one per two CPUs sharing the port (SO_REUSEPORT), each served by
// two goroutines taking turns to sleep in the kernel and read datagrams in
// batches; they answer those that need no waiting (the zone, cache hits)
// themselves (see rawUDP). Bound to all addresses, they send each answer
// from the address its query was sent to. Elsewhere (other systems, a
// single CPU, an address with a zone) UDP runs on dns.Server, one per CPU
// on Linux, whose reader answers the same queries in the reading
// goroutine. Either way the queries that wait (an upstream) get a
// goroutine each.
type Server struct {
	handler Handler
	listen  string
	allow   []netip.Prefix
	rrl     *rateLimiter
	log     *slog.Logger
	packed  *packedCache // UDP responses to send again

	mu      sync.Mutex
	servers []*dns.Server
	loops   []udpLoop   // UDP sockets read by loops of our own
	closers []io.Closer // the sockets, closed on shutdown in any case
	addr    netip.AddrPort
	ctx     context.Context
	inline  context.Context // ctx, marked: handlers must not block
	cancel  context.CancelFunc
	started bool
	closed  bool
	wg      sync.WaitGroup
}

// NewServer returns a server for cfg.Listen that answers with h.
func NewServer(cfg Config, h Handler) *Server {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		handler: h,
		listen:  cfg.Listen,
		allow:   cfg.AllowRecursion,
		rrl:     newRateLimiter(cfg.RateLimit, cfg.Now),
		packed:  newPackedCache(),
		log:     cfg.Logger,
		ctx:     ctx,
		inline:  context.WithValue(ctx, inlineKey{}, true),
		cancel:  cancel,
	}
}

// Start binds UDP and TCP and returns once both serve. Queries are served
// until Close; ctx bounds the start only.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return errors.New("naming: server already started")
	}
	pcs, loops, ln, err := listenBoth(ctx, s.listen)
	if err != nil {
		return err
	}
	s.started = true
	s.loops = loops
	s.closers = append(s.closers, ln)
	for _, pc := range pcs {
		s.closers = append(s.closers, pc)
	}
	s.addr = tcpAddrPort(ln)
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) { s.serve(s.ctx, w, r) })
	s.servers = []*dns.Server{{Listener: ln, Handler: h, MsgAcceptFunc: acceptQuery, MaxTCPQueries: 1000}}
	for _, pc := range pcs {
		if !s.addr.Addr().IsUnspecified() {
			// Bound to one address, replies need not pick their source
			// address: plain reads and writes, no control messages.
			pc = boundConn{pc.(*net.UDPConn)}
		}
		s.servers = append(s.servers, &dns.Server{PacketConn: pc, Handler: h, UDPSize: dns.DefaultMsgSize, MsgAcceptFunc: acceptQuery,
			DecorateReader: func(r dns.Reader) dns.Reader {
				return &inlineReader{Reader: r, s: s, buf: make([]byte, dns.DefaultMsgSize), sc: new(udpScratch)}
			}})
	}
	for _, l := range s.loops {
		s.wg.Go(func() { l.serve(s) })
	}
	up := make(chan struct{}, len(s.servers))
	failed := make(chan error, len(s.servers))
	for _, srv := range s.servers {
		srv.NotifyStartedFunc = func() { up <- struct{}{} }
		s.wg.Go(func() {
			if err := srv.ActivateAndServe(); err != nil {
				failed <- err
			}
		})
	}
	for range s.servers {
		select {
		case <-up:
		case err := <-failed:
			s.shutdownLocked()
			return fmt.Errorf("naming: serve on %s: %w", s.addr, err)
		case <-ctx.Done():
			s.shutdownLocked()
			return fmt.Errorf("naming: start: %w", ctx.Err())
		}
	}
	s.log.Info("naming: DNS server listening", "addr", s.addr.String())
	return nil
}

// listenBoth binds UDP and TCP on the same address; with port 0 it looks
// for a port free for both. The TCP listener is bound first without
// SO_REUSEPORT, so a port held by another server is an error.
func listenBoth(ctx context.Context, listen string) ([]net.PacketConn, []udpLoop, net.Listener, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("naming: listen address %q: %w", listen, err)
	}
	for range 20 {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
		if err != nil {
			return nil, nil, nil, fmt.Errorf("naming: listen tcp %s: %w", listen, err)
		}
		pcs, loops, err := listenUDP(ctx, tcpAddrPort(ln))
		if err == nil {
			return pcs, loops, ln, nil
		}
		ln.Close()
		if port != "0" {
			return nil, nil, nil, err
		}
	}
	return nil, nil, nil, fmt.Errorf("naming: no port free for both UDP and TCP on %s", host)
}

// listenUDP binds the server's UDP sockets on ap: sockets read by loops of
// the server's own where the platform has them (see listenRawUDP), else
// udpSockets() sockets sharing the port for dns.Server.
func listenUDP(ctx context.Context, ap netip.AddrPort) ([]net.PacketConn, []udpLoop, error) {
	if loops, err := listenRawUDP(ap); loops != nil || err != nil {
		return nil, loops, err
	}
	lc := udpListenConfig()
	var pcs []net.PacketConn
	for range udpSockets() {
		pc, err := lc.ListenPacket(ctx, "udp", ap.String())
		if err != nil {
			for _, pc := range pcs {
				pc.Close()
			}
			return nil, nil, fmt.Errorf("naming: listen udp %s: %w", ap, err)
		}
		pcs = append(pcs, pc)
	}
	return pcs, nil, nil
}

// tcpAddrPort is the address ln is bound to.
func tcpAddrPort(ln net.Listener) netip.AddrPort {
	ap := ln.Addr().(*net.TCPAddr).AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// udpLoop is a UDP socket of the server's own with the loop that reads and
// answers it, outside dns.Server (see listenRawUDP).
type udpLoop interface {
	// serve reads and answers until stop.
	serve(s *Server)
	// stop makes serve return soon.
	stop()
	// Close closes the socket, once serve and the answers it left to
	// goroutines of their own are done.
	Close() error
}

// Addr is the address the server is bound to (valid after Start).
func (s *Server) Addr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Close stops the server and waits for it; it may be called more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.shutdownLocked()
	return nil
}

func (s *Server) shutdownLocked() {
	s.cancel()
	for _, l := range s.loops {
		l.stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range s.servers {
		if err := srv.ShutdownContext(ctx); err != nil {
			s.log.Debug("naming: server shutdown", "err", err)
		}
	}
	// A server that had not yet started ignores Shutdown: closing its
	// socket ends it.
	for _, c := range s.closers {
		_ = c.Close()
	}
	s.wg.Wait()
	for _, l := range s.loops {
		_ = l.Close()
	}
}

// acceptQuery lets through what looks like a query; responses and
// packets with impossible counts are dropped without an answer (an answer
// to a spoofed source would be reflected traffic).
func acceptQuery(dh dns.Header) dns.MsgAcceptAction {
	const qr = 1 << 15
	switch {
	case dh.Bits&qr != 0:
		return dns.MsgIgnore
	case int(dh.Bits>>11)&0xF != dns.OpcodeQuery:
		return dns.MsgRejectNotImplemented
	case dh.Qdcount != 1 || dh.Ancount != 0 || dh.Nscount != 0 || dh.Arcount > 2:
		return dns.MsgIgnore
	}
	return dns.MsgAccept
}

// serve answers one query: rate limit, then answer.
func (s *Server) serve(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) {
	client := remoteAddr(w)
	if isUDP(w) {
		switch s.rrl.check(client) {
		case verdictDrop:
			return
		case verdictSlip:
			_ = w.WriteMsg(slipReply(r))
			return
		}
	}
	s.answer(ctx, w, r, client, isUDP(w))
}

// slipReply is the empty truncated response to r that rate limiting sends
// instead of the answer.
func slipReply(r *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Truncated = true
	return m
}

// answer runs the checks and the chain and writes the response, or an
// error response if the chain wrote none. With an inline context it
// writes nothing and returns false when the chain would have to wait. dep
// is what the response depends on, if a handler said so (see packDep).
func (s *Server) answer(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, client netip.Addr, udp bool) (ok bool, dep packDep) {
	rw := &responseWriter{ResponseWriter: w, req: r, udp: udp, ra: allowed(s.allow, client), size: dns.MaxMsgSize}
	opt := r.IsEdns0()
	if opt != nil {
		rw.edns, rw.do = true, opt.Do()
	}
	if udp {
		rw.size = dns.MinMsgSize
		if opt != nil {
			rw.size = max(dns.MinMsgSize, min(int(opt.UDPSize()), ednsSize))
		}
	}
	if rcode, err := s.check(r, opt); rcode != dns.RcodeSuccess {
		if err != nil {
			s.log.Debug("naming: query refused", "client", client, "err", err)
		}
		_ = rw.WriteMsg(errorReply(r, rcode))
		return true, packDep{}
	}
	rcode, err := s.handler.ServeDNS(ctx, rw, r)
	if errors.Is(err, errWouldBlock) && !rw.wrote {
		return false, packDep{}
	}
	if err != nil {
		s.log.Debug("naming: query", "client", client, "question", questionString(r), "rcode", dns.RcodeToString[rcode], "err", err)
	}
	if !rw.wrote {
		if written(rcode) {
			rcode = dns.RcodeServerFailure
		}
		_ = rw.WriteMsg(errorReply(r, rcode))
		return true, packDep{}
	}
	if err != nil {
		return true, packDep{}
	}
	return true, rw.dep
}

type inlineKey struct{}

// errWouldBlock is a handler's refusal to wait (for an upstream, say) in
// an inline context.
var errWouldBlock = errors.New("naming: would block")

// mustNotBlock reports whether ctx is inline: the handler must return
// errWouldBlock, writing nothing, instead of waiting.
func mustNotBlock(ctx context.Context) bool {
	return ctx.Value(inlineKey{}) != nil
}

// inlineReader is the UDP sockets' reader. It answers in the reading
// goroutine what needs no waiting (the zone's names, cache hits): dns.Server
// would start a goroutine per packet, and that hand-over is most of the
// cost of an answer. It passes dns.Server only the queries that wait.
type inlineReader struct {
	dns.Reader
	s   *Server
	buf []byte
	sc  *udpScratch
}

// udpScratch is a socket reader's memory for the inline path, reused from
// query to query.
type udpScratch struct {
	key []byte // the query's key in the packed cache
	out []byte // a packed response being sent
}

// boundConn is a UDP socket bound to one address. Its type hides
// *net.UDPConn from dns.Server, which then reads and writes it as a
// net.PacketConn, without the control messages that choose the source
// address on a socket bound to all addresses.
type boundConn struct{ *net.UDPConn }

// ReadPacketConn serves a boundConn.
func (r *inlineReader) ReadPacketConn(pc net.PacketConn, timeout time.Duration) ([]byte, net.Addr, error) {
	conn := pc.(boundConn)
	if err := conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, nil, err
	}
	for {
		n, from, err := conn.ReadFromUDPAddrPort(r.buf)
		if err != nil {
			return nil, nil, err
		}
		out, done := r.s.handleUDP(r.sc, r.buf[:n], from)
		if !done {
			return slices.Clone(r.buf[:n]), net.UDPAddrFromAddrPort(from), nil
		}
		if out != nil {
			_, _ = conn.WriteToUDPAddrPort(out, from)
		}
	}
}

// ReadUDP serves a socket bound to all addresses (where dns.Server
// serves UDP: see listenUDP); its sessions carry each datagram's
// destination, the source of its answer.
func (r *inlineReader) ReadUDP(conn *net.UDPConn, timeout time.Duration) ([]byte, *dns.SessionUDP, error) {
	if err := conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, nil, err
	}
	for {
		n, sess, err := dns.ReadFromSessionUDP(conn, r.buf)
		if err != nil {
			return nil, nil, err
		}
		from, _ := sess.RemoteAddr().(*net.UDPAddr)
		if from == nil {
			return slices.Clone(r.buf[:n]), sess, nil
		}
		out, done := r.s.handleUDP(r.sc, r.buf[:n], from.AddrPort())
		if !done {
			return slices.Clone(r.buf[:n]), sess, nil
		}
		if out != nil {
			_, _ = dns.WriteToSessionUDP(conn, out, sess)
		}
	}
}

// handleUDP answers a raw UDP query inline; done is false when it must be
// answered the slow way (serve, in a goroutine of its own). Rate limiting
// is applied to the inline answer only, so that a query is counted once.
// A query seen before whose response is still good is answered from the
// packed cache; out may then be sc.out, good until the next call with sc.
func (s *Server) handleUDP(sc *udpScratch, pkt []byte, client netip.AddrPort) (out []byte, done bool) {
	addr := client.Addr().Unmap()
	key, keep := keyOf(sc.key, pkt, allowed(s.allow, addr))
	if keep {
		sc.key = key
		if out := s.packed.get(sc.out, key, pkt); out != nil {
			sc.out = out
			switch s.rrl.check(addr) {
			case verdictAnswer:
				return out, true
			case verdictDrop:
				return nil, true
			}
			req, out, done := s.unpack(pkt)
			if done {
				return out, true
			}
			w := &packetWriter{network: "udp", client: client}
			_ = w.WriteMsg(slipReply(req))
			return w.out, true
		}
	}
	req, out, done := s.unpack(pkt)
	if done {
		return out, true
	}
	w := &packetWriter{network: "udp", client: client}
	ok, dep := s.answer(s.inline, w, req, addr, true)
	if !ok {
		return nil, false
	}
	if keep && w.out != nil {
		s.packed.put(key, w.out, dep)
	}
	switch s.rrl.check(addr) {
	case verdictDrop:
		return nil, true
	case verdictSlip:
		w.out = nil
		_ = w.WriteMsg(slipReply(req))
	}
	return w.out, true
}

// check returns the rcode for a query the chain should not see, or
// RcodeSuccess.
func (s *Server) check(r *dns.Msg, opt *dns.OPT) (int, error) {
	switch {
	case len(r.Question) != 1:
		return dns.RcodeFormatError, errors.New("naming: not one question")
	case r.Opcode != dns.OpcodeQuery:
		return dns.RcodeNotImplemented, nil
	case opt != nil && opt.Version() != 0:
		return dns.RcodeBadVers, nil
	}
	q := r.Question[0]
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		// CHAOS (version.bind, id.server), Hesiod, ...: the node serves
		// and resolves Internet names only, and tells no version.
		return dns.RcodeRefused, nil
	}
	switch q.Qtype {
	case dns.TypeAXFR, dns.TypeIXFR:
		return dns.RcodeRefused, nil
	case dns.TypeOPT, dns.TypeTSIG, dns.TypeTKEY, dns.TypeNone, dns.TypeMAILA, dns.TypeMAILB:
		return dns.RcodeFormatError, nil
	}
	if _, ok := dns.IsDomainName(r.Question[0].Name); !ok {
		return dns.RcodeFormatError, nil
	}
	return dns.RcodeSuccess, nil
}

// responseWriter puts the server's rules on each response: the query's ID
// and RD, RA when the client may recurse, one OPT of ours if the query had
// EDNS, and over UDP no more than the client's buffer.
type responseWriter struct {
	dns.ResponseWriter
	req   *dns.Msg
	udp   bool
	ra    bool
	edns  bool
	do    bool
	size  int
	wrote bool
	dep   packDep // set by markPacked
}

func (rw *responseWriter) WriteMsg(m *dns.Msg) error {
	if rw.wrote {
		return errors.New("naming: response already written")
	}
	rw.wrote = true
	m.Id = rw.req.Id
	m.Response = true
	m.RecursionDesired = rw.req.RecursionDesired
	m.RecursionAvailable = rw.ra
	extra := make([]dns.RR, 0, len(m.Extra)+1)
	for _, rr := range m.Extra {
		if rr.Header().Rrtype != dns.TypeOPT {
			extra = append(extra, rr)
		}
	}
	m.Extra = extra
	if rw.edns {
		m.SetEdns0(ednsSize, rw.do)
	}
	if m.Rcode > 0xF && !rw.edns {
		m.Rcode = dns.RcodeServerFailure // extended rcodes need an OPT
	}
	fit(m, rw.size)
	return rw.ResponseWriter.WriteMsg(m)
}

// fit truncates m to size bytes. TC is set only if answer or authority
// records had to go: dropping additional records is no reason to retry.
func fit(m *dns.Msg, size int) {
	tc, an, ns := m.Truncated, len(m.Answer), len(m.Ns)
	m.Truncate(size)
	if !tc && len(m.Answer) == an && len(m.Ns) == ns {
		m.Truncated = false
	}
}

// handlePacket is the server's packet entry point in process: it takes a
// raw query as it came from client over network ("udp" or "tcp") and
// returns the raw response, or nil if none would be sent. Over UDP it
// takes the inline path of the socket reader and, where that would wait,
// the path of dns.Server; over TCP the latter. The fuzz test drives it.
func (s *Server) handlePacket(ctx context.Context, pkt []byte, client netip.AddrPort, network string) []byte {
	if network == "udp" {
		if out, done := s.handleUDP(new(udpScratch), pkt, client); done {
			return out
		}
	}
	return s.answerPacket(ctx, pkt, client, network)
}

// answerPacket answers a raw query the way dns.Server's goroutine per
// query does (accept rules, unpacking, then serve) and returns the raw
// response, or nil if none would be sent. Over UDP it serves the queries
// handleUDP left because they must wait.
func (s *Server) answerPacket(ctx context.Context, pkt []byte, client netip.AddrPort, network string) []byte {
	req, out, done := s.unpack(pkt)
	if done {
		return out
	}
	w := &packetWriter{network: network, client: client}
	s.serve(ctx, w, req)
	return w.out
}

// unpack does what dns.Server does with a packet before the handler: the
// accept rules, then unpacking, FORMERR for a body that does not unpack.
// done means out (nil: nothing) is all the answer there is.
func (s *Server) unpack(pkt []byte) (req *dns.Msg, out []byte, done bool) {
	if len(pkt) < 12 {
		return nil, nil, true
	}
	dh := dns.Header{
		Id: binary.BigEndian.Uint16(pkt), Bits: binary.BigEndian.Uint16(pkt[2:]),
		Qdcount: binary.BigEndian.Uint16(pkt[4:]), Ancount: binary.BigEndian.Uint16(pkt[6:]),
		Nscount: binary.BigEndian.Uint16(pkt[8:]), Arcount: binary.BigEndian.Uint16(pkt[10:]),
	}
	req = new(dns.Msg)
	action := acceptQuery(dh)
	if action == dns.MsgAccept && req.Unpack(pkt) != nil {
		action = dns.MsgReject
	}
	switch action {
	case dns.MsgIgnore:
		return nil, nil, true
	case dns.MsgReject, dns.MsgRejectNotImplemented:
		m := &dns.Msg{MsgHdr: dns.MsgHdr{Id: dh.Id, Response: true, Opcode: int(dh.Bits>>11) & 0xF, Rcode: dns.RcodeFormatError}}
		if action == dns.MsgRejectNotImplemented {
			m.Rcode = dns.RcodeNotImplemented
		}
		out, _ = m.Pack()
		return nil, out, true
	}
	return req, nil, false
}

// packetWriter is handlePacket's ResponseWriter: it keeps the packed
// response.
type packetWriter struct {
	network string
	client  netip.AddrPort
	remote  net.Addr // made from client when first asked
	out     []byte
}

func (w *packetWriter) LocalAddr() net.Addr {
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
}

func (w *packetWriter) RemoteAddr() net.Addr {
	if w.remote == nil {
		if w.network == "tcp" {
			w.remote = net.TCPAddrFromAddrPort(w.client)
		} else {
			w.remote = net.UDPAddrFromAddrPort(w.client)
		}
	}
	return w.remote
}

func (w *packetWriter) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return fmt.Errorf("naming: pack response: %w", err)
	}
	w.out = b
	return nil
}

func (w *packetWriter) Write(b []byte) (int, error) {
	w.out = append([]byte(nil), b...)
	return len(b), nil
}

func (w *packetWriter) Close() error        { return nil }
func (w *packetWriter) TsigStatus() error   { return nil }
func (w *packetWriter) TsigTimersOnly(bool) {}
func (w *packetWriter) Hijack()             {}
