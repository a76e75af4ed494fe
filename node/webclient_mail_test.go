package node

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWebClientMail uses the Mail area of the web client in headless
// Chromium against two real nodes on loopback, as a person would: alpha's
// user writes to a user of beta with a file dropped on the page and sends
// it; the message is delivered to beta over SMTP (DKIM-signed, verified),
// shows as delivered in alpha's Sent, and arrives live in beta's INBOX,
// unread and with its attachment, where beta's user reads it. An HTML
// message is shown sanitised in a sandboxed frame with its remote image
// blocked. With SHOAL_SCREENSHOTS=DIR it writes webclient-mail.png.
func TestWebClientMail(t *testing.T) {
	requireChromium(t)
	a := startMemberWith(t, "alpha", "127.0.0.2", fastCDN, func(c *Config) { c.Mail.User = "ada"; c.Mail.RetryScale = 1e-4 })
	b := startMemberWith(t, "beta", "127.0.0.3", fastCDN, func(c *Config) {
		c.Mail.User = "bob"
		c.Mail.RetryScale = 1e-4
		c.Join = []string{a.CDN().PeerAddr()}
	})
	waitFor(t, "the two nodes to see each other", func() bool { return aliveMembers(a) == 2 && aliveMembers(b) == 2 })

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	br := startChromium(ctx, t)
	pa := br.newPage(ctx, t)
	pa.navigate(a.LoginURL())
	pa.waitText("#node-name", "alpha")
	pa.eval(`location.hash = '#/mail'`)
	pa.waitFor("alpha's folders", `!!document.querySelector('#mail-folders button[data-folder="INBOX"]') &&
		!!document.querySelector('#mail-folders button[data-folder="Sent"]')`)
	pa.waitFor("the settings for a mail program", `document.querySelector('#mail-client dd[data-key="Address"]')?.textContent === 'ada@alpha.shoal'`)
	pa.waitFor("beta's postmaster offered for completion", `!!document.querySelector('#mail-contacts option[value="postmaster@beta.shoal"]')`)
	// The password made on the first start, shown until noted.
	if a.Mail().FirstPassword == "" {
		t.Fatal("alpha made no first password")
	}
	pa.waitText("#mail-new-password-value", a.Mail().FirstPassword)
	pa.eval(`document.querySelector('#mail-new-password-noted').click()`)
	pa.waitFor("the password hidden", `document.querySelector('#mail-new-password').hidden`)
	if _, pw := a.Mail().NewPassword(); pw != "" {
		t.Error("the node still offers the noted password")
	}

	// Compose, attach by a drop on the page, send.
	pa.eval(`document.querySelector('#mail-new').click()`)
	pa.waitFor("the compose form", `document.querySelector('#mail-compose').checkVisibility()`)
	pa.fill("#mail-to", "bob@beta.shoal")
	pa.fill("#mail-subject", "Notes from Tuesday")
	pa.fill("#mail-body", "Hello Bob,\nthe notes are attached.\nAda")
	pa.eval(`(() => { const dt = new DataTransfer();
		dt.items.add(new File(['first line\nsecond line\n'], 'notes.txt', {type: 'text/plain'}));
		document.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true})); })()`)
	pa.waitFor("the dropped file attached", `!!document.querySelector('#mail-attach-list li[data-name="notes.txt"]')`)
	pa.submit("#mail-compose")
	pa.waitFor("sent", `document.querySelector('#mail-compose-note')?.textContent === 'Sent to bob@beta.shoal.'`)

	// alpha's Sent: delivered to beta.
	pa.eval(`document.querySelector('#mail-folders button[data-folder="Sent"]').click()`)
	pa.waitFor("delivered in Sent", `document.querySelector('#mail-messages tr[data-subject="Notes from Tuesday"] td.mail-state')?.dataset.state === 'delivered'`)
	pa.eval(`document.querySelector('#mail-messages tr[data-subject="Notes from Tuesday"]').click()`)
	pa.waitFor("the delivery line", `document.querySelector('#mail-delivery li[data-address="bob@beta.shoal"]')?.textContent.includes('delivered at') &&
		document.querySelector('#mail-delivery li[data-address="bob@beta.shoal"]').textContent.includes('to beta.shoal')`)

	// beta's web client: the message in INBOX, unread, with its clip; read it.
	// A message that arrives while another area is open marks the Mail link.
	pb := br.newPage(ctx, t)
	pb.navigate(b.LoginURL())
	pb.waitText("#node-name", "beta")
	pb.waitFor("the event stream live", `document.querySelector('#conn-state')?.dataset.state === 'live'`)
	if _, err := b.Mail().Store.Deliver(ctx, "bob", []byte("From: <ada@alpha.shoal>\r\nTo: <bob@beta.shoal>\r\nSubject: ping\r\n\r\nping\r\n")); err != nil {
		t.Fatal(err)
	}
	b.bus.Publish(EventMailArrived, MailArrived{User: "bob"})
	pb.waitFor("the Mail link marked", `document.querySelector('#nav a[data-area="mail"]')?.dataset.newMail === '1'`)
	pb.eval(`location.hash = '#/mail'`)
	pb.waitFor("the mark gone in the Mail area", `!('newMail' in document.querySelector('#nav a[data-area="mail"]').dataset)`)
	row := `#mail-messages tr[data-subject="Notes from Tuesday"]`
	pb.waitFor("the message in beta's INBOX, unread", fmt.Sprintf(`(() => { const tr = document.querySelector(%q);
		return tr && tr.classList.contains('unread') && !!tr.querySelector('.attach-mark') && tr.textContent.includes('ada@alpha.shoal'); })()`, row))
	pb.waitText(`#mail-folders button[data-folder="INBOX"] .unseen-count`, "2")
	pb.eval(fmt.Sprintf(`document.querySelector(%q).click()`, row))
	pb.waitFor("the message read", `document.querySelector('#mail-text')?.textContent.includes('the notes are attached.') &&
		document.querySelector('#mail-head dd[data-key="Subject"]')?.textContent === 'Notes from Tuesday' &&
		!!document.querySelector('#mail-attachments li') && document.querySelector('#mail-attachments').textContent.includes('Save notes.txt')`)
	pb.waitFor("read, no longer bold", fmt.Sprintf(`!document.querySelector(%q).classList.contains('unread') &&
		document.querySelector('#mail-folders button[data-folder="INBOX"] .unseen-count').textContent === '1'`, row))
	if got := pb.evalString(`(async () => { const li = document.querySelector('#mail-attachments li');
		const uid = document.querySelector('#mail-messages tr.current').dataset.uid;
		const r = await fetch('/api/v1/mail/messages/' + uid + '/parts/' + li.dataset.part);
		return r.headers.get('Content-Disposition') + ' | ' + (await r.text()); })()`); !strings.HasPrefix(got, "attachment") ||
		!strings.Contains(got, "first line") {
		t.Errorf("the attachment as the page downloads it: %q", got)
	}

	// Reply: filled in from the message; kept as a draft.
	pb.eval(`document.querySelector('#mail-reply').click()`)
	pb.waitFor("the reply form", `document.querySelector('#mail-compose').checkVisibility() &&
		document.querySelector('#mail-to').value === 'ada@alpha.shoal' &&
		document.querySelector('#mail-subject').value === 'Re: Notes from Tuesday' &&
		document.querySelector('#mail-body').value.includes('> Hello Bob,')`)
	pb.eval(`document.querySelector('#mail-save-draft').click()`)
	pb.waitFor("the draft saved", `document.querySelector('#mail-compose-note')?.textContent.startsWith('Draft saved')`)
	if drafts, err := b.MailList(ctx, "", "Drafts", ""); err != nil || len(drafts) != 1 || drafts[0].Subject != "Re: Notes from Tuesday" {
		t.Errorf("beta's Drafts after saving the reply: %+v %v", drafts, err)
	}
	pb.eval(`document.querySelector('#mail-discard').click()`)

	// An HTML message arrives live: sanitised, in a sandboxed frame, the
	// remote image blocked until asked for.
	html := "From: News <news@alpha.shoal>\r\nTo: <bob@beta.shoal>\r\nSubject: Weekly news\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/html; charset=utf-8\r\n\r\n" +
		`<p>Big <b>news</b><script>parent.document.title='pwned'</script><img src="http://127.0.0.1:1/track.gif" onerror="parent.document.title='pwned'"></p>` + "\r\n"
	if _, err := b.Mail().Store.Deliver(ctx, "bob", []byte(html)); err != nil {
		t.Fatal(err)
	}
	b.bus.Publish(EventMailArrived, MailArrived{User: "bob"})
	pb.waitFor("the new mail notice and row", `document.querySelector('#mail-notice')?.textContent === 'New mail arrived.' &&
		!!document.querySelector('#mail-messages tr[data-subject="Weekly news"].unread')`)
	pb.eval(`document.querySelector('#mail-messages tr[data-subject="Weekly news"]').click()`)
	pb.waitFor("the HTML frame", `document.querySelector('#mail-html')?.checkVisibility() && document.querySelector('#mail-remote-note').checkVisibility()`)
	doc := pb.evalString(`document.querySelector('#mail-html').srcdoc`)
	if strings.Contains(doc, "script") || strings.Contains(doc, "onerror") || strings.Contains(doc, "track.gif") || !strings.Contains(doc, "<b>news</b>") ||
		!strings.Contains(doc, "default-src 'none'; img-src data:") {
		t.Errorf("the frame's document: %s", doc)
	}
	if sb := pb.evalString(`document.querySelector('#mail-html').getAttribute('sandbox')`); strings.Contains(sb, "allow-scripts") || strings.Contains(sb, "allow-same-origin") {
		t.Errorf("frame sandbox %q", sb)
	}
	pb.eval(`document.querySelector('#mail-load-remote').click()`)
	pb.waitFor("the remote image kept when asked", `document.querySelector('#mail-html').srcdoc.includes('track.gif') &&
		document.querySelector('#mail-html').srcdoc.includes('img-src data: https: http:')`)
	if title := pb.evalString(`document.title`); strings.Contains(title, "pwned") {
		t.Errorf("the message ran code in the page: title %q", title)
	}
	if br.shoot() {
		pb.eval(`document.querySelector('#mail-messages tr[data-subject="Notes from Tuesday"]').click()`)
		pb.waitFor("the message read again", `document.querySelector('#mail-text')?.checkVisibility()`)
		fullScreenshot(pb, filepath.Join(br.shots, "webclient-mail.png"))
	}
	if errs := br.pageErrors(); len(errs) > 0 {
		t.Errorf("the pages reported errors:\n%s", strings.Join(errs, "\n"))
	}
}
