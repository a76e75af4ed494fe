package naming

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Forwarder resolves names by asking upstream recursive servers in turn:
// the configured ones, or the system's from resolv.conf (read again when
// the file changes). Without upstreams it fails at once. Of a response it
// keeps only the CNAME chain from the question and a negative answer's
// SOA; what else an upstream adds is dropped, never cached.
type Forwarder struct {
	ex         *exchanger
	log        *slog.Logger
	now        func() time.Time
	static     []netip.AddrPort
	resolvConf string

	mu      sync.Mutex
	self    []netip.AddrPort // this node's own server: never an upstream
	fromSys []netip.AddrPort
	checked time.Time
	modTime time.Time
}

// errOffline is a forwarder without upstream servers.
var errOffline = errors.New("naming: no upstream servers (offline)")

// resolvConfCheck is how often the forwarder looks whether resolv.conf
// changed.
const resolvConfCheck = 5 * time.Second

// NewForwarder returns the forwarder of cfg.
func NewForwarder(cfg Config) (*Forwarder, error) {
	cfg = cfg.withDefaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	static, _ := parseServers(cfg.Upstreams, 53)
	return &Forwarder{
		ex:         &exchanger{timeout: cfg.Timeout, log: cfg.Logger},
		log:        cfg.Logger,
		now:        cfg.Now,
		static:     static,
		resolvConf: cfg.ResolvConf,
	}, nil
}

// Name implements Handler.
func (f *Forwarder) Name() string { return "forward" }

// exclude keeps the node's own server address out of the upstreams, so a
// system whose resolv.conf points at the node does not make a loop.
func (f *Forwarder) exclude(ap netip.AddrPort) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.self = append(f.self, ap)
}

// Upstreams are the servers the forwarder asks, in order.
func (f *Forwarder) Upstreams() []netip.AddrPort {
	f.mu.Lock()
	defer f.mu.Unlock()
	ups := f.static
	if len(ups) == 0 {
		f.reloadLocked()
		ups = f.fromSys
	}
	return slices.DeleteFunc(slices.Clone(ups), func(ap netip.AddrPort) bool {
		return slices.Contains(f.self, ap)
	})
}

// reloadLocked reads resolv.conf when it changed; f.mu is held.
func (f *Forwarder) reloadLocked() {
	now := f.now()
	if !f.checked.IsZero() && now.Sub(f.checked) < resolvConfCheck {
		return
	}
	f.checked = now
	st, err := os.Stat(f.resolvConf)
	if err != nil {
		if f.fromSys != nil {
			f.log.Warn("naming: resolv.conf gone: forwarder offline", "path", f.resolvConf, "err", err)
		}
		f.fromSys, f.modTime = nil, time.Time{}
		return
	}
	if st.ModTime().Equal(f.modTime) {
		return
	}
	f.modTime = st.ModTime()
	cc, err := dns.ClientConfigFromFile(f.resolvConf)
	if err != nil {
		f.log.Warn("naming: resolv.conf unreadable: forwarder offline", "path", f.resolvConf, "err", err)
		f.fromSys = nil
		return
	}
	port, err := strconv.ParseUint(cc.Port, 10, 16)
	if err != nil || port == 0 {
		port = 53
	}
	servers, err := parseServers(cc.Servers, uint16(port))
	if err != nil {
		f.log.Warn("naming: resolv.conf: bad name server", "path", f.resolvConf, "err", err)
	}
	f.fromSys = servers
	f.log.Info("naming: upstream servers from resolv.conf", "path", f.resolvConf, "servers", servers)
}

// ServeDNS implements Handler.
func (f *Forwarder) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if mustNotBlock(ctx) {
		return dns.RcodeServerFailure, errWouldBlock
	}
	q := r.Question[0]
	ups := f.Upstreams()
	if len(ups) == 0 {
		addStep(ctx, Step{Kind: StepForward, Question: questionString(r), Result: "no upstream servers (offline)", Rcode: -1})
		return dns.RcodeServerFailure, errOffline
	}
	var answer []dns.RR
	name := dns.CanonicalName(q.Name)
	for hops := 0; ; hops++ {
		resp, err := f.ask(ctx, ups, dns.Question{Name: name, Qtype: q.Qtype, Qclass: q.Qclass})
		if err != nil {
			return dns.RcodeServerFailure, err
		}
		chain, rest := splitChain(name, q.Qtype, resp.Answer)
		answer = append(answer, chain...)
		answer = append(answer, rest...)
		end := name
		if len(chain) > 0 {
			end = dns.CanonicalName(chain[len(chain)-1].(*dns.CNAME).Target)
		}
		// An upstream that stopped at a CNAME: follow the chain.
		if resp.Rcode == dns.RcodeSuccess && len(rest) == 0 && len(chain) > 0 && hops < maxChain && negativeSOA(resp.Ns) == nil {
			name = end
			continue
		}
		m := new(dns.Msg)
		m.SetReply(r)
		m.RecursionAvailable = true
		m.Rcode = resp.Rcode
		m.Answer = answer
		if len(rest) == 0 {
			if soa := negativeSOA(resp.Ns); soa != nil && inside(end, dns.CanonicalName(soa.Hdr.Name)) {
				m.Ns = []dns.RR{soa}
			}
		}
		if err := w.WriteMsg(m); err != nil {
			return dns.RcodeServerFailure, fmt.Errorf("naming: forward: write: %w", err)
		}
		return m.Rcode, nil
	}
}

// ask puts q to the upstreams in turn until one answers usefully.
func (f *Forwarder) ask(ctx context.Context, ups []netip.AddrPort, q dns.Question) (*dns.Msg, error) {
	qs := q.Name + " " + dns.TypeToString[q.Qtype]
	var last error
	for _, up := range ups {
		ex, err := f.ex.exchange(ctx, up, q, true)
		if err != nil {
			addStep(ctx, Step{Kind: StepForward, Server: up.String(), Question: qs, Result: errorWord(err) + ex.note(), Rcode: -1, RTT: ex.rtt})
			last = err
			if ctx.Err() != nil {
				break
			}
			continue
		}
		addStep(ctx, Step{Kind: StepForward, Server: up.String(), Question: qs, Result: summary(ex.msg) + ex.note(), Rcode: ex.msg.Rcode, RTT: ex.rtt})
		switch ex.msg.Rcode {
		case dns.RcodeSuccess, dns.RcodeNameError:
			return ex.msg, nil
		}
		last = fmt.Errorf("naming: %s answered %s", up, dns.RcodeToString[ex.msg.Rcode])
	}
	return nil, fmt.Errorf("naming: forward %s: no upstream answered: %w", qs, last)
}

// errorWord is a short form of err for a trace.
func errorWord(err error) string {
	switch {
	case errors.Is(err, errTimeout):
		return "timeout"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "cancelled"
	}
	return err.Error()
}
