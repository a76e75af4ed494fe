// Package page turns an HTML document into a page model that any renderer
// can draw: a title and a list of blocks (headings, paragraphs of inline
// runs, lists, preformatted text, quotes, tables, images and simple forms),
// with every URL resolved against the page's own. It is a text browser's
// scope: no CSS, no scripts. Broken HTML is parsed as far as it goes, as
// browsers do (golang.org/x/net/html implements the HTML5 parsing
// algorithm), and never panics.
//
// The window's Browse area (app) renders it with Fyne widgets; the node's
// fetcher (node/browse.go) parses what it fetched through the proxy.
package page

import (
	"fmt"
	"net/url"
	"strings"
)

// Kind is the kind of a block.
type Kind int

// The kinds of blocks.
const (
	Paragraph Kind = iota
	Heading
	List
	Pre
	Quote
	Table
	Image
	Form
	Rule
)

var kindNames = [...]string{"paragraph", "heading", "list", "pre", "quote", "table", "image", "form", "rule"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Style is a set of inline styles of a run.
type Style uint8

// Inline styles; a run may have several.
const (
	Emphasis Style = 1 << iota
	Strong
	Code
)

// Run is a stretch of text with one style and, if it is part of a link,
// the link's absolute URL. A Text of "\n" is a line break.
type Run struct {
	Text  string `json:"text"`
	Style Style  `json:"style,omitempty"`
	Link  string `json:"link,omitempty"`
}

// ListItem is one item of a list; Level 0 is the outermost list, nested
// lists are flattened into the items that follow with a higher Level.
type ListItem struct {
	Level   int   `json:"level,omitempty"`
	Ordered bool  `json:"ordered,omitempty"`
	Number  int   `json:"number,omitempty"` // 1-based position among its siblings
	Runs    []Run `json:"runs"`
}

// Cell is one cell of a table.
type Cell struct {
	Header bool  `json:"header,omitempty"`
	Runs   []Run `json:"runs"`
}

// FieldKind is what kind of form control a field is.
type FieldKind string

// Form fields the model knows; any other input type is a Text field.
const (
	TextField     FieldKind = "text"
	PasswordField FieldKind = "password"
	HiddenField   FieldKind = "hidden"
	CheckboxField FieldKind = "checkbox"
	RadioField    FieldKind = "radio"
	TextAreaField FieldKind = "textarea"
	SelectField   FieldKind = "select"
	SubmitField   FieldKind = "submit"
)

// Field is one control of a form.
type Field struct {
	Kind        FieldKind `json:"kind"`
	Name        string    `json:"name,omitempty"`
	Value       string    `json:"value,omitempty"`
	Label       string    `json:"label,omitempty"`
	Placeholder string    `json:"placeholder,omitempty"`
	Checked     bool      `json:"checked,omitempty"`
	Options     []Option  `json:"options,omitempty"` // of a select
}

// Option is one choice of a select field.
type Option struct {
	Value    string `json:"value"`
	Label    string `json:"label"`
	Selected bool   `json:"selected,omitempty"`
}

// FormModel is a form: where it goes, how, and its fields in order.
type FormModel struct {
	Action string  `json:"action"` // absolute
	Method string  `json:"method"` // GET or POST
	Fields []Field `json:"fields"`
}

// Block is one block of a page. Which fields are set depends on Kind:
// Runs for Paragraph, Heading (with Level 1-6) and Quote; Items for List;
// Text for Pre; Rows for Table; Src, Alt and Link for Image; Form for Form.
type Block struct {
	Kind  Kind       `json:"kind"`
	Level int        `json:"level,omitempty"`
	Runs  []Run      `json:"runs,omitempty"`
	Items []ListItem `json:"items,omitempty"`
	Text  string     `json:"text,omitempty"`
	Rows  [][]Cell   `json:"rows,omitempty"`
	Src   string     `json:"src,omitempty"`
	Alt   string     `json:"alt,omitempty"`
	Link  string     `json:"link,omitempty"`
	Form  *FormModel `json:"form,omitempty"`
}

// Page is a parsed document.
type Page struct {
	URL    string  `json:"url"`
	Title  string  `json:"title"`
	Blocks []Block `json:"blocks"`
}

// PlainText is the text of runs, without styles.
func PlainText(runs []Run) string {
	var b strings.Builder
	for _, r := range runs {
		b.WriteString(r.Text)
	}
	return b.String()
}

// Images lists the absolute URLs of the page's images, in order, once each.
func (p *Page) Images() []string {
	var out []string
	seen := map[string]bool{}
	for _, b := range p.Blocks {
		if b.Kind == Image && b.Src != "" && !seen[b.Src] {
			seen[b.Src] = true
			out = append(out, b.Src)
		}
	}
	return out
}

// Defaults are the values the form sends as it stands: hidden fields,
// prefilled text, checked boxes and selected options. Submit buttons are
// not in it; the one pressed is added by Submission.
func (f *FormModel) Defaults() url.Values {
	v := url.Values{}
	for _, fd := range f.Fields {
		if fd.Name == "" {
			continue
		}
		switch fd.Kind {
		case SubmitField:
		case CheckboxField, RadioField:
			if fd.Checked {
				val := fd.Value
				if val == "" {
					val = "on"
				}
				v.Add(fd.Name, val)
			}
		case SelectField:
			for i, o := range fd.Options {
				if o.Selected || (i == 0 && !anySelected(fd.Options)) {
					v.Add(fd.Name, o.Value)
					break
				}
			}
		default:
			v.Add(fd.Name, fd.Value)
		}
	}
	return v
}

func anySelected(opts []Option) bool {
	for _, o := range opts {
		if o.Selected {
			return true
		}
	}
	return false
}

// Submission is the request a form makes with values: for GET the action
// URL with the values as its query and no body; for POST the action URL
// and the values form-encoded as the body
// (application/x-www-form-urlencoded).
func (f *FormModel) Submission(values url.Values) (method, target, body string, err error) {
	u, err := url.Parse(f.Action)
	if err != nil || !u.IsAbs() {
		return "", "", "", fmt.Errorf("page: form action %q is not an absolute URL", f.Action)
	}
	switch f.Method {
	case "", "GET":
		u.RawQuery = values.Encode()
		u.Fragment = ""
		return "GET", u.String(), "", nil
	case "POST":
		return "POST", u.String(), values.Encode(), nil
	default:
		return "", "", "", fmt.Errorf("page: form method %q is neither GET nor POST", f.Method)
	}
}
