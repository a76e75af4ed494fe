package app

import (
	"bytes"
	"fmt"
	"image/png"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"github.com/shoal-p2p/shoal/node"
)

// networkAdmin is what Invite and Join need of the node (private
// networks); *node.Node has it.
type networkAdmin interface {
	NetworkInfo() node.NetworkInfo
	Invite(expires time.Duration) (string, error)
	JoinNetwork(link string) (node.NetworkInfo, error)
}

// inviteExpiries are the choices of how long an invitation is good for.
var inviteExpiries = map[string]time.Duration{"1 hour": time.Hour, "1 day": 24 * time.Hour, "1 week": 7 * 24 * time.Hour, "never": 0}

// kindText is the network line of the Network area.
func kindText(st node.NetworkStats) string {
	kind := st.Kind
	if kind == "" {
		kind = "open"
	}
	text := "Network " + st.Name + " · " + kind
	if kind == "open" {
		text += " (anyone who knows a member may join)"
	} else {
		text += " (members hold its key)"
	}
	return text
}

// showInvite asks how long the invitation is good for, then shows the
// link and its QR code. UI goroutine only.
func (v *networkView) showInvite() {
	admin, ok := v.node.(networkAdmin)
	if !ok || v.window == nil {
		return
	}
	expiry := widget.NewSelect([]string{"1 hour", "1 day", "1 week", "never"}, nil)
	expiry.SetSelected("1 day")
	dialog.ShowForm("Invite to the network", "Make", "Cancel",
		[]*widget.FormItem{widget.NewFormItem("Good for", expiry)}, func(ok bool) {
			if !ok {
				return
			}
			link, err := admin.Invite(inviteExpiries[expiry.Selected])
			if err != nil {
				dialog.ShowError(err, v.window)
				return
			}
			v.showLink(link)
		}, v.window)
}

// showLink shows an invitation link to copy and its QR code.
func (v *networkView) showLink(link string) {
	entry := widget.NewMultiLineEntry()
	entry.SetText(link)
	entry.Wrapping = fyne.TextWrapBreak
	entry.SetMinRowsVisible(3)
	parts := []fyne.CanvasObject{entry}
	if raw, err := node.InviteQR(link); err == nil {
		if img, err := png.Decode(bytes.NewReader(raw)); err == nil {
			qr := canvas.NewImageFromImage(img)
			qr.FillMode = canvas.ImageFillContain
			qr.SetMinSize(fyne.NewSize(220, 220))
			parts = append(parts, qr)
		}
	}
	copyButton := widget.NewButton("Copy", func() {
		if v.clip != nil {
			v.clip.SetContent(link)
		}
	})
	note := widget.NewLabel("The link carries the network key: send it only to whom you invite.")
	note.Wrapping = fyne.TextWrapWord
	parts = append(parts, note, copyButton)
	d := dialog.NewCustom("Invitation", "Close", container.NewVBox(parts...), v.window)
	d.Resize(fyne.NewSize(520, 460))
	d.Show()
}

// showJoin takes a pasted invitation link. UI goroutine only.
func (v *networkView) showJoin() {
	admin, ok := v.node.(networkAdmin)
	if !ok || v.window == nil {
		return
	}
	entry := widget.NewMultiLineEntry()
	entry.SetPlaceHolder("shoal:...")
	entry.Wrapping = fyne.TextWrapBreak
	dialog.ShowForm("Join a private network", "Join", "Cancel",
		[]*widget.FormItem{widget.NewFormItem("Invitation", entry)}, func(ok bool) {
			if !ok {
				return
			}
			info, err := admin.JoinNetwork(entry.Text)
			if err != nil {
				dialog.ShowError(err, v.window)
				return
			}
			msg := fmt.Sprintf("This node is a member of %s already.", info.Network)
			if info.Saved != nil {
				msg = fmt.Sprintf("Invitation to %s accepted. Restart Shoal to join.", info.Saved.Network)
			}
			dialog.ShowInformation("Join", msg, v.window)
		}, v.window)
}
