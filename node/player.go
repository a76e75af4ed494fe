package node

import (
	"bytes"
	"cmp"
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
	"strconv"
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

// cdnSegments is the player's SegmentSource over the CDN, in this order:
//  1. the node's own complete copy;
//  2. the gateways of the nearest members that hold the segment without
//     listing the item (other watchers: a request with only-if-cached, so a
//     member that lacks it says so at once and fetches nothing) — their
//     otherwise idle upload spares the item's seeders;
//  3. the torrent swarm through the node's own gateway, which asks for the
//     segment's pieces first and nothing else of the item;
//  4. the gateway of each member that lists the item, nearest first.
//
// Answers of members' gateways are checked before the player gets a byte
// it would keep: status, Content-Type, Content-Length against the file's
// size, and every piece the file touches against the item's piece hashes.
// A member whose answer fails is refused for badFor and the next source
// is asked.
type cdnSegments struct {
	n  *Node
	ih string
	// peers, if set, gives the members' gateways instead of the catalog
	// and the member list (tests).
	peers func() (watchers, holders []gatewayPeer)

	mu     sync.Mutex
	bad    map[string]time.Time // member -> refused until
	pieces *engine.Pieces
}

// gatewayPeer is a member's gateway.
type gatewayPeer struct {
	name string // display name
	addr string // HOST:PORT of its peer port
}

// Timeouts of the sources: how long each gets to bring a segment's first
// byte before the next is asked.
const (
	swarmFirstByte       = 4 * time.Second
	swarmFirstByteUrgent = 1500 * time.Millisecond
	watcherFirstByte     = 2 * time.Second
	holderFirstByte      = 10 * time.Second
)

// maxWatchers bounds the members asked for a segment before the swarm.
const maxWatchers = 3

// badFor is how long a member that served a wrong answer is not asked.
const badFor = time.Minute

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
	watchers, holders := c.gateways()
	var errs []error
	var refused []string
	asked := 0
	for _, g := range watchers {
		if asked == maxWatchers {
			break
		}
		if c.refused(g.name) {
			continue
		}
		asked++
		f, err := c.member(ctx, g, clean, size, watcherFirstByte, true)
		if err == nil {
			f.Refused = refused
			return f, nil
		}
		if !errors.Is(err, errNotHeld) {
			refused = append(refused, fmt.Sprintf("member %s: %v", g.name, err))
			errs = append(errs, fmt.Errorf("member %s: %w", g.name, err))
		}
	}
	first := swarmFirstByte
	if urgent {
		first = swarmFirstByteUrgent
	}
	if f, err := c.get(ctx, "", clean, size, first, false); err == nil {
		f.From, f.Refused = "swarm", refused
		return f, nil
	} else {
		errs = append(errs, fmt.Errorf("swarm: %w", err))
	}
	for _, g := range holders {
		if c.refused(g.name) {
			errs = append(errs, fmt.Errorf("member %s: refused for now: it served a wrong answer", g.name))
			continue
		}
		f, err := c.member(ctx, g, clean, size, holderFirstByte, false)
		if err == nil {
			f.Refused = refused
			return f, nil
		}
		refused = append(refused, fmt.Sprintf("member %s: %v", g.name, err))
		errs = append(errs, fmt.Errorf("member %s: %w", g.name, err))
	}
	return nil, fmt.Errorf("node: %s of %s: %w", clean, c.ih, errors.Join(errs...))
}

// errNotHeld is a member's answer to only-if-cached when it lacks the file.
var errNotHeld = errors.New("not held there")

// errWrongAnswer marks a member's answer that is not the file.
var errWrongAnswer = errors.New("wrong answer")

// member fetches a file from a member's gateway, checked against the item's
// piece hashes as it is read. A wrong answer has the member refused.
func (c *cdnSegments) member(ctx context.Context, g gatewayPeer, p string, size int64, firstByte time.Duration, cachedOnly bool) (*player.Fetch, error) {
	pieces, err := c.layout(ctx, g)
	if err != nil {
		return nil, err
	}
	span, ok := pieces.File(p)
	if !ok {
		return nil, fmt.Errorf("%s is not in %s", p, c.ih)
	}
	if size >= 0 && size != span.Size {
		return nil, fmt.Errorf("%s has %d bytes here and %d in the metainfo", p, size, span.Size)
	}
	f, err := c.get(ctx, g.addr, p, span.Size, firstByte, cachedOnly)
	if err != nil {
		if errors.Is(err, errWrongAnswer) {
			c.refuse(g.name, err)
		}
		return nil, err
	}
	f.From = "member " + g.name
	f.Body = &verifier{body: f.Body, pieces: pieces, file: span, c: c, g: g, ctx: ctx}
	return f, nil
}

// layout is the item's piece layout: from this node's metainfo, else from
// the member's (whose info dictionary must hash to the infohash).
func (c *cdnSegments) layout(ctx context.Context, g gatewayPeer) (engine.Pieces, error) {
	c.mu.Lock()
	have := c.pieces
	c.mu.Unlock()
	if have != nil {
		return *have, nil
	}
	p, err := c.n.cdn.Engine.Pieces(c.ih)
	if err != nil {
		raw, gerr := c.fetchRange(ctx, g.addr, "", -1, -1, false)
		if gerr != nil {
			return engine.Pieces{}, fmt.Errorf("its metainfo: %w", gerr)
		}
		if p, err = engine.ParsePieces(c.ih, raw); err != nil {
			c.refuse(g.name, err)
			return engine.Pieces{}, err
		}
	}
	c.mu.Lock()
	c.pieces = &p
	c.mu.Unlock()
	return p, nil
}

func (c *cdnSegments) refused(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Before(c.bad[name])
}

// refuse stops asking a member that served a wrong answer, for badFor.
func (c *cdnSegments) refuse(name string, why error) {
	c.mu.Lock()
	if c.bad == nil {
		c.bad = map[string]time.Time{}
	}
	c.bad[name] = time.Now().Add(badFor)
	c.mu.Unlock()
	c.n.log.Warn("watch: a member's gateway served a wrong answer; not asked for a while", "member", name, "infohash", c.ih, "err", why)
}

// gateways are the members to ask besides the swarm: watchers (alive, not
// listing the item) and holders (listing it), nearest first each.
func (c *cdnSegments) gateways() (watchers, holders []gatewayPeer) {
	if c.peers != nil {
		return c.peers()
	}
	listed := map[string]bool{}
	if e, ok := c.n.cdn.Catalog.Get(c.ih); ok {
		for _, h := range e.Holders {
			listed[h.ID] = true
		}
	}
	self := c.n.id.ID()
	var all []membership.Member
	for _, m := range c.n.cdn.Members.Members() {
		if !m.Self && m.ID() != self && m.State == membership.Alive {
			all = append(all, m)
		}
	}
	slices.SortFunc(all, func(a, b membership.Member) int { return int(a.RTT - b.RTT) })
	for _, m := range all {
		ap, ok := peerEndpoint(m)
		if !ok {
			continue
		}
		g := gatewayPeer{name: m.DisplayName, addr: ap.String()}
		if listed[m.ID()] {
			holders = append(holders, g)
		} else {
			watchers = append(watchers, g)
		}
	}
	return watchers, holders
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

func peerEndpoint(m membership.Member) (netip.AddrPort, bool) {
	port, ok := m.Record.Ports[membership.PeerPort]
	if !ok || port <= 0 || len(m.Record.Addresses) == 0 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(m.Record.Addresses[0], uint16(port)), true
}

// gatewayURL is the gateway address of path p of the item, or of its
// metainfo when p is "".
func (c *cdnSegments) gatewayURL(hostport, p string) string {
	if p == "" {
		return "http://" + hostport + engine.GatewayPrefix + c.ih + ".torrent"
	}
	return "http://" + hostport + engine.GatewayPrefix + c.ih + "/" + escapeSegments(p)
}

// request is a GET of the item's path p that fetches nothing else of the
// item; cachedOnly asks for what the gateway holds only.
func (c *cdnSegments) request(ctx context.Context, hostport, p string, cachedOnly bool) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.gatewayURL(hostport, p), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set(engine.HeaderFetch, engine.FetchRequested)
	if cachedOnly {
		req.Header.Set("Cache-Control", "only-if-cached")
	}
	return req, nil
}

// get fetches a file from a gateway. The answer must be 200 with the file's
// type and length (when known), and its first bytes must come within
// firstByte. An answer that is not the file is an errWrongAnswer.
//
// hostport "" is this node's own gateway, called in process: the swarm,
// outside the upload cap that members' requests are under.
func (c *cdnSegments) get(ctx context.Context, hostport, p string, size int64, firstByte time.Duration, cachedOnly bool) (*player.Fetch, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := c.request(ctx, cmp.Or(hostport, "self"), p, cachedOnly)
	if err != nil {
		cancel()
		return nil, err
	}
	timer := time.AfterFunc(firstByte, cancel)
	do := c.n.peerHTTP.Do
	if hostport == "" {
		do = c.local
	}
	resp, err := do(req)
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
	if cachedOnly && resp.StatusCode == http.StatusGatewayTimeout {
		return fail(errNotHeld)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fail(fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg))))
	}
	if size >= 0 && resp.ContentLength != size {
		return fail(fmt.Errorf("%w: %d bytes, the file has %d", errWrongAnswer, resp.ContentLength, size))
	}
	if ct, want := resp.Header.Get("Content-Type"), engine.ContentType(path.Base(p)); ct != want {
		return fail(fmt.Errorf("%w: of type %q, the file is %q", errWrongAnswer, ct, want))
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
	return &player.Fetch{Body: &idleReader{r: io.MultiReader(bytes.NewReader(head), resp.Body), idle: idle,
		close: func() error {
			idle.Stop()
			cancel()
			return resp.Body.Close()
		}}, Size: size}, nil
}

// local serves req with this node's own gateway, in process: the answer's
// body streams through a pipe while the handler runs.
func (c *cdnSegments) local(req *http.Request) (*http.Response, error) {
	pr, pw := io.Pipe()
	w := &pipeResponse{header: http.Header{}, pw: pw, ready: make(chan struct{})}
	go func() {
		c.n.cdn.Engine.LocalGateway().ServeHTTP(w, req)
		w.WriteHeader(http.StatusOK) // if the handler wrote nothing
		pw.Close()
	}()
	select {
	case <-w.ready:
	case <-req.Context().Done():
		pr.CloseWithError(req.Context().Err())
		return nil, req.Context().Err()
	}
	resp := &http.Response{StatusCode: w.status, Status: fmt.Sprintf("%d %s", w.status, http.StatusText(w.status)),
		Header: w.sent, Body: pr, ContentLength: -1, Request: req}
	if n, err := strconv.ParseInt(w.header.Get("Content-Length"), 10, 64); err == nil {
		resp.ContentLength = n
	}
	return resp, nil
}

// pipeResponse is an http.ResponseWriter whose body goes into a pipe.
type pipeResponse struct {
	header http.Header
	pw     *io.PipeWriter
	ready  chan struct{} // closed once the status is set
	once   sync.Once
	status int
	sent   http.Header // the header as the status was set
}

func (w *pipeResponse) Header() http.Header { return w.header }

func (w *pipeResponse) WriteHeader(code int) {
	w.once.Do(func() {
		w.status = code
		w.sent = w.header.Clone() // the handler's later changes do not race the reader
		close(w.ready)
	})
}

func (w *pipeResponse) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.pw.Write(p)
}

// fetchRange reads bytes [off, off+n) of the item's file p from a gateway
// (all of it when n < 0; p "" is the item's metainfo), bounded by
// holderFirstByte + segmentIdle in all.
func (c *cdnSegments) fetchRange(ctx context.Context, hostport, p string, off, n int64, cachedOnly bool) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, holderFirstByte+segmentIdle)
	defer cancel()
	req, err := c.request(ctx, hostport, p, cachedOnly)
	if err != nil {
		return nil, err
	}
	want := http.StatusOK
	if n >= 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+n-1))
		want = http.StatusPartialContent
	}
	resp, err := c.n.peerHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s for %s", resp.Status, req.URL.Path)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if n >= 0 && int64(len(raw)) != n {
		return nil, fmt.Errorf("%w: %d bytes of %s for a range of %d", errWrongAnswer, len(raw), p, n)
	}
	return raw, nil
}

// verifier passes a member's answer through while checking it against the
// item's piece hashes: each piece the file touches is hashed once it is
// whole, the bytes of neighbouring files in its first and last piece read
// from the same gateway. A mismatch, or more or fewer bytes than the file
// has, is a read error, so the player never keeps the answer.
type verifier struct {
	body   io.ReadCloser
	pieces engine.Pieces
	file   engine.FileSpan // Offset is in the item
	c      *cdnSegments
	g      gatewayPeer
	ctx    context.Context

	started bool
	read    int64  // bytes of the file passed on
	piece   int    // the piece being gathered
	buf     []byte // its bytes so far
	err     error
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if !v.started {
		v.started = true
		v.piece = int(v.file.Offset / v.pieces.Length)
		start := int64(v.piece) * v.pieces.Length
		if err := v.neighbours(start, v.file.Offset-start); err != nil {
			return 0, v.fail(err)
		}
	}
	n, err := v.body.Read(p)
	if int64(n) > v.file.Size-v.read {
		return 0, v.fail(fmt.Errorf("%w: more bytes than the file's %d", errWrongAnswer, v.file.Size))
	}
	for b := p[:n]; len(b) > 0; {
		room := int(v.pieces.PieceSize(v.piece)) - len(v.buf)
		take := min(room, len(b))
		v.buf = append(v.buf, b[:take]...)
		b = b[take:]
		if take == room {
			if err := v.check(); err != nil {
				return 0, v.fail(err)
			}
		}
	}
	v.read += int64(n)
	if err == io.EOF {
		if v.read != v.file.Size {
			return n, v.fail(fmt.Errorf("%w: %d bytes of the file's %d", errWrongAnswer, v.read, v.file.Size))
		}
		if len(v.buf) > 0 {
			// The last piece goes on into the next files.
			end := v.file.Offset + v.file.Size
			if err := v.neighbours(end, int64(v.piece)*v.pieces.Length+v.pieces.PieceSize(v.piece)-end); err != nil {
				return 0, v.fail(err)
			}
			if err := v.check(); err != nil {
				return 0, v.fail(err)
			}
		}
	}
	return n, err
}

// neighbours appends the item's bytes [off, off+n), which lie in other
// files, to the piece being gathered.
func (v *verifier) neighbours(off, n int64) error {
	for _, s := range v.pieces.Spans(off, n) {
		raw, err := v.c.fetchRange(v.ctx, v.g.addr, s.Path, s.Offset, s.Size, false)
		if err != nil {
			return fmt.Errorf("the bytes of %s that share a piece with the file: %w", s.Path, err)
		}
		v.buf = append(v.buf, raw...)
	}
	return nil
}

func (v *verifier) check() error {
	if !v.pieces.Check(v.piece, v.buf) {
		return fmt.Errorf("%w: piece %d does not match its hash", errWrongAnswer, v.piece)
	}
	v.piece++
	v.buf = v.buf[:0]
	return nil
}

func (v *verifier) fail(err error) error {
	v.err = err
	if errors.Is(err, errWrongAnswer) {
		v.c.refuse(v.g.name, err)
	}
	return err
}

func (v *verifier) Close() error { return v.body.Close() }

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
