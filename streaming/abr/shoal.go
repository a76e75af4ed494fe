package abr

import "math"

// Shoal is Shoal's own algorithm and the default: a robust model-predictive
// choice (RobustMPC, Yin et al. 2015) over the known segment sizes, which
// plans the next Horizon segments to maximise QoE_lin, with throughput
// predicted as the harmonic mean of the last five downloads divided by one
// plus the largest recent prediction error. P2P knowledge enters the plan
// directly: a segment already held locally costs no download time, and one
// held by members is fetched after their round trip rather than the
// measured latency, with the prediction error discounted less the more
// members hold it.
type Shoal struct {
	Horizon int // segments planned ahead; 0 means 5
}

// Name implements Algorithm.
func (Shoal) Name() string { return "shoal" }

const (
	shoalWindow  = 5 // downloads in the harmonic mean and the error window
	shoalHorizon = 5
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

// Choose implements Algorithm.
func (a Shoal) Choose(s *State) Decision {
	prev := -1
	for i := len(s.History) - 1; i >= 0; i-- {
		if !s.History[i].Abandoned {
			prev = s.History[i].Rendition
			break
		}
	}
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
	e := EstimateEWMA(s.History, s.SegmentDuration)
	p := &planner{
		s:       s,
		horizon: horizon,
		kbps:    kbps,
		maxErr:  maxErr,
		latency: msec(e.Latency),
		seg:     msec(s.SegmentDuration),
		bufMax:  msec(s.BufferMax),
		best:    math.Inf(-1),
	}
	p.search(0, msec(s.Buffer), prev, 0, -1)
	return Decision{Rendition: p.first}
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
		if score > p.best {
			p.best, p.first = score, first
		}
		return
	}
	lo, hi := 0, len(p.s.Bitrates)-1
	if k > 0 {
		lo, hi = max(0, prev-1), min(hi, prev+1)
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
