package packager

import (
	"math"
)

// Rendition is one video rung of the ladder.
type Rendition struct {
	Width   int `json:"width"`
	Height  int `json:"height"`
	Bitrate int `json:"bitrate"` // target video bitrate, bits/s
	MaxRate int `json:"maxrate"` // VBV peak rate, bits/s
	BufSize int `json:"bufsize"` // VBV buffer, bits
}

// Audio is the audio rendition (one for all video rungs).
type Audio struct {
	Bitrate    int `json:"bitrate"` // bits/s
	Channels   int `json:"channels"`
	SampleRate int `json:"sample_rate"`
}

// The ladder's rules.
const (
	// MaxRenditions bounds the ladder's length.
	MaxRenditions = 5
	// MaxShortSide is the largest rung by its short side (1080p): a desktop
	// node packages in reasonable time, and peers stream it.
	MaxShortSide = 1080
	// rungSpacing: a standard rung is used only if its short side is at
	// most this fraction of the rung above, so no two rungs are nearly the
	// same.
	rungSpacing = 0.85
)

// standardShortSides are the rungs below the source's own size, by the
// short side (the height of a landscape video, the width of a portrait one).
var standardShortSides = []int{1080, 720, 480, 360, 240, 144}

// bitsPerPixel is the target bits per pixel per frame at 30 fps by short
// side; smaller pictures need more bits per pixel for the same look.
// Between the points, bitsPerPixel is interpolated linearly.
var bitsPerPixel = []struct {
	short int
	bpp   float64
}{
	{144, 0.15}, {240, 0.12}, {360, 0.105}, {480, 0.095}, {720, 0.085}, {1080, 0.075},
}

// Ladder chooses the video renditions for a source, largest first:
//
//   - the top rung is the source's own size (even numbers, rounded down),
//     or 1080 on the short side if the source is larger;
//   - below it come the standard short sides 720, 480, 360, 240 and 144
//     that are at most 0.85 of the rung above, up to five rungs in all;
//     a portrait source ladders by its width, the short side;
//   - the long side keeps the source's display aspect ratio, rounded to an
//     even number (ffmpeg's scale then sets the sample aspect ratio so that
//     every rung shows exactly the source's shape);
//   - the bitrate is width × height × frame rate × bits per pixel (the table
//     bitsPerPixel; frame rates above 30 count as 30 × (fps/30)^0.6, since
//     the extra frames are cheap to code), capped by the source's own video
//     bitrate scaled by (rung pixels / source pixels)^0.75, so no rung is
//     above what the source carries; peak rate 1.5×, buffer 2× the bitrate.
//
// Ladder is a pure function of the source. A source smaller than 2×2
// pixels gets an empty ladder.
func Ladder(src Source) []Rendition {
	w, h := src.Width, src.Height
	if w < 2 || h < 2 {
		return nil
	}
	short, long := h, w
	portrait := h > w
	if portrait {
		short, long = w, h
	}
	top := even(short)
	if top > MaxShortSide {
		top = MaxShortSide
	}
	sides := []int{top}
	for _, s := range standardShortSides {
		if len(sides) == MaxRenditions {
			break
		}
		if float64(s) <= rungSpacing*float64(sides[len(sides)-1]) {
			sides = append(sides, s)
		}
	}

	srcPixels := float64(w) * float64(h)
	out := make([]Rendition, 0, len(sides))
	for _, s := range sides {
		l := roundEven(float64(s) * float64(long) / float64(short))
		if l > even(long) {
			l = even(long)
		}
		if l < 2 {
			l = 2
		}
		r := Rendition{Width: l, Height: s}
		if portrait {
			r.Width, r.Height = s, l
		}
		pixels := float64(r.Width) * float64(r.Height)
		bitrate := pixels * effectiveFrameRate(src.FrameRate) * interpolateBPP(s)
		if src.VideoBitrate > 0 {
			capped := float64(src.VideoBitrate) * math.Pow(math.Min(1, pixels/srcPixels), 0.75)
			bitrate = math.Min(bitrate, capped)
		}
		r.Bitrate = roundBitrate(bitrate)
		r.MaxRate = roundBitrate(1.5 * float64(r.Bitrate))
		r.BufSize = 2 * r.Bitrate
		out = append(out, r)
	}
	return out
}

// AudioFor is the audio rendition for a source: AAC at 128 kb/s stereo, or
// 64 kb/s for a mono source; the sampling rate is kept if it is 44.1 or
// 48 kHz, otherwise resampled to 48 kHz. A source without audio gets nil.
func AudioFor(src Source) *Audio {
	if !src.HasAudio {
		return nil
	}
	a := &Audio{Bitrate: 128000, Channels: 2, SampleRate: 48000}
	if src.AudioChannels == 1 {
		a.Bitrate, a.Channels = 64000, 1
	}
	if src.AudioSampleRate == 44100 {
		a.SampleRate = 44100
	}
	return a
}

// KeyframeInterval is the number of frames between keyframes for a segment
// duration (in seconds) at a frame rate: segment boundaries then fall on
// keyframes in every rendition alike.
func KeyframeInterval(segmentSeconds, fps float64) int {
	g := int(math.Round(segmentSeconds * fps))
	if g < 1 {
		g = 1
	}
	return g
}

func effectiveFrameRate(fps float64) float64 {
	if fps <= 0 {
		return 30
	}
	if fps <= 30 {
		return fps
	}
	return 30 * math.Pow(fps/30, 0.6)
}

func interpolateBPP(short int) float64 {
	t := bitsPerPixel
	if short <= t[0].short {
		return t[0].bpp
	}
	for i := 1; i < len(t); i++ {
		if short <= t[i].short {
			f := float64(short-t[i-1].short) / float64(t[i].short-t[i-1].short)
			return t[i-1].bpp + f*(t[i].bpp-t[i-1].bpp)
		}
	}
	return t[len(t)-1].bpp
}

// even rounds n down to an even number.
func even(n int) int { return n &^ 1 }

// roundEven rounds x to the nearest even integer.
func roundEven(x float64) int { return 2 * int(math.Round(x/2)) }

// roundBitrate rounds to 1 kb/s, at least 1 kb/s.
func roundBitrate(b float64) int {
	r := int(math.Round(b/1000)) * 1000
	if r < 1000 {
		r = 1000
	}
	return r
}
