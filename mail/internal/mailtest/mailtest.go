// Package mailtest holds the parts the mail packages' tests share: a real
// DNS server on loopback serving a small test zone (with a *net.Resolver
// pointed at it), in-memory mailboxes, a mail store in a real bbolt file,
// servers on loopback listeners, and a self-signed ed25519 certificate.
package mailtest

import (
	"context"
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
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Zone is a DNS server on 127.0.0.1 whose records tests change at will.
type Zone struct {
	mu      sync.Mutex
	records map[string][]dns.RR // by lower-case FQDN
	addr    string
}

// NewZone starts a DNS server (UDP and TCP) on a free loopback port, stopped
// when the test ends.
func NewZone(t testing.TB) *Zone {
	t.Helper()
	z := &Zone{records: map[string][]dns.RR{}}
	// UDP and TCP on one port: a free UDP port's TCP twin may be taken, so
	// try a few.
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	for range 20 {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	z.addr = pc.LocalAddr().String()
	udp := &dns.Server{PacketConn: pc, Handler: z}
	tcp := &dns.Server{Listener: ln, Handler: z}
	started := make(chan struct{}, 2)
	udp.NotifyStartedFunc = func() { started <- struct{}{} }
	tcp.NotifyStartedFunc = func() { started <- struct{}{} }
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	<-started
	<-started
	t.Cleanup(func() {
		udp.Shutdown()
		tcp.Shutdown()
	})
	return z
}

// Addr is the server's host:port.
func (z *Zone) Addr() string { return z.addr }

// Add adds records in zone-file syntax ("bob.shoal. 60 IN MX 10 bob.shoal.").
func (z *Zone) Add(t testing.TB, lines ...string) {
	t.Helper()
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatalf("zone record %q: %v", l, err)
		}
		name := strings.ToLower(rr.Header().Name)
		z.records[name] = append(z.records[name], rr)
	}
}

// Remove drops every record of name and type (dns.TypeSRV, ...).
func (z *Zone) Remove(name string, rrtype uint16) {
	z.mu.Lock()
	defer z.mu.Unlock()
	name = strings.ToLower(dns.Fqdn(name))
	kept := z.records[name][:0]
	for _, rr := range z.records[name] {
		if rr.Header().Rrtype != rrtype {
			kept = append(kept, rr)
		}
	}
	z.records[name] = kept
}

// ServeDNS answers from the records: NXDOMAIN for unknown names, an empty
// answer for known names without the type.
func (z *Zone) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	if len(r.Question) == 1 {
		q := r.Question[0]
		z.mu.Lock()
		rrs, ok := z.records[strings.ToLower(q.Name)]
		for _, rr := range rrs {
			if rr.Header().Rrtype == q.Qtype {
				m.Answer = append(m.Answer, dns.Copy(rr))
			}
		}
		z.mu.Unlock()
		if !ok {
			m.Rcode = dns.RcodeNameError
		}
	}
	w.WriteMsg(m)
}

// Resolver is a *net.Resolver that asks only this server.
func (z *Zone) Resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, z.addr)
		},
	}
}

// NetipResolver is the Zone's resolver with the LookupHost of naming's
// resolver (netip.Addr values), as mail/queue wants it.
func (z *Zone) NetipResolver() NetipResolver { return NetipResolver{z.Resolver()} }

// NetipResolver adapts a *net.Resolver to LookupHost with netip.Addr values.
type NetipResolver struct{ *net.Resolver }

// LookupHost returns host's addresses.
func (r NetipResolver) LookupHost(ctx context.Context, host string) ([]netip.Addr, error) {
	addrs, err := r.Resolver.LookupNetIP(ctx, "ip", host)
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	return addrs, err
}

// Mailboxes is an in-memory mail store with the methods smtpd and the queue
// use: INBOX and Sent per user, and a password per user.
type Mailboxes struct {
	mu        sync.Mutex
	passwords map[string]string
	inbox     map[string][][]byte
	sent      map[string][][]byte
	failing   error
}

// NewMailboxes makes a store with the given users (user -> password).
func NewMailboxes(users map[string]string) *Mailboxes {
	m := &Mailboxes{passwords: map[string]string{}, inbox: map[string][][]byte{}, sent: map[string][][]byte{}}
	for u, p := range users {
		m.passwords[u] = p
	}
	return m
}

// ErrNoUser is returned for a user the store does not have.
var ErrNoUser = errors.New("smtptest: no such user")

// Fail makes every later Deliver fail with err (nil: work again).
func (m *Mailboxes) Fail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failing = err
}

// Deliver appends raw to user's INBOX.
func (m *Mailboxes) Deliver(_ context.Context, user string, raw []byte) (uint32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failing != nil {
		return 0, m.failing
	}
	if _, ok := m.passwords[user]; !ok {
		return 0, fmt.Errorf("%w: %s", ErrNoUser, user)
	}
	m.inbox[user] = append(m.inbox[user], append([]byte(nil), raw...))
	return uint32(len(m.inbox[user])), nil
}

// AppendSent appends raw to user's Sent folder.
func (m *Mailboxes) AppendSent(_ context.Context, user string, raw []byte) (uint32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.passwords[user]; !ok {
		return 0, fmt.Errorf("%w: %s", ErrNoUser, user)
	}
	m.sent[user] = append(m.sent[user], append([]byte(nil), raw...))
	return uint32(len(m.sent[user])), nil
}

// Authenticate checks user's password.
func (m *Mailboxes) Authenticate(_ context.Context, user, password string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.passwords[user]; !ok || p != password {
		return errors.New("smtptest: bad user name or password")
	}
	return nil
}

// HasUser reports whether user exists.
func (m *Mailboxes) HasUser(_ context.Context, user string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.passwords[user]
	return ok, nil
}

// Inbox is a copy of user's INBOX.
func (m *Mailboxes) Inbox(user string) [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([][]byte(nil), m.inbox[user]...)
}

// Sent is a copy of user's Sent folder.
func (m *Mailboxes) Sent(user string) [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([][]byte(nil), m.sent[user]...)
}

// Eventually polls cond every few milliseconds until it holds or the deadline
// passes, then fails the test with msg.
func Eventually(t testing.TB, d time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: "+msg, append([]any{d}, args...)...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TLSConfig is a server config with a fresh self-signed ed25519 certificate
// for names, and a client config that trusts it.
func TLSConfig(t testing.TB, names ...string) (server, client *tls.Config) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: names[0]},
		DNSNames:              names,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: cert}}}
	client = &tls.Config{RootCAs: pool, ServerName: names[0]}
	return server, client
}

// CertPEM is the PEM text of the server config's certificate (for swaks
// --tls-ca-path and the like).
func CertPEM(server *tls.Config) []byte {
	return pemEncode("CERTIFICATE", server.Certificates[0].Certificate[0])
}

func pemEncode(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
