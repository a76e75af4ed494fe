package app

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
	"github.com/miekg/dns"

	"github.com/shoal-p2p/shoal/cdn"
	"github.com/shoal-p2p/shoal/cdn/membership"
	"github.com/shoal-p2p/shoal/naming"
	"github.com/shoal-p2p/shoal/node"
)

// fakeNames is the fake node's DNS: a real zone built from the fake's
// members and own records, and look-ups answered with a set answer. The
// fields are guarded by the fake node's mutex.
type fakeNames struct {
	once    sync.Once
	svc     *naming.Service
	records []node.DNSRecord
	setErr  error
	answer  naming.Answer
	// queryErr is returned with answer; answer without Msg and queryErr
	// is a failed look-up.
	queryErr error
}

// DNS builds the zone on first use; it does not listen unless a test
// starts it.
func (f *fakeNode) DNS() *naming.Service {
	f.names.once.Do(func() {
		svc, err := naming.New(naming.Config{Listen: "127.0.0.1:0", ResolvConf: "/nonexistent"}, fakeZoneMembers{f}, nil)
		if err != nil {
			panic(err)
		}
		f.mu.Lock()
		f.names.svc = svc
		f.mu.Unlock()
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.names.svc
}

// refreshZone rebuilds the zone, as the node does when a record changes.
func (f *fakeNode) refreshZone() {
	f.mu.Lock()
	svc := f.names.svc
	f.mu.Unlock()
	if svc != nil {
		svc.Zone.Refresh()
	}
}

func (f *fakeNode) DNSRecords() []node.DNSRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.names.records)
}

func (f *fakeNode) SetDNSRecord(r node.DNSRecord) error {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf("dns set %s %s %s %d", r.Name, r.Type, r.Value, r.TTL))
	if err := f.names.setErr; err != nil {
		f.mu.Unlock()
		return err
	}
	f.names.records = append(f.names.records, r)
	f.mu.Unlock()
	f.refreshZone()
	return nil
}

func (f *fakeNode) RemoveDNSRecord(name, typ string) error {
	f.mu.Lock()
	f.calls = append(f.calls, "dns rm "+name+" "+typ)
	n := len(f.names.records)
	f.names.records = slices.DeleteFunc(f.names.records, func(r node.DNSRecord) bool { return r.Name == name && r.Type == typ })
	removed := len(f.names.records) < n
	f.mu.Unlock()
	if !removed {
		return fmt.Errorf("node: not found: no record %s %s", name, typ)
	}
	f.refreshZone()
	return nil
}

func (f *fakeNode) DNSQuery(ctx context.Context, name, qtype string) (naming.Answer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "dns query "+name+" "+qtype)
	if ctx.Err() != nil {
		return naming.Answer{}, ctx.Err()
	}
	return f.names.answer, f.names.queryErr
}

// fakeZoneMembers gives the zone the fake's members that are not down,
// this node with its own records.
type fakeZoneMembers struct{ f *fakeNode }

func (z fakeZoneMembers) Members() []naming.Member {
	z.f.mu.Lock()
	defer z.f.mu.Unlock()
	var out []naming.Member
	for _, m := range z.f.members {
		if m.State == membership.Down {
			continue
		}
		nm := naming.Member{Name: m.DisplayName, ID: m.ID(), Addrs: m.Record.Addresses, Ports: m.Record.Ports, RTT: m.RTT}
		if m.Self {
			for _, r := range z.f.names.records {
				nm.Records = append(nm.Records, naming.Record{Name: r.Name, Type: r.Type, Value: r.Value, TTL: r.TTL})
			}
		}
		out = append(out, nm)
	}
	return out
}

// withNames gives n, with the members of withNetwork, a record of its own.
func withNames(n *fakeNode) *fakeNode {
	withNetwork(n)
	n.names.records = []node.DNSRecord{{Name: "www", Type: "A", Value: "192.0.2.5"}}
	return n
}

func openNames(t *testing.T, n *fakeNode) (*namesView, fyne.Window, uiQueue) {
	t.Helper()
	test.NewTempApp(t)
	q := newUIQueue()
	v := newNamesView(n, loop{do: q.do, ctx: t.Context()}, test.NewClipboard())
	w := test.NewWindow(v.content)
	w.Resize(fyne.NewSize(1000, 1600))
	t.Cleanup(w.Close)
	return v, w, q
}

// zoneRowsShown are the zone's rows drawn, as "NAME TYPE TTL VALUE".
func zoneRowsShown(v *namesView) []string {
	var rows []string
	walkShown(v.zoneList, func(o fyne.CanvasObject) {
		if r, ok := o.(*zoneRow); ok {
			rows = append(rows, strings.Join([]string{r.name.Text, r.typ.Text, r.ttl.Text, r.value.Text}, " "))
		}
	})
	return rows
}

func ownRowsShown(v *namesView) []*ownRow {
	var rows []*ownRow
	walkShown(v.ownList, func(o fyne.CanvasObject) {
		if r, ok := o.(*ownRow); ok {
			rows = append(rows, r)
		}
	})
	return rows
}

func TestNamesListsTheZoneAndFiltersIt(t *testing.T) {
	n := withNames(newFakeNode())
	v, _, _ := openNames(t, n)
	rows := zoneRowsShown(v)
	for _, want := range []string{
		"alpha.shoal. A 60 10.0.0.1",
		"beta.shoal. A 60 10.0.0.2",
		"www.alpha.shoal. A 60 192.0.2.5",
		"_shoal-peer._tcp.beta.shoal. SRV 60 0 0 7481 beta.shoal.",
		"shoal. NS 60 alpha.shoal.",
	} {
		if !slices.Contains(rows, want) {
			t.Errorf("zone row %q not shown; shown: %q", want, rows)
		}
	}
	if slices.ContainsFunc(rows, func(r string) bool { return strings.Contains(r, "gamma") }) {
		t.Error("the member that is down is in the zone")
	}
	if !strings.HasPrefix(rows[0], "shoal. SOA") {
		t.Errorf("first row %q, want the SOA", rows[0])
	}
	// The apex, then alpha's records, its own name first, then beta's.
	alpha := slices.Index(rows, "alpha.shoal. A 60 10.0.0.1")
	if www, beta := slices.Index(rows, "www.alpha.shoal. A 60 192.0.2.5"), slices.Index(rows, "beta.shoal. A 60 10.0.0.2"); !(alpha < www && www < beta) {
		t.Errorf("rows not grouped by member: %q", rows)
	}
	zone := n.DNS().Zone
	all := len(zone.Records())
	summary := fmt.Sprintf("The zone shoal. · serial %d · 2 members · %d records", zone.Serial(), all)
	if !showsText(v.content, summary) {
		t.Errorf("no %q; shown: %q", summary, shownTexts(v.content))
	}
	if want := []string{allTypes, "A", "MX", "NS", "SOA", "SRV", "TXT"}; !slices.Equal(v.typeFilter.Options, want) {
		t.Errorf("type filter offers %q, want %q", v.typeFilter.Options, want)
	}

	test.Type(v.filter, "www")
	if rows := zoneRowsShown(v); !slices.Equal(rows, []string{"www.alpha.shoal. A 60 192.0.2.5"}) {
		t.Errorf("filtered by www: %q", rows)
	}
	if !showsText(v.content, fmt.Sprintf("1 of %d records shown", all)) {
		t.Errorf("no count of the filtered records; shown: %q", shownTexts(v.content))
	}
	v.filter.SetText("10.0.0.2")
	if rows := zoneRowsShown(v); !slices.Equal(rows, []string{"beta.shoal. A 60 10.0.0.2"}) {
		t.Errorf("filtered by value 10.0.0.2: %q", rows)
	}
	v.filter.SetText("")
	v.typeFilter.SetSelected("TXT")
	rows = zoneRowsShown(v)
	if len(rows) != 2 || !strings.HasPrefix(rows[0], "alpha.shoal. TXT") || !strings.HasPrefix(rows[1], "beta.shoal. TXT") {
		t.Errorf("filtered by TXT: %q", rows)
	}
	v.filter.SetText("nothing-like-it")
	if !showsText(v.content, "No records match the filter.") {
		t.Errorf("no word on an empty result; shown: %q", shownTexts(v.content))
	}
	v.filter.SetText("")
	v.typeFilter.SetSelected(allTypes)
	if rows := zoneRowsShown(v); len(rows) < 12 {
		t.Errorf("%d rows after clearing the filters", len(rows))
	}
}

func TestNamesShowsTheServerAndADigLine(t *testing.T) {
	n := withNames(newFakeNode())
	svc := n.DNS()
	if err := svc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	v, _, q := openNames(t, n)
	addr := svc.Addr()
	if !showsText(v.content, "DNS server "+addr.String()+", UDP and TCP") {
		t.Errorf("no server address; shown: %q", shownTexts(v.content))
	}
	if want := fmt.Sprintf("dig @127.0.0.1 -p %d alpha.shoal.", addr.Port()); v.dig.Text != want {
		t.Errorf("dig line %q, want %q", v.dig.Text, want)
	}

	// After a look-up, the line asks for what was looked up.
	n.names.answer = naming.Answer{Msg: answerMsg(t, "beta.shoal", dns.TypeMX, dns.RcodeSuccess, "beta.shoal. 60 IN MX 10 beta.shoal.")}
	test.Type(v.qName, "beta.shoal")
	v.qType.SetSelected("MX")
	test.Tap(v.qButton)
	want := fmt.Sprintf("dig @127.0.0.1 -p %d beta.shoal. MX", addr.Port())
	q.waitFor(t, "the dig line of the look-up", func() bool { return v.dig.Text == want })
}

func TestNamesFollowsMemberEvents(t *testing.T) {
	n := withNames(newFakeNode())
	v, _, q := openNames(t, n)
	n.mu.Lock()
	n.members = append(n.members, membership.Member{
		Record:      membership.Record{Name: "delta", ID: "k51deltadelta", Addresses: []netip.Addr{netip.MustParseAddr("10.0.0.4")}},
		DisplayName: "delta", State: membership.Alive,
	})
	m := n.members[3]
	n.mu.Unlock()
	n.refreshZone()
	n.send(node.Event{Type: cdn.EventMember, Data: m})
	q.waitFor(t, "delta in the zone", func() bool { return slices.Contains(zoneRowsShown(v), "delta.shoal. A 60 10.0.0.4") })
	if !showsText(v.content, "3 members") {
		t.Errorf("member count not updated; shown: %q", shownTexts(v.content))
	}
}

func TestNamesListsOwnRecordsAndRemovesOne(t *testing.T) {
	n := withNames(newFakeNode())
	n.names.records = append(n.names.records, node.DNSRecord{Name: "@", Type: "TXT", Value: `"hello"`, TTL: 300})
	v, _, q := openNames(t, n)
	rows := ownRowsShown(v)
	if len(rows) != 2 {
		t.Fatalf("%d own rows shown, want 2", len(rows))
	}
	got := []string{rows[0].name.Text, rows[0].typ.Text, rows[0].value.Text, rows[0].ttl.Text,
		rows[1].name.Text, rows[1].typ.Text, rows[1].value.Text, rows[1].ttl.Text}
	if want := []string{"www", "A", "192.0.2.5", "default", "@", "TXT", `"hello"`, "300"}; !slices.Equal(got, want) {
		t.Errorf("own rows %q, want %q", got, want)
	}
	if !showsText(v.content, "Your records · 2 records under alpha.shoal.") {
		t.Errorf("no count of own records; shown: %q", shownTexts(v.content))
	}

	test.Tap(rows[0].remove)
	q.waitFor(t, "www removed", func() bool { return n.called("dns rm www A") && len(ownRowsShown(v)) == 1 })
	q.waitFor(t, "www gone from the zone", func() bool {
		return !slices.Contains(zoneRowsShown(v), "www.alpha.shoal. A 60 192.0.2.5")
	})
	if !showsText(v.content, "Removed www.alpha.shoal. A.") {
		t.Errorf("no word of the removal; shown: %q", shownTexts(v.content))
	}

	// A record that is gone already: the node's error is shown.
	rows = ownRowsShown(v)
	n.mu.Lock()
	n.names.records = nil
	n.mu.Unlock()
	test.Tap(rows[0].remove)
	q.waitFor(t, "the node's error", func() bool { return showsText(v.content, "Not removed: no record @ TXT") })
}

func TestNamesAddsARecord(t *testing.T) {
	n := withNetwork(newFakeNode())
	v, _, q := openNames(t, n)
	if !showsText(v.content, "No records of your own yet.") {
		t.Errorf("no word on having no records; shown: %q", shownTexts(v.content))
	}
	if !showsText(v.content, ".alpha.shoal.") {
		t.Errorf("no suffix of the record name; shown: %q", shownTexts(v.content))
	}
	test.Type(v.recName, "www")
	v.recType.SetSelected("A")
	test.Type(v.recValue, "192.0.2.5")
	test.Type(v.recTTL, "300")
	test.Tap(v.add)
	q.waitFor(t, "the record added", func() bool {
		return n.called("dns set www A 192.0.2.5 300") && len(ownRowsShown(v)) == 1 &&
			slices.Contains(zoneRowsShown(v), "www.alpha.shoal. A 300 192.0.2.5")
	})
	if v.recName.Text != "" || v.recValue.Text != "" || v.recTTL.Text != "" {
		t.Errorf("form not cleared after adding: %q %q %q", v.recName.Text, v.recValue.Text, v.recTTL.Text)
	}
	if !showsText(v.content, "Added www.alpha.shoal. A 192.0.2.5.") {
		t.Errorf("no word of the record added; shown: %q", shownTexts(v.content))
	}

	// TXT: what is typed is one string; no name is the node's own name.
	v.recType.SetSelected("TXT")
	test.Type(v.recValue, `v=spf1 -all`)
	test.Tap(v.add)
	q.waitFor(t, "the TXT record added", func() bool { return n.called(`dns set @ TXT "v=spf1 -all" 0`) })
}

func TestNamesShowsTheNodesErrorAndKeepsTheForm(t *testing.T) {
	n := withNames(newFakeNode())
	n.names.setErr = errors.New("node: bad record: naming: record name x.beta.shoal. is outside the member's subdomain alpha.shoal.")
	v, _, q := openNames(t, n)
	test.Type(v.recName, "x.beta.shoal")
	v.recType.SetSelected("CNAME")
	test.Type(v.recValue, "www")
	test.Tap(v.add)
	want := "Not added: record name x.beta.shoal. is outside the member's subdomain alpha.shoal."
	q.waitFor(t, "the node's error", func() bool { return showsText(v.content, want) })
	if !n.called("dns set x.beta.shoal CNAME www 0") {
		t.Errorf("calls %q", n.recorded())
	}
	if v.recMsg.Importance != widget.DangerImportance {
		t.Error("error not in the danger colour")
	}
	if v.recName.Text != "x.beta.shoal" || v.recValue.Text != "www" || v.recType.Selected != "CNAME" {
		t.Errorf("form changed after a failure: %q %q %q", v.recName.Text, v.recType.Selected, v.recValue.Text)
	}
	if rows := ownRowsShown(v); len(rows) != 1 || rows[0].name.Text != "www" {
		t.Error("own records changed after a failure")
	}

	// What the form itself can tell is wrong never reaches the node.
	calls := len(n.recorded())
	v.recTTL.SetText("soon")
	test.Tap(v.add)
	if !showsText(v.content, `Not added: the TTL "soon" is not a whole number`) {
		t.Errorf("bad TTL not reported; shown: %q", shownTexts(v.content))
	}
	v.recTTL.SetText("")
	v.recValue.SetText("  ")
	test.Tap(v.add)
	if !showsText(v.content, "Not added: give the record's value") {
		t.Errorf("empty value not reported; shown: %q", shownTexts(v.content))
	}
	if len(n.recorded()) != calls {
		t.Errorf("the form called the node: %q", n.recorded()[calls:])
	}
}

// labelTexts are the texts of the labels shown in o, whole however they
// are wrapped or shortened.
func labelTexts(o fyne.CanvasObject) []string {
	var texts []string
	walkShown(o, func(o fyne.CanvasObject) {
		switch o := o.(type) {
		case *widget.Label:
			texts = append(texts, o.Text)
		case *widget.Accordion:
			for _, it := range o.Items {
				texts = append(texts, it.Title)
			}
		}
	})
	return texts
}

// answerMsg is a response for name with rrs as its answer.
func answerMsg(t *testing.T, name string, qtype uint16, rcode int, rrs ...string) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.Response, m.Authoritative, m.Rcode = true, true, rcode
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		m.Answer = append(m.Answer, rr)
	}
	return m
}

func TestNamesLooksUpAName(t *testing.T) {
	n := withNames(newFakeNode())
	n.names.answer = naming.Answer{
		Msg:    answerMsg(t, "beta.shoal", dns.TypeA, dns.RcodeSuccess, "beta.shoal. 60 IN A 10.0.0.2"),
		Source: naming.StepZone,
		Steps: []naming.Step{
			{Kind: naming.StepCache, Question: "shoal. NS", Result: "NOERROR, 2 answers, from cache"},
			{Kind: naming.StepIterate, Server: "127.0.0.1:5301", Zone: "shoal.", Question: "beta.shoal. A", Result: "timeout", Rcode: -1, RTT: 2 * time.Second},
			{Kind: naming.StepIterate, Server: "127.0.0.1:5300", Zone: "shoal.", Question: "beta.shoal. A", Result: "NOERROR, 1 answers", RTT: 1250 * time.Microsecond},
			{Kind: naming.StepZone, Zone: "shoal.", Question: "beta.shoal. A", Result: "NOERROR, 1 answers, authoritative"},
		},
	}
	v, _, q := openNames(t, n)
	test.Type(v.qName, "beta.shoal")
	v.qType.SetSelected("A")
	test.Tap(v.qButton)
	q.waitFor(t, "the answer", func() bool { return showsText(v.result, "NOERROR") })
	if !n.called("dns query beta.shoal A") {
		t.Errorf("calls %q", n.recorded())
	}
	for _, want := range []string{
		"beta.shoal. A", "Path · answered from the group's zone, authoritatively",
		"Answer (1)", "beta.shoal.", "10.0.0.2",
		"Cache", "Cache hit", "shoal. NS: NOERROR, 2 answers, from cache", "timeout · 2s",
		"Iterative", "Asked 127.0.0.1:5300 for the zone shoal.", "NOERROR, 1 answers · 1.25 ms",
		"Zone", "Answered from the zone shoal., authoritatively", "NOERROR, 1 answers, authoritative",
		"dig-style output",
	} {
		if !slices.Contains(labelTexts(v.result), want) {
			t.Errorf("%q not shown; shown: %q", want, labelTexts(v.result))
		}
	}
	var timeout *widget.Label
	walkShown(v.result, func(o fyne.CanvasObject) {
		if l, ok := o.(*widget.Label); ok && l.Text == "timeout · 2s" {
			timeout = l
		}
	})
	if timeout == nil || timeout.Importance != widget.DangerImportance {
		t.Error("a step without response not in the danger colour")
	}
	var acc *widget.Accordion
	walkShown(v.result, func(o fyne.CanvasObject) {
		if a, ok := o.(*widget.Accordion); ok {
			acc = a
		}
	})
	if acc == nil {
		t.Fatal("no dig-style output")
	}
	if text := acc.Items[0].Detail.(*container.Scroll).Content.(*widget.Label).Text; !strings.Contains(text, ";; ANSWER SECTION:\nbeta.shoal.\t60\tIN\tA\t10.0.0.2") ||
		!strings.Contains(text, ";; 3. iterate 127.0.0.1:5300 (zone shoal.)") {
		t.Errorf("dig-style output:\n%s", text)
	}
	if v.qButton.Disabled() {
		t.Error("Look up still disabled")
	}
}

func TestNamesLookUpOfAMissingNameAndAFailure(t *testing.T) {
	n := withNames(newFakeNode())
	msg := answerMsg(t, "nobody.shoal", dns.TypeA, dns.RcodeNameError)
	soa, _ := dns.NewRR("shoal. 30 IN SOA alpha.shoal. hostmaster.shoal. 1 3600 600 86400 30")
	msg.Ns = append(msg.Ns, soa)
	n.names.answer = naming.Answer{Msg: msg, Source: naming.StepZone,
		Steps: []naming.Step{{Kind: naming.StepZone, Zone: "shoal.", Question: "nobody.shoal. A", Result: "NXDOMAIN", Rcode: dns.RcodeNameError}}}
	v, _, q := openNames(t, n)
	test.Type(v.qName, "nobody.shoal")
	test.Tap(v.qButton)
	q.waitFor(t, "NXDOMAIN", func() bool { return showsText(v.result, "NXDOMAIN") })
	for _, want := range []string{"No such name.", "Authority", "alpha.shoal. hostmaster.shoal. 1 3600 600 86400 30"} {
		if !slices.Contains(labelTexts(v.result), want) {
			t.Errorf("%q not shown; shown: %q", want, labelTexts(v.result))
		}
	}

	n.mu.Lock()
	n.names.answer, n.names.queryErr = naming.Answer{}, errors.New(`node: bad record: "a..b" is not a domain name`)
	n.mu.Unlock()
	v.qName.SetText("a..b")
	test.Tap(v.qButton)
	q.waitFor(t, "the node's error", func() bool { return showsText(v.content, `Not looked up: "a..b" is not a domain name`) })

	v.qName.SetText("")
	test.Tap(v.qButton)
	if !showsText(v.content, "Give a name to look up.") {
		t.Errorf("empty name not reported; shown: %q", shownTexts(v.content))
	}
}
