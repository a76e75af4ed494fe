package peertls

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

type keySigner ed25519.PrivateKey

func newSigner(t testing.TB) keySigner {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return keySigner(priv)
}

func (k keySigner) PublicKey() ed25519.PublicKey {
	return ed25519.PrivateKey(k).Public().(ed25519.PublicKey)
}
func (k keySigner) Sign(msg []byte) []byte { return ed25519.Sign(ed25519.PrivateKey(k), msg) }

func idOf(k ed25519.PublicKey) string {
	sum := sha256.Sum256(k)
	return hex.EncodeToString(sum[:8])
}

// serve runs one handler on a split listener and says whether each
// request came over TLS and with which client key.
func serve(t testing.TB, s keySigner, peek time.Duration) net.Addr {
	t.Helper()
	cert, err := Certificate(s, idOf(s.PublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsLn, plainLn := Split(ln, ServerConfig(cert), peek)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.TLS == nil:
			io.WriteString(w, "plain")
		case PeerKey(r.TLS) != nil:
			io.WriteString(w, "tls from "+idOf(PeerKey(r.TLS)))
		default:
			io.WriteString(w, "tls")
		}
	})}
	go srv.Serve(tlsLn)
	go srv.Serve(plainLn)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr()
}

func body(t *testing.T, c *http.Client, req *http.Request) (string, error) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// One port answers plain HTTP and TLS; the member client shows its key,
// and refuses a server whose key is not the one meant.
func TestSplitAndCheckedClient(t *testing.T) {
	server, caller := newSigner(t), newSigner(t)
	addr := serve(t, server, 5*time.Second).String()
	ctx := t.Context()

	plain := &http.Client{Timeout: 5 * time.Second}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	if got, err := body(t, plain, req); err != nil || got != "plain" {
		t.Errorf("plain HTTP: %q, %v", got, err)
	}

	cert, err := Certificate(caller, idOf(caller.PublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	member := NewClient(cert, idOf, ClientConfig{Timeout: 5 * time.Second, DialTimeout: 2 * time.Second})
	for _, want := range []string{idOf(server.PublicKey()), ""} {
		req, _ = http.NewRequestWithContext(WithPeer(ctx, want), http.MethodGet, "https://"+addr+"/", nil)
		if got, err := body(t, member, req); err != nil || got != "tls from "+idOf(caller.PublicKey()) {
			t.Errorf("member call meaning %q: %q, %v", want, got, err)
		}
	}
	// A fresh client, so that no pooled connection answers: refused at the
	// handshake.
	other := NewClient(cert, idOf, ClientConfig{Timeout: 5 * time.Second, DialTimeout: 2 * time.Second})
	req, _ = http.NewRequestWithContext(WithPeer(ctx, idOf(caller.PublicKey())), http.MethodGet, "https://"+addr+"/", nil)
	if _, err := body(t, other, req); !errors.Is(err, ErrWrongKey) {
		t.Errorf("call meaning another key, new connection: %v; want %v", err, ErrWrongKey)
	}
	// And on the pooled connection of the calls above.
	if _, err := body(t, member, req); !errors.Is(err, ErrWrongKey) {
		t.Errorf("call meaning another key, pooled connection: %v; want %v", err, ErrWrongKey)
	}
}

// A connection that sends nothing is closed once the peek's deadline
// passes; the listener keeps serving the others.
func TestSilentConnectionClosed(t *testing.T) {
	addr := serve(t, newSigner(t), 200*time.Millisecond)
	silent, err := net.DialTimeout("tcp", addr.String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silent.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = silent.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Errorf("silent connection: read %v; want it closed by the server", err)
	}

	c, err := net.DialTimeout("tcp", addr.String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "plain" {
		t.Errorf("after a silent one, plain HTTP answers %q", b)
	}
}

// The certificate is of the node's key, self-signed, for TLS 1.3.
func TestCertificateIsTheNodesKey(t *testing.T) {
	s := newSigner(t)
	cert, err := Certificate(s, "node")
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := cert.Leaf.PublicKey.(ed25519.PublicKey); !ok || !k.Equal(s.PublicKey()) {
		t.Fatalf("certificate key %T is not the node's", cert.Leaf.PublicKey)
	}
	if err := cert.Leaf.CheckSignature(cert.Leaf.SignatureAlgorithm, cert.Leaf.RawTBSCertificate, cert.Leaf.Signature); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if ServerConfig(cert).MinVersion != tls.VersionTLS13 {
		t.Error("server accepts below TLS 1.3")
	}
}
