package app

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/shoal-p2p/shoal/node"
)

// restartHint marks the settings that a running node keeps until it restarts.
const restartHint = "takes effect after restart"

// settingsView is the Settings area: a form over node.Config that saves
// through the node, which validates it.
type settingsView struct {
	node Node
	loop loop
	// base is the config the form edits; settings the form does not show
	// are saved as they are.
	base node.Config

	name, network, bind, uiAddress, peerPort, bittorrentPort, join, dhtBootstrap *widget.Entry
	publicDHT                                                                    *widget.Check
	logLevel                                                                     *widget.Select
	save                                                                         *widget.Button
	result                                                                       *widget.Label

	content fyne.CanvasObject
}

func newSettingsView(n Node, l loop) *settingsView {
	v := &settingsView{
		node:           n,
		loop:           l,
		name:           widget.NewEntry(),
		network:        widget.NewEntry(),
		bind:           widget.NewEntry(),
		uiAddress:      widget.NewEntry(),
		peerPort:       widget.NewEntry(),
		bittorrentPort: widget.NewEntry(),
		join:           widget.NewMultiLineEntry(),
		dhtBootstrap:   widget.NewMultiLineEntry(),
		publicDHT:      widget.NewCheck("Also start from the public BitTorrent routers", nil),
		logLevel:       widget.NewSelect([]string{"debug", "info", "warn", "error"}, nil),
		result:         widget.NewLabel(""),
	}
	v.join.SetPlaceHolder("HOST:PORT of members, one a line or comma-separated")
	v.join.SetMinRowsVisible(3)
	v.dhtBootstrap.SetPlaceHolder("HOST:PORT of DHT nodes, such as a member's BitTorrent port")
	v.dhtBootstrap.SetMinRowsVisible(2)
	v.result.Wrapping = fyne.TextWrapWord
	v.save = widget.NewButtonWithIcon("Save", theme.DocumentSaveIcon(), v.submit)
	v.save.Importance = widget.HighImportance

	form := widget.NewForm(
		&widget.FormItem{Text: "Name", Widget: v.name, HintText: "answers as NAME.shoal.; takes effect at once"},
		&widget.FormItem{Text: "Network", Widget: v.network, HintText: restartHint},
		&widget.FormItem{Text: "Bind address", Widget: v.bind, HintText: restartHint},
		&widget.FormItem{Text: "UI address", Widget: v.uiAddress, HintText: restartHint},
		&widget.FormItem{Text: "Peer port", Widget: v.peerPort, HintText: restartHint},
		&widget.FormItem{Text: "BitTorrent port", Widget: v.bittorrentPort, HintText: restartHint},
		&widget.FormItem{Text: "Join", Widget: v.join, HintText: restartHint},
		&widget.FormItem{Text: "DHT bootstrap", Widget: v.dhtBootstrap, HintText: restartHint},
		&widget.FormItem{Text: "Public DHT", Widget: v.publicDHT, HintText: restartHint},
		&widget.FormItem{Text: "Log level", Widget: v.logLevel, HintText: restartHint},
	)
	v.content = container.NewVScroll(container.NewPadded(container.NewVBox(
		form,
		container.NewHBox(v.save),
		v.result,
	)))
	if res, err := n.Settings(); err != nil {
		v.showError(err)
	} else {
		v.load(res.Settings)
		if len(res.Restart) > 0 {
			v.showSaved(res.Restart)
		}
	}
	return v
}

// load fills the form with cfg.
func (v *settingsView) load(cfg node.Config) {
	v.base = cfg
	v.name.SetText(cfg.Name)
	v.network.SetText(cfg.Network)
	v.bind.SetText(cfg.Bind)
	v.uiAddress.SetText(cfg.UI.Address)
	v.peerPort.SetText(strconv.Itoa(cfg.Ports.Peer))
	v.bittorrentPort.SetText(strconv.Itoa(cfg.Ports.BitTorrent))
	v.join.SetText(strings.Join(cfg.Join, "\n"))
	v.dhtBootstrap.SetText(strings.Join(cfg.CDN.DHTBootstrap, "\n"))
	v.publicDHT.SetChecked(cfg.CDN.PublicDHT)
	v.logLevel.SetSelected(cfg.Log.Level)
}

// config is the form's settings. It checks only what the form must turn
// into numbers; the node validates the rest.
func (v *settingsView) config() (node.Config, error) {
	cfg := v.base
	cfg.Name = strings.TrimSpace(v.name.Text)
	cfg.Network = strings.TrimSpace(v.network.Text)
	cfg.Bind = strings.TrimSpace(v.bind.Text)
	cfg.UI.Address = strings.TrimSpace(v.uiAddress.Text)
	var err error
	if cfg.Ports.Peer, err = port("peer port", v.peerPort.Text); err != nil {
		return cfg, err
	}
	if cfg.Ports.BitTorrent, err = port("BitTorrent port", v.bittorrentPort.Text); err != nil {
		return cfg, err
	}
	cfg.Join = addressList(v.join.Text)
	cfg.CDN.DHTBootstrap = addressList(v.dhtBootstrap.Text)
	cfg.CDN.PublicDHT = v.publicDHT.Checked
	cfg.Log.Level = v.logLevel.Selected
	return cfg, nil
}

// addressList splits HOST:PORT addresses given one a line or
// comma-separated.
func addressList(s string) []string {
	list := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	if list == nil {
		list = []string{}
	}
	return list
}

func port(what, s string) (int, error) {
	p, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%s %q is not a number", what, s)
	}
	return p, nil
}

// submit saves the form through the node, off the UI goroutine because the
// node writes and syncs shoal.toml.
func (v *settingsView) submit() {
	cfg, err := v.config()
	if err != nil {
		v.showError(err)
		return
	}
	v.save.Disable()
	v.result.Importance = widget.MediumImportance
	v.result.SetText("Saving…")
	go func() {
		res, err := v.node.SaveSettings(cfg)
		v.loop.do(func() {
			v.save.Enable()
			if err != nil {
				v.showError(err)
				return
			}
			v.base = res.Settings
			v.showSaved(res.Restart)
		})
	}()
}

func (v *settingsView) showError(err error) {
	v.result.Importance = widget.DangerImportance
	v.result.SetText("Not saved: " + err.Error())
}

// showSaved says which of the saved settings wait for a restart.
func (v *settingsView) showSaved(restart []string) {
	if len(restart) == 0 {
		v.result.Importance = widget.SuccessImportance
		v.result.SetText("Saved.")
		return
	}
	names := make([]string, len(restart))
	for i, r := range restart {
		names[i] = settingLabel(r)
	}
	v.result.Importance = widget.WarningImportance
	v.result.SetText("Saved. Changes to " + strings.Join(names, ", ") + " take effect after restart.")
}

// settingLabel names a setting of node.SettingsResult.Restart as the form
// does.
func settingLabel(key string) string {
	switch key {
	case "bind":
		return "bind address"
	case "ui.address":
		return "UI address"
	case "log.level":
		return "log level"
	case "join":
		return "join list"
	case "cdn.dht_bootstrap":
		return "DHT bootstrap"
	case "cdn.public_dht":
		return "public DHT"
	}
	return key // network, ports
}
