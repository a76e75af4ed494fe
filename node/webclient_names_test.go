package node

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestWebClientNames uses the Names area of the web client in headless
// Chromium against two real nodes on loopback, as a person would: read
// both members in the zone, filter it, add a record of their own and see
// it reach the other node, get the node's error for a name in another
// node's subdomain, see a record added on the other node arrive live, look
// a name up and read its path, remove the record. Look-ups stay inside the
// zone: the nodes' upstreams lead nowhere, and no real resolver is asked.
// With SHOAL_SCREENSHOTS=DIR it writes webclient-names.png (the first
// node's) to DIR.
func TestWebClientNames(t *testing.T) {
	requireChromium(t)
	a := startMember(t, "alpha", "127.0.0.2")
	b := startMember(t, "beta", "127.0.0.3", a.CDN().PeerAddr())
	waitFor(t, "the two nodes to see each other", func() bool {
		return aliveMembers(a) == 2 && aliveMembers(b) == 2
	})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	br := startChromium(ctx, t)
	p := br.newPage(ctx, t)

	p.navigate(a.LoginURL())
	p.waitText("#node-name", "alpha")
	p.eval(`location.hash = '#/names'`)

	// The zone: both members' A records, the serial, and how to ask with dig.
	zoneRow := func(name, typ string) string {
		return fmt.Sprintf(`#zone-records tr[data-name=%q][data-type=%q]`, name, typ)
	}
	p.waitFor("both members' A records in the zone", fmt.Sprintf(
		`document.querySelector(%q)?.textContent.includes('127.0.0.2') &&
		 document.querySelector(%q)?.textContent.includes('127.0.0.3')`,
		zoneRow("alpha.shoal.", "A"), zoneRow("beta.shoal.", "A")))
	p.waitText("#dns-zone", "shoal.")
	p.waitText("#dns-server", a.DNS().Addr().String())
	p.waitText("#dig-example", fmt.Sprintf("dig @127.0.0.2 -p %d alpha.shoal.", a.DNS().Addr().Port()))
	waitUntil(t, "the zone's serial", func() bool {
		return p.evalString(`document.querySelector('#dns-serial').textContent`) == fmt.Sprint(a.DNS().Zone.Serial())
	})
	p.waitFor("a group per member", `!!document.querySelector('#zone-records tr.group-row[data-member="alpha"]') &&
		!!document.querySelector('#zone-records tr.group-row[data-member="beta"]') &&
		!!document.querySelector('#zone-records tr.group-row[data-member="@"]')`)

	// Filters: by member, then by type too.
	selectValue := func(sel, value string) {
		p.eval(fmt.Sprintf(`(() => { const s = document.querySelector(%q); s.value = %q;
			s.dispatchEvent(new Event('change', {bubbles: true})); })()`, sel, value))
	}
	shownRecords := `[...document.querySelectorAll('#zone-records tbody tr[data-type]')]`
	selectValue("#zone-member", "beta")
	p.waitFor("only beta's records", shownRecords+`.length > 3 && `+shownRecords+`.every((r) => r.dataset.member === 'beta')`)
	selectValue("#zone-type", "A")
	p.waitFor("only beta's A record", fmt.Sprintf(`%s.length === 1 && !!document.querySelector(%q)`, shownRecords, zoneRow("beta.shoal.", "A")))
	selectValue("#zone-member", "")
	selectValue("#zone-type", "")
	p.waitFor("every record again", fmt.Sprintf(`%s.length === %d`, shownRecords, len(a.DNS().Zone.Records())))

	// Add a record of our own: listed, in this zone, and in beta's.
	ownRow := `#own-records tr[data-name="www"][data-type="A"]`
	p.fill("#record-name", "www")
	selectValue("#record-type", "A")
	p.fill("#record-value", "192.0.2.44")
	p.submit("#record-form")
	p.waitFor("the record under your records", fmt.Sprintf(`(() => { const tr = document.querySelector(%q);
		return tr && tr.textContent.includes('192.0.2.44') && tr.textContent.includes('www.alpha.shoal.') &&
		  !tr.textContent.includes('not in the zone'); })()`, ownRow))
	p.waitFor("the record in the zone table", fmt.Sprintf(`document.querySelector(%q)?.textContent.includes('192.0.2.44')`,
		zoneRow("www.alpha.shoal.", "A")))
	if recs := a.DNSRecords(); len(recs) != 1 || recs[0].Name != "www" || recs[0].Type != "A" || recs[0].Value != "192.0.2.44" {
		t.Fatalf("alpha's records after adding one: %+v", recs)
	}
	waitUntil(t, "beta's zone to hold www.alpha.shoal.", func() bool {
		return zoneHas(b, "www.alpha.shoal.", dns.TypeA, "192.0.2.44")
	})
	p.waitText("#record-name", "")

	// A name in another node's subdomain: the node's error, nothing changed.
	p.fill("#record-name", "x.other.shoal.")
	p.fill("#record-value", "1.2.3.4")
	p.submit("#record-form")
	p.waitFor("the node's error", `(() => { const e = document.querySelector('#record-error');
		return e.checkVisibility() && e.textContent.includes("outside the member's subdomain alpha.shoal."); })()`)
	if got := p.evalString(`document.querySelector('#record-name').getAttribute('aria-invalid')`); got != "true" {
		t.Errorf("name field aria-invalid = %q after the error, want true", got)
	}
	if recs := a.DNSRecords(); len(recs) != 1 {
		t.Errorf("a refused record changed alpha's records: %+v", recs)
	}
	if got := p.evalString(`String(document.querySelectorAll('#own-records tr[data-type]').length)`); got != "1" {
		t.Errorf("%s records listed after the refused one, want 1", got)
	}
	p.fill("#record-name", "")
	p.fill("#record-value", "")

	// A record added on beta reaches alpha's zone table live.
	if err := b.SetDNSRecord(DNSRecord{Name: "mail", Type: "A", Value: "192.0.2.55"}); err != nil {
		t.Fatal(err)
	}
	p.waitFor("beta's new record in alpha's zone table", fmt.Sprintf(
		`document.querySelector(%q)?.textContent.includes('192.0.2.55')`, zoneRow("mail.beta.shoal.", "A")))

	// Look-ups: the answer, the path (the zone, authoritatively), the rcode.
	p.fill("#lookup-name", "nobody.shoal")
	selectValue("#lookup-type", "A")
	p.submit("#lookup-form")
	p.waitFor("NXDOMAIN with the SOA", `document.querySelector('#lookup-rcode')?.textContent === 'NXDOMAIN' &&
		!!document.querySelector('#lookup-authority tr[data-type="SOA"]')`)
	p.fill("#lookup-name", "www.alpha.shoal")
	p.submit("#lookup-form")
	p.waitFor("the answer 192.0.2.44", `document.querySelector('#lookup-rcode')?.textContent === 'NOERROR' &&
		document.querySelector('#lookup-answer tr[data-type="A"]')?.textContent.includes('192.0.2.44')`)
	p.waitFor("the zone as the path's step", `(() => { const steps = document.querySelectorAll('#lookup-steps li.step');
		return steps.length === 1 && steps[0].dataset.kind === 'zone' &&
		  steps[0].textContent.includes('Answered from the zone shoal., authoritatively'); })()`)
	if got := p.evalString(`document.querySelector('#lookup-result').dataset.source`); got != "zone" {
		t.Errorf("look-up source = %q, want zone", got)
	}
	if got := p.evalString(`document.querySelector('.dig-details').open ? 'open' : 'closed'`); got != "closed" {
		t.Errorf("the dig-style output is %s at first, want closed", got)
	}
	p.eval(`document.querySelector('.dig-details summary').click()`)
	p.waitFor("the dig-style output", `(() => { const pre = document.querySelector('#lookup-text');
		return pre.checkVisibility() && pre.textContent.includes('ANSWER SECTION') && pre.textContent.includes('192.0.2.44'); })()`)
	p.waitText("#dig-example", fmt.Sprintf("dig @127.0.0.2 -p %d www.alpha.shoal.", a.DNS().Addr().Port()))
	if br.shoot() {
		fullScreenshot(p, filepath.Join(br.shots, "webclient-names.png"))
	}

	// Remove it: gone from the list, the zone, and beta's zone.
	p.eval(fmt.Sprintf(`document.querySelector('%s button[data-action="remove"]').click()`, ownRow))
	p.waitFor("the record gone from your records", fmt.Sprintf(`!document.querySelector(%q) &&
		document.querySelector('#own-records tbody').textContent.includes('No records of your own yet')`, ownRow))
	p.waitFor("the record gone from the zone table", fmt.Sprintf(`!document.querySelector(%q)`, zoneRow("www.alpha.shoal.", "A")))
	if recs := a.DNSRecords(); len(recs) != 0 {
		t.Errorf("alpha's records after removing the one: %+v", recs)
	}
	waitUntil(t, "beta's zone to drop www.alpha.shoal.", func() bool {
		return !zoneHas(b, "www.alpha.shoal.", dns.TypeA, "192.0.2.44")
	})

	if errs := br.pageErrors(); len(errs) > 0 {
		t.Errorf("the page reported errors:\n%s", strings.Join(errs, "\n"))
	}
}

// zoneHas reports whether n's zone holds a record of name and type whose
// data is value.
func zoneHas(n *Node, name string, typ uint16, value string) bool {
	for _, rr := range n.DNS().Zone.Records() {
		h := rr.Header()
		if h.Name == name && h.Rrtype == typ && strings.TrimPrefix(rr.String(), h.String()) == value {
			return true
		}
	}
	return false
}
