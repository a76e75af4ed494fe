package httpcache

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// directives are the Cache-Control directives of a message: lower-case names,
// unquoted values ("" for a directive without one).
type directives map[string]string

// parseDirectives reads every Cache-Control field of h. A malformed directive
// is kept by name, so "max-age=abc" still counts as present (and, read as a
// number, as 0: RFC 9111 4.2.1 asks to treat an invalid freshness as stale).
func parseDirectives(h http.Header) directives {
	d := directives{}
	for _, field := range h.Values("Cache-Control") {
		for len(field) > 0 {
			var part string
			part, field = nextDirective(field)
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			// No spaces around "=" (RFC 9111 5.2): "max-age =60" is another
			// directive and "max-age= 60" an invalid value.
			name, value, _ := strings.Cut(part, "=")
			name = strings.ToLower(name)
			if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
				value = value[1 : len(value)-1]
			}
			if _, dup := d[name]; dup && (name == "max-age" || name == "s-maxage") {
				// Two conflicting lifetimes: take the smaller (RFC 9111 4.2.1 lets a cache treat it as stale).
				if v, ok := seconds(value); ok {
					if old, ok := seconds(d[name]); ok && old < v {
						continue
					}
				}
			}
			d[name] = value
		}
	}
	return d
}

// nextDirective splits field at the first comma outside a quoted string.
func nextDirective(field string) (string, string) {
	quoted := false
	for i := 0; i < len(field); i++ {
		switch field[i] {
		case '"':
			quoted = !quoted
		case '\\':
			if quoted {
				i++
			}
		case ',':
			if !quoted {
				return field[:i], field[i+1:]
			}
		}
	}
	return field, ""
}

func (d directives) has(name string) bool { _, ok := d[name]; return ok }

// duration reads a delta-seconds directive. ok is false when it is absent;
// a present but invalid value reads as 0.
func (d directives) duration(name string) (time.Duration, bool) {
	v, ok := d[name]
	if !ok {
		return 0, false
	}
	s, valid := seconds(v)
	if !valid {
		return 0, true
	}
	return time.Duration(s) * time.Second, true
}

func seconds(v string) (int64, bool) {
	if v == "" {
		return 0, false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		// Too large: RFC 9111 1.2.2 says to use 2^31.
		return 1 << 31, true
	}
	if n > 1<<31 {
		n = 1 << 31
	}
	return n, true
}

// hopByHop are the headers that belong to one connection (RFC 9110 7.6.1),
// never stored or forwarded.
var hopByHop = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// RemoveHopByHop deletes the hop-by-hop headers of h, including those the
// Connection field names.
func RemoveHopByHop(h http.Header) {
	for _, f := range h.Values("Connection") {
		for _, name := range strings.Split(f, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopByHop {
		h.Del(name)
	}
}

// parseHTTPDate reads an HTTP date; ok is false for an absent or invalid one.
func parseHTTPDate(v string) (time.Time, bool) {
	if v == "" {
		return time.Time{}, false
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}
