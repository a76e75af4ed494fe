package smtpd

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Mailboxes is the node's mail store, as the SMTP servers use it. user is
// the local part of an address of the node's domain.
type Mailboxes interface {
	// Deliver files raw in user's INBOX and returns once it is committed.
	Deliver(ctx context.Context, user string, raw []byte) (uid uint32, err error)
	// AppendSent files a copy of raw in user's Sent folder.
	AppendSent(ctx context.Context, user string, raw []byte) (uid uint32, err error)
	// Authenticate fails on a wrong user name or password.
	Authenticate(ctx context.Context, user, password string) error
	HasUser(ctx context.Context, user string) (bool, error)
}

// Limits every server applies unless its options say otherwise.
const (
	DefaultMaxMessageBytes = 25 << 20
	DefaultMaxRecipients   = 100
	DefaultReadTimeout     = 5 * time.Minute
	DefaultWriteTimeout    = 5 * time.Minute
	// deliverTimeout bounds the commit of one accepted message.
	deliverTimeout = 2 * time.Minute
)

// Limits are the protocol limits of a server; zero fields take the defaults.
type Limits struct {
	MaxMessageBytes int64         // 552 above it
	MaxRecipients   int           // 452 above it
	ReadTimeout     time.Duration // per command or data line
	WriteTimeout    time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.MaxMessageBytes <= 0 {
		l.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if l.MaxRecipients <= 0 {
		l.MaxRecipients = DefaultMaxRecipients
	}
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = DefaultReadTimeout
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = DefaultWriteTimeout
	}
	return l
}

// IsShoalDomain is the default membership test: the group's names end in .shoal.
func IsShoalDomain(domain string) bool {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	return strings.HasSuffix(domain, ".shoal") && len(domain) > len(".shoal")
}

// service is what both servers share: the go-smtp server, the logger and
// the context sessions work under.
type service struct {
	srv    *smtp.Server
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
}

func newService(be smtp.Backend, host string, lim Limits, log *slog.Logger) *service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	lim = lim.withDefaults()
	srv := smtp.NewServer(be)
	srv.Domain = host
	srv.MaxMessageBytes = lim.MaxMessageBytes
	srv.MaxRecipients = lim.MaxRecipients
	srv.ReadTimeout = lim.ReadTimeout
	srv.WriteTimeout = lim.WriteTimeout
	srv.EnableSMTPUTF8 = true
	srv.EnableDSN = true
	srv.ErrorLog = slogPrinter{log}
	ctx, cancel := context.WithCancel(context.Background())
	return &service{srv: srv, log: log, ctx: ctx, cancel: cancel}
}

func (s *service) serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { s.close() })
	defer stop()
	err := s.srv.Serve(ln)
	if errors.Is(err, smtp.ErrServerClosed) || s.ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("smtpd: serve: %w", err)
}

func (s *service) close() error {
	var err error
	s.once.Do(func() {
		s.cancel()
		if cerr := s.srv.Close(); cerr != nil && !errors.Is(cerr, smtp.ErrServerClosed) {
			err = fmt.Errorf("smtpd: close: %w", cerr)
		}
	})
	return err
}

// slogPrinter lets go-smtp report its internal errors to the node's logger.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Printf(format string, v ...any) {
	p.log.Warn("smtpd: " + strings.TrimSpace(fmt.Sprintf(format, v...)))
}
func (p slogPrinter) Println(v ...any) { p.log.Warn("smtpd: " + strings.TrimSpace(fmt.Sprintln(v...))) }

// smtpErr builds an exact reply.
func smtpErr(code int, class, subject, detail int, format string, args ...any) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{class, subject, detail}, Message: fmt.Sprintf(format, args...)}
}

// splitAddress splits local@domain, lower-cased: user names of a node are
// matched without regard to case.
func splitAddress(addr string) (local, domain string, err error) {
	i := strings.LastIndexByte(addr, '@')
	if i <= 0 || i == len(addr)-1 {
		return "", "", smtpErr(501, 5, 1, 3, "bad address <%s>: want user@domain", addr)
	}
	return strings.ToLower(addr[:i]), strings.TrimSuffix(strings.ToLower(addr[i+1:]), "."), nil
}

// readMessage reads the DATA of a message, passing go-smtp's 552 through.
func readMessage(r io.Reader) ([]byte, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return nil, se
		}
		if errors.Is(err, smtp.ErrTooLongLine) {
			return nil, smtpErr(500, 5, 5, 2, "line too long: at most 998 characters, RFC 5322")
		}
		return nil, smtpErr(451, 4, 3, 0, "reading the message failed: %v", err)
	}
	if !bytes.Contains(raw, []byte("\r\n\r\n")) && !bytes.HasPrefix(raw, []byte("\r\n")) {
		// A message without a blank line is all header; give it its end.
		raw = append(raw, "\r\n"...)
	}
	return raw, nil
}

// header is a message's header, parsed for reading single fields.
func header(raw []byte) (mail.Header, error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	return m.Header, nil
}

// fromAddress is the header's single From address.
func fromAddress(h mail.Header) (string, error) {
	list, err := h.AddressList("From")
	if err != nil {
		return "", fmt.Errorf("From header: %w", err)
	}
	if len(list) != 1 {
		return "", fmt.Errorf("From header has %d addresses, want 1", len(list))
	}
	return list[0].Address, nil
}

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// received is a Received trace field (RFC 5321 4.4) for the message c sent.
func received(c *smtp.Conn, host, id string, authed bool, now time.Time) string {
	if c == nil { // submitted in process, by the node's own user
		return fmt.Sprintf("Received: by %s with local id %s;\r\n\t%s\r\n", host, id, now.Format(time.RFC1123Z))
	}
	proto := "ESMTP"
	if _, tls := c.TLSConnectionState(); tls {
		proto += "S"
	}
	if authed {
		proto += "A"
	}
	ip := "unknown"
	if a, ok := c.Conn().RemoteAddr().(*net.TCPAddr); ok {
		ip = a.IP.String()
	}
	return fmt.Sprintf("Received: from %s ([%s])\r\n\tby %s with %s id %s;\r\n\t%s\r\n",
		sanitize(c.Hostname()), ip, host, proto, id, now.Format(time.RFC1123Z))
}

// sanitize keeps a peer-given name from breaking a header line.
func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x21 || r > 0x7e || r == '(' || r == ')' || r == ';' {
			return -1
		}
		return r
	}, s)
	if len(s) > 255 {
		s = s[:255]
	}
	if s == "" {
		s = "unknown"
	}
	return s
}
