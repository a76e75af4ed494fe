package imapd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/shoal-p2p/shoal/mail/mailstore"
)

// session is one IMAP connection.
type session struct {
	srv    *Server
	conn   *imapserver.Conn
	wire   *wire // nil when the listener gave no *wire
	remote string

	user string   // "" until logged in
	mbox *mailbox // the selected mailbox, or nil
}

var _ imapserver.SessionIMAP4rev2 = (*session)(nil)
var _ imapserver.SessionAppendLimit = (*session)(nil)

// ctx is the context of the session's store calls; the store tags their
// changes with the session, so it can skip echoes of its own STOREs.
func (s *session) ctx() context.Context { return mailstore.WithOrigin(s.srv.ctx, s) }

func (s *session) Close() error {
	if s.mbox != nil {
		s.mbox.close()
		s.mbox = nil
	}
	s.srv.wg.Done()
	return nil
}

func (s *session) Login(username, password string) error {
	st := s.srv.store
	err := st.Authenticate(s.srv.ctx, username, password)
	if errors.Is(err, mailstore.ErrBadCredentials) {
		d, n := s.srv.opts.Throttle.Failed(s.remote)
		s.srv.opts.Log.Warn("imapd: failed login", "user", username, "remote", s.remote, "failures", n, "delay", d)
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.srv.ctx.Done():
		}
		return imapserver.ErrAuthFailed
	}
	if err != nil {
		return err
	}
	s.srv.opts.Throttle.Succeeded(s.remote)
	s.user = strings.ToLower(username)
	s.srv.opts.Log.Info("imapd: login", "user", s.user, "remote", s.remote)
	return nil
}

func (s *session) AppendLimit() uint32 { return s.srv.opts.MaxMessageBytes }

func (s *session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: mailstore.Delim}}}, nil
}

func (s *session) Create(name string, options *imap.CreateOptions) error {
	name = strings.TrimSuffix(name, string(mailstore.Delim))
	return imapError(s.srv.store.CreateFolder(s.ctx(), s.user, name))
}

func (s *session) Delete(name string) error {
	return imapError(s.srv.store.DeleteFolder(s.ctx(), s.user, name))
}

func (s *session) Rename(from, to string, options *imap.RenameOptions) error {
	to = strings.TrimSuffix(to, string(mailstore.Delim))
	return imapError(s.srv.store.RenameFolder(s.ctx(), s.user, from, to))
}

func (s *session) Subscribe(name string) error {
	return imapError(s.srv.store.SetSubscribed(s.ctx(), s.user, name, true))
}

func (s *session) Unsubscribe(name string) error {
	return imapError(s.srv.store.SetSubscribed(s.ctx(), s.user, name, false))
}

func (s *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	if len(patterns) == 0 || (len(patterns) == 1 && patterns[0] == "") {
		// LIST "" "": the hierarchy delimiter.
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: mailstore.Delim})
	}
	folders, err := s.srv.store.Folders(s.srv.ctx, s.user)
	if err != nil {
		return err
	}
	parents := map[string]bool{}
	for _, f := range folders {
		if i := strings.LastIndexByte(f.Name, mailstore.Delim); i > 0 {
			parents[f.Name[:i]] = true
		}
	}
	for _, f := range folders {
		match := false
		for _, p := range patterns {
			if imapserver.MatchList(f.Name, mailstore.Delim, ref, p) {
				match = true
				break
			}
		}
		if !match || (options.SelectSubscribed && !f.Subscribed) || (options.SelectSpecialUse && f.SpecialUse == "") {
			continue
		}
		data := imap.ListData{Mailbox: f.Name, Delim: mailstore.Delim}
		if parents[f.Name] {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasChildren)
		} else {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasNoChildren)
		}
		if f.Subscribed && (options.ReturnSubscribed || options.SelectSubscribed) {
			data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
		}
		if f.SpecialUse != "" {
			// Shown always: clients that did not ask (Thunderbird's plain
			// LIST) still find Sent and Trash this way.
			data.Attrs = append(data.Attrs, imap.MailboxAttr(f.SpecialUse))
		}
		if options.ReturnStatus != nil {
			if data.Status, err = s.Status(f.Name, options.ReturnStatus); err != nil {
				return err
			}
		}
		if err := w.WriteList(&data); err != nil {
			return err
		}
	}
	return nil
}

func (s *session) Status(name string, options *imap.StatusOptions) (*imap.StatusData, error) {
	st, err := s.srv.store.FolderStatus(s.srv.ctx, s.user, name)
	if err != nil {
		return nil, imapError(err)
	}
	data := &imap.StatusData{Mailbox: st.Name}
	if options.NumMessages {
		data.NumMessages = &st.Messages
	}
	if options.UIDNext {
		data.UIDNext = imap.UID(st.UIDNext)
	}
	if options.UIDValidity {
		data.UIDValidity = st.UIDValidity
	}
	if options.NumUnseen {
		data.NumUnseen = &st.Unseen
	}
	if options.NumDeleted {
		data.NumDeleted = &st.Deleted
	}
	if options.Size {
		data.Size = &st.Size
	}
	if options.NumRecent {
		var zero uint32
		data.NumRecent = &zero
	}
	return data, nil
}

func (s *session) Append(name string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	if r.Size() > int64(s.srv.opts.MaxMessageBytes) {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTooBig, Text: "Message too large"}
	}
	raw, err := io.ReadAll(io.LimitReader(r, int64(s.srv.opts.MaxMessageBytes)+1))
	if err != nil {
		return nil, err
	}
	flags := make([]string, 0, len(options.Flags))
	for _, f := range options.Flags {
		flags = append(flags, string(f))
	}
	uid, validity, err := s.srv.store.Append(s.ctx(), s.user, name, raw, flags, options.Time)
	if errors.Is(err, mailstore.ErrNoFolder) {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate, Text: "No such mailbox"}
	}
	if err != nil {
		return nil, imapError(err)
	}
	return &imap.AppendData{UID: imap.UID(uid), UIDValidity: validity}, nil
}

func (s *session) Select(name string, options *imap.SelectOptions) (*imap.SelectData, error) {
	if s.mbox != nil {
		s.mbox.close()
		s.mbox = nil
	}
	m, err := s.open(name, options.ReadOnly)
	if err != nil {
		return nil, imapError(err)
	}
	s.mbox = m
	m.mu.Lock()
	n := uint32(len(m.uids))
	data := &imap.SelectData{
		Flags:          []imap.Flag{imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagSeen, imap.FlagDraft},
		PermanentFlags: []imap.Flag{imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagSeen, imap.FlagDraft, imap.FlagWildcard},
		NumMessages:    n,
		UIDNext:        imap.UID(m.uidNext),
		UIDValidity:    m.uidValidity,
	}
	m.mu.Unlock()
	if options.ReadOnly {
		data.PermanentFlags = nil
	}
	unseen, err := s.srv.store.Search(s.srv.ctx, s.user, m.folder(), &mailstore.Criteria{NotFlags: []string{mailstore.FlagSeen}})
	if err != nil {
		return nil, err
	}
	if len(unseen) > 0 {
		m.mu.Lock()
		if i, ok := m.index(unseen[0]); ok {
			data.FirstUnseenSeqNum = m.st.EncodeSeqNum(uint32(i) + 1)
		}
		m.mu.Unlock()
	}
	return data, nil
}

func (s *session) Unselect() error {
	if s.mbox != nil {
		s.mbox.close()
		s.mbox = nil
	}
	return nil
}

func (s *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	if s.mbox == nil {
		return nil
	}
	return s.mbox.st.Poll(w, allowExpunge)
}

func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	if s.mbox == nil {
		select {
		case <-stop:
		case <-s.srv.ctx.Done():
		}
		return nil
	}
	return s.mbox.st.Idle(w, stop)
}

var errReadOnly = &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Mailbox is read-only (EXAMINE)"}

func (s *session) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	m := s.mbox
	if m.readOnly {
		if *w == (imapserver.ExpungeWriter{}) {
			return nil // CLOSE of an EXAMINEd mailbox expunges nothing
		}
		return errReadOnly
	}
	var only []uint32
	if uids != nil {
		for _, r := range m.resolve(*uids) {
			only = append(only, r.uid)
		}
		if len(only) == 0 {
			return nil
		}
	}
	// The EXPUNGE responses come from the tracker, which the store's change
	// notifications have filled by the time Expunge returns.
	_, err := s.srv.store.Expunge(s.ctx(), s.user, m.folder(), only)
	return imapError(err)
}

func (s *session) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	refs := s.mbox.resolve(numSet)
	res, err := s.srv.store.Copy(s.ctx(), s.user, s.mbox.folder(), uidsOf(refs), dest)
	if err != nil {
		return nil, copyError(err)
	}
	return copyData(res), nil
}

func (s *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	m := s.mbox
	if m.readOnly {
		return errReadOnly
	}
	refs := m.resolve(numSet)
	res, err := s.srv.store.Move(s.ctx(), s.user, m.folder(), uidsOf(refs), dest)
	if err != nil {
		return copyError(err)
	}
	// COPYUID first; the EXPUNGEs follow from the tracker before the OK.
	return w.WriteCopyData(copyData(res))
}

func copyError(err error) error {
	if errors.Is(err, mailstore.ErrNoFolder) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate, Text: "No such mailbox"}
	}
	return imapError(err)
}

func copyData(res mailstore.CopyResult) *imap.CopyData {
	var src, dst imap.UIDSet
	for i := range res.SourceUIDs {
		src.AddNum(imap.UID(res.SourceUIDs[i]))
		dst.AddNum(imap.UID(res.DestUIDs[i]))
	}
	return &imap.CopyData{UIDValidity: res.UIDValidity, SourceUIDs: src, DestUIDs: dst}
}

func uidsOf(refs []msgRef) []uint32 {
	out := make([]uint32, len(refs))
	for i, r := range refs {
		out[i] = r.uid
	}
	return out
}

func toFlags(fs []string) []imap.Flag {
	out := make([]imap.Flag, len(fs))
	for i, f := range fs {
		out[i] = imap.Flag(f)
	}
	return out
}

func fromFlags(fs []imap.Flag) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = string(f)
	}
	return out
}

func (s *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, options *imap.StoreOptions) error {
	m := s.mbox
	if m.readOnly {
		return errReadOnly
	}
	refs := m.resolve(numSet)
	if len(refs) == 0 {
		return nil
	}
	op := map[imap.StoreFlagsOp]mailstore.FlagOp{imap.StoreFlagsSet: mailstore.FlagsSet, imap.StoreFlagsAdd: mailstore.FlagsAdd, imap.StoreFlagsDel: mailstore.FlagsRemove}[flags.Op]
	var want []string
	for _, f := range flags.Flags {
		if strings.EqualFold(string(f), `\Recent`) {
			continue // no one sets \Recent; RFC 3501 says to ignore it
		}
		want = append(want, string(f))
	}
	if _, err := s.srv.store.StoreFlags(s.ctx(), s.user, m.folder(), uidsOf(refs), op, want); err != nil {
		return imapError(err)
	}
	if flags.Silent {
		return nil
	}
	_, uidKind := numSet.(imap.UIDSet)
	return s.writeFetch(w, refs, &imap.FetchOptions{Flags: true, UID: uidKind})
}

func (s *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	m := s.mbox
	c := m.criteria(criteria)
	uids, err := s.srv.store.Search(s.srv.ctx, s.user, m.folder(), c)
	if err != nil {
		return nil, imapError(err)
	}
	var data imap.SearchData
	var seqs imap.SeqSet
	var uidSet imap.UIDSet
	m.mu.Lock()
	for _, uid := range uids {
		i, ok := m.index(uid)
		if !ok {
			continue
		}
		seq := m.st.EncodeSeqNum(uint32(i) + 1)
		if seq == 0 {
			continue // not yet announced to this client
		}
		uidSet.AddNum(imap.UID(uid))
		num := uid
		if kind == imapserver.NumKindSeq {
			seqs.AddNum(seq)
			num = seq
		}
		if data.Min == 0 || num < data.Min {
			data.Min = num
		}
		if num > data.Max {
			data.Max = num
		}
		data.Count++
	}
	if options.ReturnSave {
		m.searchRes = uidSet
	}
	m.mu.Unlock()
	if kind == imapserver.NumKindSeq {
		data.All = seqs
	} else {
		data.All = uidSet
	}
	return &data, nil
}

// bodyNeeded says how much of the bodies answering options needs: the
// header alone serves ENVELOPE and BODY[HEADER...], the commonest fetches
// of a client listing a mailbox.
func bodyNeeded(o *imap.FetchOptions) mailstore.Part {
	if o.BodyStructure != nil || len(o.BinarySection) > 0 || len(o.BinarySectionSize) > 0 {
		return mailstore.WholeBody
	}
	part := mailstore.NoBody
	if o.Envelope {
		part = mailstore.HeaderOnly
	}
	for _, bs := range o.BodySection {
		if len(bs.Part) > 0 || (bs.Specifier != imap.PartSpecifierHeader) {
			return mailstore.WholeBody
		}
		part = mailstore.HeaderOnly
	}
	return part
}

// fetchBatch bounds how many messages one read transaction loads, so a
// slow client never holds a read transaction open for long.
const fetchBatch = 64

func (s *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	m := s.mbox
	refs := m.resolve(numSet)
	markSeen := false
	for _, bs := range options.BodySection {
		markSeen = markSeen || !bs.Peek
	}
	for _, bs := range options.BinarySection {
		markSeen = markSeen || !bs.Peek
	}
	if markSeen && !m.readOnly && len(refs) > 0 {
		// When the response carries FLAGS it shows the new \Seen itself;
		// otherwise the change comes back through the tracker as an
		// unsolicited FETCH, as RFC 3501 asks.
		ctx := s.srv.ctx
		if options.Flags {
			ctx = s.ctx()
		}
		if _, err := s.srv.store.StoreFlags(ctx, s.user, m.folder(), uidsOf(refs), mailstore.FlagsAdd, []string{mailstore.FlagSeen}); err != nil {
			return imapError(err)
		}
	}
	return s.writeFetch(w, refs, options)
}

func (s *session) writeFetch(w *imapserver.FetchWriter, refs []msgRef, options *imap.FetchOptions) (err error) {
	if s.wire != nil && len(refs) > 1 {
		s.wire.hold()
		defer func() {
			if ferr := s.wire.release(); err == nil {
				err = ferr
			}
		}()
	}
	withBody := bodyNeeded(options)
	// The header is needed for the envelope alone: read it only for the
	// bodies whose envelope is not cached.
	envelopeOnly := withBody == mailstore.HeaderOnly && len(options.BodySection) == 0
	for len(refs) > 0 {
		batch := refs[:min(fetchBatch, len(refs))]
		refs = refs[len(batch):]
		part := withBody
		if envelopeOnly {
			part = mailstore.NoBody
		}
		msgs, err := s.srv.store.Messages(s.srv.ctx, s.user, s.mbox.folder(), uidsOf(batch), part)
		if err != nil {
			return err
		}
		envs := make([]*imap.Envelope, len(msgs))
		if options.Envelope {
			if err := s.envelopes(msgs, envs, envelopeOnly); err != nil {
				return err
			}
		}
		byUID := make(map[uint32]int, len(msgs))
		for i := range msgs {
			byUID[msgs[i].UID] = i
		}
		for _, r := range batch {
			i, ok := byUID[r.uid]
			if !ok {
				continue // expunged meanwhile
			}
			if err := writeMessage(w.CreateMessage(r.seq), &msgs[i], envs[i], options); err != nil {
				return err
			}
		}
	}
	return nil
}

// envelopes fills envs[i] with the envelope of msgs[i], from the cache or
// by parsing the header. Without bodies in msgs (headerless), it reads the
// headers of the cache misses.
func (s *session) envelopes(msgs []mailstore.Message, envs []*imap.Envelope, headerless bool) error {
	var missing []uint32
	for i := range msgs {
		if e, ok := s.srv.envelopes.get(msgs[i].BodyID); ok {
			envs[i] = e
			continue
		}
		if headerless {
			missing = append(missing, msgs[i].UID)
			continue
		}
		envs[i] = envelope(msgs[i].Body)
		s.srv.envelopes.put(msgs[i].BodyID, envs[i])
	}
	if len(missing) == 0 {
		return nil
	}
	heads, err := s.srv.store.Messages(s.srv.ctx, s.user, s.mbox.folder(), missing, mailstore.HeaderOnly)
	if err != nil {
		return err
	}
	byUID := make(map[uint32]*mailstore.Message, len(heads))
	for i := range heads {
		byUID[heads[i].UID] = &heads[i]
	}
	for i := range msgs {
		if envs[i] != nil {
			continue
		}
		h := byUID[msgs[i].UID]
		if h == nil {
			envs[i] = &imap.Envelope{} // expunged between the two reads
			continue
		}
		envs[i] = envelope(h.Body)
		s.srv.envelopes.put(h.BodyID, envs[i])
	}
	return nil
}

func writeMessage(rw *imapserver.FetchResponseWriter, msg *mailstore.Message, env *imap.Envelope, options *imap.FetchOptions) error {
	if options.UID {
		rw.WriteUID(imap.UID(msg.UID))
	}
	if options.Flags {
		rw.WriteFlags(toFlags(msg.Flags))
	}
	if options.InternalDate {
		rw.WriteInternalDate(msg.InternalDate)
	}
	if options.RFC822Size {
		rw.WriteRFC822Size(msg.Size)
	}
	if options.Envelope {
		rw.WriteEnvelope(env)
	}
	if options.BodyStructure != nil {
		rw.WriteBodyStructure(imapserver.ExtractBodyStructure(bytes.NewReader(msg.Body)))
	}
	for _, bs := range options.BodySection {
		b := imapserver.ExtractBodySection(bytes.NewReader(msg.Body), bs)
		wc := rw.WriteBodySection(bs, int64(len(b)))
		if _, err := wc.Write(b); err != nil {
			return err
		}
		if err := wc.Close(); err != nil {
			return err
		}
	}
	for _, bs := range options.BinarySection {
		b := imapserver.ExtractBinarySection(bytes.NewReader(msg.Body), bs)
		wc := rw.WriteBinarySection(bs, int64(len(b)))
		if _, err := wc.Write(b); err != nil {
			return err
		}
		if err := wc.Close(); err != nil {
			return err
		}
	}
	for _, bss := range options.BinarySectionSize {
		rw.WriteBinarySectionSize(bss, imapserver.ExtractBinarySectionSize(bytes.NewReader(msg.Body), bss))
	}
	return rw.Close()
}
