package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/shoal-p2p/shoal/cdn"
	"github.com/shoal-p2p/shoal/cdn/engine"
)

// startCDN starts the BitTorrent engine, membership, catalog and tracker
// on the peer API.
func (n *Node) startCDN(ctx context.Context) error {
	cfg := n.cfg
	c, err := cdn.Start(ctx, cdn.Config{
		DB:           n.db,
		DataDir:      n.dataDir,
		Signer:       n.id,
		Network:      cfg.Network,
		Name:         cfg.Name,
		Bind:         netip.MustParseAddr(cfg.Bind),
		PeerPort:     cfg.Ports.Peer,
		TorrentPort:  cfg.Ports.BitTorrent,
		Join:         cfg.Join,
		UploadRate:   cfg.CDN.UploadKiBs << 10,
		DownloadRate: cfg.CDN.DownloadKiBs << 10,
		CacheQuota:   cfg.CDN.CacheQuotaMiB << 20,
		Membership:   n.opts.CDNTiming,
		Log:          n.log,
		Publish:      n.bus.Publish,
	})
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	n.cdn = c
	n.services = append(n.services, service{"CDN", func(context.Context) error { return c.Close() }})
	return nil
}

// CDN is the node's content delivery network.
func (n *Node) CDN() *cdn.CDN { return n.cdn }

// Progress events of long work started through the API.
const EventPublishProgress = "cdn.publish.progress"

// PublishProgress is the data of an EventPublishProgress event.
type PublishProgress struct {
	Path  string `json:"path"`
	Done  int64  `json:"done"`
	Total int64  `json:"total"`
}

// Publish hashes and shares a file or folder, reporting progress on the bus.
func (n *Node) Publish(ctx context.Context, path, name string, progress func(done, total int64)) (engine.Item, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return engine.Item{}, fmt.Errorf("node: publish: %w", err)
	}
	last := time.Time{}
	return n.cdn.Publish(ctx, abs, name, func(done, total int64) {
		if progress != nil {
			progress(done, total)
		}
		if now := time.Now(); now.Sub(last) > 200*time.Millisecond || done == total {
			last = now
			n.bus.Publish(EventPublishProgress, PublishProgress{Path: abs, Done: done, Total: total})
		}
	})
}

// cdnRoutes are the control API's routes for sharing and fetching.
func (a *controlAPI) cdnRoutes(api func(string, http.HandlerFunc)) {
	api("POST /api/v1/publish", a.postPublish)
	api("GET /api/v1/items", a.getItems)
	api("GET /api/v1/items/{ih}", a.getItem)
	api("POST /api/v1/items", a.postItems)
	api("POST /api/v1/items/{ih}/{action}", a.postItemAction)
	api("DELETE /api/v1/items/{ih}", a.deleteItem)
	api("GET /api/v1/catalog", a.getCatalog)
	api("GET /api/v1/members", a.getMembers)
	api("GET /api/v1/network", a.getNetwork)
}

// postPublish publishes {"path", "name"}. The answer is NDJSON: progress
// lines {"done", "total"} while hashing, then {"item": ...} or {"error": ...}.
func (a *controlAPI) postPublish(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Path string `json:"path"`
		Name string `json:"name"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if req.Path == "" {
		writeError(w, http.StatusBadRequest, errors.New("no path to publish"))
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	last := time.Time{}
	it, err := a.n.Publish(r.Context(), req.Path, req.Name, func(done, total int64) {
		if now := time.Now(); now.Sub(last) > 100*time.Millisecond {
			last = now
			enc.Encode(map[string]int64{"done": done, "total": total})
			if flusher != nil {
				flusher.Flush()
			}
		}
	})
	if err != nil {
		enc.Encode(map[string]string{"error": err.Error()})
		return
	}
	enc.Encode(map[string]any{"item": it})
}

func (a *controlAPI) getItems(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.n.cdn.Engine.List())
}

func (a *controlAPI) getItem(w http.ResponseWriter, r *http.Request) {
	st, err := a.n.cdn.Engine.Status(r.PathValue("ih"))
	if err != nil {
		writeError(w, statusFor(err), err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// postItems adds a download: {"spec": magnet | infohash | name, "out_dir"}.
func (a *controlAPI) postItems(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Spec   string `json:"spec"`
		OutDir string `json:"out_dir"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	spec, err := a.n.cdn.Resolve(strings.TrimSpace(req.Spec))
	if err != nil {
		writeError(w, http.StatusNotFound, err)
		return
	}
	d, err := a.n.cdn.Engine.Fetch(r.Context(), spec, req.OutDir)
	if err != nil {
		writeError(w, statusFor(err), err)
		return
	}
	st, err := d.Status()
	if err != nil {
		writeError(w, statusFor(err), err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (a *controlAPI) postItemAction(w http.ResponseWriter, r *http.Request) {
	ih := r.PathValue("ih")
	e := a.n.cdn.Engine
	var err error
	switch r.PathValue("action") {
	case "pause":
		err = e.Pause(ih)
	case "resume":
		err = e.Resume(ih)
	case "pin":
		err = e.Pin(ih)
	case "unpin":
		err = e.Unpin(ih)
	default:
		writeError(w, http.StatusNotFound, fmt.Errorf("no action %q: pause, resume, pin or unpin", r.PathValue("action")))
		return
	}
	if err != nil {
		writeError(w, statusFor(err), err)
		return
	}
	a.getItem(w, r)
}

// deleteItem removes an item; ?data=1 deletes its files too (never a
// published item's own files).
func (a *controlAPI) deleteItem(w http.ResponseWriter, r *http.Request) {
	withData := r.URL.Query().Get("data") == "1" || r.URL.Query().Get("data") == "true"
	if err := a.n.cdn.Remove(r.PathValue("ih"), withData); err != nil {
		writeError(w, statusFor(err), err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"removed": true})
}

// getCatalog lists the network's catalog (?scope=local for this node's),
// searched with ?q=.
func (a *controlAPI) getCatalog(w http.ResponseWriter, r *http.Request) {
	c := a.n.cdn.Catalog
	q := r.URL.Query().Get("q")
	if r.URL.Query().Get("scope") == "local" {
		items := c.Local()
		if q != "" {
			ids := map[string]bool{}
			for _, e := range c.Search(q) {
				ids[e.Item.InfoHash] = true
			}
			kept := items[:0]
			for _, it := range items {
				if ids[it.InfoHash] {
					kept = append(kept, it)
				}
			}
			items = kept
		}
		writeJSON(w, http.StatusOK, items)
		return
	}
	if q != "" {
		writeJSON(w, http.StatusOK, c.Search(q))
		return
	}
	writeJSON(w, http.StatusOK, c.Network())
}

func (a *controlAPI) getMembers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.n.cdn.Members.Members())
}

// getNetwork reports the swarm: DHT nodes, rates and the cache.
func (a *controlAPI) getNetwork(w http.ResponseWriter, r *http.Request) {
	e := a.n.cdn.Engine
	var up, down int64
	for _, st := range e.List() {
		up += st.UpRate
		down += st.DownRate
	}
	used, quota := e.CacheUsage()
	writeJSON(w, http.StatusOK, map[string]any{
		"dht_nodes": e.DHTNodes(), "up_rate": up, "down_rate": down,
		"cache_used": used, "cache_quota": quota, "peer_api": a.n.cdn.PeerAddr(),
	})
}

// statusFor maps engine errors to HTTP statuses.
func statusFor(err error) int {
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, engine.ErrBadInput):
		return http.StatusBadRequest
	case errors.Is(err, engine.ErrClosed):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
