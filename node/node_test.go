package node

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"

	"github.com/shoal-p2p/shoal/storage"
)

// testOptions starts a node on free ports in dir.
func testOptions(dir string) Options {
	return Options{DataDir: dir, MailPasswordCost: bcrypt.MinCost, Override: func(c *Config) {
		c.UI.Address = "127.0.0.1:0"
		c.Ports = Ports{}
		c.DNS.Upstreams = []string{"127.0.0.1:1"} // tests never ask a real resolver
	}}
}

func startNode(t *testing.T, dir string) *Node {
	t.Helper()
	n, err := Start(context.Background(), testOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func TestLifecycleKeepsIdentityAndConfig(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()

	n, err := Start(context.Background(), testOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	first := n.Status()
	if first.ID == "" || len(first.ID) != 32 || first.Version != Version {
		t.Errorf("status = %+v", first)
	}
	if _, err := n.SaveSettings(withName(n.Config(), "renamed")); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, UIAddressFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ui-address left behind after Close: %v", err)
	}
	for _, f := range []string{IdentityFile, TokenFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want 0600", f, err, fi.Mode().Perm())
		}
	}

	n, err = Start(context.Background(), testOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	second := n.Status()
	if second.ID != first.ID {
		t.Errorf("id changed across restart: %s -> %s", first.ID, second.ID)
	}
	if second.Name != "renamed" {
		t.Errorf("name after restart = %q, want the saved one", second.Name)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
}

func withName(c Config, name string) Config { c.Name = name; return c }

func TestSecondNodeOnOneDataDirFails(t *testing.T) {
	dir := t.TempDir()
	startNode(t, dir)
	before, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
	_, err := Start(context.Background(), testOptions(dir))
	if !errors.Is(err, storage.ErrLocked) {
		t.Fatalf("second Start: %v, want ErrLocked", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
	if string(before) != string(after) {
		t.Error("the failed start changed shoal.toml")
	}
}

func TestTakenPortIsNamed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = Start(context.Background(), Options{DataDir: t.TempDir(), Override: func(c *Config) {
		c.UI.Address = ln.Addr().String()
	}})
	if err == nil || !strings.Contains(err.Error(), ln.Addr().String()) || !strings.Contains(err.Error(), "--ui") {
		t.Fatalf("err = %v; want it to name the port and the --ui flag", err)
	}
}

func TestBrokenConfigNamesFileAndLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ConfigFile)
	broken := "name = \"a\"\nnetwork = \"shoal\"\nbind = 127.0.0.1\n"
	os.WriteFile(path, []byte(broken), 0o600)
	_, err := Start(context.Background(), testOptions(dir))
	if err == nil || !strings.Contains(err.Error(), path+":3") {
		t.Fatalf("err = %v; want %s:3", err, path)
	}
	if got, _ := os.ReadFile(path); string(got) != broken {
		t.Error("the broken config was rewritten")
	}
	if _, err := os.Stat(filepath.Join(dir, IdentityFile)); !errors.Is(err, os.ErrNotExist) {
		t.Error("a failed start created an identity")
	}

	os.WriteFile(path, []byte("name = \"a\"\nnaem = \"typo\"\n"), 0o600)
	if _, err := Start(context.Background(), testOptions(dir)); err == nil || !strings.Contains(err.Error(), `"naem"`) {
		t.Errorf("unknown key: err = %v", err)
	}
	os.WriteFile(path, []byte("name = \"Not A Label!\"\n"), 0o600)
	if _, err := Start(context.Background(), testOptions(dir)); err == nil || !strings.Contains(err.Error(), "DNS label") {
		t.Errorf("bad name: err = %v", err)
	}
}

func TestDefaultConfigIsWrittenWithCommentsAndReadsBack(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	raw, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "# ") {
		t.Error("shoal.toml has no comments")
	}
	cfg, created, err := LoadConfig(filepath.Join(dir, ConfigFile))
	if err != nil || created {
		t.Fatalf("LoadConfig: %v created=%v", err, created)
	}
	if cfg.Name != n.Config().Name || cfg.UI.Address != "127.0.0.1:0" {
		t.Errorf("read back %+v", cfg)
	}
}

func TestDataDirThatCannotBeMade(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	_, err := Start(context.Background(), testOptions(filepath.Join(file, "data")))
	if err == nil || !strings.Contains(err.Error(), "data dir") {
		t.Fatalf("err = %v", err)
	}
	if os.Geteuid() == 0 {
		return // root writes anywhere; the read-only case cannot be made
	}
	ro := filepath.Join(t.TempDir(), "ro")
	os.Mkdir(ro, 0o500)
	_, err = Start(context.Background(), testOptions(ro))
	if err == nil || !strings.Contains(err.Error(), "not writable") {
		t.Fatalf("read-only dir: err = %v", err)
	}
}

func TestIdentityRejectsGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), IdentityFile)
	os.WriteFile(path, []byte("not a key"), 0o600)
	if _, err := LoadOrCreateIdentity(path); err == nil {
		t.Fatal("garbage accepted as identity")
	}
	if got, _ := os.ReadFile(path); string(got) != "not a key" {
		t.Error("garbage identity overwritten")
	}
}

func TestBusKeepsHistoryAndDropsForSlowSubscribers(t *testing.T) {
	b := NewBus()
	b.Publish("a", 1)
	_, ch, cancel := b.Subscribe(0)
	defer cancel()
	for i := 0; i < subscriberBuf+10; i++ {
		b.Publish("b", i)
	}
	if got := len(ch); got != subscriberBuf {
		t.Errorf("buffered %d, want %d (publish must not block)", got, subscriberBuf)
	}
	backlog, _, cancel2 := b.Subscribe(5)
	defer cancel2()
	if len(backlog) == 0 || backlog[0].Seq != 6 {
		t.Errorf("backlog since 5 starts at %v", backlog[:min(1, len(backlog))])
	}
	for i := 0; i < historySize; i++ {
		b.Publish("c", i)
	}
	all, _, cancel3 := b.Subscribe(0)
	defer cancel3()
	if len(all) != historySize || all[len(all)-1].Type != "c" {
		t.Errorf("history holds %d events", len(all))
	}
}

func TestTakenDNSPortIsNamed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	opts := testOptions(t.TempDir())
	base := opts.Override
	opts.Override = func(c *Config) {
		base(c)
		c.Ports.DNS = ln.Addr().(*net.TCPAddr).Port
	}
	_, err = Start(context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), "--dns-port") {
		t.Fatalf("err = %v; want it to name the --dns-port flag", err)
	}
}
