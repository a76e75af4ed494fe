package peertls

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"
)

// recordHandshake is the first byte of a TLS record carrying a handshake,
// which a ClientHello is.
const recordHandshake = 0x16

// Split serves TLS and plain connections on one listener: it peeks at the
// first byte of each connection (waiting at most peek for it); a TLS
// ClientHello goes to the first listener returned, a TLS server with conf,
// anything else to the second, as it came. Closing either closes ln.
// A connection that sends nothing within peek is closed.
func Split(ln net.Listener, conf *tls.Config, peek time.Duration) (tlsLn, plainLn net.Listener) {
	s := &splitter{ln: ln, peek: peek, done: make(chan struct{}),
		tlsC: make(chan net.Conn), plainC: make(chan net.Conn)}
	go s.run()
	return tls.NewListener(&side{s, s.tlsC}, conf), &side{s, s.plainC}
}

type splitter struct {
	ln           net.Listener
	peek         time.Duration
	tlsC, plainC chan net.Conn
	done         chan struct{}
	once         sync.Once
}

func (s *splitter) run() {
	var wait time.Duration
	for {
		conn, err := s.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			s.stop()
			return
		}
		if err != nil {
			// Out of descriptors or the like: wait a little and go on,
			// as http.Server does.
			wait = min(max(2*wait, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(wait):
			case <-s.done:
				return
			}
			continue
		}
		wait = 0
		go s.route(conn)
	}
}

func (s *splitter) route(conn net.Conn) {
	conn.SetReadDeadline(time.Now().Add(s.peek))
	br := bufio.NewReaderSize(conn, 512)
	first, err := br.Peek(1)
	if err != nil {
		conn.Close()
		return
	}
	conn.SetReadDeadline(time.Time{})
	c := s.plainC
	if first[0] == recordHandshake {
		c = s.tlsC
	}
	select {
	case c <- &peekedConn{Conn: conn, r: br}:
	case <-s.done:
		conn.Close()
	}
}

func (s *splitter) stop() {
	s.once.Do(func() {
		close(s.done)
		s.ln.Close()
	})
}

// side is one of the two listeners Split returns.
type side struct {
	s *splitter
	c chan net.Conn
}

func (l *side) Accept() (net.Conn, error) {
	select {
	case conn := <-l.c:
		return conn, nil
	case <-l.s.done:
		return nil, net.ErrClosed
	}
}

func (l *side) Close() error {
	l.s.stop()
	return nil
}

func (l *side) Addr() net.Addr { return l.s.ln.Addr() }

// peekedConn is a connection whose first bytes were read into r.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
