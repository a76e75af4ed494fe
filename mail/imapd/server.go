// Package imapd is a node's IMAP server (IMAP4rev1 and IMAP4rev2) over its
// mailstore, built on go-imap v2's imapserver.
//
// It offers LOGIN and AUTHENTICATE PLAIN, in clear only on a listener the
// node says is loopback (Options.InsecureAuth) and otherwise only after
// STARTTLS; SPECIAL-USE, IDLE, MOVE, UIDPLUS, NAMESPACE, ESEARCH and
// SEARCHRES, LIST-STATUS, STATUS=SIZE, CHILDREN and APPENDLIMIT. Each
// selected mailbox follows the store's change notifications through go-imap's
// MailboxTracker, so several sessions on one mailbox, and mail delivered by
// SMTP, keep every client's sequence numbers right. Failed logins wait a
// growing delay (mailstore.LoginThrottle) and are logged.
package imapd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/shoal-p2p/shoal/mail/mailstore"
)

// Options configure a Server.
type Options struct {
	// TLS enables STARTTLS (the node's certificate); nil disables it.
	TLS *tls.Config
	// InsecureAuth allows login without TLS. Set it only for a loopback
	// listener.
	InsecureAuth bool
	// Log receives failed logins and server errors (default: discard).
	Log *slog.Logger
	// Throttle slows down failed logins (default: 500 ms doubling to 8 s).
	// Share one with pop3d.
	Throttle *mailstore.LoginThrottle
	// MaxMessageBytes bounds APPEND (default 50 MiB).
	MaxMessageBytes uint32
}

// Server serves IMAP on the store's mailboxes.
type Server struct {
	store     *mailstore.Store
	opts      Options
	imap      *imapserver.Server
	envelopes *envelopeCache

	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup // sessions
}

// envelopeCacheSize is how many envelopes the server keeps: a few hundred
// bytes each, so a mailbox of this size fits in some tens of MiB.
const envelopeCacheSize = 100_000

// New makes a server on store.
func New(store *mailstore.Store, opts Options) *Server {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Throttle == nil {
		opts.Throttle = mailstore.NewLoginThrottle(500*time.Millisecond, 8*time.Second)
	}
	if opts.MaxMessageBytes == 0 {
		opts.MaxMessageBytes = 50 << 20
	}
	s := &Server{store: store, opts: opts, envelopes: newEnvelopeCache(envelopeCacheSize)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.imap = imapserver.New(&imapserver.Options{
		NewSession: s.newSession,
		Caps: imap.CapSet{
			imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {},
			imap.CapNamespace: {}, imap.CapUIDPlus: {}, imap.CapESearch: {}, imap.CapSearchRes: {},
			imap.CapListExtended: {}, imap.CapListStatus: {}, imap.CapMove: {}, imap.CapStatusSize: {},
			imap.CapChildren: {}, imap.CapSpecialUse: {},
		},
		Logger:       slogPrintf{opts.Log},
		TLSConfig:    opts.TLS,
		InsecureAuth: opts.InsecureAuth,
	})
	return s
}

type slogPrintf struct{ l *slog.Logger }

func (p slogPrintf) Printf(format string, args ...any) {
	p.l.Warn("imapd: " + fmt.Sprintf(format, args...))
}

// Serve accepts IMAP connections on ln until ctx is cancelled or Close is
// called; then it closes ln and every connection and returns nil.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	go func() {
		<-s.ctx.Done()
		ln.Close()
	}()
	err := s.imap.Serve(wireListener{ln})
	if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("imapd: serve: %w", err)
	}
	return nil
}

// Close stops the server and waits for its sessions to end. Closing twice
// is harmless.
func (s *Server) Close() error {
	s.mu.Lock()
	first := !s.closed
	s.closed = true
	s.mu.Unlock()
	if first {
		s.cancel()
		s.imap.Close()
	}
	s.wg.Wait()
	return nil
}

func (s *Server) newSession(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if closed {
		return nil, nil, &imap.Error{Type: imap.StatusResponseTypeBye, Text: "Server shutting down"}
	}
	remote := ""
	if a := c.NetConn().RemoteAddr(); a != nil {
		remote = a.String()
		if host, _, err := net.SplitHostPort(remote); err == nil {
			remote = host
		}
	}
	w, _ := c.NetConn().(*wire)
	return &session{srv: s, conn: c, wire: w, remote: remote}, nil, nil
}

// imapError turns a store error into the IMAP answer a client can act on.
func imapError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mailstore.ErrNoFolder):
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "No such mailbox"}
	case errors.Is(err, mailstore.ErrFolderExists):
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAlreadyExists, Text: "Mailbox already exists"}
	case errors.Is(err, mailstore.ErrBadInput):
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: err.Error()}
	}
	return err
}
