// Package dkim signs the mail a node sends and verifies the mail it receives
// with DKIM (RFC 6376) in its ed25519-sha256 form (RFC 8463).
//
// Every node signs with its own ed25519 node key under the selector "shoal"
// and its domain NAME.shoal; the public key is published in the group's zone
// as the TXT record shoal._domainkey.NAME.shoal, whose text TXTRecord gives.
// A receiver looks the key up through its own resolver (a TXTResolver the
// node passes in) and accepts a message from a member only when a signature
// of the sender's own domain verifies.
package dkim

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	msgdkim "github.com/emersion/go-msgauth/dkim"
)

// Selector is the DKIM selector every node signs under.
const Selector = "shoal"

// signedHeaders are the header fields a signature covers (RFC 6376 5.4.1).
var signedHeaders = []string{
	"From", "Reply-To", "Subject", "Date", "To", "Cc", "Message-ID",
	"In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding",
}

// Errors of Check, to be told apart with errors.Is.
var (
	// ErrUnsigned: the message carries no signature of the domain asked for.
	ErrUnsigned = errors.New("dkim: no signature of the sender's domain")
	// ErrBadSignature: a signature of the domain is there but does not verify
	// (altered message, or signed with a key the domain did not publish).
	ErrBadSignature = errors.New("dkim: signature does not verify")
	// ErrTemporary: the key could not be looked up just now (a DNS timeout or
	// server failure); the same message may verify later.
	ErrTemporary = errors.New("dkim: key temporarily unavailable")
)

// RecordName is the DNS name of domain's key: shoal._domainkey.DOMAIN.
func RecordName(domain string) string {
	return Selector + "._domainkey." + strings.TrimSuffix(domain, ".")
}

// TXTRecord is the text of the key record for pub: "v=DKIM1; k=ed25519; p=...".
func TXTRecord(pub ed25519.PublicKey) string {
	return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
}

// Signer signs messages for one domain with one key.
type Signer struct {
	domain string
	key    ed25519.PrivateKey
}

// NewSigner makes a Signer for domain (NAME.shoal) with the node's key.
func NewSigner(domain string, key ed25519.PrivateKey) (*Signer, error) {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	if domain == "" || strings.ContainsAny(domain, " ;=\r\n") {
		return nil, fmt.Errorf("dkim: bad domain %q", domain)
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("dkim: ed25519 private key of %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	return &Signer{domain: domain, key: key}, nil
}

// Domain is the signing domain (the d= tag).
func (s *Signer) Domain() string { return s.domain }

// Sign returns raw with a DKIM-Signature header field in front. raw is a
// whole message with CRLF line endings.
func (s *Signer) Sign(raw []byte) ([]byte, error) {
	if len(raw) == 0 {
		return nil, errors.New("dkim: sign: empty message")
	}
	opts := &msgdkim.SignOptions{
		Domain:                 s.domain,
		Selector:               Selector,
		Signer:                 s.key,
		Hash:                   crypto.SHA256,
		HeaderCanonicalization: msgdkim.CanonicalizationRelaxed,
		BodyCanonicalization:   msgdkim.CanonicalizationRelaxed,
		HeaderKeys:             presentHeaders(raw),
	}
	signer, err := msgdkim.NewSigner(opts)
	if err != nil {
		return nil, fmt.Errorf("dkim: sign: %w", err)
	}
	if _, err := signer.Write(raw); err != nil {
		signer.Close()
		return nil, fmt.Errorf("dkim: sign: %w", err)
	}
	if err := signer.Close(); err != nil {
		return nil, fmt.Errorf("dkim: sign: %w", err)
	}
	sig := signer.Signature()
	out := make([]byte, 0, len(sig)+len(raw))
	out = append(out, sig...)
	return append(out, raw...), nil
}

// presentHeaders is signedHeaders restricted to those in raw's header, plus
// From, which a signature must always cover.
func presentHeaders(raw []byte) []string {
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	have := map[string]bool{"from": true}
	for _, line := range bytes.Split(head, []byte("\r\n")) {
		if len(line) == 0 || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		if name, _, ok := bytes.Cut(line, []byte(":")); ok {
			have[strings.ToLower(strings.TrimSpace(string(name)))] = true
		}
	}
	var keys []string
	for _, k := range signedHeaders {
		if have[strings.ToLower(k)] {
			keys = append(keys, k)
		}
	}
	return keys
}

// TXTResolver looks up TXT records; *net.Resolver is one.
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Result is the outcome of one signature.
type Result struct {
	Domain string // d=
	Err    error  // nil when the signature verifies
}

// maxSignatures bounds the work one message can cause.
const maxSignatures = 5

// Verify checks every signature of raw, looking keys up through r.
func Verify(ctx context.Context, raw []byte, r TXTResolver) ([]Result, error) {
	vs, err := msgdkim.VerifyWithOptions(bytes.NewReader(raw), &msgdkim.VerifyOptions{
		LookupTXT:        func(name string) ([]string, error) { return r.LookupTXT(ctx, name) },
		MaxVerifications: maxSignatures,
	})
	if err != nil && !errors.Is(err, msgdkim.ErrTooManySignatures) {
		return nil, fmt.Errorf("dkim: verify: %w", err)
	}
	out := make([]Result, 0, len(vs))
	for _, v := range vs {
		out = append(out, Result{Domain: strings.ToLower(v.Domain), Err: v.Err})
	}
	return out, nil
}

// Check verifies raw and reports whether a signature of domain verifies:
// nil if one does, ErrTemporary if a key lookup failed for now,
// ErrBadSignature (with the first failure) if the domain's signatures all
// fail, ErrUnsigned if there is none.
func Check(ctx context.Context, raw []byte, domain string, r TXTResolver) error {
	results, err := Verify(ctx, raw, r)
	if err != nil {
		return err
	}
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	var failure, temporary error
	for _, res := range results {
		if res.Domain != domain {
			continue
		}
		if res.Err == nil {
			return nil
		}
		if msgdkim.IsTempFail(res.Err) && temporary == nil {
			temporary = res.Err
		}
		if failure == nil {
			failure = res.Err
		}
	}
	if temporary != nil {
		return fmt.Errorf("%w: %s: %v", ErrTemporary, domain, temporary)
	}
	if failure != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadSignature, domain, failure)
	}
	return fmt.Errorf("%w (%s)", ErrUnsigned, domain)
}
