package naming

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// ednsSize is the UDP payload size this node offers and asks for (the
// 2020 DNS flag day value: no IP fragmentation).
const ednsSize = 1232

// exchanger asks other servers the way RFC 5452 asks resolvers to: every
// query has a random ID and goes out from a new socket on a random port,
// and only a response from the server asked, with that ID and that
// question, is accepted. Forged responses are skipped, not fatal: the real
// one may still come. Truncated responses are asked again over TCP.
type exchanger struct {
	timeout time.Duration
	log     *slog.Logger
}

// exchange is the result of one question to one server.
type exchange struct {
	msg      *dns.Msg
	rtt      time.Duration
	rejected []string // why responses were not accepted
	tcp      bool     // the answer came over TCP
}

// note is a short description of what was rejected or retried, for traces.
func (e exchange) note() string {
	var parts []string
	if len(e.rejected) > 0 {
		parts = append(parts, fmt.Sprintf("rejected %d: %s", len(e.rejected), strings.Join(e.rejected, "; ")))
	}
	if e.tcp {
		parts = append(parts, "over TCP after truncation")
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// exchange asks server q, with recursion desired if rd.
func (x *exchanger) exchange(ctx context.Context, server netip.AddrPort, q dns.Question, rd bool) (exchange, error) {
	start := time.Now()
	m := newQuery(q, rd)
	ex, err := x.udp(ctx, server, m)
	if err == nil && ex.msg.Truncated {
		m.Id = randomID()
		var tex exchange
		tex, err = x.tcp(ctx, server, m)
		tex.rejected = append(ex.rejected, tex.rejected...)
		ex = tex
		ex.tcp = true
	}
	ex.rtt = time.Since(start)
	for _, why := range ex.rejected {
		x.log.Debug("naming: response rejected", "server", server, "question", q.Name, "why", why)
	}
	if err != nil {
		return ex, fmt.Errorf("naming: ask %s about %s %s: %w", server, q.Name, dns.TypeToString[q.Qtype], err)
	}
	return ex, nil
}

func newQuery(q dns.Question, rd bool) *dns.Msg {
	m := &dns.Msg{
		MsgHdr:   dns.MsgHdr{Id: randomID(), Opcode: dns.OpcodeQuery, RecursionDesired: rd},
		Question: []dns.Question{q},
	}
	m.SetEdns0(ednsSize, false)
	return m
}

// randomID is a query ID from crypto/rand.
func randomID() uint16 {
	var b [2]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return binary.BigEndian.Uint16(b[:])
}

// deadline is the earlier of ctx's deadline and the exchanger's timeout.
func (x *exchanger) deadline(ctx context.Context) time.Time {
	d := time.Now().Add(x.timeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		d = cd
	}
	return d
}

// udp sends m from a fresh socket and waits for an acceptable response.
func (x *exchanger) udp(ctx context.Context, server netip.AddrPort, m *dns.Msg) (exchange, error) {
	var ex exchange
	out, err := m.Pack()
	if err != nil {
		return ex, fmt.Errorf("pack: %w", err)
	}
	network, local := "udp4", netip.IPv4Unspecified()
	if server.Addr().Is6() {
		network, local = "udp6", netip.IPv6Unspecified()
	}
	// Port 0: the kernel picks a random ephemeral port for each socket.
	conn, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)))
	if err != nil {
		return ex, fmt.Errorf("socket: %w", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(x.deadline(ctx)); err != nil {
		return ex, err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.WriteToUDPAddrPort(out, server); err != nil {
		return ex, fmt.Errorf("send: %w", err)
	}
	buf := make([]byte, 4096)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil {
				return ex, ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return ex, errTimeout
			}
			return ex, fmt.Errorf("receive: %w", err)
		}
		if from.Addr().Unmap() != server.Addr().Unmap() || from.Port() != server.Port() {
			ex.rejected = append(ex.rejected, "from "+from.String()+", not the server asked")
			continue
		}
		resp := new(dns.Msg)
		if err := resp.Unpack(buf[:n]); err != nil {
			ex.rejected = append(ex.rejected, "malformed")
			continue
		}
		if why := mismatch(m, resp); why != "" {
			ex.rejected = append(ex.rejected, why)
			continue
		}
		ex.msg = resp
		return ex, nil
	}
}

// errTimeout is a server that did not answer in time.
var errTimeout = errors.New("timeout")

// tcp asks m over a new TCP connection.
func (x *exchanger) tcp(ctx context.Context, server netip.AddrPort, m *dns.Msg) (exchange, error) {
	var ex exchange
	d := net.Dialer{Deadline: x.deadline(ctx)}
	conn, err := d.DialContext(ctx, "tcp", server.String())
	if err != nil {
		return ex, fmt.Errorf("tcp: %w", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(x.deadline(ctx)); err != nil {
		return ex, err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	dc := &dns.Conn{Conn: conn}
	if err := dc.WriteMsg(m); err != nil {
		return ex, fmt.Errorf("tcp send: %w", err)
	}
	resp, err := dc.ReadMsg()
	if err != nil {
		if ctx.Err() != nil {
			return ex, ctx.Err()
		}
		return ex, fmt.Errorf("tcp receive: %w", err)
	}
	if why := mismatch(m, resp); why != "" {
		ex.rejected = append(ex.rejected, why)
		return ex, fmt.Errorf("tcp: %s", why)
	}
	ex.msg = resp
	return ex, nil
}

// mismatch says why resp is not the response to q, or "".
func mismatch(q, resp *dns.Msg) string {
	switch {
	case resp.Id != q.Id:
		return "ID mismatch"
	case !resp.Response:
		return "not a response"
	case resp.Opcode != q.Opcode:
		return "opcode mismatch"
	case len(resp.Question) != 1:
		return "question mismatch"
	}
	a, b := q.Question[0], resp.Question[0]
	if !strings.EqualFold(a.Name, b.Name) || a.Qtype != b.Qtype || a.Qclass != b.Qclass {
		return "question mismatch"
	}
	return ""
}
