package naming

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Iterator resolves names itself, from the root hints down the referrals
// to the authoritative servers. From each server it takes only records
// inside the zone that server was asked for (its bailiwick): glue and
// answers for other zones are dropped and, where needed, resolved from the
// top. Delegations it learns are kept for their NS TTL.
type Iterator struct {
	ex    *exchanger
	hints []netip.AddrPort
	port  uint16
	now   func() time.Time
	log   *slog.Logger

	mu    sync.Mutex
	deleg *lru[string, delegation]
}

type delegation struct {
	servers []netip.AddrPort
	expires time.Time
}

// Bounds of one resolution.
const (
	maxReferrals = 16 // referrals followed for one name
	maxQueries   = 64 // queries sent in all
	maxDepth     = 4  // nesting of name server address look-ups
)

// NewIterator returns the iterative resolver of cfg.
func NewIterator(cfg Config) (*Iterator, error) {
	cfg = cfg.withDefaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	hints, _ := parseServers(cfg.RootHints, uint16(cfg.NameServerPort))
	return &Iterator{
		ex:    &exchanger{timeout: cfg.Timeout, log: cfg.Logger},
		hints: hints,
		port:  uint16(cfg.NameServerPort),
		now:   cfg.Now,
		log:   cfg.Logger,
		deleg: newLRU[string, delegation](max(64, cfg.CacheSize/10)),
	}, nil
}

// Name implements Handler.
func (it *Iterator) Name() string { return "iterate" }

// ServeDNS implements Handler.
func (it *Iterator) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if mustNotBlock(ctx) {
		return dns.RcodeServerFailure, errWouldBlock
	}
	q := r.Question[0]
	res, err := it.resolve(ctx, &budget{}, dns.CanonicalName(q.Name), q.Qtype, 0)
	if err != nil {
		return dns.RcodeServerFailure, err
	}
	m := new(dns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	m.Rcode = res.rcode
	m.Answer = res.answer
	m.Ns = res.ns
	if err := w.WriteMsg(m); err != nil {
		return dns.RcodeServerFailure, fmt.Errorf("naming: iterate: write: %w", err)
	}
	return m.Rcode, nil
}

// budget counts the queries of one resolution.
type budget struct{ queries int }

type result struct {
	rcode      int
	answer, ns []dns.RR
}

// resolve resolves name, following CNAME chains across zones.
func (it *Iterator) resolve(ctx context.Context, b *budget, name string, qtype uint16, depth int) (result, error) {
	var chain []dns.RR
	seen := map[string]bool{}
	for hops := 0; hops <= maxChain; hops++ {
		if seen[name] {
			return result{}, fmt.Errorf("naming: iterate: CNAME loop at %s", name)
		}
		seen[name] = true
		res, next, err := it.lookup(ctx, b, name, qtype, depth)
		if err != nil {
			return result{}, err
		}
		chain = append(chain, res.answer...)
		if next == "" {
			res.answer = chain
			return res, nil
		}
		name = next
	}
	return result{}, fmt.Errorf("naming: iterate: CNAME chain from %s too long", name)
}

// lookup resolves one name from the closest known delegation down. When
// the answer is a CNAME chain that leaves the answering server's zone (or
// stops), next is the name to go on with.
func (it *Iterator) lookup(ctx context.Context, b *budget, name string, qtype uint16, depth int) (result, string, error) {
	zone, servers := it.closest(name)
	qs := name + " " + dns.TypeToString[qtype]
	for range maxReferrals {
		resp, server, rtt, note, err := it.ask(ctx, b, zone, servers, name, qtype)
		if err != nil {
			return result{}, "", err
		}
		step := Step{Kind: StepIterate, Server: server.String(), Zone: zone, Question: qs, Rcode: resp.Rcode, RTT: rtt}
		chain, rest := splitChain(name, qtype, resp.Answer)

		if len(chain) > 0 || len(rest) > 0 {
			accepted, next, complete := followInZone(zone, name, chain, rest)
			step.Result = summary(resp) + note
			if dropped := len(resp.Answer) - len(accepted); dropped > 0 {
				step.Result += fmt.Sprintf(" (%d answer records out of bailiwick or off the chain dropped)", dropped)
			}
			addStep(ctx, step)
			if complete {
				return result{rcode: dns.RcodeSuccess, answer: accepted}, "", nil
			}
			soa := soaFor(zone, next, resp.Ns)
			if resp.Authoritative && inside(next, zone) && soa != nil &&
				(resp.Rcode == dns.RcodeNameError || resp.Rcode == dns.RcodeSuccess) {
				// The chain ends in this zone, negatively.
				return result{rcode: resp.Rcode, answer: accepted, ns: []dns.RR{soa}}, "", nil
			}
			return result{rcode: dns.RcodeSuccess, answer: accepted}, next, nil
		}

		if resp.Rcode == dns.RcodeNameError {
			step.Result = "NXDOMAIN" + note
			addStep(ctx, step)
			return result{rcode: dns.RcodeNameError, ns: soaList(soaFor(zone, name, resp.Ns))}, "", nil
		}

		if child, targets := referral(zone, name, resp.Ns); child != "" {
			step.Result = fmt.Sprintf("referral to %s (%s)%s", child, strings.Join(targets, ", "), note)
			addStep(ctx, step)
			addrs, err := it.serversOf(ctx, b, zone, child, targets, resp, depth)
			if err != nil {
				return result{}, "", err
			}
			zone, servers = child, addrs
			continue
		}

		if soa := soaFor(zone, name, resp.Ns); soa != nil || resp.Authoritative {
			step.Result = "NOERROR, no data" + note
			addStep(ctx, step)
			return result{rcode: dns.RcodeSuccess, ns: soaList(soa)}, "", nil
		}
		step.Result = "lame: neither answer nor referral" + note
		addStep(ctx, step)
		return result{}, "", fmt.Errorf("naming: iterate: lame response from %s for %s", server, qs)
	}
	return result{}, "", fmt.Errorf("naming: iterate: too many referrals for %s", qs)
}

// followInZone accepts the CNAME links and final records of an answer
// whose owners lie in zone. complete means the answer is whole; otherwise
// next is the name to resolve on.
func followInZone(zone, name string, chain, rest []dns.RR) (accepted []dns.RR, next string, complete bool) {
	cur := name
	for _, c := range chain {
		if !inside(cur, zone) {
			return accepted, cur, false
		}
		accepted = append(accepted, c)
		cur = dns.CanonicalName(c.(*dns.CNAME).Target)
	}
	if len(rest) > 0 && inside(cur, zone) {
		return append(accepted, rest...), "", true
	}
	return accepted, cur, false
}

// referral finds a delegation from zone towards name in an authority
// section: the child zone and its name servers.
func referral(zone, name string, ns []dns.RR) (string, []string) {
	var child string
	var targets []string
	for _, rr := range ns {
		n, ok := rr.(*dns.NS)
		if !ok {
			continue
		}
		owner := dns.CanonicalName(n.Hdr.Name)
		if owner == zone || !inside(owner, zone) || !inside(name, owner) {
			continue
		}
		if child == "" {
			child = owner
		}
		if owner == child && !slices.Contains(targets, dns.CanonicalName(n.Ns)) {
			targets = append(targets, dns.CanonicalName(n.Ns))
		}
	}
	return child, targets
}

// serversOf finds the addresses of a child zone's name servers: glue in
// the referral if it lies in the parent's zone, otherwise by resolving the
// servers' names. The delegation is remembered for the NS TTL.
func (it *Iterator) serversOf(ctx context.Context, b *budget, zone, child string, targets []string, resp *dns.Msg, depth int) ([]netip.AddrPort, error) {
	var addrs []netip.AddrPort
	ttl := uint32(1<<31 - 1)
	for _, rr := range resp.Ns {
		if n, ok := rr.(*dns.NS); ok && dns.CanonicalName(n.Hdr.Name) == child {
			ttl = min(ttl, n.Hdr.Ttl)
		}
	}
	for _, rr := range resp.Extra {
		owner := dns.CanonicalName(rr.Header().Name)
		if !slices.Contains(targets, owner) || !inside(owner, zone) {
			continue // not glue, or out of bailiwick
		}
		var a netip.Addr
		switch rr := rr.(type) {
		case *dns.A:
			a, _ = netip.AddrFromSlice(rr.A)
		case *dns.AAAA:
			a, _ = netip.AddrFromSlice(rr.AAAA)
		default:
			continue
		}
		addrs = append(addrs, netip.AddrPortFrom(a.Unmap(), it.port))
		ttl = min(ttl, rr.Header().Ttl)
	}
	if len(addrs) == 0 && depth < maxDepth {
		for _, t := range targets {
			if inside(t, child) {
				continue // needs glue, which was missing
			}
			res, err := it.resolve(ctx, b, t, dns.TypeA, depth+1)
			if err != nil {
				if ctx.Err() != nil {
					return nil, err
				}
				continue
			}
			for _, rr := range res.answer {
				if a, ok := rr.(*dns.A); ok {
					ip, _ := netip.AddrFromSlice(a.A)
					addrs = append(addrs, netip.AddrPortFrom(ip.Unmap(), it.port))
				}
			}
			if len(addrs) > 0 {
				break
			}
		}
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("naming: iterate: no address for the name servers of %s", child)
	}
	it.mu.Lock()
	it.deleg.add(child, delegation{servers: addrs, expires: it.now().Add(time.Duration(ttl) * time.Second)})
	it.mu.Unlock()
	return addrs, nil
}

// closest is the deepest known live delegation above name, or the root.
func (it *Iterator) closest(name string) (string, []netip.AddrPort) {
	now := it.now()
	it.mu.Lock()
	defer it.mu.Unlock()
	for z := name; z != ""; z = parent(z) {
		if d, ok := it.deleg.get(z); ok {
			if now.Before(d.expires) {
				return z, d.servers
			}
			it.deleg.remove(z)
		}
	}
	return ".", it.hints
}

// ask puts the question to zone's servers, in random order, until one
// gives a usable response (NOERROR or NXDOMAIN).
func (it *Iterator) ask(ctx context.Context, b *budget, zone string, servers []netip.AddrPort, name string, qtype uint16) (*dns.Msg, netip.AddrPort, time.Duration, string, error) {
	qs := name + " " + dns.TypeToString[qtype]
	order := slices.Clone(servers)
	rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	var last error = errors.New("no servers")
	for _, s := range order {
		if b.queries >= maxQueries {
			return nil, s, 0, "", fmt.Errorf("naming: iterate %s: more than %d queries", qs, maxQueries)
		}
		b.queries++
		ex, err := it.ex.exchange(ctx, s, dns.Question{Name: name, Qtype: qtype, Qclass: dns.ClassINET}, false)
		if err != nil {
			addStep(ctx, Step{Kind: StepIterate, Server: s.String(), Zone: zone, Question: qs, Result: errorWord(err) + ex.note(), Rcode: -1, RTT: ex.rtt})
			last = err
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if rc := ex.msg.Rcode; rc != dns.RcodeSuccess && rc != dns.RcodeNameError {
			addStep(ctx, Step{Kind: StepIterate, Server: s.String(), Zone: zone, Question: qs, Result: summary(ex.msg) + ex.note(), Rcode: rc, RTT: ex.rtt})
			last = fmt.Errorf("naming: %s answered %s", s, dns.RcodeToString[rc])
			continue
		}
		return ex.msg, s, ex.rtt, ex.note(), nil
	}
	return nil, netip.AddrPort{}, 0, "", fmt.Errorf("naming: iterate %s in %s: %w", qs, zone, last)
}

// soaFor is the SOA of a negative answer for name from a server of zone,
// if it lies in zone and above name.
func soaFor(zone, name string, ns []dns.RR) *dns.SOA {
	for _, rr := range ns {
		soa, ok := rr.(*dns.SOA)
		if !ok {
			continue
		}
		owner := dns.CanonicalName(soa.Hdr.Name)
		if inside(owner, zone) && inside(name, owner) {
			return soa
		}
	}
	return nil
}

func soaList(soa *dns.SOA) []dns.RR {
	if soa == nil {
		return nil
	}
	return []dns.RR{soa}
}
