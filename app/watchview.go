package app

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"os/exec"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/shoal-p2p/shoal/cdn/catalog"
	"github.com/shoal-p2p/shoal/cdn/engine"
	"github.com/shoal-p2p/shoal/node"
	"github.com/shoal-p2p/shoal/streaming/player"
)

// The Watch area plays a video item: the node's watch session fetches and
// buffers the segments; here ffmpeg decodes the video track to raw RGBA
// frames on a pipe, shown on a canvas.Image at the video's frame rate, with
// play/pause, a seek bar, the rendition (automatic or fixed) and readouts
// of the buffer, the bitrate, where segments came from and the QoE. There
// is no sound: the frames are paced by a silent clock.

// Frames are decoded at this size whatever the rendition, so a switch
// does not resize the picture.
const (
	watchWidth  = 640
	watchHeight = 360
)

type watchView struct {
	n      Node
	l      loop
	ffmpeg string

	content   fyne.CanvasObject
	items     *widget.Select
	play      *widget.Button
	pause     *widget.Button
	stop      *widget.Button
	seek      *widget.Slider
	buffered  *bufferedLayout // the fetched range, drawn under the seek bar
	bufBar    *fyne.Container
	rendition *widget.Select
	picture   *canvas.Image
	status    *widget.Label
	readout   *widget.Label
	qoe       *widget.Label
	errLabel  *widget.Label
	plot      *canvas.Raster
	legend    *widget.Label
	samples   []watchSample // UI goroutine only

	videos map[string]string // item name -> infohash

	mu      sync.Mutex
	current *watching // nil when nothing plays
	frames  int       // frames shown since the view was made
}

// watching is one playing session and its decoding pipeline.
type watching struct {
	id     string
	s      *player.Session
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	paused   bool
	position time.Duration
	stalled  bool
	resume   chan struct{} // closed and replaced when playback resumes

	firstShown bool // present's own
}

func newWatchView(n Node, l loop) *watchView {
	v := &watchView{n: n, l: l, ffmpeg: "ffmpeg", videos: map[string]string{}}
	v.items = widget.NewSelect(nil, nil)
	v.items.PlaceHolder = "Choose a video"
	v.play = widget.NewButton("Play", func() { v.start(v.videos[v.items.Selected]) })
	v.play.Importance = widget.HighImportance
	v.pause = widget.NewButton("Pause", v.togglePause)
	v.stop = widget.NewButton("Stop", v.close)
	v.seek = widget.NewSlider(0, 1)
	v.seek.Step = 0.5
	v.seek.OnChangeEnded = v.seekTo
	v.rendition = widget.NewSelect([]string{"auto"}, v.chooseRendition)
	v.rendition.SetSelected("auto")
	v.picture = canvas.NewImageFromImage(image.NewRGBA(image.Rect(0, 0, watchWidth, watchHeight)))
	v.picture.FillMode = canvas.ImageFillContain
	v.picture.SetMinSize(fyne.NewSize(watchWidth, watchHeight))
	v.status = widget.NewLabel("Nothing plays.")
	v.readout = widget.NewLabel("")
	v.qoe = widget.NewLabel("")
	v.errLabel = widget.NewLabel("")
	v.errLabel.Importance = widget.DangerImportance
	v.errLabel.Wrapping = fyne.TextWrapWord
	v.errLabel.Hide()
	v.pause.Disable()
	v.stop.Disable()

	top := container.NewBorder(nil, nil, nil, container.NewHBox(v.play, v.pause, v.stop), v.items)
	strip := canvas.NewRectangle(theme.Color(theme.ColorNamePrimary))
	v.buffered = &bufferedLayout{}
	v.bufBar = container.New(v.buffered, strip)
	controls := container.NewBorder(nil, nil, nil, container.NewHBox(widget.NewLabel("Rendition"), v.rendition),
		container.NewStack(v.bufBar, v.seek))
	v.plot = canvas.NewRaster(v.drawPlot)
	v.plot.SetMinSize(fyne.NewSize(200, 90))
	v.legend = widget.NewLabel("")
	v.legend.SizeName = theme.SizeNameCaptionText
	v.content = container.NewBorder(
		container.NewVBox(top, v.errLabel),
		container.NewVBox(controls, v.status, v.readout, v.qoe, v.legend, v.plot),
		nil, nil, v.picture)
	v.refreshItems()
	go v.follow()
	return v
}

// follow keeps the list of videos and the readouts current until the
// window closes.
func (v *watchView) follow() {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	n := 0
	for {
		select {
		case <-v.l.ctx.Done():
			v.close()
			return
		case <-t.C:
		}
		n++
		if n%6 == 0 {
			v.l.do(v.refreshItems)
		}
		v.mu.Lock()
		w := v.current
		v.mu.Unlock()
		if w != nil {
			st := w.s.State()
			v.l.do(func() { v.show(w, st) })
		}
	}
}

// refreshItems lists the network's videos.
func (v *watchView) refreshItems() {
	var names []string
	v.videos = map[string]string{}
	for _, e := range v.n.Catalog("") {
		if !isVideo(e.Item) {
			continue
		}
		name := e.Item.Name
		if _, dup := v.videos[name]; dup {
			name += " (" + e.Item.InfoHash[:8] + ")"
		}
		v.videos[name] = e.Item.InfoHash
		names = append(names, name)
	}
	v.items.SetOptions(names)
	if v.items.Selected == "" && len(names) > 0 {
		v.items.SetSelected(names[0])
	}
}

// isVideo tells a DASH presentation from other items by its manifest.
func isVideo(it catalog.Item) bool {
	if it.Kind != "video" {
		return false
	}
	for _, f := range it.Files {
		if f.Path == engine.PresentationManifest {
			return true
		}
	}
	return false
}

// Play starts playing the item infohash (the Library's Play button).
func (v *watchView) Play(infohash string) {
	for name, ih := range v.videos {
		if ih == infohash {
			v.items.SetSelected(name)
		}
	}
	v.start(infohash)
}

func (v *watchView) fail(err error) {
	v.errLabel.SetText(err.Error())
	v.errLabel.Show()
}

// start opens a watch session and its decoder.
func (v *watchView) start(infohash string) {
	if infohash == "" {
		v.fail(errors.New("choose a video first"))
		return
	}
	v.close()
	v.errLabel.Hide()
	if _, err := exec.LookPath(v.ffmpeg); err != nil {
		v.fail(fmt.Errorf("%s is needed to show video (Debian: apt-get install ffmpeg)", v.ffmpeg))
		return
	}
	v.status.SetText("Starting…")
	v.play.Disable()
	go func() {
		ctx, cancel := context.WithTimeout(v.l.ctx, 30*time.Second)
		ws, err := v.n.Watch(ctx, infohash, node.WatchOptions{})
		cancel()
		var s *player.Session
		if err == nil {
			s, err = v.n.WatchSession(ws.ID)
		}
		v.l.do(func() {
			v.play.Enable()
			if err != nil {
				v.status.SetText("Nothing plays.")
				v.fail(err)
				return
			}
			ctx, cancel := context.WithCancel(v.l.ctx)
			w := &watching{id: ws.ID, s: s, cancel: cancel, done: make(chan struct{}), resume: make(chan struct{})}
			v.mu.Lock()
			v.current = w
			v.mu.Unlock()
			opts := []string{"auto"}
			for _, r := range ws.State.Renditions {
				opts = append(opts, fmt.Sprintf("%dp (%s)", r.Height, bitrateText(r.Bandwidth)))
			}
			v.rendition.SetOptions(opts)
			v.rendition.SetSelected("auto")
			v.seek.Max = ws.State.Duration.Seconds()
			v.seek.SetValue(0)
			v.pause.Enable()
			v.stop.Enable()
			go v.run(ctx, w)
		})
	}()
}

// close stops what plays, if anything.
func (v *watchView) close() {
	v.mu.Lock()
	w := v.current
	v.current = nil
	v.mu.Unlock()
	if w == nil {
		return
	}
	w.cancel()
	<-w.done
	v.n.StopWatching(w.id)
	v.l.do(func() {
		v.pause.Disable()
		v.stop.Disable()
		v.status.SetText("Nothing plays.")
	})
}

func (v *watchView) togglePause() {
	v.mu.Lock()
	w := v.current
	v.mu.Unlock()
	if w == nil {
		return
	}
	w.mu.Lock()
	w.paused = !w.paused
	if !w.paused {
		close(w.resume)
		w.resume = make(chan struct{})
	}
	paused := w.paused
	w.mu.Unlock()
	if paused {
		v.pause.SetText("Play")
	} else {
		v.pause.SetText("Pause")
	}
}

func (v *watchView) seekTo(secs float64) {
	v.mu.Lock()
	w := v.current
	v.mu.Unlock()
	if w == nil {
		return
	}
	if err := w.s.Seek(time.Duration(secs * float64(time.Second))); err != nil {
		v.fail(err)
	}
}

func (v *watchView) chooseRendition(choice string) {
	v.mu.Lock()
	w := v.current
	v.mu.Unlock()
	if w == nil {
		return
	}
	r := slicesIndex(v.rendition.Options, choice) - 1 // "auto" is -1
	if err := w.s.SetRendition(r); err != nil {
		v.fail(err)
	}
}

func slicesIndex(ss []string, s string) int {
	for i, x := range ss {
		if x == s {
			return i
		}
	}
	return 0
}

// show updates the readouts from a session state.
func (v *watchView) show(w *watching, st player.State) {
	w.mu.Lock()
	pos, paused, stalled := w.position, w.paused, w.stalled
	w.mu.Unlock()
	state := "Playing"
	switch {
	case paused:
		state = "Paused"
	case stalled:
		state = "Waiting for data"
	case !st.QoE.Started:
		state = "Starting"
	}
	v.status.SetText(fmt.Sprintf("%s · %s of %s", state, clockText(pos), clockText(st.Duration)))
	if v.seek.Value != pos.Seconds() {
		v.seek.Value = pos.Seconds()
		v.seek.Refresh()
	}
	v.buffered.from, v.buffered.to = 0, 0
	if d := st.Duration.Seconds(); len(st.Buffered) > 0 && d > 0 {
		v.buffered.from, v.buffered.to = st.Buffered[0][0]/d, st.Buffered[0][1]/d
	}
	v.bufBar.Refresh()
	var last *player.SegmentRecord
	for i := len(st.History) - 1; i >= 0; i-- {
		if st.History[i].Track == player.Video && !st.History[i].Abandoned {
			last = &st.History[i]
			break
		}
	}
	rend := "–"
	if st.Rendition < len(st.Renditions) && last != nil {
		r := st.Renditions[st.Rendition]
		rend = fmt.Sprintf("%dx%d, %s", r.Width, r.Height, bitrateText(r.Bandwidth))
	}
	from := "–"
	if last != nil {
		from = last.From
	}
	v.readout.SetText(fmt.Sprintf("Rendition %s · buffer %.1f s of %.0f s · last segment from %s",
		rend, st.Buffer.Seconds(), st.BufferMax.Seconds(), from))
	q := st.QoE
	if q.Started {
		v.qoe.SetText(fmt.Sprintf("QoE: start-up %d ms · mean %.0f kb/s · %d switches · %d stalls (%.1f s) · QoE_lin %.2f",
			q.Startup.Milliseconds(), q.MeanBitrate, q.Switches, q.Rebuffers, q.RebufferSeconds, q.Score))
	}
	if st.Error != "" {
		v.fail(errors.New(st.Error))
	}
	bitrate := 0
	if last != nil {
		bitrate = last.Bitrate
	}
	top := 1
	for _, r := range st.Renditions {
		top = max(top, r.Bandwidth)
	}
	v.samples = append(v.samples, watchSample{buffer: st.Buffer.Seconds() / st.BufferMax.Seconds(), bitrate: float64(bitrate) / float64(top)})
	if len(v.samples) > plotSamples {
		v.samples = v.samples[len(v.samples)-plotSamples:]
	}
	v.legend.SetText(fmt.Sprintf("Buffer level (blue, 0 to %.0f s) and bitrate (green, 0 to %s), last %d s",
		st.BufferMax.Seconds(), bitrateText(top), plotSamples/2))
	v.plot.Refresh()
}

// watchSample is one point of the plot, both values scaled to 0..1.
type watchSample struct{ buffer, bitrate float64 }

// plotSamples is how many samples the plot shows, two a second.
const plotSamples = 240

// drawPlot draws the buffer level and bitrate lines.
func (v *watchView) drawPlot(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	if w < 2 || h < 2 {
		return img
	}
	grid := theme.Color(theme.ColorNameSeparator)
	for x := 0; x < w; x++ {
		img.Set(x, h-1, grid)
		img.Set(x, 0, grid)
	}
	line := func(val func(watchSample) float64, c color.Color) {
		prevY := -1
		for i, smp := range v.samples {
			x := w - 1 - (len(v.samples)-1-i)*w/plotSamples
			y := h - 1 - int(min(1, max(0, val(smp)))*float64(h-2))
			for yy := min(y, max(prevY, y)); prevY >= 0 && yy <= max(y, prevY); yy++ {
				img.Set(x, yy, c)
			}
			for dx := 0; dx < max(1, w/plotSamples); dx++ {
				img.Set(x+dx, y, c)
				img.Set(x+dx, y-1, c)
			}
			prevY = y
		}
	}
	line(func(s watchSample) float64 { return s.buffer }, theme.Color(theme.ColorNamePrimary))
	line(func(s watchSample) float64 { return s.bitrate }, theme.Color(theme.ColorNameSuccess))
	return img
}

func clockText(d time.Duration) string {
	s := int(d.Seconds())
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

func bitrateText(bps int) string {
	if bps >= 1_000_000 {
		return fmt.Sprintf("%.1f Mb/s", float64(bps)/1e6)
	}
	return fmt.Sprintf("%d kb/s", bps/1000)
}

// run feeds the session's video chunks to ffmpeg and shows its frames
// until ctx ends. A rendition switch or a seek starts a new ffmpeg (a new
// initialization segment cannot follow media in one MP4 stream); frames
// are shown in order, one decoder after the other.
func (v *watchView) run(ctx context.Context, w *watching) {
	defer close(w.done)
	decoders := make(chan *decoder, 4)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		v.present(ctx, w, decoders)
	}()
	go v.report(ctx, w)
	defer wg.Wait()
	defer close(decoders)

	var cur *decoder
	gen := 0
	defer func() {
		if cur != nil {
			cur.in.Close()
		}
	}()
	for {
		c, err := w.s.Next(ctx, player.Video)
		if err != nil {
			if errors.Is(err, player.ErrEnded) {
				if cur != nil {
					cur.in.Close()
					cur = nil
				}
				// Wait for a seek to give more.
				select {
				case <-ctx.Done():
					return
				case <-time.After(200 * time.Millisecond):
				}
				continue
			}
			return
		}
		if c.Init {
			if cur != nil {
				cur.in.Close()
				if c.Generation != gen {
					cur.kill()
				}
			}
			gen = c.Generation
			fps := 30.0
			if st := w.s.State(); c.Rendition < len(st.Renditions) && st.Renditions[c.Rendition].FrameRate > 0 {
				fps = st.Renditions[c.Rendition].FrameRate
			}
			d, err := startDecoder(ctx, v.ffmpeg, c.Generation, fps)
			if err != nil {
				v.l.do(func() { v.fail(err) })
				return
			}
			cur = d
			select {
			case decoders <- d:
			case <-ctx.Done():
				return
			}
		}
		if cur == nil {
			continue
		}
		if !c.Init {
			cur.setStart(c.Start)
		}
		if _, err := cur.in.Write(c.Data); err != nil {
			// The decoder was killed by a seek, or ffmpeg failed; the next
			// initialization segment starts another.
			cur = nil
		}
	}
}

// decoder is one ffmpeg turning fMP4 on stdin into RGBA frames on stdout.
type decoder struct {
	cmd        *exec.Cmd
	in         io.WriteCloser
	out        io.ReadCloser
	generation int
	fps        float64

	mu      sync.Mutex
	start   time.Duration
	started bool
}

func startDecoder(ctx context.Context, ffmpeg string, generation int, fps float64) (*decoder, error) {
	cmd := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin",
		"-f", "mp4", "-i", "pipe:0", "-an", "-sn",
		"-vf", fmt.Sprintf("scale=%d:%d:force_original_aspect_ratio=decrease,pad=%d:%d:(ow-iw)/2:(oh-ih)/2",
			watchWidth, watchHeight, watchWidth, watchHeight),
		"-pix_fmt", "rgba", "-f", "rawvideo", "pipe:1")
	cmd.Stdin = nil
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("app: ffmpeg: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("app: ffmpeg: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("app: start ffmpeg to decode video: %w", err)
	}
	return &decoder{cmd: cmd, in: in, out: out, generation: generation, fps: fps}, nil
}

func (d *decoder) setStart(t time.Duration) {
	d.mu.Lock()
	if !d.started {
		d.start, d.started = t, true
	}
	d.mu.Unlock()
}

func (d *decoder) kill() {
	d.in.Close()
	if d.cmd.Process != nil {
		d.cmd.Process.Kill()
	}
}

// present shows the decoders' frames in order, paced by the frame rate.
func (v *watchView) present(ctx context.Context, w *watching, decoders <-chan *decoder) {
	bufs := [2]*image.RGBA{image.NewRGBA(image.Rect(0, 0, watchWidth, watchHeight)), image.NewRGBA(image.Rect(0, 0, watchWidth, watchHeight))}
	which := 0
	next := time.Now()
	for d := range decoders {
		frame := 0
		for {
			img := bufs[which]
			if _, err := io.ReadFull(d.out, img.Pix); err != nil {
				break
			}
			if d.generation != w.s.Generation() {
				continue // a seek happened: drop what this decoder still has
			}
			// Pause holds the clock.
			for {
				w.mu.Lock()
				paused, resume := w.paused, w.resume
				w.mu.Unlock()
				if !paused {
					break
				}
				select {
				case <-resume:
					next = time.Now()
				case <-ctx.Done():
					d.kill()
					d.cmd.Wait()
					return
				}
			}
			now := time.Now()
			w.mu.Lock()
			w.stalled = now.Sub(next) > 250*time.Millisecond
			w.mu.Unlock()
			if wait := next.Sub(now); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					d.kill()
					d.cmd.Wait()
					return
				}
			} else {
				next = now
			}
			next = next.Add(time.Duration(float64(time.Second) / d.fps))
			d.mu.Lock()
			pos := d.start + time.Duration(float64(frame)*float64(time.Second)/d.fps)
			d.mu.Unlock()
			frame++
			w.mu.Lock()
			w.position = pos
			w.mu.Unlock()
			if !w.firstShown {
				// The first frame ends start-up: say so at once.
				w.firstShown = true
				w.s.Report(pos, true, false)
			}
			which = 1 - which
			v.l.do(func() {
				v.picture.Image = img
				v.picture.Refresh()
				v.mu.Lock()
				v.frames++
				v.mu.Unlock()
			})
		}
		d.cmd.Wait()
	}
}

// report tells the session where playback is, twice a second.
func (v *watchView) report(ctx context.Context, w *watching) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.mu.Lock()
		pos, paused, stalled := w.position, w.paused, w.stalled
		w.mu.Unlock()
		w.s.Report(pos, !paused && !stalled && pos > 0, stalled && !paused && pos > 0)
	}
}

// shownFrames is how many frames the view has shown.
func (v *watchView) shownFrames() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.frames
}

// bufferedLayout lays a strip under the seek bar over the range of the
// video that is fetched, as fractions of its duration.
type bufferedLayout struct{ from, to float64 }

func (l *bufferedLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	const h = 4
	x0, x1 := float32(l.from)*size.Width, float32(l.to)*size.Width
	for _, o := range objs {
		o.Move(fyne.NewPos(x0, size.Height-h))
		o.Resize(fyne.NewSize(max(0, x1-x0), h))
	}
}

func (l *bufferedLayout) MinSize([]fyne.CanvasObject) fyne.Size { return fyne.NewSize(0, 0) }
