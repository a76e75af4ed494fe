package app

import (
	"context"
	"errors"
	"image"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/shoal-p2p/shoal/cdn/engine"
	"github.com/shoal-p2p/shoal/node"
	"github.com/shoal-p2p/shoal/streaming/packager"
	"github.com/shoal-p2p/shoal/streaming/player"
)

// The fake node has no videos.
func (f *fakeNode) PublishVideo(ctx context.Context, path, name string, progress func(stage string, done, total int64)) (engine.Item, error) {
	f.mu.Lock()
	f.calls = append(f.calls, "publish video "+path)
	f.mu.Unlock()
	progress(node.StagePackaging, 1000, 2000)
	return engine.Item{}, errors.New("node: publish video: ffmpeg is not installed")
}

func (f *fakeNode) Watch(ctx context.Context, infohash string, opts node.WatchOptions) (node.Watching, error) {
	return node.Watching{}, errors.New("node: the fake node plays nothing")
}

func (f *fakeNode) WatchSession(id string) (*player.Session, error) {
	return nil, node.ErrNoSession
}

func (f *fakeNode) StopWatching(id string) (node.Watching, error) {
	return node.Watching{}, node.ErrNoSession
}

// videoNode starts a real node on loopback that has published a short
// test video (ffmpeg's testsrc2), and returns it with the video's infohash.
func videoNode(t *testing.T) (*node.Node, string) {
	t.Helper()
	for _, p := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s is not installed (Debian package ffmpeg)", p)
		}
	}
	n, err := node.Start(context.Background(), node.Options{DataDir: t.TempDir(),
		Packaging: packager.Options{Preset: "ultrafast"},
		Override: func(c *node.Config) {
			c.Name, c.Bind = "watcher", "127.0.0.1"
			c.UI.Address = "127.0.0.1:0"
			c.Ports = node.Ports{}
			c.DNS.Upstreams = []string{"127.0.0.1:1"}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	src := filepath.Join(t.TempDir(), "test-pattern.mp4")
	if out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-v", "error", "-nostdin",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=6",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", src).CombinedOutput(); err != nil {
		t.Fatalf("make a clip: %v\n%s", err, out)
	}
	it, err := n.PublishVideo(ctx, src, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return n, it.InfoHash
}

func openWatch(t testing.TB, n Node) (*watchView, uiQueue, fyne.Window) {
	t.Helper()
	test.NewTempApp(t)
	q := newUIQueue()
	ctx, cancel := context.WithCancel(t.Context())
	v := newWatchView(n, loop{do: q.do, ctx: ctx})
	w := test.NewWindow(v.content)
	w.Resize(fyne.NewSize(1000, 700))
	t.Cleanup(func() {
		cancel()
		// Let the view's goroutines finish their last UI calls.
		deadline := time.After(5 * time.Second)
		for {
			v.mu.Lock()
			cur := v.current
			v.mu.Unlock()
			if cur == nil {
				break
			}
			select {
			case f := <-q:
				f()
			case <-deadline:
				t.Error("the watch view did not stop")
				return
			}
		}
		w.Close()
	})
	return v, q, w
}

// colourful tells a picture from a blank frame: testsrc2 has many colours.
func colourful(img image.Image) bool {
	seen := map[[3]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 7 {
		for x := b.Min.X; x < b.Max.X; x += 7 {
			r, g, bb, _ := img.At(x, y).RGBA()
			seen[[3]uint32{r >> 12, g >> 12, bb >> 12}] = true
		}
	}
	return len(seen) >= 8
}

// TestWatchViewPlaysSeeksAndPauses plays a real node's video in the Watch
// area: frames decoded by ffmpeg reach the picture, the readouts show the
// rendition and where segments come from, pause stops the frames, a seek
// moves the position, and the session's QoE shows.
func TestWatchViewPlaysSeeksAndPauses(t *testing.T) {
	n, ih := videoNode(t)
	v, q, w := openWatch(t, n)
	q.waitFor(t, "the video in the list", func() bool {
		v.refreshItems()
		return len(v.items.Options) == 1
	})
	if v.videos[v.items.Selected] != ih {
		t.Fatalf("selected %q, want the published video", v.items.Selected)
	}
	test.Tap(v.play)
	waitPlaying(t, q, "frames", func() bool { return v.shownFrames() > 20 })
	if !colourful(v.picture.Image) {
		t.Error("the picture shows no test pattern")
	}
	waitPlaying(t, q, "the readouts", func() bool {
		return strings.Contains(v.status.Text, "Playing") && strings.Contains(v.readout.Text, "from here") &&
			strings.Contains(v.qoe.Text, "QoE_lin")
	})

	if v.buffered.to <= v.buffered.from || v.bufBar.Objects[0].Size().Width <= 0 {
		t.Errorf("the seek bar shows no fetched range (%v to %v)", v.buffered.from, v.buffered.to)
	}
	test.Tap(v.pause)
	q.waitFor(t, "the pause", func() bool { return strings.HasPrefix(v.status.Text, "Paused") })
	before := v.shownFrames()
	drain(q, 300*time.Millisecond)
	if after := v.shownFrames(); after > before+2 {
		t.Errorf("%d frames shown while paused", after-before)
	}
	test.Tap(v.pause)

	v.seekTo(4)
	waitPlaying(t, q, "the position after the seek", func() bool {
		v.mu.Lock()
		cur := v.current
		v.mu.Unlock()
		cur.mu.Lock()
		defer cur.mu.Unlock()
		return cur.position >= 4*time.Second
	})
	if !showsText(w.Content(), "Rendition") {
		t.Errorf("no rendition control; shown %q", shownTexts(w.Content()))
	}
	st := n.Watchings()
	if len(st) != 1 || st[0].State.Generation != 1 || !st[0].State.QoE.Started {
		t.Fatalf("sessions: %+v", st)
	}
	t.Logf("start-up in the window (session to first frame): %v", st[0].State.QoE.Startup)
	test.Tap(v.stop)
	waitPlaying(t, q, "the session to stop", func() bool { return len(n.Watchings()) == 0 })
}

// TestWatchViewNamesErrors: a session that cannot start says why.
func TestWatchViewNamesErrors(t *testing.T) {
	v, q, _ := openWatch(t, newFakeNode())
	v.start("")
	if !v.errLabel.Visible() || !strings.Contains(v.errLabel.Text, "choose a video") {
		t.Errorf("no video chosen: %q", v.errLabel.Text)
	}
	v.start(strings.Repeat("ab", 20))
	q.waitFor(t, "the node's error", func() bool { return strings.Contains(v.errLabel.Text, "plays nothing") })
}

// waitPlaying is uiQueue.waitFor with a deadline fit for starting ffmpeg
// and a session on a loaded machine.
func waitPlaying(t *testing.T, q uiQueue, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for !cond() {
		select {
		case f := <-q:
			f()
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// drain runs queued UI work for d.
func drain(q uiQueue, d time.Duration) {
	end := time.After(d)
	for {
		select {
		case f := <-q:
			f()
		case <-end:
			return
		}
	}
}

// buttonShown finds a shown button by its text.
func buttonShown(o fyne.CanvasObject, text string) *widget.Button {
	var found *widget.Button
	walkShown(o, func(o fyne.CanvasObject) {
		if b, ok := o.(*widget.Button); ok && b.Text == text && found == nil {
			found = b
		}
	})
	return found
}

// TestLibraryOpensAndShowsItems: a seeding folder has Open and Show in
// folder, which hand its path to the system; an item still downloading
// cannot be opened yet.
func TestLibraryOpensAndShowsItems(t *testing.T) {
	v, w, q := openLibrary(t, withLibrary(newFakeNode()))
	var opened []string
	v.openURL = func(u *url.URL) error { opened = append(opened, u.String()); return nil }
	v.showItems(v.node.Items())
	q.waitFor(t, "the items", func() bool { return showsText(w.Content(), "notes") })
	var rows []*itemRow
	walkShown(w.Content(), func(o fyne.CanvasObject) {
		if r, ok := o.(*itemRow); ok {
			rows = append(rows, r)
		}
	})
	for _, r := range rows {
		r.set(r.st) // with openURL set
		switch r.st.Name {
		case "notes":
			test.Tap(r.open)
			test.Tap(r.show)
		case "big-buck-bunny.mp4":
			if !r.open.Disabled() {
				t.Error("an item still downloading can be opened")
			}
		}
	}
	if want := []string{"file:///home/ada/notes", "file:///home/ada"}; !slices.Equal(opened, want) {
		t.Errorf("opened %q, want %q", opened, want)
	}
}

// TestLibraryPlaysVideos: in the whole window on a real node, a published
// video's row has Play, which shows the Watch area playing it.
func TestLibraryPlaysVideos(t *testing.T) {
	n, _ := videoNode(t)
	q := newUIQueue()
	w := newWindow(test.NewTempApp(t), n, q.do)
	w.Show()
	tapText(t, w, "Library")
	var play *widget.Button
	q.waitFor(t, "the video's Play button", func() bool {
		play = buttonShown(w.Content(), "Play")
		return play != nil && !play.Disabled()
	})
	test.Tap(play)
	waitPlaying(t, q, "the Watch area playing", func() bool {
		return w.Content().(*container.AppTabs).Selected().Text == "Watch" && len(n.Watchings()) == 1 &&
			n.Watchings()[0].State.QoE.Started
	})
	w.Close()
	waitPlaying(t, q, "the session to stop with the window", func() bool { return len(n.Watchings()) == 0 })
}

// TestLibraryPublishesVideos: "Publish video…" goes to the node's
// PublishVideo; its packaging progress and its error show in the job row.
func TestLibraryPublishesVideos(t *testing.T) {
	n := newFakeNode()
	v, w, q := openLibrary(t, n)
	if buttonShown(w.Content(), "Publish video…") == nil {
		t.Fatalf("no Publish video… button; shown %q", shownTexts(w.Content()))
	}
	v.publishVideo("/srv/media/harbour.mov")
	q.waitFor(t, "the error in the job row", func() bool {
		return showsText(w.Content(), "Could not publish /srv/media/harbour.mov") && showsText(w.Content(), "ffmpeg is not installed")
	})
	if !n.called("publish video /srv/media/harbour.mov") {
		t.Errorf("calls %q", n.recorded())
	}
}
