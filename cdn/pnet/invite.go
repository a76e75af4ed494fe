package pnet

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// An invitation is a link, "shoal:" and the base64url (no padding) of
//
//	version (1) = 1
//	expires (8, Unix seconds, big-endian; 0 = never)
//	issued (8, Unix seconds)
//	network name (1 length byte + the name)
//	key (32)
//	inviter's public key (32, ed25519)
//	addresses (1 count byte, then each as 1 length byte + "HOST:PORT")
//	signature (64): ed25519 of "shoal-invite-v1\n" + all of the above
//
// The inviter signs it with its node key, so a link cut short or altered
// in any byte does not verify, and the joiner knows which node invited it.
const (
	invitePrefix  = "shoal:"
	inviteVersion = 1
	inviteContext = "shoal-invite-v1\n"
	maxAddrs      = 16
)

// Errors of ParseInvite, checked with errors.Is.
var (
	ErrBadInvite = errors.New("pnet: not a Shoal invitation")
	ErrCutInvite = errors.New("pnet: the invitation is cut or damaged")
	ErrExpired   = errors.New("pnet: the invitation has expired")
)

// Invite is what an invitation carries.
type Invite struct {
	Network string
	Key     Key
	// Inviter is the public key of the node that made it.
	Inviter ed25519.PublicKey
	// Addrs are members' peer APIs, HOST:PORT, to join through.
	Addrs   []string
	Issued  time.Time
	Expires time.Time // zero: never
}

// Signer is a node's key pair (node.Identity).
type Signer interface {
	PublicKey() ed25519.PublicKey
	Sign(msg []byte) []byte
}

// Encode makes the invitation link of in, signed by s (in.Inviter is s's
// key).
func (in Invite) Encode(s Signer) (string, error) {
	if len(in.Network) == 0 || len(in.Network) > 63 {
		return "", fmt.Errorf("pnet: invitation: network name of %d bytes", len(in.Network))
	}
	if len(in.Addrs) == 0 || len(in.Addrs) > maxAddrs {
		return "", fmt.Errorf("pnet: invitation: %d addresses, 1 to %d", len(in.Addrs), maxAddrs)
	}
	var b bytes.Buffer
	b.WriteByte(inviteVersion)
	var exp int64
	if !in.Expires.IsZero() {
		exp = in.Expires.Unix()
	}
	binary.Write(&b, binary.BigEndian, exp)
	binary.Write(&b, binary.BigEndian, in.Issued.Unix())
	b.WriteByte(byte(len(in.Network)))
	b.WriteString(in.Network)
	b.Write(in.Key[:])
	b.Write(s.PublicKey())
	b.WriteByte(byte(len(in.Addrs)))
	for _, a := range in.Addrs {
		if len(a) == 0 || len(a) > 255 {
			return "", fmt.Errorf("pnet: invitation: address %q", a)
		}
		b.WriteByte(byte(len(a)))
		b.WriteString(a)
	}
	sig := s.Sign(append([]byte(inviteContext), b.Bytes()...))
	b.Write(sig)
	return invitePrefix + base64.RawURLEncoding.EncodeToString(b.Bytes()), nil
}

// ParseInvite reads an invitation link and checks its signature and, with
// now, its expiry. It changes nothing: the caller writes what it joins.
func ParseInvite(link string, now time.Time) (Invite, error) {
	var in Invite
	link = strings.TrimSpace(link)
	rest, ok := strings.CutPrefix(link, invitePrefix)
	if !ok {
		return in, fmt.Errorf("%w: an invitation begins with %q", ErrBadInvite, invitePrefix)
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return in, fmt.Errorf("%w: it is not base64url (%v); copy the whole link", ErrCutInvite, err)
	}
	r := &reader{b: raw}
	if v := r.byte(); r.err == nil && v != inviteVersion {
		return in, fmt.Errorf("%w: version %d, this Shoal reads version %d", ErrBadInvite, v, inviteVersion)
	}
	exp := int64(r.uint64())
	issued := int64(r.uint64())
	in.Network = string(r.bytes(int(r.byte())))
	copy(in.Key[:], r.bytes(KeySize))
	in.Inviter = ed25519.PublicKey(bytes.Clone(r.bytes(ed25519.PublicKeySize)))
	n := int(r.byte())
	for range n {
		in.Addrs = append(in.Addrs, string(r.bytes(int(r.byte()))))
	}
	body := raw[:r.off]
	sig := r.bytes(ed25519.SignatureSize)
	if r.err != nil {
		return Invite{}, fmt.Errorf("%w: it ends too soon; copy the whole link", ErrCutInvite)
	}
	if r.off != len(raw) {
		return Invite{}, fmt.Errorf("%w: %d bytes too many", ErrCutInvite, len(raw)-r.off)
	}
	if !ed25519.Verify(in.Inviter, append([]byte(inviteContext), body...), sig) {
		return Invite{}, fmt.Errorf("%w: its signature does not verify", ErrCutInvite)
	}
	if n == 0 || n > maxAddrs || in.Network == "" {
		return Invite{}, fmt.Errorf("%w: %d addresses, network %q", ErrBadInvite, n, in.Network)
	}
	in.Issued = time.Unix(issued, 0).UTC()
	if exp != 0 {
		in.Expires = time.Unix(exp, 0).UTC()
		if !now.Before(in.Expires) {
			return Invite{}, fmt.Errorf("%w: it was good until %s", ErrExpired, in.Expires.Format(time.RFC3339))
		}
	}
	return in, nil
}

// reader reads the fields of an invitation; the first short read sets err.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || r.off+n > len(r.b) {
		r.err = ErrCutInvite
		return nil
	}
	out := r.b[r.off : r.off+n]
	r.off += n
	return out
}

func (r *reader) byte() byte {
	if b := r.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) uint64() uint64 {
	if b := r.bytes(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}
