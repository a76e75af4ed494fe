// Package pop3d is a node's POP3 server (RFC 1939) on the INBOX of its
// mailstore, with CAPA (RFC 2449), response codes and STLS (RFC 2595).
//
// A session sees the INBOX as it was at login. DELE only marks; the marked
// messages are removed, and the retrieved ones flagged \Seen, in one store
// transaction when the client sends QUIT (the UPDATE state). A connection
// that drops, or times out, changes nothing. One POP3 session at a time may
// hold a maildrop: a second one gets "-ERR [IN-USE]". USER and PASS are
// accepted in clear only when the listener is loopback (Options.InsecureAuth)
// or after STLS. Command lines longer than RFC 2449's 255 octets are
// refused, and lines of a message that start with "." are byte-stuffed.
package pop3d

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/shoal-p2p/shoal/mail/mailstore"
)

// Options configure a Server.
type Options struct {
	// TLS enables STLS (the node's certificate); nil disables it.
	TLS *tls.Config
	// InsecureAuth allows USER/PASS without TLS. Set it only for a
	// loopback listener.
	InsecureAuth bool
	// Log receives logins, failed logins and errors (default: discard).
	Log *slog.Logger
	// Throttle slows down failed logins (default: 500 ms doubling to 8 s).
	// Share one with imapd.
	Throttle *mailstore.LoginThrottle
	// IdleTimeout closes a silent connection (default 10 minutes, the
	// least RFC 1939 allows).
	IdleTimeout time.Duration
}

// Server serves POP3 on the store's INBOXes.
type Server struct {
	store *mailstore.Store
	opts  Options

	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
	locked map[string]bool // maildrops held by a session
	lns    map[net.Listener]struct{}
	wg     sync.WaitGroup
}

// New makes a server on store.
func New(store *mailstore.Store, opts Options) *Server {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Throttle == nil {
		opts.Throttle = mailstore.NewLoginThrottle(500*time.Millisecond, 8*time.Second)
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 10 * time.Minute
	}
	s := &Server{store: store, opts: opts, conns: map[net.Conn]struct{}{}, locked: map[string]bool{}, lns: map[net.Listener]struct{}{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Serve accepts POP3 connections on ln until ctx is cancelled or Close is
// called; then it closes ln and every connection and returns nil.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("pop3d: accept: %w", err)
		}
		delay = 0
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			conn.Close()
			return nil
		}
		s.conns[conn] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			newSession(s, conn).serve()
			s.mu.Lock()
			delete(s.conns, conn)
			s.mu.Unlock()
		}()
	}
}

// Close stops the server: listeners and connections are closed (sessions
// not yet at QUIT change nothing) and Close waits for the sessions to end.
// Closing twice is harmless.
func (s *Server) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		s.cancel()
		for ln := range s.lns {
			ln.Close()
		}
		for c := range s.conns {
			c.Close()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// lock takes user's maildrop for one session; false if another holds it.
func (s *Server) lock(user string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locked[user] {
		return false
	}
	s.locked[user] = true
	return true
}

func (s *Server) unlock(user string) {
	s.mu.Lock()
	delete(s.locked, user)
	s.mu.Unlock()
}
