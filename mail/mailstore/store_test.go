package mailstore

import (
	"bytes"
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

	"github.com/shoal-p2p/shoal/storage"
	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type testStore struct {
	*Store
	db   *storage.DB
	path string
}

func openTest(t *testing.T, opts Options) *testStore {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shoal.db")
	db, err := storage.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if opts.PasswordCost == 0 {
		opts.PasswordCost = bcrypt.MinCost
	}
	s, err := Open(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &testStore{Store: s, db: db, path: path}
}

func msg(subject, body string) []byte {
	return []byte(fmt.Sprintf("From: a@one.shoal\r\nTo: b@two.shoal\r\nSubject: %s\r\nMessage-ID: <%s@one.shoal>\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\n\r\n%s\r\n", subject, strings.ReplaceAll(subject, " ", "."), body))
}

func count(t *testing.T, db *storage.DB, bucket []byte) int {
	t.Helper()
	n := 0
	db.View(func(tx *storage.Tx) error {
		n = tx.Bucket(bucket).Stats().KeyN
		return nil
	})
	return n
}

func TestUsersAndPasswords(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	const pw = "correct horse battery"
	if err := s.AddUser(ctx, "Alice", pw); err != nil {
		t.Fatal(err)
	}
	if err := s.AddUser(ctx, "alice", "another password"); !errors.Is(err, ErrUserExists) {
		t.Fatalf("second alice: %v", err)
	} else if err.Error() != "mailstore: add user alice: user already exists" {
		t.Errorf("second alice: %q, want one mailstore: prefix", err)
	}
	if _, err := s.Messages(ctx, "nobody", "INBOX", []uint32{1}, NoBody); !errors.Is(err, ErrNoUser) || strings.Count(err.Error(), "mailstore:") != 1 {
		t.Errorf("Messages of nobody: %q, want ErrNoUser with one mailstore: prefix", err)
	}
	for _, bad := range []string{"", "a b", "bob@x", ".bob", "bo..b", strings.Repeat("x", 65)} {
		if err := s.AddUser(ctx, bad, pw); !errors.Is(err, ErrBadInput) {
			t.Errorf("AddUser(%q) = %v, want ErrBadInput", bad, err)
		}
	}
	if err := s.AddUser(ctx, "carol", "short"); !errors.Is(err, ErrBadInput) {
		t.Errorf("short password: %v", err)
	}
	if ok, _ := s.HasUser(ctx, "ALICE"); !ok {
		t.Error("HasUser(ALICE) = false")
	}
	if ok, _ := s.HasUser(ctx, "carol"); ok {
		t.Error("carol exists after a refused AddUser")
	}
	if err := s.Authenticate(ctx, "aLiCe", pw); err != nil {
		t.Errorf("right password: %v", err)
	}
	for _, c := range [][2]string{{"alice", "wrong password"}, {"nobody", pw}, {"bad name", pw}, {"alice", ""}} {
		if err := s.Authenticate(ctx, c[0], c[1]); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("Authenticate(%q, %q) = %v", c[0], c[1], err)
		}
	}
	gen := GeneratePassword()
	if len(gen) != 20 || gen == GeneratePassword() {
		t.Errorf("generated password %q", gen)
	}
	if err := s.SetPassword(ctx, "alice", gen); err != nil {
		t.Fatal(err)
	}
	if err := s.Authenticate(ctx, "alice", pw); err == nil {
		t.Error("old password still works")
	}
	if err := s.Authenticate(ctx, "alice", gen); err != nil {
		t.Errorf("new password: %v", err)
	}
	if err := s.SetPassword(ctx, "nobody", gen); !errors.Is(err, ErrNoUser) {
		t.Errorf("SetPassword(nobody) = %v", err)
	}
	users, err := s.Users(ctx)
	if err != nil || len(users) != 1 || users[0].Name != "alice" {
		t.Fatalf("Users = %v, %v", users, err)
	}
	// The passwords never reach the file in clear.
	s.db.Close()
	raw, err := os.ReadFile(s.path)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{pw, gen} {
		if bytes.Contains(raw, []byte(p)) {
			t.Errorf("password %q is in the database file", p)
		}
	}
	if !bytes.Contains(raw, []byte("$2a$")) {
		t.Error("no bcrypt hash in the database file")
	}
}

func TestStandardFoldersAndUserFolders(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	if err := s.AddUser(ctx, "bob", "password1"); err != nil {
		t.Fatal(err)
	}
	fs, err := s.Folders(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var names []string
	for _, f := range fs {
		got[f.Name] = f.SpecialUse
		names = append(names, f.Name)
		if f.UIDNext != 1 || f.UIDValidity == 0 {
			t.Errorf("%s: UIDNEXT %d UIDVALIDITY %d", f.Name, f.UIDNext, f.UIDValidity)
		}
	}
	want := map[string]string{"INBOX": "", "Sent": UseSent, "Drafts": UseDrafts, "Trash": UseTrash, "Junk": UseJunk}
	if fmt.Sprint(got) != fmt.Sprint(want) || names[0] != "INBOX" {
		t.Fatalf("folders %v (%v), want %v", got, names, want)
	}
	if err := s.CreateFolder(ctx, "bob", "Work/2026"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateFolder(ctx, "bob", "Work"); !errors.Is(err, ErrFolderExists) {
		t.Errorf("Work again: %v", err)
	}
	for _, bad := range []string{"", "/x", "x/", "a//b", "a*", "a%b", "INBOX/sub", "a\r\nb"} {
		if err := s.CreateFolder(ctx, "bob", bad); !errors.Is(err, ErrBadInput) {
			t.Errorf("CreateFolder(%q) = %v", bad, err)
		}
	}
	if _, _, err := s.Append(ctx, "bob", "Work/2026", msg("kept", "x"), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	st0, _ := s.FolderStatus(ctx, "bob", "Work/2026")
	if err := s.RenameFolder(ctx, "bob", "Work", "Jobs"); err != nil {
		t.Fatal(err)
	}
	st, err := s.FolderStatus(ctx, "bob", "Jobs/2026")
	if err != nil || st.Messages != 1 || st.UIDValidity != st0.UIDValidity {
		t.Fatalf("after rename: %+v %v (before %+v)", st, err, st0)
	}
	if _, err := s.FolderStatus(ctx, "bob", "Work/2026"); !errors.Is(err, ErrNoFolder) {
		t.Errorf("old name still there: %v", err)
	}
	// A rename that would land a sub-folder on an existing folder is refused whole.
	s.CreateFolder(ctx, "bob", "Old/kids")
	s.CreateFolder(ctx, "bob", "A/kids")
	if err := s.RenameFolder(ctx, "bob", "A/kids", "New/kids"); err != nil { // New/kids without New
		t.Fatal(err)
	}
	if err := s.RenameFolder(ctx, "bob", "Old", "New"); !errors.Is(err, ErrFolderExists) {
		t.Errorf("rename onto an existing sub-folder: %v", err)
	}
	if _, err := s.FolderStatus(ctx, "bob", "Old/kids"); err != nil {
		t.Errorf("a refused rename moved a folder: %v", err)
	}
	if err := s.RenameFolder(ctx, "bob", "Old", "Newer"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FolderStatus(ctx, "bob", "Newer/kids"); err != nil {
		t.Errorf("child not moved: %v", err)
	}
	for _, c := range [][2]string{{"INBOX", "X"}, {"inbox", "Y"}, {"Jobs", "Jobs/sub"}, {"Nope", "Z"}, {"Sent", "Jobs"}} {
		if err := s.RenameFolder(ctx, "bob", c[0], c[1]); err == nil {
			t.Errorf("RenameFolder(%s, %s) succeeded", c[0], c[1])
		}
	}
	if err := s.DeleteFolder(ctx, "bob", "INBOX"); !errors.Is(err, ErrBadInput) {
		t.Errorf("delete INBOX: %v", err)
	}
	if err := s.DeleteFolder(ctx, "bob", "Jobs"); !errors.Is(err, ErrBadInput) {
		t.Errorf("delete a folder with children: %v", err)
	}
	if err := s.DeleteFolder(ctx, "bob", "Jobs/2026"); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s.db, bodiesBucket); n != 0 {
		t.Errorf("%d bodies left after deleting the only folder holding one", n)
	}
	if err := s.DeleteFolder(ctx, "bob", "Jobs"); err != nil {
		t.Fatal(err)
	}
	// A folder made again gets a new UIDVALIDITY.
	if err := s.CreateFolder(ctx, "bob", "Jobs"); err != nil {
		t.Fatal(err)
	}
	st2, _ := s.FolderStatus(ctx, "bob", "Jobs")
	if st2.UIDValidity == st0.UIDValidity {
		t.Error("re-created folder kept its UIDVALIDITY")
	}
}

func TestBodiesStoredOnceAndCounted(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	s.AddUser(ctx, "bob", "password1")
	raw := msg("hello", "same body")
	uid1, v1, err := s.Append(ctx, "bob", "INBOX", raw, []string{`\seen`, "$Label1", "$label1"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	uid2, _, err := s.Append(ctx, "bob", "INBOX", raw, nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if uid1 != 1 || uid2 != 2 || v1 == 0 {
		t.Fatalf("UIDs %d %d validity %d", uid1, uid2, v1)
	}
	res, err := s.Copy(ctx, "bob", "INBOX", []uint32{1, 2, 99}, "Trash")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.SourceUIDs, []uint32{1, 2}) || !slices.Equal(res.DestUIDs, []uint32{1, 2}) {
		t.Fatalf("copy %+v", res)
	}
	if n := count(t, s.db, bodiesBucket); n != 1 {
		t.Fatalf("%d bodies stored for 4 copies of one", n)
	}
	ms, _ := s.Messages(ctx, "bob", "Trash", []uint32{1}, WholeBody)
	if len(ms) != 1 || !bytes.Equal(ms[0].Body, raw) || !slices.Equal(ms[0].Flags, []string{"$Label1", `\Seen`}) || ms[0].Size != int64(len(raw)) {
		t.Fatalf("copied message %+v", ms)
	}
	hs, _ := s.Messages(ctx, "bob", "Trash", []uint32{1}, HeaderOnly)
	if want := raw[:bytes.Index(raw, []byte("\r\n\r\n"))+4]; len(hs) != 1 || !bytes.Equal(hs[0].Body, want) {
		t.Fatalf("header only: %q, want %q", hs[0].Body, want)
	}
	// Remove three references: the body stays for the last.
	if _, err := s.StoreFlags(ctx, "bob", "INBOX", []uint32{1, 2}, FlagsAdd, []string{`\DELETED`}); err != nil {
		t.Fatal(err)
	}
	gone, err := s.Expunge(ctx, "bob", "INBOX", nil)
	if err != nil || !slices.Equal(gone, []uint32{1, 2}) {
		t.Fatalf("expunge %v %v", gone, err)
	}
	if _, err := s.Remove(ctx, "bob", "Trash", []uint32{2}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s.db, bodiesBucket); n != 1 {
		t.Fatalf("%d bodies with one reference left", n)
	}
	if _, err := s.Move(ctx, "bob", "Trash", []uint32{1}, "Junk"); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s.db, bodiesBucket); n != 1 {
		t.Fatalf("move changed the bodies: %d", n)
	}
	if _, err := s.Remove(ctx, "bob", "Junk", []uint32{1}); err != nil {
		t.Fatal(err)
	}
	if n, r := count(t, s.db, bodiesBucket), count(t, s.db, refsBucket); n != 0 || r != 0 {
		t.Fatalf("%d bodies and %d counts left after the last reference went", n, r)
	}
	// UIDs are never reused.
	uid3, _, _ := s.Append(ctx, "bob", "INBOX", raw, nil, time.Time{})
	st, _ := s.FolderStatus(ctx, "bob", "INBOX")
	if uid3 != 3 || st.UIDNext != 4 || st.Messages != 1 {
		t.Fatalf("after expunge: uid %d, status %+v", uid3, st)
	}
}

func TestFlagsCanonicalAndBadInput(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{MaxMessageBytes: 1000})
	s.AddUser(ctx, "bob", "password1")
	uid, _, _ := s.Append(ctx, "bob", "INBOX", msg("f", "x"), nil, time.Time{})
	changed, err := s.StoreFlags(ctx, "bob", "INBOX", []uint32{uid}, FlagsSet, []string{`\SEEN`, `\answered`, `\Flagged`, `\draft`, "Work"})
	if err != nil || len(changed) != 1 {
		t.Fatal(changed, err)
	}
	want := []string{"Work", `\Answered`, `\Draft`, `\Flagged`, `\Seen`}
	if !slices.Equal(changed[0].Flags, want) {
		t.Fatalf("flags %v, want %v", changed[0].Flags, want)
	}
	if c, _ := s.StoreFlags(ctx, "bob", "INBOX", []uint32{uid}, FlagsAdd, []string{`\Seen`}); len(c) != 0 {
		t.Errorf("adding a flag already there reported a change: %v", c)
	}
	s.StoreFlags(ctx, "bob", "INBOX", []uint32{uid}, FlagsRemove, []string{`\seen`, "work"})
	ms, _ := s.Messages(ctx, "bob", "INBOX", []uint32{uid}, NoBody)
	if !slices.Equal(ms[0].Flags, []string{`\Answered`, `\Draft`, `\Flagged`}) {
		t.Errorf("after remove %v", ms[0].Flags)
	}
	before, _ := s.Messages(ctx, "bob", "INBOX", []uint32{uid}, NoBody)
	for _, bad := range [][]string{{`\Recent`}, {`\Bogus`}, {"two words"}, {"a(b"}, {""}} {
		if _, err := s.StoreFlags(ctx, "bob", "INBOX", []uint32{uid}, FlagsSet, bad); !errors.Is(err, ErrBadInput) {
			t.Errorf("flags %q: %v", bad, err)
		}
	}
	after, _ := s.Messages(ctx, "bob", "INBOX", []uint32{uid}, NoBody)
	if !slices.Equal(before[0].Flags, after[0].Flags) {
		t.Error("refused STORE changed the flags")
	}
	for name, raw := range map[string][]byte{
		"empty":     nil,
		"too large": msg("big", strings.Repeat("x", 2000)),
		"bad head":  []byte("no colon here\r\n\r\nbody"),
	} {
		if _, err := s.Deliver(ctx, "bob", raw); !errors.Is(err, ErrBadInput) {
			t.Errorf("Deliver %s: %v", name, err)
		}
	}
	if _, err := s.Deliver(ctx, "nobody", msg("x", "y")); !errors.Is(err, ErrNoUser) {
		t.Errorf("Deliver to nobody: %v", err)
	}
	if _, _, err := s.Append(ctx, "bob", "Nope", msg("x", "y"), nil, time.Time{}); !errors.Is(err, ErrNoFolder) {
		t.Errorf("Append to a missing folder: %v", err)
	}
	if _, err := s.Move(ctx, "bob", "INBOX", []uint32{uid}, "INBOX"); !errors.Is(err, ErrBadInput) {
		t.Errorf("move into itself: %v", err)
	}
	st, _ := s.FolderStatus(ctx, "bob", "INBOX")
	if st.Messages != 1 || st.UIDNext != 2 {
		t.Errorf("refused input changed INBOX: %+v", st)
	}
}

func TestDeliverDeduplicatesRetries(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	s := openTest(t, Options{DedupWindow: time.Hour, Now: func() time.Time { return now }})
	s.AddUser(ctx, "bob", "password1")
	raw := msg("retried", "body")
	u1, err := s.Deliver(ctx, "bob", raw)
	if err != nil {
		t.Fatal(err)
	}
	// The same message with an extra trace header, as a retried relay sends it.
	u2, err := s.Deliver(ctx, "bob", append([]byte("Received: from x by y; retry\r\n"), raw...))
	if err != nil || u2 != u1 {
		t.Fatalf("retry got UID %d (%v), first %d", u2, err, u1)
	}
	noID := []byte("Subject: no id\r\n\r\nbody\r\n")
	u3, _ := s.Deliver(ctx, "bob", noID)
	u4, _ := s.Deliver(ctx, "bob", noID)
	if u3 == u1 || u4 != u3 {
		t.Fatalf("without Message-ID: %d %d", u3, u4)
	}
	if st, _ := s.FolderStatus(ctx, "bob", "INBOX"); st.Messages != 2 {
		t.Fatalf("%d messages in INBOX, want 2", st.Messages)
	}
	now = now.Add(2 * time.Hour)
	u5, _ := s.Deliver(ctx, "bob", raw)
	if u5 == u1 {
		t.Fatal("a delivery after the window was taken for a retry")
	}
	// Entries past the window are pruned.
	n := 0
	s.db.View(func(tx *storage.Tx) error {
		ub, _ := userBucket(tx, "bob")
		n = ub.Bucket(dedupKey).Stats().KeyN
		return nil
	})
	if n != 1 {
		t.Errorf("%d de-duplication entries, want 1", n)
	}
	// LF-only messages are stored with CRLF.
	uid, _ := s.Deliver(ctx, "bob", []byte("Subject: lf\nMessage-ID: <lf@x>\n\nline one\nline two\n"))
	b, _ := s.Body(ctx, "bob", "INBOX", uid)
	if string(b) != "Subject: lf\r\nMessage-ID: <lf@x>\r\n\r\nline one\r\nline two\r\n" {
		t.Errorf("body %q", b)
	}
}

func TestDeliverSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	s.AddUser(ctx, "bob", "password1")
	uid, err := s.Deliver(ctx, "bob", msg("durable", "x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendSent(ctx, "bob", msg("sent", "y")); err != nil {
		t.Fatal(err)
	}
	s.db.Close()
	db, err := storage.Open(s.path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s2, err := Open(db, Options{PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := db.SchemaVersion(component); v != len(migrations) {
		t.Errorf("schema version %d", v)
	}
	b, err := s2.Body(ctx, "bob", "INBOX", uid)
	if err != nil || !bytes.Contains(b, []byte("durable")) {
		t.Fatalf("after reopen: %q %v", b, err)
	}
	sent, _ := s2.Messages(ctx, "bob", "Sent", []uint32{1}, NoBody)
	if len(sent) != 1 || !slices.Equal(sent[0].Flags, []string{`\Seen`}) {
		t.Fatalf("Sent: %+v", sent)
	}
	// The \Sent folder is found by its attribute, and made again if gone.
	if err := s2.RenameFolder(ctx, "bob", "Sent", "Sent Items"); err != nil {
		t.Fatal(err)
	}
	if uid, err := s2.AppendSent(ctx, "bob", msg("sent 2", "z")); err != nil || uid != 2 {
		t.Fatalf("AppendSent after rename: %d %v", uid, err)
	}
	if err := s2.DeleteFolder(ctx, "bob", "Sent Items"); err != nil {
		t.Fatal(err)
	}
	if uid, err := s2.AppendSent(ctx, "bob", msg("sent 3", "z")); err != nil || uid != 1 {
		t.Fatalf("AppendSent after delete: %d %v", uid, err)
	}
	if st, err := s2.FolderStatus(ctx, "bob", "Sent"); err != nil || st.SpecialUse != UseSent || st.Messages != 1 {
		t.Fatalf("re-made Sent: %+v %v", st, err)
	}
}

func TestSearch(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	s.AddUser(ctx, "bob", "password1")
	s.Append(ctx, "bob", "INBOX", msg("Lunch plans", "Shall we meet at noon?"), []string{`\Seen`}, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	s.Append(ctx, "bob", "INBOX", msg("Report", "The figures are attached."), []string{`\Flagged`}, time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC))
	qp := "From: c@three.shoal\r\nSubject: =?utf-8?q?Caf=C3=A9?=\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nsee you at the caf=C3=A9 t=\r\nomorrow\r\n"
	s.Append(ctx, "bob", "INBOX", []byte(qp), nil, time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
	cases := []struct {
		name string
		c    Criteria
		want []uint32
	}{
		{"all", Criteria{}, []uint32{1, 2, 3}},
		{"seen", Criteria{Flags: []string{`\seen`}}, []uint32{1}},
		{"unseen", Criteria{NotFlags: []string{`\Seen`}}, []uint32{2, 3}},
		{"subject", Criteria{Header: []HeaderMatch{{"subject", "lunch"}}}, []uint32{1}},
		{"encoded subject", Criteria{Header: []HeaderMatch{{"Subject", "café"}}}, []uint32{3}},
		{"from", Criteria{Header: []HeaderMatch{{"From", "three.shoal"}}}, []uint32{3}},
		{"body", Criteria{Body: []string{"FIGURES"}}, []uint32{2}},
		{"body decoded", Criteria{Body: []string{"tomorrow"}}, []uint32{3}},
		{"text in header", Criteria{Text: []string{"report"}}, []uint32{2}},
		{"since", Criteria{Since: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)}, []uint32{2, 3}},
		{"before", Criteria{Before: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)}, []uint32{1}},
		{"uids", Criteria{UIDs: [][]UIDRange{{{2, 3}}}}, []uint32{2, 3}},
		{"not", Criteria{Not: []Criteria{{Flags: []string{`\Flagged`}}}}, []uint32{1, 3}},
		{"or", Criteria{Or: [][2]Criteria{{{Flags: []string{`\Seen`}}, {Body: []string{"café"}}}}}, []uint32{1, 3}},
		{"none", Criteria{Body: []string{"absent words"}}, nil},
	}
	for _, c := range cases {
		got, err := s.Search(ctx, "bob", "INBOX", &c.c)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s: %v %v, want %v", c.name, got, err, c.want)
		}
	}
	if _, err := s.Search(ctx, "bob", "INBOX", &Criteria{Flags: []string{`\Bogus`}}); !errors.Is(err, ErrBadInput) {
		t.Errorf("bad flag in search: %v", err)
	}
}

func TestSubscriptionsSeeChangesInOrder(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	s.AddUser(ctx, "bob", "password1")
	s.Append(ctx, "bob", "INBOX", msg("first", "x"), nil, time.Time{})
	var mu sync.Mutex
	var got []string
	sub, err := s.Subscribe(ctx, "bob", "inbox", func(c Change) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, fmt.Sprintf("%d:%d:%v:%v", c.Kind, c.UID, c.Flags, c.Origin))
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sub.UIDs, []uint32{1}) || sub.UIDNext != 2 {
		t.Fatalf("snapshot %v next %d", sub.UIDs, sub.UIDNext)
	}
	s.Deliver(ctx, "bob", msg("second", "y"))
	s.StoreFlags(WithOrigin(ctx, "me"), "bob", "INBOX", []uint32{1}, FlagsAdd, []string{`\Deleted`})
	s.Move(ctx, "bob", "INBOX", []uint32{2}, "Trash")
	s.Expunge(ctx, "bob", "INBOX", nil)
	s.Append(ctx, "bob", "Trash", msg("elsewhere", "z"), nil, time.Time{})
	sub.Close()
	s.Deliver(ctx, "bob", msg("after close", "w"))
	want := []string{"1:2:[]:<nil>", `2:1:[\Deleted]:me`, "3:2:[]:<nil>", "3:1:[]:<nil>"}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, want) {
		t.Fatalf("changes\n%v\nwant\n%v", got, want)
	}
}

func TestRemoveUserDropsBodies(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	s.AddUser(ctx, "bob", "password1")
	s.AddUser(ctx, "eve", "password2")
	s.Deliver(ctx, "bob", msg("shared", "x"))
	s.Deliver(ctx, "eve", msg("shared", "x"))
	if err := s.RemoveUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s.db, bodiesBucket); n != 1 {
		t.Fatalf("%d bodies, want eve's 1", n)
	}
	if err := s.RemoveUser(ctx, "bob"); !errors.Is(err, ErrNoUser) {
		t.Errorf("second remove: %v", err)
	}
	if _, err := s.Folders(ctx, "bob"); !errors.Is(err, ErrNoUser) {
		t.Errorf("folders of a removed user: %v", err)
	}
}

func TestLoginThrottleGrows(t *testing.T) {
	now := time.Unix(1000, 0)
	th := NewLoginThrottle(100*time.Millisecond, time.Second)
	th.Now = func() time.Time { return now }
	var got []time.Duration
	for range 6 {
		d, _ := th.Failed("10.0.0.1")
		got = append(got, d)
	}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("delays %v", got)
		}
	}
	if d, _ := th.Failed("10.0.0.2"); d != 100*time.Millisecond {
		t.Errorf("another source starts at %v", d)
	}
	th.Succeeded("10.0.0.1")
	if d, n := th.Failed("10.0.0.1"); d != 100*time.Millisecond || n != 1 {
		t.Errorf("after success: %v %d", d, n)
	}
	now = now.Add(time.Hour)
	if _, n := th.Failed("10.0.0.2"); n != 1 {
		t.Errorf("an old failure was not forgotten: %d", n)
	}
}

func TestNormalizeBody(t *testing.T) {
	for in, want := range map[string]string{
		"a: b\r\n\r\nx\r\n": "a: b\r\n\r\nx\r\n",
		"a: b\n\nx\n":       "a: b\r\n\r\nx\r\n",
		"a: b\r\n\r\nx":     "a: b\r\n\r\nx\r\n",
		"a: b\r\rx\r":       "a: b\r\n\r\nx\r\n",
		"a: b\r\n\nx\r\n":   "a: b\r\n\r\nx\r\n",
	} {
		if got := string(normalizeBody([]byte(in))); got != want {
			t.Errorf("normalizeBody(%q) = %q, want %q", in, got, want)
		}
	}
}
