package engine

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/tracker"
)

// The engine announces its torrents to trackers itself: anacrolix v1.61.0's
// announce dispatcher never forgets a dropped torrent. Its (infohash,
// tracker) entry stays in the dispatcher's tables for good (nothing deletes
// it, and a tracker's Stop does nothing); once the stopped announce is sent,
// the entry's next announce time is the zero time, which the dispatcher
// takes as overdue, so every run of the dispatcher announces it again —
// with no event, after which it owes a stopped again, and so on, as fast as
// anything else wakes the dispatcher. The client therefore runs with
// DisableTrackers (torrents keep their announce lists, which nothing then
// announces to) and each running torrent gets one announcer per tracker
// here, which ends with the torrent.

const (
	announceTimeout         = 15 * time.Second
	stoppedTimeout          = 2 * time.Second // a stopped announce is a courtesy
	announceRetry           = time.Minute
	minAnnounceInterval     = 30 * time.Second
	maxAnnounceInterval     = time.Hour
	defaultAnnounceInterval = 30 * time.Minute
)

// announceTo starts announcing t to those of urls it is not announced to
// yet (http, https and udp trackers).
func (e *Engine) announceTo(t *torrent.Torrent, urls []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	if e.announcing == nil {
		e.announcing = make(map[*torrent.Torrent]map[string]bool)
	}
	for _, u := range dedupe(urls) {
		switch scheme, _ := urlScheme(u); strings.ToLower(scheme) {
		case "http", "https", "udp":
		default:
			continue
		}
		if e.announcing[t][u] {
			continue
		}
		if e.announcing[t] == nil {
			e.announcing[t] = make(map[string]bool)
		}
		e.announcing[t][u] = true
		e.wg.Add(1)
		go e.announce(t, u)
	}
}

// announce announces t to one tracker until t is dropped or the engine
// closes, then says stopped if the tracker knows of this node.
func (e *Engine) announce(t *torrent.Torrent, url string) {
	defer e.wg.Done()
	defer func() {
		e.mu.Lock()
		delete(e.announcing[t], url)
		if len(e.announcing[t]) == 0 {
			delete(e.announcing, t)
		}
		e.mu.Unlock()
	}()
	var opts tracker.NewClientOpts
	if e.cfg.TrackerDial != nil {
		opts.Http.DialContext = e.cfg.TrackerDial
	}
	tc, err := tracker.NewClient(url, opts)
	if err != nil {
		e.log.Warn("bad tracker URL", "url", url, "err", err)
		return
	}
	defer tc.Close()
	a := announcement{e: e, t: t, tc: tc, url: url, port: e.Port(), key: rand.Int32()}
	event := tracker.Started
	known := false // the tracker lists this node: it is owed a stopped
	var completeOn <-chan struct{}
	if !t.Complete().Bool() {
		completeOn = t.Complete().On()
	}
	wait := time.NewTimer(0)
	defer wait.Stop()
	stopped := func() {
		if known {
			a.do(context.Background(), tracker.Stopped, stoppedTimeout)
		}
	}
	for {
		select {
		case <-wait.C:
		case <-completeOn:
			completeOn = nil
			if !known {
				continue // the next started says left=0
			}
			event = tracker.Completed
			wait.Stop()
		case <-t.Closed():
			stopped()
			return
		case <-e.ctx.Done():
			stopped()
			return
		}
		select {
		case <-t.Closed():
			stopped()
			return
		default:
		}
		next := announceRetry
		if interval, err := a.do(e.ctx, event, announceTimeout); err == nil {
			known, event = true, tracker.None
			next = min(max(interval, minAnnounceInterval), maxAnnounceInterval)
		}
		wait.Reset(next)
	}
}

type announcement struct {
	e    *Engine
	t    *torrent.Torrent
	tc   tracker.Client
	url  string
	port int
	key  int32
}

// do sends one announce and hands the peers it returns to the torrent.
func (a announcement) do(ctx context.Context, event tracker.AnnounceEvent, timeout time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st := a.t.Stats()
	left := int64(-1)
	if a.t.Info() != nil {
		left = a.t.BytesMissing()
	}
	req := tracker.AnnounceRequest{
		InfoHash:   a.t.InfoHash(),
		PeerId:     a.e.client.PeerID(),
		Downloaded: st.BytesReadUsefulData.Int64(),
		Left:       left,
		Uploaded:   st.BytesWrittenData.Int64(),
		Event:      event,
		Key:        a.key,
		NumWant:    -1,
		Port:       uint16(a.port),
	}
	if event == tracker.Stopped {
		req.NumWant = 0
	}
	// Trackers are told the address other nodes reach this one at (ip=).
	var opt tracker.AnnounceOpt
	if b := a.e.addr.Load(); b != nil && b.Is4() {
		opt.ClientIp4 = b.AsSlice()
	} else if b != nil && b.Is6() {
		opt.ClientIp6 = b.AsSlice()
	}
	resp, err := a.tc.Announce(ctx, req, opt)
	if err != nil {
		a.e.log.Debug("announce failed", "infohash", a.t.InfoHash().HexString(), "tracker", a.url, "event", event, "err", err)
		return 0, err
	}
	a.e.log.Debug("announced", "infohash", a.t.InfoHash().HexString(), "tracker", a.url, "event", event, "peers", len(resp.Peers))
	if event != tracker.Stopped {
		var ps []torrent.PeerInfo
		for _, p := range resp.Peers {
			if ap, ok := p.ToNetipAddrPort(); ok && ap.Port() != 0 && !ap.Addr().IsUnspecified() {
				ps = append(ps, torrent.PeerInfo{Addr: torrent.StringAddr(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()), Source: torrent.PeerSourceTracker})
			}
		}
		if len(ps) > 0 {
			a.t.AddPeers(ps)
		}
	}
	if resp.Interval <= 0 {
		return defaultAnnounceInterval, nil
	}
	return time.Duration(resp.Interval) * time.Second, nil
}
