package abrsim

import (
	"math"
	"sort"
)

// network is a trace as a function of time, repeated without end. Times are
// float milliseconds from the start of the session, sizes bits, rates kbps
// (bits per ms): the units of Sabre.
type network struct {
	start, kbps, lat []float64 // per period, within one loop
	cum              []float64 // bits delivered before period k within one loop; len n+1
	length, loopBits float64
}

func newNetwork(t *Trace) *network {
	n := &network{cum: []float64{0}}
	var at float64
	for _, p := range t.Periods {
		d := float64(p.Duration) / 1e6
		n.start = append(n.start, at)
		n.kbps = append(n.kbps, p.Kbps)
		n.lat = append(n.lat, float64(p.Latency)/1e6)
		n.cum = append(n.cum, n.cum[len(n.cum)-1]+d*p.Kbps)
		at += d
	}
	n.length = at
	n.loopBits = n.cum[len(n.cum)-1]
	return n
}

// period returns the loop and the period index holding time t.
func (n *network) period(t float64) (loop float64, k int) {
	loop = math.Floor(t / n.length)
	r := t - loop*n.length
	k = sort.Search(len(n.start), func(i int) bool { return n.start[i] > r }) - 1
	return loop, max(k, 0)
}

// bitsAt is the number of bits the link could have delivered from 0 to t.
func (n *network) bitsAt(t float64) float64 {
	loop, k := n.period(t)
	r := t - loop*n.length
	return loop*n.loopBits + n.cum[k] + (r-n.start[k])*n.kbps[k]
}

// timeFor is the earliest time by which the link delivers bits in total.
func (n *network) timeFor(bits float64) float64 {
	if bits <= 0 {
		return 0
	}
	loop := math.Floor(bits / n.loopBits)
	rem := bits - loop*n.loopBits
	if rem <= 0 {
		loop--
		rem = n.loopBits
	}
	k := sort.Search(len(n.kbps), func(i int) bool { return n.cum[i+1] >= rem })
	return loop*n.length + n.start[k] + (rem-n.cum[k])/n.kbps[k]
}

// latencyAt is the latency of a request sent at t.
func (n *network) latencyAt(t float64) float64 {
	_, k := n.period(t)
	return n.lat[k]
}

// fetch is a request of size bits sent at t: the time its first bit
// arrives and the time its last bit does.
func (n *network) fetch(t, size float64) (first, end float64) {
	first = t + n.latencyAt(t)
	return first, math.Max(first, n.timeFor(n.bitsAt(first)+size))
}
