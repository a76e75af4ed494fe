// Package pnet is what makes a Shoal network private: the network key (32
// random bytes shared by the members, as an IPFS private network's swarm
// key), the handshake by which both ends of a peer connection prove they
// hold it before anything else is sent, the listener that refuses every
// connection failing it, and the invitations that hand the key to a new
// member.
//
// The handshake runs on the peer port before TLS (cdn/peertls): a node
// without the key never reaches the TLS server, let alone an HTTP handler.
// Values derived from the key (Key.Derive) name the network where outsiders
// must not recognise it: the DHT key members announce under, LAN discovery.
package pnet

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// KeyFile is the network key's file name in a node's data dir.
const KeyFile = "network.key"

// KeySize is the length of a network key in bytes.
const KeySize = 32

// Key is a private network's key.
type Key [KeySize]byte

// ErrNoKey is a private network whose key file is missing.
var ErrNoKey = errors.New("pnet: no network key")

// NewKey makes a key of 32 random bytes.
func NewKey() (Key, error) {
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		return k, fmt.Errorf("pnet: new key: %w", err)
	}
	return k, nil
}

// Derive is HMAC-SHA256 of label with the key: a value that only members
// can compute, such as what they announce under in the DHT or on the LAN.
// Each use takes its own label.
func (k Key) Derive(label string) []byte {
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte(label))
	return m.Sum(nil)
}

// Fingerprint names the key without giving it away (the first 8 bytes of
// Derive("fingerprint"), in hex): two nodes showing the same fingerprint
// hold the same key.
func (k Key) Fingerprint() string {
	return hex.EncodeToString(k.Derive("shoal-pnet-fingerprint-v1")[:8])
}

// LoadKey reads the key file at path: exactly 32 bytes.
func LoadKey(path string) (Key, error) {
	var k Key
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return k, fmt.Errorf("%w: %s is missing", ErrNoKey, path)
	}
	if err != nil {
		return k, fmt.Errorf("pnet: read key: %w", err)
	}
	if len(raw) != KeySize {
		return k, fmt.Errorf("pnet: %s holds %d bytes, a network key is %d", path, len(raw), KeySize)
	}
	copy(k[:], raw)
	return k, nil
}

// SaveKey writes k to path (mode 0600) through a temporary file, so a
// crash leaves the old key or the new one, never half of one.
func SaveKey(path string, k Key) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("pnet: save key: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(k[:])
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("pnet: save key: %w", err)
	}
	return nil
}

// Keys holds the key a node uses now; a rekey changes it while
// connections come and go. Its methods are safe for concurrent use.
type Keys struct {
	mu   sync.Mutex
	key  Key
	gen  uint64
	subs []func(gen uint64)
}

// NewKeys holds k.
func NewKeys(k Key) *Keys { return &Keys{key: k, gen: 1} }

// Current is the key in use and its generation, which each Set raises.
func (ks *Keys) Current() (Key, uint64) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.key, ks.gen
}

// Set makes k the key in use and tells those who asked (OnChange).
func (ks *Keys) Set(k Key) {
	ks.mu.Lock()
	ks.key = k
	ks.gen++
	gen, subs := ks.gen, append([]func(uint64){}, ks.subs...)
	ks.mu.Unlock()
	for _, fn := range subs {
		fn(gen)
	}
}

// OnChange has fn called, with the new generation, after each Set.
func (ks *Keys) OnChange(fn func(gen uint64)) {
	ks.mu.Lock()
	ks.subs = append(ks.subs, fn)
	ks.mu.Unlock()
}
