// Package assets holds the files Shoal embeds: the application icon and the
// web client's static files, served at / of the UI address. It imports no
// project package.
package assets

//go:generate go run icon_gen.go

import "embed"

// Web is the web client, under web/.
//
//go:embed web
var Web embed.FS

// Icon is the application icon, a PNG drawn by icon_gen.go.
//
//go:embed icon.png
var Icon []byte
