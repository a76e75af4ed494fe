package dkim

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// zone is a TXT resolver backed by a map.
type zone map[string][]string

func (z zone) LookupTXT(_ context.Context, name string) ([]string, error) {
	if txt, ok := z[strings.TrimSuffix(name, ".")]; ok {
		return txt, nil
	}
	return nil, fmt.Errorf("no such name %s", name)
}

const message = "From: alice@alice.shoal\r\n" +
	"To: bob@bob.shoal\r\n" +
	"Subject: hello\r\n" +
	"Date: Wed, 02 Dec 2026 07:40:00 +0000\r\n" +
	"Message-ID: <1@alice.shoal>\r\n" +
	"\r\n" +
	"Hi Bob,\r\nthe ferry leaves at nine.\r\n"

func newKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func TestSignVerify(t *testing.T) {
	ctx := context.Background()
	pub, priv := newKey(t)
	otherPub, otherPriv := newKey(t)
	z := zone{
		RecordName("alice.shoal"):   {TXTRecord(pub)},
		RecordName("mallory.shoal"): {TXTRecord(otherPub)},
	}
	s, err := NewSigner("alice.shoal", priv)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := s.Sign([]byte(message))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(signed, []byte("DKIM-Signature: ")) || !bytes.HasSuffix(signed, []byte(message)) {
		t.Fatalf("signed message is not signature + original:\n%s", signed)
	}
	for _, tag := range []string{"a=ed25519-sha256", "d=alice.shoal", "s=shoal", "c=relaxed/relaxed"} {
		if !bytes.Contains(signed, []byte(tag)) {
			t.Errorf("signature lacks %s:\n%s", tag, signed)
		}
	}

	t.Run("pass", func(t *testing.T) {
		if err := Check(ctx, signed, "alice.shoal", z); err != nil {
			t.Fatalf("Check: %v", err)
		}
		res, err := Verify(ctx, signed, z)
		if err != nil || len(res) != 1 || res[0].Domain != "alice.shoal" || res[0].Err != nil {
			t.Fatalf("Verify = %+v, %v", res, err)
		}
	})
	t.Run("altered body", func(t *testing.T) {
		altered := bytes.Replace(signed, []byte("at nine"), []byte("at ten"), 1)
		if err := Check(ctx, altered, "alice.shoal", z); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("Check of altered body = %v, want ErrBadSignature", err)
		}
	})
	t.Run("altered header", func(t *testing.T) {
		altered := bytes.Replace(signed, []byte("Subject: hello"), []byte("Subject: pay me"), 1)
		if err := Check(ctx, altered, "alice.shoal", z); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("Check of altered subject = %v, want ErrBadSignature", err)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		forger, err := NewSigner("alice.shoal", otherPriv)
		if err != nil {
			t.Fatal(err)
		}
		forged, err := forger.Sign([]byte(message))
		if err != nil {
			t.Fatal(err)
		}
		if err := Check(ctx, forged, "alice.shoal", z); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("Check of message signed with another key = %v, want ErrBadSignature", err)
		}
	})
	t.Run("signed by another domain", func(t *testing.T) {
		m, err := NewSigner("mallory.shoal", otherPriv)
		if err != nil {
			t.Fatal(err)
		}
		other, err := m.Sign([]byte(message))
		if err != nil {
			t.Fatal(err)
		}
		if err := Check(ctx, other, "mallory.shoal", z); err != nil {
			t.Fatalf("mallory's own signature: %v", err)
		}
		if err := Check(ctx, other, "alice.shoal", z); !errors.Is(err, ErrUnsigned) {
			t.Fatalf("Check for alice of mallory's signature = %v, want ErrUnsigned", err)
		}
	})
	t.Run("no signature", func(t *testing.T) {
		if err := Check(ctx, []byte(message), "alice.shoal", z); !errors.Is(err, ErrUnsigned) {
			t.Fatalf("Check of unsigned message = %v, want ErrUnsigned", err)
		}
	})
	t.Run("key not published", func(t *testing.T) {
		if err := Check(ctx, signed, "alice.shoal", zone{}); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("Check without a key record = %v, want ErrBadSignature", err)
		}
	})
}

func TestNewSignerBadInput(t *testing.T) {
	_, priv := newKey(t)
	if _, err := NewSigner("", priv); err == nil {
		t.Error("empty domain accepted")
	}
	if _, err := NewSigner("a b.shoal", priv); err == nil {
		t.Error("domain with a space accepted")
	}
	if _, err := NewSigner("alice.shoal", priv[:10]); err == nil {
		t.Error("short key accepted")
	}
	s, _ := NewSigner("alice.shoal", priv)
	if _, err := s.Sign(nil); err == nil {
		t.Error("empty message signed")
	}
}

func TestTXTRecord(t *testing.T) {
	pub, _ := newKey(t)
	rec := TXTRecord(pub)
	if !strings.HasPrefix(rec, "v=DKIM1; k=ed25519; p=") || len(rec) != len("v=DKIM1; k=ed25519; p=")+44 {
		t.Fatalf("TXTRecord = %q", rec)
	}
	if got := RecordName("bob.shoal."); got != "shoal._domainkey.bob.shoal" {
		t.Fatalf("RecordName = %q", got)
	}
}
