package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
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
	a.mailClientRoutes(api)
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

// mailClientRoutes are the routes of the node as its users' mail client.
func (a *controlAPI) mailClientRoutes(api func(string, http.HandlerFunc)) {
	api("GET /api/v1/mail/client", a.mailOn(a.getMailClient))
	api("GET /api/v1/mail/folders", a.mailOn(a.getMailFolders))
	api("GET /api/v1/mail/contacts", a.mailOn(a.getMailContacts))
	api("GET /api/v1/mail/deliveries", a.mailOn(a.getMailDeliveries))
	api("GET /api/v1/mail/messages/{uid}/parsed", a.mailOn(a.getMailParsed))
	api("GET /api/v1/mail/messages/{uid}/parts/{part}", a.mailOn(a.getMailPart))
	api("POST /api/v1/mail/messages/seen", a.mailOn(a.postMailSeen))
	api("POST /api/v1/mail/messages/move", a.mailOn(a.postMailMove))
	api("POST /api/v1/mail/messages/delete", a.mailOn(a.postMailDelete))
	api("POST /api/v1/mail/drafts", a.mailOn(a.postMailDraft))
	api("DELETE /api/v1/mail/new-password", a.mailOn(func(w http.ResponseWriter, r *http.Request, m *Mail) {
		m.NotedPassword()
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	}))
}

func (a *controlAPI) getMailClient(w http.ResponseWriter, r *http.Request, m *Mail) {
	s, err := a.n.MailClientSettings(r.Context(), r.URL.Query().Get("user"))
	if err != nil {
		writeError(w, mailStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, s)
}

func (a *controlAPI) getMailFolders(w http.ResponseWriter, r *http.Request, m *Mail) {
	fs, err := a.n.MailFolders(r.Context(), r.URL.Query().Get("user"))
	if err != nil {
		writeError(w, mailStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, fs)
}

func (a *controlAPI) getMailContacts(w http.ResponseWriter, r *http.Request, m *Mail) {
	cs, err := a.n.MailContacts(r.Context(), r.URL.Query().Get("user"))
	if err != nil {
		writeError(w, mailStatus(err), err)
		return
	}
	if cs == nil {
		cs = []MailContact{}
	}
	writeJSON(w, http.StatusOK, cs)
}

func (a *controlAPI) getMailDeliveries(w http.ResponseWriter, r *http.Request, m *Mail) {
	ds, err := a.n.MailDeliveries(r.Context(), r.URL.Query().Get("user"))
	if err != nil {
		writeError(w, mailStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, ds)
}

// messageUID is the {uid} of a message route.
func messageUID(r *http.Request) (uint32, error) {
	uid, err := strconv.ParseUint(r.PathValue("uid"), 10, 32)
	if err != nil || uid == 0 {
		return 0, fmt.Errorf("message id %q is not a UID", r.PathValue("uid"))
	}
	return uint32(uid), nil
}

func (a *controlAPI) getMailParsed(w http.ResponseWriter, r *http.Request, m *Mail) {
	uid, err := messageUID(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	q := r.URL.Query()
	msg, err := a.n.MailRead(r.Context(), q.Get("user"), q.Get("folder"), uid, q.Get("remote") == "1" || q.Get("remote") == "true")
	if err != nil {
		writeError(w, mailStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, msg)
}

func (a *controlAPI) getMailPart(w http.ResponseWriter, r *http.Request, m *Mail) {
	uid, err := messageUID(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	q := r.URL.Query()
	p, err := a.n.MailAttachment(r.Context(), q.Get("user"), q.Get("folder"), uid, r.PathValue("part"))
	if err != nil {
		writeError(w, mailStatus(err), err)
		return
	}
	// Never shown in the UI origin: always a download, sandboxed if a
	// browser opens it anyway, and never sniffed into HTML.
	w.Header().Set("Content-Type", p.Type)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": p.Name}))
	w.Header().Set("Content-Security-Policy", "sandbox; default-src 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(p.Data)
}

// MailSelection names messages of one folder for seen, move and delete.
type MailSelection struct {
	User   string   `json:"user"`
	Folder string   `json:"folder"` // "" is INBOX
	UIDs   []uint32 `json:"uids"`
	Seen   bool     `json:"seen"` // seen: mark read (true) or unread
	To     string   `json:"to"`   // move: the destination folder
}

func (a *controlAPI) selection(w http.ResponseWriter, r *http.Request) (MailSelection, bool) {
	var s MailSelection
	if err := decodeJSON(w, r, &s); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return s, false
	}
	if s.Folder == "" {
		s.Folder = mailstore.Inbox
	}
	return s, true
}

func (a *controlAPI) postMailSeen(w http.ResponseWriter, r *http.Request, m *Mail) {
	s, ok := a.selection(w, r)
	if !ok {
		return
	}
	if err := a.n.MailSetSeen(r.Context(), s.User, s.Folder, s.UIDs, s.Seen); err != nil {
		writeError(w, mailStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (a *controlAPI) postMailMove(w http.ResponseWriter, r *http.Request, m *Mail) {
	s, ok := a.selection(w, r)
	if !ok {
		return
	}
	if s.To == "" {
		writeError(w, http.StatusBadRequest, errors.New("move: give the destination folder in \"to\""))
		return
	}
	if err := a.n.MailMove(r.Context(), s.User, s.Folder, s.UIDs, s.To); err != nil {
		writeError(w, mailStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (a *controlAPI) postMailDelete(w http.ResponseWriter, r *http.Request, m *Mail) {
	s, ok := a.selection(w, r)
	if !ok {
		return
	}
	if err := a.n.MailDelete(r.Context(), s.User, s.Folder, s.UIDs); err != nil {
		writeError(w, mailStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// maxSendBody bounds a send request: a 25 MiB message in base64 and JSON.
const maxSendBody = 36 << 20

// decodeSend reads a MailSend from JSON (attachments in base64) or from
// multipart/form-data: a "message" field with the JSON and "attach" files.
func decodeSend(w http.ResponseWriter, r *http.Request) (MailSend, error) {
	var req MailSend
	body := http.MaxBytesReader(w, r.Body, maxSendBody)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		dec := json.NewDecoder(body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return req, fmt.Errorf("bad JSON: %w", err)
		}
		return req, nil
	}
	r.Body = body
	if err := r.ParseMultipartForm(8 << 20); err != nil {
		return req, fmt.Errorf("bad form: %w", err)
	}
	defer r.MultipartForm.RemoveAll()
	dec := json.NewDecoder(strings.NewReader(r.FormValue("message")))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, fmt.Errorf("bad JSON in the message field: %w", err)
	}
	for _, fh := range r.MultipartForm.File["attach"] {
		f, err := fh.Open()
		if err != nil {
			return req, fmt.Errorf("attachment %s: %w", fh.Filename, err)
		}
		data, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			return req, fmt.Errorf("attachment %s: %w", fh.Filename, err)
		}
		req.Attachments = append(req.Attachments, MailAttach{Name: fh.Filename, Type: fh.Header.Get("Content-Type"), Data: data})
	}
	return req, nil
}

func (a *controlAPI) postMailSend(w http.ResponseWriter, r *http.Request, m *Mail) {
	req, err := decodeSend(w, r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	sent, err := a.n.MailSend(r.Context(), req)
	if err != nil {
		code := mailStatus(err)
		if errors.Is(err, mailstore.ErrNoUser) && req.User == "" {
			code = http.StatusConflict
		}
		writeError(w, code, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "recipients": sent.Recipients, "message_id": sent.MessageID})
}

func (a *controlAPI) postMailDraft(w http.ResponseWriter, r *http.Request, m *Mail) {
	req, err := decodeSend(w, r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	uid, err := a.n.MailSaveDraft(r.Context(), req)
	if err != nil {
		writeError(w, mailStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "uid": uid})
}

func (a *controlAPI) getMailMessages(w http.ResponseWriter, r *http.Request, m *Mail) {
	q := r.URL.Query()
	msgs, err := a.n.MailList(r.Context(), q.Get("user"), q.Get("folder"), q.Get("search"))
	if err != nil {
		writeError(w, mailStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, msgs)
}

func (a *controlAPI) getMailMessage(w http.ResponseWriter, r *http.Request, m *Mail) {
	uid, err := messageUID(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	q := r.URL.Query()
	u, err := m.mailUser(r.Context(), q.Get("user"))
	if err != nil {
		writeError(w, mailStatus(err), err)
		return
	}
	folder := q.Get("folder")
	if folder == "" {
		folder = mailstore.Inbox
	}
	body, err := m.Store.Body(r.Context(), u, folder, uid)
	if err != nil {
		writeError(w, mailStatus(err), err)
		return
	}
	w.Header().Set("Content-Type", "message/rfc822")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(body)
}
