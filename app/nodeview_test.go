package app

import (
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/shoal-p2p/shoal/cdn"
	"github.com/shoal-p2p/shoal/cdn/engine"
	"github.com/shoal-p2p/shoal/cdn/membership"
	"github.com/shoal-p2p/shoal/node"
)

func TestNodeAreaShowsStatus(t *testing.T) {
	w, _ := openWindow(t, newFakeNode())
	for _, want := range []string{
		"alpha",
		"k51qzi5uqu5dlvj2baxnqndepeb",
		"shoal",
		"0.1.0",
		"/home/ada/.local/share/shoal",
		"1h2m5s",
		"127.0.0.1:7480 (tcp)",
		"http://127.0.0.1:7480/",
	} {
		if !showsText(w.Content(), want) {
			t.Errorf("%q not shown; shown: %q", want, shownTexts(w.Content()))
		}
	}
}

func TestNodeAreaFollowsStatus(t *testing.T) {
	n := newFakeNode()
	w, q := openWindow(t, n)
	n.mu.Lock()
	n.status.Name = "beta"
	n.status.UptimeS = 2*86400 + 61
	n.status.Services = append(n.status.Services, node.Service{Name: "dns", Proto: "udp", Address: "127.0.0.1:7453"})
	n.mu.Unlock()
	q.waitFor(t, "the new status to show", func() bool {
		return showsText(w.Content(), "beta") &&
			showsText(w.Content(), "2d 1m1s") &&
			showsText(w.Content(), "127.0.0.1:7453 (udp)")
	})
}

func TestNodeAreaCopiesID(t *testing.T) {
	a := test.NewTempApp(t)
	v := newNodeView(newFakeNode(), loop{do: newUIQueue().do, ctx: t.Context()}, a.Clipboard())
	var copyID *widget.Button
	walkShown(v.content, func(o fyne.CanvasObject) {
		if b, ok := o.(*widget.Button); ok && b.Text == "" {
			copyID = b
		}
	})
	if copyID == nil {
		t.Fatal("no copy button")
	}
	test.Tap(copyID)
	if got := a.Clipboard().Content(); got != "k51qzi5uqu5dlvj2baxnqndepeb" {
		t.Errorf("clipboard holds %q, want the node's id", got)
	}
}

func TestEventLogShowsBacklogThenNewEvents(t *testing.T) {
	n := newFakeNode()
	started := time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)
	n.backlog = []node.Event{
		{Seq: 1, Time: started, Type: node.EventStarted, Data: n.status},
		{Seq: 2, Time: started, Type: node.EventLog, Data: node.LogEntry{Level: "INFO", Message: "node started", Attrs: map[string]any{"ui": "127.0.0.1:7480"}}},
	}
	w, q := openWindow(t, n)
	if !showsText(w.Content(), "node started ui=127.0.0.1:7480") {
		t.Fatalf("backlog not in the event log; shown: %q", shownTexts(w.Content()))
	}

	n.send(node.Event{Seq: 3, Time: time.Now(), Type: node.EventLog,
		Data: node.LogEntry{Level: "WARN", Message: "peer unreachable", Attrs: map[string]any{"peer": "10.0.0.7:7481"}}})
	q.waitFor(t, "the pushed event in the log", func() bool {
		return showsText(w.Content(), "WARN  peer unreachable peer=10.0.0.7:7481")
	})
}

func TestEventLogLeavesOutProgressTicks(t *testing.T) {
	l := newEventLog()
	l.add(
		node.Event{Seq: 1, Type: engine.EventProgress, Data: []engine.Status{}},
		node.Event{Seq: 2, Type: engine.EventComplete, Data: engine.Status{}},
		node.Event{Seq: 3, Type: node.EventPublishProgress, Data: node.PublishProgress{}},
	)
	if len(l.events) != 1 || l.events[0].Seq != 2 {
		t.Errorf("log holds %+v, want only the completion", l.events)
	}
}

func TestEventLogKeepsTheLatestRows(t *testing.T) {
	l := newEventLog()
	for i := range maxEventRows + 20 {
		l.add(node.Event{Seq: uint64(i + 1), Type: "tick"})
	}
	if len(l.events) != maxEventRows {
		t.Fatalf("%d rows kept, want %d", len(l.events), maxEventRows)
	}
	if first, last := l.events[0].Seq, l.events[len(l.events)-1].Seq; first != 21 || last != maxEventRows+20 {
		t.Errorf("kept events %d..%d, want 21..%d", first, last, maxEventRows+20)
	}
}

func TestEventLine(t *testing.T) {
	at := time.Date(2025, 3, 1, 9, 30, 5, 0, time.Local)
	tests := []struct {
		name       string
		ev         node.Event
		want       string
		importance widget.Importance
	}{
		{"log with attrs in key order", node.Event{Type: node.EventLog, Data: node.LogEntry{
			Level: "INFO", Message: "settings saved", Attrs: map[string]any{"z": 1, "a": "two words"}}},
			`INFO  settings saved a="two words" z=1`, widget.MediumImportance},
		{"warning", node.Event{Type: node.EventLog, Data: node.LogEntry{Level: "WARN", Message: "slow"}},
			"WARN  slow", widget.WarningImportance},
		{"error", node.Event{Type: node.EventLog, Data: node.LogEntry{Level: "ERROR", Message: "disk full"}},
			"ERROR  disk full", widget.DangerImportance},
		{"started", node.Event{Type: node.EventStarted, Data: node.Status{Name: "alpha", Network: "shoal", ID: "k51"}},
			"alpha on network shoal, id k51", widget.MediumImportance},
		{"settings applied", node.Event{Type: node.EventSettingsSaved, Data: node.SettingsResult{Restart: []string{}}},
			"applied", widget.MediumImportance},
		{"settings wait for restart", node.Event{Type: node.EventSettingsSaved, Data: node.SettingsResult{Restart: []string{"bind", "ports"}}},
			"after restart: bind, ports", widget.MediumImportance},
		{"no data", node.Event{Type: node.EventStopping}, node.EventStopping, widget.MediumImportance},
		{"complete", node.Event{Type: engine.EventComplete, Data: engine.Status{Item: engine.Item{Name: "talk.webm", Size: 3 << 20}, State: engine.StateSeeding}},
			"talk.webm (3 MiB) seeding", widget.MediumImportance},
		{"missing", node.Event{Type: engine.EventMissing, Data: engine.Status{Item: engine.Item{Name: "notes", Size: 2048}, State: engine.StateMissing, Error: "notes/a.txt changed"}},
			"notes (2 KiB) missing: notes/a.txt changed", widget.WarningImportance},
		{"evicted", node.Event{Type: engine.EventEvicted, Data: engine.Item{Name: "old.iso", Size: 1 << 30}}, "old.iso (1 GiB)", widget.MediumImportance},
		{"member down", node.Event{Type: cdn.EventMember, Data: membership.Member{DisplayName: "beta", State: membership.Down, Record: membership.Record{ID: "k51b"}}},
			"beta is down, id k51b", widget.WarningImportance},
		{"catalog", node.Event{Type: cdn.EventCatalog, Data: map[string]string{"node": "k51b"}}, "node=k51b", widget.MediumImportance},
		{"other data", node.Event{Type: "x.custom", Data: map[string]int{"done": 3}}, "map[done:3]", widget.MediumImportance},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.ev.Time = at
			got, importance := eventLine(tt.ev)
			if !strings.HasPrefix(got, "09:30:05  "+tt.ev.Type) || !strings.HasSuffix(strings.TrimSpace(got), tt.want) {
				t.Errorf("line %q, want time, type %q and %q", got, tt.ev.Type, tt.want)
			}
			if importance != tt.importance {
				t.Errorf("importance %v, want %v", importance, tt.importance)
			}
		})
	}
}

func TestFormatUptime(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                       "0s",
		1500 * time.Millisecond: "1s",
		time.Hour + 2*time.Minute + 5*time.Second: "1h2m5s",
		49*time.Hour + 30*time.Second:             "2d 1h0m30s",
	} {
		if got := formatUptime(d); got != want {
			t.Errorf("formatUptime(%v) = %q, want %q", d, got, want)
		}
	}
}
