package node

// Streaming benchmarks (docs/streaming-bench.md; .ci/bench-stream.sh runs
// them): in-process nodes on loopback, every node's BitTorrent upload
// capped, a video of SHOAL_BENCH_SECONDS (default 60) at 1280x720 packaged
// once per process, watched through real player sessions by a renderer
// that decodes the first frame with the window's ffmpeg command and then
// plays on a wall clock, stalling when the fetched media runs out.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-p2p/shoal/cdn/engine"
	"github.com/shoal-p2p/shoal/streaming/mpd"
	"github.com/shoal-p2p/shoal/streaming/packager"
	"github.com/shoal-p2p/shoal/streaming/player"
)

var benchPack struct {
	once    sync.Once
	dir     string
	bitrate []int // the ladder's bandwidths, bit/s, lowest first
	audio   int   // the audio's bandwidth, bit/s
	err     error
}

// benchVideo packages a 1280x720 30 fps clip with audio (ffmpeg's
// testsrc2 and a tone) once per process and returns its folder and ladder.
// The folder is left in the system's temp dir under shoal-streambench-.
func benchVideo(b *testing.B) (dir string, ladder []int, audio int) {
	b.Helper()
	for _, p := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(p); err != nil {
			b.Skipf("%s is not installed (Debian package ffmpeg)", p)
		}
	}
	secs := 60
	if v, err := strconv.Atoi(os.Getenv("SHOAL_BENCH_SECONDS")); err == nil && v > 0 {
		secs = v
	}
	benchPack.once.Do(func() {
		tmp, err := os.MkdirTemp("", "shoal-streambench-")
		if err != nil {
			benchPack.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		src := filepath.Join(tmp, "film.mp4")
		out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-v", "error", "-nostdin",
			"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=1280x720:rate=30:duration=%d", secs),
			"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:sample_rate=48000:duration=%d", secs),
			"-ac", "2", "-c:a", "aac", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "3M", "-pix_fmt", "yuv420p", src).CombinedOutput()
		if err != nil {
			benchPack.err = fmt.Errorf("make the film: %v\n%s", err, out)
			return
		}
		res, err := packager.Package(ctx, src, filepath.Join(tmp, "out"), packager.Options{Preset: "veryfast"}, nil)
		if err != nil {
			benchPack.err = err
			return
		}
		raw, err := os.ReadFile(filepath.Join(res.Dir, player.ManifestPath))
		if err != nil {
			benchPack.err = err
			return
		}
		man, err := mpd.Parse(raw)
		if err != nil {
			benchPack.err = err
			return
		}
		for _, r := range man.Video[0].Ladder() {
			benchPack.bitrate = append(benchPack.bitrate, r.Bandwidth)
		}
		if len(man.Audio) > 0 && len(man.Audio[0].Representations) > 0 {
			benchPack.audio = man.Audio[0].Ladder()[0].Bandwidth
		}
		benchPack.dir = res.Dir
	})
	if benchPack.err != nil {
		b.Fatal(benchPack.err)
	}
	return benchPack.dir, benchPack.bitrate, benchPack.audio
}

// benchGroup starts n members on 127.0.90.1.. (the first is the
// publisher), each with its BitTorrent upload capped at upKiBs, and
// publishes the packaged folder on the first.
func benchGroup(b *testing.B, n int, upKiBs int64, dir string) ([]*Node, engine.Item) {
	b.Helper()
	var nodes []*Node
	for i := range n {
		var join []string
		if i > 0 {
			join = []string{nodes[0].CDN().PeerAddr()}
		}
		nodes = append(nodes, startMemberWith(b, fmt.Sprintf("m%d", i), fmt.Sprintf("127.0.90.%d", i+1), fastCDN, func(c *Config) {
			c.Join = join
			c.CDN.UploadKiBs = upKiBs
		}))
	}
	waitFor(b, "the members to see each other", func() bool {
		for _, nd := range nodes {
			if aliveMembers(nd) != n {
				return false
			}
		}
		return true
	})
	ctx, cancel := context.WithTimeout(b.Context(), 2*time.Minute)
	defer cancel()
	it, err := nodes[0].publish(ctx, dir, "film", StageHashing, nil)
	if err != nil {
		b.Fatal(err)
	}
	waitFor(b, "every catalog to list the film", func() bool {
		for _, nd := range nodes[1:] {
			if e, ok := nd.CDN().Catalog.Get(it.InfoHash); !ok || len(e.Holders) == 0 {
				return false
			}
		}
		return true
	})
	return nodes, it
}

// playback is what a bench renderer saw.
type playback struct {
	firstFrame time.Duration // Watch called to the first frame decoded
	seekFrame  time.Duration // Seek called to the first frame there decoded
	stalls     int
	stalled    time.Duration
	state      player.State
}

// frameDecoder decodes the first frame of init+media with the window's
// ffmpeg command (app/watchview.go), started when the init arrives as the
// window does; done gets the outcome once the frame is read.
type frameDecoder struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	done chan error
}

func startFrameDecoder(ctx context.Context, init []byte) (*frameDecoder, error) {
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
		"-f", "mp4", "-i", "pipe:0", "-an", "-sn",
		"-vf", "scale=640:360:force_original_aspect_ratio=decrease,pad=640:360:(ow-iw)/2:(oh-ih)/2",
		"-frames:v", "1", "-pix_fmt", "rgba", "-f", "rawvideo", "pipe:1")
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &frameDecoder{cmd: cmd, in: in, done: make(chan error, 1)}
	go func() {
		frame := make([]byte, 640*360*4)
		_, err := io.ReadFull(out, frame)
		d.done <- err
	}()
	go in.Write(init)
	return d, nil
}

func (d *frameDecoder) feed(media []byte) { go func() { d.in.Write(media); d.in.Close() }() }

func (d *frameDecoder) stop() {
	d.in.Close()
	d.cmd.Process.Kill()
	d.cmd.Wait()
}

// watchAndPlay starts a session on n and plays it to the end on a wall
// clock; with seekTo > 0 it plays 2 s, seeks there, measures the first
// frame there and stops.
func watchAndPlay(ctx context.Context, n *Node, ih string, seekTo time.Duration) (playback, error) {
	var pb playback
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	began := time.Now()
	ws, err := n.Watch(ctx, ih, WatchOptions{})
	if err != nil {
		return pb, err
	}
	s, _ := n.WatchSession(ws.ID)
	defer n.StopWatching(ws.ID)
	dur := s.Manifest().Duration
	audio := s.State().Audio

	var mu sync.Mutex
	ends := map[string]time.Duration{} // fetched end per track, this generation
	ended := map[string]bool{}
	frames := make(chan time.Time, 4) // the first frame of a generation, decoded
	pull := func(track string) {
		var dec *frameDecoder
		decGen, fedGen := -1, -1
		defer func() {
			if dec != nil {
				dec.stop()
			}
		}()
		for {
			c, err := s.Next(ctx, track)
			if errors.Is(err, player.ErrEnded) {
				mu.Lock()
				ended[track] = true
				mu.Unlock()
				select {
				case <-ctx.Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
			if err != nil {
				return
			}
			mu.Lock()
			if c.Generation != s.Generation() {
				mu.Unlock()
				continue // fetched before a seek
			}
			if c.Init && ends[track+"gen"] != time.Duration(c.Generation) {
				ends[track], ended[track] = 0, false
				ends[track+"gen"] = time.Duration(c.Generation)
			}
			if !c.Init {
				ends[track] = c.Start + c.Duration
			}
			mu.Unlock()
			if track != player.Video {
				continue
			}
			switch {
			case c.Init && c.Generation != decGen:
				// A new generation: decode its first frame as the window does.
				if dec != nil {
					dec.stop()
				}
				if dec, err = startFrameDecoder(ctx, c.Data); err != nil {
					return
				}
				decGen = c.Generation
			case !c.Init && c.Generation == decGen && fedGen != decGen:
				fedGen = decGen
				dec.feed(c.Data)
				go func(d *frameDecoder) {
					if err := <-d.done; err == nil {
						frames <- time.Now()
					}
				}(dec)
			}
		}
	}
	go pull(player.Video)
	if audio {
		go pull(player.Audio)
	}

	select {
	case at := <-frames:
		pb.firstFrame = at.Sub(began)
	case <-ctx.Done():
		return pb, fmt.Errorf("no first frame: %+v", s.State())
	}
	// Play on a wall clock from the first frame.
	pos := time.Duration(0)
	last := time.Now()
	lastReport := time.Time{}
	stalled := false
	var stallBegan time.Time
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for pos < dur-50*time.Millisecond {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return pb, fmt.Errorf("playback did not end: position %v of %v, %q", pos, dur, s.State().Error)
		}
		now := time.Now()
		mu.Lock()
		avail := ends[player.Video]
		if audio {
			avail = min(avail, ends[player.Audio])
		}
		if ended[player.Video] && (!audio || ended[player.Audio]) {
			avail = dur
		}
		mu.Unlock()
		if !stalled {
			pos += now.Sub(last)
		}
		last = now
		switch {
		case !stalled && pos >= avail:
			pos, stalled, stallBegan = avail, true, now
			pb.stalls++
		case stalled && avail > pos+100*time.Millisecond:
			stalled = false
			pb.stalled += now.Sub(stallBegan)
		}
		if now.Sub(lastReport) >= 500*time.Millisecond {
			s.Report(pos, !stalled, stalled)
			lastReport = now
		}
		if seekTo > 0 && pos >= 2*time.Second {
			t0 := time.Now()
			if err := s.Seek(seekTo); err != nil {
				return pb, err
			}
			select {
			case at := <-frames:
				pb.seekFrame = at.Sub(t0)
			case <-ctx.Done():
				return pb, fmt.Errorf("no frame after the seek: %+v", s.State())
			}
			pb.state = s.State()
			return pb, nil
		}
	}
	s.Report(dur, true, false)
	pb.state = s.State()
	return pb, nil
}

// kib is a bit rate times factor as KiB/s.
func kib(bps int, factor float64) int64 { return int64(float64(bps) * factor / 8 / 1024) }

// sources sums the bytes of the kept segment downloads by source.
func sources(st player.State) map[string]int64 {
	out := map[string]int64{}
	for _, r := range st.History {
		if r.Error == "" {
			out[r.From] += r.Size
		}
	}
	return out
}

// BenchmarkStreamStartup: the film published on m0, watched on m1 (Shoal's
// ABR, 12 s target, 25 s maximum), every node's upload capped at 1.5x the
// lowest rendition's bitrate or 3x the highest, each with the audio track
// (which plays along with every rendition); "video-only" is 1.5x the
// lowest video bitrate alone, which can be below what the lowest
// rendition and its audio take. Time to first frame, stalls and the mean
// bitrate of one whole playback per iteration.
func BenchmarkStreamStartup(b *testing.B) {
	dir, ladder, audio := benchVideo(b)
	for _, cap := range []struct {
		name string
		kibs int64
	}{
		{"cap=1.5x-lowest", kib(ladder[0]+audio, 1.5)},
		{"cap=3x-highest", kib(ladder[len(ladder)-1]+audio, 3)},
		{"cap=1.5x-lowest-video-only", kib(ladder[0], 1.5)},
	} {
		b.Run(cap.name, func(b *testing.B) {
			for range b.N {
				nodes, it := benchGroup(b, 2, cap.kibs, dir)
				pb, err := watchAndPlay(b.Context(), nodes[1], it.InfoHash, 0)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(pb.firstFrame.Milliseconds()), "first-frame-ms")
				b.ReportMetric(float64(pb.stalls), "stalls")
				b.ReportMetric(pb.stalled.Seconds(), "stall-s")
				b.ReportMetric(pb.state.QoE.MeanBitrate, "mean-kbps")
				b.ReportMetric(float64(cap.kibs), "cap-KiB/s")
				b.Logf("cap %d KiB/s, ladder %v bit/s, audio %d bit/s: first frame %v, %d stalls (%v), mean %.0f kbps, switches %d; bytes by source %v",
					cap.kibs, ladder, audio, pb.firstFrame, pb.stalls, pb.stalled, pb.state.QoE.MeanBitrate, pb.state.QoE.Switches, sources(pb.state))
				for _, nd := range nodes {
					nd.Close()
				}
			}
		})
	}
}

// BenchmarkStreamSeek: as BenchmarkStreamStartup at 3x the highest
// bitrate; after 2 s of playback the renderer seeks to two thirds of the
// film, which nothing fetched yet (the buffer holds at most 25 s), and the
// time from the seek to the first frame there is measured.
func BenchmarkStreamSeek(b *testing.B) {
	dir, ladder, audio := benchVideo(b)
	kibs := kib(ladder[len(ladder)-1]+audio, 3)
	for range b.N {
		nodes, it := benchGroup(b, 2, kibs, dir)
		raw, _ := os.ReadFile(filepath.Join(dir, player.ManifestPath))
		man, err := mpd.Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		to := man.Duration * 2 / 3
		pb, err := watchAndPlay(b.Context(), nodes[1], it.InfoHash, to)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(pb.seekFrame.Milliseconds()), "seek-first-frame-ms")
		b.ReportMetric(float64(pb.firstFrame.Milliseconds()), "first-frame-ms")
		var from []string
		for _, r := range pb.state.History {
			if r.Track == player.Video && r.Segment == int(to/pb.state.SegmentDuration) {
				from = append(from, r.From)
			}
		}
		b.Logf("seek to %v: first frame there after %v (segment from %v)", to, pb.seekFrame, from)
		for _, nd := range nodes {
			nd.Close()
		}
	}
}

// BenchmarkStreamOffload: the film published on m0; m1..m4 start watching
// it 10 s apart, every node's upload capped at 3x the highest bitrate.
// Offload is the share of the bytes the watchers received that did not
// come from the publisher: 1 - (m0's BitTorrent upload + what its gateway
// served the watchers) / (the watchers' BitTorrent download + what members'
// gateways served them).
func BenchmarkStreamOffload(b *testing.B) {
	dir, ladder, audio := benchVideo(b)
	kibs := kib(ladder[len(ladder)-1]+audio, 3)
	const watchers = 4
	for range b.N {
		nodes, it := benchGroup(b, watchers+1, kibs, dir)
		var wg sync.WaitGroup
		results := make([]playback, watchers)
		errs := make([]error, watchers)
		for i := range watchers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(i) * 10 * time.Second)
				results[i], errs[i] = watchAndPlay(b.Context(), nodes[i+1], it.InfoHash, 0)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			b.Fatal(err)
		}
		const pub = "m0"
		var fromPub, total int64
		st, _ := nodes[0].CDN().Engine.Status(it.InfoHash)
		fromPub += st.Uploaded
		var stalls int
		var line []string
		for i, pb := range results {
			ws, err := nodes[i+1].CDN().Engine.Status(it.InfoHash)
			if err == nil {
				total += ws.Downloaded
			}
			src := sources(pb.state)
			for from, n := range src {
				if name, ok := strings.CutPrefix(from, "member "); ok {
					total += n
					if name == pub {
						fromPub += n
					}
				}
			}
			stalls += pb.stalls
			line = append(line, fmt.Sprintf("m%d: first frame %v, %d stalls, %.0f kbps, torrent %d B, by source %v",
				i+1, pb.firstFrame, pb.stalls, pb.state.QoE.MeanBitrate, ws.Downloaded, src))
		}
		share := 1 - float64(fromPub)/float64(max(total, 1))
		b.ReportMetric(100*share, "offload-%")
		b.ReportMetric(float64(fromPub)/1e6, "publisher-MB")
		b.ReportMetric(float64(total)/1e6, "received-MB")
		b.ReportMetric(float64(stalls), "stalls")
		b.Logf("publisher uploaded %d B (torrent %d) of %d B the watchers received: offload %.1f %%\n%s",
			fromPub, st.Uploaded, total, 100*share, strings.Join(line, "\n"))
		for _, nd := range nodes {
			nd.Close()
		}
	}
}
