package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-p2p/shoal/cdn/web/httpcache"
	"github.com/shoal-p2p/shoal/storage"
)

// sites is a ShoalOrigin with one page per host, as node's would serve.
type sites struct{ asked atomic.Int64 }

func (s *sites) ServeShoal(w http.ResponseWriter, r *http.Request) {
	s.asked.Add(1)
	if r.URL.Hostname() != "www.alice.shoal" {
		http.Error(w, "no such site", http.StatusNotFound)
		return
	}
	w.Header().Set("Cache-Control", "max-age=60")
	w.Header().Set("Content-Type", "text/html")
	io.WriteString(w, "<h1>alice</h1>")
}

type fixture struct {
	proxy   *Proxy
	addr    string
	origin  *httptest.Server
	methods sync.Map // method -> count
	conns   atomic.Int64
	sites   *sites
}

func start(t *testing.T, tweak func(*Options)) *fixture {
	t.Helper()
	f := &fixture{sites: &sites{}}
	f.origin = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := f.methods.LoadOrStore(r.Method, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		if r.URL.Path == "/hang" {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return
		}
		w.Header().Set("Cache-Control", "max-age=60")
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, b)
	}))
	f.origin.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			f.conns.Add(1)
		}
	}
	f.origin.Start()
	t.Cleanup(f.origin.Close)
	db, err := storage.Open(filepath.Join(t.TempDir(), "shoal.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	opts := Options{Cache: httpcache.Options{DB: db, Dir: filepath.Join(t.TempDir(), "cache"), MaxBytes: 1 << 20}, Shoal: f.sites,
		OriginTimeout: 500 * time.Millisecond}
	if tweak != nil {
		tweak(&opts)
	}
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		p.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	f.proxy, f.addr = p, ln.Addr().String()
	return f
}

// curl runs curl through the proxy and returns the headers and body.
func (f *fixture) curl(t *testing.T, args ...string) (int, http.Header, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	all := append([]string{"-s", "-i", "--max-time", "10", "-x", "http://" + f.addr}, args...)
	out, err := exec.CommandContext(ctx, "curl", all...).Output()
	// curl exits 56 when a CONNECT is refused, having shown the answer.
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 56 && len(out) > 0 {
		err = nil
	}
	if err != nil {
		t.Fatalf("curl %v: %v", args, err)
	}
	// -i prints the CONNECT answer first for https; the last response counts.
	text := string(out)
	for {
		i := strings.Index(text[1:], "\nHTTP/")
		if i < 0 || !strings.HasPrefix(text, "HTTP/1.1 200 Connection Established") {
			break
		}
		text = text[i+2:]
	}
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(text)), nil)
	if err != nil {
		t.Fatalf("curl %v: %v in %q", args, err, out)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func (f *fixture) count(method string) int64 {
	n, ok := f.methods.Load(method)
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

func TestCurlThroughTheProxy(t *testing.T) {
	f := start(t, nil)
	u := f.origin.URL + "/obj"
	code, h, body := f.curl(t, u)
	if code != 200 || body != "GET /obj " || !strings.Contains(h.Get("Via"), "shoal") {
		t.Fatalf("first GET: %d %q Via %q", code, body, h.Get("Via"))
	}
	_, h, _ = f.curl(t, u)
	if !strings.Contains(h.Get("Cache-Status"), "hit") || f.count("GET") != 1 {
		t.Fatalf("second GET: Cache-Status %q, origin GETs %d", h.Get("Cache-Status"), f.count("GET"))
	}
	if code, h, _ := f.curl(t, "-I", u); code != 200 || !strings.Contains(h.Get("Cache-Status"), "hit") {
		t.Fatalf("HEAD: %d %q", code, h.Get("Cache-Status"))
	}
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		code, _, body := f.curl(t, "-X", m, "--data", "x=1", u)
		if code != 200 || body != m+" /obj x=1" || f.count(m) != 1 {
			t.Fatalf("%s: %d %q", m, code, body)
		}
	}
	// The unsafe methods invalidated /obj.
	if _, h, _ := f.curl(t, u); strings.Contains(h.Get("Cache-Status"), "hit") || f.count("GET") != 2 {
		t.Fatalf("GET after POST: %q, origin GETs %d", h.Get("Cache-Status"), f.count("GET"))
	}
	for i := range 5 {
		f.curl(t, fmt.Sprintf("%s/other%d", f.origin.URL, i))
	}
	if n := f.conns.Load(); n > 2 {
		t.Errorf("origin saw %d connections for 11 requests from sequential curls: not reused", n)
	}
	st := f.proxy.Stats()
	if st.Hits != 2 || st.Entries < 6 || st.HitRatio <= 0 || st.BytesSaved == 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestShoalHostsGoToTheGroup(t *testing.T) {
	f := start(t, nil)
	code, _, body := f.curl(t, "http://www.alice.shoal/")
	if code != 200 || body != "<h1>alice</h1>" {
		t.Fatalf("site: %d %q", code, body)
	}
	_, h, _ := f.curl(t, "http://www.alice.shoal/")
	if !strings.Contains(h.Get("Cache-Status"), "hit") || f.sites.asked.Load() != 1 {
		t.Fatalf("site not cached: %q, asked %d", h.Get("Cache-Status"), f.sites.asked.Load())
	}
	if code, _, body := f.curl(t, "http://nobody.shoal/"); code != 404 || !strings.Contains(body, "no such site") {
		t.Fatalf("unknown name: %d %q", code, body)
	}
	if f.count("GET") != 0 {
		t.Fatal("a .shoal request reached an outside origin")
	}
}

func TestConnect(t *testing.T) {
	tlsOrigin := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "secure") }))
	defer tlsOrigin.Close()
	_, port, _ := net.SplitHostPort(tlsOrigin.Listener.Addr().String())

	f := start(t, nil) // 443 only
	if code, _, _ := f.curl(t, "-k", tlsOrigin.URL); code != http.StatusForbidden {
		t.Fatalf("CONNECT to port %s: %d, want 403", port, code)
	}
	g := start(t, func(o *Options) { o.ConnectPorts = []int{mustAtoi(port)} })
	code, _, body := g.curl(t, "-k", tlsOrigin.URL)
	if code != 200 || body != "secure" || g.proxy.Stats().Tunnels != 1 {
		t.Fatalf("tunnel: %d %q", code, body)
	}
}

func TestOnlyAllowedSources(t *testing.T) {
	f := start(t, func(o *Options) { o.Allowed = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} })
	code, _, body := f.curl(t, f.origin.URL+"/x")
	if code != http.StatusForbidden || !strings.Contains(body, "allowed sources") || f.count("GET") != 0 {
		t.Fatalf("from 127.0.0.1: %d %q", code, body)
	}
}

func TestOriginThatHangs(t *testing.T) {
	f := start(t, nil)
	if code, _, _ := f.curl(t, f.origin.URL+"/hang"); code != http.StatusGatewayTimeout {
		t.Fatalf("hanging origin: %d, want 504", code)
	}
}

func TestPAC(t *testing.T) {
	f := start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "curl", "-s", "--max-time", "5", "http://"+f.addr+"/proxy.pac").Output()
	if err != nil {
		t.Fatal(err)
	}
	pac := string(out)
	if !strings.Contains(pac, `dnsDomainIs(host, ".shoal")`) || !strings.Contains(pac, "PROXY "+f.addr) || !strings.Contains(pac, "DIRECT") {
		t.Fatalf("pac: %s", pac)
	}
	g := start(t, func(o *Options) { o.PACAll = true })
	out, _ = exec.CommandContext(ctx, "curl", "-s", "--max-time", "5", "http://"+g.addr+"/proxy.pac").Output()
	if strings.Contains(string(out), "dnsDomainIs") || !strings.Contains(string(out), "PROXY "+g.addr) {
		t.Fatalf("pac for everything: %s", out)
	}
}

// raw sends bytes on a fresh connection and returns the status line.
func raw(t *testing.T, addr, req string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go io.WriteString(c, req)
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("no answer to %.40q: %v", req, err)
	}
	return strings.TrimSpace(line)
}

func TestBadRequests(t *testing.T) {
	f := start(t, nil)
	host := strings.TrimPrefix(f.origin.URL, "http://")
	cases := []struct{ name, req, want string }{
		{"garbage", "GARBAGE\r\n\r\n", "400"},
		{"origin-form", "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n", "400"},
		{"ftp scheme", "GET ftp://" + host + "/ HTTP/1.1\r\nHost: " + host + "\r\n\r\n", "400"},
		{"smuggling", "POST http://" + host + "/s HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400"},
		{"huge headers", "GET http://" + host + "/ HTTP/1.1\r\nHost: " + host + "\r\nX-Big: " + strings.Repeat("a", 100<<10) + "\r\n\r\n", "431"},
		{"method", "TRACE http://" + host + "/ HTTP/1.1\r\nHost: " + host + "\r\n\r\n", "405"},
	}
	for _, tc := range cases {
		if got := raw(t, f.addr, tc.req); !strings.Contains(got, " "+tc.want+" ") {
			t.Errorf("%s: %q, want %s", tc.name, got, tc.want)
		}
	}
	if f.count("POST") != 0 {
		t.Fatal("the smuggling request reached the origin")
	}
	// A chunked POST without Content-Length is fine, and the connection
	// stays in step for the next request.
	req := "POST http://" + host + "/c HTTP/1.1\r\nHost: " + host + "\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" +
		"GET http://" + host + "/after HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 0\r\n\r\n"
	c, err := net.DialTimeout("tcp", f.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, req)
	br := bufio.NewReader(c)
	for _, want := range []string{"POST /c abc", "GET /after "} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != want {
			t.Fatalf("pipelined: %q, want %q", b, want)
		}
	}
}

func mustAtoi(s string) int {
	var n int
	fmt.Sscan(s, &n)
	return n
}
