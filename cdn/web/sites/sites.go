// Package sites serves the group's published folders as web sites, by Host:
// LABEL.NAME.shoal is the folder that member NAME published under LABEL.
// Files come from the CDN's gateway (GET /cdn/INFOHASH/PATH), which gives
// Range, conditional requests and an ETag from infohash and path; this
// layer adds index.html for a folder, the 301 to a folder's trailing slash,
// the site's own 404.html, and a short max-age, since a name can move to a
// new version of the site (the gateway's immutable is for infohash URLs).
package sites

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Directory finds sites and their files.
type Directory interface {
	// Site is the infohash of the item published as the site host.
	Site(host string) (infohash string, ok bool)
	// Files are the item's file paths, relative to its root, "/"-separated.
	Files(infohash string) ([]string, error)
}

// Handler serves sites. Content is the gateway.
type Handler struct {
	Sites   Directory
	Content http.Handler
	// MaxAge is what caches may keep a page addressed by name; default 60s.
	MaxAge time.Duration
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "sites: only GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	host := r.Host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		host = hh
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, seg := range strings.Split(r.URL.Path, "/") {
		if seg == ".." || strings.ContainsAny(seg, "\\\x00") {
			http.Error(w, "sites: a path with .. is refused", http.StatusBadRequest)
			return
		}
	}
	ih, ok := h.Sites.Site(host)
	if !ok {
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, fmt.Sprintf("sites: there is no site called %s in the group (shoal site ls lists them)", host), http.StatusNotFound)
		return
	}
	paths, err := h.Sites.Files(ih)
	if err != nil {
		http.Error(w, fmt.Sprintf("sites: %s: %v", host, err), http.StatusBadGateway)
		return
	}
	files := make(map[string]bool, len(paths))
	for _, p := range paths {
		files[p] = true
	}
	rel := strings.TrimPrefix(r.URL.Path, "/")
	switch {
	case rel == "" || strings.HasSuffix(rel, "/"):
		if files[rel+"index.html"] {
			h.serve(w, r, ih, rel+"index.html", http.StatusOK)
			return
		}
	case files[rel]:
		h.serve(w, r, ih, rel, http.StatusOK)
		return
	case isDir(paths, rel):
		u := url.URL{Path: "/" + rel + "/", RawQuery: r.URL.RawQuery}
		w.Header().Set("Cache-Control", h.cacheControl())
		http.Redirect(w, r, u.String(), http.StatusMovedPermanently)
		return
	}
	if files["404.html"] {
		h.serve(w, r, ih, "404.html", http.StatusNotFound)
		return
	}
	w.Header().Set("Cache-Control", h.cacheControl())
	http.Error(w, "sites: not found: /"+rel, http.StatusNotFound)
}

func isDir(paths []string, rel string) bool {
	for _, p := range paths {
		if strings.HasPrefix(p, rel+"/") {
			return true
		}
	}
	return false
}

func (h *Handler) cacheControl() string {
	age := h.MaxAge
	if age <= 0 {
		age = time.Minute
	}
	return "public, max-age=" + strconv.Itoa(int(age/time.Second))
}

// serve has the gateway answer with file of ih, under code.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, ih, file string, code int) {
	r2 := r.Clone(r.Context())
	r2.URL = &url.URL{Path: "/cdn/" + ih + "/" + file}
	r2.RequestURI = ""
	if code != http.StatusOK {
		// The error page whole: conditions and ranges are for the page asked for.
		for _, k := range []string{"Range", "If-Range", "If-None-Match", "If-Modified-Since"} {
			r2.Header.Del(k)
		}
	}
	h.Content.ServeHTTP(&siteWriter{ResponseWriter: w, code: code, cacheControl: h.cacheControl()}, r2)
}

// siteWriter sets the name's caching and the page's status on the
// gateway's answer.
type siteWriter struct {
	http.ResponseWriter
	code         int
	cacheControl string
	wrote        bool
}

func (w *siteWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	w.Header().Set("Cache-Control", w.cacheControl)
	if w.code != http.StatusOK && code == http.StatusOK {
		code = w.code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *siteWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.ResponseWriter.Write(b)
}

func (w *siteWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
