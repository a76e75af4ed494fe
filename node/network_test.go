package node

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/shoal-p2p/shoal/cdn"
	"github.com/shoal-p2p/shoal/cdn/pnet"
)

func testMemberOptions(dir string) Options {
	return Options{DataDir: dir, CDNTiming: fastCDN, MailPasswordCost: bcrypt.MinCost}
}

// A node makes its network private, restarts in it and invites another,
// which joins with the invitation and lists the network's catalog and
// fetches through the key from a member's gateway; an open node that
// knows a member's address gets nothing; cut, altered, expired and
// foreign invitations write nothing; a removed member is shut out.
func TestPrivateNetworkByInvitation(t *testing.T) {
	dirA := t.TempDir()
	a := startMemberIn(t, testMemberOptions(dirA), "alpha", "127.0.0.81", nil)
	if info := a.NetworkInfo(); info.Kind != "open" || info.Private {
		t.Fatalf("a new node's network: %+v", info)
	}
	if _, err := a.Invite(0); !errors.Is(err, cdn.ErrOpenNetwork) {
		t.Fatalf("invite to an open network: %v", err)
	}
	resp, body := call(t, a, http.MethodPost, "/api/v1/network/create", a.token, `{"name":"friends"}`)
	if resp.StatusCode != http.StatusOK || body["saved"] == nil {
		t.Fatalf("create: %d %v", resp.StatusCode, body)
	}
	if st, err := os.Stat(filepath.Join(dirA, pnet.KeyFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	a.Close()
	a = startMemberIn(t, testMemberOptions(dirA), "alpha", "127.0.0.81", nil)
	if info := a.NetworkInfo(); info.Kind != "private" || info.Network != "friends" || info.Saved != nil {
		t.Fatalf("after the restart: %+v", info)
	}
	if st := a.Status(); st.NetworkKind != "private" {
		t.Errorf("status says %q", st.NetworkKind)
	}
	if resp, _ := call(t, a, http.MethodPost, "/api/v1/network/create", a.token, `{"name":"again"}`); resp.StatusCode != http.StatusConflict {
		t.Errorf("create in a private network: %d", resp.StatusCode)
	}
	src := filepath.Join(t.TempDir(), "plans.txt")
	os.WriteFile(src, []byte("members only"), 0o600)
	it, err := a.Publish(t.Context(), src, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, body = call(t, a, http.MethodPost, "/api/v1/network/invite", a.token, `{"expires":"1h"}`)
	link, _ := body["invite"].(string)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(link, "shoal:") || body["expires"] == nil {
		t.Fatalf("invite: %d %v", resp.StatusCode, body)
	}
	if resp, _ := call(t, a, http.MethodPost, "/api/v1/network/invite", a.token, `{"expires":"soon"}`); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("invite with a bad expiry: %d", resp.StatusCode)
	}

	// Bad invitations: a clear error, nothing written.
	dirB := t.TempDir()
	other := t.TempDir()
	if _, err := CreateNetwork(other, "others"); err != nil {
		t.Fatal(err)
	}
	otherCfg, _ := os.ReadFile(filepath.Join(other, ConfigFile))
	for name, tc := range map[string]struct {
		dir, link string
		now       time.Time
		want      error
	}{
		"cut":     {dirB, link[:len(link)-10], time.Now(), pnet.ErrCutInvite},
		"altered": {dirB, link[:20] + "A" + link[21:], time.Now(), pnet.ErrCutInvite},
		"expired": {dirB, link, time.Now().Add(2 * time.Hour), pnet.ErrExpired},
		"garbage": {dirB, "https://example.com/", time.Now(), pnet.ErrBadInvite},
		"foreign": {other, link, time.Now(), ErrOtherNetwork},
	} {
		if name == "altered" && link[20] == 'A' {
			tc.link = link[:20] + "B" + link[21:]
		}
		if _, err := JoinNetwork(tc.dir, tc.link, tc.now); !errors.Is(err, tc.want) {
			t.Errorf("%s invitation: %v, want %v", name, err, tc.want)
		}
	}
	if entries, _ := os.ReadDir(dirB); len(entries) != 0 {
		t.Errorf("bad invitations wrote %v", entries)
	}
	if now, _ := os.ReadFile(filepath.Join(other, ConfigFile)); string(now) != string(otherCfg) {
		t.Error("a foreign invitation changed the config")
	}

	// The good one: B joins and lists the catalog.
	if _, err := JoinNetwork(dirB, link, time.Now()); err != nil {
		t.Fatal(err)
	}
	b := startMemberIn(t, testMemberOptions(dirB), "beta", "127.0.0.82", nil)
	waitFor(t, "beta to list alpha's item", func() bool {
		_, ok := b.CDN().Catalog.Get(it.InfoHash)
		return ok
	})
	if b.NetworkInfo().Fingerprint != a.NetworkInfo().Fingerprint {
		t.Error("beta holds another key")
	}
	// B's own parts reach A's gateway through the key.
	get := func(c *http.Client, u string) (string, error) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := c.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return string(raw), nil
	}
	gw := "http://" + a.CDN().PeerAddr() + "/cdn/" + it.InfoHash + "/plans.txt"
	if got, err := get(b.peerHTTP, gw); err != nil || got != "members only" {
		t.Errorf("beta through the key: %q %v", got, err)
	}
	// A browser through beta's proxy gets alpha's content by name.
	proxied := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: b.ProxyAddr()})}}
	if got, err := get(proxied, "http://alpha.shoal/cdn/"+it.InfoHash+"/plans.txt"); err != nil || got != "members only" {
		t.Errorf("through beta's proxy: %q %v", got, err)
	}
	if got, err := get(&http.Client{Timeout: 5 * time.Second}, gw); err == nil {
		t.Errorf("plain HTTP to a private gateway answered %q", got)
	}

	// An open node of the same name that knows alpha's address.
	o := startMemberWith(t, "outsider", "127.0.0.83", fastCDN, func(c *Config) {
		c.Network, c.Join = "friends", []string{a.CDN().PeerAddr()}
	})
	time.Sleep(time.Second)
	if aliveMembers(o) != 1 || len(o.CDN().Catalog.Network()) != 0 { // itself only
		t.Errorf("the outsider sees %d members (itself included), %d items", aliveMembers(o), len(o.CDN().Catalog.Network()))
	}
	if _, ok := a.CDN().Members.Member(o.Identity().ID()); ok {
		t.Error("alpha lists the outsider")
	}

	// The SMTP relay greets members only.
	smtpPort, ok := a.CDN().Members.Self().Ports["smtp"]
	if !ok {
		t.Fatal("alpha advertises no smtp port")
	}
	smtpAddr := net.JoinHostPort("127.0.0.81", strconv.Itoa(smtpPort))
	greeting := func(from string) string {
		d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", smtpAddr)
		if err != nil {
			return err.Error()
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		return line
	}
	if g := greeting("127.0.0.82"); !strings.HasPrefix(g, "220 ") {
		t.Errorf("member's SMTP greeting: %q", g)
	}
	if g := greeting("127.0.0.83"); g != "" {
		t.Errorf("outsider's SMTP greeting: %q", g)
	}

	// Remove beta by name: it does not get the new key.
	resp, body = call(t, a, http.MethodPost, "/api/v1/network/remove", a.token, `{"id":"beta"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("remove: %d %v", resp.StatusCode, body)
	}
	if a.NetworkInfo().Fingerprint == b.NetworkInfo().Fingerprint {
		t.Error("the removed member has the new key")
	}
	if err := b.CDN().Members.Join(t.Context(), a.CDN().PeerAddr()); !errors.Is(err, pnet.ErrWrongKey) {
		t.Errorf("removed member joining: %v", err)
	}
	if resp, _ := call(t, a, http.MethodPost, "/api/v1/network/remove", a.token, `{"id":"nobody"}`); resp.StatusCode != http.StatusNotFound {
		t.Errorf("remove an unknown member: %d", resp.StatusCode)
	}
}

// A node whose config says private but has no key does not start, and
// says what to do.
func TestPrivateWithoutKeyDoesNotStart(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.Private = true
	if err := SaveConfig(filepath.Join(dir, ConfigFile), cfg); err != nil {
		t.Fatal(err)
	}
	opts := testMemberOptions(dir)
	opts.Override = func(c *Config) { c.Bind, c.UI.Address, c.Ports = "127.0.0.84", "127.0.0.1:0", Ports{} }
	n, err := Start(context.Background(), opts)
	if err == nil {
		n.Close()
		t.Fatal("started without the key")
	}
	if !strings.Contains(err.Error(), "network join") {
		t.Errorf("error %q does not say how to get a key", err)
	}
}

// privateMailMember is startMailMember on a data dir prepared by prep
// (CreateNetwork, JoinNetwork), which returns the members to join through.
func privateMailMember(t *testing.T, name, bind, user string, prep func(dir string) []string) *mailMember {
	t.Helper()
	dir := t.TempDir()
	join := prep(dir)
	m := &mailMember{opts: Options{DataDir: dir, CDNTiming: fastCDN, MailPasswordCost: bcrypt.MinCost}, name: name, bind: bind, user: user, join: join}
	m.start(t)
	m.pass = m.Mail().FirstPassword
	return m
}

// Mail between members of a private network goes through the relay that
// greets members only, DKIM-signed as in an open network.
func TestMailInAPrivateNetwork(t *testing.T) {
	ann := privateMailMember(t, "ann", "127.0.0.86", "alice", func(dir string) []string {
		if _, err := CreateNetwork(dir, "friends"); err != nil {
			t.Fatal(err)
		}
		return nil
	})
	link, err := ann.Invite(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ben := privateMailMember(t, "ben", "127.0.0.87", "bob", func(dir string) []string {
		in, err := JoinNetwork(dir, link, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return in.Addrs
	})
	waitFor(t, "ann and ben to know each other's relay", func() bool {
		return knowsRelay(ann.Node, ben.Node) && knowsRelay(ben.Node, ann.Node)
	})
	if err := submitMail(t, ann, "private hello", ben.address()); err != nil {
		t.Fatalf("submission: %v", err)
	}
	msgs := waitMail(t, ben.Node, ben.user, ben.pass, "INBOX", "private hello", 1)
	if !strings.Contains(string(msgs[0]), "dkim=pass header.d=ann.shoal") {
		t.Errorf("ben's copy is not DKIM-verified:\n%s", msgs[0])
	}
}
