package httpcache

import (
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/shoal-p2p/shoal/storage"
)

// pending is a response being written to a temporary file while it goes to
// the client.
type pending struct {
	key    string
	rec    record
	f      *os.File
	n      int64
	mem    []byte
	limit  int64
	failed bool
}

func (p *pending) Write(b []byte) (int, error) {
	if p.failed {
		return len(b), nil
	}
	if p.n+int64(len(b)) > p.limit {
		p.failed = true
		return len(b), nil
	}
	if _, err := p.f.Write(b); err != nil {
		p.failed = true
		return len(b), nil
	}
	if p.n+int64(len(b)) <= memBody {
		p.mem = append(p.mem, b...)
	}
	p.n += int64(len(b))
	return len(b), nil
}

// begin opens the temporary file for a storable response.
func (c *Cache) begin(url string, r *http.Request, resp *http.Response, reqTime, respTime time.Time) (*pending, error) {
	names, _ := varyNames(resp.Header)
	key, vary := variantKey(url, names, r)
	h := resp.Header.Clone()
	RemoveHopByHop(h)
	h.Del("Content-Length")
	if h.Get("Date") == "" {
		h.Set("Date", respTime.UTC().Format(http.TimeFormat))
	}
	f, err := os.CreateTemp(c.opts.Dir, ".tmp-*")
	if err != nil {
		return nil, err
	}
	return &pending{key: key, f: f, limit: c.opts.MaxBytes, rec: record{URL: url, Vary: vary, Status: resp.StatusCode,
		Header: h, RequestTime: reqTime, ResponseTime: respTime, LastUsed: respTime}}, nil
}

// commit keeps the written response when it is complete: n bytes went, the
// origin announced want (-1: unknown), and reading its body ended in
// readErr (nil for a clean end). It reports whether it was stored.
func (c *Cache) commit(p *pending, n, want int64, readErr error) bool {
	ok := readErr == nil && !p.failed && p.n == n && (want < 0 || want == n)
	name := p.f.Name()
	if err := p.f.Close(); err != nil {
		ok = false
	}
	if !ok {
		os.Remove(name)
		return false
	}
	p.rec.Size = p.n
	p.rec.File = randomName()
	final := filepath.Join(c.opts.Dir, p.rec.File)
	if err := os.Rename(name, final); err != nil {
		os.Remove(name)
		return false
	}
	if err := c.opts.DB.Update(func(tx *storage.Tx) error { return index.Put(tx, p.key, p.rec) }); err != nil {
		c.opts.Log.Warn("httpcache: index", "url", p.rec.URL, "err", err)
		os.Remove(final)
		return false
	}
	e := newEntry(p.key, p.rec)
	c.mu.Lock()
	old := c.entries[p.key]
	if int64(len(p.mem)) == p.n && c.mem+p.n <= memTotal {
		e.body.Store(&p.mem)
	}
	c.insertLocked(e)
	c.mu.Unlock()
	if old != nil {
		os.Remove(filepath.Join(c.opts.Dir, old.rec.File))
	}
	c.evict()
	return true
}
