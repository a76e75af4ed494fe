package app

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
	"github.com/miekg/dns"

	"github.com/shoal-p2p/shoal/cdn"
	"github.com/shoal-p2p/shoal/naming"
	"github.com/shoal-p2p/shoal/node"
)

// namesView is the Names area: the group's DNS zone as this node serves
// it, the user's own records under the node's name (add, remove), and a
// look-up tool that resolves a name through the node and shows the path
// the resolution took.
type namesView struct {
	node Node
	loop loop
	clip fyne.Clipboard

	// What the view shows. UI goroutine only.
	zone     zoneSnapshot
	shown    []zoneRR // the zone's records that pass the filter
	own      []node.DNSRecord
	self     string // the node's label in the zone
	digName  string // the name and type the dig line asks for: the last
	digType  string // look-up, or the node's own name before one
	lookups  int    // numbers look-ups, so only the latest one is shown
	messages int    // numbers the form's messages, so a timer hides only its own

	// The zone.
	zoneCard   *widget.Card
	zoneList   *widget.List
	noRecords  *widget.Label
	filter     *widget.Entry
	typeFilter *widget.Select
	dig        *widget.Label

	// Your records.
	ownCard              *widget.Card
	ownList              *widget.List
	noOwn                *widget.Label
	recName, recValue    *widget.Entry
	recTTL               *widget.Entry
	recType              *widget.Select
	suffix, hint, recMsg *widget.Label
	add                  *widget.Button

	// Look up.
	qName     *widget.Entry
	qType     *widget.Select
	qButton   *widget.Button
	lookupMsg *widget.Label
	result    *fyne.Container

	// reload asks the refresh goroutine to read the zone and the records now.
	reload chan struct{}

	content fyne.CanvasObject
}

// namesRefresh is how often the area rereads the zone when no event asks.
const namesRefresh = 10 * time.Second

// allTypes is the type filter's choice that shows every type.
const allTypes = "All types"

// ownTypes are the types users may add, with a sample value and a hint.
var ownTypes = []struct{ typ, sample, hint string }{
	{"A", "192.0.2.10", "An IPv4 address."},
	{"AAAA", "2001:db8::10", "An IPv6 address."},
	{"CNAME", "web or example.org.", "Another name. Relative names are under your node's name; end a name with a dot to give it in full. Not allowed at @."},
	{"MX", "10 mail", "Preference and mail host: 10 mail, or 10 mail.example.org."},
	{"TXT", "v=spf1 -all", "Free text, sent as one string unless you quote the parts yourself (\"a\" \"b\")."},
	{"SRV", "0 5 8080 www", "Priority, weight, port and target host: 0 5 8080 www."},
}

// lookupTypes are the types the look-up tool offers.
var lookupTypes = []string{"A", "AAAA", "CNAME", "MX", "TXT", "SRV", "NS", "SOA", "PTR", "CAA"}

var (
	// zoneColumns: name, type, TTL, value.
	zoneColumns = columns{0, 64, 56, 0}
	// ownColumns: name, type, value, TTL, Remove.
	ownColumns = columns{80, 56, 0, 68, 84}
	// answerColumns: name, TTL, type, value.
	answerColumns = columns{0, 48, 56, 0}
	// stepColumns: number, kind, what happened.
	stepColumns = columns{20, 84, 0}
)

func newNamesView(n Node, l loop, clip fyne.Clipboard) *namesView {
	v := &namesView{
		node:       n,
		loop:       l,
		clip:       clip,
		filter:     widget.NewEntry(),
		dig:        cellLabel(),
		noRecords:  widget.NewLabel(""),
		noOwn:      widget.NewLabel(""),
		recName:    widget.NewEntry(),
		recValue:   widget.NewEntry(),
		recTTL:     widget.NewEntry(),
		suffix:     widget.NewLabel(""),
		hint:       widget.NewLabel(""),
		recMsg:     widget.NewLabel(""),
		qName:      widget.NewEntry(),
		qType:      widget.NewSelect(lookupTypes, nil),
		lookupMsg:  widget.NewLabel(""),
		result:     container.NewVBox(),
		reload:     make(chan struct{}, 1),
		typeFilter: widget.NewSelect([]string{allTypes}, nil),
	}

	// The zone.
	v.zoneList = widget.NewList(
		func() int { return len(v.shown) },
		func() fyne.CanvasObject { return newZoneRow() },
		func(i widget.ListItemID, o fyne.CanvasObject) { o.(*zoneRow).set(v.shown[i]) },
	)
	v.zoneList.OnSelected = func(id widget.ListItemID) { v.zoneList.Unselect(id) }
	v.noRecords.Importance = widget.LowImportance
	v.filter.SetPlaceHolder("Filter by name or value")
	v.filter.OnChanged = func(string) { v.showZoneRows() }
	v.typeFilter.SetSelected(allTypes)
	v.typeFilter.OnChanged = func(string) { v.showZoneRows() }
	v.dig.TextStyle.Monospace = true
	copyDig := widget.NewButtonWithIcon("", theme.ContentCopyIcon(), func() { v.clip.SetContent(v.dig.Text) })
	digRow := container.NewBorder(nil, nil, widget.NewLabel("Ask this node:"), copyDig, v.dig)
	v.zoneCard = widget.NewCard("", "The zone", container.NewBorder(
		container.NewVBox(
			columns{0, 220, 120}.row(digRow, v.filter, v.typeFilter),
			zoneColumns.header("Name", "Type", "TTL", "Value"),
		), nil, nil, nil,
		container.NewStack(v.zoneList, container.NewPadded(v.noRecords)),
	))

	// Your records.
	v.ownList = widget.NewList(
		func() int { return len(v.own) },
		func() fyne.CanvasObject { return newOwnRow(v.remove) },
		func(i widget.ListItemID, o fyne.CanvasObject) { o.(*ownRow).set(v.own[i], v.served(v.own[i])) },
	)
	v.ownList.OnSelected = func(id widget.ListItemID) { v.ownList.Unselect(id) }
	v.noOwn.Importance = widget.LowImportance
	v.noOwn.Wrapping = fyne.TextWrapWord
	types := make([]string, len(ownTypes))
	for i, t := range ownTypes {
		types[i] = t.typ
	}
	v.recType = widget.NewSelect(types, func(string) { v.showValueHint() })
	v.recType.SetSelected("A")
	v.recName.SetPlaceHolder("www or @")
	v.recTTL.SetPlaceHolder("TTL: default")
	v.suffix.TextStyle.Monospace = true
	v.hint.Importance = widget.LowImportance
	v.hint.Truncation = fyne.TextTruncateEllipsis
	v.recMsg.Wrapping = fyne.TextWrapWord
	v.recMsg.Hide()
	v.recName.OnSubmitted = func(string) { v.submit() }
	v.recValue.OnSubmitted = func(string) { v.submit() }
	v.recTTL.OnSubmitted = func(string) { v.submit() }
	v.add = widget.NewButtonWithIcon("Add", theme.ContentAddIcon(), v.submit)
	v.add.Importance = widget.HighImportance
	v.ownCard = widget.NewCard("", "Your records", container.NewBorder(
		container.NewVBox(
			container.NewBorder(nil, nil, nil, container.NewHBox(v.suffix, container.NewGridWrap(fyne.NewSize(96, v.recType.MinSize().Height), v.recType)), v.recName),
			columns{0, 110, 90}.row(v.recValue, v.recTTL, v.add),
			v.hint,
			v.recMsg,
			ownColumns.header("Name", "Type", "Value", "TTL", ""),
		), nil, nil, nil,
		container.NewStack(v.ownList, container.NewPadded(v.noOwn)),
	))

	// Look up.
	v.qType.SetSelected("A")
	v.qName.OnSubmitted = func(string) { v.lookup() }
	v.qButton = widget.NewButtonWithIcon("Look up", theme.SearchIcon(), v.lookup)
	v.qButton.Importance = widget.HighImportance
	v.lookupMsg.Wrapping = fyne.TextWrapWord
	v.lookupMsg.Importance = widget.DangerImportance
	v.lookupMsg.Hide()
	intro := widget.NewLabel("Resolves a name through this node, as its DNS server would, and shows the path: the zone, the cache, or the servers asked.")
	intro.Wrapping = fyne.TextWrapWord
	intro.Importance = widget.LowImportance
	v.result.Add(intro)
	lookupCard := widget.NewCard("", "Look up", container.NewBorder(
		container.NewVBox(columns{0, 96, 124}.row(v.qName, v.qType, v.qButton), v.lookupMsg), nil, nil, nil,
		container.NewVScroll(v.result),
	))

	top := container.NewHSplit(v.ownCard, lookupCard)
	top.Offset = 0.5
	split := container.NewVSplit(top, v.zoneCard)
	split.Offset = 0.55
	v.content = split

	v.show(readZone(n.DNS()), n.DNSRecords(), selfName(n))
	_, events, cancel := n.Subscribe(0)
	go v.follow(events, cancel)
	return v
}

// follow rereads the zone and the user's records when a member changes
// (joins, leaves, changes its records), when asked, and every namesRefresh,
// until the window closes.
func (v *namesView) follow(events <-chan node.Event, cancel func()) {
	defer cancel()
	tick := time.NewTicker(namesRefresh)
	defer tick.Stop()
	for {
		select {
		case <-v.loop.ctx.Done():
			return
		case <-tick.C:
		case <-v.reload:
		case ev, ok := <-events:
			if !ok {
				return
			}
			if ev.Type != cdn.EventMember {
				continue
			}
			// One read covers a burst of changes.
			for len(events) > 0 {
				<-events
			}
		}
		z, own, self := readZone(v.node.DNS()), v.node.DNSRecords(), selfName(v.node)
		v.loop.do(func() { v.show(z, own, self) })
	}
}

// requestReload asks the refresh goroutine to read the zone now. Any
// goroutine.
func (v *namesView) requestReload() {
	select {
	case v.reload <- struct{}{}:
	default:
	}
}

// selfName is the node's label in the zone: the name the member table
// gives it (NAME-<id> when another member had the name first), or its
// configured name.
func selfName(n Node) string {
	for _, m := range n.Members() {
		if m.Self && m.DisplayName != "" {
			return strings.ToLower(m.DisplayName)
		}
	}
	return strings.ToLower(n.Status().Name)
}

// zoneSnapshot is the zone as the DNS service serves it at one time.
type zoneSnapshot struct {
	running bool // whether the node has a DNS service
	origin  string
	serial  uint32
	server  netip.AddrPort
	records []zoneRR
}

// zoneRR is one record of the zone; member is the label of the member it
// belongs to ("" for the zone's apex).
type zoneRR struct {
	name, typ, value, member string
	ttl                      uint32
}

// readZone takes a snapshot of the service's zone. Any goroutine.
func readZone(s *naming.Service) zoneSnapshot {
	if s == nil || s.Zone == nil {
		return zoneSnapshot{}
	}
	z := zoneSnapshot{running: true, origin: s.Zone.Origin(), serial: s.Zone.Serial(), server: s.Addr()}
	for _, rr := range s.Zone.Records() {
		r := rrOf(rr)
		r.member = memberOf(r.name, z.origin)
		z.records = append(z.records, r)
	}
	// The apex first, then by member, each member's own name before the
	// names under it.
	slices.SortStableFunc(z.records, func(a, b zoneRR) int {
		return cmp.Or(
			cmp.Compare(a.member, b.member),
			compareBool(a.name != a.member+"."+z.origin, b.name != b.member+"."+z.origin),
			cmp.Compare(a.name, b.name))
	})
	return z
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// rrOf is a DNS record as the tables show it: the value is the record's
// data in zone-file syntax.
func rrOf(rr dns.RR) zoneRR {
	h := rr.Header()
	return zoneRR{
		name:  h.Name,
		typ:   dns.TypeToString[h.Rrtype],
		ttl:   h.Ttl,
		value: strings.TrimPrefix(rr.String(), h.String()),
	}
}

// memberOf is the member a name of the zone belongs to: the label left of
// the zone's name, "" for the apex and names outside the zone.
func memberOf(name, origin string) string {
	rest, ok := strings.CutSuffix(strings.ToLower(name), "."+origin)
	if !ok || rest == "" {
		return ""
	}
	return rest[strings.LastIndexByte(rest, '.')+1:]
}

// show puts a new state of the zone and the user's records on the view.
// UI goroutine only.
func (v *namesView) show(z zoneSnapshot, own []node.DNSRecord, self string) {
	v.zone, v.own, v.self = z, own, self
	origin := v.origin()

	if z.running {
		v.showDig()
	} else {
		v.dig.SetText("")
	}
	types := []string{allTypes}
	for _, r := range z.records {
		if !slices.Contains(types, r.typ) {
			types = append(types, r.typ)
		}
	}
	slices.Sort(types[1:])
	if !slices.Equal(types, v.typeFilter.Options) {
		v.typeFilter.SetOptions(types)
		if !slices.Contains(types, v.typeFilter.Selected) {
			v.typeFilter.SetSelected(allTypes) // runs showZoneRows
		}
	}
	v.showZoneRows()

	v.suffix.SetText("." + self + "." + origin)
	v.qName.SetPlaceHolder(fmt.Sprintf("Name, e.g. www.%s.%s", self, strings.TrimSuffix(origin, ".")))
	sub := "Your records · under " + self + "." + origin
	if len(own) > 0 {
		sub = fmt.Sprintf("Your records · %s under %s.%s", plural(len(own), "record"), self, origin)
	}
	v.ownCard.SetSubTitle(sub)
	v.noOwn.SetText(fmt.Sprintf("No records of your own yet. Add one above: www A 192.0.2.10 makes www.%s.%s resolve. "+
		"Your records are signed by this node and spread to every member.", self, origin))
	v.noOwn.Hidden = len(own) > 0
	v.ownList.Refresh()
}

// origin is the zone's name, "shoal." until the zone is known.
func (v *namesView) origin() string {
	if v.zone.origin != "" {
		return v.zone.origin
	}
	return "shoal."
}

// showDig shows how to ask this node's DNS server with dig for the name
// last looked up, or the node's own name. UI goroutine only.
func (v *namesView) showDig() {
	if !v.zone.server.IsValid() {
		v.dig.SetText("the DNS server is not listening")
		return
	}
	host, port := v.zone.server.Addr(), v.zone.server.Port()
	if host.IsUnspecified() { // listening on every address, loopback among them
		host = netip.MustParseAddr("127.0.0.1")
		if v.zone.server.Addr().Is6() && !v.zone.server.Addr().Is4In6() {
			host = netip.IPv6Loopback()
		}
	}
	text := "dig @" + host.String()
	if port != 53 {
		text += " -p " + strconv.Itoa(int(port))
	}
	text += " " + cmp.Or(v.digName, v.self+"."+v.origin())
	if v.digType != "" && v.digType != "A" {
		text += " " + v.digType
	}
	v.dig.SetText(text)
}

// showZoneRows lists the zone's records that pass the filters. UI
// goroutine only.
func (v *namesView) showZoneRows() {
	text := strings.ToLower(strings.TrimSpace(v.filter.Text))
	typ := v.typeFilter.Selected
	v.shown = v.shown[:0:0]
	for _, r := range v.zone.records {
		if typ != "" && typ != allTypes && r.typ != typ {
			continue
		}
		if text != "" && !strings.Contains(strings.ToLower(r.name), text) && !strings.Contains(strings.ToLower(r.value), text) {
			continue
		}
		v.shown = append(v.shown, r)
	}
	switch {
	case !v.zone.running:
		v.noRecords.SetText("This node runs no DNS server.")
	case len(v.zone.records) == 0:
		v.noRecords.SetText("The zone is empty.")
	default:
		v.noRecords.SetText("No records match the filter.")
	}
	v.noRecords.Hidden = len(v.shown) > 0
	v.zoneCard.SetSubTitle(v.zoneSummary())
	v.zoneList.Refresh()
}

// zoneSummary is the zone card's subtitle: the zone, its serial, its
// members and records, and the DNS server's address. UI goroutine only.
func (v *namesView) zoneSummary() string {
	z := v.zone
	if !z.running {
		return "The zone"
	}
	members := map[string]bool{}
	for _, r := range z.records {
		if r.member != "" {
			members[r.member] = true
		}
	}
	records := plural(len(z.records), "record")
	if len(v.shown) != len(z.records) {
		records = fmt.Sprintf("%d of %s shown", len(v.shown), records)
	}
	sub := fmt.Sprintf("The zone %s · serial %d · %s · %s", z.origin, z.serial, plural(len(members), "member"), records)
	if z.server.IsValid() {
		sub += " · DNS server " + z.server.String() + ", UDP and TCP"
	}
	return sub
}

// absolute is a record name given relative to this node ("www", "@") as
// the zone has it ("www.alice.shoal.").
func (v *namesView) absolute(name string) string {
	origin := v.origin()
	own := v.self + "." + origin
	n := strings.ToLower(strings.TrimSpace(name))
	switch {
	case n == "" || n == "@":
		return own
	case strings.HasSuffix(n, "."):
		return n
	case n == strings.TrimSuffix(origin, ".") || strings.HasSuffix(n, "."+strings.TrimSuffix(origin, ".")):
		return n + "."
	}
	return n + "." + own
}

// served tells whether the zone has a record of r's name and type; one it
// lacks conflicts with another record or is no longer under this node's
// name.
func (v *namesView) served(r node.DNSRecord) bool {
	if !v.zone.running {
		return true
	}
	name, typ := v.absolute(r.Name), strings.ToUpper(r.Type)
	return slices.ContainsFunc(v.zone.records, func(z zoneRR) bool { return z.typ == typ && strings.EqualFold(z.name, name) })
}

// showValueHint shows what a value of the chosen type looks like.
func (v *namesView) showValueHint() {
	for _, t := range ownTypes {
		if t.typ == v.recType.Selected {
			v.recValue.SetPlaceHolder("Value, e.g. " + t.sample)
			v.hint.SetText(t.typ + ": " + t.hint)
		}
	}
}

// submit adds the form's record through the node, off the UI goroutine;
// the node checks it. On failure the form keeps what was typed.
func (v *namesView) submit() {
	rec, err := v.formRecord()
	if err != nil {
		v.showRecordMessage(widget.DangerImportance, "Not added: "+err.Error())
		return
	}
	v.add.Disable()
	v.showRecordMessage(widget.MediumImportance, "Adding…")
	go func() {
		err := v.node.SetDNSRecord(rec)
		v.loop.do(func() {
			v.add.Enable()
			if err != nil {
				v.showRecordMessage(widget.DangerImportance, "Not added: "+plainError(err))
				return
			}
			v.showRecordMessage(widget.SuccessImportance, fmt.Sprintf("Added %s %s %s. It reaches the other members with this node's record.",
				v.absolute(rec.Name), rec.Type, rec.Value))
			v.recName.SetText("")
			v.recValue.SetText("")
			v.recTTL.SetText("")
		})
		v.requestReload()
	}()
}

// formRecord reads the form. It checks only what it must turn into a
// number or quote; the node checks the rest.
func (v *namesView) formRecord() (node.DNSRecord, error) {
	rec := node.DNSRecord{
		Name:  strings.TrimSpace(v.recName.Text),
		Type:  v.recType.Selected,
		Value: strings.TrimSpace(v.recValue.Text),
	}
	if rec.Name == "" {
		rec.Name = "@"
	}
	if rec.Value == "" {
		return rec, errors.New("give the record's value")
	}
	if t := strings.TrimSpace(v.recTTL.Text); t != "" {
		ttl, err := strconv.ParseUint(t, 10, 32)
		if err != nil || ttl > 86400 {
			return rec, fmt.Errorf("the TTL %q is not a whole number of seconds up to 86400 (a day)", t)
		}
		rec.TTL = uint32(ttl)
	}
	// A TXT value is zone-file text, where spaces split strings: what was
	// typed is one string unless it is quoted already.
	if rec.Type == "TXT" && !strings.HasPrefix(rec.Value, `"`) {
		rec.Value = strconv.Quote(rec.Value)
	}
	return rec, nil
}

// showRecordMessage shows the form's result; success goes away after a
// while, errors stay until the next try. UI goroutine only.
func (v *namesView) showRecordMessage(importance widget.Importance, text string) {
	v.messages++
	v.recMsg.Importance = importance
	v.recMsg.SetText(text)
	v.recMsg.Show()
	if importance != widget.SuccessImportance {
		return
	}
	seq := v.messages
	time.AfterFunc(messageShown, func() {
		if v.loop.ctx.Err() != nil {
			return
		}
		v.loop.do(func() {
			if v.messages == seq {
				v.recMsg.Hide()
			}
		})
	})
}

// messageShown is how long a success message stays.
const messageShown = 8 * time.Second

// remove removes the user's records of r's name and type through the node.
// UI goroutine only.
func (v *namesView) remove(r node.DNSRecord) {
	go func() {
		err := v.node.RemoveDNSRecord(r.Name, r.Type)
		v.loop.do(func() {
			if err != nil {
				v.showRecordMessage(widget.DangerImportance, fmt.Sprintf("Not removed: %s", plainError(err)))
				return
			}
			v.showRecordMessage(widget.SuccessImportance, fmt.Sprintf("Removed %s %s.", v.absolute(r.Name), r.Type))
		})
		v.requestReload()
	}()
}

// plainError is the node's error without the Go package tags at its
// front: "node: bad record: naming: record name ..." reads "record name ...".
func plainError(err error) string {
	return errorTags.ReplaceAllString(err.Error(), "")
}

var errorTags = regexp.MustCompile(`^(?:(?:node|naming|dns): (?:bad record: |not found: )?)+`)

// lookup resolves the look-up form's name through the node, off the UI
// goroutine. UI goroutine only.
func (v *namesView) lookup() {
	name, typ := strings.TrimSpace(v.qName.Text), v.qType.Selected
	if name == "" {
		v.lookupMsg.SetText("Give a name to look up.")
		v.lookupMsg.Show()
		return
	}
	v.lookupMsg.Hide()
	v.lookups++
	seq := v.lookups
	v.qButton.Disable()
	v.qButton.SetText("Looking up…")
	go func() {
		start := time.Now()
		ans, err := v.node.DNSQuery(v.loop.ctx, name, typ)
		took := time.Since(start)
		v.loop.do(func() {
			if seq != v.lookups {
				return
			}
			v.qButton.Enable()
			v.qButton.SetText("Look up")
			if err != nil && ans.Msg == nil {
				v.lookupMsg.SetText("Not looked up: " + plainError(err))
				v.lookupMsg.Show()
				return
			}
			v.showAnswer(name, typ, ans, err, took)
		})
	}()
}

// showAnswer shows a resolution: its rcode and source, the records, the
// path and the dig-like text. UI goroutine only.
func (v *namesView) showAnswer(name, typ string, ans naming.Answer, problem error, took time.Duration) {
	fqdn := dns.Fqdn(name)
	rcode := "no answer"
	if ans.Msg != nil {
		rcode = dns.RcodeToString[ans.Msg.Rcode]
	}
	rc := widget.NewLabelWithStyle(rcode, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	rc.Importance = rcodeImportance(ans.Msg)
	q := widget.NewLabelWithStyle(fqdn+" "+typ, fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
	tookLabel := widget.NewLabel("in " + formatRTT(took))
	tookLabel.Importance = widget.LowImportance
	parts := []fyne.CanvasObject{
		container.NewBorder(nil, nil, container.NewHBox(rc, q), tookLabel),
	}
	if problem != nil {
		l := widget.NewLabel(plainError(problem))
		l.Importance = widget.WarningImportance
		l.Wrapping = fyne.TextWrapWord
		parts = append(parts, l)
	}

	var answer, authority []dns.RR
	if ans.Msg != nil {
		answer, authority = ans.Msg.Answer, ans.Msg.Ns
	}
	if len(answer) > 0 {
		parts = append(parts, subTitle(fmt.Sprintf("Answer (%d)", len(answer))))
		for _, rr := range answer {
			parts = append(parts, answerRow(rrOf(rr)))
		}
	} else {
		parts = append(parts, subTitle("Answer"))
		text := "No records came back."
		switch rcode {
		case "NXDOMAIN":
			text = "No such name."
		case "NOERROR":
			text = "The name exists but has no " + typ + " records."
		}
		none := widget.NewLabel(text)
		none.Importance = widget.LowImportance
		parts = append(parts, none)
		if len(authority) > 0 {
			parts = append(parts, subTitle("Authority"))
			for _, rr := range authority {
				parts = append(parts, answerRow(rrOf(rr)))
			}
		}
	}

	path := widget.NewLabel("Path · " + sourceText(ans.Source))
	path.TextStyle.Bold = true
	path.Truncation = fyne.TextTruncateEllipsis
	parts = append(parts, path)
	for i, s := range ans.Steps {
		parts = append(parts, v.stepRow(i, s, fqdn+" "+typ))
	}
	if len(ans.Steps) == 0 {
		none := widget.NewLabel("The node recorded no steps.")
		none.Importance = widget.LowImportance
		parts = append(parts, none)
	}

	text := widget.NewLabelWithStyle(strings.TrimRight(naming.FormatAnswer(ans), "\n"), fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
	text.Selectable = true
	// Lines as dig writes them, scrolled sideways rather than wrapped.
	parts = append(parts, widget.NewAccordion(widget.NewAccordionItem("dig-style output", container.NewHScroll(text))))

	v.result.Objects = parts
	v.result.Refresh()
	v.digName, v.digType = fqdn, typ
	if v.zone.running {
		v.showDig()
	}
}

func subTitle(text string) *widget.Label {
	return widget.NewLabelWithStyle(text, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
}

func rcodeImportance(m *dns.Msg) widget.Importance {
	switch {
	case m == nil:
		return widget.DangerImportance
	case m.Rcode == dns.RcodeSuccess:
		return widget.SuccessImportance
	case m.Rcode == dns.RcodeNameError:
		return widget.WarningImportance
	}
	return widget.DangerImportance
}

// sourceText says where an answer came from.
func sourceText(source string) string {
	switch source {
	case naming.StepZone:
		return "answered from the group's zone, authoritatively"
	case naming.StepCache:
		return "answered from the node's cache"
	case naming.StepForward:
		return "forwarded to an upstream resolver"
	case naming.StepIterate:
		return "resolved iteratively from the root"
	case naming.StepRefused:
		return "recursion refused"
	case naming.StepServer:
		return "asked a server directly"
	case "":
		return "no path recorded"
	}
	return source
}

// stepKinds name the kinds of step.
var stepKinds = map[string]string{
	naming.StepZone:    "Zone",
	naming.StepCache:   "Cache",
	naming.StepForward: "Forwarded",
	naming.StepIterate: "Iterative",
	naming.StepRefused: "Refused",
	naming.StepServer:  "Asked",
}

// stepText says what happened in a step.
func (v *namesView) stepText(s naming.Step) string {
	switch s.Kind {
	case naming.StepZone:
		return "Answered from the zone " + cmp.Or(s.Zone, v.origin()) + ", authoritatively"
	case naming.StepCache:
		return "Cache hit"
	case naming.StepForward:
		return "Forwarded to " + s.Server
	case naming.StepIterate:
		text := "Asked " + s.Server
		if s.Zone != "" {
			text += " for the zone " + s.Zone
		}
		return text
	case naming.StepRefused:
		return "Recursion refused to this client"
	case naming.StepServer:
		return "Asked " + s.Server + " directly"
	}
	return strings.TrimSpace(s.Kind + " " + s.Server)
}

// stepRow is one step of a resolution's path; its question is left out
// when it is the one looked up.
func (v *namesView) stepRow(i int, s naming.Step, asked string) fyne.CanvasObject {
	no := widget.NewLabel(strconv.Itoa(i + 1))
	no.Importance = widget.LowImportance
	kind := widget.NewLabelWithStyle(cmp.Or(stepKinds[s.Kind], s.Kind), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	kind.Importance = widget.SuccessImportance
	what := widget.NewLabel(v.stepText(s))
	what.Wrapping = fyne.TextWrapWord
	outcome := cmp.Or(s.Result, "–")
	if s.Question != "" && !strings.EqualFold(s.Question, asked) {
		outcome = s.Question + ": " + outcome
	}
	if s.RTT > 0 {
		outcome += " · " + formatRTT(s.RTT)
	}
	result := widget.NewLabel(outcome)
	result.Wrapping = fyne.TextWrapWord
	result.Importance = widget.LowImportance
	switch {
	case s.Rcode == dns.RcodeNameError:
		kind.Importance = widget.WarningImportance
		result.Importance = widget.WarningImportance
	case s.Rcode != dns.RcodeSuccess: // an error, or no response (-1)
		kind.Importance = widget.DangerImportance
		result.Importance = widget.DangerImportance
	}
	body := container.New(stepLayout{}, what, result)
	return stepColumns.row(no, kind, body)
}

// stepLayout stacks a step's text and result with no gap between them.
type stepLayout struct{}

func (stepLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	y := float32(0)
	for _, o := range objs {
		o.Resize(fyne.NewSize(size.Width, o.MinSize().Height))
		h := o.MinSize().Height
		o.Move(fyne.NewPos(0, y))
		y += h - 2*theme.Padding()
	}
}

func (stepLayout) MinSize(objs []fyne.CanvasObject) fyne.Size {
	var w, h float32
	for _, o := range objs {
		m := o.MinSize()
		w = max(w, m.Width)
		h += m.Height - 2*theme.Padding()
	}
	return fyne.NewSize(w, h+2*theme.Padding())
}

// answerRow is one record of an answer.
func answerRow(r zoneRR) fyne.CanvasObject {
	name, ttl, typ, value := cellLabel(), cellLabel(), cellLabel(), cellLabel()
	name.TextStyle.Monospace = true
	value.TextStyle.Monospace = true
	typ.TextStyle.Bold = true
	name.SetText(r.name)
	ttl.SetText(strconv.FormatUint(uint64(r.ttl), 10))
	typ.SetText(r.typ)
	value.SetText(r.value)
	return answerColumns.row(name, ttl, typ, value)
}

// zoneRow is one record of the zone.
type zoneRow struct {
	widget.BaseWidget
	name, typ, ttl, value *widget.Label
	content               fyne.CanvasObject
}

func newZoneRow() *zoneRow {
	r := &zoneRow{name: cellLabel(), typ: cellLabel(), ttl: cellLabel(), value: cellLabel()}
	r.name.TextStyle.Monospace = true
	r.value.TextStyle.Monospace = true
	r.typ.TextStyle.Bold = true
	r.content = zoneColumns.row(r.name, r.typ, r.ttl, r.value)
	r.ExtendBaseWidget(r)
	return r
}

func (r *zoneRow) CreateRenderer() fyne.WidgetRenderer { return widget.NewSimpleRenderer(r.content) }

// set shows rr. UI goroutine only.
func (r *zoneRow) set(rr zoneRR) {
	r.name.SetText(rr.name)
	r.typ.SetText(rr.typ)
	r.ttl.SetText(strconv.FormatUint(uint64(rr.ttl), 10))
	r.value.SetText(rr.value)
}

// ownRow is one of the user's records with its Remove button.
type ownRow struct {
	widget.BaseWidget
	name, typ, value, ttl *widget.Label
	remove                *widget.Button
	rec                   node.DNSRecord
	content               fyne.CanvasObject
}

func newOwnRow(remove func(node.DNSRecord)) *ownRow {
	r := &ownRow{name: cellLabel(), typ: cellLabel(), value: cellLabel(), ttl: cellLabel()}
	r.name.TextStyle.Monospace = true
	r.value.TextStyle.Monospace = true
	r.typ.TextStyle.Bold = true
	r.remove = widget.NewButton("Remove", func() { remove(r.rec) })
	r.remove.Importance = widget.DangerImportance
	r.content = ownColumns.row(r.name, r.typ, r.value, r.ttl, r.remove)
	r.ExtendBaseWidget(r)
	return r
}

func (r *ownRow) CreateRenderer() fyne.WidgetRenderer { return widget.NewSimpleRenderer(r.content) }

// set shows rec; a record the zone does not serve is marked. UI goroutine
// only.
func (r *ownRow) set(rec node.DNSRecord, served bool) {
	r.rec = rec
	name := cmp.Or(rec.Name, "@")
	r.name.Importance = widget.MediumImportance
	if !served {
		name += " (not in the zone)"
		r.name.Importance = widget.WarningImportance
	}
	r.name.SetText(name)
	r.typ.SetText(rec.Type)
	r.value.SetText(rec.Value)
	if rec.TTL == 0 {
		r.ttl.SetText("default")
	} else {
		r.ttl.SetText(strconv.FormatUint(uint64(rec.TTL), 10))
	}
}
