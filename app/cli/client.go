package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/shoal-p2p/shoal/node"
)

// client is the control API of a running node.
type client struct {
	base, token string
	http        *http.Client
}

// dial finds the running node through --api or the data dir.
func (g *Globals) dial() (*client, error) {
	c := &client{http: &http.Client{Timeout: 30 * time.Second}}
	tok, err := os.ReadFile(filepath.Join(g.Data, node.TokenFile))
	if err != nil && g.API == "" {
		return nil, fmt.Errorf("no node found in data dir %s (no %s); start one with 'shoal node' or pass --api URL", g.Data, node.TokenFile)
	}
	c.token = strings.TrimSpace(string(tok))
	if t := os.Getenv("SHOAL_TOKEN"); t != "" {
		c.token = t
	}
	if g.API != "" {
		c.base = strings.TrimRight(g.API, "/")
		return c, nil
	}
	addr, err := os.ReadFile(filepath.Join(g.Data, node.UIAddressFile))
	if err != nil {
		return nil, fmt.Errorf("no node is running on data dir %s; start one with 'shoal node'", g.Data)
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
