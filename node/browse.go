package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/publicsuffix"

	"github.com/shoal-p2p/shoal/cdn/catalog"
	"github.com/shoal-p2p/shoal/cdn/engine"
	"github.com/shoal-p2p/shoal/cdn/membership"
	htmlpage "github.com/shoal-p2p/shoal/cdn/web/page"
	"github.com/shoal-p2p/shoal/storage"
)

// The Browse area's fetcher: the window's small browser fetches through the
// node's own proxy and cache (so its pages count in the hit ratio and .shoal
// names work), keeps cookies (RFC 6265, sites by the public suffix list, in
// which every NAME.shoal is a site of its own) in the database across
// restarts, and keeps history and bookmarks there too.

// Buckets of the browser.
var (
	browseCookies   = storage.NewBucket[storedCookie]("node.browse.cookies")
	browseHistory   = storage.NewBucket[HistoryEntry]("node.browse.history")
	browseBookmarks = storage.NewBucket[Bookmark]("node.browse.bookmarks")
)

// Bounds of the browser.
const (
	maxPageBytes     = 8 << 20  // an HTML or text page
	maxResourceBytes = 16 << 20 // an image
	maxHistory       = 1000
	browseTimeout    = 60 * time.Second
)

// BrowseRequest is a navigation: a URL to GET, or a form's submission.
type BrowseRequest struct {
	Method string     `json:"method,omitempty"` // GET (default) or POST
	URL    string     `json:"url"`
	Form   url.Values `json:"form,omitempty"` // POST: the body; GET: replaces the query
}

// BrowseResult is what a navigation got. Page is set for HTML, Text for
// plain text; anything else has neither and can be downloaded.
type BrowseResult struct {
	URL         string         `json:"url"` // after redirects
	Status      int            `json:"status"`
	ContentType string         `json:"content_type"`
	CacheStatus string         `json:"cache_status,omitempty"` // the proxy's Cache-Status
	Size        int64          `json:"size"`
	Truncated   bool           `json:"truncated,omitempty"`
	Page        *htmlpage.Page `json:"page,omitempty"`
	Text        string         `json:"text,omitempty"`
}

// HistoryEntry is one page visited.
type HistoryEntry struct {
	URL   string    `json:"url"`
	Title string    `json:"title"`
	At    time.Time `json:"at"`
}

// Bookmark is a page kept by the user.
type Bookmark struct {
	URL   string    `json:"url"`
	Title string    `json:"title"`
	Added time.Time `json:"added"`
}

// CookieSite is a site that has cookies in the jar.
type CookieSite struct {
	Site    string `json:"site"`
	Cookies int    `json:"cookies"`
}

// BrowseSite is a published folder with an index.html, as the Browse areas list
// it: URL goes through the proxy by name, PeerURL straight to a holder's
// peer port (the web client frames it, on an origin that is not the UI's).
type BrowseSite struct {
	Name     string `json:"name"`
	InfoHash string `json:"infohash"`
	Holder   string `json:"holder"`
	URL      string `json:"url"`
	PeerURL  string `json:"peer_url,omitempty"`
}

// ErrBrowse is wrapped by the browser's errors of bad input.
var ErrBrowse = errors.New("node: browse")

// browseClient is the node's web client.
type browseClient struct {
	n      *Node
	client *http.Client

	mu      sync.Mutex
	jar     *cookiejar.Jar
	cookies map[string]storedCookie // key -> cookie, session cookies included
}

// storedCookie is a cookie as the jar got it, with the URL it came from
// (replaying SetCookies with it rebuilds the jar) and an absolute expiry.
type storedCookie struct {
	URL      string        `json:"url"`
	Site     string        `json:"site"`
	Name     string        `json:"name"`
	Value    string        `json:"value"`
	Path     string        `json:"path,omitempty"`
	Domain   string        `json:"domain,omitempty"`
	Expires  time.Time     `json:"expires"`
	Secure   bool          `json:"secure,omitempty"`
	HttpOnly bool          `json:"http_only,omitempty"`
	SameSite http.SameSite `json:"same_site,omitempty"`
	// Session cookies live until the node stops and are not stored.
	Session bool `json:"-"`
}

func (c storedCookie) cookie() *http.Cookie {
	return &http.Cookie{Name: c.Name, Value: c.Value, Path: c.Path, Domain: c.Domain, Expires: c.Expires,
		Secure: c.Secure, HttpOnly: c.HttpOnly, SameSite: c.SameSite}
}

// siteOf is the cookie site of host: its registrable domain (eTLD+1), or
// the host itself for an IP address or a bare suffix.
func siteOf(host string) string {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if s, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
		return s
	}
	return host
}

// startBrowser builds the fetcher and loads the kept cookies. It starts
// after the proxy, which it fetches through: over an in-memory connection
// that the proxy serves like any other, so the fetcher works whatever
// address the proxy listens on (a LAN address would not be a loopback
// source) and its requests count in the proxy's statistics.
func (n *Node) startBrowser() error {
	b := &browseClient{n: n, cookies: map[string]storedCookie{}}
	if err := b.load(); err != nil {
		return err
	}
	if n.proxy == nil {
		return errors.New("node: browse: the proxy is not running")
	}
	ln := newMemListener()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := n.proxy.Serve(context.Background(), ln); err != nil && !errors.Is(err, net.ErrClosed) {
			n.log.Warn("browse: the proxy stopped serving the browser", "err", err)
		}
	}()
	b.client = &http.Client{
		Jar: (*browserJar)(b),
		Transport: &http.Transport{
			// Every request goes to the proxy; the address only names it.
			Proxy:                 http.ProxyURL(&url.URL{Scheme: "http", Host: "proxy.local.shoal"}),
			DialContext:           func(ctx context.Context, _, _ string) (net.Conn, error) { return ln.dial(ctx) },
			ResponseHeaderTimeout: 45 * time.Second,
			IdleConnTimeout:       60 * time.Second,
			MaxIdleConnsPerHost:   8,
		},
	}
	n.browser = b
	n.services = append(n.services, service{"browser", func(ctx context.Context) error {
		b.client.CloseIdleConnections()
		ln.Close()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("node: browse: %w", ctx.Err())
		}
	}})
	return nil
}

// memListener hands the proxy the browser's connections, made in memory.
// They come from loopback, which is what they are: the local user.
type memListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

var loopbackAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}

func newMemListener() *memListener {
	return &memListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *memListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *memListener) Addr() net.Addr { return loopbackAddr }

func (l *memListener) dial(ctx context.Context) (net.Conn, error) {
	server, client := net.Pipe()
	select {
	case l.conns <- loopbackConn{server}:
		return loopbackConn{client}, nil
	case <-l.done:
		server.Close()
		client.Close()
		return nil, errors.New("node: browse: the node is stopping")
	case <-ctx.Done():
		server.Close()
		client.Close()
		return nil, ctx.Err()
	}
}

// loopbackConn is one end of an in-memory connection, addressed as
// loopback.
type loopbackConn struct{ net.Conn }

func (loopbackConn) LocalAddr() net.Addr  { return loopbackAddr }
func (loopbackConn) RemoteAddr() net.Addr { return loopbackAddr }

// load rebuilds the jar from the database, dropping expired cookies.
func (b *browseClient) load() error {
	now := time.Now()
	var expired []string
	err := b.n.db.View(func(tx *storage.Tx) error {
		return browseCookies.ForEach(tx, func(k string, c storedCookie) error {
			if !c.Expires.After(now) {
				expired = append(expired, k)
				return nil
			}
			b.cookies[k] = c
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("node: browse: load cookies: %w", err)
	}
	if len(expired) > 0 {
		if err := b.n.db.Update(func(tx *storage.Tx) error {
			for _, k := range expired {
				if err := browseCookies.Delete(tx, k); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("node: browse: drop expired cookies: %w", err)
		}
	}
	return b.rebuild()
}

// rebuild makes a new jar from b.cookies; the caller holds b.mu or is
// the only user.
func (b *browseClient) rebuild() error {
	jar, err := cookiejar.New(&cookiejar.Options{PublicSuffixList: publicsuffix.List})
	if err != nil {
		return fmt.Errorf("node: browse: cookie jar: %w", err)
	}
	for _, c := range b.cookies {
		u, err := url.Parse(c.URL)
		if err != nil {
			continue
		}
		jar.SetCookies(u, []*http.Cookie{c.cookie()})
	}
	b.jar = jar
	return nil
}

// browserJar is the browser as an http.CookieJar: the standard jar
// decides, and every cookie it is given is also recorded in the database.
type browserJar browseClient

func (j *browserJar) Cookies(u *url.URL) []*http.Cookie {
	b := (*browseClient)(j)
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.jar.Cookies(u)
}

func (j *browserJar) SetCookies(u *url.URL, cookies []*http.Cookie) {
	b := (*browseClient)(j)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.jar.SetCookies(u, cookies)
	now := time.Now()
	site := siteOf(u.Hostname())
	put := map[string]storedCookie{}
	var del []string
	for _, c := range cookies {
		domain := strings.ToLower(strings.TrimPrefix(c.Domain, "."))
		if domain == "" {
			domain = strings.ToLower(u.Hostname())
		}
		p := c.Path
		if p == "" || p[0] != '/' {
			p = defaultCookiePath(u.Path)
		}
		key := site + "\x00" + domain + "\x00" + p + "\x00" + c.Name
		sc := storedCookie{URL: (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String(), Site: site,
			Name: c.Name, Value: c.Value, Path: c.Path, Domain: c.Domain, Secure: c.Secure, HttpOnly: c.HttpOnly,
			SameSite: c.SameSite}
		switch {
		case c.MaxAge < 0, c.MaxAge == 0 && !c.Expires.IsZero() && !c.Expires.After(now):
			delete(b.cookies, key)
			del = append(del, key)
			continue
		case c.MaxAge > 0:
			sc.Expires = now.Add(time.Duration(c.MaxAge) * time.Second)
		case !c.Expires.IsZero():
			sc.Expires = c.Expires
		default:
			sc.Session = true
			del = append(del, key) // a session cookie replaces a kept one
		}
		b.cookies[key] = sc
		if !sc.Session {
			put[key] = sc
		}
	}
	if len(put) == 0 && len(del) == 0 {
		return
	}
	if err := b.n.db.Update(func(tx *storage.Tx) error {
		for _, k := range del {
			if err := browseCookies.Delete(tx, k); err != nil {
				return err
			}
		}
		for k, c := range put {
			if err := browseCookies.Put(tx, k, c); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.n.log.Warn("browse: cookies not kept", "site", site, "err", err)
	}
}

// defaultCookiePath is RFC 6265 5.1.4's default path of a request path.
func defaultCookiePath(p string) string {
	if p == "" || p[0] != '/' {
		return "/"
	}
	i := strings.LastIndex(p, "/")
	if i == 0 {
		return "/"
	}
	return p[:i]
}

func (n *Node) browserOn() (*browseClient, error) {
	if n.browser == nil {
		return nil, errors.New("node: browse: the browser is not running")
	}
	return n.browser, nil
}

// parseBrowseURL checks that s is an absolute http or https URL.
func parseBrowseURL(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("%w: %q is not an http:// or https:// URL", ErrBrowse, s)
	}
	u.Fragment = ""
	return u, nil
}

// do sends a request through the proxy.
func (b *browseClient) do(ctx context.Context, method string, u *url.URL, form url.Values) (*http.Response, error) {
	var body io.Reader
	switch method {
	case "", http.MethodGet:
		method = http.MethodGet
		if form != nil {
			u.RawQuery = form.Encode()
		}
	case http.MethodPost:
		body = strings.NewReader(form.Encode())
	default:
		return nil, fmt.Errorf("%w: method %q is neither GET nor POST", ErrBrowse, method)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBrowse, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("User-Agent", "Shoal/"+Version+" (Browse)")
	req.Header.Set("Accept", "text/html, text/plain;q=0.9, */*;q=0.5")
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("node: browse %s: %w", u.Redacted(), err)
	}
	return resp, nil
}

// Browse fetches a page through the proxy, parses it if it is HTML and
// records it in the history.
func (n *Node) Browse(ctx context.Context, r BrowseRequest) (*BrowseResult, error) {
	b, err := n.browserOn()
	if err != nil {
		return nil, err
	}
	u, err := parseBrowseURL(r.URL)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, browseTimeout)
	defer cancel()
	resp, err := b.do(ctx, r.Method, u, r.Form)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	res := &BrowseResult{URL: resp.Request.URL.String(), Status: resp.StatusCode,
		ContentType: resp.Header.Get("Content-Type"), CacheStatus: resp.Header.Get("Cache-Status"), Size: resp.ContentLength}
	mt, _, _ := mime.ParseMediaType(res.ContentType)
	if mt == "" {
		mt = "text/html" // as browsers sniff an unlabelled page, roughly
	}
	if mt == "text/html" || mt == "application/xhtml+xml" || strings.HasPrefix(mt, "text/") {
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxPageBytes+1))
		if err != nil {
			return nil, fmt.Errorf("node: browse %s: %w", u.Redacted(), err)
		}
		if len(data) > maxPageBytes {
			data, res.Truncated = data[:maxPageBytes], true
		}
		res.Size = int64(len(data))
		if mt == "text/html" || mt == "application/xhtml+xml" {
			if res.Page, err = htmlpage.Parse(strings.NewReader(string(data)), res.URL); err != nil {
				return nil, fmt.Errorf("node: browse: %w", err)
			}
		} else {
			res.Text = string(data)
		}
	}
	title := res.URL
	if res.Page != nil && res.Page.Title != "" {
		title = res.Page.Title
	}
	if r.Method == "" || r.Method == http.MethodGet {
		if err := n.addHistory(HistoryEntry{URL: res.URL, Title: title, At: time.Now().UTC()}); err != nil {
			n.log.Warn("browse: history not kept", "err", err)
		}
	}
	return res, nil
}

// BrowseResource fetches an image or another part of a page through the
// proxy, with the browser's cookies, up to 16 MiB.
func (n *Node) BrowseResource(ctx context.Context, rawURL string) ([]byte, string, error) {
	b, err := n.browserOn()
	if err != nil {
		return nil, "", err
	}
	u, err := parseBrowseURL(rawURL)
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, browseTimeout)
	defer cancel()
	resp, err := b.do(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("node: browse %s: %s", u.Redacted(), resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResourceBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("node: browse %s: %w", u.Redacted(), err)
	}
	if len(data) > maxResourceBytes {
		return nil, "", fmt.Errorf("%w: %s is larger than %d MiB", ErrBrowse, u.Redacted(), maxResourceBytes>>20)
	}
	return data, resp.Header.Get("Content-Type"), nil
}

// Download saves what rawURL gives into dir under the name the server
// suggests or the URL's last segment, never overwriting a file; with
// publish, the file is also published into the Library. It returns the
// file's path, and the item when published.
func (n *Node) Download(ctx context.Context, rawURL, dir string, publish bool) (string, *engine.Item, error) {
	b, err := n.browserOn()
	if err != nil {
		return "", nil, err
	}
	u, err := parseBrowseURL(rawURL)
	if err != nil {
		return "", nil, err
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", nil, fmt.Errorf("%w: download folder %s is not a folder", ErrBrowse, dir)
	}
	resp, err := b.do(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("node: download %s: %s", u.Redacted(), resp.Status)
	}
	name := downloadName(resp)
	tmp, err := os.CreateTemp(dir, ".shoal-download-*")
	if err != nil {
		return "", nil, fmt.Errorf("node: download: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, resp.Body); err != nil {
		tmp.Close()
		return "", nil, fmt.Errorf("node: download %s: %w", u.Redacted(), err)
	}
	if err := tmp.Close(); err != nil {
		return "", nil, fmt.Errorf("node: download: %w", err)
	}
	dst := freeName(dir, name)
	// Link, not rename: a file made meanwhile under the same name is kept.
	if err := os.Link(tmp.Name(), dst); err != nil {
		return "", nil, fmt.Errorf("node: download: %w", err)
	}
	if !publish {
		return dst, nil, nil
	}
	it, err := n.Publish(ctx, dst, "", nil)
	if err != nil {
		return dst, nil, err
	}
	return dst, &it, nil
}

// downloadName is a safe file name for a response.
func downloadName(resp *http.Response) string {
	var name string
	if _, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err == nil {
		name = params["filename"]
	}
	if name == "" {
		name = path.Base(resp.Request.URL.Path)
	}
	name = filepath.Base(strings.ReplaceAll(name, "\\", "/"))
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == '/' || r == 0x7f {
			return -1
		}
		return r
	}, name)
	if name == "" || name == "." || name == ".." || name == "/" {
		name = "download"
	}
	return name
}

// freeName is dir/name, or dir/name (2).ext and so on if that is taken.
func freeName(dir, name string) string {
	ext := filepath.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	p := filepath.Join(dir, name)
	for i := 2; ; i++ {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			return p
		}
		p = filepath.Join(dir, fmt.Sprintf("%s (%d)%s", stem, i, ext))
	}
}

func historyKey(t time.Time) string { return fmt.Sprintf("%020d", t.UnixNano()) }

func (n *Node) addHistory(e HistoryEntry) error {
	return n.db.Update(func(tx *storage.Tx) error {
		key := historyKey(e.At)
		for {
			if _, err := browseHistory.Get(tx, key); errors.Is(err, storage.ErrNotFound) {
				break
			}
			e.At = e.At.Add(time.Nanosecond)
			key = historyKey(e.At)
		}
		if err := browseHistory.Put(tx, key, e); err != nil {
			return err
		}
		var keys []string
		browseHistory.ForEach(tx, func(k string, _ HistoryEntry) error { keys = append(keys, k); return nil })
		if len(keys) <= maxHistory {
			return nil
		}
		for _, k := range keys[:len(keys)-maxHistory] {
			if err := browseHistory.Delete(tx, k); err != nil {
				return err
			}
		}
		return nil
	})
}

// History lists the pages visited, newest first, at most limit (0: all).
func (n *Node) History(limit int) []HistoryEntry {
	var out []HistoryEntry
	n.db.View(func(tx *storage.Tx) error {
		return browseHistory.ForEach(tx, func(_ string, e HistoryEntry) error {
			out = append(out, e)
			return nil
		})
	})
	slices.Reverse(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// ClearHistory forgets every page visited.
func (n *Node) ClearHistory() error {
	return n.db.Update(func(tx *storage.Tx) error {
		var keys []string
		browseHistory.ForEach(tx, func(k string, _ HistoryEntry) error { keys = append(keys, k); return nil })
		for _, k := range keys {
			if err := browseHistory.Delete(tx, k); err != nil {
				return err
			}
		}
		return nil
	})
}

// Bookmarks lists the bookmarks by title.
func (n *Node) Bookmarks() []Bookmark {
	var out []Bookmark
	n.db.View(func(tx *storage.Tx) error {
		return browseBookmarks.ForEach(tx, func(_ string, b Bookmark) error {
			out = append(out, b)
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool { return strings.ToLower(out[i].Title) < strings.ToLower(out[j].Title) })
	return out
}

// AddBookmark keeps rawURL under title (the URL when title is empty);
// bookmarking a URL again renames it.
func (n *Node) AddBookmark(rawURL, title string) error {
	u, err := parseBrowseURL(rawURL)
	if err != nil {
		return err
	}
	if strings.TrimSpace(title) == "" {
		title = u.String()
	}
	return n.db.Update(func(tx *storage.Tx) error {
		return browseBookmarks.Put(tx, u.String(), Bookmark{URL: u.String(), Title: strings.TrimSpace(title), Added: time.Now().UTC()})
	})
}

// RemoveBookmark drops the bookmark of rawURL; one that is not there is
// not an error.
func (n *Node) RemoveBookmark(rawURL string) error {
	return n.db.Update(func(tx *storage.Tx) error { return browseBookmarks.Delete(tx, rawURL) })
}

// CookieSites lists the sites that have cookies, with how many.
func (n *Node) CookieSites() []CookieSite {
	b, err := n.browserOn()
	if err != nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	count := map[string]int{}
	for _, c := range b.cookies {
		count[c.Site]++
	}
	out := make([]CookieSite, 0, len(count))
	for s, c := range count {
		out = append(out, CookieSite{Site: s, Cookies: c})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Site < out[j].Site })
	return out
}

// ClearCookies drops every cookie of site, given as a host or a URL
// (www.alpha.shoal and alpha.shoal are one site), and tells how many went.
func (n *Node) ClearCookies(site string) (int, error) {
	b, err := n.browserOn()
	if err != nil {
		return 0, err
	}
	host := strings.TrimSpace(site)
	if u, err := url.Parse(host); err == nil && u.Host != "" {
		host = u.Hostname()
	}
	if host == "" || strings.ContainsAny(host, "/ ") {
		return 0, fmt.Errorf("%w: %q is not a site", ErrBrowse, site)
	}
	s := siteOf(host)
	b.mu.Lock()
	defer b.mu.Unlock()
	var keys []string
	for k, c := range b.cookies {
		if c.Site == s {
			keys = append(keys, k)
		}
	}
	if err := n.db.Update(func(tx *storage.Tx) error {
		for _, k := range keys {
			if err := browseCookies.Delete(tx, k); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return 0, fmt.Errorf("node: browse: clear cookies: %w", err)
	}
	for _, k := range keys {
		delete(b.cookies, k)
	}
	if err := b.rebuild(); err != nil {
		return 0, err
	}
	return len(keys), nil
}

// BrowseSites are the group's sites: the folders in the network catalog with an
// index.html at their root, each at a holder that is up (this node
// first). Until sites have names of their own, a site's address is its
// holder's name and the gateway path of the folder.
func (n *Node) BrowseSites() []BrowseSite {
	if n.cdn == nil {
		return nil
	}
	zone := n.Config().DNS.Zone
	peers := map[string]string{}
	for _, m := range n.cdn.Members.Members() {
		if addrs := m.Record.PeerAddrs(); len(addrs) > 0 && m.State != membership.Down {
			peers[m.Record.ID] = addrs[0]
		}
	}
	var out []BrowseSite
	// Named sites first (LABEL.NAME.shoal, from the members' zone records),
	// then folders with an index.html that have no name.
	named := map[string]bool{}
	for _, m := range n.cdn.Members.Members() {
		if m.State == membership.Down {
			continue
		}
		own := strings.ToLower(m.DisplayName + "." + zone)
		for _, z := range m.Record.Zone {
			ih, ok := strings.CutPrefix(z.Value, siteValue)
			if z.Type != "TXT" || !ok {
				continue
			}
			host := relativeName(z.Name, own) + "." + own
			s := BrowseSite{Name: host, InfoHash: ih, Holder: m.DisplayName, URL: "http://" + host + "/"}
			if p, ok := peers[m.Record.ID]; ok {
				s.PeerURL = "http://" + p + engine.GatewayPrefix + ih + "/index.html"
			}
			named[ih] = true
			out = append(out, s)
		}
	}
	for _, e := range n.cdn.Catalog.Network() {
		if named[e.Item.InfoHash] || e.Item.Kind != engine.KindFolder || !slices.ContainsFunc(e.Item.Files, func(f catalog.File) bool { return f.Path == "index.html" }) {
			continue
		}
		holders := slices.Clone(e.Holders)
		sort.SliceStable(holders, func(i, j int) bool { return holders[i].Self && !holders[j].Self })
		for _, h := range holders {
			if h.State == membership.Down {
				continue
			}
			s := BrowseSite{Name: e.Item.Name, InfoHash: e.Item.InfoHash, Holder: h.Name,
				URL: "http://" + strings.ToLower(h.Name) + "." + zone + engine.GatewayPrefix + e.Item.InfoHash + "/index.html"}
			if p, ok := peers[h.ID]; ok {
				s.PeerURL = "http://" + p + engine.GatewayPrefix + e.Item.InfoHash + "/index.html"
			}
			out = append(out, s)
			break
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out
}

// siteOrigins are the members' peer origins, where sites are served: the
// web client may frame these and nothing else.
func (n *Node) siteOrigins() []string {
	if n.cdn == nil {
		return nil
	}
	var out []string
	for _, m := range n.cdn.Members.Members() {
		if m.State == membership.Down {
			continue
		}
		for _, a := range m.Record.PeerAddrs() {
			out = append(out, "http://"+a)
		}
	}
	sort.Strings(out)
	return out
}

// browseRoutes are the control API's routes for the web client's Browse
// area.
func (a *controlAPI) browseRoutes(api func(string, http.HandlerFunc)) {
	api("GET /api/v1/browse/sites", a.getBrowseSites)
}

// BrowseSitesResult is the web client's list of sites and how to reach the proxy.
type BrowseSitesResult struct {
	Sites []BrowseSite `json:"sites"`
	Proxy string       `json:"proxy,omitempty"` // HOST:PORT
	PAC   string       `json:"pac,omitempty"`
	Zone  string       `json:"zone"`
}

func (a *controlAPI) getBrowseSites(w http.ResponseWriter, r *http.Request) {
	res := BrowseSitesResult{Sites: a.n.BrowseSites(), Zone: a.n.Config().DNS.Zone}
	if res.Sites == nil {
		res.Sites = []BrowseSite{}
	}
	if addr := a.n.ProxyAddr(); addr != "" {
		res.Proxy, res.PAC = addr, "http://"+addr+"/proxy.pac"
	}
	writeJSON(w, http.StatusOK, res)
}
