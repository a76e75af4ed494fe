package app

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/shoal-p2p/shoal/cdn/engine"
	"github.com/shoal-p2p/shoal/cdn/membership"
	"github.com/shoal-p2p/shoal/node"
)

// nodeView is the Node area: who the node is, what it serves, and a live log
// of what it does.
type nodeView struct {
	node Node
	loop loop

	name, id, network, version, dataDir, uptime *widget.Label
	services                                    *fyne.Container
	shownServices                               []node.Service
	events                                      *eventLog

	content fyne.CanvasObject
}

func newNodeView(n Node, l loop, clip fyne.Clipboard) *nodeView {
	v := &nodeView{
		node:     n,
		loop:     l,
		name:     widget.NewLabel(""),
		id:       widget.NewLabel(""),
		network:  widget.NewLabel(""),
		version:  widget.NewLabel(""),
		dataDir:  widget.NewLabel(""),
		uptime:   widget.NewLabel(""),
		services: container.NewVBox(),
		events:   newEventLog(),
	}
	v.id.Selectable = true
	v.dataDir.Selectable = true
	copyID := widget.NewButtonWithIcon("", theme.ContentCopyIcon(), func() { clip.SetContent(v.id.Text) })

	info := container.New(layout.NewFormLayout(),
		fieldName("Name"), v.name,
		fieldName("ID"), container.NewHBox(v.id, copyID),
		fieldName("Network"), v.network,
		fieldName("Version"), v.version,
		fieldName("Data dir"), v.dataDir,
		fieldName("Uptime"), v.uptime,
		fieldName("Services"), v.services,
	)
	v.content = container.NewBorder(
		widget.NewCard("", "", info), nil, nil, nil,
		widget.NewCard("", "Events", v.events.list),
	)

	v.show(n.Status())
	backlog, events, cancel := n.Subscribe(0)
	v.events.add(backlog...)
	go v.follow(events, cancel)
	go v.tick()
	return v
}

func fieldName(s string) *widget.Label {
	return widget.NewLabelWithStyle(s, fyne.TextAlignTrailing, fyne.TextStyle{Bold: true})
}

// show puts st on the labels. UI goroutine only.
func (v *nodeView) show(st node.Status) {
	v.name.SetText(st.Name)
	v.id.SetText(st.ID)
	v.network.SetText(st.Network)
	v.version.SetText(st.Version)
	v.dataDir.SetText(st.DataDir)
	v.uptime.SetText(formatUptime(time.Duration(st.UptimeS * float64(time.Second))))
	if !slices.Equal(st.Services, v.shownServices) {
		v.shownServices = slices.Clone(st.Services)
		v.services.Objects = nil
		for _, s := range st.Services {
			v.services.Add(serviceRow(s))
		}
	}
}

func serviceRow(s node.Service) fyne.CanvasObject {
	addr := widget.NewLabel(fmt.Sprintf("%s (%s)", s.Address, s.Proto))
	addr.Selectable = true
	row := container.NewHBox(widget.NewLabelWithStyle(s.Name, fyne.TextAlignLeading, fyne.TextStyle{Bold: true}), addr)
	if u, err := url.Parse(s.URL); s.URL != "" && err == nil {
		row.Add(widget.NewHyperlink(s.URL, u))
	}
	return row
}

// formatUptime shows d to the second, with days when there are any.
func formatUptime(d time.Duration) string {
	const day = 24 * time.Hour
	d = d.Truncate(time.Second)
	if d >= day {
		return fmt.Sprintf("%dd %s", d/day, d%day)
	}
	return d.String()
}

// tick refreshes the status, and so the uptime, once a second.
func (v *nodeView) tick() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-v.loop.ctx.Done():
			return
		case <-t.C:
			st := v.node.Status()
			v.loop.do(func() { v.show(st) })
		}
	}
}

// follow adds the node's events to the log until the window closes, then
// ends the subscription.
func (v *nodeView) follow(events <-chan node.Event, cancel func()) {
	defer cancel()
	for {
		select {
		case <-v.loop.ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			// Take what else has arrived too, so a burst refreshes the list once.
			batch := []node.Event{ev}
			for len(batch) < maxEventRows && len(events) > 0 {
				batch = append(batch, <-events)
			}
			v.loop.do(func() { v.events.add(batch...) })
		}
	}
}

// maxEventRows is how many events the log keeps, as many as the node's bus.
const maxEventRows = 500

// eventLog lists the node's latest events, the newest at the bottom.
type eventLog struct {
	events []node.Event
	list   *widget.List
}

func newEventLog() *eventLog {
	l := &eventLog{}
	l.list = widget.NewList(
		func() int { return len(l.events) },
		func() fyne.CanvasObject {
			row := widget.NewLabel("")
			row.TextStyle.Monospace = true
			row.Truncation = fyne.TextTruncateEllipsis
			return row
		},
		func(i widget.ListItemID, o fyne.CanvasObject) {
			text, importance := eventLine(l.events[i])
			row := o.(*widget.Label)
			row.Importance = importance
			row.SetText(text)
		},
	)
	return l
}

// add appends evs, drops the oldest beyond maxEventRows and scrolls to the
// newest. Progress ticks, several a second while anything moves, are left
// out: the Library shows them as progress bars. UI goroutine only.
func (l *eventLog) add(evs ...node.Event) {
	evs = slices.DeleteFunc(slices.Clone(evs), func(ev node.Event) bool {
		return ev.Type == engine.EventProgress || ev.Type == node.EventPublishProgress
	})
	if len(evs) == 0 {
		return
	}
	l.events = append(l.events, evs...)
	if over := len(l.events) - maxEventRows; over > 0 {
		l.events = slices.Delete(l.events, 0, over)
	}
	l.list.Refresh()
	l.list.ScrollToBottom()
}

// eventLine is one line of the log for ev, and how much it matters.
func eventLine(ev node.Event) (string, widget.Importance) {
	importance := widget.MediumImportance
	var detail string
	switch d := ev.Data.(type) {
	case nil:
	case node.LogEntry:
		detail = d.Level + "  " + d.Message
		for _, k := range slices.Sorted(maps.Keys(d.Attrs)) {
			detail += " " + k + "=" + quoteIfNeeded(fmt.Sprint(d.Attrs[k]))
		}
		switch {
		case strings.HasPrefix(d.Level, "ERROR"):
			importance = widget.DangerImportance
		case strings.HasPrefix(d.Level, "WARN"):
			importance = widget.WarningImportance
		}
	case node.Status:
		detail = fmt.Sprintf("%s on network %s, id %s", d.Name, d.Network, d.ID)
	case node.SettingsResult:
		detail = "applied"
		if len(d.Restart) > 0 {
			detail = "after restart: " + strings.Join(d.Restart, ", ")
		}
	case engine.Status: // cdn.complete, cdn.missing
		detail = fmt.Sprintf("%s (%s) %s", d.Name, formatBytes(d.Size), d.State)
		if d.Error != "" {
			detail += ": " + d.Error
			importance = widget.WarningImportance
		}
	case engine.Item: // cdn.evicted
		detail = fmt.Sprintf("%s (%s)", d.Name, formatBytes(d.Size))
	case membership.Member:
		detail = fmt.Sprintf("%s is %s, id %s", d.DisplayName, d.State, d.ID())
		if d.State != membership.Alive {
			importance = widget.WarningImportance
		}
	case map[string]string: // cdn.catalog
		for _, k := range slices.Sorted(maps.Keys(d)) {
			detail += " " + k + "=" + quoteIfNeeded(d[k])
		}
		detail = strings.TrimSpace(detail)
	default:
		detail = fmt.Sprint(d)
	}
	return fmt.Sprintf("%s  %-14s  %s", ev.Time.Local().Format("15:04:05"), ev.Type, detail), importance
}

func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\n\"=") {
		return fmt.Sprintf("%q", s)
	}
	return s
}
