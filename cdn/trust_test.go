package cdn

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-p2p/shoal/cdn/membership"
	"github.com/shoal-p2p/shoal/cdn/peertls"
	"github.com/shoal-p2p/shoal/storage"
)

var fastTiming = MembershipTiming{
	Interval: 100 * time.Millisecond, SuspectAfter: 2 * time.Second, RemoveAfter: 5 * time.Second,
	CatalogInterval: 200 * time.Millisecond,
}

// startCDN starts a CDN named name on bind (all ports free) with fast
// gossip, joining through join.
func startCDN(t *testing.T, name, bind string, join ...string) *CDN {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), "shoal.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c, err := Start(context.Background(), Config{
		DB: db, DataDir: t.TempDir(), Signer: newSigner(t), Network: "shoal", Name: name,
		Bind: netip.MustParseAddr(bind), Join: join, Membership: fastTiming,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func knows(c *CDN, id string) bool {
	m, ok := c.Members.Member(id)
	return ok && m.State == membership.Alive
}

// captureAddr is the loopback address of the tests that
// .ci/peer-tls-capture.sh captures, apart from other tests' traffic.
const captureAddr = "127.0.0.61"

// recorder is a TCP relay to one address that keeps every byte it
// passes, both ways: what a capture of the loopback would show.
type recorder struct {
	ln   net.Listener
	mu   sync.Mutex
	seen bytes.Buffer
}

func newRecorder(t *testing.T, to string) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.DialTimeout("tcp", to, 5*time.Second)
			if err != nil {
				in.Close()
				continue
			}
			deadline := time.Now().Add(30 * time.Second)
			in.SetDeadline(deadline)
			out.SetDeadline(deadline)
			go r.pipe(out, in)
			go r.pipe(in, out)
		}
	}()
	return r
}

func (r *recorder) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			r.mu.Lock()
			r.seen.Write(buf[:n])
			r.mu.Unlock()
			dst.Write(buf[:n])
		}
		if err != nil {
			dst.Close()
			src.Close()
			return
		}
	}
}

func (r *recorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.seen.Bytes())
}

// Two members join, gossip and exchange catalogs over TLS: the member
// routes of each peer API were called over TLS only, and the bytes of the
// join between them hold no record JSON in clear.
func TestMembersTalkOverTLS(t *testing.T) {
	a := startCDN(t, "alpharecord", captureAddr)
	rec := newRecorder(t, a.PeerAddr())
	b := startCDN(t, "betarecord", captureAddr, rec.ln.Addr().String())

	waitUntil(t, "the two members to know each other", func() bool {
		return knows(a, b.Members.ID()) && knows(b, a.Members.ID())
	})
	src := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(src, []byte("hello members"), 0o600); err != nil {
		t.Fatal(err)
	}
	it, err := a.Publish(t.Context(), src, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "beta's catalog to list notes.txt", func() bool {
		_, ok := b.Catalog.Get(it.InfoHash)
		return ok
	})

	for _, c := range []*CDN{a, b} {
		n := c.PeerRequests()
		if n.TLS == 0 || n.Plain != 0 {
			t.Errorf("%s's member routes were called %d times over TLS and %d in clear; want only TLS",
				c.Members.Self().Name, n.TLS, n.Plain)
		}
	}

	seen := rec.bytes()
	if len(seen) == 0 || seen[0] != 0x16 {
		t.Fatalf("the join did not go through the relay over TLS (%d bytes, first %x)", len(seen), seen[:min(1, len(seen))])
	}
	for _, clear := range []string{"alpharecord", "betarecord", `"network"`, `"public_key"`, "/peer/v1/", "HTTP/1.1"} {
		if bytes.Contains(seen, []byte(clear)) {
			t.Errorf("%q travelled in clear between members", clear)
		}
	}
}

// Gossip in clear, which would change the table, is refused before it is
// read; the read-only routes still answer.
func TestGossipInClearRefused(t *testing.T) {
	a := startCDN(t, "alpha", "127.0.0.1")
	before := len(a.Members.Members())
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Post("http://"+a.PeerAddr()+membership.PathGossip, "application/json",
		strings.NewReader(`{"network":"shoal"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "TLS") {
		t.Errorf("gossip in clear: %s %s; want 403 saying TLS", resp.Status, body)
	}
	if n := len(a.Members.Members()); n != before {
		t.Errorf("members %d after a refused gossip, %d before", n, before)
	}
}

// impostor serves the peer API of real over TLS with a certificate of
// another key: it relays real's genuine, signed record.
func impostor(t *testing.T, real *CDN) string {
	t.Helper()
	cert, err := peertls.Certificate(newSigner(t), "impostor")
	if err != nil {
		t.Fatal(err)
	}
	upstream, _ := url.Parse("https://" + real.PeerAddr())
	rp := httputil.NewSingleHostReverseProxy(upstream)
	// It calls real over TLS without a certificate of its own, as a
	// standard client may.
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(tls.NewListener(ln, peertls.ServerConfig(cert)))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// A peer API whose certificate is not of the key in the record it serves
// is refused by the caller: on a join, where no key is known yet, and when
// the member meant is known.
func TestMemberWithAnotherKeyRefused(t *testing.T) {
	a := startCDN(t, "alpha", "127.0.0.1")
	fake := impostor(t, a)
	b := startCDN(t, "beta", "127.0.0.1")

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := b.Members.Join(ctx, fake)
	if !errors.Is(err, membership.ErrCertMismatch) {
		t.Errorf("join through the impostor: %v; want %v", err, membership.ErrCertMismatch)
	}
	if _, ok := b.Members.Member(a.Members.ID()); ok {
		t.Error("beta took alpha's record from a peer with another key")
	}

	cert, err := peertls.Certificate(newSigner(t), "caller")
	if err != nil {
		t.Fatal(err)
	}
	client := peertls.NewClient(cert, membership.NodeID, peertls.ClientConfig{Timeout: 5 * time.Second})
	get := func(addr string) error {
		req, _ := http.NewRequestWithContext(peertls.WithPeer(ctx, a.Members.ID()), http.MethodGet,
			"https://"+addr+membership.PathPing, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(fake); !errors.Is(err, peertls.ErrWrongKey) {
		t.Errorf("ping of alpha at the impostor: %v; want %v", err, peertls.ErrWrongKey)
	}
	if err := get(a.PeerAddr()); err != nil {
		t.Errorf("ping of alpha at its own address: %v", err)
	}

	// The real one still joins.
	if err := b.Members.Join(ctx, a.PeerAddr()); err != nil {
		t.Fatalf("join through alpha: %v", err)
	}
	if !knows(b, a.Members.ID()) {
		t.Error("beta does not know alpha after joining through it")
	}
}

// Standard clients keep plain HTTP on the peer port: the gateway and the
// tracker's /announce answer without TLS, and the gateway over TLS too.
func TestStandardClientsInClear(t *testing.T) {
	a := startCDN(t, "alpha", captureAddr)
	src := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(src, []byte("hello browsers"), 0o600); err != nil {
		t.Fatal(err)
	}
	it, err := a.Publish(t.Context(), src, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	plain := &http.Client{Timeout: 10 * time.Second}
	get := func(c *http.Client, u string) (int, string) {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if (resp.TLS != nil) != strings.HasPrefix(u, "https:") {
			t.Errorf("GET %s: TLS state %v", u, resp.TLS != nil)
		}
		return resp.StatusCode, string(body)
	}
	gw := a.PeerAddr() + "/cdn/" + it.InfoHash + "/notes.txt"
	if code, body := get(plain, "http://"+gw); code != http.StatusOK || body != "hello browsers" {
		t.Errorf("gateway in clear: %d %q", code, body)
	}
	ih, _ := hex.DecodeString(it.InfoHash)
	q := url.Values{"info_hash": {string(ih)}, "peer_id": {"-AR1360-abcdefghijkl"}, "port": {"6881"}, "compact": {"1"}}
	if code, body := get(plain, "http://"+a.PeerAddr()+"/announce?"+q.Encode()); code != http.StatusOK || !strings.Contains(body, "interval") {
		t.Errorf("announce in clear: %d %q", code, body)
	}
	tlsClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	if code, body := get(tlsClient, "https://"+gw); code != http.StatusOK || body != "hello browsers" {
		t.Errorf("gateway over TLS: %d %q", code, body)
	}
	// A TLS 1.2 client is refused: members speak TLS 1.3 only.
	old := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}}}
	if resp, err := old.Get("https://" + gw); err == nil {
		resp.Body.Close()
		t.Error("a TLS 1.2 handshake was accepted")
	}
}

// A member that calls with a certificate of another key than the record it
// gossips is refused by the server, and nothing of it is stored.
func TestCallerWithAnotherKeyRefused(t *testing.T) {
	a := startCDN(t, "alpha", "127.0.0.1")
	b := startCDN(t, "beta", "127.0.0.1")
	cert, err := peertls.Certificate(newSigner(t), "thief")
	if err != nil {
		t.Fatal(err)
	}
	client := peertls.NewClient(cert, membership.NodeID, peertls.ClientConfig{Timeout: 5 * time.Second})
	raw, err := json.Marshal(membership.GossipRequest{Network: "shoal", From: b.Members.Self()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(peertls.WithPeer(t.Context(), a.Members.ID()), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+a.PeerAddr()+membership.PathGossip, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "certificate") {
		t.Errorf("gossip of beta's record with another certificate: %s %s; want 400", resp.Status, body)
	}
	if _, ok := a.Members.Member(b.Members.ID()); ok {
		t.Error("alpha stored beta's record from a caller with another key")
	}
}
