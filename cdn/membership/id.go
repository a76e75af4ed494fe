package membership

import (
	"crypto/ed25519"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base32"
)

// Signer is a node's key pair; node.Identity satisfies it.
type Signer interface {
	PublicKey() ed25519.PublicKey
	Sign(msg []byte) []byte
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NodeID derives a node id from a public key: the first 20 bytes of its
// SHA-256, in lower-case base32 without padding (32 characters).
func NodeID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return idEncoding.EncodeToString(sum[:20])
}

// DHTKey is the DHT key under which the members of network announce their
// peer API: SHA-1 of "shoal-network:" + network.
func DHTKey(network string) [20]byte {
	return sha1.Sum([]byte("shoal-network:" + network))
}
