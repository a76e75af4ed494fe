// Package proxy is the node's forward HTTP proxy (port 7488): browsers send
// it absolute-form requests, which go through the shared cache
// (cdn/web/httpcache) to the group's own sites for `.shoal` hosts and to
// outside origins for the rest, and CONNECT requests, which it tunnels
// uncached to allowed ports. It answers only allowed sources (loopback by
// default), so it is never an open proxy, and serves /proxy.pac.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-p2p/shoal/cdn/web/httpcache"
)

// ShoalOrigin serves requests for `.shoal` hosts: node routes NAME.shoal to
// the member's sites and gateway. The request's URL is absolute.
type ShoalOrigin interface {
	ServeShoal(w http.ResponseWriter, r *http.Request)
}

// Options configure a Proxy.
type Options struct {
	// Cache holds the index and bodies; Upstream is set by the proxy.
	Cache httpcache.Options
	// Shoal serves `.shoal` hosts; nil answers them 502.
	Shoal ShoalOrigin
	// Zone is the group's domain, "shoal" by default.
	Zone string
	// Allowed are the client addresses served; default loopback.
	Allowed []netip.Prefix
	// ConnectPorts are the ports CONNECT may reach; default 443.
	ConnectPorts []int
	// PACAll makes /proxy.pac send every host through the proxy, not only
	// the group's.
	PACAll bool
	// OriginTimeout bounds the wait for an origin's response headers
	// (504 after it); default 30s.
	OriginTimeout time.Duration
	// Dial reaches outside origins and tunnel targets; default a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	Log  *slog.Logger
}

// Proxy is a forward proxy with a shared cache. Make it with New, run it
// with Serve, stop it with Close.
type Proxy struct {
	opts      Options
	cache     *httpcache.Cache
	transport *http.Transport
	server    *http.Server

	mu      sync.Mutex
	tunnels map[net.Conn]struct{}
	closed  bool

	tunnelled, denied atomic.Int64
}

// maxHeaderBytes bounds a request's header block; more is answered 431.
const maxHeaderBytes = 64 << 10

// New opens the cache and makes the proxy.
func New(opts Options) (*Proxy, error) {
	if opts.Zone == "" {
		opts.Zone = "shoal"
	}
	if len(opts.Allowed) == 0 {
		opts.Allowed = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	if len(opts.ConnectPorts) == 0 {
		opts.ConnectPorts = []int{443}
	}
	if opts.OriginTimeout <= 0 {
		opts.OriginTimeout = 30 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Dial == nil {
		opts.Dial = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	p := &Proxy{opts: opts, tunnels: map[net.Conn]struct{}{}}
	// One transport for every outside origin, so connections are reused.
	// No Proxy field: the proxy never follows HTTP_PROXY itself, and TLS
	// is verified (goproxy's defaults are the opposite).
	p.transport = &http.Transport{
		DialContext:           opts.Dial,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: opts.OriginTimeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		ForceAttemptHTTP2:     true,
	}
	copts := opts.Cache
	copts.Upstream = router{p}
	if copts.Log == nil {
		copts.Log = opts.Log
	}
	c, err := httpcache.Open(copts)
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	p.cache = c
	p.server = &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(opts.Log.Handler(), slog.LevelDebug),
	}
	return p, nil
}

// Cache is the proxy's cache (for purges and statistics).
func (p *Proxy) Cache() *httpcache.Cache { return p.cache }

// Serve answers connections on ln until ctx ends or Close is called.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { p.Close() })
	defer stop()
	err := p.server.Serve(guardListener{ln})
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the server, the tunnels and the origin connections, and
// saves the cache's index. Calling it twice is harmless.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	for c := range p.tunnels {
		c.Close()
	}
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.server.Shutdown(ctx)
	if err != nil {
		err = p.server.Close()
	}
	p.transport.CloseIdleConnections()
	return errors.Join(err, p.cache.Close())
}

// Stats are the cache's statistics and the proxy's own counters.
type Stats struct {
	httpcache.Stats
	Tunnels int64 `json:"tunnels"`
	Denied  int64 `json:"denied"`
}

// Stats reads the counters.
func (p *Proxy) Stats() Stats {
	return Stats{Stats: p.cache.Stats(), Tunnels: p.tunnelled.Load(), Denied: p.denied.Load()}
}

func (p *Proxy) allowed(remote string) bool {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	for _, pfx := range p.opts.Allowed {
		if pfx.Contains(a) {
			return true
		}
	}
	return false
}

// isShoal tells whether host (no port) is in the group's zone.
func (p *Proxy) isShoal(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	return host == p.opts.Zone || strings.HasSuffix(host, "."+p.opts.Zone)
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !p.allowed(r.RemoteAddr) {
		p.denied.Add(1)
		http.Error(w, "proxy: this proxy serves only its allowed sources (proxy.allowed in shoal.toml)", http.StatusForbidden)
		return
	}
	if smuggled(r) {
		w.Header().Set("Connection", "close")
		http.Error(w, "proxy: a request with both Content-Length and Transfer-Encoding is refused", http.StatusBadRequest)
		return
	}
	if r.Method == http.MethodConnect {
		p.connect(w, r)
		return
	}
	if !r.URL.IsAbs() {
		if r.URL.Path == "/proxy.pac" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			p.pac(w, r)
			return
		}
		http.Error(w, "proxy: this is an HTTP proxy; send absolute-form requests (curl -x), or GET /proxy.pac", http.StatusBadRequest)
		return
	}
	if r.URL.Scheme != "http" || r.URL.Host == "" {
		http.Error(w, "proxy: only http:// URLs go through here; https goes through CONNECT", http.StatusBadRequest)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions, http.MethodPatch:
	default:
		w.Header().Set("Allow", "GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH, CONNECT")
		http.Error(w, "proxy: method not supported", http.StatusMethodNotAllowed)
		return
	}
	r.Header.Del("Proxy-Authorization")
	p.cache.ServeHTTP(w, r)
}

// smuggled reports a request that came with both framings; the guard
// listener marks it by spoiling its Content-Length (see guard.go).
func smuggled(r *http.Request) bool {
	return r.Header.Get(smuggleMark) != ""
}

// connect tunnels a CONNECT request to an allowed port.
func (p *Proxy) connect(w http.ResponseWriter, r *http.Request) {
	host, port, err := net.SplitHostPort(r.Host)
	n, perr := strconv.Atoi(port)
	if err != nil || perr != nil || host == "" {
		http.Error(w, "proxy: CONNECT needs HOST:PORT", http.StatusBadRequest)
		return
	}
	if !p.connectAllowed(n) {
		p.denied.Add(1)
		http.Error(w, fmt.Sprintf("proxy: CONNECT to port %d is not allowed (proxy.connect_ports)", n), http.StatusForbidden)
		return
	}
	if p.isShoal(host) {
		http.Error(w, "proxy: the group's sites are plain http:// through this proxy", http.StatusForbidden)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	upstream, err := p.opts.Dial(ctx, "tcp", r.Host)
	if err != nil {
		code := http.StatusBadGateway
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			code = http.StatusGatewayTimeout
		}
		http.Error(w, fmt.Sprintf("proxy: %s: %v", r.Host, err), code)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		upstream.Close()
		http.Error(w, "proxy: CONNECT needs HTTP/1.1", http.StatusHTTPVersionNotSupported)
		return
	}
	client, buf, err := hj.Hijack()
	if err != nil {
		upstream.Close()
		return
	}
	if !p.track(client, upstream) {
		client.Close()
		upstream.Close()
		return
	}
	p.tunnelled.Add(1)
	client.SetDeadline(time.Time{})
	io.WriteString(client, "HTTP/1.1 200 Connection Established\r\n\r\n")
	done := make(chan struct{}, 2)
	go func() {
		// Bytes the client sent after the request line are in buf.
		io.Copy(upstream, buf)
		closeWrite(upstream)
		done <- struct{}{}
	}()
	go func() {
		io.Copy(client, upstream)
		closeWrite(client)
		done <- struct{}{}
	}()
	<-done
	<-done
	client.Close()
	upstream.Close()
	p.untrack(client, upstream)
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

func (p *Proxy) connectAllowed(port int) bool {
	for _, a := range p.opts.ConnectPorts {
		if a == port {
			return true
		}
	}
	return false
}

func (p *Proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	for _, c := range cs {
		p.tunnels[c] = struct{}{}
	}
	return true
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.tunnels, c)
	}
}

// pac is the proxy auto-config file, naming the proxy by the address the
// client reached it on.
func (p *Proxy) pac(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-ns-proxy-autoconfig")
	w.Header().Set("Cache-Control", "max-age=300")
	addr := r.Host
	if addr == "" {
		addr = r.Context().Value(http.LocalAddrContextKey).(net.Addr).String()
	}
	if p.opts.PACAll {
		fmt.Fprintf(w, "function FindProxyForURL(url, host) {\n  return \"PROXY %s; DIRECT\";\n}\n", addr)
		return
	}
	fmt.Fprintf(w, "function FindProxyForURL(url, host) {\n  if (host == %q || dnsDomainIs(host, %q))\n    return \"PROXY %s\";\n  return \"DIRECT\";\n}\n",
		p.opts.Zone, "."+p.opts.Zone, addr)
}

// router is the cache's upstream: the group's hosts to Shoal, the rest to
// their origins.
type router struct{ p *Proxy }

func (rt router) RoundTrip(r *http.Request) (*http.Response, error) {
	host := r.URL.Hostname()
	if rt.p.isShoal(host) {
		if rt.p.opts.Shoal == nil {
			return nil, fmt.Errorf("proxy: %s: the group's sites are not served by this node", host)
		}
		return handlerTransport{rt.p.opts.Shoal}.RoundTrip(r)
	}
	return rt.p.transport.RoundTrip(r)
}
