package node

import (
	"bytes"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"net"
	"path/filepath"
	"testing"
)

// A TLS handshake with the node's certificate shows the client the node's
// own key, which it can check against the member's record.
func TestCertificateCarriesTheNodeKey(t *testing.T) {
	id, err := LoadOrCreateIdentity(filepath.Join(t.TempDir(), IdentityFile))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := id.Certificate([]string{"alice.shoal"}, []net.IP{net.ParseIP("127.0.0.2")})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "alice.shoal"})
	if err != nil {
		t.Fatalf("a client that trusts the certificate: %v", err)
	}
	defer c.Close()
	got := c.ConnectionState().PeerCertificates[0].PublicKey.(ed25519.PublicKey)
	if !bytes.Equal(got, id.PublicKey()) {
		t.Error("the certificate's key is not the node's")
	}
	if _, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "bob.shoal"}); err == nil {
		t.Error("the certificate passed for a name it does not carry")
	}
}
