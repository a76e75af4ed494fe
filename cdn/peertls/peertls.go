// Package peertls is the TLS between members on the peer API: a
// self-signed TLS 1.3 certificate made from a node's ed25519 key, a
// listener that sends TLS connections to a TLS server and the rest to plain
// HTTP on the same port, and the HTTP client members call each other with,
// which checks the answering node's key against the id it means to reach.
package peertls

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"time"
)

// Signer is a node's key pair (node.Identity, membership.Signer).
type Signer interface {
	PublicKey() ed25519.PublicKey
	Sign(msg []byte) []byte
}

// cryptoSigner makes a Signer a crypto.Signer for x509 and TLS: ed25519
// signs the whole message, which is what both pass for ed25519 keys.
type cryptoSigner struct{ s Signer }

func (c cryptoSigner) Public() crypto.PublicKey { return c.s.PublicKey() }

func (c cryptoSigner) Sign(_ io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts != nil && opts.HashFunc() != 0 {
		return nil, errors.New("peertls: ed25519 signs whole messages, not digests")
	}
	return c.s.Sign(msg), nil
}

// Certificate is a self-signed certificate for the node's ed25519 key,
// named by its id, for both ends of a member-to-member connection.
func Certificate(s Signer, id string) (tls.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("peertls: certificate: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: id},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	priv := cryptoSigner{s}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, s.PublicKey(), priv)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("peertls: certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("peertls: certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: leaf}, nil
}

// PeerKey is the ed25519 key of the certificate the other end showed, or
// nil when the connection is not TLS or showed none.
func PeerKey(cs *tls.ConnectionState) ed25519.PublicKey {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return nil
	}
	k, _ := cs.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
	return k
}

// ServerConfig is the peer API's TLS: TLS 1.3 only, the node's
// certificate, and a client certificate asked for but not required, so a
// member can say who calls and standard clients still connect.
func ServerConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequestClientCert,
		NextProtos:   []string{"http/1.1"},
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			return checkSelfSigned(raw)
		},
	}
}

// checkSelfSigned accepts no certificate, or one ed25519 certificate; no
// chain is verified, as the key is the identity.
func checkSelfSigned(raw [][]byte) error {
	if len(raw) == 0 {
		return nil
	}
	c, err := x509.ParseCertificate(raw[0])
	if err != nil {
		return fmt.Errorf("peertls: certificate: %w", err)
	}
	if _, ok := c.PublicKey.(ed25519.PublicKey); !ok {
		return fmt.Errorf("peertls: certificate key is %T, not ed25519", c.PublicKey)
	}
	return nil
}

type wantKey struct{}

// WithPeer says that requests made with ctx mean to reach the node whose id
// is id: the client refuses a peer whose certificate's key has another id.
// An empty id (a first join through an address) accepts any key; the
// caller then checks the key (PeerKey of the response's TLS) against the
// record it receives.
func WithPeer(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, wantKey{}, id)
}

func wanted(ctx context.Context) string {
	id, _ := ctx.Value(wantKey{}).(string)
	return id
}

// Scheme is the URL scheme members call each other's peer API with:
// https when TLS between members is on.
func Scheme(on bool) string {
	if on {
		return "https"
	}
	return "http"
}

// ErrWrongKey is a peer whose certificate is not of the node meant.
var ErrWrongKey = errors.New("peertls: peer certificate is not of the member meant")

// ClientConfig are the timeouts of a member-to-member client and how it
// connects.
type ClientConfig struct {
	Timeout, DialTimeout, ResponseHeaderTimeout time.Duration
	// Dial makes the connection TLS runs on (default TCP with
	// DialTimeout); a private network's runs its key handshake first
	// (cdn/pnet).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// NewClient is the HTTP client members call each other's peer API with,
// over https: it shows cert, asks TLS 1.3, and checks with idOf (the id of
// a key, membership.NodeID) that the answering key is the one of the id
// given with WithPeer, at the handshake and again on each answer (a pooled
// connection serves several requests). It never uses a proxy.
func NewClient(cert tls.Certificate, idOf func(ed25519.PublicKey) string, cfg ClientConfig) *http.Client {
	dial := cfg.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: cfg.DialTimeout}).DialContext
	}
	base := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{cert},
		NextProtos:         []string{"http/1.1"},
		InsecureSkipVerify: true, // the key is checked against the node record instead
	}
	tr := &http.Transport{
		Proxy: nil,
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			raw, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			want := wanted(ctx)
			conf := base.Clone()
			conf.VerifyConnection = func(cs tls.ConnectionState) error {
				if err := checkSelfSigned(rawCerts(cs)); err != nil {
					return err
				}
				k := PeerKey(&cs)
				if k == nil {
					return errors.New("peertls: peer showed no ed25519 certificate")
				}
				if want != "" && idOf(k) != want {
					return fmt.Errorf("%w: %s answers with the key of %s, not %s", ErrWrongKey, addr, idOf(k), want)
				}
				return nil
			}
			conn := tls.Client(raw, conf)
			if err := conn.HandshakeContext(ctx); err != nil {
				raw.Close()
				return nil, err
			}
			return conn, nil
		},
		ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       30 * time.Second,
	}
	return &http.Client{Timeout: cfg.Timeout, Transport: &checkKey{tr, idOf}}
}

func rawCerts(cs tls.ConnectionState) [][]byte {
	out := make([][]byte, len(cs.PeerCertificates))
	for i, c := range cs.PeerCertificates {
		out[i] = c.Raw
	}
	return out
}

// checkKey checks each answer's certificate against the id wanted, for
// answers on a connection made for another request.
type checkKey struct {
	*http.Transport
	idOf func(ed25519.PublicKey) string
}

func (c *checkKey) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.Transport.RoundTrip(r)
	if err != nil || r.URL.Scheme != "https" {
		return resp, err
	}
	k := PeerKey(resp.TLS)
	if want := wanted(r.Context()); k == nil || (want != "" && c.idOf(k) != want) {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %s", ErrWrongKey, r.URL.Host)
	}
	return resp, nil
}
