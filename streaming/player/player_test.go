package player

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shoal-p2p/shoal/streaming/abr"
	"github.com/shoal-p2p/shoal/streaming/packager"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if packDir != "" {
		os.RemoveAll(filepath.Dir(filepath.Dir(packDir)))
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// dirSource serves a packaged folder from disk; fail, if set, may refuse a
// path or return wrong bytes for it.
type dirSource struct {
	dir  string
	mu   sync.Mutex
	fail func(path string, attempt int) (body []byte, err error, handled bool)
	seen map[string]int
}

func (d *dirSource) Open(ctx context.Context, path string, urgent bool) (*Fetch, error) {
	d.mu.Lock()
	if d.seen == nil {
		d.seen = map[string]int{}
	}
	d.seen[path]++
	attempt := d.seen[path]
	fail := d.fail
	d.mu.Unlock()
	raw, err := os.ReadFile(filepath.Join(d.dir, filepath.FromSlash(path)))
	if err != nil {
		return nil, err
	}
	if fail != nil {
		if body, err, ok := fail(path, attempt); ok {
			if err != nil {
				return nil, err
			}
			return &Fetch{Body: io.NopCloser(bytes.NewReader(body)), Size: int64(len(raw)), From: "test"}, nil
		}
	}
	return &Fetch{Body: io.NopCloser(bytes.NewReader(raw)), Size: int64(len(raw)), From: "here"}, nil
}

var (
	packOnce sync.Once
	packDir  string
	packErr  error
)

// packaged is a 640x360, 6 s clip with audio, packaged once for the tests
// of this package.
func packaged(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s is not installed (Debian package ffmpeg)", p)
		}
	}
	packOnce.Do(func() {
		tmp, err := os.MkdirTemp("", "player-test-")
		if err != nil {
			packErr = err
			return
		}
		src := filepath.Join(tmp, "clip.mp4")
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-v", "error", "-nostdin",
			"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=6",
			"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=6",
			"-ac", "2", "-c:a", "aac", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", src).CombinedOutput()
		if err != nil {
			packErr = fmt.Errorf("make clip: %v\n%s", err, out)
			return
		}
		res, err := packager.Package(ctx, src, filepath.Join(tmp, "out"), packager.Options{Preset: "ultrafast"}, nil)
		if err != nil {
			packErr = err
			return
		}
		packDir = res.Dir
	})
	if packErr != nil {
		t.Fatal(packErr)
	}
	return packDir
}

func open(t *testing.T, src SegmentSource, cfg Config) *Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	s, err := Open(ctx, src, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func next(t *testing.T, s *Session, track string) (Chunk, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	c, err := s.Next(ctx, track)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("no %s chunk in 20 s; state %+v", track, s.State())
	}
	return c, err
}

// TestSessionPlaysInOrderAcrossASwitch takes every chunk of both tracks as
// a renderer does, switching rendition in the middle: each rendition's
// initialization segment comes before its first media segment, media
// segments come in order with the bytes of their files, the QoE counts the
// switch, and both tracks end.
func TestSessionPlaysInOrderAcrossASwitch(t *testing.T) {
	dir := packaged(t)
	// A buffer of two segments: the fetcher waits for the position reports,
	// so the switch applies from a known segment on.
	s := open(t, &dirSource{dir: dir}, Config{Rendition: 0, BufferTarget: 4 * time.Second, BufferMax: 4 * time.Second})
	st := s.State()
	if len(st.Renditions) < 2 || !st.Audio {
		t.Fatalf("renditions %d, audio %v", len(st.Renditions), st.Audio)
	}
	top := len(st.Renditions) - 1
	n := len(s.Manifest().Video[0].Representations[0].Segments)
	// Taking segment k, the position is still at segment k-1 (0 for the
	// first), so the fetcher holds at most segments up to k: a switch when
	// segment 1 is taken applies from segment 2 on.
	const switchAt = 2
	if n < 3 {
		t.Fatalf("%d segments, want 3 or more", n)
	}

	wantSeg, haveInit := 0, -1
	for {
		c, err := next(t, s, Video)
		if errors.Is(err, ErrEnded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rep := s.Manifest().Video[0].Ladder()[c.Rendition]
		if c.Init {
			haveInit = c.Rendition
			want, _ := os.ReadFile(filepath.Join(dir, rep.Init))
			if !bytes.Equal(c.Data, want) {
				t.Fatalf("init of %s differs from its file", rep.ID)
			}
			continue
		}
		if haveInit != c.Rendition {
			t.Fatalf("media segment %d of rendition %d came before its init (have %d)", c.Segment, c.Rendition, haveInit)
		}
		if c.Segment != wantSeg {
			t.Fatalf("got segment %d, want %d", c.Segment, wantSeg)
		}
		want, _ := os.ReadFile(filepath.Join(dir, rep.Segments[c.Segment].URL))
		if !bytes.Equal(c.Data, want) {
			t.Fatalf("segment %d of %s differs from its file", c.Segment, rep.ID)
		}
		if c.Segment < switchAt && c.Rendition != 0 || c.Segment >= switchAt && c.Rendition != top {
			t.Errorf("segment %d in rendition %d (switch to %d at %d)", c.Segment, c.Rendition, top, switchAt)
		}
		if c.Segment == switchAt-1 {
			if err := s.SetRendition(top); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Report(c.Start, true, false); err != nil {
			t.Fatal(err)
		}
		wantSeg++
	}
	if wantSeg != n {
		t.Fatalf("video ended after %d of %d segments", wantSeg, n)
	}
	var audio int
	for {
		c, err := next(t, s, Audio)
		if errors.Is(err, ErrEnded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !c.Init {
			audio++
		}
	}
	if want := len(s.Manifest().Audio[0].Representations[0].Segments); audio != want {
		t.Errorf("audio gave %d of %d segments", audio, want)
	}
	s.Report(s.Manifest().Duration, true, false)
	st = s.State()
	if !st.Ended || !st.QoE.Started || st.QoE.Startup <= 0 || st.QoE.Switches != 1 || st.QoE.Rebuffers != 0 {
		t.Errorf("state at the end: ended %v qoe %+v", st.Ended, st.QoE)
	}
	lo, hi := float64(st.Renditions[0].Bandwidth)/1000, float64(st.Renditions[top].Bandwidth)/1000
	if st.QoE.MeanBitrate <= lo || st.QoE.MeanBitrate >= hi {
		t.Errorf("mean bitrate %.0f kbps, want between %.0f and %.0f", st.QoE.MeanBitrate, lo, hi)
	}
	for _, r := range st.History {
		if r.From != "here" || r.Size <= 0 {
			t.Errorf("history record %+v", r)
		}
	}
}

// TestSessionSeek: after a seek, the next chunk is an initialization
// segment of a new generation, then the segment holding the position;
// a seek past the end is refused and changes nothing.
func TestSessionSeek(t *testing.T) {
	dir := packaged(t)
	s := open(t, &dirSource{dir: dir}, Config{Rendition: -1, ABR: abr.BolaE{}})
	if c, err := next(t, s, Video); err != nil || !c.Init {
		t.Fatalf("first chunk: init %v, %v", c.Init, err)
	}
	dur := s.Manifest().Duration
	if err := s.Seek(dur + time.Second); err == nil {
		t.Fatal("a seek past the end was taken")
	}
	if g := s.State().Generation; g != 0 {
		t.Fatalf("a refused seek changed the generation to %d", g)
	}
	pos := dur / 2
	if err := s.Seek(pos); err != nil {
		t.Fatal(err)
	}
	c, err := next(t, s, Video)
	if err != nil || !c.Init || c.Generation != 1 {
		t.Fatalf("after the seek: init %v generation %d, %v", c.Init, c.Generation, err)
	}
	c, err = next(t, s, Video)
	if err != nil || c.Init || c.Start > pos || c.Start+c.Duration <= pos {
		t.Fatalf("after the seek: segment %d at %v+%v for position %v (%v)", c.Segment, c.Start, c.Duration, pos, err)
	}
	if st := s.State(); st.Position != pos || len(st.Buffered) != 1 || st.Buffered[0][0] > pos.Seconds() {
		t.Errorf("after the seek: position %v buffered %v", st.Position, st.Buffered)
	}
}

// TestSessionRecoversFromBadSegments: a source that once fails a segment
// and once serves it short is retried; the error shows in the state and
// playback goes on with the right bytes.
func TestSessionRecoversFromBadSegments(t *testing.T) {
	dir := packaged(t)
	src := &dirSource{dir: dir, fail: func(path string, attempt int) ([]byte, error, bool) {
		if !strings.Contains(path, "chunk") || !strings.HasSuffix(path, "00002.m4s") {
			return nil, nil, false
		}
		switch attempt {
		case 1:
			return nil, errors.New("the member went away"), true
		case 2:
			return []byte("short"), nil, true
		}
		return nil, nil, false
	}}
	var mu sync.Mutex
	var errorsSeen int
	s := open(t, src, Config{Rendition: 0, Event: func(typ string, data any) {
		if typ == EventError {
			mu.Lock()
			errorsSeen++
			mu.Unlock()
		}
	}})
	want := 0
	for {
		c, err := next(t, s, Video)
		if errors.Is(err, ErrEnded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if c.Init {
			continue
		}
		if c.Segment != want {
			t.Fatalf("segment %d, want %d", c.Segment, want)
		}
		rep := s.Manifest().Video[0].Ladder()[c.Rendition]
		raw, _ := os.ReadFile(filepath.Join(dir, rep.Segments[c.Segment].URL))
		if !bytes.Equal(raw, c.Data) {
			t.Fatalf("segment %d has wrong bytes", c.Segment)
		}
		want++
	}
	mu.Lock()
	defer mu.Unlock()
	if errorsSeen < 2 {
		t.Errorf("saw %d error events, want 2", errorsSeen)
	}
	if st := s.State(); st.Error != "" {
		t.Errorf("error still set after recovery: %s", st.Error)
	}
}

// TestOpenRefusesBadManifests: a manifest that does not parse, or a
// source that has none, gives an error and no session.
func TestOpenRefusesBadManifests(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ManifestPath), []byte("<MPD type=\"dynamic\""), 0o600)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := Open(ctx, &dirSource{dir: dir}, Config{}); err == nil || !strings.Contains(err.Error(), "mpd") {
		t.Errorf("broken MPD: %v", err)
	}
	if _, err := Open(ctx, &dirSource{dir: t.TempDir()}, Config{}); err == nil || !strings.Contains(err.Error(), "manifest") {
		t.Errorf("no MPD: %v", err)
	}
}

// heldSource says the top rendition's files are already here.
type heldSource struct {
	*dirSource
	top string // URL prefix of the top rendition's segments
}

func (h heldSource) Held(paths []string) []bool {
	out := make([]bool, len(paths))
	for i, p := range paths {
		out[i] = strings.Contains(p, h.top)
	}
	return out
}

// TestShoalStartsWithWhatIsHere: with nothing measured yet, Shoal's ABR
// starts with the highest rendition the node already holds, where the
// others start at the lowest.
func TestShoalStartsWithWhatIsHere(t *testing.T) {
	dir := packaged(t)
	probe := open(t, &dirSource{dir: dir}, Config{Rendition: -1})
	ladder := probe.Manifest().Video[0].Ladder()
	top := len(ladder) - 1
	first := ladder[top].Segments[0].URL
	// The segment URLs of one rendition share their name up to the number.
	prefix := first[:strings.LastIndexAny(first, "-_")+1]
	for _, tc := range []struct {
		alg  abr.Algorithm
		want int
	}{{abr.Shoal{}, top}, {abr.Throughput{}, 0}} {
		s := open(t, heldSource{&dirSource{dir: dir}, prefix}, Config{Rendition: -1, ABR: tc.alg})
		for {
			c, err := next(t, s, Video)
			if err != nil {
				t.Fatal(err)
			}
			if !c.Init {
				if c.Rendition != tc.want {
					t.Errorf("%s started with rendition %d, want %d", tc.alg.Name(), c.Rendition, tc.want)
				}
				break
			}
		}
	}
}

// slowReader lets through about rate bytes a second.
type slowReader struct {
	r    io.Reader
	rate int
}

func (s slowReader) Read(p []byte) (int, error) {
	const step = 50 * time.Millisecond
	n := min(len(p), s.rate*int(step)/int(time.Second))
	time.Sleep(step)
	return s.r.Read(p[:n])
}

// slowTop serves the top rendition's segments slowly and says they are
// here, so Shoal's ABR starts with them.
type slowTop struct{ heldSource }

func (s slowTop) Open(ctx context.Context, path string, urgent bool) (*Fetch, error) {
	f, err := s.heldSource.dirSource.Open(ctx, path, urgent)
	if err == nil && strings.Contains(path, s.top) && strings.HasSuffix(path, ".m4s") && !strings.Contains(path, "init") {
		f.Body = io.NopCloser(slowReader{f.Body, 20 << 10})
	}
	return f, err
}

// TestSessionAbandonsASlowDownload: a segment that would take far longer
// than it plays is given up mid-way and fetched again in a lower
// rendition; the history records the abandoned download.
func TestSessionAbandonsASlowDownload(t *testing.T) {
	dir := packaged(t)
	probe := open(t, &dirSource{dir: dir}, Config{Rendition: -1})
	ladder := probe.Manifest().Video[0].Ladder()
	top := len(ladder) - 1
	first := ladder[top].Segments[0].URL
	prefix := first[:strings.LastIndexAny(first, "-_")+1]
	s := open(t, slowTop{heldSource{&dirSource{dir: dir}, prefix}}, Config{Rendition: -1})
	for {
		c, err := next(t, s, Video)
		if err != nil {
			t.Fatal(err)
		}
		if c.Init {
			continue
		}
		if c.Segment != 0 || c.Rendition >= top {
			t.Fatalf("first media chunk: segment %d rendition %d, want segment 0 below %d", c.Segment, c.Rendition, top)
		}
		break
	}
	h := s.State().History
	if len(h) == 0 || !h[0].Abandoned || h[0].Rendition != top || h[0].Size <= 0 {
		t.Fatalf("history %+v, want an abandoned download of rendition %d first", h, top)
	}
}
