// Package mpd reads and writes the DASH manifests (MPD) that Shoal's player
// plays.
//
// Parse accepts a static MPD with one Period whose video and audio
// representations address their segments with a SegmentTemplate, either by
// number ($Number$, with a printf width such as $Number%05d$, and @duration)
// or by a SegmentTimeline ($Number$ or $Time$), with the template at Period,
// AdaptationSet or Representation level and relative BaseURLs: the shapes that
// ffmpeg, Shaka Packager and GPAC write. It expands every template into the
// list of segments a player fetches, with their URLs relative to the MPD.
// Anything else (a dynamic MPD, SegmentBase, SegmentList, several periods, no
// duration, an absolute or escaping URL) is refused with an error that names
// what is not supported, so a player never starts on a manifest it cannot
// finish.
//
// The XML itself is read and written by github.com/Eyevinn/dash-mpd, which
// keeps every element and attribute, so Write gives back what Parse read.
package mpd

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	dashmpd "github.com/Eyevinn/dash-mpd/mpd"
)

// ErrUnsupported is matched (errors.Is) by every error about a manifest that
// is valid DASH but uses a feature the player does not support.
var ErrUnsupported = errors.New("mpd: not supported")

// unsupportedError names the feature that is not supported.
type unsupportedError struct{ what string }

func (e *unsupportedError) Error() string        { return "mpd: " + e.what + " is not supported" }
func (e *unsupportedError) Is(target error) bool { return target == ErrUnsupported }

func unsupported(format string, args ...any) error {
	return &unsupportedError{what: fmt.Sprintf(format, args...)}
}

// Manifest is a parsed static MPD: what a player needs to play it.
type Manifest struct {
	// Duration is the presentation's duration.
	Duration time.Duration
	// MinBufferTime is the MPD's minBufferTime (0 when absent).
	MinBufferTime time.Duration
	// Video and Audio are the adaptation sets of each kind, in document
	// order. Other adaptation sets (text, images) are left out.
	Video []AdaptationSet
	Audio []AdaptationSet

	doc *dashmpd.MPD
}

// AdaptationSet is a group of interchangeable representations.
type AdaptationSet struct {
	ID              string // empty when the MPD gives none
	Lang            string
	Representations []Representation // in document order
}

// Representation is one rendition: an encoding of the content at one bitrate
// (and, for video, one size).
type Representation struct {
	ID        string
	Bandwidth int // bits per second, as the MPD declares it
	// Width, Height and FrameRate are 0 for audio.
	Width, Height int
	FrameRate     float64
	Codecs        string // RFC 6381, e.g. avc1.64001f, mp4a.40.2
	MimeType      string // video/mp4, audio/mp4
	// SampleRate is the audio sampling rate in Hz (0 when not given).
	SampleRate int
	// Init is the URL of the initialization segment, relative to the MPD.
	Init string
	// Segments are the media segments in presentation order.
	Segments []Segment
}

// Segment is one media segment of a representation.
type Segment struct {
	Number   uint64        // $Number$
	Start    time.Duration // presentation time from the start of the period
	Duration time.Duration
	URL      string // relative to the MPD
}

// Ladder is the set's representations ordered by bandwidth, lowest first
// (the order ABR algorithms index), whatever their order in the MPD.
func (as AdaptationSet) Ladder() []Representation {
	out := slices.Clone(as.Representations)
	slices.SortStableFunc(out, func(a, b Representation) int { return a.Bandwidth - b.Bandwidth })
	return out
}

// Representation finds a representation of the manifest by id.
func (m *Manifest) Representation(id string) (Representation, bool) {
	for _, sets := range [][]AdaptationSet{m.Video, m.Audio} {
		for _, as := range sets {
			for _, r := range as.Representations {
				if r.ID == id {
					return r, true
				}
			}
		}
	}
	return Representation{}, false
}

// Write writes the manifest's MPD document as it was parsed.
func (m *Manifest) Write(w io.Writer) error {
	if m.doc == nil {
		return errors.New("mpd: write: the manifest was not parsed from an MPD")
	}
	if _, err := m.doc.Write(w, "  ", true); err != nil {
		return fmt.Errorf("mpd: write: %w", err)
	}
	return nil
}

// Parse reads a static MPD and expands its segment templates.
func Parse(raw []byte) (*Manifest, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return nil, errors.New("mpd: empty manifest")
	}
	if trimmed[0] != '<' {
		return nil, errors.New("mpd: not an MPD: not XML")
	}
	if err := wellFormed(raw); err != nil {
		return nil, fmt.Errorf("mpd: not an MPD: %w", err)
	}
	safe, err := escapeTextGT(raw)
	if err != nil {
		return nil, fmt.Errorf("mpd: not an MPD: %w", err)
	}
	doc, err := dashmpd.MPDFromBytes(safe)
	if err != nil {
		return nil, fmt.Errorf("mpd: not an MPD: %w", err)
	}
	if doc.XMLName.Local != "MPD" {
		return nil, fmt.Errorf("mpd: not an MPD: root element is <%s>", doc.XMLName.Local)
	}
	if t := doc.GetType(); t != dashmpd.STATIC_TYPE {
		return nil, unsupported("a %s (live) MPD", t)
	}
	switch len(doc.Periods) {
	case 0:
		return nil, errors.New("mpd: the MPD has no Period")
	case 1:
	default:
		return nil, unsupported("an MPD of %d periods (only one)", len(doc.Periods))
	}
	p := doc.Periods[0]
	if p.XlinkHref != "" {
		return nil, unsupported("a remote Period (xlink:href)")
	}

	m := &Manifest{doc: doc}
	if doc.MinBufferTime != nil {
		m.MinBufferTime = time.Duration(*doc.MinBufferTime)
	}
	m.Duration, err = periodDuration(doc, p)
	if err != nil {
		return nil, err
	}

	base := ""
	for _, b := range [][]*dashmpd.BaseURLType{doc.BaseURL, p.BaseURLs} {
		if base, err = withBase(base, b); err != nil {
			return nil, err
		}
	}
	if p.SegmentBase != nil || p.SegmentList != nil {
		return nil, unsupported("%s on the Period (only SegmentTemplate)", kindOfAddressing(p.SegmentBase, p.SegmentList))
	}

	ids := map[string]bool{}
	total := 0
	for i, a := range p.AdaptationSets {
		kind := contentKind(a)
		if kind == "" {
			continue
		}
		as, err := parseAdaptationSet(m.Duration, base, p.SegmentTemplate, a, kind, ids)
		if err != nil {
			return nil, fmt.Errorf("mpd: adaptation set %d: %w", i, err)
		}
		for _, r := range as.Representations {
			total += len(r.Segments)
		}
		if total > maxTotalSegments {
			return nil, fmt.Errorf("mpd: more than %d segments in all", maxTotalSegments)
		}
		if kind == "video" {
			m.Video = append(m.Video, as)
		} else {
			m.Audio = append(m.Audio, as)
		}
	}
	if len(m.Video) == 0 && len(m.Audio) == 0 {
		return nil, errors.New("mpd: the MPD has no video or audio adaptation set")
	}
	return m, nil
}

func kindOfAddressing(sb *dashmpd.SegmentBaseType, sl *dashmpd.SegmentListType) string {
	if sl != nil {
		return "SegmentList"
	}
	return "SegmentBase"
}

// periodDuration is the Period's duration, from Period@duration or else from
// the presentation's duration less the Period's start.
func periodDuration(doc *dashmpd.MPD, p *dashmpd.Period) (time.Duration, error) {
	if p.Duration != nil && *p.Duration > 0 {
		return time.Duration(*p.Duration), nil
	}
	if doc.MediaPresentationDuration == nil || *doc.MediaPresentationDuration <= 0 {
		return 0, unsupported("an MPD without a duration (neither mediaPresentationDuration nor Period@duration)")
	}
	d := time.Duration(*doc.MediaPresentationDuration)
	if p.Start != nil {
		d -= time.Duration(*p.Start)
	}
	if d <= 0 {
		return 0, errors.New("mpd: the Period starts after the end of the presentation")
	}
	return d, nil
}

// contentKind says whether an adaptation set is "video", "audio" or neither
// ("").
func contentKind(a *dashmpd.AdaptationSetType) string {
	kind := string(a.ContentType)
	if kind == "" {
		mime := a.MimeType
		if mime == "" && len(a.Representations) > 0 {
			mime = a.Representations[0].MimeType
		}
		kind, _, _ = strings.Cut(mime, "/")
	}
	if kind == "video" || kind == "audio" {
		return kind
	}
	return ""
}

func parseAdaptationSet(dur time.Duration, base string, periodTmpl *dashmpd.SegmentTemplateType, a *dashmpd.AdaptationSetType, kind string, ids map[string]bool) (AdaptationSet, error) {
	as := AdaptationSet{Lang: a.Lang}
	if a.Id != nil {
		as.ID = strconv.FormatUint(uint64(*a.Id), 10)
	}
	if a.XlinkHref != "" {
		return as, unsupported("a remote AdaptationSet (xlink:href)")
	}
	if a.SegmentBase != nil || a.SegmentList != nil {
		return as, unsupported("%s (only SegmentTemplate)", kindOfAddressing(a.SegmentBase, a.SegmentList))
	}
	base, err := withBase(base, a.BaseURLs)
	if err != nil {
		return as, err
	}
	if len(a.Representations) == 0 {
		return as, errors.New("no Representation")
	}
	tmpl := mergeTemplate(periodTmpl, a.SegmentTemplate)
	for _, r := range a.Representations {
		rep, err := parseRepresentation(dur, base, tmpl, a, r, kind)
		if err != nil {
			return as, fmt.Errorf("representation %q: %w", r.Id, err)
		}
		if ids[rep.ID] {
			return as, fmt.Errorf("representation %q: the id is used twice", rep.ID)
		}
		ids[rep.ID] = true
		as.Representations = append(as.Representations, rep)
	}
	return as, nil
}

func parseRepresentation(dur time.Duration, base string, tmpl *dashmpd.SegmentTemplateType, a *dashmpd.AdaptationSetType, r *dashmpd.RepresentationType, kind string) (Representation, error) {
	rep := Representation{
		ID:        r.Id,
		Bandwidth: int(r.Bandwidth),
		Width:     int(pick(r.Width, a.Width)),
		Height:    int(pick(r.Height, a.Height)),
		Codecs:    pick(r.Codecs, a.Codecs),
		MimeType:  pick(r.MimeType, a.MimeType),
	}
	if rep.ID == "" {
		return rep, errors.New("no id")
	}
	if strings.ContainsAny(rep.ID, "$/") {
		return rep, errors.New("the id contains '$' or '/'")
	}
	if rep.Bandwidth <= 0 {
		return rep, errors.New("no bandwidth")
	}
	if r.SegmentBase != nil || r.SegmentList != nil {
		return rep, unsupported("%s (only SegmentTemplate)", kindOfAddressing(r.SegmentBase, r.SegmentList))
	}
	if len(r.SubRepresentations) > 0 {
		return rep, unsupported("SubRepresentation")
	}
	if fr := pick(r.FrameRate, a.FrameRate); fr != "" {
		f, err := parseFrameRate(string(fr))
		if err != nil {
			return rep, err
		}
		rep.FrameRate = f
	}
	if sr := r.AudioSamplingRate; sr != nil || a.AudioSamplingRate != nil {
		if sr == nil {
			sr = a.AudioSamplingRate
		}
		first, _, _ := strings.Cut(strings.TrimSpace(string(*sr)), " ")
		n, err := strconv.Atoi(first)
		if err != nil || n <= 0 {
			return rep, fmt.Errorf("bad audioSamplingRate %q", string(*sr))
		}
		rep.SampleRate = n
	}
	if kind == "video" && (rep.Width <= 0 || rep.Height <= 0) {
		return rep, errors.New("a video representation without width and height")
	}
	base, err := withBase(base, r.BaseURLs)
	if err != nil {
		return rep, err
	}
	t := mergeTemplate(tmpl, r.SegmentTemplate)
	if t == nil {
		return rep, unsupported("a representation without SegmentTemplate (SegmentBase or none)")
	}
	init := t.Initialization
	if init == "" && t.SegmentBaseType.Initialization != nil {
		init = string(t.SegmentBaseType.Initialization.SourceURL)
	}
	if init == "" {
		return rep, unsupported("a SegmentTemplate without initialization segment")
	}
	if t.Media == "" {
		return rep, errors.New("the SegmentTemplate has no media attribute")
	}
	if !strings.Contains(t.Media, "$Number") && !strings.Contains(t.Media, "$Time") {
		return rep, errors.New("the media template has neither $Number$ nor $Time$")
	}
	initURL, err := expand(init, rep, 0, 0)
	if err != nil {
		return rep, err
	}
	if rep.Init, err = resolve(base, initURL); err != nil {
		return rep, err
	}
	times, err := segmentTimes(t, dur)
	if err != nil {
		return rep, err
	}
	timescale := uint64(t.GetTimescale())
	pto := uint64(0)
	if t.PresentationTimeOffset != nil {
		pto = *t.PresentationTimeOffset
	}
	rep.Segments = make([]Segment, 0, len(times))
	for _, st := range times {
		u, err := expand(t.Media, rep, st.number, st.t)
		if err != nil {
			return rep, err
		}
		if u, err = resolve(base, u); err != nil {
			return rep, err
		}
		start := int64(st.t) - int64(pto)
		rep.Segments = append(rep.Segments, Segment{
			Number:   st.number,
			Start:    ticks(start, timescale),
			Duration: ticks(int64(st.d), timescale),
			URL:      u,
		})
	}
	if len(rep.Segments) == 0 {
		return rep, errors.New("no media segment")
	}
	return rep, nil
}

func pick[T comparable](own, inherited T) T {
	var zero T
	if own != zero {
		return own
	}
	return inherited
}

// parseFrameRate reads "30", "30000/1001" or "29.97".
func parseFrameRate(s string) (float64, error) {
	num, den, frac := strings.Cut(s, "/")
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n <= 0 || math.IsInf(n, 0) {
		return 0, fmt.Errorf("bad frameRate %q", s)
	}
	if !frac {
		return n, nil
	}
	d, err := strconv.ParseFloat(den, 64)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("bad frameRate %q", s)
	}
	return n / d, nil
}

// mergeTemplate applies the attributes and elements of a lower level's
// SegmentTemplate over those inherited from the level above.
func mergeTemplate(upper, lower *dashmpd.SegmentTemplateType) *dashmpd.SegmentTemplateType {
	if upper == nil {
		return lower
	}
	if lower == nil {
		return upper
	}
	t := *upper
	l := lower
	t.Media = pick(l.Media, t.Media)
	t.Index = pick(l.Index, t.Index)
	t.Initialization = pick(l.Initialization, t.Initialization)
	t.BitstreamSwitching = pick(l.BitstreamSwitching, t.BitstreamSwitching)
	t.Duration = pick(l.Duration, t.Duration)
	t.StartNumber = pick(l.StartNumber, t.StartNumber)
	t.EndNumber = pick(l.EndNumber, t.EndNumber)
	t.SegmentTimeline = pick(l.SegmentTimeline, t.SegmentTimeline)
	t.Timescale = pick(l.Timescale, t.Timescale)
	t.PresentationTimeOffset = pick(l.PresentationTimeOffset, t.PresentationTimeOffset)
	t.SegmentBaseType.Initialization = pick(l.SegmentBaseType.Initialization, t.SegmentBaseType.Initialization)
	t.K = pick(l.K, t.K)
	t.EndSubNumber = pick(l.EndSubNumber, t.EndSubNumber)
	return &t
}

// segTime is one segment in timescale units.
type segTime struct {
	number uint64
	t, d   uint64
}

// maxSegments bounds the expansion of one representation (at 2 s a
// segment, 72 hours), and maxTotalSegments that of a whole manifest, so a
// hostile manifest (a tiny @duration, a huge @r) cannot exhaust memory.
const (
	maxSegments      = 1 << 17
	maxTotalSegments = 1 << 20
)

// segmentTimes lists the segments of a template over a period of length dur.
func segmentTimes(t *dashmpd.SegmentTemplateType, dur time.Duration) ([]segTime, error) {
	if t.K != nil || t.EndSubNumber != nil {
		return nil, unsupported("segment sequences (@k, @endSubNumber)")
	}
	timescale := uint64(t.GetTimescale())
	if timescale == 0 {
		return nil, errors.New("timescale 0")
	}
	number := uint64(1)
	if t.StartNumber != nil {
		number = uint64(*t.StartNumber)
	}
	pto := uint64(0)
	if t.PresentationTimeOffset != nil {
		pto = *t.PresentationTimeOffset
	}
	// end is the period's end in timescale units from the period's start.
	end, ok := durationTicks(dur, timescale)
	if !ok || timescale > math.MaxUint32 {
		return nil, errors.New("the duration does not fit the timescale")
	}

	var out []segTime
	if tl := t.SegmentTimeline; tl != nil {
		if len(tl.Pattern) > 0 {
			return nil, unsupported("a SegmentTimeline with Pattern")
		}
		if len(tl.S) == 0 {
			return nil, errors.New("an empty SegmentTimeline")
		}
		next := pto
		for i, s := range tl.S {
			if s.N != nil || s.K != nil || s.P != nil || s.PE != nil || s.Ssp != nil {
				return nil, unsupported("S@n, S@k and duration patterns in a SegmentTimeline")
			}
			if s.D == 0 {
				return nil, fmt.Errorf("SegmentTimeline S %d has no duration", i)
			}
			if s.T != nil {
				if *s.T < next && i > 0 {
					return nil, fmt.Errorf("SegmentTimeline S %d starts at %d, before the end of the previous one (%d)", i, *s.T, next)
				}
				next = *s.T
			}
			repeat := s.R
			if repeat < 0 {
				if i != len(tl.S)-1 {
					return nil, unsupported("S@r=-1 before the last S of a SegmentTimeline")
				}
				// Repeat until the end of the period.
				remaining := int64(pto+end) - int64(next)
				repeat = int(ceilDiv(remaining, int64(s.D))) - 1
				if repeat < 0 {
					repeat = 0
				}
			}
			for k := 0; k <= repeat; k++ {
				if len(out) >= maxSegments {
					return nil, fmt.Errorf("more than %d segments", maxSegments)
				}
				out = append(out, segTime{number: number, t: next, d: s.D})
				number++
				next += s.D
			}
		}
		return out, nil
	}
	if t.Duration == nil || *t.Duration == 0 {
		return nil, errors.New("the SegmentTemplate has neither a SegmentTimeline nor a duration")
	}
	d := uint64(*t.Duration)
	count := ceilDiv(int64(end), int64(d))
	if t.EndNumber != nil {
		if last := int64(*t.EndNumber) - int64(number) + 1; last < count {
			count = last
		}
	}
	if count <= 0 {
		return nil, errors.New("no media segment")
	}
	if count > maxSegments {
		return nil, fmt.Errorf("more than %d segments", maxSegments)
	}
	for i := int64(0); i < count; i++ {
		st := uint64(i) * d
		sd := d
		if st+sd > end {
			sd = end - st // the last segment ends with the period
		}
		out = append(out, segTime{number: number + uint64(i), t: pto + st, d: sd})
	}
	return out, nil
}

func ceilDiv(a, b int64) int64 {
	if a <= 0 {
		return 0
	}
	return (a + b - 1) / b
}

// ticks converts n units of 1/timescale s to a duration, exactly where it
// fits.
func ticks(n int64, timescale uint64) time.Duration {
	v := new(big.Int).Mul(big.NewInt(n), big.NewInt(int64(time.Second)))
	v.Quo(v, new(big.Int).SetUint64(timescale))
	return time.Duration(v.Int64())
}

// durationTicks converts d to units of 1/timescale s, rounded to the nearest
// unit (MPD durations are written with limited precision), and reports
// whether the result fits in 63 bits.
func durationTicks(d time.Duration, timescale uint64) (uint64, bool) {
	v := new(big.Int).Mul(big.NewInt(int64(d)), new(big.Int).SetUint64(timescale))
	v.Add(v, big.NewInt(int64(time.Second)/2))
	v.Quo(v, big.NewInt(int64(time.Second)))
	return v.Uint64(), v.IsInt64()
}

// expand substitutes the identifiers of a segment template (ISO/IEC 23009-1
// 5.3.9.4.4): $RepresentationID$, $Number$, $Time$ and $Bandwidth$, each
// optionally with a %0Nd width, and $$.
func expand(tmpl string, r Representation, number, t uint64) (string, error) {
	var b strings.Builder
	rest := tmpl
	for {
		i := strings.IndexByte(rest, '$')
		if i < 0 {
			b.WriteString(rest)
			return b.String(), nil
		}
		b.WriteString(rest[:i])
		rest = rest[i+1:]
		j := strings.IndexByte(rest, '$')
		if j < 0 {
			return "", fmt.Errorf("template %q: unterminated $", tmpl)
		}
		ident := rest[:j]
		rest = rest[j+1:]
		if ident == "" {
			b.WriteByte('$')
			continue
		}
		name, format, hasFormat := strings.Cut(ident, "%")
		var value uint64
		switch name {
		case "RepresentationID":
			if hasFormat {
				return "", fmt.Errorf("template %q: $RepresentationID$ takes no format", tmpl)
			}
			b.WriteString(r.ID)
			continue
		case "Number":
			value = number
		case "Time":
			value = t
		case "Bandwidth":
			value = uint64(r.Bandwidth)
		default:
			return "", unsupported("the template identifier $%s$ (in %q)", ident, tmpl)
		}
		if !hasFormat {
			b.WriteString(strconv.FormatUint(value, 10))
			continue
		}
		width, err := parseWidth(format)
		if err != nil {
			return "", fmt.Errorf("template %q: %w", tmpl, err)
		}
		s := strconv.FormatUint(value, 10)
		for k := len(s); k < width; k++ {
			b.WriteByte('0')
		}
		b.WriteString(s)
	}
}

// parseWidth reads the format tag of a template identifier, "0Nd" (the only
// form the standard allows; "Nd" is read the same way).
func parseWidth(f string) (int, error) {
	digits, ok := strings.CutSuffix(f, "d")
	if !ok || digits == "" {
		return 0, fmt.Errorf("bad format tag %%%s (want %%0Nd)", f)
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 0 || n > 32 {
		return 0, fmt.Errorf("bad format tag %%%s (want %%0Nd)", f)
	}
	return n, nil
}

// withBase resolves the first BaseURL of a level (if any) against base.
func withBase(base string, urls []*dashmpd.BaseURLType) (string, error) {
	if len(urls) == 0 {
		return base, nil
	}
	u := strings.TrimSpace(string(urls[0].Value))
	if u == "" {
		return base, nil
	}
	r, err := resolve(base, u)
	if err != nil {
		return "", fmt.Errorf("BaseURL: %w", err)
	}
	if strings.HasSuffix(u, "/") && !strings.HasSuffix(r, "/") {
		r += "/"
	}
	return r, nil
}

// resolve resolves the relative reference ref against base (both relative to
// the MPD, RFC 3986 style: base's last path segment is replaced) and refuses
// absolute URLs and references that leave the MPD's folder.
func resolve(base, ref string) (string, error) {
	if isAbsolute(ref) {
		return "", unsupported("the absolute URL %q (URLs must be relative to the MPD)", ref)
	}
	dir := base[:strings.LastIndexByte(base, '/')+1]
	joined := dir + ref
	var parts []string
	segs := strings.Split(joined, "/")
	for i, s := range segs {
		switch s {
		case "", ".":
			if i == len(segs)-1 {
				parts = append(parts, "")
			}
		case "..":
			if len(parts) == 0 {
				return "", fmt.Errorf("the URL %q leaves the MPD's folder", ref)
			}
			parts = parts[:len(parts)-1]
			if i == len(segs)-1 {
				parts = append(parts, "")
			}
		default:
			parts = append(parts, s)
		}
	}
	out := strings.Join(parts, "/")
	if out == "" {
		return "", fmt.Errorf("the URL %q names no file", ref)
	}
	return out, nil
}

func isAbsolute(u string) bool {
	if strings.HasPrefix(u, "/") || strings.HasPrefix(u, `\`) {
		return true
	}
	// A scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" before any '/'.
	if i := strings.IndexByte(u, ':'); i > 0 {
		if j := strings.IndexAny(u, "/?#"); j < 0 || i < j {
			return true
		}
	}
	return false
}

// wellFormed checks raw with the standard library's strict XML decoder: one
// root element, balanced, nothing but space, comments and processing
// instructions around it. dash-mpd's own decoder (a patched copy of
// encoding/xml) is less strict.
func wellFormed(raw []byte) error {
	d := xml.NewDecoder(bytes.NewReader(raw))
	d.Strict = true
	roots, depth := 0, 0
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return errors.New("text outside the root element")
			}
		case xml.Directive:
			return unsupported("an XML directive (DOCTYPE)")
		}
	}
	if depth != 0 {
		return errors.New("unexpected end of the document")
	}
	if roots != 1 {
		return fmt.Errorf("%d root elements", roots)
	}
	return nil
}

// escapeTextGT writes every '>' in character data as "&gt;". dash-mpd
// v0.17.0's decoder stops reading text at a '>' without consuming it and
// then reads empty text at the same place forever: an MPD with "a > b" in a
// title would hang Parse. Markup (tags with their quoted attributes,
// comments, processing instructions, CDATA) is copied as it is.
func escapeTextGT(raw []byte) ([]byte, error) {
	if bytes.IndexByte(raw, '>') < 0 {
		return raw, nil
	}
	out := make([]byte, 0, len(raw)+64)
	for i := 0; i < len(raw); {
		c := raw[i]
		if c == '>' {
			out = append(out, "&gt;"...)
			i++
			continue
		}
		if c != '<' {
			out = append(out, c)
			i++
			continue
		}
		rest := raw[i:]
		end := 0 // length of the markup starting at i
		for _, m := range [][2]string{{"<!--", "-->"}, {"<![CDATA[", "]]>"}, {"<?", "?>"}} {
			if bytes.HasPrefix(rest, []byte(m[0])) {
				if k := bytes.Index(rest[len(m[0]):], []byte(m[1])); k >= 0 {
					end = len(m[0]) + k + len(m[1])
				}
				break
			}
		}
		if end == 0 && !bytes.HasPrefix(rest, []byte("<!")) && !bytes.HasPrefix(rest, []byte("<?")) {
			end = tagEnd(rest)
		}
		if end == 0 {
			return nil, errors.New("unterminated markup")
		}
		out = append(out, rest[:end]...)
		i += end
	}
	return out, nil
}

// tagEnd is the length of the tag at the start of b, up to its '>' outside
// quoted attribute values, or 0 if it does not end.
func tagEnd(b []byte) int {
	var quote byte
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return i + 1
		}
	}
	return 0
}
