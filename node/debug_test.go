package node

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// The runtime's profiles are served behind the token, and only those that exist.
func TestAPIDebugProfiles(t *testing.T) {
	n := startNode(t, t.TempDir())
	get := func(path, token string) (int, string) {
		t.Helper()
		req, err := http.NewRequest("GET", "http://"+n.UIAddress()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/api/v1/debug/pprof/goroutine?debug=1", ""); code != http.StatusUnauthorized {
		t.Errorf("without the token: %d", code)
	}
	if code, body := get("/api/v1/debug/pprof/goroutine?debug=1", n.token); code != http.StatusOK || !strings.Contains(body, "goroutine profile:") {
		t.Errorf("goroutine profile: %d %.80q", code, body)
	}
	if code, body := get("/api/v1/debug/pprof/block?seconds=1", n.token); code != http.StatusOK || len(body) == 0 {
		t.Errorf("block profile over a second: %d, %d bytes", code, len(body))
	}
	if code, _ := get("/api/v1/debug/pprof/nosuch", n.token); code != http.StatusNotFound {
		t.Errorf("an unknown profile: %d", code)
	}
}
