// Command shoal runs a Shoal node — a member of a small peer-to-peer content
// delivery network — with its desktop window, or headless, and talks to a
// running node from the command line.
//
// main only chooses between the desktop window and the command line
// (app/cli); everything else lives in node (the node), app (the window) and
// app/cli. This is the only file that imports fyne.io/fyne/v2/app.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"

	"github.com/shoal-p2p/shoal/app"
	"github.com/shoal-p2p/shoal/app/cli"
	_ "github.com/shoal-p2p/shoal/app/locale" // before Fyne reads the locale
	"github.com/shoal-p2p/shoal/node"
)

// appID is the desktop application id; FyneApp.toml carries the same.
const appID = "io.github.shoal_p2p.shoal"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run opens the window when the command line asks for it (no command) and
// there is a display; anything else is the command line's.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, window := cli.WantsWindow(args, stderr)
	if !window || !hasDisplay() {
		return cli.Run(ctx, args, stdout, stderr)
	}
	if err := runDesktop(ctx, opts, stdout); err != nil {
		fmt.Fprintf(stderr, "shoal: %v\n", err)
		return 1
	}
	return 0
}

// hasDisplay tells whether a desktop window can be shown.
func hasDisplay() bool { return os.Getenv("DISPLAY") != "" || os.Getenv("WAYLAND_DISPLAY") != "" }

// runDesktop starts the node and shows its window until the window is
// closed or ctx ends, then stops the node.
func runDesktop(ctx context.Context, opts node.Options, stdout io.Writer) error {
	n, err := node.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer n.Close()
	fmt.Fprintf(stdout, "Shoal node %s is running; web client login link:\n%s\n", n.Config().Name, n.LoginURL())
	cli.Welcome(stdout, n)

	a := fyneapp.NewWithID(appID)
	w := app.NewWindow(a, n)
	go func() {
		<-ctx.Done()
		fyne.Do(a.Quit)
	}()
	w.ShowAndRun()
	return n.Close()
}
