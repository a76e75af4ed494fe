package naming

import (
	"context"
	"net/netip"

	"github.com/miekg/dns"
)

// RecursionGuard offers what lies behind it (cache and resolver) only to
// allowed clients: the others get REFUSED, so the node is no open resolver.
// Queries from the node itself (no remote address) are always allowed.
type RecursionGuard struct {
	Allow []netip.Prefix
	Next  Handler
}

// Name implements Handler.
func (g *RecursionGuard) Name() string { return "acl" }

// ServeDNS implements Handler.
func (g *RecursionGuard) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if !allowed(g.Allow, remoteAddr(w)) {
		addStep(ctx, Step{Kind: StepRefused, Question: questionString(r), Result: "REFUSED: recursion not offered to this client"})
		return dns.RcodeRefused, nil
	}
	return nextOrFailure(ctx, g.Name(), g.Next, w, r)
}

// allowed reports whether a is in one of the prefixes; the zero Addr (the
// node itself) always is.
func allowed(prefixes []netip.Prefix, a netip.Addr) bool {
	if !a.IsValid() {
		return true
	}
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
