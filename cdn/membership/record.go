package membership

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"time"
)

// Record is a node's signed description of itself. Only its owner can make
// one (it is signed with the node's key); other nodes store and relay it
// verbatim. A newer record of the same node has a higher Seq.
type Record struct {
	Network string `json:"network"`
	// Name is the name the node claims (NAME.shoal.), a DNS label.
	Name string `json:"name"`
	// NameSince is when the node began to claim Name; it decides name
	// conflicts, earlier wins. It does not change while the name stays.
	NameSince time.Time         `json:"name_since"`
	ID        string            `json:"id"`
	PublicKey ed25519.PublicKey `json:"public_key"`
	// Addresses are the IPs the node's services listen on.
	Addresses []netip.Addr `json:"addresses,omitempty"`
	// Ports maps a service ("peer", "bittorrent", "dns", ...) to the port
	// the node really bound for it.
	Ports    map[string]int `json:"ports,omitempty"`
	Services []string       `json:"services,omitempty"`
	// Zone holds the user's own DNS records under the node's name. The
	// naming package validates them; membership only carries them.
	Zone []ZoneRecord `json:"zone,omitempty"`
	// CatalogVersion changes whenever the node's catalog changes.
	CatalogVersion uint64    `json:"catalog_version,omitempty"`
	Seq            uint64    `json:"seq"`
	Time           time.Time `json:"time"`
	Sig            []byte    `json:"sig,omitempty"`
}

// ZoneRecord is one user DNS record, relative to the node's own name.
type ZoneRecord struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Value string `json:"value"`
	TTL   uint32 `json:"ttl,omitempty"`
}

// PeerPort is the service name of the peer API in Record.Ports.
const PeerPort = "peer"

// signingContext separates record signatures from anything else the node
// key signs.
const signingContext = "shoal-node-record-v1\n"

// canonicalRecord fixes the signed form: JSON with the fields in this order,
// times as Unix nanoseconds (independent of time zone and text format), map
// keys sorted (encoding/json sorts them) and empty lists omitted, so nil and
// empty encode alike.
type canonicalRecord struct {
	Network        string         `json:"network"`
	Name           string         `json:"name"`
	NameSince      int64          `json:"name_since"`
	ID             string         `json:"id"`
	PublicKey      []byte         `json:"public_key"`
	Addresses      []string       `json:"addresses,omitempty"`
	Ports          map[string]int `json:"ports,omitempty"`
	Services       []string       `json:"services,omitempty"`
	Zone           []ZoneRecord   `json:"zone,omitempty"`
	CatalogVersion uint64         `json:"catalog_version"`
	Seq            uint64         `json:"seq"`
	Time           int64          `json:"time"`
}

// SigningBytes is the canonical encoding of r without its signature: the
// bytes Sign signs and Verify checks, "shoal-node-record-v1\n" followed by
// the JSON of the fields network, name, name_since, id, public_key,
// addresses, ports, services, zone, catalog_version, seq, time in that order.
func (r *Record) SigningBytes() []byte {
	c := canonicalRecord{
		Network:        r.Network,
		Name:           r.Name,
		NameSince:      unixNano(r.NameSince),
		ID:             r.ID,
		PublicKey:      r.PublicKey,
		Ports:          r.Ports,
		Services:       r.Services,
		Zone:           r.Zone,
		CatalogVersion: r.CatalogVersion,
		Seq:            r.Seq,
		Time:           unixNano(r.Time),
	}
	for _, a := range r.Addresses {
		c.Addresses = append(c.Addresses, a.String())
	}
	var buf bytes.Buffer
	buf.WriteString(signingContext)
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	// Every field is a plain string, number, byte slice or map of them:
	// encoding cannot fail.
	_ = enc.Encode(c)
	return buf.Bytes()
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// Sign fills in r's key and id from s and signs it.
func (r *Record) Sign(s Signer) {
	r.PublicKey = s.PublicKey()
	r.ID = NodeID(r.PublicKey)
	r.Sig = nil
	r.Sig = s.Sign(r.SigningBytes())
}

// Verify checks that r is well formed, that its id is its key's and that
// its signature is good. It says nothing of the network or of freshness.
func (r *Record) Verify() error {
	if len(r.PublicKey) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: public key of %d bytes", ErrInvalid, len(r.PublicKey))
	}
	if r.ID != NodeID(r.PublicKey) {
		return fmt.Errorf("%w: id %q, key says %q", ErrIDMismatch, r.ID, NodeID(r.PublicKey))
	}
	if err := r.validate(); err != nil {
		return err
	}
	if len(r.Sig) != ed25519.SignatureSize || !ed25519.Verify(r.PublicKey, r.SigningBytes(), r.Sig) {
		return fmt.Errorf("%w: record of %s", ErrBadSignature, r.ID)
	}
	return nil
}

// Limits on what a record may carry, so a peer cannot make others store
// or relay megabytes.
const (
	maxAddresses   = 16
	maxPorts       = 32
	maxServices    = 32
	maxZoneRecords = 128
	maxZoneName    = 253
	maxZoneValue   = 2048
)

var (
	labelRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	serviceRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
	rrTypeRE  = regexp.MustCompile(`^[A-Z][A-Z0-9]{0,9}$`)
)

// ValidName reports whether s can be a node or network name: a DNS label of
// lower-case letters, digits and inner hyphens.
func ValidName(s string) bool { return labelRE.MatchString(s) }

func (r *Record) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	if !ValidName(r.Network) {
		return bad("network %q is not a DNS label", r.Network)
	}
	if !ValidName(r.Name) {
		return bad("name %q is not a DNS label", r.Name)
	}
	if r.Time.Year() < 2000 || r.Time.Year() > 9999 {
		return bad("time %v out of range", r.Time)
	}
	if !r.NameSince.IsZero() && (r.NameSince.Year() < 2000 || r.NameSince.After(r.Time)) {
		return bad("name_since %v is not before the record's time %v", r.NameSince, r.Time)
	}
	if len(r.Addresses) > maxAddresses {
		return bad("%d addresses, at most %d", len(r.Addresses), maxAddresses)
	}
	for _, a := range r.Addresses {
		if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || a.Zone() != "" {
			return bad("address %q is not a unicast address", a)
		}
	}
	if len(r.Ports) > maxPorts {
		return bad("%d ports, at most %d", len(r.Ports), maxPorts)
	}
	for s, p := range r.Ports {
		if !serviceRE.MatchString(s) || p < 1 || p > 65535 {
			return bad("port %q=%d", s, p)
		}
	}
	if len(r.Services) > maxServices {
		return bad("%d services, at most %d", len(r.Services), maxServices)
	}
	for _, s := range r.Services {
		if !serviceRE.MatchString(s) {
			return bad("service %q", s)
		}
	}
	if len(r.Zone) > maxZoneRecords {
		return bad("%d zone records, at most %d", len(r.Zone), maxZoneRecords)
	}
	for _, z := range r.Zone {
		if z.Name == "" || len(z.Name) > maxZoneName || !rrTypeRE.MatchString(z.Type) || len(z.Value) > maxZoneValue {
			return bad("zone record %q %q", z.Name, z.Type)
		}
	}
	return nil
}

// PeerAddrs are the HOST:PORT addresses of r's peer API, one per address,
// in the record's order; none when it advertises no peer port.
func (r *Record) PeerAddrs() []string {
	p, ok := r.Ports[PeerPort]
	if !ok {
		return nil
	}
	out := make([]string, 0, len(r.Addresses))
	for _, a := range r.Addresses {
		out = append(out, net.JoinHostPort(a.String(), strconv.Itoa(p)))
	}
	return out
}

// Clone is a deep copy of r.
func (r Record) Clone() Record {
	c := r
	c.PublicKey = bytes.Clone(r.PublicKey)
	c.Sig = bytes.Clone(r.Sig)
	c.Addresses = append([]netip.Addr(nil), r.Addresses...)
	c.Services = append([]string(nil), r.Services...)
	c.Zone = append([]ZoneRecord(nil), r.Zone...)
	c.Ports = maps.Clone(r.Ports)
	return c
}
