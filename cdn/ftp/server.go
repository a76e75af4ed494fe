// Package ftp serves a node's library over FTP, read-only: one folder per
// item, the item's files in it, opened from where they lie on disk. It
// speaks RFC 959 with passive mode only (PASV and EPSV, data connections
// accepted only from the control connection's address), MLSD and MLST,
// SIZE, MDTM, REST, and AUTH TLS with the node's certificate, on
// github.com/fclairamb/ftpserverlib. Every write is refused with 550.
//
// Logins are a mail user's credentials (the node passes its mail store as
// the Authenticator), or anonymous when the node allows it. Passwords cross
// only TLS or loopback.
package ftp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
)

// Item is one item of the library as FTP shows it.
type Item struct {
	Name     string
	InfoHash string
	// Path is where the item's data lies: the file of a single-file item,
	// the folder of a folder item (Folder set).
	Path   string
	Folder bool
	Files  []File // paths relative to the item, "/"-separated
	Time   time.Time
}

// File is one file of an item.
type File struct {
	Path string
	Size int64
}

// Library lists the items whose data is complete on this node.
type Library interface {
	Items(ctx context.Context) ([]Item, error)
}

// Authenticator checks a user's password (the node's mail users).
type Authenticator interface {
	Authenticate(ctx context.Context, user, password string) error
}

// Throttle slows down repeated failed logins from one source.
type Throttle interface {
	Failed(source string) (wait time.Duration, failures int)
	Succeeded(source string)
}

// Options configure a Server.
type Options struct {
	Library Library
	Auth    Authenticator // nil: only anonymous logins, if allowed
	// Anonymous allows the users "anonymous" and "ftp" with any password.
	Anonymous bool
	// TLS, when set, enables AUTH TLS (explicit FTPS) and PROT P.
	TLS *tls.Config
	// PassivePorts is the range passive data connections listen on;
	// zero: any free port.
	PassivePorts [2]int
	Throttle     Throttle
	Log          *slog.Logger
}

// Server is an FTP server of the library.
type Server struct {
	opts Options

	mu     sync.Mutex
	closed bool
	ftp    *ftpserver.FtpServer
	ln     net.Listener
}

// New makes a server.
func New(opts Options) (*Server, error) {
	if opts.Library == nil {
		return nil, errors.New("ftp: no library")
	}
	if p := opts.PassivePorts; p != [2]int{} && (p[0] <= 0 || p[1] < p[0] || p[1] > 65535) {
		return nil, fmt.Errorf("ftp: passive port range %d-%d: need 1 <= start <= end <= 65535", p[0], p[1])
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Server{opts: opts}, nil
}

// Serve answers FTP on ln until ctx ends or Close.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	d := &driver{opts: s.opts, ln: ln}
	srv := ftpserver.NewFtpServer(d)
	srv.Logger = s.opts.Log.With("part", "ftp-lib")
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.ftp, s.ln = srv, ln
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	err := srv.ListenAndServe()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed || ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ftp: %w", err)
	}
	return nil
}

// Close stops the server; it may be called more than once, and before
// Serve.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.ftp == nil {
		return nil
	}
	err := s.ftp.Stop()
	if errors.Is(err, ftpserver.ErrNotListening) {
		err = nil
	}
	if cerr := s.ln.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) && err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("ftp: %w", err)
	}
	return nil
}

// driver is ftpserverlib's MainDriver.
type driver struct {
	opts Options
	ln   net.Listener
}

func (d *driver) GetSettings() (*ftpserver.Settings, error) {
	host, _, _ := net.SplitHostPort(d.ln.Addr().String())
	st := &ftpserver.Settings{
		Listener:   d.ln,
		PublicHost: host,
		Banner:     "Shoal library (read-only)",
		// Binary unless the client asks for ASCII: SIZE and REST need it.
		DefaultTransferType:  ftpserver.TransferTypeBinary,
		DisableMFMT:          true,
		DisableActiveMode:    true,
		DisableSite:          true,
		PasvConnectionsCheck: ftpserver.IPMatchRequired,
		IdleTimeout:          300,
		ConnectionTimeout:    30,
	}
	if p := d.opts.PassivePorts; p != [2]int{} {
		st.PassiveTransferPortRange = ftpserver.PortRange{Start: p[0], End: p[1]}
	}
	return st, nil
}

func (d *driver) ClientConnected(cc ftpserver.ClientContext) (string, error) {
	d.opts.Log.Debug("ftp client", "remote", cc.RemoteAddr())
	return "Shoal library, read-only", nil
}

func (d *driver) ClientDisconnected(ftpserver.ClientContext) {}

func (d *driver) GetTLSConfig() (*tls.Config, error) {
	if d.opts.TLS == nil {
		return nil, errors.New("ftp: TLS is not set up")
	}
	return d.opts.TLS, nil
}

// errLogin is what a client is told of any failed login.
var errLogin = errors.New("login incorrect")

func (d *driver) AuthUser(cc ftpserver.ClientContext, user, pass string) (ftpserver.ClientDriver, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	source := remoteIP(cc.RemoteAddr())
	if err := d.check(ctx, cc, user, pass); err != nil {
		if d.opts.Throttle != nil {
			wait, n := d.opts.Throttle.Failed(source)
			d.opts.Log.Warn("ftp login failed", "user", user, "remote", source, "failures", n, "err", err)
			time.Sleep(wait)
		}
		return nil, errLogin
	}
	if d.opts.Throttle != nil {
		d.opts.Throttle.Succeeded(source)
	}
	items, err := d.opts.Library.Items(ctx)
	if err != nil {
		return nil, fmt.Errorf("ftp: the library: %w", err)
	}
	return newLibraryFs(items), nil
}

func (d *driver) check(ctx context.Context, cc ftpserver.ClientContext, user, pass string) error {
	if u := strings.ToLower(user); u == "anonymous" || u == "ftp" {
		if !d.opts.Anonymous {
			return errors.New("anonymous logins are off")
		}
		return nil
	}
	if d.opts.Auth == nil {
		return errors.New("no users")
	}
	if !cc.HasTLSForControl() && !isLoopback(cc.RemoteAddr()) {
		return errors.New("a password needs AUTH TLS off loopback")
	}
	return d.opts.Auth.Authenticate(ctx, user, pass)
}

func remoteIP(a net.Addr) string {
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

func isLoopback(a net.Addr) bool {
	ap, err := netip.ParseAddrPort(a.String())
	return err == nil && ap.Addr().Unmap().IsLoopback()
}
