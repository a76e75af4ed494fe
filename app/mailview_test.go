package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/shoal-p2p/shoal/node"
)

// fakeMsg is one message of the fake mailboxes.
type fakeMsg struct {
	folder   string
	uid      uint32
	flags    []string
	raw      string
	delivery *node.MailDelivery
}

// fakeMail is the Mail area's side of fakeNode: mailboxes in memory whose
// messages are parsed by the node's own parser, and a record of what the
// area sent, saved and changed.
type fakeMail struct {
	mmu      sync.Mutex
	msgs     []fakeMsg
	next     uint32
	sent     []node.MailSend
	drafts   []node.MailSend
	mcalls   []string
	sendErr  error
	contacts []node.MailContact
	// newPassword is the first user's generated password until noted.
	newPassword string
}

var fakeFolders = []string{"INBOX", "Drafts", "Junk", "Sent", "Trash"}

func (f *fakeMail) add(folder, raw string, flags ...string) uint32 {
	f.mmu.Lock()
	defer f.mmu.Unlock()
	f.next++
	f.msgs = append(f.msgs, fakeMsg{folder: folder, uid: f.next, flags: flags, raw: strings.ReplaceAll(raw, "\n", "\r\n")})
	return f.next
}

func (f *fakeMail) mailCalled(c string) bool {
	f.mmu.Lock()
	defer f.mmu.Unlock()
	return slices.Contains(f.mcalls, c)
}

func (f *fakeMail) find(folder string, uid uint32) (*fakeMsg, error) {
	for i := range f.msgs {
		if f.msgs[i].folder == folder && f.msgs[i].uid == uid {
			return &f.msgs[i], nil
		}
	}
	return nil, fmt.Errorf("node: mail: no message %d in %s", uid, folder)
}

func (f *fakeMail) MailNotedPassword() error {
	f.mmu.Lock()
	defer f.mmu.Unlock()
	f.newPassword = ""
	f.mcalls = append(f.mcalls, "noted password")
	return nil
}

func (f *fakeMail) MailClientSettings(ctx context.Context, user string) (node.MailClientSettings, error) {
	f.mmu.Lock()
	defer f.mmu.Unlock()
	return node.MailClientSettings{Host: "127.0.0.2", Submission: 7587, IMAP: 7143, POP3: 7110, User: "ada", Address: "ada@alpha.shoal", TLS: "STARTTLS", PlainLogin: true, NewPassword: f.newPassword}, nil
}

func (f *fakeMail) MailFolders(ctx context.Context, user string) ([]node.MailFolder, error) {
	f.mmu.Lock()
	defer f.mmu.Unlock()
	var out []node.MailFolder
	for _, name := range fakeFolders {
		mf := node.MailFolder{Name: name}
		for _, m := range f.msgs {
			if m.folder == name {
				mf.Messages++
				if !slices.Contains(m.flags, `\Seen`) {
					mf.Unseen++
				}
			}
		}
		out = append(out, mf)
	}
	return out, nil
}

func (f *fakeMail) MailList(ctx context.Context, user, folder, search string) ([]node.MailSummary, error) {
	f.mmu.Lock()
	defer f.mmu.Unlock()
	var out []node.MailSummary
	for i := len(f.msgs) - 1; i >= 0; i-- {
		m := f.msgs[i]
		if m.folder != folder || (search != "" && !strings.Contains(strings.ToLower(m.raw), strings.ToLower(search))) {
			continue
		}
		p := node.ParseMailMessage([]byte(m.raw), false)
		out = append(out, node.MailSummary{UID: m.uid, From: p.From, To: strings.Join(p.To, ", "), Subject: p.Subject, Date: p.Date,
			Flags: slices.Clone(m.flags), MessageID: p.MessageID, Attachment: len(p.Attachments) > 0, Delivery: m.delivery})
	}
	return out, nil
}

func (f *fakeMail) MailRead(ctx context.Context, user, folder string, uid uint32, remote bool) (node.MailMessage, error) {
	f.mmu.Lock()
	defer f.mmu.Unlock()
	m, err := f.find(folder, uid)
	if err != nil {
		return node.MailMessage{}, err
	}
	if !slices.Contains(m.flags, `\Seen`) {
		m.flags = append(m.flags, `\Seen`)
	}
	p := node.ParseMailMessage([]byte(m.raw), remote)
	p.UID, p.Folder, p.Flags = uid, folder, slices.Clone(m.flags)
	f.mcalls = append(f.mcalls, fmt.Sprintf("read %s %d remote=%t", folder, uid, remote))
	return p, nil
}

func (f *fakeMail) MailAttachment(ctx context.Context, user, folder string, uid uint32, part string) (node.MailPart, error) {
	f.mmu.Lock()
	defer f.mmu.Unlock()
	m, err := f.find(folder, uid)
	if err != nil {
		return node.MailPart{}, err
	}
	return node.MailPartOf([]byte(m.raw), part)
}

func (f *fakeMail) MailSetSeen(ctx context.Context, user, folder string, uids []uint32, seen bool) error {
	f.mmu.Lock()
	defer f.mmu.Unlock()
	f.mcalls = append(f.mcalls, fmt.Sprintf("seen %s %v %t", folder, uids, seen))
	for _, uid := range uids {
		m, err := f.find(folder, uid)
		if err != nil {
			return err
		}
		m.flags = slices.DeleteFunc(m.flags, func(s string) bool { return s == `\Seen` })
		if seen {
			m.flags = append(m.flags, `\Seen`)
		}
	}
	return nil
}

func (f *fakeMail) MailMove(ctx context.Context, user, folder string, uids []uint32, to string) error {
	f.mmu.Lock()
	defer f.mmu.Unlock()
	f.mcalls = append(f.mcalls, fmt.Sprintf("move %s %v %s", folder, uids, to))
	for _, uid := range uids {
		m, err := f.find(folder, uid)
		if err != nil {
			return err
		}
		m.folder = to
	}
	return nil
}

func (f *fakeMail) MailDelete(ctx context.Context, user, folder string, uids []uint32) error {
	f.mmu.Lock()
	defer f.mmu.Unlock()
	f.mcalls = append(f.mcalls, fmt.Sprintf("delete %s %v", folder, uids))
	for _, uid := range uids {
		m, err := f.find(folder, uid)
		if err != nil {
			return err
		}
		m.folder = "Trash"
	}
	return nil
}

func (f *fakeMail) MailSend(ctx context.Context, req node.MailSend) (node.MailSent, error) {
	f.mmu.Lock()
	defer f.mmu.Unlock()
	if f.sendErr != nil {
		return node.MailSent{}, f.sendErr
	}
	f.sent = append(f.sent, req)
	rcpts := append(append(slices.Clone(req.To), req.Cc...), req.Bcc...)
	f.next++
	id := fmt.Sprintf("sent%d@alpha.shoal", f.next)
	raw := fmt.Sprintf("From: <ada@alpha.shoal>\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: Wed, 02 Dec 2026 12:00:00 +0000\r\n\r\n%s\r\n",
		strings.Join(req.To, ", "), req.Subject, id, req.Body)
	d := &node.MailDelivery{MessageID: id, Recipients: []node.MailDeliveryState{{Address: rcpts[0], State: "delivered", Time: time.Now(), Host: "beta.shoal"}}}
	f.msgs = append(f.msgs, fakeMsg{folder: "Sent", uid: f.next, flags: []string{`\Seen`}, raw: raw, delivery: d})
	return node.MailSent{Recipients: rcpts, MessageID: id}, nil
}

func (f *fakeMail) MailSaveDraft(ctx context.Context, req node.MailSend) (uint32, error) {
	f.mmu.Lock()
	defer f.mmu.Unlock()
	f.drafts = append(f.drafts, req)
	f.next++
	raw := fmt.Sprintf("From: <ada@alpha.shoal>\r\nTo: %s\r\nSubject: %s\r\n\r\n%s\r\n", strings.Join(req.To, ", "), req.Subject, req.Body)
	f.msgs = slices.DeleteFunc(f.msgs, func(m fakeMsg) bool { return m.folder == "Drafts" && m.uid == req.Draft })
	f.msgs = append(f.msgs, fakeMsg{folder: "Drafts", uid: f.next, flags: []string{`\Seen`, `\Draft`}, raw: raw})
	return f.next, nil
}

func (f *fakeMail) MailContacts(ctx context.Context, user string) ([]node.MailContact, error) {
	return []node.MailContact{{Address: "ada@alpha.shoal", Source: "local"}, {Address: "bob@beta.shoal", Source: "correspondent"},
		{Address: "postmaster@beta.shoal", Source: "member"}, {Address: "carol@gamma.shoal", Source: "correspondent"}}, nil
}

const (
	plainMail = `From: Bob <bob@beta.shoal>
To: <ada@alpha.shoal>
Cc: <carol@gamma.shoal>
Subject: Lunch on Friday
Message-ID: <lunch@beta.shoal>
Date: Tue, 01 Dec 2026 11:00:00 +0000

Shall we meet at noon?
`
	attachMail = `From: Carol <carol@gamma.shoal>
To: <ada@alpha.shoal>
Subject: The slides
Message-ID: <slides@gamma.shoal>
Date: Tue, 01 Dec 2026 12:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=zz

--zz
Content-Type: text/plain

Slides attached.
--zz
Content-Type: application/pdf
Content-Disposition: attachment; filename=slides.pdf

%PDF-1.4 not really
--zz--
`
	htmlMail = `From: News <news@delta.shoal>
To: <ada@alpha.shoal>
Subject: Weekly news
Date: Tue, 01 Dec 2026 13:00:00 +0000
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8

<p>Big <b>news</b><script>alert(1)</script><img src="http://127.0.0.1:1/p.gif"></p><ul><li>one</li><li><a href="https://example.org/more">more</a></li></ul><p></p>
`
)

func openMail(t *testing.T, n *fakeNode) (*mailView, fyne.Window, uiQueue) {
	t.Helper()
	a := test.NewTempApp(t)
	q := newUIQueue()
	w := test.NewWindow(nil)
	v := newMailView(n, loop{do: q.do, ctx: t.Context()}, a, w)
	w.SetContent(v.content)
	w.Resize(fyne.NewSize(1200, 800))
	t.Cleanup(w.Close)
	return v, w, q
}

// mailRowsShown are the message rows drawn, as "FROM|SUBJECT|STATE|bold|clip".
func mailRowsShown(v *mailView) []string {
	var rows []string
	walkShown(v.msgList, func(o fyne.CanvasObject) {
		if r, ok := o.(*mailRow); ok {
			rows = append(rows, fmt.Sprintf("%s|%s|%s|%t|%t", r.from.Text, r.subject.Text, r.state.Text, r.subject.TextStyle.Bold, r.clip.Visible() && r.clip.Resource != nil))
		}
	})
	return rows
}

// selectMessage picks the row whose subject is subject.
func selectMessage(t *testing.T, v *mailView, q uiQueue, subject string) {
	t.Helper()
	i := slices.IndexFunc(v.msgs, func(m node.MailSummary) bool { return m.Subject == subject })
	if i < 0 {
		t.Fatalf("no message %q listed", subject)
	}
	v.msgList.Select(i)
	q.waitFor(t, "the message "+subject+" read", func() bool { return v.reading != nil && v.reading.Subject == subject })
}

func selectFolder(t *testing.T, v *mailView, q uiQueue, name string) {
	t.Helper()
	i := slices.IndexFunc(v.folders, func(f node.MailFolder) bool { return f.Name == name })
	v.folderList.Select(i)
	q.waitFor(t, "the folder "+name+" listed", func() bool { return v.folder == name && v.lists > 0 })
}

func TestMailListsFoldersAndReadsMessages(t *testing.T) {
	n := newFakeNode()
	n.add("INBOX", plainMail)
	n.add("INBOX", attachMail)
	n.add("INBOX", htmlMail, `\Seen`)
	v, _, q := openMail(t, n)

	q.waitFor(t, "three messages and the folders", func() bool { return len(mailRowsShown(v)) == 3 && len(v.folders) == 5 })
	rows := mailRowsShown(v)
	want := []string{"News|Weekly news||false|false", "Carol|The slides||true|true", "Bob|Lunch on Friday||true|false"}
	if !slices.Equal(rows, want) {
		t.Errorf("rows %q, want %q (newest first, unread bold, clip for the attachment)", rows, want)
	}
	if !showsText(v.content, "INBOX") || !showsText(v.content, "2") {
		t.Errorf("INBOX with 2 unread not shown: %q", shownTexts(v.content))
	}

	// Reading marks it read; its attachment is listed with its size.
	selectMessage(t, v, q, "The slides")
	q.waitFor(t, "the text and the attachment", func() bool {
		return showsText(v.content, "Slides attached.") && showsText(v.content, "slides.pdf (19 B) Save…")
	})
	q.waitFor(t, "one unread left", func() bool { return v.folders[0].Unseen == 1 })

	// HTML: sanitised, shown as text, remote images blocked until asked.
	selectMessage(t, v, q, "Weekly news")
	q.waitFor(t, "the HTML note", func() bool { return showsText(v.content, "1 remote images were blocked") })
	if !showsText(v.content, "Big") || !showsText(v.content, "news") || showsText(v.content, "alert") || !v.readBody.Hidden {
		t.Errorf("HTML mail shown as %q", shownTexts(v.content))
	}
	var bold, link, image bool
	for _, seg := range v.readHTML.Segments {
		switch s := seg.(type) {
		case *widget.TextSegment:
			bold = bold || (strings.TrimSpace(s.Text) == "news" && s.Style.TextStyle.Bold)
		case *widget.HyperlinkSegment:
			link = link || (s.Text == "more" && s.URL.String() == "https://example.org/more")
		case *widget.ImageSegment:
			image = true
		}
	}
	if !bold || !link || image {
		t.Errorf("HTML segments: bold %t, link %t, image %t (want no image before asking)", bold, link, image)
	}
	test.Tap(v.remoteBtn)
	q.waitFor(t, "read again with remote content", func() bool { return n.mailCalled(fmt.Sprintf("read INBOX %d remote=true", v.reading.UID)) })
	q.waitFor(t, "the remote image in the text", func() bool {
		return slices.ContainsFunc(v.readHTML.Segments, func(s widget.RichTextSegment) bool {
			img, ok := s.(*widget.ImageSegment)
			return ok && img.Source.String() == "http://127.0.0.1:1/p.gif"
		})
	})

	// Search narrows the list; nothing found says so.
	test.Type(v.search, "noon")
	q.waitFor(t, "only Bob's message", func() bool { return len(mailRowsShown(v)) == 1 && strings.HasPrefix(mailRowsShown(v)[0], "Bob|") })
	v.search.SetText("no such words")
	q.waitFor(t, "nothing found", func() bool { return len(v.msgs) == 0 && showsText(v.content, "Nothing matches the search.") })
	v.search.SetText("")
	q.waitFor(t, "all three again", func() bool { return len(v.msgs) == 3 })

	// Mark unread, move, delete.
	selectMessage(t, v, q, "Lunch on Friday")
	test.Tap(v.unread)
	q.waitFor(t, "marked unread", func() bool { return n.mailCalled(fmt.Sprintf("seen INBOX [%d] false", v.msgs[2].UID)) })
	v.moveTo.SetSelected("Junk")
	q.waitFor(t, "moved to Junk", func() bool { return len(v.msgs) == 2 && v.folders[2].Name == "Junk" && v.folders[2].Messages == 1 })
	selectMessage(t, v, q, "Weekly news")
	test.Tap(v.del)
	q.waitFor(t, "deleted to Trash", func() bool { return len(v.msgs) == 1 && v.folders[4].Messages == 1 })
	if v.reading != nil || v.reply.Disabled() == false {
		t.Errorf("after delete: reading %v, reply enabled %t", v.reading, !v.reply.Disabled())
	}
}

// The password made on the first start is shown until the user notes it,
// and then no more.
func TestMailShowsTheNewPasswordOnce(t *testing.T) {
	n := newFakeNode()
	n.newPassword = "first-start-pw-42"
	v, w, q := openMail(t, n)
	q.waitFor(t, "the new password", func() bool { return showsText(v.content, "I have noted it") })
	shown := false
	walkShown(v.content, func(o fyne.CanvasObject) {
		if e, ok := o.(*widget.Entry); ok && e.Text == "first-start-pw-42" {
			shown = true
		}
	})
	if !shown {
		t.Fatal("the password is not shown")
	}
	tapText(t, w, "I have noted it")
	q.waitFor(t, "the password hidden", func() bool { return !showsText(v.content, "I have noted it") })
	if !n.mailCalled("noted password") {
		t.Error("the node was not told")
	}
	// A new Mail area (the window opened again) does not show it.
	v2, _, q2 := openMail(t, n)
	q2.waitFor(t, "the account loaded", func() bool { return v2.address == "ada@alpha.shoal" })
	if showsText(v2.content, "I have noted it") {
		t.Error("the noted password is shown again")
	}
}

func TestMailComposesWithCompletionAndDroppedFiles(t *testing.T) {
	n := newFakeNode()
	test.NewTempApp(t)
	q := newUIQueue()
	parts := buildWindow(fyne.CurrentApp(), n, q.do)
	w, v := parts.window, parts.mail
	w.Show()
	t.Cleanup(w.Close)
	tapText(t, w, "Mail")
	// Not writing mail: a drop still publishes, in the Library.
	parts.drop(fyne.NewPos(10, 10), []fyne.URI{storage.NewFileURI("/srv/film.mkv")})
	q.waitFor(t, "the dropped file published", func() bool { return n.called("publish /srv/film.mkv") })
	if parts.tabs.Selected().Text != "Library" {
		t.Errorf("after a drop outside compose the %s area is shown, want Library", parts.tabs.Selected().Text)
	}
	tapText(t, w, "Mail")
	tapText(t, w, "New message")
	q.waitFor(t, "the compose pane", func() bool { return showsText(w.Content(), "Drop files on the window to attach them.") })
	q.waitFor(t, "the contacts", func() bool { return len(v.contacts) == 4 })
	c := v.compose
	test.Type(c.to, "bo")
	if opts := c.offers[c.to]; !slices.Equal(opts, []string{"bob@beta.shoal"}) {
		t.Errorf("completion for bo: %q", opts)
	}
	c.to.SetText("bob@beta.shoal, car")
	if opts := c.offers[c.to]; !slices.Equal(opts, []string{"bob@beta.shoal, carol@gamma.shoal"}) {
		t.Errorf("completion for the second address: %q", opts)
	}
	c.to.SetText("bob@beta.shoal")
	c.cc.SetText("carol@gamma.shoal")
	c.bcc.SetText("ada@alpha.shoal")
	c.subject.SetText("Photos")
	c.body.SetText("Two of them.")
	dir := t.TempDir()
	p1, p2 := filepath.Join(dir, "a.jpg"), filepath.Join(dir, "b.jpg")
	os.WriteFile(p1, []byte("jpeg one"), 0o600)
	os.WriteFile(p2, []byte("jpeg two!"), 0o600)
	parts.drop(fyne.NewPos(10, 10), []fyne.URI{storage.NewFileURI(p1), storage.NewFileURI(p2)})
	q.waitFor(t, "both attached", func() bool { return len(c.attachments) == 2 && showsText(w.Content(), "b.jpg (9 B)") })
	if n.called("publish " + p1) {
		t.Error("a file dropped while writing mail was published")
	}

	// Save a draft, then send: the draft goes with the message.
	test.Tap(c.save)
	q.waitFor(t, "draft saved", func() bool { return c.draft != 0 && showsText(w.Content(), "Draft saved at") })
	test.Tap(c.send)
	q.waitFor(t, "sent", func() bool {
		return showsText(w.Content(), "Sent to bob@beta.shoal, carol@gamma.shoal, ada@alpha.shoal.")
	})
	n.mmu.Lock()
	got := n.sent[0]
	n.mmu.Unlock()
	if !slices.Equal(got.To, []string{"bob@beta.shoal"}) || !slices.Equal(got.Cc, []string{"carol@gamma.shoal"}) || !slices.Equal(got.Bcc, []string{"ada@alpha.shoal"}) ||
		got.Subject != "Photos" || got.Body != "Two of them." || len(got.Attachments) != 2 || string(got.Attachments[1].Data) != "jpeg two!" || got.Draft == 0 {
		t.Errorf("sent %+v", got)
	}

	// Its delivery state in Sent, on the row and when read.
	selectFolder(t, v, q, "Sent")
	q.waitFor(t, "the sent message", func() bool { return len(mailRowsShown(v)) == 1 })
	if r := mailRowsShown(v)[0]; r != "To: bob@beta.shoal|Photos|delivered|false|false" {
		t.Errorf("sent row %q", r)
	}
	selectMessage(t, v, q, "Photos")
	q.waitFor(t, "the delivery", func() bool {
		return showsText(w.Content(), "bob@beta.shoal: delivered at") && showsText(w.Content(), "to beta.shoal")
	})

	// A send the node refuses keeps the pane and says why.
	n.mmu.Lock()
	n.sendErr = errors.New("node: mail: bad input: to \"x\" is not a mail address")
	n.mmu.Unlock()
	v.startCompose(node.MailSend{To: []string{"x"}})
	test.Tap(c.send)
	q.waitFor(t, "the node's error", func() bool { return showsText(w.Content(), "Not sent: node: mail: bad input") })
	if !v.composing() {
		t.Error("the compose pane closed after a refused send")
	}
}

func TestMailReplyForwardAndDrafts(t *testing.T) {
	n := newFakeNode()
	n.add("INBOX", plainMail)
	n.add("INBOX", attachMail)
	v, _, q := openMail(t, n)
	q.waitFor(t, "two messages", func() bool { return len(v.msgs) == 2 })
	q.waitFor(t, "the user's address", func() bool { return v.address == "ada@alpha.shoal" })

	selectMessage(t, v, q, "Lunch on Friday")
	test.Tap(v.reply)
	c := v.compose
	if c.to.Text != "Bob <bob@beta.shoal>" || c.cc.Text != "" || c.subject.Text != "Re: Lunch on Friday" ||
		!strings.Contains(c.body.Text, "> Shall we meet at noon?") || c.inReplyTo != "lunch@beta.shoal" || !slices.Equal(c.references, []string{"lunch@beta.shoal"}) {
		t.Errorf("reply: to %q cc %q subject %q body %q in-reply-to %q refs %q", c.to.Text, c.cc.Text, c.subject.Text, c.body.Text, c.inReplyTo, c.references)
	}
	test.Tap(c.discard)
	test.Tap(v.replyAll)
	if c.to.Text != "Bob <bob@beta.shoal>" || c.cc.Text != "carol@gamma.shoal" {
		t.Errorf("reply all: to %q cc %q (own address left out)", c.to.Text, c.cc.Text)
	}
	test.Tap(c.discard)

	selectMessage(t, v, q, "The slides")
	test.Tap(v.forward)
	q.waitFor(t, "the forward with the attachment", func() bool { return v.composing() && len(c.attachments) == 1 })
	if c.subject.Text != "Fwd: The slides" || c.attachments[0].Name != "slides.pdf" || string(c.attachments[0].Data) != "%PDF-1.4 not really" ||
		!strings.Contains(c.body.Text, "Forwarded message") || !strings.Contains(c.body.Text, "Slides attached.") || c.to.Text != "" {
		t.Errorf("forward: subject %q attachments %+v body %q", c.subject.Text, c.attachments, c.body.Text)
	}

	// Save it as a draft; open Drafts; edit it again; save replaces.
	c.to.SetText("dave@epsilon.shoal")
	test.Tap(c.save)
	q.waitFor(t, "saved", func() bool { return c.draft != 0 })
	first := c.draft
	selectFolder(t, v, q, "Drafts")
	q.waitFor(t, "the draft listed", func() bool { return len(v.msgs) == 1 })
	selectMessage(t, v, q, "Fwd: The slides")
	if v.editDraft.Hidden {
		t.Fatal("no Edit draft button on a draft")
	}
	test.Tap(v.editDraft)
	q.waitFor(t, "the draft in the compose pane", func() bool { return v.composing() && c.draft == first })
	if c.to.Text != "dave@epsilon.shoal" || c.subject.Text != "Fwd: The slides" {
		t.Errorf("draft opened with to %q subject %q", c.to.Text, c.subject.Text)
	}
	test.Tap(c.save)
	q.waitFor(t, "saved again", func() bool { return c.draft != first })
	n.mmu.Lock()
	if len(n.drafts) != 2 || n.drafts[1].Draft != first {
		t.Errorf("drafts saved: %+v", n.drafts)
	}
	n.mmu.Unlock()
}

func TestMailNotifiesNewMailAndShowsClientSettings(t *testing.T) {
	n := newFakeNode()
	v, w, q := openMail(t, n)
	q.waitFor(t, "an empty INBOX", func() bool { return len(v.folders) == 5 && showsText(v.content, "No messages.") })
	uid := n.add("INBOX", plainMail)
	test.AssertNotificationSent(t, fyne.NewNotification("New mail", "From Bob: Lunch on Friday"), func() {
		n.send(node.Event{Type: node.EventMailArrived, Data: node.MailArrived{User: "ada", UID: uid}})
		q.waitFor(t, "the new message listed", func() bool { return len(mailRowsShown(v)) == 1 })
	})

	tapText(t, w, "Mail program…")
	q.waitFor(t, "the settings", func() bool {
		texts := strings.Join(shownTexts(w.Canvas().Overlays().Top()), "\n")
		return strings.Contains(texts, "ada@alpha.shoal") && strings.Contains(texts, "port 7143, STARTTLS") &&
			strings.Contains(texts, "port 7587, STARTTLS") && strings.Contains(texts, "port 7110") && strings.Contains(texts, "127.0.0.2")
	})
}
