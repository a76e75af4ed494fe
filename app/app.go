// Package app is Shoal's desktop window, built with Fyne.
//
// It holds views only: everything it shows comes from the node through the
// small Node interface declared here, and what the user changes goes back
// through it. The window is a row of areas (Node, Settings, ...) on the left;
// a new area is one more entry in the list that newWindow builds.
//
// The package never imports fyne.io/fyne/v2/app: main creates the fyne.App
// and hands it in, so the views are tested with fyne.io/fyne/v2/test.
package app

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"

	"github.com/shoal-p2p/shoal/assets"
	"github.com/shoal-p2p/shoal/node"
)

// Node is what the window needs from a running node.
type Node interface {
	Status() node.Status
	Settings() (node.SettingsResult, error)
	SaveSettings(node.Config) (node.SettingsResult, error)
	Subscribe(since uint64) ([]node.Event, <-chan node.Event, func())
}

// area is one part of the window, shown as a tab on the left.
type area struct {
	title string
	icon  fyne.Resource
	build func() fyne.CanvasObject
}

// loop lets goroutines reach the UI: do runs a function on the UI goroutine
// (fyne.Do, or a test's queue), and done is closed when the window closes,
// so the goroutines that feed the views stop.
type loop struct {
	do   func(func())
	done <-chan struct{}
}

// NewWindow builds Shoal's main window for n. The caller shows it; closing
// it stops the views' goroutines and ends their event subscription.
func NewWindow(a fyne.App, n Node) fyne.Window {
	return newWindow(a, n, fyne.Do)
}

func newWindow(a fyne.App, n Node, do func(func())) fyne.Window {
	w := a.NewWindow("Shoal")
	w.SetIcon(fyne.NewStaticResource("icon.png", assets.Icon))
	done := make(chan struct{})
	w.SetOnClosed(func() { close(done) })
	l := loop{do: do, done: done}

	areas := []area{
		{"Node", theme.ComputerIcon(), func() fyne.CanvasObject { return newNodeView(n, l, a.Clipboard()).content }},
		{"Settings", theme.SettingsIcon(), func() fyne.CanvasObject { return newSettingsView(n, l).content }},
	}
	tabs := container.NewAppTabs()
	for _, ar := range areas {
		tabs.Append(container.NewTabItemWithIcon(ar.title, ar.icon, ar.build()))
	}
	tabs.SetTabLocation(container.TabLocationLeading)

	w.SetContent(tabs)
	w.Resize(fyne.NewSize(1000, 680))
	return w
}
