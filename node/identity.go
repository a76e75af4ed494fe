package node

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"

	"github.com/shoal-p2p/shoal/cdn/membership"
)

// IdentityFile is the node's private key file inside the data dir.
const IdentityFile = "identity.key"

// Identity is a node's ed25519 key pair, created once on first start.
type Identity struct {
	key ed25519.PrivateKey
}

// LoadOrCreateIdentity reads the key at path, or creates it (mode 0600) when
// there is none. A file that exists but does not hold a key is an error and
// is left alone: overwriting it would change who the node is.
func LoadOrCreateIdentity(path string) (*Identity, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("node: identity: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, fmt.Errorf("node: identity: %w", err)
		}
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if err := writeFileAtomic(path, pemBytes, 0o600); err != nil {
			return nil, fmt.Errorf("node: write identity: %w", err)
		}
		return &Identity{key: priv}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("node: read identity: %w", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("node: %s holds no PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("node: %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("node: %s holds a %T, not an ed25519 key", path, k)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, fmt.Errorf("node: %s is readable by others and cannot be fixed: %w", path, err)
		}
	}
	return &Identity{key: priv}, nil
}

// PublicKey is the node's public key.
func (id *Identity) PublicKey() ed25519.PublicKey { return id.key.Public().(ed25519.PublicKey) }

// Sign signs msg with the node's private key.
func (id *Identity) Sign(msg []byte) []byte { return ed25519.Sign(id.key, msg) }

// ID is the node id: the first 20 bytes of SHA-256 of the public key, in
// lower-case base32 (32 characters), as membership derives it for every
// member. 20 bytes is a DHT key's size.
func (id *Identity) ID() string { return membership.NodeID(id.PublicKey()) }

// Certificate is a self-signed TLS certificate for the node's own key, for
// the names given (NAME.shoal and the like) and the node's addresses. Peers
// check the key against the member's signed node record, not a CA (the way
// Syncthing and libp2p pin device keys); mail clients are shown it.
func (id *Identity) Certificate(names []string, addrs []net.IP) (tls.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("node: certificate: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: id.ID()},
		DNSNames:              names,
		IPAddresses:           addrs,
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, id.PublicKey(), id.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("node: certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("node: certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: id.key, Leaf: leaf}, nil
}

// PrivateKey is the node's private key, for the subsystems that sign with
// it in a format of their own (DKIM).
func (id *Identity) PrivateKey() ed25519.PrivateKey { return id.key }
