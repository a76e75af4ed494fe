package app

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-p2p/shoal/node"
	"github.com/shoal-p2p/shoal/streaming/mpd"
	"github.com/shoal-p2p/shoal/streaming/packager"
)

// topRendition is a Node whose watch sessions play the highest rendition.
type topRendition struct {
	*node.Node
	top int
}

func (n topRendition) Watch(ctx context.Context, ih string, opts node.WatchOptions) (node.Watching, error) {
	opts.Rendition = &n.top
	return n.Node.Watch(ctx, ih, opts)
}

// cpu is the user+system CPU time of this process and of its waited-for
// children so far.
func cpu() (self, children time.Duration) {
	var s, c syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &s)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &c)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(s.Utime) + tv(s.Stime), tv(c.Utime) + tv(c.Stime)
}

// BenchmarkWatchCPU: playback cost of the window's path at 720p30. A node
// publishes a 1280x720 30 fps film of SHOAL_BENCH_CPU_SECONDS (default
// 20); the Watch area (Fyne's test driver: no GPU painting) plays its
// 720p rendition from the node's own copy to the end: the session, ffmpeg
// decoding to 640x360 RGBA frames, frames put on the canvas at the frame
// rate. Reported: CPU seconds of this process and of its ffmpeg decoders
// during playback, and of ffplay (SDL's dummy video and audio drivers, no
// audio decoded, as the window decodes none) playing the same rendition
// (its init and segments in one file), in the same run.
func BenchmarkWatchCPU(b *testing.B) {
	for _, p := range []string{"ffmpeg", "ffprobe", "ffplay"} {
		if _, err := exec.LookPath(p); err != nil {
			b.Skipf("%s is not installed (Debian package ffmpeg)", p)
		}
	}
	secs := 20
	if v, err := fmt.Sscan(os.Getenv("SHOAL_BENCH_CPU_SECONDS"), &secs); err != nil || v != 1 || secs <= 0 {
		secs = 20
	}
	tmp := b.TempDir()
	n, err := node.Start(context.Background(), node.Options{DataDir: filepath.Join(tmp, "data"),
		Packaging: packager.Options{Preset: "veryfast"},
		Override: func(c *node.Config) {
			c.Name, c.Bind = "watcher", "127.0.0.1"
			c.UI.Address = "127.0.0.1:0"
			c.Ports = node.Ports{}
			c.DNS.Upstreams = []string{"127.0.0.1:1"}
		}})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(b.Context(), 10*time.Minute)
	defer cancel()
	src := filepath.Join(tmp, "film.mp4")
	if out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-v", "error", "-nostdin",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=1280x720:rate=30:duration=%d", secs),
		"-c:v", "libx264", "-preset", "veryfast", "-b:v", "3M", "-pix_fmt", "yuv420p", src).CombinedOutput(); err != nil {
		b.Fatalf("make the film: %v\n%s", err, out)
	}
	it, err := n.PublishVideo(ctx, src, "", nil)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(it.Path, "manifest.mpd"))
	if err != nil {
		b.Fatal(err)
	}
	man, err := mpd.Parse(raw)
	if err != nil {
		b.Fatal(err)
	}
	ladder := man.Video[0].Ladder()
	top := len(ladder) - 1
	rep := ladder[top]
	if rep.Height != 720 {
		b.Fatalf("the top rendition is %dx%d, want 720p", rep.Width, rep.Height)
	}
	// The same rendition in one file for ffplay.
	whole := filepath.Join(tmp, "top.mp4")
	var all []byte
	for _, f := range append([]string{rep.Init}, segmentURLs(rep)...) {
		p, err := os.ReadFile(filepath.Join(it.Path, filepath.FromSlash(f)))
		if err != nil {
			b.Fatal(err)
		}
		all = append(all, p...)
	}
	if err := os.WriteFile(whole, all, 0o600); err != nil {
		b.Fatal(err)
	}
	frames := int(man.Duration.Seconds()*rep.FrameRate) - 3

	for range b.N {
		v, q, _ := openWatch(b, topRendition{n, top})
		self0, child0 := cpu()
		t0 := time.Now()
		v.start(it.InfoHash)
		deadline := time.After(man.Duration + time.Minute)
	play:
		for v.shownFrames() < frames {
			select {
			case f := <-q:
				f()
			case <-time.After(50 * time.Millisecond):
			case <-deadline:
				b.Fatalf("%d of %d frames shown", v.shownFrames(), frames)
				break play
			}
		}
		wall := time.Since(t0)
		shown := v.shownFrames()
		v.close()
		// The decoders end with the stream; wait for them to be reaped.
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); {
			select {
			case f := <-q:
				f()
			case <-time.After(50 * time.Millisecond):
			}
			v.mu.Lock()
			cur := v.current
			v.mu.Unlock()
			if cur == nil {
				break
			}
		}
		self1, child1 := cpu()

		cmd := exec.CommandContext(ctx, "ffplay", "-hide_banner", "-loglevel", "error", "-autoexit", "-an", "-sn", whole)
		cmd.Env = append(os.Environ(), "SDL_VIDEODRIVER=dummy", "SDL_AUDIODRIVER=dummy")
		f0 := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("ffplay: %v\n%s", err, out)
		}
		ffWall := time.Since(f0)
		ff := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()

		node, dec := self1-self0, child1-child0
		b.ReportMetric((node + dec).Seconds(), "window-cpu-s")
		b.ReportMetric(node.Seconds(), "process-cpu-s")
		b.ReportMetric(dec.Seconds(), "decoder-cpu-s")
		b.ReportMetric(ff.Seconds(), "ffplay-cpu-s")
		b.ReportMetric((node+dec).Seconds()/ff.Seconds(), "window/ffplay")
		b.ReportMetric(float64(shown)/wall.Seconds(), "window-fps")
		b.Logf("%v of 720p30: window path %v CPU (process %v, ffmpeg %v) over %v, %d frames; ffplay %v CPU over %v",
			man.Duration, node+dec, node, dec, wall, shown, ff, ffWall)
	}
}

func segmentURLs(r mpd.Representation) []string {
	var out []string
	for _, s := range r.Segments {
		out = append(out, s.URL)
	}
	return out
}
