package abrsim

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/shoal-p2p/shoal/streaming/abr"
)

// DefaultStep is the time step of the offline optimum.
const DefaultStep = 100 * time.Millisecond

// OptimumConfig sets the player and the discretisation of Optimum.
type OptimumConfig struct {
	Buffer time.Duration // buffer maximum; 0 means DefaultBuffer
	// Step is the clock of the discretised model; 0 means DefaultStep. It
	// must divide the segment duration.
	Step time.Duration
	// Segments, when positive, plans only the first Segments segments.
	Segments int
	// FreeStart lets the optimum fetch the first segment in any rendition.
	// By default it starts at the lowest, as the simulated players do: the
	// start-up delay is not in QoE_lin, so a free first choice would win
	// score from a delay nobody is charged for.
	FreeStart bool
	// Front is the number of labels kept per state; 0 means DefaultFront,
	// negative means all (exact, and slow on long traces with outages).
	Front int
	// TimeAverage maximises QoE_lin per segment of session time
	// (abr.QoE.TimeAverage, Sabre's figure) instead of the total (per
	// segment of the movie). The ratio is found by Dinkelbach's method: the
	// programme is solved for total QoE with the rebuffering penalty
	// raised by λ per segment time, λ the best ratio so far, until λ stops
	// rising; each round is one programme, usually two to four in all.
	TimeAverage bool
}

// Schedule is the offline optimum of one trace.
type Schedule struct {
	Trace      string
	Renditions []int   // per segment
	Score      float64 // total QoE_lin of the schedule in the discretised model
	QoE        abr.QoE
	Labels     int // (time, score) labels kept by the programme, a measure of its work

	model *model
}

// model is the discretised player of Optimum: time, buffer and waits in
// whole steps. A download that ends between two ticks is taken to end at
// the next one, so every schedule of the model is one a real player can
// follow (by sending each request on a tick) and does at least as well in
// the continuous simulator.
type model struct {
	m       *Movie
	net     *network
	step    float64 // ms per tick
	seg     int32   // ticks per segment
	bufMax  int32   // ticks
	penalty float64 // QoE cost of one tick of rebuffering
}

func newModel(m *Movie, t *Trace, c OptimumConfig) (*model, error) {
	if err := t.validate(); err != nil {
		return nil, fmt.Errorf("abrsim: trace %s: %w", t.Name, err)
	}
	step := c.Step
	if step <= 0 {
		step = DefaultStep
	}
	buf := c.Buffer
	if buf <= 0 {
		buf = DefaultBuffer
	}
	if m.SegmentDuration%step != 0 {
		return nil, fmt.Errorf("abrsim: optimum step %v does not divide the segment duration %v", step, m.SegmentDuration)
	}
	if buf < m.SegmentDuration {
		return nil, fmt.Errorf("abrsim: buffer %v is shorter than a segment (%v)", buf, m.SegmentDuration)
	}
	md := &model{
		m:      m,
		net:    newNetwork(t),
		step:   float64(step) / 1e6,
		seg:    int32(m.SegmentDuration / step),
		bufMax: int32(buf / step),
	}
	md.penalty = abr.RebufferPenalty * md.step / 1000
	return md, nil
}

// move is the model's transition: at tick t with buffer b (ticks), fetch
// segment i in rendition r after waiting for room. It returns the tick the
// download ends, the new buffer and the ticks of rebuffering.
func (md *model) move(i int, r int, t, b int32) (end, nb, stall int32) {
	if i > 0 && b+md.seg > md.bufMax {
		w := b + md.seg - md.bufMax
		t += w
		b -= w
	}
	_, e := md.net.fetch(float64(t)*md.step, md.m.Sizes[i][r])
	end = int32(math.Ceil(e/md.step - 1e-9))
	end = max(end, t)
	dt := end - t
	if i == 0 {
		return end, md.seg, 0
	}
	stall = max(0, dt-b)
	return end, max(0, b-dt) + md.seg, stall
}

// reward is the QoE_lin of segment i in rendition r after rendition prev
// (prev < 0 for the first), rebuffering excluded.
func (md *model) reward(r, prev int) float64 {
	br := md.m.Bitrates
	v := br[r] / 1000
	if prev >= 0 {
		v -= math.Abs(br[r]-br[prev]) / 1000
	}
	return v
}

// label is a way to reach a state (segment, buffer, rendition): when, and
// with what score.
type label struct {
	t      int32
	b      int32
	r      int16
	parent int32 // index in the previous segment's labels
	score  float64
}

// DefaultFront is the number of labels Optimum keeps per state.
const DefaultFront = 6

// Optimum finds the schedule of renditions that maximises QoE_lin for
// movie m over trace t, knowing the trace in advance: a dynamic programme
// over (segment, buffer level in steps, last rendition).
//
// The trace varies in time, so a state also needs the clock. Each state
// keeps a front of (time, score) labels instead of one value: label a makes
// label b useless when a is no later and score_a ≥ score_b + 4.3·(t_b − t_a)
// in seconds, because from a the player can wait until t_b and then do what
// b does, rebuffering at most t_b − t_a longer. With Front ≤ 0 every other
// label is kept and the result is exact for the discretised model. A front
// longer than Front drops the label closest to being made useless that way
// (the smallest excess over its predecessor), so a capped front can only
// miss the optimum, never report a schedule better than it is.
func Optimum(m *Movie, t *Trace, c OptimumConfig) (*Schedule, error) {
	md, err := newModel(m, t, c)
	if err != nil {
		return nil, err
	}
	n := len(m.Sizes)
	if c.Segments > 0 && c.Segments < n {
		n = c.Segments
	}
	rs, labels := md.solve(n, c, md.penalty, 0)
	if c.TimeAverage {
		seg := m.SegmentDuration
		q, _ := md.replay(rs, false)
		lambda := q.TimeAverage(seg)
		segS := seg.Seconds()
		for round := 0; round < 20; round++ {
			// Maximise Score − λ·Session = Σ reward − (4.3 + λ/seg)·R −
			// λ·startup/seg − λ·N: a rebuffering penalty of 4.3 + λ/seg per
			// second and a start-up cost of λ/seg per second.
			perSecond := math.Max(abr.RebufferPenalty+lambda/segS, 1e-9)
			next, l := md.solve(n, c, perSecond*md.step/1000, lambda/segS*md.step/1000)
			labels += l
			q, _ := md.replay(next, false)
			if v := q.TimeAverage(seg); v > lambda+1e-12 {
				rs, lambda = next, v
				continue
			}
			break
		}
	}
	s := &Schedule{Trace: t.Name, Renditions: rs, Labels: labels, model: md}
	s.QoE, _ = md.replay(s.Renditions, false)
	s.Score = s.QoE.Score()
	return s, nil
}

// solve is the programme for n segments with penalty per tick of
// rebuffering and startCost per tick of start-up; it returns the best
// schedule and the number of labels it kept.
func (md *model) solve(n int, c OptimumConfig, penalty, startCost float64) ([]int, int) {
	m := md.m
	nr := len(m.Bitrates)
	front := c.Front
	if front == 0 {
		front = DefaultFront
	}
	fronts := make([][]label, int(md.bufMax+1)*nr)
	key := func(l *label) float64 { return l.score + penalty*float64(l.t) }

	insert := func(l label) {
		f := &fronts[int(l.b)*nr+int(l.r)]
		k := key(&l)
		pos := sort.Search(len(*f), func(j int) bool { return (*f)[j].t > l.t })
		if pos > 0 && key(&(*f)[pos-1]) >= k {
			return
		}
		lo := pos
		if lo > 0 && (*f)[lo-1].t == l.t {
			lo--
		}
		hi := pos
		for hi < len(*f) && key(&(*f)[hi]) <= k {
			hi++
		}
		switch {
		case hi-lo >= 1:
			(*f)[lo] = l
			*f = append((*f)[:lo+1], (*f)[hi:]...)
		default:
			*f = append(*f, label{})
			copy((*f)[lo+1:], (*f)[lo:])
			(*f)[lo] = l
		}
		if front > 0 && len(*f) > front {
			drop, gap := 1, math.Inf(1)
			for j := 1; j < len(*f); j++ {
				if g := key(&(*f)[j]) - key(&(*f)[j-1]); g < gap {
					drop, gap = j, g
				}
			}
			*f = append((*f)[:drop], (*f)[drop+1:]...)
		}
	}
	// layers[i] are the labels kept for segment i, with their parents.
	layers := make([][]label, n)
	collect := func(i int) {
		for j := range fronts {
			layers[i] = append(layers[i], fronts[j]...)
			fronts[j] = fronts[j][:0]
		}
	}

	for r := 0; r < nr; r++ {
		if r > 0 && !c.FreeStart {
			break
		}
		end, b, _ := md.move(0, r, 0, 0)
		insert(label{t: end, b: b, r: int16(r), parent: -1, score: md.reward(r, -1) - startCost*float64(end)})
	}
	collect(0)
	labels := len(layers[0])
	for i := 1; i < n; i++ {
		for li := range layers[i-1] {
			l := &layers[i-1][li]
			for r := 0; r < nr; r++ {
				end, b, stall := md.move(i, r, l.t, l.b)
				insert(label{
					t: end, b: b, r: int16(r), parent: int32(li),
					score: l.score + md.reward(r, int(l.r)) - penalty*float64(stall),
				})
			}
		}
		collect(i)
		labels += len(layers[i])
	}

	last := layers[n-1]
	best := 0
	for li := range last {
		if last[li].score > last[best].score {
			best = li
		}
	}
	rs := make([]int, n)
	for i, li := n-1, int32(best); i >= 0; i-- {
		l := layers[i][li]
		rs[i] = int(l.r)
		li = l.parent
	}
	return rs, labels
}

// replay follows renditions through the model and records the QoE and,
// when asked, the time line.
func (md *model) replay(rs []int, timeline bool) (abr.QoE, []Sample) {
	var q abr.QoE
	var tl []Sample
	var t, b int32
	tick := func(x int32) time.Duration { return msDuration(float64(x) * md.step) }
	kbps := 0.0
	for i, r := range rs {
		start, level := t, b
		if i > 0 && b+md.seg > md.bufMax {
			start += b + md.seg - md.bufMax
			level = md.bufMax - md.seg
			if timeline {
				tl = append(tl, Sample{At: tick(start), Buffer: tick(level), Kbps: kbps})
			}
		}
		end, nb, stall := md.move(i, r, t, b)
		if i == 0 {
			q.Startup = tick(end)
		} else {
			q.Stall(tick(stall), true)
			if timeline && stall > 0 {
				tl = append(tl, Sample{At: tick(start + level), Kbps: kbps})
			}
		}
		q.Played(md.m.Bitrates[r])
		t, b = end, nb
		kbps = md.m.Bitrates[r]
		if timeline {
			tl = append(tl, Sample{At: tick(t), Buffer: tick(b), Kbps: kbps})
		}
	}
	if timeline {
		tl = append(tl, Sample{At: tick(t + b), Kbps: kbps})
	}
	return q, tl
}

// Result presents the schedule as a simulated session.
func (s *Schedule) Result(timeline bool) *Result {
	r := &Result{Algorithm: "optimum", Trace: s.Trace, Segment: s.model.m.SegmentDuration, QoE: s.QoE, Renditions: s.Renditions}
	var tl []Sample
	_, tl = s.model.replay(s.Renditions, timeline)
	if timeline {
		r.Timeline = tl
		r.Wall = tl[len(tl)-1].At
	}
	return r
}
