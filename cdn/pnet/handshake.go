package pnet

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// The handshake, three messages before anything else on the connection:
//
//	client -> server  magic (8) | client nonce (32)
//	server -> client  server nonce (32) | HMAC(key, "server" | cn | sn)
//	client -> server  HMAC(key, "client" | cn | sn)
//
// Each end proves it holds the key with a MAC over both nonces, bound to
// its direction, so neither a recorded handshake nor the other end's
// proof can be played back. The client checks the server first and sends
// nothing more to one without the key; the server reads these 72 bytes
// and nothing else before the client's proof checks.
const (
	magic     = "SHOALPN1"
	nonceSize = 32
	macSize   = sha256.Size
)

// Errors of the handshake, checked with errors.Is.
var (
	// ErrWrongKey: the other end does not hold this network's key.
	ErrWrongKey = errors.New("pnet: the other end does not hold this network's key")
	// ErrNotPrivate: the other end does not speak the handshake (an open
	// network's node, a plain HTTP or TLS client).
	ErrNotPrivate = errors.New("pnet: the other end is not of a private network")
)

func mac(k Key, dir string, cn, sn []byte) []byte {
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte("shoal-pnet-v1 " + dir + "\x00"))
	m.Write(cn)
	m.Write(sn)
	return m.Sum(nil)
}

// deadline is ctx's deadline, or timeout from now if that is sooner or
// ctx has none.
func deadline(ctx context.Context, timeout time.Duration) time.Time {
	d := time.Now().Add(timeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}

// Client runs the client's side of the handshake on conn with k. On
// success conn is ready for what the two ends speak next (TLS); on error
// the caller closes it.
func Client(ctx context.Context, conn net.Conn, k Key, timeout time.Duration) error {
	conn.SetDeadline(deadline(ctx, timeout))
	defer conn.SetDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	hello := make([]byte, len(magic)+nonceSize)
	copy(hello, magic)
	cn := hello[len(magic):]
	if _, err := rand.Read(cn); err != nil {
		return fmt.Errorf("pnet: handshake: %w", err)
	}
	if _, err := conn.Write(hello); err != nil {
		return fmt.Errorf("pnet: handshake with %s: %w", conn.RemoteAddr(), err)
	}
	answer := make([]byte, nonceSize+macSize)
	if _, err := io.ReadFull(conn, answer); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("pnet: handshake with %s: %w", conn.RemoteAddr(), ctx.Err())
		}
		return fmt.Errorf("%w: %s closed the connection at the handshake (%v)", ErrNotPrivate, conn.RemoteAddr(), err)
	}
	sn := answer[:nonceSize]
	if !hmac.Equal(answer[nonceSize:], mac(k, "server", cn, sn)) {
		return fmt.Errorf("%w: %s", ErrWrongKey, conn.RemoteAddr())
	}
	if _, err := conn.Write(mac(k, "client", cn, sn)); err != nil {
		return fmt.Errorf("pnet: handshake with %s: %w", conn.RemoteAddr(), err)
	}
	return nil
}

// refusal says why a server refused a connection.
type refusal struct {
	reason string
	err    error
}

func (r *refusal) Error() string { return r.reason }
func (r *refusal) Unwrap() error { return r.err }

// Server runs the server's side of the handshake on conn with k, within
// timeout. It reads exactly the handshake's bytes. On error the caller
// closes conn.
func Server(conn net.Conn, k Key, timeout time.Duration) error {
	conn.SetDeadline(time.Now().Add(timeout))
	defer conn.SetDeadline(time.Time{})
	hello := make([]byte, len(magic)+nonceSize)
	if n, err := io.ReadFull(conn, hello); err != nil {
		return &refusal{reason: what(hello[:n]) + fmt.Sprintf(" (%v)", err), err: ErrNotPrivate}
	}
	if string(hello[:len(magic)]) != magic {
		return &refusal{reason: what(hello), err: ErrNotPrivate}
	}
	cn := hello[len(magic):]
	answer := make([]byte, nonceSize+macSize)
	sn := answer[:nonceSize]
	if _, err := rand.Read(sn); err != nil {
		return fmt.Errorf("pnet: handshake: %w", err)
	}
	copy(answer[nonceSize:], mac(k, "server", cn, sn))
	if _, err := conn.Write(answer); err != nil {
		return &refusal{reason: fmt.Sprintf("left during the handshake (%v)", err), err: ErrNotPrivate}
	}
	proof := make([]byte, macSize)
	if _, err := io.ReadFull(conn, proof); err != nil {
		return &refusal{reason: fmt.Sprintf("gave no proof of the key (%v)", err), err: ErrWrongKey}
	}
	if !hmac.Equal(proof, mac(k, "client", cn, sn)) {
		return &refusal{reason: "proved another key", err: ErrWrongKey}
	}
	return nil
}

// what names what a connection that is not a handshake began with.
func what(first []byte) string {
	switch {
	case len(first) == 0:
		return "sent nothing"
	case first[0] == 0x16:
		return "began TLS without the network key"
	case first[0] >= 'A' && first[0] <= 'Z':
		return "spoke plain text (HTTP?) without the network key"
	case len(first) < len(magic) && magic[:len(first)] == string(first):
		return "stopped in the handshake"
	}
	return "did not begin the handshake"
}
