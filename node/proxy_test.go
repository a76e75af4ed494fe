package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// curlProxy fetches url through the proxy at proxyAddr with curl -x and
// returns the header block and the body.
func curlProxy(t *testing.T, proxyAddr, url string) (string, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hdrFile := filepath.Join(t.TempDir(), "headers")
	body, err := exec.CommandContext(ctx, "curl", "-s", "--max-time", "20", "-x", "http://"+proxyAddr, "-D", hdrFile, url).Output()
	if err != nil {
		t.Fatalf("curl -x %s %s: %v", proxyAddr, url, err)
	}
	hdr, _ := os.ReadFile(hdrFile)
	return string(hdr), body
}

// TestProxyServesAnotherMembersContent: beta's proxy, asked with curl -x
// for alpha.shoal, fetches from alpha's peer port; the second time the
// answer comes from beta's cache. The control API shows and purges it.
func TestProxyServesAnotherMembersContent(t *testing.T) {
	a := startMember(t, "alpha", "127.0.0.2")
	b := startMember(t, "beta", "127.0.0.3", a.CDN().PeerAddr())
	waitFor(t, "the two nodes to see each other", func() bool { return aliveMembers(a) == 2 && aliveMembers(b) == 2 })
	if b.ProxyAddr() == "" || b.CDN().Members.Self().Ports["proxy"] == 0 {
		t.Fatal("the proxy port is not advertised")
	}

	data := make([]byte, 200<<10)
	rand.Read(data)
	src := filepath.Join(t.TempDir(), "page.bin")
	os.WriteFile(src, data, 0o600)
	it, err := a.Publish(context.Background(), src, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	url := "http://alpha.shoal/cdn/" + it.InfoHash
	hdr, got := curlProxy(t, b.ProxyAddr(), url)
	if !bytes.Equal(got, data) || !strings.Contains(hdr, "Via: 1.1 beta.shoal") {
		t.Fatalf("through beta's proxy: %d bytes, headers:\n%s", len(got), hdr)
	}
	hdr, got = curlProxy(t, b.ProxyAddr(), url)
	if !bytes.Equal(got, data) || !strings.Contains(hdr, "beta.shoal; hit") {
		t.Fatalf("second fetch not a hit: headers:\n%s", hdr)
	}
	hdr, _ = curlProxy(t, b.ProxyAddr(), "http://nobody.shoal/")
	if !strings.HasPrefix(hdr, "HTTP/1.1 404") {
		t.Fatalf("unknown name: %s", hdr)
	}

	_, st := call(t, b, "GET", "/api/v1/proxy/stats", b.token, "")
	if st["hits"] != 1.0 || st["entries"] != 1.0 || st["bytes_saved"] != float64(len(data)) || st["address"] != b.ProxyAddr() {
		t.Fatalf("stats %v", st)
	}
	if resp, _ := call(t, b, "POST", "/api/v1/proxy/purge", b.token, `{}`); resp.StatusCode != 400 {
		t.Fatalf("empty purge: %d", resp.StatusCode)
	}
	if _, res := call(t, b, "POST", "/api/v1/proxy/purge", b.token, `{"url":"`+url+`"}`); res["purged"] != 1.0 {
		t.Fatalf("purge: %v", res)
	}
	if _, st := call(t, b, "GET", "/api/v1/proxy/stats", b.token, ""); st["entries"] != 0.0 {
		t.Fatalf("after purge: %v", st)
	}
}

// curlProxyArgs is curlProxy with more curl arguments before the URL.
func curlProxyArgs(t *testing.T, proxyAddr string, args ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hdrFile := filepath.Join(t.TempDir(), "headers")
	all := append([]string{"-s", "--max-time", "20", "-x", "http://" + proxyAddr, "-D", hdrFile}, args...)
	body, err := exec.CommandContext(ctx, "curl", all...).Output()
	if err != nil {
		t.Fatalf("curl %v: %v", args, err)
	}
	hdr, _ := os.ReadFile(hdrFile)
	return string(hdr), string(body)
}

// TestSiteThroughAnotherMembersProxy: alpha publishes a folder as
// www.alpha.shoal; beta's proxy serves it with curl -x: index.html, the
// 301 to a folder's slash, the site's 404.html, a short max-age and an
// ETag; after a re-publish the name serves the new version.
func TestSiteThroughAnotherMembersProxy(t *testing.T) {
	a := startMember(t, "alpha", "127.0.0.2")
	b := startMember(t, "beta", "127.0.0.3", a.CDN().PeerAddr())
	waitFor(t, "the two nodes to see each other", func() bool { return aliveMembers(a) == 2 && aliveMembers(b) == 2 })

	site := t.TempDir()
	write := func(name, text string) {
		os.MkdirAll(filepath.Dir(filepath.Join(site, name)), 0o700)
		if err := os.WriteFile(filepath.Join(site, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("index.html", "<h1>home v1</h1>")
	write("style.css", "h1 { color: teal }")
	write("docs/index.html", "<h1>docs</h1>")
	write("404.html", "<h1>lost</h1>")
	if _, err := a.PublishSite(context.Background(), filepath.Join(t.TempDir(), "none"), ""); err == nil {
		t.Fatal("a missing folder was published")
	}
	if _, err := a.PublishSite(context.Background(), site, "Not A Label"); err == nil {
		t.Fatal("a bad label was accepted")
	}
	s, err := a.PublishSite(context.Background(), site, "")
	if err != nil {
		t.Fatal(err)
	}
	if s.Host != "www.alpha.shoal" || len(a.Sites()) != 1 {
		t.Fatalf("site %+v, sites %v", s, a.Sites())
	}
	waitFor(t, "beta to learn the site's record", func() bool { _, ok := (siteDirectory{b}).Site("www.alpha.shoal"); return ok })

	p := b.ProxyAddr()
	hdr, body := curlProxyArgs(t, p, "http://www.alpha.shoal/")
	if body != "<h1>home v1</h1>" || !strings.Contains(hdr, "Cache-Control: public, max-age=60") || !strings.Contains(hdr, "Etag:") ||
		!strings.Contains(hdr, "Content-Type: text/html") {
		t.Fatalf("home page: %q\n%s", body, hdr)
	}
	if _, body := curlProxyArgs(t, p, "http://www.alpha.shoal/style.css"); body != "h1 { color: teal }" {
		t.Fatalf("stylesheet: %q", body)
	}
	if hdr, _ := curlProxyArgs(t, p, "http://www.alpha.shoal/docs"); !strings.HasPrefix(hdr, "HTTP/1.1 301") || !strings.Contains(hdr, "Location: /docs/") {
		t.Fatalf("folder without slash:\n%s", hdr)
	}
	if _, body := curlProxyArgs(t, p, "http://www.alpha.shoal/docs/"); body != "<h1>docs</h1>" {
		t.Fatalf("docs: %q", body)
	}
	if hdr, body := curlProxyArgs(t, p, "http://www.alpha.shoal/nothing-here"); !strings.HasPrefix(hdr, "HTTP/1.1 404") || body != "<h1>lost</h1>" {
		t.Fatalf("missing page: %q\n%s", body, hdr)
	}
	if hdr, _ := curlProxyArgs(t, p, "--path-as-is", "http://www.alpha.shoal/docs/../../etc/passwd"); !strings.HasPrefix(hdr, "HTTP/1.1 400") {
		t.Fatalf("path with ..:\n%s", hdr)
	}
	if hdr, body := curlProxyArgs(t, p, "http://nosite.alpha.shoal/"); !strings.HasPrefix(hdr, "HTTP/1.1 404") || !strings.Contains(body, "no site called nosite.alpha.shoal") {
		t.Fatalf("unknown site: %q", body)
	}
	if hdr, _ := curlProxyArgs(t, p, "http://www.alpha.shoal/"); !strings.Contains(hdr, "beta.shoal; hit") {
		t.Fatalf("second fetch of the home page not a hit:\n%s", hdr)
	}

	write("index.html", "<h1>home v2</h1>")
	s2, err := a.PublishSite(context.Background(), site, "www")
	if err != nil || s2.InfoHash == s.InfoHash || len(a.Sites()) != 1 {
		t.Fatalf("re-publish: %+v %v, sites %v", s2, err, a.Sites())
	}
	waitFor(t, "beta to learn the new version", func() bool { ih, _ := (siteDirectory{b}).Site("www.alpha.shoal"); return ih == s2.InfoHash })
	// Within max-age a cache may serve v1; a client that asks for a fresh
	// copy gets v2 at once.
	if _, body := curlProxyArgs(t, p, "-H", "Cache-Control: no-cache", "http://www.alpha.shoal/"); body != "<h1>home v2</h1>" {
		t.Fatalf("after re-publish: %q", body)
	}
	if err := a.RemoveSite("www"); err != nil || len(a.Sites()) != 0 {
		t.Fatalf("remove: %v %v", err, a.Sites())
	}
}

// TestSiteInChromiumThroughTheProxy: headless Chromium with --proxy-server
// set to beta's proxy loads alpha's site: the page, its stylesheet and its
// image, all through beta's cache.
func TestSiteInChromiumThroughTheProxy(t *testing.T) {
	a := startMember(t, "alpha", "127.0.0.2")
	b := startMember(t, "beta", "127.0.0.3", a.CDN().PeerAddr())
	waitFor(t, "the two nodes to see each other", func() bool { return aliveMembers(a) == 2 && aliveMembers(b) == 2 })
	site := t.TempDir()
	img := image.NewRGBA(image.Rect(0, 0, 7, 5))
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(site, "index.html"), []byte(`<!doctype html><html><head><title>alpha's site</title>
<link rel="stylesheet" href="style.css"></head><body><h1>Hello</h1><img src="dot.png"></body></html>`), 0o600)
	os.WriteFile(filepath.Join(site, "style.css"), []byte("h1 { color: rgb(0, 128, 128) }"), 0o600)
	os.WriteFile(filepath.Join(site, "dot.png"), buf.Bytes(), 0o600)
	if _, err := a.PublishSite(context.Background(), site, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "beta to learn the site's record", func() bool { _, ok := (siteDirectory{b}).Site("www.alpha.shoal"); return ok })

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	br := startChromium(ctx, t, "--proxy-server=http://"+b.ProxyAddr())
	p := br.newPage(ctx, t)
	p.navigate("http://www.alpha.shoal/")
	p.waitFor("the page, its stylesheet and its image", `document.title === "alpha's site" &&
		getComputedStyle(document.querySelector('h1')).color === 'rgb(0, 128, 128)' &&
		document.images[0].complete && document.images[0].naturalWidth === 7`)
	if st := b.Proxy().Stats(); st.Requests < 3 || st.Entries < 3 {
		t.Fatalf("beta's proxy stats after the page: %+v", st)
	}
}

func TestProxySettingsAreChecked(t *testing.T) {
	for name, edit := range map[string]func(*Config){
		"proxy.allowed":       func(c *Config) { c.Proxy.Allowed = []string{"everyone"} },
		"proxy.connect_ports": func(c *Config) { c.Proxy.ConnectPorts = []int{0} },
		"proxy.cache_mib":     func(c *Config) { c.Proxy.CacheMiB = 0 },
		"ports.proxy":         func(c *Config) { c.Ports.Proxy = 70000 },
	} {
		c := DefaultConfig()
		edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
	path := filepath.Join(t.TempDir(), ConfigFile)
	if err := SaveConfig(path, DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	c, _, err := LoadConfig(path)
	if err != nil || c.Ports.Proxy != 7488 || len(c.Proxy.Allowed) != 2 || c.Proxy.ConnectPorts[0] != 443 || c.Proxy.CacheMiB != 1024 {
		t.Fatalf("defaults through shoal.toml: %+v %+v %v", c.Ports, c.Proxy, err)
	}
}
