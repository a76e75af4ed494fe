package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-p2p/shoal/cdn/engine"
)

// TestWebClientCDN uses the Library and Network areas of the web client in
// headless Chromium against two real nodes on loopback, as a person would:
// publish a file on the first node by typing its path, find it in the
// network's catalog on the second, get it there and watch it download to
// the end, pause and resume it, read the member list and the rate plot.
// With SHOAL_SCREENSHOTS=DIR it writes webclient-library.png and
// webclient-network.png (both of the second node) to DIR.
func TestWebClientCDN(t *testing.T) {
	requireChromium(t)
	// Downloads are capped, so the transfer lasts long enough to be seen
	// in progress and on the rate plot.
	const capKiBs = 2048
	a := startCappedMember(t, "alpha", "127.0.0.2", capKiBs)
	b := startCappedMember(t, "beta", "127.0.0.3", capKiBs, a.CDN().PeerAddr())
	waitFor(t, "the two nodes to see each other", func() bool {
		return aliveMembers(a) == 2 && aliveMembers(b) == 2
	})

	data := make([]byte, 5<<20+4321)
	rand.Read(data)
	src := filepath.Join(t.TempDir(), "harbour-tour.mp4")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	br := startChromium(ctx, t)
	p := br.newPage(ctx, t)

	// On alpha: a path that does not exist gets the node's error.
	p.navigate(a.LoginURL())
	p.waitText("#node-name", "alpha")
	p.eval(`location.hash = '#/library'`)
	p.waitFor("the publish form", `!!document.querySelector('#publish-form')`)
	p.fill("#publish-path", filepath.Join(t.TempDir(), "no-such-file.bin"))
	p.submit("#publish-form")
	p.waitFor("the publish error", `(() => { const e = document.querySelector('#publish-error');
		return e.checkVisibility() && e.textContent.includes('no such file'); })()`)

	// A dropped file gives its name but no path: the page says how to
	// publish it. A dropped file:// URI gives the path.
	p.eval(`(() => { const dt = new DataTransfer(); dt.items.add(new File(['x'], 'clip.mov'));
		document.querySelector('#main').dispatchEvent(new DragEvent('drop', {bubbles: true, cancelable: true, dataTransfer: dt})); })()`)
	p.waitFor("the note on dropped files", `(() => { const n = document.querySelector('#publish-note');
		return n.checkVisibility() && n.textContent.includes('clip.mov') && n.textContent.includes('shoal publish PATH'); })()`)
	p.waitText("#publish-name", "clip.mov")
	p.eval(`(() => { const dt = new DataTransfer(); dt.setData('text/uri-list', 'file:///srv/media/a%20b.mkv');
		document.querySelector('#main').dispatchEvent(new DragEvent('drop', {bubbles: true, cancelable: true, dataTransfer: dt})); })()`)
	p.waitText("#publish-path", "/srv/media/a b.mkv")
	p.waitText("#publish-name", "")

	// Publish by path: the progress shows, then the result, and the item
	// is in the list, seeding.
	p.eval(`(() => { const s = document.querySelector('#publish-status');
		new MutationObserver(() => { if (!s.hidden) window.sawPublishProgress = true; })
		  .observe(s, {attributes: true, attributeFilter: ['hidden']}); })()`)
	p.fill("#publish-path", src)
	p.submit("#publish-form")
	p.waitFor("the publish result", `(() => { const r = document.querySelector('#publish-result');
		return r.checkVisibility() && r.textContent.includes('harbour-tour.mp4') && !!r.dataset.infohash; })()`)
	if got := p.evalString(`String(window.sawPublishProgress === true)`); got != "true" {
		t.Errorf("the publish progress was never shown")
	}
	ih := p.evalString(`document.querySelector('#publish-result').dataset.infohash`)
	if st, err := a.Item(ih); err != nil || st.State != engine.StateSeeding || st.Origin != engine.OriginPublished {
		t.Fatalf("alpha's item %s after publishing: %+v, %v", ih, st, err)
	}
	row := fmt.Sprintf(`#items li[data-infohash=%q]`, ih)
	p.waitFor("the published item in the list, seeding", fmt.Sprintf(`(() => { const li = document.querySelector(%q);
		return li && li.dataset.state === 'seeding' && li.textContent.includes('harbour-tour.mp4') &&
		  li.textContent.includes('Published here'); })()`, row))

	// On beta: find the item in the network's catalog and get it.
	p.navigate(b.LoginURL())
	p.waitText("#node-name", "beta")
	p.eval(`location.hash = '#/library'`)
	p.waitFor("the catalog search", `!!document.querySelector('#catalog-search')`)
	p.fill("#catalog-search", "no-such-thing")
	p.waitFor("an empty search result", `document.querySelector('#catalog tbody').textContent.includes('no-such-thing')`)
	p.fill("#catalog-search", "harbour")
	get := fmt.Sprintf(`#catalog tr[data-infohash=%q] button[data-action="get"]`, ih)
	p.waitFor("the item in the catalog, held by alpha", fmt.Sprintf(`(() => { const tr = document.querySelector('#catalog tr[data-infohash=%q]');
		return tr && tr.textContent.includes('harbour-tour.mp4') && tr.textContent.includes('alpha') &&
		  tr.textContent.includes('video') && !!document.querySelector(%q); })()`, ih, get))
	p.eval(fmt.Sprintf(`document.querySelector(%q).click()`, get))

	// The download shows its progress live, then completes.
	p.waitFor("the download in progress", fmt.Sprintf(`(() => { const li = document.querySelector(%q);
		return li && li.dataset.state === 'downloading' && li.querySelector('progress').value > 0; })()`, row))
	p.eval(fmt.Sprintf(`document.querySelector('%s .piece-map-button').click()`, row))
	p.waitFor("the piece grid", fmt.Sprintf(`document.querySelector('%s .piece-map-button').getAttribute('aria-expanded') === 'true' &&
		document.querySelector('%s .item-details').checkVisibility()`, row, row))
	if br.shoot() {
		// A moment with a rate and an ETA to show.
		p.waitFor("a download rate", fmt.Sprintf(`(() => { const li = document.querySelector(%q);
			return li.dataset.state !== 'downloading' || (li.querySelector('progress').position > 0.3 &&
			  !li.querySelector('.item-stats').textContent.includes('ETA —')); })()`, row))
		fullScreenshot(p, filepath.Join(br.shots, "webclient-library.png"))
	}
	p.waitFor("the download to complete", fmt.Sprintf(`(() => { const li = document.querySelector(%q);
		return li && li.dataset.state === 'seeding' && li.textContent.includes('100%%'); })()`, row))
	p.waitFor("the catalog to say it is in the library", fmt.Sprintf(
		`document.querySelector('#catalog tr[data-infohash=%q]')?.textContent.includes('In library')`, ih))
	st, err := b.Item(ih)
	if err != nil || st.State != engine.StateSeeding {
		t.Fatalf("beta's item after the download: %+v, %v", st, err)
	}
	got, err := os.ReadFile(filepath.Join(st.Dir, "harbour-tour.mp4"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the downloaded bytes differ from the published ones (%v)", err)
	}
	// The piece map shows every piece verified.
	var pm struct {
		Pieces, Done string
		Ink          bool
	}
	raw := p.eval(fmt.Sprintf(`(() => { const c = document.querySelector('%s canvas.piece-map');
		const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
		let ink = false; for (let i = 3; i < d.length; i += 4) if (d[i]) { ink = true; break; }
		return {Pieces: c.dataset.pieces, Done: c.dataset.done, Ink: ink}; })()`, row))
	if err := json.Unmarshal(raw, &pm); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprint(st.NumPieces); pm.Pieces != want || pm.Done != want || !pm.Ink {
		t.Errorf("piece map: %+v, want %s of %s pieces drawn", pm, want, want)
	}

	// Network: both members alive, and the rate plot drawn. While it is
	// shown, alpha fetches a file from beta, so beta uploads too.
	p.eval(`location.hash = '#/network'`)
	p.waitFor("both members alive", `(() => { const rows = [...document.querySelectorAll('#members tbody tr')];
		return rows.length === 2 && rows.every((r) => r.dataset.state === 'alive') &&
		  rows.some((r) => r.textContent.includes('alpha')) &&
		  rows.some((r) => r.dataset.self === 'true' && r.textContent.includes('beta')); })()`)
	back := make([]byte, 3<<20)
	rand.Read(back)
	src2 := filepath.Join(t.TempDir(), "reply.mp4")
	if err := os.WriteFile(src2, back, 0o600); err != nil {
		t.Fatal(err)
	}
	it2, err := b.Publish(context.Background(), src2, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Fetch(context.Background(), it2.InfoHash, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alpha to fetch reply.mp4 from beta", func() bool {
		st, err := a.Item(it2.InfoHash)
		return err == nil && st.State == engine.StateSeeding
	})
	p.waitFor("beta's upload on the plot", `(() => { const c = document.querySelector('#rate-plot');
		if (!c || Number(c.dataset.samples) < 3 || !c.width) return false;
		const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
		for (let i = 3; i < d.length; i += 4) if (d[i]) return true;
		return false; })()`)
	p.waitFor("the upload rate in the legend", `!document.querySelector('#rate-legend .up').textContent.includes(' 0 B/s')`)
	p.waitFor("the DHT nodes listed", `document.querySelectorAll('#dht-nodes li[data-addr]').length > 0`)
	if br.shoot() {
		time.Sleep(6 * time.Second) // more of the curves
		fullScreenshot(p, filepath.Join(br.shots, "webclient-network.png"))
	}

	// Back in the Library: pause and resume with the buttons.
	p.eval(`location.hash = '#/library'`)
	p.waitFor("the item listed again", fmt.Sprintf(`document.querySelector(%q)?.dataset.state === 'seeding'`, row))
	p.eval(fmt.Sprintf(`document.querySelector('%s button[data-action="pause"]').click()`, row))
	waitUntil(t, "beta to pause the item", func() bool {
		st, err := b.Item(ih)
		return err == nil && st.State == engine.StatePaused
	})
	p.waitFor("the item shown paused", fmt.Sprintf(`document.querySelector(%q).dataset.state === 'paused' &&
		!!document.querySelector('%s button[data-action="resume"]')`, row, row))
	p.eval(fmt.Sprintf(`document.querySelector('%s button[data-action="resume"]').click()`, row))
	waitUntil(t, "beta to resume the item", func() bool {
		st, err := b.Item(ih)
		return err == nil && st.State == engine.StateSeeding
	})
	p.waitFor("the item shown seeding again", fmt.Sprintf(`document.querySelector(%q).dataset.state === 'seeding'`, row))

	// Pin it; copy its magnet link (to the clipboard, or shown selected
	// where the browser gives no clipboard).
	p.eval(fmt.Sprintf(`document.querySelector('%s button[data-action="pin"]').click()`, row))
	waitUntil(t, "beta to pin the item", func() bool {
		st, err := b.Item(ih)
		return err == nil && st.Pinned
	})
	p.waitFor("the pinned chip", fmt.Sprintf(`document.querySelector('%s .chip.pinned').checkVisibility() &&
		!!document.querySelector('%s button[data-action="unpin"]')`, row, row))
	p.eval(fmt.Sprintf(`document.querySelector('%s button[data-action="copy"]').click()`, row))
	p.waitFor("the magnet link copied or shown", fmt.Sprintf(`(() => { const li = document.querySelector(%q);
		const box = li.querySelector('.magnet-box');
		return li.querySelector('.item-note').textContent.includes('copied') ||
		  (box.checkVisibility() && box.value === %q); })()`, row, st.Magnet))

	// Remove it with its files: the node forgets it, the file is gone,
	// and the catalog offers it again.
	p.eval(fmt.Sprintf(`document.querySelector('%s button[data-action="remove"]').click()`, row))
	p.waitFor("the confirmation", fmt.Sprintf(`document.querySelector('%s .confirm').checkVisibility()`, row))
	p.eval(fmt.Sprintf(`(() => { const li = document.querySelector(%q);
		li.querySelector('.remove-data').click(); li.querySelector('button[data-action="confirm-remove"]').click(); })()`, row))
	waitUntil(t, "beta to remove the item", func() bool {
		_, err := b.Item(ih)
		return err != nil
	})
	p.waitFor("the item gone from the list", fmt.Sprintf(`!document.querySelector(%q)`, row))
	if _, err := os.Stat(filepath.Join(st.Dir, "harbour-tour.mp4")); !os.IsNotExist(err) {
		t.Errorf("the downloaded file is still there after removing with its files (%v)", err)
	}
	p.waitFor("the Get button back in the catalog", fmt.Sprintf(`!!document.querySelector(%q)`, get))

	// Get it again from its .torrent file dropped on the page (the page
	// sends the file's bytes); a broken .torrent and a bad magnet link are
	// refused with the node's reason.
	drop := func(name, b64 string) {
		p.eval(fmt.Sprintf(`(() => { const b = Uint8Array.from(atob(%q), (c) => c.charCodeAt(0));
			const dt = new DataTransfer(); dt.items.add(new File([b], %q));
			document.querySelector('#main').dispatchEvent(new DragEvent('drop', {bubbles: true, cancelable: true, dataTransfer: dt})); })()`, b64, name))
	}
	drop("broken.torrent", base64.StdEncoding.EncodeToString([]byte("d8:announce")))
	p.waitFor("the broken .torrent refused", `(() => { const s = document.querySelector('#get-status').textContent;
		return s.includes('Could not get broken.torrent') && s.includes('not a .torrent file'); })()`)
	p.fill("#get-spec", "magnet:?xt=urn:btih:zz")
	p.submit("#get-form")
	p.waitFor("the bad magnet refused", `document.querySelector('#get-status').textContent.includes('bad magnet link')`)
	if items := b.Items(); len(items) != 1 { // reply.mp4 only
		t.Fatalf("refused gets left items on beta: %d", len(items))
	}
	mi, err := a.CDN().Engine.Torrent(ih)
	if err != nil {
		t.Fatal(err)
	}
	drop("harbour-tour.torrent", base64.StdEncoding.EncodeToString(mi))
	p.waitFor("the item back from its .torrent", fmt.Sprintf(`document.querySelector(%q)?.dataset.state === 'seeding' &&
		document.querySelector('#get-status').textContent.includes('Getting harbour-tour.mp4')`, row))
	if st, err := b.Item(ih); err != nil || st.State != engine.StateSeeding {
		t.Fatalf("beta's item got from its .torrent: %+v, %v", st, err)
	}

	if errs := br.pageErrors(); len(errs) > 0 {
		t.Errorf("the page reported errors:\n%s", strings.Join(errs, "\n"))
	}
}

// fullScreenshot shoots the whole page, not just the window's height.
func fullScreenshot(p *page, path string) {
	p.t.Helper()
	var height int
	if err := json.Unmarshal(p.eval(`Math.ceil(document.documentElement.scrollHeight)`), &height); err != nil {
		p.t.Fatal(err)
	}
	metrics := func(h int) map[string]any {
		return map[string]any{"width": 1280, "height": h, "deviceScaleFactor": 1, "mobile": false}
	}
	p.do("Emulation.setDeviceMetricsOverride", metrics(max(height, 900)), nil)
	time.Sleep(200 * time.Millisecond) // let the canvases follow the new size
	p.screenshot(path)
	p.do("Emulation.setDeviceMetricsOverride", metrics(900), nil)
}

// startCappedMember is startMember with BitTorrent downloads capped at
// kibs KiB/s.
func startCappedMember(t *testing.T, name, bind string, kibs int64, join ...string) *Node {
	t.Helper()
	n, err := Start(context.Background(), Options{DataDir: t.TempDir(), CDNTiming: fastCDN, Override: func(c *Config) {
		c.Name, c.Bind, c.Join = name, bind, join
		c.UI.Address = "127.0.0.1:0"
		c.Ports = Ports{}
		c.CDN.DownloadKiBs = kibs
		c.DNS.Upstreams = []string{"127.0.0.1:1"} // tests never ask a real resolver
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}
