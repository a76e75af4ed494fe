package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/user"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shoal-p2p/shoal/cdn/membership"
	"github.com/shoal-p2p/shoal/mail/dkim"
	"github.com/shoal-p2p/shoal/mail/imapd"
	"github.com/shoal-p2p/shoal/mail/mailstore"
	"github.com/shoal-p2p/shoal/mail/pop3d"
	"github.com/shoal-p2p/shoal/mail/queue"
	"github.com/shoal-p2p/shoal/mail/smtpd"
)

// Mail events on the bus.
const (
	// EventMailQueue is a change of a queued message's delivery (queued,
	// delivered, deferred, bounced, dropped); its data is a queue.Event.
	EventMailQueue = "mail.queue"
	// EventMailArrived is a message delivered into a local mailbox.
	EventMailArrived = "mail.arrived"
)

// Mail is a running node's mail: its domain, store and queue.
type Mail struct {
	Domain string
	Store  *mailstore.Store
	Queue  *queue.Queue
	// FirstPassword is the password made for the first user on this
	// start, shown once; "" when the user existed already.
	FirstUser, FirstPassword string

	pendingMu sync.Mutex
	// pending is FirstPassword until the user says it is noted (in the
	// window or the web client): until then both show it.
	pending string
	// Owner is the node's own user (mail.user, else the login name): the
	// user the window, the web client and the CLI read and send as unless
	// they name another.
	Owner string

	submission *smtpd.Submission
	// throttle slows down failed logins, one count per address across
	// IMAP, POP3 and FTP.
	throttle *mailstore.LoginThrottle
}

// mailServices are the mail servers' names in the node record's ports.
var mailServices = []string{"smtp", "submission", "imap", "pop3"}

// mailURL is how a mail program names a mail server.
func mailURL(service, addr string) string {
	switch service {
	case "submission":
		return "smtp://" + addr
	case "imap", "pop3":
		return service + "://" + addr
	}
	return ""
}

// startMail starts the mail store, the outbound queue, the SMTP relay and
// submission servers, IMAP and POP3 on the bind address, and advertises
// their ports. On first start it makes the first user.
func (n *Node) startMail(ctx context.Context) error {
	if !n.cfg.Mail.Enabled {
		return nil
	}
	self, _ := n.cdn.Members.Member(n.cdn.Members.ID())
	domain := strings.ToLower(self.DisplayName + "." + n.cfg.DNS.Zone)
	log := n.log.With("part", "mail")
	store, err := mailstore.Open(n.db, mailstore.Options{PasswordCost: n.opts.MailPasswordCost})
	if err != nil {
		return fmt.Errorf("node: mail: %w", err)
	}
	owner := strings.ToLower(n.cfg.Mail.User)
	if owner == "" {
		owner = loginName()
	}
	m := &Mail{Domain: domain, Store: store, Owner: owner}
	if err := n.firstMailUser(ctx, m); err != nil {
		return err
	}

	bind := netip.MustParseAddr(n.cfg.Bind)
	cert, err := n.id.Certificate([]string{domain}, []net.IP{net.IP(bind.AsSlice())})
	if err != nil {
		return err
	}
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	// Plaintext logins only where nobody else can listen in.
	insecure := bind.IsLoopback()
	members := memberDomains{t: n.cdn.Members, zone: n.cfg.DNS.Zone}

	deliveries, err := openMailDeliveryLog(n.db)
	if err != nil {
		return fmt.Errorf("node: mail: delivery records: %w", err)
	}
	signer, err := dkim.NewSigner(domain, n.id.PrivateKey())
	if err != nil {
		return fmt.Errorf("node: mail: %w", err)
	}
	q, err := queue.Open(n.db, queue.Options{
		Domain:    domain,
		Resolver:  n.dns.Resolver,
		Mailboxes: store,
		RelayPort: members.relayPort,
		// Every name of the zone, not only the members in the table now: a
		// member down for longer than the table keeps it is still one of
		// ours, and mail queued for it waits for it (relayPort defers it)
		// rather than bouncing as outside mail.
		IsMember: members.inZone,
		Scale:    n.cfg.Mail.RetryScale,
		Now:      n.opts.MailClock,
		Dial:     fromBind(bind),
		OnEvent: func(e queue.Event) {
			deliveries.record(e)
			n.bus.Publish(EventMailQueue, e)
		},
		Logger: log,
	})
	if err != nil {
		return fmt.Errorf("node: mail: %w", err)
	}
	m.Queue = q
	deliveries.get = q.Get
	n.mailDeliveries = deliveries
	relay, err := smtpd.NewRelay(smtpd.RelayOptions{
		Domains: []string{domain}, Mailboxes: notifying{store, n.bus}, Resolver: n.dns.Resolver,
		IsMember: members.has, Logger: log,
	})
	if err != nil {
		return fmt.Errorf("node: mail: %w", err)
	}
	sub, err := smtpd.NewSubmission(smtpd.SubmissionOptions{
		Domain: domain, Mailboxes: notifying{store, n.bus}, Outbox: q, Signer: signer,
		TLSConfig: tlsConfig, InsecureAuth: insecure, IsMember: members.has, Logger: log,
	})
	if err != nil {
		return fmt.Errorf("node: mail: %w", err)
	}
	m.submission = sub
	throttle := mailstore.NewLoginThrottle(500*time.Millisecond, 8*time.Second)
	m.throttle = throttle
	imap := imapd.New(store, imapd.Options{TLS: tlsConfig, InsecureAuth: insecure, Log: log, Throttle: throttle})
	pop := pop3d.New(store, pop3d.Options{TLS: tlsConfig, InsecureAuth: insecure, Log: log, Throttle: throttle})

	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	type server struct {
		name  string
		port  int
		serve func(context.Context, net.Listener) error
		close func() error
	}
	ports := n.cfg.Ports
	servers := []server{
		{"smtp", ports.SMTP, relay.Serve, relay.Close},
		{"submission", ports.Submission, sub.Serve, sub.Close},
		{"imap", ports.IMAP, imap.Serve, imap.Close},
		{"pop3", ports.POP3, pop.Serve, pop.Close},
	}
	bound := map[string]int{}
	var lns []net.Listener
	fail := func(err error) error {
		cancel()
		for _, ln := range lns {
			ln.Close()
		}
		return err
	}
	for _, s := range servers {
		addr := netip.AddrPortFrom(bind, uint16(s.port)).String()
		ln, err := listen(s.name, addr, fmt.Sprintf("--%s-port or ports.%s in shoal.toml", s.name, s.name))
		if err != nil {
			return fail(err)
		}
		bound[s.name] = ln.Addr().(*net.TCPAddr).Port
		if s.name == "smtp" && n.cdn.Private() {
			// The relay between members: in a private network only
			// members' addresses get a greeting.
			ln = membersOnly(ln, n.cdn.IsMemberAddr, log.With("server", "smtp"))
		}
		lns = append(lns, ln)
	}
	done := make(chan struct{}, len(servers)+2)
	for i, s := range servers {
		go func() {
			if err := s.serve(ctx, lns[i]); err != nil && ctx.Err() == nil {
				log.Warn("mail server stopped", "server", s.name, "err", err)
			}
			done <- struct{}{}
		}()
	}
	go func() {
		if err := q.Serve(ctx); err != nil && ctx.Err() == nil {
			log.Warn("mail queue stopped", "err", err)
		}
		done <- struct{}{}
	}()
	go func() {
		deliveries.serve(ctx)
		done <- struct{}{}
	}()
	n.mail = m
	n.services = append(n.services, service{"mail", func(stopCtx context.Context) error {
		cancel()
		var errs []error
		for _, s := range servers {
			errs = append(errs, s.close())
		}
		for range len(servers) + 2 {
			select {
			case <-done:
			case <-stopCtx.Done():
				return errors.Join(append(errs, fmt.Errorf("node: mail: %w", stopCtx.Err()))...)
			}
		}
		return errors.Join(errs...)
	}})

	if _, err := n.cdn.Members.UpdateSelf(func(r *membership.Record) {
		for name, port := range bound {
			r.Ports[name] = port
			if !slices.Contains(r.Services, name) {
				r.Services = append(r.Services, name)
			}
		}
	}); err != nil {
		return fmt.Errorf("node: mail: advertise ports: %w", err)
	}
	n.dns.Zone.Refresh()
	log.Info("mail started", "domain", domain, "smtp", bound["smtp"], "submission", bound["submission"],
		"imap", bound["imap"], "pop3", bound["pop3"])
	return nil
}

// fromBind dials from the bind address when the node is bound to one, so
// the receiving node sees the sender at the address it is known by.
func fromBind(bind netip.Addr) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 30 * time.Second}
	if !bind.IsUnspecified() {
		d.LocalAddr = &net.TCPAddr{IP: bind.AsSlice()}
	}
	return d.DialContext
}

// Mail is the node's mail, or nil when mail is off.
func (n *Node) Mail() *Mail { return n.mail }

// firstMailUser makes the first user on a store without users: the name
// from the settings, else the login name, with a generated password.
func (n *Node) firstMailUser(ctx context.Context, m *Mail) error {
	users, err := m.Store.Users(ctx)
	if err != nil {
		return fmt.Errorf("node: mail: %w", err)
	}
	if len(users) > 0 {
		return nil
	}
	name := n.cfg.Mail.User
	if name == "" {
		name = loginName()
	}
	pw := mailstore.GeneratePassword()
	if err := m.Store.AddUser(ctx, name, pw); err != nil {
		return fmt.Errorf("node: mail: first user %q: %w", name, err)
	}
	m.FirstUser, m.FirstPassword, m.pending = name, pw, pw
	return nil
}

// loginName is the user's login name as a mail local part, or "me".
func loginName() string {
	u, err := user.Current()
	if err != nil {
		return "me"
	}
	name := strings.ToLower(nonLocalPart.ReplaceAllString(u.Username, ""))
	if name == "" {
		return "me"
	}
	return name
}

var nonLocalPart = regexp.MustCompile(`[^a-zA-Z0-9._-]`)

// memberDomains answers the queue's and the servers' questions about the
// group's domains from the member table.
type memberDomains struct {
	t    *membership.Table
	zone string
}

// label is the member name of domain (NAME of NAME.shoal).
func (d memberDomains) label(domain string) (string, bool) {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	label, ok := strings.CutSuffix(domain, "."+d.zone)
	return label, ok && label != "" && !strings.Contains(label, ".")
}

func (d memberDomains) member(domain string) (membership.Member, bool) {
	label, ok := d.label(domain)
	if !ok {
		return membership.Member{}, false
	}
	return d.t.Lookup(label)
}

// inZone: domain is a member's name in the group's zone (NAME.shoal),
// in the member table now or not.
func (d memberDomains) inZone(domain string) bool {
	_, ok := d.label(domain)
	return ok
}

func (d memberDomains) has(domain string) bool {
	_, ok := d.member(domain)
	return ok
}

// relayPort is the SMTP relay port a member advertises.
func (d memberDomains) relayPort(_ context.Context, domain string) (int, error) {
	m, ok := d.member(domain)
	if !ok {
		return 0, fmt.Errorf("node: mail: %s is not a member of the group", domain)
	}
	p, ok := m.Record.Ports["smtp"]
	if !ok {
		return 0, fmt.Errorf("node: mail: %s runs no mail relay", domain)
	}
	return p, nil
}

// notifying is the store for the SMTP servers: each delivery is told on
// the bus (the window and the web client show new mail).
type notifying struct {
	*mailstore.Store
	bus *Bus
}

// MailArrived is the data of an EventMailArrived event.
type MailArrived struct {
	User string `json:"user"`
	UID  uint32 `json:"uid"`
}

func (s notifying) Deliver(ctx context.Context, user string, raw []byte) (uint32, error) {
	uid, err := s.Store.Deliver(ctx, user, raw)
	if err == nil {
		s.bus.Publish(EventMailArrived, MailArrived{User: user, UID: uid})
	}
	return uid, err
}

// NewPassword is the first user's generated password while it has not been
// noted; "" once it has, or when this start made no user.
func (m *Mail) NewPassword() (user, password string) {
	m.pendingMu.Lock()
	defer m.pendingMu.Unlock()
	if m.pending == "" {
		return "", ""
	}
	return m.FirstUser, m.pending
}

// NotedPassword forgets the first user's password: it is shown no more.
func (m *Mail) NotedPassword() {
	m.pendingMu.Lock()
	m.pending = ""
	m.pendingMu.Unlock()
}
