// Package cli is Shoal's command line: `shoal node` runs a node headless,
// and every other command talks to a running node through its control API
// (found through --data or --api).
//
// Each command is a struct with its own flags and a Run method, parsed by
// kong; groups of commands (`shoal dns query`) are nested structs. cli imports
// no fyne package: main opens the desktop window itself when WantsWindow says
// the command line asks for it.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/alecthomas/kong"
	"github.com/posener/complete"
	"github.com/willabides/kongplete"

	"github.com/shoal-p2p/shoal/node"
)

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// usageError is bad usage found after parsing (an unknown record type, say):
// exit status 2, like a parse error.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// program is the whole command line. Globals are the flags every command
// takes; NodeFlags go on the commands that start a node.
type program struct {
	Globals

	Window  windowCmd  `cmd:"" default:"withargs" hidden:"" help:"Open the desktop window, or run headless when there is no display."`
	Node    nodeCmd    `cmd:"" help:"Run a node headless (no window)."`
	Status  statusCmd  `cmd:"" help:"Show the running node's name, id, uptime and services."`
	Login   loginCmd   `cmd:"" help:"Print a one-time login link for the web client."`
	Publish publishCmd `cmd:"" help:"Share a file or folder; prints its magnet link last."`
	Get     getCmd     `cmd:"" help:"Download an item with a progress bar."`
	Ls      lsCmd      `cmd:"" help:"List this node's items, or the whole network's catalog, searched by <query>."`
	Peers   peersCmd   `cmd:"" help:"List the network's members: state, last seen, round trip."`
	Network networkCmd `cmd:"" help:"The network: open or private; create a private one, invite, join, rekey, remove members."`
	Pause   itemCmd    `cmd:"" help:"Pause an item."`
	Resume  itemCmd    `cmd:"" help:"Resume a paused item."`
	Pin     itemCmd    `cmd:"" help:"Keep an item out of cache eviction."`
	Unpin   itemCmd    `cmd:"" help:"Let an item be evicted again."`
	Rm      rmCmd      `cmd:"" help:"Remove an item."`
	DNS     dnsCmd     `cmd:"" name:"dns" help:"Look up names; list, add and remove your own records."`
	Mail    mailCmd    `cmd:"" help:"Send and read mail; the queue; the node's mail users."`
	Proxy   proxyCmd   `cmd:"" help:"The caching HTTP proxy: statistics, purge."`
	Site    siteCmd    `cmd:"" help:"Publish folders as the group's web sites; list, remove."`
	Backup  backupCmd  `cmd:"" help:"Write a consistent copy of the node's database to <file>."`
	Version versionCmd `cmd:"" help:"Print Shoal's version."`
	Help    helpCmd    `cmd:"" help:"Show help for the program or for one command."`

	Completion kongplete.InstallCompletions `cmd:"" help:"Print the shell code that completes shoal's commands and flags in bash, zsh or fish; add it to the shell's startup file."`
}

// Globals are the flags of every command, before or after its arguments.
type Globals struct {
	Data string `placeholder:"DIR" help:"The node's data dir; client commands find the running node through it." default:"${data}"`
	API  string `name:"api" placeholder:"URL" help:"URL of a running node's control API (default: found through --data)."`
	JSON bool   `name:"json" help:"Print JSON instead of text."`

	// set by Run, not flags
	stdin          io.Reader `kong:"-"`
	stdout, stderr io.Writer `kong:"-"`
}

const description = `Shoal turns a group of computers into a small peer-to-peer content delivery network.

With no command, shoal opens the desktop window, or runs a headless node when there is no display
($DISPLAY and $WAYLAND_DISPLAY unset). Flags go before or after the arguments. Exit status: 0 success,
1 failure, 2 bad usage.`

// exitCode is how kong's Exit reaches Run: help and --help end the parse.
type exitCode int

func newParser(p *program, stdout, stderr io.Writer) (*kong.Kong, error) {
	return kong.New(p,
		kong.Name("shoal"),
		kong.Description(description),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(exitCode(code)) }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: false}),
		kong.Vars{"data": DefaultDataDir()},
	)
}

// Run runs the command line args (without the program name) and returns
// the exit status. Errors go to stderr in one sentence.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	return run(ctx, args, os.Stdin, stdout, stderr)
}

// run is Run reading standard input from stdin.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			c, ok := r.(exitCode)
			if !ok {
				panic(r)
			}
			code = int(c)
		}
	}()
	p, kctx, err := parse(args, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "shoal: %s\n", err)
		return exitUsage
	}
	p.stdin = stdin
	kctx.BindTo(ctx, (*context.Context)(nil))
	kctx.Bind(&p.Globals)
	err = kctx.Run()
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "shoal: %v; run '%s' for usage\n", err, helpCommand(kctx.Selected()))
		return exitUsage
	default:
		fmt.Fprintf(stderr, "shoal: %s\n", oneLine(err.Error()))
		return exitFail
	}
}

// parse parses args into the program's commands without running any. A
// parse error is one sentence that names the help command to run. Help
// (--help) is printed on stdout and ends the parse with kong's Exit.
func parse(args []string, stdout, stderr io.Writer) (*program, *kong.Context, error) {
	p := &program{}
	p.stdin, p.stdout, p.stderr = os.Stdin, stdout, stderr
	parser, err := newParser(p, stdout, stderr)
	if err != nil { // a mistake in the model above, not the user's
		return nil, nil, err
	}
	// With $COMP_LINE set (the shell asking for completions), this prints
	// them and ends the parse.
	kongplete.Complete(parser, kongplete.WithPredictor("file", complete.PredictFiles("*")))
	kctx, err := parser.Parse(args)
	if err != nil {
		return nil, nil, errors.New(parseErrorText(err))
	}
	return p, kctx, nil
}

// parseErrorText makes kong's parse error one sentence naming the help
// command to run.
func parseErrorText(err error) string {
	msg := oneLine(err.Error())
	var pe *kong.ParseError
	var node *kong.Node
	if errors.As(err, &pe) && pe.Context != nil {
		node = pe.Context.Selected()
	}
	if node != nil && len(node.Children) > 0 {
		if w, ok := strings.CutPrefix(msg, "unexpected argument "); ok {
			return fmt.Sprintf("unknown command %q; run '%s' for the list", commandPath(node)+" "+w, helpCommand(node))
		}
	}
	msg = kongMessage(msg)
	if node == nil || node.Name == "window" {
		// kong reads an unknown command as an extra argument of the
		// default command.
		if w, ok := strings.CutPrefix(msg, "unexpected argument "); ok {
			return fmt.Sprintf("unknown command %q; run 'shoal help' for the list", w)
		}
		node = nil
	}
	return msg + "; run '" + helpCommand(node) + "' for usage"
}

// kongMessage rewords the few kong messages that read oddly to a user.
func kongMessage(msg string) string {
	if m := missingArg.FindStringSubmatch(msg); m != nil {
		return "missing " + strings.Join(strings.Fields(m[1]), " and ")
	}
	if flag, ok := strings.CutSuffix(msg, `: expected string value but got "EOL" (<EOL>)`); ok {
		return flag + " needs a value"
	}
	return msg
}

// missingArg is kong's error for missing positional arguments.
var missingArg = regexp.MustCompile(`^expected "(<[^"]+>)"$`)

// helpCommand is the help command for node: "shoal help dns set".
func helpCommand(node *kong.Node) string {
	if node == nil || node.Type != kong.CommandNode || node.Name == "window" || node.Name == "help" {
		return "shoal help"
	}
	return "shoal help " + commandPath(node)
}

// commandPath is a command's words: "dns set".
func commandPath(node *kong.Node) string {
	var path []string
	for n := node; n != nil && n.Type == kong.CommandNode; n = n.Parent {
		path = append([]string{n.Name}, path...)
	}
	return strings.Join(path, " ")
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// WantsWindow tells whether args ask for the desktop window (no command,
// only node flags) and returns the node options they give. main opens the
// window when it does and there is a display; otherwise it calls Run.
func WantsWindow(args []string, stderr io.Writer) (opts node.Options, window bool) {
	defer func() {
		if recover() != nil { // --help: Run prints it
			opts, window = node.Options{}, false
		}
	}()
	p, kctx, err := parse(args, io.Discard, stderr)
	if err != nil || kctx.Selected() != nil && kctx.Selected().Name != "window" {
		return node.Options{}, false
	}
	return p.Window.options(&p.Globals), true
}

// DefaultDataDir is the data dir when --data is not given:
// $XDG_DATA_HOME/shoal, or ~/.local/share/shoal.
func DefaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "shoal")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "shoal")
	}
	return "shoal-data"
}

// helpCmd prints generated help for the program or for one command.
type helpCmd struct {
	Command []string `arg:"" optional:"" help:"The command to explain, e.g. 'get' or 'dns set'."`
}

func (h *helpCmd) Run(kctx *kong.Context, g *Globals) error {
	tctx, err := kong.Trace(kctx.Kong, h.Command)
	if err != nil {
		return err
	}
	if len(h.Command) == 0 {
		tctx.Path = tctx.Path[:1] // the program, not the default command
		return tctx.PrintUsage(false)
	}
	if n := tctx.Selected(); tctx.Error != nil || n == nil || n.Name == "window" {
		return usagef("unknown command %q", strings.Join(h.Command, " "))
	}
	return tctx.PrintUsage(false)
}

type versionCmd struct{}
