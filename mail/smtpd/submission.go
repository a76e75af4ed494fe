package smtpd

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/shoal-p2p/shoal/mail/queue"
)

// Outbox takes messages for remote recipients (and for local ones whose
// mailbox failed, or that asked for a success report) and keeps them until
// they are delivered or bounced; mail/queue's Queue is one. EnqueueEnvelope
// returns once the message is committed.
type Outbox interface {
	EnqueueEnvelope(ctx context.Context, env queue.Envelope, raw []byte) (id string, err error)
}

// MessageSigner signs an outgoing message; mail/dkim's Signer is one.
type MessageSigner interface {
	Sign(raw []byte) ([]byte, error)
}

// SubmissionOptions configure a Submission server.
type SubmissionOptions struct {
	Domain    string // the node's domain, NAME.shoal
	Mailboxes Mailboxes
	Outbox    Outbox
	Signer    MessageSigner
	// TLSConfig enables STARTTLS.
	TLSConfig *tls.Config
	// InsecureAuth allows AUTH without TLS. Set it only for a loopback
	// listener.
	InsecureAuth bool
	// IsMember reports whether a domain belongs to the group; nil means
	// IsShoalDomain.
	IsMember func(domain string) bool
	// SmartHost says a smart host is configured in the queue, so recipients
	// outside the group are accepted; without it they are refused at RCPT.
	SmartHost bool
	// AuthFailDelay is the pause after a first failed login from an address;
	// it doubles with each further failure, up to 32 times; 0 means 1 s.
	AuthFailDelay time.Duration
	Limits        Limits
	Logger        *slog.Logger
	Now           func() time.Time // nil: time.Now
}

// Submission is the SMTP server the node's own user sends mail through.
type Submission struct {
	*service
	opts SubmissionOptions

	mu       sync.Mutex
	failures map[string]int // failed logins by remote IP, since its last success
}

// NewSubmission checks opts and makes a Submission server; Serve starts it.
func NewSubmission(opts SubmissionOptions) (*Submission, error) {
	opts.Domain = strings.TrimSuffix(strings.ToLower(opts.Domain), ".")
	if opts.Domain == "" || strings.ContainsAny(opts.Domain, " @\r\n") {
		return nil, fmt.Errorf("smtpd: submission: bad domain %q", opts.Domain)
	}
	if opts.Mailboxes == nil || opts.Outbox == nil || opts.Signer == nil {
		return nil, errors.New("smtpd: submission: Mailboxes, Outbox and Signer are required")
	}
	if opts.TLSConfig == nil && !opts.InsecureAuth {
		return nil, errors.New("smtpd: submission: no TLSConfig and no InsecureAuth: nobody could log in")
	}
	if opts.IsMember == nil {
		opts.IsMember = IsShoalDomain
	}
	if opts.AuthFailDelay <= 0 {
		opts.AuthFailDelay = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Submission{opts: opts, failures: map[string]int{}}
	s.service = newService(smtp.BackendFunc(s.newSession), opts.Domain, opts.Limits, opts.Logger)
	s.srv.TLSConfig = opts.TLSConfig
	s.srv.AllowInsecureAuth = opts.InsecureAuth
	return s, nil
}

// Serve answers connections on ln until ctx is cancelled or Close is
// called; then it returns nil. ln is closed on return.
func (s *Submission) Serve(ctx context.Context, ln net.Listener) error { return s.serve(ctx, ln) }

// Close stops the server and drops its connections. It is idempotent.
func (s *Submission) Close() error { return s.close() }

// Submit sends raw from the node's user as a client of the server would,
// with the same checks (sender, recipients, From) and the same handling
// (DKIM, queue, local mailboxes, Sent): the window, the web client and the
// command line send mail this way. The user must exist; no password is
// asked, since the caller is the node's own control API.
func (s *Submission) Submit(ctx context.Context, user string, rcpts []string, raw []byte) error {
	user = strings.ToLower(user)
	ok, err := s.opts.Mailboxes.HasUser(ctx, user)
	if err != nil {
		return fmt.Errorf("smtpd: submit: %w", err)
	}
	if !ok {
		return fmt.Errorf("smtpd: submit: no user %q", user)
	}
	if len(rcpts) == 0 {
		return errors.New("smtpd: submit: no recipients")
	}
	ss := &submitSession{s: s, user: user}
	if err := ss.Mail(ss.address(), nil); err != nil {
		return submitError(err)
	}
	for _, r := range rcpts {
		if err := ss.Rcpt(r, nil); err != nil {
			return submitError(err)
		}
	}
	return submitError(ss.Data(bytes.NewReader(raw)))
}

// submitError is an SMTP reply as an error of this package.
func submitError(err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return fmt.Errorf("smtpd: submit: %s", se.Message)
	}
	if err != nil {
		return fmt.Errorf("smtpd: submit: %w", err)
	}
	return nil
}

func (s *Submission) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &submitSession{s: s, c: c}, nil
}

type submitSession struct {
	s      *Submission
	c      *smtp.Conn
	user   string // the authenticated user, "" before AUTH
	from   string
	envID  string                    // DSN ENVID
	local  []queue.EnvelopeRecipient // recipients in the node's domain, delivered at once
	remote []queue.EnvelopeRecipient // recipients for the queue
}

func (ss *submitSession) Reset()        { ss.from, ss.envID, ss.local, ss.remote = "", "", nil, nil }
func (ss *submitSession) Logout() error { return nil }

func (ss *submitSession) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }

func (ss *submitSession) Auth(mech string) (sasl.Server, error) {
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(ss.login), nil
	case sasl.Login:
		return newLoginServer(func(user, password string) error { return ss.login("", user, password) }), nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// login checks a user name (bare, or the full address) and password; an
// authorization identity, if given, must be the user. A failure is logged
// and answered only after a pause that grows with each failure from the
// same address, which slows down guessing.
func (ss *submitSession) login(identity, user, password string) error {
	s := ss.s
	if local, domain, err := splitAddress(user); err == nil && domain == s.opts.Domain {
		user = local
	}
	ip := remoteIP(ss.c)
	ctx, cancel := context.WithTimeout(s.ctx, deliverTimeout)
	defer cancel()
	err := s.opts.Mailboxes.Authenticate(ctx, user, password)
	if err == nil && identity != "" && !strings.EqualFold(identity, user) && !strings.EqualFold(identity, user+"@"+s.opts.Domain) {
		err = fmt.Errorf("authorization identity %q is not the user", identity)
	}
	if err == nil {
		s.mu.Lock()
		delete(s.failures, ip)
		s.mu.Unlock()
		ss.user = user
		s.log.Info("smtpd: submission: login", "user", user, "remote", ip)
		return nil
	}
	s.mu.Lock()
	if len(s.failures) >= maxTrackedAddresses {
		clear(s.failures) // bounded memory; the pauses start over
	}
	s.failures[ip]++
	n := s.failures[ip]
	s.mu.Unlock()
	delay := s.opts.AuthFailDelay << min(n-1, 5)
	s.log.Warn("smtpd: submission: failed login", "user", user, "remote", ip, "failures", n, "delay", delay, "err", err)
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.ctx.Done():
	}
	return smtp.ErrAuthFailed
}

func remoteIP(c *smtp.Conn) string {
	if a, ok := c.Conn().RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return c.Conn().RemoteAddr().String()
}

// maxTrackedAddresses bounds the failed-login table.
const maxTrackedAddresses = 4096

var errAuthFirst = smtpErr(530, 5, 7, 0, "authentication required: AUTH first")

func (ss *submitSession) address() string { return ss.user + "@" + ss.s.opts.Domain }

func (ss *submitSession) Mail(from string, opts *smtp.MailOptions) error {
	ss.Reset()
	if ss.user == "" {
		return errAuthFirst
	}
	if !strings.EqualFold(from, ss.address()) {
		return smtpErr(553, 5, 7, 1, "sender must be your own address <%s>", ss.address())
	}
	ss.from = ss.address()
	if opts != nil {
		ss.envID = opts.EnvelopeID
	}
	return nil
}

// envelopeRecipient is addr with the DSN parameters of its RCPT.
func envelopeRecipient(addr string, opts *smtp.RcptOptions) queue.EnvelopeRecipient {
	r := queue.EnvelopeRecipient{Address: addr}
	if opts == nil {
		return r
	}
	for _, n := range opts.Notify {
		r.Notify = append(r.Notify, string(n))
	}
	if opts.OriginalRecipientType == smtp.DSNAddressTypeRFC822 || opts.OriginalRecipientType == smtp.DSNAddressTypeUTF8 {
		r.ORCPT = opts.OriginalRecipient
	}
	return r
}

func has(rs []queue.EnvelopeRecipient, addr string) bool {
	return slices.ContainsFunc(rs, func(r queue.EnvelopeRecipient) bool { return r.Address == addr })
}

func (ss *submitSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	if ss.user == "" {
		return errAuthFirst
	}
	local, domain, err := splitAddress(to)
	if err != nil {
		return err
	}
	s := ss.s
	switch {
	case domain == s.opts.Domain:
		ctx, cancel := context.WithTimeout(s.ctx, deliverTimeout)
		defer cancel()
		ok, err := s.opts.Mailboxes.HasUser(ctx, local)
		if err != nil {
			s.log.Error("smtpd: submission: user lookup", "user", local, "err", err)
			return smtpErr(451, 4, 3, 0, "cannot look up the user now; try again later")
		}
		if !ok {
			return smtpErr(550, 5, 1, 1, "no such user <%s>", to)
		}
		addr := local + "@" + domain
		r := envelopeRecipient(addr, opts)
		switch {
		case has(ss.local, addr) || has(ss.remote, addr):
		case slices.Contains(r.Notify, string(smtp.DSNNotifySuccess)):
			ss.remote = append(ss.remote, r) // the queue delivers it and reports
		default:
			ss.local = append(ss.local, r)
		}
	case s.opts.IsMember(domain) || s.opts.SmartHost:
		addr := local + "@" + domain
		if !has(ss.remote, addr) {
			ss.remote = append(ss.remote, envelopeRecipient(addr, opts))
		}
	default:
		return smtpErr(550, 5, 7, 1, "%s is outside the group and no smart host is configured: cannot send there", domain)
	}
	return nil
}

func (ss *submitSession) Data(r io.Reader) error {
	s := ss.s
	raw, err := readMessage(r)
	if err != nil {
		return err
	}
	if ss.user == "" {
		return errAuthFirst
	}
	raw, err = ss.complete(crlf(raw))
	if err != nil {
		return err
	}
	id := newID()
	raw = append([]byte(received(ss.c, s.opts.Domain, id, true, s.opts.Now())), raw...)
	signed, err := s.opts.Signer.Sign(raw)
	if err != nil {
		s.log.Error("smtpd: submission: sign", "id", id, "err", err)
		return smtpErr(451, 4, 3, 0, "cannot sign the message now; try again later")
	}
	ctx, cancel := context.WithTimeout(s.ctx, deliverTimeout)
	defer cancel()
	// The queue first: a failure there leaves nothing delivered, so the
	// client's retry sends no duplicates. A local mailbox that fails after
	// that gets its copy through the queue, which retries it.
	var qid string
	if len(ss.remote) > 0 {
		qid, err = s.opts.Outbox.EnqueueEnvelope(ctx, queue.Envelope{From: ss.from, EnvID: ss.envID, Recipients: ss.remote}, signed)
		if err != nil {
			s.log.Error("smtpd: submission: enqueue", "id", id, "err", err)
			return smtpErr(451, 4, 3, 0, "cannot queue the message now; try again later")
		}
	}
	var later []queue.EnvelopeRecipient
	for _, r := range ss.local {
		user, _, _ := splitAddress(r.Address)
		if _, err := s.opts.Mailboxes.Deliver(ctx, user, signed); err != nil {
			s.log.Warn("smtpd: submission: deliver, queueing instead", "id", id, "user", user, "err", err)
			later = append(later, r)
		}
	}
	if len(later) > 0 {
		if _, err := s.opts.Outbox.EnqueueEnvelope(ctx, queue.Envelope{From: ss.from, EnvID: ss.envID, Recipients: later}, signed); err != nil {
			s.log.Error("smtpd: submission: enqueue local", "id", id, "err", err)
			return smtpErr(451, 4, 3, 0, "cannot store the message now; try again later")
		}
	}
	// The message is accepted by now; a missing Sent copy is logged, not
	// answered with an error the client would retry.
	if _, err := s.opts.Mailboxes.AppendSent(ctx, ss.user, signed); err != nil {
		s.log.Error("smtpd: submission: copy to Sent", "id", id, "user", ss.user, "err", err)
	}
	s.log.Info("smtpd: submission: accepted", "id", id, "queue", qid, "from", ss.from, "local", len(ss.local), "queued", len(ss.remote), "size", len(signed))
	return nil
}

// complete checks the author and adds the header fields a submission server
// may add (RFC 6409 8): From, Date and Message-ID when they are missing.
func (ss *submitSession) complete(raw []byte) ([]byte, error) {
	h, err := header(raw)
	if err != nil {
		return nil, smtpErr(550, 5, 6, 0, "message header does not parse: %v", err)
	}
	var add bytes.Buffer
	if h.Get("From") == "" {
		fmt.Fprintf(&add, "From: <%s>\r\n", ss.from)
	} else {
		author, err := fromAddress(h)
		if err != nil {
			return nil, smtpErr(550, 5, 6, 0, "%v", err)
		}
		if !strings.EqualFold(author, ss.from) {
			return nil, smtpErr(553, 5, 7, 1, "From header must be your own address <%s>, not <%s>", ss.from, author)
		}
	}
	if h.Get("Date") == "" {
		fmt.Fprintf(&add, "Date: %s\r\n", ss.s.opts.Now().Format(time.RFC1123Z))
	}
	if h.Get("Message-Id") == "" {
		fmt.Fprintf(&add, "Message-ID: <%s@%s>\r\n", newID(), ss.s.opts.Domain)
	}
	if add.Len() == 0 {
		return raw, nil
	}
	return append(add.Bytes(), raw...), nil
}

// loginServer is the server side of the LOGIN mechanism
// (draft-murchison-sasl-login): user name and password, each asked for in
// turn, each base64 on the wire. go-sasl has only the client.
type loginServer struct {
	step     int
	user     string
	validate func(user, password string) error
}

func newLoginServer(validate func(user, password string) error) sasl.Server {
	return &loginServer{validate: validate}
}

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.step {
	case 0:
		if response == nil { // no initial response
			l.step = 1
			return []byte("Username:"), false, nil
		}
		l.user, l.step = string(response), 2
		return []byte("Password:"), false, nil
	case 1:
		l.user, l.step = string(response), 2
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		return nil, true, l.validate(l.user, string(response))
	}
	return nil, true, errors.New("smtpd: LOGIN: unexpected response")
}

// crlf turns bare LF line ends into CRLF, as RFC 5322 wants them, before the
// message is signed: a hop that repairs them later would break the signature.
func crlf(raw []byte) []byte {
	if !bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		return raw
	}
	out := make([]byte, 0, len(raw)+len(raw)/32)
	for i, c := range raw {
		if c == '\n' && (i == 0 || raw[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}
