package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/shoal-p2p/shoal/storage"
)

// This file runs items' torrents in the anacrolix client: adding them with
// their storage, trackers and peers, following them to completion.

// storeFor builds the storage of an item.
func (e *Engine) storeFor(ih metainfo.Hash, rec record) *fileStore {
	if rec.Origin == OriginPublished {
		return &fileStore{
			pc:     e.pc,
			layout: publishedLayout(rec.Path),
			sigs:   rec.Sigs,
			fault:  func(err error) { e.setMissing(ih, err) },
		}
	}
	return &fileStore{pc: e.pc, layout: downloadLayout(rec.Dir)}
}

// start adds an item's torrent to the client and sets it going.
func (e *Engine) start(ih metainfo.Hash) error {
	e.mu.Lock()
	it := e.items[ih]
	if it == nil || e.closed || it.t != nil || it.starting {
		e.mu.Unlock()
		return nil
	}
	it.starting = true
	rec := it.rec
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		it.starting = false
		e.mu.Unlock()
	}()

	mi := e.metainfo(rec.InfoHash)
	opts := torrent.AddTorrentOpts{InfoHash: ih, Storage: e.storeFor(ih, rec)}
	var spec *metainfo.MetaInfo
	if mi != nil {
		m, err := metainfo.Load(bytes.NewReader(mi))
		if err != nil {
			return fmt.Errorf("engine: stored metainfo of %s: %w", rec.InfoHash, err)
		}
		spec = m
		opts.InfoBytes = m.InfoBytes
	}
	t, isNew := e.client.AddTorrentOpt(opts)
	if !isNew {
		return fmt.Errorf("engine: %s is already running", rec.InfoHash)
	}
	if spec != nil && t.Info() == nil {
		t.Drop()
		return fmt.Errorf("engine: cannot open the data of %s (see the log)", rec.InfoHash)
	}
	if !rec.HasInfo && rec.Name != "" {
		t.SetDisplayName(rec.Name)
	}
	trackers := slices.Clone(rec.Trackers)
	if spec != nil {
		for _, tier := range spec.UpvertedAnnounceList() {
			trackers = append(trackers, tier...)
		}
	}
	if e.cfg.Trackers != nil {
		trackers = append(trackers, e.cfg.Trackers()...)
	}
	if trackers = dedupe(trackers); len(trackers) > 0 {
		t.AddTrackers([][]string{trackers})
	}
	var hints []netip.AddrPort
	for _, p := range rec.Peers {
		if ap, err := netip.ParseAddrPort(p); err == nil {
			hints = append(hints, ap)
		}
	}
	if rec.Origin != OriginPublished {
		// Peers announced to this node's own DHT store: in a small group the
		// torrent's own DHT traversal often misses them.
		for _, na := range e.peers.GetPeers(ih) {
			if ip, ok := netip.AddrFromSlice(na.IP); ok {
				hints = append(hints, netip.AddrPortFrom(ip.Unmap(), uint16(na.Port)))
			}
		}
	}
	addPeers(t, hints)

	e.mu.Lock()
	if e.closed || e.items[ih] != it || it.rec.Paused {
		e.mu.Unlock()
		t.Drop()
		return nil
	}
	it.t = t
	it.err = ""
	it.notify()
	e.mu.Unlock()

	e.announceTo(t, trackers)
	if rec.Origin != OriginPublished {
		t.SetOnWriteChunkError(func(err error) {
			// A full or read-only disk: stop asking for data and say why.
			// A chunk that arrived as the torrent was stopped is no error.
			e.mu.Lock()
			current := it.t == t && !errors.Is(err, errStoreClosed)
			if current {
				it.err = fmt.Sprintf("cannot write data: %v", err)
			}
			e.mu.Unlock()
			if current {
				e.log.Error("cannot write downloaded data; download stopped", "infohash", ih.HexString(), "err", err)
				t.DisallowDataDownload()
			}
		})
	}
	e.wg.Add(1)
	go e.watch(ih, it, t)
	if rec.Origin != OriginPublished && e.cfg.FindPeers != nil {
		e.wg.Add(1)
		go e.findPeers(ih, t)
	}
	return nil
}

// refindPeersInterval is how often an incomplete torrent with no peer
// connected, or receiving nothing, asks Config.FindPeers again.
const refindPeersInterval = 3 * time.Second

// findPeers asks Config.FindPeers for a torrent's peers when it starts, and
// again every refindPeersInterval while it is incomplete and no peer is
// connected or nothing arrives: a peer that restarted may listen on another port, and nothing
// else tells the torrent (the node's FindPeers answers with members'
// current addresses).
func (e *Engine) findPeers(ih metainfo.Hash, t *torrent.Torrent) {
	defer e.wg.Done()
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	go func() {
		select {
		case <-t.Closed():
		case <-ctx.Done():
		}
		cancel()
	}()
	tick := time.NewTicker(refindPeersInterval)
	defer tick.Stop()
	for {
		addPeers(t, e.cfg.FindPeers(ctx, ih.HexString()))
		st := t.Stats()
		read := st.BytesRead.Int64()
		for {
			select {
			case <-tick.C:
			case <-t.Complete().On():
				return
			case <-ctx.Done():
				return
			}
			// No peer, or nothing received since the last look: a peer
			// that is gone may still count as connected (a uTP
			// connection lingers until it times out).
			st = t.Stats()
			if st.ActivePeers == 0 || st.BytesRead.Int64() == read {
				break
			}
			read = st.BytesRead.Int64()
		}
	}
}

// watch follows one running torrent: it records the metainfo once known,
// asks for every piece, and announces completion.
func (e *Engine) watch(ih metainfo.Hash, it *item, t *torrent.Torrent) {
	defer e.wg.Done()
	select {
	case <-t.GotInfo():
	case <-t.Closed():
		return
	case <-e.ctx.Done():
		return
	}
	e.gotInfo(ih, it, t)
	select {
	case <-t.Complete().On():
	case <-t.Closed():
		return
	case <-e.ctx.Done():
		return
	}
	e.mu.Lock()
	origin := it.rec.Origin
	e.mu.Unlock()
	if origin != OriginPublished {
		e.pc.flush() // whole only once every mark is on disk
		e.log.Info("download complete", "infohash", ih.HexString(), "name", t.Name())
		if st, err := e.Status(ih.HexString()); err == nil {
			e.publish(EventComplete, st)
		}
	}
}

// gotInfo stores what the metainfo says about an item and, unless it is
// published (already whole), asks for all of it.
func (e *Engine) gotInfo(ih metainfo.Hash, it *item, t *torrent.Torrent) {
	info := t.Info()
	e.mu.Lock()
	rec := it.rec
	e.mu.Unlock()
	hadInfo := rec.HasInfo
	if !hadInfo {
		mi := t.Metainfo()
		raw, err := bencode.Marshal(metainfo.MetaInfo{InfoBytes: mi.InfoBytes, AnnounceList: mi.AnnounceList, CreatedBy: "Shoal"})
		if err != nil {
			e.log.Error("cannot encode metainfo", "infohash", ih.HexString(), "err", err)
		}
		describe(&rec, info)
		rec.HasInfo = true
		if rec.Time.IsZero() {
			rec.Time = rec.Added
		}
		err = e.db.Update(func(tx *storage.Tx) error {
			if _, err := items.Get(tx, rec.InfoHash); err != nil {
				return err // removed meanwhile
			}
			if raw != nil {
				if err := putMetainfo(tx, rec.InfoHash, raw); err != nil {
					return err
				}
			}
			return putRecord(tx, rec)
		})
		if err != nil {
			e.log.Warn("cannot store metainfo", "infohash", ih.HexString(), "err", err)
			return
		}
		e.mu.Lock()
		if e.items[ih] == it {
			r := it.rec
			describe(&r, info)
			r.HasInfo, r.Time = true, rec.Time
			it.rec = r
		}
		e.mu.Unlock()
	}
	switch {
	case rec.Origin == OriginDownload,
		rec.Origin == OriginCache && (hadInfo || rec.Pinned):
		t.DownloadAll()
		if !t.Complete().Bool() {
			e.wg.Add(1)
			go e.sharePieces(t)
		}
	case rec.Origin == OriginCache:
		// New in the cache: the gateway's reader sets its pieces' priority
		// first and then asks for the rest, so the requested range is not
		// queued behind requests for everything else.
	}
	if rec.Origin == OriginCache {
		e.evict()
	}
}

// describe fills a record's content fields from a torrent's info.
func describe(rec *record, info *metainfo.Info) {
	rec.Name = info.BestName()
	rec.PieceLength = info.PieceLength
	rec.NumPieces = info.NumPieces()
	rec.Size = info.TotalLength()
	rec.Files = rec.Files[:0:0]
	for fi := range info.UpvertedFilesIter() {
		rec.Files = append(rec.Files, File{Path: fi.DisplayPath(info), Size: fi.Length})
	}
	rec.Kind = KindFile
	if info.IsDir() {
		rec.Kind = KindFolder
	}
	rec.Type = typeOfFiles(rec.Files)
}

// metainfo returns an item's stored .torrent, or nil.
func (e *Engine) metainfo(ih string) []byte {
	var mi []byte
	e.db.View(func(tx *storage.Tx) error {
		mi = getMetainfo(tx, ih)
		return nil
	})
	return mi
}

// stop drops an item's torrent, if running, and waits until it is closed.
func (e *Engine) stop(it *item) {
	e.mu.Lock()
	t := it.t
	it.t = nil
	it.notify()
	e.mu.Unlock()
	if t != nil {
		t.Drop()
	}
}

// addPeers hands addresses to a torrent as ordinary (untrusted) peers, so
// one that sends bad data can be banned.
func addPeers(t *torrent.Torrent, addrs []netip.AddrPort) int {
	var ps []torrent.PeerInfo
	for _, ap := range addrs {
		if !ap.IsValid() || ap.Port() == 0 || ap.Addr().IsUnspecified() {
			continue
		}
		ps = append(ps, torrent.PeerInfo{Addr: torrent.StringAddr(ap.String()), Source: torrent.PeerSourceDirect})
	}
	if len(ps) == 0 {
		return 0
	}
	return t.AddPeers(ps)
}

func dedupe(ss []string) []string {
	var out []string
	for _, s := range ss {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
