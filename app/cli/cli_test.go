package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-p2p/shoal/node"
	"github.com/shoal-p2p/shoal/storage"
)

// shoal runs the command line in-process.
func shoal(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// freePorts are the flags that put every service of a node on a free port.
var freePorts = []string{"--peer-port", "0", "--bittorrent-port", "0", "--dns-port", "0",
	"--smtp-port", "0", "--submission-port", "0", "--imap-port", "0", "--pop3-port", "0", "--proxy-port", "0"}

// startCLINode runs 'shoal node' in the background until the test ends.
func startCLINode(t *testing.T, dir string, extra ...string) *bytes.Buffer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan int)
	args := append([]string{"node", "--data", dir, "--ui", "127.0.0.1:0"}, append(freePorts, extra...)...)
	go func() { done <- Run(ctx, args, &out, &out) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("shoal node exited %d: %s", code, out.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "/login?code=") {
		if time.Now().After(deadline) {
			t.Fatalf("node did not print a login link: %s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &out.Buffer
}

func TestCLIAgainstARunningNode(t *testing.T) {
	dir := t.TempDir()
	startCLINode(t, dir, "--name", "cli-test")

	code, out, errOut := shoal(t, "status", "--data", dir)
	if code != 0 || !strings.Contains(out, "cli-test") || !strings.Contains(out, "127.0.0.1:") {
		t.Fatalf("status: %d %q %q", code, out, errOut)
	}
	code, out, _ = shoal(t, "status", "--json", "--data", dir)
	var s node.Status
	if code != 0 || json.Unmarshal([]byte(out), &s) != nil || s.Name != "cli-test" || len(s.ID) != 32 {
		t.Fatalf("status --json: %d %q", code, out)
	}

	code, out, _ = shoal(t, "login", "--data", dir)
	if code != 0 || !strings.HasPrefix(out, "http://127.0.0.1:") || !strings.Contains(out, "/login?code=") {
		t.Errorf("login: %d %q", code, out)
	}

	// Flags after the argument; the node is running, so the API makes the copy.
	file := filepath.Join(t.TempDir(), "backup.db")
	code, out, errOut = shoal(t, "backup", file, "--data", dir)
	if code != 0 || !strings.Contains(out, "wrote") {
		t.Fatalf("backup: %d %q %q", code, out, errOut)
	}
	db, err := storage.Open(file)
	if err != nil {
		t.Fatalf("backup does not open: %v", err)
	}
	if v, _ := db.SchemaVersion("node"); v < 1 {
		t.Errorf("backup schema version %d", v)
	}
	db.Close()
	if code, _, errOut = shoal(t, "backup", file, "--data", dir); code != 1 || !strings.Contains(errOut, "exists") {
		t.Errorf("backup over an existing file: %d %q", code, errOut)
	}

	// A second node on the same data dir fails at once with one sentence.
	code, _, errOut = shoal(t, "node", "--data", dir, "--ui", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errOut, "in use") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("second node: %d %q", code, errOut)
	}
}

func TestCLIUsageErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"status", "--no-such-flag"}, 2, "no-such-flag"},
		{[]string{"backup"}, 2, "missing <file>"},
		{[]string{"version", "extra"}, 2, "unexpected argument extra"},
		{[]string{"status", "--data", dir}, 1, "no node"},
		{[]string{"node", "--data", dir, "--bind", "nonsense", "--ui", "127.0.0.1:0"}, 1, "bind"},
	}
	for _, c := range cases {
		code, _, errOut := shoal(t, c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("shoal %v: exit %d, stderr %q; want %d and %q in one line", c.args, code, errOut, c.code, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, node.IdentityFile)); err == nil {
		t.Error("a rejected start created an identity")
	}
	code, out, _ := shoal(t, "version")
	if code != 0 || !strings.Contains(out, node.Version) {
		t.Errorf("version: %d %q", code, out)
	}
	code, out, _ = shoal(t, "help")
	if code != 0 || !strings.Contains(out, "backup <file>") || !strings.Contains(out, "--data") {
		t.Errorf("help: %d %q", code, out)
	}
}

func TestBackupWithoutARunningNode(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan int)
	go func() {
		done <- Run(ctx, append([]string{"node", "--data", dir, "--ui", "127.0.0.1:0"}, freePorts...), &out, &out)
	}()
	for !strings.Contains(out.String(), "login?code=") {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	file := filepath.Join(t.TempDir(), "offline.db")
	if code, o, e := shoal(t, "backup", "--data", dir, file); code != 0 {
		t.Fatalf("offline backup: %d %q %q", code, o, e)
	}
	if fi, err := os.Stat(file); err != nil || fi.Size() == 0 {
		t.Errorf("offline backup file: %v", err)
	}
}

// publish on one node, then get on another with only the .torrent file
// (its tracker finds the seeder); a .torrent that does not parse is
// refused and adds nothing.
func TestCLIGetByTorrentFile(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	startCLINode(t, a, "--bind", "127.0.0.2", "--name", "seeder")
	startCLINode(t, b, "--bind", "127.0.0.3", "--name", "fetcher")

	data := bytes.Repeat([]byte("shoal "), 200_000)
	src := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(src, data, 0o600)
	code, out, errOut := shoal(t, "publish", src, "--data", a)
	if code != 0 {
		t.Fatalf("publish: %d %q", code, errOut)
	}
	var ih string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "infohash" {
			ih = f[1]
		}
	}
	code, out, _ = shoal(t, "status", "--json", "--data", a)
	var s node.Status
	if code != 0 || json.Unmarshal([]byte(out), &s) != nil || ih == "" {
		t.Fatalf("status: %d %q; infohash %q", code, out, ih)
	}
	var peer string
	for _, svc := range s.Services {
		if svc.Name == "peer" {
			peer = svc.Address
		}
	}
	resp, err := http.Get("http://" + peer + "/cdn/" + ih + ".torrent")
	if err != nil {
		t.Fatal(err)
	}
	mi, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET the .torrent: %d %v", resp.StatusCode, err)
	}
	torrentFile := filepath.Join(t.TempDir(), "notes.torrent")
	os.WriteFile(torrentFile, mi, 0o600)

	bad := filepath.Join(t.TempDir(), "bad.torrent")
	os.WriteFile(bad, []byte("d8:announce"), 0o600)
	if code, _, errOut := shoal(t, "get", bad, "--data", b); code != 1 || !strings.Contains(errOut, "not a .torrent file") {
		t.Errorf("get a broken .torrent: %d %q", code, errOut)
	}
	if code, _, errOut := shoal(t, "get", filepath.Join(t.TempDir(), "missing.torrent"), "--data", b); code != 1 || !strings.Contains(errOut, "cannot read") {
		t.Errorf("get a missing .torrent: %d %q", code, errOut)
	}
	if code, out, _ := shoal(t, "ls", "--json", "--data", b); code != 0 || strings.Contains(out, "infohash") {
		t.Errorf("after refused .torrent files the node lists items: %d %q", code, out)
	}

	dst := t.TempDir()
	code, out, errOut = shoal(t, "get", torrentFile, "--data", b, "--out", dst)
	if code != 0 || !strings.Contains(out, "complete "+ih) {
		t.Fatalf("get by .torrent: %d %q %q", code, out, errOut)
	}
	if got, err := os.ReadFile(filepath.Join(dst, "notes.txt")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("fetched bytes differ (%v)", err)
	}
	// A magnet whose name ends in .torrent is a magnet, not a file to read.
	magnet := "magnet:?xt=urn:btih:" + ih + "&dn=notes.torrent"
	if code, out, errOut := shoal(t, "get", magnet, "--data", b, "--out", dst); code != 0 || !strings.Contains(out, "complete "+ih) {
		t.Errorf("get a magnet named *.torrent: %d %q %q", code, out, errOut)
	}
}
