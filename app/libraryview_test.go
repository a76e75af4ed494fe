package app

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/shoal-p2p/shoal/cdn"
	"github.com/shoal-p2p/shoal/cdn/catalog"
	"github.com/shoal-p2p/shoal/cdn/engine"
	"github.com/shoal-p2p/shoal/cdn/membership"
	"github.com/shoal-p2p/shoal/node"
)

var (
	bunnyIH = strings.Repeat("a", 40)
	notesIH = strings.Repeat("b", 40)
	talkIH  = strings.Repeat("d", 40)
)

// withLibrary gives n a download under way, a pinned published folder, and
// a network catalog that holds one of them and one more item.
func withLibrary(n *fakeNode) *fakeNode {
	n.items = []engine.Status{
		{
			Item: engine.Item{InfoHash: bunnyIH, Name: "big-buck-bunny.mp4", Size: 100 << 20, Kind: engine.KindFile,
				Type: "video", Origin: engine.OriginDownload, Magnet: "magnet:?xt=urn:btih:" + bunnyIH},
			State: engine.StateDownloading, Completed: 45 << 20, Peers: 3, DownRate: 3 << 19, UpRate: 64 << 10,
			ETA: 37 * time.Second, NumPieces: 8, Pieces: []byte{0xf0},
		},
		{
			Item: engine.Item{InfoHash: notesIH, Name: "notes", Size: 2 << 20, Kind: engine.KindFolder,
				Origin: engine.OriginPublished, Path: "/home/ada/notes", Magnet: "magnet:?xt=urn:btih:" + notesIH},
			State: engine.StateSeeding, Completed: 2 << 20, Pinned: true, NumPieces: 2, Pieces: []byte{0xc0},
		},
	}
	n.entries = []catalog.Entry{
		{Item: catalog.Item{InfoHash: bunnyIH, Name: "big-buck-bunny.mp4", Size: 100 << 20, Kind: "video"},
			Holders: []catalog.Holder{{ID: "k2", Name: "beta", State: membership.Alive}}},
		{Item: catalog.Item{InfoHash: talkIH, Name: "talk-2024.webm", Size: 300 << 20, Kind: "video"},
			Holders: []catalog.Holder{{ID: "k2", Name: "beta", State: membership.Alive}, {ID: "k3", Name: "gamma", State: membership.Down}}},
	}
	return n
}

// openLibrary builds the Library area for n in a window on a test app.
func openLibrary(t *testing.T, n Node) (*libraryView, fyne.Window, uiQueue) {
	t.Helper()
	a := test.NewTempApp(t)
	q := newUIQueue()
	w := test.NewWindow(nil)
	v := newLibraryView(n, loop{do: q.do, ctx: t.Context()}, w, a.Clipboard())
	w.SetContent(v.content)
	w.Resize(fyne.NewSize(1000, 760))
	t.Cleanup(w.Close)
	return v, w, q
}

// rowOf finds the shown row of this node's item infohash.
func rowOf(t *testing.T, v *libraryView, infohash string) *itemRow {
	t.Helper()
	var row *itemRow
	walkShown(v.itemList, func(o fyne.CanvasObject) {
		if r, ok := o.(*itemRow); ok && r.st.InfoHash == infohash {
			row = r
		}
	})
	if row == nil {
		t.Fatalf("no row of %s shown; shown: %q", infohash, shownTexts(v.itemList))
	}
	return row
}

// entryOf finds the shown row of the network's item infohash.
func entryOf(v *libraryView, infohash string) *entryRow {
	var row *entryRow
	walkShown(v.entryList, func(o fyne.CanvasObject) {
		if r, ok := o.(*entryRow); ok && r.entry.Item.InfoHash == infohash {
			row = r
		}
	})
	return row
}

// buttonIn finds the shown button labelled text in o.
func buttonIn(o fyne.CanvasObject, text string) *widget.Button {
	var b *widget.Button
	walkShown(o, func(o fyne.CanvasObject) {
		if bt, ok := o.(*widget.Button); ok && bt.Text == text && b == nil {
			b = bt
		}
	})
	return b
}

func TestLibraryListsItemsWithProgressAndState(t *testing.T) {
	v, _, _ := openLibrary(t, withLibrary(newFakeNode()))
	for _, want := range []string{
		"big-buck-bunny.mp4", "downloading", "45 MiB of 100 MiB", "↓ 1.5 MiB/s", "↑ 64 KiB/s", "3 peers", "37s left", "downloaded",
		"notes", "seeding", "pinned", "2 MiB of 2 MiB", "published here",
		"On this node · 2 items",
	} {
		if !showsText(v.content, want) {
			t.Errorf("%q not shown; shown: %q", want, shownTexts(v.content))
		}
	}
	bunny := rowOf(t, v, bunnyIH)
	if got := bunny.progress.Value / bunny.progress.Max; got != 0.45 {
		t.Errorf("progress of the download at %v, want 0.45", got)
	}
	if bunny.state.Importance != widget.HighImportance || rowOf(t, v, notesIH).state.Importance != widget.SuccessImportance {
		t.Error("downloading and seeding not told apart by colour")
	}
	if !bunny.pinned.Hidden || rowOf(t, v, notesIH).pinned.Hidden {
		t.Error("pinned mark on the wrong item")
	}
}

func TestLibraryFollowsProgressEvents(t *testing.T) {
	n := withLibrary(newFakeNode())
	v, _, q := openLibrary(t, n)
	st := n.items[0]
	st.Completed, st.DownRate, st.Pieces = 90<<20, 2<<20, []byte{0xfe}
	n.send(node.Event{Type: engine.EventProgress, Data: []engine.Status{st}})
	q.waitFor(t, "the progress event on the item", func() bool {
		return showsText(v.content, "90 MiB of 100 MiB") && showsText(v.content, "↓ 2 MiB/s")
	})
}

func TestLibraryFollowsItemsOfTheNode(t *testing.T) {
	n := newFakeNode()
	v, _, q := openLibrary(t, n)
	if !showsText(v.content, "Nothing here yet") {
		t.Errorf("no hint on an empty library; shown: %q", shownTexts(v.content))
	}
	n.mu.Lock()
	withLibrary(n)
	n.mu.Unlock()
	q.waitFor(t, "the node's new items", func() bool {
		return showsText(v.content, "big-buck-bunny.mp4") && !showsText(v.content, "Nothing here yet")
	})
}

func TestLibraryPauseResumePinCallItemAction(t *testing.T) {
	n := withLibrary(newFakeNode())
	v, _, q := openLibrary(t, n)

	test.Tap(rowOf(t, v, bunnyIH).pause)
	q.waitFor(t, "pause", func() bool { return n.called("action " + bunnyIH + " pause") })
	q.waitFor(t, "the paused item to offer resume", func() bool { return rowOf(t, v, bunnyIH).pause.Text == "Resume" })
	test.Tap(rowOf(t, v, bunnyIH).pause)
	q.waitFor(t, "resume", func() bool { return n.called("action " + bunnyIH + " resume") })

	test.Tap(rowOf(t, v, bunnyIH).pin)
	q.waitFor(t, "pin", func() bool { return n.called("action " + bunnyIH + " pin") })
	if rowOf(t, v, notesIH).pin.Text != "Unpin" {
		t.Fatalf("pinned item offers %q, want Unpin", rowOf(t, v, notesIH).pin.Text)
	}
	test.Tap(rowOf(t, v, notesIH).pin)
	q.waitFor(t, "unpin", func() bool { return n.called("action " + notesIH + " unpin") })
	if slices.ContainsFunc(n.recorded(), func(c string) bool { return strings.HasPrefix(c, "action "+notesIH+" pause") }) {
		t.Error("pause called on the wrong item")
	}
}

func TestLibraryShowsActionErrors(t *testing.T) {
	n := withLibrary(newFakeNode())
	v, _, q := openLibrary(t, n)
	n.mu.Lock()
	n.items[0].InfoHash = strings.Repeat("e", 40) // the node no longer knows the shown item
	n.mu.Unlock()
	test.Tap(rowOf(t, v, bunnyIH).pause)
	q.waitFor(t, "the error", func() bool { return showsText(v.content, "Could not pause big-buck-bunny.mp4: ") })
	if v.message.Importance != widget.DangerImportance {
		t.Error("error not shown as one")
	}
}

func TestLibraryRemoveAsksFirst(t *testing.T) {
	for _, tt := range []struct {
		button   string
		infohash string
		call     string
	}{
		{"Remove and delete data", bunnyIH, "remove " + bunnyIH + " true"},
		{"Remove", notesIH, "remove " + notesIH + " false"},
	} {
		t.Run(tt.button, func(t *testing.T) {
			n := withLibrary(newFakeNode())
			v, w, q := openLibrary(t, n)

			test.Tap(rowOf(t, v, tt.infohash).remove)
			d := w.Canvas().Overlays().Top()
			if d == nil {
				t.Fatal("no confirm dialog")
			}
			if tt.infohash == notesIH && !showsText(d, "/home/ada/notes stay where they are") {
				t.Errorf("dialog does not say a published item's files stay; shown: %q", shownTexts(d))
			}
			test.Tap(buttonIn(d, "Cancel"))
			if w.Canvas().Overlays().Top() != nil {
				t.Fatal("dialog still open after cancel")
			}
			test.Tap(rowOf(t, v, tt.infohash).remove)
			time.Sleep(20 * time.Millisecond)
			if slices.ContainsFunc(n.recorded(), func(c string) bool { return strings.HasPrefix(c, "remove") }) {
				t.Fatal("removed before the user confirmed")
			}
			test.Tap(buttonIn(w.Canvas().Overlays().Top(), tt.button))
			q.waitFor(t, tt.call, func() bool { return n.called(tt.call) })
			q.waitFor(t, "the item to leave the list", func() bool { return !v.has(tt.infohash) && showsText(v.content, "Removed ") })
		})
	}
}

func TestLibraryCopiesMagnet(t *testing.T) {
	v, _, _ := openLibrary(t, withLibrary(newFakeNode()))
	test.Tap(rowOf(t, v, notesIH).magnet)
	if got := v.clip.Content(); got != "magnet:?xt=urn:btih:"+notesIH {
		t.Errorf("clipboard holds %q, want the item's magnet", got)
	}
	if !showsText(v.content, "Magnet link of notes copied.") {
		t.Errorf("no word of the copy; shown: %q", shownTexts(v.content))
	}
}

func TestLibraryShowsTheNetworksItems(t *testing.T) {
	v, _, _ := openLibrary(t, withLibrary(newFakeNode()))
	talk := entryOf(v, talkIH)
	if talk == nil {
		t.Fatalf("network's item not listed; shown: %q", shownTexts(v.entryList))
	}
	for _, want := range []string{"talk-2024.webm", "300 MiB", "video", "beta, gamma (down)"} {
		if !showsText(talk, want) {
			t.Errorf("%q not shown; shown: %q", want, shownTexts(talk))
		}
	}
	if talk.get.Disabled() {
		t.Error("Get disabled for an item this node does not have")
	}
	if here := entryOf(v, bunnyIH); here == nil || !here.get.Disabled() || here.get.Text != "Here" {
		t.Error("an item this node has is offered to get")
	}
}

func TestLibrarySearchAndGet(t *testing.T) {
	n := withLibrary(newFakeNode())
	v, _, q := openLibrary(t, n)

	test.Type(v.search, "talk")
	q.waitFor(t, "the search", func() bool {
		return n.called("catalog talk") && entryOf(v, talkIH) != nil && entryOf(v, bunnyIH) == nil
	})

	test.Tap(entryOf(v, talkIH).get)
	q.waitFor(t, "the fetch", func() bool { return n.called("fetch " + talkIH) })
	q.waitFor(t, "the download in the list", func() bool {
		return showsText(v.content, "Getting talk-2024.webm.") && v.has(talkIH) && entryOf(v, talkIH).get.Disabled()
	})
}

func TestLibraryGetsAMagnet(t *testing.T) {
	n := newFakeNode()
	n.fetchErr = errors.New("engine: bad input: magnet has no infohash")
	v, _, q := openLibrary(t, n)
	test.Type(v.spec, "magnet:?dn=x")
	v.spec.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	q.waitFor(t, "the fetch", func() bool { return n.called("fetch magnet:?dn=x") })
	q.waitFor(t, "the error", func() bool { return showsText(v.content, "magnet has no infohash") })
}

func TestLibraryPublishShowsProgressThenResult(t *testing.T) {
	n := newFakeNode()
	n.publishGate = make(chan struct{})
	v, _, q := openLibrary(t, n)

	v.publish("/srv/media/movie.mkv")
	q.waitFor(t, "hashing progress", func() bool {
		return showsText(v.content, "Hashing movie.mkv: 50 MiB of 100 MiB")
	})
	if len(v.publishing) != 1 {
		t.Fatalf("%d publish rows, want 1", len(v.publishing))
	}
	if bar := v.publishing[0].bar; bar.Value/bar.Max != 0.5 {
		t.Errorf("progress bar at %v, want 0.5", bar.Value/bar.Max)
	}
	if !n.called("publish /srv/media/movie.mkv") {
		t.Errorf("Publish not called with the path; calls: %q", n.recorded())
	}

	close(n.publishGate)
	q.waitFor(t, "the result", func() bool {
		return showsText(v.content, "Published movie.mkv (100 MiB)") && v.has(strings.Repeat("c", 40))
	})
	if j := v.publishing[0]; j.label.Importance != widget.SuccessImportance || j.dismiss.Hidden {
		t.Error("a finished publish is not shown as done")
	}
	test.Tap(v.publishing[0].dismiss)
	if len(v.publishing) != 0 || showsText(v.content, "Published movie.mkv") {
		t.Error("dismissed result still shown")
	}
}

func TestLibraryPublishShowsErrors(t *testing.T) {
	n := newFakeNode()
	n.publishErr = errors.New(`engine: publish "/nope": no such file or directory`)
	v, _, q := openLibrary(t, n)
	v.publish("/nope")
	q.waitFor(t, "the error", func() bool {
		return showsText(v.content, `Could not publish /nope: engine: publish "/nope": no such file or directory`)
	})
}

func TestLibraryDropPublishesFilesAndFolders(t *testing.T) {
	n := newFakeNode()
	v, _, q := openLibrary(t, n)
	v.drop([]fyne.URI{storage.NewFileURI("/srv/a.iso"), storage.NewFileURI("/srv/photos"), mustParseURI(t, "https://example.com/x")})
	q.waitFor(t, "both published", func() bool {
		return n.called("publish /srv/a.iso") && n.called("publish /srv/photos") &&
			showsText(v.content, "Published a.iso") && showsText(v.content, "Published photos")
	})
	if !showsText(v.content, "only local files and folders can be published") {
		t.Errorf("a dropped web address is not refused; shown: %q", shownTexts(v.content))
	}
	if got := n.recorded(); slices.ContainsFunc(got, func(c string) bool { return strings.Contains(c, "example.com") }) {
		t.Errorf("web address published: %q", got)
	}
}

// A dropped .torrent file, or one named in the Get field, is fetched, not
// published.
func TestLibraryFetchesTorrentFiles(t *testing.T) {
	n := newFakeNode()
	v, _, q := openLibrary(t, n)
	dir := t.TempDir()
	dropped, typed := filepath.Join(dir, "Film.TORRENT"), filepath.Join(dir, "album.torrent")
	os.WriteFile(dropped, []byte("d4:info..."), 0o600)
	os.WriteFile(typed, []byte("d8:announce..."), 0o600)
	v.drop([]fyne.URI{storage.NewFileURI(dropped), storage.NewFileURI("/srv/a.iso")})
	q.waitFor(t, "the dropped .torrent fetched and the file published", func() bool {
		return n.called("torrent d4:info...") && n.called("publish /srv/a.iso") && showsText(v.content, "Getting from-torrent.")
	})
	if n.called("publish " + dropped) {
		t.Error("the dropped .torrent was published")
	}
	v.spec.SetText(typed)
	v.getSpec()
	q.waitFor(t, "the typed .torrent fetched", func() bool { return n.called("torrent d8:announce...") })
	v.spec.SetText(filepath.Join(dir, "missing.torrent"))
	v.getSpec()
	q.waitFor(t, "the missing .torrent reported", func() bool { return showsText(v.content, "Could not get missing.torrent") })
}

func TestLibraryKeepsFewFinishedPublishes(t *testing.T) {
	n := newFakeNode()
	v, _, q := openLibrary(t, n)
	for i := range 5 {
		v.publish("/srv/f" + string(rune('0'+i)))
		q.waitFor(t, "the publish", func() bool { return v.publishing[len(v.publishing)-1].done })
	}
	if len(v.publishing) != maxFinishedJobs {
		t.Errorf("%d finished publishes shown, want %d", len(v.publishing), maxFinishedJobs)
	}
}

func TestLibraryFollowsTheCatalog(t *testing.T) {
	n := newFakeNode()
	v, _, q := openLibrary(t, n)
	n.mu.Lock()
	withLibrary(n)
	n.mu.Unlock()
	n.send(node.Event{Type: cdn.EventCatalog, Data: map[string]string{"node": "k2"}})
	q.waitFor(t, "the new catalog", func() bool { return entryOf(v, talkIH) != nil })
}

func TestPieceCells(t *testing.T) {
	tests := []struct {
		name      string
		numPieces int
		bits      []byte
		want      []float32
	}{
		{"none", 0, nil, nil},
		{"msb first", 8, []byte{0xa0}, []float32{1, 0, 1, 0, 0, 0, 0, 0}},
		{"second byte", 10, []byte{0x00, 0x40}, []float32{0, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
		{"short bitfield", 3, nil, []float32{0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pieceCells(tt.numPieces, tt.bits, maxPieceCells); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}

	// More pieces than cells: each cell covers a run and shows its share.
	bits := make([]byte, 250) // 2000 pieces, the first 1000 and piece 1001 done
	for i := range 1001 {
		bits[i/8] |= 0x80 >> (i % 8)
	}
	got := pieceCells(2000, bits, maxPieceCells)
	if len(got) != maxPieceCells {
		t.Fatalf("%d cells for 2000 pieces, want %d", len(got), maxPieceCells)
	}
	if got[0] != 1 || got[124] != 1 || got[125] != 0.125 || got[126] != 0 {
		t.Errorf("cells 0, 124, 125, 126 = %v %v %v %v, want 1 1 0.125 0", got[0], got[124], got[125], got[126])
	}
}

func TestPieceMapDrawsACellPerPiece(t *testing.T) {
	test.NewTempApp(t)
	m := newPieceMap()
	w := test.NewWindow(m)
	t.Cleanup(w.Close)
	w.Resize(fyne.NewSize(400, 40))
	m.set(12, []byte{0xa0, 0x10})

	r := test.WidgetRenderer(m).(*pieceMapRenderer)
	if len(r.rects) != 12 || len(r.Objects()) != 12 {
		t.Fatalf("%d cells drawn for 12 pieces", len(r.rects))
	}
	done, missing := pieceColor(1), pieceColor(0)
	for i, rect := range r.rects {
		want := missing
		if i == 0 || i == 2 || i == 11 {
			want = done
		}
		if rect.FillColor != want {
			t.Errorf("cell %d filled %v, want %v", i, rect.FillColor, want)
		}
		if rect.Size().Width < 1 || rect.Size().Height != m.Size().Height {
			t.Errorf("cell %d is %v in a map of %v", i, rect.Size(), m.Size())
		}
		if i > 0 && rect.Position().X <= r.rects[i-1].Position().X {
			t.Errorf("cell %d not right of cell %d", i, i-1)
		}
	}
	if last := r.rects[11]; last.Position().X+last.Size().Width > m.Size().Width+0.5 {
		t.Error("cells overflow the map")
	}

	m.set(3, []byte{0xe0})
	if len(r.rects) != 3 || r.rects[2].FillColor != done {
		t.Errorf("map not redrawn for 3 verified pieces")
	}

	// More pieces than fit: as many cells as fit, none thinner than minCellWidth.
	m.set(2000, make([]byte, 250))
	if n, fit := len(r.rects), cellsFor(m.Size().Width); n > fit || n < fit*9/10 {
		t.Errorf("%d cells for 2000 pieces in %v", n, m.Size().Width)
	}
	if w := r.rects[0].Size().Width; w < minCellWidth {
		t.Errorf("cells %v wide, want at least %d", w, minCellWidth)
	}
}

func mustParseURI(t *testing.T, s string) fyne.URI {
	t.Helper()
	u, err := storage.ParseURI(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
