package packager

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sizes(l []Rendition) [][2]int {
	var out [][2]int
	for _, r := range l {
		out = append(out, [2]int{r.Width, r.Height})
	}
	return out
}

func TestLadderSizes(t *testing.T) {
	cases := []struct {
		name string
		src  Source
		want [][2]int
	}{
		{"720p", Source{Width: 1280, Height: 720, FrameRate: 30}, [][2]int{{1280, 720}, {854, 480}, {640, 360}, {426, 240}, {256, 144}}},
		{"1080p", Source{Width: 1920, Height: 1080, FrameRate: 25}, [][2]int{{1920, 1080}, {1280, 720}, {854, 480}, {640, 360}, {426, 240}}},
		{"2160p stops at 1080p", Source{Width: 3840, Height: 2160, FrameRate: 30}, [][2]int{{1920, 1080}, {1280, 720}, {854, 480}, {640, 360}, {426, 240}}},
		{"odd size", Source{Width: 853, Height: 479, FrameRate: 30}, [][2]int{{852, 478}, {642, 360}, {428, 240}, {256, 144}}},
		{"portrait", Source{Width: 360, Height: 640, FrameRate: 30}, [][2]int{{360, 640}, {240, 426}, {144, 256}}},
		{"portrait 1080x1920", Source{Width: 1080, Height: 1920, FrameRate: 30}, [][2]int{{1080, 1920}, {720, 1280}, {480, 854}, {360, 640}, {240, 426}}},
		{"500p keeps 500, skips 480", Source{Width: 888, Height: 500, FrameRate: 30}, [][2]int{{888, 500}, {640, 360}, {426, 240}, {256, 144}}},
		{"4:3", Source{Width: 640, Height: 480, FrameRate: 30}, [][2]int{{640, 480}, {480, 360}, {320, 240}, {192, 144}}},
		{"tiny", Source{Width: 100, Height: 50, FrameRate: 30}, [][2]int{{100, 50}}},
		{"1x1", Source{Width: 1, Height: 1, FrameRate: 30}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := sizes(Ladder(c.src)); !reflect.DeepEqual(got, c.want) {
				t.Errorf("Ladder(%dx%d) = %v, want %v", c.src.Width, c.src.Height, got, c.want)
			}
		})
	}
}

func TestLadderBitrates(t *testing.T) {
	uncapped := Ladder(Source{Width: 1280, Height: 720, FrameRate: 30})
	want := []int{2350000, 1168000, 726000, 368000, 166000}
	for i, r := range uncapped {
		if r.Bitrate != want[i] {
			t.Errorf("720p30 rung %d: %d b/s, want %d", i, r.Bitrate, want[i])
		}
		if r.MaxRate != r.Bitrate*3/2 || r.BufSize != 2*r.Bitrate {
			t.Errorf("rung %d: maxrate %d, bufsize %d for %d", i, r.MaxRate, r.BufSize, r.Bitrate)
		}
	}

	// A rich source does not lift the table's rates.
	if rich := Ladder(Source{Width: 1280, Height: 720, FrameRate: 30, VideoBitrate: 20e6}); !reflect.DeepEqual(rich, uncapped) {
		t.Errorf("a 20 Mb/s source changed the ladder: %+v", rich)
	}

	// A poor source caps every rung at or below its own rate, still falling.
	poor := Ladder(Source{Width: 1280, Height: 720, FrameRate: 30, VideoBitrate: 1e6})
	if poor[0].Bitrate != 1000000 {
		t.Errorf("top rung of a 1 Mb/s source: %d", poor[0].Bitrate)
	}
	for i := 1; i < len(poor); i++ {
		if poor[i].Bitrate >= poor[i-1].Bitrate || poor[i].Bitrate > uncapped[i].Bitrate {
			t.Errorf("rung %d of a 1 Mb/s source: %d (above %d or %d)", i, poor[i].Bitrate, poor[i-1].Bitrate, uncapped[i].Bitrate)
		}
	}

	// 60 fps costs more than 30 fps, but less than twice.
	fast := Ladder(Source{Width: 1280, Height: 720, FrameRate: 60})
	if f, s := fast[0].Bitrate, uncapped[0].Bitrate; f <= s || f >= 2*s {
		t.Errorf("720p60 %d b/s against 720p30 %d b/s", f, s)
	}
}

// TestLadderRules checks the rules on many sources.
func TestLadderRules(t *testing.T) {
	for _, w := range []int{160, 321, 640, 853, 1280, 1281, 1920, 2560, 3840} {
		for _, h := range []int{90, 239, 360, 479, 720, 1080, 1440, 2160} {
			for _, br := range []int{0, 300000, 3000000} {
				src := Source{Width: w, Height: h, FrameRate: 29.97, VideoBitrate: br}
				l := Ladder(src)
				name := fmt.Sprintf("%dx%d@%d", w, h, br)
				if len(l) == 0 || len(l) > MaxRenditions {
					t.Fatalf("%s: %d rungs", name, len(l))
				}
				if short := min(w, h); short >= 360 && len(l) < 3 {
					t.Errorf("%s: only %d rungs", name, len(l))
				}
				for i, r := range l {
					if r.Width%2 != 0 || r.Height%2 != 0 || r.Width > w || r.Height > h {
						t.Errorf("%s rung %d: %dx%d", name, i, r.Width, r.Height)
					}
					if (w > h) != (r.Width > r.Height) && w != h {
						t.Errorf("%s rung %d: %dx%d turned", name, i, r.Width, r.Height)
					}
					if br > 0 && r.Bitrate > br {
						t.Errorf("%s rung %d: %d b/s above the source", name, i, r.Bitrate)
					}
					if i > 0 && (r.Height >= l[i-1].Height || r.Bitrate >= l[i-1].Bitrate) {
						t.Errorf("%s rung %d (%dx%d, %d) not below rung %d (%+v)", name, i, r.Width, r.Height, r.Bitrate, i-1, l[i-1])
					}
				}
			}
		}
	}
}

func TestKeyframeInterval(t *testing.T) {
	cases := []struct {
		seg, fps float64
		want     int
	}{{2, 30, 60}, {2, 60, 120}, {2, 30000.0 / 1001, 60}, {4, 25, 100}, {3, 24, 72}}
	for _, c := range cases {
		if got := KeyframeInterval(c.seg, c.fps); got != c.want {
			t.Errorf("KeyframeInterval(%v, %v) = %d, want %d", c.seg, c.fps, got, c.want)
		}
	}
}

func TestAudioFor(t *testing.T) {
	cases := []struct {
		src  Source
		want *Audio
	}{
		{Source{}, nil},
		{Source{HasAudio: true, AudioChannels: 2, AudioSampleRate: 48000}, &Audio{128000, 2, 48000}},
		{Source{HasAudio: true, AudioChannels: 6, AudioSampleRate: 44100}, &Audio{128000, 2, 44100}},
		{Source{HasAudio: true, AudioChannels: 1, AudioSampleRate: 22050}, &Audio{64000, 1, 48000}},
	}
	for _, c := range cases {
		if got := AudioFor(c.src); !reflect.DeepEqual(got, c.want) {
			t.Errorf("AudioFor(%+v) = %+v, want %+v", c.src, got, c.want)
		}
	}
}

func TestDescribe(t *testing.T) {
	parse := func(s string) probeOutput {
		var out probeOutput
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	// A phone video: coded 1920x1080, rotated 90°, in Matroska without a
	// stream bitrate.
	phone := parse(`{"streams":[{"codec_type":"video","codec_name":"h264","width":1920,"height":1080,"sample_aspect_ratio":"1:1","avg_frame_rate":"30000/1001","r_frame_rate":"30000/1001","side_data_list":[{"rotation":-90}]},
		{"codec_type":"audio","codec_name":"aac","channels":2,"sample_rate":"48000","bit_rate":"128000"}],
		"format":{"duration":"12.5","bit_rate":"8128000"}}`)
	s, err := describe("phone.mkv", phone)
	if err != nil {
		t.Fatal(err)
	}
	want := Source{Width: 1080, Height: 1920, FrameRate: 30000.0 / 1001, FrameRateRational: "30000/1001", VideoBitrate: 8000000,
		Duration: 12500 * time.Millisecond, VideoCodec: "h264", HasAudio: true, AudioChannels: 2, AudioSampleRate: 48000}
	if s != want {
		t.Errorf("phone:\n got %+v\nwant %+v", s, want)
	}

	// Anamorphic, interlaced DVD: 720x576 with SAR 64:45 shows as 1024x576.
	dvd := parse(`{"streams":[{"codec_type":"video","width":720,"height":576,"sample_aspect_ratio":"64:45","avg_frame_rate":"25/1","bit_rate":"5000000","field_order":"tt"}],"format":{"duration":"3"}}`)
	if s, err := describe("dvd.mpg", dvd); err != nil || s.Width != 1024 || s.Height != 576 || s.HasAudio || !s.Interlaced {
		t.Errorf("dvd: %+v, %v", s, err)
	}

	// An average frame rate of 0/0 falls back to the base rate.
	if s, err := describe("v", parse(`{"streams":[{"codec_type":"video","width":64,"height":64,"avg_frame_rate":"0/0","r_frame_rate":"24/1"}],"format":{"duration":"1"}}`)); err != nil || s.FrameRate != 24 {
		t.Errorf("r_frame_rate fallback: %+v, %v", s, err)
	}

	bad := []struct{ name, json, want string }{
		{"audio with cover art", `{"streams":[{"codec_type":"audio","channels":2},{"codec_type":"video","width":500,"height":500,"avg_frame_rate":"90000/1","disposition":{"attached_pic":1}}],"format":{"duration":"200"}}`, "not a video"},
		{"subtitles only", `{"streams":[{"codec_type":"subtitle"}],"format":{"duration":"200"}}`, "not a video"},
		{"no duration", `{"streams":[{"codec_type":"video","width":64,"height":64,"avg_frame_rate":"24/1"}],"format":{}}`, "unknown duration"},
		{"no frame rate", `{"streams":[{"codec_type":"video","width":64,"height":64,"avg_frame_rate":"0/0","r_frame_rate":"0/0"}],"format":{"duration":"1"}}`, "no frame rate"},
	}
	for _, c := range bad {
		_, err := describe("f", parse(c.json))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
		if c.want == "not a video" && !errors.Is(err, ErrNotVideo) {
			t.Errorf("%s: %v is not ErrNotVideo", c.name, err)
		}
	}
}

func TestCommand(t *testing.T) {
	src := Source{Width: 1280, Height: 720, FrameRate: 60, Duration: 20 * time.Second, HasAudio: true, AudioChannels: 2, AudioSampleRate: 48000}
	j := Job{Input: "/v/a b.mp4", Source: src, Ladder: Ladder(src), Audio: AudioFor(src), SegmentDuration: 2 * time.Second, Preset: "veryfast"}
	got := ShellQuote(j.Command("/out/x"))
	for _, want := range []string{
		"-i 'file:/v/a b.mp4'",
		"-filter_complex '[0:v:0]split=6[s0][s1][s2][s3][s4][sp];[s0]scale=1280:720,format=yuv420p[v0];",
		"[sp]trim=start=2,scale=1280:720[poster]'",
		"-map '[v4]' -map 0:a:0 -c:v libx264 -preset veryfast -g 120 -keyint_min 120 -sc_threshold 0",
		"-force_key_frames:v 'expr:gte(t,n_forced*2)'",
		"-b:v:0 3562000 -maxrate:v:0 5343000 -bufsize:v:0 7124000",
		"-c:a aac -b:a 128000 -ac 2 -ar 48000 -f dash -seg_duration 2 -use_template 1 -use_timeline 1",
		"-adaptation_sets 'id=0,streams=v id=1,streams=a' /out/x/manifest.mpd -map '[poster]' -frames:v 1 -update 1 -q:v 3 /out/x/poster.jpg",
		"-media_seg_name 'chunk-$RepresentationID$-$Number%05d$.m4s'",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("command lacks %s:\n%s", want, got)
		}
	}
	j.Source.Interlaced = true
	if got := ShellQuote(j.Command("/o")); !strings.Contains(got, "'[0:v:0]yadif=mode=send_frame,split=6[s0]") {
		t.Errorf("command for an interlaced source:\n%s", got)
	}
	j.Source.Interlaced = false
	j.Audio = nil
	if got := ShellQuote(j.Command("/o")); strings.Contains(got, "0:a:0") || !strings.Contains(got, "-adaptation_sets id=0,streams=v ") {
		t.Errorf("command without audio:\n%s", got)
	}
}
