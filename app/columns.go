package app

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// columns lays out the cells of a table row side by side: a column with a
// width keeps it, and the columns of width 0 share what is left, so a
// header and the rows below it line up.
type columns []float32

func (c columns) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	pad := theme.Padding()
	var fixed float32
	flexible := 0
	for _, w := range c {
		fixed += w
		if w == 0 {
			flexible++
		}
	}
	flex := float32(0)
	if flexible > 0 {
		flex = max(0, size.Width-fixed-pad*float32(len(c)-1)) / float32(flexible)
	}
	x := float32(0)
	for i, o := range objs {
		if i >= len(c) {
			o.Hide()
			continue
		}
		w := c[i]
		if w == 0 {
			w = flex
		}
		h := min(o.MinSize().Height, size.Height)
		o.Move(fyne.NewPos(x, (size.Height-h)/2))
		o.Resize(fyne.NewSize(w, h))
		x += w + pad
	}
}

func (c columns) MinSize(objs []fyne.CanvasObject) fyne.Size {
	var w, h float32
	for i, o := range objs {
		if i >= len(c) {
			break
		}
		m := o.MinSize()
		w += max(c[i], min(m.Width, 40))
		h = max(h, m.Height)
	}
	return fyne.NewSize(w+theme.Padding()*float32(len(c)-1), h)
}

// row puts cells in a container laid out by c.
func (c columns) row(cells ...fyne.CanvasObject) *fyne.Container {
	return container.New(c, cells...)
}

// header is a row of bold column titles.
func (c columns) header(titles ...string) *fyne.Container {
	cells := make([]fyne.CanvasObject, len(titles))
	for i, t := range titles {
		l := widget.NewLabelWithStyle(t, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
		l.Truncation = fyne.TextTruncateEllipsis
		cells[i] = l
	}
	return c.row(cells...)
}

// cellLabel is a label for a table cell that shortens what does not fit.
func cellLabel() *widget.Label {
	l := widget.NewLabel("")
	l.Truncation = fyne.TextTruncateEllipsis
	return l
}
