//go:build ignore

// icon_gen draws Shoal's icon: a shoal of small fish on a sea-blue rounded
// square, written to icon.png. Run with `go generate ./assets`.
package main

import (
	"image"
	"image/color"
	"image/png"
	"log"
	"math"
	"os"
)

const size = 512

func main() {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	top := color.NRGBA{0x0b, 0x4f, 0x8a, 0xff}
	bottom := color.NRGBA{0x13, 0x9c, 0xa8, 0xff}
	fish := []struct{ x, y, s float64 }{
		{170, 170, 1.0}, {300, 140, 0.8}, {350, 250, 1.1}, {210, 290, 0.9},
		{120, 360, 0.7}, {330, 370, 0.75}, {250, 210, 0.6},
	}
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			if !inRoundedSquare(float64(x)+0.5, float64(y)+0.5) {
				continue
			}
			t := float64(y) / size
			c := lerp(top, bottom, t)
			for _, f := range fish {
				if inFish(float64(x)+0.5, float64(y)+0.5, f.x, f.y, f.s) {
					c = color.NRGBA{0xf4, 0xf8, 0xfb, 0xff}
				}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	out, err := os.Create("icon.png")
	if err != nil {
		log.Fatal(err)
	}
	if err := png.Encode(out, img); err != nil {
		log.Fatal(err)
	}
	if err := out.Close(); err != nil {
		log.Fatal(err)
	}
}

func inRoundedSquare(x, y float64) bool {
	const r, m = 96.0, 16.0
	cx := math.Max(m+r, math.Min(x, size-m-r))
	cy := math.Max(m+r, math.Min(y, size-m-r))
	return math.Hypot(x-cx, y-cy) <= r && x >= m && y >= m && x <= size-m && y <= size-m
}

// inFish: an ellipse body with a triangular tail, swimming right.
func inFish(x, y, fx, fy, s float64) bool {
	dx, dy := (x-fx)/s, (y-fy)/s
	if (dx*dx)/(44*44)+(dy*dy)/(22*22) <= 1 {
		return !(math.Hypot(dx-24, dy+5) < 5) // the eye
	}
	tx := -dx - 38
	return tx >= 0 && tx <= 30 && math.Abs(dy) <= tx*0.8
}

func lerp(a, b color.NRGBA, t float64) color.NRGBA {
	m := func(p, q uint8) uint8 { return uint8(float64(p) + (float64(q)-float64(p))*t) }
	return color.NRGBA{m(a.R, b.R), m(a.G, b.G), m(a.B, b.B), 0xff}
}
