package pnet

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Gate is a listener that hands on only the connections whose other end
// proved it holds the network key; the rest are closed having been read
// nothing but the handshake, and logged once per address. After a rekey
// (Keys.Set) connections let in under an older key are closed, so a node
// that did not get the new key loses what it had open.
type Gate struct {
	ln      net.Listener
	keys    *Keys
	log     *slog.Logger
	timeout time.Duration
	conns   chan net.Conn
	done    chan struct{}
	once    sync.Once

	mu     sync.Mutex
	open   map[*gatedConn]struct{}
	logged map[netip.Addr]struct{}
	// Refused counts connections refused at the handshake.
	refused int64
}

// GateConfig tunes a Gate; zero values take the defaults.
type GateConfig struct {
	// Timeout bounds a connection's handshake (default 10s).
	Timeout time.Duration
	// Grace is how long connections let in under an older key stay after
	// a rekey (default none: they close at once).
	Grace time.Duration
	Log   *slog.Logger
}

// maxLogged bounds the addresses a Gate remembers having logged.
const maxLogged = 4096

// NewGate gates ln with the key in keys. Closing the Gate closes ln.
func NewGate(ln net.Listener, keys *Keys, cfg GateConfig) *Gate {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	g := &Gate{ln: ln, keys: keys, log: cfg.Log, timeout: cfg.Timeout,
		conns: make(chan net.Conn), done: make(chan struct{}),
		open: map[*gatedConn]struct{}{}, logged: map[netip.Addr]struct{}{}}
	keys.OnChange(func(gen uint64) {
		if cfg.Grace <= 0 {
			g.dropBefore(gen)
			return
		}
		time.AfterFunc(cfg.Grace, func() { g.dropBefore(gen) })
	})
	go g.run()
	return g
}

func (g *Gate) run() {
	var wait time.Duration
	for {
		conn, err := g.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			g.Close()
			return
		}
		if err != nil {
			wait = min(max(2*wait, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(wait):
			case <-g.done:
				return
			}
			continue
		}
		wait = 0
		go g.admit(conn)
	}
}

func (g *Gate) admit(conn net.Conn) {
	k, gen := g.keys.Current()
	if err := Server(conn, k, g.timeout); err != nil {
		g.refuse(conn.RemoteAddr(), err)
		conn.Close()
		return
	}
	gc := &gatedConn{Conn: conn, g: g, gen: gen}
	g.mu.Lock()
	g.open[gc] = struct{}{}
	g.mu.Unlock()
	select {
	case g.conns <- gc:
	case <-g.done:
		gc.Close()
	}
}

func (g *Gate) refuse(addr net.Addr, err error) {
	ap, _ := netip.ParseAddrPort(addr.String())
	ip := ap.Addr().Unmap()
	g.mu.Lock()
	g.refused++
	_, seen := g.logged[ip]
	if !seen {
		if len(g.logged) >= maxLogged {
			clear(g.logged)
		}
		g.logged[ip] = struct{}{}
	}
	g.mu.Unlock()
	if !seen {
		g.log.Warn("pnet: connection refused at the handshake (logged once per address)", "remote", addr.String(), "reason", err.Error())
	}
}

// Refused is how many connections the Gate refused at the handshake.
func (g *Gate) Refused() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.refused
}

// dropBefore closes the connections let in under a key older than gen.
func (g *Gate) dropBefore(gen uint64) {
	g.mu.Lock()
	var old []*gatedConn
	for c := range g.open {
		if c.gen < gen {
			old = append(old, c)
		}
	}
	g.mu.Unlock()
	for _, c := range old {
		c.Close()
	}
}

// Accept waits for the next connection that passed the handshake.
func (g *Gate) Accept() (net.Conn, error) {
	select {
	case c := <-g.conns:
		return c, nil
	case <-g.done:
		return nil, net.ErrClosed
	}
}

// Close stops the Gate and closes its listener and open connections.
func (g *Gate) Close() error {
	g.once.Do(func() {
		close(g.done)
		g.ln.Close()
	})
	return nil
}

// Addr is the listener's address.
func (g *Gate) Addr() net.Addr { return g.ln.Addr() }

// gatedConn is a connection let in under the key of generation gen.
type gatedConn struct {
	net.Conn
	g    *Gate
	gen  uint64
	once sync.Once
}

func (c *gatedConn) Close() error {
	c.once.Do(func() {
		c.g.mu.Lock()
		delete(c.g.open, c)
		c.g.mu.Unlock()
	})
	return c.Conn.Close()
}

// Dialer dials members: TCP, then the handshake with the key in Keys.
type Dialer struct {
	Keys *Keys
	// Dial makes the TCP connection (default a net.Dialer with a 5s
	// timeout).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Timeout bounds the handshake (default 10s).
	Timeout time.Duration
}

// DialContext connects to addr and runs the handshake.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	dial := d.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: 5 * time.Second}).DialContext
	}
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	conn, err := dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	k, _ := d.Keys.Current()
	if err := Client(ctx, conn, k, timeout); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}
