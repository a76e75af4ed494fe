package queue_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	moxdsn "github.com/mjl-/mox/dsn"

	"github.com/shoal-p2p/shoal/mail/internal/mailtest"
	"github.com/shoal-p2p/shoal/mail/queue"
	"github.com/shoal-p2p/shoal/storage"
)

func threeNodes(t *testing.T) (alice, bob, carol *testNode) {
	zone := mailtest.NewZone(t)
	return newTestNode(t, zone, "alice.shoal", "alice", "ann"),
		newTestNode(t, zone, "bob.shoal", "bob"),
		newTestNode(t, zone, "carol.shoal", "carol")
}

func TestSubmitToTwoNodes(t *testing.T) {
	alice, bob, carol := threeNodes(t)
	alice.submit("alice", []string{"bob@bob.shoal", "carol@carol.shoal", "ann@alice.shoal"}, "picnic")
	if alice.received("ann", "picnic") != 1 {
		t.Fatal("the local recipient did not get the message at once")
	}
	mailtest.Eventually(t, wait, func() bool {
		return bob.received("bob", "picnic") == 1 && carol.received("carol", "picnic") == 1
	}, "bob and carol did not both receive the message")
	for _, n := range []*testNode{bob, carol} {
		got := n.boxes.Inbox(strings.TrimSuffix(n.name, ".shoal"))[0]
		if !bytes.Contains(got, []byte("Authentication-Results: "+n.name+"; dkim=pass header.d=alice.shoal")) {
			t.Errorf("%s: DKIM not verified on arrival:\n%s", n.name, got)
		}
	}
	for _, r := range []string{"bob@bob.shoal", "carol@carol.shoal"} {
		ev := waitEvent(t, alice, queue.EventDelivered, r)
		if ev.Host != r[strings.IndexByte(r, '@')+1:] || ev.Time.IsZero() {
			t.Errorf("delivered event %+v: want the host and a time", ev)
		}
		if alice.events.count(queue.EventQueued, r) != 1 {
			t.Errorf("%s queued %d times", r, alice.events.count(queue.EventQueued, r))
		}
	}
	mailtest.Eventually(t, wait, func() bool { return len(alice.queued(t)) == 0 }, "the delivered message stays in the queue")
	if n := len(alice.boxes.Sent("alice")); n != 1 {
		t.Errorf("alice's Sent has %d messages, want 1", n)
	}
	// Nobody got anything twice.
	if bob.received("bob", "picnic") != 1 || carol.received("carol", "picnic") != 1 {
		t.Fatal("a recipient received the message twice")
	}
}

func TestDeferredWhileDownThenDelivered(t *testing.T) {
	alice, bob, _ := threeNodes(t)
	bob.stopRelay()
	alice.submit("alice", []string{"bob@bob.shoal"}, "later")
	ev := waitEvent(t, alice, queue.EventDeferred, "bob@bob.shoal")
	if !strings.Contains(ev.Reason, "connect to bob.shoal") || ev.NextAttempt.IsZero() {
		t.Fatalf("deferred event %+v: want the connection error and a next attempt", ev)
	}
	ms := alice.queued(t)
	if len(ms) != 1 || ms[0].Recipients[0].State != queue.Pending || !strings.Contains(ms[0].Recipients[0].LastReason, "connect to bob.shoal") || ms[0].Recipients[0].Attempts < 1 {
		t.Fatalf("queue %+v: want bob pending with the reason kept", ms)
	}
	// Deferred a few times with a growing delay, then bob comes back.
	mailtest.Eventually(t, wait, func() bool { return alice.events.count(queue.EventDeferred, "bob@bob.shoal") >= 3 }, "no retries while bob is down")
	bob.startRelay()
	mailtest.Eventually(t, wait, func() bool { return bob.received("bob", "later") == 1 }, "bob did not get the message after coming back")
	waitEvent(t, alice, queue.EventDelivered, "bob@bob.shoal")
	mailtest.Eventually(t, wait, func() bool { return len(alice.queued(t)) == 0 }, "queue not empty after delivery")
	if bob.received("bob", "later") != 1 || alice.events.count(queue.EventDelivered, "bob@bob.shoal") != 1 {
		t.Fatal("delivered more than once")
	}
}

func waitEvent(t *testing.T, n *testNode, kind queue.EventKind, rcpt string) queue.Event {
	t.Helper()
	var ev queue.Event
	mailtest.Eventually(t, wait, func() bool {
		var ok bool
		ev, ok = n.events.find(kind, rcpt)
		return ok
	}, "no %s event for %s", kind, rcpt)
	return ev
}

func TestBounceAfterLifetime(t *testing.T) {
	alice, bob, _ := threeNodes(t)
	bob.stopRelay()
	alice.submit("alice", []string{"bob@bob.shoal"}, "stale")
	waitEvent(t, alice, queue.EventDeferred, "bob@bob.shoal")
	alice.clock.Advance(queue.DefaultLifetime + time.Hour)
	ev := waitEvent(t, alice, queue.EventBounced, "bob@bob.shoal")
	if !strings.Contains(ev.Reason, "gave up after") || !strings.Contains(ev.Reason, "connect to bob.shoal") {
		t.Fatalf("bounced event reason %q", ev.Reason)
	}
	var raw []byte
	mailtest.Eventually(t, wait, func() bool {
		for _, m := range alice.boxes.Inbox("alice") {
			if bytes.Contains(m, []byte("multipart/report")) {
				raw = m
				return true
			}
		}
		return false
	}, "alice got no bounce")
	for _, want := range []string{
		"report-type=\"delivery-status\"", "Content-Type: message/delivery-status",
		"Reporting-MTA: dns; alice.shoal", "Final-Recipient: rfc822;bob@bob.shoal",
		"Action: failed", "Status: 5.4.7", "Diagnostic-Code: smtp; gave up after",
		"connect to bob.shoal", "Subject: stale", // the original's header comes back
	} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("bounce lacks %q:\n%s", want, raw)
		}
	}
	// It parses as a DSN (mox's parser), with the recipient and the reason.
	parsed, _, err := moxdsn.Parse(slog.New(slog.DiscardHandler), bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("bounce does not parse as a DSN: %v", err)
	}
	if len(parsed.Recipients) != 1 || parsed.Recipients[0].FinalRecipient.String() != "bob@bob.shoal" ||
		parsed.Recipients[0].Action != moxdsn.Failed || !strings.Contains(parsed.Recipients[0].DiagnosticCodeSMTP, "connect to bob.shoal") {
		t.Fatalf("parsed bounce: %+v", parsed.Recipients)
	}
	mailtest.Eventually(t, wait, func() bool { return len(alice.queued(t)) == 0 }, "bounced message stays in the queue")
	if n := alice.events.count(queue.EventBounced, "bob@bob.shoal"); n != 1 {
		t.Fatalf("%d bounced events", n)
	}
	bounces := 0
	for _, m := range alice.boxes.Inbox("alice") {
		if bytes.Contains(m, []byte("multipart/report")) {
			bounces++
		}
	}
	if bounces != 1 {
		t.Fatalf("alice got %d bounces, want 1", bounces)
	}
}

func TestPermanentFailureBouncesAtOnce(t *testing.T) {
	alice, bob, _ := threeNodes(t)
	// The submission server lets any member address through; bob's relay
	// refuses the unknown user with 550 5.1.1.
	alice.submit("alice", []string{"nobody@bob.shoal", "bob@bob.shoal"}, "half")
	ev := waitEvent(t, alice, queue.EventBounced, "nobody@bob.shoal")
	if !strings.Contains(ev.Reason, "550 5.1.1") {
		t.Fatalf("bounce reason %q: want bob's 550 5.1.1", ev.Reason)
	}
	waitEvent(t, alice, queue.EventDelivered, "bob@bob.shoal")
	mailtest.Eventually(t, wait, func() bool {
		for _, m := range alice.boxes.Inbox("alice") {
			if bytes.Contains(m, []byte("Final-Recipient: rfc822;nobody@bob.shoal")) && bytes.Contains(m, []byte("Status: 5.1.1")) {
				return !bytes.Contains(m, []byte("Final-Recipient: rfc822;bob@bob.shoal"))
			}
		}
		return false
	}, "no bounce for nobody alone")
	if bob.received("bob", "half") != 1 {
		t.Fatal("bob did not get his copy")
	}
}

func TestRestartResumesDelivery(t *testing.T) {
	alice, bob, _ := threeNodes(t)
	bob.stopRelay()
	alice.submit("alice", []string{"bob@bob.shoal"}, "persist")
	waitEvent(t, alice, queue.EventDeferred, "bob@bob.shoal")
	alice.closeQueue() // the bbolt file is closed here
	bob.startRelay()
	alice.openQueue()
	ms := alice.queued(t)
	if len(ms) != 1 || ms[0].From != "alice@alice.shoal" || ms[0].Recipients[0].LastReason == "" {
		t.Fatalf("after reopening the queue holds %+v", ms)
	}
	mailtest.Eventually(t, wait, func() bool { return bob.received("bob", "persist") == 1 }, "delivery did not resume after the restart")
	mailtest.Eventually(t, wait, func() bool { return len(alice.queued(t)) == 0 }, "queue not empty")
	if v, err := alice.db.SchemaVersion("mail.queue"); err != nil || v != 1 {
		t.Fatalf("schema version %d, %v", v, err)
	}
	if bob.received("bob", "persist") != 1 {
		t.Fatal("delivered twice")
	}
}

func TestRetryNowDropAndBadInput(t *testing.T) {
	alice, bob, _ := threeNodes(t)
	ctx := context.Background()
	bob.stopRelay()
	q := alice.q
	for _, tc := range []struct {
		from  string
		rcpts []string
		raw   string
	}{
		{"alice@alice.shoal", nil, "Subject: x\r\n\r\nx\r\n"},
		{"alice@alice.shoal", []string{"bob"}, "Subject: x\r\n\r\nx\r\n"},
		{"alice@alice.shoal", []string{"<bob@bob.shoal>"}, "Subject: x\r\n\r\nx\r\n"},
		{"alice", []string{"bob@bob.shoal"}, "Subject: x\r\n\r\nx\r\n"},
		{"alice@alice.shoal", []string{"bob@bob.shoal"}, ""},
	} {
		if _, err := q.Enqueue(ctx, tc.from, tc.rcpts, []byte(tc.raw)); err == nil {
			t.Errorf("Enqueue(%q, %q, %q) accepted", tc.from, tc.rcpts, tc.raw)
		}
	}
	if len(alice.queued(t)) != 0 {
		t.Fatal("bad input was queued")
	}
	if err := q.RetryNow(ctx, "nope"); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("RetryNow of an unknown id: %v", err)
	}
	if err := q.Drop(ctx, "nope"); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("Drop of an unknown id: %v", err)
	}

	id, err := q.Enqueue(ctx, "alice@alice.shoal", []string{"bob@bob.shoal", "Bob@BOB.shoal"}, []byte("From: alice@alice.shoal\r\nSubject: x\r\n\r\nx\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := q.Get(ctx, id)
	if err != nil || len(m.Recipients) != 1 {
		t.Fatalf("Get = %+v, %v: want one recipient (the same address twice)", m, err)
	}
	waitEvent(t, alice, queue.EventDeferred, "bob@bob.shoal")
	before := alice.events.count(queue.EventDeferred, "bob@bob.shoal")
	if err := q.RetryNow(ctx, id); err != nil {
		t.Fatal(err)
	}
	mailtest.Eventually(t, wait, func() bool { return alice.events.count(queue.EventDeferred, "bob@bob.shoal") > before }, "RetryNow did not cause an attempt")
	if err := q.Drop(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, alice, queue.EventDropped, "bob@bob.shoal")
	if _, err := q.Get(ctx, id); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("Get after Drop: %v", err)
	}
	bob.startRelay()
	if err := q.RetryNow(ctx, id); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("RetryNow after Drop: %v", err)
	}
	if len(alice.boxes.Inbox("alice")) != 0 {
		t.Fatal("a dropped message bounced")
	}
}

func TestRelayRefusesSpoofAndRelayThroughQueue(t *testing.T) {
	alice, bob, carol := threeNodes(t)
	ctx := context.Background()
	// carol's node signs a message that claims to be alice's: bob refuses it,
	// carol's queue bounces it, and the bounce cannot go to alice from carol.
	spoof, err := carol.signer.Sign([]byte("From: alice@alice.shoal\r\nSubject: spoof\r\n\r\nsend money\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := carol.q.Enqueue(ctx, "alice@alice.shoal", []string{"bob@bob.shoal"}, spoof); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, carol, queue.EventBounced, "bob@bob.shoal")
	if !strings.Contains(ev.Reason, "550 5.7.20") {
		t.Fatalf("spoof bounce reason %q, want 550 5.7.20", ev.Reason)
	}
	// An unsigned message from carol's own user is refused as well.
	if _, err := carol.q.Enqueue(ctx, "carol@carol.shoal", []string{"bob@bob.shoal"}, []byte("From: carol@carol.shoal\r\nSubject: unsigned\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	mailtest.Eventually(t, wait, func() bool {
		for _, m := range carol.boxes.Inbox("carol") {
			if bytes.Contains(m, []byte("Final-Recipient: rfc822;bob@bob.shoal")) && bytes.Contains(m, []byte("5.7.20")) {
				return true
			}
		}
		return false
	}, "carol got no bounce for her unsigned message")
	if bob.received("bob", "spoof") != 0 || bob.received("bob", "unsigned") != 0 {
		t.Fatal("bob accepted a spoofed or unsigned message")
	}
	// bob's relay is no open relay: mail for alice through bob is refused.
	if _, err := bob.q.Enqueue(ctx, "bob@bob.shoal", []string{"alice@alice.shoal"}, bob.mustSign(t, "From: bob@bob.shoal\r\nSubject: via\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", bob.relayAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	perm, reason := carol.q.Transact(ctx, conn, "bob.shoal", "carol@carol.shoal", "alice@alice.shoal", []byte("Subject: x\r\n\r\nx\r\n"))
	if !perm || !strings.Contains(reason, "550 5.7.1") || !strings.Contains(reason, "relaying denied") {
		t.Fatalf("relay through bob: %v %q, want 550 5.7.1 relaying denied", perm, reason)
	}
	mailtest.Eventually(t, wait, func() bool { return alice.received("alice", "via") == 1 }, "bob's own message for alice was not delivered")
}

func (n *testNode) mustSign(t *testing.T, raw string) []byte {
	out, err := n.signer.Sign([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBackoffSchedule(t *testing.T) {
	db, err := storage.Open(t.TempDir() + "/shoal.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q, err := queue.Open(db, queue.Options{Domain: "alice.shoal", Resolver: mailtest.NetipResolver{Resolver: net.DefaultResolver}, Mailboxes: mailtest.NewMailboxes(nil)})
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{300, 600, 1200, 2400, 4000, 4000}
	for i, w := range want {
		if got := q.Backoff(i + 1); got != w*time.Second {
			t.Errorf("backoff after attempt %d = %v, want %v", i+1, got, w*time.Second)
		}
	}
	for _, o := range []queue.Options{
		{Resolver: mailtest.NetipResolver{Resolver: net.DefaultResolver}, Mailboxes: mailtest.NewMailboxes(nil)},
		{Domain: "alice.shoal", Mailboxes: mailtest.NewMailboxes(nil)},
		{Domain: "alice.shoal", Resolver: mailtest.NetipResolver{Resolver: net.DefaultResolver}},
		{Domain: "alice.shoal", Resolver: mailtest.NetipResolver{Resolver: net.DefaultResolver}, Mailboxes: mailtest.NewMailboxes(nil), SmartHost: &queue.SmartHost{Host: "smtp.example.com"}},
	} {
		if _, err := queue.Open(db, o); err == nil {
			t.Errorf("Open(%+v) accepted", o)
		}
	}
}

func TestBounceWaitsForTheSendersMailbox(t *testing.T) {
	alice, _, _ := threeNodes(t)
	alice.boxes.Fail(errors.New("disk full"))
	alice.submit("alice", []string{"nobody@bob.shoal"}, "lost")
	waitEvent(t, alice, queue.EventBounced, "nobody@bob.shoal")
	if len(alice.queued(t)) != 1 {
		t.Fatal("the message left the queue before its bounce was delivered")
	}
	alice.boxes.Fail(nil)
	mailtest.Eventually(t, wait, func() bool { return len(alice.boxes.Inbox("alice")) == 1 }, "the bounce never came")
	mailtest.Eventually(t, wait, func() bool { return len(alice.queued(t)) == 0 }, "queue not empty after the bounce")
	if len(alice.boxes.Inbox("alice")) != 1 {
		t.Fatal("more than one bounce")
	}
}

func TestServeOnce(t *testing.T) {
	alice, _, _ := threeNodes(t)
	// A delivery shows the fixture's Serve is running (before it, this
	// call could be the first and run for good).
	alice.submit("alice", []string{"bob@bob.shoal"}, "serve once")
	waitEvent(t, alice, queue.EventDelivered, "bob@bob.shoal")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := alice.q.Serve(ctx); err == nil || ctx.Err() != nil {
		t.Fatalf("a second Serve ran (%v)", err)
	}
}

func TestDeferralsFollowTheBackoffSchedule(t *testing.T) {
	alice, bob, _ := threeNodes(t)
	bob.stopRelay()
	alice.submit("alice", []string{"bob@bob.shoal"}, "schedule")
	mailtest.Eventually(t, wait, func() bool { return alice.events.count(queue.EventDeferred, "bob@bob.shoal") >= 6 }, "too few retries")
	alice.events.mu.Lock()
	defer alice.events.mu.Unlock()
	n := 0
	for _, ev := range alice.events.all {
		if ev.Kind != queue.EventDeferred {
			continue
		}
		n++
		if ev.Attempts != n {
			t.Errorf("deferral %d reports attempt %d", n, ev.Attempts)
		}
		if got, want := ev.NextAttempt.Sub(ev.Time), alice.q.Backoff(n); got != want {
			t.Errorf("after attempt %d the next is in %v, want %v", n, got, want)
		}
	}
	if alice.q.Backoff(6) != alice.q.Backoff(100) || alice.q.Backoff(1) != alice.q.Backoff(1) {
		t.Errorf("backoff runs from %v to %v", alice.q.Backoff(1), alice.q.Backoff(6))
	}
}

func TestManyMessagesEachDeliveredOnce(t *testing.T) {
	alice, bob, carol := threeNodes(t)
	const n = 20
	for i := range n {
		alice.submit("alice", []string{"bob@bob.shoal", "carol@carol.shoal"}, "many-"+itoa(i))
	}
	mailtest.Eventually(t, wait, func() bool { return len(alice.queued(t)) == 0 }, "queue did not drain")
	for i := range n {
		s := "many-" + itoa(i)
		if b, c := bob.received("bob", s), carol.received("carol", s); b != 1 || c != 1 {
			t.Errorf("%s: bob got %d, carol %d; want 1 each", s, b, c)
		}
	}
	if got := len(bob.boxes.Inbox("bob")); got != n {
		t.Errorf("bob has %d messages, want %d", got, n)
	}
}

// submitDSN submits as alice with DSN parameters for each recipient.
func (n *testNode) submitDSN(t *testing.T, envID string, rcpts map[string]*smtp.RcptOptions, subject string) {
	t.Helper()
	c, err := smtp.Dial(n.submitAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "alice", "alice-pw")); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("alice@"+n.name, &smtp.MailOptions{EnvelopeID: envID}); err != nil {
		t.Fatal(err)
	}
	for addr, o := range rcpts {
		if err := c.Rcpt(addr, o); err != nil {
			t.Fatalf("RCPT %s: %v", addr, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("From: alice@" + n.name + "\r\nSubject: " + subject + "\r\n\r\nreport, please\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()
}

func reports(n *testNode, user string) [][]byte {
	var out [][]byte
	for _, m := range n.boxes.Inbox(user) {
		if bytes.Contains(m, []byte("multipart/report")) {
			out = append(out, m)
		}
	}
	return out
}

func TestDSNParameters(t *testing.T) {
	alice, bob, _ := threeNodes(t)
	notify := func(ns ...smtp.DSNNotify) *smtp.RcptOptions { return &smtp.RcptOptions{Notify: ns} }
	alice.submitDSN(t, "ENV-1", map[string]*smtp.RcptOptions{
		"nobody@bob.shoal": notify(smtp.DSNNotifyNever),
		"bob@bob.shoal": {Notify: []smtp.DSNNotify{smtp.DSNNotifySuccess, smtp.DSNNotifyFailure},
			OriginalRecipientType: smtp.DSNAddressTypeRFC822, OriginalRecipient: "Bob@bob.shoal"},
		"ann@alice.shoal": notify(smtp.DSNNotifySuccess),
	}, "reports")
	waitEvent(t, alice, queue.EventBounced, "nobody@bob.shoal")
	mailtest.Eventually(t, wait, func() bool { return len(alice.queued(t)) == 0 }, "queue not empty")
	if bob.received("bob", "reports") != 1 || alice.received("ann", "reports") != 1 {
		t.Fatal("bob or ann did not get the message")
	}
	// A report goes out for each delivery as it happens: one for bob, one
	// for ann, none for nobody.
	var rs [][]byte
	mailtest.Eventually(t, wait, func() bool { rs = reports(alice, "alice"); return len(rs) >= 2 }, "alice did not get two reports")
	actions := map[string]moxdsn.Action{}
	for _, raw := range rs {
		parsed, _, err := moxdsn.Parse(slog.New(slog.DiscardHandler), bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("report does not parse: %v", err)
		}
		if parsed.OriginalEnvelopeID != "ENV-1" {
			t.Errorf("Original-Envelope-ID %q", parsed.OriginalEnvelopeID)
		}
		for _, r := range parsed.Recipients {
			if _, dup := actions[r.FinalRecipient.String()]; dup {
				t.Errorf("%s reported twice", r.FinalRecipient)
			}
			actions[r.FinalRecipient.String()] = r.Action
			if r.FinalRecipient.String() == "bob@bob.shoal" && r.OriginalRecipient.String() != "Bob@bob.shoal" {
				t.Errorf("bob's Original-Recipient %q", r.OriginalRecipient)
			}
			if r.Status != "2.0.0" {
				t.Errorf("%s: status %s", r.FinalRecipient, r.Status)
			}
		}
		if bytes.Contains(raw, []byte("nobody@bob.shoal")) {
			t.Error("the NOTIFY=NEVER recipient appears in a report")
		}
	}
	if len(rs) != 2 || len(actions) != 2 || actions["bob@bob.shoal"] != moxdsn.Relayed || actions["ann@alice.shoal"] != moxdsn.Delivered {
		t.Fatalf("%d reports with actions %v: want bob relayed and ann delivered", len(rs), actions)
	}
}

func TestEnqueueRefusesBadDSNParameters(t *testing.T) {
	alice, _, _ := threeNodes(t)
	ctx := context.Background()
	raw := []byte("From: alice@alice.shoal\r\n\r\nx\r\n")
	for _, env := range []queue.Envelope{
		{From: "alice@alice.shoal", Recipients: []queue.EnvelopeRecipient{{Address: "bob@bob.shoal", Notify: []string{"NEVER", "SUCCESS"}}}},
		{From: "alice@alice.shoal", Recipients: []queue.EnvelopeRecipient{{Address: "bob@bob.shoal", Notify: []string{"SOMETIMES"}}}},
		{From: "alice@alice.shoal", Recipients: []queue.EnvelopeRecipient{{Address: "bob@bob.shoal", Notify: []string{"DELAY", "delay"}}}},
		{From: "alice@alice.shoal", Recipients: []queue.EnvelopeRecipient{{Address: "bob@bob.shoal", ORCPT: "not an address"}}},
		{From: "alice@alice.shoal", EnvID: "has space", Recipients: []queue.EnvelopeRecipient{{Address: "bob@bob.shoal"}}},
		{From: "alice@alice.shoal", EnvID: strings.Repeat("x", 101), Recipients: []queue.EnvelopeRecipient{{Address: "bob@bob.shoal"}}},
	} {
		if _, err := alice.q.EnqueueEnvelope(ctx, env, raw); err == nil {
			t.Errorf("EnqueueEnvelope(%+v) accepted", env)
		}
	}
	if len(alice.queued(t)) != 0 {
		t.Fatal("bad envelopes were queued")
	}
}
