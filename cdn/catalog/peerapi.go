package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/shoal-p2p/shoal/cdn/peertls"
)

// PathCatalog is the peer API route that serves the local catalog.
const PathCatalog = "/peer/v1/catalog"

// Bounds on a fetched catalog.
const (
	maxListingBytes = 32 << 20
	maxItems        = 50_000
)

// Listing is a node's local catalog as served to members.
type Listing struct {
	Node    string `json:"node"`
	Version uint64 `json:"version"`
	Items   []Item `json:"items"`
}

// Routes registers GET /peer/v1/catalog on the peer API's mux.
func (c *Catalog) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+PathCatalog, c.serveCatalog)
}

func (c *Catalog) serveCatalog(w http.ResponseWriter, _ *http.Request) {
	c.mu.Lock()
	l := Listing{Node: c.members.ID(), Version: c.version, Items: make([]Item, 0, len(c.local))}
	for _, it := range c.local {
		l.Items = append(l.Items, it)
	}
	c.mu.Unlock()
	sortItems(l.Items)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(l)
}

// fetch gets the catalog of member id from its peer API at addr. A listing
// that names another node, or holds an item that does not validate, is
// refused whole.
func (c *Catalog) fetch(ctx context.Context, addr, id string) (Listing, error) {
	var l Listing
	req, err := http.NewRequestWithContext(peertls.WithPeer(ctx, id), http.MethodGet, peertls.Scheme(c.cfg.PeerTLS)+"://"+addr+PathCatalog, nil)
	if err != nil {
		return l, fmt.Errorf("catalog: %w", err)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return l, fmt.Errorf("catalog: %w", err)
	}
	defer func() {
		// What the decoder left (the encoder's newline) is read, so the
		// TLS connection goes back to the pool instead of a new handshake.
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
	}()
	if resp.StatusCode != http.StatusOK {
		return l, fmt.Errorf("catalog: GET %s%s: %s", addr, PathCatalog, resp.Status)
	}
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxListingBytes))
	if err := dec.Decode(&l); err != nil {
		return l, fmt.Errorf("catalog: listing of %s: %w", addr, err)
	}
	if l.Node != id {
		return l, fmt.Errorf("catalog: %s served the catalog of %q, not of %s", addr, l.Node, id)
	}
	if len(l.Items) > maxItems {
		return l, fmt.Errorf("catalog: %s lists %d items, at most %d", addr, len(l.Items), maxItems)
	}
	seen := make(map[string]bool, len(l.Items))
	for i := range l.Items {
		if err := l.Items[i].validate(); err != nil {
			return l, fmt.Errorf("catalog: listing of %s: %w", addr, err)
		}
		if seen[l.Items[i].InfoHash] {
			return l, fmt.Errorf("catalog: listing of %s: %s twice", addr, l.Items[i].InfoHash)
		}
		seen[l.Items[i].InfoHash] = true
	}
	return l, nil
}

// fetchTimeout bounds one member's fetch, all its addresses together.
const fetchTimeout = 20 * time.Second
