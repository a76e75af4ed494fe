package app

import (
	"context"
	"errors"
	"fmt"
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
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/software"
	"fyne.io/fyne/v2/test"
	"go.uber.org/goleak"

	"github.com/shoal-p2p/shoal/cdn/catalog"
	"github.com/shoal-p2p/shoal/cdn/engine"
	"github.com/shoal-p2p/shoal/cdn/membership"
	"github.com/shoal-p2p/shoal/node"
)

var _ Node = (*node.Node)(nil)

// fakeNode is a Node whose status, config, items, members and events the
// test sets, and which records what the window saves and asks for.
type fakeNode struct {
	mu         sync.Mutex
	status     node.Status
	cfg        node.Config
	backlog    []node.Event
	saveErr    error
	restart    []string
	saved      []node.Config
	subs       map[chan node.Event]bool // open subscriptions
	subscribed int

	items   []engine.Status
	entries []catalog.Entry
	members []membership.Member
	network node.NetworkStats
	// calls records the CDN calls that change or search something, as
	// "action IH pause", "remove IH true", "fetch SPEC", "catalog QUERY",
	// "publish PATH".
	calls []string
	// publishGate, when set, holds Publish after it reported half of its
	// progress, until the test closes it.
	publishGate chan struct{}
	publishErr  error
	fetchErr    error

	names    fakeNames // the Names area's DNS
	fakeMail           // the Mail area's mailboxes
}

func newFakeNode() *fakeNode {
	cfg := node.DefaultConfig()
	cfg.Name = "alpha"
	return &fakeNode{
		subs: map[chan node.Event]bool{},
		cfg:  cfg,
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
	ch := make(chan node.Event, 16)
	f.subs[ch] = true
	f.subscribed++
	return f.backlog, ch, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.subs, ch)
	}
}

// send publishes ev to every subscriber, as the node's bus does.
func (f *fakeNode) send(ev node.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

// called tells whether the window made call.
func (f *fakeNode) called(call string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.calls, call)
}

func (f *fakeNode) recorded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeNode) Items() []engine.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.items)
}

func (f *fakeNode) ItemAction(infohash, action string) (engine.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "action "+infohash+" "+action)
	i := slices.IndexFunc(f.items, func(st engine.Status) bool { return st.InfoHash == infohash })
	if i < 0 {
		return engine.Status{}, fmt.Errorf("%w: no item %s", engine.ErrNotFound, infohash)
	}
	st := &f.items[i]
	switch action {
	case node.ActionPause:
		st.State = engine.StatePaused
	case node.ActionResume:
		st.State = engine.StateDownloading
	case node.ActionPin, node.ActionUnpin:
		st.Pinned = action == node.ActionPin
	}
	return *st, nil
}

func (f *fakeNode) RemoveItem(infohash string, withData bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("remove %s %t", infohash, withData))
	f.items = slices.DeleteFunc(f.items, func(st engine.Status) bool { return st.InfoHash == infohash })
	return nil
}

func (f *fakeNode) Publish(ctx context.Context, path, name string, progress func(done, total int64)) (engine.Item, error) {
	f.mu.Lock()
	f.calls = append(f.calls, "publish "+path)
	gate, err := f.publishGate, f.publishErr
	f.mu.Unlock()
	const size = 100 << 20
	progress(0, size)
	progress(size/2, size)
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return engine.Item{}, ctx.Err()
		}
	}
	if err != nil {
		return engine.Item{}, err
	}
	progress(size, size)
	it := engine.Item{InfoHash: strings.Repeat("c", 40), Name: filepath.Base(path), Size: size, Origin: engine.OriginPublished}
	f.mu.Lock()
	f.items = append(f.items, engine.Status{Item: it, State: engine.StateSeeding, Completed: size})
	f.mu.Unlock()
	return it, nil
}

func (f *fakeNode) Catalog(query string) []catalog.Entry {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "catalog "+query)
	var out []catalog.Entry
	for _, e := range f.entries {
		if strings.Contains(e.Item.Name, query) {
			out = append(out, e)
		}
	}
	return out
}

func (f *fakeNode) AddTorrent(ctx context.Context, mi []byte, outDir string) (engine.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "torrent "+string(mi))
	if f.fetchErr != nil {
		return engine.Status{}, f.fetchErr
	}
	return engine.Status{Item: engine.Item{Name: "from-torrent", Origin: engine.OriginDownload}, State: engine.StateQueued}, nil
}

func (f *fakeNode) Fetch(ctx context.Context, spec, outDir string) (engine.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "fetch "+spec)
	if f.fetchErr != nil {
		return engine.Status{}, f.fetchErr
	}
	st := engine.Status{Item: engine.Item{InfoHash: spec, Origin: engine.OriginDownload}, State: engine.StateQueued}
	for _, e := range f.entries {
		if e.Item.InfoHash == spec {
			st.Name, st.Size = e.Item.Name, e.Item.Size
		}
	}
	f.items = append(f.items, st)
	return st, nil
}

func (f *fakeNode) Members() []membership.Member {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.members)
}

func (f *fakeNode) Network() node.NetworkStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.network
}

func (f *fakeNode) savedConfigs() []node.Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.saved)
}

// allCancelled tells whether every subscription made has ended.
func (f *fakeNode) allCancelled() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.subscribed > 0 && len(f.subs) == 0
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
	// A bound for a loaded machine running the race detector, not a timing.
	deadline := time.After(30 * time.Second)
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

func TestWindowAreasInOrder(t *testing.T) {
	w, _ := openWindow(t, withNetwork(withLibrary(newFakeNode())))
	var titles []string
	for _, ti := range w.Content().(*container.AppTabs).Items {
		titles = append(titles, ti.Text)
	}
	if want := []string{"Node", "Library", "Watch", "Network", "Names", "Mail", "Browse", "Settings"}; !slices.Equal(titles, want) {
		t.Fatalf("areas %q, want %q", titles, want)
	}
	tapText(t, w, "Library")
	if !showsText(w.Content(), "big-buck-bunny.mp4") || showsText(w.Content(), "k51qzi5uqu5dlvj2baxnqndepeb") {
		t.Errorf("library not shown alone after tapping Library; shown: %q", shownTexts(w.Content()))
	}
	tapText(t, w, "Network")
	if !showsText(w.Content(), "beta") || !showsText(w.Content(), "DHT nodes · 2 nodes") || showsText(w.Content(), "big-buck-bunny.mp4") {
		t.Errorf("network not shown alone after tapping Network; shown: %q", shownTexts(w.Content()))
	}
}

func TestClosingWindowStopsGoroutinesAndSubscription(t *testing.T) {
	a := test.NewTempApp(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	n := newFakeNode()
	w := newWindow(a, n, newUIQueue().do)
	w.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !n.allCancelled() {
		if time.Now().After(deadline) {
			t.Fatal("event subscriptions not cancelled after the window closed")
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
