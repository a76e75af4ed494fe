package queue

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// route is one host to try, in order.
type route struct {
	host string
	port int
}

// deliver makes one attempt for rcpts of domain and returns an outcome for
// every recipient.
func (q *Queue) deliver(ctx context.Context, from, domain string, rcpts []string, raw []byte) map[string]outcome {
	if domain == q.opts.Domain {
		return q.deliverLocal(ctx, rcpts, raw)
	}
	routes, smart, o := q.routes(ctx, domain)
	if routes == nil {
		return all(rcpts, o)
	}
	var last outcome
	for _, rt := range routes {
		addrs, err := q.opts.Resolver.LookupHost(ctx, rt.host)
		if err != nil {
			last = outcome{status: "4.4.4", reason: fmt.Sprintf("address of %s: %v", rt.host, err), host: rt.host}
			continue
		}
		for _, a := range addrs {
			addr := netip.AddrPortFrom(a, uint16(rt.port)).String()
			conn, err := q.opts.Dial(ctx, "tcp", addr)
			if err != nil {
				last = outcome{status: "4.4.1", reason: fmt.Sprintf("connect to %s (%s): %v", rt.host, addr, err), host: rt.host}
				continue
			}
			res, retryElsewhere := q.transact(ctx, conn, rt.host, smart, from, rcpts, raw)
			if !retryElsewhere {
				return res
			}
			last = res[rcpts[0]]
		}
	}
	if last.reason == "" {
		last = outcome{status: "4.4.4", reason: "no host to deliver to"}
	}
	return all(rcpts, last)
}

func all(rcpts []string, o outcome) map[string]outcome {
	res := make(map[string]outcome, len(rcpts))
	for _, r := range rcpts {
		res[r] = o
	}
	return res
}

// routes lists the hosts for domain: the smart host for outside domains,
// else the MX hosts (or the domain itself, RFC 5321 5.1) with the relay
// port. With no route, the outcome says why.
func (q *Queue) routes(ctx context.Context, domain string) ([]route, *SmartHost, outcome) {
	if !q.opts.IsMember(domain) {
		if sh := q.opts.SmartHost; sh != nil {
			return []route{{sh.Host, sh.Port}}, sh, outcome{}
		}
		return nil, nil, outcome{permanent: true, status: "5.7.1", reason: domain + " is outside the group and no smart host is configured"}
	}
	mxs, err := q.opts.Resolver.LookupMX(ctx, domain)
	switch {
	case err != nil || len(mxs) == 0:
		// No MX (or no answer now): the domain is its own mail host. If
		// the name server is down, the address lookup fails too and the
		// recipient is deferred.
		mxs = []*net.MX{{Host: domain}}
	case len(mxs) == 1 && (mxs[0].Host == "." || mxs[0].Host == ""):
		return nil, nil, outcome{permanent: true, status: "5.1.10", reason: domain + " accepts no mail (null MX)"}
	}
	slices.SortStableFunc(mxs, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })

	port := q.opts.DefaultPort
	srvPorts := map[string]int{}
	if q.opts.RelayPort != nil {
		p, err := q.opts.RelayPort(ctx, domain)
		if err != nil {
			return nil, nil, outcome{status: "4.4.3", reason: fmt.Sprintf("relay port of %s: %v", domain, err)}
		}
		port = p
	} else if _, srvs, err := q.opts.Resolver.LookupSRV(ctx, "smtp", "tcp", domain); err == nil && len(srvs) > 0 {
		port = int(srvs[0].Port)
		for _, s := range srvs {
			srvPorts[strings.ToLower(strings.TrimSuffix(s.Target, "."))] = int(s.Port)
		}
	}
	var rs []route
	for _, mx := range mxs {
		host := strings.ToLower(strings.TrimSuffix(mx.Host, "."))
		p := port
		if sp, ok := srvPorts[host]; ok {
			p = sp
		}
		rs = append(rs, route{host, p})
	}
	return rs, nil, outcome{}
}

// transact runs one SMTP transaction on conn. retryElsewhere says the
// failure came before any recipient was answered (greeting, EHLO, MAIL),
// so another host may do better.
func (q *Queue) transact(ctx context.Context, conn net.Conn, host string, smart *SmartHost, from string, rcpts []string, raw []byte) (map[string]outcome, bool) {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	fail := func(step string, err error) (map[string]outcome, bool) {
		o := classify(err, host, step)
		return all(rcpts, o), !o.permanent
	}
	var c *smtp.Client
	if smart != nil && smart.TLSConfig != nil {
		// STARTTLS comes before our EHLO name: go-smtp greets with
		// "localhost" first and says EHLO again inside TLS.
		var err error
		if c, err = smtp.NewClientStartTLS(conn, smart.TLSConfig); err != nil {
			return fail("STARTTLS", err)
		}
	} else {
		c = smtp.NewClient(conn)
	}
	defer c.Close()
	c.CommandTimeout = q.opts.Timeout
	c.SubmissionTimeout = q.opts.Timeout
	if err := c.Hello(q.opts.Domain); err != nil {
		return fail("EHLO", err)
	}
	if smart != nil && smart.User != "" {
		if err := c.Auth(sasl.NewPlainClient("", smart.User, smart.Password)); err != nil {
			return fail("AUTH", err)
		}
	}
	mopts := &smtp.MailOptions{}
	if ok, _ := c.Extension("8BITMIME"); ok && !isASCII(raw) {
		mopts.Body = smtp.Body8BitMIME
	}
	if !isASCII([]byte(from + strings.Join(rcpts, ""))) {
		mopts.UTF8 = true
	}
	if err := c.Mail(from, mopts); err != nil {
		return fail("MAIL", err)
	}
	res := make(map[string]outcome, len(rcpts))
	var accepted []string
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			res[r] = classify(err, host, "RCPT")
			continue
		}
		accepted = append(accepted, r)
	}
	if len(accepted) == 0 {
		c.Quit()
		return res, false
	}
	err := func() error {
		w, err := c.Data()
		if err != nil {
			return err
		}
		if _, err := w.Write(raw); err != nil {
			w.Close()
			return err
		}
		return w.Close()
	}()
	for _, r := range accepted {
		if err != nil {
			res[r] = classify(err, host, "DATA")
		} else {
			res[r] = outcome{delivered: true, status: "2.0.0", reason: "250 accepted", host: host}
		}
	}
	c.Quit()
	return res, false
}

// classify turns a reply or error into an outcome: 5xx is permanent,
// everything else (4xx, a broken connection) is tried again.
func classify(err error, host, step string) outcome {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		status := fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
		if se.EnhancedCode == smtp.NoEnhancedCode || se.EnhancedCode[0] == 0 {
			status = fmt.Sprintf("%d.0.0", se.Code/100)
		}
		return outcome{
			permanent: se.Code >= 500,
			status:    status,
			reason:    fmt.Sprintf("%s answered %s: %d %s %s", host, step, se.Code, status, se.Message),
			host:      host,
		}
	}
	return outcome{status: "4.4.2", reason: fmt.Sprintf("%s at %s: %v", host, step, err), host: host}
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// deliverLocal files copies for the node's own users.
func (q *Queue) deliverLocal(ctx context.Context, rcpts []string, raw []byte) map[string]outcome {
	res := make(map[string]outcome, len(rcpts))
	for _, r := range rcpts {
		local, _, _ := splitAddress(r)
		if _, err := q.opts.Mailboxes.Deliver(ctx, local, raw); err != nil {
			res[r] = outcome{status: "4.3.0", reason: fmt.Sprintf("local mailbox of %s: %v", local, err), host: q.opts.Domain}
			continue
		}
		res[r] = outcome{delivered: true, status: "2.0.0", reason: "delivered to the local mailbox", host: q.opts.Domain}
	}
	return res
}
