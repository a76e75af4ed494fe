package queue_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"
	"go.uber.org/goleak"

	"github.com/shoal-p2p/shoal/mail/dkim"
	"github.com/shoal-p2p/shoal/mail/internal/mailtest"
	"github.com/shoal-p2p/shoal/mail/queue"
	"github.com/shoal-p2p/shoal/mail/smtpd"
	"github.com/shoal-p2p/shoal/storage"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild()
	}
	goleak.VerifyTestMain(m)
}

// clock is real time plus an offset that tests move forward.
type clock struct{ off atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// events records what a queue reports.
type events struct {
	mu  sync.Mutex
	all []queue.Event
}

func (e *events) add(ev queue.Event) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
}

func (e *events) find(kind queue.EventKind, rcpt string) (queue.Event, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.all {
		if ev.Kind == kind && ev.Recipient == rcpt {
			return ev, true
		}
	}
	return queue.Event{}, false
}

func (e *events) count(kind queue.EventKind, rcpt string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.all {
		if ev.Kind == kind && ev.Recipient == rcpt {
			n++
		}
	}
	return n
}

// testNode is one in-process node: a database, mailboxes, a relay server,
// a submission server and a queue, with its records in the shared zone.
type testNode struct {
	t      *testing.T
	name   string // alice.shoal
	zone   *mailtest.Zone
	boxes  *mailtest.Mailboxes
	signer *dkim.Signer
	clock  *clock
	events *events
	dbPath string

	db         *storage.DB
	q          *queue.Queue
	stopQueue  func()
	relayAddr  string
	stopRelay  func()
	submitAddr string
}

func newTestNode(t *testing.T, zone *mailtest.Zone, name string, users ...string) *testNode {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := dkim.NewSigner(name, priv)
	if err != nil {
		t.Fatal(err)
	}
	pw := map[string]string{}
	for _, u := range users {
		pw[u] = u + "-pw"
	}
	n := &testNode{
		t: t, name: name, zone: zone, boxes: mailtest.NewMailboxes(pw), signer: signer,
		clock: &clock{}, events: &events{}, dbPath: filepath.Join(t.TempDir(), "shoal.db"),
	}
	zone.Add(t,
		fmt.Sprintf("%s. 60 IN TXT %q", dkim.RecordName(name), dkim.TXTRecord(pub)),
		fmt.Sprintf("%s. 60 IN MX 10 %s.", name, name),
		fmt.Sprintf("%s. 60 IN A 127.0.0.1", name),
	)
	n.startRelay()
	n.openQueue()
	n.startSubmission()
	t.Cleanup(func() {
		if n.stopRelay != nil {
			n.stopRelay()
		}
		n.closeQueue()
	})
	return n
}

// startRelay listens on a fresh port and publishes it as the SRV record.
func (n *testNode) startRelay() {
	t := n.t
	r, err := smtpd.NewRelay(smtpd.RelayOptions{Domains: []string{n.name}, Mailboxes: n.boxes, Resolver: n.zone.Resolver()})
	if err != nil {
		t.Fatal(err)
	}
	addr, stop := mailtest.Serve(t, r)
	n.relayAddr = addr
	_, port, _ := net.SplitHostPort(n.relayAddr)
	n.zone.Remove("_smtp._tcp."+n.name, dns.TypeSRV)
	n.zone.Add(t, fmt.Sprintf("_smtp._tcp.%s. 60 IN SRV 0 0 %s %s.", n.name, port, n.name))
	n.stopRelay = func() {
		stop()
		n.stopRelay = nil
	}
}

func (n *testNode) openQueue() {
	t := n.t
	db, err := storage.Open(n.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	q, err := queue.Open(db, queue.Options{
		Domain:       n.name,
		Resolver:     n.zone.NetipResolver(),
		Mailboxes:    n.boxes,
		Scale:        1e-5, // 3 ms doubling to 40 ms
		PollInterval: 20 * time.Millisecond,
		Timeout:      10 * time.Second,
		Now:          n.clock.Now,
		OnEvent:      n.events.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Serve(ctx) }()
	n.db, n.q = db, q
	n.stopQueue = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("queue Serve: %v", err)
		}
	}
}

func (n *testNode) closeQueue() {
	if n.stopQueue == nil {
		return
	}
	n.stopQueue()
	n.stopQueue = nil
	if err := n.db.Close(); err != nil {
		n.t.Error(err)
	}
}

func (n *testNode) startSubmission() {
	t := n.t
	s, err := smtpd.NewSubmission(smtpd.SubmissionOptions{
		Domain: n.name, Mailboxes: n.boxes, Outbox: outboxFunc(func(ctx context.Context, env queue.Envelope, raw []byte) (string, error) {
			return n.q.EnqueueEnvelope(ctx, env, raw) // n.q changes across restarts
		}),
		Signer: n.signer, InsecureAuth: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	n.submitAddr, _ = mailtest.Serve(t, s)
}

type outboxFunc func(ctx context.Context, env queue.Envelope, raw []byte) (string, error)

func (f outboxFunc) EnqueueEnvelope(ctx context.Context, env queue.Envelope, raw []byte) (string, error) {
	return f(ctx, env, raw)
}

// submit sends a message as user through the node's submission server.
func (n *testNode) submit(user string, rcpts []string, subject string) {
	n.t.Helper()
	c, err := smtp.Dial(n.submitAddr)
	if err != nil {
		n.t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("laptop"); err != nil {
		n.t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", user, user+"-pw")); err != nil {
		n.t.Fatalf("AUTH: %v", err)
	}
	from := user + "@" + n.name
	var to bytes.Buffer
	for i, r := range rcpts {
		if i > 0 {
			to.WriteString(", ")
		}
		to.WriteString(r)
	}
	msg := "From: " + from + "\r\nTo: " + to.String() + "\r\nSubject: " + subject + "\r\n\r\nHello from " + user + ".\r\n"
	if err := c.SendMail(from, rcpts, bytes.NewReader([]byte(msg))); err != nil {
		n.t.Fatalf("submit: %v", err)
	}
	c.Quit()
}

// received is how many messages with subject user's INBOX holds.
func (n *testNode) received(user, subject string) int {
	c := 0
	for _, m := range n.boxes.Inbox(user) {
		if bytes.Contains(m, []byte("Subject: "+subject+"\r\n")) {
			c++
		}
	}
	return c
}

func (n *testNode) queued(t *testing.T) []queue.Message {
	t.Helper()
	ms, err := n.q.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func itoa(i int) string { return strconv.Itoa(i) }

const wait = 10 * time.Second
