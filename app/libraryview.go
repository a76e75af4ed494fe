package app

import (
	"context"
	"errors"
	"fmt"
	"image/color"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/shoal-p2p/shoal/cdn"
	"github.com/shoal-p2p/shoal/cdn/catalog"
	"github.com/shoal-p2p/shoal/cdn/engine"
	"github.com/shoal-p2p/shoal/cdn/membership"
	"github.com/shoal-p2p/shoal/node"
)

// libraryView is the Library area: this node's items with their transfers,
// the network's items to get, and publishing by file picker or by dropping
// files on the window.
type libraryView struct {
	node   Node
	loop   loop
	window fyne.Window // parent of the dialogs
	clip   fyne.Clipboard

	// What the lists show. UI goroutine only.
	items   []engine.Status
	entries []catalog.Entry

	itemList, entryList *widget.List
	itemsCard           *widget.Card
	noItems, noEntries  *widget.Label
	search, spec        *widget.Entry
	jobs                *fyne.Container // a row per publish
	publishing          []*publishJob   // the jobs of those rows
	message             *widget.Label

	// play starts a video item in the Watch area; openURL opens a file or
	// folder with the system's default application (fyne.App.OpenURL).
	// Either may be nil, which disables its buttons.
	play    func(infohash string)
	openURL func(*url.URL) error

	// reload asks the refresh goroutine to load items and catalog now.
	reload chan struct{}
	mu     sync.Mutex
	query  string // the search, for the refresh goroutine

	content fyne.CanvasObject
}

// catalogColumns are the widths of the network catalog's columns: name,
// size, kind, holders and the Get button.
var catalogColumns = columns{0, 80, 70, 220, 80}

func newLibraryView(n Node, l loop, w fyne.Window, clip fyne.Clipboard) *libraryView {
	v := &libraryView{
		node:    n,
		loop:    l,
		window:  w,
		clip:    clip,
		search:  widget.NewEntry(),
		spec:    widget.NewEntry(),
		jobs:    container.NewVBox(),
		message: widget.NewLabel(""),
		noItems: widget.NewLabel("Nothing here yet. Publish a file or a folder, drop one on the window, " +
			"or get one of the network's items below."),
		noEntries: widget.NewLabel("No items in the network match."),
		reload:    make(chan struct{}, 1),
	}
	v.message.Wrapping = fyne.TextWrapWord
	v.message.Hide()
	v.noItems.Wrapping = fyne.TextWrapWord
	v.noItems.Importance = widget.LowImportance
	v.noEntries.Importance = widget.LowImportance

	v.itemList = widget.NewList(
		func() int { return len(v.items) },
		func() fyne.CanvasObject { return v.newItemRow() },
		func(i widget.ListItemID, o fyne.CanvasObject) { o.(*itemRow).set(v.items[i]) },
	)
	v.itemList.OnSelected = func(id widget.ListItemID) { v.itemList.Unselect(id) }
	v.entryList = widget.NewList(
		func() int { return len(v.entries) },
		func() fyne.CanvasObject { return v.newEntryRow() },
		func(i widget.ListItemID, o fyne.CanvasObject) {
			o.(*entryRow).set(v.entries[i], v.has(v.entries[i].Item.InfoHash))
		},
	)
	v.entryList.OnSelected = func(id widget.ListItemID) { v.entryList.Unselect(id) }

	v.search.SetPlaceHolder("Search the network's items by name")
	v.search.OnChanged = func(q string) {
		v.mu.Lock()
		v.query = strings.TrimSpace(q)
		v.mu.Unlock()
		v.requestReload()
	}
	v.spec.SetPlaceHolder("Magnet, infohash, name or .torrent file")
	v.spec.OnSubmitted = func(string) { v.getSpec() }

	publishFile := widget.NewButtonWithIcon("Publish file…", theme.FileIcon(), v.pickFile)
	publishFile.Importance = widget.HighImportance
	publishFolder := widget.NewButtonWithIcon("Publish folder…", theme.FolderIcon(), v.pickFolder)
	publishVideo := widget.NewButtonWithIcon("Publish video…", theme.MediaVideoIcon(), v.pickVideo)
	dropHint := widget.NewLabelWithStyle("or drop files and folders on the window", fyne.TextAlignLeading, fyne.TextStyle{Italic: true})
	getSpec := widget.NewButtonWithIcon("Get", theme.DownloadIcon(), v.getSpec)
	toolbar := container.NewBorder(nil, nil,
		container.NewHBox(publishFile, publishFolder, publishVideo, dropHint), nil,
		container.NewBorder(nil, nil, nil, getSpec, v.spec),
	)

	v.itemsCard = widget.NewCard("", "On this node", container.NewStack(v.itemList, container.NewPadded(v.noItems)))
	network := widget.NewCard("", "In the network", container.NewBorder(
		container.NewVBox(v.search, catalogColumns.header("Name", "Size", "Kind", "Held by", "")), nil, nil, nil,
		container.NewStack(v.entryList, container.NewPadded(v.noEntries)),
	))
	split := container.NewVSplit(v.itemsCard, network)
	split.Offset = 0.62
	v.content = container.NewBorder(
		container.NewVBox(toolbar, v.jobs, v.message), nil, nil, nil,
		split,
	)

	v.showItems(n.Items())
	v.showEntries(n.Catalog(""))
	_, events, cancel := n.Subscribe(0)
	go v.follow(events, cancel)
	return v
}

// requestReload asks the refresh goroutine to reload items and catalog.
// Any goroutine.
func (v *libraryView) requestReload() {
	select {
	case v.reload <- struct{}{}:
	default:
	}
}

func (v *libraryView) currentQuery() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.query
}

// catalogEvery is how many ticks pass between reloads of the catalog when
// no event asks for one.
const catalogEvery = 5

// follow keeps the lists current until the window closes: items every
// second, on transfer progress and on changes of the network; the catalog
// on changes, on a new search and every few seconds.
func (v *libraryView) follow(events <-chan node.Event, cancel func()) {
	defer cancel()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	ticks := 0
	for {
		catalogToo := false
		select {
		case <-v.loop.ctx.Done():
			return
		case <-tick.C:
			ticks++
			catalogToo = ticks%catalogEvery == 0
		case <-v.reload:
			catalogToo = true
		case ev, ok := <-events:
			if !ok {
				return
			}
			switch ev.Type {
			case engine.EventProgress:
				if sts, ok := ev.Data.([]engine.Status); ok {
					v.loop.do(func() { v.update(sts) })
				}
				continue
			case engine.EventComplete, engine.EventMissing, engine.EventEvicted, cdn.EventCatalog, cdn.EventMember:
				catalogToo = true
			default:
				continue
			}
		}
		items := v.node.Items()
		var entries []catalog.Entry
		q := v.currentQuery()
		if catalogToo {
			entries = v.node.Catalog(q)
		}
		v.loop.do(func() {
			v.showItems(items)
			if catalogToo && q == strings.TrimSpace(v.search.Text) {
				v.showEntries(entries)
			}
		})
	}
}

// showItems lists items, the newest first. UI goroutine only.
func (v *libraryView) showItems(items []engine.Status) {
	slices.SortStableFunc(items, func(a, b engine.Status) int { return b.Added.Compare(a.Added) })
	v.items = items
	v.noItems.Hidden = len(items) > 0
	sub := "On this node"
	if len(items) > 0 {
		sub = fmt.Sprintf("On this node · %s", plural(len(items), "item"))
	}
	if v.itemsCard.Subtitle != sub {
		v.itemsCard.SetSubTitle(sub)
	}
	v.itemList.Refresh()
	v.entryList.Refresh() // whether an entry is here may have changed
}

// update puts the statuses of a progress event on the items they belong
// to. UI goroutine only.
func (v *libraryView) update(sts []engine.Status) {
	for _, st := range sts {
		i := slices.IndexFunc(v.items, func(it engine.Status) bool { return it.InfoHash == st.InfoHash })
		if i < 0 {
			v.requestReload()
			continue
		}
		v.items[i] = st
		v.itemList.RefreshItem(i)
	}
}

// showEntries lists the network's items. UI goroutine only.
func (v *libraryView) showEntries(entries []catalog.Entry) {
	v.entries = entries
	v.noEntries.Hidden = len(entries) > 0
	if strings.TrimSpace(v.search.Text) == "" {
		v.noEntries.SetText("No items in the network yet.")
	} else {
		v.noEntries.SetText("No items in the network match.")
	}
	v.entryList.Refresh()
}

// has tells whether infohash is one of this node's items.
func (v *libraryView) has(infohash string) bool {
	return slices.ContainsFunc(v.items, func(st engine.Status) bool { return st.InfoHash == infohash })
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// showInfo and showError put a line above the lists. UI goroutine only.
func (v *libraryView) showInfo(text string) {
	v.message.Importance = widget.SuccessImportance
	v.message.SetText(text)
	v.message.Show()
}

func (v *libraryView) showError(what string, err error) {
	v.message.Importance = widget.DangerImportance
	v.message.SetText(what + ": " + err.Error())
	v.message.Show()
}

// act runs a node.Action* on an item off the UI goroutine.
func (v *libraryView) act(st engine.Status, action string) {
	go func() {
		_, err := v.node.ItemAction(st.InfoHash, action)
		v.loop.do(func() {
			if err != nil {
				v.showError(fmt.Sprintf("Could not %s %s", action, st.Name), err)
			}
		})
		v.requestReload()
	}()
}

// confirmRemove asks whether to remove st, and with its data or not.
func (v *libraryView) confirmRemove(st engine.Status) {
	text := "Shoal stops sharing it. Removing its data too deletes the downloaded files."
	if st.Origin == engine.OriginPublished {
		text = "Shoal stops sharing it. Its files at " + st.Path + " stay where they are."
	}
	msg := widget.NewLabel(text)
	msg.Wrapping = fyne.TextWrapWord
	d := dialog.NewCustomWithoutButtons("Remove "+st.Name+"?", msg, v.window)
	cancel := widget.NewButton("Cancel", d.Hide)
	keep := widget.NewButtonWithIcon("Remove", theme.DeleteIcon(), func() { d.Hide(); v.remove(st, false) })
	withData := widget.NewButtonWithIcon("Remove and delete data", theme.DeleteIcon(), func() { d.Hide(); v.remove(st, true) })
	withData.Importance = widget.DangerImportance
	d.SetButtons([]fyne.CanvasObject{cancel, keep, withData})
	d.Resize(fyne.NewSize(520, 0))
	d.Show()
}

func (v *libraryView) remove(st engine.Status, withData bool) {
	go func() {
		err := v.node.RemoveItem(st.InfoHash, withData)
		v.loop.do(func() {
			if err != nil {
				v.showError("Could not remove "+st.Name, err)
				return
			}
			v.showInfo("Removed " + st.Name + ".")
		})
		v.requestReload()
	}()
}

func (v *libraryView) copyMagnet(st engine.Status) {
	v.clip.SetContent(st.Magnet)
	v.showInfo("Magnet link of " + st.Name + " copied.")
}

// getSpec fetches what the magnet entry names.
func (v *libraryView) getSpec() {
	spec := strings.TrimSpace(v.spec.Text)
	if spec == "" {
		return
	}
	if engine.IsTorrentFile(spec) {
		v.fetchTorrent(spec)
	} else {
		v.fetch(spec, shortID(spec))
	}
	v.spec.SetText("")
}

// fetch starts a download off the UI goroutine; the items list shows its
// progress.
func (v *libraryView) fetch(spec, name string) {
	v.startFetch(name, func(ctx context.Context) (engine.Status, error) { return v.node.Fetch(ctx, spec, "") })
}

// fetchTorrent starts the download a .torrent file describes.
func (v *libraryView) fetchTorrent(path string) {
	v.startFetch(filepath.Base(path), func(ctx context.Context) (engine.Status, error) {
		mi, err := os.ReadFile(path)
		if err != nil {
			return engine.Status{}, err
		}
		return v.node.AddTorrent(ctx, mi, "")
	})
}

// startFetch runs add off the UI goroutine and says how it went.
func (v *libraryView) startFetch(name string, add func(context.Context) (engine.Status, error)) {
	go func() {
		st, err := add(v.loop.ctx)
		v.loop.do(func() {
			if err != nil {
				v.showError("Could not get "+name, err)
				return
			}
			if st.Name != "" {
				name = st.Name
			}
			v.showInfo("Getting " + name + ".")
		})
		v.requestReload()
	}()
}

// pickFile, pickVideo and pickFolder publish what the user picks; a video
// is packaged for streaming first.
func (v *libraryView) pickFile()  { v.pickThen(func(p string) { v.publish(p) }) }
func (v *libraryView) pickVideo() { v.pickThen(v.publishVideo) }

// pickThen shows the file picker and hands the picked file's path to fn.
func (v *libraryView) pickThen(fn func(path string)) {
	d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		switch {
		case err != nil:
			v.showError("Could not open the file", err)
		case r != nil:
			path := r.URI().Path()
			r.Close()
			fn(path)
		}
	}, v.window)
	d.Resize(v.dialogSize())
	d.Show()
}

// publishVideo packages a video with ffmpeg and publishes the result, with
// a row that shows packaging, then hashing.
func (v *libraryView) publishVideo(path string) {
	v.message.Hide()
	j := v.addJob(path)
	j.video = true
	go v.runJob(j, path)
}

func (v *libraryView) pickFolder() {
	d := dialog.NewFolderOpen(func(dir fyne.ListableURI, err error) {
		switch {
		case err != nil:
			v.showError("Could not open the folder", err)
		case dir != nil:
			v.publish(dir.Path())
		}
	}, v.window)
	d.Resize(v.dialogSize())
	d.Show()
}

func (v *libraryView) dialogSize() fyne.Size {
	s := v.window.Canvas().Size()
	return fyne.NewSize(max(s.Width*0.85, 600), max(s.Height*0.85, 420))
}

// drop publishes files and folders dropped on the window; a dropped
// .torrent file is downloaded instead.
func (v *libraryView) drop(uris []fyne.URI) {
	var paths, refused []string
	for _, u := range uris {
		switch {
		case u.Scheme() != "file":
			refused = append(refused, u.String())
		case engine.IsTorrentFile(u.Path()):
			v.fetchTorrent(u.Path())
		default:
			paths = append(paths, u.Path())
		}
	}
	v.publish(paths...)
	if len(refused) > 0 {
		v.showError("Could not publish "+strings.Join(refused, ", "), errors.New("only local files and folders can be published"))
	}
}

// publish shares paths one after the other, off the UI goroutine, each
// with a progress bar while it is hashed. UI goroutine only.
func (v *libraryView) publish(paths ...string) {
	if len(paths) == 0 {
		return
	}
	v.message.Hide() // the rows below say how the publish goes
	jobs := make([]*publishJob, len(paths))
	for i, p := range paths {
		jobs[i] = v.addJob(p)
	}
	go func() {
		for i, p := range paths {
			v.runJob(jobs[i], p)
		}
	}()
}

// maxFinishedJobs is how many results of earlier publishes stay shown.
const maxFinishedJobs = 3

// publishJob is one path being published: a line of text, a progress bar
// while hashing, and a button to dismiss it once it is done.
type publishJob struct {
	path    string
	label   *widget.Label
	bar     *widget.ProgressBar
	body    *fyne.Container // label and bar
	dismiss *widget.Button
	row     *fyne.Container
	done    bool
	video   bool   // packaged for streaming first
	stage   string // node.StagePackaging or node.StageHashing, while it runs
}

// addJob shows a row for publishing path. UI goroutine only.
func (v *libraryView) addJob(path string) *publishJob {
	// Make room: drop the oldest results beyond maxFinishedJobs.
	finished := 0
	for i := len(v.publishing) - 1; i >= 0; i-- {
		if j := v.publishing[i]; j.done {
			if finished++; finished >= maxFinishedJobs {
				v.removeJob(j)
			}
		}
	}
	j := &publishJob{path: path, label: widget.NewLabel("Waiting to publish " + path + "…"), bar: widget.NewProgressBar()}
	j.label.Truncation = fyne.TextTruncateEllipsis
	j.dismiss = widget.NewButtonWithIcon("", theme.CancelIcon(), func() { v.removeJob(j) })
	j.dismiss.Importance = widget.LowImportance
	j.dismiss.Hide()
	j.body = container.NewGridWithColumns(2, j.label, j.bar)
	j.row = container.NewBorder(nil, nil, nil, j.dismiss, j.body)
	v.publishing = append(v.publishing, j)
	v.jobs.Add(j.row)
	return j
}

func (v *libraryView) removeJob(j *publishJob) {
	v.publishing = slices.DeleteFunc(v.publishing, func(o *publishJob) bool { return o == j })
	v.jobs.Remove(j.row)
}

// runJob publishes one path and shows its progress and result.
func (v *libraryView) runJob(j *publishJob, path string) {
	if v.loop.ctx.Err() != nil {
		return
	}
	// The latest progress waits here for the UI goroutine, so a fast hash
	// queues at most one update at a time.
	var (
		mu          sync.Mutex
		done, total int64
		stage       = node.StageHashing
		queued      bool
	)
	if j.video {
		stage = node.StagePackaging
	}
	progress := func(st string, d, t int64) {
		mu.Lock()
		done, total, stage = d, t, st
		first := !queued
		queued = true
		mu.Unlock()
		if first {
			v.loop.do(func() {
				mu.Lock()
				d, t, st := done, total, stage
				queued = false
				mu.Unlock()
				j.stage = st
				j.showProgress(d, t)
			})
		}
	}
	first := stage
	v.loop.do(func() {
		j.stage = first
		j.showProgress(0, 0)
	})
	var it engine.Item
	var err error
	if j.video {
		it, err = v.node.PublishVideo(v.loop.ctx, path, "", progress)
	} else {
		it, err = v.node.Publish(v.loop.ctx, path, "", func(d, t int64) { progress(node.StageHashing, d, t) })
	}
	v.loop.do(func() { j.finish(it, err) })
	v.requestReload()
}

func (j *publishJob) showProgress(done, total int64) {
	if j.done {
		return
	}
	name := filepath.Base(j.path)
	if j.stage == node.StagePackaging {
		j.label.SetText(fmt.Sprintf("Packaging %s for streaming: %.1f s of %.1f s", name, float64(done)/1000, float64(total)/1000))
		j.bar.Max = float64(max(total, 1))
		j.bar.SetValue(float64(done))
		return
	}
	if total > 0 {
		j.label.SetText(fmt.Sprintf("Hashing %s: %s of %s", name, formatBytes(done), formatBytes(total)))
		j.bar.Max = float64(total)
		j.bar.SetValue(float64(done))
		return
	}
	j.label.SetText("Hashing " + name + "…")
}

func (j *publishJob) finish(it engine.Item, err error) {
	j.done = true
	j.dismiss.Show()
	if err != nil {
		j.label.Importance = widget.DangerImportance
		j.label.SetText("Could not publish " + j.path + ": " + err.Error())
		j.label.Truncation = fyne.TextTruncateOff
		j.label.Wrapping = fyne.TextWrapWord
		j.bar.Hide()
		j.body.Layout = layout.NewStackLayout()
		j.body.Refresh()
		return
	}
	j.label.Importance = widget.SuccessImportance
	j.label.SetText(fmt.Sprintf("Published %s (%s)", it.Name, formatBytes(it.Size)))
	j.bar.Max = 1
	j.bar.SetValue(1)
}

// itemRow is one of this node's items: name, state and transfer, its piece
// map, and what can be done with it.
type itemRow struct {
	widget.BaseWidget
	v  *libraryView
	st engine.Status

	icon                        *widget.Icon
	name, state, pinned, detail *widget.Label
	progress                    *widget.ProgressBar
	pieces                      *pieceMap
	pause, pin, magnet, remove  *widget.Button
	open, show                  *widget.Button // Play (videos) or Open; Show in folder
	content                     fyne.CanvasObject
}

func (v *libraryView) newItemRow() *itemRow {
	r := &itemRow{
		v:        v,
		icon:     widget.NewIcon(theme.FileIcon()),
		name:     widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		state:    widget.NewLabelWithStyle("", fyne.TextAlignTrailing, fyne.TextStyle{Bold: true}),
		pinned:   widget.NewLabelWithStyle("pinned", fyne.TextAlignTrailing, fyne.TextStyle{Italic: true}),
		detail:   widget.NewLabel(""),
		progress: widget.NewProgressBar(),
		pieces:   newPieceMap(),
	}
	r.name.Truncation = fyne.TextTruncateEllipsis
	r.detail.Truncation = fyne.TextTruncateEllipsis
	r.detail.SizeName = theme.SizeNameCaptionText
	r.pause = widget.NewButtonWithIcon("Pause", theme.MediaPauseIcon(), func() {
		if r.st.State == engine.StatePaused {
			v.act(r.st, node.ActionResume)
		} else {
			v.act(r.st, node.ActionPause)
		}
	})
	r.pin = widget.NewButtonWithIcon("Pin", theme.RadioButtonCheckedIcon(), func() {
		if r.st.Pinned {
			v.act(r.st, node.ActionUnpin)
		} else {
			v.act(r.st, node.ActionPin)
		}
	})
	r.magnet = widget.NewButtonWithIcon("Magnet", theme.ContentCopyIcon(), func() { v.copyMagnet(r.st) })
	r.remove = widget.NewButtonWithIcon("Remove", theme.DeleteIcon(), func() { v.confirmRemove(r.st) })
	r.open = widget.NewButtonWithIcon("Open", theme.FileApplicationIcon(), func() { v.openItem(r.st) })
	r.show = widget.NewButtonWithIcon("Show in folder", theme.FolderOpenIcon(), func() { v.showInFolder(r.st) })

	title := container.NewBorder(nil, nil, nil, container.NewHBox(r.pinned, r.state), r.name)
	buttons := container.NewGridWithColumns(2, r.pause, r.pin, r.magnet, r.remove, r.open, r.show)
	body := container.NewVBox(title, container.NewThemeOverride(r.progress, compactTheme{}), r.detail, r.pieces)
	r.content = container.NewBorder(nil, nil, container.NewCenter(r.icon), container.NewCenter(buttons), body)
	r.ExtendBaseWidget(r)
	return r
}

func (r *itemRow) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(container.NewPadded(r.content))
}

// set shows st. UI goroutine only.
func (r *itemRow) set(st engine.Status) {
	r.st = st
	r.icon.SetResource(kindIcon(st.Kind, st.Type))
	r.name.SetText(st.Name)
	r.state.SetText(string(st.State))
	r.state.Importance = stateImportance(st.State)
	r.state.Refresh()
	r.pinned.Hidden = !st.Pinned
	r.pinned.Refresh()

	r.progress.Max = float64(max(st.Size, 1))
	r.progress.SetValue(float64(st.Completed))
	r.detail.Importance = widget.MediumImportance
	if st.Error != "" {
		r.detail.Importance = widget.DangerImportance
	}
	r.detail.SetText(itemDetail(st))
	r.pieces.set(st.NumPieces, st.Pieces)

	if st.State == engine.StatePaused {
		r.pause.SetText("Resume")
		r.pause.SetIcon(theme.MediaPlayIcon())
	} else {
		r.pause.SetText("Pause")
		r.pause.SetIcon(theme.MediaPauseIcon())
	}
	if st.Pinned {
		r.pin.SetText("Unpin")
	} else {
		r.pin.SetText("Pin")
	}
	if st.Magnet == "" {
		r.magnet.Disable()
	} else {
		r.magnet.Enable()
	}
	if engine.IsPresentation(st.Item) {
		r.open.SetText("Play")
		r.open.SetIcon(theme.MediaPlayIcon())
		enable(r.open, r.v.play != nil)
	} else {
		r.open.SetText("Open")
		r.open.SetIcon(theme.FileApplicationIcon())
		enable(r.open, r.v.openURL != nil && st.Path != "" && st.State == engine.StateSeeding)
	}
	enable(r.show, r.v.openURL != nil && st.Path != "")
}

// enable enables or disables b.
func enable(b *widget.Button, on bool) {
	if on {
		b.Enable()
	} else {
		b.Disable()
	}
}

// openItem plays a video item, or opens any other with the system's
// default application.
func (v *libraryView) openItem(st engine.Status) {
	if engine.IsPresentation(st.Item) {
		if v.play != nil {
			v.play(st.InfoHash)
		}
		return
	}
	v.openPath(st.Path)
}

// showInFolder opens the folder that holds the item's data.
func (v *libraryView) showInFolder(st engine.Status) {
	p := st.Path
	if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
		p = filepath.Dir(p)
	}
	v.openPath(p)
}

func (v *libraryView) openPath(p string) {
	if v.openURL == nil || p == "" {
		return
	}
	u := &url.URL{Scheme: "file", Path: filepath.ToSlash(p)}
	if err := v.openURL(u); err != nil {
		v.showError("Cannot open "+p, err)
	}
}

// itemDetail is the line under an item's progress bar: how much is here,
// the transfer, and where the item came from.
func itemDetail(st engine.Status) string {
	if st.Error != "" {
		return st.Error
	}
	var parts []string
	if st.Size > 0 {
		parts = append(parts, fmt.Sprintf("%s of %s", formatBytes(st.Completed), formatBytes(st.Size)))
	} else {
		parts = append(parts, "waiting for the item's metadata from peers")
	}
	if st.State == engine.StateDownloading || st.DownRate > 0 {
		parts = append(parts, "↓ "+formatRate(st.DownRate))
	}
	if st.UpRate > 0 || st.State == engine.StateSeeding {
		parts = append(parts, "↑ "+formatRate(st.UpRate))
	}
	parts = append(parts, plural(st.Peers, "peer"))
	if st.ETA > 0 {
		parts = append(parts, st.ETA.Round(time.Second).String()+" left")
	}
	switch st.Origin {
	case engine.OriginPublished:
		parts = append(parts, "published here")
	case engine.OriginDownload:
		parts = append(parts, "downloaded")
	case engine.OriginCache:
		parts = append(parts, "cached")
	}
	return strings.Join(parts, " · ")
}

func stateImportance(s engine.State) widget.Importance {
	switch s {
	case engine.StateSeeding:
		return widget.SuccessImportance
	case engine.StateDownloading:
		return widget.HighImportance
	case engine.StatePaused:
		return widget.WarningImportance
	case engine.StateMissing:
		return widget.DangerImportance
	}
	return widget.LowImportance
}

// kindIcon is the icon of an item of kind (engine.KindFolder, ...) and
// type (video, audio, ...).
func kindIcon(kind, typ string) fyne.Resource {
	if kind == engine.KindFolder || typ == engine.KindFolder {
		return theme.FolderIcon()
	}
	switch typ {
	case "video":
		return theme.FileVideoIcon()
	case "audio":
		return theme.FileAudioIcon()
	case "image":
		return theme.FileImageIcon()
	case "text":
		return theme.FileTextIcon()
	}
	return theme.FileIcon()
}

// entryRow is one item of the network's catalog with who holds it and a
// button to get it.
type entryRow struct {
	widget.BaseWidget
	entry                     catalog.Entry
	name, size, kind, holders *widget.Label
	get                       *widget.Button
	content                   fyne.CanvasObject
}

func (v *libraryView) newEntryRow() *entryRow {
	r := &entryRow{name: cellLabel(), size: cellLabel(), kind: cellLabel(), holders: cellLabel()}
	r.name.TextStyle.Bold = true
	r.get = widget.NewButtonWithIcon("Get", theme.DownloadIcon(), func() {
		v.fetch(r.entry.Item.InfoHash, r.entry.Item.Name)
	})
	r.content = catalogColumns.row(r.name, r.size, r.kind, r.holders, r.get)
	r.ExtendBaseWidget(r)
	return r
}

func (r *entryRow) CreateRenderer() fyne.WidgetRenderer { return widget.NewSimpleRenderer(r.content) }

// set shows e; here tells whether this node has the item already.
func (r *entryRow) set(e catalog.Entry, here bool) {
	r.entry = e
	r.name.SetText(e.Item.Name)
	r.size.SetText(formatBytes(e.Item.Size))
	r.kind.SetText(e.Item.Kind)
	r.holders.SetText(holdersText(e.Holders))
	if here {
		r.get.SetText("Here")
		r.get.Disable()
	} else {
		r.get.SetText("Get")
		r.get.Enable()
	}
}

// holdersText names the members that hold an item, saying which are down.
func holdersText(hs []catalog.Holder) string {
	names := make([]string, 0, len(hs))
	for _, h := range hs {
		name := h.Name
		if h.Self {
			name = "this node"
		}
		if h.State != membership.Alive {
			name += " (" + h.State.String() + ")"
		}
		names = append(names, name)
	}
	return strings.Join(names, ", ")
}

// compactTheme is the app's theme with caption-sized text and little inner
// padding, for the progress bars inside list rows.
type compactTheme struct{}

func (compactTheme) current() fyne.Theme { return fyne.CurrentApp().Settings().Theme() }

func (t compactTheme) Color(n fyne.ThemeColorName, v fyne.ThemeVariant) color.Color {
	return t.current().Color(n, v)
}

func (t compactTheme) Font(s fyne.TextStyle) fyne.Resource { return t.current().Font(s) }

func (t compactTheme) Icon(n fyne.ThemeIconName) fyne.Resource { return t.current().Icon(n) }

func (t compactTheme) Size(n fyne.ThemeSizeName) float32 {
	switch n {
	case theme.SizeNameText:
		return t.current().Size(theme.SizeNameCaptionText)
	case theme.SizeNameInnerPadding:
		return 3
	}
	return t.current().Size(n)
}
