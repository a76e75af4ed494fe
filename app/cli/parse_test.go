package cli

import (
	"bufio"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/shoal-p2p/shoal/node"
)

// parsed parses args without running anything and returns the selected
// command's words ("dns set") and the program.
func parsed(t *testing.T, args ...string) (string, *program) {
	t.Helper()
	p, kctx, err := parse(args, io.Discard, io.Discard)
	if err != nil {
		t.Fatalf("shoal %s: %v", strings.Join(args, " "), err)
	}
	if kctx.Selected() == nil {
		return "", p
	}
	return commandPath(kctx.Selected()), p
}

func TestNestedGroupsAndFlagsAnywhere(t *testing.T) {
	cmd, p := parsed(t, "dns", "set", "www", "CNAME", "alice.shoal.", "--ttl", "60", "--data", "/d")
	if cmd != "dns set" || p.DNS.Set.Name != "www" || p.DNS.Set.Type != "CNAME" || p.DNS.Set.Value != "alice.shoal." || p.DNS.Set.TTL != 60 || p.Data != "/d" {
		t.Errorf("dns set: %q %+v data %q", cmd, p.DNS.Set, p.Data)
	}
	// Global flags before the command, command flags between the arguments.
	cmd, p = parsed(t, "--json", "--data", "/d", "dns", "query", "--server", "127.0.0.1:53", "alice.shoal", "mx")
	if cmd != "dns query" || p.DNS.Query.Name != "alice.shoal" || p.DNS.Query.Type != "mx" || p.DNS.Query.Server != "127.0.0.1:53" || !p.JSON {
		t.Errorf("dns query: %q %+v json %v", cmd, p.DNS.Query, p.JSON)
	}
	if _, p = parsed(t, "dns", "query", "alice.shoal"); p.DNS.Query.Type != "A" {
		t.Errorf("dns query's type defaults to %q, want A", p.DNS.Query.Type)
	}
	// ls --network is a switch; a node's --network takes the group's name.
	if cmd, p = parsed(t, "ls", "film", "--network"); cmd != "ls" || !p.Ls.Network || p.Ls.Query != "film" {
		t.Errorf("ls --network: %q %+v", cmd, p.Ls)
	}
	cmd, p = parsed(t, "node", "--network", "lab", "--join", "127.0.0.2:7481", "--join", "127.0.0.3:7481", "--peer-port", "0")
	if cmd != "node" || *p.Node.Network != "lab" || !slices.Equal(p.Node.Join, []string{"127.0.0.2:7481", "127.0.0.3:7481"}) || *p.Node.PeerPort != 0 || p.Node.Bind != nil {
		t.Errorf("node flags: %q %+v", cmd, p.Node.NodeFlags)
	}
	// publish --name names the item.
	if cmd, p = parsed(t, "publish", "--name", "film", "/tmp/x"); cmd != "publish" || p.Publish.Name != "film" || p.Publish.Path != "/tmp/x" {
		t.Errorf("publish: %q %+v", cmd, p.Publish)
	}
	// A flag that looks like an argument after "--" is an argument.
	if _, p = parsed(t, "get", "--", "--odd-name"); p.Get.Spec != "--odd-name" {
		t.Errorf("get -- --odd-name: spec %q", p.Get.Spec)
	}
}

func TestWantsWindow(t *testing.T) {
	cases := []struct {
		args   []string
		window bool
	}{
		{nil, true},
		{[]string{"--data", "/d", "--bind", "127.0.0.2"}, true},
		{[]string{"node"}, false},
		{[]string{"status"}, false},
		{[]string{"--help"}, false},
		{[]string{"frobnicate"}, false},
	}
	for _, c := range cases {
		opts, window := WantsWindow(c.args, io.Discard)
		if window != c.window {
			t.Errorf("WantsWindow(%q) = %v, want %v", c.args, window, c.window)
		}
		if window && opts.DataDir == "" {
			t.Errorf("WantsWindow(%q): no data dir", c.args)
		}
	}
	opts, _ := WantsWindow([]string{"--data", "/d", "--bind", "127.0.0.2", "--name", "alice"}, io.Discard)
	if opts.DataDir != "/d" || opts.Override == nil {
		t.Fatalf("window options: %+v", opts)
	}
	cfg := node.Config{Name: "before", Bind: "127.0.0.1", Network: "shoal"}
	opts.Override(&cfg)
	if cfg.Name != "alice" || cfg.Bind != "127.0.0.2" || cfg.Network != "shoal" {
		t.Errorf("flags given override, others keep shoal.toml's: %+v", cfg)
	}
}

// Every usage error is one sentence naming what is wrong and the help
// command to run, with exit status 2, and reaches no node: the data dir
// given does not exist, so a command that got as far as dialling would
// fail with status 1 instead.
func TestUsageErrorsNameTheHelpCommand(t *testing.T) {
	cases := []struct {
		args       []string
		want, help string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`, "shoal help"},
		{[]string{"dns", "frob"}, `unknown command "dns frob"`, "shoal help dns"},
		{[]string{"dns"}, `expected one of "query", "records", "set", "rm"`, "shoal help dns"},
		{[]string{"dns", "set", "www"}, "missing <type> and <value>", "shoal help dns set"},
		{[]string{"dns", "set", "www", "A", "1.2.3.4", "--ttl", "soon"}, "--ttl", "shoal help dns set"},
		{[]string{"dns", "query", "alice.shoal", "BOGUS"}, `unknown record type "BOGUS"`, "shoal help dns query"},
		{[]string{"dns", "rm", "www", "NOPE"}, `unknown record type "NOPE"`, "shoal help dns rm"},
		{[]string{"get"}, "missing <spec>", "shoal help get"},
		{[]string{"get", "a", "b"}, "unexpected argument b", "shoal help get"},
		{[]string{"get", "x", "--out"}, "--out needs a value", "shoal help get"},
		{[]string{"ls", "--bogus"}, "unknown flag --bogus", "shoal help ls"},
		{[]string{"node", "--peer-port", "many"}, "--peer-port", "shoal help node"},
		{[]string{"pause"}, "missing <infohash>", "shoal help pause"},
		{[]string{"help", "frob"}, `unknown command "frob"`, "shoal help"},
	}
	for _, c := range cases {
		args := append([]string{"--data", "/nonexistent/shoal-test"}, c.args...)
		code, out, errOut := shoal(t, args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 ||
			!strings.Contains(errOut, c.want) || !strings.Contains(errOut, "run '"+c.help+"'") {
			t.Errorf("shoal %q: exit %d, stdout %q, stderr %q; want 2, %q and 'run %s'", c.args, code, out, errOut, c.want, c.help)
		}
	}
}

func TestGeneratedHelp(t *testing.T) {
	for _, args := range [][]string{{"help", "get"}, {"get", "--help"}, {"get", "-h"}} {
		code, out, errOut := shoal(t, args...)
		if code != 0 || errOut != "" || !strings.Contains(out, "Usage: shoal get <spec>") ||
			!strings.Contains(out, "--out=DIR") || !strings.Contains(out, "--no-wait") || !strings.Contains(out, "--data=DIR") {
			t.Errorf("shoal %q: %d %q %q", args, code, out, errOut)
		}
	}
	code, out, _ := shoal(t, "help", "dns")
	if code != 0 || !strings.Contains(out, "dns set <name> <type> <value>") || !strings.Contains(out, "dns query <name> [<type>]") {
		t.Errorf("help dns: %d %q", code, out)
	}
	code, out, _ = shoal(t, "help", "node")
	for _, flag := range []string{"--bind=IP", "--ui=HOST:PORT", "--join=HOST:PORT", "--peer-port=N", "--bittorrent-port=N", "--dns-port=N", "--log-level=LEVEL", "--network=NAME", "--name=NAME"} {
		if code != 0 || !strings.Contains(out, flag) {
			t.Errorf("help node lacks %s: %d %q", flag, code, out)
		}
	}
}

// samples stand for the README's placeholders.
var samples = map[string]string{
	"PATH": "/tmp/film.mp4", "Q": "film", "NAME": "film.mp4", "DIR": "/tmp/got",
	"MAGNET":   "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567",
	"INFOHASH": "0123456789abcdef0123456789abcdef01234567", "FILE.torrent": "/tmp/film.torrent",
	"COMMAND": "get", "ID": "1", "ADDR": "bob@bob.shoal", "FOLDER": "Sent", "FILE": "/tmp/backup.db", "TYPE": "MX", "VALUE": "10 alice.shoal.", "S": "60", "HOST:PORT": "127.0.0.1:7453",
}

// readmeCommandLines expands every `bin/shoal ...` line of README.md into
// concrete command lines: alternatives (a|b, and " | " between sub-commands)
// each, optional parts ([...]) with and without, placeholders filled in.
func readmeCommandLines(t *testing.T) [][]string {
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "bin/shoal")
		if !ok {
			continue
		}
		line, _, _ = strings.Cut(line, " #")
		line = strings.TrimSuffix(strings.TrimSpace(line), "&")
		parts := strings.Split(line, " | ")
		group := strings.Fields(parts[0])
		for i, part := range parts {
			if i > 0 && len(group) > 1 {
				// "dns records | set ..." is "dns set ...": the words
				// before the first part's last one name the group.
				part = strings.Join(group[:len(group)-1], " ") + " " + part
			}
			for _, l := range expandOptional(strings.TrimSpace(part)) {
				out = append(out, expandAlternatives(strings.Fields(l))...)
			}
		}
	}
	if len(out) < 15 {
		t.Fatalf("found only %d command lines in README.md", len(out))
	}
	return out
}

var optional = regexp.MustCompile(`\[([^\[\]]+)\]`)

func expandOptional(s string) []string {
	loc := optional.FindStringSubmatchIndex(s)
	if loc == nil {
		return []string{s}
	}
	with := s[:loc[0]] + s[loc[2]:loc[3]] + s[loc[1]:]
	without := s[:loc[0]] + s[loc[1]:]
	return append(expandOptional(with), expandOptional(without)...)
}

func expandAlternatives(words []string) [][]string {
	lines := [][]string{nil}
	for _, w := range words {
		var next [][]string
		for _, alt := range strings.Split(w, "|") {
			if v, ok := samples[alt]; ok {
				alt = v
			}
			for _, l := range lines {
				next = append(next, append(slices.Clone(l), alt))
			}
		}
		lines = next
	}
	return lines
}

func TestEveryReadmeCommandLineParses(t *testing.T) {
	seen := map[string]bool{}
	for _, args := range readmeCommandLines(t) {
		if len(args) > 0 && args[0] == "completion" { // prints while it is parsed
			t.Setenv("SHELL", "/bin/bash")
			if code, out, errOut := shoal(t, args...); code != 0 || !strings.Contains(out, "complete -C ") {
				t.Errorf("shoal %q: %d %q %q", args, code, out, errOut)
			}
			seen["completion"] = true
			continue
		}
		cmd, _ := parsed(t, args...)
		seen[cmd] = true
		var words []string
		for _, a := range args {
			if strings.HasPrefix(a, "-") || !regexp.MustCompile(`^[a-z]+$`).MatchString(a) || len(words) == 3 {
				break
			}
			words = append(words, a)
		}
		if want := strings.Join(words, " "); cmd != want && !(cmd == "window" && want == "") && !strings.HasPrefix(want, cmd+" ") {
			t.Errorf("shoal %q selected %q, want %q", args, cmd, want)
		}
	}
	for _, want := range []string{"window", "node", "status", "login", "publish", "ls", "get", "peers", "pause", "resume", "pin", "unpin", "rm", "dns query", "dns records", "dns set", "dns rm", "backup", "version", "help", "completion",
		"mail send", "mail ls", "mail read", "mail queue", "mail user ls", "mail user add", "mail user passwd", "mail user rm"} {
		if !seen[want] {
			t.Errorf("README.md shows no command line for %q", want)
		}
	}
}

// The shell asks for completions through $COMP_LINE (bash's complete -C).
func TestShellCompletion(t *testing.T) {
	cases := map[string]string{
		"shoal dns s":   "set",
		"shoal get --n": "--no-wait",
		"shoal pu":      "publish",
	}
	for line, want := range cases {
		t.Setenv("COMP_LINE", line)
		code, out, errOut := shoal(t)
		if code != 0 || strings.TrimSpace(out) != want {
			t.Errorf("completing %q: %d %q %q; want %q", line, code, out, errOut, want)
		}
	}
}
