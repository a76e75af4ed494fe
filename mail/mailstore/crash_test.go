package mailstore

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-p2p/shoal/storage"
	"golang.org/x/crypto/bcrypt"
)

// crashChildEnv makes the test binary a child that delivers messages into
// the database named by it, printing each UID once Deliver has returned,
// until it is killed.
const crashChildEnv = "MAILSTORE_CRASH_CHILD_DB"

func init() {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		return
	}
	db, err := storage.Open(path)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	s, err := Open(db, Options{PasswordCost: bcrypt.MinCost})
	if err != nil {
		fmt.Println("open store:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	for i := 0; ; i++ {
		uid, err := s.Deliver(ctx, "bob", msg(fmt.Sprintf("crash %d", i), "body"))
		if err != nil {
			fmt.Println("deliver:", err)
			os.Exit(2)
		}
		fmt.Println(uid)
	}
}

// TestDeliveredSurvivesKill kills a delivering process with SIGKILL and
// checks that every message whose Deliver had returned is in the INBOX.
func TestDeliveredSurvivesKill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shoal.db")
	db, err := storage.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(db, Options{PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddUser(context.Background(), "bob", "password1"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []uint32
	sc := bufio.NewScanner(out)
	deadline := time.Now().Add(20 * time.Second)
	for len(acked) < 30 && time.Now().Before(deadline) && sc.Scan() {
		uid, err := strconv.ParseUint(strings.TrimSpace(sc.Text()), 10, 32)
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child: %q", sc.Text())
		}
		acked = append(acked, uint32(uid))
	}
	cmd.Process.Signal(syscall.SIGKILL)
	for sc.Scan() { // UIDs printed before the kill landed were acknowledged too
		if uid, err := strconv.ParseUint(strings.TrimSpace(sc.Text()), 10, 32); err == nil {
			acked = append(acked, uint32(uid))
		}
	}
	cmd.Wait()
	if len(acked) < 30 {
		t.Fatalf("the child acknowledged only %d deliveries", len(acked))
	}

	db, err = storage.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err = Open(db, Options{PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	uids, err := s.UIDs(context.Background(), "bob", Inbox)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range acked {
		if !slices.Contains(uids, u) {
			t.Fatalf("UID %d was acknowledged but is not in INBOX after the kill (%d acked, %d stored)", u, len(acked), len(uids))
		}
	}
	st, _ := s.FolderStatus(context.Background(), "bob", Inbox)
	if int(st.Messages) != len(uids) || st.UIDNext <= uids[len(uids)-1] {
		t.Fatalf("status %+v after the kill, UIDs %d..%d", st, uids[0], uids[len(uids)-1])
	}
}
