package naming

import (
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// FormatRRs writes records one a line as dig prints them:
// "NAME<tab>TTL<tab>IN<tab>TYPE<tab>DATA".
func FormatRRs(rrs []dns.RR) string {
	var b strings.Builder
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		b.WriteString(rr.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// FormatAnswer writes a resolution like dig's output: status line, the
// answer and authority sections, then where it came from and its steps.
func FormatAnswer(a Answer) string {
	var b strings.Builder
	if m := a.Msg; m != nil {
		fmt.Fprintf(&b, ";; status: %s, id: %d, flags:%s\n", dns.RcodeToString[m.Rcode], m.Id, flags(m))
		for _, sec := range []struct {
			name string
			rrs  []dns.RR
		}{{"ANSWER", m.Answer}, {"AUTHORITY", m.Ns}, {"ADDITIONAL", m.Extra}} {
			if s := FormatRRs(sec.rrs); s != "" {
				fmt.Fprintf(&b, "\n;; %s SECTION:\n%s", sec.name, s)
			}
		}
	}
	if a.Source != "" {
		fmt.Fprintf(&b, "\n;; SOURCE: %s\n", a.Source)
	}
	for i, s := range a.Steps {
		fmt.Fprintf(&b, ";; %d. %s\n", i+1, FormatStep(s))
	}
	return b.String()
}

// FormatStep writes one step on a line: "iterate 192.0.2.1:53 (zone test.)
// www.example.test. A: referral to example.test. (ns.example.test.) 3ms".
func FormatStep(s Step) string {
	var b strings.Builder
	b.WriteString(s.Kind)
	if s.Server != "" {
		b.WriteString(" " + s.Server)
	}
	if s.Zone != "" && s.Kind == StepIterate {
		b.WriteString(" (zone " + s.Zone + ")")
	}
	if s.Question != "" {
		b.WriteString(" " + s.Question)
	}
	b.WriteString(": " + s.Result)
	if s.RTT > 0 {
		b.WriteString(" " + s.RTT.Round(time.Microsecond*100).String())
	}
	return b.String()
}

func flags(m *dns.Msg) string {
	var f string
	for _, x := range []struct {
		on   bool
		name string
	}{{m.Response, "qr"}, {m.Authoritative, "aa"}, {m.Truncated, "tc"}, {m.RecursionDesired, "rd"}, {m.RecursionAvailable, "ra"}} {
		if x.on {
			f += " " + x.name
		}
	}
	return f
}
