package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shoal-p2p/shoal/node"
	"github.com/shoal-p2p/shoal/storage"
)

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// usageError is bad usage: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// command is one sub-command.
type command struct {
	name, args, summary string
	nargs               int // exact number of positional arguments; -1 = 0 or 1; -2 = any
	run                 func(ctx context.Context, g *globals, args []string) error
	// flags adds the command's own flags; a global flag of the same name
	// is then left out (ls --network is a switch, not the network's name).
	flags func(fs *flag.FlagSet, g *globals)
}

func commands() []command {
	return []command{
		{"node", "", "run a node headless (no window)", 0, runNode, nil},
		{"status", "", "show the running node's status", 0, runStatus, nil},
		{"login", "", "print a one-time login link for the web client", 0, runLogin, nil},
		{"publish", "PATH", "share a file or folder (--name NAME names the item); prints its magnet last", 1, runPublish, nil},
		{"get", "MAGNET|INFOHASH|NAME|FILE.torrent", "download an item (--out DIR, --no-wait) with a progress bar", 1, runGet, getFlags},
		{"ls", "[QUERY]", "list this node's items, or the network's with --network", -1, runLs, lsFlags},
		{"peers", "", "list the network's members", 0, runPeers, nil},
		{"pause", "INFOHASH", "pause an item", 1, itemAction("pause"), nil},
		{"resume", "INFOHASH", "resume an item", 1, itemAction("resume"), nil},
		{"pin", "INFOHASH", "keep an item out of cache eviction", 1, itemAction("pin"), nil},
		{"unpin", "INFOHASH", "let an item be evicted again", 1, itemAction("unpin"), nil},
		{"rm", "INFOHASH", "remove an item (--delete-data deletes its downloaded files too)", 1, runRm, rmFlags},
		{"dns", "query NAME [TYPE] | records | set NAME TYPE VALUE | rm NAME TYPE", "look up names (--server HOST:PORT asks another server); list, add (--ttl S) and remove your own records", -2, runDNS, dnsFlags},
		{"backup", "FILE", "write a consistent copy of the node's database to FILE", 1, runBackup, nil},
		{"version", "", "print Shoal's version", 0, runVersion, nil},
		{"help", "", "show this help", 0, nil, nil},
	}
}

// globals are the flags every command takes.
type globals struct {
	stdout, stderr io.Writer

	data, name, bind, ui, network, api, logLevel string
	join                                         stringList
	peerPort, torrentPort, dnsPort               int
	jsonOut                                      bool
	// command flags
	out, server                      string
	ttl                              uint
	noWait, wholeNetwork, deleteData bool
	set                              map[string]bool // flags given on the command line
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "shoal")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "shoal")
	}
	return "shoal-data"
}

func (g *globals) flagSet(name string, own func(*flag.FlagSet, *globals)) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if own != nil {
		own(fs, g)
	}
	str := func(p *string, name, value, usage string) {
		if fs.Lookup(name) == nil {
			fs.StringVar(p, name, value, usage)
		}
	}
	str(&g.data, "data", defaultDataDir(), "the node's data dir")
	str(&g.name, "name", "", "the node's name in the group (NAME.shoal.); with publish, the item's name")
	str(&g.bind, "bind", "", "IP address the peer-facing services listen on")
	str(&g.ui, "ui", "", "HOST:PORT of the web client and control API")
	str(&g.network, "network", "", "the group to belong to")
	fs.Var(&g.join, "join", "HOST:PORT of a member's peer API to join through (repeatable)")
	fs.IntVar(&g.peerPort, "peer-port", 0, "port of the peer API and gateway (0 = a free one)")
	fs.IntVar(&g.torrentPort, "bittorrent-port", 0, "port of BitTorrent and the DHT (0 = a free one)")
	fs.IntVar(&g.dnsPort, "dns-port", 0, "port of the DNS server, UDP and TCP (0 = a free one)")
	str(&g.logLevel, "log-level", "", "debug, info, warn or error")
	str(&g.api, "api", "", "URL of a running node's control API (default: found through --data)")
	fs.BoolVar(&g.jsonOut, "json", false, "print JSON instead of text")
	return fs
}

// parse parses flags that may come before or after the positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// run runs the shoal command line and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &globals{stdout: stdout, stderr: stderr}
	name := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	var cmd *command
	if name != "" {
		for _, c := range commands() {
			if c.name == name {
				cmd = &c
				break
			}
		}
		if cmd == nil {
			fmt.Fprintf(stderr, "shoal: unknown command %q; run 'shoal help' for the list\n", name)
			return exitUsage
		}
	}
	var own func(*flag.FlagSet, *globals)
	if cmd != nil {
		own = cmd.flags
	}
	fs := g.flagSet("shoal "+name, own)
	pos, err := parse(fs, args)
	if errors.Is(err, flag.ErrHelp) || name == "help" {
		usage(stdout)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "shoal: %v; run 'shoal help' for usage\n", err)
		return exitUsage
	}
	g.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { g.set[f.Name] = true })

	if cmd == nil { // plain "shoal": the desktop window, or headless without a display
		if len(pos) > 0 {
			fmt.Fprintf(stderr, "shoal: unknown command %q; run 'shoal help' for the list\n", pos[0])
			return exitUsage
		}
		if hasDisplay() {
			err = runDesktop(ctx, g.nodeOptions(), stdout)
		} else {
			err = runNode(ctx, g, nil)
		}
	} else if len(pos) != cmd.nargs && !(cmd.nargs == -1 && len(pos) <= 1) && cmd.nargs != -2 {
		err = usagef("'shoal %s' takes %s", cmd.name, argsText(*cmd))
	} else {
		err = cmd.run(ctx, g, pos)
	}
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "shoal: %v\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "shoal: %v\n", err)
		return exitFail
	}
}

func argsText(c command) string {
	switch {
	case c.args == "":
		return "no arguments"
	case c.nargs == -1:
		return "at most one argument: " + c.args
	}
	return "one argument: " + c.args
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Shoal turns a group of computers into a small peer-to-peer content delivery network.")
	fmt.Fprintln(w, "\nUsage: shoal [COMMAND] [ARGS] [FLAGS]")
	fmt.Fprintln(w, "  With no command: the desktop window, or a headless node when there is no display.")
	fmt.Fprintln(w, "\nCommands:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s %s\t%s\n", c.name, c.args, c.summary)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nFlags (before or after the arguments, on every command):")
	var g globals
	fs := g.flagSet("", nil)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintln(w, "\nCommand flags:")
	fmt.Fprintln(w, "  get:  --out DIR (where to save), --no-wait (queue and return)")
	fmt.Fprintln(w, "  ls:   --network (the whole network's catalog, not this node's)")
	fmt.Fprintln(w, "  rm:   --delete-data (delete the downloaded files too)")
	fmt.Fprintln(w, "  dns:  --server HOST:PORT (query that server directly), --ttl SECONDS (for set)")
}

// nodeOptions turns the flags into node options; flags override shoal.toml.
func (g *globals) nodeOptions() node.Options {
	return node.Options{
		DataDir: g.data,
		Stderr:  g.stderr,
		Override: func(c *node.Config) {
			if g.set["name"] {
				c.Name = g.name
			}
			if g.set["bind"] {
				c.Bind = g.bind
			}
			if g.set["ui"] {
				c.UI.Address = g.ui
			}
			if g.set["network"] {
				c.Network = g.network
			}
			if g.set["join"] {
				c.Join = g.join
			}
			if g.set["peer-port"] {
				c.Ports.Peer = g.peerPort
			}
			if g.set["bittorrent-port"] {
				c.Ports.BitTorrent = g.torrentPort
			}
			if g.set["dns-port"] {
				c.Ports.DNS = g.dnsPort
			}
			if g.set["log-level"] {
				c.Log.Level = g.logLevel
			}
		},
	}
}

func runNode(ctx context.Context, g *globals, _ []string) error {
	n, err := node.Start(ctx, g.nodeOptions())
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "Shoal node %s is running headless; open the web client with this one-time link:\n%s\n",
		n.Config().Name, n.LoginURL())
	<-ctx.Done()
	return n.Close()
}

func runVersion(_ context.Context, g *globals, _ []string) error {
	fmt.Fprintf(g.stdout, "shoal %s (%s %s/%s)\n", node.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

// client is the control API of a running node.
type client struct {
	base, token string
	http        *http.Client
}

// dial finds the running node through --api or the data dir.
func (g *globals) dial() (*client, error) {
	c := &client{http: &http.Client{Timeout: 30 * time.Second}}
	tok, err := os.ReadFile(filepath.Join(g.data, node.TokenFile))
	if err != nil && !g.set["api"] {
		return nil, fmt.Errorf("no node found in data dir %s (no %s); start one with 'shoal node' or pass --api URL", g.data, node.TokenFile)
	}
	c.token = strings.TrimSpace(string(tok))
	if t := os.Getenv("SHOAL_TOKEN"); t != "" {
		c.token = t
	}
	if g.set["api"] {
		c.base = strings.TrimRight(g.api, "/")
		return c, nil
	}
	addr, err := os.ReadFile(filepath.Join(g.data, node.UIAddressFile))
	if err != nil {
		return nil, fmt.Errorf("no node is running on data dir %s; start one with 'shoal node'", g.data)
	}
	c.base = "http://" + strings.TrimSpace(string(addr))
	return c, nil
}

// do sends a request and decodes a JSON answer into out (if not nil).
func (c *client) do(ctx context.Context, method, path string, out any) error {
	return c.doJSON(ctx, method, path, nil, out)
}

// doJSON is do with a JSON request body (if body is not nil).
func (c *client) doJSON(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("bad answer from %s: %w", c.base, err)
	}
	return nil
}

// watch follows the node's event stream and signals on the returned
// channel (without blocking: signals coalesce) whenever an event of one of
// the types arrives, until stop is called; stop returns once the stream is
// closed. If the stream cannot be opened the channel stays silent.
func (c *client) watch(ctx context.Context, types ...string) (wake <-chan struct{}, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/api/v1/events", nil)
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
		// The stream lasts until stop: no client timeout.
		resp, err := (&http.Client{Transport: c.http.Transport}).Do(req)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			typ, ok := strings.CutPrefix(sc.Text(), "event: ")
			if ok && slices.Contains(types, typ) {
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}
	}()
	return ch, func() { cancel(); <-done }
}

func (c *client) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("bad API URL %q: %w", c.base, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the node at %s (is it running?): %w", c.base, errors.Unwrap(err))
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var e struct{ Error string }
		if json.NewDecoder(resp.Body).Decode(&e) == nil && e.Error != "" {
			return nil, fmt.Errorf("the node says: %s", e.Error)
		}
		return nil, fmt.Errorf("the node answered %s", resp.Status)
	}
	return resp, nil
}

func runStatus(ctx context.Context, g *globals, _ []string) error {
	c, err := g.dial()
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, "/api/v1/status", &raw); err != nil {
		return err
	}
	if g.jsonOut {
		fmt.Fprintf(g.stdout, "%s\n", raw)
		return nil
	}
	var s node.Status
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("bad status from the node: %w", err)
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "name\t%s\nid\t%s\nnetwork\t%s\nversion\t%s\nuptime\t%s\ndata\t%s\n",
		s.Name, s.ID, s.Network, s.Version, (time.Duration(s.UptimeS) * time.Second).String(), s.DataDir)
	for _, sv := range s.Services {
		fmt.Fprintf(tw, "%s\t%s/%s\t%s\n", sv.Name, sv.Address, sv.Proto, sv.URL)
	}
	return tw.Flush()
}

func runLogin(ctx context.Context, g *globals, _ []string) error {
	c, err := g.dial()
	if err != nil {
		return err
	}
	var out struct{ URL string }
	if err := c.do(ctx, http.MethodPost, "/api/v1/login-links", &out); err != nil {
		return err
	}
	fmt.Fprintln(g.stdout, out.URL)
	return nil
}

// runBackup asks the running node for a snapshot, or reads the database
// directly when no node runs on the data dir.
func runBackup(ctx context.Context, g *globals, args []string) error {
	file := args[0]
	if _, err := os.Stat(file); err == nil {
		return fmt.Errorf("%s exists; remove it or choose another file", file)
	}
	c, err := g.dial()
	if err != nil && !g.set["api"] {
		db, oerr := storage.Open(filepath.Join(g.data, node.DatabaseFile))
		if oerr != nil {
			return fmt.Errorf("backup: %w", oerr)
		}
		defer db.Close()
		n, err := db.BackupFile(file)
		if err != nil {
			return err
		}
		fmt.Fprintf(g.stdout, "wrote %s (%d bytes)\n", file, n)
		return nil
	}
	if err != nil {
		return err
	}
	resp, err := c.send(ctx, http.MethodGet, "/api/v1/backup", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	tmp := file + ".part"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	n, err := io.Copy(f, resp.Body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, file)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(g.stdout, "wrote %s (%d bytes)\n", file, n)
	return nil
}
