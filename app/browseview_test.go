package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/shoal-p2p/shoal/cdn/engine"
	htmlpage "github.com/shoal-p2p/shoal/cdn/web/page"
	"github.com/shoal-p2p/shoal/node"
)

var _ Browser = (*node.Node)(nil)

const gardenURL = "http://www.alpha.shoal/garden/index.html"

// fakeBrowser is a Node with a browser whose pages the test gives as HTML
// by URL; they are parsed by the real page model. It records the requests.
type fakeBrowser struct {
	*fakeNode
	bmu       sync.Mutex
	pages     map[string]string
	requests  []node.BrowseRequest
	resources []string
	bookmarks []node.Bookmark
	cleared   []string
	downloads []string
	sites     []node.BrowseSite
	// hold, when set, keeps Browse of that URL waiting until its ctx ends.
	hold string
}

func newFakeBrowser(t *testing.T) *fakeBrowser {
	fixture, err := os.ReadFile("testdata/browse.html")
	if err != nil {
		t.Fatal(err)
	}
	return &fakeBrowser{fakeNode: newFakeNode(), pages: map[string]string{
		gardenURL: string(fixture),
		"http://www.alpha.shoal/garden/next.html": `<title>Next</title><h1>The next page</h1><p>More plants.</p>`,
		"http://www.alpha.shoal/sign":             `<title>Signed</title><p>Thanks.</p>`,
	}, sites: []node.BrowseSite{{Name: "garden", Holder: "alpha", URL: gardenURL}}}
}

func (f *fakeBrowser) Browse(ctx context.Context, r node.BrowseRequest) (*node.BrowseResult, error) {
	f.bmu.Lock()
	f.requests = append(f.requests, r)
	src, ok := f.pages[r.URL]
	hold := f.hold == r.URL
	f.bmu.Unlock()
	if hold {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if strings.HasSuffix(r.URL, ".bin") {
		return &node.BrowseResult{URL: r.URL, Status: 200, ContentType: "application/octet-stream", Size: 3 << 20}, nil
	}
	if !ok {
		return nil, fmt.Errorf("node: browse %s: 404 Not Found", r.URL)
	}
	p, err := htmlpage.Parse(strings.NewReader(src), r.URL)
	if err != nil {
		return nil, err
	}
	return &node.BrowseResult{URL: r.URL, Status: 200, ContentType: "text/html", Size: int64(len(src)), CacheStatus: "alpha.shoal; hit", Page: p}, nil
}

func (f *fakeBrowser) BrowseResource(ctx context.Context, rawURL string) ([]byte, string, error) {
	f.bmu.Lock()
	f.resources = append(f.resources, rawURL)
	f.bmu.Unlock()
	if !strings.HasSuffix(rawURL, "/rose.png") {
		return nil, "", errors.New("404 Not Found")
	}
	img := image.NewRGBA(image.Rect(0, 0, 80, 60))
	for i := range img.Pix {
		img.Pix[i] = 0xc0
	}
	img.Set(1, 1, color.RGBA{R: 255, A: 255})
	var buf bytes.Buffer
	png.Encode(&buf, img)
	return buf.Bytes(), "image/png", nil
}

func (f *fakeBrowser) Download(ctx context.Context, rawURL, dir string, publish bool) (string, *engine.Item, error) {
	f.bmu.Lock()
	defer f.bmu.Unlock()
	f.downloads = append(f.downloads, fmt.Sprintf("%s -> %s publish=%v", rawURL, dir, publish))
	it := &engine.Item{InfoHash: strings.Repeat("e", 40)}
	if !publish {
		it = nil
	}
	return dir + "/seeds.bin", it, nil
}

func (f *fakeBrowser) downloaded() []string {
	f.bmu.Lock()
	defer f.bmu.Unlock()
	return slices.Clone(f.downloads)
}

func (f *fakeBrowser) History(limit int) []node.HistoryEntry { return nil }

func (f *fakeBrowser) Bookmarks() []node.Bookmark {
	f.bmu.Lock()
	defer f.bmu.Unlock()
	return slices.Clone(f.bookmarks)
}

func (f *fakeBrowser) AddBookmark(rawURL, title string) error {
	f.bmu.Lock()
	defer f.bmu.Unlock()
	f.bookmarks = append(f.bookmarks, node.Bookmark{URL: rawURL, Title: title})
	return nil
}

func (f *fakeBrowser) RemoveBookmark(rawURL string) error {
	f.bmu.Lock()
	defer f.bmu.Unlock()
	f.bookmarks = slices.DeleteFunc(f.bookmarks, func(b node.Bookmark) bool { return b.URL == rawURL })
	return nil
}

func (f *fakeBrowser) ClearCookies(site string) (int, error) {
	f.bmu.Lock()
	defer f.bmu.Unlock()
	f.cleared = append(f.cleared, site)
	return 2, nil
}

func (f *fakeBrowser) BrowseSites() []node.BrowseSite { return f.sites }

func (f *fakeBrowser) ProxyAddr() string { return "127.0.0.1:7488" }
func (f *fakeBrowser) ProxyStats() (node.ProxyStats, error) {
	st := node.ProxyStats{Address: "127.0.0.1:7488"}
	st.Requests, st.Hits, st.Misses, st.HitRatio, st.BytesSaved = 4, 3, 1, 0.75, 3<<20
	return st, nil
}

func (f *fakeBrowser) lastRequest() node.BrowseRequest {
	f.bmu.Lock()
	defer f.bmu.Unlock()
	if len(f.requests) == 0 {
		return node.BrowseRequest{}
	}
	return f.requests[len(f.requests)-1]
}

// openBrowse builds the Browse area for n in a window on a test app.
func openBrowse(t *testing.T, n Node) (*browseView, fyne.Window, uiQueue) {
	t.Helper()
	a := test.NewTempApp(t)
	q := newUIQueue()
	w := test.NewWindow(nil)
	v := newBrowseView(n, loop{do: q.do, ctx: t.Context()}, a)
	w.SetContent(v.content)
	w.Resize(fyne.NewSize(1000, 1400))
	t.Cleanup(w.Close)
	return v, w, q
}

// richTexts are the texts of the rich texts shown in o.
func richTexts(o fyne.CanvasObject) []string {
	var out []string
	walkShown(o, func(o fyne.CanvasObject) {
		if rt, ok := o.(*widget.RichText); ok {
			out = append(out, rt.String())
		}
	})
	return out
}

func hyperlink(t *testing.T, o fyne.CanvasObject, text string) *widget.Hyperlink {
	t.Helper()
	var h *widget.Hyperlink
	walkShown(o, func(o fyne.CanvasObject) {
		if hl, ok := o.(*widget.Hyperlink); ok && hl.Text == text && h == nil {
			h = hl
		}
	})
	if h == nil {
		t.Fatalf("no link %q shown; texts %q", text, richTexts(o))
	}
	return h
}

// tapLink taps the middle of the link shown as text, as a user clicks it.
func tapLink(t *testing.T, o fyne.CanvasObject, text string) {
	t.Helper()
	h := hyperlink(t, o, text)
	test.TapAt(h, fyne.NewPos(h.Size().Width/2, h.Size().Height/2))
}

func visit(t *testing.T, v *browseView, q uiQueue, url string) {
	t.Helper()
	v.address.SetText(url)
	v.address.OnSubmitted(url)
	q.waitFor(t, url+" shown", func() bool { return v.result != nil && v.result.URL == url })
}

// TestBrowseRendersAPage: the fixture's heading, styled paragraph with its
// link, list, table, image (fetched through the node) and form are drawn,
// and the title is shown.
func TestBrowseRendersAPage(t *testing.T) {
	f := newFakeBrowser(t)
	v, w, q := openBrowse(t, f)
	visit(t, v, q, gardenURL)
	if v.title.Text != "Alpha's garden" {
		t.Errorf("title %q", v.title.Text)
	}
	texts := richTexts(v.body)
	for _, want := range []string{"The garden", "Plants of alpha, grown with care. Read the next page.", "Roses", "Tulips", "red", "Plant", "Height", "Rose", "1 m"} {
		if !slices.Contains(texts, want) {
			t.Errorf("%q not shown; shown %q", want, texts)
		}
	}
	if !showsText(v.body, "•") {
		t.Error("no list markers")
	}
	var seg *widget.TextSegment
	walkShown(v.body, func(o fyne.CanvasObject) {
		if rt, ok := o.(*widget.RichText); ok {
			for _, s := range rt.Segments {
				if ts, ok := s.(*widget.TextSegment); ok && ts.Text == "care" {
					seg = ts
				}
			}
		}
	})
	if seg == nil || !seg.Style.TextStyle.Bold {
		t.Errorf("<strong> not bold: %+v", seg)
	}
	if h := hyperlink(t, v.body, "next page"); h.URL.String() != "http://www.alpha.shoal/garden/next.html" {
		t.Errorf("link to %s", h.URL)
	}
	var grid *fyne.Container
	walkShown(v.body, func(o fyne.CanvasObject) {
		if c, ok := o.(*fyne.Container); ok && len(c.Objects) == 4 && grid == nil {
			if rt, ok := c.Objects[0].(*widget.RichText); ok && rt.String() == "Plant" {
				grid = c
			}
		}
	})
	if grid == nil {
		t.Error("the table is not a 2×2 grid")
	}
	q.waitFor(t, "the image", func() bool {
		found := false
		walkShown(v.body, func(o fyne.CanvasObject) {
			if img, ok := o.(*canvas.Image); ok && img.Image != nil && img.Image.Bounds().Dx() == 80 {
				found = true
			}
		})
		return found
	})
	if f.resources[0] != "http://www.alpha.shoal/garden/rose.png" {
		t.Errorf("image fetched from %v", f.resources)
	}
	var entry *widget.Entry
	walkShown(v.body, func(o fyne.CanvasObject) {
		if e, ok := o.(*widget.Entry); ok && e.PlaceHolder == "your name" {
			entry = e
		}
	})
	if entry == nil || buttonIn(v.body, "Sign the guest book") == nil || !showsText(v.body, "Name") {
		t.Fatalf("form not drawn: %q", shownTexts(v.body))
	}
	if !strings.Contains(v.status.Text, "200") || !strings.Contains(v.status.Text, "hit") {
		t.Errorf("status %q", v.status.Text)
	}
	writeBrowseShot(t, w)
}

// writeBrowseShot keeps what the test window drew when SHOAL_SCREENSHOTS
// names a folder.
func writeBrowseShot(t *testing.T, w fyne.Window) {
	if dir := os.Getenv("SHOAL_SCREENSHOTS"); dir != "" {
		writePNG(t, dir+"/browse-test.png", w.Canvas().Capture())
	}
}

// TestBrowseFollowsALinkAndGoesBack: tapping a link navigates in place;
// back and forward return.
func TestBrowseFollowsALinkAndGoesBack(t *testing.T) {
	f := newFakeBrowser(t)
	v, _, q := openBrowse(t, f)
	visit(t, v, q, gardenURL)
	tapLink(t, v.body, "next page")
	q.waitFor(t, "the next page", func() bool { return v.title.Text == "Next" })
	if f.lastRequest().URL != "http://www.alpha.shoal/garden/next.html" || v.address.Text != "http://www.alpha.shoal/garden/next.html" {
		t.Fatalf("request %+v, address %q", f.lastRequest(), v.address.Text)
	}
	if !slices.Contains(richTexts(v.body), "The next page") {
		t.Fatalf("shown %q", richTexts(v.body))
	}
	if v.back.Disabled() || !v.forward.Disabled() {
		t.Fatal("back should be on, forward off")
	}
	test.Tap(v.back)
	q.waitFor(t, "the garden again", func() bool { return v.title.Text == "Alpha's garden" })
	test.Tap(v.forward)
	q.waitFor(t, "the next page again", func() bool { return v.title.Text == "Next" })
	test.Tap(v.back)
	q.waitFor(t, "the garden", func() bool { return v.title.Text == "Alpha's garden" })
	test.Tap(v.back)
	q.waitFor(t, "the start page", func() bool { return v.title.Text == "Start" })
}

// TestBrowseSubmitsAForm: the form sends its hidden field, what was typed
// and the pressed button, by POST.
func TestBrowseSubmitsAForm(t *testing.T) {
	f := newFakeBrowser(t)
	v, _, q := openBrowse(t, f)
	visit(t, v, q, gardenURL)
	var entry *widget.Entry
	walkShown(v.body, func(o fyne.CanvasObject) {
		if e, ok := o.(*widget.Entry); ok && e.PlaceHolder == "your name" {
			entry = e
		}
	})
	test.Type(entry, "Ada")
	test.Tap(buttonIn(v.body, "Sign the guest book"))
	q.waitFor(t, "the answer", func() bool { return v.title.Text == "Signed" })
	r := f.lastRequest()
	if r.Method != "POST" || r.URL != "http://www.alpha.shoal/sign" || r.Form.Encode() != "go=Sign+the+guest+book&name=Ada&token=t1" {
		t.Fatalf("request %+v", r)
	}
}

// TestBrowseStartPageBookmarksCookiesAndStop: the start page lists the
// group's sites and the proxy's PAC URL; a page can be bookmarked and its
// site's cookies cleared; stop abandons a page that does not come.
func TestBrowseStartPageBookmarksCookiesAndStop(t *testing.T) {
	f := newFakeBrowser(t)
	v, _, q := openBrowse(t, f)
	if v.title.Text != "Start" || !slices.ContainsFunc(richTexts(v.body), func(s string) bool { return strings.Contains(s, "http://127.0.0.1:7488/proxy.pac") }) {
		t.Fatalf("start page: %q", richTexts(v.body))
	}
	if !slices.ContainsFunc(richTexts(v.body), func(s string) bool {
		return strings.Contains(s, "4 requests: 3 hits") && strings.Contains(s, "Hit ratio 75.0 %")
	}) {
		t.Errorf("the proxy's figures are not on the start page: %q", richTexts(v.body))
	}
	tapLink(t, v.body, "garden")
	q.waitFor(t, "the site", func() bool { return v.title.Text == "Alpha's garden" })

	test.Tap(v.bookmark)
	if b := f.Bookmarks(); len(b) != 1 || b[0].URL != gardenURL || b[0].Title != "Alpha's garden" || v.bookmark.Text != "Bookmarked" {
		t.Fatalf("bookmarks %+v, button %q", b, v.bookmark.Text)
	}
	test.Tap(buttonIn(v.content, "Clear cookies"))
	if len(f.cleared) != 1 || f.cleared[0] != gardenURL || !strings.Contains(v.status.Text, "Cleared 2 cookies of www.alpha.shoal") {
		t.Fatalf("cleared %v, status %q", f.cleared, v.status.Text)
	}
	test.Tap(buttonIn(v.content, "Bookmarks"))
	if h := hyperlink(t, v.body, "Alpha's garden"); h.URL.String() != gardenURL {
		t.Fatalf("bookmark links to %s", h.URL)
	}

	f.bmu.Lock()
	f.hold = "http://slow.example/"
	f.bmu.Unlock()
	v.open("slow.example/")
	if v.stop.Disabled() {
		t.Fatal("stop is off while loading")
	}
	test.Tap(v.stop)
	if v.status.Text != "Stopped." || !v.stop.Disabled() {
		t.Fatalf("after stop: %q", v.status.Text)
	}
	v.open("http://missing.example/")
	q.waitFor(t, "the error", func() bool { return strings.Contains(v.status.Text, "404") })
}

// TestBrowseOffersADownload: what is not HTML or text is offered for
// download into the folder, or into the Library.
func TestBrowseOffersADownload(t *testing.T) {
	f := newFakeBrowser(t)
	v, _, q := openBrowse(t, f)
	v.downloadDir = t.TempDir()
	visit(t, v, q, "http://www.alpha.shoal/seeds.bin")
	if !showsText(v.body, "application/octet-stream") || !showsText(v.body, "(3 MiB)") {
		t.Fatalf("shown %q", shownTexts(v.body))
	}
	test.Tap(buttonIn(v.body, "Download into the Library"))
	q.waitFor(t, "the download", func() bool { return strings.Contains(v.status.Text, "published it into the Library") })
	if d := f.downloaded(); len(d) != 1 || d[0] != "http://www.alpha.shoal/seeds.bin -> "+v.downloadDir+" publish=true" {
		t.Fatalf("downloads %q", d)
	}
}

func TestBrowseWithoutABrowserSaysSo(t *testing.T) {
	v, _, _ := openBrowse(t, newFakeNode())
	if !showsText(v.content, "This node has no browser.") {
		t.Fatal(shownTexts(v.content))
	}
}
