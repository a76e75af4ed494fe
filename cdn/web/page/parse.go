package page

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// maxDepth bounds how deep the walk goes into nested elements; deeper
// content is kept as text of the element at the bound.
const maxDepth = 256

// Parse reads an HTML document fetched from pageURL (absolute) and builds
// its page model. Only a pageURL that does not parse, or a reader that
// fails, is an error: any HTML gives a page.
func Parse(r io.Reader, pageURL string) (*Page, error) {
	base, err := url.Parse(pageURL)
	if err != nil || !base.IsAbs() {
		return nil, fmt.Errorf("page: %q is not an absolute URL", pageURL)
	}
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("page: read %s: %w", pageURL, err)
	}
	// Scripting off: <noscript> content is markup to show, as a browser
	// without JavaScript does.
	doc, err := parseHTML(src)
	if err != nil {
		return nil, fmt.Errorf("page: parse %s: %w", pageURL, err)
	}
	b := &builder{base: base, page: &Page{URL: pageURL}, form: -1}
	b.findBase(doc, 0)
	b.walk(doc, 0)
	b.flush()
	b.page.Title = collapse(b.page.Title)
	return b.page, nil
}

// parseHTML parses src, or as much of it as parses: the parser refuses
// documents nested deeper than its bound, and then the part before the
// nesting got too deep is shown.
func parseHTML(src []byte) (*html.Node, error) {
	doc, err := html.ParseWithOptions(bytes.NewReader(src), html.ParseOptionEnableScripting(false))
	if err == nil {
		return doc, nil
	}
	for cut := tooDeep(src); cut > 0; cut /= 2 {
		if doc, err2 := html.ParseWithOptions(bytes.NewReader(src[:cut]), html.ParseOptionEnableScripting(false)); err2 == nil {
			return doc, nil
		}
	}
	return nil, err
}

// tooDeep is the offset in src where elements left open pass maxDepth,
// counted roughly by the tokenizer (void elements do not nest), or
// len(src).
func tooDeep(src []byte) int {
	z := html.NewTokenizer(bytes.NewReader(src))
	depth, off := 0, 0
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return len(src)
		case html.StartTagToken:
			name, _ := z.TagName()
			if !voidElements[atom.Lookup(name)] {
				depth++
			}
		case html.EndTagToken:
			if depth > 0 {
				depth--
			}
		}
		if depth > maxDepth {
			return off
		}
		off += len(z.Raw())
	}
}

var voidElements = map[atom.Atom]bool{atom.Area: true, atom.Base: true, atom.Br: true, atom.Col: true,
	atom.Embed: true, atom.Hr: true, atom.Img: true, atom.Input: true, atom.Link: true, atom.Meta: true,
	atom.Source: true, atom.Track: true, atom.Wbr: true, atom.Param: true}

// builder walks the tree once, keeping the inline runs of the block being
// built and what encloses it.
type builder struct {
	base *url.URL
	page *Page

	runs  []Run // inline content of the current paragraph, heading, item or cell
	style Style
	link  string

	quote   int        // depth of blockquotes
	list    []listCtx  // open lists, innermost last
	items   []ListItem // items of the outermost open list
	table   int        // depth of tables; only the outermost makes a block
	rows    [][]Cell
	cell    *Cell
	form    int    // index of the open form's block, or -1
	label   string // text so far of an open <label>, for the field inside it
	inLabel bool
	pre     int
	heading int // depth of headings: blocks inside one are part of it
}

type listCtx struct {
	ordered bool
	n       int
}

func (b *builder) findBase(n *html.Node, depth int) {
	if depth > maxDepth {
		return
	}
	if n.Type == html.ElementNode && n.DataAtom == atom.Base {
		if u, err := b.base.Parse(attr(n, "href")); err == nil && attr(n, "href") != "" && u.IsAbs() {
			b.base = u
		}
		return
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		b.findBase(c, depth+1)
	}
}

// resolve makes ref absolute; a ref that does not parse, or a script URL,
// gives "".
func (b *builder) resolve(ref string) string {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return ""
	}
	u, err := b.base.Parse(ref)
	if err != nil {
		return ""
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https", "mailto", "ftp", "data":
		return u.String()
	default:
		return ""
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

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}

// text adds text to the current runs with the current style and link,
// collapsing white space as HTML does outside <pre>.
func (b *builder) text(s string) {
	if b.inLabel {
		b.label += s
	}
	if b.pre == 0 {
		s = collapseKeepEdges(s)
		if s == "" {
			return
		}
		// No space at the start of a block or after a space or a break.
		if s[0] == ' ' && (len(b.runs) == 0 || endsInSpace(b.runs[len(b.runs)-1].Text)) {
			s = s[1:]
		}
		if s == "" {
			return
		}
	}
	if n := len(b.runs); n > 0 && b.runs[n-1].Style == b.style && b.runs[n-1].Link == b.link && b.runs[n-1].Text != "\n" {
		b.runs[n-1].Text += s
		return
	}
	b.runs = append(b.runs, Run{Text: s, Style: b.style, Link: b.link})
}

func endsInSpace(s string) bool {
	return strings.HasSuffix(s, " ") || strings.HasSuffix(s, "\n")
}

// lineBreak adds a <br>.
func (b *builder) lineBreak() {
	if len(b.runs) == 0 {
		return
	}
	if last := &b.runs[len(b.runs)-1]; last.Text != "\n" {
		last.Text = strings.TrimRight(last.Text, " ")
	}
	b.runs = append(b.runs, Run{Text: "\n"})
}

// takeRuns returns the current runs, trimmed, and starts afresh.
func (b *builder) takeRuns() []Run {
	runs := b.runs
	b.runs = nil
	for len(runs) > 0 && strings.TrimSpace(runs[len(runs)-1].Text) == "" {
		runs = runs[:len(runs)-1]
	}
	for len(runs) > 0 && strings.TrimSpace(runs[0].Text) == "" {
		runs = runs[1:]
	}
	if len(runs) == 0 {
		return nil
	}
	runs[len(runs)-1].Text = strings.TrimRight(runs[len(runs)-1].Text, " ")
	runs[0].Text = strings.TrimLeft(runs[0].Text, " ")
	return runs
}

// flush ends the current inline content: it becomes a list item inside a
// list, a space inside a table cell, or else a paragraph (a quote inside
// a blockquote).
func (b *builder) flush() {
	switch {
	case b.cell != nil || b.heading > 0:
		// Blocks inside a cell run together, a space apart.
		if n := len(b.runs); n > 0 && !endsInSpace(b.runs[n-1].Text) {
			b.runs[n-1].Text += " "
		}
		return
	case b.table > 0:
		b.runs = nil // text in a table outside any cell: browsers move it out; we drop stray space
		return
	}
	runs := b.takeRuns()
	if runs == nil {
		return
	}
	if len(b.list) > 0 {
		l := &b.list[len(b.list)-1]
		b.items = append(b.items, ListItem{Level: len(b.list) - 1, Ordered: l.ordered, Number: l.n, Runs: runs})
		return
	}
	kind := Paragraph
	if b.quote > 0 {
		kind = Quote
	}
	b.page.Blocks = append(b.page.Blocks, Block{Kind: kind, Runs: runs})
}

// add appends a block after ending the current inline content. Inside a
// list or table, where the model has no room for blocks, it is dropped
// (tables and lists keep text only) except for images, which go to the
// page after the list.
func (b *builder) add(bl Block) {
	b.flush()
	b.page.Blocks = append(b.page.Blocks, bl)
}

func (b *builder) walk(n *html.Node, depth int) {
	switch n.Type {
	case html.TextNode:
		b.text(n.Data)
		return
	case html.DocumentNode:
		b.children(n, depth)
		return
	case html.ElementNode:
	default:
		return
	}
	if depth > maxDepth {
		b.text(textOf(n))
		return
	}
	switch n.DataAtom {
	case atom.Head:
		b.head(n, depth)
		return
	case atom.Script, atom.Style, atom.Template, atom.Svg, atom.Math, atom.Object, atom.Embed,
		atom.Canvas, atom.Audio, atom.Video, atom.Noembed, atom.Datalist:
		return
	case atom.Title:
		if b.page.Title == "" {
			b.page.Title = textOf(n)
		}
		return
	case atom.Iframe, atom.Frame:
		if src := b.resolve(attr(n, "src")); src != "" && b.table == 0 {
			b.flush()
			b.runs = []Run{{Text: "[frame] ", Style: Emphasis}, {Text: src, Link: src}}
			b.flush()
		}
		return
	case atom.Br:
		if b.pre > 0 {
			b.text("\n")
		} else {
			b.lineBreak()
		}
		return
	case atom.Hr:
		if b.table == 0 && len(b.list) == 0 {
			b.add(Block{Kind: Rule})
		}
		return
	case atom.Img:
		b.image(n)
		return
	case atom.Input:
		b.input(n)
		return
	case atom.Textarea:
		b.field(Field{Kind: TextAreaField, Name: attr(n, "name"), Value: strings.TrimPrefix(textOf(n), "\n"), Placeholder: attr(n, "placeholder")})
		return
	case atom.Select:
		b.selectField(n)
		return
	case atom.Button:
		typ := strings.ToLower(attr(n, "type"))
		if b.form >= 0 && (typ == "" || typ == "submit") {
			b.field(Field{Kind: SubmitField, Name: attr(n, "name"), Value: attr(n, "value"), Label: collapse(textOf(n))})
			return
		}
	}

	switch n.DataAtom {
	case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
		if b.cell != nil || len(b.list) > 0 || b.table > 0 {
			b.inline(n, depth, Strong, "")
			return
		}
		b.flush()
		b.heading++
		b.children(n, depth)
		b.heading--
		if runs := b.takeRuns(); runs != nil {
			b.page.Blocks = append(b.page.Blocks, Block{Kind: Heading, Level: int(n.Data[1] - '0'), Runs: runs})
		}
	case atom.Pre, atom.Listing, atom.Xmp, atom.Plaintext:
		if b.cell != nil || len(b.list) > 0 || b.table > 0 {
			b.inline(n, depth, Code, "")
			return
		}
		b.flush()
		b.pre++
		b.children(n, depth)
		b.pre--
		text := strings.TrimPrefix(PlainText(b.runs), "\n")
		b.runs = nil
		text = strings.TrimRight(text, "\n")
		if strings.TrimSpace(text) != "" {
			b.page.Blocks = append(b.page.Blocks, Block{Kind: Pre, Text: text})
		}
	case atom.Blockquote:
		b.flush()
		b.quote++
		b.children(n, depth)
		b.flush()
		b.quote--
	case atom.Ul, atom.Ol, atom.Menu, atom.Dl:
		b.listBlock(n, depth)
	case atom.Li, atom.Dt, atom.Dd:
		b.flush()
		if len(b.list) > 0 {
			b.list[len(b.list)-1].n++
		}
		if n.DataAtom == atom.Dt {
			b.inline(n, depth, Strong, "")
		} else {
			b.children(n, depth)
		}
		b.flush()
	case atom.Table:
		b.tableBlock(n, depth)
	case atom.Tr:
		if b.table == 1 && b.cell == nil {
			b.rows = append(b.rows, nil)
		}
		b.children(n, depth)
	case atom.Td, atom.Th:
		if b.table != 1 || b.cell != nil {
			b.flush()
			b.children(n, depth)
			b.flush()
			return
		}
		if len(b.rows) == 0 {
			b.rows = append(b.rows, nil)
		}
		b.runs = nil
		b.cell = &Cell{Header: n.DataAtom == atom.Th}
		b.children(n, depth)
		b.cell.Runs = b.takeRuns()
		row := &b.rows[len(b.rows)-1]
		*row = append(*row, *b.cell)
		b.cell = nil
	case atom.Form:
		b.formBlock(n, depth)
	case atom.Label:
		was := b.inLabel
		b.inLabel, b.label = true, ""
		b.children(n, depth)
		b.inLabel = was
		// A label before its control (<label for=...>) stays in the runs,
		// where the next field takes it as the text before it.
	case atom.A:
		b.inline(n, depth, 0, b.resolve(attr(n, "href")))
	case atom.Em, atom.I, atom.Cite, atom.Dfn, atom.Var:
		b.inline(n, depth, Emphasis, "")
	case atom.Strong, atom.B:
		b.inline(n, depth, Strong, "")
	case atom.Code, atom.Kbd, atom.Samp, atom.Tt:
		b.inline(n, depth, Code, "")
	case atom.P, atom.Div, atom.Section, atom.Article, atom.Header, atom.Footer, atom.Nav, atom.Main,
		atom.Aside, atom.Figure, atom.Figcaption, atom.Address, atom.Details, atom.Summary, atom.Fieldset,
		atom.Legend, atom.Center, atom.Caption, atom.Body, atom.Html, atom.Noscript, atom.Hgroup:
		b.flush()
		b.children(n, depth)
		b.flush()
	default:
		b.children(n, depth)
	}
}

func (b *builder) children(n *html.Node, depth int) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		b.walk(c, depth+1)
	}
}

// inline walks n's children with style added and, if link is not "",
// inside that link.
func (b *builder) inline(n *html.Node, depth int, style Style, link string) {
	oldStyle, oldLink := b.style, b.link
	b.style |= style
	if link != "" {
		b.link = link
	}
	b.children(n, depth)
	b.style, b.link = oldStyle, oldLink
}

// head takes the title from the head and nothing else.
func (b *builder) head(n *html.Node, depth int) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && c.DataAtom == atom.Title && b.page.Title == "" {
			b.page.Title = textOf(c)
		}
	}
}

func (b *builder) listBlock(n *html.Node, depth int) {
	b.flush()
	if b.table > 0 {
		b.children(n, depth)
		b.flush()
		return
	}
	ordered := n.DataAtom == atom.Ol
	start := 0
	if ordered {
		if s, err := strconv.Atoi(attr(n, "start")); err == nil && s > 0 && s < 1<<20 {
			start = s - 1
		}
	}
	b.list = append(b.list, listCtx{ordered: ordered, n: start})
	b.children(n, depth)
	b.flush()
	b.list = b.list[:len(b.list)-1]
	if len(b.list) == 0 && len(b.items) > 0 {
		b.page.Blocks = append(b.page.Blocks, Block{Kind: List, Items: b.items})
		b.items = nil
	}
}

func (b *builder) tableBlock(n *html.Node, depth int) {
	b.flush()
	b.table++
	if b.table == 1 {
		b.rows = nil
	}
	b.children(n, depth)
	b.table--
	if b.table > 0 {
		b.flush()
		return
	}
	var rows [][]Cell
	for _, r := range b.rows {
		if len(r) > 0 {
			rows = append(rows, r)
		}
	}
	b.rows = nil
	b.runs = nil
	if len(rows) > 0 {
		bl := Block{Kind: Table, Rows: rows}
		if len(b.list) > 0 {
			// A table in a list item is shown after the list's items so far.
			b.items = append(b.items, ListItem{Level: len(b.list) - 1, Runs: []Run{{Text: "[table below]", Style: Emphasis}}})
		}
		b.page.Blocks = append(b.page.Blocks, bl)
	}
}

func (b *builder) image(n *html.Node) {
	src := b.resolve(attr(n, "src"))
	alt := collapse(attr(n, "alt"))
	if b.table > 0 || len(b.list) > 0 || b.pre > 0 {
		// Cells and items hold text only: an image there shows its alt text.
		if alt == "" {
			alt = "image"
		}
		b.text(" [" + alt + "] ")
		return
	}
	if src == "" {
		if alt != "" {
			b.text(alt)
		}
		return
	}
	b.add(Block{Kind: Image, Src: src, Alt: alt, Link: b.link})
}

// formBlock opens a form: its block stands where the form starts, and the
// fields inside go into it; other content of the form follows as blocks.
func (b *builder) formBlock(n *html.Node, depth int) {
	if b.form >= 0 || b.table > 0 || len(b.list) > 0 {
		b.children(n, depth) // nested forms are not allowed; keep the outer one
		return
	}
	action := b.resolve(attr(n, "action"))
	if attr(n, "action") == "" {
		action = b.base.String()
	}
	method := strings.ToUpper(strings.TrimSpace(attr(n, "method")))
	if method != "POST" {
		method = "GET"
	}
	b.add(Block{Kind: Form, Form: &FormModel{Action: action, Method: method}})
	b.form = len(b.page.Blocks) - 1
	b.children(n, depth)
	b.flush()
	b.form = -1
}

func (b *builder) field(f Field) {
	if b.form < 0 {
		return // a control outside any form sends nothing
	}
	if f.Label == "" && f.Kind != SubmitField && f.Kind != HiddenField {
		if b.inLabel {
			f.Label = collapse(b.label)
		}
		if f.Label == "" {
			// The text just before the control labels it, as in "Name: <input>".
			f.Label = strings.TrimSpace(PlainText(b.runs))
			if f.Label != "" {
				b.runs = nil
			}
		}
	}
	if b.inLabel {
		// The label's text goes with the field, not into a paragraph.
		b.runs = nil
	}
	form := b.page.Blocks[b.form].Form
	if len(form.Fields) >= 1000 {
		return
	}
	form.Fields = append(form.Fields, f)
}

func (b *builder) input(n *html.Node) {
	typ := strings.ToLower(strings.TrimSpace(attr(n, "type")))
	f := Field{Name: attr(n, "name"), Value: attr(n, "value"), Placeholder: attr(n, "placeholder")}
	switch typ {
	case "hidden":
		f.Kind = HiddenField
	case "password":
		f.Kind = PasswordField
	case "checkbox", "radio":
		f.Kind = FieldKind(typ)
		f.Checked = hasAttr(n, "checked")
	case "submit", "image":
		f.Kind = SubmitField
		f.Label = f.Value
		if f.Label == "" {
			f.Label = "Submit"
		}
	case "reset", "button", "file":
		return // no scripts, no uploads
	default:
		f.Kind = TextField
	}
	b.field(f)
}

func (b *builder) selectField(n *html.Node) {
	f := Field{Kind: SelectField, Name: attr(n, "name")}
	var walk func(*html.Node, int)
	walk = func(c *html.Node, depth int) {
		if depth > maxDepth {
			return
		}
		for ; c != nil; c = c.NextSibling {
			if c.Type != html.ElementNode {
				continue
			}
			if c.DataAtom == atom.Option {
				label := collapse(textOf(c))
				val := label
				if hasAttr(c, "value") {
					val = attr(c, "value")
				}
				f.Options = append(f.Options, Option{Value: val, Label: label, Selected: hasAttr(c, "selected")})
				continue
			}
			walk(c.FirstChild, depth+1)
		}
	}
	walk(n.FirstChild, 0)
	b.field(f)
}

// textOf is all the text below n.
func textOf(n *html.Node) string {
	var sb strings.Builder
	var walk func(*html.Node, int)
	walk = func(n *html.Node, depth int) {
		if depth > maxDepth {
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			switch c.Type {
			case html.TextNode:
				sb.WriteString(c.Data)
			case html.ElementNode:
				if c.DataAtom != atom.Script && c.DataAtom != atom.Style {
					walk(c, depth+1)
				}
			}
		}
	}
	walk(n, 0)
	return sb.String()
}

// collapse turns runs of white space into one space and trims the ends.
func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

// collapseKeepEdges collapses white space but keeps one space at an end
// that had some, so words of neighbouring runs stay apart.
func collapseKeepEdges(s string) string {
	if s == "" {
		return ""
	}
	inner := collapse(s)
	if inner == "" {
		return " "
	}
	if isSpace(s[0]) {
		inner = " " + inner
	}
	if isSpace(s[len(s)-1]) {
		inner += " "
	}
	return inner
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
}
