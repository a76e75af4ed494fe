package imapd

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
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
}

func start(t *testing.T, opts Options) *fixture {
	t.Helper()
	st := mailtest.Store(t, user, pass)
	logs := &mailtest.SyncBuffer{}
	opts.Log = slog.New(slog.NewTextHandler(logs, nil))
	if opts.Throttle == nil {
		opts.Throttle = mailstore.NewLoginThrottle(time.Millisecond, 10*time.Millisecond)
	}
	addr, _ := mailtest.Serve(t, New(st, opts))
	return &fixture{store: st, addr: addr, logs: logs}
}

// events records what a client is told unasked.
type events struct {
	mu       sync.Mutex
	exists   []uint32
	expunges []uint32
	flags    []string
	notify   chan struct{}
}

func (e *events) handler() *imapclient.UnilateralDataHandler {
	e.notify = make(chan struct{}, 100)
	poke := func() {
		select {
		case e.notify <- struct{}{}:
		default:
		}
	}
	return &imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) {
			e.mu.Lock()
			e.expunges = append(e.expunges, seq)
			e.mu.Unlock()
			poke()
		},
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				e.mu.Lock()
				e.exists = append(e.exists, *d.NumMessages)
				e.mu.Unlock()
				poke()
			}
		},
		Fetch: func(msg *imapclient.FetchMessageData) {
			buf, err := msg.Collect()
			if err != nil {
				return
			}
			e.mu.Lock()
			e.flags = append(e.flags, fmt.Sprintf("%d %v", buf.SeqNum, buf.Flags))
			e.mu.Unlock()
			poke()
		},
	}
}

// waitFor polls cond until it holds or the deadline passes.
func (e *events) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		e.mu.Lock()
		ok := cond()
		e.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-e.notify:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func dial(t *testing.T, f *fixture, ev *events) *imapclient.Client {
	t.Helper()
	opts := &imapclient.Options{}
	if ev != nil {
		opts.UnilateralDataHandler = ev.handler()
	}
	c, err := imapclient.DialInsecure(f.addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func login(t *testing.T, f *fixture, ev *events) *imapclient.Client {
	t.Helper()
	c := dial(t, f, ev)
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatalf("login: %v", err)
	}
	return c
}

func message(subject, body string) string {
	return fmt.Sprintf("From: Bob <bob@two.shoal>\r\nTo: alice@one.shoal\r\nSubject: %s\r\nMessage-ID: <%d.%s@two.shoal>\r\nDate: Tue, 01 Dec 2026 09:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n", subject, time.Now().UnixNano(), strings.ReplaceAll(subject, " ", "-"), body)
}

func appendMsg(t *testing.T, c *imapclient.Client, folder, raw string, flags ...imap.Flag) imap.UID {
	t.Helper()
	cmd := c.Append(folder, int64(len(raw)), &imap.AppendOptions{Flags: flags})
	if _, err := cmd.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := cmd.Wait()
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return data.UID
}

func TestLoginFailsSlowlyAndIsLogged(t *testing.T) {
	f := start(t, Options{InsecureAuth: true})
	c := dial(t, f, nil)
	for i := range 3 {
		if err := c.Login(user, "wrong password").Wait(); err == nil {
			t.Fatalf("attempt %d: wrong password accepted", i)
		}
	}
	if err := c.Login("nobody", pass).Wait(); err == nil {
		t.Fatal("unknown user accepted")
	}
	logs := f.logs.String()
	if strings.Count(logs, "imapd: failed login") != 4 || !strings.Contains(logs, "failures=3") || !strings.Contains(logs, "remote=127.0.0.1") {
		t.Errorf("log:\n%s", logs)
	}
	if strings.Contains(logs, "wrong password") {
		t.Error("a password reached the log")
	}
	if err := c.Authenticate(sasl.NewPlainClient("", user, pass)); err != nil {
		t.Fatalf("AUTHENTICATE PLAIN: %v", err)
	}
	if c.State() != imap.ConnStateAuthenticated {
		t.Fatalf("state %v", c.State())
	}
}

func TestMailboxesAndMessages(t *testing.T) {
	f := start(t, Options{InsecureAuth: true})
	c := login(t, f, nil)
	if !c.Caps().Has(imap.CapIMAP4rev2) || !c.Caps().Has(imap.CapMove) || !c.Caps().Has(imap.CapSpecialUse) || !c.Caps().Has(imap.CapIdle) || !c.Caps().Has(imap.CapUIDPlus) {
		t.Errorf("caps %v", c.Caps())
	}
	list, err := c.List("", "*", &imap.ListOptions{ReturnSpecialUse: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]imap.MailboxAttr{}
	for _, l := range list {
		got[l.Mailbox] = l.Attrs
	}
	if len(got) != 5 || !slices.Contains(got["Sent"], imap.MailboxAttrSent) || !slices.Contains(got["Trash"], imap.MailboxAttrTrash) || !slices.Contains(got["Junk"], imap.MailboxAttrJunk) || !slices.Contains(got["Drafts"], imap.MailboxAttrDrafts) {
		t.Fatalf("LIST: %v", got)
	}

	raw1 := message("Hello Alice", "The quarterly figures are in.")
	uid1 := appendMsg(t, c, "INBOX", raw1)
	uid2 := appendMsg(t, c, "INBOX", message("Lunch", "Noon at the usual place?"), imap.FlagSeen)
	if uid1 != 1 || uid2 != 2 {
		t.Fatalf("APPENDUID %d %d", uid1, uid2)
	}
	bad := c.Append("Nope", int64(len(raw1)), nil)
	bad.Write([]byte(raw1))
	bad.Close()
	if _, err := bad.Wait(); err == nil || !strings.Contains(err.Error(), "TRYCREATE") {
		t.Errorf("APPEND to a missing mailbox: %v", err)
	}

	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages != 2 || sel.UIDNext != 3 || sel.UIDValidity == 0 {
		t.Fatalf("SELECT %+v", sel)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{
		Envelope: true, Flags: true, InternalDate: true, RFC822Size: true, UID: true,
		BodyStructure: &imap.FetchItemBodyStructure{}, BodySection: []*imap.FetchItemBodySection{{}},
	}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("FETCH: %v %v", msgs, err)
	}
	m := msgs[0]
	if m.UID != 1 || m.Envelope.Subject != "Hello Alice" || len(m.Envelope.From) != 1 || m.Envelope.From[0].Host != "two.shoal" {
		t.Errorf("envelope %+v", m.Envelope)
	}
	if m.RFC822Size != int64(len(raw1)) || string(m.FindBodySection(&imap.FetchItemBodySection{})) != raw1 || m.InternalDate.IsZero() {
		t.Errorf("size %d body %q", m.RFC822Size, m.FindBodySection(&imap.FetchItemBodySection{}))
	}
	if bs, ok := m.BodyStructure.(*imap.BodyStructureSinglePart); !ok || bs.Type != "text" || bs.Subtype != "plain" {
		t.Errorf("bodystructure %#v", m.BodyStructure)
	}
	hdr := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject"}, Peek: true}
	msgs, err = c.Fetch(imap.SeqSetNum(2), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{hdr}}).Collect()
	if err != nil || len(msgs) != 1 || string(msgs[0].FindBodySection(hdr)) != "Subject: Lunch\r\n\r\n" {
		t.Fatalf("BODY.PEEK[HEADER.FIELDS (Subject)]: %v %q", err, msgs[0].FindBodySection(hdr))
	}
	// BODY[] (not PEEK) set \Seen.
	msgs, _ = c.Fetch(imap.UIDSetNum(1), &imap.FetchOptions{Flags: true}).Collect()
	if len(msgs) != 1 || !slices.Equal(msgs[0].Flags, []imap.Flag{imap.FlagSeen}) {
		t.Fatalf("flags after BODY[]: %v", msgs)
	}

	sd, err := c.Search(&imap.SearchCriteria{Body: []string{"FIGURES"}}, nil).Wait()
	if err != nil || !slices.Equal(sd.AllSeqNums(), []uint32{1}) {
		t.Fatalf("SEARCH BODY: %v %v", sd, err)
	}
	sd, err = c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "lunch"}}}, nil).Wait()
	if err != nil || !slices.Equal(sd.AllUIDs(), []imap.UID{2}) {
		t.Fatalf("UID SEARCH SUBJECT: %v %v", sd, err)
	}

	// Flags come back in canonical case whatever case they went in.
	stored, err := c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{`\flagged`, "$Work"}}, nil).Collect()
	if err != nil || len(stored) != 1 || !slices.Equal(stored[0].Flags, []imap.Flag{"$Work", imap.FlagFlagged, imap.FlagSeen}) {
		t.Fatalf("STORE: %v %v", stored, err)
	}
	if _, err := c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{`\Bogus`}}, nil).Collect(); err == nil {
		t.Error("STORE of an unknown system flag succeeded")
	}
	sd, _ = c.Search(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagFlagged}}, nil).Wait()
	if !slices.Equal(sd.AllSeqNums(), []uint32{2}) {
		t.Errorf("SEARCH FLAGGED: %v", sd.AllSeqNums())
	}

	mv, err := c.Move(imap.SeqSetNum(1), "Trash").Wait()
	if err != nil || mv.UIDValidity == 0 || !slices.Equal(mv.DestUIDs.(imap.UIDSet), imap.UIDSetNum(1)) {
		t.Fatalf("MOVE: %+v %v", mv, err)
	}
	if n := c.Mailbox().NumMessages; n != 1 {
		t.Fatalf("after MOVE the client counts %d messages", n)
	}
	msgs, _ = c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{UID: true}).Collect()
	if len(msgs) != 1 || msgs[0].UID != 2 {
		t.Fatalf("after MOVE seq 1 is %v", msgs)
	}
	if _, err := c.Copy(imap.SeqSetNum(1), "Archive").Wait(); err == nil {
		t.Error("COPY to a missing mailbox succeeded")
	}
	cp, err := c.Copy(imap.SeqSetNum(1), "Trash").Wait()
	if err != nil || !slices.Equal(cp.DestUIDs, imap.UIDSetNum(2)) {
		t.Fatalf("COPY: %+v %v", cp, err)
	}
	st, err := c.Status("Trash", &imap.StatusOptions{NumMessages: true, NumUnseen: true, UIDNext: true, Size: true}).Wait()
	if err != nil || *st.NumMessages != 2 || *st.NumUnseen != 0 || st.UIDNext != 3 || *st.Size == 0 {
		t.Fatalf("STATUS Trash: %+v %v", st, err)
	}

	// Expunge through a UID set: only \Deleted messages go.
	c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
	exp, err := c.Expunge().Collect()
	if err != nil || !slices.Equal(exp, []uint32{1}) {
		t.Fatalf("EXPUNGE: %v %v", exp, err)
	}

	if err := c.Create("Projects/2026", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create("Projects/2026", nil).Wait(); err == nil {
		t.Error("CREATE of an existing mailbox succeeded")
	}
	if err := c.Rename("Projects", "Work", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	list, _ = c.List("", "Work*", nil).Collect()
	if len(list) != 2 || list[0].Mailbox != "Work" || !slices.Contains(list[0].Attrs, imap.MailboxAttrHasChildren) {
		t.Fatalf("after RENAME: %+v", list)
	}
	if err := c.Delete("INBOX").Wait(); err == nil {
		t.Error("DELETE INBOX succeeded")
	}
	if err := c.Delete("Work/2026").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("Work/2026", nil).Wait(); err == nil {
		t.Error("SELECT of a deleted mailbox succeeded")
	}
	// EXAMINE is read-only.
	if _, err := c.Select("Trash", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err == nil {
		t.Error("STORE in an EXAMINEd mailbox succeeded")
	}
	if err := c.UnselectAndExpunge().Wait(); err != nil {
		t.Errorf("CLOSE of an EXAMINEd mailbox: %v", err)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Error(err)
	}
}

func TestIdleSeesDelivery(t *testing.T) {
	f := start(t, Options{InsecureAuth: true})
	ev := &events{}
	c := login(t, f, ev)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if _, err := f.store.Deliver(context.Background(), user, []byte(message("While idle", "ping"))); err != nil {
			t.Error(err)
		}
	}()
	ev.waitFor(t, "EXISTS 1 during IDLE", func() bool { return slices.Contains(ev.exists, 1) })
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil || len(msgs) != 1 || msgs[0].Envelope.Subject != "While idle" {
		t.Fatalf("fetch after IDLE: %v %v", msgs, err)
	}
}

func TestTwoSessionsKeepSequenceNumbers(t *testing.T) {
	f := start(t, Options{InsecureAuth: true})
	ctx := context.Background()
	for i := 1; i <= 4; i++ {
		f.store.Deliver(ctx, user, []byte(message(fmt.Sprintf("Message %d", i), "x")))
	}
	evA, evB := &events{}, &events{}
	a, b := login(t, f, evA), login(t, f, evB)
	for _, c := range []*imapclient.Client{a, b} {
		if sel, err := c.Select("INBOX", nil).Wait(); err != nil || sel.NumMessages != 4 {
			t.Fatalf("select: %+v %v", sel, err)
		}
	}
	// A deletes messages 2 and 3 and expunges them.
	if err := a.Store(imap.SeqSet{{Start: 2, Stop: 3}}, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	exp, err := a.Expunge().Collect()
	if err != nil || len(exp) != 2 {
		t.Fatalf("A's EXPUNGE: %v %v", exp, err)
	}
	// B, before it polls, still numbers the messages 1..4 and can fetch
	// its message 4 under that number.
	msgs, err := b.Fetch(imap.SeqSetNum(4), &imap.FetchOptions{UID: true}).Collect()
	if err != nil || len(msgs) != 1 || msgs[0].UID != 4 {
		t.Fatalf("B's message 4 before NOOP: %v %v", msgs, err)
	}
	// B learns of the flags and of both expunges at its next NOOP.
	if err := b.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	evB.waitFor(t, "two EXPUNGEs at B", func() bool { return len(evB.expunges) == 2 })
	evB.mu.Lock()
	// Either "3, 2" or "2, 2" is correct IMAP, depending on order; ours are
	// in UID order, each number valid when sent.
	if !slices.Equal(evB.expunges, []uint32{2, 2}) {
		t.Errorf("B's EXPUNGEs %v", evB.expunges)
	}
	if len(evB.flags) != 2 {
		t.Errorf("B's flag updates %v", evB.flags)
	}
	evB.mu.Unlock()
	if n := b.Mailbox().NumMessages; n != 2 {
		t.Fatalf("B counts %d messages", n)
	}
	msgs, _ = b.Fetch(imap.SeqSetNum(2), &imap.FetchOptions{UID: true, Envelope: true}).Collect()
	if len(msgs) != 1 || msgs[0].UID != 4 || msgs[0].Envelope.Subject != "Message 4" {
		t.Fatalf("B's message 2 after expunge: %+v", msgs)
	}
	// B flags its message 2; A hears of it as its own message 2.
	b.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagAnswered}}, nil).Close()
	if err := a.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	evA.waitFor(t, "FETCH FLAGS at A", func() bool { return slices.Contains(evA.flags, `2 [\Answered]`) })
	// A new delivery reaches both.
	f.store.Deliver(ctx, user, []byte(message("Message 5", "y")))
	a.Noop().Wait()
	b.Noop().Wait()
	evA.waitFor(t, "EXISTS 3 at A", func() bool { return slices.Contains(evA.exists, 3) })
	evB.waitFor(t, "EXISTS 3 at B", func() bool { return slices.Contains(evB.exists, 3) })
}

func TestLoginNeedsTLSOffLoopback(t *testing.T) {
	cfg, clientTLS := mailtest.TLSConfig(t, "one.shoal")
	f := start(t, Options{TLS: cfg})
	c := dial(t, f, nil)
	if !c.Caps().Has(imap.CapLoginDisabled) || !c.Caps().Has(imap.CapStartTLS) {
		t.Errorf("caps before STARTTLS: %v", c.Caps())
	}
	if err := c.Login(user, pass).Wait(); err == nil {
		t.Fatal("LOGIN in clear succeeded")
	}
	if err := c.Authenticate(sasl.NewPlainClient("", user, pass)); err == nil {
		t.Fatal("AUTHENTICATE PLAIN in clear succeeded")
	}
	conn, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := imapclient.NewStartTLS(conn, &imapclient.Options{TLSConfig: clientTLS})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if err := tc.Login(user, pass).Wait(); err != nil {
		t.Fatalf("LOGIN after STARTTLS: %v", err)
	}
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
	ctx := context.Background()
	raw1 := message("First", "one")
	raw2 := message("Second by curl", "two")
	f.store.Deliver(ctx, user, []byte(raw1))
	f.store.Deliver(ctx, user, []byte(raw2))
	out, err := curl(t, "imap://"+f.addr+"/", "-u", user+":"+pass)
	if err != nil || !strings.Contains(out, "INBOX") || !strings.Contains(out, `\Sent`) {
		t.Fatalf("curl LIST: %v\n%s", err, out)
	}
	// The mailbox URL lists INBOX's sub-folders: none, and no error.
	if out, err := curl(t, "imap://"+f.addr+"/INBOX", "-u", user+":"+pass); err != nil || out != "" {
		t.Fatalf("curl imap://.../INBOX: %v\n%s", err, out)
	}
	out, err = curl(t, "imap://"+f.addr+"/INBOX;UID=2", "-u", user+":"+pass)
	if err != nil || out != raw2 {
		t.Fatalf("curl fetch UID 2: %v\n%q\nwant %q", err, out, raw2)
	}
	out, err = curl(t, "imap://"+f.addr+"/INBOX", "-u", user+":"+pass, "-X", "UID SEARCH SUBJECT curl")
	if err != nil || !strings.Contains(out, "SEARCH 2") {
		t.Fatalf("curl SEARCH: %v\n%s", err, out)
	}
	if out, err := curl(t, "imap://"+f.addr+"/INBOX;UID=1", "-u", user+":wrong password"); err == nil {
		t.Fatalf("curl with a wrong password got %q", out)
	}
}

// TestConcurrentSessionsAgree has deliveries, expunges and flag changes race
// with three sessions; afterwards every session's view (count and the UID
// at each sequence number) is the store's.
func TestConcurrentSessionsAgree(t *testing.T) {
	f := start(t, Options{InsecureAuth: true})
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		f.store.Deliver(ctx, user, []byte(message(fmt.Sprintf("seed %d", i), "x")))
	}
	clients := make([]*imapclient.Client, 3)
	for i := range clients {
		clients[i] = login(t, f, &events{})
		if _, err := clients[i].Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // SMTP-side deliveries
		defer wg.Done()
		for i := 0; i < 40; i++ {
			if _, err := f.store.Deliver(ctx, user, []byte(message(fmt.Sprintf("live %d", i), "y"))); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for n, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; round < 15; round++ {
				switch (n + round) % 3 {
				case 0: // delete the first two messages this client knows, expunge
					if c.Mailbox().NumMessages >= 2 {
						c.Store(imap.SeqSet{{Start: 1, Stop: 2}}, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
						if _, err := c.Expunge().Collect(); err != nil {
							t.Error(err)
							return
						}
					}
				case 1:
					if _, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect(); err != nil {
						t.Error(err)
						return
					}
				case 2:
					c.Store(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close()
					c.Noop().Wait()
				}
			}
		}()
	}
	wg.Wait()
	want, err := f.store.UIDs(ctx, user, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range clients {
		if err := c.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
		if n := c.Mailbox().NumMessages; n != uint32(len(want)) {
			t.Errorf("client %d counts %d messages, the store has %d", i, n, len(want))
		}
		msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		var got []uint32
		for j, m := range msgs {
			if m.SeqNum != uint32(j+1) {
				t.Errorf("client %d: FETCH response %d has sequence number %d", i, j+1, m.SeqNum)
			}
			got = append(got, uint32(m.UID))
		}
		if !slices.Equal(got, want) {
			t.Errorf("client %d sees UIDs %v, the store has %v", i, got, want)
		}
	}
}

func TestSelectedMailboxRenamedByAnother(t *testing.T) {
	f := start(t, Options{InsecureAuth: true})
	a, b := login(t, f, nil), login(t, f, nil)
	if err := a.Create("Projects", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	appendMsg(t, a, "Projects", message("plan", "x"))
	if _, err := a.Select("Projects", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := b.Rename("Projects", "Archive", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	// A's selected mailbox follows the rename.
	msgs, err := a.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil || len(msgs) != 1 || msgs[0].Envelope.Subject != "plan" {
		t.Fatalf("fetch after rename: %v %v", msgs, err)
	}
	if err := a.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
		t.Fatalf("store after rename: %v", err)
	}
}
