package node

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// call makes a request to n's control API with the given token ("" = none).
func call(t *testing.T, n *Node, method, path, token, body string, hdr ...string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+n.UIAddress()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp, out
}

func TestAPIRefusesWithoutTokenAndForeignHosts(t *testing.T) {
	n := startNode(t, t.TempDir())
	cases := []struct {
		name, token string
		hdr         []string
		want        int
	}{
		{"no token", "", nil, http.StatusUnauthorized},
		{"wrong token", strings.Repeat("0", 64), nil, http.StatusUnauthorized},
		{"rebinding host", n.token, []string{"Host", "evil.example:7480"}, http.StatusForbidden},
		{"localhost on another port", n.token, []string{"Host", "localhost:1"}, http.StatusForbidden},
		{"localhost", n.token, []string{"Host", "localhost:" + portOf(n.UIAddress())}, http.StatusOK},
		{"ui address", n.token, nil, http.StatusOK},
	}
	for _, c := range cases {
		resp, body := call(t, n, "GET", "/api/v1/status", c.token, "", c.hdr...)
		if resp.StatusCode != c.want {
			t.Errorf("%s: status %d, want %d", c.name, resp.StatusCode, c.want)
		}
		if c.want != http.StatusOK && (body["error"] == nil || resp.Header.Get("Content-Type") != "application/json") {
			t.Errorf("%s: error body %v", c.name, body)
		}
	}
}

func portOf(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }

func TestAPIStatusContents(t *testing.T) {
	n := startNode(t, t.TempDir())
	resp, body := call(t, n, "GET", "/api/v1/status", n.token, "")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, k := range []string{"name", "id", "network", "version", "uptime_s", "services"} {
		if _, ok := body[k]; !ok {
			t.Errorf("status lacks %q: %v", k, body)
		}
	}
	if body["id"] != n.Identity().ID() || body["network"] != "shoal" {
		t.Errorf("status = %v", body)
	}
	svcs, _ := body["services"].([]any)
	if len(svcs) == 0 || !strings.Contains(toJSON(svcs[0]), n.UIAddress()) {
		t.Errorf("services = %v, want the UI address %s", svcs, n.UIAddress())
	}
}

func toJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestAPISettings(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	resp, body := call(t, n, "PUT", "/api/v1/settings", n.token, `{"name": "x"`)
	if resp.StatusCode != http.StatusBadRequest || body["error"] == nil {
		t.Errorf("bad JSON: %d %v", resp.StatusCode, body)
	}
	before, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
	cfg := n.Config()
	cfg.Bind = "not-an-ip"
	resp, body = call(t, n, "PUT", "/api/v1/settings", n.token, toJSON(cfg))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(toJSON(body), "bind") {
		t.Errorf("bad bind: %d %v", resp.StatusCode, body)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, ConfigFile)); string(after) != string(before) {
		t.Error("a rejected setting changed shoal.toml")
	}
	resp, body = call(t, n, "PUT", "/api/v1/settings", n.token, `{"name":"a","unknown":1}`)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown field: %d %v", resp.StatusCode, body)
	}

	cfg = n.Config()
	cfg.Name = "newname"
	cfg.Ports.Peer = 9999
	resp, body = call(t, n, "PUT", "/api/v1/settings", n.token, toJSON(cfg))
	if resp.StatusCode != 200 {
		t.Fatalf("save: %d %v", resp.StatusCode, body)
	}
	if got := toJSON(body["restart_required"]); got != `["ports"]` {
		t.Errorf("restart_required = %s, want [\"ports\"]", got)
	}
	if n.Status().Name != "newname" {
		t.Error("name did not apply at once")
	}
	saved, _, err := LoadConfig(filepath.Join(dir, ConfigFile))
	if err != nil || saved.Name != "newname" || saved.Ports.Peer != 9999 {
		t.Errorf("shoal.toml holds %+v, %v", saved, err)
	}
	_, got := call(t, n, "GET", "/api/v1/settings", n.token, "")
	if s, _ := got["settings"].(map[string]any); s["name"] != "newname" || toJSON(got["restart_required"]) != `["ports"]` {
		t.Errorf("GET settings = %v", got)
	}
	if n.Config().Ports.Peer == 9999 {
		t.Error("the running config took a restart-only setting")
	}
}

// TestAPIDHTSettings: cdn.dht_bootstrap takes HOST:PORT of DHT nodes. A bad
// entry is refused with 400 and an error naming the setting and the entry,
// and nothing is written; good entries and public_dht are saved and wait
// for a restart. A bad entry in shoal.toml stops the node's start.
func TestAPIDHTSettings(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	path := filepath.Join(dir, ConfigFile)
	before, _ := os.ReadFile(path)
	for _, bad := range []string{"192.0.2.10", "no-port", ":7482", "192.0.2.10:0", "192.0.2.10:65536", "192.0.2.10:x", ""} {
		cfg := n.Config()
		cfg.CDN.DHTBootstrap = []string{"192.0.2.11:7482", bad}
		resp, body := call(t, n, "PUT", "/api/v1/settings", n.token, toJSON(cfg))
		msg, _ := body["error"].(string)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(msg, "cdn.dht_bootstrap") || !strings.Contains(msg, fmt.Sprintf("%q", bad)) {
			t.Errorf("dht_bootstrap %q: %d %q; want 400 naming cdn.dht_bootstrap and the entry", bad, resp.StatusCode, msg)
		}
	}
	// join takes the same HOST:PORT of another node: port 0 is refused too
	// (only ui.address, an address to listen on, may say 0).
	for _, bad := range []string{"192.0.2.10:0", "192.0.2.10"} {
		cfg := n.Config()
		cfg.Join = []string{bad}
		resp, body := call(t, n, "PUT", "/api/v1/settings", n.token, toJSON(cfg))
		if msg, _ := body["error"].(string); resp.StatusCode != http.StatusBadRequest || !strings.Contains(msg, "join") {
			t.Errorf("join %q: %d %q; want 400 naming join", bad, resp.StatusCode, msg)
		}
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("a rejected DHT bootstrap node or join address changed shoal.toml")
	}

	cfg := n.Config()
	cfg.CDN.DHTBootstrap = []string{"192.0.2.10:7482", "dht.example.net:6881", "[2001:db8::1]:7482"}
	cfg.CDN.PublicDHT = true
	resp, body := call(t, n, "PUT", "/api/v1/settings", n.token, toJSON(cfg))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("save: %d %v", resp.StatusCode, body)
	}
	if got := toJSON(body["restart_required"]); got != `["cdn.dht_bootstrap","cdn.public_dht"]` {
		t.Errorf("restart_required = %s", got)
	}
	saved, _, err := LoadConfig(path)
	if err != nil || !slices.Equal(saved.CDN.DHTBootstrap, cfg.CDN.DHTBootstrap) || !saved.CDN.PublicDHT {
		t.Errorf("shoal.toml holds %+v, %v", saved.CDN, err)
	}
	if running := n.Config(); len(running.CDN.DHTBootstrap) != 0 || running.CDN.PublicDHT {
		t.Errorf("the running config took restart-only DHT settings: %+v", running.CDN)
	}

	other := t.TempDir()
	os.WriteFile(filepath.Join(other, ConfigFile), []byte("[cdn]\ndht_bootstrap = [\"192.0.2.10\"]\n"), 0o600)
	if _, err := Start(context.Background(), testOptions(other)); err == nil || !strings.Contains(err.Error(), `cdn.dht_bootstrap: "192.0.2.10" is not HOST:PORT`) {
		t.Errorf("bad dht_bootstrap in shoal.toml: err = %v", err)
	}
}

// readEvent reads server-sent events until one of type typ arrives.
func readEvent(t *testing.T, r *bufio.Reader, typ string) Event {
	t.Helper()
	var evType string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading events: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "event: "):
			evType = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && evType == typ:
			var ev Event
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev); err != nil {
				t.Fatalf("event data: %v", err)
			}
			return ev
		}
	}
}

func TestAPIEventsStream(t *testing.T) {
	n := startNode(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+n.UIAddress()+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+n.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	r := bufio.NewReader(resp.Body)
	started := readEvent(t, r, EventStarted) // from the backlog
	if started.Seq == 0 {
		t.Error("backlog event without seq")
	}
	n.Bus().Publish("test.ping", map[string]int{"n": 42})
	ev := readEvent(t, r, "test.ping")
	if toJSON(ev.Data) != `{"n":42}` || ev.Seq <= started.Seq {
		t.Errorf("live event = %+v", ev)
	}

	// Reconnecting with Last-Event-ID replays only what came after.
	req2, _ := http.NewRequestWithContext(ctx, "GET", "http://"+n.UIAddress()+"/api/v1/events", nil)
	req2.Header.Set("Authorization", "Bearer "+n.token)
	req2.Header.Set("Last-Event-ID", "not-a-number")
	resp2, err := http.DefaultClient.Do(req2)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusBadRequest {
		t.Errorf("bad Last-Event-ID: %d", resp2.StatusCode)
	}
}

func TestWebLoginLinkIsOneTime(t *testing.T) {
	n := startNode(t, t.TempDir())
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	link := n.LoginURL()
	resp, err := c.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/" {
		t.Fatalf("login: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	resp, err = c.Get("http://" + n.UIAddress() + "/api/v1/status")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("status with session cookie: %v %v", err, resp.Status)
	}
	resp.Body.Close()

	// A cookie session may change state only with JSON bodies.
	req, _ := http.NewRequest("PUT", "http://"+n.UIAddress()+"/api/v1/settings", strings.NewReader("name=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, _ = c.Do(req)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("form PUT with cookie: %d", resp.StatusCode)
	}

	resp, _ = http.Get(link)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "shoal login") {
		t.Errorf("reused link: %d %s", resp.StatusCode, body)
	}

	req, _ = http.NewRequest("POST", "http://"+n.UIAddress()+"/api/v1/logout", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	resp, _ = c.Do(req)
	resp.Body.Close()
	resp, _ = c.Get("http://" + n.UIAddress() + "/api/v1/status")
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after logout: %d", resp.StatusCode)
	}
}

func TestAPIBackup(t *testing.T) {
	n := startNode(t, t.TempDir())
	resp, err := func() (*http.Response, error) {
		req, _ := http.NewRequest("GET", "http://"+n.UIAddress()+"/api/v1/backup", nil)
		req.Header.Set("Authorization", "Bearer "+n.token)
		return http.DefaultClient.Do(req)
	}()
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := filepath.Join(t.TempDir(), "b.db")
	os.WriteFile(out, raw, 0o600)
	// The backup is a shoal.db that a node starts from.
	dir := t.TempDir()
	os.Rename(out, filepath.Join(dir, DatabaseFile))
	m := startNode(t, dir)
	if v, _ := m.db.SchemaVersion("node"); v != len(nodeMigrations) {
		t.Errorf("backup schema version %d", v)
	}
}

// POST /api/v1/items takes a spec or a .torrent's bytes, not both; a
// .torrent that does not parse is a 400 and adds nothing.
func TestAPIAddItemByTorrent(t *testing.T) {
	n := startNode(t, t.TempDir())
	for _, c := range []struct{ name, body, want string }{
		{"both", `{"spec": "0123456789abcdef0123456789abcdef01234567", "torrent": "ZDg6YW5ub3VuY2U="}`, "not both"},
		{"not bencode", `{"torrent": "aGVsbG8="}`, "not a .torrent file"},
		{"no info", `{"torrent": "ZDg6YW5ub3VuY2UxMDpodHRwOi8veC95ZQ=="}`, "no info dictionary"},
		{"not base64", `{"torrent": "%%%"}`, ""},
	} {
		resp, body := call(t, n, "POST", "/api/v1/items", n.token, c.body, "Content-Type", "application/json")
		msg, _ := body["error"].(string)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %d %q, want 400 saying %q", c.name, resp.StatusCode, msg, c.want)
		}
	}
	if items := n.Items(); len(items) != 0 {
		t.Errorf("refused requests left items: %v", items)
	}
}
