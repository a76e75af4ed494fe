package engine

import (
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
)

// State is where an item stands.
type State string

// States of an item.
const (
	StateQueued      State = "queued"      // waiting for the metainfo from peers
	StateDownloading State = "downloading" // fetching pieces
	StateSeeding     State = "seeding"     // whole and verified, serving peers
	StatePaused      State = "paused"      // stopped by the user
	StateMissing     State = "missing"     // published files moved or changed; not served
)

// Status is an item with its transfer state, for progress bars and lists.
type Status struct {
	Item
	State     State `json:"state"`
	Completed int64 `json:"completed"` // bytes in verified pieces
	Peers     int   `json:"peers"`     // connected peers
	UpRate    int64 `json:"up_rate"`   // bytes/s
	DownRate  int64 `json:"down_rate"` // bytes/s
	// Uploaded and Downloaded count the piece data sent to and received
	// from peers since the node started.
	Uploaded   int64 `json:"uploaded"`
	Downloaded int64 `json:"downloaded"`
	// ETA is the time left at the current rate; 0 when unknown or done.
	ETA time.Duration `json:"eta"`
	// NumPieces and Pieces are the piece map: bit i of Pieces (most
	// significant bit of byte 0 first, as in a BitTorrent bitfield) is set
	// when piece i is verified.
	NumPieces  int       `json:"num_pieces"`
	Pieces     []byte    `json:"pieces,omitempty"`
	Pinned     bool      `json:"pinned,omitempty"`
	Dir        string    `json:"dir"`
	Added      time.Time `json:"added"`
	LastAccess time.Time `json:"last_access"`
	// Error says why an item is missing or what last went wrong.
	Error string `json:"error,omitempty"`
}

// progressInterval paces the rate sampling and EventProgress: at most a few
// events per second.
const progressInterval = 500 * time.Millisecond

// List returns the status of every item, oldest first.
func (e *Engine) List() []Status {
	recs := e.records()
	out := make([]Status, 0, len(recs))
	for _, rec := range recs {
		if st, err := e.Status(rec.InfoHash); err == nil {
			out = append(out, st)
		}
	}
	return out
}

// Status returns one item's status.
func (e *Engine) Status(infohash string) (Status, error) {
	ih, it, err := e.lookup(infohash)
	if err != nil {
		return Status{}, err
	}
	e.mu.Lock()
	rec, t, missing, errText := it.rec, it.t, it.missing, it.err
	up, down := it.upRate, it.downRate
	last := it.lastAccess
	e.mu.Unlock()

	st := Status{
		Item:       e.item(rec),
		Pinned:     rec.Pinned,
		Dir:        rec.Dir,
		Added:      rec.Added,
		LastAccess: last,
		Error:      errText,
		NumPieces:  rec.NumPieces,
	}
	var done []bool
	pieceLen, size := rec.PieceLength, rec.Size
	switch {
	case t != nil && t.Info() != nil:
		info := t.Info()
		pieceLen, size = info.PieceLength, info.TotalLength()
		st.Name, st.Size = info.BestName(), size
		done = pieceMap(t)
		// Verified counts what a crash keeps: marks still waiting for the
		// group commit are not counted yet.
		for _, i := range e.pc.unflushed(ih) {
			if i < len(done) {
				done[i] = false
			}
		}
		ts := t.Stats()
		st.Peers = ts.ActivePeers
		st.Uploaded, st.Downloaded = ts.BytesWrittenData.Int64(), ts.BytesReadData.Int64()
		st.UpRate, st.DownRate = int64(up), int64(down)
	case rec.HasInfo:
		done = e.pc.verified(ih, rec.NumPieces)
	}
	if done != nil {
		st.NumPieces = len(done)
		st.Pieces = make([]byte, (len(done)+7)/8)
		n := 0
		for i, ok := range done {
			if ok {
				st.Pieces[i/8] |= 0x80 >> (i % 8)
				n++
			}
		}
		st.Completed = int64(n) * pieceLen
		if n > 0 && done[len(done)-1] {
			st.Completed -= int64(len(done))*pieceLen - size
		}
	}
	switch {
	case missing != "":
		st.State, st.Error = StateMissing, missing
	case rec.Paused:
		st.State = StatePaused
	case t == nil || t.Info() == nil:
		st.State = StateQueued
	case st.Completed == size:
		st.State = StateSeeding
	default:
		st.State = StateDownloading
		if st.DownRate > 0 {
			st.ETA = time.Duration(float64(size-st.Completed) / float64(st.DownRate) * float64(time.Second))
		}
	}
	return st, nil
}

// pieceMap lists which pieces of a running torrent are verified.
func pieceMap(t *torrent.Torrent) []bool {
	var done []bool
	for _, run := range t.PieceStateRuns() {
		ok := run.Ok && run.Complete
		for range run.Length {
			done = append(done, ok)
		}
	}
	return done
}

// loop samples rates and publishes progress, re-checks published files and
// keeps the cache within its quota, until the engine closes.
func (e *Engine) loop() {
	defer e.wg.Done()
	tick := time.NewTicker(progressInterval)
	defer tick.Stop()
	check := time.NewTicker(e.cfg.CheckInterval)
	defer check.Stop()
	quiet := true
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-check.C:
			e.checkPublished()
			e.evict()
			e.saveAccess(false)
		case now := <-tick.C:
			moving := e.sample(now)
			if len(moving) > 0 || !quiet {
				e.publish(EventProgress, moving)
			}
			quiet = len(moving) == 0
		}
	}
}

// sample updates every running item's rates and returns the status of the
// items that are downloading or transferring.
func (e *Engine) sample(now time.Time) []Status {
	type running struct {
		ih metainfo.Hash
		it *item
		t  *torrent.Torrent
	}
	e.mu.Lock()
	var rs []running
	for ih, it := range e.items {
		if it.t != nil {
			rs = append(rs, running{ih, it, it.t})
		}
	}
	e.mu.Unlock()
	var moving []Status
	for _, r := range rs {
		ts := r.t.Stats()
		read, sent := ts.BytesReadData.Int64(), ts.BytesWrittenData.Int64()
		e.mu.Lock()
		it := r.it
		if !it.sampledAt.IsZero() {
			dt := now.Sub(it.sampledAt).Seconds()
			if dt > 0 {
				// Smoothed over about two seconds.
				const keep = 0.75
				it.downRate = keep*it.downRate + (1-keep)*float64(read-it.lastRead)/dt
				it.upRate = keep*it.upRate + (1-keep)*float64(sent-it.lastSent)/dt
				if it.downRate < 1 {
					it.downRate = 0
				}
				if it.upRate < 1 {
					it.upRate = 0
				}
			}
		}
		it.sampledAt, it.lastRead, it.lastSent = now, read, sent
		active := it.downRate > 0 || it.upRate > 0
		e.mu.Unlock()
		if !active && r.t.Info() != nil && r.t.Complete().Bool() {
			continue // seeding, idle
		}
		st, err := e.Status(r.ih.HexString())
		if err != nil {
			continue
		}
		if active || st.State == StateDownloading || st.State == StateQueued {
			moving = append(moving, st)
		}
	}
	return moving
}
