package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// chromiumPath is where Debian's chromium package (and the Makefile in CI)
// puts the browser that the web client is tested in.
const chromiumPath = "/usr/bin/chromium"

// TestWebClient opens the web client in headless Chromium against a real
// node and uses it as a person would: log in through a one-time link, read
// the node's name and id, watch events arrive live, save settings with an
// error and then without one, follow the node through a restart, log out.
// With SHOAL_SCREENSHOTS=DIR it also writes webclient.png (the Node area),
// webclient-dark.png (the same in dark mode) and webclient-settings.png to DIR.
func TestWebClient(t *testing.T) {
	requireChromium(t)
	dataDir := t.TempDir()
	start := func(uiAddr string) *Node {
		t.Helper()
		n, err := Start(context.Background(), Options{DataDir: dataDir, Override: func(c *Config) {
			c.UI.Address = uiAddr
			c.Ports = Ports{}
			c.Name = "webtest"
		}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	n := start("127.0.0.1:0")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := startChromium(ctx, t)
	p := b.newPage(ctx, t)

	// Login: the link sets the session cookie and redirects to the app,
	// which fetches the status with it and renders it.
	p.navigate(n.LoginURL())
	p.waitText("#node-name", "webtest")
	p.waitText("#node-id", n.Identity().ID())
	p.waitText("#header-node-name", "webtest")
	p.waitText("#node-network", n.Config().Network)
	p.waitText("#node-version", Version)
	p.waitText("#node-data-dir", n.DataDir())
	p.waitText(`#node-services tr[data-service="ui"] a`, n.UIAddress())
	p.waitFor("the connection indicator says live", `document.querySelector('#conn-state').dataset.state === 'live'`)
	p.waitFor("the backlog holds node.started", `!!document.querySelector('#event-log li[data-type="node.started"]')`)

	// Uptime ticks on its own, without events or requests.
	first := p.evalString(`document.querySelector('#node-uptime').textContent`)
	p.waitFor("uptime to tick from "+first, fmt.Sprintf(`document.querySelector('#node-uptime').textContent !== %q`, first))

	// Events arrive live, newest first; types the client has no view for
	// show generically, log lines carry their level.
	n.Bus().Publish("webtest.probe", map[string]any{"marker": "probe-4711"})
	p.waitFor("the probe event on top of the log",
		`(() => { const li = document.querySelector('#event-log li:first-child');
		  return li && li.dataset.type === 'webtest.probe' && li.textContent.includes('probe-4711'); })()`)
	n.Log().Warn("webclient test warning", "disk", "full")
	p.waitFor("the warning on top of the log",
		`(() => { const li = document.querySelector('#event-log li:first-child');
		  return li && li.dataset.type === 'log' && li.dataset.level === 'warn' &&
		    li.textContent.includes('webclient test warning') && li.textContent.includes('disk=full'); })()`)
	if got := p.evalString(`document.querySelector('#event-log li:nth-child(2)').dataset.type`); got != "webtest.probe" {
		t.Errorf("second row of the event log is %q, want the older webtest.probe", got)
	}
	if b.shoot() {
		p.screenshot(filepath.Join(b.shots, "webclient.png"))
		p.do("Emulation.setEmulatedMedia", map[string]any{"features": []map[string]string{{"name": "prefers-color-scheme", "value": "dark"}}}, nil)
		p.screenshot(filepath.Join(b.shots, "webclient-dark.png"))
		p.do("Emulation.setEmulatedMedia", map[string]any{"features": []map[string]string{{"name": "prefers-color-scheme", "value": "light"}}}, nil)
	}

	// Settings: a bad bind address gets the node's error and changes nothing.
	p.eval(`location.hash = '#/settings'`)
	p.waitFor("the settings form to load", `document.querySelector('#settings-bind')?.value === '127.0.0.1'`)
	p.waitText("#settings-name", "webtest")
	p.fill("#settings-bind", "not-an-ip")
	p.submit("#settings-form")
	p.waitFor("the error to show", `(() => { const e = document.querySelector('#settings-error');
		return e.checkVisibility() && e.textContent.includes('"not-an-ip" is not an IP address'); })()`)
	if got := p.evalString(`document.querySelector('#settings-bind').getAttribute('aria-invalid')`); got != "true" {
		t.Errorf("bind field aria-invalid = %q after the error, want true", got)
	}
	if cfg := n.Config(); cfg.Bind != "127.0.0.1" || cfg.Name != "webtest" {
		t.Errorf("a refused save changed the config: %+v", cfg)
	}

	// So does a bad DHT bootstrap node, which the error names and the form marks.
	p.fill("#settings-bind", "127.0.0.1")
	p.fill("#settings-cdn-dht_bootstrap", "192.0.2.10:7482\nno-port")
	p.submit("#settings-form")
	p.waitFor("the DHT bootstrap error to show", `(() => { const e = document.querySelector('#settings-error');
		return e.checkVisibility() && e.textContent.includes('cdn.dht_bootstrap') && e.textContent.includes('"no-port"'); })()`)
	if got := p.evalString(`document.querySelector('#settings-cdn-dht_bootstrap').getAttribute('aria-invalid')`); got != "true" {
		t.Errorf("DHT bootstrap field aria-invalid = %q after the error, want true", got)
	}
	if cfg := n.Config(); len(cfg.CDN.DHTBootstrap) != 0 {
		t.Errorf("a refused save changed the config: %+v", cfg.CDN)
	}

	// A good save applies the name at once, everywhere.
	p.fill("#settings-cdn-dht_bootstrap", "")
	p.fill("#settings-name", "webtest2")
	p.submit("#settings-form")
	p.waitFor("the success note", `document.querySelector('#settings-result').checkVisibility()`)
	if got := p.evalString(`document.querySelector('#settings-error').hidden ? '' : 'shown'`); got != "" {
		t.Errorf("the error note is still shown after a good save")
	}
	waitUntil(t, "the node to take the new name", func() bool { return n.Config().Name == "webtest2" })
	p.waitText("#header-node-name", "webtest2")

	// A save made elsewhere (desktop window, CLI) arrives as an event: the
	// form shows it, with the restart hint where one is due.
	cfg := n.Config()
	cfg.Name = "fromcli"
	cfg.Log.Level = "debug"
	if _, err := n.SaveSettings(cfg); err != nil {
		t.Fatal(err)
	}
	p.waitFor("the form to show the saved name", `document.querySelector('#settings-name').value === 'fromcli'`)
	p.waitFor("the log level's restart hint", `document.querySelector('[data-restart-hint="log.level"]').checkVisibility()`)
	// The public DHT box is a change like any other, and one to discard
	// (saved, the restarted node below would reach out to public routers).
	p.eval(`document.querySelector('#settings-cdn-public_dht').click()`)
	p.waitFor("the ticked box to mark its field changed", `document.querySelector('[data-field="cdn.public_dht"]').dataset.dirty === 'true' &&
		!document.querySelector('#settings-discard').disabled`)
	p.eval(`document.querySelector('#settings-discard').click()`)
	p.waitFor("discard to untick the box", `!document.querySelector('#settings-cdn-public_dht').checked &&
		document.querySelector('[data-field="cdn.public_dht"]').dataset.dirty === 'false'`)
	if got := p.evalString(`document.querySelector('[data-restart-hint="name"]') ? 'present' : ''`); got != "" {
		t.Errorf("the name has a restart hint, but it applies at once")
	}
	p.waitText("#header-node-name", "fromcli")
	if b.shoot() {
		p.screenshot(filepath.Join(b.shots, "webclient-settings.png"))
	}
	p.eval(`location.hash = '#/node'`)
	p.waitText("#node-name", "fromcli")

	// A restart of the node: the page reconnects by itself, and reads the
	// new run's events from their start although their numbers begin again.
	addr := n.UIAddress()
	oldStart := p.evalString(`document.querySelector('#node-started').dateTime`)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	p.waitFor("the indicator to say reconnecting", `document.querySelector('#conn-state').dataset.state === 'reconnecting'`)
	n = start(addr)
	p.waitFor("the indicator to say live again", `document.querySelector('#conn-state').dataset.state === 'live'`)
	p.waitFor("the new run's start time", fmt.Sprintf(`document.querySelector('#node-started').dateTime !== %q`, oldStart))
	p.waitFor("both runs' node.started events", `document.querySelectorAll('#event-log li[data-type="node.started"]').length === 2`)
	p.waitText("#node-name", "webtest")

	// The log keeps the newest 500 rows. Events go out in batches smaller
	// than the bus's subscriber buffer, so none is dropped on the way.
	for i := 1; i <= 600; i++ {
		n.Bus().Publish("webtest.flood", map[string]int{"i": i})
		if i%100 == 0 {
			p.waitFor(fmt.Sprintf("flood event %d on top", i), fmt.Sprintf(
				`document.querySelector('#event-log li:first-child').textContent.includes('{"i":%d}')`, i))
		}
	}
	if got := p.evalString(`String(document.querySelectorAll('#event-log li').length)`); got != "500" {
		t.Errorf("the event log has %s rows, want 500", got)
	}

	// Logout ends the session: the page says so, and so does a reload.
	p.eval(`document.querySelector('#logout').click()`)
	p.waitFor("the logged-out screen", `document.querySelector('#screen-login').checkVisibility() &&
		document.querySelector('#login-reason').textContent.includes('logged out')`)
	if got := p.evalString(`fetch('/api/v1/status').then(r => String(r.status))`); got != "401" {
		t.Errorf("GET /api/v1/status after logout = %s, want 401", got)
	}
	p.eval(`location.reload()`)
	p.waitFor("the not-logged-in screen", `document.querySelector('#screen-login')?.checkVisibility() &&
		!document.querySelector('#screen-app').checkVisibility() &&
		document.querySelector('#screen-login').textContent.includes('Not logged in') &&
		document.querySelector('#screen-login').textContent.includes('shoal login')`)

	if errs := b.pageErrors(); len(errs) > 0 {
		t.Errorf("the page reported errors:\n%s", strings.Join(errs, "\n"))
	}
}

// requireChromium skips the test when Chromium is missing, except in CI,
// where the Makefile installs it and its absence is a failure.
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but %s is missing (apt-get install chromium): %v", chromiumPath, err)
		}
		t.Skipf("%s is missing; apt-get install chromium to run this test", chromiumPath)
	}
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// browser is headless Chromium driven over the DevTools protocol on a pipe
// (--remote-debugging-pipe: commands go in on fd 3, replies and events come
// out on fd 4, each message JSON ended by a NUL byte), which needs no
// WebSocket client and no port.
type browser struct {
	t      *testing.T
	cmd    *exec.Cmd
	in     io.WriteCloser
	stderr *bytes.Buffer
	shots  string // SHOAL_SCREENSHOTS: where to write screenshots, or ""

	mu      sync.Mutex
	nextID  int64
	waiting map[int64]chan cdpMessage
	errs    []string // what pages reported as errors
	done    chan struct{}
}

type cdpMessage struct {
	ID        int64           `json:"id,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// startChromium starts headless Chromium; extra are more flags (such as
// --proxy-server).
func startChromium(ctx context.Context, t *testing.T, extra ...string) *browser {
	t.Helper()
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, in: cmdW, stderr: &bytes.Buffer{}, shots: os.Getenv("SHOAL_SCREENSHOTS"),
		waiting: map[int64]chan cdpMessage{}, done: make(chan struct{})}
	args := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--remote-debugging-pipe", "--hide-scrollbars"}, extra...)
	b.cmd = exec.Command(chromiumPath, append(args, "about:blank")...)
	b.cmd.ExtraFiles = []*os.File{cmdR, outW} // fds 3 and 4 in the browser
	b.cmd.Stderr = b.stderr
	b.cmd.WaitDelay = time.Second
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	cmdR.Close()
	outW.Close()
	go b.read(outR)
	t.Cleanup(func() {
		// Ask Chromium to quit; kill it if it does not within a few seconds.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		b.call(ctx, "", "Browser.close", nil, nil)
		b.in.Close()
		exited := make(chan error, 1)
		go func() { exited <- b.cmd.Wait() }()
		var err error
		select {
		case err = <-exited:
		case <-ctx.Done():
			b.cmd.Process.Kill()
			err = <-exited
		}
		if t.Failed() {
			t.Logf("chromium exited: %v; its stderr:\n%s", err, b.stderr)
		}
	})
	return b
}

func (b *browser) shoot() bool { return b.shots != "" }

func (b *browser) read(r io.ReadCloser) {
	defer close(b.done)
	defer r.Close()
	br := bufio.NewReader(r)
	for {
		raw, err := br.ReadBytes(0)
		if err != nil {
			return
		}
		var m cdpMessage
		if err := json.Unmarshal(raw[:len(raw)-1], &m); err != nil {
			continue
		}
		if m.ID != 0 {
			b.mu.Lock()
			ch := b.waiting[m.ID]
			delete(b.waiting, m.ID)
			b.mu.Unlock()
			if ch != nil {
				ch <- m
			}
			continue
		}
		b.event(m)
	}
}

// event records what a page reports as an error: uncaught exceptions,
// console.error, and browser errors such as CSP violations. Failed requests
// are left out: the test makes some on purpose (400, 401).
func (b *browser) event(m cdpMessage) {
	var msg string
	switch m.Method {
	case "Runtime.exceptionThrown":
		var p struct {
			ExceptionDetails struct {
				Text      string `json:"text"`
				Exception struct {
					Description string `json:"description"`
				} `json:"exception"`
			} `json:"exceptionDetails"`
		}
		json.Unmarshal(m.Params, &p)
		msg = "exception: " + p.ExceptionDetails.Text + " " + p.ExceptionDetails.Exception.Description
	case "Runtime.consoleAPICalled":
		var p struct {
			Type string            `json:"type"`
			Args []json.RawMessage `json:"args"`
		}
		json.Unmarshal(m.Params, &p)
		if p.Type == "error" {
			msg = "console.error: " + fmt.Sprint(p.Args)
		}
	case "Log.entryAdded":
		var p struct {
			Entry struct {
				Source string `json:"source"`
				Level  string `json:"level"`
				Text   string `json:"text"`
				URL    string `json:"url"`
			} `json:"entry"`
		}
		json.Unmarshal(m.Params, &p)
		if p.Entry.Level == "error" && p.Entry.Source != "network" {
			msg = fmt.Sprintf("%s: %s (%s)", p.Entry.Source, p.Entry.Text, p.Entry.URL)
		}
	}
	if msg != "" {
		b.mu.Lock()
		b.errs = append(b.errs, msg)
		b.mu.Unlock()
	}
}

func (b *browser) pageErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errs...)
}

// call sends one command, to the browser or (with session) to a page, and
// decodes its result into result.
func (b *browser) call(ctx context.Context, session, method string, params, result any) error {
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	ch := make(chan cdpMessage, 1)
	b.waiting[id] = ch
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.waiting, id)
		b.mu.Unlock()
	}()
	req := map[string]any{"id": id, "method": method}
	if params != nil {
		req["params"] = params
	}
	if session != "" {
		req["sessionId"] = session
	}
	raw, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, err := b.in.Write(append(raw, 0)); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			return fmt.Errorf("%s: %s (%d)", method, m.Error.Message, m.Error.Code)
		}
		if result != nil {
			return json.Unmarshal(m.Result, result)
		}
		return nil
	case <-b.done:
		return fmt.Errorf("%s: chromium exited", method)
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// page is one tab, attached to with its own session.
type page struct {
	b       *browser
	t       *testing.T
	ctx     context.Context
	session string
}

func (b *browser) newPage(ctx context.Context, t *testing.T) *page {
	t.Helper()
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		t.Fatal(err)
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached); err != nil {
		t.Fatal(err)
	}
	p := &page{b: b, t: t, ctx: ctx, session: attached.SessionID}
	for _, domain := range []string{"Page", "Runtime", "Log"} {
		p.do(domain+".enable", nil, nil)
	}
	// A tab made over the protocol starts in the background, where headless
	// Chromium does not paint it: screenshots would come out blank.
	p.do("Page.bringToFront", nil, nil)
	p.do("Emulation.setDeviceMetricsOverride", map[string]any{"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}, nil)
	return p
}

func (p *page) do(method string, params, result any) {
	p.t.Helper()
	if err := p.b.call(p.ctx, p.session, method, params, result); err != nil {
		p.t.Fatal(err)
	}
}

func (p *page) navigate(url string) {
	p.t.Helper()
	var res struct {
		ErrorText string `json:"errorText"`
	}
	p.do("Page.navigate", map[string]any{"url": url}, &res)
	if res.ErrorText != "" {
		p.t.Fatalf("navigate to %s: %s", url, res.ErrorText)
	}
}

// evalValue runs JavaScript in the page, awaiting a promise, and returns the
// result as JSON; a thrown exception is an error.
func (p *page) evalValue(expr string) (json.RawMessage, error) {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	err := p.b.call(p.ctx, p.session, "Runtime.evaluate",
		map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &res)
	if err != nil {
		return nil, err
	}
	if e := res.ExceptionDetails; e != nil {
		return nil, fmt.Errorf("%s %s", e.Text, e.Exception.Description)
	}
	return res.Result.Value, nil
}

func (p *page) eval(expr string) json.RawMessage {
	p.t.Helper()
	v, err := p.evalValue(expr)
	if err != nil {
		p.t.Fatalf("eval %s: %v", expr, err)
	}
	return v
}

func (p *page) evalString(expr string) string {
	p.t.Helper()
	var s string
	if err := json.Unmarshal(p.eval(expr), &s); err != nil {
		p.t.Fatalf("eval %s: not a string: %v", expr, err)
	}
	return s
}

// waitFor polls a JavaScript condition until it is true, for up to 10 s. The
// page may be between documents (after a navigation or reload), so errors
// count as not yet.
func (p *page) waitFor(what, cond string) {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var lastErr error
	for {
		v, err := p.evalValue("!!(" + cond + ")")
		if err == nil && string(v) == "true" {
			return
		}
		if err != nil {
			lastErr = err
		}
		if time.Now().After(deadline) || p.ctx.Err() != nil {
			body, _ := p.evalValue(`document.body ? document.body.innerText : ''`)
			p.t.Fatalf("timed out waiting for %s (last error: %v); the page reads:\n%s", what, lastErr, body)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// waitText waits until the element is visible and its text (or a form
// control's value) is want.
func (p *page) waitText(selector, want string) {
	p.t.Helper()
	p.waitFor(fmt.Sprintf("%s to read %q", selector, want), fmt.Sprintf(
		`(() => { const el = document.querySelector(%q); if (!el) return false;
		  if (!el.checkVisibility()) return false;
		  const v = ['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName) ? el.value : el.textContent;
		  return v.trim() === %q; })()`, selector, want))
}

// fill sets a form control's value as typing would, input event included.
func (p *page) fill(selector, value string) {
	p.t.Helper()
	p.eval(fmt.Sprintf(`(() => { const el = document.querySelector(%q); el.focus(); el.value = %q;
		el.dispatchEvent(new Event('input', {bubbles: true})); })()`, selector, value))
}

// submit submits a form as its submit button would.
func (p *page) submit(selector string) {
	p.t.Helper()
	p.eval(fmt.Sprintf(`document.querySelector(%q).requestSubmit()`, selector))
}

func (p *page) screenshot(path string) {
	p.t.Helper()
	var shot struct {
		Data string `json:"data"`
	}
	p.do("Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true}, &shot)
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s", path)
}
