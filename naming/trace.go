package naming

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Kinds of Step: where a resolution went.
const (
	StepZone    = "zone"    // answered from the group's zone, authoritatively
	StepCache   = "cache"   // answered from the cache
	StepForward = "forward" // asked an upstream recursive server
	StepIterate = "iterate" // asked a server of the hierarchy (root, TLD, ...)
	StepRefused = "refused" // recursion not offered to the client
	StepServer  = "server"  // asked a given server directly (QueryServer)
)

// Step is one stage of a resolution, for `shoal dns query` and the GUI's
// look-up tool.
type Step struct {
	Kind     string        // one of the Step* constants
	Server   string        // the server asked (HOST:PORT), if any
	Zone     string        // the zone the server was asked for (iterative)
	Question string        // "NAME TYPE"
	Result   string        // what came back: "NOERROR, 2 answers", "referral to example.", "timeout", ...
	Rcode    int           // the response's rcode, -1 when there was none
	RTT      time.Duration // the exchange's round trip, for servers asked
}

// Answer is a resolution's response and its path.
type Answer struct {
	Msg *dns.Msg
	// Source is the kind of the first step: StepZone, StepCache,
	// StepForward, StepIterate, StepRefused or StepServer.
	Source string
	Steps  []Step
}

// trace collects the steps of one resolution.
type trace struct {
	mu    sync.Mutex
	steps []Step
}

type traceKey struct{}

// withTrace returns a context whose resolution steps are collected in the
// returned trace.
func withTrace(ctx context.Context) (context.Context, *trace) {
	t := &trace{}
	return context.WithValue(ctx, traceKey{}, t), t
}

// addStep records s if ctx carries a trace.
func addStep(ctx context.Context, s Step) {
	t, _ := ctx.Value(traceKey{}).(*trace)
	if t == nil {
		return
	}
	t.mu.Lock()
	t.steps = append(t.steps, s)
	t.mu.Unlock()
}

// tracing reports whether ctx collects steps, so callers skip building them.
func tracing(ctx context.Context) bool {
	return ctx.Value(traceKey{}) != nil
}

func (t *trace) list() []Step {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Step(nil), t.steps...)
}

// questionString is "NAME TYPE" of r's question.
func questionString(r *dns.Msg) string {
	if r == nil || len(r.Question) == 0 {
		return ""
	}
	q := r.Question[0]
	return q.Name + " " + dns.TypeToString[q.Qtype]
}

// summary describes a response in a few words.
func summary(m *dns.Msg) string {
	if m == nil {
		return "no response"
	}
	s := dns.RcodeToString[m.Rcode]
	switch {
	case len(m.Answer) > 0:
		s += fmt.Sprintf(", %d answers", len(m.Answer))
	case m.Rcode == dns.RcodeSuccess:
		s += ", no data"
	}
	if m.Truncated {
		s += ", truncated"
	}
	return s
}
