package app

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
)

// openSettings builds the Settings area for n in a window on a test app.
func openSettings(t *testing.T, n Node) (*settingsView, uiQueue) {
	t.Helper()
	test.NewTempApp(t)
	q := newUIQueue()
	v := newSettingsView(n, loop{do: q.do, ctx: t.Context()})
	w := test.NewWindow(v.content)
	t.Cleanup(w.Close)
	return v, q
}

// replaceText clears e and types s into it, as a user does.
func replaceText(e *widget.Entry, s string) {
	e.SetText("")
	test.Type(e, s)
}

func TestSettingsFormShowsConfig(t *testing.T) {
	n := newFakeNode()
	n.cfg.Join = []string{"10.0.0.2:7481", "10.0.0.3:7481"}
	n.cfg.CDN.DHTBootstrap = []string{"10.0.0.2:7482"}
	n.cfg.CDN.PublicDHT = true
	v, _ := openSettings(t, n)
	for _, f := range []struct{ field, got, want string }{
		{"name", v.name.Text, "alpha"},
		{"network", v.network.Text, "shoal"},
		{"bind", v.bind.Text, "127.0.0.1"},
		{"ui address", v.uiAddress.Text, "127.0.0.1:7480"},
		{"peer port", v.peerPort.Text, "7481"},
		{"bittorrent port", v.bittorrentPort.Text, "7482"},
		{"join", v.join.Text, "10.0.0.2:7481\n10.0.0.3:7481"},
		{"dht bootstrap", v.dhtBootstrap.Text, "10.0.0.2:7482"},
		{"log level", v.logLevel.Selected, "info"},
	} {
		if f.got != f.want {
			t.Errorf("%s shows %q, want %q", f.field, f.got, f.want)
		}
	}
	if !v.publicDHT.Checked {
		t.Error("public DHT shows unchecked, want checked")
	}
}

func TestSettingsSaveSendsEditedValues(t *testing.T) {
	n := newFakeNode()
	n.restart = []string{"bind", "ports", "join", "cdn.dht_bootstrap", "cdn.public_dht", "log.level"}
	v, q := openSettings(t, n)

	replaceText(v.name, "gamma")
	replaceText(v.bind, "192.168.1.20")
	replaceText(v.peerPort, "9481")
	replaceText(v.bittorrentPort, "0")
	replaceText(v.join, "10.0.0.2:7481, 10.0.0.3:7481\n10.0.0.4:7481")
	replaceText(v.dhtBootstrap, "10.0.0.2:7482\n10.0.0.5:6881")
	test.Tap(v.publicDHT)
	v.logLevel.SetSelected("debug")
	test.Tap(v.save)

	q.waitFor(t, "the save to finish", func() bool { return !v.save.Disabled() })
	saved := n.savedConfigs()
	if len(saved) != 1 {
		t.Fatalf("SaveSettings called %d times, want 1", len(saved))
	}
	want := n.cfg
	want.Name = "gamma"
	want.Bind = "192.168.1.20"
	want.Ports.Peer, want.Ports.BitTorrent = 9481, 0
	want.Join = []string{"10.0.0.2:7481", "10.0.0.3:7481", "10.0.0.4:7481"}
	want.CDN.DHTBootstrap = []string{"10.0.0.2:7482", "10.0.0.5:6881"}
	want.CDN.PublicDHT = true
	want.Log.Level = "debug"
	if got := saved[0]; got.Name != want.Name || got.Network != want.Network || got.Bind != want.Bind ||
		got.UI != want.UI || got.Ports != want.Ports || got.Log != want.Log || !slices.Equal(got.Join, want.Join) ||
		!slices.Equal(got.CDN.DHTBootstrap, want.CDN.DHTBootstrap) || got.CDN.PublicDHT != want.CDN.PublicDHT {
		t.Errorf("saved %+v\nwant  %+v", got, want)
	}
	for _, s := range []string{"Saved.", "bind address", "ports", "join list", "DHT bootstrap", "public DHT", "log level", "after restart"} {
		if !strings.Contains(v.result.Text, s) {
			t.Errorf("result %q does not mention %q", v.result.Text, s)
		}
	}
}

func TestSettingsSaveOfNameTakesEffectAtOnce(t *testing.T) {
	n := newFakeNode()
	n.restart = []string{}
	v, q := openSettings(t, n)
	replaceText(v.name, "gamma")
	test.Tap(v.save)
	q.waitFor(t, "the save to finish", func() bool { return !v.save.Disabled() })
	if v.result.Text != "Saved." {
		t.Errorf("result %q, want %q", v.result.Text, "Saved.")
	}
}

func TestSettingsShowsValidationError(t *testing.T) {
	n := newFakeNode()
	n.saveErr = errors.New(`node: settings: bind "not-an-ip" is not an IP address`)
	v, q := openSettings(t, n)
	replaceText(v.bind, "not-an-ip")
	test.Tap(v.save)

	q.waitFor(t, "the save to finish", func() bool { return !v.save.Disabled() })
	if !strings.Contains(v.result.Text, `bind "not-an-ip" is not an IP address`) {
		t.Errorf("result %q does not show the node's error", v.result.Text)
	}
	if v.result.Importance != widget.DangerImportance {
		t.Errorf("error shown with importance %v, want danger", v.result.Importance)
	}
	if v.bind.Text != "not-an-ip" {
		t.Errorf("form reset to %q; the user's input should stay to be fixed", v.bind.Text)
	}
}

func TestSettingsRejectsPortThatIsNoNumber(t *testing.T) {
	n := newFakeNode()
	v, _ := openSettings(t, n)
	replaceText(v.peerPort, "74a1")
	test.Tap(v.save)
	if !strings.Contains(v.result.Text, `peer port "74a1" is not a number`) {
		t.Errorf("result %q, want the bad port named", v.result.Text)
	}
	if saved := n.savedConfigs(); len(saved) != 0 {
		t.Errorf("saved %+v despite a bad port", saved)
	}
}

func TestSettingsHintsWhichFieldsNeedRestart(t *testing.T) {
	v, _ := openSettings(t, newFakeNode())
	hinted := map[string]bool{}
	walkShown(v.content, func(o fyne.CanvasObject) {
		if f, ok := o.(*widget.Form); ok {
			for _, it := range f.Items {
				hinted[it.Text] = it.HintText == restartHint
			}
		}
	})
	want := map[string]bool{
		"Name": false, "Network": true, "Bind address": true, "UI address": true,
		"Peer port": true, "BitTorrent port": true, "Join": true, "DHT bootstrap": true, "Public DHT": true,
		"Log level": true,
	}
	for field, restart := range want {
		if got, ok := hinted[field]; !ok || got != restart {
			t.Errorf("field %q: restart hint %v (present %v), want %v", field, got, ok, restart)
		}
	}
	if !showsText(v.content, restartHint) {
		t.Errorf("hint %q not drawn", restartHint)
	}
}
