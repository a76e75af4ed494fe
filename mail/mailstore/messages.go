package mailstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"sort"
	"strings"
	"time"

	"github.com/shoal-p2p/shoal/storage"
	"go.etcd.io/bbolt"
)

// System flags, in the canonical case the store keeps them in.
const (
	FlagSeen     = `\Seen`
	FlagAnswered = `\Answered`
	FlagFlagged  = `\Flagged`
	FlagDeleted  = `\Deleted`
	FlagDraft    = `\Draft`
)

var systemFlags = map[string]string{
	`\seen`: FlagSeen, `\answered`: FlagAnswered, `\flagged`: FlagFlagged,
	`\deleted`: FlagDeleted, `\draft`: FlagDraft,
}

const maxKeywordLen = 64

// CanonicalFlag spells a system flag in its canonical case (`\seen` gives
// `\Seen`) and checks a keyword is an IMAP atom. \Recent and unknown
// system flags are refused: no one may set them.
func CanonicalFlag(f string) (string, error) {
	if strings.HasPrefix(f, `\`) {
		if c, ok := systemFlags[strings.ToLower(f)]; ok {
			return c, nil
		}
		return "", fmt.Errorf("%w: flag %q cannot be set", ErrBadInput, f)
	}
	if f == "" || len(f) > maxKeywordLen {
		return "", fmt.Errorf("%w: keyword must have 1 to %d characters", ErrBadInput, maxKeywordLen)
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return "", fmt.Errorf("%w: keyword %q is not an IMAP atom", ErrBadInput, f)
		}
	}
	return f, nil
}

// canonicalFlags canonicalises flags and drops repeats (keywords compare
// without regard to case, the first spelling wins), in a stable order.
func canonicalFlags(flags []string) ([]string, error) {
	out := make([]string, 0, len(flags))
	for _, f := range flags {
		c, err := CanonicalFlag(f)
		if err != nil {
			return nil, err
		}
		if !hasFlag(out, c) {
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out, nil
}

func hasFlag(flags []string, f string) bool {
	for _, g := range flags {
		if strings.EqualFold(g, f) {
			return true
		}
	}
	return false
}

type msgRecord struct {
	UID       uint32    `json:"uid"`
	Flags     []string  `json:"flags"`
	Date      time.Time `json:"date"` // internal date
	Size      int64     `json:"size"`
	Body      string    `json:"body"` // hex SHA-256 of the body in bodiesBucket
	MessageID string    `json:"message_id,omitempty"`
}

// Message is one message of a folder. Body is filled only when asked for.
type Message struct {
	UID          uint32
	Flags        []string
	InternalDate time.Time
	Size         int64
	MessageID    string
	// BodyID names the body by its content (hex SHA-256): equal IDs mean
	// equal bodies, so what is derived from a body can be kept by its ID.
	BodyID string
	Body   []byte
}

func (m msgRecord) public() Message {
	return Message{UID: m.UID, Flags: append([]string(nil), m.Flags...), InternalDate: m.Date, Size: m.Size, MessageID: m.MessageID, BodyID: m.Body}
}

func uidKey(uid uint32) []byte {
	var k [4]byte
	binary.BigEndian.PutUint32(k[:], uid)
	return k[:]
}

func getMsg(mb *bbolt.Bucket, uid uint32) (msgRecord, bool, error) {
	var m msgRecord
	raw := mb.Get(uidKey(uid))
	if raw == nil {
		return m, false, nil
	}
	err := m.decode(raw)
	return m, err == nil, err
}

// msgCursor reads message records by UID with one cursor: asked in
// ascending order, as a FETCH of a range asks, the next record is most
// often the cursor's next key, which saves a search from the root.
type msgCursor struct {
	c       *bbolt.Cursor
	k, v    []byte
	started bool
}

// get is the record of uid, or nil. It is valid only in the transaction.
func (mc *msgCursor) get(uid uint32) []byte {
	key := uidKey(uid)
	if mc.started && mc.k != nil && bytes.Compare(mc.k, key) < 0 {
		mc.k, mc.v = mc.c.Next()
	}
	if !mc.started || !bytes.Equal(mc.k, key) {
		mc.k, mc.v = mc.c.Seek(key)
		mc.started = true
	}
	if bytes.Equal(mc.k, key) {
		return mc.v
	}
	return nil
}

func putMsg(mb *bbolt.Bucket, m msgRecord) error {
	raw, err := m.encode()
	if err != nil {
		return err
	}
	return mb.Put(uidKey(m.UID), raw)
}

// normalizeBody gives every line, the last one too, a CRLF end, so that a
// body's size is the octets IMAP and POP3 send.
func normalizeBody(raw []byte) []byte {
	if bytes.Count(raw, []byte("\n")) == bytes.Count(raw, []byte("\r\n")) && bytes.Count(raw, []byte("\r")) == bytes.Count(raw, []byte("\r\n")) {
		if !bytes.HasSuffix(raw, []byte("\r\n")) {
			raw = append(raw[:len(raw):len(raw)], "\r\n"...)
		}
		return raw
	}
	var b bytes.Buffer
	b.Grow(len(raw) + len(raw)/32)
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case '\r':
			b.WriteString("\r\n")
			if i+1 < len(raw) && raw[i+1] == '\n' {
				i++
			}
		case '\n':
			b.WriteString("\r\n")
		default:
			b.WriteByte(c)
		}
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// parseMessage checks raw is a message (a header that parses) and returns it
// with CRLF line ends and its Message-ID.
func (s *Store) parseMessage(raw []byte) ([]byte, string, error) {
	if len(raw) == 0 {
		return nil, "", fmt.Errorf("%w: empty message", ErrBadInput)
	}
	if len(raw) > s.opts.MaxMessageBytes {
		return nil, "", fmt.Errorf("%w: message of %d bytes is over the limit of %d", ErrBadInput, len(raw), s.opts.MaxMessageBytes)
	}
	raw = normalizeBody(raw)
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, "", fmt.Errorf("%w: message header: %v", ErrBadInput, err)
	}
	if len(m.Header) == 0 {
		return nil, "", fmt.Errorf("%w: message has no header", ErrBadInput)
	}
	return raw, strings.TrimSpace(m.Header.Get("Message-Id")), nil
}

// refBody stores body under its hash, or counts one more reference to it.
func refBody(tx *storage.Tx, body []byte) (string, error) {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:]), addRef(tx, sum[:], body)
}

func addRef(tx *storage.Tx, key, body []byte) error {
	rb := tx.Bucket(refsBucket)
	var n uint64
	if raw := rb.Get(key); len(raw) == 8 {
		n = binary.BigEndian.Uint64(raw)
	} else if body == nil {
		return fmt.Errorf("body %x is missing", key)
	} else if err := tx.Bucket(bodiesBucket).Put(key, body); err != nil {
		return err
	}
	var raw [8]byte
	binary.BigEndian.PutUint64(raw[:], n+1)
	return rb.Put(key, raw[:])
}

func refExisting(tx *storage.Tx, hexKey string) error {
	key, err := hex.DecodeString(hexKey)
	if err != nil {
		return err
	}
	return addRef(tx, key, nil)
}

// unrefBody drops one reference, and the body with its last.
func unrefBody(tx *storage.Tx, hexKey string) error {
	key, err := hex.DecodeString(hexKey)
	if err != nil {
		return err
	}
	rb := tx.Bucket(refsBucket)
	raw := rb.Get(key)
	if len(raw) != 8 {
		return nil
	}
	n := binary.BigEndian.Uint64(raw)
	if n <= 1 {
		if err := rb.Delete(key); err != nil {
			return err
		}
		return tx.Bucket(bodiesBucket).Delete(key)
	}
	var out [8]byte
	binary.BigEndian.PutUint64(out[:], n-1)
	return rb.Put(key, out[:])
}

func getBody(tx *storage.Tx, hexKey string) ([]byte, error) {
	key, err := hex.DecodeString(hexKey)
	if err != nil {
		return nil, err
	}
	b := tx.Bucket(bodiesBucket).Get(key)
	if b == nil {
		return nil, fmt.Errorf("body %s is missing", hexKey)
	}
	return b, nil
}

// addMessage puts a new message into folder f and records the change.
func (s *Store) addMessage(tx *storage.Tx, ch *changes, user string, ub *bbolt.Bucket, f *folderRecord, m msgRecord) (uint32, error) {
	if f.UIDNext == 0 || f.UIDNext == ^uint32(0) {
		return 0, fmt.Errorf("folder %s has run out of UIDs", f.Name)
	}
	m.UID = f.UIDNext
	f.UIDNext++
	if err := putMsg(msgBucket(ub, f.ID), m); err != nil {
		return 0, err
	}
	if err := putFolder(ub, *f); err != nil {
		return 0, err
	}
	ch.add(user, f.ID, Change{Kind: MessageAdded, UID: m.UID, Flags: m.Flags})
	return m.UID, nil
}

// Append stores raw in folder with flags and internal date (zero: now), in
// one committed transaction, and returns its UID and the folder's
// UIDVALIDITY.
func (s *Store) Append(ctx context.Context, user, folder string, raw []byte, flags []string, date time.Time) (uid, uidValidity uint32, err error) {
	u, err := normUser(user)
	if err != nil {
		return 0, 0, err
	}
	flags, err = canonicalFlags(flags)
	if err != nil {
		return 0, 0, err
	}
	body, msgID, err := s.parseMessage(raw)
	if err != nil {
		return 0, 0, err
	}
	if date.IsZero() {
		date = s.opts.Now()
	}
	err = s.write(ctx, func(tx *storage.Tx, ch *changes) error {
		ub, f, err := getFolder(tx, u, folder)
		if err != nil {
			return err
		}
		key, err := refBody(tx, body)
		if err != nil {
			return err
		}
		uidValidity = f.UIDValidity
		uid, err = s.addMessage(tx, ch, u, ub, &f, msgRecord{Flags: flags, Date: date.UTC(), Size: int64(len(body)), Body: key, MessageID: msgID})
		return err
	})
	if err != nil {
		return 0, 0, opError(err, "append to %s/%s", u, folder)
	}
	return uid, uidValidity, nil
}

// AppendSent keeps a copy of a message user sent, marked \Seen, in the
// folder with the \Sent attribute (whatever it is called now), making a
// "Sent" folder if the user deleted theirs.
func (s *Store) AppendSent(ctx context.Context, user string, raw []byte) (uint32, error) {
	u, err := normUser(user)
	if err != nil {
		return 0, err
	}
	body, msgID, err := s.parseMessage(raw)
	if err != nil {
		return 0, err
	}
	var uid uint32
	err = s.write(ctx, func(tx *storage.Tx, ch *changes) error {
		all, err := listFolders(tx, u)
		if err != nil {
			return err
		}
		var sent *folderRecord
		for i := range all {
			if all[i].SpecialUse == UseSent {
				sent = &all[i]
				break
			}
		}
		if sent == nil {
			f, err := s.createFolder(tx, u, "Sent", UseSent)
			if errors.Is(err, ErrFolderExists) {
				return fmt.Errorf("%w: no folder is marked \\Sent and \"Sent\" is taken", ErrBadInput)
			}
			if err != nil {
				return err
			}
			sent = &f
		}
		ub, err := userBucket(tx, u)
		if err != nil {
			return err
		}
		key, err := refBody(tx, body)
		if err != nil {
			return err
		}
		uid, err = s.addMessage(tx, ch, u, ub, sent, msgRecord{Flags: []string{FlagSeen}, Date: s.opts.Now().UTC(), Size: int64(len(body)), Body: key, MessageID: msgID})
		return err
	})
	if err != nil {
		return 0, opError(err, "keep sent message of %s", u)
	}
	return uid, nil
}

type dedupRecord struct {
	UID uint32    `json:"uid"`
	At  time.Time `json:"at"`
}

// Deliver stores an incoming message in user's INBOX, committed before it
// returns. A message delivered again within the de-duplication window (same
// Message-ID, or the same body when it has none) is not stored twice: the
// first copy's UID is returned.
func (s *Store) Deliver(ctx context.Context, user string, raw []byte) (uint32, error) {
	u, err := normUser(user)
	if err != nil {
		return 0, err
	}
	body, msgID, err := s.parseMessage(raw)
	if err != nil {
		return 0, err
	}
	sum := sha256.Sum256(body)
	id := "id:" + msgID
	if msgID == "" {
		id = "sha256:" + hex.EncodeToString(sum[:])
	}
	now := s.opts.Now()
	var uid uint32
	err = s.write(ctx, func(tx *storage.Tx, ch *changes) error {
		ub, f, err := getFolder(tx, u, Inbox)
		if err != nil {
			return err
		}
		db, err := ub.CreateBucketIfNotExists(dedupKey)
		if err != nil {
			return err
		}
		dt, err := ub.CreateBucketIfNotExists(dedupTimeKey)
		if err != nil {
			return err
		}
		if err := pruneDedup(db, dt, now.Add(-s.opts.DedupWindow)); err != nil {
			return err
		}
		if raw := db.Get([]byte(id)); raw != nil {
			var d dedupRecord
			if err := json.Unmarshal(raw, &d); err == nil && now.Sub(d.At) < s.opts.DedupWindow {
				uid = d.UID
				return nil
			}
		}
		key, err := refBody(tx, body)
		if err != nil {
			return err
		}
		uid, err = s.addMessage(tx, ch, u, ub, &f, msgRecord{Flags: []string{}, Date: now.UTC(), Size: int64(len(body)), Body: key, MessageID: msgID})
		if err != nil {
			return err
		}
		draw, _ := json.Marshal(dedupRecord{UID: uid, At: now.UTC()})
		if err := db.Put([]byte(id), draw); err != nil {
			return err
		}
		tk := make([]byte, 8, 8+len(id))
		binary.BigEndian.PutUint64(tk, uint64(now.UnixNano()))
		return dt.Put(append(tk, id...), nil)
	})
	if err != nil {
		return 0, opError(err, "deliver to %s", u)
	}
	return uid, nil
}

// pruneDedup forgets the de-duplication entries recorded before cutoff.
func pruneDedup(db, dt *bbolt.Bucket, cutoff time.Time) error {
	c := dt.Cursor()
	for k, _ := c.First(); k != nil && len(k) >= 8 && int64(binary.BigEndian.Uint64(k)) < cutoff.UnixNano(); k, _ = c.First() {
		id := k[8:]
		if raw := db.Get(id); raw != nil {
			var d dedupRecord
			if json.Unmarshal(raw, &d) != nil || d.At.UnixNano() == int64(binary.BigEndian.Uint64(k)) {
				if err := db.Delete(id); err != nil {
					return err
				}
			}
		}
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// UIDs lists a folder's UIDs, ascending.
func (s *Store) UIDs(ctx context.Context, user, folder string) ([]uint32, error) {
	u, err := normUser(user)
	if err != nil {
		return nil, err
	}
	var out []uint32
	err = s.db.View(func(tx *storage.Tx) error {
		ub, f, err := getFolder(tx, u, folder)
		if err != nil {
			return err
		}
		c := msgBucket(ub, f.ID).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			out = append(out, binary.BigEndian.Uint32(k))
		}
		return nil
	})
	if err != nil {
		return nil, opError(err, "list %s/%s", u, folder)
	}
	return out, nil
}

// Part says how much of each body Messages reads.
type Part int

const (
	NoBody     Part = iota
	HeaderOnly      // the header and the blank line after it
	WholeBody
)

// headerEnd is the length of body's header with its blank line.
func headerEnd(body []byte) int {
	if i := bytes.Index(body, []byte("\r\n\r\n")); i >= 0 {
		return i + 4
	}
	return len(body)
}

// Messages reads the messages with the given UIDs (those that exist, in the
// order asked), with as much of their bodies as part says.
func (s *Store) Messages(ctx context.Context, user, folder string, uids []uint32, part Part) ([]Message, error) {
	u, err := normUser(user)
	if err != nil {
		return nil, err
	}
	out := make([]Message, 0, len(uids))
	err = s.db.View(func(tx *storage.Tx) error {
		ub, f, err := getFolder(tx, u, folder)
		if err != nil {
			return err
		}
		mc := msgCursor{c: msgBucket(ub, f.ID).Cursor()}
		for _, uid := range uids {
			raw := mc.get(uid)
			if raw == nil {
				continue
			}
			var m msgRecord
			if err := m.decode(raw); err != nil {
				return err
			}
			pm := m.public()
			if part != NoBody {
				b, err := getBody(tx, m.Body)
				if err != nil {
					return err
				}
				if part == HeaderOnly {
					b = b[:headerEnd(b)]
				}
				pm.Body = bytes.Clone(b)
			}
			out = append(out, pm)
		}
		return nil
	})
	if err != nil {
		return nil, opError(err, "read %s/%s", u, folder)
	}
	return out, nil
}

// Body reads one message's body.
func (s *Store) Body(ctx context.Context, user, folder string, uid uint32) ([]byte, error) {
	ms, err := s.Messages(ctx, user, folder, []uint32{uid}, WholeBody)
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, opError(fmt.Errorf("%w: no message with UID %d", ErrBadInput, uid), "read %s/%s", user, folder)
	}
	return ms[0].Body, nil
}

// FlagOp says how StoreFlags combines the given flags with a message's.
type FlagOp int

const (
	FlagsSet FlagOp = iota
	FlagsAdd
	FlagsRemove
)

// StoreFlags sets, adds or removes flags on the messages with uids and
// returns the messages whose flags are now different.
func (s *Store) StoreFlags(ctx context.Context, user, folder string, uids []uint32, op FlagOp, flags []string) ([]Message, error) {
	u, err := normUser(user)
	if err != nil {
		return nil, err
	}
	if op < FlagsSet || op > FlagsRemove {
		return nil, fmt.Errorf("%w: flag operation %d", ErrBadInput, op)
	}
	flags, err = canonicalFlags(flags)
	if err != nil {
		return nil, err
	}
	newFlags := func(m msgRecord) []string {
		switch op {
		case FlagsAdd:
			nf, _ := canonicalFlags(append(append([]string(nil), m.Flags...), flags...))
			return nf
		case FlagsRemove:
			nf := []string{}
			for _, g := range m.Flags {
				if !hasFlag(flags, g) {
					nf = append(nf, g)
				}
			}
			return nf
		}
		return flags
	}
	// Most implicit \Seen settings (FETCH BODY[] of read mail) change
	// nothing: a read transaction finds that without a commit and fsync.
	changing := false
	err = s.db.View(func(tx *storage.Tx) error {
		ub, f, err := getFolder(tx, u, folder)
		if err != nil {
			return err
		}
		mb := msgBucket(ub, f.ID)
		for _, uid := range uids {
			m, ok, err := getMsg(mb, uid)
			if err != nil {
				return err
			}
			if ok && !sameFlags(newFlags(m), m.Flags) {
				changing = true
				return nil
			}
		}
		return nil
	})
	if err != nil || !changing {
		if err != nil {
			err = opError(err, "store flags in %s/%s", u, folder)
		}
		return nil, err
	}
	var out []Message
	err = s.write(ctx, func(tx *storage.Tx, ch *changes) error {
		out = out[:0]
		ub, f, err := getFolder(tx, u, folder)
		if err != nil {
			return err
		}
		mb := msgBucket(ub, f.ID)
		for _, uid := range uids {
			m, ok, err := getMsg(mb, uid)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			nf := newFlags(m)
			if sameFlags(nf, m.Flags) {
				continue
			}
			m.Flags = append([]string{}, nf...)
			if err := putMsg(mb, m); err != nil {
				return err
			}
			ch.add(u, f.ID, Change{Kind: FlagsChanged, UID: uid, Flags: m.Flags})
			out = append(out, m.public())
		}
		return nil
	})
	if err != nil {
		return nil, opError(err, "store flags in %s/%s", u, folder)
	}
	return out, nil
}

func sameFlags(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, f := range a {
		if !hasFlag(b, f) {
			return false
		}
	}
	return true
}

// CopyResult maps copied messages to their new UIDs (COPYUID, RFC 4315).
type CopyResult struct {
	UIDValidity uint32 // of the destination
	SourceUIDs  []uint32
	DestUIDs    []uint32
}

// Copy copies the messages with uids from one folder into another; the
// bodies are shared, not duplicated.
func (s *Store) Copy(ctx context.Context, user, from string, uids []uint32, to string) (CopyResult, error) {
	return s.copyOrMove(ctx, user, from, uids, to, false)
}

// Move moves the messages with uids from one folder into another in one
// transaction (RFC 6851).
func (s *Store) Move(ctx context.Context, user, from string, uids []uint32, to string) (CopyResult, error) {
	return s.copyOrMove(ctx, user, from, uids, to, true)
}

func (s *Store) copyOrMove(ctx context.Context, user, from string, uids []uint32, to string, move bool) (CopyResult, error) {
	var res CopyResult
	u, err := normUser(user)
	if err != nil {
		return res, err
	}
	err = s.write(ctx, func(tx *storage.Tx, ch *changes) error {
		res = CopyResult{}
		ub, src, err := getFolder(tx, u, from)
		if err != nil {
			return err
		}
		_, dst, err := getFolder(tx, u, to)
		if err != nil {
			return err
		}
		if src.ID == dst.ID {
			return fmt.Errorf("%w: source and destination are both %s", ErrBadInput, src.Name)
		}
		res.UIDValidity = dst.UIDValidity
		smb := msgBucket(ub, src.ID)
		for _, uid := range uids {
			m, ok, err := getMsg(smb, uid)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if !move {
				if err := refExisting(tx, m.Body); err != nil {
					return err
				}
			}
			nu, err := s.addMessage(tx, ch, u, ub, &dst, m)
			if err != nil {
				return err
			}
			if move {
				if err := smb.Delete(uidKey(uid)); err != nil {
					return err
				}
				ch.add(u, src.ID, Change{Kind: MessageExpunged, UID: uid})
			}
			res.SourceUIDs = append(res.SourceUIDs, uid)
			res.DestUIDs = append(res.DestUIDs, nu)
		}
		return nil
	})
	if err != nil {
		verb := "copy"
		if move {
			verb = "move"
		}
		return CopyResult{}, opError(err, "%s from %s/%s to %s", verb, u, from, to)
	}
	return res, nil
}

// Expunge removes the messages flagged \Deleted (among uids, or all of the
// folder's if uids is nil) and returns their UIDs.
func (s *Store) Expunge(ctx context.Context, user, folder string, uids []uint32) ([]uint32, error) {
	return s.remove(ctx, user, folder, uids, true)
}

// Remove removes the messages with uids whatever their flags (POP3 DELE
// in the UPDATE state) and returns the UIDs it removed.
func (s *Store) Remove(ctx context.Context, user, folder string, uids []uint32) ([]uint32, error) {
	if uids == nil {
		uids = []uint32{}
	}
	return s.remove(ctx, user, folder, uids, false)
}

func (s *Store) remove(ctx context.Context, user, folder string, uids []uint32, onlyDeleted bool) ([]uint32, error) {
	u, err := normUser(user)
	if err != nil {
		return nil, err
	}
	var gone []uint32
	err = s.write(ctx, func(tx *storage.Tx, ch *changes) error {
		gone = gone[:0]
		ub, f, err := getFolder(tx, u, folder)
		if err != nil {
			return err
		}
		mb := msgBucket(ub, f.ID)
		var cand []msgRecord
		if uids == nil {
			err = mb.ForEach(func(_, raw []byte) error {
				var m msgRecord
				if err := m.decode(raw); err != nil {
					return err
				}
				cand = append(cand, m)
				return nil
			})
			if err != nil {
				return err
			}
		} else {
			sorted := append([]uint32(nil), uids...)
			sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
			for i, uid := range sorted {
				if i > 0 && sorted[i-1] == uid {
					continue
				}
				m, ok, err := getMsg(mb, uid)
				if err != nil {
					return err
				}
				if ok {
					cand = append(cand, m)
				}
			}
		}
		for _, m := range cand {
			if onlyDeleted && !hasFlag(m.Flags, FlagDeleted) {
				continue
			}
			if err := mb.Delete(uidKey(m.UID)); err != nil {
				return err
			}
			if err := unrefBody(tx, m.Body); err != nil {
				return err
			}
			ch.add(u, f.ID, Change{Kind: MessageExpunged, UID: m.UID})
			gone = append(gone, m.UID)
		}
		return nil
	})
	if err != nil {
		return nil, opError(err, "expunge %s/%s", u, folder)
	}
	return gone, nil
}
