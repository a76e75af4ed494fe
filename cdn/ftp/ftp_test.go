package ftp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// staticLibrary is a library of fixed items on disk.
type staticLibrary []Item

func (l staticLibrary) Items(context.Context) ([]Item, error) { return l, nil }

type users map[string]string

func (u users) Authenticate(_ context.Context, user, pass string) error {
	if p, ok := u[user]; ok && p == pass {
		return nil
	}
	return errors.New("wrong password")
}

type countThrottle struct {
	mu    sync.Mutex
	fails int
}

func (c *countThrottle) Failed(string) (time.Duration, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fails++
	return time.Millisecond, c.fails
}
func (c *countThrottle) Succeeded(string) {}

type fixture struct {
	addr     string
	big      []byte // the single-file item's content
	secret   string // a file beside the published folder
	throttle *countThrottle
}

func start(t *testing.T, opts Options) *fixture {
	t.Helper()
	dir := t.TempDir()
	site := filepath.Join(dir, "site")
	must(t, os.MkdirAll(filepath.Join(site, "css"), 0o755))
	must(t, os.WriteFile(filepath.Join(site, "index.html"), []byte("<h1>hello</h1>\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(site, "css", "a.css"), []byte("h1{}\n"), 0o644))
	// Added after publishing, and a link out of the folder: neither is served.
	must(t, os.WriteFile(filepath.Join(site, "later.txt"), []byte("not published\n"), 0o644))
	secret := filepath.Join(dir, "secret.txt")
	must(t, os.WriteFile(secret, []byte("secret\n"), 0o644))
	must(t, os.Symlink(secret, filepath.Join(site, "link.txt")))
	big := make([]byte, 3<<20+17)
	rand.Read(big)
	bigPath := filepath.Join(dir, "movie.bin")
	must(t, os.WriteFile(bigPath, big, 0o644))
	when := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	opts.Library = staticLibrary{
		{Name: "site", InfoHash: "aaaaaaaa11", Path: site, Folder: true, Time: when,
			Files: []File{{"index.html", 15}, {"css/a.css", 5}, {"link.txt", 7}}},
		{Name: "movie.bin", InfoHash: "bbbbbbbb22", Path: bigPath, Time: when,
			Files: []File{{"movie.bin", int64(len(big))}}},
	}
	if opts.Auth == nil {
		opts.Auth = users{"alice": "correct horse"}
	}
	th := &countThrottle{}
	opts.Throttle = th
	srv, err := New(opts)
	must(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return")
		}
	})
	return &fixture{addr: ln.Addr().String(), big: big, secret: "secret", throttle: th}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func curl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, "curl", append([]string{"-sS", "--max-time", "20"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%v: %s", err, errb.String())
	}
	return out.String(), nil
}

func TestCurlListGetResume(t *testing.T) {
	f := start(t, Options{})
	base := "ftp://alice:correct%20horse@" + f.addr
	got, err := curl(t, base+"/")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "site") || !strings.Contains(got, "movie.bin") {
		t.Errorf("root listing:\n%s", got)
	}
	names, err := curl(t, "--list-only", base+"/site/")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Fields(names) == nil || strings.Join(strings.Fields(names), " ") != "css index.html link.txt" {
		t.Errorf("site listing %q", names)
	}
	page, err := curl(t, base+"/site/index.html")
	if err != nil || page != "<h1>hello</h1>\n" {
		t.Errorf("index.html: %q %v", page, err)
	}
	// The whole big file, over EPSV (curl's default) and over PASV.
	for _, mode := range [][]string{nil, {"--disable-epsv"}} {
		out := filepath.Join(t.TempDir(), "movie.bin")
		if _, err := curl(t, append(mode, "-o", out, base+"/movie.bin/movie.bin")...); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(out); !bytes.Equal(b, f.big) {
			t.Fatalf("%v: got %d bytes, want the %d published", mode, len(b), len(f.big))
		}
	}
	// Resume (REST): half is there already.
	out := filepath.Join(t.TempDir(), "part")
	must(t, os.WriteFile(out, f.big[:len(f.big)/2], 0o644))
	if _, err := curl(t, "-C", "-", "-o", out, base+"/movie.bin/movie.bin"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); !bytes.Equal(b, f.big) {
		t.Fatalf("resumed: %d bytes, not the published file", len(b))
	}
	// SIZE and MDTM (curl asks for them with -I).
	head, err := curl(t, "-I", base+"/movie.bin/movie.bin")
	if err != nil || !strings.Contains(head, fmt.Sprintf("Content-Length: %d", len(f.big))) || !strings.Contains(head, "30 Nov 2026") {
		t.Errorf("SIZE/MDTM: %q %v", head, err)
	}
}

func TestRefused(t *testing.T) {
	f := start(t, Options{})
	base := "ftp://alice:correct%20horse@" + f.addr
	src := filepath.Join(t.TempDir(), "up.txt")
	must(t, os.WriteFile(src, []byte("upload"), 0o644))
	cases := []struct {
		name string
		args []string
		want string // in curl's error
	}{
		{"upload", []string{"-T", src, base + "/site/up.txt"}, "550"},
		{"upload to the root", []string{"-T", src, base + "/up.txt"}, "550"},
		{"mkdir", []string{"--ftp-create-dirs", "-T", src, base + "/new/up.txt"}, ""},
		{"delete", []string{"-Q", "DELE /site/index.html", base + "/"}, "550"},
		{"traversal", []string{base + "/site/../../../../etc/passwd"}, ""},
		{"traversal escaped", []string{base + "/site/%2e%2e/%2e%2e/secret.txt"}, ""},
		{"a file added later", []string{base + "/site/later.txt"}, ""},
		{"a link out of the folder", []string{base + "/site/link.txt"}, ""},
		{"wrong password", []string{"ftp://alice:wrong@" + f.addr + "/"}, "530"},
		{"anonymous while off", []string{"ftp://" + f.addr + "/"}, "530"},
	}
	for _, c := range cases {
		out, err := curl(t, c.args...)
		if err == nil {
			t.Errorf("%s: allowed, got %q", c.name, out)
			continue
		}
		t.Logf("%s: %v", c.name, err)
		if c.want != "" && !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %s", c.name, err, c.want)
		}
		if strings.Contains(out, f.secret) || strings.Contains(out, "not published") {
			t.Errorf("%s: leaked %q", c.name, out)
		}
	}
	if f.throttle.fails < 2 {
		t.Errorf("%d failed logins throttled, want 2", f.throttle.fails)
	}
	// Nothing was written.
	if _, err := curl(t, base+"/site/up.txt"); err == nil {
		t.Error("the upload is there")
	}
}

// Active mode is off: PORT and EPRT, to this host or another, are refused
// on the control connection, before any data connection is made.
func TestActiveModeRefused(t *testing.T) {
	f := start(t, Options{})
	c, err := net.DialTimeout("tcp", f.addr, 5*time.Second)
	must(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	reply := func(cmd string) string {
		t.Helper()
		if cmd != "" {
			fmt.Fprintf(c, "%s\r\n", cmd)
		}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("%s: %v", cmd, err)
			}
			if len(line) >= 4 && line[3] == ' ' {
				return strings.TrimSpace(line)
			}
		}
	}
	reply("")
	if got := reply("USER alice"); !strings.HasPrefix(got, "331") {
		t.Fatalf("USER: %s", got)
	}
	if got := reply("PASS correct horse"); !strings.HasPrefix(got, "230") {
		t.Fatalf("PASS: %s", got)
	}
	for _, cmd := range []string{"PORT 127,0,0,1,200,10", "PORT 10,1,2,3,200,10", "EPRT |1|127.0.0.1|51210|", "EPRT |1|10.1.2.3|51210|"} {
		// ftpserverlib answers a disabled command 421.
		if got := reply(cmd); got[0] != '5' && !strings.HasPrefix(got, "421") {
			t.Errorf("%s: %s", cmd, got)
		}
	}
	if got := reply("STOR x"); got[0] != '4' && got[0] != '5' {
		t.Errorf("STOR without a data connection: %s", got)
	}

	// A passive data connection from another address than the control
	// connection's gets nothing.
	got := reply("EPSV")
	var port int
	if _, err := fmt.Sscanf(got[strings.Index(got, "(|||"):], "(|||%d|)", &port); err != nil {
		t.Fatalf("EPSV: %s", got)
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	data, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	must(t, err)
	defer data.Close()
	fmt.Fprintf(c, "RETR site/index.html\r\n")
	data.SetReadDeadline(time.Now().Add(2 * time.Second))
	if b, _ := io.ReadAll(data); len(b) != 0 {
		t.Errorf("a data connection from 127.0.0.2 got %q", b)
	}
}

func TestAnonymous(t *testing.T) {
	f := start(t, Options{Anonymous: true})
	got, err := curl(t, "ftp://"+f.addr+"/site/css/a.css")
	if err != nil || got != "h1{}\n" {
		t.Fatalf("anonymous get: %q %v", got, err)
	}
}

func TestAuthTLS(t *testing.T) {
	f := start(t, Options{TLS: selfSigned(t)})
	got, err := curl(t, "--ssl-reqd", "-k", "ftp://alice:correct%20horse@"+f.addr+"/site/index.html")
	if err != nil || got != "<h1>hello</h1>\n" {
		t.Fatalf("over AUTH TLS: %q %v", got, err)
	}
}

func TestLftpMirror(t *testing.T) {
	if _, err := exec.LookPath("lftp"); err != nil {
		t.Skip("lftp is not installed")
	}
	f := start(t, Options{})
	dst := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	script := fmt.Sprintf("set net:max-retries 1; set net:timeout 10; set ftp:ssl-allow no; open -u alice,'correct horse' ftp://%s; mirror site %s/site; get movie.bin/movie.bin -o %s/movie.bin; put /etc/hostname -o site/x; bye", f.addr, dst, dst)
	out, err := exec.CommandContext(ctx, "lftp", "-c", script).CombinedOutput()
	if err == nil {
		t.Errorf("lftp put succeeded:\n%s", out)
	}
	if !strings.Contains(string(out), "550") {
		t.Errorf("lftp put not refused with 550:\n%s", out)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "site", "css", "a.css")); string(b) != "h1{}\n" {
		t.Errorf("mirrored css %q:\n%s", b, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "movie.bin")); !bytes.Equal(b, f.big) {
		t.Errorf("lftp get: %d bytes:\n%s", len(b), out)
	}
}

func TestNewRefusesBadPorts(t *testing.T) {
	for _, p := range [][2]int{{0, 10}, {20, 10}, {1, 70000}} {
		if _, err := New(Options{Library: staticLibrary{}, PassivePorts: p}); err == nil {
			t.Errorf("ports %v accepted", p)
		}
	}
	if _, err := New(Options{}); err == nil {
		t.Error("no library accepted")
	}
}

func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test.shoal"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}
