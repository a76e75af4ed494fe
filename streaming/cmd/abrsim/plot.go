package main

import (
	"bytes"
	"fmt"
	"html"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"strings"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/shoal-p2p/shoal/streaming/abrsim"
)

// canvas is what a plot is drawn on: SVG text or a PNG image.
type canvas interface {
	line(pts [][2]float64, c color.RGBA, width float64)
	text(x, y float64, s string, anchorEnd bool)
}

// Plot geometry, in pixels.
const (
	plotW, plotH    = 960, 560
	left, right     = 70, 20
	panelH          = 200
	topY, bottomY   = 50, 310
	legendY         = plotH - 20
	bitrateHeadroom = 1.05
)

var palette = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xd6, 0x27, 0x28, 0xff}, {0x2c, 0xa0, 0x2c, 0xff},
	{0x94, 0x67, 0xbd, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x8c, 0x56, 0x4b, 0xff},
}

var black = color.RGBA{0, 0, 0, 0xff}
var grey = color.RGBA{0xbb, 0xbb, 0xbb, 0xff}

// writePlot draws each session's bitrate (top) and buffer level (bottom)
// over time into path (.svg or .png).
func writePlot(path, trace string, buffer time.Duration, rs []abrsim.Result) error {
	var maxT, maxKbps float64
	for _, r := range rs {
		for _, s := range r.Timeline {
			maxT = math.Max(maxT, s.At.Seconds())
			maxKbps = math.Max(maxKbps, s.Kbps)
		}
	}
	if maxT == 0 {
		return fmt.Errorf("abrsim: nothing to plot")
	}
	maxKbps *= bitrateHeadroom
	maxBuf := buffer.Seconds()
	x := func(t float64) float64 { return left + t/maxT*(plotW-left-right) }
	yRate := func(k float64) float64 { return topY + panelH - k/maxKbps*panelH }
	yBuf := func(b float64) float64 { return bottomY + panelH - b/maxBuf*panelH }

	draw := func(c canvas) {
		c.text(left, 25, "abrsim: "+trace+": bitrate (kbps, top) and buffer level (s, bottom) over time (s)", false)
		for _, top := range []float64{topY, bottomY} {
			c.line([][2]float64{{left, top}, {left, top + panelH}, {plotW - right, top + panelH}}, black, 1)
		}
		for i := 0; i <= 5; i++ {
			k := maxKbps / bitrateHeadroom * float64(i) / 5
			c.line([][2]float64{{left - 4, yRate(k)}, {left, yRate(k)}}, black, 1)
			c.text(left-6, yRate(k)+4, fmt.Sprintf("%.0f", k), true)
			b := maxBuf * float64(i) / 5
			c.line([][2]float64{{left - 4, yBuf(b)}, {left, yBuf(b)}}, black, 1)
			c.text(left-6, yBuf(b)+4, fmt.Sprintf("%.0f", b), true)
		}
		step := niceStep(maxT / 8)
		for t := 0.0; t <= maxT; t += step {
			for _, top := range []float64{topY, bottomY} {
				c.line([][2]float64{{x(t), top + panelH}, {x(t), top + panelH + 4}}, black, 1)
				c.text(x(t)+3, top+panelH+16, fmt.Sprintf("%.0f", t), false)
			}
		}
		c.line([][2]float64{{left, yBuf(maxBuf)}, {plotW - right, yBuf(maxBuf)}}, grey, 1)
		for i, r := range rs {
			col := palette[i%len(palette)]
			var rate, buf [][2]float64
			for j, s := range r.Timeline {
				t := s.At.Seconds()
				if j > 0 {
					rate = append(rate, [2]float64{x(t), rate[len(rate)-1][1]})
				}
				rate = append(rate, [2]float64{x(t), yRate(s.Kbps)})
				buf = append(buf, [2]float64{x(t), yBuf(s.Buffer.Seconds())})
			}
			c.line(rate, col, 1.5)
			c.line(buf, col, 1.5)
			lx := left + float64(i)*150
			c.line([][2]float64{{lx, legendY - 4}, {lx + 24, legendY - 4}}, col, 3)
			c.text(lx+30, legendY, fmt.Sprintf("%s %.3f", r.Algorithm, r.QoE.PerSegment()), false)
		}
	}

	var out []byte
	if strings.HasSuffix(path, ".svg") {
		s := &svg{}
		fmt.Fprintf(&s.b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", plotW, plotH)
		fmt.Fprintf(&s.b, `<rect width="%d" height="%d" fill="white"/>`+"\n", plotW, plotH)
		draw(s)
		s.b.WriteString("</svg>\n")
		out = s.b.Bytes()
	} else {
		p := &raster{img: image.NewRGBA(image.Rect(0, 0, plotW, plotH))}
		for i := range p.img.Pix {
			p.img.Pix[i] = 0xff
		}
		draw(p)
		var b bytes.Buffer
		if err := png.Encode(&b, p.img); err != nil {
			return fmt.Errorf("abrsim: plot: %w", err)
		}
		out = b.Bytes()
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return fmt.Errorf("abrsim: plot: %w", err)
	}
	return nil
}

// niceStep rounds a tick spacing up to 1, 2 or 5 times a power of ten.
func niceStep(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

type svg struct{ b bytes.Buffer }

func (s *svg) line(pts [][2]float64, c color.RGBA, width float64) {
	if len(pts) < 2 {
		return
	}
	fmt.Fprintf(&s.b, `<polyline fill="none" stroke="#%02x%02x%02x" stroke-width="%g" points="`, c.R, c.G, c.B, width)
	for i, p := range pts {
		if i > 0 {
			s.b.WriteByte(' ')
		}
		fmt.Fprintf(&s.b, "%.1f,%.1f", p[0], p[1])
	}
	s.b.WriteString(`"/>` + "\n")
}

func (s *svg) text(x, y float64, t string, anchorEnd bool) {
	anchor := ""
	if anchorEnd {
		anchor = ` text-anchor="end"`
	}
	fmt.Fprintf(&s.b, `<text x="%.1f" y="%.1f"%s>%s</text>`+"\n", x, y, anchor, html.EscapeString(t))
}

type raster struct{ img *image.RGBA }

func (r *raster) line(pts [][2]float64, c color.RGBA, width float64) {
	for i := 1; i < len(pts); i++ {
		x0, y0, x1, y1 := pts[i-1][0], pts[i-1][1], pts[i][0], pts[i][1]
		n := int(math.Max(math.Abs(x1-x0), math.Abs(y1-y0))) + 1
		for j := 0; j <= n; j++ {
			f := float64(j) / float64(n)
			px, py := x0+(x1-x0)*f, y0+(y1-y0)*f
			for d := 0.0; d < width; d++ {
				r.img.SetRGBA(int(px), int(py+d), c)
			}
		}
	}
}

func (r *raster) text(x, y float64, s string, anchorEnd bool) {
	d := &font.Drawer{Dst: r.img, Src: image.NewUniform(black), Face: basicfont.Face7x13}
	if anchorEnd {
		x -= float64(d.MeasureString(s).Round())
	}
	d.Dot = fixed.P(int(x), int(y))
	d.DrawString(s)
}
