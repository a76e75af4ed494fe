package app

import (
	"net/url"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/widget"
	"golang.org/x/net/html"
)

// mailHTMLSegments lays out a message's HTML, already sanitised by the
// node, as rich text: paragraphs, headings, bold and italic, lists, quotes,
// links, and images. The node has taken remote images out unless the user
// asked for them; those left are loaded from their address, and the rest
// (data: and cid: parts) are named, not shown.
func mailHTMLSegments(src string) []widget.RichTextSegment {
	doc, err := html.Parse(strings.NewReader(src))
	if err != nil {
		return []widget.RichTextSegment{&widget.TextSegment{Text: src, Style: widget.RichTextStyleParagraph}}
	}
	r := &htmlRun{}
	r.walk(doc, fyne.TextStyle{})
	r.flush()
	return r.out
}

// htmlRun collects the segments of one block at a time.
type htmlRun struct {
	out    []widget.RichTextSegment
	inline []widget.RichTextSegment // the current block's pieces
	quote  int                      // depth of blockquote
}

// flush ends the current block.
func (r *htmlRun) flush() {
	if len(r.inline) == 0 {
		return
	}
	// The last piece of a block stands on its own line.
	last := r.inline[len(r.inline)-1]
	switch s := last.(type) {
	case *widget.TextSegment:
		s.Style.Inline = false
	case *widget.HyperlinkSegment:
		r.inline = append(r.inline, &widget.TextSegment{Style: widget.RichTextStyleParagraph})
	}
	r.out = append(r.out, r.inline...)
	r.inline = nil
}

func (r *htmlRun) text(t string, style fyne.TextStyle) {
	t = strings.Join(strings.Fields(t), " ")
	if t == "" {
		return
	}
	if len(r.inline) > 0 {
		t = " " + t
	}
	st := widget.RichTextStyleInline
	st.TextStyle = style
	if r.quote > 0 {
		st.ColorName = "placeHolder"
	}
	r.inline = append(r.inline, &widget.TextSegment{Text: t, Style: st})
}

var blockTags = map[string]bool{"p": true, "div": true, "li": true, "tr": true, "table": true, "ul": true, "ol": true,
	"h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true, "blockquote": true, "pre": true, "hr": true}

func (r *htmlRun) walk(n *html.Node, style fyne.TextStyle) {
	switch n.Type {
	case html.TextNode:
		r.text(n.Data, style)
		return
	case html.ElementNode:
	default:
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			r.walk(c, style)
		}
		return
	}
	tag := n.Data
	if blockTags[tag] {
		r.flush()
	}
	switch tag {
	case "b", "strong", "h1", "h2", "h3", "h4", "h5", "h6", "th":
		style.Bold = true
	case "i", "em", "cite":
		style.Italic = true
	case "code", "pre", "tt":
		style.Monospace = true
	case "br":
		r.flush()
		return
	case "li":
		r.text("•", style)
	case "blockquote":
		r.quote++
		defer func() { r.quote-- }()
	case "a":
		if u, err := url.Parse(attr(n, "href")); err == nil && (u.Scheme == "http" || u.Scheme == "https" || u.Scheme == "mailto") {
			r.inline = append(r.inline, &widget.HyperlinkSegment{Text: nodeText(n), URL: u})
			return
		}
	case "img":
		src := attr(n, "src")
		if u, err := storage.ParseURI(src); err == nil && (u.Scheme() == "http" || u.Scheme() == "https") {
			r.flush()
			r.out = append(r.out, &widget.ImageSegment{Source: u, Title: attr(n, "alt")})
			return
		}
		if alt := attr(n, "alt"); alt != "" {
			r.text("["+alt+"]", style)
		}
		return
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		r.walk(c, style)
	}
	if blockTags[tag] {
		r.flush()
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// nodeText is the text inside n, spaces folded.
func nodeText(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data + " ")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}
