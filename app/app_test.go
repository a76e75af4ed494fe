package app

import (
	"errors"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/driver/software"
	"fyne.io/fyne/v2/test"
	"go.uber.org/goleak"

	"github.com/shoal-p2p/shoal/node"
)

var _ Node = (*node.Node)(nil)

// fakeNode is a Node whose status, config and events the test sets, and
// which records what the window saves.
type fakeNode struct {
	events chan node.Event

	mu        sync.Mutex
	status    node.Status
	cfg       node.Config
	backlog   []node.Event
	saveErr   error
	restart   []string
	saved     []node.Config
	cancelled bool
}

func newFakeNode() *fakeNode {
	cfg := node.DefaultConfig()
	cfg.Name = "alpha"
	return &fakeNode{
		events: make(chan node.Event, 16),
		cfg:    cfg,
		status: node.Status{
			Name:     "alpha",
			ID:       "k51qzi5uqu5dlvj2baxnqndepeb",
			Network:  "shoal",
			Version:  "0.1.0",
			UptimeS:  3725,
			DataDir:  "/home/ada/.local/share/shoal",
			Services: []node.Service{{Name: "ui", Proto: "tcp", Address: "127.0.0.1:7480", URL: "http://127.0.0.1:7480/"}},
		},
	}
}

func (f *fakeNode) Status() node.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}

func (f *fakeNode) Settings() (node.SettingsResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return node.SettingsResult{Settings: f.cfg, Restart: []string{}}, nil
}

func (f *fakeNode) SaveSettings(cfg node.Config) (node.SettingsResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.saveErr != nil {
		return node.SettingsResult{}, f.saveErr
	}
	f.saved = append(f.saved, cfg)
	return node.SettingsResult{Settings: cfg, Restart: f.restart}, nil
}

func (f *fakeNode) Subscribe(since uint64) ([]node.Event, <-chan node.Event, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.backlog, f.events, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.cancelled = true
	}
}

func (f *fakeNode) savedConfigs() []node.Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.saved)
}

func (f *fakeNode) wasCancelled() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cancelled
}

// uiQueue stands in for Fyne's UI goroutine. The test driver's fyne.Do runs
// a function on the goroutine that calls it; the views' goroutines queue it
// here instead and the test runs it, so one goroutine touches the widgets and
// the race detector keeps its meaning.
type uiQueue chan func()

func newUIQueue() uiQueue { return make(uiQueue, 1024) }

func (q uiQueue) do(f func()) { q <- f }

// waitFor runs queued UI work until cond holds, and fails the test if it
// does not hold within five seconds.
func (q uiQueue) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for !cond() {
		select {
		case f := <-q:
			f()
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// openWindow builds the window for n on a test app and closes it when the
// test ends.
func openWindow(t *testing.T, n Node) (fyne.Window, uiQueue) {
	t.Helper()
	a := test.NewTempApp(t)
	q := newUIQueue()
	w := newWindow(a, n, q.do)
	w.Show()
	t.Cleanup(w.Close)
	return w, q
}

// shownTexts returns the texts drawn in o's visible, rendered tree.
func shownTexts(o fyne.CanvasObject) []string {
	var texts []string
	walkShown(o, func(o fyne.CanvasObject) {
		if t, ok := o.(*canvas.Text); ok && t.Text != "" {
			texts = append(texts, t.Text)
		}
	})
	return texts
}

func walkShown(o fyne.CanvasObject, visit func(fyne.CanvasObject)) {
	if o == nil || !o.Visible() {
		return
	}
	visit(o)
	switch o := o.(type) {
	case fyne.Widget:
		for _, child := range test.WidgetRenderer(o).Objects() {
			walkShown(child, visit)
		}
	case *fyne.Container:
		for _, child := range o.Objects {
			walkShown(child, visit)
		}
	}
}

func showsText(o fyne.CanvasObject, want string) bool {
	return slices.ContainsFunc(shownTexts(o), func(s string) bool { return strings.Contains(s, want) })
}

// tapText taps the window where text is drawn, as a user clicks a label.
func tapText(t *testing.T, w fyne.Window, text string) {
	t.Helper()
	var target *canvas.Text
	walkShown(w.Content(), func(o fyne.CanvasObject) {
		if ct, ok := o.(*canvas.Text); ok && ct.Text == text && target == nil {
			target = ct
		}
	})
	if target == nil {
		t.Fatalf("no %q shown; shown: %q", text, shownTexts(w.Content()))
	}
	pos := fyne.CurrentApp().Driver().AbsolutePositionForObject(target)
	test.TapCanvas(w.Canvas(), pos.Add(fyne.NewPos(target.Size().Width/2, target.Size().Height/2)))
}

func TestWindowShowsNodeAreaFirstAndNavigatesToSettings(t *testing.T) {
	w, _ := openWindow(t, newFakeNode())
	if w.Title() != "Shoal" {
		t.Errorf("title %q, want Shoal", w.Title())
	}
	if !showsText(w.Content(), "k51qzi5uqu5dlvj2baxnqndepeb") {
		t.Fatalf("node area with the node's id not shown first; shown: %q", shownTexts(w.Content()))
	}
	if showsText(w.Content(), restartHint) {
		t.Fatal("settings shown before navigating to them")
	}

	tapText(t, w, "Settings")
	if !showsText(w.Content(), restartHint) {
		t.Fatalf("settings not shown after tapping Settings; shown: %q", shownTexts(w.Content()))
	}
	if showsText(w.Content(), "k51qzi5uqu5dlvj2baxnqndepeb") {
		t.Error("node area still shown next to settings")
	}

	tapText(t, w, "Node")
	if !showsText(w.Content(), "k51qzi5uqu5dlvj2baxnqndepeb") || showsText(w.Content(), restartHint) {
		t.Errorf("node area not back after tapping Node; shown: %q", shownTexts(w.Content()))
	}
}

func TestClosingWindowStopsGoroutinesAndSubscription(t *testing.T) {
	a := test.NewTempApp(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	n := newFakeNode()
	w := newWindow(a, n, newUIQueue().do)
	w.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !n.wasCancelled() {
		if time.Now().After(deadline) {
			t.Fatal("event subscription not cancelled after the window closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWindowRenders draws the window as a real driver would and checks that
// it is not blank, which a broken layout or an empty shell would be.
func TestWindowRenders(t *testing.T) {
	w, _ := openWindow(t, newFakeNode())
	c := software.NewCanvas()
	c.SetContent(w.Content())
	c.Resize(fyne.NewSize(1000, 680))
	img := c.Capture()

	path := filepath.Join(t.TempDir(), "window.png")
	writePNG(t, path, img)
	t.Logf("window drawn to %s", path)

	if b := img.Bounds(); b.Dx() < 1000 || b.Dy() < 680 {
		t.Errorf("drawn %v, want at least 1000x680", b.Size())
	}
	colors := map[[4]uint32]bool{}
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y += 2 {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x += 2 {
			r, g, b, a := img.At(x, y).RGBA()
			colors[[4]uint32{r, g, b, a}] = true
		}
	}
	if len(colors) < 16 {
		t.Errorf("window drawn with %d colors, want text and icons (16 or more)", len(colors))
	}
}

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(png.Encode(f, img), f.Close()); err != nil {
		t.Fatal(err)
	}
}
