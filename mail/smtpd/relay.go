package smtpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/shoal-p2p/shoal/mail/dkim"
)

// RelayOptions configure a Relay.
type RelayOptions struct {
	// Domains are the domains the node takes mail for (NAME.shoal). The first
	// is the host name in the greeting and in Received fields.
	Domains   []string
	Mailboxes Mailboxes
	// Resolver looks up DKIM keys (*net.Resolver, or naming through node).
	Resolver dkim.TXTResolver
	// IsMember reports whether a domain belongs to the group; nil means
	// IsShoalDomain.
	IsMember func(domain string) bool
	// AllowOutside accepts mail from domains that are not members, with or
	// without a signature (the result goes into Authentication-Results).
	AllowOutside bool
	Limits       Limits
	Logger       *slog.Logger
	Now          func() time.Time // nil: time.Now
}

// Relay is the SMTP server that takes mail from other nodes.
type Relay struct {
	*service
	opts RelayOptions
}

// NewRelay checks opts and makes a Relay; Serve starts it.
func NewRelay(opts RelayOptions) (*Relay, error) {
	if len(opts.Domains) == 0 {
		return nil, errors.New("smtpd: relay: no domain")
	}
	for i, d := range opts.Domains {
		d = strings.TrimSuffix(strings.ToLower(d), ".")
		if d == "" || strings.ContainsAny(d, " @\r\n") {
			return nil, fmt.Errorf("smtpd: relay: bad domain %q", opts.Domains[i])
		}
		opts.Domains[i] = d
	}
	if opts.Mailboxes == nil || opts.Resolver == nil {
		return nil, errors.New("smtpd: relay: Mailboxes and Resolver are required")
	}
	if opts.IsMember == nil {
		opts.IsMember = IsShoalDomain
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Relay{opts: opts}
	r.service = newService(smtp.BackendFunc(r.newSession), opts.Domains[0], opts.Limits, opts.Logger)
	return r, nil
}

// Serve answers connections on ln until ctx is cancelled or Close is
// called; then it returns nil. ln is closed on return.
func (r *Relay) Serve(ctx context.Context, ln net.Listener) error { return r.serve(ctx, ln) }

// Close stops the server and drops its connections. It is idempotent.
func (r *Relay) Close() error { return r.close() }

func (r *Relay) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &relaySession{r: r, c: c}, nil
}

type relaySession struct {
	r     *Relay
	c     *smtp.Conn
	from  string // envelope sender, "" for the null sender
	rcpts []string
}

func (s *relaySession) Reset()        { s.from, s.rcpts = "", nil }
func (s *relaySession) Logout() error { return nil }

func (s *relaySession) Mail(from string, _ *smtp.MailOptions) error {
	s.Reset()
	if from != "" {
		_, domain, err := splitAddress(from)
		if err != nil {
			return err
		}
		if !s.r.opts.IsMember(domain) && !s.r.opts.AllowOutside {
			return smtpErr(550, 5, 7, 1, "mail from %s is not accepted: not a member of the group", domain)
		}
	}
	s.from = from
	return nil
}

func (s *relaySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	local, domain, err := splitAddress(to)
	if err != nil {
		return err
	}
	if !slices.Contains(s.r.opts.Domains, domain) {
		return smtpErr(550, 5, 7, 1, "relaying denied: %s is not a domain of this node", domain)
	}
	ctx, cancel := context.WithTimeout(s.r.ctx, deliverTimeout)
	defer cancel()
	ok, err := s.r.opts.Mailboxes.HasUser(ctx, local)
	if err != nil {
		s.r.log.Error("smtpd: relay: user lookup", "user", local, "err", err)
		return smtpErr(451, 4, 3, 0, "cannot look up the user now; try again later")
	}
	if !ok {
		return smtpErr(550, 5, 1, 1, "no such user <%s>", to)
	}
	if !slices.Contains(s.rcpts, local) { // a user named twice gets one copy
		s.rcpts = append(s.rcpts, local)
	}
	return nil
}

func (s *relaySession) Data(r io.Reader) error {
	raw, err := readMessage(r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(s.r.ctx, deliverTimeout)
	defer cancel()

	h, err := header(raw)
	if err != nil {
		return smtpErr(550, 5, 6, 0, "message header does not parse: %v", err)
	}
	author, err := fromAddress(h)
	if err != nil {
		return smtpErr(550, 5, 6, 0, "%v", err)
	}
	_, authorDomain, err := splitAddress(author)
	if err != nil {
		return err
	}
	// The domain that must have signed: the envelope sender's, and the From
	// header must be of that same domain, or a member could sign mail that
	// shows another member as its author.
	domain := authorDomain
	if s.from != "" {
		_, domain, _ = splitAddress(s.from)
		if authorDomain != domain {
			return smtpErr(550, 5, 7, 1, "From header domain %s is not the sender's domain %s", authorDomain, domain)
		}
	}
	member := s.r.opts.IsMember(domain)
	if !member && !s.r.opts.AllowOutside {
		return smtpErr(550, 5, 7, 1, "mail from %s is not accepted: not a member of the group", domain)
	}
	result := "pass"
	if err := dkim.Check(ctx, raw, domain, s.r.opts.Resolver); err != nil {
		switch {
		case errors.Is(err, dkim.ErrTemporary):
			result = "temperror"
		case errors.Is(err, dkim.ErrUnsigned):
			result = "none"
		default:
			result = "fail"
		}
		s.r.log.Info("smtpd: relay: DKIM", "from", s.from, "domain", domain, "result", result, "err", err)
		if member {
			switch result {
			case "temperror":
				return smtpErr(451, 4, 7, 5, "cannot verify the DKIM signature of %s now; try again later", domain)
			case "none":
				return smtpErr(550, 5, 7, 20, "no DKIM signature of %s: members must sign their mail", domain)
			default:
				return smtpErr(550, 5, 7, 7, "the DKIM signature of %s does not verify", domain)
			}
		}
	}

	host := s.r.opts.Domains[0]
	id := newID()
	msg := make([]byte, 0, len(raw)+512)
	msg = append(msg, received(s.c, host, id, false, s.r.opts.Now())...)
	msg = fmt.Appendf(msg, "Authentication-Results: %s; dkim=%s header.d=%s\r\n", host, result, domain)
	msg = append(msg, raw...)
	for _, user := range s.rcpts {
		if _, err := s.r.opts.Mailboxes.Deliver(ctx, user, msg); err != nil {
			s.r.log.Error("smtpd: relay: deliver", "id", id, "user", user, "err", err)
			return smtpErr(451, 4, 3, 0, "cannot store the message now; try again later")
		}
	}
	s.r.log.Info("smtpd: relay: delivered", "id", id, "from", s.from, "rcpts", s.rcpts, "size", len(raw))
	return nil
}
