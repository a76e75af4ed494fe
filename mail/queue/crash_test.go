package queue_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/shoal-p2p/shoal/mail/dkim"
	"github.com/shoal-p2p/shoal/mail/internal/mailtest"
	"github.com/shoal-p2p/shoal/mail/queue"
	"github.com/shoal-p2p/shoal/mail/smtpd"
	"github.com/shoal-p2p/shoal/storage"
)

const crashChildEnv = "SHOAL_QUEUE_CRASH_CHILD"

// crashChild runs in a child process: a submission server whose queue is
// on the database named by the environment, without delivery. It prints
// its address and serves until it is killed.
func crashChild() {
	fail := func(err error) {
		fmt.Println("error", err)
		os.Exit(2)
	}
	db, err := storage.Open(os.Getenv(crashChildEnv))
	if err != nil {
		fail(err)
	}
	boxes := mailtest.NewMailboxes(map[string]string{"alice": "alice-pw"})
	q, err := queue.Open(db, queue.Options{Domain: "alice.shoal", Resolver: mailtest.NetipResolver{Resolver: net.DefaultResolver}, Mailboxes: boxes})
	if err != nil {
		fail(err)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := dkim.NewSigner("alice.shoal", priv)
	s, err := smtpd.NewSubmission(smtpd.SubmissionOptions{Domain: "alice.shoal", Mailboxes: boxes, Outbox: q, Signer: signer, InsecureAuth: true})
	if err != nil {
		fail(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	fmt.Println("listening", ln.Addr())
	s.Serve(context.Background(), ln)
	os.Exit(0)
}

// TestQueuedMailSurvivesKill: once the submission server answered 250, the
// message is in the queue even if the process is killed (SIGKILL) at once.
func TestQueuedMailSurvivesKill(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "shoal.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dbPath)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "listening ") {
		t.Fatalf("child said %q, %v", line, err)
	}
	addr := strings.TrimSpace(strings.TrimPrefix(line, "listening "))

	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "alice", "alice-pw")); err != nil {
		t.Fatal(err)
	}
	const n = 3
	for i := range n {
		msg := fmt.Sprintf("From: alice@alice.shoal\r\nSubject: durable %d\r\n\r\nkeep me\r\n", i)
		if err := c.SendMail("alice@alice.shoal", []string{"bob@bob.shoal"}, bytes.NewReader([]byte(msg))); err != nil {
			t.Fatal(err)
		}
	}
	// Killed right after the last 250: no chance to flush anything.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	var db *storage.DB
	mailtest.Eventually(t, 5*time.Second, func() bool {
		db, err = storage.Open(dbPath)
		return err == nil
	}, "database does not open after the kill: %v", err)
	defer db.Close()
	q, err := queue.Open(db, queue.Options{Domain: "alice.shoal", Resolver: mailtest.NetipResolver{Resolver: net.DefaultResolver}, Mailboxes: mailtest.NewMailboxes(nil)})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := q.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != n {
		t.Fatalf("%d messages survived the kill, want %d", len(ms), n)
	}
	for i, m := range ms {
		raw, err := q.Body(m.ID)
		if err != nil || m.Recipients[0].Address != "bob@bob.shoal" || !bytes.Contains(raw, []byte(fmt.Sprintf("Subject: durable %d", i))) {
			t.Fatalf("message %d after the kill: %+v, %v", i, m, err)
		}
	}
}
