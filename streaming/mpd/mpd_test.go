package mpd

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func parseFile(t *testing.T, name string) *Manifest {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(raw)
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return m
}

// public is the manifest without its document, for comparisons.
func public(m *Manifest) Manifest {
	c := *m
	c.doc = nil
	return c
}

func segs(urlFormat string, first uint64, step time.Duration, durs ...time.Duration) []Segment {
	var out []Segment
	start := time.Duration(0)
	for i, d := range durs {
		n := first + uint64(i)
		out = append(out, Segment{Number: n, Start: start, Duration: d, URL: fmt.Sprintf(urlFormat, n)})
		start += step
	}
	return out
}

func TestParseFFmpeg(t *testing.T) {
	m := parseFile(t, "ffmpeg.mpd")
	if m.Duration != 6*time.Second || m.MinBufferTime != 4*time.Second {
		t.Errorf("duration %v, min buffer %v; want 6s, 4s", m.Duration, m.MinBufferTime)
	}
	if len(m.Video) != 1 || len(m.Audio) != 1 {
		t.Fatalf("%d video and %d audio sets, want 1 and 1", len(m.Video), len(m.Audio))
	}
	sizes := [][2]int{{1280, 720}, {854, 480}, {640, 360}, {426, 240}}
	bws := []int{2500000, 1200000, 700000, 300000}
	v := m.Video[0]
	if v.ID != "0" || len(v.Representations) != 4 {
		t.Fatalf("video set %q with %d representations, want id 0 and 4", v.ID, len(v.Representations))
	}
	for i, r := range v.Representations {
		want := Representation{
			ID: fmt.Sprint(i), Bandwidth: bws[i], Width: sizes[i][0], Height: sizes[i][1], FrameRate: 30,
			Codecs: r.Codecs, MimeType: "video/mp4",
			Init:     fmt.Sprintf("init-stream%d.m4s", i),
			Segments: segs(fmt.Sprintf("chunk-stream%d-%%05d.m4s", i), 1, 2*time.Second, 2*time.Second, 2*time.Second, 2*time.Second),
		}
		if !strings.HasPrefix(r.Codecs, "avc1.") {
			t.Errorf("representation %d: codecs %q", i, r.Codecs)
		}
		if !reflect.DeepEqual(r, want) {
			t.Errorf("representation %d:\n got %+v\nwant %+v", i, r, want)
		}
	}
	a := m.Audio[0].Representations[0]
	if a.ID != "4" || a.Codecs != "mp4a.40.2" || a.SampleRate != 48000 || a.MimeType != "audio/mp4" || a.Init != "init-stream4.m4s" {
		t.Errorf("audio representation %+v", a)
	}
	// t=0 d=95232, then 96256 twice, then 1024 (timescale 48000).
	wantStarts := []int64{0, 95232, 95232 + 96256, 95232 + 2*96256}
	wantDurs := []int64{95232, 96256, 96256, 1024}
	if len(a.Segments) != 4 {
		t.Fatalf("audio: %d segments, want 4", len(a.Segments))
	}
	for i, s := range a.Segments {
		if s.Start != ticks(wantStarts[i], 48000) || s.Duration != ticks(wantDurs[i], 48000) || s.Number != uint64(i+1) {
			t.Errorf("audio segment %d: %+v", i, s)
		}
		if want := fmt.Sprintf("chunk-stream4-%05d.m4s", i+1); s.URL != want {
			t.Errorf("audio segment %d: URL %q, want %q", i, s.URL, want)
		}
	}
	var ladder []int
	for _, r := range v.Ladder() {
		ladder = append(ladder, r.Bandwidth)
	}
	if fmt.Sprint(ladder) != "[300000 700000 1200000 2500000]" || v.Representations[0].Bandwidth != 2500000 {
		t.Errorf("Ladder() bandwidths %v (and the document order must stay)", ladder)
	}
	if r, ok := m.Representation("2"); !ok || r.Height != 360 {
		t.Errorf("Representation(2) = %+v, %v", r, ok)
	}
	if _, ok := m.Representation("9"); ok {
		t.Error("Representation(9) found")
	}
}

// TestParseFFmpegNumber: ffmpeg with -use_timeline 0 writes $Number$ with
// @duration and no timeline.
func TestParseFFmpegNumber(t *testing.T) {
	m := parseFile(t, "ffmpeg-number.mpd")
	if len(m.Video) != 1 || len(m.Video[0].Representations) != 2 || len(m.Audio) != 1 {
		t.Fatalf("%+v", public(m))
	}
	for _, r := range append(m.Video[0].Representations, m.Audio[0].Representations...) {
		want := segs("chunk-stream"+r.ID+"-%05d.m4s", 1, 2*time.Second, 2*time.Second, 2*time.Second, 2*time.Second)
		if !reflect.DeepEqual(r.Segments, want) {
			t.Errorf("representation %s:\n got %+v\nwant %+v", r.ID, r.Segments, want)
		}
	}
}

func TestParseShaka(t *testing.T) {
	m := parseFile(t, "shaka.mpd")
	if m.Duration != 10010*time.Millisecond {
		t.Errorf("duration %v", m.Duration)
	}
	if len(m.Video) != 1 || len(m.Audio) != 1 {
		t.Fatalf("%d video and %d audio sets (the text set must be left out)", len(m.Video), len(m.Audio))
	}
	hd := m.Video[0].Representations[0]
	if hd.FrameRate < 29.97 || hd.FrameRate > 29.98 || hd.Width != 1280 || hd.Height != 720 || hd.Bandwidth != 2493192 {
		t.Errorf("720p representation %+v", hd)
	}
	want := []Segment{
		{Number: 1, Start: 0, Duration: 4004 * time.Millisecond, URL: "h264_720p/0.m4s"},
		{Number: 2, Start: 4004 * time.Millisecond, Duration: 4004 * time.Millisecond, URL: "h264_720p/120120.m4s"},
		{Number: 3, Start: 8008 * time.Millisecond, Duration: 2002 * time.Millisecond, URL: "h264_720p/240240.m4s"},
	}
	if !reflect.DeepEqual(hd.Segments, want) {
		t.Errorf("720p segments\n got %+v\nwant %+v", hd.Segments, want)
	}
	if hd.Init != "h264_720p/init.mp4" {
		t.Errorf("init %q", hd.Init)
	}
	au := m.Audio[0]
	if au.Lang != "en" || au.Representations[0].SampleRate != 44100 || len(au.Representations[0].Segments) != 3 {
		t.Errorf("audio set %+v", au)
	}
	if u := au.Representations[0].Segments[2].URL; u != "audio/353280.m4s" {
		t.Errorf("last audio URL %q", u)
	}
}

func TestParseGPAC(t *testing.T) {
	m := parseFile(t, "gpac.mpd")
	if m.Duration != 9*time.Second {
		t.Errorf("duration %v", m.Duration)
	}
	if len(m.Video) != 1 || len(m.Audio) != 1 {
		t.Fatalf("%d video and %d audio sets", len(m.Video), len(m.Audio))
	}
	v := m.Video[0].Representations
	// 9 s in segments of 4 s: 4, 4 and a last one of 1 s.
	if got, want := v[0].Segments, segs("media/v540_%d.m4s", 1, 4*time.Second, 4*time.Second, 4*time.Second, time.Second); !reflect.DeepEqual(got, want) {
		t.Errorf("540p segments\n got %+v\nwant %+v", got, want)
	}
	if v[0].Init != "media/v540_init.mp4" || v[0].FrameRate != 25 || v[0].Codecs != "avc1.64001F" {
		t.Errorf("540p %+v", v[0])
	}
	// BaseURL at representation level, startNumber 0, $Number%03d$.
	if got, want := v[1].Segments, segs("media/low/v270_%03d.m4s", 0, 4*time.Second, 4*time.Second, 4*time.Second, time.Second); !reflect.DeepEqual(got, want) {
		t.Errorf("270p segments\n got %+v\nwant %+v", got, want)
	}
	if v[1].Init != "media/low/v270_init.mp4" {
		t.Errorf("270p init %q", v[1].Init)
	}
	if a := m.Audio[0].Representations[0]; a.SampleRate != 48000 || len(a.Segments) != 3 || a.Segments[2].URL != "media/a_3.m4s" {
		t.Errorf("audio %+v", a)
	}
}

func TestParseAdaptationSetTemplate(t *testing.T) {
	m := parseFile(t, "adaptationset-template.mpd")
	if len(m.Video) != 1 || len(m.Audio) != 0 {
		t.Fatalf("%d video and %d audio sets", len(m.Video), len(m.Audio))
	}
	reps := m.Video[0].Representations
	if m.Video[0].ID != "7" || len(reps) != 2 {
		t.Fatalf("set %+v", m.Video[0])
	}
	// r=-1 repeats to the end of the 7 s period; presentationTimeOffset 500
	// ms makes the first segment start at 0.
	want := []Segment{
		{Number: 10, Start: 0, Duration: 2 * time.Second, URL: "hd/seg-0010-3000000.m4s"},
		{Number: 11, Start: 2 * time.Second, Duration: 2 * time.Second, URL: "hd/seg-0011-3000000.m4s"},
		{Number: 12, Start: 4 * time.Second, Duration: 2 * time.Second, URL: "hd/seg-0012-3000000.m4s"},
		{Number: 13, Start: 6 * time.Second, Duration: 2 * time.Second, URL: "hd/seg-0013-3000000.m4s"},
	}
	if !reflect.DeepEqual(reps[0].Segments, want) {
		t.Errorf("hd segments\n got %+v\nwant %+v", reps[0].Segments, want)
	}
	if reps[0].Init != "hd/init.mp4" || reps[1].Init != "sd/init.mp4" {
		t.Errorf("inits %q %q", reps[0].Init, reps[1].Init)
	}
	if reps[0].Codecs != "avc1.4d401f" || reps[1].Codecs != "avc1.4d401e" || reps[1].MimeType != "video/mp4" || reps[1].FrameRate != 60 {
		t.Errorf("inherited attributes: %+v / %+v", reps[0], reps[1])
	}
	if u := reps[1].Segments[0].URL; u != "sd/seg-0010-800000.m4s" {
		t.Errorf("sd first URL %q", u)
	}
}

// TestRoundTrip parses, writes and parses again: the manifest must be the
// same, and writing again must give the same bytes.
func TestRoundTrip(t *testing.T) {
	for _, name := range []string{"ffmpeg.mpd", "ffmpeg-number.mpd", "shaka.mpd", "gpac.mpd", "adaptationset-template.mpd"} {
		t.Run(name, func(t *testing.T) {
			m := parseFile(t, name)
			var first bytes.Buffer
			if err := m.Write(&first); err != nil {
				t.Fatal(err)
			}
			again, err := Parse(first.Bytes())
			if err != nil {
				t.Fatalf("parse the written MPD: %v\n%s", err, first.String())
			}
			if !reflect.DeepEqual(public(m), public(again)) {
				t.Errorf("manifest changed in the round trip\n got %+v\nwant %+v", public(again), public(m))
			}
			var second bytes.Buffer
			if err := again.Write(&second); err != nil {
				t.Fatal(err)
			}
			if first.String() != second.String() {
				t.Errorf("second write differs:\n%s\n---\n%s", first.String(), second.String())
			}
			if name == "ffmpeg.mpd" {
				for _, s := range []string{`type="static"`, `par="16:9"`, `sar="1280:1281"`, `media="chunk-stream$RepresentationID$-$Number%05d$.m4s"`, `<S t="0" d="95232"`} {
					if !strings.Contains(first.String(), s) {
						t.Errorf("written MPD lacks %s", s)
					}
				}
			}
		})
	}
}

func TestWriteUnparsed(t *testing.T) {
	var m Manifest
	if err := m.Write(new(bytes.Buffer)); err == nil {
		t.Error("Write of a manifest that was not parsed succeeded")
	}
}

const goodRep = `<Representation id="v" bandwidth="1000" width="640" height="360" mimeType="video/mp4" codecs="avc1.42c01e">
<SegmentTemplate timescale="1000" duration="2000" initialization="init.mp4" media="$Number$.m4s"/></Representation>`

func mpdWith(attrs, period string) string {
	return `<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" ` + attrs + `>` + period + `</MPD>`
}

func oneRep(rep string) string {
	return mpdWith(`type="static" mediaPresentationDuration="PT4S"`, `<Period><AdaptationSet contentType="video">`+rep+`</AdaptationSet></Period>`)
}

func TestParseRefuses(t *testing.T) {
	if _, err := Parse([]byte(oneRep(goodRep))); err != nil {
		t.Fatalf("the base case does not parse: %v", err)
	}
	cases := []struct {
		name, raw   string
		unsupported bool
		want        string // in the error
	}{
		{"empty", "", false, "empty"},
		{"not XML", "#EXTM3U\n#EXT-X-VERSION:3\n", false, "not XML"},
		{"other XML", `<?xml version="1.0"?><html><body/></html>`, false, "not an MPD"},
		{"truncated", oneRep(goodRep)[:120], false, "not an MPD"},
		{"dynamic", mpdWith(`type="dynamic" availabilityStartTime="2026-01-01T00:00:00Z"`, `<Period start="PT0S"><AdaptationSet contentType="video">`+goodRep+`</AdaptationSet></Period>`), true, "dynamic"},
		{"no period", mpdWith(`type="static" mediaPresentationDuration="PT4S"`, ``), false, "no Period"},
		{"two periods", mpdWith(`type="static" mediaPresentationDuration="PT8S"`, `<Period duration="PT4S"><AdaptationSet contentType="video">`+goodRep+`</AdaptationSet></Period><Period duration="PT4S"><AdaptationSet contentType="video">`+goodRep+`</AdaptationSet></Period>`), true, "2 periods"},
		{"no duration", mpdWith(`type="static"`, `<Period><AdaptationSet contentType="video">`+goodRep+`</AdaptationSet></Period>`), true, "without a duration"},
		{"SegmentList", oneRep(`<Representation id="v" bandwidth="1000" width="640" height="360"><SegmentList duration="2"><Initialization sourceURL="i.mp4"/><SegmentURL media="a.m4s"/></SegmentList></Representation>`), true, "SegmentList"},
		{"SegmentBase", oneRep(`<Representation id="v" bandwidth="1000" width="640" height="360"><BaseURL>v.mp4</BaseURL><SegmentBase indexRange="800-1000"><Initialization range="0-799"/></SegmentBase></Representation>`), true, "SegmentBase"},
		{"SegmentList on the set", mpdWith(`type="static" mediaPresentationDuration="PT4S"`, `<Period><AdaptationSet contentType="video"><SegmentList duration="2"/>`+goodRep+`</AdaptationSet></Period>`), true, "SegmentList"},
		{"no template", oneRep(`<Representation id="v" bandwidth="1000" width="640" height="360"><BaseURL>v.mp4</BaseURL></Representation>`), true, "without SegmentTemplate"},
		{"no duration nor timeline", oneRep(`<Representation id="v" bandwidth="1000" width="640" height="360"><SegmentTemplate initialization="i.mp4" media="$Number$.m4s"/></Representation>`), false, "neither a SegmentTimeline nor a duration"},
		{"no init", oneRep(`<Representation id="v" bandwidth="1000" width="640" height="360"><SegmentTemplate duration="2" media="$Number$.m4s"/></Representation>`), true, "initialization"},
		{"no number in media", oneRep(`<Representation id="v" bandwidth="1000" width="640" height="360"><SegmentTemplate duration="2" initialization="i.mp4" media="all.m4s"/></Representation>`), false, "neither $Number$ nor $Time$"},
		{"SubNumber", oneRep(`<Representation id="v" bandwidth="1000" width="640" height="360"><SegmentTemplate duration="2" initialization="i.mp4" media="$Number$-$SubNumber$.m4s"/></Representation>`), true, "$SubNumber$"},
		{"bad width tag", oneRep(`<Representation id="v" bandwidth="1000" width="640" height="360"><SegmentTemplate duration="2" initialization="i.mp4" media="$Number%5s$.m4s"/></Representation>`), false, "format tag"},
		{"unterminated identifier", oneRep(`<Representation id="v" bandwidth="1000" width="640" height="360"><SegmentTemplate duration="2" initialization="i.mp4" media="$Number.m4s"/></Representation>`), false, "unterminated"},
		{"absolute BaseURL", oneRep(`<BaseURL>https://cdn.example/v/</BaseURL>` + goodRep), true, "absolute URL"},
		{"rooted media", oneRep(`<Representation id="v" bandwidth="1000" width="640" height="360"><SegmentTemplate duration="2" initialization="i.mp4" media="/v/$Number$.m4s"/></Representation>`), true, "absolute URL"},
		{"escaping BaseURL", oneRep(`<BaseURL>../../etc/</BaseURL>` + goodRep), false, "leaves the MPD's folder"},
		{"no bandwidth", oneRep(`<Representation id="v" width="640" height="360"><SegmentTemplate duration="2" initialization="i.mp4" media="$Number$.m4s"/></Representation>`), false, "no bandwidth"},
		{"no id", oneRep(`<Representation bandwidth="1000" width="640" height="360"><SegmentTemplate duration="2" initialization="i.mp4" media="$Number$.m4s"/></Representation>`), false, "no id"},
		{"id twice", oneRep(goodRep + goodRep), false, "used twice"},
		{"video without size", oneRep(`<Representation id="v" bandwidth="1000"><SegmentTemplate duration="2" initialization="i.mp4" media="$Number$.m4s"/></Representation>`), false, "width and height"},
		{"bad frame rate", oneRep(`<Representation id="v" bandwidth="1000" width="640" height="360" frameRate="fast"><SegmentTemplate duration="2" initialization="i.mp4" media="$Number$.m4s"/></Representation>`), false, "frameRate"},
		{"timeline without d", oneRep(`<Representation id="v" bandwidth="1000" width="640" height="360"><SegmentTemplate initialization="i.mp4" media="$Time$.m4s"><SegmentTimeline><S t="0"/></SegmentTimeline></SegmentTemplate></Representation>`), false, "no duration"},
		{"timeline going back", oneRep(`<Representation id="v" bandwidth="1000" width="640" height="360"><SegmentTemplate initialization="i.mp4" media="$Time$.m4s"><SegmentTimeline><S t="0" d="4"/><S t="2" d="2"/></SegmentTimeline></SegmentTemplate></Representation>`), false, "before the end"},
		{"too many segments", oneRep(`<Representation id="v" bandwidth="1000" width="640" height="360"><SegmentTemplate initialization="i.mp4" media="$Time$.m4s" timescale="1000"><SegmentTimeline><S t="0" d="1" r="200000"/></SegmentTimeline></SegmentTemplate></Representation>`), false, "more than"},
		{"unbalanced", mpdWith(`type="static" mediaPresentationDuration="PT4S"`, `<Period><AdaptationSet contentType="video">`+goodRep+`</Period>`), false, "not an MPD"},
		{"text around the root", "x" + oneRep(goodRep), false, "not XML"},
		{"text after the root", oneRep(goodRep) + "x>", false, "outside the root"},
		{"two roots", oneRep(goodRep) + oneRep(goodRep), false, "2 root elements"},
		{"DOCTYPE", `<?xml version="1.0"?><!DOCTYPE MPD [<!ENTITY a "aaaa">]>` + oneRep(goodRep)[len(`<?xml version="1.0"?>`):], true, "DOCTYPE"},
		{"only text", mpdWith(`type="static" mediaPresentationDuration="PT4S"`, `<Period><AdaptationSet contentType="text"><Representation id="t" bandwidth="100" mimeType="text/vtt"><BaseURL>s.vtt</BaseURL></Representation></AdaptationSet></Period>`), false, "no video or audio"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := Parse([]byte(c.raw))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", public(m))
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not name %q", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), "mpd: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			if got := errors.Is(err, ErrUnsupported); got != c.unsupported {
				t.Errorf("errors.Is(%q, ErrUnsupported) = %v, want %v", err, got, c.unsupported)
			}
		})
	}
}

// TestParseTextWithGT: a '>' in text is valid XML (and hangs dash-mpd's
// decoder unless escaped first).
func TestParseTextWithGT(t *testing.T) {
	raw := mpdWith(`type="static" mediaPresentationDuration="PT4S"`,
		`<ProgramInformation><Title>before > after</Title></ProgramInformation><!-- a > b --><Period><AdaptationSet contentType="video"><![CDATA[x > y]]>`+goodRep+`</AdaptationSet></Period>`)
	done := make(chan error, 1)
	go func() {
		m, err := Parse([]byte(raw))
		if err == nil {
			var b bytes.Buffer
			if err = m.Write(&b); err == nil && !strings.Contains(b.String(), "before &gt; after") {
				err = fmt.Errorf("the title was not kept: %s", b.String())
			}
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Parse hangs on a '>' in text")
	}
}

func TestEscapeTextGT(t *testing.T) {
	cases := []struct{ in, want string }{
		{`<a b=">">x > y</a>`, `<a b=">">x &gt; y</a>`},
		{`<a b='>'/><!-- > --><?p > ?><![CDATA[>]]>>`, `<a b='>'/><!-- > --><?p > ?><![CDATA[>]]>&gt;`},
		{`no markup`, `no markup`},
	}
	for _, c := range cases {
		got, err := escapeTextGT([]byte(c.in))
		if err != nil || string(got) != c.want {
			t.Errorf("escapeTextGT(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{`<a b=">`, `<!-- >`, `<?p >`, `<![CDATA[ >`, `<!DOCTYPE x>`} {
		if got, err := escapeTextGT([]byte(bad)); err == nil {
			t.Errorf("escapeTextGT(%q) = %q, want an error", bad, got)
		}
	}
}

func TestExpand(t *testing.T) {
	r := Representation{ID: "720p", Bandwidth: 2500000}
	cases := []struct{ tmpl, want string }{
		{"$RepresentationID$/$Number$.m4s", "720p/7.m4s"},
		{"chunk-$Number%05d$.m4s", "chunk-00007.m4s"},
		{"t$Time$-b$Bandwidth$.m4s", "t123456-b2500000.m4s"},
		{"t$Time%08d$.m4s", "t00123456.m4s"},
		{"cost$$$Number$.m4s", "cost$7.m4s"},
		{"n$Number%02d$.m4s", "n07.m4s"},
		{"n$Number%01d$.m4s", "n7.m4s"},
	}
	for _, c := range cases {
		got, err := expand(c.tmpl, r, 7, 123456)
		if err != nil || got != c.want {
			t.Errorf("expand(%q) = %q, %v; want %q", c.tmpl, got, err, c.want)
		}
	}
}

func TestResolve(t *testing.T) {
	cases := []struct{ base, ref, want string }{
		{"", "a.m4s", "a.m4s"},
		{"video/", "a.m4s", "video/a.m4s"},
		{"video/x", "a.m4s", "video/a.m4s"},
		{"video/720/", "../360/a.m4s", "video/360/a.m4s"},
		{"", "./a.m4s", "a.m4s"},
	}
	for _, c := range cases {
		if got, err := resolve(c.base, c.ref); err != nil || got != c.want {
			t.Errorf("resolve(%q, %q) = %q, %v; want %q", c.base, c.ref, got, err, c.want)
		}
	}
	for _, ref := range []string{"../a.m4s", "http://h/a.m4s", "/a.m4s", "C:a", `\\host\a`, "..", "."} {
		if got, err := resolve("", ref); err == nil {
			t.Errorf("resolve(%q) = %q, want an error", ref, got)
		}
	}
}
