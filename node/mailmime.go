package node

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/charset" // also registers the charsets mail comes in
	gomail "github.com/emersion/go-message/mail"
	"github.com/microcosm-cc/bluemonday"
)

// MailMessage is one stored message, parsed for reading: what the window
// and the web client show. HTML is sanitised; it never holds scripts,
// styles or event handlers, and remote images only when asked for.
type MailMessage struct {
	UID       uint32       `json:"uid"`
	Folder    string       `json:"folder"`
	Flags     []string     `json:"flags"`
	Date      time.Time    `json:"date"` // the Date header, else the internal date
	From      string       `json:"from"`
	To        []string     `json:"to"`
	Cc        []string     `json:"cc"`
	ReplyTo   []string     `json:"reply_to"`
	Subject   string       `json:"subject"`
	MessageID string       `json:"message_id"`
	InReplyTo string       `json:"in_reply_to,omitempty"`
	Refs      []string     `json:"references,omitempty"`
	Headers   []MailHeader `json:"headers"`
	Text      string       `json:"text"`           // the plain text (from the HTML when there is none)
	HTML      string       `json:"html,omitempty"` // sanitised
	// RemoteBlocked counts the remote images taken out of HTML; ask again
	// with remote content allowed to keep them.
	RemoteBlocked int              `json:"remote_blocked"`
	Attachments   []MailAttachment `json:"attachments"`
	// Raw is set when the MIME structure does not parse: Text then holds
	// the message as received.
	Raw bool `json:"raw,omitempty"`
}

// MailHeader is one header field, decoded.
type MailHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// MailAttachment is one attachment of a message; Part names it for
// download ("2", "2.1": the IMAP section of the part).
type MailAttachment struct {
	Part string `json:"part"`
	Name string `json:"name"`
	Type string `json:"type"`
	Size int    `json:"size"` // decoded
}

// MailPart is a downloaded attachment.
type MailPart struct {
	MailAttachment
	Data []byte
}

// headerDecoder decodes RFC 2047 words in any charset go-message knows.
var headerDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// maxMailParts bounds how many parts a message may have before the rest
// are ignored (a bomb of nested multiparts).
const maxMailParts = 500

// ParseMailMessage parses raw for reading; remote lets HTML keep remote
// images. A message whose MIME does not parse is shown raw.
func ParseMailMessage(raw []byte, remote bool) MailMessage {
	msg := MailMessage{Flags: []string{}, To: []string{}, Cc: []string{}, ReplyTo: []string{}, Headers: []MailHeader{}, Attachments: []MailAttachment{}}
	e, err := gomessage.Read(bytes.NewReader(raw))
	if err != nil && !gomessage.IsUnknownCharset(err) && !gomessage.IsUnknownEncoding(err) {
		msg.Raw, msg.Text = true, string(raw)
		return msg
	}
	h := gomail.Header{Header: e.Header}
	fields := h.Fields()
	for fields.Next() {
		v, err := fields.Text()
		if err != nil {
			v = fields.Value()
		}
		msg.Headers = append(msg.Headers, MailHeader{Name: fields.Key(), Value: v})
	}
	msg.From = addressLine(h, "From")
	msg.To, msg.Cc, msg.ReplyTo = addressList(h, "To"), addressList(h, "Cc"), addressList(h, "Reply-To")
	msg.Subject, _ = h.Subject()
	msg.MessageID, _ = h.MessageID()
	if ids, _ := h.MsgIDList("In-Reply-To"); len(ids) > 0 {
		msg.InReplyTo = ids[0]
	}
	msg.Refs, _ = h.MsgIDList("References")
	msg.Date, _ = h.Date()

	var htmlSrc string
	parts := 0
	var walk func(e *gomessage.Entity, section string) error
	walk = func(e *gomessage.Entity, section string) error {
		if parts++; parts > maxMailParts {
			return nil
		}
		if mr := e.MultipartReader(); mr != nil {
			for i := 1; ; i++ {
				p, err := mr.NextPart()
				if err == io.EOF {
					return nil
				}
				if err != nil && !gomessage.IsUnknownCharset(err) && !gomessage.IsUnknownEncoding(err) {
					return err
				}
				if err := walk(p, joinSection(section, i)); err != nil {
					return err
				}
			}
		}
		if section == "" {
			section = "1"
		}
		ct, name, disp := partInfo(e.Header)
		body, err := io.ReadAll(io.LimitReader(e.Body, 64<<20))
		if err != nil {
			return err
		}
		inline := disp != "attachment" && name == ""
		switch {
		case inline && ct == "text/plain" && msg.Text == "":
			msg.Text = validText(body)
		case inline && ct == "text/html" && htmlSrc == "":
			htmlSrc = validText(body)
		case inline && (strings.HasPrefix(ct, "multipart/") || ct == "text/plain" || ct == "text/html"):
			// A second text part of an alternative: the first is shown.
		default:
			if name == "" {
				name = defaultPartName(section, ct)
			}
			msg.Attachments = append(msg.Attachments, MailAttachment{Part: section, Name: path.Base(name), Type: ct, Size: len(body)})
		}
		return nil
	}
	if err := walk(e, ""); err != nil && msg.Text == "" && htmlSrc == "" {
		msg.Raw, msg.Text = true, string(raw)
		return msg
	}
	if htmlSrc != "" {
		msg.HTML, msg.RemoteBlocked = SanitizeMailHTML(htmlSrc, remote)
		if msg.Text == "" {
			msg.Text = strings.TrimSpace(bluemonday.StrictPolicy().Sanitize(htmlSrc))
		}
	}
	return msg
}

// MailPartOf reads one part of raw (a section as MailAttachment.Part
// gives it), decoded.
func MailPartOf(raw []byte, section string) (MailPart, error) {
	e, err := gomessage.Read(bytes.NewReader(raw))
	if err != nil && !gomessage.IsUnknownCharset(err) && !gomessage.IsUnknownEncoding(err) {
		return MailPart{}, fmt.Errorf("node: mail: the message does not parse: %w", err)
	}
	nums := strings.Split(section, ".")
	for i, s := range nums {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxMailParts {
			return MailPart{}, fmt.Errorf("node: mail: %q is not a part number like 2 or 1.2", section)
		}
		mr := e.MultipartReader()
		if mr == nil {
			if i == len(nums)-1 && n == 1 {
				break // a single-part message has part 1, itself
			}
			return MailPart{}, fmt.Errorf("node: mail: no part %s", section)
		}
		var p *gomessage.Entity
		for j := 1; j <= n; j++ {
			p, err = mr.NextPart()
			if err == io.EOF {
				return MailPart{}, fmt.Errorf("node: mail: no part %s", section)
			}
			if err != nil && !gomessage.IsUnknownCharset(err) && !gomessage.IsUnknownEncoding(err) {
				return MailPart{}, fmt.Errorf("node: mail: part %s: %w", section, err)
			}
		}
		e = p
	}
	if e.MultipartReader() != nil {
		return MailPart{}, fmt.Errorf("node: mail: part %s is a multipart, not an attachment", section)
	}
	ct, name, _ := partInfo(e.Header)
	if name == "" {
		name = defaultPartName(section, ct)
	}
	data, err := io.ReadAll(io.LimitReader(e.Body, 64<<20))
	if err != nil {
		return MailPart{}, fmt.Errorf("node: mail: part %s: %w", section, err)
	}
	return MailPart{MailAttachment{Part: section, Name: path.Base(name), Type: ct, Size: len(data)}, data}, nil
}

func joinSection(parent string, i int) string {
	if parent == "" {
		return strconv.Itoa(i)
	}
	return parent + "." + strconv.Itoa(i)
}

// partInfo is a part's media type (text/plain when it has none), its file
// name ("" when it has none) and its disposition.
func partInfo(h gomessage.Header) (ct, name, disposition string) {
	ct, params, _ := h.ContentType()
	if ct == "" {
		ct = "text/plain"
	}
	disposition, dparams, _ := h.ContentDisposition()
	name = dparams["filename"]
	if name == "" {
		name = params["name"]
	}
	return ct, name, disposition
}

// defaultPartName names a part that came without a file name.
func defaultPartName(section, ct string) string {
	ext := ".bin"
	if exts, _ := mime.ExtensionsByType(ct); len(exts) > 0 {
		ext = exts[0]
	}
	return "part-" + section + ext
}

// validText is body as a string with invalid UTF-8 replaced.
func validText(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func addressList(h gomail.Header, key string) []string {
	out := []string{}
	addrs, err := h.AddressList(key)
	if err != nil {
		if v := strings.TrimSpace(h.Get(key)); v != "" {
			return append(out, v)
		}
		return out
	}
	for _, a := range addrs {
		out = append(out, formatAddress(a.Name, a.Address))
	}
	return out
}

// formatAddress writes an address as people read it, and as it parses
// back: the bare address, "Name <addr>", or a quoted name when it holds
// anything but letters, digits and spaces.
func formatAddress(name, addr string) string {
	if name == "" {
		return addr
	}
	plain := true
	for _, r := range name {
		if !(r == ' ' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			plain = false
			break
		}
	}
	if !plain {
		name = strconv.Quote(name)
	}
	return name + " <" + addr + ">"
}

func addressLine(h gomail.Header, key string) string {
	return strings.Join(addressList(h, key), ", ")
}

// SanitizeMailHTML keeps the safe part of a message's HTML: user-generated
// content rules (no scripts, styles, forms, frames or event handlers);
// remote images are taken out unless remote is set, and counted.
func SanitizeMailHTML(src string, remote bool) (string, int) {
	p := bluemonday.UGCPolicy()
	p.AllowURLSchemes("http", "https", "mailto", "cid", "data")
	p.AllowDataURIImages()
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	blocked := 0
	p.RewriteSrc(func(u *url.URL) {
		switch strings.ToLower(u.Scheme) {
		case "data":
			return
		case "http", "https":
			if remote {
				return
			}
		}
		// Remote content not asked for, cid: parts (shown as attachments)
		// and anything else: an empty src.
		if u.Scheme != "cid" {
			blocked++
		}
		*u = url.URL{}
	})
	return p.Sanitize(src), blocked
}

// MailAttach is a file to attach to a message; Data is base64 in JSON.
type MailAttach struct {
	Name string `json:"name"`
	Type string `json:"type"` // "" is found from the name
	Data []byte `json:"data"`
}

// composeMIME writes an RFC 5322 message from from with go-message: plain
// text, and a multipart/mixed with the attachments when there are any.
// It returns the message, its envelope recipients and its Message-ID.
func composeMIME(from, domain string, req MailSend, now time.Time) ([]byte, []string, string, error) {
	var rcpts []string
	list := func(field string, addrs []string) ([]*gomail.Address, error) {
		var out []*gomail.Address
		for _, a := range addrs {
			if strings.TrimSpace(a) == "" {
				continue
			}
			p, err := gomail.ParseAddress(a)
			if err != nil {
				return nil, fmt.Errorf("%s %q is not a mail address", field, a)
			}
			rcpts = append(rcpts, p.Address)
			out = append(out, p)
		}
		return out, nil
	}
	to, err := list("to", req.To)
	if err != nil {
		return nil, nil, "", err
	}
	cc, err := list("cc", req.Cc)
	if err != nil {
		return nil, nil, "", err
	}
	if _, err := list("bcc", req.Bcc); err != nil {
		return nil, nil, "", err
	}
	if strings.ContainsAny(req.Subject, "\r\n") {
		return nil, nil, "", errors.New("the subject must be one line")
	}
	var h gomail.Header
	h.SetDate(now)
	h.SetAddressList("From", []*gomail.Address{{Address: from}})
	if len(to) > 0 {
		h.SetAddressList("To", to)
	}
	if len(cc) > 0 {
		h.SetAddressList("Cc", cc)
	}
	h.SetSubject(req.Subject)
	var id [12]byte
	rand.Read(id[:])
	msgID := hex.EncodeToString(id[:]) + "@" + domain
	h.SetMessageID(msgID)
	if irt := strings.Trim(req.InReplyTo, "<> "); irt != "" {
		h.SetMsgIDList("In-Reply-To", []string{irt})
	}
	var refs []string
	for _, r := range req.References {
		if r = strings.Trim(r, "<> "); r != "" {
			refs = append(refs, r)
		}
	}
	if len(refs) > 0 {
		h.SetMsgIDList("References", refs)
	}
	body := strings.ReplaceAll(strings.ReplaceAll(req.Body, "\r\n", "\n"), "\n", "\r\n")
	var b bytes.Buffer
	textHeader := func(h *gomessage.Header) {
		h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
		h.Set("Content-Transfer-Encoding", "quoted-printable")
	}
	if len(req.Attachments) == 0 {
		textHeader(&h.Header)
		w, err := gomail.CreateSingleInlineWriter(&b, h)
		if err != nil {
			return nil, nil, "", err
		}
		io.WriteString(w, body)
		if err := w.Close(); err != nil {
			return nil, nil, "", err
		}
		return b.Bytes(), rcpts, msgID, nil
	}
	mw, err := gomail.CreateWriter(&b, h)
	if err != nil {
		return nil, nil, "", err
	}
	var th gomail.InlineHeader
	textHeader(&th.Header)
	tw, err := mw.CreateSingleInline(th)
	if err != nil {
		return nil, nil, "", err
	}
	io.WriteString(tw, body)
	tw.Close()
	for i, a := range req.Attachments {
		name := path.Base(strings.ReplaceAll(a.Name, `\`, "/"))
		if name == "" || name == "." || name == "/" {
			return nil, nil, "", fmt.Errorf("attachment %d has no file name", i+1)
		}
		ct := a.Type
		if ct == "" {
			ct = mime.TypeByExtension(path.Ext(name))
		}
		mt, params, err := mime.ParseMediaType(ct)
		if ct == "" || err != nil {
			mt, params = "application/octet-stream", nil
		}
		var ah gomail.AttachmentHeader
		ah.SetContentType(mt, params)
		ah.SetFilename(name)
		ah.Set("Content-Transfer-Encoding", "base64")
		w, err := mw.CreateAttachment(ah)
		if err != nil {
			return nil, nil, "", err
		}
		w.Write(a.Data)
		if err := w.Close(); err != nil {
			return nil, nil, "", err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, nil, "", err
	}
	return b.Bytes(), rcpts, msgID, nil
}
