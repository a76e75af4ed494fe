package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/shoal-p2p/shoal/mail/mailstore"
)

// The node is the mail client of its users: these methods are what the
// window, the web client (through the control API) and the CLI read and
// change mailboxes with. A user "" is the node's own user (Mail.Owner).

// ErrMailOff is returned by the mail client methods while mail is off.
var ErrMailOff = errors.New("node: mail is off on this node (mail.enabled in shoal.toml)")

// MailFolder is one folder with its counts.
type MailFolder struct {
	Name       string `json:"name"`
	SpecialUse string `json:"special_use,omitempty"`
	Messages   int    `json:"messages"`
	Unseen     int    `json:"unseen"`
}

// MailClientSettings is what an outside mail program needs to reach this
// node's mail.
type MailClientSettings struct {
	Host       string `json:"host"`
	Submission int    `json:"submission"`
	IMAP       int    `json:"imap"`
	POP3       int    `json:"pop3"`
	User       string `json:"user"`    // the login: the local part
	Address    string `json:"address"` // the mail address
	// TLS is how the servers offer TLS: STARTTLS with the node's own
	// certificate (made from its key, so a program asks to trust it once).
	TLS string `json:"tls"`
	// PlainLogin says whether logins work without TLS (only on loopback).
	PlainLogin bool `json:"plain_login"`
	// NewPassword is the password generated for this user on the node's
	// first start, until the user notes it (MailNotedPassword).
	NewPassword string `json:"new_password,omitempty"`
}

// MailContact is an address to complete the To field from.
type MailContact struct {
	Address string `json:"address"`
	Name    string `json:"name,omitempty"`
	// Source says where it came from: "local" (a user of this node),
	// "member" (a member's postmaster) or "correspondent" (seen in mail).
	Source string `json:"source"`
}

// mailOn is the node's mail, or ErrMailOff.
func (n *Node) mailOn() (*Mail, error) {
	if n.mail == nil {
		return nil, ErrMailOff
	}
	return n.mail, nil
}

// mailUser is user, or when user is "" the node's owner, or while the
// owner has no mailbox the first user.
func (m *Mail) mailUser(ctx context.Context, user string) (string, error) {
	if user != "" {
		return strings.ToLower(user), nil
	}
	users, err := m.Store.Users(ctx)
	if err != nil {
		return "", err
	}
	for _, u := range users {
		if u.Name == m.Owner {
			return u.Name, nil
		}
	}
	if len(users) == 0 {
		return "", fmt.Errorf("node: mail: this node has no mail user; add one with 'shoal mail user add NAME': %w", mailstore.ErrNoUser)
	}
	return users[0].Name, nil
}

// MailClientSettings gives the settings for an outside mail program for
// user ("" the first).
func (n *Node) MailClientSettings(ctx context.Context, user string) (MailClientSettings, error) {
	m, err := n.mailOn()
	if err != nil {
		return MailClientSettings{}, err
	}
	u, err := m.mailUser(ctx, user)
	if err != nil {
		return MailClientSettings{}, err
	}
	self := n.cdn.Members.Self()
	s := MailClientSettings{
		Host: n.cfg.Bind, Submission: self.Ports["submission"], IMAP: self.Ports["imap"], POP3: self.Ports["pop3"],
		User: u, Address: u + "@" + m.Domain, TLS: "STARTTLS",
		PlainLogin: n.cfg.Bind == "127.0.0.1" || strings.HasPrefix(n.cfg.Bind, "127.") || n.cfg.Bind == "::1",
	}
	if first, pw := m.NewPassword(); first == u {
		s.NewPassword = pw
	}
	return s, nil
}

// MailNotedPassword stops showing the first user's generated password.
func (n *Node) MailNotedPassword() error {
	m, err := n.mailOn()
	if err != nil {
		return err
	}
	m.NotedPassword()
	return nil
}

// mailbox is the node's mail, the user ("" the owner) and the folder (""
// INBOX) a request names.
func (n *Node) mailbox(ctx context.Context, user, folder string) (*Mail, string, string, error) {
	m, err := n.mailOn()
	if err != nil {
		return nil, "", "", err
	}
	u, err := m.mailUser(ctx, user)
	if err != nil {
		return nil, "", "", err
	}
	if folder == "" {
		folder = mailstore.Inbox
	}
	return m, u, folder, nil
}

// MailFolders lists user's folders with their counts, INBOX first.
func (n *Node) MailFolders(ctx context.Context, user string) ([]MailFolder, error) {
	m, err := n.mailOn()
	if err != nil {
		return nil, err
	}
	u, err := m.mailUser(ctx, user)
	if err != nil {
		return nil, err
	}
	fs, err := m.Store.Folders(ctx, u)
	if err != nil {
		return nil, err
	}
	out := make([]MailFolder, 0, len(fs))
	for _, f := range fs {
		st, err := m.Store.FolderStatus(ctx, u, f.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, MailFolder{Name: f.Name, SpecialUse: f.SpecialUse, Messages: int(st.Messages), Unseen: int(st.Unseen)})
	}
	return out, nil
}

// MailSummary is one message in a folder listing.
type MailSummary struct {
	UID        uint32    `json:"uid"`
	From       string    `json:"from"`
	To         string    `json:"to"`
	Subject    string    `json:"subject"`
	Date       time.Time `json:"date"`
	Flags      []string  `json:"flags"`
	Size       int64     `json:"size"`
	MessageID  string    `json:"message_id,omitempty"`
	Attachment bool      `json:"attachment"` // multipart/mixed: has attachments
	// Delivery is the delivery state of a message this node sent and
	// queued (the Sent folder); nil when there is none.
	Delivery *MailDelivery `json:"delivery,omitempty"`
}

// MailList lists a folder's messages, newest first; search, when not
// empty, keeps those whose subject, sender or body hold it.
func (n *Node) MailList(ctx context.Context, user, folder, search string) ([]MailSummary, error) {
	m, u, folder, err := n.mailbox(ctx, user, folder)
	if err != nil {
		return nil, err
	}
	var uids []uint32
	if search = strings.TrimSpace(search); search != "" {
		c := &mailstore.Criteria{Or: [][2]mailstore.Criteria{{
			{Header: []mailstore.HeaderMatch{{Key: "Subject", Value: search}}},
			{Or: [][2]mailstore.Criteria{{
				{Header: []mailstore.HeaderMatch{{Key: "From", Value: search}}},
				{Body: []string{search}},
			}}},
		}}}
		uids, err = m.Store.Search(ctx, u, folder, c)
	} else {
		uids, err = m.Store.UIDs(ctx, u, folder)
	}
	if err != nil {
		return nil, err
	}
	msgs, err := m.Store.Messages(ctx, u, folder, uids, mailstore.HeaderOnly)
	if err != nil {
		return nil, err
	}
	deliveries := n.mailDeliveries.byMessageID()
	out := make([]MailSummary, 0, len(msgs))
	for i := len(msgs) - 1; i >= 0; i-- {
		msg := msgs[i]
		s := MailSummary{UID: msg.UID, Date: msg.InternalDate, Flags: msg.Flags, Size: msg.Size, MessageID: strings.Trim(msg.MessageID, "<>")}
		if s.Flags == nil {
			s.Flags = []string{}
		}
		if h, err := mail.ReadMessage(bytes.NewReader(msg.Body)); err == nil {
			s.From, s.To = decodeHeader(h.Header.Get("From")), decodeHeader(h.Header.Get("To"))
			s.Subject = decodeHeader(h.Header.Get("Subject"))
			ct := strings.ToLower(h.Header.Get("Content-Type"))
			s.Attachment = strings.HasPrefix(strings.TrimSpace(ct), "multipart/mixed")
			if d, err := h.Header.Date(); err == nil {
				s.Date = d
			}
		}
		if d, ok := deliveries[s.MessageID]; ok {
			s.Delivery = &d
		}
		out = append(out, s)
	}
	return out, nil
}

// MailRead reads one message, parsed; remote lets its HTML keep remote
// images. Reading marks it seen.
func (n *Node) MailRead(ctx context.Context, user, folder string, uid uint32, remote bool) (MailMessage, error) {
	m, u, folder, err := n.mailbox(ctx, user, folder)
	if err != nil {
		return MailMessage{}, err
	}
	msgs, err := m.Store.Messages(ctx, u, folder, []uint32{uid}, mailstore.WholeBody)
	if err != nil {
		return MailMessage{}, err
	}
	if len(msgs) == 0 {
		return MailMessage{}, fmt.Errorf("node: mail: %w: no message %d in %s", mailstore.ErrBadInput, uid, folder)
	}
	msg := ParseMailMessage(msgs[0].Body, remote)
	msg.UID, msg.Folder, msg.Flags = uid, folder, msgs[0].Flags
	if msg.Date.IsZero() {
		msg.Date = msgs[0].InternalDate
	}
	if !slices.Contains(msg.Flags, mailstore.FlagSeen) {
		if _, err := m.Store.StoreFlags(ctx, u, folder, []uint32{uid}, mailstore.FlagsAdd, []string{mailstore.FlagSeen}); err != nil {
			return MailMessage{}, err
		}
		msg.Flags = append(slices.Clone(msg.Flags), mailstore.FlagSeen)
	}
	if msg.Flags == nil {
		msg.Flags = []string{}
	}
	return msg, nil
}

// MailAttachment reads one part of a message, decoded.
func (n *Node) MailAttachment(ctx context.Context, user, folder string, uid uint32, part string) (MailPart, error) {
	m, u, folder, err := n.mailbox(ctx, user, folder)
	if err != nil {
		return MailPart{}, err
	}
	body, err := m.Store.Body(ctx, u, folder, uid)
	if err != nil {
		return MailPart{}, err
	}
	p, err := MailPartOf(body, part)
	if err != nil {
		return MailPart{}, fmt.Errorf("%w: %w", mailstore.ErrBadInput, err)
	}
	return p, nil
}

// MailSetSeen marks messages read or unread.
func (n *Node) MailSetSeen(ctx context.Context, user, folder string, uids []uint32, seen bool) error {
	m, u, folder, err := n.selection(ctx, user, folder, uids)
	if err != nil {
		return err
	}
	op := mailstore.FlagsAdd
	if !seen {
		op = mailstore.FlagsRemove
	}
	_, err = m.Store.StoreFlags(ctx, u, folder, uids, op, []string{mailstore.FlagSeen})
	return err
}

// selection is mailbox for a change of messages: every UID must be in
// the folder.
func (n *Node) selection(ctx context.Context, user, folder string, uids []uint32) (*Mail, string, string, error) {
	m, u, folder, err := n.mailbox(ctx, user, folder)
	if err == nil {
		err = m.checkUIDs(ctx, u, folder, uids)
	}
	return m, u, folder, err
}

// checkUIDs refuses an empty list and UIDs the folder does not hold, so
// that a bad request changes nothing.
func (m *Mail) checkUIDs(ctx context.Context, user, folder string, uids []uint32) error {
	if len(uids) == 0 {
		return fmt.Errorf("node: mail: %w: no messages given", mailstore.ErrBadInput)
	}
	have, err := m.Store.UIDs(ctx, user, folder)
	if err != nil {
		return err
	}
	for _, uid := range uids {
		if _, ok := slices.BinarySearch(have, uid); !ok {
			return fmt.Errorf("node: mail: %w: no message %d in %s", mailstore.ErrBadInput, uid, folder)
		}
	}
	return nil
}

// MailMove moves messages to another folder.
func (n *Node) MailMove(ctx context.Context, user, folder string, uids []uint32, to string) error {
	m, u, folder, err := n.selection(ctx, user, folder, uids)
	if err != nil {
		return err
	}
	_, err = m.Store.Move(ctx, u, folder, uids, to)
	return err
}

// specialFolder is the name of user's folder with the given SPECIAL-USE.
func (m *Mail) specialFolder(ctx context.Context, user, use, fallback string) (string, error) {
	fs, err := m.Store.Folders(ctx, user)
	if err != nil {
		return "", err
	}
	for _, f := range fs {
		if f.SpecialUse == use {
			return f.Name, nil
		}
	}
	if err := m.Store.CreateFolder(ctx, user, fallback); err != nil && !errors.Is(err, mailstore.ErrFolderExists) {
		return "", err
	}
	return fallback, nil
}

// MailDelete moves messages to Trash; in Trash it removes them for good.
func (n *Node) MailDelete(ctx context.Context, user, folder string, uids []uint32) error {
	m, u, folder, err := n.selection(ctx, user, folder, uids)
	if err != nil {
		return err
	}
	trash, err := m.specialFolder(ctx, u, mailstore.UseTrash, "Trash")
	if err != nil {
		return err
	}
	if strings.EqualFold(folder, trash) {
		_, err = m.Store.Remove(ctx, u, folder, uids)
		return err
	}
	_, err = m.Store.Move(ctx, u, folder, uids, trash)
	return err
}

// MailSend is a message to send or keep as a draft, from one of the
// node's users.
type MailSend struct {
	User        string       `json:"user"` // "" is the node's own user (Mail.Owner)
	To          []string     `json:"to"`
	Cc          []string     `json:"cc"`
	Bcc         []string     `json:"bcc"`
	Subject     string       `json:"subject"`
	Body        string       `json:"body"`
	Attachments []MailAttach `json:"attachments,omitempty"`
	InReplyTo   string       `json:"in_reply_to,omitempty"` // the Message-ID answered
	References  []string     `json:"references,omitempty"`
	// Draft is the UID of the draft this message replaces (in Drafts); it
	// is removed once the message is sent or the new draft is saved.
	Draft uint32 `json:"draft,omitempty"`
}

// MailSent is the answer to a send.
type MailSent struct {
	Recipients []string `json:"recipients"`
	MessageID  string   `json:"message_id"`
}

// maxMailMessage is the largest message the node sends (the servers'
// limit).
const maxMailMessage = 25 << 20

// MailSend sends a message through the submission path: the same checks
// as a mail program's, DKIM-signed, queued or delivered, a copy in Sent.
func (n *Node) MailSend(ctx context.Context, req MailSend) (MailSent, error) {
	m, err := n.mailOn()
	if err != nil {
		return MailSent{}, err
	}
	u, err := m.mailUser(ctx, req.User)
	if err != nil {
		return MailSent{}, err
	}
	raw, rcpts, id, err := composeMIME(u+"@"+m.Domain, m.Domain, req, time.Now())
	if err != nil {
		return MailSent{}, fmt.Errorf("node: mail: %w: %w", mailstore.ErrBadInput, err)
	}
	if len(rcpts) == 0 {
		return MailSent{}, fmt.Errorf("node: mail: %w: no recipients: give at least one of to, cc, bcc", mailstore.ErrBadInput)
	}
	if len(raw) > maxMailMessage {
		return MailSent{}, fmt.Errorf("node: mail: %w: the message is %d bytes, over the limit of %d", mailstore.ErrBadInput, len(raw), maxMailMessage)
	}
	var drafts string
	if req.Draft != 0 {
		if drafts, err = m.specialFolder(ctx, u, mailstore.UseDrafts, "Drafts"); err != nil {
			return MailSent{}, err
		}
		if err := m.checkUIDs(ctx, u, drafts, []uint32{req.Draft}); err != nil {
			return MailSent{}, err
		}
	}
	if err := m.submission.Submit(ctx, u, rcpts, raw); err != nil {
		return MailSent{}, fmt.Errorf("node: mail: %w: %w", mailstore.ErrBadInput, err)
	}
	if req.Draft != 0 {
		if _, err := m.Store.Remove(ctx, u, drafts, []uint32{req.Draft}); err != nil {
			n.log.Warn("mail: remove the draft of a sent message", "uid", req.Draft, "err", err)
		}
	}
	return MailSent{Recipients: rcpts, MessageID: id}, nil
}

// MailSaveDraft keeps a message in Drafts (replacing req.Draft) and
// returns its UID there. A draft needs no recipients.
func (n *Node) MailSaveDraft(ctx context.Context, req MailSend) (uint32, error) {
	m, err := n.mailOn()
	if err != nil {
		return 0, err
	}
	u, err := m.mailUser(ctx, req.User)
	if err != nil {
		return 0, err
	}
	raw, _, _, err := composeMIME(u+"@"+m.Domain, m.Domain, req, time.Now())
	if err != nil {
		return 0, fmt.Errorf("node: mail: %w: %w", mailstore.ErrBadInput, err)
	}
	drafts, err := m.specialFolder(ctx, u, mailstore.UseDrafts, "Drafts")
	if err != nil {
		return 0, err
	}
	if req.Draft != 0 {
		if err := m.checkUIDs(ctx, u, drafts, []uint32{req.Draft}); err != nil {
			return 0, err
		}
	}
	uid, _, err := m.Store.Append(ctx, u, drafts, raw, []string{mailstore.FlagDraft, mailstore.FlagSeen}, time.Time{})
	if err != nil {
		return 0, err
	}
	if req.Draft != 0 {
		if _, err := m.Store.Remove(ctx, u, drafts, []uint32{req.Draft}); err != nil {
			return uid, err
		}
	}
	return uid, nil
}

// MailContacts lists the addresses to complete a recipient from: the
// node's users, each member's postmaster, and the people user has
// exchanged mail with (INBOX senders, Sent recipients).
func (n *Node) MailContacts(ctx context.Context, user string) ([]MailContact, error) {
	m, err := n.mailOn()
	if err != nil {
		return nil, err
	}
	var out []MailContact
	seen := map[string]bool{}
	add := func(c MailContact) {
		c.Address = strings.ToLower(c.Address)
		if c.Address == "" || seen[c.Address] {
			return
		}
		seen[c.Address] = true
		out = append(out, c)
	}
	users, err := m.Store.Users(ctx)
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		add(MailContact{Address: u.Name + "@" + m.Domain, Source: "local"})
	}
	for _, mem := range n.cdn.Members.Members() {
		if _, ok := mem.Record.Ports["smtp"]; !ok || mem.Self {
			continue
		}
		add(MailContact{Address: "postmaster@" + strings.ToLower(mem.DisplayName+"."+n.cfg.DNS.Zone), Name: mem.DisplayName, Source: "member"})
	}
	u, err := m.mailUser(ctx, user)
	if err != nil {
		return out, nil
	}
	for _, folder := range []string{mailstore.Inbox, "Sent"} {
		uids, err := m.Store.UIDs(ctx, u, folder)
		if err != nil {
			continue
		}
		if len(uids) > 200 {
			uids = uids[len(uids)-200:]
		}
		msgs, err := m.Store.Messages(ctx, u, folder, uids, mailstore.HeaderOnly)
		if err != nil {
			continue
		}
		for _, msg := range msgs {
			h, err := mail.ReadMessage(bytes.NewReader(msg.Body))
			if err != nil {
				continue
			}
			for _, key := range []string{"From", "To", "Cc"} {
				addrs, _ := h.Header.AddressList(key)
				for _, a := range addrs {
					add(MailContact{Address: a.Address, Name: a.Name, Source: "correspondent"})
				}
			}
		}
	}
	return out, nil
}

// decodeHeader decodes RFC 2047 words, leaving a value that does not
// decode as it is.
func decodeHeader(v string) string {
	if d, err := headerDecoder.DecodeHeader(v); err == nil {
		return d
	}
	return v
}
