package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"

	"github.com/shoal-p2p/shoal/cdn/membership"
	"github.com/shoal-p2p/shoal/mail/dkim"
	"github.com/shoal-p2p/shoal/mail/mailstore"
	"github.com/shoal-p2p/shoal/mail/queue"
)

// mailWait bounds every network exchange of these tests.
const mailWait = 30 * time.Second

// mailMember is a member node with mail, and its first user's login.
type mailMember struct {
	*Node
	opts       Options
	name, bind string
	join       []string
	user, pass string
}

// startMailMember starts a node named name on bind whose first mail user
// is user; its queue retries within seconds. clock, if not nil, is the
// queue's clock.
func startMailMember(t *testing.T, name, bind, user string, clock func() time.Time, join ...string) *mailMember {
	t.Helper()
	m := &mailMember{opts: Options{DataDir: t.TempDir(), CDNTiming: fastCDN, MailClock: clock, MailPasswordCost: bcrypt.MinCost}, name: name, bind: bind, join: join, user: user}
	m.start(t)
	if m.Mail() == nil || m.Mail().FirstUser != user || m.Mail().FirstPassword == "" {
		t.Fatalf("%s: first mail user %+v", name, m.Mail())
	}
	m.pass = m.Mail().FirstPassword
	return m
}

// start (re)starts the node on its data dir.
func (m *mailMember) start(t *testing.T) {
	t.Helper()
	m.Node = startMemberIn(t, m.opts, m.name, m.bind, func(c *Config) {
		c.Join = m.join
		c.Mail.User = m.user
		c.Mail.RetryScale = 1e-3 // 0.3 s doubling to 4 s
	})
}

func (m *mailMember) address() string { return m.user + "@" + m.Mail().Domain }

// mailAddr is the address of one of n's mail servers (smtp, submission,
// imap, pop3) as its node record advertises it.
func mailAddr(t *testing.T, n *Node, service string) string {
	t.Helper()
	p, ok := n.CDN().Members.Self().Ports[service]
	if !ok {
		t.Fatalf("%s advertises no %s port", n.Config().Name, service)
	}
	return net.JoinHostPort(n.Config().Bind, strconv.Itoa(p))
}

// knowsRelay: from's member table holds to's current relay port.
func knowsRelay(from, to *Node) bool {
	m, ok := from.CDN().Members.Lookup(to.Config().Name)
	return ok && m.State == membership.Alive && m.Record.Ports["smtp"] == to.CDN().Members.Self().Ports["smtp"]
}

// dialSMTP opens an SMTP session with the server at addr, after STARTTLS
// if startTLS; every exchange on it has a deadline.
func dialSMTP(t *testing.T, addr string, startTLS bool) *smtp.Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, mailWait)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(mailWait))
	var c *smtp.Client
	if startTLS {
		c, err = smtp.NewClientStartTLS(conn, &tls.Config{InsecureSkipVerify: true})
	} else {
		c = smtp.NewClient(conn)
		err = c.Hello("laptop.example")
	}
	if err != nil {
		conn.Close()
		t.Fatalf("SMTP greeting from %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// submitMail sends a message as m's user through m's submission port,
// after STARTTLS and AUTH PLAIN, as a mail program does.
func submitMail(t *testing.T, m *mailMember, subject string, rcpts ...string) error {
	t.Helper()
	return submitAround(t, m, subject, rcpts, nil)
}

// submitAround is submitMail that runs beforeData, if not nil, once the
// recipients are accepted (a test takes a recipient's node down there).
func submitAround(t *testing.T, m *mailMember, subject string, rcpts []string, beforeData func()) error {
	t.Helper()
	c := dialSMTP(t, mailAddr(t, m.Node, "submission"), true)
	if err := c.Auth(sasl.NewPlainClient("", m.user, m.pass)); err != nil {
		t.Fatalf("AUTH: %v", err)
	}
	if err := c.Mail(m.address(), nil); err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	if beforeData != nil {
		beforeData()
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@laptop.example>\r\n\r\nHello from %s.\r\n",
		m.address(), strings.Join(rcpts, ", "), subject, subject, m.user)
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// imapMessages logs in to the IMAP server at addr over STARTTLS with
// go-imap's client and returns the whole of every message in folder.
func imapMessages(t *testing.T, addr, user, pass, folder string) [][]byte {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, mailWait)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(mailWait))
	c, err := imapclient.NewStartTLS(conn, &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		conn.Close()
		t.Fatalf("IMAP STARTTLS: %v", err)
	}
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatalf("IMAP LOGIN %s: %v", user, err)
	}
	sel, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("IMAP SELECT %s: %v", folder, err)
	}
	if sel.NumMessages == 0 {
		c.Logout().Wait()
		return nil
	}
	all := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(seqRange(1, sel.NumMessages), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{all}}).Collect()
	if err != nil {
		t.Fatalf("IMAP FETCH: %v", err)
	}
	var out [][]byte
	for _, msg := range msgs {
		out = append(out, msg.FindBodySection(all))
	}
	c.Logout().Wait()
	return out
}

func seqRange(from, to uint32) imap.SeqSet {
	var s imap.SeqSet
	s.AddRange(from, to)
	return s
}

// withSubject is how many of msgs have subject.
func withSubject(msgs [][]byte, subject string) int {
	c := 0
	for _, m := range msgs {
		if bytes.Contains(m, []byte("\r\nSubject: "+subject+"\r\n")) {
			c++
		}
	}
	return c
}

// waitMail waits until user's folder on n holds want messages with
// subject, and returns the folder's messages as IMAP gives them. It polls
// the store (an IMAP login is a bcrypt hash, slow under -race) and reads
// through IMAP once the messages are there.
func waitMail(t *testing.T, n *Node, user, pass, folder, subject string, want int) [][]byte {
	t.Helper()
	waitFor(t, user+"'s "+folder+" on "+n.Config().Name+" to hold "+subject, func() bool {
		uids, err := n.Mail().Store.Search(context.Background(), user, folder,
			&mailstore.Criteria{Header: []mailstore.HeaderMatch{{Key: "Subject", Value: subject}}})
		return err == nil && len(uids) >= want
	})
	return imapMessages(t, mailAddr(t, n, "imap"), user, pass, folder)
}

// smtpCode is the reply code and enhanced code of an SMTP error.
func smtpCode(err error) string {
	var e *smtp.SMTPError
	if !errors.As(err, &e) {
		return "no SMTP error: " + strings.TrimSpace(errString(err))
	}
	return strconv.Itoa(e.Code) + " " + strconv.Itoa(e.EnhancedCode[0]) + "." + strconv.Itoa(e.EnhancedCode[1]) + "." + strconv.Itoa(e.EnhancedCode[2])
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// relayData sends raw from sender to rcpt on the relay at addr and returns
// the first refusal.
func relayData(t *testing.T, addr, sender, rcpt string, raw []byte) error {
	t.Helper()
	c := dialSMTP(t, addr, false)
	if err := c.Mail(sender, nil); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	w.Write(raw)
	return w.Close()
}

// TestMailBetweenThreeNodes: alice on ann submits to bob on ben and carol
// on cal; both read it over IMAP, signed and verified, and alice's Sent
// holds a copy. The servers refuse relaying, spoofed senders and
// submission without AUTH; curl reads the message over IMAP and POP3.
func TestMailBetweenThreeNodes(t *testing.T) {
	ann := startMailMember(t, "ann", "127.0.0.2", "alice", nil)
	ben := startMailMember(t, "ben", "127.0.0.3", "bob", nil, ann.CDN().PeerAddr())
	cal := startMailMember(t, "cal", "127.0.0.4", "carol", nil, ann.CDN().PeerAddr())
	waitFor(t, "ann to know ben's and cal's relay ports", func() bool {
		return knowsRelay(ann.Node, ben.Node) && knowsRelay(ann.Node, cal.Node) && knowsRelay(ben.Node, ann.Node)
	})

	if err := submitMail(t, ann, "greetings", ben.address(), cal.address()); err != nil {
		t.Fatalf("submission: %v", err)
	}
	for _, rcpt := range []*mailMember{ben, cal} {
		msgs := waitMail(t, rcpt.Node, rcpt.user, rcpt.pass, "INBOX", "greetings", 1)
		if n := withSubject(msgs, "greetings"); n != 1 {
			t.Errorf("%s holds %d copies", rcpt.address(), n)
		}
		for _, want := range []string{"Authentication-Results: " + rcpt.Mail().Domain + "; dkim=pass header.d=ann.shoal", "DKIM-Signature:", "Hello from alice."} {
			if !bytes.Contains(msgs[0], []byte(want)) {
				t.Errorf("%s's copy lacks %q:\n%s", rcpt.address(), want, msgs[0])
			}
		}
	}
	if sent := imapMessages(t, mailAddr(t, ann.Node, "imap"), "alice", ann.pass, "Sent"); withSubject(sent, "greetings") != 1 {
		t.Errorf("alice's Sent holds %d copies", withSubject(sent, "greetings"))
	}
	waitFor(t, "ann's queue to empty", func() bool {
		ms, err := ann.Mail().Queue.List(context.Background())
		return err == nil && len(ms) == 0
	})

	t.Run("relay refused", func(t *testing.T) {
		err := relayData(t, mailAddr(t, ben.Node, "smtp"), ann.address(), cal.address(), nil)
		if got := smtpCode(err); got != "550 5.7.1" {
			t.Errorf("RCPT for cal's domain on ben: %s (%v), want 550 5.7.1", got, err)
		}
	})

	t.Run("spoofed sender refused", func(t *testing.T) {
		raw := []byte("From: " + ann.address() + "\r\nTo: " + ben.address() + "\r\nSubject: spoof\r\n\r\nI am alice.\r\n")
		err := relayData(t, mailAddr(t, ben.Node, "smtp"), ann.address(), ben.address(), raw)
		if got := smtpCode(err); !strings.HasPrefix(got, "550 5.7.") {
			t.Errorf("unsigned mail from ann.shoal: %s (%v), want 550 5.7.x", got, err)
		}
		_, other, _ := ed25519.GenerateKey(rand.Reader)
		forger, err := dkim.NewSigner("ann.shoal", other)
		if err != nil {
			t.Fatal(err)
		}
		signed, err := forger.Sign(raw)
		if err != nil {
			t.Fatal(err)
		}
		err = relayData(t, mailAddr(t, ben.Node, "smtp"), ann.address(), ben.address(), signed)
		if got := smtpCode(err); !strings.HasPrefix(got, "550 5.7.") {
			t.Errorf("mail from ann.shoal signed with another key: %s (%v), want 550 5.7.x", got, err)
		}
		if n := withSubject(imapMessages(t, mailAddr(t, ben.Node, "imap"), "bob", ben.pass, "INBOX"), "spoof"); n != 0 {
			t.Errorf("bob got %d spoofed messages", n)
		}
	})

	t.Run("submission needs AUTH", func(t *testing.T) {
		c := dialSMTP(t, mailAddr(t, ann.Node, "submission"), true)
		err := c.Mail(ann.address(), nil)
		if got := smtpCode(err); !strings.HasPrefix(got, "530 ") {
			t.Errorf("MAIL without AUTH: %s (%v), want 530", got, err)
		}
		if err := c.Auth(sasl.NewPlainClient("", "alice", "not the password")); !strings.HasPrefix(smtpCode(err), "535 ") {
			t.Errorf("AUTH with a wrong password: %v, want 535", err)
		}
	})

	t.Run("curl", func(t *testing.T) {
		if _, err := exec.LookPath("curl"); err != nil {
			t.Skip("curl is not installed")
		}
		imapURL := "imap://" + mailAddr(t, ben.Node, "imap") + "/INBOX;UID=1"
		if out := curl(t, imapURL, "bob", ben.pass); !strings.Contains(out, "Subject: greetings") || !strings.Contains(out, "Hello from alice.") {
			t.Errorf("curl %s:\n%s", imapURL, out)
		}
		popURL := "pop3://" + mailAddr(t, cal.Node, "pop3") + "/1"
		if out := curl(t, popURL, "carol", cal.pass); !strings.Contains(out, "Subject: greetings") || !strings.Contains(out, "dkim=pass") {
			t.Errorf("curl %s:\n%s", popURL, out)
		}
		if out := curl(t, "pop3://"+mailAddr(t, cal.Node, "pop3")+"/", "carol", cal.pass); !strings.HasPrefix(out, "1 ") {
			t.Errorf("curl POP3 LIST: %q", out)
		}
	})
}

// curl fetches url with curl as user over STARTTLS and returns what it
// printed.
func curl(t *testing.T, url, user, pass string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), mailWait)
	defer cancel()
	out, err := exec.CommandContext(ctx, "curl", "-sS", "--max-time", "20", "--ssl-reqd", "-k", "-u", user+":"+pass, url).CombinedOutput()
	if err != nil {
		t.Fatalf("curl %s: %v\n%s", url, err, out)
	}
	return string(out)
}

// recipientState is the queue's view of rcpt in n's queue: its state and
// attempts, or "" when no queued message is for rcpt.
func recipientState(t *testing.T, n *Node, rcpt string) (queue.Recipient, bool) {
	t.Helper()
	ms, err := n.Mail().Queue.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		for _, r := range m.Recipients {
			if r.Address == rcpt {
				return r, true
			}
		}
	}
	return queue.Recipient{}, false
}

// TestMailDeferredWhileDownThenDeliveredOnce: ben goes down while alice
// submits, so ann's queue defers the message with a reason; it stays
// queued after ann has dropped ben from its member table (a member down a
// long time is still one of the group); ben restarts on its data dir (new
// ports, learnt by gossip), and the message arrives once.
func TestMailDeferredWhileDownThenDeliveredOnce(t *testing.T) {
	ann := startMailMember(t, "ann", "127.0.0.2", "alice", nil)
	ben := startMailMember(t, "ben", "127.0.0.3", "bob", nil, ann.CDN().PeerAddr())
	waitFor(t, "ann to know ben's relay port", func() bool { return knowsRelay(ann.Node, ben.Node) && knowsRelay(ben.Node, ann.Node) })

	stopBen := func() {
		if err := ben.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := submitAround(t, ann, "while-down", []string{ben.address()}, stopBen); err != nil {
		t.Fatalf("submission: %v", err)
	}
	var r queue.Recipient
	waitFor(t, "the message to be deferred", func() bool {
		var ok bool
		r, ok = recipientState(t, ann.Node, ben.address())
		return ok && r.State == queue.Pending && r.Attempts >= 1
	})
	if r.LastReason == "" || r.NextAttempt.IsZero() {
		t.Errorf("deferred recipient %+v: want a reason and a next attempt", r)
	}
	waitFor(t, "ann to drop ben from its member table", func() bool {
		_, known := ann.CDN().Members.Lookup("ben")
		return !known
	})
	// Two attempts more: at least one began after the drop.
	before, _ := recipientState(t, ann.Node, ben.address())
	waitFor(t, "two more attempts after ben is dropped", func() bool {
		var queued bool
		r, queued = recipientState(t, ann.Node, ben.address())
		return !queued || r.State != queue.Pending || r.Attempts >= before.Attempts+2
	})
	if r.State != queue.Pending {
		t.Fatalf("recipient %+v after ben was dropped: want it still queued, deferred", r)
	}
	if n := withSubject(imapMessages(t, mailAddr(t, ann.Node, "imap"), "alice", ann.pass, "INBOX"), "while-down"); n != 0 {
		t.Fatalf("alice got %d bounces while ben was dropped", n)
	}

	ben.start(t)
	waitFor(t, "ann's queue to deliver to ben", func() bool {
		_, queued := recipientState(t, ann.Node, ben.address())
		return !queued
	})
	msgs := waitMail(t, ben.Node, "bob", ben.pass, "INBOX", "while-down", 1)
	if n := withSubject(msgs, "while-down"); n != 1 {
		t.Errorf("bob holds %d copies, want 1", n)
	}
	if n := withSubject(imapMessages(t, mailAddr(t, ann.Node, "imap"), "alice", ann.pass, "INBOX"), "while-down"); n != 0 {
		t.Errorf("alice got %d bounces", n)
	}
}

// testClock is a clock a test moves forward.
type testClock struct{ off atomic.Int64 }

func (c *testClock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *testClock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// TestMailBounceAfterLifetime: a message to a node that stays down bounces
// to its sender once the queue lifetime has passed, with a DSN naming the
// recipient and the reason.
func TestMailBounceAfterLifetime(t *testing.T) {
	clock := &testClock{}
	ann := startMailMember(t, "ann", "127.0.0.2", "alice", clock.Now)
	ben := startMailMember(t, "ben", "127.0.0.3", "bob", nil, ann.CDN().PeerAddr())
	waitFor(t, "ann to know ben's relay port", func() bool { return knowsRelay(ann.Node, ben.Node) })
	stopBen := func() {
		if err := ben.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := submitAround(t, ann, "stale", []string{ben.address()}, stopBen); err != nil {
		t.Fatalf("submission: %v", err)
	}
	waitFor(t, "the message to be deferred", func() bool {
		r, ok := recipientState(t, ann.Node, ben.address())
		return ok && r.Attempts >= 1
	})
	clock.Advance(queue.DefaultLifetime + time.Hour)

	var bounce []byte
	for _, m := range waitMail(t, ann.Node, "alice", ann.pass, "INBOX", "Undelivered mail", 1) {
		if bytes.Contains(m, []byte("multipart/report")) {
			bounce = m
		}
	}
	if bounce == nil {
		t.Fatal("alice's INBOX holds no report")
	}
	for _, want := range []string{"Final-Recipient: rfc822;" + ben.address(), "Action: failed", "Status: 5.4.7", "gave up after", "Subject: stale"} {
		if !bytes.Contains(bounce, []byte(want)) {
			t.Errorf("bounce lacks %q:\n%s", want, bounce)
		}
	}
	waitFor(t, "the bounced message to leave the queue", func() bool {
		_, queued := recipientState(t, ann.Node, ben.address())
		return !queued
	})
}
