package node

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/miekg/dns"

	"github.com/shoal-p2p/shoal/mail/dkim"
)

// shoalBinary is the shoal command for process tests: $SHOAL_BIN when set
// (a build made once for the whole run), else one built here.
func shoalBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("SHOAL_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "shoal")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-tags", "migrated_fynedo", "-o", bin, "..").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// nodeProcess is `shoal node` run as a process of its own, as a user runs it.
type nodeProcess struct {
	t        *testing.T
	bin, dir string
	args     []string
	cmd      *exec.Cmd
	exited   chan struct{}
	log      string // the output of the latest start
	starts   int
}

// startNodeProcess runs `shoal node` on dir and bind with free ports and
// waits until it serves mail; it is stopped when the test ends.
func startNodeProcess(t *testing.T, bin, dir, name, bind string, extra ...string) *nodeProcess {
	t.Helper()
	args := []string{"node", "--data", dir, "--name", name, "--bind", bind, "--ui", bind + ":0"}
	for _, p := range []string{"peer", "bittorrent", "dns", "smtp", "submission", "imap", "pop3"} {
		args = append(args, "--"+p+"-port=0")
	}
	p := &nodeProcess{t: t, bin: bin, dir: dir, args: append(args, extra...)}
	t.Cleanup(p.stop)
	p.start()
	return p
}

// start starts the process on its data dir and waits until `shoal status`
// lists its IMAP server.
func (p *nodeProcess) start() {
	t := p.t
	t.Helper()
	p.starts++
	p.log = fmt.Sprintf("%s.%d.log", p.dir, p.starts)
	out, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	p.cmd, p.exited = cmd, exited
	deadline := time.Now().Add(mailWait)
	for {
		select {
		case <-exited:
			t.Fatalf("shoal node exited: %v\n%s", cmd.ProcessState, p.output())
		default:
		}
		if _, ok := p.services()["imap"]; ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("shoal node did not serve mail in %v:\n%s", mailWait, p.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// services are the addresses `shoal status --json` gives, by service name;
// nil while the node does not answer.
func (p *nodeProcess) services() map[string]string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, p.bin, "status", "--data", p.dir, "--json").Output()
	if err != nil {
		return nil
	}
	var st struct {
		Services []struct{ Name, Address string }
	}
	if json.Unmarshal(out, &st) != nil {
		return nil
	}
	m := map[string]string{}
	for _, s := range st.Services {
		m[s.Name] = s.Address
	}
	return m
}

func (p *nodeProcess) output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// signal sends sig and waits for the process to end, SIGKILL after wait.
func (p *nodeProcess) signal(sig syscall.Signal, wait time.Duration) {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
		return
	case <-time.After(wait):
	}
	p.cmd.Process.Kill()
	select {
	case <-p.exited:
	case <-time.After(mailWait):
		p.t.Errorf("shoal node pid %d did not end", p.cmd.Process.Pid)
	}
}

func (p *nodeProcess) kill() { p.signal(syscall.SIGKILL, mailWait) }
func (p *nodeProcess) stop() { p.signal(syscall.SIGTERM, 10*time.Second) }

// TestMailSurvivesKillAfter250: ann (in this process) relays a signed
// message to ben (a shoal process); ben is killed with SIGKILL as soon as
// it has answered 250 to the DATA, restarted on its data dir, and its
// user finds the message in INBOX exactly once. Then the same for a
// submission from another user of ben (INBOX and Sent, once each).
func TestMailSurvivesKillAfter250(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the shoal binary")
	}
	bin := shoalBinary(t)
	ann := startMailMember(t, "ann", "127.0.0.2", "alice", nil)
	dir := filepath.Join(t.TempDir(), "ben")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte("[mail]\nuser = \"bob\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ben := startNodeProcess(t, bin, dir, "ben", "127.0.0.5", "--join", ann.CDN().PeerAddr())
	pw := regexp.MustCompile(`bob@ben\.shoal, password (\S+)`).FindStringSubmatch(ben.output())
	if pw == nil {
		t.Fatalf("the first start printed no password:\n%s", ben.output())
	}
	svc := ben.services()
	waitFor(t, "ben to resolve ann's DKIM key", func() bool {
		q := new(dns.Msg)
		q.SetQuestion(dns.Fqdn(dkim.RecordName(ann.Mail().Domain)), dns.TypeTXT)
		c := &dns.Client{Timeout: 2 * time.Second}
		in, _, err := c.Exchange(q, svc["dns"])
		return err == nil && len(in.Answer) > 0
	})

	signer, err := dkim.NewSigner(ann.Mail().Domain, ann.Identity().PrivateKey())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := signer.Sign([]byte("From: " + ann.address() + "\r\nTo: bob@ben.shoal\r\nSubject: before-the-kill\r\n" +
		"Message-ID: <kill@ann.shoal>\r\n\r\nCommitted before the 250.\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := dialSMTP(t, svc["smtp"], false)
	if err := c.Mail(ann.address(), nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("bob@ben.shoal", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write(raw)
	if err := w.Close(); err != nil { // returns once the 250 is read
		t.Fatalf("DATA: %v\n%s", err, ben.output())
	}
	ben.killAfter250(t)
	ben.start()
	msgs := imapMessages(t, ben.services()["imap"], "bob", pw[1], "INBOX")
	if n := withSubject(msgs, "before-the-kill"); n != 1 {
		t.Fatalf("bob's INBOX holds %d copies after the restart, want 1", n)
	}

	// The same for a submission between two users of ben: straight into
	// INBOX, and a copy into Sent, both before the 250.
	const carolPass = "carol's password"
	add := exec.Command(bin, "mail", "user", "add", "carol", "--password-stdin", "--data", dir)
	add.Stdin = strings.NewReader(carolPass + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("shoal mail user add carol: %v\n%s", err, out)
	}
	sub := dialSMTP(t, ben.services()["submission"], true)
	if err := sub.Auth(sasl.NewPlainClient("", "carol", carolPass)); err != nil {
		t.Fatal(err)
	}
	msg := "From: carol@ben.shoal\r\nTo: bob@ben.shoal\r\nSubject: local-before-the-kill\r\n\r\nNext door.\r\n"
	if err := sub.SendMail("carol@ben.shoal", []string{"bob@ben.shoal"}, strings.NewReader(msg)); err != nil {
		t.Fatalf("submission: %v\n%s", err, ben.output())
	}
	ben.killAfter250(t)
	ben.start()
	imap := ben.services()["imap"]
	if n := withSubject(imapMessages(t, imap, "bob", pw[1], "INBOX"), "local-before-the-kill"); n != 1 {
		t.Errorf("bob's INBOX holds %d copies after the restart, want 1", n)
	}
	if n := withSubject(imapMessages(t, imap, "carol", carolPass, "Sent"), "local-before-the-kill"); n != 1 {
		t.Errorf("carol's Sent holds %d copies after the restart, want 1", n)
	}
}

// killAfter250 ends the node with SIGKILL at once (the caller has just read
// a 250) and checks that SIGKILL is what ended it.
func (p *nodeProcess) killAfter250(t *testing.T) {
	t.Helper()
	p.kill()
	if ws := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the node ended with %v, not by SIGKILL", p.cmd.ProcessState)
	}
}
