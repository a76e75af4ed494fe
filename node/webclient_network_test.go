package node

import (
	"context"
	"testing"
	"time"
)

// The web client's Network page of a private network: the kind, an
// invitation with its QR code, and Join refusing a cut link and taking the
// network's own (a member already).
func TestWebClientPrivateNetwork(t *testing.T) {
	requireChromium(t)
	dir := t.TempDir()
	if _, err := CreateNetwork(dir, "friends"); err != nil {
		t.Fatal(err)
	}
	opts := testMemberOptions(dir)
	opts.Override = func(c *Config) {
		c.Name, c.Bind, c.UI.Address, c.Ports = "webpriv", "127.0.0.95", "127.0.0.1:0", Ports{}
		c.DNS.Upstreams = []string{"127.0.0.1:1"}
	}
	n, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p := startChromium(ctx, t).newPage(ctx, t)
	p.navigate(n.LoginURL())
	p.waitText("#node-name", "webpriv")
	p.eval(`location.hash = '#/network'`)
	p.waitText("#net-kind", "friends · private")
	p.eval(`document.querySelector('#invite-make').click()`)
	p.waitFor("the invitation and its QR code", `(() => {
		const link = document.querySelector('#invite-link'), qr = document.querySelector('#invite-qr');
		return link.value.startsWith('shoal:') && qr.complete && qr.naturalWidth > 100; })()`)
	link := p.evalString(`document.querySelector('#invite-link').value`)

	p.fill("#join-link", link[:len(link)-6])
	p.submit("#join-form")
	p.waitFor("a cut link refused", `document.querySelector('#net-kind-alert').textContent.includes('cut')`)
	p.fill("#join-link", link)
	p.submit("#join-form")
	p.waitFor("the network's own link taken", `document.querySelector('#net-kind-alert').textContent.includes('already')`)
}
