package naming

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Cache answers from earlier responses of the handlers behind it while
// their TTLs last, counting the TTLs down. It keeps negative answers (RFC
// 2308) for the SOA's minimum or TTL, whichever is smaller, follows CNAME
// chains through its entries and evicts the least recently used entry past
// its size. It stores only what the resolvers behind it accepted: their
// answers are already cut to the records in bailiwick.
type Cache struct {
	Next Handler

	now    func() time.Time
	maxTTL time.Duration
	maxNeg time.Duration

	mu      sync.Mutex
	entries *lru[cacheKey, *cacheEntry]
	gen     atomic.Uint64 // counts Flushes: the server's packed answers from before are void
}

type cacheKey struct {
	name  string // canonical
	qtype uint16
}

type cacheEntry struct {
	rcode   int
	answer  []dns.RR
	ns      []dns.RR
	stored  time.Time
	expires time.Time
}

// NewCache returns a cache with cfg's size, TTL caps and clock.
func NewCache(cfg Config) *Cache {
	cfg = cfg.withDefaults()
	return &Cache{
		now:     cfg.Now,
		maxTTL:  cfg.MaxTTL,
		maxNeg:  cfg.MaxNegativeTTL,
		entries: newLRU[cacheKey, *cacheEntry](cfg.CacheSize),
	}
}

// Name implements Handler.
func (c *Cache) Name() string { return "cache" }

// Len is the number of entries.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries.len()
}

// Flush empties the cache.
func (c *Cache) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries.clear()
	c.gen.Add(1)
}

// ServeDNS implements Handler.
func (c *Cache) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	q := r.Question[0]
	if q.Qclass != dns.ClassINET || q.Qtype == dns.TypeANY {
		return nextOrFailure(ctx, c.Name(), c.Next, w, r)
	}
	gen := c.gen.Load()
	if m, until := c.lookup(r); m != nil {
		// The response stays what it is until the TTLs count down another
		// second or an entry expires: the server may send it again until then.
		markPacked(w, packDep{cache: c, cacheGen: gen, until: until})
		if tracing(ctx) {
			addStep(ctx, Step{Kind: StepCache, Question: questionString(r), Result: summary(m) + ", from cache", Rcode: m.Rcode})
		}
		if err := w.WriteMsg(m); err != nil {
			return dns.RcodeServerFailure, fmt.Errorf("naming: cache: write: %w", err)
		}
		return m.Rcode, nil
	}
	return nextOrFailure(ctx, c.Name(), c.Next, &captureWriter{ResponseWriter: w, keep: func(m *dns.Msg) { c.store(q, m) }}, r)
}

// lookup builds the response to r from the cache, following CNAMEs, or
// returns nil on a miss. until is when the response would change: the next
// second of the count-down of an entry's TTLs, or its expiry.
func (c *Cache) lookup(r *dns.Msg) (_ *dns.Msg, until time.Time) {
	q := r.Question[0]
	now := c.now()
	name := dns.CanonicalName(q.Name)
	var answer []dns.RR
	c.mu.Lock()
	defer c.mu.Unlock()
	for hops := 0; hops <= maxChain; hops++ {
		if e := c.get(cacheKey{name, q.Qtype}, now); e != nil {
			until = e.until(now, until)
			m := new(dns.Msg)
			m.SetReply(r)
			m.RecursionAvailable = true
			m.Rcode = e.rcode
			m.Answer = append(answer, e.aged(e.answer, now)...)
			m.Ns = e.aged(e.ns, now)
			return m, until
		}
		if q.Qtype == dns.TypeCNAME {
			return nil, until
		}
		e := c.get(cacheKey{name, dns.TypeCNAME}, now)
		if e == nil || len(e.answer) != 1 {
			return nil, until
		}
		cn, ok := e.answer[0].(*dns.CNAME)
		if !ok {
			return nil, until
		}
		until = e.until(now, until)
		answer = append(answer, e.aged(e.answer, now)...)
		name = dns.CanonicalName(cn.Target)
	}
	return nil, until
}

// until is the earlier of u (if set) and the moment e's aged TTLs next
// change or e expires.
func (e *cacheEntry) until(now, u time.Time) time.Time {
	elapsed := now.Sub(e.stored) / time.Second
	t := e.stored.Add((elapsed + 1) * time.Second)
	if e.expires.Before(t) {
		t = e.expires
	}
	if u.IsZero() || t.Before(u) {
		return t
	}
	return u
}

// get returns the live entry for k; an expired one is removed. c.mu is held.
func (c *Cache) get(k cacheKey, now time.Time) *cacheEntry {
	e, ok := c.entries.get(k)
	if !ok {
		return nil
	}
	if !now.Before(e.expires) {
		c.entries.remove(k)
		return nil
	}
	return e
}

// aged copies rrs with their TTLs counted down to now.
func (e *cacheEntry) aged(rrs []dns.RR, now time.Time) []dns.RR {
	elapsed := uint32(now.Sub(e.stored) / time.Second)
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		rr = dns.Copy(rr)
		h := rr.Header()
		if h.Ttl > elapsed {
			h.Ttl -= elapsed
		} else {
			h.Ttl = 0
		}
		out[i] = rr
	}
	return out
}

// store keeps a response to q: the whole answer under q, and each link of
// a CNAME chain and the chain's end under their own names, so other
// questions find them.
func (c *Cache) store(q dns.Question, m *dns.Msg) {
	if m == nil || m.Truncated || len(m.Question) != 1 || q.Qclass != dns.ClassINET {
		return
	}
	name := dns.CanonicalName(q.Name)
	if dns.CanonicalName(m.Question[0].Name) != name || m.Question[0].Qtype != q.Qtype {
		return
	}
	now := c.now()
	var entries []struct {
		key cacheKey
		e   *cacheEntry
	}
	keep := func(k cacheKey, rcode int, answer, ns []dns.RR, ttl time.Duration) {
		if ttl <= 0 {
			return
		}
		entries = append(entries, struct {
			key cacheKey
			e   *cacheEntry
		}{k, &cacheEntry{rcode: rcode, answer: copyRRs(answer), ns: copyRRs(ns), stored: now, expires: now.Add(ttl)}})
	}
	chain, rest := splitChain(name, q.Qtype, m.Answer)
	switch {
	case m.Rcode == dns.RcodeSuccess && len(rest) > 0:
		full := append(append([]dns.RR(nil), chain...), rest...)
		keep(cacheKey{name, q.Qtype}, m.Rcode, full, nil, min(minTTL(full), c.maxTTL))
		if len(chain) > 0 {
			end := dns.CanonicalName(rest[0].Header().Name)
			keep(cacheKey{end, q.Qtype}, m.Rcode, rest, nil, min(minTTL(rest), c.maxTTL))
		}
	case m.Rcode == dns.RcodeSuccess || m.Rcode == dns.RcodeNameError:
		// Negative: only with a SOA to time it (RFC 2308 5).
		soa := negativeSOA(m.Ns)
		if soa == nil {
			break
		}
		ttl := time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second
		if len(chain) > 0 {
			ttl = min(ttl, minTTL(chain))
		}
		ttl = min(ttl, c.maxNeg)
		// The SOA's TTL says how long the negative answer lasts (RFC 2308 3).
		soa = dns.Copy(soa).(*dns.SOA)
		soa.Hdr.Ttl = uint32(ttl / time.Second)
		keep(cacheKey{name, q.Qtype}, m.Rcode, chain, []dns.RR{soa}, ttl)
	}
	for _, rr := range chain {
		keep(cacheKey{dns.CanonicalName(rr.Header().Name), dns.TypeCNAME}, dns.RcodeSuccess, []dns.RR{rr}, nil, min(minTTL([]dns.RR{rr}), c.maxTTL))
	}
	if len(entries) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, x := range entries {
		c.entries.add(x.key, x.e)
	}
}

// splitChain splits an answer into the CNAME chain that starts at name and
// the records of qtype at the chain's end. Records off the chain are left
// out of both.
func splitChain(name string, qtype uint16, answer []dns.RR) (chain, rest []dns.RR) {
	for hops := 0; hops <= maxChain; hops++ {
		var next string
		for _, rr := range answer {
			h := rr.Header()
			if dns.CanonicalName(h.Name) != name {
				continue
			}
			switch {
			case h.Rrtype == qtype:
				rest = append(rest, rr)
			case h.Rrtype == dns.TypeCNAME && next == "":
				chain = append(chain, rr)
				next = dns.CanonicalName(rr.(*dns.CNAME).Target)
			}
		}
		if len(rest) > 0 || next == "" || qtype == dns.TypeCNAME {
			return chain, rest
		}
		name = next
	}
	return chain, rest
}

// negativeSOA is the SOA of a negative answer's authority section.
func negativeSOA(ns []dns.RR) *dns.SOA {
	for _, rr := range ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa
		}
	}
	return nil
}

func minTTL(rrs []dns.RR) time.Duration {
	if len(rrs) == 0 {
		return 0
	}
	m := rrs[0].Header().Ttl
	for _, rr := range rrs[1:] {
		m = min(m, rr.Header().Ttl)
	}
	return time.Duration(m) * time.Second
}

func copyRRs(rrs []dns.RR) []dns.RR {
	if len(rrs) == 0 {
		return nil
	}
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = dns.Copy(rr)
	}
	return out
}

// lru is a map bounded in size that evicts the least recently used entry.
// It is not safe for concurrent use.
type lru[K comparable, V any] struct {
	max   int
	order *list.List // of *lruItem, most recent first
	items map[K]*list.Element
}

type lruItem[K comparable, V any] struct {
	key K
	val V
}

func newLRU[K comparable, V any](size int) *lru[K, V] {
	return &lru[K, V]{max: max(1, size), order: list.New(), items: map[K]*list.Element{}}
}

func (l *lru[K, V]) get(k K) (V, bool) {
	el, ok := l.items[k]
	if !ok {
		var zero V
		return zero, false
	}
	l.order.MoveToFront(el)
	return el.Value.(*lruItem[K, V]).val, true
}

func (l *lru[K, V]) add(k K, v V) {
	if el, ok := l.items[k]; ok {
		el.Value.(*lruItem[K, V]).val = v
		l.order.MoveToFront(el)
		return
	}
	l.items[k] = l.order.PushFront(&lruItem[K, V]{k, v})
	for l.order.Len() > l.max {
		last := l.order.Back()
		l.order.Remove(last)
		delete(l.items, last.Value.(*lruItem[K, V]).key)
	}
}

func (l *lru[K, V]) remove(k K) {
	if el, ok := l.items[k]; ok {
		l.order.Remove(el)
		delete(l.items, k)
	}
}

func (l *lru[K, V]) len() int { return l.order.Len() }

func (l *lru[K, V]) clear() {
	l.order.Init()
	clear(l.items)
}
