package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-p2p/shoal/cdn/engine"
	"github.com/shoal-p2p/shoal/cdn/membership"
	"github.com/shoal-p2p/shoal/streaming/abr"
	"github.com/shoal-p2p/shoal/streaming/player"
)

// Watch sessions: the node runs the DASH player (streaming/player) for its
// renderers, one session per watched video, and passes it the CDN as the
// segments' source.

// WatchOptions choose a session's ABR and rendition.
type WatchOptions struct {
	ABR       string `json:"abr"`       // throughput, bolae or shoal ("" = shoal)
	Rendition *int   `json:"rendition"` // a fixed video rendition; nil or -1 = automatic
	// BufferTarget and BufferMax are in seconds; 0 means the player's
	// defaults (12 s and 25 s).
	BufferTarget float64 `json:"buffer_target"`
	BufferMax    float64 `json:"buffer_max"`
}

// Watching describes one watch session.
type Watching struct {
	ID       string       `json:"id"`
	InfoHash string       `json:"infohash"`
	Name     string       `json:"name"`
	Started  time.Time    `json:"started"`
	State    player.State `json:"state"`
}

type watchSession struct {
	id, ih, name string
	started      time.Time
	s            *player.Session
	used         atomic.Int64 // unix nanoseconds of the last request for it
}

func (ws *watchSession) touch() { ws.used.Store(time.Now().UnixNano()) }

// watchSessions are the node's watch sessions. The zero value is empty.
type watchSessions struct {
	mu       sync.Mutex
	sessions map[string]*watchSession
	closed   bool
	quit     chan struct{} // closed when the node stops; made with the reaper
	reaper   sync.Once
}

// watchIdle is how long a session lives without a request from its
// renderer (a closed browser tab sends no DELETE).
const watchIdle = 2 * time.Minute

// reap stops sessions that no renderer asked about for watchIdle.
func (n *Node) reap(quit <-chan struct{}) {
	t := time.NewTicker(watchIdle / 8)
	defer t.Stop()
	for {
		select {
		case <-quit:
			return
		case <-t.C:
		}
		w := &n.watching
		var idle []string
		w.mu.Lock()
		for id, ws := range w.sessions {
			if time.Since(time.Unix(0, ws.used.Load())) > watchIdle {
				idle = append(idle, id)
			}
		}
		w.mu.Unlock()
		for _, id := range idle {
			n.log.Info("watch session idle: stopped", "session", id)
			n.StopWatching(id)
		}
	}
}

// maxWatchSessions bounds the sessions one node runs at once.
const maxWatchSessions = 16

// ErrNoSession is the error for an unknown watch session id.
var ErrNoSession = fmt.Errorf("%w: no such watch session", errNoRoute)

// Watch starts a watch session for the video item infohash: it fetches the
// MPD through the CDN and begins buffering. Player events go on the bus
// with the session id.
func (n *Node) Watch(ctx context.Context, infohash string, opts WatchOptions) (Watching, error) {
	ih := strings.ToLower(strings.TrimSpace(infohash))
	if len(ih) != 40 || strings.Trim(ih, "0123456789abcdef") != "" {
		return Watching{}, fmt.Errorf("%w: %q is not an infohash", engine.ErrBadInput, infohash)
	}
	alg, err := abr.New(opts.ABR)
	if err != nil {
		return Watching{}, fmt.Errorf("%w: %v", engine.ErrBadInput, err)
	}
	name := ih
	if e, ok := n.cdn.Catalog.Get(ih); ok {
		name = e.Item.Name
	} else if st, err := n.cdn.Engine.Status(ih); err == nil {
		name = st.Name
	}
	var idb [8]byte
	rand.Read(idb[:])
	id := hex.EncodeToString(idb[:])
	rend := -1
	if opts.Rendition != nil {
		rend = *opts.Rendition
	}
	w := &n.watching
	w.mu.Lock()
	full, closed := len(w.sessions) >= maxWatchSessions, w.closed
	w.mu.Unlock()
	if closed {
		return Watching{}, engine.ErrClosed
	}
	if full {
		return Watching{}, fmt.Errorf("node: %d watch sessions run already; stop one first", maxWatchSessions)
	}
	s, err := player.Open(ctx, &cdnSegments{n: n, ih: ih}, player.Config{
		ABR: alg, Rendition: rend,
		BufferTarget: time.Duration(opts.BufferTarget * float64(time.Second)),
		BufferMax:    time.Duration(opts.BufferMax * float64(time.Second)),
		Event: func(typ string, data any) {
			n.bus.Publish(typ, map[string]any{"session": id, "infohash": ih, "data": data})
		},
	})
	if err != nil {
		return Watching{}, fmt.Errorf("node: watch %s: %w", name, err)
	}
	ws := &watchSession{id: id, ih: ih, name: name, started: time.Now().UTC(), s: s}
	ws.touch()
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		s.Stop()
		return Watching{}, engine.ErrClosed
	}
	w.reaper.Do(func() {
		w.quit = make(chan struct{})
		go n.reap(w.quit)
	})
	if w.sessions == nil {
		w.sessions = map[string]*watchSession{}
	}
	w.sessions[id] = ws
	w.mu.Unlock()
	n.bus.Publish(EventWatchStarted, map[string]string{"session": id, "infohash": ih, "name": name})
	return ws.info(), nil
}

// Events of watch sessions, besides the player's own (player.segment,
// player.stall, player.ended, player.error).
const (
	EventWatchStarted = "player.started"
	EventWatchStopped = "player.stopped"
)

func (ws *watchSession) info() Watching {
	return Watching{ID: ws.id, InfoHash: ws.ih, Name: ws.name, Started: ws.started, State: ws.s.State()}
}

// WatchSession is a running session by id.
func (n *Node) WatchSession(id string) (*player.Session, error) {
	w := &n.watching
	w.mu.Lock()
	defer w.mu.Unlock()
	ws, ok := w.sessions[id]
	if !ok {
		return nil, ErrNoSession
	}
	ws.touch()
	return ws.s, nil
}

// Watchings lists the running sessions, oldest first.
func (n *Node) Watchings() []Watching {
	w := &n.watching
	w.mu.Lock()
	all := make([]*watchSession, 0, len(w.sessions))
	for _, ws := range w.sessions {
		all = append(all, ws)
	}
	w.mu.Unlock()
	slices.SortFunc(all, func(a, b *watchSession) int { return a.started.Compare(b.started) })
	out := make([]Watching, len(all))
	for i, ws := range all {
		out[i] = ws.info()
	}
	return out
}

// Watched describes one session by id.
func (n *Node) Watched(id string) (Watching, error) {
	w := &n.watching
	w.mu.Lock()
	ws, ok := w.sessions[id]
	w.mu.Unlock()
	if !ok {
		return Watching{}, ErrNoSession
	}
	ws.touch()
	return ws.info(), nil
}

// StopWatching ends a session and returns its last state.
func (n *Node) StopWatching(id string) (Watching, error) {
	w := &n.watching
	w.mu.Lock()
	ws, ok := w.sessions[id]
	delete(w.sessions, id)
	w.mu.Unlock()
	if !ok {
		return Watching{}, ErrNoSession
	}
	ws.s.Stop()
	info := ws.info()
	n.bus.Publish(EventWatchStopped, map[string]any{"session": id, "infohash": ws.ih, "qoe": info.State.QoE})
	return info, nil
}

// stopWatching ends every session; the node calls it as it stops.
func (n *Node) stopWatching(context.Context) error {
	w := &n.watching
	w.mu.Lock()
	w.closed = true
	all := w.sessions
	w.sessions = nil
	if w.quit != nil {
		close(w.quit)
	}
	w.mu.Unlock()
	for _, ws := range all {
		ws.s.Stop()
	}
	return nil
}

// cdnSegments is the player's SegmentSource over the CDN: the node's own
// complete copy; else the torrent swarm through the node's own gateway
// (which asks for the segment's pieces first, at top priority); else the
// gateway of the member with the smallest round trip that holds the item.
type cdnSegments struct {
	n  *Node
	ih string
}

// swarmFirstByte is how long the swarm gets to deliver a segment's first
// bytes before a member's gateway is asked instead.
const (
	swarmFirstByte       = 4 * time.Second
	swarmFirstByteUrgent = 1500 * time.Millisecond
)

func (c *cdnSegments) Open(ctx context.Context, p string, urgent bool) (*player.Fetch, error) {
	clean := path.Clean("/" + p)[1:]
	if clean == "" || clean != p {
		return nil, fmt.Errorf("node: segment path %q is not clean", p)
	}
	e := c.n.cdn.Engine
	var size int64 = -1
	st, err := e.Status(c.ih)
	if err == nil {
		for _, f := range st.Files {
			if f.Path == clean {
				size = f.Size
			}
		}
		if size < 0 && len(st.Files) > 0 {
			return nil, fmt.Errorf("node: %s is not in %s", clean, c.ih)
		}
		if st.State == engine.StateSeeding && st.Path != "" {
			f, err := os.Open(filepath.Join(st.Path, filepath.FromSlash(clean)))
			if err == nil {
				return &player.Fetch{Body: f, Size: size, From: "here"}, nil
			}
		}
	}
	var errs []error
	first := swarmFirstByte
	if urgent {
		first = swarmFirstByteUrgent
	}
	if f, err := c.get(ctx, c.n.cdn.PeerAddr(), clean, size, first); err == nil {
		f.From = "swarm"
		return f, nil
	} else {
		errs = append(errs, fmt.Errorf("swarm: %w", err))
	}
	for _, m := range c.holders() {
		ap, ok := peerEndpoint(m)
		if !ok {
			continue
		}
		f, err := c.get(ctx, ap.String(), clean, size, 10*time.Second)
		if err == nil {
			f.From = "member " + m.DisplayName
			return f, nil
		}
		errs = append(errs, fmt.Errorf("member %s: %w", m.DisplayName, err))
	}
	return nil, fmt.Errorf("node: %s of %s: %w", clean, c.ih, errors.Join(errs...))
}

// Held tells which of the item's files are complete on this node: every
// piece that holds a byte of the file is verified.
func (c *cdnSegments) Held(paths []string) []bool {
	held := make([]bool, len(paths))
	st, err := c.n.cdn.Engine.Status(c.ih)
	complete := err == nil && st.State == engine.StateSeeding
	if err != nil || !complete && (st.NumPieces == 0 || len(st.Pieces)*8 < st.NumPieces) {
		return held
	}
	// Pieces are a power of two long, the smallest that cuts the item into
	// NumPieces pieces; files lie in the item in their listed order.
	pieceLen := int64(1)
	for pieceLen*int64(st.NumPieces) < st.Size {
		pieceLen *= 2
	}
	type span struct{ off, size int64 }
	at := map[string]span{}
	var off int64
	for _, f := range st.Files {
		at[f.Path] = span{off, f.Size}
		off += f.Size
	}
	have := func(i int64) bool { return st.Pieces[i/8]&(0x80>>(i%8)) != 0 }
	for i, p := range paths {
		sp, ok := at[p]
		if !ok {
			continue
		}
		if complete {
			held[i] = true
			continue
		}
		held[i] = sp.size > 0
		for pc := sp.off / pieceLen; pc <= (sp.off+sp.size-1)/pieceLen && held[i]; pc++ {
			held[i] = have(pc)
		}
	}
	return held
}

// holders are the alive members, other than this node, that list the item,
// nearest first.
func (c *cdnSegments) holders() []membership.Member {
	e, ok := c.n.cdn.Catalog.Get(c.ih)
	if !ok {
		return nil
	}
	self := c.n.id.ID()
	var out []membership.Member
	for _, h := range e.Holders {
		if h.Self || h.ID == self || h.State != membership.Alive {
			continue
		}
		if m, ok := c.n.cdn.Members.Member(h.ID); ok {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b membership.Member) int { return int(a.RTT - b.RTT) })
	return out
}

func peerEndpoint(m membership.Member) (netip.AddrPort, bool) {
	port, ok := m.Record.Ports[membership.PeerPort]
	if !ok || port <= 0 || len(m.Record.Addresses) == 0 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(m.Record.Addresses[0], uint16(port)), true
}

// get fetches a file from a gateway. The answer must have the file's
// length (when known) and its first bytes must come within firstByte.
func (c *cdnSegments) get(ctx context.Context, hostport, p string, size int64, firstByte time.Duration) (*player.Fetch, error) {
	ctx, cancel := context.WithCancel(ctx)
	u := "http://" + hostport + engine.GatewayPrefix + c.ih + "/" + escapeSegments(p)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	timer := time.AfterFunc(firstByte, cancel)
	resp, err := c.n.peerHTTP.Do(req)
	if err != nil {
		timer.Stop()
		cancel()
		return nil, err
	}
	fail := func(err error) (*player.Fetch, error) {
		timer.Stop()
		resp.Body.Close()
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fail(fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg))))
	}
	if size >= 0 && resp.ContentLength != size {
		return fail(fmt.Errorf("answer of %d bytes, the file has %d", resp.ContentLength, size))
	}
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/html") || strings.HasPrefix(ct, "application/json") {
		return fail(fmt.Errorf("answer of type %s, not the file", ct))
	}
	// The first bytes, within firstByte: the timer cancels the request.
	head := make([]byte, 1)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		return fail(fmt.Errorf("no data in %v: %w", firstByte, err))
	}
	if !timer.Stop() {
		return fail(fmt.Errorf("no data in %v", firstByte))
	}
	if size < 0 {
		size = resp.ContentLength
	}
	// A source that stops sending in the middle is given up, so the
	// player tries another instead of waiting for ever.
	idle := time.AfterFunc(segmentIdle, cancel)
	return &player.Fetch{Body: &idleReader{r: io.MultiReader(strings.NewReader(string(head)), resp.Body), idle: idle,
		close: func() error {
			idle.Stop()
			cancel()
			return resp.Body.Close()
		}}, Size: size}, nil
}

// segmentIdle is how long a segment's transfer may go without a byte.
const segmentIdle = 8 * time.Second

// idleReader restarts its timer at every read that brings data.
type idleReader struct {
	r     io.Reader
	idle  *time.Timer
	close func() error
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.idle.Reset(segmentIdle)
	}
	return n, err
}

func (r *idleReader) Close() error { return r.close() }

func escapeSegments(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}
