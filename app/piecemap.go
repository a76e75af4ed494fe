package app

import (
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// A piece map draws a cell per piece while each cell gets minCellWidth
// pixels and a gap, and at most maxPieceCells cells; an item with more
// pieces draws a cell per run of pieces, filled by the share that is
// verified.
const (
	maxPieceCells = 250
	minCellWidth  = 3
	cellGap       = 1
)

// pieceMap draws an item's pieces as a row of small cells, filled where a
// piece is verified.
type pieceMap struct {
	widget.BaseWidget
	numPieces int
	bitfield  []byte
}

func newPieceMap() *pieceMap {
	m := &pieceMap{}
	m.ExtendBaseWidget(m)
	return m
}

// set shows numPieces pieces whose verified ones are the set bits of
// bitfield, most significant bit of byte 0 first (engine.Status.Pieces).
func (m *pieceMap) set(numPieces int, bitfield []byte) {
	m.numPieces, m.bitfield = numPieces, bitfield
	m.Refresh()
}

// cellsFor is how many cells fit in width.
func cellsFor(width float32) int {
	if width <= 0 {
		return maxPieceCells
	}
	return min(max(int((width+cellGap)/(minCellWidth+cellGap)), 1), maxPieceCells)
}

// pieceCells groups numPieces pieces into at most maxCells cells and gives
// each the share of its pieces whose bit is set.
func pieceCells(numPieces int, bitfield []byte, maxCells int) []float32 {
	if numPieces <= 0 {
		return nil
	}
	per := (numPieces + maxCells - 1) / maxCells
	cells := make([]float32, (numPieces+per-1)/per)
	for c := range cells {
		first, end := c*per, min((c+1)*per, numPieces)
		done := 0
		for i := first; i < end; i++ {
			if i/8 < len(bitfield) && bitfield[i/8]&(0x80>>(i%8)) != 0 {
				done++
			}
		}
		cells[c] = float32(done) / float32(end-first)
	}
	return cells
}

// pieceColor is the fill of a cell with share done of its pieces verified.
func pieceColor(done float32) color.Color {
	if done <= 0 {
		return theme.Color(theme.ColorNameInputBorder)
	}
	r, g, b, _ := theme.Color(theme.ColorNamePrimary).RGBA()
	a := uint8(255)
	if done < 1 {
		a = uint8(80 + 140*done)
	}
	return color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: a}
}

func (m *pieceMap) CreateRenderer() fyne.WidgetRenderer {
	r := &pieceMapRenderer{m: m}
	r.Refresh()
	return r
}

type pieceMapRenderer struct {
	m     *pieceMap
	rects []*canvas.Rectangle
	objs  []fyne.CanvasObject
	size  fyne.Size
}

// pieceMapHeight is the height of the row of cells.
const pieceMapHeight = 10

func (r *pieceMapRenderer) MinSize() fyne.Size { return fyne.NewSize(40, pieceMapHeight) }

// Layout fits as many cells as the width allows, so it draws them too.
func (r *pieceMapRenderer) Layout(size fyne.Size) {
	r.size = size
	r.draw()
}

func (r *pieceMapRenderer) Refresh() { r.draw() }

func (r *pieceMapRenderer) draw() {
	cells := pieceCells(r.m.numPieces, r.m.bitfield, cellsFor(r.size.Width))
	if len(r.rects) != len(cells) {
		r.rects = make([]*canvas.Rectangle, len(cells))
		r.objs = make([]fyne.CanvasObject, len(cells))
		for i := range cells {
			r.rects[i] = canvas.NewRectangle(nil)
			r.objs[i] = r.rects[i]
		}
	}
	n := float32(len(cells))
	w := (r.size.Width - cellGap*(n-1)) / n
	for i, done := range cells {
		rect := r.rects[i]
		rect.FillColor = pieceColor(done)
		rect.Move(fyne.NewPos(float32(i)*(w+cellGap), 0))
		rect.Resize(fyne.NewSize(w, r.size.Height))
		rect.Refresh()
	}
}

func (r *pieceMapRenderer) Objects() []fyne.CanvasObject { return r.objs }

func (r *pieceMapRenderer) Destroy() {}
