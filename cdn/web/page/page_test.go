package page

import (
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
)

func parseFile(t *testing.T, name, pageURL string) *Page {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := Parse(f, pageURL)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func parseString(t *testing.T, src string) *Page {
	t.Helper()
	p, err := Parse(strings.NewReader(src), "http://www.alpha.shoal/dir/page.html")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func kinds(p *Page) []string {
	var out []string
	for _, b := range p.Blocks {
		out = append(out, b.Kind.String())
	}
	return out
}

func TestParseFixture(t *testing.T) {
	p := parseFile(t, "testdata/fixture.html", "http://www.alpha.shoal/docs/index.html")
	if p.Title != "The Fixture Page" {
		t.Errorf("title %q", p.Title)
	}
	want := []string{"heading", "paragraph", "list", "pre", "quote", "table", "image", "form", "paragraph"}
	if got := kinds(p); !reflect.DeepEqual(got, want) {
		t.Fatalf("blocks %v, want %v", got, want)
	}
	b := p.Blocks

	if b[0].Level != 1 || PlainText(b[0].Runs) != "Welcome to alpha" || b[0].Runs[1] != (Run{Text: "alpha", Style: Emphasis}) {
		t.Errorf("heading %+v", b[0])
	}

	para := b[1].Runs
	wantRuns := []Run{
		{Text: "Some "}, {Text: "bold", Style: Strong}, {Text: " and "}, {Text: "emphasised", Style: Emphasis},
		{Text: " text with "}, {Text: "code()", Style: Code}, {Text: ", and a "},
		{Text: "link to the next page", Link: "http://www.alpha.shoal/docs/next.html"},
		{Text: "."}, {Text: "\n"}, {Text: "A second line."},
	}
	if !reflect.DeepEqual(para, wantRuns) {
		t.Errorf("paragraph runs\n got %+v\nwant %+v", para, wantRuns)
	}

	items := b[2].Items
	if len(items) != 4 {
		t.Fatalf("list items %+v", items)
	}
	if PlainText(items[0].Runs) != "first item" || items[0].Level != 0 || items[0].Ordered {
		t.Errorf("item 0 %+v", items[0])
	}
	if PlainText(items[1].Runs) != "second item" || items[1].Runs[1].Link != "http://www.alpha.shoal/abs" {
		t.Errorf("item 1 %+v", items[1])
	}
	if items[2].Level != 1 || !items[2].Ordered || items[2].Number != 3 || PlainText(items[2].Runs) != "nested three" || items[3].Number != 4 {
		t.Errorf("nested items %+v %+v", items[2], items[3])
	}

	if b[3].Text != "  line one\n    line two" {
		t.Errorf("pre %q", b[3].Text)
	}
	if PlainText(b[4].Runs) != "To be or not to be." {
		t.Errorf("quote %+v", b[4])
	}

	rows := b[5].Rows
	if len(rows) != 2 || len(rows[0]) != 2 || !rows[0][0].Header || PlainText(rows[0][1].Runs) != "Size" {
		t.Fatalf("table rows %+v", rows)
	}
	if rows[1][0].Header || PlainText(rows[1][1].Runs) != "12 KB" || rows[1][1].Runs[0].Style != Strong {
		t.Errorf("table row 1 %+v", rows[1])
	}

	if b[6].Src != "http://www.alpha.shoal/docs/img/logo.png" || b[6].Alt != "The logo" {
		t.Errorf("image %+v", b[6])
	}
	if got := p.Images(); !reflect.DeepEqual(got, []string{"http://www.alpha.shoal/docs/img/logo.png"}) {
		t.Errorf("images %v", got)
	}

	f := b[7].Form
	if f.Action != "http://www.alpha.shoal/search" || f.Method != "POST" {
		t.Errorf("form %+v", f)
	}
	var fk []string
	for _, fd := range f.Fields {
		fk = append(fk, string(fd.Kind)+":"+fd.Name)
	}
	if want := []string{"text:q", "hidden:token", "checkbox:exact", "select:scope", "textarea:note", "submit:"}; !reflect.DeepEqual(fk, want) {
		t.Errorf("fields %v, want %v", fk, want)
	}
	if f.Fields[0].Label != "Query" || f.Fields[0].Value != "fish" || f.Fields[5].Label != "Find" {
		t.Errorf("field labels %+v", f.Fields)
	}
	if got := f.Defaults().Encode(); got != "exact=on&note=hello&q=fish&scope=site&token=t1" {
		t.Errorf("defaults %s", got)
	}

	// A javascript: link keeps its text and loses its target.
	if r := b[8].Runs; len(r) != 1 || r[0].Link != "" || r[0].Text != "a script link" {
		t.Errorf("script link %+v", r)
	}
}

func TestFormSubmission(t *testing.T) {
	v := url.Values{"q": {"a b"}, "n": {"1"}}
	for _, c := range []struct {
		form               FormModel
		method, target, bd string
		err                string
	}{
		{FormModel{Action: "http://x.shoal/s?old=1#frag", Method: "GET"}, "GET", "http://x.shoal/s?n=1&q=a+b", "", ""},
		{FormModel{Action: "http://x.shoal/post", Method: "POST"}, "POST", "http://x.shoal/post", "n=1&q=a+b", ""},
		{FormModel{Action: "/relative", Method: "GET"}, "", "", "", "not an absolute URL"},
		{FormModel{Action: "http://x.shoal/", Method: "PUT"}, "", "", "", "neither GET nor POST"},
	} {
		m, target, body, err := c.form.Submission(v)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%+v: error %v, want %q", c.form, err, c.err)
			}
			continue
		}
		if err != nil || m != c.method || target != c.target || body != c.bd {
			t.Errorf("%+v: %s %s %q %v", c.form, m, target, body, err)
		}
	}
}

func TestParseCases(t *testing.T) {
	for _, c := range []struct {
		name, src string
		check     func(t *testing.T, p *Page)
	}{
		{"base href", `<base href="http://other.shoal/sub/"><a href="x">x</a>`, func(t *testing.T, p *Page) {
			if l := p.Blocks[0].Runs[0].Link; l != "http://other.shoal/sub/x" {
				t.Errorf("link %q", l)
			}
		}},
		{"unclosed tags", `<h2>Title</h2><p>para <b>bold <i>both`, func(t *testing.T, p *Page) {
			if got := kinds(p); !reflect.DeepEqual(got, []string{"heading", "paragraph"}) {
				t.Fatalf("blocks %v", got)
			}
			if r := p.Blocks[1].Runs; len(r) != 3 || r[2].Style != Strong|Emphasis {
				t.Errorf("runs %+v", r)
			}
		}},
		{"paragraph inside a heading", `<h2>Title<p>more</h2>`, func(t *testing.T, p *Page) {
			if got := kinds(p); len(got) != 1 || PlainText(p.Blocks[0].Runs) != "Title more" {
				t.Errorf("blocks %+v", p.Blocks)
			}
		}},
		{"form get default action", `<form><input name="q"><button>Go</button></form>`, func(t *testing.T, p *Page) {
			f := p.Blocks[0].Form
			if f.Method != "GET" || f.Action != "http://www.alpha.shoal/dir/page.html" || len(f.Fields) != 2 || f.Fields[1].Label != "Go" {
				t.Errorf("form %+v", f)
			}
		}},
		{"label before field", `<form><p><label for="n">Name:</label> <input id="n" name="n"></p></form>`, func(t *testing.T, p *Page) {
			if len(p.Blocks) != 1 || p.Blocks[0].Form.Fields[0].Label != "Name:" {
				t.Errorf("blocks %+v", p.Blocks)
			}
		}},
		{"image in link", `<a href="/big.png"><img src="small.png" alt="s"></a>`, func(t *testing.T, p *Page) {
			if b := p.Blocks[0]; b.Kind != Image || b.Link != "http://www.alpha.shoal/big.png" || b.Src != "http://www.alpha.shoal/dir/small.png" {
				t.Errorf("image %+v", b)
			}
		}},
		{"image in a cell shows alt", `<table><tr><td><img src="a.png" alt="A"> text</td></tr></table>`, func(t *testing.T, p *Page) {
			if got := PlainText(p.Blocks[0].Rows[0][0].Runs); got != "[A] text" {
				t.Errorf("cell %q", got)
			}
		}},
		{"nested table is text", `<table><tr><td>out<table><tr><td>in</td></tr></table></td></tr></table>`, func(t *testing.T, p *Page) {
			if len(p.Blocks) != 1 || PlainText(p.Blocks[0].Rows[0][0].Runs) != "out in" {
				t.Errorf("blocks %+v", p.Blocks)
			}
		}},
		{"noscript shown", `<noscript><p>No JS here</p></noscript>`, func(t *testing.T, p *Page) {
			if len(p.Blocks) != 1 || PlainText(p.Blocks[0].Runs) != "No JS here" {
				t.Errorf("blocks %+v", p.Blocks)
			}
		}},
		{"empty document", ``, func(t *testing.T, p *Page) {
			if len(p.Blocks) != 0 || p.Title != "" {
				t.Errorf("page %+v", p)
			}
		}},
		// Too deep for the parser: what comes before is shown.
		{"deep nesting", "<p>before</p>" + strings.Repeat("<div>", 5000) + "deep" + strings.Repeat("</div>", 5000), func(t *testing.T, p *Page) {
			if len(p.Blocks) != 1 || PlainText(p.Blocks[0].Runs) != "before" {
				t.Errorf("blocks %+v", p.Blocks)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) { c.check(t, parseString(t, c.src)) })
	}
}

func TestParseRefusesARelativePageURL(t *testing.T) {
	if _, err := Parse(strings.NewReader("<p>x"), "/relative"); err == nil || !strings.Contains(err.Error(), "page: ") {
		t.Errorf("err %v", err)
	}
}

// FuzzParse: any input gives a page, every link and image absolute.
func FuzzParse(f *testing.F) {
	src, err := os.ReadFile("testdata/fixture.html")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(src))
	f.Add(`<table><tr><td><ul><li><form><input name=a><table><td>x</table></form></ul></table>`)
	f.Add(`<pre><b>x<br></pre><h1><blockquote>q</h1>`)
	f.Add(`<select><option>a<option selected>b</select><textarea>`)
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Parse(strings.NewReader(src), "http://www.alpha.shoal/dir/page.html")
		if err != nil {
			t.Fatal(err)
		}
		check := func(ref string) {
			if ref == "" {
				return
			}
			if u, err := url.Parse(ref); err != nil || !u.IsAbs() {
				t.Errorf("not absolute: %q", ref)
			}
		}
		for _, b := range p.Blocks {
			check(b.Src)
			check(b.Link)
			for _, r := range b.Runs {
				check(r.Link)
			}
			if b.Form != nil {
				check(b.Form.Action)
			}
		}
	})
}
