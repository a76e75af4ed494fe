package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The network commands: create and join on a data dir with no node
// running, then against the running nodes: show, invite, join of a cut
// link, remove of nobody.
func TestNetworkCommands(t *testing.T) {
	alpha := t.TempDir()
	if code, out, errOut := shoal(t, "network", "create", "friends", "--data", alpha); code != 0 || !strings.Contains(out, "created") {
		t.Fatalf("create offline: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := shoal(t, "network", "create", "Bad_Name", "--data", t.TempDir()); code != 1 || !strings.Contains(errOut, "DNS label") {
		t.Errorf("create with a bad name: %d %q", code, errOut)
	}
	startCLINode(t, alpha, "--name", "alpha", "--bind", "127.0.0.93")
	code, out, errOut := shoal(t, "network", "--data", alpha)
	if code != 0 || !strings.Contains(out, "private") || !strings.Contains(out, "friends") {
		t.Fatalf("network: %d %q %q", code, out, errOut)
	}
	if code, out, _ := shoal(t, "status", "--data", alpha); code != 0 || !strings.Contains(out, "friends (private)") {
		t.Errorf("status: %d %q", code, out)
	}
	code, link, errOut := shoal(t, "network", "invite", "--expires", "1h", "--data", alpha)
	link = strings.TrimSpace(link)
	if code != 0 || !strings.HasPrefix(link, "shoal:") || !strings.Contains(errOut, "good until") {
		t.Fatalf("invite: %d %q %q", code, link, errOut)
	}

	// With no node running: a cut link writes nothing, a good one the
	// key and the config.
	offline := t.TempDir()
	if code, _, errOut := shoal(t, "network", "join", link[:len(link)-5], "--data", offline); code != 1 || !strings.Contains(errOut, "cut") {
		t.Errorf("join with a cut link: %d %q", code, errOut)
	}
	if entries, _ := os.ReadDir(offline); len(entries) != 0 {
		t.Errorf("a cut link wrote %v", entries)
	}
	if code, out, errOut := shoal(t, "network", "join", link, "--data", offline); code != 0 || !strings.Contains(out, "accepted") {
		t.Fatalf("join offline: %d %q %q", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(offline, "network.key")); err != nil {
		t.Fatal(err)
	}

	// A running node of an open network joins and starts again in the
	// private one.
	beta := t.TempDir()
	startCLINode(t, beta, "--name", "beta", "--bind", "127.0.0.94")
	if code, out, errOut := shoal(t, "network", "join", link, "--data", beta); code != 0 || !strings.Contains(out, "starting again") {
		t.Fatalf("join on a running node: %d %q %q", code, out, errOut)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, out, _ := shoal(t, "network", "--data", beta)
		if strings.Contains(out, "private") && regexp.MustCompile(`members\s+2\n`).MatchString(out) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("beta did not come back in the private network with alpha: %q", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Joining again on the running member: it is one already.
	if code, out, errOut := shoal(t, "network", "join", link, "--data", beta); code != 0 || !strings.Contains(out, "already") {
		t.Errorf("join on a member: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := shoal(t, "network", "remove", "nobody", "--data", alpha); code != 1 || !strings.Contains(errOut, "no such member") {
		t.Errorf("remove nobody: %d %q", code, errOut)
	}
	if code, out, errOut := shoal(t, "network", "rekey", "--data", alpha); code != 0 || !strings.Contains(out, "new key") {
		t.Errorf("rekey: %d %q %q", code, out, errOut)
	}
}

// `shoal network` alone shows the network; each sub-command parses.
func TestNetworkCommandsParse(t *testing.T) {
	for args, want := range map[string]string{
		"network": "network show", "network show": "network show", "network create friends": "network create",
		"network invite --expires 24h": "network invite", "network join shoal:AQ": "network join",
		"network rekey": "network rekey", "network remove beta": "network remove",
	} {
		if cmd, _ := parsed(t, strings.Fields(args)...); cmd != want {
			t.Errorf("shoal %s selected %q, want %q", args, cmd, want)
		}
	}
}
