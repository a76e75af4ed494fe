package node

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWebClientBrowse uses the Browse area of beta's web client in headless
// Chromium: alpha's site is listed, opens in a sandboxed frame from alpha's
// peer origin (never the UI's: the page cannot reach into it), the frame
// really shows the site, and the proxy's PAC URL is explained. With
// SHOAL_SCREENSHOTS=DIR it writes webclient-browse.png to DIR.
func TestWebClientBrowse(t *testing.T) {
	requireChromium(t)
	a := startMember(t, "alpha", "127.0.0.2")
	b := startMember(t, "beta", "127.0.0.3", a.CDN().PeerAddr())
	waitFor(t, "the two nodes to see each other", func() bool { return aliveMembers(a) == 2 && aliveMembers(b) == 2 })
	ih := publishSite(t, a)
	waitFor(t, "beta to see alpha's site", func() bool { return len(b.BrowseSites()) == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	br := startChromium(ctx, t)
	p := br.newPage(ctx, t)
	p.navigate(b.LoginURL())
	p.waitText("#node-name", "beta")
	p.eval(`location.hash = '#/browse'`)

	row := fmt.Sprintf(`#site-list li[data-infohash=%q]`, ih)
	p.waitFor("alpha's site listed", fmt.Sprintf(`(document.querySelector(%q)?.textContent ?? '').includes('garden on alpha')`, row))
	p.waitText("#proxy-pac", "http://"+b.ProxyAddr()+"/proxy.pac")
	p.waitFor("the proxy's cache figures", `/^\d+ \(\d+ hits/.test(document.querySelector('#proxy-stats dd[data-key="Requests"]')?.textContent ?? '') &&
		/ %$/.test(document.querySelector('#proxy-stats dd[data-key="Byte hit ratio"]')?.textContent ?? '')`)
	p.waitText("#proxy-chromium", "chromium --proxy-pac-url=http://"+b.ProxyAddr()+"/proxy.pac")
	p.waitText("#proxy-curl", "curl -x http://"+b.ProxyAddr()+" http://alpha.shoal/cdn/"+ih+"/index.html")

	p.eval(fmt.Sprintf(`document.querySelector('%s button').click()`, row))
	peerURL := "http://" + a.CDN().PeerAddr() + "/cdn/" + ih + "/index.html"
	p.waitFor("the frame", fmt.Sprintf(`document.querySelector('#site-frame')?.src === %q`, peerURL))
	if sb := p.evalString(`document.querySelector('#site-frame').getAttribute('sandbox')`); strings.Contains(sb, "allow-same-origin") || !strings.Contains(sb, "allow-scripts") {
		t.Fatalf("sandbox %q", sb)
	}

	// The frame loaded the site itself, in a process of its own (another
	// site): attached to as its own target, its document is the site's.
	var frameTarget string
	waitUntil(t, "the site's frame as a target", func() bool {
		var res struct {
			TargetInfos []struct {
				TargetID string `json:"targetId"`
				Type     string `json:"type"`
				URL      string `json:"url"`
			} `json:"targetInfos"`
		}
		if err := br.call(ctx, "", "Target.getTargets", nil, &res); err != nil {
			t.Fatal(err)
		}
		for _, ti := range res.TargetInfos {
			if ti.Type == "iframe" && ti.URL == peerURL {
				frameTarget = ti.TargetID
				return true
			}
		}
		return false
	})
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	if err := br.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": frameTarget, "flatten": true}, &attached); err != nil {
		t.Fatal(err)
	}
	frame := &page{b: br, t: t, ctx: ctx, session: attached.SessionID}
	waitUntil(t, "the site's title in the frame", func() bool {
		v, err := frame.evalValue(`document.title`)
		return err == nil && string(v) == `"The Garden"`
	})
	var isolated bool
	json.Unmarshal(p.eval(`(() => { try { return document.querySelector('#site-frame').contentDocument === null; } catch { return true; } })()`), &isolated)
	if !isolated {
		t.Fatal("the UI can read the framed site's document")
	}
	if errs := br.pageErrors(); len(errs) > 0 {
		t.Fatalf("page errors (a CSP refusal of the frame shows here): %q", errs)
	}
	if br.shoot() {
		p.screenshot(filepath.Join(br.shots, "webclient-browse.png"))
	}
}
