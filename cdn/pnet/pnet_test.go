package pnet

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newKey(t *testing.T) Key {
	t.Helper()
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// serveEcho gates a loopback listener with keys and echoes what comes
// through.
func serveEcho(t *testing.T, keys *Keys, grace time.Duration) *Gate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := NewGate(ln, keys, GateConfig{Timeout: 2 * time.Second, Grace: grace})
	t.Cleanup(func() { g.Close() })
	go func() {
		for {
			c, err := g.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return g
}

func dial(t *testing.T, addr string, k Key) (net.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d := &Dialer{Keys: NewKeys(k), Timeout: 2 * time.Second}
	return d.DialContext(ctx, "tcp", addr)
}

func echoes(c net.Conn) bool {
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		return false
	}
	buf := make([]byte, 4)
	_, err := io.ReadFull(c, buf)
	return err == nil && string(buf) == "ping"
}

func TestHandshake(t *testing.T) {
	k := newKey(t)
	g := serveEcho(t, NewKeys(k), 0)
	addr := g.Addr().String()

	c, err := dial(t, addr, k)
	if err != nil {
		t.Fatalf("member with the key: %v", err)
	}
	if !echoes(c) {
		t.Fatal("member's connection does not carry data")
	}
	c.Close()

	if _, err := dial(t, addr, newKey(t)); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("another key: %v, want ErrWrongKey", err)
	}
	// Plain HTTP and TLS without the key get nothing back, not a byte.
	for name, first := range map[string][]byte{"http": []byte("GET /peer/v1/ping HTTP/1.1\r\nHost: x\r\n\r\n"), "tls": {0x16, 3, 1, 0, 0x40}} {
		raw, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		raw.Write(append(first, bytes.Repeat([]byte{0}, 80)...))
		raw.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := raw.Read(make([]byte, 1))
		if n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s without the key: read %d bytes, err %v; want the connection closed", name, n, err)
		}
		raw.Close()
	}
	if g.Refused() < 3 {
		t.Errorf("Refused = %d, want at least 3", g.Refused())
	}
}

// A client that replays a recorded handshake does not get in: the server's
// nonce changes.
func TestReplay(t *testing.T) {
	k := newKey(t)
	g := serveEcho(t, NewKeys(k), 0)
	addr := g.Addr().String()
	// Record what a member sends, through a relay.
	relay, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	var sent bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		in, err := relay.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		go io.Copy(in, out)
		io.Copy(io.MultiWriter(out, &sent), io.LimitReader(in, int64(len(magic)+nonceSize+macSize)))
		out.Close()
		in.Close()
	}()
	c, err := dial(t, relay.Addr().String(), k)
	if err != nil {
		t.Fatal(err)
	}
	<-done
	c.Close()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.Write(sent.Bytes())
	raw.Write([]byte("ping"))
	raw.SetReadDeadline(time.Now().Add(3 * time.Second))
	got, _ := io.ReadAll(raw)
	if len(got) != nonceSize+macSize {
		t.Fatalf("replayed handshake got %d bytes back, want only the server's %d", len(got), nonceSize+macSize)
	}
}

func TestRekeyDropsOldConnections(t *testing.T) {
	k1, k2 := newKey(t), newKey(t)
	keys := NewKeys(k1)
	g := serveEcho(t, keys, 50*time.Millisecond)
	addr := g.Addr().String()
	old, err := dial(t, addr, k1)
	if err != nil || !echoes(old) {
		t.Fatalf("before the rekey: %v", err)
	}
	keys.Set(k2)
	deadline := time.Now().Add(5 * time.Second)
	for echoes(old) {
		if time.Now().After(deadline) {
			t.Fatal("a connection of the old key still works after the rekey")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := dial(t, addr, k1); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("old key after the rekey: %v, want ErrWrongKey", err)
	}
	c, err := dial(t, addr, k2)
	if err != nil || !echoes(c) {
		t.Fatalf("new key: %v", err)
	}
	c.Close()
}

type testSigner ed25519.PrivateKey

func (s testSigner) PublicKey() ed25519.PublicKey {
	return ed25519.PrivateKey(s).Public().(ed25519.PublicKey)
}
func (s testSigner) Sign(m []byte) []byte { return ed25519.Sign(ed25519.PrivateKey(s), m) }

func TestInvite(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s := testSigner(priv)
	now := time.Now()
	in := Invite{Network: "friends", Key: newKey(t), Addrs: []string{"127.0.0.2:7481", "[::1]:7481"},
		Issued: now, Expires: now.Add(time.Hour)}
	link, err := in.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link, "shoal:") || len(link) > 300 {
		t.Fatalf("link %q", link)
	}
	got, err := ParseInvite(" "+link+"\n", now)
	if err != nil {
		t.Fatal(err)
	}
	if got.Network != in.Network || got.Key != in.Key || !got.Inviter.Equal(s.PublicKey()) ||
		strings.Join(got.Addrs, ",") != strings.Join(in.Addrs, ",") || got.Expires.Unix() != in.Expires.Unix() {
		t.Fatalf("parsed %+v, made %+v", got, in)
	}
	if _, err := ParseInvite(link, now.Add(2*time.Hour)); !errors.Is(err, ErrExpired) {
		t.Errorf("expired: %v", err)
	}
	for i := 1; i < len(link)-len(invitePrefix); i += 7 {
		if _, err := ParseInvite(link[:len(link)-i], now); !errors.Is(err, ErrCutInvite) {
			t.Fatalf("cut by %d: %v, want ErrCutInvite", i, err)
		}
	}
	// One character changed anywhere.
	for i := len(invitePrefix); i < len(link); i += 5 {
		b := []byte(link)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		if _, err := ParseInvite(string(b), now); err == nil {
			t.Fatalf("changed at %d: parsed", i)
		}
	}
	for _, bad := range []string{"", "http://x", "magnet:?xt=urn:btih:00"} {
		if _, err := ParseInvite(bad, now); !errors.Is(err, ErrBadInvite) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	never := in
	never.Expires = time.Time{}
	link, _ = never.Encode(s)
	if got, err := ParseInvite(link, now.AddDate(50, 0, 0)); err != nil || !got.Expires.IsZero() {
		t.Errorf("no expiry: %v %v", got.Expires, err)
	}
}

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), KeyFile)
	if _, err := LoadKey(path); !errors.Is(err, ErrNoKey) {
		t.Fatalf("missing: %v", err)
	}
	k := newKey(t)
	if err := SaveKey(path, k); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 || st.Size() != KeySize {
		t.Fatalf("mode %v size %d", st.Mode(), st.Size())
	}
	got, err := LoadKey(path)
	if err != nil || got != k {
		t.Fatalf("%v %v", got, err)
	}
	os.WriteFile(path, []byte("short"), 0o600)
	if _, err := LoadKey(path); err == nil {
		t.Fatal("a short key file loaded")
	}
	if bytes.Equal(k.Derive("a"), k.Derive("b")) || len(k.Derive("a")) != 32 || bytes.Equal(k.Derive("a"), newKey(t).Derive("a")) {
		t.Fatal("Derive")
	}
}
