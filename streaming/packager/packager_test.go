package packager

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/jpeg"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-p2p/shoal/streaming/mpd"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testOptions package fast: ultrafast x264.
var testOptions = Options{Preset: "ultrafast"}

func needFFmpeg(t *testing.T) {
	t.Helper()
	for _, p := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s is not installed (Debian package ffmpeg): %v", p, err)
		}
	}
}

// clip makes a test video with ffmpeg's lavfi sources: testsrc2 and, if
// audio, a sine tone.
func clip(t *testing.T, dir, name string, w, h int, fps string, seconds float64, audio bool, extra ...string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	args := []string{"-hide_banner", "-v", "error", "-nostdin",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%s:duration=%g", w, h, fps, seconds)}
	if audio {
		args = append(args, "-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:sample_rate=48000:duration=%g", seconds), "-ac", "2", "-c:a", "aac")
	}
	args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
	args = append(args, extra...)
	args = append(args, out)
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("make %s: %v\n%s", name, err, b)
	}
	return out
}

// entries lists a folder, hidden files included.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// packets lists the video packets of a file: presentation times and which
// ones are keyframes.
func packets(t *testing.T, path string) (pts []float64, key []bool) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "packet=pts_time,flags", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe packets of %s: %v", path, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			t.Fatalf("packet line %q", line)
		}
		pts = append(pts, v)
		key = append(key, strings.Contains(f[1], "K"))
	}
	return pts, key
}

// concat writes a representation as a player feeds it to a decoder: the
// init segment followed by every media segment.
func concat(t *testing.T, dir string, r mpd.Representation) string {
	t.Helper()
	var b bytes.Buffer
	for _, name := range append([]string{r.Init}, urls(r)...) {
		raw, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			t.Fatalf("representation %s: %v", r.ID, err)
		}
		b.Write(raw)
	}
	out := filepath.Join(t.TempDir(), "rep-"+r.ID+".mp4")
	if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func urls(r mpd.Representation) []string {
	var out []string
	for _, s := range r.Segments {
		out = append(out, s.URL)
	}
	return out
}

// verify checks a packaged folder the way players will use it.
func verify(t *testing.T, res *Result, src Source, wantRungs int) *mpd.Manifest {
	t.Helper()
	if !filepath.IsAbs(res.Dir) || filepath.Base(res.Dir) != res.Key {
		t.Fatalf("result folder %s for key %s", res.Dir, res.Key)
	}
	raw, err := os.ReadFile(res.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	m, err := mpd.Parse(raw)
	if err != nil {
		t.Fatalf("the MPD does not parse: %v", err)
	}
	if len(m.Video) != 1 {
		t.Fatalf("%d video adaptation sets", len(m.Video))
	}
	reps := m.Video[0].Representations
	if len(reps) != wantRungs || len(res.Meta.Ladder) != wantRungs {
		t.Fatalf("%d video renditions, %d in meta.json; want %d", len(reps), len(res.Meta.Ladder), wantRungs)
	}
	if (len(m.Audio) == 1) != src.HasAudio {
		t.Fatalf("%d audio adaptation sets for a source with audio %v", len(m.Audio), src.HasAudio)
	}
	if d := m.Duration - src.Duration; d < -100*time.Millisecond || d > 100*time.Millisecond {
		t.Errorf("MPD duration %v for a %v source", m.Duration, src.Duration)
	}

	// ffprobe reads the MPD (by absolute path) and finds every rendition.
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_type,width,height", "-of", "json", res.Manifest()).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", res.Manifest(), err)
	}
	var probed struct {
		Streams []struct {
			CodecType     string `json:"codec_type"`
			Width, Height int
		}
	}
	if err := json.Unmarshal(out, &probed); err != nil {
		t.Fatal(err)
	}
	if want := wantRungs + len(m.Audio); len(probed.Streams) != want {
		t.Errorf("ffprobe sees %d streams in the MPD, want %d", len(probed.Streams), want)
	}

	var firstStarts []time.Duration
	for i, r := range reps {
		rung := res.Meta.Ladder[i]
		if r.Width != rung.Width || r.Height != rung.Height || r.Width%2 != 0 || r.Height%2 != 0 {
			t.Errorf("rendition %d is %dx%d, the ladder says %dx%d", i, r.Width, r.Height, rung.Width, rung.Height)
		}
		if r.Width > src.Width || r.Height > src.Height {
			t.Errorf("rendition %d (%dx%d) is larger than the source (%dx%d)", i, r.Width, r.Height, src.Width, src.Height)
		}
		if math.Abs(r.FrameRate-src.FrameRate) > 0.01 {
			t.Errorf("rendition %d at %v fps, source %v", i, r.FrameRate, src.FrameRate)
		}
		if !strings.HasPrefix(r.Codecs, "avc1.") || r.MimeType != "video/mp4" {
			t.Errorf("rendition %d: %s %s", i, r.MimeType, r.Codecs)
		}
		checkDurations(t, "video "+r.ID, r.Segments, 0)

		// Every segment starts with a keyframe and holds no other: the
		// keyframes are the segment boundaries, the same in every rung.
		var starts []time.Duration
		for _, s := range r.Segments {
			starts = append(starts, s.Start)
		}
		if i == 0 {
			firstStarts = starts
		} else if fmt.Sprint(starts) != fmt.Sprint(firstStarts) {
			t.Errorf("rendition %d segments start at %v, rendition 0 at %v", i, starts, firstStarts)
		}
		file := concat(t, res.Dir, r)
		pts, key := packets(t, file)
		var keys []float64
		for k := range pts {
			if key[k] {
				keys = append(keys, pts[k])
			}
		}
		if len(keys) != len(r.Segments) {
			t.Errorf("rendition %d: %d keyframes at %v for %d segments at %v", i, len(keys), keys, len(r.Segments), starts)
		} else {
			frame := 1 / src.FrameRate
			for k, s := range r.Segments {
				if d := (keys[k] - keys[0]) - (s.Start - r.Segments[0].Start).Seconds(); math.Abs(d) > frame/2 {
					t.Errorf("rendition %d: keyframe %d at %.3f s, its segment starts at %v", i, k, keys[k]-keys[0], s.Start-r.Segments[0].Start)
				}
			}
		}
		if want := src.Duration.Seconds() * src.FrameRate; math.Abs(float64(len(pts))-want) > 2 {
			t.Errorf("rendition %d: %d frames, want %.0f", i, len(pts), want)
		}
		// The init segment and its media segments decode without error.
		if b, err := exec.Command("ffmpeg", "-v", "error", "-nostdin", "-i", file, "-f", "null", "-").CombinedOutput(); err != nil || len(bytes.TrimSpace(b)) > 0 {
			t.Errorf("rendition %d does not decode cleanly: %v\n%s", i, err, b)
		}
	}
	for _, as := range m.Audio {
		for _, r := range as.Representations {
			if r.Codecs != "mp4a.40.2" || r.SampleRate != res.Meta.Audio.SampleRate {
				t.Errorf("audio %s: %s at %d Hz", r.ID, r.Codecs, r.SampleRate)
			}
			// AAC frames (1024 samples) do not fall on the 2 s grid: allow
			// one frame either way.
			checkDurations(t, "audio "+r.ID, r.Segments, 25*time.Millisecond)
			if b, err := exec.Command("ffmpeg", "-v", "error", "-nostdin", "-i", concat(t, res.Dir, r), "-f", "null", "-").CombinedOutput(); err != nil || len(bytes.TrimSpace(b)) > 0 {
				t.Errorf("audio %s does not decode cleanly: %v\n%s", r.ID, err, b)
			}
		}
	}
	// Every rendition through the MPD itself, as ffmpeg's DASH demuxer
	// plays it.
	args := []string{"-v", "error", "-nostdin", "-i", res.Manifest()}
	for i := range reps {
		args = append(args, "-map", fmt.Sprintf("0:v:%d", i))
	}
	if len(m.Audio) > 0 {
		args = append(args, "-map", "0:a:0")
	}
	args = append(args, "-f", "null", "-")
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil || len(bytes.TrimSpace(b)) > 0 {
		t.Errorf("the MPD does not decode cleanly: %v\n%s", err, b)
	}

	// The poster is a JPEG of the top rung's size.
	f, err := os.Open(filepath.Join(res.Dir, PosterName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := jpeg.DecodeConfig(f)
	if err != nil || cfg.Width != reps[0].Width || cfg.Height != reps[0].Height {
		t.Errorf("poster: %dx%d, %v; want %dx%d", cfg.Width, cfg.Height, err, reps[0].Width, reps[0].Height)
	}

	// meta.json says what the result says.
	raw, err = os.ReadFile(filepath.Join(res.Dir, MetaName))
	if err != nil {
		t.Fatal(err)
	}
	var meta Meta
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatal(err)
	}
	if !sameJSON(t, meta, res.Meta) || meta.Key != res.Key || meta.Duration != m.Duration || len(meta.SourceSHA256) != 64 {
		t.Errorf("meta.json %+v\nresult %+v", meta, res.Meta)
	}
	return m
}

func sameJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}

// checkDurations: segments of 2 to 4 s, the last one possibly shorter.
func checkDurations(t *testing.T, what string, segs []mpd.Segment, slack time.Duration) {
	t.Helper()
	for k, s := range segs {
		short := 2*time.Second - slack
		if k == len(segs)-1 {
			short = time.Millisecond
		}
		if s.Duration < short || s.Duration > 4*time.Second+slack {
			t.Errorf("%s segment %d lasts %v", what, k, s.Duration)
		}
	}
}

func TestPackage(t *testing.T) {
	needFFmpeg(t)
	srcDir := t.TempDir()
	cases := []struct {
		name    string
		w, h    int
		fps     string
		audio   bool
		rungs   int
		seconds float64
		extra   []string
		rotated bool // coded h×w with a 90° display rotation
	}{
		{"720p with audio", 1280, 720, "30", true, 5, 5, nil, false},
		{"no audio", 640, 360, "30", false, 3, 4.5, nil, false},
		// testsrc2 makes even sizes only, and 4:2:0 needs them: scale, in 4:4:4.
		{"odd size", 853, 479, "25", true, 4, 4, []string{"-vf", "scale=853:479,setsar=1", "-pix_fmt", "yuv444p"}, false},
		{"portrait", 360, 640, "30", true, 3, 4, nil, false},
		{"60 fps", 640, 360, "60", false, 3, 4, nil, false},
		{"29.97 fps", 480, 270, "30000/1001", true, 2, 7, nil, false},
		{"rotated phone video", 360, 640, "30", true, 3, 3, nil, true},
		// 50 fields a second woven into 25 interlaced frames.
		{"interlaced", 720, 576, "50", false, 5, 3, []string{"-vf", "interlace=scan=tff", "-flags", "+ildct+ilme", "-x264-params", "tff=1"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := strings.ReplaceAll(c.name, " ", "-") + ".mp4"
			var src string
			if c.rotated {
				coded := clip(t, srcDir, "coded-"+name, c.h, c.w, c.fps, c.seconds, c.audio, c.extra...)
				src = filepath.Join(srcDir, name)
				if b, err := exec.Command("ffmpeg", "-v", "error", "-nostdin", "-i", coded, "-c", "copy", "-metadata:s:v:0", "rotate=90", src).CombinedOutput(); err != nil {
					t.Fatalf("rotate: %v\n%s", err, b)
				}
			} else {
				src = clip(t, srcDir, name, c.w, c.h, c.fps, c.seconds, c.audio, c.extra...)
			}
			out := t.TempDir()
			var mu sync.Mutex
			var calls []time.Duration
			var total time.Duration
			res, err := Package(context.Background(), src, out, testOptions, func(done, tot time.Duration) {
				mu.Lock()
				defer mu.Unlock()
				calls, total = append(calls, done), tot
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Reused {
				t.Error("a first packaging is reported as reused")
			}
			s := res.Meta.Source
			if s.Width != c.w || s.Height != c.h || s.HasAudio != c.audio {
				t.Errorf("probed %+v", s)
			}
			if c.name == "interlaced" {
				if !s.Interlaced || s.FrameRateRational != "25/1" {
					t.Errorf("probed %+v as progressive or not at 25 fps", s)
				}
			} else if s.Interlaced || s.FrameRateRational != c.fps && s.FrameRateRational != c.fps+"/1" {
				t.Errorf("probed %v fps, made %s", s.FrameRate, c.fps)
			}
			verify(t, res, s, c.rungs)
			if names := entries(t, out); len(names) != 1 || names[0] != res.Key {
				t.Errorf("output folder holds %v, want only %s", names, res.Key)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(calls) == 0 || calls[len(calls)-1] != total || total != s.Duration {
				t.Errorf("progress calls %v of %v (source %v)", calls, total, s.Duration)
			}
			for k := 1; k < len(calls); k++ {
				if calls[k] < calls[k-1] {
					t.Errorf("progress went back: %v", calls)
				}
			}
		})
	}
}

func TestPackageReuses(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	src := clip(t, dir, "a.mp4", 320, 180, "30", 2.5, true)
	out := t.TempDir()
	ctx := context.Background()
	first, err := Package(ctx, src, out, testOptions, nil)
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(first.Dir)
	if err != nil {
		t.Fatal(err)
	}
	mpdBefore, _ := os.Stat(first.Manifest())

	// No ffmpeg may run: point at one that does not exist.
	noFFmpeg := testOptions
	noFFmpeg.FFmpeg = filepath.Join(dir, "no-such-ffmpeg")
	again, err := Package(ctx, src, out, noFFmpeg, nil)
	if err != nil {
		t.Fatalf("second packaging: %v", err)
	}
	if !again.Reused || again.Dir != first.Dir || again.Key != first.Key {
		t.Errorf("second packaging: reused %v, %s (first %s)", again.Reused, again.Dir, first.Dir)
	}
	after, _ := os.Stat(again.Dir)
	mpdAfter, _ := os.Stat(again.Manifest())
	if !after.ModTime().Equal(before.ModTime()) || !mpdAfter.ModTime().Equal(mpdBefore.ModTime()) {
		t.Errorf("the folder was rewritten: mtime %v then %v", before.ModTime(), after.ModTime())
	}
	if !sameJSON(t, again.Meta, first.Meta) {
		t.Errorf("reused meta %+v, first %+v", again.Meta, first.Meta)
	}

	// The same content under another name is the same video.
	copyPath := filepath.Join(dir, "copy of a.mp4")
	raw, _ := os.ReadFile(src)
	if err := os.WriteFile(copyPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if c, err := Package(ctx, copyPath, out, noFFmpeg, nil); err != nil || !c.Reused || c.Key != first.Key {
		t.Errorf("a copy: %+v, %v", c, err)
	}

	// Other parameters are another folder.
	longer := testOptions
	longer.SegmentDuration = 4 * time.Second
	other, err := Package(ctx, src, out, longer, nil)
	if err != nil {
		t.Fatal(err)
	}
	if other.Reused || other.Key == first.Key {
		t.Errorf("4 s segments reused the 2 s folder")
	}
	if names := entries(t, out); len(names) != 2 {
		t.Errorf("output folder holds %v", names)
	}

	// A folder that lost its meta.json is not complete: packaged anew.
	if err := os.Remove(filepath.Join(first.Dir, MetaName)); err != nil {
		t.Fatal(err)
	}
	if _, err := Package(ctx, src, out, noFFmpeg, nil); err == nil {
		t.Error("an incomplete folder was reused")
	}
	redone, err := Package(ctx, src, out, testOptions, nil)
	if err != nil || redone.Reused || redone.Key != first.Key {
		t.Fatalf("packaging over an incomplete folder: %+v, %v", redone, err)
	}
	if _, err := os.Stat(filepath.Join(redone.Dir, MetaName)); err != nil {
		t.Error(err)
	}
}

func TestPackageRefuses(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	ctx := context.Background()

	text := filepath.Join(dir, "notes.mp4")
	if err := os.WriteFile(text, []byte("these are not moving pictures\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	audioOnly := filepath.Join(dir, "tone.m4a")
	if b, err := exec.Command("ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", audioOnly).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	good := clip(t, dir, "good.mp4", 320, 180, "30", 4, true)
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	// ffmpeg writes the index (moov) last: cut, the file has none.
	truncated := filepath.Join(dir, "truncated.mp4")
	if err := os.WriteFile(truncated, raw[:len(raw)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	// With the index first (faststart), a cut file still claims its full
	// length, but half of the media is missing.
	fast := clip(t, dir, "fast.mp4", 320, 180, "30", 4, true, "-movflags", "+faststart")
	rawFast, _ := os.ReadFile(fast)
	truncatedFast := filepath.Join(dir, "truncated-faststart.mp4")
	if err := os.WriteFile(truncatedFast, rawFast[:len(rawFast)/2], 0o644); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name, src string
		opts      Options
		want      string
		is        error
	}{
		{"text", text, testOptions, "not a video", ErrNotVideo},
		{"audio only", audioOnly, testOptions, "not a video", ErrNotVideo},
		{"missing", filepath.Join(dir, "nothing.mp4"), testOptions, "no such file", fs.ErrNotExist},
		{"folder", dir, testOptions, "not a regular file", nil},
		{"truncated", truncated, testOptions, "not a video", ErrNotVideo},
		{"truncated, index first", truncatedFast, testOptions, "truncated", nil},
		{"short segments", good, Options{SegmentDuration: time.Second}, "outside 2s to 4s", nil},
		{"odd segments", good, Options{SegmentDuration: 2500*time.Millisecond + time.Microsecond}, "multiple of 100ms", nil},
		{"unknown preset", good, Options{Preset: "warp"}, "unknown x264 preset", nil},
		{"ffmpeg missing", good, Options{Preset: "ultrafast", FFmpeg: filepath.Join(dir, "no-ffmpeg")}, "run ffmpeg", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "videos")
			res, err := Package(ctx, c.src, out, c.opts, nil)
			if err == nil {
				t.Fatalf("Package succeeded: %+v", res)
			}
			t.Logf("error: %v", err)
			if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "packager: ") {
				t.Errorf("error %q, want one naming %q", err, c.want)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %q is not %v", err, c.is)
			}
			if names := entries(t, out); len(names) != 0 {
				t.Errorf("the failure left %v", names)
			}
		})
	}
}

func TestPackageCancelled(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	src := clip(t, dir, "long.mp4", 1280, 720, "30", 8, true)
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	cancelled := make(chan time.Duration, 1)
	opts := Options{Preset: "medium"} // slow enough to be stopped half-way
	res, err := Package(ctx, src, out, opts, func(done, total time.Duration) {
		once.Do(func() {
			cancelled <- done
			cancel()
		})
	})
	if err == nil {
		t.Fatalf("Package finished although cancelled: %+v", res)
	}
	select {
	case done := <-cancelled:
		if done >= 8*time.Second {
			t.Fatalf("ffmpeg had finished (%v) before the cancel", done)
		}
	default:
		t.Fatal("no progress was reported before the end")
	}
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "cancelled") {
		t.Errorf("error %q, want a cancellation", err)
	}
	if names := entries(t, out); len(names) != 0 {
		t.Errorf("the cancelled run left %v", names)
	}
	// A cancelled context stops Package before it starts ffmpeg, too.
	if _, err := Package(ctx, src, out, testOptions, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Package with a done context: %v", err)
	}
	if names := entries(t, out); len(names) != 0 {
		t.Errorf("left %v", names)
	}
}

// TestPackageConcurrent packages one source twice at once: both succeed and
// one folder results.
func TestPackageConcurrent(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	src := clip(t, dir, "a.mp4", 320, 180, "30", 2.5, false)
	out := t.TempDir()
	var wg sync.WaitGroup
	results := make([]*Result, 2)
	errs := make([]error, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = Package(context.Background(), src, out, testOptions, nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	if results[0].Dir != results[1].Dir {
		t.Errorf("two folders: %s and %s", results[0].Dir, results[1].Dir)
	}
	if names := entries(t, out); len(names) != 1 || names[0] != results[0].Key {
		t.Errorf("output folder holds %v", names)
	}
	verify(t, results[0], results[0].Meta.Source, 2)
}

func TestRemovePartials(t *testing.T) {
	out := t.TempDir()
	for _, d := range []string{".partial-abc-123/sub", "0123456789abcdef0123456789abcdef", "other"} {
		if err := os.MkdirAll(filepath.Join(out, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(out, ".partial-abc-123", "manifest.mpd"), []byte("<MPD/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := RemovePartials(out); err != nil {
		t.Fatal(err)
	}
	if names := entries(t, out); fmt.Sprint(names) != "[0123456789abcdef0123456789abcdef other]" {
		t.Errorf("left %v", names)
	}
	if err := RemovePartials(filepath.Join(out, "missing")); err != nil {
		t.Errorf("a missing folder: %v", err)
	}
}

// BenchmarkHashFile measures the content hash that keys the output, against
// which a reuse check is paid (go test -bench HashFile -run ^$).
func BenchmarkHashFile(b *testing.B) {
	path := filepath.Join(b.TempDir(), "big")
	chunk := bytes.Repeat([]byte("shoal video "), 1<<16) // 768 KiB
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 86; i++ { // about 64 MiB
		f.Write(chunk)
	}
	f.Close()
	info, _ := os.Stat(path)
	b.SetBytes(info.Size())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := hashFile(context.Background(), path); err != nil {
			b.Fatal(err)
		}
	}
}
