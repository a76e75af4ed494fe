package naming

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/miekg/dns"
)

// Handler is one link of the chain that answers a query, as in CoreDNS. It
// either writes a response to w and returns its rcode, or writes nothing
// and returns an rcode for which the server writes the error response
// (SERVFAIL, REFUSED, FORMERR, NOTIMP). err is for the log only.
type Handler interface {
	ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error)
	Name() string
}

// nextOrFailure hands the query to next, or fails when there is none.
func nextOrFailure(ctx context.Context, name string, next Handler, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if next == nil {
		return dns.RcodeServerFailure, fmt.Errorf("naming: %s: no next handler", name)
	}
	return next.ServeDNS(ctx, w, r)
}

// written reports whether a handler that returned rcode has written its
// response itself; for the others the server writes an error response.
func written(rcode int) bool {
	switch rcode {
	case dns.RcodeServerFailure, dns.RcodeRefused, dns.RcodeFormatError, dns.RcodeNotImplemented:
		return false
	}
	return true
}

// errorReply is the response with rcode and no records.
func errorReply(r *dns.Msg, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(r, rcode)
	return m
}

// remoteAddr is the client's address, or the zero Addr in process.
func remoteAddr(w dns.ResponseWriter) netip.Addr {
	var a net.Addr
	if w != nil {
		a = w.RemoteAddr()
	}
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case nil:
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// isUDP reports whether w answers over UDP.
func isUDP(w dns.ResponseWriter) bool {
	if w == nil {
		return false
	}
	_, ok := w.RemoteAddr().(*net.UDPAddr)
	return ok
}

// recorder is the ResponseWriter of an in-process query: it keeps the
// message instead of sending it. remote is the client it stands for (nil:
// the node itself).
type recorder struct {
	remote net.Addr
	msg    *dns.Msg
}

func (r *recorder) LocalAddr() net.Addr {
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
}

func (r *recorder) RemoteAddr() net.Addr { return r.remote }

func (r *recorder) WriteMsg(m *dns.Msg) error {
	r.msg = m
	return nil
}

func (r *recorder) Write(b []byte) (int, error) {
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		return 0, fmt.Errorf("naming: recorder: %w", err)
	}
	r.msg = m
	return len(b), nil
}

func (r *recorder) Close() error        { return nil }
func (r *recorder) TsigStatus() error   { return nil }
func (r *recorder) TsigTimersOnly(bool) {}
func (r *recorder) Hijack()             {}

// captureWriter passes a response through to the client and hands a copy
// of the message to keep before it is sent.
type captureWriter struct {
	dns.ResponseWriter
	keep func(*dns.Msg)
}

func (c *captureWriter) WriteMsg(m *dns.Msg) error {
	c.keep(m)
	return c.ResponseWriter.WriteMsg(m)
}
