// Package queue is a node's outbound mail queue: messages for other nodes
// (and, through a smart host, for the outside world) are kept in the node's
// bbolt database from before the submission's 250 until every recipient is
// delivered or bounced.
//
// Delivery goes per recipient domain: the domain's MX hosts, then the SMTP
// port from a RelayPort function (the member's advertised relay port), the
// domain's _smtp._tcp SRV records or a default, all through the Resolver the
// node passes in (naming). A 4xx reply or a connection failure defers the
// recipient with Postfix's backoff (minimal_backoff 300 s doubling up to
// maximal_backoff 4000 s, scaled by Options.Scale); a 5xx reply, or the
// queue lifetime (5 days) running out, bounces it with an RFC 3464 DSN
// delivered to the sender's mailbox. Each recipient keeps its last reason.
// The queue survives a restart: Serve resumes from the database. Every
// state change is reported through Options.OnEvent.
package queue

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-p2p/shoal/storage"
)

// Resolver finds where a domain's mail goes; naming's *Resolver is one (node
// passes it in). Any error of LookupMX makes the domain its own mail host
// (RFC 5321 5.1), so no error types need telling apart; an error of
// LookupSRV means no SRV records.
type Resolver interface {
	LookupMX(ctx context.Context, domain string) ([]*net.MX, error)
	LookupSRV(ctx context.Context, service, proto, name string) (cname string, addrs []*net.SRV, err error)
	LookupHost(ctx context.Context, host string) ([]netip.Addr, error)
}

// Mailboxes delivers into the node's own mailboxes: bounces to the sender,
// and copies for local users that the submission server could not store.
type Mailboxes interface {
	Deliver(ctx context.Context, user string, raw []byte) (uid uint32, err error)
}

// SmartHost is a relay for domains outside the group, used with AUTH PLAIN
// when User is set, and STARTTLS when TLSConfig is set.
type SmartHost struct {
	Host           string
	Port           int
	User, Password string
	TLSConfig      *tls.Config
}

// Postfix's defaults.
const (
	DefaultMinBackoff = 300 * time.Second
	DefaultMaxBackoff = 4000 * time.Second
	DefaultLifetime   = 5 * 24 * time.Hour
)

// Options configure a Queue. Domain, Resolver and Mailboxes are required.
type Options struct {
	Domain    string // the node's domain: EHLO name, local deliveries, DSN sender
	Resolver  Resolver
	Mailboxes Mailboxes
	// RelayPort gives the relay port a member domain advertises; nil means
	// the domain's _smtp._tcp SRV records, then DefaultPort.
	RelayPort   func(ctx context.Context, domain string) (int, error)
	DefaultPort int // 0 means 25
	// IsMember reports whether a domain belongs to the group; nil means a
	// name ending in .shoal. Other domains go through SmartHost, or bounce.
	IsMember  func(domain string) bool
	SmartHost *SmartHost

	MinBackoff, MaxBackoff time.Duration // 0: Postfix's 300 s and 4000 s
	// Scale multiplies both backoffs (tests use 1e-5 for milliseconds);
	// 0 means 1.
	Scale    float64
	Lifetime time.Duration // 0: 5 days
	// PollInterval is the longest the queue waits before looking again,
	// which bounds how late it notices a clock change; 0 means a minute.
	PollInterval time.Duration
	Concurrency  int           // deliveries at once; 0 means 4
	Timeout      time.Duration // one delivery attempt; 0 means 5 minutes

	Now     func() time.Time                                                  // nil: time.Now
	Dial    func(ctx context.Context, network, addr string) (net.Conn, error) // nil: net.Dialer
	OnEvent func(Event)                                                       // called after each commit; must not block long
	Logger  *slog.Logger
}

// State of one recipient.
type State string

const (
	Pending   State = "pending" // waiting for an attempt (first or a retry)
	Delivered State = "delivered"
	Bounced   State = "bounced"
)

// Recipient is one recipient of a queued message and its delivery state.
type Recipient struct {
	Address     string    `json:"address"`
	Domain      string    `json:"domain"`
	State       State     `json:"state"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastReason  string    `json:"last_reason,omitempty"` // the last reply or error
	LastStatus  string    `json:"last_status,omitempty"` // its enhanced status code, 4.4.1 and the like
	Host        string    `json:"host,omitempty"`        // the host of the last attempt
	DeliveredAt time.Time `json:"delivered_at,omitzero"`
	Notify      []string  `json:"notify,omitempty"`
	ORCPT       string    `json:"orcpt,omitempty"`
	Notified    bool      `json:"notified,omitempty"` // the report owed to the sender went out
}

// Message is a queued message without its body.
type Message struct {
	ID         string      `json:"id"`
	From       string      `json:"from"` // "" for the null sender
	EnvID      string      `json:"envid,omitempty"`
	Queued     time.Time   `json:"queued"`
	Size       int         `json:"size"`
	MessageID  string      `json:"message_id,omitempty"` // of the message itself, for the bounce's References
	Recipients []Recipient `json:"recipients"`
}

// Envelope is a message's SMTP envelope with the DSN parameters of RFC 3461.
type Envelope struct {
	From       string // "" for the null sender: no reports at all
	EnvID      string // ENVID, given back in reports
	Recipients []EnvelopeRecipient
}

// EnvelopeRecipient is one RCPT TO and its DSN parameters.
type EnvelopeRecipient struct {
	Address string
	// Notify is NOTIFY: "NEVER", or any of "SUCCESS", "FAILURE", "DELAY".
	// None means FAILURE. The queue sends no DELAY reports.
	Notify []string
	ORCPT  string // the original recipient address, given back in reports
}

// EventKind says what happened to a recipient.
type EventKind string

const (
	EventQueued    EventKind = "queued"
	EventDelivered EventKind = "delivered"
	EventDeferred  EventKind = "deferred"
	EventBounced   EventKind = "bounced"
	EventDropped   EventKind = "dropped"
)

// Event is one state change of one recipient.
type Event struct {
	Kind        EventKind
	ID          string // the queue id
	Recipient   string
	Time        time.Time
	Host        string // the host that took or refused the message
	Reason      string // deferred and bounced: the reply or error
	Attempts    int
	NextAttempt time.Time // deferred: when it is tried again
}

// ErrNotFound is returned for a queue id that is not (or no longer) queued.
var ErrNotFound = errors.New("queue: no such message")

var (
	messages = storage.NewBucket[Message]("mail.queue.messages")
	bodies   = []byte("mail.queue.bodies") // raw bytes: no JSON for message bodies
)

const component = "mail.queue"

var migrations = []storage.Migration{{
	Version: 1,
	Name:    "message and body buckets",
	Apply: func(tx *storage.Tx) error {
		if _, err := tx.CreateBucketIfNotExists([]byte(messages.Name())); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(bodies)
		return err
	},
}}

// Queue is the outbound queue on a node's database.
type Queue struct {
	db      *storage.DB
	opts    Options
	log     *slog.Logger
	kick    chan struct{}
	serving atomic.Bool

	finishMu sync.Mutex // serializes bounces and removals
}

// Open checks opts, brings the queue's buckets to the current schema and
// returns the queue. Nothing is delivered until Serve runs.
func Open(db *storage.DB, opts Options) (*Queue, error) {
	opts.Domain = strings.TrimSuffix(strings.ToLower(opts.Domain), ".")
	if opts.Domain == "" || strings.ContainsAny(opts.Domain, " @\r\n") {
		return nil, fmt.Errorf("queue: bad domain %q", opts.Domain)
	}
	if db == nil || opts.Resolver == nil || opts.Mailboxes == nil {
		return nil, errors.New("queue: database, Resolver and Mailboxes are required")
	}
	if sh := opts.SmartHost; sh != nil && (sh.Host == "" || sh.Port <= 0 || sh.Port > 65535) {
		return nil, fmt.Errorf("queue: smart host %q port %d: want a host and a port", sh.Host, sh.Port)
	}
	if opts.IsMember == nil {
		opts.IsMember = isShoalDomain
	}
	if opts.DefaultPort == 0 {
		opts.DefaultPort = 25
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.Scale > 0 {
		opts.MinBackoff = time.Duration(float64(opts.MinBackoff) * opts.Scale)
		opts.MaxBackoff = time.Duration(float64(opts.MaxBackoff) * opts.Scale)
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = opts.MinBackoff
	}
	if opts.Lifetime <= 0 {
		opts.Lifetime = DefaultLifetime
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Minute
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Dial == nil {
		d := &net.Dialer{Timeout: 30 * time.Second}
		opts.Dial = d.DialContext
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := db.Migrate(component, migrations); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	return &Queue{db: db, opts: opts, log: opts.Logger, kick: make(chan struct{}, 1)}, nil
}

func isShoalDomain(d string) bool { return strings.HasSuffix(d, ".shoal") && len(d) > len(".shoal") }

// wake makes Serve look at the queue now.
func (q *Queue) wake() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

func (q *Queue) emit(evs []Event) {
	if q.opts.OnEvent == nil {
		return
	}
	for _, e := range evs {
		q.opts.OnEvent(e)
	}
}

func newID(now time.Time) string {
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%016x%08x", now.UnixNano(), binary.BigEndian.Uint32(b[:]))
}

func splitAddress(addr string) (local, domain string, err error) {
	i := strings.LastIndexByte(addr, '@')
	if i <= 0 || i == len(addr)-1 || strings.ContainsAny(addr, " <>\r\n") {
		return "", "", fmt.Errorf("bad address %q", addr)
	}
	return strings.ToLower(addr[:i]), strings.TrimSuffix(strings.ToLower(addr[i+1:]), "."), nil
}

// Enqueue commits a message for rcpts and returns its queue id. from is the
// envelope sender ("" for none: no bounce will be sent). The message is
// durable when Enqueue returns.
func (q *Queue) Enqueue(ctx context.Context, from string, rcpts []string, raw []byte) (string, error) {
	env := Envelope{From: from}
	for _, r := range rcpts {
		env.Recipients = append(env.Recipients, EnvelopeRecipient{Address: r})
	}
	return q.EnqueueEnvelope(ctx, env, raw)
}

// EnqueueEnvelope is Enqueue with DSN parameters: reports go out as each
// recipient's NOTIFY asks (failures by default), with ENVID and ORCPT.
func (q *Queue) EnqueueEnvelope(ctx context.Context, env Envelope, raw []byte) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("queue: enqueue: %w", err)
	}
	from := env.From
	if from != "" {
		l, d, err := splitAddress(from)
		if err != nil {
			return "", fmt.Errorf("queue: enqueue: sender: %w", err)
		}
		from = l + "@" + d
	}
	if len(env.EnvID) > 100 || strings.ContainsFunc(env.EnvID, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		return "", fmt.Errorf("queue: enqueue: ENVID %q: want up to 100 printable ASCII characters", env.EnvID)
	}
	if len(env.Recipients) == 0 {
		return "", errors.New("queue: enqueue: no recipients")
	}
	if len(raw) == 0 {
		return "", errors.New("queue: enqueue: empty message")
	}
	now := q.opts.Now()
	m := Message{ID: newID(now), From: from, EnvID: env.EnvID, Queued: now, Size: len(raw)}
	if mm, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		m.MessageID = strings.TrimSpace(mm.Header.Get("Message-Id"))
	}
	seen := map[string]bool{}
	for _, r := range env.Recipients {
		l, d, err := splitAddress(r.Address)
		if err != nil {
			return "", fmt.Errorf("queue: enqueue: recipient: %w", err)
		}
		notify, err := checkNotify(r.Notify)
		if err != nil {
			return "", fmt.Errorf("queue: enqueue: recipient %s: %w", r.Address, err)
		}
		if r.ORCPT != "" {
			if _, _, err := splitAddress(r.ORCPT); err != nil {
				return "", fmt.Errorf("queue: enqueue: ORCPT of %s: %w", r.Address, err)
			}
		}
		addr := l + "@" + d
		if seen[addr] {
			continue
		}
		seen[addr] = true
		m.Recipients = append(m.Recipients, Recipient{Address: addr, Domain: d, State: Pending, NextAttempt: now, Notify: notify, ORCPT: r.ORCPT})
	}
	err := q.db.Update(func(tx *storage.Tx) error {
		if err := messages.Put(tx, m.ID, m); err != nil {
			return err
		}
		return tx.Bucket(bodies).Put([]byte(m.ID), raw)
	})
	if err != nil {
		return "", fmt.Errorf("queue: enqueue: %w", err)
	}
	var evs []Event
	for _, r := range m.Recipients {
		evs = append(evs, Event{Kind: EventQueued, ID: m.ID, Recipient: r.Address, Time: now})
	}
	q.log.Info("queue: queued", "id", m.ID, "from", from, "rcpts", len(m.Recipients), "size", len(raw))
	q.emit(evs)
	q.wake()
	return m.ID, nil
}

// List is every queued message, oldest first.
func (q *Queue) List(ctx context.Context) ([]Message, error) {
	var out []Message
	err := q.db.View(func(tx *storage.Tx) error {
		return messages.ForEach(tx, func(_ string, m Message) error {
			out = append(out, m)
			return ctx.Err()
		})
	})
	if err != nil {
		return nil, fmt.Errorf("queue: list: %w", err)
	}
	return out, nil
}

// Get is one queued message.
func (q *Queue) Get(ctx context.Context, id string) (Message, error) {
	var m Message
	err := q.db.View(func(tx *storage.Tx) error {
		var err error
		m, err = messages.Get(tx, id)
		return err
	})
	if errors.Is(err, storage.ErrNotFound) {
		return Message{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if err != nil {
		return Message{}, fmt.Errorf("queue: get %s: %w", id, err)
	}
	return m, nil
}

// RetryNow makes every pending recipient of message id due at once.
func (q *Queue) RetryNow(ctx context.Context, id string) error {
	now := q.opts.Now()
	err := q.db.Update(func(tx *storage.Tx) error {
		m, err := messages.Get(tx, id)
		if err != nil {
			return err
		}
		for i := range m.Recipients {
			if m.Recipients[i].State == Pending {
				m.Recipients[i].NextAttempt = now
			}
		}
		return messages.Put(tx, id, m)
	})
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if err != nil {
		return fmt.Errorf("queue: retry %s: %w", id, err)
	}
	q.wake()
	return nil
}

// Drop removes message id from the queue without a bounce. A delivery
// already under way may still complete.
func (q *Queue) Drop(ctx context.Context, id string) error {
	var m Message
	err := q.db.Update(func(tx *storage.Tx) error {
		var err error
		if m, err = messages.Get(tx, id); err != nil {
			return err
		}
		if err := messages.Delete(tx, id); err != nil {
			return err
		}
		return tx.Bucket(bodies).Delete([]byte(id))
	})
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if err != nil {
		return fmt.Errorf("queue: drop %s: %w", id, err)
	}
	now := q.opts.Now()
	var evs []Event
	for _, r := range m.Recipients {
		if r.State == Pending {
			evs = append(evs, Event{Kind: EventDropped, ID: id, Recipient: r.Address, Time: now, Reason: "dropped from the queue"})
		}
	}
	q.log.Info("queue: dropped", "id", id)
	q.emit(evs)
	return nil
}

// body reads a message's raw bytes.
func (q *Queue) body(id string) ([]byte, error) {
	var raw []byte
	err := q.db.View(func(tx *storage.Tx) error {
		v := tx.Bucket(bodies).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("%w: %q", ErrNotFound, id)
		}
		raw = append([]byte(nil), v...)
		return nil
	})
	return raw, err
}

// checkNotify upper-cases a NOTIFY list and checks it (RFC 3461 4.1).
func checkNotify(notify []string) ([]string, error) {
	var out []string
	for _, n := range notify {
		n = strings.ToUpper(strings.TrimSpace(n))
		switch n {
		case "NEVER", "SUCCESS", "FAILURE", "DELAY":
		default:
			return nil, fmt.Errorf("NOTIFY %q: want NEVER, SUCCESS, FAILURE or DELAY", n)
		}
		if slices.Contains(out, n) {
			return nil, fmt.Errorf("NOTIFY %s twice", n)
		}
		out = append(out, n)
	}
	if slices.Contains(out, "NEVER") && len(out) > 1 {
		return nil, errors.New("NOTIFY=NEVER with other values")
	}
	return out, nil
}

// wants reports whether r asked for a report of kind (SUCCESS, FAILURE).
func (r Recipient) wants(kind string) bool {
	if len(r.Notify) == 0 {
		return kind == "FAILURE"
	}
	return slices.Contains(r.Notify, kind)
}

// owed reports whether the sender of m is owed a report about r.
func owed(m Message, r Recipient) bool {
	if r.Notified || m.From == "" {
		return false
	}
	switch r.State {
	case Bounced:
		return r.wants("FAILURE")
	case Delivered:
		return r.wants("SUCCESS")
	}
	return false
}
