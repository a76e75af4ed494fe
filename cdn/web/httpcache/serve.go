package httpcache

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-p2p/shoal/storage"
)

// ServeHTTP answers r from the cache or through Upstream. r.URL must be
// absolute.
func (c *Cache) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.stats.requests.Add(1)
	if !r.URL.IsAbs() || r.URL.Host == "" {
		http.Error(w, "httpcache: the request needs an absolute URL", http.StatusBadRequest)
		return
	}
	key := Key(r.URL)
	reqCC := parseDirectives(r.Header)
	if len(r.Header.Values("Cache-Control")) == 0 && strings.Contains(strings.ToLower(r.Header.Get("Pragma")), "no-cache") {
		reqCC["no-cache"] = ""
	}
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		c.stats.bypassed.Add(1)
		c.forwardUnsafe(w, r, key)
		return
	case reqCC.has("no-store"):
		c.stats.bypassed.Add(1)
		c.pass(w, r, "fwd=request")
		return
	}
	for attempt := 0; ; attempt++ {
		now := c.opts.Now()
		e := c.lookup(key, r)
		if e != nil && c.usable(e, reqCC, now) {
			if c.serveStored(w, r, e, now, "hit; ttl="+ttl(e, now)) {
				c.stats.hits.Add(1)
				return
			}
			e = nil // its file went: a miss
		}
		if reqCC.has("only-if-cached") {
			c.stats.misses.Add(1)
			h := w.Header()
			c.addVia(h, r.Proto)
			c.cacheStatus(h, "fwd=miss; detail=only-if-cached")
			http.Error(w, "httpcache: not in the cache (only-if-cached)", http.StatusGatewayTimeout)
			return
		}
		if r.Method == http.MethodHead || r.Header.Get("Range") != "" {
			c.stats.bypassed.Add(1)
			c.pass(w, r, "fwd=bypass")
			return
		}
		if attempt >= 2 {
			c.fetch(w, r, key, e, nil)
			return
		}
		fl, leader := c.join(key)
		if leader {
			c.fetch(w, r, key, e, fl)
			return
		}
		select {
		case <-fl.done:
		case <-r.Context().Done():
			return
		}
		if !fl.stored {
			c.fetch(w, r, key, c.lookup(key, r), nil)
			return
		}
	}
}

// join makes the caller the leader of the origin request for key, or hands
// it the flight to wait for.
func (c *Cache) join(key string) (*flight, bool) {
	c.flightMu.Lock()
	defer c.flightMu.Unlock()
	if fl := c.flights[key]; fl != nil {
		fl.waiters.Add(1)
		return fl, false
	}
	fl := &flight{done: make(chan struct{})}
	c.flights[key] = fl
	return fl, true
}

func (c *Cache) land(key string, fl *flight, stored bool) {
	c.flightMu.Lock()
	delete(c.flights, key)
	c.flightMu.Unlock()
	fl.stored = stored
	close(fl.done)
}

// usable tells whether e may answer a request with directives reqCC without
// asking the origin (RFC 9111 4.2, 5.2.1).
func (c *Cache) usable(e *entry, reqCC directives, now time.Time) bool {
	if e.cc.has("no-cache") || reqCC.has("no-cache") {
		return false
	}
	age := e.age(now)
	if d, ok := reqCC.duration("max-age"); ok && age > d {
		return false
	}
	if d, ok := reqCC.duration("min-fresh"); ok && e.lifetime-age < d {
		return false
	}
	if age < e.lifetime {
		return true
	}
	if e.mustRevalidate() {
		return false
	}
	if v, ok := reqCC["max-stale"]; ok {
		if v == "" {
			return true
		}
		d, _ := reqCC.duration("max-stale")
		return age-e.lifetime <= d
	}
	return false
}

// notModified tells whether the client's own conditional request r is
// satisfied by the stored response (RFC 9110 13.2.2).
func notModified(r *http.Request, h http.Header) bool {
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		etag := strings.TrimPrefix(strings.TrimSpace(h.Get("ETag")), "W/")
		if etag == "" {
			return false
		}
		for _, t := range strings.Split(inm, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || strings.TrimPrefix(t, "W/") == etag {
				return true
			}
		}
		return false
	}
	ims, ok := parseHTTPDate(r.Header.Get("If-Modified-Since"))
	if !ok {
		return false
	}
	lm, ok := parseHTTPDate(h.Get("Last-Modified"))
	return ok && !lm.After(ims)
}

// notModifiedHeaders are the fields a 304 carries (RFC 9110 15.4.5).
var notModifiedHeaders = []string{"Cache-Control", "Content-Location", "Date", "ETag", "Expires", "Last-Modified", "Vary"}

// serveStored answers r from e. It reports false, having written nothing,
// when e's body file is gone.
func (c *Cache) serveStored(w http.ResponseWriter, r *http.Request, e *entry, now time.Time, status string) bool {
	body := e.inMemory()
	var f *os.File
	if body == nil && r.Method != http.MethodHead && e.rec.Size > 0 {
		var err error
		f, err = os.Open(filepath.Join(c.opts.Dir, e.rec.File))
		if err != nil {
			c.drop(e)
			return false
		}
		defer f.Close()
		if e.rec.Size <= memBody {
			c.keepInMemory(e, f)
		}
	}
	e.lastUsed.Store(now.UnixNano())
	h := w.Header()
	age := strconv.FormatInt(int64(e.age(now)/time.Second), 10)
	if notModified(r, e.rec.Header) {
		for _, k := range notModifiedHeaders {
			if v, ok := e.rec.Header[http.CanonicalHeaderKey(k)]; ok {
				h[k] = v
			}
		}
		h["Age"] = []string{age}
		c.addVia(h, r.Proto)
		c.cacheStatus(h, status)
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	for k, v := range e.rec.Header {
		h[k] = v
	}
	h["Age"] = []string{age}
	c.addVia(h, r.Proto)
	c.cacheStatus(h, status)
	if r.Header.Get("Range") != "" && e.rec.Status == http.StatusOK {
		var rs io.ReadSeeker = f
		if body != nil {
			rs = bytes.NewReader(body)
		}
		if rs == nil {
			rs = bytes.NewReader(nil)
		}
		sw := &countingWriter{ResponseWriter: w}
		http.ServeContent(sw, r, "", time.Time{}, rs)
		c.stats.bytesServed.Add(sw.n)
		c.stats.bytesFromCache.Add(sw.n)
		return true
	}
	bodyless := e.rec.Status == http.StatusNoContent || e.rec.Status == http.StatusNotModified || e.rec.Status < 200
	if !bodyless {
		h["Content-Length"] = []string{strconv.FormatInt(e.rec.Size, 10)}
	}
	noSniff(h)
	w.WriteHeader(e.rec.Status)
	if r.Method == http.MethodHead || bodyless {
		return true
	}
	var n int64
	if body != nil {
		m, _ := w.Write(body)
		n = int64(m)
	} else if f != nil {
		n, _ = io.Copy(w, f)
	}
	c.stats.bytesServed.Add(n)
	c.stats.bytesFromCache.Add(n)
	return true
}

// keepInMemory reads a small body once, so later hits skip the file.
func (c *Cache) keepInMemory(e *entry, f *os.File) {
	b, err := io.ReadAll(io.LimitReader(f, e.rec.Size+1))
	f.Seek(0, io.SeekStart)
	if err != nil || int64(len(b)) != e.rec.Size {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mem+e.rec.Size > memTotal || c.entries[e.key] != e || e.inMemory() != nil {
		return
	}
	e.body.Store(&b)
	c.mem += int64(len(b))
}

type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

// outgoing is r as it goes to the origin.
func (c *Cache) outgoing(r *http.Request) *http.Request {
	out := r.Clone(r.Context())
	out.RequestURI = ""
	RemoveHopByHop(out.Header)
	c.addVia(out.Header, r.Proto)
	if r.ContentLength == 0 {
		out.Body = nil
	}
	return out
}

// roundTrip sends out and, on failure, answers the client with 504 or 502.
func (c *Cache) roundTrip(w http.ResponseWriter, out *http.Request) (*http.Response, bool) {
	resp, err := c.opts.Upstream.RoundTrip(out)
	if err == nil {
		return resp, true
	}
	c.originFailed(w, out, err)
	return nil, false
}

// originFailed answers 504 for an origin that timed out, 502 otherwise.
func (c *Cache) originFailed(w http.ResponseWriter, out *http.Request, err error) {
	h := w.Header()
	c.addVia(h, out.Proto)
	code := http.StatusBadGateway
	if isTimeout(err) {
		code = http.StatusGatewayTimeout
	}
	c.cacheStatus(h, "fwd=miss; detail=origin-error")
	if out.Context().Err() == nil {
		http.Error(w, fmt.Sprintf("httpcache: %s: %v", out.URL.Host, err), code)
	}
}

// staleOnError tells whether e may stand in for an origin that failed (RFC
// 9111 4.2.4, RFC 5861 stale-if-error): after a network error when nothing
// forbids stale answers; after a 5xx only within stale-if-error.
func staleOnError(e *entry, now time.Time, status int) bool {
	if e == nil || e.cc.has("no-cache") || e.mustRevalidate() {
		return false
	}
	if status == 0 {
		return true
	}
	d, ok := e.cc.duration("stale-if-error")
	return ok && status >= 500 && e.age(now)-e.lifetime <= d
}

// relay writes an origin response to the client and returns the body bytes
// and the error that cut the origin's body short, if any.
func (c *Cache) relay(w http.ResponseWriter, r *http.Request, resp *http.Response, status string, body io.Writer) (int64, error) {
	h := w.Header()
	RemoveHopByHop(resp.Header)
	for k, v := range resp.Header {
		h[k] = v
	}
	c.addVia(h, resp.Proto)
	c.cacheStatus(h, status)
	noSniff(h)
	w.WriteHeader(resp.StatusCode)
	dst := io.Writer(w)
	if body != nil {
		dst = &teeToStore{client: w, store: body}
	}
	n, err := io.Copy(dst, resp.Body)
	c.stats.bytesServed.Add(n)
	return n, err
}

// teeToStore writes to the client and the store; a client that goes away
// does not stop the store.
type teeToStore struct {
	client    io.Writer
	clientErr error
	store     io.Writer
}

func (t *teeToStore) Write(p []byte) (int, error) {
	if t.clientErr == nil {
		_, t.clientErr = t.client.Write(p)
	}
	return t.store.Write(p)
}

// pass forwards r and relays the answer without storing it.
func (c *Cache) pass(w http.ResponseWriter, r *http.Request, status string) {
	resp, ok := c.roundTrip(w, c.outgoing(r))
	if !ok {
		return
	}
	defer resp.Body.Close()
	c.relay(w, r, resp, status, nil)
}

// forwardUnsafe forwards a request with an unsafe method and, when it
// succeeds, invalidates the target and the same-origin Location and
// Content-Location (RFC 9111 4.4).
func (c *Cache) forwardUnsafe(w http.ResponseWriter, r *http.Request, key string) {
	resp, ok := c.roundTrip(w, c.outgoing(r))
	if !ok {
		return
	}
	defer resp.Body.Close()
	safe := r.Method == http.MethodOptions || r.Method == http.MethodTrace
	if !safe && resp.StatusCode >= 200 && resp.StatusCode < 400 {
		c.invalidate(key)
		for _, f := range []string{"Location", "Content-Location"} {
			if v := resp.Header.Get(f); v != "" {
				if u, err := r.URL.Parse(v); err == nil && sameOrigin(u, r.URL) {
					c.invalidate(Key(u))
				}
			}
		}
	}
	c.relay(w, r, resp, "fwd=method", nil)
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Host, b.Host)
}

// fetch asks the origin for a GET, revalidating stale when it has
// validators, and stores what may be stored. fl, when not nil, is landed
// with the outcome.
func (c *Cache) fetch(w http.ResponseWriter, r *http.Request, key string, stale *entry, fl *flight) {
	stored := false
	if fl != nil {
		defer func() { c.land(key, fl, stored) }()
	}
	out := c.outgoing(r)
	conditional := stale != nil && stale.validators()
	if conditional {
		// The cache's own validators replace the client's: it can answer
		// the client's conditions from the stored response.
		for _, k := range []string{"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range"} {
			out.Header.Del(k)
		}
		if et := stale.rec.Header.Get("ETag"); et != "" {
			out.Header.Set("If-None-Match", et)
		}
		if lm := stale.rec.Header.Get("Last-Modified"); lm != "" {
			out.Header.Set("If-Modified-Since", lm)
		}
	}
	reqTime := c.opts.Now()
	resp, err := c.opts.Upstream.RoundTrip(out)
	if err != nil {
		if r.Context().Err() == nil && staleOnError(stale, reqTime, 0) && c.serveStored(w, r, stale, reqTime, "fwd=stale; detail=origin-unreachable") {
			c.stats.hits.Add(1)
			stored = true
			return
		}
		c.stats.misses.Add(1)
		c.originFailed(w, out, err)
		return
	}
	defer resp.Body.Close()
	respTime := c.opts.Now()
	if staleOnError(stale, respTime, resp.StatusCode) && c.serveStored(w, r, stale, respTime, "fwd=stale; fwd-status="+strconv.Itoa(resp.StatusCode)) {
		c.stats.hits.Add(1)
		stored = true
		return
	}
	if conditional && resp.StatusCode == http.StatusNotModified {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		e := c.freshen(stale, resp.Header, reqTime, respTime)
		if c.serveStored(w, r, e, respTime, "fwd=stale; fwd-status=304") {
			c.stats.revalidated.Add(1)
			stored = true
			return
		}
		// The body file went between lookup and now: fetch it whole.
		c.fetch(w, r, key, nil, nil)
		return
	}
	c.stats.misses.Add(1)
	fwd := "fwd=miss"
	if stale != nil {
		fwd = "fwd=stale"
		// The origin sent a new response: the old one is not to be used.
		c.drop(stale)
	}
	fwd += "; fwd-status=" + strconv.Itoa(resp.StatusCode)
	if !c.storable(r, resp) {
		c.relay(w, r, resp, fwd, nil)
		return
	}
	p, err := c.begin(key, r, resp, reqTime, respTime)
	if err != nil {
		c.opts.Log.Warn("httpcache: store", "url", key, "err", err)
		c.relay(w, r, resp, fwd, nil)
		return
	}
	n, err := c.relay(w, r, resp, fwd+"; stored", p)
	stored = c.commit(p, n, resp.ContentLength, err)
}

// storable tells whether a shared cache may store resp (RFC 9111 3, 3.5).
func (c *Cache) storable(r *http.Request, resp *http.Response) bool {
	if r.Method != http.MethodGet || resp.StatusCode < 200 || resp.StatusCode == http.StatusPartialContent ||
		resp.StatusCode == http.StatusNotModified || resp.StatusCode >= 600 {
		return false
	}
	cc := parseDirectives(resp.Header)
	if cc.has("must-understand") {
		// Stored only for a status whose caching rules the cache knows,
		// then regardless of no-store (RFC 9111 5.2.2.3).
		if !understood[resp.StatusCode] {
			return false
		}
		delete(cc, "no-store")
	}
	if cc.has("no-store") || cc.has("private") || parseDirectives(r.Header).has("no-store") {
		return false
	}
	shareable := cc.has("public") || cc.has("s-maxage") || cc.has("must-revalidate")
	if r.Header.Get("Authorization") != "" && !shareable {
		return false
	}
	// A response that sets a cookie is usually one user's: kept only when
	// the origin says it is for everyone.
	if len(resp.Header.Values("Set-Cookie")) > 0 && !cc.has("public") && !cc.has("s-maxage") {
		return false
	}
	if _, star := varyNames(resp.Header); star {
		return false
	}
	if resp.ContentLength > c.opts.MaxBytes {
		return false
	}
	lifetime, _ := freshnessLifetime(resp.Header, cc, resp.StatusCode)
	explicit := cc.has("max-age") || cc.has("s-maxage") || resp.Header.Get("Expires") != "" || cc.has("public")
	if !explicit && !heuristicStatus[resp.StatusCode] {
		return false
	}
	return lifetime > 0 || resp.Header.Get("ETag") != "" || resp.Header.Get("Last-Modified") != ""
}

// understood are the status codes whose caching rules the cache implements.
var understood = map[int]bool{200: true, 203: true, 204: true, 300: true, 301: true, 302: true, 303: true,
	307: true, 308: true, 404: true, 405: true, 410: true, 414: true, 501: true}

// freshen applies a 304's fields to a stored response (RFC 9111 4.3.4).
func (c *Cache) freshen(e *entry, h http.Header, reqTime, respTime time.Time) *entry {
	rec := e.rec
	rec.Header = e.rec.Header.Clone()
	RemoveHopByHop(h)
	for k, v := range h {
		switch k {
		case "Content-Length", "Content-Encoding", "Content-Range", "Content-Md5", "Etag", "Transfer-Encoding", "Via", "Cache-Status":
			continue
		}
		rec.Header[k] = v
	}
	if h.Get("Age") == "" {
		rec.Header.Del("Age")
	}
	if h.Get("Date") == "" {
		rec.Header.Set("Date", respTime.UTC().Format(http.TimeFormat))
	}
	rec.RequestTime, rec.ResponseTime = reqTime, respTime
	rec.LastUsed = respTime
	n := newEntry(e.key, rec)
	n.body.Store(e.body.Load())
	if err := c.opts.DB.Update(func(tx *storage.Tx) error { return index.Put(tx, n.key, n.rec) }); err != nil {
		c.opts.Log.Warn("httpcache: freshen", "url", e.rec.URL, "err", err)
	}
	c.mu.Lock()
	if c.entries[e.key] == e {
		c.removeLocked(e)
		c.insertLocked(n)
	}
	c.mu.Unlock()
	return n
}

// noSniff keeps net/http from adding a Content-Type the origin did not send.
func noSniff(h http.Header) {
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil
	}
}
