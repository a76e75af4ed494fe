package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	htmlpage "github.com/shoal-p2p/shoal/cdn/web/page"
)

// browseOrigin is a loopback web site for the browser's tests: /login sets
// a kept cookie and a session cookie, /whoami shows the cookies it got,
// /form is a page with a POST form, /submit echoes what was posted, and
// /page/N is a page titled "Page N" that may be cached a minute.
func browseOrigin(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "ada-" + r.URL.Query().Get("n"), Path: "/", MaxAge: 3600})
		http.SetCookie(w, &http.Cookie{Name: "tab", Value: "session", Path: "/"})
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprint(w, "<title>Logged in</title><p>welcome</p>")
	})
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "text/plain")
		var names []string
		for _, c := range r.Cookies() {
			names = append(names, c.Name+"="+c.Value)
		}
		fmt.Fprint(w, strings.Join(names, ";"))
	})
	mux.HandleFunc("GET /form", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<title>Sign</title><form method="post" action="submit"><input type="hidden" name="token" value="t1">
			<label>Name <input name="name"></label><input type="submit" name="go" value="Send"></form>`)
	})
	mux.HandleFunc("POST /submit", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		fmt.Fprintf(w, "<title>Posted</title><p>name=%s token=%s go=%s ctype=%s</p>",
			r.PostForm.Get("name"), r.PostForm.Get("token"), r.PostForm.Get("go"), r.Header.Get("Content-Type"))
	})
	mux.HandleFunc("GET /page/{n}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "<title>Page %s</title><h1>Page %s</h1><a href=\"/page/next\">next</a>", r.PathValue("n"), r.PathValue("n"))
	})
	mux.HandleFunc("GET /file.bin", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="../report.bin"`)
		fmt.Fprint(w, "binary bytes")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// startBrowseNode starts a node on free ports in dir without FTP, which
// these tests do not use (its stop may fail when it had no time to listen,
// and these tests restart nodes at once).
func startBrowseNode(t *testing.T, dir string) *Node {
	t.Helper()
	opts := testOptions(dir)
	base := opts.Override
	opts.Override = func(c *Config) { base(c); c.FTP.Enabled = false }
	n, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func browse(t *testing.T, n *Node, r BrowseRequest) *BrowseResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := n.Browse(ctx, r)
	if err != nil {
		t.Fatalf("browse %s: %v", r.URL, err)
	}
	return res
}

// TestBrowseKeepsCookiesAcrossARestart: the kept cookie is sent again by
// the node started anew on the same data dir; the session cookie is not.
// Clearing one site's cookies leaves the other's.
func TestBrowseKeepsCookiesAcrossARestart(t *testing.T) {
	origin := browseOrigin(t)
	other := strings.Replace(origin, "127.0.0.1", "localhost", 1) // another cookie site, same server
	dir := t.TempDir()
	n := startBrowseNode(t, dir)
	browse(t, n, BrowseRequest{URL: origin + "/login?n=1"})
	browse(t, n, BrowseRequest{URL: other + "/login?n=2"})
	if got := browse(t, n, BrowseRequest{URL: origin + "/whoami"}).Text; got != "sid=ada-1; tab=session" && got != "sid=ada-1;tab=session" {
		t.Fatalf("before restart the origin got %q", got)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	n = startBrowseNode(t, dir)
	if got := browse(t, n, BrowseRequest{URL: origin + "/whoami"}).Text; got != "sid=ada-1" {
		t.Fatalf("after restart the origin got %q, want the kept cookie only", got)
	}
	sites := n.CookieSites()
	if len(sites) != 2 {
		t.Fatalf("cookie sites %+v", sites)
	}
	if k, err := n.ClearCookies(other + "/anything"); err != nil || k != 1 {
		t.Fatalf("clear cookies of %s: %d, %v", other, k, err)
	}
	if got := browse(t, n, BrowseRequest{URL: other + "/whoami"}).Text; got != "" {
		t.Fatalf("after clearing, localhost got %q", got)
	}
	if got := browse(t, n, BrowseRequest{URL: origin + "/whoami"}).Text; got != "sid=ada-1" {
		t.Fatalf("clearing localhost's cookies touched 127.0.0.1's: %q", got)
	}
	if _, err := n.ClearCookies("not a site/"); err == nil || !strings.Contains(err.Error(), "node: browse") {
		t.Fatalf("bad site: %v", err)
	}
	n.Close()
	n = startBrowseNode(t, dir)
	if got := browse(t, n, BrowseRequest{URL: other + "/whoami"}).Text; got != "" {
		t.Fatalf("cleared cookies came back after a restart: %q", got)
	}
}

// TestBrowseHistoryBookmarksAndTheProxy: pages visited are in the history,
// newest first, with their titles, after a restart too; they went through
// the node's proxy, whose cache answers the second visit.
func TestBrowseHistoryBookmarksAndTheProxy(t *testing.T) {
	origin := browseOrigin(t)
	dir := t.TempDir()
	n := startBrowseNode(t, dir)
	before := n.Proxy().Stats()
	first := browse(t, n, BrowseRequest{URL: origin + "/page/1#top"})
	if first.Page == nil || first.Page.Title != "Page 1" || first.URL != origin+"/page/1" {
		t.Fatalf("first page %+v", first)
	}
	if l := first.Page.Blocks[1].Runs[0].Link; l != origin+"/page/next" {
		t.Fatalf("link not resolved: %q", l)
	}
	browse(t, n, BrowseRequest{URL: origin + "/page/2"})
	again := browse(t, n, BrowseRequest{URL: origin + "/page/1"})
	if !strings.Contains(again.CacheStatus, "hit") {
		t.Fatalf("second visit not from the cache: Cache-Status %q", again.CacheStatus)
	}
	after := n.Proxy().Stats()
	if after.Requests-before.Requests != 3 || after.Hits-before.Hits != 1 {
		t.Fatalf("proxy stats before %+v after %+v", before.Stats, after.Stats)
	}
	if err := n.AddBookmark(origin+"/page/2", "The second"); err != nil {
		t.Fatal(err)
	}
	if err := n.AddBookmark("ftp://x/", ""); err == nil {
		t.Fatal("an ftp:// bookmark was taken")
	}
	n.Close()

	n = startBrowseNode(t, dir)
	h := n.History(0)
	if len(h) != 3 || h[0].Title != "Page 1" || h[1].Title != "Page 2" || h[2].URL != origin+"/page/1" || !h[0].At.After(h[2].At) {
		t.Fatalf("history %+v", h)
	}
	if h := n.History(1); len(h) != 1 {
		t.Fatalf("history limit: %+v", h)
	}
	if b := n.Bookmarks(); len(b) != 1 || b[0].Title != "The second" || b[0].URL != origin+"/page/2" {
		t.Fatalf("bookmarks %+v", b)
	}
	n.RemoveBookmark(origin + "/page/2")
	if err := n.ClearHistory(); err != nil || len(n.History(0)) != 0 || len(n.Bookmarks()) != 0 {
		t.Fatalf("cleared: %v %+v %+v", err, n.History(0), n.Bookmarks())
	}
}

// TestBrowseSubmitsAFormByPost: the form of a page, filled and submitted,
// is a form-encoded POST with its hidden field and the pressed button; a
// POST is not history.
func TestBrowseSubmitsAFormByPost(t *testing.T) {
	origin := browseOrigin(t)
	n := startBrowseNode(t, t.TempDir())
	res := browse(t, n, BrowseRequest{URL: origin + "/form"})
	var form *htmlpage.FormModel
	for _, b := range res.Page.Blocks {
		if b.Form != nil {
			form = b.Form
		}
	}
	if form == nil || form.Method != "POST" || form.Action != origin+"/submit" {
		t.Fatalf("form %+v", form)
	}
	v := form.Defaults()
	v.Set("name", "Ada Lovelace")
	v.Set("go", "Send")
	method, target, _, err := form.Submission(v)
	if err != nil {
		t.Fatal(err)
	}
	res = browse(t, n, BrowseRequest{Method: method, URL: target, Form: v})
	got := htmlpage.PlainText(res.Page.Blocks[0].Runs)
	if got != "name=Ada Lovelace token=t1 go=Send ctype=application/x-www-form-urlencoded" {
		t.Fatalf("posted: %q", got)
	}
	if h := n.History(0); len(h) != 1 || h[0].Title != "Sign" {
		t.Fatalf("history %+v", h)
	}
	if _, err := n.Browse(context.Background(), BrowseRequest{Method: "DELETE", URL: origin + "/"}); err == nil {
		t.Fatal("a DELETE was sent")
	}
	if _, err := n.Browse(context.Background(), BrowseRequest{URL: "file:///etc/passwd"}); err == nil || !strings.Contains(err.Error(), "not an http") {
		t.Fatalf("file URL: %v", err)
	}
}

// TestBrowseDownloads: a download lands in the folder under a safe name,
// never over a file there, and may go into the Library.
func TestBrowseDownloads(t *testing.T) {
	origin := browseOrigin(t)
	n := startBrowseNode(t, t.TempDir())
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p1, _, err := n.Download(ctx, origin+"/file.bin", dir, false)
	if err != nil || p1 != filepath.Join(dir, "report.bin") {
		t.Fatalf("download: %s %v", p1, err)
	}
	p2, it, err := n.Download(ctx, origin+"/file.bin", dir, true)
	if err != nil || p2 != filepath.Join(dir, "report (2).bin") || it == nil {
		t.Fatalf("second download: %s %v %v", p2, it, err)
	}
	if data, _ := os.ReadFile(p2); string(data) != "binary bytes" {
		t.Fatalf("downloaded %q", data)
	}
	if _, err := n.Item(it.InfoHash); err != nil {
		t.Fatalf("published download not in the library: %v", err)
	}
	if _, _, err := n.Download(ctx, origin+"/file.bin", filepath.Join(dir, "missing"), false); err == nil {
		t.Fatal("download into a missing folder")
	}
}

// A site with a name (shoal site publish) is listed by its name, reached
// by Host through the proxy, and the same item is not listed again as an
// unnamed folder.
func TestBrowseSitesByName(t *testing.T) {
	a := startMember(t, "alpha", "127.0.0.2")
	b := startMember(t, "beta", "127.0.0.3", a.CDN().PeerAddr())
	waitFor(t, "the two nodes to see each other", func() bool { return aliveMembers(a) == 2 && aliveMembers(b) == 2 })
	dir := filepath.Join(t.TempDir(), "blog")
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "index.html"), []byte(`<title>Alpha's blog</title><p>Hello.</p>`), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	site, err := a.PublishSite(ctx, dir, "blog")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "beta to list alpha's named site", func() bool {
		s := b.BrowseSites()
		return len(s) == 1 && s[0].URL == "http://blog.alpha.shoal/"
	})
	s := b.BrowseSites()[0]
	if s.Name != "blog.alpha.shoal" || s.Holder != "alpha" || s.InfoHash != site.InfoHash ||
		s.PeerURL != "http://"+a.CDN().PeerAddr()+"/cdn/"+site.InfoHash+"/index.html" {
		t.Fatalf("site %+v", s)
	}
	res := browse(t, b, BrowseRequest{URL: s.URL})
	if res.Status != 200 || res.Page == nil || res.Page.Title != "Alpha's blog" {
		t.Fatalf("the named site through beta's proxy: %+v", res)
	}
}

// publishSite publishes a folder with an index.html, a stylesheet and an
// image on n and returns its infohash.
func publishSite(t *testing.T, n *Node) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "garden")
	os.MkdirAll(filepath.Join(dir, "img"), 0o700)
	os.WriteFile(filepath.Join(dir, "index.html"), []byte(`<title>The Garden</title><h1>Garden</h1><p><a href="about.html">About</a></p><img src="img/rose.png" alt="rose">`), 0o600)
	os.WriteFile(filepath.Join(dir, "about.html"), []byte(`<title>About</title><p>About the garden.</p>`), 0o600)
	os.WriteFile(filepath.Join(dir, "img", "rose.png"), []byte("\x89PNG not really"), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	it, err := n.Publish(ctx, dir, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return it.InfoHash
}

// TestBrowseSitesOfTheGroup: a published folder with an index.html is a
// site of the group, reached by its holder's name through the proxy; the
// web client gets it with the peer URL it may frame, and the UI's CSP lets
// it frame the members' peer origins only.
func TestBrowseSitesOfTheGroup(t *testing.T) {
	a := startMember(t, "alpha", "127.0.0.2")
	b := startMember(t, "beta", "127.0.0.3", a.CDN().PeerAddr())
	waitFor(t, "the two nodes to see each other", func() bool { return aliveMembers(a) == 2 && aliveMembers(b) == 2 })
	ih := publishSite(t, a)
	waitFor(t, "beta to see alpha's site", func() bool { return len(b.BrowseSites()) == 1 })
	s := b.BrowseSites()[0]
	if s.Name != "garden" || s.Holder != "alpha" || s.URL != "http://alpha.shoal/cdn/"+ih+"/index.html" ||
		s.PeerURL != "http://"+a.CDN().PeerAddr()+"/cdn/"+ih+"/index.html" {
		t.Fatalf("site %+v", s)
	}
	res := browse(t, b, BrowseRequest{URL: s.URL})
	if res.Status != 200 || res.Page == nil || res.Page.Title != "The Garden" {
		t.Fatalf("site through beta's proxy: %+v", res)
	}
	if img := res.Page.Images(); len(img) != 1 || img[0] != "http://alpha.shoal/cdn/"+ih+"/img/rose.png" {
		t.Fatalf("images %v", img)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	data, _, err := b.BrowseResource(ctx, res.Page.Images()[0])
	if err != nil || string(data) != "\x89PNG not really" {
		t.Fatalf("image: %q %v", data, err)
	}

	resp, body := call(t, b, "GET", "/api/v1/browse/sites", b.token, "")
	sites, _ := body["sites"].([]any)
	if resp.StatusCode != 200 || len(sites) != 1 || body["pac"] != "http://"+b.ProxyAddr()+"/proxy.pac" {
		t.Fatalf("GET /api/v1/browse/sites: %d %v", resp.StatusCode, body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-src http://"+a.CDN().PeerAddr()) || strings.Contains(csp, b.UIAddress()) {
		t.Fatalf("CSP %q", csp)
	}
}

// TestBrowseWithTheProxyOnALANAddress: with the node bound to a LAN
// address, a connection to the proxy from this host comes from that
// address, which the default allowed sources (loopback) refuse; the
// browser, which the proxy serves in memory, still fetches. Skipped on a
// host with no address but loopback.
func TestBrowseWithTheProxyOnALANAddress(t *testing.T) {
	var lan string
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
			lan = ipn.IP.String()
			break
		}
	}
	if lan == "" {
		t.Skip("no address but loopback on this host")
	}
	origin := browseOrigin(t)
	dir := t.TempDir()
	opts := testOptions(dir)
	base := opts.Override
	opts.Override = func(c *Config) { base(c); c.Bind = lan; c.FTP.Enabled = false }
	n, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if !strings.HasPrefix(n.ProxyAddr(), lan+":") {
		t.Fatalf("proxy on %s, not on %s", n.ProxyAddr(), lan)
	}
	hdr, _ := curlProxy(t, n.ProxyAddr(), origin+"/page/1")
	if !strings.HasPrefix(hdr, "HTTP/1.1 403") {
		t.Fatalf("curl from %s through the proxy: %s", lan, hdr)
	}
	if res := browse(t, n, BrowseRequest{URL: origin + "/page/1"}); res.Status != 200 || res.Page.Title != "Page 1" {
		t.Fatalf("browse: %+v", res)
	}
}

// TestBrowseHTTPSThroughATunnel: an https:// page goes through the proxy's
// CONNECT tunnel (to a port the settings allow), with its cookies, and is
// not cached: the proxy sees a tunnel, not the page.
func TestBrowseHTTPSThroughATunnel(t *testing.T) {
	origin := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("k"); err == nil {
			fmt.Fprintf(w, "<title>again %s</title>", c.Value)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "k", Value: "v1", Secure: true, MaxAge: 60})
		fmt.Fprint(w, "<title>secure</title>")
	}))
	t.Cleanup(origin.Close)
	port := origin.Listener.Addr().(*net.TCPAddr).Port
	opts := testOptions(t.TempDir())
	base := opts.Override
	opts.Override = func(c *Config) { base(c); c.FTP.Enabled = false; c.Proxy.ConnectPorts = []int{port} }
	n, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	pool := x509.NewCertPool()
	pool.AddCert(origin.Certificate())
	n.browser.client.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pool}

	if res := browse(t, n, BrowseRequest{URL: origin.URL + "/"}); res.Page.Title != "secure" {
		t.Fatalf("first: %+v", res)
	}
	if res := browse(t, n, BrowseRequest{URL: origin.URL + "/"}); res.Page.Title != "again v1" {
		t.Fatalf("second: %+v", res.Page)
	}
	if st := n.Proxy().Stats(); st.Tunnels < 1 || st.Requests != 0 {
		t.Fatalf("proxy stats %+v", st)
	}
}
