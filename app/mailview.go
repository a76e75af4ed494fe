package app

import (
	"context"
	"fmt"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/shoal-p2p/shoal/mail/queue"
	"github.com/shoal-p2p/shoal/node"
)

// MailNode is what the Mail area needs from a node: the node as its
// user's mail client (node/mailclient.go). User "" is the first user.
type MailNode interface {
	MailClientSettings(ctx context.Context, user string) (node.MailClientSettings, error)
	MailFolders(ctx context.Context, user string) ([]node.MailFolder, error)
	MailList(ctx context.Context, user, folder, search string) ([]node.MailSummary, error)
	MailRead(ctx context.Context, user, folder string, uid uint32, remote bool) (node.MailMessage, error)
	MailAttachment(ctx context.Context, user, folder string, uid uint32, part string) (node.MailPart, error)
	MailSetSeen(ctx context.Context, user, folder string, uids []uint32, seen bool) error
	MailMove(ctx context.Context, user, folder string, uids []uint32, to string) error
	MailDelete(ctx context.Context, user, folder string, uids []uint32) error
	MailSend(ctx context.Context, req node.MailSend) (node.MailSent, error)
	MailSaveDraft(ctx context.Context, req node.MailSend) (uint32, error)
	MailContacts(ctx context.Context, user string) ([]node.MailContact, error)
	MailNotedPassword() error
}

// mailView is the Mail area: folders with unread counts, the folder's
// messages (unread in bold, a clip for attachments, the delivery state of
// sent mail), search, the message being read with its attachments, and a
// compose pane (To completed from the group's users, Cc, Bcc, attachments
// by picker or by a drop on the window) for new mail, replies, forwards
// and drafts. New mail raises a notification.
type mailView struct {
	node   Node
	loop   loop
	app    fyne.App
	window fyne.Window

	// UI goroutine only.
	folders  []node.MailFolder
	folder   string
	msgs     []node.MailSummary
	selected int // index in msgs, -1 for none
	reading  *node.MailMessage
	contacts []string
	address  string // the user's own address
	lists    int    // numbers list loads, so only the latest is shown

	// newPassword shows the first user's generated password until noted.
	newPassword *fyne.Container
	folderList  *widget.List
	msgList     *widget.List
	noMsgs      *widget.Label
	search      *widget.Entry
	message     *widget.Label // the area's last error or note

	reply, replyAll, forward, del, unread *widget.Button
	moveTo                                *widget.Select

	// The reader.
	readHead    *widget.Label
	readBody    *widget.Label
	readHTML    *widget.RichText // the HTML part, when there is one
	htmlNote    *widget.Label
	remoteBtn   *widget.Button
	attachBox   *fyne.Container
	deliveryBox *widget.Label
	editDraft   *widget.Button
	reader      fyne.CanvasObject

	compose *composePane
	right   *fyne.Container

	reload  chan struct{}
	content fyne.CanvasObject
}

// mailRefresh is how often the area rereads the folders when no event asks.
const mailRefresh = 15 * time.Second

func newMailView(n Node, l loop, a fyne.App, w fyne.Window) *mailView {
	v := &mailView{node: n, loop: l, app: a, window: w, folder: "INBOX", selected: -1, reload: make(chan struct{}, 1)}
	v.message = widget.NewLabel("")
	v.message.Wrapping = fyne.TextWrapWord
	v.message.Hide()
	v.noMsgs = widget.NewLabel("No messages.")

	v.folderList = widget.NewList(
		func() int { return len(v.folders) },
		func() fyne.CanvasObject {
			return container.NewBorder(nil, nil, nil, widget.NewLabel("00"), cellLabel())
		},
		func(i widget.ListItemID, o fyne.CanvasObject) {
			f := v.folders[i]
			c := o.(*fyne.Container)
			name, count := c.Objects[0].(*widget.Label), c.Objects[1].(*widget.Label)
			name.SetText(f.Name)
			name.TextStyle.Bold = f.Unseen > 0
			name.Refresh()
			count.SetText("")
			if f.Unseen > 0 {
				count.SetText(fmt.Sprint(f.Unseen))
			}
		})
	v.folderList.OnSelected = func(i widget.ListItemID) {
		if i < len(v.folders) && v.folders[i].Name != v.folder {
			v.folder = v.folders[i].Name
			v.selected, v.reading = -1, nil
			v.showReading()
			v.requestReload()
		}
	}

	v.msgList = widget.NewList(
		func() int { return len(v.msgs) },
		func() fyne.CanvasObject { return newMailRow() },
		func(i widget.ListItemID, o fyne.CanvasObject) { o.(*mailRow).show(v.msgs[i], v.folder) })
	v.msgList.OnSelected = func(i widget.ListItemID) {
		if i < len(v.msgs) {
			v.selected = i
			v.open(v.msgs[i].UID, false)
		}
	}

	v.search = widget.NewEntry()
	v.search.SetPlaceHolder("Search subject, sender and text")
	v.search.OnChanged = func(string) { v.requestReload() }

	v.reply = widget.NewButtonWithIcon("Reply", theme.MailReplyIcon(), func() { v.startReply(false) })
	v.replyAll = widget.NewButtonWithIcon("Reply all", theme.MailReplyAllIcon(), func() { v.startReply(true) })
	v.forward = widget.NewButtonWithIcon("Forward", theme.MailForwardIcon(), v.startForward)
	v.del = widget.NewButtonWithIcon("Delete", theme.DeleteIcon(), v.deleteSelected)
	v.unread = widget.NewButtonWithIcon("Mark unread", theme.VisibilityOffIcon(), v.markUnread)
	v.moveTo = widget.NewSelect(nil, func(to string) {
		if to != "" {
			v.moveSelected(to)
		}
	})
	v.moveTo.PlaceHolder = "Move to…"
	newMsg := widget.NewButtonWithIcon("New message", theme.MailComposeIcon(), func() { v.startCompose(node.MailSend{}) })
	newMsg.Importance = widget.HighImportance
	settings := widget.NewButtonWithIcon("Mail program…", theme.SettingsIcon(), v.showClientSettings)

	// The reader.
	v.readHead = widget.NewLabel("")
	v.readHead.Wrapping = fyne.TextWrapWord
	v.readBody = widget.NewLabel("")
	v.readBody.Wrapping = fyne.TextWrapWord
	v.readBody.Selectable = true
	v.readHTML = widget.NewRichText()
	v.readHTML.Wrapping = fyne.TextWrapWord
	v.htmlNote = widget.NewLabel("")
	v.htmlNote.Wrapping = fyne.TextWrapWord
	v.remoteBtn = widget.NewButton("Load remote content", func() {
		if v.reading != nil {
			v.open(v.reading.UID, true)
		}
	})
	v.attachBox = container.NewVBox()
	v.deliveryBox = widget.NewLabel("")
	v.deliveryBox.Wrapping = fyne.TextWrapWord
	v.editDraft = widget.NewButtonWithIcon("Edit draft", theme.DocumentCreateIcon(), v.editReadDraft)
	v.reader = container.NewBorder(
		container.NewVBox(v.readHead, v.deliveryBox, container.NewHBox(v.editDraft), v.htmlNote, container.NewHBox(v.remoteBtn), v.attachBox),
		nil, nil, nil, container.NewVScroll(container.NewVBox(v.readBody, v.readHTML)))

	v.compose = newComposePane(v)
	v.right = container.NewStack(v.reader, v.compose.content)
	v.showReading()

	toolbar := container.NewHBox(newMsg, v.reply, v.replyAll, v.forward, v.del, v.unread, v.moveTo)
	folders := widget.NewCard("Folders", "", container.NewBorder(nil, settings, nil, nil, v.folderList))
	list := container.NewBorder(v.search, nil, nil, nil, container.NewStack(v.msgList, container.NewPadded(v.noMsgs)))
	split := container.NewHSplit(list, v.right)
	split.Offset = 0.45
	body := container.NewHSplit(folders, split)
	body.Offset = 0.16
	v.newPassword = container.NewVBox()
	v.content = container.NewBorder(container.NewVBox(v.newPassword, toolbar, v.message), nil, nil, nil, body)
	v.updateButtons()

	_, events, cancel := n.Subscribe(0)
	go v.follow(events, cancel)
	v.requestReload()
	go v.loadAccount()
	return v
}

// requestReload asks the refresh goroutine to reload folders and list.
func (v *mailView) requestReload() {
	select {
	case v.reload <- struct{}{}:
	default:
	}
}

// follow reloads on new mail, on delivery changes, on requests and now
// and then, and tells of new mail, until the window closes.
func (v *mailView) follow(events <-chan node.Event, cancel func()) {
	defer cancel()
	tick := time.NewTicker(mailRefresh)
	defer tick.Stop()
	for {
		select {
		case <-v.loop.ctx.Done():
			return
		case <-tick.C:
		case <-v.reload:
		case ev, ok := <-events:
			if !ok {
				return
			}
			switch ev.Type {
			case node.EventMailArrived:
				v.notifyArrival(ev)
			case node.EventMailQueue:
			default:
				continue
			}
		}
		v.load()
	}
}

// load reads the folders and the current folder's messages, then shows
// them. Refresh goroutine only.
func (v *mailView) load() {
	type want struct{ folder, search string }
	wch := make(chan want, 1)
	v.loop.do(func() {
		v.lists++
		wch <- want{v.folder, strings.TrimSpace(v.search.Text)}
	})
	var w want
	select {
	case w = <-wch:
	case <-v.loop.ctx.Done():
		return
	}
	ctx := v.loop.ctx
	folders, ferr := v.node.MailFolders(ctx, "")
	msgs, merr := v.node.MailList(ctx, "", w.folder, w.search)
	v.loop.do(func() {
		if ferr == nil {
			v.showFolders(folders)
		}
		if w.folder != v.folder || w.search != strings.TrimSpace(v.search.Text) {
			return // the user moved on; the next load shows theirs
		}
		if err := cmpErr(ferr, merr); err != nil {
			v.say(err.Error())
			return
		}
		v.showMessages(msgs)
	})
}

func cmpErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// loadAccount reads the user's address and the contacts for completion.
func (v *mailView) loadAccount() {
	s, err := v.node.MailClientSettings(v.loop.ctx, "")
	cs, cerr := v.node.MailContacts(v.loop.ctx, "")
	v.loop.do(func() {
		if err == nil {
			v.address = s.Address
			v.showNewPassword(s)
		}
		if cerr == nil {
			v.contacts = v.contacts[:0]
			for _, c := range cs {
				v.contacts = append(v.contacts, c.Address)
			}
		}
	})
}

// showNewPassword shows the password the node made for its user on the
// first start, once: until the user says it is noted. UI goroutine.
func (v *mailView) showNewPassword(s node.MailClientSettings) {
	if s.NewPassword == "" {
		v.newPassword.RemoveAll()
		return
	}
	pw := widget.NewEntry()
	pw.SetText(s.NewPassword)
	pw.Disable()
	noted := widget.NewButton("I have noted it", func() {
		go func() {
			err := v.node.MailNotedPassword()
			v.loop.do(func() {
				if err != nil {
					v.message.SetText(err.Error())
					return
				}
				v.newPassword.RemoveAll()
			})
		}()
	})
	noted.Importance = widget.HighImportance
	text := widget.NewLabel(fmt.Sprintf("Your mail password for %s, made on the first start. It is shown this once: "+
		"note it for your mail programs (the command shoal mail user passwd %s makes a new one).", s.Address, s.User))
	text.Wrapping = fyne.TextWrapWord
	v.newPassword.Objects = []fyne.CanvasObject{widget.NewCard("", "", container.NewVBox(text, container.NewBorder(nil, nil, nil, noted, pw)))}
	v.newPassword.Refresh()
}

// notifyArrival tells the desktop of a new message. Any goroutine.
func (v *mailView) notifyArrival(ev node.Event) {
	text := "A new message arrived."
	if a, ok := ev.Data.(node.MailArrived); ok {
		if ms, err := v.node.MailList(v.loop.ctx, a.User, "INBOX", ""); err == nil {
			for _, m := range ms {
				if m.UID == a.UID {
					text = fmt.Sprintf("From %s: %s", personName(m.From), m.Subject)
				}
			}
		}
	}
	v.loop.do(func() { v.app.SendNotification(fyne.NewNotification("New mail", text)) })
}

// personName is the display name of an address, or the address.
func personName(addr string) string {
	if a, err := mail.ParseAddress(addr); err == nil {
		if a.Name != "" {
			return a.Name
		}
		return a.Address
	}
	return addr
}

func (v *mailView) showFolders(fs []node.MailFolder) {
	v.folders = fs
	names := make([]string, 0, len(fs))
	for i, f := range fs {
		names = append(names, f.Name)
		if f.Name == v.folder {
			v.folderList.Select(i)
		}
	}
	v.moveTo.Options = names
	v.moveTo.Refresh()
	v.folderList.Refresh()
}

func (v *mailView) showMessages(ms []node.MailSummary) {
	var keep uint32
	if v.selected >= 0 && v.selected < len(v.msgs) {
		keep = v.msgs[v.selected].UID
	}
	v.msgs = ms
	v.selected = -1
	v.msgList.UnselectAll()
	for i, m := range ms {
		if m.UID == keep && keep != 0 {
			v.selected = i
		}
	}
	if len(ms) == 0 {
		v.noMsgs.SetText("No messages.")
		if strings.TrimSpace(v.search.Text) != "" {
			v.noMsgs.SetText("Nothing matches the search.")
		}
		v.noMsgs.Show()
	} else {
		v.noMsgs.Hide()
	}
	v.msgList.Refresh()
	if v.reading != nil && v.selected < 0 {
		v.reading = nil
		v.showReading()
	}
	if v.reading != nil {
		v.showDelivery()
	}
	v.updateButtons()
}

// open reads message uid of the current folder. UI goroutine.
func (v *mailView) open(uid uint32, remote bool) {
	folder := v.folder
	go func() {
		msg, err := v.node.MailRead(v.loop.ctx, "", folder, uid, remote)
		v.loop.do(func() {
			if err != nil {
				v.say(err.Error())
				return
			}
			if folder != v.folder {
				return
			}
			v.reading = &msg
			v.showReading()
			v.updateButtons()
			v.requestReload() // the unread counts changed
		})
	}()
}

// showReading shows the message being read, or nothing.
func (v *mailView) showReading() {
	v.compose.content.Hide()
	v.reader.Show()
	m := v.reading
	v.attachBox.RemoveAll()
	if m == nil {
		v.readHead.SetText("Pick a message to read it.")
		v.readBody.SetText("")
		v.readHTML.Hide()
		v.htmlNote.Hide()
		v.remoteBtn.Hide()
		v.deliveryBox.Hide()
		v.editDraft.Hide()
		return
	}
	head := []string{"From: " + m.From}
	if len(m.To) > 0 {
		head = append(head, "To: "+strings.Join(m.To, ", "))
	}
	if len(m.Cc) > 0 {
		head = append(head, "Cc: "+strings.Join(m.Cc, ", "))
	}
	head = append(head, "Date: "+m.Date.Local().Format("Mon 2 Jan 2006 15:04"), "Subject: "+m.Subject)
	v.readHead.SetText(strings.Join(head, "\n"))
	v.readBody.SetText(m.Text)
	v.readBody.Show()
	v.readHTML.Hide()
	if m.HTML != "" && !m.Raw {
		v.readHTML.Segments = mailHTMLSegments(m.HTML)
		v.readHTML.Refresh()
		v.readHTML.Show()
		v.readBody.Hide()
	}
	switch {
	case m.Raw:
		v.htmlNote.SetText("This message's MIME structure does not parse; it is shown as received.")
		v.htmlNote.Show()
	case m.HTML != "":
		note := "This message is HTML, shown sanitised: no scripts, styles or forms."
		if m.RemoteBlocked > 0 {
			note += fmt.Sprintf(" %d remote images were blocked, so the sender cannot tell you read it.", m.RemoteBlocked)
		}
		v.htmlNote.SetText(note)
		v.htmlNote.Show()
	default:
		v.htmlNote.Hide()
	}
	if m.RemoteBlocked > 0 {
		v.remoteBtn.Show()
	} else {
		v.remoteBtn.Hide()
	}
	for _, a := range m.Attachments {
		a := a
		b := widget.NewButtonWithIcon(fmt.Sprintf("%s (%s) Save…", a.Name, formatBytes(int64(a.Size))), theme.DownloadIcon(), func() { v.saveAttachment(*m, a) })
		v.attachBox.Add(b)
	}
	v.editDraft.Hidden = !slices.Contains(m.Flags, `\Draft`)
	v.editDraft.Refresh()
	v.showDelivery()
}

// showDelivery shows what became of the message being read, if this node
// queued it.
func (v *mailView) showDelivery() {
	var d *node.MailDelivery
	if v.selected >= 0 && v.selected < len(v.msgs) && v.reading != nil && v.msgs[v.selected].UID == v.reading.UID {
		d = v.msgs[v.selected].Delivery
	}
	if d == nil {
		v.deliveryBox.Hide()
		return
	}
	var lines []string
	for _, r := range d.Recipients {
		lines = append(lines, r.Address+": "+deliveryText(r))
	}
	v.deliveryBox.SetText("Delivery\n" + strings.Join(lines, "\n"))
	v.deliveryBox.Show()
}

// deliveryText says in a few words what became of one recipient.
func deliveryText(r node.MailDeliveryState) string {
	at := r.Time.Local().Format("15:04:05")
	switch r.State {
	case string(queue.EventDelivered):
		return fmt.Sprintf("delivered at %s to %s", at, r.Host)
	case string(queue.EventDeferred):
		s := "deferred: " + r.Reason
		if !r.NextAttempt.IsZero() {
			s += fmt.Sprintf("; next try at %s", r.NextAttempt.Local().Format("15:04:05"))
		}
		return s
	case string(queue.EventBounced):
		return "bounced: " + r.Reason
	case string(queue.EventDropped):
		return "dropped from the queue"
	}
	return "queued at " + at
}

// summaryState is a message's delivery state in a word or two, for its row.
func summaryState(d *node.MailDelivery) string {
	if d == nil {
		return ""
	}
	counts := map[string]int{}
	for _, r := range d.Recipients {
		counts[r.State]++
	}
	for _, s := range []string{"bounced", "deferred", "queued"} {
		if counts[s] > 0 {
			return s
		}
	}
	if counts["delivered"] == len(d.Recipients) && len(d.Recipients) > 0 {
		return "delivered"
	}
	return ""
}

func (v *mailView) updateButtons() {
	has := v.reading != nil
	for _, b := range []*widget.Button{v.reply, v.replyAll, v.forward, v.del, v.unread} {
		if has {
			b.Enable()
		} else {
			b.Disable()
		}
	}
	if has {
		v.moveTo.Enable()
	} else {
		v.moveTo.Disable()
	}
}

// say shows a note or an error above the area.
func (v *mailView) say(text string) {
	v.message.SetText(text)
	v.message.Show()
}

// act runs a change of the selected message off the UI goroutine, then
// reloads.
func (v *mailView) act(what string, fn func(ctx context.Context, folder string, uid uint32) error) {
	if v.reading == nil {
		return
	}
	folder, uid := v.folder, v.reading.UID
	go func() {
		err := fn(v.loop.ctx, folder, uid)
		v.loop.do(func() {
			if err != nil {
				v.say(what + ": " + err.Error())
				return
			}
			v.message.Hide()
			if what != "mark unread" {
				v.reading, v.selected = nil, -1
				v.showReading()
			}
			v.updateButtons()
			v.requestReload()
		})
	}()
}

func (v *mailView) deleteSelected() {
	v.act("delete", func(ctx context.Context, folder string, uid uint32) error {
		return v.node.MailDelete(ctx, "", folder, []uint32{uid})
	})
}

func (v *mailView) markUnread() {
	v.act("mark unread", func(ctx context.Context, folder string, uid uint32) error {
		return v.node.MailSetSeen(ctx, "", folder, []uint32{uid}, false)
	})
}

func (v *mailView) moveSelected(to string) {
	v.moveTo.ClearSelected()
	if to == v.folder {
		return
	}
	v.act("move", func(ctx context.Context, folder string, uid uint32) error {
		return v.node.MailMove(ctx, "", folder, []uint32{uid}, to)
	})
}

// saveAttachment asks where to save a and writes it there.
func (v *mailView) saveAttachment(m node.MailMessage, a node.MailAttachment) {
	folder := v.folder
	d := dialog.NewFileSave(func(w fyne.URIWriteCloser, err error) {
		if err != nil || w == nil {
			return
		}
		go func() {
			defer w.Close()
			p, err := v.node.MailAttachment(v.loop.ctx, "", folder, m.UID, a.Part)
			if err == nil {
				_, err = w.Write(p.Data)
			}
			v.loop.do(func() {
				if err != nil {
					v.say("save " + a.Name + ": " + err.Error())
					return
				}
				v.say("Saved " + a.Name + " to " + w.URI().Path())
			})
		}()
	}, v.window)
	d.SetFileName(a.Name)
	d.Show()
}

// showClientSettings shows what an outside mail program needs.
func (v *mailView) showClientSettings() {
	go func() {
		s, err := v.node.MailClientSettings(v.loop.ctx, "")
		v.loop.do(func() {
			if err != nil {
				v.say(err.Error())
				return
			}
			login := "only over TLS (STARTTLS)"
			if s.PlainLogin {
				login = "also without TLS (the node listens on loopback only)"
			}
			rows := [][2]string{
				{"Address", s.Address}, {"User name", s.User}, {"Password", "yours (shoal mail user passwd " + s.User + " sets a new one)"},
				{"Server", s.Host}, {"Outgoing (SMTP submission)", fmt.Sprintf("port %d, STARTTLS, normal password", s.Submission)},
				{"Incoming (IMAP)", fmt.Sprintf("port %d, STARTTLS", s.IMAP)}, {"Incoming (POP3)", fmt.Sprintf("port %d, STARTTLS", s.POP3)},
				{"TLS", s.TLS + " with the node's own certificate: accept it once in the program"}, {"Login", login},
			}
			form := widget.NewForm()
			for _, r := range rows {
				l := widget.NewLabel(r[1])
				l.Wrapping = fyne.TextWrapWord
				l.Selectable = true
				form.Append(r[0], l)
			}
			d := dialog.NewCustom("Settings for a mail program", "Close", form, v.window)
			d.Resize(fyne.NewSize(620, 420))
			d.Show()
		})
	}()
}

// mailRow is one message in the list.
type mailRow struct {
	widget.BaseWidget
	clip                 *widget.Icon
	from, subject, state *widget.Label
	date                 *widget.Label
	row                  *fyne.Container
}

// newMailRow is two lines, as mail programs show a message: the sender
// and the date, then the subject with the delivery state of sent mail; a
// clip marks attachments.
func newMailRow() *mailRow {
	r := &mailRow{clip: widget.NewIcon(nil), from: cellLabel(), subject: cellLabel(), state: widget.NewLabel(""), date: widget.NewLabel("")}
	r.row = container.NewVBox(
		container.NewBorder(nil, nil, nil, r.date, r.from),
		container.NewBorder(nil, nil, r.clip, r.state, r.subject))
	r.ExtendBaseWidget(r)
	return r
}

func (r *mailRow) CreateRenderer() fyne.WidgetRenderer { return widget.NewSimpleRenderer(r.row) }

func (r *mailRow) show(m node.MailSummary, folder string) {
	unread := !slices.Contains(m.Flags, `\Seen`)
	who := m.From
	if strings.EqualFold(folder, "Sent") || strings.EqualFold(folder, "Drafts") {
		who = "To: " + m.To
	}
	if strings.HasPrefix(who, "To: ") {
		var names []string
		for _, a := range addresses(strings.TrimPrefix(who, "To: ")) {
			names = append(names, personName(a))
		}
		who = "To: " + strings.Join(names, ", ")
	} else {
		who = personName(who)
	}
	for _, l := range []*widget.Label{r.from, r.subject, r.date} {
		l.TextStyle.Bold = unread
	}
	r.from.SetText(who)
	subject := m.Subject
	if subject == "" {
		subject = "(no subject)"
	}
	r.subject.SetText(subject)
	r.state.SetText(summaryState(m.Delivery))
	r.date.SetText(m.Date.Local().Format("2 Jan 15:04"))
	if m.Attachment {
		r.clip.SetResource(theme.FileIcon())
		r.clip.Show()
	} else {
		r.clip.SetResource(nil)
		r.clip.Hide()
	}
	r.from.Refresh()
	r.subject.Refresh()
	r.date.Refresh()
}

// composePane writes a new message, a reply, a forward or a draft.
type composePane struct {
	v                   *mailView
	to, cc, bcc         *widget.SelectEntry
	subject             *widget.Entry
	body                *widget.Entry
	attachments         []node.MailAttach
	attachBox           *fyne.Container
	send, save, discard *widget.Button
	status              *widget.Label
	inReplyTo           string
	references          []string
	draft               uint32 // the draft this message replaces
	content             *fyne.Container
	completing          bool
	offers              map[*widget.SelectEntry][]string // the completions each field offers
}

func newComposePane(v *mailView) *composePane {
	c := &composePane{v: v, subject: widget.NewEntry(), body: widget.NewMultiLineEntry(), status: widget.NewLabel(""), offers: map[*widget.SelectEntry][]string{}}
	c.status.Wrapping = fyne.TextWrapWord
	c.to, c.cc, c.bcc = c.recipientEntry(), c.recipientEntry(), c.recipientEntry()
	c.to.SetPlaceHolder("bob@beta.shoal, …")
	c.body.SetMinRowsVisible(12)
	c.body.Wrapping = fyne.TextWrapWord
	c.attachBox = container.NewVBox()
	c.send = widget.NewButtonWithIcon("Send", theme.MailSendIcon(), c.doSend)
	c.send.Importance = widget.HighImportance
	c.save = widget.NewButtonWithIcon("Save draft", theme.DocumentSaveIcon(), c.doSave)
	c.discard = widget.NewButtonWithIcon("Discard", theme.CancelIcon(), func() { c.v.showReading() })
	attach := widget.NewButtonWithIcon("Attach…", theme.ContentAddIcon(), c.pick)
	form := widget.NewForm(
		widget.NewFormItem("To", c.to), widget.NewFormItem("Cc", c.cc), widget.NewFormItem("Bcc", c.bcc),
		widget.NewFormItem("Subject", c.subject))
	hint := widget.NewLabel("Drop files on the window to attach them.")
	c.content = container.NewBorder(
		container.NewVBox(form, container.NewHBox(attach, hint), c.attachBox),
		container.NewVBox(c.status, container.NewHBox(c.send, c.save, c.discard)), nil, nil,
		c.body)
	c.content.Hide()
	return c
}

// recipientEntry is an address field that offers the group's users that
// start like the last address typed.
func (c *composePane) recipientEntry() *widget.SelectEntry {
	e := widget.NewSelectEntry(nil)
	e.OnChanged = func(s string) {
		if c.completing {
			return
		}
		parts := strings.Split(s, ",")
		last := strings.ToLower(strings.TrimSpace(parts[len(parts)-1]))
		prefix := strings.Join(parts[:len(parts)-1], ",")
		if prefix != "" {
			prefix += ", "
		}
		var opts []string
		if last != "" {
			for _, a := range c.v.contacts {
				if strings.HasPrefix(a, last) || strings.Contains(a, last) {
					opts = append(opts, prefix+a)
				}
			}
		}
		c.completing = true
		e.SetOptions(opts)
		c.offers[e] = opts
		c.completing = false
	}
	return e
}

// addresses splits a field into addresses.
func addresses(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// open shows the pane filled from req.
func (c *composePane) open(req node.MailSend) {
	c.to.SetText(strings.Join(req.To, ", "))
	c.cc.SetText(strings.Join(req.Cc, ", "))
	c.bcc.SetText(strings.Join(req.Bcc, ", "))
	c.subject.SetText(req.Subject)
	c.body.SetText(req.Body)
	c.attachments = slices.Clone(req.Attachments)
	c.inReplyTo, c.references, c.draft = req.InReplyTo, req.References, req.Draft
	c.status.SetText("")
	c.showAttachments()
	c.setBusy(false)
	c.v.reader.Hide()
	c.content.Show()
}

func (c *composePane) request() node.MailSend {
	return node.MailSend{To: addresses(c.to.Text), Cc: addresses(c.cc.Text), Bcc: addresses(c.bcc.Text),
		Subject: c.subject.Text, Body: c.body.Text, Attachments: c.attachments,
		InReplyTo: c.inReplyTo, References: c.references, Draft: c.draft}
}

func (c *composePane) showAttachments() {
	c.attachBox.RemoveAll()
	for i, a := range c.attachments {
		i := i
		rm := widget.NewButtonWithIcon("", theme.DeleteIcon(), func() {
			c.attachments = slices.Delete(c.attachments, i, i+1)
			c.showAttachments()
		})
		c.attachBox.Add(container.NewHBox(widget.NewIcon(theme.FileIcon()), widget.NewLabel(fmt.Sprintf("%s (%s)", a.Name, formatBytes(int64(len(a.Data))))), rm))
	}
}

// attachFiles reads local files into the message. UI goroutine; reads off it.
func (c *composePane) attachFiles(uris []fyne.URI) {
	go func() {
		var got []node.MailAttach
		var errs []string
		for _, u := range uris {
			data, err := os.ReadFile(u.Path())
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			got = append(got, node.MailAttach{Name: filepath.Base(u.Path()), Data: data})
		}
		c.v.loop.do(func() {
			c.attachments = append(c.attachments, got...)
			c.showAttachments()
			if len(errs) > 0 {
				c.status.SetText("Not attached: " + strings.Join(errs, "; "))
			}
		})
	}()
}

func (c *composePane) pick() {
	d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil || r == nil {
			return
		}
		name := r.URI().Name()
		go func() {
			data, err := io.ReadAll(io.LimitReader(r, 25<<20+1))
			r.Close()
			c.v.loop.do(func() {
				if err != nil {
					c.status.SetText("Not attached: " + err.Error())
					return
				}
				c.attachments = append(c.attachments, node.MailAttach{Name: name, Data: data})
				c.showAttachments()
			})
		}()
	}, c.v.window)
	d.Show()
}

func (c *composePane) setBusy(busy bool) {
	for _, b := range []*widget.Button{c.send, c.save, c.discard} {
		if busy {
			b.Disable()
		} else {
			b.Enable()
		}
	}
}

func (c *composePane) doSend() {
	req := c.request()
	c.setBusy(true)
	c.status.SetText("Sending…")
	go func() {
		sent, err := c.v.node.MailSend(c.v.loop.ctx, req)
		c.v.loop.do(func() {
			c.setBusy(false)
			if err != nil {
				c.status.SetText("Not sent: " + err.Error())
				return
			}
			c.v.say("Sent to " + strings.Join(sent.Recipients, ", ") + ".")
			c.v.showReading()
			c.v.requestReload()
		})
	}()
}

func (c *composePane) doSave() {
	req := c.request()
	c.setBusy(true)
	go func() {
		uid, err := c.v.node.MailSaveDraft(c.v.loop.ctx, req)
		c.v.loop.do(func() {
			c.setBusy(false)
			if err != nil {
				c.status.SetText("Draft not saved: " + err.Error())
				return
			}
			c.draft = uid
			c.status.SetText("Draft saved at " + time.Now().Format("15:04:05") + ".")
			c.v.requestReload()
		})
	}()
}

// startCompose opens the compose pane with req.
func (v *mailView) startCompose(req node.MailSend) {
	v.compose.open(req)
}

// composing tells whether the compose pane is open (drops attach to it).
func (v *mailView) composing() bool { return v.compose.content.Visible() }

// drop attaches dropped files to the message being written.
func (v *mailView) drop(uris []fyne.URI) { v.compose.attachFiles(uris) }

// quote is text with each line quoted, after a line saying who wrote it.
func quote(m node.MailMessage) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n\nOn %s, %s wrote:\n", m.Date.Local().Format("Mon 2 Jan 2006 15:04"), m.From)
	for _, l := range strings.Split(strings.TrimRight(strings.ReplaceAll(m.Text, "\r\n", "\n"), "\n"), "\n") {
		b.WriteString("> " + l + "\n")
	}
	return b.String()
}

func withPrefix(prefix, subject string) string {
	if strings.HasPrefix(strings.ToLower(subject), strings.ToLower(prefix)) {
		return subject
	}
	return prefix + " " + subject
}

func (v *mailView) startReply(all bool) {
	m := v.reading
	if m == nil {
		return
	}
	to := m.ReplyTo
	if len(to) == 0 && m.From != "" {
		to = []string{m.From}
	}
	var cc []string
	if all {
		own := func(a string) bool {
			p, err := mail.ParseAddress(a)
			return err == nil && strings.EqualFold(p.Address, v.address)
		}
		for _, a := range append(slices.Clone(m.To), m.Cc...) {
			if !own(a) && !slices.Contains(to, a) {
				cc = append(cc, a)
			}
		}
	}
	refs := slices.Clone(m.Refs)
	if m.MessageID != "" {
		refs = append(refs, m.MessageID)
	}
	v.startCompose(node.MailSend{To: to, Cc: cc, Subject: withPrefix("Re:", m.Subject), Body: quote(*m), InReplyTo: m.MessageID, References: refs})
}

// withAttachments reads the attachments of the message being read off
// the UI goroutine, then opens the compose pane with what build makes of
// the message and them.
func (v *mailView) withAttachments(what string, build func(m node.MailMessage, atts []node.MailAttach) node.MailSend) {
	m := v.reading
	if m == nil {
		return
	}
	msg, folder := *m, v.folder
	go func() {
		var atts []node.MailAttach
		for _, a := range msg.Attachments {
			p, err := v.node.MailAttachment(v.loop.ctx, "", folder, msg.UID, a.Part)
			if err != nil {
				v.loop.do(func() { v.say(what + ": " + err.Error()) })
				return
			}
			atts = append(atts, node.MailAttach{Name: p.Name, Type: p.Type, Data: p.Data})
		}
		v.loop.do(func() { v.startCompose(build(msg, atts)) })
	}()
}

// startForward opens a forward of the message with its attachments.
func (v *mailView) startForward() {
	v.withAttachments("forward", func(msg node.MailMessage, atts []node.MailAttach) node.MailSend {
		body := fmt.Sprintf("\n\n---------- Forwarded message ----------\nFrom: %s\nDate: %s\nSubject: %s\nTo: %s\n\n%s",
			msg.From, msg.Date.Local().Format("Mon 2 Jan 2006 15:04"), msg.Subject, strings.Join(msg.To, ", "), msg.Text)
		return node.MailSend{Subject: withPrefix("Fwd:", msg.Subject), Body: body, Attachments: atts}
	})
}

// editReadDraft opens the draft being read in the compose pane.
func (v *mailView) editReadDraft() {
	v.withAttachments("edit draft", func(msg node.MailMessage, atts []node.MailAttach) node.MailSend {
		return node.MailSend{To: msg.To, Cc: msg.Cc, Subject: msg.Subject, Body: msg.Text, Attachments: atts,
			InReplyTo: msg.InReplyTo, References: msg.Refs, Draft: msg.UID}
	})
}
