package node

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"testing"
	"time"
)

// mailCall is call with a JSON answer of any shape decoded into out.
func mailCall(t *testing.T, n *Node, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+n.UIAddress()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+n.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d %q: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

// folderCounts is "NAME messages/unseen" for each folder.
func folderCounts(t *testing.T, n *Node) map[string]string {
	t.Helper()
	var fs []MailFolder
	if code := mailCall(t, n, "GET", "/api/v1/mail/folders", nil, &fs); code != 200 {
		t.Fatalf("folders: %d", code)
	}
	out := map[string]string{}
	for _, f := range fs {
		out[f.Name] = fmt.Sprintf("%d/%d", f.Messages, f.Unseen)
	}
	return out
}

// TestMailClientAPI reads and changes a mailbox through the control API as
// the window and the web client do: send with an attachment to a second
// local user, list, search, read parsed, download the attachment, mark
// unread, move, delete to Trash and for good, drafts; bad input gets 400
// and changes nothing.
func TestMailClientAPI(t *testing.T) {
	n := startMemberWith(t, "alpha", "127.0.0.2", fastCDN, func(c *Config) { c.Mail.User = "ada" })
	if code := mailCall(t, n, "POST", "/api/v1/mail/users", map[string]string{"name": "bob", "password": "correct horse battery"}, nil); code != 201 {
		t.Fatalf("add bob: %d", code)
	}
	// A user that sorts first does not take the node's own user's place.
	if code := mailCall(t, n, "POST", "/api/v1/mail/users", map[string]string{"name": "aaron"}, nil); code != 201 {
		t.Fatalf("add aaron: %d", code)
	}
	var client MailClientSettings
	mailCall(t, n, "GET", "/api/v1/mail/client", nil, &client)
	if client.Host != "127.0.0.2" || client.IMAP == 0 || client.Submission == 0 || client.POP3 == 0 || client.User != "ada" ||
		client.Address != "ada@alpha.shoal" || client.TLS != "STARTTLS" || !client.PlainLogin {
		t.Errorf("client settings %+v", client)
	}

	// Send with an attachment, multipart/form-data as the web client does.
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	msg, _ := json.Marshal(MailSend{To: []string{"Bob <bob@alpha.shoal>"}, Subject: "Plans für Montag", Body: "See the notes.\nAda"})
	mw.WriteField("message", string(msg))
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="attach"; filename="notes.txt"`)
	h.Set("Content-Type", "text/plain")
	fw, _ := mw.CreatePart(h)
	fw.Write([]byte("line one\nline two\n"))
	mw.Close()
	req, _ := http.NewRequest("POST", "http://"+n.UIAddress()+"/api/v1/mail/send", &form)
	req.Header.Set("Authorization", "Bearer "+n.token)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var sent MailSent
	json.NewDecoder(resp.Body).Decode(&sent)
	resp.Body.Close()
	if resp.StatusCode != 200 || !slices.Equal(sent.Recipients, []string{"bob@alpha.shoal"}) || sent.MessageID == "" {
		t.Fatalf("send: %d %+v", resp.StatusCode, sent)
	}

	// bob's INBOX, listed, with the attachment mark; and ada's Sent copy.
	var list []MailSummary
	mailCall(t, n, "GET", "/api/v1/mail/messages?user=bob", nil, &list)
	if len(list) != 1 || list[0].Subject != "Plans für Montag" || !list[0].Attachment || list[0].MessageID != sent.MessageID ||
		!strings.Contains(list[0].From, "ada@alpha.shoal") || slices.Contains(list[0].Flags, `\Seen`) {
		t.Fatalf("bob's INBOX: %+v", list)
	}
	if got := folderCounts(t, n)["Sent"]; got != "1/0" {
		t.Errorf("ada's Sent = %s, want 1/0", got)
	}
	uid := list[0].UID

	// Search: subject, sender, body; and one that matches nothing.
	for q, want := range map[string]int{"montag": 1, "ada@": 1, "the notes": 1, "nothing like it": 0} {
		var found []MailSummary
		mailCall(t, n, "GET", "/api/v1/mail/messages?user=bob&search="+strings.ReplaceAll(q, " ", "+"), nil, &found)
		if len(found) != want {
			t.Errorf("search %q found %d, want %d", q, len(found), want)
		}
	}

	// Read it: parsed, and reading marks it seen.
	var read MailMessage
	if code := mailCall(t, n, "GET", fmt.Sprintf("/api/v1/mail/messages/%d/parsed?user=bob", uid), nil, &read); code != 200 {
		t.Fatalf("parsed: %d", code)
	}
	if read.Subject != "Plans für Montag" || !strings.Contains(read.Text, "See the notes.") || len(read.Attachments) != 1 ||
		read.Attachments[0].Name != "notes.txt" || read.Attachments[0].Size != 18 || !slices.Contains(read.Flags, `\Seen`) ||
		len(read.To) != 1 || !strings.Contains(read.To[0], "bob@alpha.shoal") {
		t.Fatalf("parsed message: %+v", read)
	}
	partReq, _ := http.NewRequest("GET", fmt.Sprintf("http://%s/api/v1/mail/messages/%d/parts/%s?user=bob", n.UIAddress(), uid, read.Attachments[0].Part), nil)
	partReq.Header.Set("Authorization", "Bearer "+n.token)
	pr, err := http.DefaultClient.Do(partReq)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(pr.Body)
	pr.Body.Close()
	if string(data) != "line one\nline two\n" && string(data) != "line one\r\nline two\r\n" {
		t.Errorf("attachment = %q", data)
	}
	if cd := pr.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") || !strings.Contains(cd, "notes.txt") ||
		!strings.Contains(pr.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("attachment headers: %v", pr.Header)
	}

	// Unread again, then move, then delete twice.
	sel := func(folder string, extra map[string]any) map[string]any {
		m := map[string]any{"user": "bob", "folder": folder, "uids": []uint32{uid}}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	if code := mailCall(t, n, "POST", "/api/v1/mail/messages/seen", sel("INBOX", map[string]any{"seen": false}), nil); code != 200 {
		t.Fatalf("unseen: %d", code)
	}
	var bobFolders []MailFolder
	mailCall(t, n, "GET", "/api/v1/mail/folders?user=bob", nil, &bobFolders)
	if bobFolders[0].Name != "INBOX" || bobFolders[0].Unseen != 1 || bobFolders[0].Messages != 1 {
		t.Errorf("bob's INBOX after unseen: %+v", bobFolders[0])
	}

	// Bad input: 400 or 404 with an error, and nothing changes.
	var e struct{ Error string }
	for _, bad := range []struct {
		method, path string
		body         any
		code         int
	}{
		{"POST", "/api/v1/mail/messages/move", sel("INBOX", map[string]any{"to": "Nowhere"}), 404},
		{"POST", "/api/v1/mail/messages/move", sel("INBOX", nil), 400},
		{"POST", "/api/v1/mail/messages/delete", map[string]any{"user": "bob", "uids": []uint32{uid, 999}}, 400},
		{"POST", "/api/v1/mail/messages/seen", map[string]any{"user": "bob", "uids": []uint32{}}, 400},
		{"POST", "/api/v1/mail/messages/seen", map[string]any{"user": "bob", "uids": "1"}, 400},
		{"GET", fmt.Sprintf("/api/v1/mail/messages/%d/parts/9?user=bob", uid), nil, 400},
		{"GET", fmt.Sprintf("/api/v1/mail/messages/%d/parts/x?user=bob", uid), nil, 400},
		{"GET", "/api/v1/mail/messages/0/parsed", nil, 400},
		{"POST", "/api/v1/mail/send", MailSend{To: []string{"not an address"}, Body: "x"}, 400},
		{"POST", "/api/v1/mail/send", MailSend{Body: "no one"}, 400},
		{"POST", "/api/v1/mail/send", MailSend{To: []string{"x@example.org"}, Body: "outside"}, 400},
		{"POST", "/api/v1/mail/send", MailSend{To: []string{"bob@alpha.shoal"}, Subject: "two\nlines"}, 400},
		{"POST", "/api/v1/mail/send", MailSend{To: []string{"bob@alpha.shoal"}, Attachments: []MailAttach{{Name: "", Data: []byte("x")}}}, 400},
		{"POST", "/api/v1/mail/drafts", MailSend{Subject: "x", Draft: 4242}, 400},
	} {
		e.Error = ""
		if code := mailCall(t, n, bad.method, bad.path, bad.body, &e); code != bad.code || e.Error == "" {
			t.Errorf("%s %s %v: %d %q, want %d with an error", bad.method, bad.path, bad.body, code, e.Error, bad.code)
		}
	}
	if got := folderCounts(t, n); got["INBOX"] != "0/0" || got["Sent"] != "1/0" || got["Drafts"] != "0/0" {
		t.Errorf("ada's folders after bad input: %v", got)
	}
	mailCall(t, n, "GET", "/api/v1/mail/folders?user=bob", nil, &bobFolders)
	if bobFolders[0].Messages != 1 || bobFolders[0].Unseen != 1 {
		t.Errorf("bob's INBOX after bad input: %+v", bobFolders[0])
	}

	if code := mailCall(t, n, "POST", "/api/v1/mail/messages/move", sel("INBOX", map[string]any{"to": "Junk"}), nil); code != 200 {
		t.Fatalf("move: %d", code)
	}
	var junk []MailSummary
	mailCall(t, n, "GET", "/api/v1/mail/messages?user=bob&folder=Junk", nil, &junk)
	if len(junk) != 1 {
		t.Fatalf("Junk after the move: %+v", junk)
	}
	uid = junk[0].UID
	if code := mailCall(t, n, "POST", "/api/v1/mail/messages/delete", sel("Junk", nil), nil); code != 200 {
		t.Fatalf("delete: %d", code)
	}
	var trash []MailSummary
	mailCall(t, n, "GET", "/api/v1/mail/messages?user=bob&folder=Trash", nil, &trash)
	if len(trash) != 1 {
		t.Fatalf("Trash after delete: %+v", trash)
	}
	uid = trash[0].UID
	mailCall(t, n, "POST", "/api/v1/mail/messages/delete", sel("Trash", nil), nil)
	mailCall(t, n, "GET", "/api/v1/mail/messages?user=bob&folder=Trash", nil, &trash)
	if len(trash) != 0 {
		t.Fatalf("Trash after a second delete: %+v", trash)
	}

	// Drafts: save, update (the old one goes), send it (the draft goes).
	var d struct{ UID uint32 }
	mailCall(t, n, "POST", "/api/v1/mail/drafts", MailSend{Subject: "half done", Body: "to be"}, &d)
	first := d.UID
	mailCall(t, n, "POST", "/api/v1/mail/drafts", MailSend{To: []string{"bob@alpha.shoal"}, Subject: "done", Body: "to be continued",
		Attachments: []MailAttach{{Name: "a.bin", Data: []byte{0, 1, 2}}}, Draft: first}, &d)
	var drafts []MailSummary
	mailCall(t, n, "GET", "/api/v1/mail/messages?folder=Drafts", nil, &drafts)
	if len(drafts) != 1 || drafts[0].UID == first || drafts[0].Subject != "done" || !slices.Contains(drafts[0].Flags, `\Draft`) {
		t.Fatalf("Drafts after an update: %+v", drafts)
	}
	var draft MailMessage
	mailCall(t, n, "GET", fmt.Sprintf("/api/v1/mail/messages/%d/parsed?folder=Drafts", d.UID), nil, &draft)
	if len(draft.Attachments) != 1 || draft.Attachments[0].Name != "a.bin" {
		t.Fatalf("the draft: %+v", draft)
	}
	if code := mailCall(t, n, "POST", "/api/v1/mail/send", MailSend{To: []string{"bob@alpha.shoal"}, Subject: "done", Body: "to be continued",
		Attachments: []MailAttach{{Name: "a.bin", Data: []byte{0, 1, 2}}}, Draft: d.UID}, nil); code != 200 {
		t.Fatalf("send the draft: %d", code)
	}
	if got := folderCounts(t, n); got["Drafts"] != "0/0" || got["Sent"] != "2/0" {
		t.Errorf("ada's folders after sending the draft: %v", got)
	}

	// Contacts: the local users at least.
	var contacts []MailContact
	mailCall(t, n, "GET", "/api/v1/mail/contacts", nil, &contacts)
	var addrs []string
	for _, c := range contacts {
		addrs = append(addrs, c.Address)
	}
	if !slices.Contains(addrs, "ada@alpha.shoal") || !slices.Contains(addrs, "bob@alpha.shoal") {
		t.Errorf("contacts %v", addrs)
	}
}

// TestMailHTMLIsSanitised: scripts, handlers, styles and remote images go;
// remote images stay only when asked for.
func TestMailHTMLIsSanitised(t *testing.T) {
	raw := "From: <eve@beta.shoal>\r\nTo: <ada@alpha.shoal>\r\nSubject: html\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nplain words\r\n" +
		"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
		`<p onclick="steal()">Hello <b>there</b><script>alert(1)</script><img src="https://tracker.example/p.gif"><img src="data:image/png;base64,iVBORw0KGgo=">` +
		`<a href="javascript:alert(1)">x</a><a href="https://example.org/">ok</a><style>body{background:url(https://t.example/)}</style>` +
		"<iframe src=\"https://evil.example/\"></iframe></p>\r\n--b--\r\n"
	m := ParseMailMessage([]byte(raw), false)
	if m.Text != "plain words\r\n" && m.Text != "plain words" {
		t.Errorf("text %q", m.Text)
	}
	for _, bad := range []string{"script", "onclick", "tracker.example", "javascript:", "<style", "iframe", "evil.example"} {
		if strings.Contains(m.HTML, bad) {
			t.Errorf("sanitised HTML holds %q: %s", bad, m.HTML)
		}
	}
	if m.RemoteBlocked != 1 || !strings.Contains(m.HTML, "<b>there</b>") || !strings.Contains(m.HTML, "data:image/png") ||
		!strings.Contains(m.HTML, `href="https://example.org/"`) {
		t.Errorf("sanitised HTML (%d blocked): %s", m.RemoteBlocked, m.HTML)
	}
	m = ParseMailMessage([]byte(raw), true)
	if m.RemoteBlocked != 0 || !strings.Contains(m.HTML, "tracker.example") || strings.Contains(m.HTML, "script") {
		t.Errorf("with remote content: %s", m.HTML)
	}
	// Malformed MIME is shown raw.
	bad := "From: <eve@beta.shoal>\r\nContent-Type: multipart/mixed; boundary=\"\r\n\r\n--x\r\nbroken"
	if m := ParseMailMessage([]byte(bad), false); !m.Raw || !strings.Contains(m.Text, "broken") {
		t.Errorf("malformed message: raw=%v text=%q", m.Raw, m.Text)
	}
	// The base64 of JSON attachments round-trips.
	b, _ := json.Marshal(MailAttach{Name: "x", Data: []byte{0xff}})
	if !strings.Contains(string(b), base64.StdEncoding.EncodeToString([]byte{0xff})) {
		t.Errorf("attachment JSON %s", b)
	}
}

// TestMailDeliveryStateBetweenNodes: a message alpha sends to a user of
// beta is queued, then delivered to beta; the Sent folder and the delivery
// records say so, and beta's INBOX holds it.
func TestMailDeliveryStateBetweenNodes(t *testing.T) {
	a := startMemberWith(t, "alpha", "127.0.0.2", fastCDN, func(c *Config) { c.Mail.User = "ada"; c.Mail.RetryScale = 1e-4 })
	b := startMemberWith(t, "beta", "127.0.0.3", fastCDN, func(c *Config) {
		c.Mail.User = "bob"
		c.Mail.RetryScale = 1e-4
		c.Join = []string{a.CDN().PeerAddr()}
	})
	waitFor(t, "the two nodes to see each other", func() bool { return aliveMembers(a) == 2 && aliveMembers(b) == 2 })
	var contacts []MailContact
	waitFor(t, "beta's postmaster among alpha's contacts", func() bool {
		mailCall(t, a, "GET", "/api/v1/mail/contacts", nil, &contacts)
		return slices.ContainsFunc(contacts, func(c MailContact) bool { return c.Address == "postmaster@beta.shoal" && c.Source == "member" })
	})
	var sent MailSent
	if code := mailCall(t, a, "POST", "/api/v1/mail/send", MailSend{To: []string{"bob@beta.shoal"}, Subject: "over the wire", Body: "hi"}, &sent); code != 200 {
		t.Fatalf("send: %d", code)
	}
	var inbox []MailSummary
	waitFor(t, "the message in beta's INBOX", func() bool {
		mailCall(t, b, "GET", "/api/v1/mail/messages", nil, &inbox)
		return len(inbox) == 1 && inbox[0].Subject == "over the wire"
	})
	var list []MailSummary
	waitFor(t, "delivered in alpha's Sent", func() bool {
		mailCall(t, a, "GET", "/api/v1/mail/messages?folder=Sent", nil, &list)
		return len(list) == 1 && list[0].Delivery != nil && len(list[0].Delivery.Recipients) == 1 &&
			list[0].Delivery.Recipients[0].State == "delivered"
	})
	r := list[0].Delivery.Recipients[0]
	if r.Address != "bob@beta.shoal" || r.Time.IsZero() || r.Host == "" || list[0].Delivery.MessageID != sent.MessageID {
		t.Errorf("delivery %+v of %+v", r, list[0].Delivery)
	}
	t.Logf("delivered: %+v", r)
	var ds []MailDelivery
	mailCall(t, a, "GET", "/api/v1/mail/deliveries?user=ada", nil, &ds)
	if len(ds) != 1 || ds[0].MessageID != sent.MessageID {
		t.Errorf("deliveries %+v", ds)
	}
}

// TestMailDeliveryDeferredWhileTheRecipientIsDown: with beta stopped, a
// message for beta's user is deferred, and the record says why.
func TestMailDeliveryDeferredWhileTheRecipientIsDown(t *testing.T) {
	a := startMemberWith(t, "alpha", "127.0.0.2", fastCDN, func(c *Config) { c.Mail.User = "ada"; c.Mail.RetryScale = 1e-3 })
	b := startMemberWith(t, "beta", "127.0.0.3", fastCDN, func(c *Config) {
		c.Mail.User = "bob"
		c.Join = []string{a.CDN().PeerAddr()}
	})
	waitFor(t, "the two nodes to see each other", func() bool { return aliveMembers(a) == 2 && aliveMembers(b) == 2 })
	b.Close()
	if code := mailCall(t, a, "POST", "/api/v1/mail/send", MailSend{To: []string{"bob@beta.shoal"}, Subject: "later", Body: "x"}, nil); code != 200 {
		t.Fatalf("send: %d", code)
	}
	var list []MailSummary
	waitFor(t, "deferred in alpha's Sent", func() bool {
		mailCall(t, a, "GET", "/api/v1/mail/messages?folder=Sent", nil, &list)
		return len(list) == 1 && list[0].Delivery != nil && list[0].Delivery.Recipients[0].State == "deferred"
	})
	if r := list[0].Delivery.Recipients[0]; r.Reason == "" || r.Attempts < 1 {
		t.Errorf("deferred without a reason: %+v", r)
	} else {
		t.Logf("deferred: %s", r.Reason)
	}
}
