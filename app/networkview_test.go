package app

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/shoal-p2p/shoal/cdn"
	"github.com/shoal-p2p/shoal/cdn/membership"
	"github.com/shoal-p2p/shoal/node"
)

// withNetwork gives n three members, one of them down, two DHT nodes and
// some traffic.
func withNetwork(n *fakeNode) *fakeNode {
	now := time.Now()
	member := func(name, id, addr string, state membership.State, seen time.Time, rtt time.Duration, self bool) membership.Member {
		return membership.Member{
			Record: membership.Record{Name: name, ID: id, Addresses: []netip.Addr{netip.MustParseAddr(addr)},
				Ports: map[string]int{membership.PeerPort: 7481}},
			DisplayName: name, State: state, LastSeen: seen, RTT: rtt, Self: self,
		}
	}
	n.members = []membership.Member{
		member("gamma", "k51gammagammagamma", "10.0.0.3", membership.Down, now.Add(-90*time.Second), 0, false),
		member("beta", "k51betabetabeta", "10.0.0.2", membership.Alive, now.Add(-3*time.Second), 1250*time.Microsecond, false),
		member("alpha", "k51qzi5uqu5dlvj2baxnqndepeb", "10.0.0.1", membership.Alive, time.Time{}, 0, true),
	}
	n.network = node.NetworkStats{
		DHTNodes:   []netip.AddrPort{netip.MustParseAddrPort("10.0.0.2:7482"), netip.MustParseAddrPort("10.0.0.3:7482")},
		UpRate:     200 << 10,
		DownRate:   3 << 20,
		CacheUsed:  5 << 20,
		CacheQuota: 10 << 30,
		PeerAPI:    "10.0.0.1:7481",
	}
	return n
}

func openNetwork(t *testing.T, n Node) (*networkView, uiQueue) {
	t.Helper()
	test.NewTempApp(t)
	q := newUIQueue()
	v := newNetworkView(n, loop{do: q.do, ctx: t.Context()})
	w := test.NewWindow(v.content)
	w.Resize(fyne.NewSize(1000, 700))
	t.Cleanup(w.Close)
	return v, q
}

func TestNetworkListsMembersWithState(t *testing.T) {
	n := withNetwork(newFakeNode())
	v, _ := openNetwork(t, n)
	// Show "last seen" as of when the members were made, however slow the test.
	seen := n.members[1].LastSeen.Add(3 * time.Second)
	v.now = func() time.Time { return seen }
	v.memberList.Refresh()
	var rows []*memberRow
	walkShown(v.memberList, func(o fyne.CanvasObject) {
		if r, ok := o.(*memberRow); ok {
			rows = append(rows, r)
		}
	})
	if len(rows) != 3 {
		t.Fatalf("%d member rows shown, want 3", len(rows))
	}
	want := []struct {
		name, id, addrs, state, seen, rtt string
		importance                        widget.Importance
	}{
		{"alpha (this node)", "k51qzi5uqu…", "10.0.0.1:7481", "alive", "–", "–", widget.SuccessImportance},
		{"beta", "k51betabet…", "10.0.0.2:7481", "alive", "3s ago", "1.25 ms", widget.SuccessImportance},
		{"gamma", "k51gammaga…", "10.0.0.3:7481", "down", "1m ago", "–", widget.DangerImportance},
	}
	for i, w := range want {
		r := rows[i]
		got := []string{r.name.Text, r.id.Text, r.addrs.Text, r.state.Text, r.seen.Text, r.rtt.Text}
		exp := []string{w.name, w.id, w.addrs, w.state, w.seen, w.rtt}
		for j := range got {
			if got[j] != exp[j] {
				t.Errorf("row %d column %d shows %q, want %q", i, j, got[j], exp[j])
			}
		}
		if r.state.Importance != w.importance {
			t.Errorf("state of %s in colour %v, want %v", w.name, r.state.Importance, w.importance)
		}
	}
	if !showsText(v.content, "Members · 2 of 3 alive") {
		t.Errorf("no member count; shown: %q", shownTexts(v.content))
	}
}

func TestNetworkFollowsMemberEvents(t *testing.T) {
	n := withNetwork(newFakeNode())
	v, q := openNetwork(t, n)
	n.mu.Lock()
	n.members[1].State = membership.Suspect
	m := n.members[1]
	n.mu.Unlock()
	n.send(node.Event{Type: cdn.EventMember, Data: m})
	q.waitFor(t, "beta suspect", func() bool { return showsText(v.content, "suspect") })
	var beta *memberRow
	walkShown(v.memberList, func(o fyne.CanvasObject) {
		if r, ok := o.(*memberRow); ok && r.name.Text == "beta" {
			beta = r
		}
	})
	if beta == nil || beta.state.Importance != widget.WarningImportance {
		t.Error("suspect member not in the warning colour")
	}
}

func TestNetworkShowsDHTNodesAndCache(t *testing.T) {
	v, _ := openNetwork(t, withNetwork(newFakeNode()))
	for _, want := range []string{"DHT nodes · 2 nodes", "10.0.0.2:7482", "10.0.0.3:7482", "Cache 5 MiB of 10 GiB · peer API 10.0.0.1:7481"} {
		if !showsText(v.content, want) {
			t.Errorf("%q not shown; shown: %q", want, shownTexts(v.content))
		}
	}
}

func TestNetworkSamplesRatesEverySecond(t *testing.T) {
	n := withNetwork(newFakeNode())
	v, q := openNetwork(t, n)
	q.waitFor(t, "a second sample", func() bool { return len(v.plot.down) >= 2 })
	if v.plot.down[1] != 3<<20 || v.plot.up[1] != 200<<10 {
		t.Errorf("sampled down %d up %d, want the node's rates", v.plot.down[1], v.plot.up[1])
	}
	r := test.WidgetRenderer(v.plot).(*ratePlotRenderer)
	if !r.down[0].Visible() || !r.up[0].Visible() {
		t.Error("no lines drawn after two samples")
	}
	if !showsText(v.plot, "download 3 MiB/s") || !showsText(v.plot, "upload 200 KiB/s") {
		t.Errorf("legend without the current rates; shown: %q", shownTexts(v.plot))
	}
}

// openPlot draws a rate plot of 600x300 with the given samples.
func openPlot(t *testing.T, up, down []int64) (*ratePlot, *ratePlotRenderer) {
	t.Helper()
	test.NewTempApp(t)
	p := newRatePlot()
	w := test.NewWindow(p)
	t.Cleanup(w.Close)
	w.Resize(fyne.NewSize(600, 300))
	for i := range up {
		p.add(up[i], down[i])
	}
	return p, test.WidgetRenderer(p).(*ratePlotRenderer)
}

func visibleLines(ls []*canvas.Line) []*canvas.Line {
	var out []*canvas.Line
	for _, l := range ls {
		if l.Visible() {
			out = append(out, l)
		}
	}
	return out
}

func TestRatePlotDrawsTheSamples(t *testing.T) {
	up := []int64{0, 100 << 10, 200 << 10, 300 << 10}
	down := []int64{0, 1 << 20, 2 << 20, 3 << 20}
	p, r := openPlot(t, up, down)

	downs, ups := visibleLines(r.down[:]), visibleLines(r.up[:])
	if len(downs) != 3 || len(ups) != 3 {
		t.Fatalf("%d and %d segments for 4 samples, want 3 each", len(downs), len(ups))
	}
	for i, l := range downs {
		if l.Position2.X <= l.Position1.X {
			t.Errorf("segment %d goes back in time: %v -> %v", i, l.Position1, l.Position2)
		}
		if l.Position2.Y >= l.Position1.Y {
			t.Errorf("a rising rate drawn falling: %v -> %v", l.Position1, l.Position2)
		}
		if i > 0 && l.Position1 != downs[i-1].Position2 {
			t.Errorf("segment %d does not start where %d ends", i, i-1)
		}
		if l.StrokeColor != downColor() || ups[i].StrokeColor != upColor() {
			t.Error("series not in their colours")
		}
	}
	// Samples share the time axis; the higher rate is drawn higher.
	if ups[2].Position2.X != downs[2].Position2.X || ups[2].Position2.Y <= downs[2].Position2.Y {
		t.Errorf("upload %v drawn at or above download %v", ups[2].Position2, downs[2].Position2)
	}
	// The newest sample is at the right edge, zero at the axis bottom.
	if x := downs[2].Position2.X; x < p.Size().Width*0.9 {
		t.Errorf("newest sample at x=%v of %v", x, p.Size().Width)
	}
	if downs[0].Position1.Y != r.grid[2].Position1.Y {
		t.Errorf("zero drawn at y=%v, axis bottom at %v", downs[0].Position1.Y, r.grid[2].Position1.Y)
	}
	// The axis tops at 5 MiB/s for a peak of 3 MiB/s, and 3 MiB/s is drawn
	// 3/5 of the way up.
	if r.yLabels[0].Text != "5 MiB/s" || r.yLabels[1].Text != "2.5 MiB/s" {
		t.Errorf("axis labels %q %q, want 5 MiB/s and 2.5 MiB/s", r.yLabels[0].Text, r.yLabels[1].Text)
	}
	top, bottom := r.grid[0].Position1.Y, r.grid[2].Position1.Y
	if got := (bottom - downs[2].Position2.Y) / (bottom - top); got < 0.59 || got > 0.61 {
		t.Errorf("3 MiB/s drawn at %.3f of the axis, want 0.6", got)
	}
}

func TestRatePlotKeepsTheLastSamples(t *testing.T) {
	up := make([]int64, rateSamples+30)
	down := make([]int64, rateSamples+30)
	for i := range down {
		down[i] = int64(i) << 10
	}
	p, r := openPlot(t, up, down)
	if len(p.down) != rateSamples || p.down[0] != 30<<10 {
		t.Fatalf("kept %d samples from %d, want %d from %d", len(p.down), p.down[0], rateSamples, 30<<10)
	}
	if got := len(visibleLines(r.down[:])); got != rateSamples-1 {
		t.Errorf("%d segments drawn, want %d", got, rateSamples-1)
	}
	if first := r.down[0].Position1.X; first > r.grid[0].Position1.X+0.5 {
		t.Errorf("oldest sample at x=%v, axis starts at %v", first, r.grid[0].Position1.X)
	}
}

func TestRatePlotWithoutSamples(t *testing.T) {
	_, r := openPlot(t, nil, nil)
	if n := len(visibleLines(r.down[:])) + len(visibleLines(r.up[:])); n != 0 {
		t.Errorf("%d segments drawn without samples", n)
	}
	if r.yLabels[0].Text != "1 KiB/s" {
		t.Errorf("empty axis tops at %q, want 1 KiB/s", r.yLabels[0].Text)
	}
}

func TestPlotMax(t *testing.T) {
	for peak, want := range map[int64]int64{
		0:               1 << 10,
		1 << 10:         1 << 10,
		1500:            2 << 10,
		300 << 10:       500 << 10,
		700 << 10:       1 << 20,
		3 << 20:         5 << 20,
		(5 << 20) + 1:   10 << 20,
		600 << 20:       1 << 30,
		(3 << 30) / 2:   2 << 30,
		1<<10 + 1<<9:    2 << 10,
		(1 << 20) - 1:   1 << 20,
		(100 << 20) + 1: 200 << 20,
	} {
		if got := plotMax(peak); got != want {
			t.Errorf("plotMax(%d) = %d, want %d", peak, got, want)
		}
	}
}

func TestFormats(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1 KiB", 1536: "1.5 KiB", 100 << 20: "100 MiB", 10 << 30: "10 GiB"} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
	for d, want := range map[time.Duration]string{0: "just now", 3 * time.Second: "3s ago", 90 * time.Second: "1m ago", 3 * time.Hour: "3h ago", 50 * time.Hour: "2d ago"} {
		if got := formatAgo(d); got != want {
			t.Errorf("formatAgo(%v) = %q, want %q", d, got, want)
		}
	}
	for d, want := range map[time.Duration]string{0: "–", 1250 * time.Microsecond: "1.25 ms", 42 * time.Millisecond: "42 ms", 1500 * time.Millisecond: "1.5s"} {
		if got := formatRTT(d); got != want {
			t.Errorf("formatRTT(%v) = %q, want %q", d, got, want)
		}
	}
}

// adminNode is a fake node with a private network to invite to.
type adminNode struct {
	*fakeNode
	joined []string
}

func (a *adminNode) NetworkInfo() node.NetworkInfo {
	return node.NetworkInfo{Network: "friends", Kind: "private", Private: true}
}

func (a *adminNode) Invite(time.Duration) (string, error) { return "shoal:AQAAAA", nil }

func (a *adminNode) JoinNetwork(link string) (node.NetworkInfo, error) {
	a.joined = append(a.joined, link)
	return a.NetworkInfo(), nil
}

// The area says which network and its kind; Invite is for private
// networks, and both buttons need a node that has them.
func TestNetworkShowsItsKind(t *testing.T) {
	v, _ := openNetwork(t, withNetwork(newFakeNode()))
	if !v.invite.Disabled() || !v.join.Disabled() || !strings.Contains(v.kind.Text, "open") {
		t.Errorf("a fake node without networks: %q, invite disabled %v, join disabled %v", v.kind.Text, v.invite.Disabled(), v.join.Disabled())
	}
	n := withNetwork(newFakeNode())
	n.network.Name, n.network.Kind = "friends", "private"
	v, _ = openNetwork(t, &adminNode{fakeNode: n})
	if v.invite.Disabled() || v.join.Disabled() || v.kind.Text != "Network friends · private (members hold its key)" {
		t.Errorf("a private network: %q, invite disabled %v, join disabled %v", v.kind.Text, v.invite.Disabled(), v.join.Disabled())
	}
}
