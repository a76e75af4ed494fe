package abr

import (
	"math"
	"time"
)

// Shoal is Shoal's own algorithm and the default: a robust model-predictive
// choice (RobustMPC, Yin et al. 2015) over the known segment sizes, which
// plans the next Horizon segments to maximise QoE_lin, with throughput
// predicted as the harmonic mean of the last five downloads divided by one
// plus the largest recent prediction error.
//
// Four additions make it hold up on links with outages and on fast links
// that dip for a moment:
//   - the prediction error the plan discounts by is capped (ErrorCap): one
//     slow download after a fast run would otherwise divide the prediction
//     by ten for five segments and throw away a full buffer's worth of
//     quality;
//   - a plan is charged for ending its horizon below a buffer reserve, as
//     if the link then stalled for part of the shortfall: a short horizon
//     otherwise spends the buffer it needs at the next outage. The reserve
//     is min(Reserve, Buffer + Growth), so start-up is not held back;
//   - both the error discount and the reserve charge are scaled by the
//     share of the last ten downloads slower than the top rendition: on a
//     link usually faster than the ladder a dip is ridden out on the
//     buffer, on one usually slower every margin counts;
//   - its own abandonment rule (Abandon) gives up a download that would
//     stall playback when a lower rendition fetched now scores better, and
//     the retry of that segment never goes above the rendition proposed.
//
// P2P knowledge enters the plan directly: a segment already held locally
// costs no download time, and one held by members is fetched after their
// round trip rather than the measured latency, with the prediction error
// discounted less the more members hold it.
type Shoal struct {
	Horizon int // segments planned ahead; 0 means 4
	// Reserve is the buffer a plan should keep at the end of its horizon;
	// 0 means DefaultReserve, negative means none (plain RobustMPC).
	Reserve time.Duration
	// ReserveWeight is the QoE_lin charged per second a plan ends below
	// Reserve, in units of the rebuffering penalty; 0 means
	// DefaultReserveWeight.
	ReserveWeight float64
	// ErrorCap bounds the relative prediction error the plan discounts the
	// throughput by; 0 means DefaultErrorCap, negative means no bound.
	ErrorCap float64
	// Growth is how far above the current buffer level the reserve a plan
	// is charged for may be: the reserve is min(Reserve, Buffer + Growth).
	// 0 means DefaultGrowth, negative means 0.
	Growth time.Duration
}

// DefaultGrowth is Shoal's default Growth.
const DefaultGrowth = 4 * time.Second

// DefaultErrorCap is Shoal's default bound on the prediction error.
const DefaultErrorCap = 0.4

// DefaultReserveWeight is Shoal's default weight of a missing second of
// reserve, relative to a second of rebuffering.
const DefaultReserveWeight = 0.35

// DefaultReserve is Shoal's default end-of-horizon buffer reserve.
const DefaultReserve = 15 * time.Second

// Name implements Algorithm.
func (Shoal) Name() string { return "shoal" }

const (
	shoalWindow = 5 // downloads in the harmonic mean and the error window
	// shoalRiskWindow is the number of downloads risk looks back on.
	shoalRiskWindow = 10
	shoalHorizon    = 4
	// shoalAbandonGain is the QoE_lin a switch must gain over finishing the
	// download in flight: abandoning wastes the bits already received.
	shoalAbandonGain = 0.2
	// shoalPrior is how much transfer time (ms) the prediction is worth
	// when the abandonment rule estimates the rate of a download in flight:
	// the first bits after an outage say little about the link.
	shoalPrior = 1000.0
)

// Predict is RobustMPC's throughput prediction from h in kbps: the harmonic
// mean of the last five finished downloads divided by 1 + the largest
// relative error of the same prediction over those downloads. ok is false
// before the first download.
func Predict(h []Download) (kbps, maxErr float64, ok bool) {
	var rates []float64
	for _, d := range h {
		if r := d.Throughput(); !d.Abandoned && r > 0 {
			rates = append(rates, r)
		}
	}
	if len(rates) == 0 {
		return 0, 0, false
	}
	harmonic := func(rs []float64) float64 {
		var inv float64
		for _, r := range rs {
			inv += 1 / r
		}
		return float64(len(rs)) / inv
	}
	n := len(rates)
	for j := max(1, n-shoalWindow); j < n; j++ {
		pred := harmonic(rates[max(0, j-shoalWindow):j])
		maxErr = math.Max(maxErr, math.Abs(pred-rates[j])/rates[j])
	}
	return harmonic(rates[max(0, n-shoalWindow):]), maxErr, true
}

// previous is the rendition of the latest finished download, -1 when none.
func previous(h []Download) int {
	for i := len(h) - 1; i >= 0; i-- {
		if !h[i].Abandoned {
			return h[i].Rendition
		}
	}
	return -1
}

// risk is the share of the last shoalRiskWindow finished downloads slower
// than the top rendition; 1 before any.
func risk(s *State) float64 {
	top := s.Bitrates[len(s.Bitrates)-1]
	slow, n := 0, 0
	for i := len(s.History) - 1; i >= 0 && n < shoalRiskWindow; i-- {
		if d := s.History[i]; !d.Abandoned {
			n++
			if d.Throughput() < top {
				slow++
			}
		}
	}
	if n == 0 {
		return 1
	}
	return float64(slow) / float64(n)
}

// ceiling is the highest rendition allowed for s.Segment: after an
// abandonment of this segment, the rendition the rule proposed.
func ceiling(s *State) int {
	top := len(s.Bitrates) - 1
	if n := len(s.History); n > 0 {
		if d := s.History[n-1]; d.Abandoned && d.Segment == s.Segment {
			top = min(top, max(0, d.AbandonTo))
		}
	}
	return top
}

func (a Shoal) reserveWeight() float64 {
	if a.ReserveWeight > 0 {
		return a.ReserveWeight
	}
	return DefaultReserveWeight
}

func (a Shoal) reserve() float64 {
	switch {
	case a.Reserve < 0:
		return 0
	case a.Reserve == 0:
		return msec(DefaultReserve)
	}
	return msec(a.Reserve)
}

// Choose implements Algorithm.
func (a Shoal) Choose(s *State) Decision {
	kbps, maxErr, ok := Predict(s.History)
	if !ok {
		// Nothing measured yet: the lowest rendition, unless a higher one is
		// already here.
		q := 0
		h := s.holders(0)
		for r := range s.Bitrates {
			if h.local(r) {
				q = r
			}
		}
		return Decision{Rendition: q}
	}
	horizon := a.Horizon
	if horizon <= 0 {
		horizon = shoalHorizon
	}
	if rem := s.Remaining(); rem >= 0 && rem < horizon {
		horizon = max(rem, 1)
	}
	switch {
	case a.ErrorCap == 0:
		maxErr = math.Min(maxErr, DefaultErrorCap)
	case a.ErrorCap > 0:
		maxErr = math.Min(maxErr, a.ErrorCap)
	}
	e := EstimateEWMA(s.History, s.SegmentDuration)
	p := &planner{
		s:       s,
		horizon: horizon,
		kbps:    kbps,
		maxErr:  maxErr,
		latency: msec(e.Latency),
		seg:     msec(s.SegmentDuration),
		bufMax:  msec(s.BufferMax),
		reserve: math.Min(a.reserve(), msec(s.BufferMax)-msec(s.SegmentDuration)),
		weight:  RebufferPenalty * a.reserveWeight(),
		top:     ceiling(s),
		best:    math.Inf(-1),
	}
	// Both the error discount and the reserve guard against the link
	// getting slower than the plan expects; they matter as much as the
	// link has recently been slower than the top rendition. A link that is
	// usually faster rides out a dip on the buffer.
	r := risk(s)
	p.maxErr *= r
	p.weight *= r
	growth := msec(DefaultGrowth)
	switch {
	case a.Growth < 0:
		growth = 0
	case a.Growth > 0:
		growth = msec(a.Growth)
	}
	p.reserve = math.Min(p.reserve, msec(s.Buffer)+growth)
	if rem := s.Remaining(); rem >= 0 && rem <= horizon {
		p.reserve = 0 // the movie ends within the plan: nothing to keep
	}
	p.search(0, msec(s.Buffer), previous(s.History), 0, -1)
	return Decision{Rendition: p.first}
}

// Abandon implements Abandoner: give up the download in flight when, at its
// measured rate (shrunk towards the prediction while little is measured), it
// would stall playback and a lower rendition requested
// now (after the usual latency) scores better for this segment by QoE_lin,
// by a margin that pays for the bits thrown away.
func (a Shoal) Abandon(s *State, p Progress) (int, bool) {
	transfer := msec(p.Elapsed - p.Latency)
	if p.Bits <= 0 || transfer <= 0 || p.Rendition == 0 {
		return 0, false
	}
	// The rate so far, shrunk towards the robust prediction by shoalPrior
	// of transfer time at that rate.
	rate := p.Bits / transfer
	if kbps, maxErr, ok := Predict(s.History); ok {
		rate = (p.Bits + shoalPrior*kbps/(1+maxErr)) / (transfer + shoalPrior)
	}
	buf := msec(s.Buffer)
	left := (p.Size - p.Bits) / rate
	if left <= buf {
		return 0, false
	}
	prev := previous(s.History)
	score := func(r int, fetch float64) float64 {
		v := s.Bitrates[r]/1000 - RebufferPenalty*math.Max(0, fetch-buf)/1000
		if prev >= 0 {
			v -= math.Abs(s.Bitrates[r]-s.Bitrates[prev]) / 1000
		}
		return v
	}
	lat := msec(EstimateEWMA(s.History, s.SegmentDuration).Latency)
	keep := score(p.Rendition, left)
	to, best := 0, math.Inf(-1)
	for q := 0; q < p.Rendition; q++ {
		if v := score(q, lat+s.Size(p.Segment, q)/rate); v > best {
			to, best = q, v
		}
	}
	if best > keep+shoalAbandonGain {
		return to, true
	}
	return 0, false
}

// planner enumerates rendition plans over the horizon. From the first step
// on, each step stays within one rendition of the previous: plans that jump
// further never pay for their switching penalty within five segments.
type planner struct {
	s            *State
	horizon      int
	kbps, maxErr float64
	latency, seg float64 // ms
	bufMax       float64 // ms
	reserve      float64 // ms of buffer to end the plan with
	weight       float64 // QoE_lin per second short of it
	top          int     // highest rendition for the first step
	best         float64
	first        int
}

// fetch is the predicted time (ms) to fetch segment k steps ahead in
// rendition r.
func (p *planner) fetch(k, r int) float64 {
	h := p.s.holders(k)
	if h.local(r) {
		return 0
	}
	lat := p.latency
	rate := p.kbps / (1 + p.maxErr)
	if c := h.count(r); c > 0 {
		if rtt := msec(h.rtt(r)); rtt > 0 {
			lat = rtt
		}
		// Several holders make a slow one less likely: discount less.
		rate = p.kbps / (1 + p.maxErr/float64(1+c))
	}
	return lat + p.s.Size(p.s.Segment+k, r)/rate
}

func (p *planner) search(k int, buf float64, prev int, score float64, first int) {
	if k == p.horizon {
		score -= p.weight * math.Max(0, p.reserve-buf) / 1000
		if score > p.best {
			p.best, p.first = score, first
		}
		return
	}
	lo, hi := 0, p.top
	if k > 0 {
		lo, hi = max(0, prev-1), min(len(p.s.Bitrates)-1, prev+1)
	}
	for r := lo; r <= hi; r++ {
		b := buf
		if b+p.seg > p.bufMax {
			b = p.bufMax - p.seg // the player waits for room
		}
		t := p.fetch(k, r)
		stall := math.Max(0, t-b)
		b = math.Max(0, b-t) + p.seg
		sc := score + p.s.Bitrates[r]/1000 - RebufferPenalty*stall/1000
		if prev >= 0 {
			sc -= math.Abs(p.s.Bitrates[r]-p.s.Bitrates[prev]) / 1000
		}
		f := first
		if k == 0 {
			f = r
		}
		p.search(k+1, b, r, sc, f)
	}
}
