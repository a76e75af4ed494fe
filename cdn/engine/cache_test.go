package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	const size = 64 << 10
	origin := newNode(t, nil)
	var ihs []string
	for i := range 4 {
		name := fmt.Sprintf("item%d.bin", i)
		writeFile(t, filepath.Join(origin.dir, name), size, uint64(100+i))
		item, err := origin.Publish(ctx(t), filepath.Join(origin.dir, name), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		ihs = append(ihs, item.InfoHash)
	}
	edge := newNode(t, func(c *Config) {
		c.CacheQuota = 3*size + size/2
		c.FindPeers = func(context.Context, string) []netip.AddrPort { return []netip.AddrPort{origin.addr()} }
	})
	// edge's own published item is bigger than the whole quota, and stays.
	writeFile(t, filepath.Join(edge.dir, "own.bin"), 8*size, 200)
	own, err := edge.Publish(ctx(t), filepath.Join(edge.dir, "own.bin"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(edge.Gateway())
	t.Cleanup(srv.Close)
	fetch := func(i int) {
		t.Helper()
		resp, body := get(t, "GET", srv.URL+"/cdn/"+ihs[i])
		if resp.StatusCode != http.StatusOK || len(body) != size {
			t.Fatalf("GET item %d: %d, %d bytes", i, resp.StatusCode, len(body))
		}
		eventually(t, 10*time.Second, "the cached copy to complete", func() bool {
			return edge.status(ihs[i]).State == StateSeeding
		})
	}
	fetch(0)
	fetch(1)
	fetch(2)
	if err := edge.Pin(ihs[0]); err != nil {
		t.Fatal(err)
	}
	fetch(1) // now 2 is the least recently used unpinned item
	fetch(3) // over quota: 2 goes
	gone := func(ih string) bool {
		_, err := edge.Status(ih)
		return errors.Is(err, ErrNotFound)
	}
	// The event comes once the eviction is over (data deleted too).
	eventually(t, 5*time.Second, "item 2 to be evicted", func() bool { return edge.events.count(EventEvicted) == 1 })
	if !gone(ihs[2]) {
		t.Error("item 2 is still there")
	}
	for _, i := range []int{0, 1, 3} {
		if gone(ihs[i]) {
			t.Errorf("item %d was evicted", i)
		}
	}
	if gone(own.InfoHash) {
		t.Error("the published item was evicted")
	}
	if _, err := os.Stat(filepath.Join(edge.dir, "content", ".cache", ihs[2])); !os.IsNotExist(err) {
		t.Errorf("evicted data still on disk: %v", err)
	}
	if used, quota := edge.CacheUsage(); used != 3*size || quota != 3*size+size/2 {
		t.Errorf("cache usage %d of %d", used, quota)
	}

	// Fetch 2 again: over quota with 0 pinned, so the LRU unpinned one (1) goes.
	fetch(2)
	eventually(t, 5*time.Second, "item 1 to be evicted", func() bool { return edge.events.count(EventEvicted) == 2 })
	if !gone(ihs[1]) {
		t.Error("item 1 is still there")
	}
	if gone(ihs[0]) || gone(ihs[3]) || gone(ihs[2]) {
		t.Error("the wrong item was evicted")
	}
	// Unpinned, 0 is the least recently used; the cache fits, so it stays
	// until the quota shrinks below it.
	if err := edge.Unpin(ihs[0]); err != nil {
		t.Fatal(err)
	}
	if gone(ihs[0]) {
		t.Error("unpinning evicted an item although the cache fits")
	}

	// Last access survives a restart.
	before := edge.status(ihs[3]).LastAccess
	edge.restart()
	if after := edge.status(ihs[3]).LastAccess; !after.Equal(before) {
		t.Errorf("last access %v after restart, was %v", after, before)
	}
}
