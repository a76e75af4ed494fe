package httpcache

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-p2p/shoal/storage"
)

// clock is a settable time for freshness without sleeping.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }
func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) httpDate(d time.Duration) string { return c.now().Add(d).UTC().Format(http.TimeFormat) }

// harness is a cache in front of a loopback origin whose handler a case sets.
type harness struct {
	t      *testing.T
	clock  *clock
	cache  *Cache
	front  *httptest.Server
	origin *httptest.Server
	db     *storage.DB
	dir    string

	mu      sync.Mutex
	handler http.HandlerFunc
	hits    map[string]int
	last    map[string]*http.Request
}

func newHarness(t *testing.T, maxBytes int64) *harness {
	t.Helper()
	h := &harness{t: t, clock: newClock(), hits: map[string]int{}, last: map[string]*http.Request{}}
	h.origin = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.hits[r.Method+" "+r.URL.Path]++
		h.last[r.URL.Path] = r.Clone(context.Background())
		fn := h.handler
		h.mu.Unlock()
		w.Header().Set("Date", h.clock.httpDate(0))
		fn(w, r)
	}))
	t.Cleanup(h.origin.Close)
	db, err := storage.Open(filepath.Join(t.TempDir(), "shoal.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h.db, h.dir = db, filepath.Join(t.TempDir(), "cache")
	h.open(maxBytes)
	return h
}

func (h *harness) open(maxBytes int64) {
	tr := &http.Transport{ResponseHeaderTimeout: 5 * time.Second}
	h.t.Cleanup(tr.CloseIdleConnections)
	c, err := Open(Options{DB: h.db, Dir: h.dir, MaxBytes: maxBytes, Upstream: tr, Now: h.clock.now})
	if err != nil {
		h.t.Fatal(err)
	}
	h.cache = c
	u, _ := url.Parse(h.origin.URL)
	h.front = httptest.NewServer(Reverse(u, c))
	h.t.Cleanup(h.front.Close)
}

func (h *harness) serve(fn http.HandlerFunc) {
	h.mu.Lock()
	h.handler = fn
	h.mu.Unlock()
}

func (h *harness) count(method, path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits[method+" "+path]
}

func (h *harness) lastRequest(path string) *http.Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last[path]
}

type answer struct {
	status int
	header http.Header
	body   string
}

// do sends a request through the cache; hdr is "Name: value" pairs.
func (h *harness) do(method, path string, hdr ...string) answer {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, h.front.URL+path, nil)
	for _, kv := range hdr {
		k, v, _ := strings.Cut(kv, ":")
		req.Header.Add(k, strings.TrimSpace(v))
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

func (h *harness) get(path string, hdr ...string) answer { return h.do(http.MethodGet, path, hdr...) }

func hit(a answer) bool { return strings.Contains(a.header.Get("Cache-Status"), "; hit") }

func body(s string, hdr ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for _, kv := range hdr {
			k, v, _ := strings.Cut(kv, ":")
			w.Header().Add(k, strings.TrimSpace(v))
		}
		io.WriteString(w, s)
	}
}

func TestRFC9111(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, h *harness)
	}{
		{"fresh hit", func(t *testing.T, h *harness) {
			h.serve(body("hello", "Cache-Control: max-age=100"))
			a := h.get("/a")
			h.clock.advance(30 * time.Second)
			b := h.get("/a")
			if a.body != "hello" || b.body != "hello" || hit(a) || !hit(b) || h.count("GET", "/a") != 1 {
				t.Fatalf("first %q %q, second %q %q, origin %d", a.body, a.header.Get("Cache-Status"), b.body, b.header.Get("Cache-Status"), h.count("GET", "/a"))
			}
			if b.header.Get("Age") != "30" || !strings.Contains(b.header.Get("Via"), "shoal") {
				t.Fatalf("Age %q Via %q", b.header.Get("Age"), b.header.Get("Via"))
			}
		}},
		{"stale revalidated with 304 refreshes headers", func(t *testing.T, h *harness) {
			h.serve(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("ETag", `"v1"`)
				w.Header().Set("Cache-Control", "max-age=10")
				if r.Header.Get("If-None-Match") == `"v1"` {
					w.Header().Set("X-Version", "refreshed")
					w.WriteHeader(http.StatusNotModified)
					return
				}
				w.Header().Set("X-Version", "first")
				io.WriteString(w, "body one")
			})
			h.get("/r")
			h.clock.advance(20 * time.Second)
			b := h.get("/r")
			if b.status != 200 || b.body != "body one" || !strings.Contains(b.header.Get("Cache-Status"), "fwd=stale; fwd-status=304") {
				t.Fatalf("revalidation answer %d %q %q", b.status, b.body, b.header.Get("Cache-Status"))
			}
			if b.header.Get("X-Version") != "refreshed" || h.lastRequest("/r").Header.Get("If-None-Match") != `"v1"` {
				t.Fatalf("X-Version %q, origin saw If-None-Match %q", b.header.Get("X-Version"), h.lastRequest("/r").Header.Get("If-None-Match"))
			}
			if c := h.get("/r"); !hit(c) || c.header.Get("X-Version") != "refreshed" || h.count("GET", "/r") != 2 {
				t.Fatalf("after 304: %q %q, origin %d", c.header.Get("Cache-Status"), c.header.Get("X-Version"), h.count("GET", "/r"))
			}
		}},
		{"revalidation by Last-Modified", func(t *testing.T, h *harness) {
			lm := h.clock.httpDate(-time.Hour)
			h.serve(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Last-Modified", lm)
				w.Header().Set("Cache-Control", "no-cache")
				if r.Header.Get("If-Modified-Since") == lm {
					w.WriteHeader(http.StatusNotModified)
					return
				}
				io.WriteString(w, "lm")
			})
			h.get("/lm")
			if b := h.get("/lm"); b.body != "lm" || !strings.Contains(b.header.Get("Cache-Status"), "fwd-status=304") {
				t.Fatalf("no-cache answer %q %q", b.body, b.header.Get("Cache-Status"))
			}
		}},
		{"Vary selects the variant", func(t *testing.T, h *harness) {
			h.serve(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=100")
				w.Header().Set("Vary", "Accept-Language")
				io.WriteString(w, "lang="+r.Header.Get("Accept-Language"))
			})
			h.get("/v", "Accept-Language: en")
			en := h.get("/v", "Accept-Language: en")
			fr := h.get("/v", "Accept-Language: fr")
			en2 := h.get("/v", "Accept-Language: en")
			if !hit(en) || hit(fr) || fr.body != "lang=fr" || en2.body != "lang=en" || !hit(en2) || h.count("GET", "/v") != 2 {
				t.Fatalf("en %q, fr %q %q, en %q, origin %d", en.header.Get("Cache-Status"), fr.body, fr.header.Get("Cache-Status"), en2.body, h.count("GET", "/v"))
			}
		}},
		{"no-store is not stored", func(t *testing.T, h *harness) {
			h.serve(body("x", "Cache-Control: no-store, max-age=100"))
			h.get("/ns")
			if b := h.get("/ns"); hit(b) || h.count("GET", "/ns") != 2 {
				t.Fatalf("no-store hit: %q", b.header.Get("Cache-Status"))
			}
		}},
		{"private is not stored by a shared cache", func(t *testing.T, h *harness) {
			h.serve(body("mine", "Cache-Control: private, max-age=100"))
			h.get("/p")
			if b := h.get("/p"); hit(b) || h.count("GET", "/p") != 2 {
				t.Fatalf("private hit: %q", b.header.Get("Cache-Status"))
			}
		}},
		{"s-maxage over max-age", func(t *testing.T, h *harness) {
			h.serve(body("s", "Cache-Control: max-age=0, s-maxage=100"))
			h.get("/s")
			h.clock.advance(50 * time.Second)
			if b := h.get("/s"); !hit(b) {
				t.Fatalf("s-maxage not used: %q", b.header.Get("Cache-Status"))
			}
			h.serve(body("s", "Cache-Control: max-age=100, s-maxage=0"))
			h.get("/s0")
			if b := h.get("/s0"); hit(b) {
				t.Fatalf("s-maxage=0 served fresh: %q", b.header.Get("Cache-Status"))
			}
		}},
		{"Authorization only with public", func(t *testing.T, h *harness) {
			h.serve(body("secret", "Cache-Control: max-age=100"))
			h.get("/auth", "Authorization: Basic YTpi")
			if b := h.get("/auth", "Authorization: Basic Yzpk"); hit(b) || h.count("GET", "/auth") != 2 {
				t.Fatalf("authorised response shared: %q", b.header.Get("Cache-Status"))
			}
			h.serve(body("open", "Cache-Control: public, max-age=100"))
			h.get("/pub", "Authorization: Basic YTpi")
			if b := h.get("/pub"); !hit(b) {
				t.Fatalf("public authorised response not stored: %q", b.header.Get("Cache-Status"))
			}
		}},
		{"POST invalidates the URL and its Location", func(t *testing.T, h *harness) {
			h.serve(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=100")
				if r.Method == http.MethodPost {
					w.Header().Set("Location", "/other")
					w.WriteHeader(http.StatusCreated)
					return
				}
				io.WriteString(w, r.URL.Path)
			})
			h.get("/inv")
			h.get("/other")
			if !hit(h.get("/inv")) {
				t.Fatal("not stored before POST")
			}
			h.do(http.MethodPost, "/inv")
			a, b := h.get("/inv"), h.get("/other")
			if hit(a) || hit(b) || h.count("GET", "/inv") != 2 || h.count("GET", "/other") != 2 {
				t.Fatalf("after POST: %q %q", a.header.Get("Cache-Status"), b.header.Get("Cache-Status"))
			}
		}},
		{"only-if-cached", func(t *testing.T, h *harness) {
			h.serve(body("c", "Cache-Control: max-age=100"))
			if a := h.get("/oic", "Cache-Control: only-if-cached"); a.status != http.StatusGatewayTimeout || h.count("GET", "/oic") != 0 {
				t.Fatalf("uncached only-if-cached: %d, origin %d", a.status, h.count("GET", "/oic"))
			}
			h.get("/oic")
			if a := h.get("/oic", "Cache-Control: only-if-cached"); a.status != 200 || !hit(a) {
				t.Fatalf("cached only-if-cached: %d", a.status)
			}
		}},
		{"client conditional answered 304 from the cache", func(t *testing.T, h *harness) {
			lm := h.clock.httpDate(-time.Hour)
			h.serve(body("cond", "Cache-Control: max-age=100", `ETag: "e1"`, "Last-Modified: "+lm))
			h.get("/cond")
			a := h.get("/cond", `If-None-Match: "e1"`)
			b := h.get("/cond", "If-Modified-Since: "+lm)
			c := h.get("/cond", `If-None-Match: "other"`)
			if a.status != 304 || a.body != "" || a.header.Get("ETag") != `"e1"` || b.status != 304 || c.status != 200 || c.body != "cond" {
				t.Fatalf("statuses %d %d %d", a.status, b.status, c.status)
			}
			if h.count("GET", "/cond") != 1 {
				t.Fatalf("origin asked %d times", h.count("GET", "/cond"))
			}
		}},
		{"heuristic freshness is 10% of the age, capped at a day", func(t *testing.T, h *harness) {
			h.serve(body("h", "Last-Modified: "+h.clock.httpDate(-100*time.Hour)))
			h.get("/heur")
			h.clock.advance(9 * time.Hour)
			if !hit(h.get("/heur")) {
				t.Fatal("not fresh after 9h of a 10h heuristic lifetime")
			}
			h.clock.advance(2 * time.Hour)
			if hit(h.get("/heur")) {
				t.Fatal("fresh after 11h of a 10h heuristic lifetime")
			}
			h.serve(body("h", "Last-Modified: "+h.clock.httpDate(-1000*24*time.Hour)))
			h.get("/cap")
			h.clock.advance(25 * time.Hour)
			if hit(h.get("/cap")) {
				t.Fatal("heuristic lifetime not capped at 24h")
			}
		}},
		{"Expires", func(t *testing.T, h *harness) {
			h.serve(body("e", "Expires: "+h.clock.httpDate(time.Minute)))
			h.get("/exp")
			if !hit(h.get("/exp")) {
				t.Fatal("Expires in a minute not fresh")
			}
			h.clock.advance(2 * time.Minute)
			if hit(h.get("/exp")) {
				t.Fatal("past Expires served fresh")
			}
		}},
		{"max-stale, but not past must-revalidate", func(t *testing.T, h *harness) {
			h.serve(body("ms", "Cache-Control: max-age=1"))
			h.get("/ms")
			h.clock.advance(10 * time.Second)
			if !hit(h.get("/ms", "Cache-Control: max-stale=60")) {
				t.Fatal("max-stale not honoured")
			}
			h.serve(body("mr", "Cache-Control: max-age=1, must-revalidate"))
			h.get("/mr")
			h.clock.advance(10 * time.Second)
			if hit(h.get("/mr", "Cache-Control: max-stale=60")) {
				t.Fatal("stale served despite must-revalidate")
			}
		}},
		{"request no-cache revalidates", func(t *testing.T, h *harness) {
			h.serve(body("nc", "Cache-Control: max-age=100"))
			h.get("/rnc")
			if a := h.get("/rnc", "Cache-Control: no-cache"); hit(a) || h.count("GET", "/rnc") != 2 {
				t.Fatalf("request no-cache: %q", a.header.Get("Cache-Status"))
			}
		}},
		{"an invalid Age makes the response stale", func(t *testing.T, h *harness) {
			for _, age := range []string{"abc", "-10", "10.0", "0, 0"} {
				h.serve(body("a", "Cache-Control: max-age=3600", "Age: "+age))
				path := "/age" + fmt.Sprint(len(age))
				h.get(path)
				if hit(h.get(path)) {
					t.Errorf("Age %q served fresh", age)
				}
			}
		}},
		{"directives with spaces around = are not max-age", func(t *testing.T, h *harness) {
			h.serve(body("sp", "Cache-Control: max-age= 3600"))
			h.get("/sp")
			if hit(h.get("/sp")) {
				t.Fatal(`"max-age= 3600" read as max-age`)
			}
		}},
		{"must-understand with an unknown status is not stored", func(t *testing.T, h *harness) {
			h.serve(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=3600, must-understand, no-store")
				w.WriteHeader(599)
			})
			h.get("/mu")
			if hit(h.get("/mu")) {
				t.Fatal("a 599 with must-understand was stored")
			}
			h.serve(body("ok", "Cache-Control: max-age=3600, must-understand, no-store"))
			h.get("/mu200")
			if !hit(h.get("/mu200")) {
				t.Fatal("a 200 with must-understand and no-store was not stored")
			}
		}},
		{"a 304 keeps the stored ETag and adds no Content-Type", func(t *testing.T, h *harness) {
			h.serve(func(w http.ResponseWriter, r *http.Request) {
				w.Header()["Content-Type"] = nil
				w.Header().Set("Cache-Control", "max-age=1")
				if r.Header.Get("If-None-Match") != "" {
					w.Header().Set("ETag", `"other"`)
					w.WriteHeader(http.StatusNotModified)
					return
				}
				w.Header().Set("ETag", `"stored"`)
				io.WriteString(w, "<html>")
			})
			h.get("/etag")
			h.clock.advance(5 * time.Second)
			a := h.get("/etag")
			if a.header.Get("ETag") != `"stored"` || a.header.Get("Content-Type") != "" {
				t.Fatalf("ETag %q Content-Type %q", a.header.Get("ETag"), a.header.Get("Content-Type"))
			}
		}},
		{"a body cut short is not stored", func(t *testing.T, h *harness) {
			h.serve(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=3600")
				io.WriteString(w, "partial")
				w.(http.Flusher).Flush() // chunked, then the connection drops
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					conn.Close()
				}
			})
			h.get("/cut")
			if hit(h.get("/cut")) || h.cache.Stats().Entries != 0 {
				t.Fatal("a truncated chunked body was stored")
			}
		}},
		{"stale stands in for an origin that is gone, unless forbidden", func(t *testing.T, h *harness) {
			var down atomic.Bool
			h.serve(func(w http.ResponseWriter, r *http.Request) {
				if down.Load() {
					if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
						conn.Close()
					}
					return
				}
				if r.URL.Path == "/mr" {
					w.Header().Set("Cache-Control", "max-age=1, must-revalidate")
				} else {
					w.Header().Set("Cache-Control", "max-age=1, stale-if-error=60")
				}
				w.Header().Set("ETag", `"x"`)
				io.WriteString(w, "kept")
			})
			h.get("/gone")
			h.get("/mr")
			h.clock.advance(10 * time.Second)
			down.Store(true)
			if a := h.get("/gone"); a.status != 200 || a.body != "kept" || !strings.Contains(a.header.Get("Cache-Status"), "origin-unreachable") {
				t.Fatalf("origin gone: %d %q %q", a.status, a.body, a.header.Get("Cache-Status"))
			}
			if a := h.get("/mr"); a.status != http.StatusBadGateway {
				t.Fatalf("must-revalidate with the origin gone: %d %q", a.status, a.body)
			}
			down.Store(false)
			h.serve(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
			if a := h.get("/gone"); a.status != 200 || a.body != "kept" || !strings.Contains(a.header.Get("Cache-Status"), "fwd-status=503") {
				t.Fatalf("503 within stale-if-error: %d %q", a.status, a.header.Get("Cache-Status"))
			}
			h.clock.advance(2 * time.Minute)
			if a := h.get("/gone"); a.status != http.StatusServiceUnavailable {
				t.Fatalf("503 past stale-if-error: %d", a.status)
			}
		}},
		{"HEAD from a stored GET", func(t *testing.T, h *harness) {
			h.serve(body("12345", "Cache-Control: max-age=100"))
			h.get("/head")
			a := h.do(http.MethodHead, "/head")
			if !hit(a) || a.header.Get("Content-Length") != "5" || h.count("HEAD", "/head") != 0 {
				t.Fatalf("HEAD: %q length %q", a.header.Get("Cache-Status"), a.header.Get("Content-Length"))
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newHarness(t, 1<<20)) })
	}
}

func TestCollapsedForwarding(t *testing.T) {
	h := newHarness(t, 1<<20)
	release := make(chan struct{})
	h.serve(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
		w.Header().Set("Cache-Control", "max-age=100")
		io.WriteString(w, "collapsed")
	})
	const n = 10
	var wg sync.WaitGroup
	answers := make([]answer, n)
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); answers[i] = h.get("/slow") }()
	}
	waitFor(t, func() bool {
		h.cache.flightMu.Lock()
		defer h.cache.flightMu.Unlock()
		fl := h.cache.flights[Key(mustURL(h.origin.URL+"/slow"))]
		return fl != nil && fl.waiters.Load() == n-1
	})
	close(release)
	wg.Wait()
	for i, a := range answers {
		if a.body != "collapsed" {
			t.Fatalf("answer %d: %d %q", i, a.status, a.body)
		}
	}
	if got := h.count("GET", "/slow"); got != 1 {
		t.Fatalf("origin asked %d times for %d concurrent misses", got, n)
	}
}

func TestQuotaEvictsLeastRecentlyUsed(t *testing.T) {
	h := newHarness(t, 3000)
	h.serve(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=1000")
		io.WriteString(w, strings.Repeat("x", 1000))
	})
	for _, p := range []string{"/1", "/2", "/3"} {
		h.get(p)
		h.clock.advance(time.Second)
	}
	h.get("/1") // now /2 is the least recently used
	h.clock.advance(time.Second)
	h.get("/4")
	st := h.cache.Stats()
	if st.Entries != 3 || st.Size != 3000 {
		t.Fatalf("entries %d size %d, want 3 and 3000", st.Entries, st.Size)
	}
	for p, want := range map[string]bool{"/1": true, "/3": true, "/4": true, "/2": false} {
		if got := hit(h.get(p, "Cache-Control: only-if-cached")); got != want {
			t.Errorf("%s cached %v, want %v", p, got, want)
		}
	}
	if tooBig := h.cache.storable(httptest.NewRequest("GET", "http://x/", nil), &http.Response{StatusCode: 200, ContentLength: 5000,
		Header: http.Header{"Cache-Control": {"max-age=10"}}}); tooBig {
		t.Error("a response larger than the quota is storable")
	}
}

func TestPersistsAcrossReopen(t *testing.T) {
	h := newHarness(t, 1<<20)
	h.serve(body(strings.Repeat("p", 100<<10), "Cache-Control: max-age=1000"))
	h.get("/keep")
	h.get("/gone")
	if n, err := h.cache.Invalidate(h.origin.URL + "/gone"); err != nil || n != 1 {
		t.Fatalf("invalidate: %d %v", n, err)
	}
	if err := h.cache.Close(); err != nil {
		t.Fatal(err)
	}
	h.front.Close()
	h.open(1 << 20)
	a := h.get("/keep")
	if !hit(a) || len(a.body) != 100<<10 || h.count("GET", "/keep") != 1 {
		t.Fatalf("after reopen: %q, %d bytes, origin %d", a.header.Get("Cache-Status"), len(a.body), h.count("GET", "/keep"))
	}
	if hit(h.get("/gone")) {
		t.Fatal("an invalidated response came back after reopen")
	}
	st := h.cache.Stats()
	if st.Entries != 2 || st.Hits != 1 || st.BytesSaved != 100<<10 {
		t.Fatalf("stats %+v", st)
	}
	if _, err := h.cache.Invalidate("not a url"); err == nil {
		t.Fatal("a relative URL was accepted")
	}
}

func TestOriginThatHangsGets504(t *testing.T) {
	h := newHarness(t, 1<<20)
	stop := make(chan struct{})
	defer close(stop)
	h.serve(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	})
	tr := &http.Transport{ResponseHeaderTimeout: 200 * time.Millisecond}
	defer tr.CloseIdleConnections()
	h.cache.opts.Upstream = tr
	if a := h.get("/hang"); a.status != http.StatusGatewayTimeout {
		t.Fatalf("hanging origin: %d", a.status)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(fmt.Sprint(err))
	}
	return u
}

// TestConcurrentHitsAfterReopen: hits on a reopened entry load its small
// body into memory once while others read it (run with -race).
func TestConcurrentHitsAfterReopen(t *testing.T) {
	h := newHarness(t, 1<<20)
	h.serve(body("small body", "Cache-Control: max-age=1000"))
	h.get("/small")
	h.cache.Close()
	h.front.Close()
	h.open(1 << 20)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if a := h.get("/small"); !hit(a) || a.body != "small body" {
				t.Errorf("hit after reopen: %q %q", a.header.Get("Cache-Status"), a.body)
			}
		}()
	}
	wg.Wait()
	if n := h.count("GET", "/small"); n != 1 {
		t.Fatalf("origin asked %d times", n)
	}
}
