package app

import (
	"bytes"
	"context"
	"fmt"
	"image"
	_ "image/gif" // decoders for the pages' images
	_ "image/jpeg"
	_ "image/png"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
	_ "golang.org/x/image/webp"

	"github.com/shoal-p2p/shoal/cdn/engine"
	htmlpage "github.com/shoal-p2p/shoal/cdn/web/page"
	"github.com/shoal-p2p/shoal/node"
)

// Browser is what the Browse area needs from the node: its fetcher, which
// goes through the node's proxy and cache, with cookies, history and
// bookmarks kept in the node's database. A Node that is not a Browser
// gets an area that says so.
type Browser interface {
	Browse(ctx context.Context, r node.BrowseRequest) (*node.BrowseResult, error)
	BrowseResource(ctx context.Context, rawURL string) ([]byte, string, error)
	Download(ctx context.Context, rawURL, dir string, publish bool) (string, *engine.Item, error)
	History(limit int) []node.HistoryEntry
	Bookmarks() []node.Bookmark
	AddBookmark(rawURL, title string) error
	RemoveBookmark(rawURL string) error
	ClearCookies(site string) (int, error)
	BrowseSites() []node.BrowseSite
	ProxyAddr() string
	ProxyStats() (node.ProxyStats, error)
}

// The Browse area's own pages, which never leave the window.
const (
	startPage     = "shoal:start"
	historyPage   = "shoal:history"
	bookmarksPage = "shoal:bookmarks"
)

// maxImageWidth bounds how wide an image is shown.
const maxImageWidth = 640

// browseView is the Browse area: an address bar, back, forward, reload and
// stop, and the page drawn with Fyne widgets from the node's page model.
type browseView struct {
	b    Browser
	loop loop
	app  fyne.App

	address                     *widget.Entry
	back, forward, reload, stop *widget.Button
	bookmark                    *widget.Button
	title, status               *widget.Label
	body                        *fyne.Container // the page's blocks
	scroll                      *container.Scroll

	// Navigation, UI goroutine only.
	backStack, fwdStack []node.BrowseRequest
	current             node.BrowseRequest
	result              *node.BrowseResult // the page shown; nil for the area's own pages
	seq                 int                // the navigation under way; older answers are dropped

	mu     sync.Mutex
	cancel context.CancelFunc // stops the navigation under way

	pageCtx    context.Context // the page shown: its images load within it
	pageCancel context.CancelFunc

	downloadDir string
	content     fyne.CanvasObject
}

func newBrowseView(n Node, l loop, a fyne.App) *browseView {
	b, ok := n.(Browser)
	if !ok {
		msg := widget.NewLabel("This node has no browser.")
		return &browseView{content: msg}
	}
	v := &browseView{b: b, loop: l, app: a, address: widget.NewEntry(), title: widget.NewLabel(""),
		status: widget.NewLabel(""), body: container.NewVBox()}
	if home, err := os.UserHomeDir(); err == nil {
		v.downloadDir = filepath.Join(home, "Downloads")
	}
	v.address.SetPlaceHolder("http://www.NAME.shoal/ or any http:// address")
	v.address.OnSubmitted = func(s string) { v.open(s) }
	v.back = widget.NewButtonWithIcon("", theme.NavigateBackIcon(), v.goBack)
	v.forward = widget.NewButtonWithIcon("", theme.NavigateNextIcon(), v.goForward)
	v.reload = widget.NewButtonWithIcon("", theme.ViewRefreshIcon(), func() { v.navigate(v.current, false) })
	v.stop = widget.NewButtonWithIcon("", theme.CancelIcon(), v.stopLoading)
	v.bookmark = widget.NewButtonWithIcon("Bookmark", theme.ContentAddIcon(), v.toggleBookmark)
	home := widget.NewButtonWithIcon("", theme.HomeIcon(), func() { v.open(startPage) })
	menu := container.NewHBox(
		widget.NewButtonWithIcon("History", theme.HistoryIcon(), func() { v.open(historyPage) }),
		widget.NewButton("Bookmarks", func() { v.open(bookmarksPage) }),
		widget.NewButton("Clear cookies", v.clearCookies),
		widget.NewButton("Open in the system browser", v.openExternally),
	)
	v.title.TextStyle = fyne.TextStyle{Bold: true}
	v.title.Truncation = fyne.TextTruncateEllipsis
	v.status.Importance = widget.LowImportance
	v.status.Truncation = fyne.TextTruncateEllipsis
	bar := container.NewBorder(nil, nil, container.NewHBox(v.back, v.forward, v.reload, v.stop, home), v.bookmark, v.address)
	v.scroll = container.NewVScroll(container.NewPadded(v.body))
	v.content = container.NewBorder(container.NewVBox(bar, container.NewBorder(nil, nil, nil, menu, v.title)), v.status, nil, nil, v.scroll)
	v.stop.Disable()
	v.updateButtons()
	v.navigate(node.BrowseRequest{URL: startPage}, false)
	go v.followSites()
	return v
}

// followSites redraws the start page, while it is shown, when the group's
// sites change.
func (v *browseView) followSites() {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	last := fmt.Sprint(v.b.BrowseSites())
	for {
		select {
		case <-v.loop.ctx.Done():
			return
		case <-t.C:
		}
		sites := fmt.Sprint(v.b.BrowseSites())
		if sites == last {
			continue
		}
		last = sites
		v.loop.do(func() {
			if v.current.URL == startPage {
				v.show(v.ownPage(startPage), nil)
			}
		})
	}
}

// open goes to what the user typed: a URL, or a name to which http:// is
// added.
func (v *browseView) open(s string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return
	}
	if !strings.HasPrefix(s, "shoal:") && !strings.Contains(s, "://") {
		s = "http://" + s
	}
	v.navigate(node.BrowseRequest{URL: s}, true)
}

func (v *browseView) goBack() {
	if len(v.backStack) == 0 {
		return
	}
	prev := v.backStack[len(v.backStack)-1]
	v.backStack = v.backStack[:len(v.backStack)-1]
	v.fwdStack = append(v.fwdStack, v.current)
	v.navigate(prev, false)
}

func (v *browseView) goForward() {
	if len(v.fwdStack) == 0 {
		return
	}
	next := v.fwdStack[len(v.fwdStack)-1]
	v.fwdStack = v.fwdStack[:len(v.fwdStack)-1]
	v.backStack = append(v.backStack, v.current)
	v.navigate(next, false)
}

func (v *browseView) updateButtons() {
	enable(v.back, len(v.backStack) > 0)
	enable(v.forward, len(v.fwdStack) > 0)
	enable(v.bookmark, v.result != nil)
	v.bookmark.SetText("Bookmark")
	if v.result != nil {
		for _, b := range v.b.Bookmarks() {
			if b.URL == v.result.URL {
				v.bookmark.SetText("Bookmarked")
			}
		}
	}
}

// navigate shows r: the area's own pages at once, others once the node
// fetched them. With push the page shown goes on the back stack. A POST is
// not repeated by back, forward or reload: those get its result's URL.
func (v *browseView) navigate(r node.BrowseRequest, push bool) {
	if push && v.current.URL != "" && (r.URL != v.current.URL || r.Method == "POST") {
		v.backStack = append(v.backStack, v.current)
		v.fwdStack = nil
	}
	v.stopLoading()
	v.seq++
	if strings.HasPrefix(r.URL, "shoal:") {
		v.current, v.result = r, nil
		v.address.SetText(r.URL)
		v.show(v.ownPage(r.URL), nil)
		v.updateButtons()
		return
	}
	seq := v.seq
	ctx, cancel := context.WithCancel(v.loop.ctx)
	v.mu.Lock()
	v.cancel = cancel
	v.mu.Unlock()
	v.address.SetText(r.URL)
	v.status.SetText("Loading " + r.URL + " through the node's proxy…")
	v.stop.Enable()
	go func() {
		defer cancel()
		res, err := v.b.Browse(ctx, r)
		v.loop.do(func() {
			if seq != v.seq {
				return // a later navigation or stop took over
			}
			v.stop.Disable()
			if err != nil {
				v.status.SetText(err.Error())
				v.updateButtons()
				return
			}
			v.current = node.BrowseRequest{URL: res.URL}
			v.result = res
			v.address.SetText(res.URL)
			v.show(res.Page, res)
			v.updateButtons()
		})
	}()
}

func (v *browseView) stopLoading() {
	v.mu.Lock()
	cancel := v.cancel
	v.cancel = nil
	v.mu.Unlock()
	if cancel != nil {
		cancel()
		v.seq++ // its answer, if it still comes, is not shown
		v.status.SetText("Stopped.")
	}
	v.stop.Disable()
}

// show draws p (or, for what is not HTML, res's text or a download offer).
func (v *browseView) show(p *htmlpage.Page, res *node.BrowseResult) {
	if v.pageCancel != nil {
		v.pageCancel() // the last page's images that still load are not wanted
	}
	v.pageCtx, v.pageCancel = context.WithCancel(v.loop.ctx)
	v.body.RemoveAll()
	switch {
	case p != nil:
		v.title.SetText(p.Title)
		for _, bl := range p.Blocks {
			if o := v.block(bl); o != nil {
				v.body.Add(o)
			}
		}
	case res != nil && res.Text != "":
		v.title.SetText(res.URL)
		v.body.Add(codeBlock(res.Text))
	case res != nil:
		v.title.SetText(res.URL)
		v.body.Add(v.downloadOffer(res))
	}
	if res != nil {
		msg := fmt.Sprintf("%d · %s · %s", res.Status, sizeText(res.Size), orDash(res.ContentType))
		if res.CacheStatus != "" {
			msg += " · cache: " + res.CacheStatus
		}
		if res.Truncated {
			msg += " · cut at 8 MiB"
		}
		v.status.SetText(msg)
	} else {
		v.status.SetText("")
	}
	v.scroll.ScrollToTop()
	v.body.Refresh()
}

func sizeText(n int64) string {
	if n < 0 {
		return "size unknown"
	}
	return formatBytes(n)
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// block draws one block of a page.
func (v *browseView) block(bl htmlpage.Block) fyne.CanvasObject {
	switch bl.Kind {
	case htmlpage.Heading:
		style := widget.RichTextStyleSubHeading
		if bl.Level == 1 {
			style = widget.RichTextStyleHeading
		}
		return v.richText(bl.Runs, style)
	case htmlpage.Paragraph:
		return v.richText(bl.Runs, widget.RichTextStyleParagraph)
	case htmlpage.Quote:
		bar := canvas.NewRectangle(theme.Color(theme.ColorNameSeparator))
		bar.SetMinSize(fyne.NewSize(4, 0))
		return container.NewBorder(nil, nil, bar, nil, v.richText(bl.Runs, widget.RichTextStyleBlockquote))
	case htmlpage.Pre:
		return codeBlock(bl.Text)
	case htmlpage.List:
		box := container.NewVBox()
		for _, it := range bl.Items {
			marker := "•"
			if it.Ordered {
				marker = strconv.Itoa(it.Number) + "."
			}
			indent := canvas.NewRectangle(nil)
			indent.SetMinSize(fyne.NewSize(float32(it.Level+1)*theme.Padding()*4, 0))
			m := widget.NewLabel(marker)
			box.Add(container.NewBorder(nil, nil, container.NewHBox(indent, m), nil, v.richText(it.Runs, widget.RichTextStyleParagraph)))
		}
		return box
	case htmlpage.Table:
		cols := 0
		for _, r := range bl.Rows {
			cols = max(cols, len(r))
		}
		grid := container.NewGridWithColumns(cols)
		for _, r := range bl.Rows {
			for i := range cols {
				if i >= len(r) {
					grid.Add(widget.NewLabel(""))
					continue
				}
				style := widget.RichTextStyleParagraph
				if r[i].Header {
					style = widget.RichTextStyleStrong
				}
				grid.Add(v.richText(r[i].Runs, style))
			}
		}
		return widget.NewCard("", "", grid)
	case htmlpage.Image:
		return v.image(bl)
	case htmlpage.Form:
		return v.form(bl.Form)
	case htmlpage.Rule:
		return widget.NewSeparator()
	}
	return nil
}

func codeBlock(text string) fyne.CanvasObject {
	rt := widget.NewRichText(&widget.TextSegment{Text: text, Style: widget.RichTextStyleCodeBlock})
	return container.NewHScroll(rt)
}

// richText draws inline runs in style: links navigate in place, <br> ends
// a line.
func (v *browseView) richText(runs []htmlpage.Run, base widget.RichTextStyle) *widget.RichText {
	var segs []widget.RichTextSegment
	for _, r := range runs {
		if r.Text == "\n" {
			segs = append(segs, &widget.TextSegment{Style: widget.RichTextStyleParagraph})
			continue
		}
		if r.Link != "" {
			segs = append(segs, v.link(r.Text, r.Link))
			continue
		}
		st := base
		st.Inline = true
		if r.Style&htmlpage.Strong != 0 {
			st.TextStyle.Bold = true
		}
		if r.Style&htmlpage.Emphasis != 0 {
			st.TextStyle.Italic = true
		}
		if r.Style&htmlpage.Code != 0 {
			st.TextStyle.Monospace = true
		}
		segs = append(segs, &widget.TextSegment{Text: r.Text, Style: st})
	}
	rt := widget.NewRichText(segs...)
	rt.Wrapping = fyne.TextWrapWord
	return rt
}

// link is a hyperlink that navigates in place; what the area cannot show
// (mailto:, ftp:) goes to the system.
func (v *browseView) link(text, target string) *widget.HyperlinkSegment {
	u, _ := url.Parse(target)
	return &widget.HyperlinkSegment{Text: text, URL: u, OnTapped: func() {
		if u != nil && (u.Scheme == "http" || u.Scheme == "https" || u.Scheme == "shoal") {
			v.navigate(node.BrowseRequest{URL: target}, true)
			return
		}
		if u != nil && v.app != nil {
			v.app.OpenURL(u)
		}
	}}
}

// image shows the alt text until the node fetched the image, through the
// proxy, then the image, at most maxImageWidth wide.
func (v *browseView) image(bl htmlpage.Block) fyne.CanvasObject {
	alt := bl.Alt
	if alt == "" {
		alt = "image"
	}
	holder := container.NewStack(widget.NewLabel("[" + alt + "]"))
	box := container.NewVBox(holder)
	if bl.Link != "" {
		box.Add(widget.NewRichText(v.link(alt, bl.Link)))
	}
	ctx := v.pageCtx
	go func() {
		data, _, err := v.b.BrowseResource(ctx, bl.Src)
		var img image.Image
		if err == nil {
			img, _, err = image.Decode(bytes.NewReader(data))
		}
		v.loop.do(func() {
			if ctx.Err() != nil {
				return // the page is gone
			}
			if err != nil {
				holder.Objects = []fyne.CanvasObject{widget.NewLabel("[" + alt + ": " + err.Error() + "]")}
				holder.Refresh()
				return
			}
			ci := canvas.NewImageFromImage(img)
			ci.FillMode = canvas.ImageFillContain
			w, h := float32(img.Bounds().Dx()), float32(img.Bounds().Dy())
			if w > maxImageWidth {
				w, h = maxImageWidth, h*maxImageWidth/w
			}
			ci.SetMinSize(fyne.NewSize(w, h))
			holder.Objects = []fyne.CanvasObject{container.NewHBox(ci, layout.NewSpacer())}
			holder.Refresh()
		})
	}()
	return box
}

// form draws a form's fields; a submit button sends what they hold.
func (v *browseView) form(f *htmlpage.FormModel) fyne.CanvasObject {
	type control struct {
		field htmlpage.Field
		value func() (string, bool) // the value, and whether it is sent
	}
	var controls []control
	items := container.NewVBox()
	type radioGroup struct {
		group  *widget.RadioGroup
		values map[string]string // label -> value
	}
	radios := map[string]*radioGroup{}
	submit := func(pressed htmlpage.Field) {
		vals := url.Values{}
		for _, c := range controls {
			if c.field.Name == "" {
				continue
			}
			if val, ok := c.value(); ok {
				vals.Add(c.field.Name, val)
			}
		}
		if pressed.Name != "" {
			vals.Add(pressed.Name, pressed.Value)
		}
		method, target, _, err := f.Submission(vals)
		if err != nil {
			v.status.SetText(err.Error())
			return
		}
		r := node.BrowseRequest{Method: method, URL: target}
		if method == "POST" {
			r.Form = vals
		}
		v.navigate(r, true)
	}
	labelled := func(label string, o fyne.CanvasObject) fyne.CanvasObject {
		if label == "" {
			return o
		}
		return container.NewBorder(nil, nil, widget.NewLabel(label), nil, o)
	}
	var buttons []fyne.CanvasObject
	for _, fd := range f.Fields {
		switch fd.Kind {
		case htmlpage.HiddenField:
			controls = append(controls, control{fd, func() (string, bool) { return fd.Value, true }})
		case htmlpage.CheckboxField:
			c := widget.NewCheck(fd.Label, nil)
			c.SetChecked(fd.Checked)
			val := fd.Value
			if val == "" {
				val = "on"
			}
			controls = append(controls, control{fd, func() (string, bool) { return val, c.Checked }})
			items.Add(c)
		case htmlpage.RadioField:
			g, ok := radios[fd.Name]
			if !ok {
				g = &radioGroup{group: widget.NewRadioGroup(nil, nil), values: map[string]string{}}
				radios[fd.Name] = g
				items.Add(g.group)
				controls = append(controls, control{fd, func() (string, bool) {
					val, ok := g.values[g.group.Selected]
					return val, ok
				}})
			}
			label := fd.Label
			if label == "" {
				label = fd.Value
			}
			g.group.Options = append(g.group.Options, label)
			g.values[label] = fd.Value
			if fd.Checked {
				g.group.Selected = label
			}
			g.group.Refresh()
		case htmlpage.SelectField:
			var labels []string
			values := map[string]string{}
			sel := ""
			for i, o := range fd.Options {
				labels = append(labels, o.Label)
				values[o.Label] = o.Value
				if o.Selected || (i == 0 && sel == "") {
					sel = o.Label
				}
			}
			s := widget.NewSelect(labels, nil)
			s.SetSelected(sel)
			controls = append(controls, control{fd, func() (string, bool) { val, ok := values[s.Selected]; return val, ok }})
			items.Add(labelled(fd.Label, s))
		case htmlpage.SubmitField:
			label := fd.Label
			if label == "" {
				label = "Submit"
			}
			pressed := fd
			buttons = append(buttons, widget.NewButton(label, func() { submit(pressed) }))
		default:
			var e *widget.Entry
			switch fd.Kind {
			case htmlpage.PasswordField:
				e = widget.NewPasswordEntry()
			case htmlpage.TextAreaField:
				e = widget.NewMultiLineEntry()
				e.SetMinRowsVisible(3)
			default:
				e = widget.NewEntry()
				e.OnSubmitted = func(string) { submit(htmlpage.Field{}) }
			}
			e.SetText(fd.Value)
			e.SetPlaceHolder(fd.Placeholder)
			controls = append(controls, control{fd, func() (string, bool) { return e.Text, true }})
			items.Add(labelled(fd.Label, e))
		}
	}
	if len(buttons) == 0 {
		buttons = append(buttons, widget.NewButton("Submit", func() { submit(htmlpage.Field{}) }))
	}
	items.Add(container.NewHBox(buttons...))
	return widget.NewCard("", f.Method+" "+f.Action, items)
}

// downloadOffer is shown for what the area cannot draw.
func (v *browseView) downloadOffer(res *node.BrowseResult) fyne.CanvasObject {
	msg := widget.NewLabel(fmt.Sprintf("%s is %s (%s); the Browse area shows HTML and text only.", res.URL, orDash(res.ContentType), sizeText(res.Size)))
	msg.Wrapping = fyne.TextWrapWord
	get := func(publish bool) {
		dir := v.downloadDir
		if err := os.MkdirAll(dir, 0o755); dir == "" || err != nil {
			v.status.SetText("No Downloads folder to save into.")
			return
		}
		v.status.SetText("Downloading " + res.URL + "…")
		go func() {
			path, it, err := v.b.Download(v.loop.ctx, res.URL, dir, publish)
			v.loop.do(func() {
				switch {
				case err != nil:
					v.status.SetText(err.Error())
				case it != nil:
					v.status.SetText("Saved " + path + " and published it into the Library.")
				default:
					v.status.SetText("Saved " + path + ".")
				}
			})
		}()
	}
	return container.NewVBox(msg, container.NewHBox(
		widget.NewButtonWithIcon("Download", theme.DownloadIcon(), func() { get(false) }),
		widget.NewButtonWithIcon("Download into the Library", theme.StorageIcon(), func() { get(true) }),
	))
}

func (v *browseView) toggleBookmark() {
	if v.result == nil {
		return
	}
	title := v.result.URL
	if v.result.Page != nil && v.result.Page.Title != "" {
		title = v.result.Page.Title
	}
	var err error
	if v.bookmark.Text == "Bookmarked" {
		err = v.b.RemoveBookmark(v.result.URL)
	} else {
		err = v.b.AddBookmark(v.result.URL, title)
	}
	if err != nil {
		v.status.SetText(err.Error())
	}
	v.updateButtons()
}

func (v *browseView) clearCookies() {
	if v.result == nil {
		v.status.SetText("Open a page first: cookies are cleared for the site shown.")
		return
	}
	n, err := v.b.ClearCookies(v.result.URL)
	if err != nil {
		v.status.SetText(err.Error())
		return
	}
	u, _ := url.Parse(v.result.URL)
	v.status.SetText(fmt.Sprintf("Cleared %d cookies of %s.", n, u.Hostname()))
}

// openExternally hands the page to the system's browser; the proxy's PAC
// file (see the start page) routes its .shoal names.
func (v *browseView) openExternally() {
	if v.result == nil {
		return
	}
	u, err := url.Parse(v.result.URL)
	if err == nil && v.app != nil {
		err = v.app.OpenURL(u)
	}
	if err != nil {
		v.status.SetText("Cannot open the system browser: " + err.Error())
	}
}

// ownPage builds the area's own pages as page models, drawn like any page.
func (v *browseView) ownPage(which string) *htmlpage.Page {
	p := &htmlpage.Page{URL: which}
	heading := func(text string) {
		p.Blocks = append(p.Blocks, htmlpage.Block{Kind: htmlpage.Heading, Level: 2, Runs: []htmlpage.Run{{Text: text}}})
	}
	para := func(runs ...htmlpage.Run) {
		p.Blocks = append(p.Blocks, htmlpage.Block{Kind: htmlpage.Paragraph, Runs: runs})
	}
	links := func(items []htmlpage.ListItem, empty string) {
		if len(items) == 0 {
			para(htmlpage.Run{Text: empty, Style: htmlpage.Emphasis})
			return
		}
		p.Blocks = append(p.Blocks, htmlpage.Block{Kind: htmlpage.List, Items: items})
	}
	bookmarks := func() {
		var items []htmlpage.ListItem
		for _, b := range v.b.Bookmarks() {
			items = append(items, htmlpage.ListItem{Runs: []htmlpage.Run{{Text: b.Title, Link: b.URL}}})
		}
		links(items, "No bookmarks yet: open a page and press Bookmark.")
	}
	switch which {
	case historyPage:
		p.Title = "History"
		heading("Pages visited")
		var items []htmlpage.ListItem
		for _, h := range v.b.History(200) {
			items = append(items, htmlpage.ListItem{Runs: []htmlpage.Run{
				{Text: h.At.Local().Format("2006-01-02 15:04") + "  "}, {Text: h.Title, Link: h.URL}}})
		}
		links(items, "Nothing visited yet.")
	case bookmarksPage:
		p.Title = "Bookmarks"
		heading("Bookmarks")
		bookmarks()
	default:
		p.Title = "Start"
		heading("Sites of the group")
		var items []htmlpage.ListItem
		for _, s := range v.b.BrowseSites() {
			items = append(items, htmlpage.ListItem{Runs: []htmlpage.Run{{Text: s.Name, Link: s.URL}, {Text: " on " + s.Holder}}})
		}
		links(items, "No member has published a site yet: publish a folder with an index.html in the Library.")
		heading("Bookmarks")
		bookmarks()
		heading("Your own browser")
		if addr := v.b.ProxyAddr(); addr != "" {
			para(htmlpage.Run{Text: "To reach the group's sites from any browser, set its automatic proxy configuration to "},
				htmlpage.Run{Text: "http://" + addr + "/proxy.pac", Style: htmlpage.Code},
				htmlpage.Run{Text: " (or its HTTP proxy to "}, htmlpage.Run{Text: addr, Style: htmlpage.Code},
				htmlpage.Run{Text: "). Pages opened with \"Open in the system browser\" then find their .shoal names."})
			if st, err := v.b.ProxyStats(); err == nil {
				heading("The proxy's cache")
				para(htmlpage.Run{Text: fmt.Sprintf("%d requests: %d hits, %d revalidated, %d misses. Hit ratio %.1f %%, byte hit ratio %.1f %%, %s saved; %d entries, %s of %s.",
					st.Requests, st.Hits, st.Revalidated, st.Misses, 100*st.HitRatio, 100*st.ByteHitRatio,
					formatBytes(st.BytesSaved), st.Entries, formatBytes(st.Size), formatBytes(st.MaxBytes))})
			}
		} else {
			para(htmlpage.Run{Text: "The proxy is off, so pages cannot be fetched. Turn it on in Settings.", Style: htmlpage.Emphasis})
		}
	}
	return p
}
