package interop

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-p2p/shoal/mail/imapd"
	"github.com/shoal-p2p/shoal/mail/internal/mailtest"
	"github.com/shoal-p2p/shoal/mail/mailstore"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	user = "alice"
	pass = "alices-password"
)

func startIMAP(t *testing.T) (*mailstore.Store, string) {
	t.Helper()
	st := mailtest.Store(t, user, pass)
	addr, _ := mailtest.Serve(t, imapd.New(st, imapd.Options{InsecureAuth: true}))
	return st, addr
}

// maildir lists the messages of a Maildir folder: file name -> flags.
func maildir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, sub := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			_, flags, _ := strings.Cut(e.Name(), ":2,")
			out[filepath.Join(sub, e.Name())] = flags
		}
	}
	return out
}

func TestMbsyncBothWaysKeepsSeen(t *testing.T) {
	mbsync, err := exec.LookPath("mbsync")
	if err != nil {
		t.Skip("mbsync (Debian isync) is not installed")
	}
	st, addr := startIMAP(t)
	ctx := context.Background()
	host, port, _ := net.SplitHostPort(addr)
	for i := 1; i <= 3; i++ {
		raw := fmt.Sprintf("From: bob@two.shoal\r\nSubject: message %d\r\nMessage-ID: <%d@two.shoal>\r\n\r\nbody %d\r\n", i, i, i)
		if _, err := st.Deliver(ctx, user, []byte(raw)); err != nil {
			t.Fatal(err)
		}
	}
	st.StoreFlags(ctx, user, "INBOX", []uint32{1}, mailstore.FlagsAdd, []string{mailstore.FlagSeen})

	dir := t.TempDir()
	local := filepath.Join(dir, "mail")
	if err := os.MkdirAll(local, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "mbsyncrc")
	conf := fmt.Sprintf(`IMAPAccount shoal
Host %s
Port %s
User %s
Pass %s
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account shoal

MaildirStore local
Path %s/
Inbox %s/INBOX

Channel shoal
Far :remote:
Near :local:
Patterns INBOX
Create Both
Expunge Both
SyncState *
Sync All
`, host, port, user, pass, local, local)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, mbsync, "-c", cfg, "-a")
		cmd.Env = append(os.Environ(), "HOME="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mbsync: %v\n%s", err, out)
		}
	}
	run()
	inbox := filepath.Join(local, "INBOX")
	got := maildir(t, inbox)
	if len(got) != 3 {
		t.Fatalf("Maildir after the first sync: %v", got)
	}
	seen := 0
	var unseen string
	for name, flags := range got {
		if strings.Contains(flags, "S") {
			seen++
		} else if unseen == "" {
			unseen = name
		}
	}
	if seen != 1 {
		t.Fatalf("%d messages seen in the Maildir, want 1: %v", seen, got)
	}

	// Read one message locally and write a new one; sync again.
	base, _, _ := strings.Cut(filepath.Base(unseen), ":2,")
	if err := os.Rename(filepath.Join(inbox, unseen), filepath.Join(inbox, "cur", base+":2,S")); err != nil {
		t.Fatal(err)
	}
	newMsg := "From: alice@one.shoal\r\nSubject: written offline\r\nMessage-ID: <offline@one.shoal>\r\n\r\nhello\r\n"
	if err := os.WriteFile(filepath.Join(inbox, "new", "1700000000.local.host"), []byte(newMsg), 0o600); err != nil {
		t.Fatal(err)
	}
	run()
	status, err := st.FolderStatus(ctx, user, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if status.Messages != 4 || status.Unseen != 2 {
		t.Fatalf("server INBOX after the second sync: %+v", status)
	}
	found, _ := st.Search(ctx, user, "INBOX", &mailstore.Criteria{Header: []mailstore.HeaderMatch{{Key: "Subject", Value: "written offline"}}})
	if len(found) != 1 {
		t.Fatalf("the offline message is not on the server: %v", found)
	}
	// The server's flags are in canonical case, which mbsync relies on.
	msgs, _ := st.Messages(ctx, user, "INBOX", []uint32{1, 2, 3}, mailstore.NoBody)
	for _, m := range msgs {
		for _, f := range m.Flags {
			if f != mailstore.FlagSeen && strings.EqualFold(f, mailstore.FlagSeen) {
				t.Errorf("flag %q", f)
			}
		}
	}
	// A message expunged on the server goes from the Maildir too.
	st.StoreFlags(ctx, user, "INBOX", []uint32{1}, mailstore.FlagsAdd, []string{mailstore.FlagDeleted})
	st.Expunge(ctx, user, "INBOX", nil)
	run()
	if got := maildir(t, inbox); len(got) != 3 {
		t.Fatalf("Maildir after a server expunge: %v", got)
	}
	// And a third run changes nothing.
	before := maildir(t, inbox)
	run()
	after := maildir(t, inbox)
	if !slices.Equal(keys(before), keys(after)) {
		t.Errorf("an idle sync changed the Maildir: %v -> %v", before, after)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
