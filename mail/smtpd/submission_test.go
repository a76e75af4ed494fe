package smtpd

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/shoal-p2p/shoal/mail/dkim"
	"github.com/shoal-p2p/shoal/mail/internal/mailtest"
)

type submitFixture struct {
	zone      *mailtest.Zone
	alice     *node
	boxes     *mailtest.Mailboxes
	out       *outbox
	log       *logRecorder
	addr      string
	serverTLS *tls.Config
	clientTLS *tls.Config
	sub       *Submission
}

func newSubmitFixture(t *testing.T, mod func(*SubmissionOptions)) *submitFixture {
	t.Helper()
	f := &submitFixture{zone: mailtest.NewZone(t), out: &outbox{}, log: &logRecorder{}}
	f.alice = newNode(t, f.zone, "alice.shoal")
	f.boxes = mailtest.NewMailboxes(map[string]string{"alice": "s3cret", "ann": "pw"})
	serverTLS, clientTLS := mailtest.TLSConfig(t, "alice.shoal")
	f.serverTLS, f.clientTLS = serverTLS, clientTLS
	opts := SubmissionOptions{
		Domain:        "alice.shoal",
		Mailboxes:     f.boxes,
		Outbox:        f.out,
		Signer:        f.alice.signer,
		TLSConfig:     serverTLS,
		InsecureAuth:  true,
		AuthFailDelay: time.Millisecond,
		Limits:        Limits{MaxMessageBytes: 8192, MaxRecipients: 4},
		Logger:        slog.New(f.log),
	}
	if mod != nil {
		mod(&opts)
	}
	s, err := NewSubmission(opts)
	if err != nil {
		t.Fatal(err)
	}
	f.addr, _ = mailtest.Serve(t, s)
	f.sub = s
	return f
}

// Submit, the node's own way to send, takes the path of a client's DATA:
// checks, signature, queue, local mailbox, Sent.
func TestSubmitInProcess(t *testing.T) {
	f := newSubmitFixture(t, nil)
	ctx := context.Background()
	raw := []byte("From: alice@alice.shoal\r\nTo: ann@alice.shoal, bob@bob.shoal\r\nSubject: from the window\r\n\r\nHello.\r\n")
	if err := f.sub.Submit(ctx, "alice", []string{"ann@alice.shoal", "bob@bob.shoal"}, raw); err != nil {
		t.Fatal(err)
	}
	in := f.boxes.Inbox("ann")
	if len(in) != 1 || !bytes.Contains(in[0], []byte("with local id")) {
		t.Fatalf("ann's inbox: %q", in)
	}
	if err := dkim.Check(ctx, in[0], "alice.shoal", f.zone.Resolver()); err != nil {
		t.Errorf("not signed: %v", err)
	}
	if q := f.out.all(); len(q) != 1 || strings.Join(q[0].rcpts, ",") != "bob@bob.shoal" {
		t.Errorf("queued %+v, want bob", q)
	}
	if len(f.boxes.Sent("alice")) != 1 {
		t.Error("no copy in Sent")
	}
	for _, c := range []struct {
		user  string
		rcpts []string
		raw   string
		want  string
	}{
		{"nobody", []string{"ann@alice.shoal"}, "Subject: x\r\n\r\nx\r\n", "no user"},
		{"alice", nil, "Subject: x\r\n\r\nx\r\n", "no recipients"},
		{"alice", []string{"zed@alice.shoal"}, "Subject: x\r\n\r\nx\r\n", "no such user"},
		{"alice", []string{"x@example.com"}, "Subject: x\r\n\r\nx\r\n", "outside the group"},
		{"alice", []string{"ann@alice.shoal"}, "From: bob@bob.shoal\r\n\r\nx\r\n", "your own address"},
	} {
		err := f.sub.Submit(ctx, c.user, c.rcpts, []byte(c.raw))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "smtpd: ") {
			t.Errorf("Submit(%s, %v): %v, want %q", c.user, c.rcpts, err, c.want)
		}
	}
	if len(f.boxes.Inbox("ann")) != 1 || len(f.out.all()) != 1 {
		t.Error("a refused submission delivered or queued something")
	}
}

func plainIR(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

func TestSubmissionDeliversQueuesSignsAndFiles(t *testing.T) {
	f := newSubmitFixture(t, nil)
	c := dial(t, f.addr)
	ehlo := c.expect("EHLO laptop", 250, "Hello")
	if !strings.Contains(ehlo, "AUTH PLAIN LOGIN") || !strings.Contains(ehlo, "STARTTLS") {
		t.Fatalf("EHLO reply lacks AUTH or STARTTLS:\n%s", ehlo)
	}
	c.expect("AUTH PLAIN "+plainIR("alice", "s3cret"), 235, "2.0.0")
	c.expect("AUTH PLAIN "+plainIR("alice", "s3cret"), 503, "5.5.1")
	c.expect("MAIL FROM:<alice@alice.shoal>", 250, "2.0.0")
	c.expect("RCPT TO:<ann@alice.shoal>", 250, "2.0.0")
	c.expect("RCPT TO:<bob@bob.shoal>", 250, "2.0.0")
	c.expect("RCPT TO:<carol@carol.shoal>", 250, "2.0.0")
	c.expect("RCPT TO:<Carol@carol.shoal>", 250, "2.0.0")
	raw := []byte("From: Alice <alice@alice.shoal>\r\nTo: ann@alice.shoal, bob@bob.shoal\r\nSubject: plans\r\n\r\nSee you at nine.\r\n")
	if code, msg := c.data(raw); code != 250 {
		t.Fatalf("DATA: %d %s", code, msg)
	}
	ctx := context.Background()
	check := func(where string, got []byte) {
		t.Helper()
		if err := dkim.Check(ctx, got, "alice.shoal", f.zone.Resolver()); err != nil {
			t.Errorf("%s: not signed by alice.shoal: %v\n%s", where, err, got)
		}
		for _, want := range []string{"Received: from laptop ([127.0.0.1])", "with ESMTPA id", "Message-ID: <", "Date: ", "See you at nine."} {
			if !bytes.Contains(got, []byte(want)) {
				t.Errorf("%s lacks %q:\n%s", where, want, got)
			}
		}
	}
	in := f.boxes.Inbox("ann")
	if len(in) != 1 {
		t.Fatalf("ann has %d messages, want 1", len(in))
	}
	check("ann's copy", in[0])
	q := f.out.all()
	if len(q) != 1 || q[0].from != "alice@alice.shoal" || strings.Join(q[0].rcpts, ",") != "bob@bob.shoal,carol@carol.shoal" {
		t.Fatalf("queued %+v, want one message from alice for bob and carol", q)
	}
	check("queued copy", q[0].raw)
	sent := f.boxes.Sent("alice")
	if len(sent) != 1 {
		t.Fatalf("alice's Sent has %d messages, want 1", len(sent))
	}
	check("Sent copy", sent[0])
}

func TestSubmissionRefusals(t *testing.T) {
	f := newSubmitFixture(t, nil)
	c := dial(t, f.addr)
	c.expect("EHLO laptop", 250, "Hello")
	c.expect("MAIL FROM:<alice@alice.shoal>", 530, "5.7.0")
	c.expect("RCPT TO:<ann@alice.shoal>", 503, "5.5.1")
	c.expect("AUTH PLAIN "+plainIR("alice", "wrong"), 535, "5.7.8")
	c.expect("AUTH PLAIN "+plainIR("mallory", "s3cret"), 535, "5.7.8")
	c.expect("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("ann\x00alice\x00s3cret")), 535, "5.7.8")
	c.expect("AUTH PLAIN not-base64!", 454, "4.7.0")
	c.expect("AUTH CRAM-MD5", 504, "5.7.4")
	c.expect("MAIL FROM:<alice@alice.shoal>", 530, "5.7.0")
	// LOGIN, step by step, the way Outlook and swaks do it.
	if msg := c.expect("AUTH LOGIN", 334, ""); msg != base64.StdEncoding.EncodeToString([]byte("Username:")) {
		t.Fatalf("LOGIN challenge %q", msg)
	}
	c.expect(base64.StdEncoding.EncodeToString([]byte("alice@alice.shoal")), 334, base64.StdEncoding.EncodeToString([]byte("Password:")))
	c.expect(base64.StdEncoding.EncodeToString([]byte("s3cret")), 235, "2.0.0")

	c.expect("MAIL FROM:<ann@alice.shoal>", 553, "5.7.1")
	c.expect("MAIL FROM:<alice@bob.shoal>", 553, "5.7.1")
	c.expect("MAIL FROM:<>", 553, "5.7.1")
	c.expect("MAIL FROM:<ALICE@alice.shoal>", 250, "2.0.0")
	c.expect("RCPT TO:<nobody@alice.shoal>", 550, "5.1.1")
	c.expect("RCPT TO:<eve@example.com>", 550, "5.7.1")
	c.expect("RCPT TO:<bob>", 501, "5.5.2")
	for _, r := range []string{"bob@bob.shoal", "carol@carol.shoal", "dan@dan.shoal", "ann@alice.shoal"} {
		c.expect("RCPT TO:<"+r+">", 250, "2.0.0")
	}
	c.expect("RCPT TO:<erin@erin.shoal>", 452, "4.5.3")
	if code, msg := c.data(message("ann@alice.shoal", "bob@bob.shoal", "spoof")); code != 553 || !strings.HasPrefix(msg, "5.7.1") {
		t.Fatalf("DATA with another author: %d %s, want 553 5.7.1", code, msg)
	}
	c.expect("MAIL FROM:<alice@alice.shoal>", 250, "2.0.0")
	c.expect("RCPT TO:<bob@bob.shoal>", 250, "2.0.0")
	big := append(message("alice@alice.shoal", "bob@bob.shoal", "big"), bytes.Repeat([]byte("0123456789012345678901234567890123456789\r\n"), 300)...)
	if code, msg := c.data(big); code != 552 {
		t.Fatalf("DATA too large: %d %s, want 552", code, msg)
	}
	if len(f.out.all()) != 0 || len(f.boxes.Inbox("ann")) != 0 || len(f.boxes.Sent("alice")) != 0 {
		t.Fatal("refused messages were queued, delivered or filed")
	}
	for _, want := range []string{"failed login user=alice remote=127.0.0.1 failures=1", "failed login user=mallory remote=127.0.0.1 failures=2", "failures=3"} {
		if !f.log.contains(want) {
			t.Errorf("no log record %q", want)
		}
	}
}

func TestSubmissionOutsideDomainsWithSmartHost(t *testing.T) {
	f := newSubmitFixture(t, func(o *SubmissionOptions) { o.SmartHost = true })
	c := dial(t, f.addr)
	c.expect("EHLO laptop", 250, "Hello")
	c.expect("AUTH PLAIN "+plainIR("alice", "s3cret"), 235, "2.0.0")
	c.expect("MAIL FROM:<alice@alice.shoal>", 250, "2.0.0")
	c.expect("RCPT TO:<eve@example.com>", 250, "2.0.0")
	if code, msg := c.data(message("alice@alice.shoal", "eve@example.com", "out")); code != 250 {
		t.Fatalf("DATA: %d %s", code, msg)
	}
	if q := f.out.all(); len(q) != 1 || q[0].rcpts[0] != "eve@example.com" {
		t.Fatalf("queued %+v", q)
	}
}

func TestSubmissionLocalFailureGoesToQueue(t *testing.T) {
	f := newSubmitFixture(t, nil)
	f.boxes.Fail(errors.New("disk full"))
	c := dial(t, f.addr)
	c.expect("EHLO laptop", 250, "Hello")
	c.expect("AUTH PLAIN "+plainIR("alice", "s3cret"), 235, "2.0.0")
	c.expect("MAIL FROM:<alice@alice.shoal>", 250, "2.0.0")
	c.expect("RCPT TO:<ann@alice.shoal>", 250, "2.0.0")
	if code, msg := c.data(message("alice@alice.shoal", "ann@alice.shoal", "later")); code != 250 {
		t.Fatalf("DATA: %d %s", code, msg)
	}
	if q := f.out.all(); len(q) != 1 || q[0].rcpts[0] != "ann@alice.shoal" {
		t.Fatalf("queued %+v, want ann's copy", q)
	}
	f.out.fail = errors.New("queue broken")
	c.expect("MAIL FROM:<alice@alice.shoal>", 250, "2.0.0")
	c.expect("RCPT TO:<ann@alice.shoal>", 250, "2.0.0")
	if code, _ := c.data(message("alice@alice.shoal", "ann@alice.shoal", "never")); code != 451 {
		t.Fatalf("DATA with store and queue broken: %d, want 451", code)
	}
}

// TestSubmissionSTARTTLS uses go-smtp's client: no AUTH in the clear when
// the listener is not loopback, AUTH PLAIN after STARTTLS.
func TestSubmissionSTARTTLS(t *testing.T) {
	f := newSubmitFixture(t, func(o *SubmissionOptions) { o.InsecureAuth = false })
	c := dial(t, f.addr)
	ehlo := c.expect("EHLO laptop", 250, "Hello")
	if strings.Contains(ehlo, "AUTH") {
		t.Fatalf("AUTH offered without TLS:\n%s", ehlo)
	}
	c.expect("AUTH PLAIN "+plainIR("alice", "s3cret"), 523, "5.7.10")

	conn, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := smtp.NewClientStartTLS(conn, f.clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Auth(sasl.NewPlainClient("", "alice", "s3cret")); err != nil {
		t.Fatalf("AUTH after STARTTLS: %v", err)
	}
	if err := cl.SendMail("alice@alice.shoal", []string{"ann@alice.shoal"}, bytes.NewReader(message("alice@alice.shoal", "ann@alice.shoal", "tls"))); err != nil {
		t.Fatalf("send: %v", err)
	}
	if err := cl.Quit(); err != nil {
		t.Fatal(err)
	}
	in := f.boxes.Inbox("ann")
	if len(in) != 1 || !bytes.Contains(in[0], []byte("with ESMTPSA id")) {
		t.Fatalf("ann's INBOX: %q", in)
	}
}

// TestOutOfOrderInsideTLS: after STARTTLS, commands out of order still get
// 503 (go-smtp writes these replies itself, on the TLS connection).
func TestOutOfOrderInsideTLS(t *testing.T) {
	f := newSubmitFixture(t, func(o *SubmissionOptions) { o.InsecureAuth = false })
	c := dial(t, f.addr)
	c.expect("EHLO laptop", 250, "Hello")
	c.expect("STARTTLS", 220, "2.0.0")
	c.startTLS(f.clientTLS)
	c.expect("AUTH PLAIN "+plainIR("alice", "s3cret"), 503, "5.5.1") // EHLO again first
	c.expect("MAIL FROM:<alice@alice.shoal>", 503, "5.5.1")
	c.expect("EHLO laptop", 250, "Hello")
	c.expect("STARTTLS", 503, "5.5.1")
	c.expect("AUTH", 501, "5.5.4")
	c.expect("AUTH PLAIN "+plainIR("alice", "s3cret"), 235, "2.0.0")
	c.expect("RCPT TO:<ann@alice.shoal>", 503, "5.5.1")
	c.expect("DATA", 503, "5.5.1")
	c.expect("MAIL FROM:<alice@alice.shoal>", 250, "2.0.0")
	c.expect("MAIL FROM:<alice@alice.shoal>", 503, "5.5.1")
	c.expect("DATA", 503, "5.5.1")
	if len(f.boxes.Inbox("ann")) != 0 || len(f.out.all()) != 0 {
		t.Fatal("commands out of order delivered or queued something")
	}
}

// TestSwaks submits with swaks, AUTH LOGIN and PLAIN over STARTTLS.
func TestSwaks(t *testing.T) {
	swaks, err := exec.LookPath("swaks")
	if err != nil {
		t.Skip("swaks is not installed (Debian package swaks)")
	}
	f := newSubmitFixture(t, func(o *SubmissionOptions) { o.InsecureAuth = false })
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, mailtest.CertPEM(f.serverTLS), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(f.addr)
	for i, auth := range []string{"LOGIN", "PLAIN"} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, swaks,
			"--server", host, "--port", port, "--tls", "--tls-verify", "--tls-ca-path", ca, "--tls-sni", "alice.shoal",
			"--auth", auth, "--auth-user", "alice", "--auth-password", "s3cret",
			"--from", "alice@alice.shoal", "--to", "ann@alice.shoal", "--h-Subject", "swaks "+auth,
			"--helo", "laptop").CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("swaks --auth %s: %v\n%s", auth, err, out)
		}
		if !bytes.Contains(out, []byte("235 2.0.0")) || !bytes.Contains(out, []byte("<~  250 2.0.0")) {
			t.Fatalf("swaks --auth %s transcript lacks 235 or the final 250:\n%s", auth, out)
		}
		in := f.boxes.Inbox("ann")
		if len(in) != i+1 || !bytes.Contains(in[i], []byte("Subject: swaks "+auth)) || !bytes.Contains(in[i], []byte("with ESMTPSA")) {
			t.Fatalf("ann's INBOX after swaks --auth %s: %d messages", auth, len(in))
		}
	}
	// A wrong password fails swaks with 535.
	out, err := exec.Command(swaks, "--server", host, "--port", port, "--tls", "--tls-ca-path", ca,
		"--auth", "PLAIN", "--auth-user", "alice", "--auth-password", "nope",
		"--from", "alice@alice.shoal", "--to", "ann@alice.shoal", "--helo", "laptop").CombinedOutput()
	if err == nil || !bytes.Contains(out, []byte("535 5.7.8")) {
		t.Fatalf("swaks with a wrong password: %v\n%s", err, out)
	}
}

func TestNewSubmissionBadOptions(t *testing.T) {
	boxes := mailtest.NewMailboxes(nil)
	n := newNode(t, nil, "alice.shoal")
	for _, o := range []SubmissionOptions{
		{},
		{Domain: "a b", Mailboxes: boxes, Outbox: &outbox{}, Signer: n.signer},
		{Domain: "alice.shoal", Outbox: &outbox{}, Signer: n.signer},
		{Domain: "alice.shoal", Mailboxes: boxes, Signer: n.signer},
		{Domain: "alice.shoal", Mailboxes: boxes, Outbox: &outbox{}},
		{Domain: "alice.shoal", Mailboxes: boxes, Outbox: &outbox{}, Signer: n.signer}, // no TLS, no plaintext AUTH
	} {
		if _, err := NewSubmission(o); err == nil {
			t.Errorf("NewSubmission(%+v) accepted", o)
		}
	}
}

// TestCurl submits with curl's SMTP client: STARTTLS required, AUTH, and a
// refused recipient making curl fail.
func TestCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	f := newSubmitFixture(t, func(o *SubmissionOptions) { o.InsecureAuth = false })
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	msg := filepath.Join(dir, "msg.eml")
	if err := os.WriteFile(ca, mailtest.CertPEM(f.serverTLS), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(msg, message("alice@alice.shoal", "ann@alice.shoal", "curl"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(f.addr)
	run := func(user, rcpt string) ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return exec.CommandContext(ctx, curl, "-sS", "--ssl-reqd", "--cacert", ca,
			"--resolve", "alice.shoal:"+port+":127.0.0.1", "smtp://alice.shoal:"+port,
			"--user", user, "--mail-from", "alice@alice.shoal", "--mail-rcpt", rcpt, "-T", msg).CombinedOutput()
	}
	if out, err := run("alice:s3cret", "ann@alice.shoal"); err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	if in := f.boxes.Inbox("ann"); len(in) != 1 || !bytes.Contains(in[0], []byte("Subject: curl")) {
		t.Fatalf("ann's INBOX after curl: %d messages", len(in))
	}
	if out, err := run("alice:wrong", "ann@alice.shoal"); err == nil {
		t.Fatalf("curl with a wrong password succeeded:\n%s", out)
	}
	if out, err := run("alice:s3cret", "nobody@alice.shoal"); err == nil || !bytes.Contains(out, []byte("550")) {
		t.Fatalf("curl to an unknown user: %v\n%s", err, out)
	}
	if n := len(f.boxes.Inbox("ann")); n != 1 {
		t.Fatalf("ann has %d messages after the failed runs, want 1", n)
	}
}

func TestCRLF(t *testing.T) {
	for in, want := range map[string]string{
		"a\r\nb\r\n": "a\r\nb\r\n",
		"a\nb\n":     "a\r\nb\r\n",
		"a\r\nb\nc":  "a\r\nb\r\nc",
		"\n":         "\r\n",
	} {
		if got := string(crlf([]byte(in))); got != want {
			t.Errorf("crlf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSubmissionPassesDSNParameters(t *testing.T) {
	f := newSubmitFixture(t, nil)
	c := dial(t, f.addr)
	c.expect("EHLO laptop", 250, "Hello")
	c.expect("AUTH PLAIN "+plainIR("alice", "s3cret"), 235, "2.0.0")
	c.expect("MAIL FROM:<alice@alice.shoal> RET=HDRS ENVID=QQ314159", 250, "2.0.0")
	c.expect("RCPT TO:<bob@bob.shoal> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@bob.shoal", 250, "2.0.0")
	c.expect("RCPT TO:<carol@carol.shoal> NOTIFY=NEVER", 250, "2.0.0")
	c.expect("RCPT TO:<ann@alice.shoal> NOTIFY=SUCCESS", 250, "2.0.0") // local, but wants a report
	c.expect("RCPT TO:<alice@alice.shoal>", 250, "2.0.0")
	if code, msg := c.data(message("alice@alice.shoal", "bob@bob.shoal", "dsn")); code != 250 {
		t.Fatalf("DATA: %d %s", code, msg)
	}
	q := f.out.all()
	if len(q) != 1 {
		t.Fatalf("queued %d messages, want 1", len(q))
	}
	env := q[0].env
	if env.EnvID != "QQ314159" || strings.Join(q[0].rcpts, ",") != "bob@bob.shoal,carol@carol.shoal,ann@alice.shoal" {
		t.Fatalf("envelope %+v", env)
	}
	if r := env.Recipients[0]; strings.Join(r.Notify, ",") != "SUCCESS,FAILURE" || r.ORCPT != "bob@bob.shoal" {
		t.Errorf("bob's parameters %+v", r)
	}
	if r := env.Recipients[1]; strings.Join(r.Notify, ",") != "NEVER" || r.ORCPT != "" {
		t.Errorf("carol's parameters %+v", r)
	}
	if len(f.boxes.Inbox("ann")) != 0 || len(f.boxes.Inbox("alice")) != 1 {
		t.Fatalf("ann (wants a report) got %d direct copies, alice %d; want 0 and 1", len(f.boxes.Inbox("ann")), len(f.boxes.Inbox("alice")))
	}
}
