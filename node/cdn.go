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
	"github.com/shoal-p2p/shoal/cdn/catalog"
	"github.com/shoal-p2p/shoal/cdn/engine"
	"github.com/shoal-p2p/shoal/cdn/membership"
	"github.com/shoal-p2p/shoal/cdn/pnet"
)

// startCDN starts the BitTorrent engine, membership, catalog and tracker
// on the peer API.
func (n *Node) startCDN(ctx context.Context) error {
	cfg := n.cfg
	keys, err := loadNetworkKey(n.dataDir, cfg)
	if err != nil {
		return err
	}
	c, err := cdn.Start(ctx, cdn.Config{
		NetworkKey:   keys,
		KeyFile:      filepath.Join(n.dataDir, pnet.KeyFile),
		DB:           n.db,
		DataDir:      n.dataDir,
		Signer:       n.id,
		Network:      cfg.Network,
		Name:         cfg.Name,
		Bind:         netip.MustParseAddr(cfg.Bind),
		PeerPort:     cfg.Ports.Peer,
		TorrentPort:  cfg.Ports.BitTorrent,
		Join:         cfg.Join,
		DHTBootstrap: cfg.CDN.DHTBootstrap,
		PublicDHT:    cfg.CDN.PublicDHT,
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
	n.peerHTTP = &http.Client{Transport: newPeerHTTP(c, 10*time.Second)}
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
	Stage string `json:"stage,omitempty"` // StageHashing (the default) or StagePackaging
	Done  int64  `json:"done"`
	Total int64  `json:"total"`
}

// Publish hashes and shares a file or folder, reporting progress on the bus.
func (n *Node) Publish(ctx context.Context, path, name string, progress func(done, total int64)) (engine.Item, error) {
	return n.publish(ctx, path, name, "", progress)
}

// publish is Publish with the stage its events name.
func (n *Node) publish(ctx context.Context, path, name, stage string, progress func(done, total int64)) (engine.Item, error) {
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
			n.bus.Publish(EventPublishProgress, PublishProgress{Path: abs, Stage: stage, Done: done, Total: total})
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
	a.networkRoutes(api)
}

// postPublish publishes {"path", "name", "video"}. The answer is NDJSON:
// progress lines {"done", "total"} while hashing (with "video": true,
// {"stage": "packaging", "done", "total"} in milliseconds first), then
// {"item": ...} or {"error": ...}.
func (a *controlAPI) postPublish(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Path  string `json:"path"`
		Name  string `json:"name"`
		Video bool   `json:"video"`
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
	last, lastStage := time.Time{}, ""
	progress := func(stage string, done, total int64) {
		if now := time.Now(); now.Sub(last) > 100*time.Millisecond || done == total || stage != lastStage {
			last, lastStage = now, stage
			line := map[string]any{"done": done, "total": total}
			if stage != "" {
				line["stage"] = stage
			}
			enc.Encode(line)
			if flusher != nil {
				flusher.Flush()
			}
		}
	}
	var it engine.Item
	var err error
	if req.Video {
		it, err = a.n.PublishVideo(r.Context(), req.Path, req.Name, progress)
	} else {
		it, err = a.n.Publish(r.Context(), req.Path, req.Name, func(done, total int64) { progress("", done, total) })
	}
	if err != nil {
		enc.Encode(map[string]string{"error": err.Error()})
		return
	}
	enc.Encode(map[string]any{"item": it})
}

// Items are this node's items: published, downloaded and cached.
func (n *Node) Items() []engine.Status { return n.cdn.Engine.List() }

// Item is one item's status.
func (n *Node) Item(infohash string) (engine.Status, error) { return n.cdn.Engine.Status(infohash) }

// Fetch starts downloading spec — a magnet, an infohash or the name of an
// item in the network's catalog — into outDir ("" = the node's content folder).
func (n *Node) Fetch(ctx context.Context, spec, outDir string) (engine.Status, error) {
	resolved, err := n.cdn.Resolve(ctx, strings.TrimSpace(spec))
	if err != nil {
		return engine.Status{}, err
	}
	d, err := n.cdn.Engine.Fetch(ctx, resolved, outDir)
	if err != nil {
		return engine.Status{}, err
	}
	return d.Status()
}

// AddTorrent starts downloading the torrent a .torrent file's bytes
// describe into outDir ("" = the node's content folder), like Fetch.
func (n *Node) AddTorrent(ctx context.Context, mi []byte, outDir string) (engine.Status, error) {
	d, err := n.cdn.Engine.AddTorrent(ctx, mi, outDir)
	if err != nil {
		return engine.Status{}, err
	}
	return d.Status()
}

// Item actions.
const (
	ActionPause  = "pause"
	ActionResume = "resume"
	ActionPin    = "pin"
	ActionUnpin  = "unpin"
)

// ItemAction pauses, resumes, pins or unpins an item.
func (n *Node) ItemAction(infohash, action string) (engine.Status, error) {
	e := n.cdn.Engine
	var err error
	switch action {
	case ActionPause:
		err = e.Pause(infohash)
	case ActionResume:
		err = e.Resume(infohash)
	case ActionPin:
		err = e.Pin(infohash)
	case ActionUnpin:
		err = e.Unpin(infohash)
	default:
		return engine.Status{}, fmt.Errorf("%w: no action %q: pause, resume, pin or unpin", errNoRoute, action)
	}
	if err != nil {
		return engine.Status{}, err
	}
	return e.Status(infohash)
}

var errNoRoute = errors.New("node: not found")

// RemoveItem stops sharing an item; withData deletes downloaded files too
// (never a published item's own files).
func (n *Node) RemoveItem(infohash string, withData bool) error {
	return n.cdn.Remove(infohash, withData)
}

// Catalog is the network's catalog, searched by query when it is not empty.
func (n *Node) Catalog(query string) []catalog.Entry {
	if query != "" {
		return n.cdn.Catalog.Search(query)
	}
	return n.cdn.Catalog.Network()
}

// LocalCatalog is what this node offers the network.
func (n *Node) LocalCatalog() []catalog.Item { return n.cdn.Catalog.Local() }

// Members are the network's members as this node sees them, itself included.
func (n *Node) Members() []membership.Member { return n.cdn.Members.Members() }

// NetworkStats are the swarm's figures for the Network area.
type NetworkStats struct {
	DHTNodes   []netip.AddrPort `json:"dht_nodes"`
	UpRate     int64            `json:"up_rate"`
	DownRate   int64            `json:"down_rate"`
	CacheUsed  int64            `json:"cache_used"`
	CacheQuota int64            `json:"cache_quota"`
	PeerAPI    string           `json:"peer_api"`
	// Name is the network's name, Kind "open" or "private".
	Name string `json:"name"`
	Kind string `json:"kind"`
}

// Network reports the DHT's nodes, the total rates and the cache.
func (n *Node) Network() NetworkStats {
	e := n.cdn.Engine
	st := NetworkStats{DHTNodes: e.DHTNodes(), PeerAPI: n.cdn.PeerAddr(), Name: n.Config().Network, Kind: kindOf(n.cdn.Private())}
	for _, it := range e.List() {
		st.UpRate += it.UpRate
		st.DownRate += it.DownRate
	}
	st.CacheUsed, st.CacheQuota = e.CacheUsage()
	return st
}

func (a *controlAPI) getItems(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.n.Items())
}

func (a *controlAPI) getItem(w http.ResponseWriter, r *http.Request) {
	st, err := a.n.Item(r.PathValue("ih"))
	if err != nil {
		writeError(w, statusFor(err), err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// postItems adds a download: {"spec": magnet | infohash | name, "out_dir"}.
func (a *controlAPI) postItems(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Spec    string `json:"spec"`
		Torrent []byte `json:"torrent"` // a .torrent file, base64 in JSON
		OutDir  string `json:"out_dir"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if req.Spec != "" && req.Torrent != nil {
		writeError(w, http.StatusBadRequest, errors.New("node: give spec or torrent, not both"))
		return
	}
	// The download outlives the request.
	ctx := context.WithoutCancel(r.Context())
	var st engine.Status
	var err error
	if req.Torrent != nil {
		st, err = a.n.AddTorrent(ctx, req.Torrent, req.OutDir)
	} else {
		st, err = a.n.Fetch(ctx, req.Spec, req.OutDir)
	}
	if err != nil {
		writeError(w, statusFor(err), err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (a *controlAPI) postItemAction(w http.ResponseWriter, r *http.Request) {
	st, err := a.n.ItemAction(r.PathValue("ih"), r.PathValue("action"))
	if err != nil {
		writeError(w, statusFor(err), err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// deleteItem removes an item; ?data=1 deletes its files too (never a
// published item's own files).
func (a *controlAPI) deleteItem(w http.ResponseWriter, r *http.Request) {
	withData := r.URL.Query().Get("data") == "1" || r.URL.Query().Get("data") == "true"
	if err := a.n.RemoveItem(r.PathValue("ih"), withData); err != nil {
		writeError(w, statusFor(err), err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"removed": true})
}

// getCatalog lists the network's catalog (?scope=local for this node's
// own offer), searched with ?q=.
func (a *controlAPI) getCatalog(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("q")
	if r.URL.Query().Get("scope") == "local" {
		writeJSON(w, http.StatusOK, a.n.LocalCatalog())
		return
	}
	writeJSON(w, http.StatusOK, a.n.Catalog(q))
}

func (a *controlAPI) getMembers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.n.Members())
}

func (a *controlAPI) getNetwork(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.n.Network())
}

// statusFor maps engine errors to HTTP statuses.
func statusFor(err error) int {
	switch {
	case errors.Is(err, engine.ErrNotFound), errors.Is(err, errNoRoute), errors.Is(err, cdn.ErrUnknownName):
		return http.StatusNotFound
	case errors.Is(err, engine.ErrBadInput), errors.Is(err, errBadRecord), errors.Is(err, pnet.ErrBadInvite),
		errors.Is(err, pnet.ErrCutInvite), errors.Is(err, pnet.ErrExpired), errors.Is(err, errBadNetworkRequest):
		return http.StatusBadRequest
	case errors.Is(err, membership.ErrNotMember):
		return http.StatusNotFound
	case errors.Is(err, cdn.ErrAmbiguousName), errors.Is(err, ErrAlreadyPrivate), errors.Is(err, ErrOtherNetwork), errors.Is(err, cdn.ErrOpenNetwork):
		return http.StatusConflict
	case errors.Is(err, engine.ErrClosed):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
