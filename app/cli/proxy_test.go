package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
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
