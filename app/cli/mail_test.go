package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// shoalIn runs the command line in-process with stdin as standard input.
func shoalIn(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code = run(ctx, args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// TestCLIMailSendWithAttachments sends a message with two attachments to
// a second user of a running node, lists it with the attachment mark and
// reads it as stored; a missing or too large file sends nothing.
func TestCLIMailSendWithAttachments(t *testing.T) {
	dir := t.TempDir()
	startCLINode(t, dir, "--name", "clmail")
	if code, out, errOut := shoalIn(t, "", "mail", "user", "add", "bob", "--data", dir); code != 0 || !strings.Contains(out, "bob@clmail.shoal") {
		t.Fatalf("user add: %d %q %q", code, out, errOut)
	}
	files := t.TempDir()
	notes, pic := filepath.Join(files, "notes.txt"), filepath.Join(files, "pic.png")
	os.WriteFile(notes, []byte("first line\nsecond line\n"), 0o644)
	os.WriteFile(pic, []byte("\x89PNG\r\n\x1a\nnot really"), 0o644)

	// Bad input first: nothing is sent.
	code, _, errOut := shoalIn(t, "body", "mail", "send", "--to", "bob@clmail.shoal", "--attach", filepath.Join(files, "missing"), "--data", dir)
	if code != 1 || !strings.Contains(errOut, "missing") {
		t.Errorf("a missing attachment: %d %q", code, errOut)
	}
	big := filepath.Join(files, "big.bin")
	if err := os.WriteFile(big, make([]byte, maxAttachBytes+1), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = shoalIn(t, "body", "mail", "send", "--to", "bob@clmail.shoal", "--attach", big, "--data", dir)
	if code != 1 || !strings.Contains(errOut, "MiB") {
		t.Errorf("too large an attachment: %d %q", code, errOut)
	}
	if code, out, _ := shoalIn(t, "", "mail", "ls", "--user", "bob", "--data", dir); code != 0 || strings.Count(out, "\n") != 1 {
		t.Fatalf("bob's INBOX after bad input: %d %q", code, out)
	}

	code, out, errOut := shoalIn(t, "Here are the notes.\nAnd a picture.\n", "mail", "send", "--to", "bob@clmail.shoal",
		"--subject", "Two files", "--attach", notes, "--attach", pic, "--data", dir)
	if code != 0 || !strings.Contains(out, "sent to bob@clmail.shoal") {
		t.Fatalf("send: %d %q %q", code, out, errOut)
	}
	code, out, _ = shoalIn(t, "", "mail", "ls", "--unread", "--user", "bob", "--data", dir)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.Contains(lines[1], "*@") || !strings.Contains(lines[1], "Two files") {
		t.Fatalf("ls: %d %q", code, out)
	}
	id := strings.Fields(lines[1])[0]
	code, out, _ = shoalIn(t, "", "mail", "read", id, "--user", "bob", "--data", dir)
	for _, want := range []string{"Subject: Two files", "multipart/mixed", `filename=notes.txt`, `filename=pic.png`,
		"Content-Type: image/png", "Here are the notes.", "DKIM-Signature"} {
		if !strings.Contains(out, want) {
			t.Errorf("read: no %q in\n%s", want, out)
		}
	}
	if code != 0 {
		t.Errorf("read: %d", code)
	}
}
