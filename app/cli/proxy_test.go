package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-p2p/shoal/node"
)

func TestCLIProxyStatsAndPurge(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "cached page")
	}))
	defer origin.Close()
	dir := t.TempDir()
	startCLINode(t, dir)

	code, out, errOut := shoal(t, "proxy", "stats", "--json", "--data", dir)
	var st node.ProxyStats
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.Address == "" {
		t.Fatalf("proxy stats --json: %d %q %q", code, out, errOut)
	}
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		body, err := exec.CommandContext(ctx, "curl", "-s", "--max-time", "10", "-x", "http://"+st.Address, origin.URL+"/page").Output()
		cancel()
		if err != nil || string(body) != "cached page" {
			t.Fatalf("curl through the proxy: %v %q", err, body)
		}
	}
	code, out, _ = shoal(t, "proxy", "stats", "--data", dir)
	if code != 0 || !strings.Contains(out, "hit ratio       50.0%") || !strings.Contains(out, "1 entries") {
		t.Fatalf("proxy stats: %d\n%s", code, out)
	}
	if code, _, errOut = shoal(t, "proxy", "purge", "--data", dir); code != 2 || !strings.Contains(errOut, "URL or --all") {
		t.Errorf("purge with nothing: %d %q", code, errOut)
	}
	if code, _, errOut = shoal(t, "proxy", "purge", "relative/path", "--data", dir); code != 1 || !strings.Contains(errOut, "absolute URL") {
		t.Errorf("purge of a relative URL: %d %q", code, errOut)
	}
	if code, out, _ = shoal(t, "proxy", "purge", origin.URL+"/page", "--data", dir); code != 0 || out != "purged 1 stored responses\n" {
		t.Errorf("purge URL: %d %q", code, out)
	}
	if code, out, _ = shoal(t, "proxy", "purge", "--all", "--data", dir); code != 0 || out != "purged 0 stored responses\n" {
		t.Errorf("purge --all: %d %q", code, out)
	}
}

func TestCLISitePublishLsRm(t *testing.T) {
	dir := t.TempDir()
	startCLINode(t, dir, "--name", "webby")
	site := t.TempDir()
	os.WriteFile(filepath.Join(site, "index.html"), []byte("<h1>webby</h1>"), 0o600)

	if code, _, errOut := shoal(t, "site", "publish", filepath.Join(site, "index.html"), "--data", dir); code != 2 || !strings.Contains(errOut, "not a folder") {
		t.Fatalf("publish of a file: %d %q", code, errOut)
	}
	code, out, errOut := shoal(t, "site", "publish", site, "--name", "blog", "--data", dir)
	if code != 0 || !strings.Contains(out, "http://blog.webby.shoal/") {
		t.Fatalf("publish: %d %q %q", code, out, errOut)
	}
	if code, out, _ = shoal(t, "site", "ls", "--data", dir); code != 0 || !strings.HasPrefix(out, "blog  http://blog.webby.shoal/") {
		t.Fatalf("ls: %d %q", code, out)
	}
	_, out, _ = shoal(t, "proxy", "stats", "--json", "--data", dir)
	var st node.ProxyStats
	json.Unmarshal([]byte(out), &st)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	body, err := exec.CommandContext(ctx, "curl", "-s", "--max-time", "10", "-x", "http://"+st.Address, "http://blog.webby.shoal/").Output()
	if err != nil || string(body) != "<h1>webby</h1>" {
		t.Fatalf("curl the site through the node's proxy: %v %q", err, body)
	}
	if code, _, errOut = shoal(t, "site", "rm", "blog", "--data", dir); code != 0 {
		t.Fatalf("rm: %d %q", code, errOut)
	}
	if code, _, errOut = shoal(t, "site", "rm", "blog", "--data", dir); code != 1 || !strings.Contains(errOut, "no site called") {
		t.Fatalf("rm again: %d %q", code, errOut)
	}
}
