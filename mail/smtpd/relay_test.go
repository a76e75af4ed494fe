package smtpd

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shoal-p2p/shoal/mail/dkim"
	"github.com/shoal-p2p/shoal/mail/internal/mailtest"
)

type relayFixture struct {
	zone         *mailtest.Zone
	alice, mallo *node
	boxes        *mailtest.Mailboxes
	addr         string
}

func newRelayFixture(t *testing.T, mod func(*RelayOptions)) *relayFixture {
	t.Helper()
	f := &relayFixture{zone: mailtest.NewZone(t)}
	f.alice = newNode(t, f.zone, "alice.shoal")
	f.mallo = newNode(t, f.zone, "mallory.shoal")
	f.boxes = mailtest.NewMailboxes(map[string]string{"bob": "pw", "dave": "pw"})
	opts := RelayOptions{
		Domains:   []string{"bob.shoal"},
		Mailboxes: f.boxes,
		Resolver:  f.zone.Resolver(),
		Limits:    Limits{MaxMessageBytes: 4096, MaxRecipients: 3},
	}
	if mod != nil {
		mod(&opts)
	}
	r, err := NewRelay(opts)
	if err != nil {
		t.Fatal(err)
	}
	f.addr, _ = mailtest.Serve(t, r)
	return f
}

func TestRelayAcceptsSignedMailFromMember(t *testing.T) {
	f := newRelayFixture(t, nil)
	c := dial(t, f.addr)
	ehlo := c.expect("EHLO alice.shoal", 250, "Hello")
	for _, ext := range []string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "DSN", "SIZE 4096"} {
		if !strings.Contains(ehlo, ext) {
			t.Errorf("EHLO reply lacks %s:\n%s", ext, ehlo)
		}
	}
	c.expect("MAIL FROM:<alice@alice.shoal> RET=HDRS ENVID=x1", 250, "2.0.0")
	c.expect("RCPT TO:<bob@bob.shoal> NOTIFY=FAILURE,DELAY", 250, "2.0.0")
	c.expect("RCPT TO:<dave@bob.shoal>", 250, "2.0.0")
	c.expect("RCPT TO:<Bob@BOB.shoal>", 250, "2.0.0") // bob again: one copy
	signed := f.alice.sign(t, message("alice@alice.shoal", "bob@bob.shoal", "hello"))
	if code, msg := c.data(signed); code != 250 {
		t.Fatalf("DATA: %d %s", code, msg)
	}
	// 250 came after the commit: the mailboxes have it now, no polling.
	for _, user := range []string{"bob", "dave"} {
		in := f.boxes.Inbox(user)
		if len(in) != 1 {
			t.Fatalf("%s has %d messages, want 1", user, len(in))
		}
		got := in[0]
		if !bytes.HasPrefix(got, []byte("Received: from alice.shoal ([127.0.0.1])")) {
			t.Errorf("no Received field first:\n%s", got)
		}
		if !bytes.Contains(got, []byte("Authentication-Results: bob.shoal; dkim=pass header.d=alice.shoal\r\n")) {
			t.Errorf("no Authentication-Results with dkim=pass:\n%s", got)
		}
		if !bytes.HasSuffix(got, signed) {
			t.Errorf("message changed in transit:\n%s", got)
		}
		// The stored message still verifies for the reader.
		if err := dkim.Check(context.Background(), got, "alice.shoal", f.zone.Resolver()); err != nil {
			t.Errorf("stored message does not verify: %v", err)
		}
	}
	c.expect("QUIT", 221, "2.0.0")
}

func TestRelayRefusals(t *testing.T) {
	f := newRelayFixture(t, nil)
	plain := message("alice@alice.shoal", "bob@bob.shoal", "unsigned")
	cases := []struct {
		name  string
		from  string
		rcpts []string
		raw   []byte
		// the first refused step's reply
		code int
		enh  string
	}{
		{"relay attempt", "alice@alice.shoal", []string{"carol@carol.shoal"}, nil, 550, "5.7.1 relaying denied"},
		{"unknown user", "alice@alice.shoal", []string{"nobody@bob.shoal"}, nil, 550, "5.1.1"},
		{"sender outside the group", "eve@example.com", nil, nil, 550, "5.7.1"},
		{"unsigned", "alice@alice.shoal", []string{"bob@bob.shoal"}, plain, 550, "5.7.20"},
		{"signed with another key", "alice@alice.shoal", []string{"bob@bob.shoal"},
			(&node{signer: must(dkim.NewSigner("alice.shoal", f.mallo.priv))}).sign(t, plain), 550, "5.7.7"},
		{"signed by another member", "alice@alice.shoal", []string{"bob@bob.shoal"}, f.mallo.sign(t, plain), 550, "5.7.20"},
		{"From of another member", "mallory@mallory.shoal", []string{"bob@bob.shoal"},
			f.mallo.sign(t, message("alice@alice.shoal", "bob@bob.shoal", "forged")), 550, "5.7.1"},
		{"altered after signing", "alice@alice.shoal", []string{"bob@bob.shoal"},
			bytes.Replace(f.alice.sign(t, plain), []byte("Body of"), []byte("Bodies of"), 1), 550, "5.7.7"},
		{"too large", "alice@alice.shoal", []string{"bob@bob.shoal"},
			f.alice.sign(t, append(plain, bytes.Repeat([]byte("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"), 80)...)), 552, "5.3.4"},
		{"line too long", "alice@alice.shoal", []string{"bob@bob.shoal"},
			append(plain, bytes.Repeat([]byte("x"), 2100)...), 500, "5.5.2"},
		{"bad header", "alice@alice.shoal", []string{"bob@bob.shoal"}, []byte("no header here\r\n\r\nbody\r\n"), 550, "5.6.0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, f.addr)
			c.expect("EHLO alice.shoal", 250, "Hello")
			code, msg := c.do("MAIL FROM:<" + tc.from + ">")
			if tc.rcpts == nil {
				if code != tc.code || !strings.HasPrefix(msg, tc.enh) {
					t.Fatalf("MAIL: %d %s, want %d %s", code, msg, tc.code, tc.enh)
				}
				return
			}
			if code != 250 {
				t.Fatalf("MAIL: %d %s", code, msg)
			}
			code, msg = c.do("RCPT TO:<" + tc.rcpts[0] + ">")
			if tc.raw == nil {
				if code != tc.code || !strings.HasPrefix(msg, tc.enh) {
					t.Fatalf("RCPT: %d %s, want %d %s", code, msg, tc.code, tc.enh)
				}
				c.expect("DATA", 503, "5.5.1") // no recipient was accepted
				return
			}
			if code != 250 {
				t.Fatalf("RCPT: %d %s", code, msg)
			}
			if code, msg := c.data(tc.raw); code != tc.code || !strings.HasPrefix(msg, tc.enh) {
				t.Fatalf("DATA: %d %s, want %d %s", code, msg, tc.code, tc.enh)
			}
			if tc.code != 500 { // go-smtp hangs up after a line too long
				c.expect("NOOP", 250, "2.0.0") // the connection is still usable
			}
		})
	}
	for _, u := range []string{"bob", "dave"} {
		if n := len(f.boxes.Inbox(u)); n != 0 {
			t.Errorf("refused mail reached %s (%d messages)", u, n)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestRelayProtocolErrors(t *testing.T) {
	f := newRelayFixture(t, nil)
	c := dial(t, f.addr)
	// Commands out of order: 503 5.5.1 (RFC 5321 4.2.4; go-smtp as released
	// says 502, see mail/internal/go-smtp/SHOAL.md).
	c.expect("MAIL FROM:<alice@alice.shoal>", 503, "5.5.1")
	c.expect("EHLO", 501, "5.5.2")
	c.expect("EHLO alice.shoal", 250, "Hello")
	c.expect("RCPT TO:<bob@bob.shoal>", 503, "5.5.1")
	c.expect("DATA", 503, "5.5.1")
	c.expect("MAIL FROM:alice", 501, "5.5.2")
	c.expect("MAIL FROM:<alice>", 501, "5.5.2")
	c.expect("MAIL FROM:<@alice.shoal>", 501, "5.")
	c.expect("MAIL FROM:<alice@alice.shoal> FROB=1", 500, "5.5.4")
	c.expect("MAIL FROM:<alice@alice.shoal> SIZE=999999", 552, "5.3.4")
	c.expect("MAIL FROM:<alice@alice.shoal>", 250, "2.0.0")
	c.expect("MAIL FROM:<alice@alice.shoal>", 503, "5.5.1") // one transaction at a time
	c.expect("RCPT TO:bob", 501, "5.5.2")
	c.expect("RCPT TO:<bob@bob.shoal> NOTIFY=SOMETIMES", 501, "5.5.4")
	c.expect("RCPT TO:<bob@bob.shoal>", 250, "2.0.0")
	c.expect("RCPT TO:<dave@bob.shoal>", 250, "2.0.0")
	c.expect("RCPT TO:<bob@bob.shoal>", 250, "2.0.0")
	c.expect("RCPT TO:<dave@bob.shoal>", 452, "4.5.3")
	c.expect("DATA extra", 501, "5.5.4")
	c.expect("AUTH PLAIN AGFsaWNlAHB3", 523, "5.7.10") // the relay offers no AUTH
	c.expect("RSET", 250, "2.0.0")
	c.expect("DATA", 503, "5.5.1")
	c.expect("FROB", 500, "5.5.2")
	if len(f.boxes.Inbox("bob")) != 0 {
		t.Fatal("protocol errors delivered something")
	}
}

func TestRelayOutsideSenders(t *testing.T) {
	f := newRelayFixture(t, func(o *RelayOptions) { o.AllowOutside = true })
	c := dial(t, f.addr)
	c.expect("EHLO mx.example.com", 250, "Hello")
	c.expect("MAIL FROM:<eve@example.com>", 250, "2.0.0")
	c.expect("RCPT TO:<bob@bob.shoal>", 250, "2.0.0")
	if code, msg := c.data(message("eve@example.com", "bob@bob.shoal", "outside")); code != 250 {
		t.Fatalf("DATA: %d %s", code, msg)
	}
	in := f.boxes.Inbox("bob")
	if len(in) != 1 || !bytes.Contains(in[0], []byte("dkim=none header.d=example.com")) {
		t.Fatalf("outside mail not delivered with dkim=none: %q", in)
	}
	// Members must still sign, even when outsiders may send.
	c.expect("MAIL FROM:<alice@alice.shoal>", 250, "2.0.0")
	c.expect("RCPT TO:<bob@bob.shoal>", 250, "2.0.0")
	if code, msg := c.data(message("alice@alice.shoal", "bob@bob.shoal", "unsigned")); code != 550 {
		t.Fatalf("unsigned member mail: %d %s", code, msg)
	}
}

func TestRelayStoreFailureIsTemporary(t *testing.T) {
	f := newRelayFixture(t, nil)
	f.boxes.Fail(errors.New("disk full"))
	c := dial(t, f.addr)
	c.expect("EHLO alice.shoal", 250, "Hello")
	c.expect("MAIL FROM:<alice@alice.shoal>", 250, "2.0.0")
	c.expect("RCPT TO:<bob@bob.shoal>", 250, "2.0.0")
	if code, msg := c.data(f.alice.sign(t, message("alice@alice.shoal", "bob@bob.shoal", "x"))); code != 451 {
		t.Fatalf("DATA with a failing store: %d %s, want 451", code, msg)
	}
}

func TestNewRelayBadOptions(t *testing.T) {
	boxes := mailtest.NewMailboxes(nil)
	zone := mailtest.NewZone(t)
	for _, o := range []RelayOptions{
		{},
		{Domains: []string{"bad domain"}, Mailboxes: boxes, Resolver: zone.Resolver()},
		{Domains: []string{"bob.shoal"}, Resolver: zone.Resolver()},
		{Domains: []string{"bob.shoal"}, Mailboxes: boxes},
	} {
		if _, err := NewRelay(o); err == nil {
			t.Errorf("NewRelay(%+v) accepted", o)
		}
	}
}

func TestRelayDefaultsAndIdleTimeout(t *testing.T) {
	zone := mailtest.NewZone(t)
	r, err := NewRelay(RelayOptions{
		Domains: []string{"bob.shoal"}, Mailboxes: mailtest.NewMailboxes(map[string]string{"bob": "pw"}), Resolver: zone.Resolver(),
		Limits: Limits{ReadTimeout: 200 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := mailtest.Serve(t, r)
	c := dial(t, addr)
	ehlo := c.expect("EHLO alice.shoal", 250, "Hello")
	if !strings.Contains(ehlo, "SIZE 26214400") || !strings.Contains(ehlo, "LIMITS RCPTMAX=100") {
		t.Fatalf("default limits not 25 MiB and 100 recipients:\n%s", ehlo)
	}
	// An idle client is told 421 and dropped after the read timeout.
	if code, msg := c.read(); code != 421 {
		t.Fatalf("after the idle timeout: %d %s, want 421", code, msg)
	}
	if _, _, err := c.tp.ReadResponse(0); err == nil {
		t.Fatal("the connection stays open after the idle timeout")
	}
}
