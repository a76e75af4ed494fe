package app

import (
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// rateSamples is how many samples the rate plot keeps, one a second.
const rateSamples = 120

// ratePlot draws the node's upload and download rates over the last
// rateSamples samples as two lines, the newest at the right, on an axis
// that grows with the peak.
type ratePlot struct {
	widget.BaseWidget
	up, down []int64 // bytes/s, oldest first
}

func newRatePlot() *ratePlot {
	p := &ratePlot{}
	p.ExtendBaseWidget(p)
	return p
}

// add appends one sample of each rate, dropping the oldest beyond
// rateSamples. UI goroutine only.
func (p *ratePlot) add(up, down int64) {
	p.up = appendSample(p.up, up)
	p.down = appendSample(p.down, down)
	p.Refresh()
}

func appendSample(s []int64, v int64) []int64 {
	if len(s) == rateSamples {
		copy(s, s[1:])
		s = s[:rateSamples-1]
	}
	return append(s, max(v, 0))
}

// plotMax is the top of the rate axis for a peak rate: the peak rounded
// up to 1, 2 or 5 times a power of ten of the unit formatBytes shows it in,
// and at least 1 KiB/s.
func plotMax(peak int64) int64 {
	if peak <= 1024 {
		return 1024
	}
	unit := int64(1)
	for peak/unit >= 1024 {
		unit *= 1024
	}
	v := float64(peak) / float64(unit)
	for _, step := range []float64{1, 2, 5, 10, 20, 50, 100, 200, 500} {
		if v <= step {
			return int64(step * float64(unit))
		}
	}
	return 1024 * unit
}

// Colours of the two series.
func downColor() color.Color { return theme.Color(theme.ColorNamePrimary) }
func upColor() color.Color   { return theme.Color(theme.ColorNameSuccess) }

func (p *ratePlot) CreateRenderer() fyne.WidgetRenderer {
	r := &ratePlotRenderer{p: p, bg: canvas.NewRectangle(nil)}
	r.objs = append(r.objs, r.bg)
	for i := range r.grid {
		r.grid[i] = canvas.NewLine(nil)
		r.objs = append(r.objs, r.grid[i])
	}
	for i := range r.yLabels {
		r.yLabels[i] = axisText("")
		r.objs = append(r.objs, r.yLabels[i])
	}
	for i, s := range []string{"2 min ago", "1 min ago", "now"} {
		r.xLabels[i] = axisText(s)
		r.objs = append(r.objs, r.xLabels[i])
	}
	r.downKey, r.upKey = canvas.NewRectangle(nil), canvas.NewRectangle(nil)
	r.downText, r.upText = axisText(""), axisText("")
	r.objs = append(r.objs, r.downKey, r.downText, r.upKey, r.upText)
	for i := range r.down {
		r.down[i], r.up[i] = canvas.NewLine(nil), canvas.NewLine(nil)
		r.down[i].StrokeWidth, r.up[i].StrokeWidth = 2, 2
		r.objs = append(r.objs, r.up[i], r.down[i])
	}
	r.Refresh()
	return r
}

func axisText(s string) *canvas.Text {
	t := canvas.NewText(s, nil)
	t.TextSize = theme.CaptionTextSize()
	return t
}

type ratePlotRenderer struct {
	p       *ratePlot
	bg      *canvas.Rectangle
	grid    [3]*canvas.Line // at the top, the middle and the bottom of the axis
	yLabels [3]*canvas.Text // the rates of the grid lines
	xLabels [3]*canvas.Text
	// The legend: a colour key and the current rate of each series.
	downKey, upKey   *canvas.Rectangle
	downText, upText *canvas.Text
	// down[i] and up[i] join sample i to sample i+1.
	down, up [rateSamples - 1]*canvas.Line
	objs     []fyne.CanvasObject
	size     fyne.Size
}

func (r *ratePlotRenderer) MinSize() fyne.Size {
	h := fyne.MeasureText("0", theme.CaptionTextSize(), fyne.TextStyle{}).Height
	return fyne.NewSize(240, 6*h)
}

func (r *ratePlotRenderer) Objects() []fyne.CanvasObject { return r.objs }

func (r *ratePlotRenderer) Destroy() {}

// Refresh sets texts and colours for the current samples and theme, and
// draws the lines.
func (r *ratePlotRenderer) Refresh() {
	p := r.p
	top := plotMax(max(peak(p.up), peak(p.down)))
	r.yLabels[0].Text = formatRate(top)
	r.yLabels[1].Text = formatRate(top / 2)
	r.yLabels[2].Text = "0"
	r.downText.Text = "download " + formatRate(last(p.down))
	r.upText.Text = "upload " + formatRate(last(p.up))

	r.bg.FillColor = theme.Color(theme.ColorNameInputBackground)
	r.bg.CornerRadius = theme.InputRadiusSize()
	for _, g := range r.grid {
		g.StrokeColor, g.StrokeWidth = theme.Color(theme.ColorNameSeparator), 1
	}
	for _, t := range append(r.yLabels[:], r.xLabels[:]...) {
		t.Color = theme.Color(theme.ColorNamePlaceHolder)
	}
	r.downText.Color, r.upText.Color = theme.Color(theme.ColorNameForeground), theme.Color(theme.ColorNameForeground)
	r.downKey.FillColor, r.upKey.FillColor = downColor(), upColor()
	for i := range r.down {
		r.down[i].StrokeColor, r.up[i].StrokeColor = downColor(), upColor()
	}
	r.Layout(r.size)
	for _, o := range r.objs {
		o.Refresh()
	}
}

func peak(s []int64) int64 {
	var m int64
	for _, v := range s {
		m = max(m, v)
	}
	return m
}

func last(s []int64) int64 {
	if len(s) == 0 {
		return 0
	}
	return s[len(s)-1]
}

// Layout places the legend on top, the rate axis on the left, the time axis
// below, and the lines in between.
func (r *ratePlotRenderer) Layout(size fyne.Size) {
	r.size = size
	pad := theme.Padding()
	for _, t := range append(append(r.yLabels[:], r.xLabels[:]...), r.downText, r.upText) {
		t.Resize(t.MinSize())
	}
	textH := r.xLabels[0].MinSize().Height
	r.bg.Move(fyne.NewPos(0, 0))
	r.bg.Resize(size)

	// Legend.
	key := fyne.NewSize(14, 4)
	x := 2 * pad
	for _, l := range []struct {
		key  *canvas.Rectangle
		text *canvas.Text
	}{{r.downKey, r.downText}, {r.upKey, r.upText}} {
		l.key.Resize(key)
		l.key.Move(fyne.NewPos(x, pad+(textH-key.Height)/2))
		x += key.Width + pad
		l.text.Move(fyne.NewPos(x, pad))
		x += l.text.MinSize().Width + 4*pad
	}

	var labelW float32
	for _, t := range r.yLabels {
		labelW = max(labelW, t.MinSize().Width)
	}
	left, right := 2*pad+labelW+pad, size.Width-3*pad
	top, bottom := pad+textH+pad+textH/2, size.Height-pad-textH-pad
	if right <= left || bottom <= top {
		r.hideLines()
		return
	}
	for i, g := range r.grid {
		y := top + (bottom-top)*float32(i)/2
		g.Position1, g.Position2 = fyne.NewPos(left, y), fyne.NewPos(right, y)
		l := r.yLabels[i]
		l.Move(fyne.NewPos(left-pad-l.MinSize().Width, y-textH/2))
	}
	for i, l := range r.xLabels {
		x := left + (right-left)*float32(i)/2 - l.MinSize().Width*float32(i)/2
		l.Move(fyne.NewPos(x, bottom+pad))
	}

	axisTop := float64(plotMax(max(peak(r.p.up), peak(r.p.down))))
	dx := (right - left) / (rateSamples - 1)
	point := func(s []int64, i int) fyne.Position {
		x := right - float32(len(s)-1-i)*dx
		return fyne.NewPos(x, bottom-float32(float64(s[i])/axisTop)*(bottom-top))
	}
	for _, series := range []struct {
		samples []int64
		lines   []*canvas.Line
	}{{r.p.down, r.down[:]}, {r.p.up, r.up[:]}} {
		for i, l := range series.lines {
			if i+1 >= len(series.samples) {
				l.Hide()
				continue
			}
			l.Position1, l.Position2 = point(series.samples, i), point(series.samples, i+1)
			l.Show()
		}
	}
}

// hideLines hides every line, when there is no room to draw.
func (r *ratePlotRenderer) hideLines() {
	for i := range r.down {
		r.down[i].Hide()
		r.up[i].Hide()
	}
}
