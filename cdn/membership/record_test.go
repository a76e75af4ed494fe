package membership

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestNodeIDDerivation(t *testing.T) {
	s := newSigner(t)
	sum := sha256.Sum256(s.PublicKey())
	want := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:20]))
	if got := NodeID(s.PublicKey()); got != want || len(got) != 32 {
		t.Fatalf("NodeID = %q, want %q (32 chars)", got, want)
	}
}

func signedRecord(t *testing.T, s keySigner) Record {
	now := time.Now().UTC()
	r := Record{
		Network:        "test",
		Name:           "alpha",
		NameSince:      now.Add(-time.Hour),
		Addresses:      []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("::1")},
		Ports:          map[string]int{"peer": 7481, "bittorrent": 7482},
		Services:       []string{"cdn", "dns"},
		Zone:           []ZoneRecord{{Name: "www", Type: "CNAME", Value: "alpha.shoal.", TTL: 60}},
		CatalogVersion: 3,
		Seq:            7,
		Time:           now,
	}
	r.Sign(s)
	return r
}

func TestRecordSignVerify(t *testing.T) {
	s := newSigner(t)
	r := signedRecord(t, s)
	if err := r.Verify(); err != nil {
		t.Fatalf("fresh record: %v", err)
	}
	if r.ID != s.id() {
		t.Fatalf("ID = %s, want %s", r.ID, s.id())
	}

	// Through JSON, and with the times in another zone: same instants,
	// same signature.
	raw, _ := json.Marshal(r)
	var back Record
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if err := back.Verify(); err != nil {
		t.Fatalf("after JSON: %v", err)
	}
	zoned := back.Clone()
	zoned.Time = zoned.Time.In(time.FixedZone("x", 3600))
	zoned.Ports = map[string]int{"bittorrent": 7482, "peer": 7481}
	if err := zoned.Verify(); err != nil {
		t.Fatalf("other zone: %v", err)
	}

	tamper := map[string]func(r *Record){
		"name":    func(r *Record) { r.Name = "beta" },
		"network": func(r *Record) { r.Network = "other" },
		"address": func(r *Record) { r.Addresses[0] = netip.MustParseAddr("10.0.0.1") },
		"port":    func(r *Record) { r.Ports["peer"] = 1 },
		"service": func(r *Record) { r.Services = r.Services[:1] },
		"zone":    func(r *Record) { r.Zone[0].Value = "evil.example." },
		"catalog": func(r *Record) { r.CatalogVersion++ },
		"seq":     func(r *Record) { r.Seq++ },
		"time":    func(r *Record) { r.Time = r.Time.Add(time.Second) },
		"since":   func(r *Record) { r.NameSince = r.NameSince.Add(-time.Hour) },
		"sig":     func(r *Record) { r.Sig[0] ^= 1 },
	}
	for name, fn := range tamper {
		c := r.Clone()
		fn(&c)
		if err := c.Verify(); !errors.Is(err, ErrBadSignature) {
			t.Errorf("tampered %s: err = %v, want ErrBadSignature", name, err)
		}
	}

	other := newSigner(t)
	c := r.Clone()
	c.ID = other.id()
	if err := c.Verify(); !errors.Is(err, ErrIDMismatch) {
		t.Errorf("foreign id: err = %v, want ErrIDMismatch", err)
	}
	c = r.Clone()
	c.PublicKey = other.PublicKey() // re-keyed but signed by s
	c.ID = other.id()
	if err := c.Verify(); !errors.Is(err, ErrBadSignature) {
		t.Errorf("other key: err = %v, want ErrBadSignature", err)
	}

	invalid := map[string]func(r *Record){
		"name":       func(r *Record) { r.Name = "Not A Label" },
		"empty name": func(r *Record) { r.Name = "" },
		"port":       func(r *Record) { r.Ports["peer"] = 70000 },
		"address":    func(r *Record) { r.Addresses = append(r.Addresses, netip.IPv4Unspecified()) },
		"zone type":  func(r *Record) { r.Zone[0].Type = "a b" },
		"no time":    func(r *Record) { r.Time = time.Time{} },
		"since":      func(r *Record) { r.NameSince = r.Time.Add(time.Hour) },
	}
	for name, fn := range invalid {
		c := r.Clone()
		fn(&c)
		c.Sign(s)
		if err := c.Verify(); !errors.Is(err, ErrInvalid) {
			t.Errorf("invalid %s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func TestDisplayNames(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	idA := "aaaaaa" + strings.Repeat("2", 26)
	idB := "bbbbbb" + strings.Repeat("2", 26)
	idC := "cccccc" + strings.Repeat("2", 26)
	long := strings.Repeat("x", 63)
	cases := []struct {
		name   string
		claims []nameClaim
		want   map[string]string
	}{
		{"distinct", []nameClaim{{idA, "web", t0}, {idB, "db", t0}},
			map[string]string{idA: "web", idB: "db"}},
		{"earlier wins", []nameClaim{{idA, "web", t0.Add(time.Second)}, {idB, "web", t0}},
			map[string]string{idA: "web-aaaaaa", idB: "web"}},
		{"tie goes to the smaller id", []nameClaim{{idB, "web", t0}, {idA, "web", t0}},
			map[string]string{idA: "web", idB: "web-bbbbbb"}},
		{"three claims", []nameClaim{{idC, "web", t0}, {idA, "web", t0.Add(2)}, {idB, "web", t0.Add(1)}},
			map[string]string{idC: "web", idA: "web-aaaaaa", idB: "web-bbbbbb"}},
		{"fallback already taken", []nameClaim{{idA, "web", t0}, {idB, "web", t0.Add(1)}, {idC, "web-bbbbbb", t0}},
			map[string]string{idA: "web", idB: "web-bbbbbb2", idC: "web-bbbbbb"}},
		{"long name cut to a label", []nameClaim{{idA, long, t0}, {idB, long, t0.Add(1)}},
			map[string]string{idA: long, idB: long[:56] + "-bbbbbb"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := displayNames(tc.claims)
			for id, want := range tc.want {
				if got[id] != want {
					t.Errorf("%s… shown as %q, want %q", id[:6], got[id], want)
				}
				if !ValidName(got[id]) {
					t.Errorf("%q is not a DNS label", got[id])
				}
			}
		})
	}
}
