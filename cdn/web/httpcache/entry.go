package httpcache

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// record is a stored response as the bbolt index keeps it; the body is in
// File under the cache's folder.
type record struct {
	URL          string            `json:"url"`
	Vary         map[string]string `json:"vary,omitempty"` // request header -> normalised value it had
	Status       int               `json:"status"`
	Header       http.Header       `json:"header"`
	RequestTime  time.Time         `json:"request_time"`
	ResponseTime time.Time         `json:"response_time"`
	Size         int64             `json:"size"`
	File         string            `json:"file"`
	LastUsed     time.Time         `json:"last_used"`
}

// entry is a record in memory, with what the hit path needs worked out once.
type entry struct {
	key string // index key: URL, newline, variant id
	rec record
	cc  directives
	// lifetime is the freshness lifetime (RFC 9111 4.2.1); heuristic tells
	// it was guessed from Last-Modified.
	lifetime  time.Duration
	heuristic bool
	// body is kept in memory for small bodies; nil otherwise. Hits read
	// it without the cache's lock.
	body     atomic.Pointer[[]byte]
	lastUsed atomic.Int64 // unix nanoseconds, updated on every hit
}

// heuristicStatus are the status codes cacheable by default (RFC 9110 15.1).
var heuristicStatus = map[int]bool{200: true, 203: true, 204: true, 206: true, 300: true, 301: true,
	308: true, 404: true, 405: true, 410: true, 414: true, 501: true}

// maxHeuristic caps a lifetime guessed from Last-Modified.
const maxHeuristic = 24 * time.Hour

func newEntry(key string, rec record) *entry {
	e := &entry{key: key, rec: rec}
	e.lastUsed.Store(rec.LastUsed.UnixNano())
	e.refresh()
	return e
}

// inMemory is the body kept in memory, or nil.
func (e *entry) inMemory() []byte {
	if b := e.body.Load(); b != nil {
		return *b
	}
	return nil
}

// refresh works out the derived fields after rec.Header changed.
func (e *entry) refresh() {
	e.cc = parseDirectives(e.rec.Header)
	e.lifetime, e.heuristic = freshnessLifetime(e.rec.Header, e.cc, e.rec.Status)
}

// freshnessLifetime follows RFC 9111 4.2.1 for a shared cache.
func freshnessLifetime(h http.Header, cc directives, status int) (time.Duration, bool) {
	if d, ok := cc.duration("s-maxage"); ok {
		return d, false
	}
	if d, ok := cc.duration("max-age"); ok {
		return d, false
	}
	date, hasDate := parseHTTPDate(h.Get("Date"))
	if ev, present := h["Expires"]; present {
		exp, ok := parseHTTPDate(strings.Join(ev, ""))
		if !ok || !hasDate {
			return 0, false // invalid Expires means already expired
		}
		if d := exp.Sub(date); d > 0 {
			return d, false
		}
		return 0, false
	}
	if !heuristicStatus[status] && !cc.has("public") {
		return 0, false
	}
	if lm, ok := parseHTTPDate(h.Get("Last-Modified")); ok && hasDate && date.After(lm) {
		d := date.Sub(lm) / 10
		if d > maxHeuristic {
			d = maxHeuristic
		}
		return d, true
	}
	return 0, false
}

// age is the current age of the stored response at now (RFC 9111 4.2.3).
func (e *entry) age(now time.Time) time.Duration {
	var ageValue time.Duration
	if vs, ok := e.rec.Header["Age"]; ok {
		s, valid := seconds(strings.TrimSpace(vs[0]))
		if len(vs) != 1 || !valid {
			// An Age that is not one delta-seconds value: take the response
			// as stale rather than guess.
			return 1 << 62
		}
		ageValue = time.Duration(s) * time.Second
	}
	apparent := time.Duration(0)
	if date, ok := parseHTTPDate(e.rec.Header.Get("Date")); ok {
		if d := e.rec.ResponseTime.Sub(date); d > 0 {
			apparent = d
		}
	}
	corrected := ageValue + e.rec.ResponseTime.Sub(e.rec.RequestTime)
	if apparent > corrected {
		corrected = apparent
	}
	return corrected + now.Sub(e.rec.ResponseTime)
}

// mustRevalidate tells whether the response forbids serving it stale from a
// shared cache.
func (e *entry) mustRevalidate() bool {
	return e.cc.has("must-revalidate") || e.cc.has("proxy-revalidate") || e.cc.has("s-maxage")
}

// validators tell whether the entry can be revalidated.
func (e *entry) validators() bool {
	return e.rec.Header.Get("ETag") != "" || e.rec.Header.Get("Last-Modified") != ""
}

// varyNames are the request headers a response varies on; star reports
// "Vary: *", which matches no later request.
func varyNames(h http.Header) (names []string, star bool) {
	for _, f := range h.Values("Vary") {
		for _, n := range strings.Split(f, ",") {
			n = strings.TrimSpace(n)
			if n == "*" {
				return nil, true
			}
			if n != "" {
				names = append(names, http.CanonicalHeaderKey(n))
			}
		}
	}
	sort.Strings(names)
	return names, false
}

// varyValue normalises a request's value of a header for Vary matching:
// values joined by commas, runs of spaces folded.
func varyValue(r *http.Request, name string) string {
	vs := r.Header.Values(name)
	parts := make([]string, 0, len(vs))
	for _, v := range vs {
		for _, p := range strings.Split(v, ",") {
			if p = strings.Join(strings.Fields(p), " "); p != "" {
				parts = append(parts, p)
			}
		}
	}
	return strings.Join(parts, ",")
}

// matches tells whether r selects this stored response (RFC 9111 4.1).
func (e *entry) matches(r *http.Request) bool {
	for name, v := range e.rec.Vary {
		if varyValue(r, name) != v {
			return false
		}
	}
	return true
}

// variantKey is the index key of the variant of url that r selects when the
// response varies on names.
func variantKey(url string, names []string, r *http.Request) (string, map[string]string) {
	if len(names) == 0 {
		return url + "\n", nil
	}
	vary := make(map[string]string, len(names))
	h := sha256.New()
	for _, n := range names {
		v := varyValue(r, n)
		vary[n] = v
		h.Write([]byte(n + ":" + v + "\n"))
	}
	return url + "\n" + hex.EncodeToString(h.Sum(nil)[:12]), vary
}

// primaryOf is the URL part of an index key.
func primaryOf(key string) string {
	u, _, _ := strings.Cut(key, "\n")
	return u
}
