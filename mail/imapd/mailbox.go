package imapd

import (
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/shoal-p2p/shoal/mail/mailstore"
)

// mailbox is a session's selected folder: the UIDs in it as the store has
// committed them (the server's view), and go-imap's trackers, which turn
// that view into each client's sequence numbers and pending updates.
type mailbox struct {
	readOnly    bool
	uidValidity uint32
	sess        *session

	sub *mailstore.Subscription

	mu        sync.Mutex
	name      string   // the folder's name now: another session may rename it
	uids      []uint32 // ascending; index i is server sequence number i+1
	uidNext   uint32
	tracker   *imapserver.MailboxTracker
	st        *imapserver.SessionTracker
	searchRes imap.UIDSet
}

func (s *session) open(name string, readOnly bool) (*mailbox, error) {
	m := &mailbox{readOnly: readOnly, sess: s}
	// Held until the trackers exist: a change committed just after the
	// subscription waits here rather than find them missing.
	m.mu.Lock()
	defer m.mu.Unlock()
	sub, err := s.srv.store.Subscribe(s.srv.ctx, s.user, name, m.onChange)
	if err != nil {
		return nil, err
	}
	m.sub = sub
	m.name = canonicalName(name)
	m.uids = slices.Clone(sub.UIDs)
	m.uidNext = sub.UIDNext
	m.uidValidity = sub.UIDValidity
	m.tracker = imapserver.NewMailboxTracker(uint32(len(m.uids)))
	m.st = m.tracker.NewSession()
	return m, nil
}

func canonicalName(name string) string {
	if len(name) == len(mailstore.Inbox) && (name == mailstore.Inbox || equalFoldASCII(name, mailstore.Inbox)) {
		return mailstore.Inbox
	}
	return name
}

func equalFoldASCII(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i]|0x20, b[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}

func (m *mailbox) folder() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.name
}

func (m *mailbox) close() {
	m.sub.Close()
	m.mu.Lock()
	m.st.Close()
	m.mu.Unlock()
}

// onChange follows the store's committed changes (called in commit order).
func (m *mailbox) onChange(c mailstore.Change) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch c.Kind {
	case mailstore.MessageAdded:
		if n := len(m.uids); n > 0 && m.uids[n-1] >= c.UID {
			return // already in the snapshot
		}
		m.uids = append(m.uids, c.UID)
		m.uidNext = c.UID + 1
		m.tracker.QueueNumMessages(uint32(len(m.uids)))
	case mailstore.MessageExpunged:
		if i, ok := m.index(c.UID); ok {
			m.uids = slices.Delete(m.uids, i, i+1)
			m.tracker.QueueExpunge(uint32(i) + 1)
		}
	case mailstore.FolderRenamed:
		m.name = c.Name
	case mailstore.FlagsChanged:
		if i, ok := m.index(c.UID); ok {
			var source *imapserver.SessionTracker
			if c.Origin == any(m.sess) {
				source = m.st // it answers its own STORE
			}
			m.tracker.QueueMessageFlags(uint32(i)+1, imap.UID(c.UID), toFlags(c.Flags), source)
		}
	}
}

// index finds uid in the server's view; m.mu must be held.
func (m *mailbox) index(uid uint32) (int, bool) {
	i := sort.Search(len(m.uids), func(i int) bool { return m.uids[i] >= uid })
	return i, i < len(m.uids) && m.uids[i] == uid
}

// msgRef is a message as the client knows it.
type msgRef struct {
	seq uint32 // the client's sequence number
	uid uint32
}

// resolve maps a client's sequence or UID set to the messages it names
// that the client knows of, in ascending order. "*" and "$" (SEARCHRES)
// are resolved here.
func (m *mailbox) resolve(numSet imap.NumSet) []msgRef {
	m.mu.Lock()
	defer m.mu.Unlock()
	if imap.IsSearchRes(numSet) {
		numSet = m.searchRes
	}
	var out []msgRef
	switch set := numSet.(type) {
	case imap.SeqSet:
		set = slices.Clone(set)
		max := uint32(len(m.uids))
		for i := range set {
			staticRange(&set[i].Start, &set[i].Stop, max)
		}
		for i, uid := range m.uids {
			seq := m.st.EncodeSeqNum(uint32(i) + 1)
			if seq != 0 && set.Contains(seq) {
				out = append(out, msgRef{seq, uid})
			}
		}
	case imap.UIDSet:
		set = slices.Clone(set)
		var max uint32
		if n := len(m.uids); n > 0 {
			max = m.uids[n-1]
		}
		for i := range set {
			staticRange((*uint32)(&set[i].Start), (*uint32)(&set[i].Stop), max)
		}
		for i, uid := range m.uids {
			if !set.Contains(imap.UID(uid)) {
				continue
			}
			if seq := m.st.EncodeSeqNum(uint32(i) + 1); seq != 0 {
				out = append(out, msgRef{seq, uid})
			}
		}
	}
	return out
}

// staticRange replaces "*" (0) by max and orders the ends.
func staticRange(start, stop *uint32, max uint32) {
	if *start == 0 {
		*start = max
	}
	if *stop == 0 {
		*stop = max
	}
	if *start > *stop {
		*start, *stop = *stop, *start
	}
}

// criteria translates IMAP SEARCH criteria to the store's, turning
// sequence-number sets into the UIDs they name for this client.
func (m *mailbox) criteria(c *imap.SearchCriteria) *mailstore.Criteria {
	out := &mailstore.Criteria{
		Since:      dayStart(c.Since),
		Before:     dayStart(c.Before),
		SentSince:  dayStart(c.SentSince),
		SentBefore: dayStart(c.SentBefore),
		Body:       c.Body,
		Text:       c.Text,
		Flags:      fromFlags(c.Flag),
		NotFlags:   fromFlags(c.NotFlag),
		Larger:     c.Larger,
		Smaller:    c.Smaller,
	}
	for _, h := range c.Header {
		out.Header = append(out.Header, mailstore.HeaderMatch{Key: h.Key, Value: h.Value})
	}
	for _, set := range c.SeqNum {
		out.UIDs = append(out.UIDs, m.uidRanges(set))
	}
	for _, set := range c.UID {
		out.UIDs = append(out.UIDs, m.uidRanges(set))
	}
	for i := range c.Not {
		out.Not = append(out.Not, *m.criteria(&c.Not[i]))
	}
	for _, or := range c.Or {
		out.Or = append(out.Or, [2]mailstore.Criteria{*m.criteria(&or[0]), *m.criteria(&or[1])})
	}
	// \Recent is never set here: searching for it finds nothing, and
	// NOT RECENT (OLD) everything.
	out.Flags = dropRecent(out.Flags, &out.UIDs, true)
	out.NotFlags = dropRecent(out.NotFlags, &out.UIDs, false)
	return out
}

func dropRecent(flags []string, uids *[][]mailstore.UIDRange, matchNothing bool) []string {
	kept := flags[:0]
	for _, f := range flags {
		if equalFoldASCII(f, `\recent`) && len(f) == len(`\recent`) {
			if matchNothing {
				*uids = append(*uids, []mailstore.UIDRange{})
			}
			continue
		}
		kept = append(kept, f)
	}
	return kept
}

func (m *mailbox) uidRanges(set imap.NumSet) []mailstore.UIDRange {
	out := []mailstore.UIDRange{}
	for _, r := range m.resolve(set) {
		if n := len(out); n > 0 && out[n-1].Stop+1 == r.uid {
			out[n-1].Stop = r.uid
			continue
		}
		out = append(out, mailstore.UIDRange{Start: r.uid, Stop: r.uid})
	}
	return out
}

// dayStart keeps only the date, as IMAP's date criteria do.
func dayStart(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	y, mo, d := t.Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
}
