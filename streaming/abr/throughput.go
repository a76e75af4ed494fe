package abr

import (
	"math"
	"time"
)

// Estimate is a throughput and latency estimate from the download history.
type Estimate struct {
	Kbps    float64       // conservative throughput
	Latency time.Duration // conservative latency (time to first bit)
	OK      bool          // false until one download has finished
}

// EWMA half-lives of dash.js and Sabre: the estimate is the lower of a fast
// and a slow average, the latency the higher.
var halfLives = [2]float64{8000, 3000} // ms of transfer time

// EstimateEWMA computes dash.js's estimate from the finished downloads in h:
// two exponentially weighted moving averages of throughput, weighted by
// transfer time with half-lives of 3 s and 8 s, and the lower of the two;
// latency averaged per download with half-lives of 3 s and 8 s expressed in
// segments, and the higher of the two. Both averages are corrected for their
// zero start. Abandoned downloads are left out, as dash.js does.
func EstimateEWMA(h []Download, segment time.Duration) Estimate {
	seg := msec(segment)
	var tput, lat [2]float64
	var wTput, wLat float64
	n := 0
	for _, d := range h {
		t := msec(d.Transfer)
		if d.Abandoned || t <= 0 {
			continue
		}
		kbps := d.Bits / t
		l := msec(d.Latency)
		for i, hl := range halfLives {
			a := math.Pow(0.5, t/hl)
			tput[i] = a*tput[i] + (1-a)*kbps
			a = math.Pow(0.5, 1/(hl/seg))
			lat[i] = a*lat[i] + (1-a)*l
		}
		wTput += t
		wLat++
		n++
	}
	if n == 0 {
		return Estimate{}
	}
	e := Estimate{Kbps: math.Inf(1), OK: true}
	var latMax float64
	for i, hl := range halfLives {
		e.Kbps = math.Min(e.Kbps, tput[i]/(1-math.Pow(0.5, wTput/hl)))
		latMax = math.Max(latMax, lat[i]/(1-math.Pow(0.5, wLat/(hl/seg))))
	}
	e.Latency = dur(latMax)
	return e
}

// FromThroughput is the highest rendition whose segment, requested now,
// would arrive within one segment duration at kbps after latency lat:
// lat + duration·bitrate/kbps ≤ duration. It is 0 when none would.
func FromThroughput(s *State, kbps float64, lat time.Duration) int {
	p := msec(s.SegmentDuration)
	l := msec(lat)
	q := 0
	for q+1 < len(s.Bitrates) && l+p*s.Bitrates[q+1]/kbps <= p {
		q++
	}
	return q
}

// Throughput is dash.js's ThroughputRule: the highest rendition sustainable
// at 90 % of the EWMA estimate, lowered by the insufficient buffer rule when
// the buffer could not absorb a slow download.
type Throughput struct{}

// Constants of dash.js's ThroughputRule and InsufficientBufferRule.
const (
	throughputSafety   = 0.9
	ibrSafetyFloor     = 0.5
	ibrSafetyInit      = 0.9
	abandonMultiplier  = 1.8
	abandonGrace       = 500 * time.Millisecond
	bolaMinimumBuffer  = 10000.0 // ms
	bolaPerLevelBuffer = 2000.0  // ms
)

// Name implements Algorithm.
func (Throughput) Name() string { return "throughput" }

// Choose implements Algorithm.
func (Throughput) Choose(s *State) Decision {
	e := EstimateEWMA(s.History, s.SegmentDuration)
	if !e.OK {
		return Decision{Rendition: 0}
	}
	q := FromThroughput(s, e.Kbps*throughputSafety, e.Latency)
	// The insufficient buffer rule's safety factor starts at 0.9 and shrinks
	// by 0.9 with every choice down to 0.5; the first segment was fetched
	// without a choice, so this is choice len(History).
	safety := math.Max(ibrSafetyFloor, math.Pow(ibrSafetyInit, float64(len(s.History))))
	return Decision{Rendition: insufficientBuffer(s, q, safety, e)}
}

// insufficientBuffer lowers q to the highest rendition below it whose next
// rendition up would not fit in what safety × (buffer − latency) × throughput
// can fetch.
func insufficientBuffer(s *State, q int, safety float64, e Estimate) int {
	safe := safety * (msec(s.Buffer) - msec(e.Latency)) * e.Kbps
	p := msec(s.SegmentDuration)
	for i := 0; i < q; i++ {
		if s.Bitrates[i+1]*p > safe {
			return i
		}
	}
	return q
}

// Progress describes a download in flight.
type Progress struct {
	Segment   int
	Rendition int
	Size      float64       // bits of the whole segment
	Bits      float64       // bits received so far
	Elapsed   time.Duration // since the request was sent
	Latency   time.Duration // until the first bit arrived
}

// Abandon is dash.js's AbandonRequestsRule. Once the download has run for
// 0.5 s, if at its measured rate it would take more than 1.8 segment
// durations in all, it proposes the rendition sustainable at 90 % of that
// rate, provided that is lower and its whole segment is smaller than what is
// left of this one. s.Buffer is the buffer level now.
func Abandon(s *State, p Progress) (int, bool) {
	transfer := msec(p.Elapsed - p.Latency)
	if p.Elapsed < abandonGrace || transfer <= 0 || p.Bits <= 0 {
		return 0, false
	}
	rate := p.Bits / transfer
	left := p.Size - p.Bits
	if msec(p.Elapsed)+left/rate <= abandonMultiplier*msec(s.SegmentDuration) {
		return 0, false
	}
	e := EstimateEWMA(s.History, s.SegmentDuration)
	q := FromThroughput(s, rate*throughputSafety, e.Latency)
	if q >= p.Rendition || p.Size*s.Bitrates[q]/s.Bitrates[p.Rendition] >= left {
		return 0, false
	}
	return q, true
}

// ShouldAbandon applies a's own abandonment rule when it has one, else
// Abandon.
func ShouldAbandon(a Algorithm, s *State, p Progress) (int, bool) {
	if ab, ok := a.(Abandoner); ok {
		return ab.Abandon(s, p)
	}
	return Abandon(s, p)
}
