package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// curlProxy fetches url through the proxy at proxyAddr with curl -x and
// returns the header block and the body.
func curlProxy(t *testing.T, proxyAddr, url string) (string, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hdrFile := filepath.Join(t.TempDir(), "headers")
	body, err := exec.CommandContext(ctx, "curl", "-s", "--max-time", "20", "-x", "http://"+proxyAddr, "-D", hdrFile, url).Output()
	if err != nil {
		t.Fatalf("curl -x %s %s: %v", proxyAddr, url, err)
	}
	hdr, _ := os.ReadFile(hdrFile)
	return string(hdr), body
}

// TestProxyServesAnotherMembersContent: beta's proxy, asked with curl -x
// for alpha.shoal, fetches from alpha's peer port; the second time the
// answer comes from beta's cache. The control API shows and purges it.
func TestProxyServesAnotherMembersContent(t *testing.T) {
	a := startMember(t, "alpha", "127.0.0.2")
	b := startMember(t, "beta", "127.0.0.3", a.CDN().PeerAddr())
	waitFor(t, "the two nodes to see each other", func() bool { return aliveMembers(a) == 2 && aliveMembers(b) == 2 })
	if b.ProxyAddr() == "" || b.CDN().Members.Self().Ports["proxy"] == 0 {
		t.Fatal("the proxy port is not advertised")
	}

	data := make([]byte, 200<<10)
	rand.Read(data)
	src := filepath.Join(t.TempDir(), "page.bin")
	os.WriteFile(src, data, 0o600)
	it, err := a.Publish(context.Background(), src, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	url := "http://alpha.shoal/cdn/" + it.InfoHash
	hdr, got := curlProxy(t, b.ProxyAddr(), url)
	if !bytes.Equal(got, data) || !strings.Contains(hdr, "Via: 1.1 beta.shoal") {
		t.Fatalf("through beta's proxy: %d bytes, headers:\n%s", len(got), hdr)
	}
	hdr, got = curlProxy(t, b.ProxyAddr(), url)
	if !bytes.Equal(got, data) || !strings.Contains(hdr, "beta.shoal; hit") {
		t.Fatalf("second fetch not a hit: headers:\n%s", hdr)
	}
	hdr, _ = curlProxy(t, b.ProxyAddr(), "http://nobody.shoal/")
	if !strings.HasPrefix(hdr, "HTTP/1.1 404") {
		t.Fatalf("unknown name: %s", hdr)
	}

	_, st := call(t, b, "GET", "/api/v1/proxy/stats", b.token, "")
	if st["hits"] != 1.0 || st["entries"] != 1.0 || st["bytes_saved"] != float64(len(data)) || st["address"] != b.ProxyAddr() {
		t.Fatalf("stats %v", st)
	}
	if resp, _ := call(t, b, "POST", "/api/v1/proxy/purge", b.token, `{}`); resp.StatusCode != 400 {
		t.Fatalf("empty purge: %d", resp.StatusCode)
	}
	if _, res := call(t, b, "POST", "/api/v1/proxy/purge", b.token, `{"url":"`+url+`"}`); res["purged"] != 1.0 {
		t.Fatalf("purge: %v", res)
	}
	if _, st := call(t, b, "GET", "/api/v1/proxy/stats", b.token, ""); st["entries"] != 0.0 {
		t.Fatalf("after purge: %v", st)
	}
}
