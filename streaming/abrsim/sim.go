package abrsim

import (
	"fmt"
	"math"
	"time"

	"github.com/shoal-p2p/shoal/streaming/abr"
)

// DefaultBuffer is the buffer maximum of a simulated player.
const DefaultBuffer = 25 * time.Second

// Progress checks during a download happen after at least this many bits
// and this much time since the previous check, as in Sabre.
const (
	progressBits = 12000
	progressTime = 50.0 // ms
)

// Config is how a simulated player behaves.
type Config struct {
	Buffer    time.Duration // buffer maximum; 0 means DefaultBuffer
	NoAbandon bool          // never call the abandonment rule
	Timeline  bool          // record Result.Timeline
	// Holders, when set, tells the algorithm what the group holds of
	// segment seg (P2P experiments); a segment held locally then costs no
	// download.
	Holders func(seg int) abr.Holders
}

func (c Config) buffer() time.Duration {
	if c.Buffer > 0 {
		return c.Buffer
	}
	return DefaultBuffer
}

// Sample is one point of a session's time line.
type Sample struct {
	At     time.Duration // since the first request
	Buffer time.Duration
	Kbps   float64 // bitrate of the latest segment downloaded
}

// Result is one simulated session.
type Result struct {
	Algorithm  string
	Trace      string
	Segment    time.Duration // the movie's segment duration
	QoE        abr.QoE
	Renditions []int // per segment, as downloaded
	Abandoned  int   // downloads given up
	Wall       time.Duration
	Timeline   []Sample
}

// player is the buffer of a simulated session, kept as Sabre keeps it: the
// renditions of the whole segments buffered and how much of the first one
// has played (ms).
type player struct {
	m        *Movie
	seg      float64 // ms
	contents []int
	played   float64
	stalled  bool
	qoe      *abr.QoE
}

func (p *player) level() float64 { return p.seg*float64(len(p.contents)) - p.played }

// drain plays t ms of wall time: segments are counted in the QoE as they
// start, an empty buffer counts as rebuffering.
func (p *player) drain(t float64) {
	for t > 0 && len(p.contents) > 0 {
		if p.played == 0 {
			p.qoe.Played(p.m.Bitrates[p.contents[0]])
		}
		left := p.seg - p.played
		if t < left {
			p.played += t
			return
		}
		t -= left
		p.contents = p.contents[1:]
		p.played = 0
	}
	if t > 0 {
		p.qoe.Stall(msDuration(t), !p.stalled)
		p.stalled = true
	}
}

func (p *player) add(r int) {
	p.contents = append(p.contents, r)
	p.stalled = false
}

// Run plays movie m over trace t with algorithm a.
func Run(m *Movie, t *Trace, a abr.Algorithm, c Config) (*Result, error) {
	if err := t.validate(); err != nil {
		return nil, fmt.Errorf("abrsim: trace %s: %w", t.Name, err)
	}
	bufMax := c.buffer()
	if bufMax < m.SegmentDuration {
		return nil, fmt.Errorf("abrsim: buffer %v is shorter than a segment (%v)", bufMax, m.SegmentDuration)
	}
	net := newNetwork(t)
	res := &Result{Algorithm: a.Name(), Trace: t.Name, Segment: m.SegmentDuration}
	p := &player{m: m, seg: float64(m.SegmentDuration) / 1e6, qoe: &res.QoE}
	bufMaxMs := float64(bufMax) / 1e6
	n := len(m.Sizes)

	var now float64 // ms
	var history []abr.Download
	var memory any
	var idle float64
	lastKbps := 0.0
	sample := func() {
		if c.Timeline {
			res.Timeline = append(res.Timeline, Sample{At: msDuration(now), Buffer: msDuration(p.level()), Kbps: lastKbps})
		}
	}
	state := func(seg int) *abr.State {
		s := &abr.State{
			Segment:         seg,
			Segments:        n,
			SegmentDuration: m.SegmentDuration,
			Bitrates:        m.Bitrates,
			Sizes:           m.Sizes,
			Buffer:          msDuration(p.level()),
			BufferMax:       bufMax,
			History:         history,
			Idle:            msDuration(idle),
			Memory:          memory,
		}
		if c.Holders != nil {
			for k := seg; k < min(seg+8, n); k++ {
				s.Holders = append(s.Holders, c.Holders(k))
			}
		}
		return s
	}

	for seg := 0; seg < n; {
		if seg > 0 {
			// Wait for room for a whole segment.
			if full := p.level() + p.seg - bufMaxMs; full > 0 {
				p.drain(full)
				now += full
				idle += full
				sample()
			}
		}
		s := state(seg)
		d := a.Choose(s)
		if d.Rendition < 0 || d.Rendition >= len(m.Bitrates) {
			return nil, fmt.Errorf("abrsim: %s chose rendition %d of %d for segment %d", a.Name(), d.Rendition, len(m.Bitrates), seg)
		}
		memory, idle = d.Memory, 0
		if wait := float64(d.Delay) / 1e6; wait > 0 && seg > 0 {
			p.drain(wait)
			now += wait
			sample()
		}
		r := d.Rendition
		size := m.Sizes[seg][r]
		dl := abr.Download{Segment: seg, Rendition: r, Size: size}
		level0 := p.level()
		start := now
		var first, end float64
		if c.Holders != nil && isLocal(c.Holders(seg), r) {
			first, end = now, now
		} else {
			first, end = net.fetch(now, size)
		}
		if seg > 0 && !c.NoAbandon && end > first {
			// Check progress as the bits arrive: after at least
			// progressBits and progressTime since the previous check, the
			// first one's time counted from the request as in Sabre.
			startBits := net.bitsAt(first)
			at, prev := first, start
			for at < end {
				got := net.bitsAt(at) - startBits
				next := math.Max(prev+progressTime, net.timeFor(startBits+got+progressBits))
				prev = next
				if next >= end {
					break
				}
				at = next
				got = net.bitsAt(at) - startBits
				s.Buffer = msDuration(math.Max(0, level0-(at-start)))
				s.Memory = memory
				to, ok := abr.ShouldAbandon(a, s, abr.Progress{
					Segment: seg, Rendition: r, Size: size, Bits: got,
					Elapsed: msDuration(at - start), Latency: msDuration(first - start),
				})
				if ok && to < r {
					dl.Abandoned, dl.AbandonTo, dl.Bits = true, to, got
					end = at
					break
				}
			}
		}
		if !dl.Abandoned {
			dl.Bits = size
		}
		dl.Latency = msDuration(first - start)
		dl.Transfer = msDuration(end - first)
		if seg > 0 {
			if c.Timeline && level0 > 0 && level0 < end-start {
				res.Timeline = append(res.Timeline, Sample{At: msDuration(start + level0), Kbps: lastKbps})
			}
			p.drain(end - start)
		} else {
			res.QoE.Startup = msDuration(end - start)
		}
		now = end
		if dl.Abandoned {
			res.Abandoned++
		} else {
			p.add(r)
			res.Renditions = append(res.Renditions, r)
			lastKbps = m.Bitrates[r]
			seg++
		}
		dl.Buffer = msDuration(p.level())
		history = append(history, dl)
		sample()
	}
	// Play out what is left.
	now += p.level()
	p.drain(p.level())
	sample()
	res.Wall = msDuration(now)
	return res, nil
}

func isLocal(h abr.Holders, r int) bool { return r < len(h.Local) && h.Local[r] }
