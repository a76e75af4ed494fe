package naming

import (
	"net/netip"
	"sync"
	"time"
)

// rateLimiter limits responses per client prefix with a token bucket, so
// the node cannot be used to amplify traffic towards a spoofed address.
// Over the limit, every slip-th response goes out empty with TC set (a
// real client then asks over TCP, which cannot be spoofed) and the others
// are dropped.
type rateLimiter struct {
	rate   float64
	burst  float64
	slip   int
	exempt []netip.Prefix
	now    func() time.Time

	mu      sync.Mutex
	buckets *lru[netip.Prefix, *bucket]
}

type bucket struct {
	tokens float64
	last   time.Time
	over   int // responses over the limit so far, for slip
}

// verdict is what to do with a response.
type verdict int

const (
	verdictAnswer verdict = iota
	verdictSlip           // send an empty truncated response
	verdictDrop
)

// rateLimitPrefixes bounds the prefixes tracked; the least recently seen
// is forgotten first (it then starts with a full bucket again).
const rateLimitPrefixes = 65536

func newRateLimiter(c RateLimit, now func() time.Time) *rateLimiter {
	if c.Off {
		return nil
	}
	return &rateLimiter{
		rate:    c.Rate,
		burst:   float64(c.Burst),
		slip:    c.Slip,
		exempt:  c.Exempt,
		now:     now,
		buckets: newLRU[netip.Prefix, *bucket](rateLimitPrefixes),
	}
}

// clientPrefix is the prefix a client is limited by: /24 for IPv4, /56
// for IPv6 (one customer's allocation, typically).
func clientPrefix(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := 56
	if a.Is4() {
		bits = 24
	}
	p, _ := a.Prefix(bits)
	return p
}

// check takes a token for a response to client a.
func (l *rateLimiter) check(a netip.Addr) verdict {
	if l == nil || !a.IsValid() {
		return verdictAnswer
	}
	for _, p := range l.exempt {
		if p.Contains(a) {
			return verdictAnswer
		}
	}
	p := clientPrefix(a)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets.get(p)
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets.add(p, b)
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(l.burst, b.tokens+el*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		b.over = 0
		return verdictAnswer
	}
	b.over++
	if l.slip > 0 && b.over%l.slip == 0 {
		return verdictSlip
	}
	return verdictDrop
}
