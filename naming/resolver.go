package naming

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Errors of look-ups, to check with errors.Is.
var (
	// ErrNotFound is a name that does not exist (NXDOMAIN).
	ErrNotFound = errors.New("naming: no such name")
	// ErrNoRecords is a name without records of the type asked (NODATA).
	ErrNoRecords = errors.New("naming: no records of that type")
	// ErrServerFailure is a resolution that failed (SERVFAIL): upstreams
	// down or offline, a broken delegation, a timeout.
	ErrServerFailure = errors.New("naming: server failure")
	// ErrRefused is a query the chain refused.
	ErrRefused = errors.New("naming: refused")
)

// Resolver resolves names for the node's own use through the same handler
// chain as the server, in process: names of the zone need no socket.
type Resolver struct {
	h Handler
}

// NewResolver returns a resolver that asks h (usually the whole chain).
func NewResolver(h Handler) *Resolver {
	return &Resolver{h: h}
}

// Query resolves name's records of qtype and reports the path the
// resolution took. The error is non-nil when the chain produced no
// response (SERVFAIL and the like); Answer then still holds an error
// response and the steps taken.
func (r *Resolver) Query(ctx context.Context, name string, qtype uint16) (Answer, error) {
	name = dns.Fqdn(strings.TrimSpace(name))
	if _, ok := dns.IsDomainName(name); !ok {
		return Answer{}, fmt.Errorf("naming: query %q: not a domain name", name)
	}
	ctx, tr := withTrace(ctx)
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.Id = randomID()
	rec := &recorder{}
	rcode, err := r.h.ServeDNS(ctx, rec, q)
	a := Answer{Msg: rec.msg, Steps: tr.list()}
	if len(a.Steps) > 0 {
		a.Source = a.Steps[0].Kind
	}
	if a.Msg != nil {
		a.Msg = a.Msg.Copy()
		return a, nil
	}
	if written(rcode) {
		rcode = dns.RcodeServerFailure
	}
	a.Msg = errorReply(q, rcode)
	a.Msg.RecursionAvailable = true
	if err == nil {
		err = rcodeError(rcode)
	}
	return a, fmt.Errorf("naming: query %s %s: %w", name, dns.TypeToString[qtype], err)
}

// rcodeError is the error for a failed rcode.
func rcodeError(rcode int) error {
	switch rcode {
	case dns.RcodeNameError:
		return ErrNotFound
	case dns.RcodeServerFailure:
		return ErrServerFailure
	case dns.RcodeRefused:
		return ErrRefused
	}
	return fmt.Errorf("naming: %s", dns.RcodeToString[rcode])
}

// records queries and returns the answer's records of qtype, or an error
// that says why there are none.
func (r *Resolver) records(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	a, err := r.Query(ctx, name, qtype)
	if err != nil {
		if errors.Is(err, ErrServerFailure) || errors.Is(err, ErrRefused) || errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrServerFailure, err)
	}
	if a.Msg.Rcode != dns.RcodeSuccess {
		return nil, fmt.Errorf("naming: look up %s %s: %w", name, dns.TypeToString[qtype], rcodeError(a.Msg.Rcode))
	}
	var out []dns.RR
	for _, rr := range a.Msg.Answer {
		if rr.Header().Rrtype == qtype {
			out = append(out, rr)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("naming: look up %s %s: %w", name, dns.TypeToString[qtype], ErrNoRecords)
	}
	return out, nil
}

// LookupHost returns host's IPv4 and IPv6 addresses (an IP literal is
// returned as is).
func (r *Resolver) LookupHost(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	var wg sync.WaitGroup
	var rrs [2][]dns.RR
	var errs [2]error
	for i, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		wg.Go(func() { rrs[i], errs[i] = r.records(ctx, host, t) })
	}
	wg.Wait()
	var addrs []netip.Addr
	for _, rr := range append(rrs[0], rrs[1]...) {
		switch rr := rr.(type) {
		case *dns.A:
			a, _ := netip.AddrFromSlice(rr.A)
			addrs = append(addrs, a.Unmap())
		case *dns.AAAA:
			a, _ := netip.AddrFromSlice(rr.AAAA)
			addrs = append(addrs, a)
		}
	}
	if len(addrs) > 0 {
		return addrs, nil
	}
	for _, sentinel := range []error{ErrNotFound, ErrServerFailure, ErrRefused} {
		for _, err := range errs {
			if errors.Is(err, sentinel) {
				return nil, err
			}
		}
	}
	return nil, errs[0]
}

// LookupMX returns domain's mail exchangers, most preferred first.
func (r *Resolver) LookupMX(ctx context.Context, domain string) ([]*net.MX, error) {
	rrs, err := r.records(ctx, domain, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	out := make([]*net.MX, 0, len(rrs))
	for _, rr := range rrs {
		mx := rr.(*dns.MX)
		out = append(out, &net.MX{Host: mx.Mx, Pref: mx.Preference})
	}
	slices.SortStableFunc(out, func(a, b *net.MX) int { return cmp.Compare(a.Pref, b.Pref) })
	return out, nil
}

// LookupSRV looks up _service._proto.name (just name when service and
// proto are empty), like net.Resolver.LookupSRV: it returns the name the
// records were found at and the records by priority, heavier first among
// equals.
func (r *Resolver) LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error) {
	target := name
	if service != "" || proto != "" {
		target = "_" + service + "._" + proto + "." + name
	}
	rrs, err := r.records(ctx, target, dns.TypeSRV)
	if err != nil {
		return "", nil, err
	}
	out := make([]*net.SRV, 0, len(rrs))
	for _, rr := range rrs {
		s := rr.(*dns.SRV)
		out = append(out, &net.SRV{Target: s.Target, Port: s.Port, Priority: s.Priority, Weight: s.Weight})
	}
	slices.SortStableFunc(out, func(a, b *net.SRV) int {
		return cmp.Or(cmp.Compare(a.Priority, b.Priority), cmp.Compare(b.Weight, a.Weight))
	})
	return rrs[0].Header().Name, out, nil
}

// LookupTXT returns name's TXT records, each record's strings joined, as
// net.Resolver.LookupTXT does (a DKIM key is read this way). Its errors are
// *net.DNSError, as DKIM verifiers expect of a resolver: IsNotFound for a
// name or record that is not there, IsTemporary for a server failure (so a
// message waits for naming to come back instead of failing its check); they
// unwrap to naming's sentinels.
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	rrs, err := r.records(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, &net.DNSError{
			Err: err.Error(), Name: name, UnwrapErr: err,
			IsNotFound:  errors.Is(err, ErrNotFound) || errors.Is(err, ErrNoRecords),
			IsTemporary: errors.Is(err, ErrServerFailure),
		}
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, strings.Join(rr.(*dns.TXT).Txt, ""))
	}
	return out, nil
}

// QueryServer asks server ("IP" or "IP:PORT", port 53 by default) directly,
// with recursion desired, as `shoal dns query --server` does. It uses the
// resolver's safeguards (random ID and port, answer checks, TCP on TC).
func QueryServer(ctx context.Context, server, name string, qtype uint16, timeout time.Duration) (Answer, error) {
	aps, err := parseServers([]string{server}, 53)
	if err != nil {
		return Answer{}, fmt.Errorf("naming: server: %w", err)
	}
	name = dns.Fqdn(strings.TrimSpace(name))
	if _, ok := dns.IsDomainName(name); !ok {
		return Answer{}, fmt.Errorf("naming: query %q: not a domain name", name)
	}
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	x := &exchanger{timeout: timeout, log: discardLogger()}
	ex, err := x.exchange(ctx, aps[0], dns.Question{Name: name, Qtype: qtype, Qclass: dns.ClassINET}, true)
	step := Step{Kind: StepServer, Server: aps[0].String(), Question: name + " " + dns.TypeToString[qtype], Rcode: -1, RTT: ex.rtt}
	if err != nil {
		step.Result = errorWord(err) + ex.note()
		return Answer{Source: StepServer, Steps: []Step{step}}, err
	}
	step.Result, step.Rcode = summary(ex.msg)+ex.note(), ex.msg.Rcode
	return Answer{Msg: ex.msg, Source: StepServer, Steps: []Step{step}}, nil
}
