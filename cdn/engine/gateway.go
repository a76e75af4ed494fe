package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
)

// GatewayPrefix is where the gateway answers.
const GatewayPrefix = "/cdn/"

// Gateway serves content over HTTP:
//
//	GET/HEAD /cdn/<infohash>/<path>  a file (Range, ETag, Last-Modified, 304)
//	GET/HEAD /cdn/<infohash>/[dir/]  a folder's listing (HTML, or JSON on Accept: application/json)
//	GET/HEAD /cdn/<infohash>         a single file, or the root listing
//	GET/HEAD /cdn/<infohash>.torrent the metainfo
//
// Content not on this node is fetched from the swarm, the requested range
// first, and kept in the cache. Only verified pieces are ever served.
//
// A request with "Cache-Control: only-if-cached" (RFC 9111) is answered
// only from what this node holds: 504 when the item is not here or a piece
// of the file is missing, and nothing is fetched. A request with
// HeaderFetch: FetchRequested has the swarm fetch only the bytes it reads,
// not the rest of the item (a player fetching segment by segment).
//
// File bodies are sent within the engine's upload cap, which BitTorrent
// shares: what a member's player or a browser reads from this node counts
// as upload like the pieces peers get.
func (e *Engine) Gateway() http.Handler { return gateway{e: e, capped: true} }

// LocalGateway is Gateway for this node's own use (its player, in
// process): not counted against the upload cap.
func (e *Engine) LocalGateway() http.Handler { return gateway{e: e} }

// HeaderFetch and FetchRequested: see Gateway.
const (
	HeaderFetch    = "X-Shoal-Fetch"
	FetchRequested = "requested"
)

// onlyIfCached tells whether a request asks for held bytes only.
func onlyIfCached(r *http.Request) bool {
	for _, v := range r.Header.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(d), "only-if-cached") {
				return true
			}
		}
	}
	return false
}

type gateway struct {
	e      *Engine
	capped bool // file bodies wait for the upload limiter
}

// cappedWriter sends a body within a rate limiter.
type cappedWriter struct {
	http.ResponseWriter
	ctx context.Context
	lim interface {
		WaitN(ctx context.Context, n int) error
		Burst() int
	}
}

func (w cappedWriter) Write(p []byte) (int, error) {
	var sent int
	for len(p) > 0 {
		n := min(len(p), max(1, w.lim.Burst()))
		if err := w.lim.WaitN(w.ctx, n); err != nil {
			return sent, err
		}
		m, err := w.ResponseWriter.Write(p[:n])
		sent += m
		if err != nil {
			return sent, err
		}
		p = p[n:]
	}
	return sent, nil
}

// httpError is an error with the status it answers.
type httpError struct {
	code int
	msg  string
}

func (h httpError) Error() string { return h.msg }

func fail(code int, format string, a ...any) error {
	return httpError{code, fmt.Sprintf(format, a...)}
}

func (g gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := g.serve(w, r); err != nil {
		var he httpError
		switch {
		case errors.As(err, &he):
		case errors.Is(err, ErrBadInput):
			he = httpError{http.StatusBadRequest, err.Error()}
		case errors.Is(err, ErrNotFound):
			he = httpError{http.StatusNotFound, err.Error()}
		case errors.Is(err, ErrClosed):
			he = httpError{http.StatusServiceUnavailable, err.Error()}
		default:
			g.e.log.Warn("gateway error", "path", r.URL.Path, "err", err)
			he = httpError{http.StatusInternalServerError, err.Error()}
		}
		if he.code == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", "GET, HEAD")
		}
		http.Error(w, he.msg, he.code)
	}
}

// parseGatewayPath splits /cdn/<infohash>[.torrent][/path...] and refuses
// any path that could leave the torrent: dot segments, empty segments (an
// absolute path after the hash), encoded slashes or backslashes, NUL.
func parseGatewayPath(escaped string) (ih metainfo.Hash, torrentFile bool, segs []string, dir bool, err error) {
	rest, ok := strings.CutPrefix(escaped, GatewayPrefix)
	if !ok {
		return ih, false, nil, false, fail(http.StatusNotFound, "not a gateway path")
	}
	head, tail, hasTail := strings.Cut(rest, "/")
	if name, ok := strings.CutSuffix(head, ".torrent"); ok && !hasTail {
		head, torrentFile = name, true
	}
	ih, perr := parseInfoHash(head)
	if perr != nil {
		return ih, false, nil, false, fail(http.StatusBadRequest, "bad infohash %q: want 40 hex digits or 32 base32 characters", head)
	}
	if !hasTail || tail == "" {
		return ih, torrentFile, nil, hasTail, nil
	}
	parts := strings.Split(tail, "/")
	if parts[len(parts)-1] == "" {
		dir = true
		parts = parts[:len(parts)-1]
	}
	for _, p := range parts {
		s, uerr := url.PathUnescape(p)
		if uerr != nil || !safeComponent(s) {
			return ih, false, nil, false, fail(http.StatusBadRequest, "bad path: it must stay inside the torrent")
		}
		segs = append(segs, s)
	}
	return ih, false, segs, dir, nil
}

// allowCrossOrigin lets players and pages of other origins (dash.js on a
// web page, a site of the group) read what the gateway serves, ranges
// included: the same bytes are open to any HTTP client of the member anyway.
func allowCrossOrigin(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "Content-Length, Content-Range, Accept-Ranges, Etag")
}

func (g gateway) serve(w http.ResponseWriter, r *http.Request) error {
	allowCrossOrigin(w.Header())
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		// A CORS preflight (a player sending Range, say): nothing is read.
		h := w.Header()
		h.Set("Access-Control-Allow-Methods", "GET, HEAD")
		h.Set("Access-Control-Allow-Headers", "Range, If-None-Match, If-Modified-Since, If-Range")
		h.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return fail(http.StatusMethodNotAllowed, "only GET and HEAD")
	}
	if strings.ContainsRune(r.URL.RawQuery, 0) {
		return fail(http.StatusBadRequest, "bad query")
	}
	ih, torrentFile, segs, _, err := parseGatewayPath(r.URL.EscapedPath())
	if err != nil {
		return err
	}
	e := g.e
	cachedOnly := onlyIfCached(r)
	if cachedOnly {
		e.mu.Lock()
		it := e.items[ih]
		ready := it != nil && it.t != nil && it.t.Info() != nil && !it.rec.Paused && it.missing == ""
		e.mu.Unlock()
		if !ready {
			return fail(http.StatusGatewayTimeout, "%s is not held on this node", ih.HexString())
		}
	}
	it, t, err := g.obtain(r.Context(), ih)
	if err != nil {
		return err
	}
	e.mu.Lock()
	it.readers++
	rec := it.rec
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		it.readers--
		e.mu.Unlock()
		e.touch(ih)
	}()
	modTime := rec.Time
	if modTime.IsZero() {
		modTime = rec.Added
	}

	if torrentFile {
		mi := e.metainfo(rec.InfoHash)
		if mi == nil {
			return fail(http.StatusNotFound, "the metainfo of %s is not known", rec.InfoHash)
		}
		w.Header().Set("Content-Type", "application/x-bittorrent")
		w.Header().Set("Etag", etag(rec.InfoHash, ".torrent"))
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", rec.InfoHash+".torrent"))
		http.ServeContent(w, r, "", modTime, strings.NewReader(string(mi)))
		return nil
	}

	info := t.Info()
	files := t.Files()
	want := strings.Join(segs, "/")
	if len(segs) == 0 && !info.IsDir() {
		want = files[0].DisplayPath()
	}
	for _, f := range files {
		if f.DisplayPath() == want {
			if cachedOnly && !held(f) {
				return fail(http.StatusGatewayTimeout, "%s of %s is not all held on this node", want, ih.HexString())
			}
			return g.serveFile(w, r, ih, rec, f, modTime)
		}
	}
	var entries []listEntry
	seen := map[string]bool{}
	prefix := want + "/"
	if want == "" {
		prefix = ""
	}
	for _, f := range files {
		rel, ok := strings.CutPrefix(f.DisplayPath(), prefix)
		if !ok {
			continue
		}
		name, _, isDir := strings.Cut(rel, "/")
		if seen[name] {
			continue
		}
		seen[name] = true
		ent := listEntry{Name: name, Path: prefix + name, Dir: isDir}
		if !isDir {
			ent.Size = f.Length()
		}
		ent.Href = GatewayPrefix + rec.InfoHash + "/" + escapePath(ent.Path)
		if isDir {
			ent.Href += "/"
		}
		entries = append(entries, ent)
	}
	if entries == nil {
		return fail(http.StatusNotFound, "%q is not in %s", want, rec.InfoHash)
	}
	serveListing(w, r, rec, want, entries)
	return nil
}

// obtain finds an item ready to serve, adding it to the cache and waiting
// for its metadata if this node does not have it yet.
func (g gateway) obtain(ctx context.Context, ih metainfo.Hash) (*item, *torrent.Torrent, error) {
	e := g.e
	e.mu.Lock()
	it := e.items[ih]
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return nil, nil, fail(http.StatusServiceUnavailable, "the node is shutting down")
	}
	if it == nil {
		if _, err := e.add(ctx, fetchSpec{ih: ih}, nil, "", OriginCache); err != nil {
			return nil, nil, err
		}
		e.mu.Lock()
		it = e.items[ih]
		e.mu.Unlock()
		if it == nil {
			return nil, nil, fail(http.StatusNotFound, "%s is gone", ih.HexString())
		}
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.GatewayTimeout)
	defer cancel()
	for {
		e.mu.Lock()
		t, missing, paused, changed := it.t, it.missing, it.rec.Paused, it.changed
		current := e.items[ih] == it
		e.mu.Unlock()
		switch {
		case !current:
			return nil, nil, fail(http.StatusNotFound, "%s was removed", ih.HexString())
		case missing != "":
			return nil, nil, fail(http.StatusNotFound, "%s is missing on this node: %s", ih.HexString(), missing)
		case paused:
			return nil, nil, fail(http.StatusServiceUnavailable, "%s is paused on this node", ih.HexString())
		}
		if t != nil {
			select {
			case <-t.GotInfo():
				if err := g.stillThere(ih, it); err != nil {
					return nil, nil, err
				}
				return it, t, nil
			case <-t.Closed():
				continue
			case <-changed:
				continue
			case <-ctx.Done():
			}
		} else {
			select {
			case <-changed:
				continue
			case <-ctx.Done():
			}
		}
		// No metadata in time. An item nobody has is dropped again.
		var known int
		if t != nil {
			known = len(t.KnownSwarm()) + t.Stats().ActivePeers
		}
		e.mu.Lock()
		drop := it.rec.Origin == OriginCache && !it.rec.HasInfo && it.readers == 0
		e.mu.Unlock()
		if drop {
			e.forget(ih)
		}
		if known == 0 {
			return nil, nil, fail(http.StatusNotFound, "no peer has %s (looked for %s)", ih.HexString(), e.cfg.GatewayTimeout)
		}
		return nil, nil, fail(http.StatusGatewayTimeout, "peers of %s did not send its metadata in time", ih.HexString())
	}
}

// stillThere re-checks a published item's files just before serving them.
func (g gateway) stillThere(ih metainfo.Hash, it *item) error {
	e := g.e
	e.mu.Lock()
	rec := it.rec
	e.mu.Unlock()
	if rec.Origin != OriginPublished {
		return nil
	}
	if err := checkSigs(rec); err != nil {
		e.setMissing(ih, err)
		return fail(http.StatusNotFound, "%s is missing on this node: %v", ih.HexString(), err)
	}
	return nil
}

// mediaTypes are the types of DASH's files, which the system's MIME table
// often lacks.
var mediaTypes = map[string]string{
	".mpd": "application/dash+xml",
	".m4s": "video/iso.segment",
	".mp4": "video/mp4",
	".m4a": "audio/mp4",
	".m4v": "video/mp4",
}

// ContentType is the Content-Type the gateway gives a file, from its
// extension.
func ContentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := mediaTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

// readahead is how far past the read position pieces are wanted urgently.
const readahead = 4 << 20

func (g gateway) serveFile(w http.ResponseWriter, r *http.Request, ih metainfo.Hash, rec record, f *torrent.File, modTime time.Time) error {
	name := path.Base(f.DisplayPath())
	ctype := ContentType(name)
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Etag", etag(rec.InfoHash, f.DisplayPath()))
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	rd := f.NewReader()
	defer rd.Close()
	rd.SetContext(r.Context())
	rd.SetReadahead(max(readahead, 2*f.Torrent().Info().PieceLength))
	var content io.ReadSeeker = rd
	if r.Method == http.MethodGet && rec.Origin == OriginCache && r.Header.Get(HeaderFetch) != FetchRequested && !onlyIfCached(r) {
		// A cache entry is kept whole, but the rest is asked for only once
		// the first requested bytes are in: requests for other pieces would
		// compete with them at every peer.
		content = &thenFetchAll{ReadSeeker: rd, t: f.Torrent()}
	}
	if g.capped {
		w = cappedWriter{ResponseWriter: w, ctx: r.Context(), lim: g.e.up}
	}
	http.ServeContent(w, r, name, modTime, content)
	return nil
}

// held tells whether every piece of f is verified here.
func held(f *torrent.File) bool {
	if f.Length() == 0 {
		return true
	}
	t := f.Torrent()
	for i := f.BeginPieceIndex(); i < f.EndPieceIndex(); i++ {
		if st := t.Piece(i).State(); !st.Ok || !st.Complete {
			return false
		}
	}
	return true
}

// thenFetchAll asks for the whole torrent after its first successful read.
type thenFetchAll struct {
	io.ReadSeeker
	t    *torrent.Torrent
	done bool
}

func (r *thenFetchAll) Read(p []byte) (int, error) {
	n, err := r.ReadSeeker.Read(p)
	if n > 0 && !r.done {
		r.done = true
		r.t.DownloadAll()
	}
	return n, err
}

// etag is a strong validator: the bytes at infohash+path never change.
func etag(ih, p string) string {
	sum := sha256.Sum256([]byte(ih + "/" + p))
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

type listEntry struct {
	Name string `json:"name"`
	Path string `json:"path"`
	Dir  bool   `json:"dir"`
	Size int64  `json:"size,omitempty"`
	Href string `json:"href"`
}

type listing struct {
	InfoHash string      `json:"infohash"`
	Name     string      `json:"name"`
	Path     string      `json:"path"`
	Entries  []listEntry `json:"entries"`
	Up       string      `json:"-"`
}

var listingPage = template.Must(template.New("listing").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>{{.Name}}/{{.Path}}</title></head>
<body><h1>{{.Name}}/{{.Path}}</h1>
<ul>{{if .Up}}<li><a href="{{.Up}}">..</a></li>{{end}}
{{range .Entries}}<li><a href="{{.Href}}">{{.Name}}{{if .Dir}}/{{end}}</a>{{if not .Dir}} ({{.Size}} bytes){{end}}</li>
{{end}}</ul></body></html>
`))

func serveListing(w http.ResponseWriter, r *http.Request, rec record, dir string, entries []listEntry) {
	slices.SortFunc(entries, func(a, b listEntry) int {
		if a.Dir != b.Dir {
			if a.Dir {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	l := listing{InfoHash: rec.InfoHash, Name: rec.Name, Path: dir, Entries: entries}
	if dir != "" {
		l.Up = GatewayPrefix + rec.InfoHash + "/"
		if parent := path.Dir(dir); parent != "." {
			l.Up += escapePath(parent) + "/"
		}
	}
	w.Header().Set("Vary", "Accept")
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		w.Header().Set("Content-Type", "application/json")
		if r.Method != http.MethodHead {
			json.NewEncoder(w).Encode(l) // a failed write is the client's leaving
		}
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if r.Method != http.MethodHead {
		listingPage.Execute(w, l)
	}
}
