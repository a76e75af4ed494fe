package node

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoal-p2p/shoal/cdn/engine"
)

// TestWebClientWatch publishes a short video from alpha's web client (the
// Library's video box) and plays it there with the Library's Play, then
// plays it in beta's web client, in headless Chromium: the Watch area lists it, Play
// starts a session on beta, whose segments reach the <video> element
// through Media Source Extensions; the video's currentTime passes 2 s with
// a picture (videoWidth > 0) and no error, and the readouts show the
// rendition, the source of the segments and the QoE. With
// SHOAL_SCREENSHOTS=DIR it writes webclient-watch.png to DIR.
func TestWebClientWatch(t *testing.T) {
	requireChromium(t)
	needFFmpeg(t)
	a := startVideoMember(t, "alpha", "127.0.0.2")
	b := startVideoMember(t, "beta", "127.0.0.3", a.CDN().PeerAddr())
	waitFor(t, "the two nodes to see each other", func() bool {
		return aliveMembers(a) == 2 && aliveMembers(b) == 2
	})
	// Long enough that a seek near the end lands outside what the browser
	// and the node buffered (25 s ahead).
	clip := testClip(t, 640, 360, 36)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	br := startChromium(ctx, t)
	p := br.newPage(ctx, t)

	// On alpha: publish the clip as a video from the Library, then Play it
	// there.
	p.navigate(a.LoginURL())
	p.waitText("#node-name", "alpha")
	p.eval(`location.hash = '#/library'`)
	p.waitFor("the publish form", `!!document.querySelector('#publish-video')`)
	p.fill("#publish-path", clip)
	p.eval(`document.querySelector('#publish-video').checked = true`)
	p.submit("#publish-form")
	p.waitFor("the publish result", `(() => { const r = document.querySelector('#publish-result');
		return r.checkVisibility() && !!r.dataset.infohash; })()`)
	ih := p.evalString(`document.querySelector('#publish-result').dataset.infohash`)
	it, err := a.Item(ih)
	if err != nil || !engine.IsPresentation(it.Item) {
		t.Fatalf("published from the web client: %+v, %v", it.Item, err)
	}
	p.waitFor("the Play button", `!!document.querySelector('[data-action="play"]')`)
	p.eval(`document.querySelector('[data-action="play"]').click()`)
	p.waitFor("playback on alpha", `(() => { const v = document.querySelector('#watch-video');
		return v && v.currentTime > 0.5 && v.videoWidth > 0; })()`)
	p.waitFor("the source on alpha", `document.querySelector('#watch-source').textContent === 'here'`)

	waitFor(t, "beta's catalog to list the video", func() bool {
		e, ok := b.CDN().Catalog.Get(it.InfoHash)
		return ok && len(e.Holders) > 0
	})
	p.navigate(b.LoginURL())
	p.waitText("#node-name", "beta")
	p.eval(`location.hash = '#/watch'`)
	p.waitFor("the video in the list", `(() => { const s = document.querySelector('#watch-item');
		return s && [...s.options].some((o) => o.value === '`+it.InfoHash+`'); })()`)
	p.eval(`(() => { document.querySelector('#watch-item').value = '` + it.InfoHash + `';
		document.querySelector('#watch-form').requestSubmit(); })()`)
	p.waitFor("playback past 2 s", `(() => { const v = document.querySelector('#watch-video');
		if (v.error) throw new Error('video error ' + v.error.code + ' ' + v.error.message);
		return v.currentTime > 2 && v.videoWidth > 0; })()`)
	p.waitFor("the readouts", `(() => {
		const t = (id) => document.querySelector(id).textContent;
		return /\d+×\d+/.test(t('#watch-rendition')) && t('#watch-qoe').includes('QoE_lin') &&
		  /swarm|member|here/.test(t('#watch-source')) && document.querySelector('#watch-segments').rows.length > 0; })()`)
	// A seek past what was fetched: the node starts a new generation there
	// and the page drops what it buffered; playback goes on from 31 s.
	p.eval(`document.querySelector('#watch-video').currentTime = 31`)
	p.waitFor("playback after the seek", `(() => { const v = document.querySelector('#watch-video');
		if (v.error) throw new Error('video error ' + v.error.code + ' ' + v.error.message);
		return v.currentTime > 31.5 && !v.seeking; })()`)
	if g := b.Watchings()[0].State.Generation; g != 1 {
		t.Errorf("the seek reached the node as generation %d, want 1", g)
	}
	if got := p.evalString(`document.querySelector('#watch-error').hidden ? '' : document.querySelector('#watch-error').textContent`); got != "" {
		t.Errorf("the Watch area shows an error: %s", got)
	}
	if br.shoot() {
		fullScreenshot(p, filepath.Join(br.shots, "webclient-watch.png"))
	}
	ws := b.Watchings()
	if len(ws) != 1 || ws[0].InfoHash != it.InfoHash || !ws[0].State.QoE.Started {
		t.Fatalf("beta's sessions: %+v", ws)
	}
	t.Logf("start-up on beta (session to first frame in Chromium): %v", ws[0].State.QoE.Startup)
	if errs := br.pageErrors(); len(errs) > 0 {
		t.Errorf("the page reported errors: %v", errs)
	}
}
