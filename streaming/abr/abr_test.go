package abr

import (
	"math"
	"testing"
	"time"
)

const ms = time.Millisecond

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.4f, want %.4f (±%g)", what, got, want, tol)
	}
}

// download is a finished download at kbps over transfer, after latency.
func download(r int, kbps float64, transfer, latency time.Duration) Download {
	bits := kbps * msec(transfer)
	return Download{Rendition: r, Size: bits, Bits: bits, Transfer: transfer, Latency: latency}
}

func TestEstimateEWMA(t *testing.T) {
	if e := EstimateEWMA(nil, 3*time.Second); e.OK {
		t.Fatalf("estimate from no downloads: %+v, want not OK", e)
	}
	// One download: both zero-corrected averages are the sample itself.
	e := EstimateEWMA([]Download{download(0, 1500, 2000*ms, 80*ms)}, 3*time.Second)
	near(t, "one sample kbps", e.Kbps, 1500, 1e-9)
	near(t, "one sample latency", msec(e.Latency), 80, 1e-6)

	// 2000 kbps for 1 s, then 500 kbps for 2 s; latencies 100 and 300 ms.
	// Half-life 3 s: a1 = 0.5^(1/3) = 0.7937, avg = 0.2063·2000 = 412.6;
	//   a2 = 0.5^(2/3) = 0.6300, avg = 0.6300·412.6 + 0.3700·500 = 444.94;
	//   zero correction 1 − 0.5^(3/3) = 0.5 → 889.88.
	// Half-life 8 s: avg = 0.0830·2000 = 165.98, then 0.8409·165.98 +
	//   0.1591·500 = 219.13; correction 1 − 0.5^(3/8) = 0.2289 → 957.3.
	// The lower: 889.88 kbps.
	// Latency, half-life 3 s = 1 segment of 3 s: 0.5·100 = 50, then
	//   0.5·50 + 0.5·300 = 175; correction 1 − 0.5² = 0.75 → 233.33 ms, the
	//   higher of the two (8 s = 2.67 segments weighs the old 100 ms more).
	h := []Download{download(0, 2000, 1000*ms, 100*ms), download(0, 500, 2000*ms, 300*ms)}
	e = EstimateEWMA(h, 3*time.Second)
	near(t, "kbps", e.Kbps, 889.88, 0.01)
	near(t, "latency", msec(e.Latency), 233.33, 0.01)

	// An abandoned download does not count.
	h = append(h, Download{Bits: 1, Transfer: time.Second, Abandoned: true})
	near(t, "kbps with abandoned", EstimateEWMA(h, 3*time.Second).Kbps, 889.88, 0.01)
}

func ladder() *State {
	return &State{
		SegmentDuration: 2 * time.Second,
		Bitrates:        []float64{1000, 2000, 4000},
		BufferMax:       25 * time.Second,
		Segments:        100,
		Segment:         1,
	}
}

func TestFromThroughput(t *testing.T) {
	s := ladder()
	// 100 ms + 2000 ms · 2000/2500 = 1700 ≤ 2000: rendition 1 fits;
	// 100 + 2000 · 4000/2500 = 3300 > 2000: rendition 2 does not.
	if q := FromThroughput(s, 2500, 100*ms); q != 1 {
		t.Errorf("FromThroughput(2500 kbps, 100 ms) = %d, want 1", q)
	}
	// 300 + 2000 · 2000/2500 = 1900 ≤ 2000, still 1; 500 + 1600 = 2100 > 2000: 0.
	if q := FromThroughput(s, 2500, 500*ms); q != 0 {
		t.Errorf("FromThroughput(2500 kbps, 500 ms) = %d, want 0", q)
	}
	if q := FromThroughput(s, 1e6, 0); q != 2 {
		t.Errorf("FromThroughput(1 Gbps) = %d, want 2", q)
	}
}

func TestThroughputRule(t *testing.T) {
	s := ladder()
	if d := (Throughput{}).Choose(s); d.Rendition != 0 {
		t.Errorf("no history: rendition %d, want 0", d.Rendition)
	}
	// One download at 5000 kbps, no latency: 0.9 · 5000 = 4500 ≥ 4000 → 2.
	s.History = []Download{download(0, 5000, time.Second, 0)}
	s.Buffer = 10 * time.Second
	// Insufficient buffer rule, first choice: safety 0.9;
	// safe = 0.9 · 10000 ms · 5000 = 45e6 bits ≥ 4000 · 2000 = 8e6: stays 2.
	if d := (Throughput{}).Choose(s); d.Rendition != 2 {
		t.Errorf("10 s buffer: rendition %d, want 2", d.Rendition)
	}
	// Buffer 1 s: safe = 0.9 · 1000 · 5000 = 4.5e6 bits; rendition 1's
	// segment is 2000 · 2000 = 4e6 ≤ 4.5e6, rendition 2's 8e6 > 4.5e6 → 1.
	s.Buffer = time.Second
	if d := (Throughput{}).Choose(s); d.Rendition != 1 {
		t.Errorf("1 s buffer: rendition %d, want 1", d.Rendition)
	}
	// Five choices later the safety is 0.9^6 = 0.53: safe = 0.53 · 1000 ·
	// 5000 = 2.66e6 < 4e6 → 0.
	for len(s.History) < 6 {
		s.History = append(s.History, download(0, 5000, time.Second, 0))
	}
	if d := (Throughput{}).Choose(s); d.Rendition != 0 {
		t.Errorf("1 s buffer, sixth choice: rendition %d, want 0", d.Rendition)
	}
}

// For the ladder 1000/2000/4000 kbps BOLA-E's utilities are 1, 1+ln 2,
// 1+2 ln 2; the buffer target is max(18 s, 10 + 2·3 = 16 s) = 18 s (under
// the 25 s maximum); γp = 2 ln 2 / (18/10 − 1) = 1.7329 and
// V = 10 s / γp = 5770.8 ms. BOLA prefers rendition 1 to 0 from
// V(γp + (2000·1 − 1000·(1+ln 2))/1000) = V(γp + 0.3069) = 11770.8 ms, and
// 2 to 1 from V(γp + 1) = 15770.8 ms.
func TestBolaEThresholds(t *testing.T) {
	s := ladder()
	p := BolaE{}.params(s)
	near(t, "γp", p.gp, 1.7329, 1e-4)
	near(t, "V", p.vp, 5770.78, 0.01)
	near(t, "minBuffer(1)", p.minBuffer(s, 1), 11770.78, 0.01)
	near(t, "minBuffer(2)", p.minBuffer(s, 2), 15770.78, 0.01)
	for _, c := range []struct {
		level float64
		want  int
	}{{0, 0}, {11700, 0}, {11800, 1}, {15700, 1}, {15800, 2}, {40000, 2}} {
		if q := p.fromBuffer(s, c.level); q != c.want {
			t.Errorf("fromBuffer(%v ms) = %d, want %d", c.level, q, c.want)
		}
	}
}

func TestBolaEStartup(t *testing.T) {
	s := ladder()
	s.Segment = 0
	d := BolaE{}.Choose(s)
	if d.Rendition != 0 {
		t.Fatalf("first segment: rendition %d, want 0", d.Rendition)
	}
	// After one download at 2500 kbps (no latency) start-up picks the
	// throughput's rendition, 1 (2000·2000/2500 = 1600 ≤ 2000), and a
	// placeholder of minBuffer(1) − buffer = 11770.8 − 2000 = 9770.8 ms.
	s.Segment = 1
	s.Buffer = 2 * time.Second
	s.History = []Download{download(0, 2500, 2*time.Second, 0)}
	s.Memory = d.Memory
	d = BolaE{}.Choose(s)
	m := d.Memory.(bolaMemory)
	if d.Rendition != 1 || !m.Steady {
		t.Fatalf("after start-up: rendition %d steady %v, want 1 true", d.Rendition, m.Steady)
	}
	near(t, "placeholder", m.Placeholder, 9770.78, 0.01)
}

func TestBolaESteady(t *testing.T) {
	s := ladder()
	s.History = []Download{download(0, 2500, 2*time.Second, 0)}
	steady := func(last int) bolaMemory {
		return bolaMemory{Steady: true, Last: last, Safety: 0.5, Seen: len(s.History)}
	}

	// 16.5 s of buffer asks for rendition 2, above both the last (0) and
	// the throughput's (1): BOLA-O takes max(0, 1) = 1, BOLA-U one more, 2.
	// No delay: 16500 − V(u1 + γp) = 16500 − 19770.8 < 0. The insufficient
	// buffer rule allows it: 0.5 · 16500 · 2500 = 20.6e6 bits ≥ 8e6.
	s.Buffer = 16500 * ms
	s.Memory = steady(0)
	if d := (BolaE{}).Choose(s); d.Rendition != 1 || d.Delay != 0 {
		t.Errorf("BOLA-O: rendition %d delay %v, want 1 and 0", d.Rendition, d.Delay)
	}
	if d := (BolaE{Upward: true}).Choose(s); d.Rendition != 2 {
		t.Errorf("BOLA-U: rendition %d, want 2", d.Rendition)
	}
	// Coming down needs no throughput: 12 s of buffer after rendition 2 → 1.
	s.Buffer = 12 * time.Second
	s.Memory = steady(2)
	if d := (BolaE{}).Choose(s); d.Rendition != 1 {
		t.Errorf("12 s after rendition 2: rendition %d, want 1", d.Rendition)
	}
	// A placeholder of 5 s counts as buffer: 12 + 5 = 17 s → 2, the top,
	// which never waits.
	m := steady(2)
	m.Placeholder = 5000
	s.Memory = m
	if d := (BolaE{}).Choose(s); d.Rendition != 2 || d.Delay != 0 {
		t.Errorf("12 s + 5 s placeholder: rendition %d delay %v, want 2 and 0", d.Rendition, d.Delay)
	}
	// Waiting for room adds to the placeholder: 12 s buffer, 5 s idle.
	s.Memory = steady(2)
	s.Idle = 5 * time.Second
	if d := (BolaE{}).Choose(s); d.Rendition != 2 {
		t.Errorf("12 s + 5 s idle: rendition %d, want 2", d.Rendition)
	}
	// A full buffer at rendition 1 waits: throughput 2500 allows only 1, and
	// 20 s with last 1 is held at 1 by BOLA-O; the delay is
	// 20000 − V(u1 + γp) = 20000 − 19770.8 = 229.2 ms.
	s.Idle = 0
	s.Buffer = 20 * time.Second
	s.Memory = steady(1)
	d := (BolaE{}).Choose(s)
	if d.Rendition != 1 {
		t.Fatalf("20 s after 1: rendition %d, want 1", d.Rendition)
	}
	near(t, "delay ms", msec(d.Delay), 229.22, 0.01)
}

func TestBolaEAbandon(t *testing.T) {
	s := ladder()
	s.Memory = bolaMemory{Steady: true, Last: 2}
	s.Buffer = 5 * time.Second
	// Rendition 2, 8e6 bits, 1e6 received in 1100 ms with 100 ms latency:
	// rate 1000 kbps; left after a new request's latency 7e6 − 100·1000 =
	// 6.9e6. Score (V(γp + u2) − 4900) / 6.9e6 = (23770.8 − 4900)/6.9e6 =
	// 2.735e-3; rendition 0's whole segment, 2e6 bits:
	// (V(γp + 1) − 4900)/2e6 = (15770.8 − 4900)/2e6 = 5.435e-3, higher → 0.
	p := Progress{Rendition: 2, Size: 8e6, Bits: 1e6, Elapsed: 1100 * ms, Latency: 100 * ms}
	if to, ok := (BolaE{}).Abandon(s, p); !ok || to != 0 {
		t.Errorf("slow download: abandon %d %v, want 0 true", to, ok)
	}
	// Nearly done: 7.5e6 received at 7500 kbps, 0.5e6 left − 0.75e6 < 0: keep.
	p.Bits = 7.5e6
	if to, ok := (BolaE{}).Abandon(s, p); ok {
		t.Errorf("nearly done: abandon to %d, want keep", to)
	}
}

func TestAbandonRule(t *testing.T) {
	s := ladder()
	// Rendition 2 (8e6 bits) at 1000 kbps: 1 s elapsed, 100 ms latency, so
	// 0.9e6 bits in; 7.1e6 left take 7100 ms more: 8100 > 1.8 · 2000. At
	// 0.9 · 1000 = 900 kbps only rendition 0 fits (2000·2000/900 > 2000),
	// whose segment, 8e6 · 1000/4000 = 2e6 bits, is less than 7.1e6 left.
	p := Progress{Rendition: 2, Size: 8e6, Bits: 0.9e6, Elapsed: time.Second, Latency: 100 * ms}
	if to, ok := Abandon(s, p); !ok || to != 0 {
		t.Errorf("slow: Abandon = %d %v, want 0 true", to, ok)
	}
	// Within the 500 ms grace nothing is abandoned.
	p2 := p
	p2.Elapsed, p2.Bits = 400*ms, 0.3e6
	if _, ok := Abandon(s, p2); ok {
		t.Error("abandoned within the grace time")
	}
	// At 4000 kbps: 3.6e6 in after 900 ms, 4.4e6 left take 1100 ms:
	// 2100 ≤ 3600, keep.
	p.Bits = 3.6e6
	if to, ok := Abandon(s, p); ok {
		t.Errorf("fast: abandoned to %d", to)
	}
}

func TestQoE(t *testing.T) {
	var q QoE
	for _, b := range []float64{1000, 2000, 2000, 500} {
		q.Played(b)
	}
	q.Stall(time.Second, true)
	q.Stall(500*ms, false)
	// (1 + 2 + 2 + 0.5) − 4.3 · 1.5 − (1000 + 0 + 1500)/1000
	// = 5.5 − 6.45 − 2.5 = −3.45; per segment −0.8625.
	near(t, "score", q.Score(), -3.45, 1e-9)
	near(t, "per segment", q.PerSegment(), -0.8625, 1e-9)
	near(t, "mean bitrate", q.MeanBitrate(), 1375, 1e-9)
	if q.Switches != 2 || q.Rebuffers != 1 || q.Rebuffer != 1500*ms {
		t.Errorf("switches %d rebuffers %d rebuffer %v, want 2 1 1.5s", q.Switches, q.Rebuffers, q.Rebuffer)
	}
	// Sabre's time average: with 2 s segments and a 1 s start-up the
	// session lasts 4 · 2 + 1.5 + 1 = 10.5 s = 5.25 segment times;
	// −3.45 / 5.25 = −0.657143.
	q.Startup = time.Second
	near(t, "session", q.Session(2*time.Second), 5.25, 1e-9)
	near(t, "time average", q.TimeAverage(2*time.Second), -3.45/5.25, 1e-9)
	var empty QoE
	if empty.PerSegment() != 0 || empty.MeanBitrate() != 0 || empty.TimeAverage(time.Second) != 0 {
		t.Error("empty record is not zero")
	}
}

func TestPredict(t *testing.T) {
	if _, _, ok := Predict(nil); ok {
		t.Fatal("prediction from no history")
	}
	// 1000 then 2000 kbps: harmonic mean 2/(1/1000 + 1/2000) = 1333.33;
	// the prediction for the second from the first alone was 1000, off by
	// |1000 − 2000|/2000 = 0.5.
	h := []Download{download(0, 1000, time.Second, 0), download(0, 2000, time.Second, 0)}
	kbps, maxErr, ok := Predict(h)
	if !ok {
		t.Fatal("no prediction")
	}
	near(t, "harmonic mean", kbps, 1333.33, 0.01)
	near(t, "max error", maxErr, 0.5, 1e-9)
}

func TestShoal(t *testing.T) {
	s := ladder()
	if d := (Shoal{}).Choose(s); d.Rendition != 0 {
		t.Errorf("no history: rendition %d, want 0", d.Rendition)
	}
	// Steady 1500 kbps, 6 s of buffer, last rendition 1, horizon 4.
	// Plain RobustMPC (no reserve): rendition 2 (8e6 bits) takes 5.3 s and
	// drains the buffer; 1 (4e6 bits, 2.67 s) keeps it: plan 1,1,1,1 scores
	// 4 · 2 = 8 and ends at 6 − 4 · 0.67 = 3.33 s. Plans climb at most one
	// step per segment, and a stall costs 4.3 per second.
	for i := 0; i < 5; i++ {
		s.History = append(s.History, download(1, 1500, 2*time.Second, 0))
	}
	s.Buffer = 6 * time.Second
	if d := (Shoal{Reserve: -1}).Choose(s); d.Rendition != 1 {
		t.Errorf("1500 kbps, no reserve: rendition %d, want 1", d.Rendition)
	}
	// With the default reserve, min(15 s, 6 s + 4 s) = 10 s at 0.35 · 4.3 =
	// 1.505 per second short: 1,1,1,1 scores 8 − 6.67 · 1.505 = −2.03;
	// 1,1,0,0 ends at 6 s: 6 − 1 − 4 · 1.505 = −1.02; 0,0,0,0 (1.33 s each)
	// ends at 8.67 s: 4 − 1 − 1.33 · 1.505 = 0.99, the best.
	if d := (Shoal{}).Choose(s); d.Rendition != 0 {
		t.Errorf("1500 kbps, reserve: rendition %d, want 0", d.Rendition)
	}
	// The same, with the next five segments already held locally in the top
	// rendition: they are free (the buffer grows to 14 s), so take it.
	for k := 0; k < 5; k++ {
		s.Holders = append(s.Holders, Holders{Local: []bool{false, false, true}})
	}
	if d := (Shoal{}).Choose(s); d.Rendition != 2 {
		t.Errorf("top held locally: rendition %d, want 2", d.Rendition)
	}
}

func TestShoalErrorCap(t *testing.T) {
	// Four downloads at 3900 kbps, then one at 400, all slower than the top
	// rendition (4000), so the risk is 1: harmonic mean
	// 5 / (4/3900 + 1/400) = 1418.2 kbps; the last one was predicted at
	// 3900, off by 8.75.
	s := ladder()
	for i := 0; i < 4; i++ {
		s.History = append(s.History, download(1, 3900, 2*time.Second, 0))
	}
	s.History = append(s.History, download(1, 400, 2*time.Second, 0))
	s.Buffer = 20 * time.Second
	// Uncapped: 1418.2 / 9.75 = 145 kbps, 13.8 s for even rendition 0:
	// stalls whatever the plan, so the lowest.
	if d := (Shoal{ErrorCap: -1}).Choose(s); d.Rendition != 0 {
		t.Errorf("uncapped: rendition %d, want 0", d.Rendition)
	}
	// Capped at 0.4: 1013 kbps, rendition 1 takes 3.95 s, 0 takes 1.97 s;
	// reserve min(15, 24) = 15 s at 1.505 per second short. Plan 1,1,0,0
	// ends at 16.15 s and scores 2 + 2 + 1 + 1 − 1 = 5; 1,1,1,1 ends at
	// 12.2 s: 8 − 2.8 · 1.505 = 3.8; 1,1,1,0 ends at 14.18 s: 6 − 0.82 ·
	// 1.505 = 4.77; anything starting at 0 at most 3, at 2 below 0.
	if d := (Shoal{}).Choose(s); d.Rendition != 1 {
		t.Errorf("capped: rendition %d, want 1", d.Rendition)
	}
	// A link mostly faster than the top rendition: 8000 kbps four times,
	// then 1000. Harmonic mean 3333 kbps, error 7, capped 0.4, times the
	// risk 1/5: 3333 / 1.08 = 3086 kbps; the top rendition takes 2.59 s, and
	// 2,2,2,2 ends at 17.6 s ≥ 15 s: 16 − 2 = 14, the best.
	s.History = nil
	for i := 0; i < 4; i++ {
		s.History = append(s.History, download(1, 8000, 2*time.Second, 0))
	}
	s.History = append(s.History, download(1, 1000, 2*time.Second, 0))
	if d := (Shoal{}).Choose(s); d.Rendition != 2 {
		t.Errorf("fast link with a dip: rendition %d, want 2", d.Rendition)
	}
}

func TestShoalAbandon(t *testing.T) {
	s := ladder()
	for i := 0; i < 5; i++ {
		s.History = append(s.History, download(1, 1500, 2*time.Second, 0))
	}
	s.Buffer = 2 * time.Second // left now, while rendition 2 downloads
	p := Progress{Segment: 1, Rendition: 2, Size: 8e6, Bits: 0.5e6, Elapsed: time.Second}
	// 0.5e6 bits in 1 s, shrunk towards the 1500 kbps prediction by 1 s:
	// (0.5e6 + 1.5e6) / 2000 ms = 1000 kbps. The 7.5e6 bits left take 7.5 s:
	// 5.5 s of stall, 4 − 23.65 − 2 = −21.65. Rendition 0 (2e6 bits) takes
	// 2 s, no stall: 1 − 1 = 0; rendition 1 stalls 2 s: 2 − 8.6 = −6.6.
	if to, ok := (Shoal{}).Abandon(s, p); !ok || to != 0 {
		t.Errorf("slow: abandon %d %v, want to 0", to, ok)
	}
	// 4e6 bits in 1 s: (4e6 + 1.5e6) / 2000 = 2750 kbps, the rest in 1.45 s,
	// before the buffer drains: keep.
	p.Bits = 4e6
	if to, ok := (Shoal{}).Abandon(s, p); ok {
		t.Errorf("fast: abandoned to %d", to)
	}
	// The retry of an abandoned segment stays at or below the rendition
	// proposed, however fast the history says the link is.
	s.History = append(s.History, Download{Segment: 1, Rendition: 2, Size: 8e6, Bits: 0.5e6,
		Transfer: time.Second, Abandoned: true, AbandonTo: 0})
	s.Buffer = 20 * time.Second
	if d := (Shoal{}).Choose(s); d.Rendition != 0 {
		t.Errorf("retry after abandoning to 0: rendition %d", d.Rendition)
	}
	// The next segment is free again: at 1500 kbps with 20 s of buffer,
	// rendition 1 (2.67 s per segment, ends at 17.3 s ≥ 15 s).
	s.Segment = 2
	if d := (Shoal{}).Choose(s); d.Rendition != 1 {
		t.Errorf("next segment: rendition %d, want 1", d.Rendition)
	}
}

func TestNew(t *testing.T) {
	for _, n := range []string{"throughput", "bolae", "shoal"} {
		a, err := New(n)
		if err != nil || a.Name() != n {
			t.Errorf("New(%q) = %v, %v", n, a, err)
		}
	}
	if _, err := New("pensieve"); err == nil {
		t.Error("New(pensieve) did not fail")
	}
}

func TestValidate(t *testing.T) {
	s := ladder()
	if err := s.Validate(); err != nil {
		t.Fatalf("valid state: %v", err)
	}
	bad := []func(*State){
		func(s *State) { s.Bitrates = nil },
		func(s *State) { s.Bitrates = []float64{1000, 500} },
		func(s *State) { s.SegmentDuration = 0 },
		func(s *State) { s.BufferMax = time.Second },
	}
	for i, f := range bad {
		s := ladder()
		f(s)
		if err := s.Validate(); err == nil {
			t.Errorf("case %d: invalid state accepted", i)
		}
	}
}
