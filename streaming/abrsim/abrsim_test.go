package abrsim

import (
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-p2p/shoal/streaming/abr"
)

const ms = time.Millisecond

func write(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadSabreTrace(t *testing.T) {
	p := write(t, "t.json", `[{"duration_ms": 1000, "bandwidth_kbps": 1500, "latency_ms": 100},
	 {"duration_ms": 500.5, "bandwidth_kbps": 0, "latency_ms": 20}]`)
	tr, err := ReadTrace(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []Period{{time.Second, 1500, 100 * ms}, {500500 * time.Microsecond, 0, 20 * ms}}
	if len(tr.Periods) != 2 || tr.Periods[0] != want[0] || tr.Periods[1] != want[1] || tr.Name != "t.json" {
		t.Fatalf("trace = %+v, want %+v", tr, want)
	}
	if tr.Length() != 1500500*time.Microsecond {
		t.Errorf("length %v", tr.Length())
	}
}

func TestReadTraceErrors(t *testing.T) {
	for _, c := range []struct{ name, body, want string }{
		{"syntax", "[\n{\"duration_ms\": 1000,\n \"bandwidth_kbps\": x}]", "t.json: line 3"},
		{"type", `[{"duration_ms": "1000", "bandwidth_kbps": 1, "latency_ms": 1}]`, "duration_ms is a JSON string"},
		{"missing", `[{"duration_ms": 1000, "latency_ms": 1}]`, "period 0: bandwidth_kbps is missing"},
		{"negative", `[{"duration_ms": 1000, "bandwidth_kbps": 1, "latency_ms": 1}, {"duration_ms": -5, "bandwidth_kbps": 1, "latency_ms": 1}]`, "period 1: duration_ms is -5"},
		{"latency", `[{"duration_ms": 1000, "bandwidth_kbps": 1, "latency_ms": -1}]`, "latency_ms is -1"},
		{"empty", `[]`, "has no periods"},
		{"silent", `[{"duration_ms": 1000, "bandwidth_kbps": 0, "latency_ms": 1}]`, "delivers no bits"},
		{"truncated", `[{"duration_ms": 1000`, "unexpected end of JSON input"},
	} {
		_, err := ReadTrace(write(t, "t.json", c.body), 0)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.name, err, c.want)
		}
	}
	if _, err := ReadTrace(filepath.Join(t.TempDir(), "absent.json"), 0); err == nil {
		t.Error("absent file read")
	}
}

func TestReadMahimahi(t *testing.T) {
	// Deliveries at 1, 1, 50 and 100 ms, and 150 and 250: the trace lasts
	// 250 ms, cut into 100, 100 and 50 ms. Bin 0 (0–100 ms) holds 1, 1, 50;
	// the instant 100 opens bin 1 with 150; 250 is the wrap-around instant
	// and belongs to the last bin. 3 · 12000 bits / 100 ms = 360 kbps;
	// 2 · 12000 / 100 = 240; 1 · 12000 / 50 = 240.
	tr, err := ReadTrace(write(t, "mm", "1\n1\n50\n100\n150\n\n250\n"), 40*ms)
	if err != nil {
		t.Fatal(err)
	}
	want := []Period{{100 * ms, 360, 40 * ms}, {100 * ms, 240, 40 * ms}, {50 * ms, 240, 40 * ms}}
	if len(tr.Periods) != len(want) {
		t.Fatalf("periods %+v, want %+v", tr.Periods, want)
	}
	for i := range want {
		if tr.Periods[i] != want[i] {
			t.Errorf("period %d = %+v, want %+v", i, tr.Periods[i], want[i])
		}
	}
	for _, c := range []struct{ body, want string }{
		{"5\n7\nabc\n", "line 3: \"abc\" is not a timestamp"},
		{"5\n3\n", "line 2: timestamp 3 is before 5"},
		{"-4\n", "line 1"},
		{"\n\n", "no timestamps"},
		{"0\n0\n", "spans 0 ms"},
	} {
		_, err := ReadTrace(write(t, "mm", c.body), 0)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want it to contain %q", c.body, err, c.want)
		}
	}
}

func TestReadTracesFolder(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"b.json", "a.json", ".hidden"} {
		os.WriteFile(filepath.Join(dir, n), []byte(`[{"duration_ms": 1000, "bandwidth_kbps": 5, "latency_ms": 0}]`), 0o644)
	}
	ts, err := ReadTraces(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 || ts[0].Name != "a.json" || ts[1].Name != "b.json" {
		t.Errorf("traces %v %v", ts[0].Name, len(ts))
	}
	// A folder of links (a subset of a set elsewhere) reads the same; a
	// dangling link and a link to a folder are skipped.
	links := t.TempDir()
	os.Symlink(filepath.Join(dir, "b.json"), filepath.Join(links, "b.json"))
	os.Symlink(filepath.Join(dir, "gone.json"), filepath.Join(links, "c.json"))
	os.Symlink(dir, filepath.Join(links, "d"))
	ts, err = ReadTraces(links, 0)
	if err != nil || len(ts) != 1 || ts[0].Name != "b.json" {
		t.Errorf("folder of links: %v, %d traces", err, len(ts))
	}
	if _, err := ReadTraces(t.TempDir(), 0); err == nil || !strings.Contains(err.Error(), "no trace files") {
		t.Errorf("empty folder: %v", err)
	}
}

func TestReadMovie(t *testing.T) {
	m, err := ReadMovie(write(t, "m.json", `{"segment_duration_ms": 2000, "bitrates_kbps": [100, 200],
	  "segment_sizes_bits": [[200000, 400000], [190000, 410000]]}`))
	if err != nil {
		t.Fatal(err)
	}
	if m.SegmentDuration != 2*time.Second || len(m.Sizes) != 2 || m.Sizes[1][1] != 410000 {
		t.Errorf("movie %+v", m)
	}
	for _, c := range []struct{ body, want string }{
		{`{"bitrates_kbps": [1], "segment_sizes_bits": [[1]]}`, "segment_duration_ms is missing"},
		{`{"segment_duration_ms": 0, "bitrates_kbps": [1], "segment_sizes_bits": [[1]]}`, "segment duration is 0s"},
		{`{"segment_duration_ms": 1000, "bitrates_kbps": [200, 100], "segment_sizes_bits": [[1, 1]]}`, "bitrate 1 (100 kbps) is not above"},
		{`{"segment_duration_ms": 1000, "bitrates_kbps": [100, 200], "segment_sizes_bits": [[1, 1], [1]]}`, "segment 1 has 1 sizes for 2 bitrates"},
		{`{"segment_duration_ms": 1000, "bitrates_kbps": [100], "segment_sizes_bits": [[0]]}`, "segment 0 rendition 0: size 0"},
		{`{"segment_duration_ms": 1000, "bitrates_kbps": [100], "segment_sizes_bits": []}`, "no segments"},
		{`{"segment_duration_ms": 1000, "bitrates_kbps": "fast"}`, "line 1: bitrates_kbps is a JSON string"},
	} {
		_, err := ReadMovie(write(t, "m.json", c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.body, err, c.want)
		}
	}
}

func TestNetwork(t *testing.T) {
	// 1 s at 1000 kbps, 1 s of outage, 1 s at 3000 kbps; then again.
	n := newNetwork(&Trace{Periods: []Period{
		{time.Second, 1000, 10 * ms}, {time.Second, 0, 20 * ms}, {time.Second, 3000, 30 * ms},
	}})
	for _, c := range []struct{ t, bits float64 }{
		{0, 0}, {500, 0.5e6}, {1500, 1e6}, {2500, 2.5e6}, {3000, 4e6}, {3500, 4.5e6}, {6500, 8.5e6},
	} {
		if got := n.bitsAt(c.t); math.Abs(got-c.bits) > 1e-6 {
			t.Errorf("bitsAt(%v) = %v, want %v", c.t, got, c.bits)
		}
	}
	// 1e6 bits are all there at 1000 ms, not during the outage after.
	for _, c := range []struct{ bits, t float64 }{{0.5e6, 500}, {1e6, 1000}, {1.3e6, 2100}, {4e6, 3000}, {4.5e6, 3500}} {
		if got := n.timeFor(c.bits); math.Abs(got-c.t) > 1e-6 {
			t.Errorf("timeFor(%v) = %v, want %v", c.bits, got, c.t)
		}
	}
	// A request at 900 ms: latency 10 ms, then 0.09e6 bits to 1000 ms, the
	// outage, and the remaining 0.21e6 at 3000 kbps: 70 ms → 2070 ms.
	first, end := n.fetch(900, 0.3e6)
	if math.Abs(first-910) > 1e-6 || math.Abs(end-2070) > 1e-6 {
		t.Errorf("fetch at 900 = %v, %v; want 910, 2070", first, end)
	}
}

// flat is a movie of n segments whose sizes are exactly bitrate × duration.
func flat(n int, seg time.Duration, bitrates ...float64) *Movie {
	m := &Movie{SegmentDuration: seg, Bitrates: bitrates}
	for i := 0; i < n; i++ {
		row := make([]float64, len(bitrates))
		for j, b := range bitrates {
			row[j] = b * float64(seg.Milliseconds())
		}
		m.Sizes = append(m.Sizes, row)
	}
	return m
}

func TestRunFastNetwork(t *testing.T) {
	m := flat(40, 2*time.Second, 500, 1000, 2000, 4000)
	tr := &Trace{Name: "fast", Periods: []Period{{time.Minute, 100000, 20 * ms}}}
	for _, name := range []string{"throughput", "bolae", "shoal"} {
		a, _ := abr.New(name)
		r, err := Run(m, tr, a, Config{})
		if err != nil {
			t.Fatal(err)
		}
		if r.QoE.Rebuffer != 0 || r.QoE.Rebuffers != 0 {
			t.Errorf("%s: rebuffered %v", name, r.QoE.Rebuffer)
		}
		if r.Renditions[0] != 0 {
			t.Errorf("%s: first segment in rendition %d, want 0", name, r.Renditions[0])
		}
		// After start-up (two segments for BOLA-E: its first choice uses
		// the throughput) every segment is the top rendition.
		for i, q := range r.Renditions[2:] {
			if q != 3 {
				t.Errorf("%s: segment %d in rendition %d, want 3", name, i+2, q)
				break
			}
		}
		if r.QoE.Segments != 40 {
			t.Errorf("%s: %d segments played, want 40", name, r.QoE.Segments)
		}
	}
}

func TestRunOutage(t *testing.T) {
	m := flat(30, 2*time.Second, 500, 1000)
	// 20 s at 2000 kbps, then 60 s of nothing, then 2000 kbps again: the
	// buffer (at most 25 s) runs dry during the outage.
	tr := &Trace{Name: "outage", Periods: []Period{
		{20 * time.Second, 2000, 50 * ms}, {time.Minute, 0, 50 * ms}, {time.Hour, 2000, 50 * ms},
	}}
	a, _ := abr.New("throughput")
	r, err := Run(m, tr, a, Config{Timeline: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.QoE.Rebuffer < 30*time.Second || r.QoE.Rebuffers < 1 {
		t.Errorf("rebuffer %v in %d events, want at least 35 s in one or more", r.QoE.Rebuffer, r.QoE.Rebuffers)
	}
	if r.QoE.Segments != 30 || len(r.Timeline) == 0 {
		t.Errorf("segments %d, timeline %d samples", r.QoE.Segments, len(r.Timeline))
	}
	// Wall time = start-up + movie + rebuffering.
	want := r.QoE.Startup + 60*time.Second + r.QoE.Rebuffer
	if d := r.Wall - want; d < -ms || d > ms {
		t.Errorf("wall %v, want start-up + 60 s + rebuffer = %v", r.Wall, want)
	}
}

func TestRunRejects(t *testing.T) {
	m := flat(3, 2*time.Second, 500)
	a, _ := abr.New("shoal")
	if _, err := Run(m, &Trace{Name: "x"}, a, Config{}); err == nil {
		t.Error("empty trace accepted")
	}
	tr := &Trace{Periods: []Period{{time.Second, 100, 0}}}
	if _, err := Run(m, tr, a, Config{Buffer: time.Second}); err == nil {
		t.Error("buffer shorter than a segment accepted")
	}
	if _, err := Run(m, tr, badChoice{}, Config{}); err == nil || !strings.Contains(err.Error(), "chose rendition 7") {
		t.Errorf("out-of-range rendition: %v", err)
	}
}

type badChoice struct{}

func (badChoice) Name() string                   { return "bad" }
func (badChoice) Choose(*abr.State) abr.Decision { return abr.Decision{Rendition: 7} }

// bruteForce is the best QoE_lin over every schedule of the model.
func bruteForce(md *model, n, nr int, free bool) float64 {
	best := math.Inf(-1)
	var walk func(i, prev int, t, b int32, score float64)
	walk = func(i, prev int, t, b int32, score float64) {
		if i == n {
			best = math.Max(best, score)
			return
		}
		for r := 0; r < nr; r++ {
			if i == 0 && r > 0 && !free {
				break
			}
			end, nb, stall := md.move(i, r, t, b)
			walk(i+1, r, end, nb, score+md.reward(r, prev)-md.penalty*float64(stall))
		}
	}
	walk(0, -1, 0, 0, 0)
	return best
}

// randomCase is a movie of n 1 s segments with sizes varying ±30 % around
// the bitrates, and a trace of k periods of 200 ms plus up to spread ms at
// rates drawn from kbps (the first at 1500 kbps), latency under 80 ms.
func randomCase(rng *rand.Rand, n, k, spread int, kbps, bitrates []float64) (*Movie, *Trace) {
	m := flat(n, time.Second, bitrates...)
	for _, row := range m.Sizes {
		for j := range row {
			row[j] *= 0.7 + 0.6*rng.Float64()
		}
	}
	tr := &Trace{Name: "random"}
	for i := 0; i < k; i++ {
		rate := kbps[rng.Intn(len(kbps))]
		if i == 0 {
			rate = 1500
		}
		tr.Periods = append(tr.Periods, Period{time.Duration(200+rng.Intn(spread)) * ms, rate, time.Duration(rng.Intn(80)) * ms})
	}
	return m, tr
}

func TestOptimumMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	frontMatters := 0
	for trial := 0; trial < 60; trial++ {
		// 9 segments of 1 s, 3 renditions with sizes varying ±30 %, a 3 s
		// buffer, and a trace of 200–1000 ms periods at 0, 500, 1500 or
		// 3000 kbps: stalls and waits both happen.
		bitrates := []float64{300, 900, 2000}
		m, tr := randomCase(rng, 9, 10, 800, []float64{0, 500, 1500, 3000}, bitrates)
		for _, free := range []bool{false, true} {
			c := OptimumConfig{Buffer: 3 * time.Second, Step: 20 * ms, Front: -1, FreeStart: free}
			s, err := Optimum(m, tr, c)
			if err != nil {
				t.Fatal(err)
			}
			md, _ := newModel(m, tr, c)
			want := bruteForce(md, len(m.Sizes), len(bitrates), free)
			if math.Abs(s.Score-want) > 1e-9 {
				t.Fatalf("trial %d free %v: optimum %.6f, exhaustive search %.6f", trial, free, s.Score, want)
			}
			// The schedule reproduces its score.
			if math.Abs(s.QoE.Score()-s.Score) > 1e-9 {
				t.Fatalf("trial %d: schedule replays to %.6f, optimum said %.6f", trial, s.QoE.Score(), s.Score)
			}
			// A capped front can only lose.
			c.Front = 1
			capped, _ := Optimum(m, tr, c)
			if capped.Score > s.Score+1e-9 {
				t.Fatalf("trial %d: front of 1 scores %.6f above the exact %.6f", trial, capped.Score, s.Score)
			}
			if capped.Score < s.Score-1e-9 {
				frontMatters++
			}
		}
	}
	// The cases must be hard enough that one value per state is not enough.
	if frontMatters == 0 {
		t.Error("no case where keeping a front of labels matters")
	}
}

// TestOptimumTimeAverage checks the time-averaged optimum against every
// schedule of small cases: Dinkelbach's rounds must find the best ratio.
func TestOptimumTimeAverage(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	better := 0
	for trial := 0; trial < 40; trial++ {
		// 6 segments of 1 s, 3 renditions, a 3 s buffer, 200–1700 ms
		// periods, outages two times in five.
		bitrates := []float64{300, 900, 2000}
		m, tr := randomCase(rng, 6, 8, 1500, []float64{0, 0, 500, 1500, 3000}, bitrates)
		c := OptimumConfig{Buffer: 3 * time.Second, Step: 20 * ms, Front: -1, TimeAverage: true}
		s, err := Optimum(m, tr, c)
		if err != nil {
			t.Fatal(err)
		}
		md, _ := newModel(m, tr, c)
		// Every schedule starting at the lowest rendition: 3^5.
		want := math.Inf(-1)
		rs := make([]int, len(m.Sizes))
		var walk func(i int)
		walk = func(i int) {
			if i == len(rs) {
				q, _ := md.replay(rs, false)
				want = math.Max(want, q.TimeAverage(m.SegmentDuration))
				return
			}
			for r := range bitrates {
				rs[i] = r
				walk(i + 1)
			}
		}
		rs[0] = 0
		walk(1)
		got := s.QoE.TimeAverage(m.SegmentDuration)
		if math.Abs(got-want) > 1e-9 {
			t.Fatalf("trial %d: time-averaged optimum %.6f, exhaustive search %.6f", trial, got, want)
		}
		total, _ := Optimum(m, tr, OptimumConfig{Buffer: 3 * time.Second, Step: 20 * ms, Front: -1})
		if tt := total.QoE.TimeAverage(m.SegmentDuration); tt > got+1e-9 {
			t.Fatalf("trial %d: the total's optimum averages %.6f over time, above %.6f", trial, tt, got)
		} else if tt < got-1e-9 {
			better++
		}
	}
	// The cases must be ones where the two optima differ.
	if better == 0 {
		t.Error("no case where the time-averaged optimum beats the total's")
	}
}

func TestOptimumBeatsAlgorithms(t *testing.T) {
	// On a constant link the model's rounding to 100 ms costs nothing that
	// matters, and no online choice can do better than the optimum.
	m := flat(20, 2*time.Second, 500, 1000, 2000)
	tr := &Trace{Name: "steady", Periods: []Period{{time.Minute, 1500, 0}}}
	s, err := Optimum(m, tr, OptimumConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"throughput", "bolae", "shoal"} {
		a, _ := abr.New(name)
		r, _ := Run(m, tr, a, Config{})
		if r.QoE.Score() > s.Score+1e-6 {
			t.Errorf("%s scores %.3f above the optimum %.3f", name, r.QoE.Score(), s.Score)
		}
	}
	if _, err := Optimum(m, tr, OptimumConfig{Step: 300 * ms, Buffer: 10 * time.Second}); err == nil {
		t.Error("a step that does not divide the segment accepted")
	}
}

// probe fetches rendition 1 and records when the abandonment rule is asked.
type probe struct{ checks []time.Duration }

func (*probe) Name() string { return "probe" }

func (*probe) Choose(s *abr.State) abr.Decision { return abr.Decision{Rendition: min(1, s.Segment)} }

func (p *probe) Abandon(s *abr.State, pr abr.Progress) (int, bool) {
	if pr.Segment == 1 {
		p.checks = append(p.checks, pr.Elapsed)
	}
	return 0, false
}

// Sabre checks a download after at least 12000 bits and 50 ms since the
// previous check, the first one's 50 ms counted from the request.
func TestRunProgressChecks(t *testing.T) {
	m := flat(2, 2*time.Second, 500, 1000)
	// 20 ms latency, 1200 kbps: 12000 bits take 10 ms, so time decides: the
	// first check at 50 ms from the request (30 ms after the first bit),
	// then every 50 ms until the 2e6 bits are in at 20 + 1666.7 ms.
	tr := &Trace{Name: "probe", Periods: []Period{{time.Hour, 1200, 20 * ms}}}
	p := &probe{}
	if _, err := Run(m, tr, p, Config{}); err != nil {
		t.Fatal(err)
	}
	if len(p.checks) != 33 {
		t.Fatalf("%d checks, want 33 (50 ms … 1650 ms): %v", len(p.checks), p.checks)
	}
	for i, c := range p.checks {
		if want := time.Duration(i+1) * 50 * ms; c < want-time.Microsecond || c > want+time.Microsecond {
			t.Errorf("check %d at %v, want %v", i, c, want)
		}
	}
	// 120 kbps: 12000 bits take 100 ms and decide: checks at 20 + 100 k ms.
	tr.Periods[0].Kbps = 120
	p.checks = nil
	if _, err := Run(m, tr, p, Config{}); err != nil {
		t.Fatal(err)
	}
	if len(p.checks) == 0 || p.checks[0] < 120*ms-time.Microsecond || p.checks[0] > 120*ms+time.Microsecond ||
		p.checks[1]-p.checks[0] < 100*ms-time.Microsecond {
		t.Errorf("slow link checks %v, want 120 ms, 220 ms, …", p.checks[:min(3, len(p.checks))])
	}
}
