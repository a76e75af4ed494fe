package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A folder published on alpha and a file alpha fetched from beta are both
// in alpha's FTP library; a mail user logs in with their password, over
// AUTH TLS with the node's certificate too; writes are refused; the port
// is in alpha's node record.
func TestFTPServesTheLibrary(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	a := startMember(t, "alpha", "127.0.0.2")
	b := startMember(t, "beta", "127.0.0.3", a.CDN().PeerAddr())
	waitFor(t, "the two nodes to see each other", func() bool { return aliveMembers(a) == 2 && aliveMembers(b) == 2 })

	site := filepath.Join(t.TempDir(), "site")
	os.MkdirAll(filepath.Join(site, "img"), 0o755)
	os.WriteFile(filepath.Join(site, "index.html"), []byte("<p>hi</p>"), 0o644)
	pic := make([]byte, 1<<20+3)
	rand.Read(pic)
	os.WriteFile(filepath.Join(site, "img", "p.bin"), pic, 0o644)
	if _, err := a.Publish(context.Background(), site, "", nil); err != nil {
		t.Fatal(err)
	}
	film := make([]byte, 2<<20+5)
	rand.Read(film)
	src := filepath.Join(t.TempDir(), "film.bin")
	os.WriteFile(src, film, 0o644)
	it, err := b.Publish(context.Background(), src, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	fetch(t, a, it.Magnet)

	self, _ := a.CDN().Members.Member(a.Identity().ID())
	port := self.Record.Ports["ftp"]
	if port == 0 {
		t.Fatalf("no ftp port in the node record: %v", self.Record.Ports)
	}
	user := a.Mail().FirstUser
	pw := a.Mail().FirstPassword
	base := fmt.Sprintf("ftp://%s:%s@127.0.0.2:%d", user, strings.ReplaceAll(pw, " ", "%20"), port)
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "curl", append([]string{"-sS", "--max-time", "20"}, args...)...).Output()
		return string(out), err
	}
	list, err := run("--list-only", base+"/")
	if err != nil || strings.Join(strings.Fields(list), " ") != "film.bin site" {
		t.Fatalf("root: %q %v", list, err)
	}
	got, err := run(base + "/site/img/p.bin")
	if err != nil || !bytes.Equal([]byte(got), pic) {
		t.Errorf("site/img/p.bin: %d bytes, %v", len(got), err)
	}
	got, err = run("--ssl-reqd", "-k", base+"/film.bin/film.bin")
	if err != nil || !bytes.Equal([]byte(got), film) {
		t.Errorf("film.bin over TLS: %d bytes, %v", len(got), err)
	}
	up := filepath.Join(t.TempDir(), "up")
	os.WriteFile(up, []byte("x"), 0o644)
	if _, err := run("-T", up, base+"/site/up"); err == nil {
		t.Error("an upload was accepted")
	}
	if _, err := os.Stat(filepath.Join(site, "up")); err == nil {
		t.Error("the upload is in the published folder")
	}
	if _, err := run(fmt.Sprintf("ftp://%s:wrong@127.0.0.2:%d/", user, port)); err == nil {
		t.Error("a wrong password got in")
	}
}
