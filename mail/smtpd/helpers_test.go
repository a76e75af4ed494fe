package smtpd

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shoal-p2p/shoal/mail/dkim"
	"github.com/shoal-p2p/shoal/mail/internal/mailtest"
	"github.com/shoal-p2p/shoal/mail/queue"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// client is a raw SMTP conversation, for checking exact replies.
type client struct {
	t    *testing.T
	conn net.Conn
	tp   *textproto.Conn
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := &client{t: t, conn: conn, tp: textproto.NewConn(conn)}
	t.Cleanup(func() { c.tp.Close() })
	if code, msg := c.read(); code != 220 {
		t.Fatalf("greeting %d %s", code, msg)
	}
	return c
}

// startTLS goes on over TLS, after the server's 220 to STARTTLS.
func (c *client) startTLS(cfg *tls.Config) {
	c.t.Helper()
	tc := tls.Client(c.conn, cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	c.conn, c.tp = tc, textproto.NewConn(tc)
	c.t.Cleanup(func() { tc.Close() })
}

func (c *client) read() (int, string) {
	c.t.Helper()
	code, msg, err := c.tp.ReadResponse(0)
	if err != nil && code == 0 {
		c.t.Fatalf("reading reply: %v", err)
	}
	return code, msg
}

// do sends line and returns the reply.
func (c *client) do(line string) (int, string) {
	c.t.Helper()
	if err := c.tp.PrintfLine("%s", line); err != nil {
		c.t.Fatalf("sending %q: %v", line, err)
	}
	return c.read()
}

// expect sends line and checks the reply's code and the start of its text
// (the enhanced status code).
func (c *client) expect(line string, code int, prefix string) string {
	c.t.Helper()
	got, msg := c.do(line)
	if got != code || !strings.HasPrefix(msg, prefix) {
		c.t.Fatalf("%q: got %d %s, want %d %s...", line, got, msg, code, prefix)
	}
	return msg
}

// data sends DATA, the message and the final dot, and returns the reply.
func (c *client) data(raw []byte) (int, string) {
	c.t.Helper()
	if code, msg := c.do("DATA"); code != 354 {
		c.t.Fatalf("DATA: %d %s", code, msg)
	}
	w := c.tp.DotWriter()
	w.Write(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")))
	if err := w.Close(); err != nil {
		c.t.Fatal(err)
	}
	return c.read()
}

// node is one test node's keys and signer.
type node struct {
	domain string
	pub    ed25519.PublicKey
	priv   ed25519.PrivateKey
	signer *dkim.Signer
}

func newNode(t *testing.T, zone *mailtest.Zone, domain string) *node {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := dkim.NewSigner(domain, priv)
	if err != nil {
		t.Fatal(err)
	}
	if zone != nil {
		zone.Add(t, fmt.Sprintf("%s. 60 IN TXT %q", dkim.RecordName(domain), dkim.TXTRecord(pub)))
	}
	return &node{domain: domain, pub: pub, priv: priv, signer: s}
}

func (n *node) sign(t *testing.T, raw []byte) []byte {
	t.Helper()
	out, err := n.signer.Sign(raw)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func message(from, to, subject string) []byte {
	return []byte("From: " + from + "\r\nTo: " + to + "\r\nSubject: " + subject +
		"\r\nDate: Wed, 02 Dec 2026 07:40:00 +0000\r\nMessage-ID: <" + subject + "@test>\r\n\r\n" +
		"Body of " + subject + ".\r\n.leading dot stays\r\n")
}

// outbox records what the submission server queues.
type outbox struct {
	mu   sync.Mutex
	msgs []queued
	fail error
}

type queued struct {
	from  string
	rcpts []string
	env   queue.Envelope
	raw   []byte
}

func (o *outbox) EnqueueEnvelope(_ context.Context, env queue.Envelope, raw []byte) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail != nil {
		return "", o.fail
	}
	var rcpts []string
	for _, r := range env.Recipients {
		rcpts = append(rcpts, r.Address)
	}
	o.msgs = append(o.msgs, queued{env.From, rcpts, env, append([]byte(nil), raw...)})
	return fmt.Sprint(len(o.msgs)), nil
}

func (o *outbox) all() []queued {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]queued(nil), o.msgs...)
}

// logRecorder is a slog handler that keeps the messages it gets.
type logRecorder struct {
	mu   sync.Mutex
	recs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	l.mu.Lock()
	l.recs = append(l.recs, b.String())
	l.mu.Unlock()
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.recs {
		if strings.Contains(r, s) {
			return true
		}
	}
	return false
}
