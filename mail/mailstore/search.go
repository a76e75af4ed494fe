package mailstore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"mime"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	gomessage "github.com/emersion/go-message"
	"github.com/shoal-p2p/shoal/storage"
)

// UIDRange is the UIDs Start..Stop, both included.
type UIDRange struct{ Start, Stop uint32 }

// HeaderMatch matches a header field whose value holds Value (case
// insensitive); an empty Value matches any message that has the field.
type HeaderMatch struct{ Key, Value string }

// Criteria select messages, as IMAP SEARCH does: a message matches when it
// meets every condition given. Text conditions are case-insensitive
// substrings; Body and Text look into the decoded text of each part.
type Criteria struct {
	UIDs          [][]UIDRange // the UID is in each of these sets
	Flags         []string     // has all of these
	NotFlags      []string     // has none of these
	Since, Before time.Time    // internal date: Since <= date < Before
	SentSince     time.Time    // Date header, same bounds
	SentBefore    time.Time
	Larger        int64 // size > Larger
	Smaller       int64 // size < Smaller (when not 0)
	Header        []HeaderMatch
	Body          []string
	Text          []string // in the header or the body
	Not           []Criteria
	Or            [][2]Criteria
}

func (c *Criteria) needsBody() bool {
	if len(c.Header) > 0 || len(c.Body) > 0 || len(c.Text) > 0 || !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		return true
	}
	for i := range c.Not {
		if c.Not[i].needsBody() {
			return true
		}
	}
	for _, or := range c.Or {
		if or[0].needsBody() || or[1].needsBody() {
			return true
		}
	}
	return false
}

// Search returns the UIDs of folder's messages that match c, ascending.
func (s *Store) Search(ctx context.Context, user, folder string, c *Criteria) ([]uint32, error) {
	u, err := normUser(user)
	if err != nil {
		return nil, err
	}
	if c == nil {
		c = &Criteria{}
	}
	for _, fl := range [][]string{c.Flags, c.NotFlags} {
		for _, f := range fl {
			if _, err := CanonicalFlag(f); err != nil && !strings.EqualFold(f, `\Recent`) {
				return nil, err
			}
		}
	}
	needBody := c.needsBody()
	var out []uint32
	err = s.db.View(func(tx *storage.Tx) error {
		ub, f, err := getFolder(tx, u, folder)
		if err != nil {
			return err
		}
		cur := msgBucket(ub, f.ID).Cursor()
		for k, raw := cur.First(); k != nil; k, raw = cur.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			var m msgRecord
			if err := m.decode(raw); err != nil {
				return err
			}
			e := evalMsg{m: &m}
			if needBody {
				if e.body, err = getBody(tx, m.Body); err != nil {
					return err
				}
			}
			if e.match(c) {
				out = append(out, binary.BigEndian.Uint32(k))
			}
		}
		return nil
	})
	if err != nil {
		return nil, opError(err, "search %s/%s", u, folder)
	}
	return out, nil
}

// evalMsg is one message under evaluation; the parsed header and the
// decoded text are worked out once, when first needed.
type evalMsg struct {
	m      *msgRecord
	body   []byte
	hdr    mail.Header
	hdrRaw []byte
	text   []byte // lower-cased decoded text of the parts
	parsed bool
}

func (e *evalMsg) header() mail.Header {
	if e.hdr == nil {
		e.hdrRaw = e.body[:headerEnd(e.body)]
		if m, err := mail.ReadMessage(bytes.NewReader(e.hdrRaw)); err == nil {
			e.hdr = m.Header
		} else {
			e.hdr = mail.Header{}
		}
	}
	return e.hdr
}

var wordDecoder = mime.WordDecoder{CharsetReader: func(charset string, r io.Reader) (io.Reader, error) { return r, nil }}

func (e *evalMsg) headerHas(key, value string) bool {
	vals := e.header()[textproto.CanonicalMIMEHeaderKey(key)]
	if len(vals) == 0 {
		return false
	}
	if value == "" {
		return true
	}
	value = strings.ToLower(value)
	for _, v := range vals {
		if d, err := wordDecoder.DecodeHeader(v); err == nil {
			v = d
		}
		if strings.Contains(strings.ToLower(v), value) {
			return true
		}
	}
	return false
}

func (e *evalMsg) bodyText() []byte {
	if !e.parsed {
		e.parsed = true
		var buf bytes.Buffer
		ent, err := gomessage.Read(bytes.NewReader(e.body))
		if err == nil || gomessage.IsUnknownCharset(err) || gomessage.IsUnknownEncoding(err) {
			err = ent.Walk(func(_ []int, part *gomessage.Entity, err error) error {
				if err != nil && !gomessage.IsUnknownCharset(err) && !gomessage.IsUnknownEncoding(err) {
					return err
				}
				if mt, _, _ := part.Header.ContentType(); strings.HasPrefix(mt, "multipart/") {
					return nil
				}
				_, err = io.Copy(&buf, bufio.NewReader(part.Body))
				buf.WriteByte('\n')
				return err
			})
		}
		if err != nil {
			buf.Reset()
			_, rest, _ := bytes.Cut(e.body, []byte("\r\n\r\n"))
			buf.Write(rest)
		}
		e.text = bytes.ToLower(buf.Bytes())
	}
	return e.text
}

func (e *evalMsg) match(c *Criteria) bool {
	m := e.m
	for _, set := range c.UIDs {
		in := false
		for _, r := range set {
			if m.UID >= r.Start && m.UID <= r.Stop {
				in = true
				break
			}
		}
		if !in {
			return false
		}
	}
	for _, f := range c.Flags {
		if !hasFlag(m.Flags, f) {
			return false
		}
	}
	for _, f := range c.NotFlags {
		if hasFlag(m.Flags, f) {
			return false
		}
	}
	if !c.Since.IsZero() && m.Date.Before(c.Since) {
		return false
	}
	if !c.Before.IsZero() && !m.Date.Before(c.Before) {
		return false
	}
	if c.Larger > 0 && m.Size <= c.Larger {
		return false
	}
	if c.Smaller > 0 && m.Size >= c.Smaller {
		return false
	}
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		d, err := e.header().Date()
		if err != nil {
			return false
		}
		if !c.SentSince.IsZero() && d.Before(c.SentSince) {
			return false
		}
		if !c.SentBefore.IsZero() && !d.Before(c.SentBefore) {
			return false
		}
	}
	for _, h := range c.Header {
		if !e.headerHas(h.Key, h.Value) {
			return false
		}
	}
	for _, b := range c.Body {
		if !bytes.Contains(e.bodyText(), bytes.ToLower([]byte(b))) {
			return false
		}
	}
	for _, t := range c.Text {
		lt := strings.ToLower(t)
		e.header()
		if !bytes.Contains(bytes.ToLower(e.hdrRaw), []byte(lt)) && !bytes.Contains(e.bodyText(), []byte(lt)) {
			return false
		}
	}
	for i := range c.Not {
		if e.match(&c.Not[i]) {
			return false
		}
	}
	for _, or := range c.Or {
		if !e.match(&or[0]) && !e.match(&or[1]) {
			return false
		}
	}
	return true
}
