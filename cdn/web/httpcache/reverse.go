package httpcache

import (
	"net/http"
	"net/url"
)

// Reverse puts the cache in front of one origin, as a reverse proxy: a
// request's path and query go to origin. It serves the conformance suite
// (http-cache-tests), which talks to a cache as to a server.
func Reverse(origin *url.URL, c *Cache) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := *r.URL
		u.Scheme, u.Host = origin.Scheme, origin.Host
		r2 := r.WithContext(r.Context())
		r2.URL = &u
		r2.Host = origin.Host
		c.ServeHTTP(w, r2)
	})
}
