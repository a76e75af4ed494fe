package engine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
)

func get(t *testing.T, method, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// rawGet sends a request line exactly as written, bypassing any client-side
// path cleaning, and returns the status code.
func rawGet(t *testing.T, srv *httptest.Server, target string) int {
	t.Helper()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", target)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestGatewayServesPublishedFolder(t *testing.T) {
	a := newNode(t, nil)
	srv := httptest.NewServer(a.Gateway())
	t.Cleanup(srv.Close)

	root := filepath.Join(a.dir, "site")
	video := writeFile(t, filepath.Join(root, "media", "intro.mp4"), 300_000, 11)
	page := []byte("<h1>hello</h1>\n")
	if err := os.WriteFile(filepath.Join(root, "index.html"), page, 0o644); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "media", "sub", "a b.txt"), 10, 12)
	item, err := a.Publish(ctx(t), root, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	base := srv.URL + "/cdn/" + item.InfoHash

	resp, body := get(t, "GET", base+"/media/intro.mp4")
	if resp.StatusCode != 200 || !bytes.Equal(body, video) {
		t.Fatalf("GET file: %d, %d bytes", resp.StatusCode, len(body))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "video/mp4" {
		t.Errorf("Content-Type = %q", ct)
	}
	etag, lastMod := resp.Header.Get("Etag"), resp.Header.Get("Last-Modified")
	if !strings.HasPrefix(etag, `"`) || lastMod != item.Time.UTC().Format(http.TimeFormat) {
		t.Errorf("ETag %q, Last-Modified %q (item time %v)", etag, lastMod, item.Time)
	}
	if resp, body := get(t, "GET", base+"/index.html"); resp.StatusCode != 200 || !bytes.Equal(body, page) ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || resp.Header.Get("Etag") == etag {
		t.Errorf("GET index.html: %d %q %q", resp.StatusCode, body, resp.Header)
	}

	resp, body = get(t, "GET", base+"/media/intro.mp4", "Range", "bytes=1000-1999")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, video[1000:2000]) ||
		resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 1000-1999/%d", len(video)) {
		t.Errorf("Range: %d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Range"), len(body))
	}
	resp, body = get(t, "GET", base+"/media/intro.mp4", "Range", "bytes=-10")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, video[len(video)-10:]) {
		t.Errorf("suffix Range: %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, body = get(t, "HEAD", base+"/media/intro.mp4")
	if resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != int64(len(video)) || resp.Header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("HEAD: %d, length %d, %d body bytes", resp.StatusCode, resp.ContentLength, len(body))
	}
	if resp, _ := get(t, "GET", base+"/media/intro.mp4", "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", resp.StatusCode)
	}
	if resp, _ := get(t, "GET", base+"/media/intro.mp4", "If-Modified-Since", lastMod); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-Modified-Since: %d", resp.StatusCode)
	}
	if resp, _ := get(t, "GET", base+"/media/intro.mp4", "If-None-Match", `"other"`); resp.StatusCode != 200 {
		t.Errorf("If-None-Match with another tag: %d", resp.StatusCode)
	}

	// Listings: the root of a folder and a folder inside it.
	resp, body = get(t, "GET", base+"/")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `href="/cdn/`+item.InfoHash+`/media/"`) ||
		!strings.Contains(string(body), "index.html") {
		t.Errorf("HTML listing: %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, "GET", base+"/media", "Accept", "application/json")
	var l listing
	if err := json.Unmarshal(body, &l); err != nil || resp.StatusCode != 200 {
		t.Fatalf("JSON listing: %d %s: %v", resp.StatusCode, body, err)
	}
	if len(l.Entries) != 2 || l.Entries[0].Name != "sub" || !l.Entries[0].Dir || l.Entries[1].Name != "intro.mp4" ||
		l.Entries[1].Size != int64(len(video)) || l.Entries[1].Href != "/cdn/"+item.InfoHash+"/media/intro.mp4" {
		t.Errorf("JSON listing entries = %+v", l.Entries)
	}
	if resp, body := get(t, "GET", base+"/media/sub/a%20b.txt"); resp.StatusCode != 200 || len(body) != 10 {
		t.Errorf("escaped name: %d, %d bytes", resp.StatusCode, len(body))
	}

	// The .torrent.
	resp, body = get(t, "GET", base+".torrent")
	mi, err := metainfo.Load(bytes.NewReader(body))
	if resp.StatusCode != 200 || err != nil || mi.HashInfoBytes().HexString() != item.InfoHash ||
		resp.Header.Get("Content-Type") != "application/x-bittorrent" {
		t.Errorf(".torrent: %d, %v", resp.StatusCode, err)
	}

	// Paths that leave the torrent, bad hashes, methods, unknown files.
	for _, target := range []string{
		"/media/../../../etc/passwd",
		"/../" + item.InfoHash + "/index.html",
		"/%2e%2e/%2e%2e/etc/passwd",
		"/media/%2E%2E/%2E%2E/x",
		"//etc/passwd",
		"/%2fetc%2fpasswd",
		"/media%2f..%2f..%2fx",
		"/..%5c..%5cwin.ini",
		"/index.html%00.txt",
		"/./index.html",
		"/media//intro.mp4",
	} {
		if code := rawGet(t, srv, "/cdn/"+item.InfoHash+target); code != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 400", target, code)
		}
	}
	for target, want := range map[string]int{
		"/cdn/nothex/index.html":                                 http.StatusBadRequest,
		"/cdn/" + strings.Repeat("z", 40) + "/index.html":        http.StatusBadRequest,
		"/cdn/" + item.InfoHash + "/nope.txt":                    http.StatusNotFound,
		"/cdn/" + item.InfoHash + "/index.html/more":             http.StatusNotFound,
		"/cdn/" + strings.ToUpper(item.InfoHash) + "/index.html": http.StatusOK,
	} {
		if code := rawGet(t, srv, target); code != want {
			t.Errorf("GET %s: %d, want %d", target, code, want)
		}
	}
	if resp, _ := get(t, "POST", base+"/index.html"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}
}

// A published file that moves or changes is missing: never served, back
// when it is back as it was.
func TestPublishedFileMissing(t *testing.T) {
	a := newNode(t, nil)
	srv := httptest.NewServer(a.Gateway())
	t.Cleanup(srv.Close)
	src := filepath.Join(a.dir, "doc.txt")
	data := writeFile(t, src, 100_000, 13)
	item, err := a.Publish(ctx(t), src, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	url := srv.URL + "/cdn/" + item.InfoHash + "/doc.txt"
	if resp, body := get(t, "GET", url); resp.StatusCode != 200 || !bytes.Equal(body, data) {
		t.Fatalf("GET: %d", resp.StatusCode)
	}

	// Moved away: the periodic check finds it.
	moved := src + ".moved"
	if err := os.Rename(src, moved); err != nil {
		t.Fatal(err)
	}
	a.checkPublished()
	if st := a.status(item.InfoHash); st.State != StateMissing || st.Error == "" {
		t.Errorf("after move: %s %q", st.State, st.Error)
	}
	if resp, _ := get(t, "GET", url); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET missing: %d", resp.StatusCode)
	}
	if a.events.count(EventMissing) != 1 {
		t.Errorf("%d missing events", a.events.count(EventMissing))
	}
	// Back as it was.
	if err := os.Rename(moved, src); err != nil {
		t.Fatal(err)
	}
	a.checkPublished()
	eventually(t, 5*time.Second, "seeding again", func() bool { return a.status(item.InfoHash).State == StateSeeding })
	if resp, body := get(t, "GET", url); resp.StatusCode != 200 || !bytes.Equal(body, data) {
		t.Fatalf("GET after return: %d", resp.StatusCode)
	}

	// Edited in place (same size): the next request notices, serves nothing.
	edited := bytes.Clone(data)
	edited[5] ^= 1
	later := time.Now().Add(time.Second)
	if err := os.WriteFile(src, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(src, later, later)
	if resp, body := get(t, "GET", url); resp.StatusCode != http.StatusNotFound || bytes.Equal(body, edited) {
		t.Errorf("GET edited: %d", resp.StatusCode)
	}
	if st := a.status(item.InfoHash); st.State != StateMissing {
		t.Errorf("after edit: %s", st.State)
	}

	// Restart: still missing, still not served.
	a.restart()
	srv2 := httptest.NewServer(a.Gateway())
	t.Cleanup(srv2.Close)
	if st := a.status(item.InfoHash); st.State != StateMissing {
		t.Errorf("after restart: %s", st.State)
	}
	if resp, _ := get(t, "GET", srv2.URL+"/cdn/"+item.InfoHash+"/doc.txt"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET after restart: %d", resp.StatusCode)
	}
}

// The gateway of a node that does not have the content fetches it, and the
// requested range arrives before the rest.
func TestGatewayStreamsFromRemote(t *testing.T) {
	const size = 2 << 20
	a := newNode(t, func(c *Config) { c.UploadRate = 128 << 10 })
	data := writeFile(t, filepath.Join(a.dir, "talk.webm"), size, 14)
	item, err := a.Publish(ctx(t), filepath.Join(a.dir, "talk.webm"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	b := newNode(t, func(c *Config) {
		c.GatewayTimeout = 2 * time.Second
		c.FindPeers = func(_ context.Context, ih string) []netip.AddrPort {
			if ih == item.InfoHash {
				return []netip.AddrPort{a.addr()}
			}
			return nil
		}
	})
	srv := httptest.NewServer(b.Gateway())
	t.Cleanup(srv.Close)
	url := srv.URL + "/cdn/" + item.InfoHash

	// The end of the file, from a node that has none of it.
	resp, body := get(t, "GET", url+"/talk.webm", "Range", fmt.Sprintf("bytes=%d-", size-100_000))
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[size-100_000:]) {
		t.Fatalf("remote Range: %d, %d bytes", resp.StatusCode, len(body))
	}
	st := b.status(item.InfoHash)
	if st.Origin != OriginCache || st.Completed == size {
		t.Errorf("after the range: %s %s %d/%d; the range should come first", st.Origin, st.State, st.Completed, size)
	}
	// Lift the cap while running. The single-file root serves the file.
	a.SetRates(0, 0)
	resp, body = get(t, "GET", url)
	if resp.StatusCode != 200 || !bytes.Equal(body, data) {
		t.Fatalf("GET whole: %d, %d bytes", resp.StatusCode, len(body))
	}
	eventually(t, 30*time.Second, "the cache copy to complete", func() bool { return b.status(item.InfoHash).State == StateSeeding })

	// Nobody has this one.
	unknown := strings.Repeat("ab", 20)
	resp, body = get(t, "GET", srv.URL+"/cdn/"+unknown+"/x")
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "no peer has") {
		t.Errorf("unknown infohash: %d %s", resp.StatusCode, body)
	}
	if _, err := b.Status(unknown); err == nil {
		t.Error("an unknown infohash nobody has stays in the cache")
	}
}

// A DASH player on another origin (dash.js on a web page) reads the MPD and
// ranges of the segments: CORS, a preflight for Range, DASH's media types.
func TestGatewayServesPlayersOfOtherOrigins(t *testing.T) {
	a := newNode(t, nil)
	srv := httptest.NewServer(a.Gateway())
	t.Cleanup(srv.Close)
	dir := filepath.Join(a.dir, "film")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "manifest.mpd"), 2_000, 3)
	seg := writeFile(t, filepath.Join(dir, "chunk-0-00001.m4s"), 300_000, 4)
	item, err := a.Publish(ctx(t), dir, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	base := srv.URL + "/cdn/" + item.InfoHash + "/"

	resp, _ := get(t, "GET", base+"manifest.mpd", "Origin", "http://player.example")
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" || resp.Header.Get("Content-Type") != "application/dash+xml" {
		t.Errorf("GET the MPD: %d, ACAO %q, type %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), resp.Header.Get("Content-Type"))
	}
	resp, _ = get(t, "OPTIONS", base+"chunk-0-00001.m4s", "Origin", "http://player.example",
		"Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "range")
	if resp.StatusCode != http.StatusNoContent || !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Range") ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "GET") {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	resp, body := get(t, "GET", base+"chunk-0-00001.m4s", "Origin", "http://player.example", "Range", "bytes=1000-1999")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, seg[1000:2000]) ||
		resp.Header.Get("Content-Type") != "video/iso.segment" ||
		!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "Content-Range") {
		t.Errorf("range of a segment: %d, %d bytes, type %q, expose %q", resp.StatusCode, len(body),
			resp.Header.Get("Content-Type"), resp.Header.Get("Access-Control-Expose-Headers"))
	}
	// OPTIONS that is no preflight is still refused like any other method.
	if resp, _ := get(t, "OPTIONS", base+"manifest.mpd"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("plain OPTIONS: %d", resp.StatusCode)
	}
}
