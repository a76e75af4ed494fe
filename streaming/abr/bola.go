package abr

import (
	"math"
	"time"
)

// BolaE is dash.js's BolaRule (BOLA-E, Spiteri et al., MMSys 2018), as
// Sabre implements it: BOLA's buffer-based choice with utility
// ln(b_i/b_0)+1, a placeholder buffer that lets it start at the rendition the
// throughput allows and survive waits, BOLA-O oscillation control, the
// insufficient buffer rule, and its own abandonment rule.
type BolaE struct {
	// BufferTime overrides BOLA's buffer target. Zero means
	// min(BufferMax, max(18 s, 10 s + 2 s × renditions)), at least 10 s plus
	// one segment. Sabre uses max(BufferMax, 10 s + 2 s × renditions).
	BufferTime time.Duration
	// Upward is BOLA-U: when the buffer asks for more than the throughput
	// allows, go one rendition above the throughput's. The default is
	// dash.js's BOLA-O, which stays at max(last, throughput's).
	Upward bool
}

// bolaMemory is what BolaE carries from one choice to the next.
type bolaMemory struct {
	Steady      bool    // past start-up
	Placeholder float64 // ms of virtual buffer
	Last        int     // rendition of the last request
	Safety      float64 // insufficient buffer rule's factor
	Seen        int     // downloads of History already accounted for
}

// Name implements Algorithm.
func (BolaE) Name() string { return "bolae" }

// bolaParams are BOLA's V and γp for a state, and the utilities.
type bolaParams struct {
	vp, gp float64 // ms, dimensionless
	u      []float64
}

func (b BolaE) params(s *State) bolaParams {
	n := len(s.Bitrates)
	buf := msec(b.BufferTime)
	if buf <= 0 {
		buf = math.Max(18000, bolaMinimumBuffer+bolaPerLevelBuffer*float64(n))
		buf = math.Min(buf, msec(s.BufferMax))
	}
	buf = math.Max(buf, bolaMinimumBuffer+msec(s.SegmentDuration))
	u := make([]float64, n)
	for i, br := range s.Bitrates {
		u[i] = math.Log(br) + (1 - math.Log(s.Bitrates[0]))
	}
	gp := (u[n-1] - 1) / (buf/bolaMinimumBuffer - 1)
	if n == 1 {
		gp = 1 // a single rendition: any positive γp gives the same choice
	}
	return bolaParams{vp: bolaMinimumBuffer / gp, gp: gp, u: u}
}

// fromBuffer is BOLA's choice at buffer level (ms): the rendition that
// maximises (V(u_i + γp) − level) / b_i.
func (p bolaParams) fromBuffer(s *State, level float64) int {
	q, best := 0, math.Inf(-1)
	for i, br := range s.Bitrates {
		if sc := (p.vp*(p.u[i]+p.gp) - level) / br; sc > best {
			q, best = i, sc
		}
	}
	return q
}

// minBuffer is the lowest level (ms) at which BOLA prefers q to every lower
// rendition.
func (p bolaParams) minBuffer(s *State, q int) float64 {
	b, u := s.Bitrates[q], p.u[q]
	level := 0.0
	for i := 0; i < q; i++ {
		if p.u[i] < u {
			bi, ui := s.Bitrates[i], p.u[i]
			level = math.Max(level, p.vp*(p.gp+(b*ui-bi*u)/(b-bi)))
		}
	}
	return level
}

// maxBuffer is the level (ms) above which BOLA would rather wait than fetch q.
func (p bolaParams) maxBuffer(q int) float64 { return p.vp * (p.u[q] + p.gp) }

func (b BolaE) memory(s *State) bolaMemory {
	if m, ok := s.Memory.(bolaMemory); ok {
		return m
	}
	return bolaMemory{}
}

// Choose implements Algorithm.
func (b BolaE) Choose(s *State) Decision {
	p := b.params(s)
	m := b.memory(s)
	level := msec(s.Buffer)
	seg := msec(s.SegmentDuration)

	// Account for the downloads since the last choice, as dash.js does when
	// a fragment finishes.
	for _, d := range s.History[min(m.Seen, len(s.History)):] {
		m.Last = d.Rendition
		if !m.Steady {
			continue
		}
		after := msec(d.Buffer)
		if !d.Abandoned {
			// Keep the placeholder between what BOLA would have needed to
			// choose this rendition and what it would have tolerated.
			was := after + msec(d.Latency+d.Transfer)
			m.Placeholder = math.Min(m.Placeholder, math.Max(0, p.maxBuffer(d.Rendition)-was))
			if after > 0 {
				m.Placeholder = math.Max(m.Placeholder, p.minBuffer(s, d.Rendition)-was)
			}
		} else {
			// Something went wrong: shrink the placeholder to a safe level.
			want := bolaMinimumBuffer
			if d.AbandonTo > 0 {
				want = p.minBuffer(s, d.AbandonTo)
			}
			m.Placeholder = math.Min(m.Placeholder, math.Max(0, want-after))
		}
	}
	m.Seen = len(s.History)
	// Waiting for room in a full buffer is not lost: it moves to the
	// placeholder.
	m.Placeholder += msec(s.Idle)

	e := EstimateEWMA(s.History, s.SegmentDuration)
	if !m.Steady {
		if !e.OK {
			return Decision{Rendition: m.Last, Memory: m}
		}
		m.Steady = true
		m.Safety = ibrSafetyInit
		q := FromThroughput(s, e.Kbps, e.Latency)
		m.Placeholder = math.Max(0, p.minBuffer(s, q)-level)
		return Decision{Rendition: q, Memory: m}
	}

	q := p.fromBuffer(s, level+m.Placeholder)
	qt := FromThroughput(s, e.Kbps, e.Latency)
	if q > m.Last && q > qt {
		// BOLA-O: do not climb above what both the last choice and the
		// throughput justify.
		q = max(m.Last, qt)
		if b.Upward {
			q++
		}
	}

	delay := level + m.Placeholder - p.maxBuffer(q)
	if delay > 0 {
		if delay <= m.Placeholder {
			m.Placeholder -= delay
			delay = 0
		} else {
			delay -= m.Placeholder
			m.Placeholder = 0
		}
	} else {
		delay = 0
	}
	if q == len(s.Bitrates)-1 {
		delay = 0
	}

	// Insufficient buffer rule.
	safe := m.Safety * (level - msec(e.Latency)) * e.Kbps
	m.Safety = math.Max(ibrSafetyFloor, m.Safety*ibrSafetyInit)
	for i := 0; i < q; i++ {
		if s.Bitrates[i+1]*seg > safe {
			q = i
			delay = 0
			m.Placeholder = math.Min(m.Placeholder, math.Max(0, p.minBuffer(s, q)-level))
			break
		}
	}
	return Decision{Rendition: q, Delay: dur(delay), Memory: m}
}

// Abandon implements Abandoner with BOLA-E's rule: abandon for a lower
// rendition whose BOLA score, for the whole new segment, beats the score of
// what remains of this one, once the new request's latency is accounted for.
func (b BolaE) Abandon(s *State, pr Progress) (int, bool) {
	remain := pr.Size - pr.Bits
	if pr.Bits <= 0 || remain <= 0 || pr.Elapsed <= pr.Latency {
		return 0, false
	}
	p := b.params(s)
	m := b.memory(s)
	ttfb := msec(pr.Latency)
	bl := math.Max(0, msec(s.Buffer)+m.Placeholder-ttfb)
	rate := pr.Bits / (msec(pr.Elapsed) - ttfb)
	sz := remain - ttfb*rate
	if sz <= 0 {
		return 0, false
	}
	to, ok := 0, false
	score := (p.vp*(p.gp+p.u[pr.Rendition]) - bl) / sz
	for i := 0; i < pr.Rendition; i++ {
		other := pr.Size * s.Bitrates[i] / s.Bitrates[pr.Rendition]
		sc := (p.vp*(p.gp+p.u[i]) - bl) / other
		// The size check matters on its own: with a large buffer a short
		// remainder scores worse than a whole lower segment.
		if other < sz && sc > score {
			score, to, ok = sc, i, true
		}
	}
	return to, ok
}
