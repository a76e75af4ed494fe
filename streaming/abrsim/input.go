package abrsim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Period is a stretch of a trace with constant bandwidth and latency.
type Period struct {
	Duration time.Duration
	Kbps     float64       // bandwidth, bits per ms
	Latency  time.Duration // charged once per request started in this period
}

// Trace is a network trace, played in order and repeated from the start
// when the movie outlasts it.
type Trace struct {
	Name    string
	Periods []Period
}

// Length is the trace's duration before it repeats.
func (t *Trace) Length() time.Duration {
	var d time.Duration
	for _, p := range t.Periods {
		d += p.Duration
	}
	return d
}

func (t *Trace) validate() error {
	if len(t.Periods) == 0 {
		return fmt.Errorf("has no periods")
	}
	var bits float64
	for _, p := range t.Periods {
		bits += p.Kbps * float64(p.Duration.Milliseconds())
	}
	if bits <= 0 {
		return fmt.Errorf("delivers no bits at all")
	}
	return nil
}

// sabrePeriod is one element of Sabre's trace JSON.
type sabrePeriod struct {
	Duration  *float64 `json:"duration_ms"`
	Bandwidth *float64 `json:"bandwidth_kbps"`
	Latency   *float64 `json:"latency_ms"`
}

// ReadSabreTrace parses Sabre's trace JSON: a list of
// {"duration_ms", "bandwidth_kbps", "latency_ms"}. name is used in errors.
func ReadSabreTrace(r io.Reader, name string) (*Trace, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("abrsim: trace %s: %w", name, err)
	}
	var raw []sabrePeriod
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("abrsim: trace %s: %s", name, jsonError(data, err))
	}
	t := &Trace{Name: name}
	for i, p := range raw {
		bad := func(format string, a ...any) error {
			return fmt.Errorf("abrsim: trace %s: period %d: %s", name, i, fmt.Sprintf(format, a...))
		}
		switch {
		case p.Duration == nil:
			return nil, bad("duration_ms is missing")
		case p.Bandwidth == nil:
			return nil, bad("bandwidth_kbps is missing")
		case p.Latency == nil:
			return nil, bad("latency_ms is missing")
		case !(*p.Duration > 0) || math.IsInf(*p.Duration, 0):
			return nil, bad("duration_ms is %v, want > 0", *p.Duration)
		case !(*p.Bandwidth >= 0) || math.IsInf(*p.Bandwidth, 0):
			return nil, bad("bandwidth_kbps is %v, want ≥ 0", *p.Bandwidth)
		case !(*p.Latency >= 0) || math.IsInf(*p.Latency, 0):
			return nil, bad("latency_ms is %v, want ≥ 0", *p.Latency)
		}
		t.Periods = append(t.Periods, Period{
			Duration: msDuration(*p.Duration),
			Kbps:     *p.Bandwidth,
			Latency:  msDuration(*p.Latency),
		})
	}
	if err := t.validate(); err != nil {
		return nil, fmt.Errorf("abrsim: trace %s: %w", name, err)
	}
	return t, nil
}

// MahimahiBin is the width of the periods a Mahimahi trace is cut into.
const MahimahiBin = 100 * time.Millisecond

// mahimahiPacket is the bits one delivery opportunity carries (1500 bytes).
const mahimahiPacket = 1500 * 8

// ReadMahimahi parses a Mahimahi trace: one timestamp in ms per line, not
// decreasing, each a delivery opportunity for one 1500-byte packet; the
// trace repeats after its last timestamp. It becomes periods of MahimahiBin,
// each with the given latency per request (Mahimahi traces have none).
func ReadMahimahi(r io.Reader, name string, latency time.Duration) (*Trace, error) {
	sc := bufio.NewScanner(r)
	var stamps []int64
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		v, err := strconv.ParseInt(text, 10, 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("abrsim: trace %s: line %d: %q is not a timestamp in ms", name, line, text)
		}
		if n := len(stamps); n > 0 && v < stamps[n-1] {
			return nil, fmt.Errorf("abrsim: trace %s: line %d: timestamp %d is before %d on the line above", name, line, v, stamps[n-1])
		}
		stamps = append(stamps, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("abrsim: trace %s: line %d: %w", name, line+1, err)
	}
	if len(stamps) == 0 {
		return nil, fmt.Errorf("abrsim: trace %s: no timestamps", name)
	}
	last := stamps[len(stamps)-1]
	if last <= 0 {
		return nil, fmt.Errorf("abrsim: trace %s: spans 0 ms (last timestamp %d)", name, last)
	}
	bin := MahimahiBin.Milliseconds()
	n := (last + bin - 1) / bin
	counts := make([]int, n)
	for _, s := range stamps {
		// A delivery at the wrap-around instant belongs to the last bin.
		counts[min(s/bin, n-1)]++
	}
	t := &Trace{Name: name}
	for i, c := range counts {
		d := min(bin, last-int64(i)*bin)
		t.Periods = append(t.Periods, Period{
			Duration: time.Duration(d) * time.Millisecond,
			Kbps:     float64(c*mahimahiPacket) / float64(d),
			Latency:  latency,
		})
	}
	return t, nil
}

// ReadTrace reads a trace file: Sabre JSON when its first non-blank byte is
// '[', else Mahimahi with the given latency per request.
func ReadTrace(path string, latency time.Duration) (*Trace, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("abrsim: %w", err)
	}
	name := filepath.Base(path)
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		return ReadSabreTrace(bytes.NewReader(data), name)
	}
	return ReadMahimahi(bytes.NewReader(data), name, latency)
}

// ReadTraces reads path, a trace file or a folder of them (every regular
// file or link to one not starting with '.', in name order).
func ReadTraces(path string, latency time.Duration) ([]*Trace, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("abrsim: %w", err)
	}
	if !fi.IsDir() {
		t, err := ReadTrace(path, latency)
		if err != nil {
			return nil, err
		}
		return []*Trace{t}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("abrsim: %w", err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		regular := e.Type().IsRegular()
		if e.Type()&os.ModeSymlink != 0 {
			// A folder of links to traces elsewhere (a subset) reads
			// like the traces themselves.
			fi, err := os.Stat(filepath.Join(path, e.Name()))
			regular = err == nil && fi.Mode().IsRegular()
		}
		if regular {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("abrsim: folder %s holds no trace files", path)
	}
	var out []*Trace
	for _, n := range names {
		t, err := ReadTrace(filepath.Join(path, n), latency)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// Movie is what the simulator needs of a DASH movie: the segment duration,
// the ladder and the size of every segment in every rendition.
type Movie struct {
	SegmentDuration time.Duration
	Bitrates        []float64   // kbps, lowest first
	Sizes           [][]float64 // Sizes[segment][rendition] in bits
}

// NewMovie checks and builds a movie, for instance from an MPD's ladder and
// the sizes of its segment files (bytes × 8).
func NewMovie(segment time.Duration, bitrates []float64, sizes [][]float64) (*Movie, error) {
	if segment <= 0 {
		return nil, fmt.Errorf("segment duration is %v, want > 0", segment)
	}
	if len(bitrates) == 0 {
		return nil, fmt.Errorf("no bitrates")
	}
	for i, b := range bitrates {
		if !(b > 0) || math.IsInf(b, 0) {
			return nil, fmt.Errorf("bitrate %d is %v kbps, want > 0", i, b)
		}
		if i > 0 && b <= bitrates[i-1] {
			return nil, fmt.Errorf("bitrate %d (%v kbps) is not above bitrate %d (%v kbps)", i, b, i-1, bitrates[i-1])
		}
	}
	if len(sizes) == 0 {
		return nil, fmt.Errorf("no segments")
	}
	for i, row := range sizes {
		if len(row) != len(bitrates) {
			return nil, fmt.Errorf("segment %d has %d sizes for %d bitrates", i, len(row), len(bitrates))
		}
		for j, v := range row {
			if !(v > 0) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("segment %d rendition %d: size %v bits, want > 0", i, j, v)
			}
		}
	}
	return &Movie{SegmentDuration: segment, Bitrates: bitrates, Sizes: sizes}, nil
}

// sabreMovie is Sabre's movie JSON.
type sabreMovie struct {
	SegmentDuration *float64    `json:"segment_duration_ms"`
	Bitrates        []float64   `json:"bitrates_kbps"`
	Sizes           [][]float64 `json:"segment_sizes_bits"`
}

// ReadSabreMovie parses Sabre's movie JSON.
func ReadSabreMovie(r io.Reader, name string) (*Movie, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("abrsim: movie %s: %w", name, err)
	}
	var raw sabreMovie
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("abrsim: movie %s: %s", name, jsonError(data, err))
	}
	if raw.SegmentDuration == nil {
		return nil, fmt.Errorf("abrsim: movie %s: segment_duration_ms is missing", name)
	}
	m, err := NewMovie(msDuration(*raw.SegmentDuration), raw.Bitrates, raw.Sizes)
	if err != nil {
		return nil, fmt.Errorf("abrsim: movie %s: %w", name, err)
	}
	return m, nil
}

// ReadMovie reads a movie file in Sabre's JSON.
func ReadMovie(path string) (*Movie, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("abrsim: %w", err)
	}
	defer f.Close()
	return ReadSabreMovie(f, filepath.Base(path))
}

// jsonError says where in data a decoding error happened, by line.
func jsonError(data []byte, err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("line %d: %v", lineAt(data, syn.Offset), err)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "value"
		}
		return fmt.Sprintf("line %d: %s is a JSON %s, want %v", lineAt(data, typ.Offset), field, typ.Value, typ.Type)
	}
	return err.Error()
}

func lineAt(data []byte, offset int64) int {
	offset = min(max(offset, 0), int64(len(data)))
	return 1 + bytes.Count(data[:offset], []byte("\n"))
}

func msDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }
