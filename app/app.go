// Package app is Shoal's desktop window, built with Fyne.
//
// It holds views only: everything it shows comes from the node through the
// small Node interface declared here, and what the user changes goes back
// through it. The window is a row of areas (Node, Library, Watch, Network,
// Names, Mail, Browse, Settings) on the left; a new area is one more entry in the list that
// newWindow builds.
//
// The package never imports fyne.io/fyne/v2/app: main creates the fyne.App
// and hands it in, so the views are tested with fyne.io/fyne/v2/test.
package app

import (
	"context"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"

	"github.com/shoal-p2p/shoal/assets"
	"github.com/shoal-p2p/shoal/cdn/catalog"
	"github.com/shoal-p2p/shoal/cdn/engine"
	"github.com/shoal-p2p/shoal/cdn/membership"
	"github.com/shoal-p2p/shoal/naming"
	"github.com/shoal-p2p/shoal/node"
	"github.com/shoal-p2p/shoal/streaming/player"
)

// Node is what the window needs from a running node.
type Node interface {
	Status() node.Status
	Settings() (node.SettingsResult, error)
	SaveSettings(node.Config) (node.SettingsResult, error)
	Subscribe(since uint64) ([]node.Event, <-chan node.Event, func())

	// The Library area.
	Items() []engine.Status
	ItemAction(infohash, action string) (engine.Status, error)
	RemoveItem(infohash string, withData bool) error
	Publish(ctx context.Context, path, name string, progress func(done, total int64)) (engine.Item, error)
	PublishVideo(ctx context.Context, path, name string, progress func(stage string, done, total int64)) (engine.Item, error)
	Catalog(query string) []catalog.Entry
	Fetch(ctx context.Context, spec, outDir string) (engine.Status, error)
	AddTorrent(ctx context.Context, mi []byte, outDir string) (engine.Status, error)

	// The Network area.
	Members() []membership.Member
	Network() node.NetworkStats

	// The Names area.
	DNS() *naming.Service
	DNSRecords() []node.DNSRecord
	SetDNSRecord(node.DNSRecord) error
	RemoveDNSRecord(name, typ string) error
	DNSQuery(ctx context.Context, name, qtype string) (naming.Answer, error)

	// The Mail area.
	MailNode
	// The Watch area.
	Watch(ctx context.Context, infohash string, opts node.WatchOptions) (node.Watching, error)
	WatchSession(id string) (*player.Session, error)
	StopWatching(id string) (node.Watching, error)
}

// area is one part of the window, shown as a tab on the left.
type area struct {
	title string
	icon  fyne.Resource
	build func() fyne.CanvasObject
}

// loop lets goroutines reach the UI: do runs a function on the UI goroutine
// (fyne.Do, or a test's queue), and ctx ends when the window closes, so the
// goroutines that feed the views stop and the work they started is
// cancelled.
type loop struct {
	do  func(func())
	ctx context.Context
}

// NewWindow builds Shoal's main window for n. The caller shows it; closing
// it stops the views' goroutines and ends their event subscription.
func NewWindow(a fyne.App, n Node) fyne.Window {
	return newWindow(a, n, fyne.Do)
}

func newWindow(a fyne.App, n Node, do func(func())) fyne.Window {
	return buildWindow(a, n, do).window
}

// windowParts are the window and the parts tests reach into.
type windowParts struct {
	window fyne.Window
	tabs   *container.AppTabs
	mail   *mailView
	// drop is the window's drop handler.
	drop func(fyne.Position, []fyne.URI)
}

func buildWindow(a fyne.App, n Node, do func(func())) windowParts {
	w := a.NewWindow("Shoal")
	w.SetIcon(fyne.NewStaticResource("icon.png", assets.Icon))
	ctx, cancel := context.WithCancel(context.Background())
	w.SetOnClosed(cancel)
	l := loop{do: do, ctx: ctx}

	// The Library also takes what is dropped on the window, unless a
	// message is being written: then the drop attaches to it.
	library := newLibraryView(n, l, w, a.Clipboard())
	mailArea := newMailView(n, l, a, w)
	watch := newWatchView(n, l)
	areas := []area{
		{"Node", theme.ComputerIcon(), func() fyne.CanvasObject { return newNodeView(n, l, a.Clipboard()).content }},
		{"Library", theme.StorageIcon(), func() fyne.CanvasObject { return library.content }},
		{"Watch", theme.MediaPlayIcon(), func() fyne.CanvasObject { return watch.content }},
		{"Network", theme.GridIcon(), func() fyne.CanvasObject {
			v := newNetworkView(n, l)
			v.window, v.clip = w, a.Clipboard()
			return v.content
		}},
		{"Names", theme.SearchIcon(), func() fyne.CanvasObject { return newNamesView(n, l, a.Clipboard()).content }},
		{"Mail", theme.MailComposeIcon(), func() fyne.CanvasObject { return mailArea.content }},
		{"Browse", theme.DocumentIcon(), func() fyne.CanvasObject { return newBrowseView(n, l, a).content }},
		{"Settings", theme.SettingsIcon(), func() fyne.CanvasObject { return newSettingsView(n, l).content }},
	}
	tabs := container.NewAppTabs()
	var libraryTab, mailTab *container.TabItem
	for _, ar := range areas {
		tab := container.NewTabItemWithIcon(ar.title, ar.icon, ar.build())
		switch ar.title {
		case "Library":
			libraryTab = tab
		case "Mail":
			mailTab = tab
		}
		tabs.Append(tab)
	}
	tabs.SetTabLocation(container.TabLocationLeading)
	library.openURL = a.OpenURL
	library.play = func(infohash string) {
		for _, tab := range tabs.Items {
			if tab.Text == "Watch" {
				tabs.Select(tab)
			}
		}
		watch.Play(infohash)
	}
	// A window has one drop handler: what is dropped anywhere is published.
	drop := func(_ fyne.Position, uris []fyne.URI) {
		if tabs.Selected() == mailTab && mailArea.composing() {
			mailArea.drop(uris)
			return
		}
		tabs.Select(libraryTab)
		library.drop(uris)
	}
	w.SetOnDropped(drop)

	w.SetContent(tabs)
	w.Resize(fyne.NewSize(1000, 680))
	return windowParts{window: w, tabs: tabs, mail: mailArea, drop: drop}
}
