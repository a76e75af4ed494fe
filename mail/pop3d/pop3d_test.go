package pop3d

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/shoal-p2p/shoal/mail/internal/mailtest"
	"github.com/shoal-p2p/shoal/mail/mailstore"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	user = "alice"
	pass = "alice's password"
)

type fixture struct {
	store *mailstore.Store
	addr  string
	logs  *mailtest.SyncBuffer
	raws  []string
}

// start runs a server whose alice has three messages; the second has lines
// that start with '.'.
func start(t *testing.T, opts Options) *fixture {
	t.Helper()
	st := mailtest.Store(t, user, pass)
	ctx := context.Background()
	f := &fixture{store: st}
	for i, body := range []string{"first body", ".hidden line\r\n..two dots\r\n.\r\nafter a lone dot", "third body\r\nline 2\r\nline 3"} {
		raw := fmt.Sprintf("From: bob@two.shoal\r\nSubject: message %d\r\nMessage-ID: <%d@two.shoal>\r\n\r\n%s\r\n", i+1, i+1, body)
		if _, err := st.Deliver(ctx, user, []byte(raw)); err != nil {
			t.Fatal(err)
		}
		f.raws = append(f.raws, raw)
	}
	f.logs = &mailtest.SyncBuffer{}
	opts.Log = slog.New(slog.NewTextHandler(f.logs, nil))
	opts.Throttle = mailstore.NewLoginThrottle(time.Millisecond, 10*time.Millisecond)
	f.addr, _ = mailtest.Serve(t, New(st, opts))
	return f
}

func (f *fixture) inbox(t *testing.T) int {
	t.Helper()
	st, err := f.store.FolderStatus(context.Background(), user, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return int(st.Messages)
}

// client is a raw POP3 connection.
type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func connect(t *testing.T, addr string) *client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.expect("+OK")
	return c
}

func (c *client) line() string {
	c.t.Helper()
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (got %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		c.t.Fatalf("line without CRLF: %q", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

func (c *client) expect(prefix string) string {
	c.t.Helper()
	l := c.line()
	if !strings.HasPrefix(l, prefix) {
		c.t.Fatalf("got %q, want %q...", l, prefix)
	}
	return l
}

// cmd sends a command and checks the first line of the answer.
func (c *client) cmd(line, prefix string) string {
	c.t.Helper()
	if _, err := fmt.Fprintf(c.conn, "%s\r\n", line); err != nil {
		c.t.Fatal(err)
	}
	return c.expect(prefix)
}

// multi reads a multi-line answer's lines up to the terminating ".".
func (c *client) multi() []string {
	c.t.Helper()
	var out []string
	for {
		l := c.line()
		if l == "." {
			return out
		}
		out = append(out, l)
	}
}

func (c *client) login() {
	c.t.Helper()
	c.cmd("USER "+user, "+OK")
	c.cmd("PASS "+pass, "+OK maildrop has 3 messages")
}

func TestTransactionAndUpdate(t *testing.T) {
	f := start(t, Options{InsecureAuth: true})
	c := connect(t, f.addr)
	c.cmd("CAPA", "+OK")
	capa := strings.Join(c.multi(), " ")
	for _, want := range []string{"TOP", "UIDL", "USER", "RESP-CODES", "PIPELINING"} {
		if !strings.Contains(capa, want) {
			t.Errorf("CAPA %q lacks %s", capa, want)
		}
	}
	if strings.Contains(capa, "STLS") {
		t.Error("STLS offered without a TLS config")
	}
	c.cmd("STAT", "-ERR")
	c.cmd("PASS "+pass, "-ERR")
	c.login()
	total := 0
	for _, r := range f.raws {
		total += len(r)
	}
	c.cmd("STAT", fmt.Sprintf("+OK 3 %d", total))
	c.cmd("LIST", "+OK 3 messages")
	if got := c.multi(); len(got) != 3 || got[1] != fmt.Sprintf("2 %d", len(f.raws[1])) {
		t.Fatalf("LIST %q", got)
	}
	c.cmd("LIST 2", fmt.Sprintf("+OK 2 %d", len(f.raws[1])))
	c.cmd("LIST 4", "-ERR no such message")
	c.cmd("LIST x", "-ERR")
	c.cmd("UIDL", "+OK")
	uidl := c.multi()
	if len(uidl) != 3 || !strings.HasSuffix(uidl[2], ".3") {
		t.Fatalf("UIDL %q", uidl)
	}
	c.cmd("UIDL 1", "+OK "+uidl[0])

	// RETR byte-stuffs lines that start with '.'.
	c.cmd("RETR 2", fmt.Sprintf("+OK %d octets", len(f.raws[1])))
	got := c.multi()
	want := strings.Split(strings.TrimSuffix(f.raws[1], "\r\n"), "\r\n")
	for i := range want {
		if strings.HasPrefix(want[i], ".") {
			want[i] = "." + want[i]
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("RETR 2:\n%q\nwant\n%q", got, want)
	}
	c.cmd("TOP 3 1", "+OK")
	top := c.multi()
	if len(top) != 5 || top[3] != "" || top[4] != "third body" {
		t.Fatalf("TOP 3 1: %q", top)
	}
	c.cmd("TOP 3", "-ERR")

	c.cmd("DELE 1", "+OK")
	c.cmd("DELE 1", "-ERR message 1 already deleted")
	c.cmd("RETR 1", "-ERR")
	c.cmd("STAT", fmt.Sprintf("+OK 2 %d", total-len(f.raws[0])))
	c.cmd("RSET", "+OK maildrop has 3 messages")
	c.cmd("DELE 1", "+OK")
	c.cmd("DELE 3", "+OK")
	c.cmd("NOOP", "+OK")
	c.cmd("BOGUS", "-ERR unknown command")
	if n := f.inbox(t); n != 3 {
		t.Fatalf("INBOX has %d messages before QUIT", n)
	}
	c.cmd("QUIT", "+OK")
	if _, err := c.r.ReadByte(); err == nil {
		t.Error("connection still open after QUIT")
	}
	uids, _ := f.store.UIDs(context.Background(), user, "INBOX")
	if len(uids) != 1 || uids[0] != 2 {
		t.Fatalf("after QUIT INBOX holds %v, want [2]", uids)
	}
	ms, _ := f.store.Messages(context.Background(), user, "INBOX", uids, mailstore.NoBody)
	if len(ms[0].Flags) != 1 || ms[0].Flags[0] != mailstore.FlagSeen {
		t.Errorf("retrieved message flags %v, want \\Seen", ms[0].Flags)
	}
}

func TestDroppedConnectionDeletesNothingAndInUse(t *testing.T) {
	f := start(t, Options{InsecureAuth: true})
	a := connect(t, f.addr)
	a.login()
	a.cmd("DELE 1", "+OK")
	a.cmd("DELE 2", "+OK")

	// A second session on the same maildrop is refused while a holds it.
	b := connect(t, f.addr)
	b.cmd("USER "+user, "+OK")
	b.cmd("PASS "+pass, "-ERR [IN-USE]")
	b.cmd("STAT", "-ERR")

	a.conn.Close() // dropped without QUIT
	// Once a's session has ended, the maildrop is free again, and whole.
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.cmd("USER "+user, "+OK")
		if l := b.cmd("PASS "+pass, ""); strings.HasPrefix(l, "+OK") {
			if l != "+OK maildrop has 3 messages ("+fmt.Sprint(len(f.raws[0])+len(f.raws[1])+len(f.raws[2]))+" octets)" {
				t.Fatalf("after a dropped session: %q", l)
			}
			break
		} else if !strings.Contains(l, "[IN-USE]") {
			t.Fatalf("PASS: %q", l)
		}
		if time.Now().After(deadline) {
			t.Fatal("maildrop still locked after the connection dropped")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := f.inbox(t); n != 3 {
		t.Fatalf("a dropped connection deleted messages: %d left", n)
	}
}

func TestBadInput(t *testing.T) {
	f := start(t, Options{InsecureAuth: true})
	c := connect(t, f.addr)
	c.cmd("USER "+user, "+OK")
	c.cmd("PASS wrong password", "-ERR [AUTH]")
	c.cmd("USER nobody", "+OK")
	c.cmd("PASS "+pass, "-ERR [AUTH]")
	if logs := f.logs.String(); strings.Count(logs, "pop3d: failed login") != 2 || strings.Contains(logs, "wrong password") {
		t.Errorf("log:\n%s", logs)
	}
	c.cmd("USER", "-ERR")
	c.cmd("USER "+strings.Repeat("x", 300), "-ERR line too long")
	c.cmd("NOOP", "-ERR log in first")
	c.login()
	for _, bad := range []string{"RETR", "RETR 0", "RETR -1", "RETR 99", "DELE 1 2", "TOP 1 -1", "TOP x 1", "USER bob"} {
		c.cmd(bad, "-ERR")
	}
	c.cmd("STAT", "+OK 3 ")
	// Ten errors in a row end the session, and change nothing.
	for i := 0; i < 9; i++ {
		c.cmd("XYZZY", "-ERR")
	}
	c.cmd("XYZZY", "-ERR unknown command; too many errors")
	if _, err := c.r.ReadByte(); err == nil {
		t.Error("connection open after too many errors")
	}
	if n := f.inbox(t); n != 3 {
		t.Errorf("%d messages left", n)
	}
}

func TestSTLS(t *testing.T) {
	cfg, clientTLS := mailtest.TLSConfig(t, "one.shoal")
	f := start(t, Options{TLS: cfg})
	c := connect(t, f.addr)
	c.cmd("CAPA", "+OK")
	capa := strings.Join(c.multi(), " ")
	if !strings.Contains(capa, "STLS") || strings.Contains(capa, "USER") {
		t.Errorf("CAPA before STLS: %q", capa)
	}
	c.cmd("USER "+user, "-ERR [AUTH]")
	c.cmd("PASS "+pass, "-ERR [AUTH]")
	c.cmd("STLS", "+OK")
	tc := tls.Client(c.conn, clientTLS)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
	c.cmd("STLS", "-ERR")
	c.login()
	c.cmd("QUIT", "+OK")

	// Commands pipelined behind STLS are not carried over into TLS.
	d := connect(t, f.addr)
	fmt.Fprintf(d.conn, "STLS\r\nUSER %s\r\n", user)
	d.expect("-ERR")
}

func curl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	out, err := exec.Command(path, append([]string{"--silent", "--show-error", "--max-time", "20"}, args...)...).CombinedOutput()
	return string(out), err
}

func TestCurl(t *testing.T) {
	f := start(t, Options{InsecureAuth: true})
	u := user + ":" + pass
	out, err := curl(t, "pop3://"+f.addr+"/", "-u", u)
	if err != nil || !strings.HasPrefix(out, fmt.Sprintf("1 %d\r\n2 %d\r\n3 %d", len(f.raws[0]), len(f.raws[1]), len(f.raws[2]))) {
		t.Fatalf("curl LIST: %v\n%q", err, out)
	}
	// curl undoes the byte-stuffing: it gets the message as stored.
	out, err = curl(t, "pop3://"+f.addr+"/2", "-u", u)
	if err != nil || out != f.raws[1] {
		t.Fatalf("curl RETR 2: %v\n%q\nwant %q", err, out, f.raws[1])
	}
	// DELE through curl takes effect at its QUIT.
	if out, err := curl(t, "pop3://"+f.addr+"/1", "-u", u, "-X", "DELE", "--head"); err != nil {
		t.Fatalf("curl DELE: %v\n%s", err, out)
	}
	if n := f.inbox(t); n != 2 {
		t.Fatalf("after curl's DELE and QUIT: %d messages", n)
	}
	if _, err := curl(t, "pop3://"+f.addr+"/", "-u", user+":wrong password"); err == nil {
		t.Fatal("curl logged in with a wrong password")
	}
}
