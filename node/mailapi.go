package node

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-p2p/shoal/mail/mailstore"
	"github.com/shoal-p2p/shoal/mail/queue"
)

// mailRoutes are the control API's mail routes (docs/API.md).
func (a *controlAPI) mailRoutes(api func(string, http.HandlerFunc)) {
	api("GET /api/v1/mail", a.mailOn(a.getMail))
	api("POST /api/v1/mail/users", a.mailOn(a.postMailUser))
	api("PUT /api/v1/mail/users/{name}/password", a.mailOn(a.putMailPassword))
	api("DELETE /api/v1/mail/users/{name}", a.mailOn(a.deleteMailUser))
	api("GET /api/v1/mail/queue", a.mailOn(a.getMailQueue))
	api("POST /api/v1/mail/queue/{id}/retry", a.mailOn(a.retryMail))
	api("DELETE /api/v1/mail/queue/{id}", a.mailOn(a.dropMail))
	api("POST /api/v1/mail/send", a.mailOn(a.postMailSend))
	api("GET /api/v1/mail/messages", a.mailOn(a.getMailMessages))
	api("GET /api/v1/mail/messages/{uid}", a.mailOn(a.getMailMessage))
}

// mailOn answers 503 while the node runs no mail.
func (a *controlAPI) mailOn(h func(http.ResponseWriter, *http.Request, *Mail)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		m := a.n.Mail()
		if m == nil {
			writeError(w, http.StatusServiceUnavailable, errors.New("mail is off on this node (mail.enabled in shoal.toml)"))
			return
		}
		h(w, r, m)
	}
}

// mailStatus maps the store's and queue's errors to status codes.
func mailStatus(err error) int {
	switch {
	case errors.Is(err, mailstore.ErrNoUser), errors.Is(err, mailstore.ErrNoFolder), errors.Is(err, queue.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, mailstore.ErrUserExists):
		return http.StatusConflict
	case errors.Is(err, mailstore.ErrBadInput):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// MailInfo is GET /api/v1/mail.
type MailInfo struct {
	Domain string     `json:"domain"`
	Users  []MailUser `json:"users"`
}

// MailUser is one local user; Password only in the answer that made it.
type MailUser struct {
	Name     string    `json:"name"`
	Address  string    `json:"address"`
	Created  time.Time `json:"created,omitzero"`
	Password string    `json:"password,omitempty"`
}

func (a *controlAPI) getMail(w http.ResponseWriter, r *http.Request, m *Mail) {
	users, err := m.Store.Users(r.Context())
	if err != nil {
		writeError(w, mailStatus(err), err)
		return
	}
	info := MailInfo{Domain: m.Domain, Users: []MailUser{}}
	for _, u := range users {
		info.Users = append(info.Users, MailUser{Name: u.Name, Address: u.Name + "@" + m.Domain, Created: u.Created})
	}
	writeJSON(w, http.StatusOK, info)
}

// passwordOrNew is the password asked for, or a generated one.
func passwordOrNew(p string) string {
	if p == "" {
		return mailstore.GeneratePassword()
	}
	return p
}

func (a *controlAPI) postMailUser(w http.ResponseWriter, r *http.Request, m *Mail) {
	var req struct{ Name, Password string }
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	pw := passwordOrNew(req.Password)
	if err := m.Store.AddUser(r.Context(), req.Name, pw); err != nil {
		writeError(w, mailStatus(err), err)
		return
	}
	name := strings.ToLower(req.Name)
	writeJSON(w, http.StatusCreated, MailUser{Name: name, Address: name + "@" + m.Domain, Password: pw})
}

func (a *controlAPI) putMailPassword(w http.ResponseWriter, r *http.Request, m *Mail) {
	var req struct{ Password string }
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	pw := passwordOrNew(req.Password)
	name := strings.ToLower(r.PathValue("name"))
	if err := m.Store.SetPassword(r.Context(), name, pw); err != nil {
		writeError(w, mailStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, MailUser{Name: name, Address: name + "@" + m.Domain, Password: pw})
}

func (a *controlAPI) deleteMailUser(w http.ResponseWriter, r *http.Request, m *Mail) {
	if err := m.Store.RemoveUser(r.Context(), r.PathValue("name")); err != nil {
		writeError(w, mailStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (a *controlAPI) getMailQueue(w http.ResponseWriter, r *http.Request, m *Mail) {
	msgs, err := m.Queue.List(r.Context())
	if err != nil {
		writeError(w, mailStatus(err), err)
		return
	}
	if msgs == nil {
		msgs = []queue.Message{}
	}
	writeJSON(w, http.StatusOK, msgs)
}

func (a *controlAPI) retryMail(w http.ResponseWriter, r *http.Request, m *Mail) {
	if err := m.Queue.RetryNow(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, mailStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (a *controlAPI) dropMail(w http.ResponseWriter, r *http.Request, m *Mail) {
	if err := m.Queue.Drop(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, mailStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// MailSend is the body of POST /api/v1/mail/send: a plain-text message
// from one of the node's users.
type MailSend struct {
	User    string   `json:"user"` // "" is the first user
	To      []string `json:"to"`
	Cc      []string `json:"cc"`
	Bcc     []string `json:"bcc"`
	Subject string   `json:"subject"`
	Body    string   `json:"body"`
}

func (a *controlAPI) postMailSend(w http.ResponseWriter, r *http.Request, m *Mail) {
	var req MailSend
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if req.User == "" {
		users, err := m.Store.Users(r.Context())
		if err != nil || len(users) == 0 {
			writeError(w, http.StatusConflict, errors.New("this node has no mail user; add one with 'shoal mail user add NAME'"))
			return
		}
		req.User = users[0].Name
	}
	raw, rcpts, err := composeMail(req.User+"@"+m.Domain, req)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if err := m.submission.Submit(r.Context(), req.User, rcpts, raw); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "recipients": rcpts})
}

// composeMail writes a plain-text RFC 5322 message and its recipients.
func composeMail(from string, req MailSend) ([]byte, []string, error) {
	var rcpts []string
	list := func(field string, addrs []string) (string, error) {
		var out []string
		for _, a := range addrs {
			p, err := mail.ParseAddress(a)
			if err != nil {
				return "", fmt.Errorf("%s %q is not a mail address", field, a)
			}
			rcpts = append(rcpts, p.Address)
			out = append(out, p.String())
		}
		return strings.Join(out, ", "), nil
	}
	to, err := list("to", req.To)
	if err != nil {
		return nil, nil, err
	}
	cc, err := list("cc", req.Cc)
	if err != nil {
		return nil, nil, err
	}
	if _, err := list("bcc", req.Bcc); err != nil {
		return nil, nil, err
	}
	if len(rcpts) == 0 {
		return nil, nil, errors.New("no recipients: give at least one of to, cc, bcc")
	}
	if strings.ContainsAny(req.Subject, "\r\n") {
		return nil, nil, errors.New("the subject must be one line")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: <%s>\r\n", from)
	if to != "" {
		fmt.Fprintf(&b, "To: %s\r\n", to)
	}
	if cc != "" {
		fmt.Fprintf(&b, "Cc: %s\r\n", cc)
	}
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", req.Subject))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	body := strings.ReplaceAll(strings.ReplaceAll(req.Body, "\r\n", "\n"), "\n", "\r\n")
	b.WriteString(body)
	if !strings.HasSuffix(body, "\r\n") {
		b.WriteString("\r\n")
	}
	return b.Bytes(), rcpts, nil
}

// MailSummary is one message in a folder listing.
type MailSummary struct {
	UID     uint32    `json:"uid"`
	From    string    `json:"from"`
	To      string    `json:"to"`
	Subject string    `json:"subject"`
	Date    time.Time `json:"date"`
	Flags   []string  `json:"flags"`
	Size    int64     `json:"size"`
}

// mailbox is the user and folder a message request names (defaults: the
// first user, INBOX).
func (a *controlAPI) mailbox(r *http.Request, m *Mail) (user, folder string, err error) {
	user, folder = r.URL.Query().Get("user"), r.URL.Query().Get("folder")
	if folder == "" {
		folder = "INBOX"
	}
	if user == "" {
		users, err := m.Store.Users(r.Context())
		if err != nil {
			return "", "", err
		}
		if len(users) == 0 {
			return "", "", mailstore.ErrNoUser
		}
		user = users[0].Name
	}
	return user, folder, nil
}

func (a *controlAPI) getMailMessages(w http.ResponseWriter, r *http.Request, m *Mail) {
	user, folder, err := a.mailbox(r, m)
	if err != nil {
		writeError(w, mailStatus(err), err)
		return
	}
	uids, err := m.Store.UIDs(r.Context(), user, folder)
	if err != nil {
		writeError(w, mailStatus(err), err)
		return
	}
	msgs, err := m.Store.Messages(r.Context(), user, folder, uids, mailstore.HeaderOnly)
	if err != nil {
		writeError(w, mailStatus(err), err)
		return
	}
	out := []MailSummary{}
	dec := new(mime.WordDecoder)
	for _, msg := range msgs {
		s := MailSummary{UID: msg.UID, Date: msg.InternalDate, Flags: msg.Flags, Size: msg.Size}
		if h, err := mail.ReadMessage(bytes.NewReader(msg.Body)); err == nil {
			s.From, s.To = h.Header.Get("From"), h.Header.Get("To")
			s.Subject = h.Header.Get("Subject")
			if d, err := dec.DecodeHeader(s.Subject); err == nil {
				s.Subject = d
			}
		}
		out = append(out, s)
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *controlAPI) getMailMessage(w http.ResponseWriter, r *http.Request, m *Mail) {
	user, folder, err := a.mailbox(r, m)
	if err != nil {
		writeError(w, mailStatus(err), err)
		return
	}
	uid, err := strconv.ParseUint(r.PathValue("uid"), 10, 32)
	if err != nil || uid == 0 {
		writeError(w, http.StatusBadRequest, fmt.Errorf("message id %q is not a UID", r.PathValue("uid")))
		return
	}
	body, err := m.Store.Body(r.Context(), user, folder, uint32(uid))
	if err != nil {
		writeError(w, mailStatus(err), err)
		return
	}
	w.Header().Set("Content-Type", "message/rfc822")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(body)
}
