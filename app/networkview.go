package app

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/shoal-p2p/shoal/cdn"
	"github.com/shoal-p2p/shoal/cdn/membership"
	"github.com/shoal-p2p/shoal/node"
)

// networkView is the Network area: the members with their state, the DHT's
// nodes, and the node's upload and download rates over the last minutes.
type networkView struct {
	node Node
	loop loop
	now  func() time.Time // for "last seen"

	// What the lists show. UI goroutine only.
	members []membership.Member
	dht     []netip.AddrPort

	memberList, dhtList  *widget.List
	membersCard, dhtCard *widget.Card
	plot                 *ratePlot
	cache                *widget.Label
	// kind says which network and whether it is open or private; Invite
	// and Join act on it (networkjoin.go).
	kind         *widget.Label
	invite, join *widget.Button
	window       fyne.Window // parent of the dialogs
	clip         fyne.Clipboard

	content fyne.CanvasObject
}

// memberColumns are the widths of the members' columns: name, id,
// addresses, state, last seen and round trip.
var memberColumns = columns{0, 140, 0, 70, 100, 100}

func newNetworkView(n Node, l loop) *networkView {
	v := &networkView{node: n, loop: l, now: time.Now, plot: newRatePlot(), cache: widget.NewLabel("")}
	v.cache.Importance = widget.LowImportance
	v.cache.Truncation = fyne.TextTruncateEllipsis
	v.memberList = widget.NewList(
		func() int { return len(v.members) },
		func() fyne.CanvasObject { return newMemberRow() },
		func(i widget.ListItemID, o fyne.CanvasObject) { o.(*memberRow).set(v.members[i], v.now()) },
	)
	v.memberList.OnSelected = func(id widget.ListItemID) { v.memberList.Unselect(id) }
	v.dhtList = widget.NewList(
		func() int { return len(v.dht) },
		func() fyne.CanvasObject {
			l := cellLabel()
			l.TextStyle.Monospace = true
			return l
		},
		func(i widget.ListItemID, o fyne.CanvasObject) { o.(*widget.Label).SetText(v.dht[i].String()) },
	)
	v.dhtList.OnSelected = func(id widget.ListItemID) { v.dhtList.Unselect(id) }

	v.membersCard = widget.NewCard("", "Members", container.NewBorder(
		memberColumns.header("Name", "ID", "Addresses", "State", "Last seen", "Round trip"), nil, nil, nil,
		v.memberList,
	))
	v.dhtCard = widget.NewCard("", "DHT nodes", v.dhtList)
	rates := widget.NewCard("", "Transfer rates", container.NewBorder(nil, v.cache, nil, nil, v.plot))
	bottom := container.NewHSplit(rates, v.dhtCard)
	bottom.Offset = 0.72
	split := container.NewVSplit(v.membersCard, bottom)
	split.Offset = 0.45
	v.kind = widget.NewLabel("")
	v.kind.TextStyle.Bold = true
	v.invite = widget.NewButton("Invite…", v.showInvite)
	v.join = widget.NewButton("Join…", v.showJoin)
	if _, ok := n.(networkAdmin); !ok {
		v.invite.Disable()
		v.join.Disable()
	}
	v.content = container.NewBorder(container.NewBorder(nil, nil, nil, container.NewHBox(v.invite, v.join), v.kind), nil, nil, nil, split)

	v.showMembers(n.Members())
	v.showNetwork(n.Network())
	_, events, cancel := n.Subscribe(0)
	go v.follow(events, cancel)
	return v
}

// follow samples the rates and refreshes the members once a second, and
// the members at once when one changes, until the window closes.
func (v *networkView) follow(events <-chan node.Event, cancel func()) {
	defer cancel()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-v.loop.ctx.Done():
			return
		case <-tick.C:
			st, ms := v.node.Network(), v.node.Members()
			v.loop.do(func() {
				v.showMembers(ms)
				v.showNetwork(st)
			})
		case ev, ok := <-events:
			if !ok {
				return
			}
			if ev.Type != cdn.EventMember {
				continue
			}
			ms := v.node.Members()
			v.loop.do(func() { v.showMembers(ms) })
		}
	}
}

// showMembers lists ms, this node first, then by name. UI goroutine only.
func (v *networkView) showMembers(ms []membership.Member) {
	ms = slices.Clone(ms)
	slices.SortStableFunc(ms, func(a, b membership.Member) int {
		if a.Self != b.Self {
			if a.Self {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.DisplayName, b.DisplayName)
	})
	v.members = ms
	alive := 0
	for _, m := range ms {
		if m.State == membership.Alive {
			alive++
		}
	}
	v.membersCard.SetSubTitle(fmt.Sprintf("Members · %d of %d alive", alive, len(ms)))
	v.memberList.Refresh()
}

// showNetwork adds a rate sample to the plot and shows the DHT's nodes and
// the cache. UI goroutine only.
func (v *networkView) showNetwork(st node.NetworkStats) {
	v.kind.SetText(kindText(st))
	if st.Kind == "private" {
		if _, ok := v.node.(networkAdmin); ok {
			v.invite.Enable()
		}
	} else {
		v.invite.Disable() // an open network needs no invitation
	}
	v.plot.add(st.UpRate, st.DownRate)
	v.dht = st.DHTNodes
	v.dhtCard.SetSubTitle("DHT nodes · " + plural(len(st.DHTNodes), "node"))
	v.dhtList.Refresh()
	text := "Cache " + formatBytes(st.CacheUsed) + " of " + formatBytes(st.CacheQuota)
	if st.PeerAPI != "" {
		text += " · peer API " + st.PeerAPI
	}
	v.cache.SetText(text)
}

// memberRow is one member: who, where, and how it answers.
type memberRow struct {
	widget.BaseWidget
	name, id, addrs, state, seen, rtt *widget.Label
	content                           fyne.CanvasObject
}

func newMemberRow() *memberRow {
	r := &memberRow{name: cellLabel(), id: cellLabel(), addrs: cellLabel(), state: cellLabel(), seen: cellLabel(), rtt: cellLabel()}
	r.id.TextStyle.Monospace = true
	r.state.TextStyle.Bold = true
	r.content = memberColumns.row(r.name, r.id, r.addrs, r.state, r.seen, r.rtt)
	r.ExtendBaseWidget(r)
	return r
}

func (r *memberRow) CreateRenderer() fyne.WidgetRenderer { return widget.NewSimpleRenderer(r.content) }

// set shows m as of now. UI goroutine only.
func (r *memberRow) set(m membership.Member, now time.Time) {
	name := m.DisplayName
	if m.Self {
		name += " (this node)"
	}
	r.name.SetText(name)
	r.id.SetText(shortID(m.ID()))
	r.addrs.SetText(strings.Join(m.Record.PeerAddrs(), ", "))
	r.state.Importance = memberImportance(m.State)
	r.state.SetText(m.State.String())
	switch {
	case m.Self:
		r.seen.SetText("–")
	case m.LastSeen.IsZero():
		r.seen.SetText("never")
	default:
		r.seen.SetText(formatAgo(now.Sub(m.LastSeen)))
	}
	r.rtt.SetText(formatRTT(m.RTT))
}

func memberImportance(s membership.State) widget.Importance {
	switch s {
	case membership.Alive:
		return widget.SuccessImportance
	case membership.Suspect:
		return widget.WarningImportance
	}
	return widget.DangerImportance
}
