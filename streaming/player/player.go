// Package player is Shoal's DASH client, run inside the node: one Session
// per watched video holds the MPD, the playout buffer, the ABR algorithm
// (streaming/abr) and the QoE record. The session decides which rendition
// of each segment to fetch and fetches it ahead of the play position
// through a SegmentSource, which the node implements over the CDN (its own
// copy, the torrent swarm, or a member's gateway). Renderers — the window,
// the web client — take the fetched segments in order with Next and report
// the play position back with Report; they display, the session decides.
package player

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/shoal-p2p/shoal/streaming/abr"
	"github.com/shoal-p2p/shoal/streaming/mpd"
)

// ManifestPath is where a presentation's MPD lies in its item.
const ManifestPath = "manifest.mpd"

// SegmentSource fetches the files of one presentation (paths relative to
// the item's root, "/" separated). urgent asks for top priority: the play
// position is close. The node passes the CDN in.
type SegmentSource interface {
	Open(ctx context.Context, path string, urgent bool) (*Fetch, error)
}

// Availability is implemented by a source that knows which files are
// already on this node; the ABR (Shoal's own) prefers a rendition it need
// not download.
type Availability interface {
	Held(paths []string) []bool
}

// holdersAhead is how many segments ahead the ABR is told about.
const holdersAhead = 5

// Fetch is one file being fetched.
type Fetch struct {
	Body io.ReadCloser
	// Size is the file's length in bytes, -1 when not known.
	Size int64
	// From says where the bytes come from: "here", "swarm" or "member NAME".
	From string
	// Refused lists the sources asked before From whose answers were
	// refused, each with why ("member NAME: ...").
	Refused []string
}

// Tracks of a presentation.
const (
	Video = "video"
	Audio = "audio"
)

// ErrEnded is returned by Next when every segment of the track was handed
// out, and ErrStopped once the session is stopped.
var (
	ErrEnded   = errors.New("player: the track has ended")
	ErrStopped = errors.New("player: the session is stopped")
)

// Config are a session's settings. The zero value plays with Shoal's ABR, a
// 12 s buffer target and a 25 s maximum.
type Config struct {
	ABR          abr.Algorithm // nil means abr.Shoal
	BufferTarget time.Duration // 0 means 12 s
	BufferMax    time.Duration // 0 means 25 s
	// Rendition fixes the video rendition (index into the ladder, lowest
	// first); -1 or any value out of range lets the ABR choose.
	Rendition int
	// Event, if not nil, is called with progress: EventSegment,
	// EventStall, EventEnded, EventError. It must not block.
	Event func(typ string, data any)
}

// Events a session reports.
const (
	EventSegment = "player.segment" // data: SegmentRecord
	EventStall   = "player.stall"   // data: State
	EventEnded   = "player.ended"   // data: State
	EventError   = "player.error"   // data: State
)

// Chunk is one piece of a track for a renderer: an initialization segment
// or a media segment, in the order they must be appended.
type Chunk struct {
	Track string `json:"track"`
	Init  bool   `json:"init"`
	// Generation changes at every seek: a renderer drops what it buffered
	// and continues with this chunk, which is an initialization segment.
	Generation int    `json:"generation"`
	Segment    int    `json:"segment"`   // index of the media segment
	Rendition  int    `json:"rendition"` // index into the track's ladder
	Represent  string `json:"representation"`
	Codecs     string `json:"codecs"`
	MimeType   string `json:"mime_type"`
	Start      time.Duration
	Duration   time.Duration
	Data       []byte `json:"-"`
}

// Rendition describes one rung of the video ladder.
type Rendition struct {
	ID        string  `json:"id"`
	Bandwidth int     `json:"bandwidth"`
	Width     int     `json:"width"`
	Height    int     `json:"height"`
	FrameRate float64 `json:"frame_rate"`
	Codecs    string  `json:"codecs"`
}

// SegmentRecord is one finished or abandoned segment download.
type SegmentRecord struct {
	Track     string        `json:"track"`
	Segment   int           `json:"segment"`
	Rendition int           `json:"rendition"`
	Bitrate   int           `json:"bitrate"` // the rendition's bandwidth, bit/s
	Size      int64         `json:"size"`    // bytes received
	Took      time.Duration `json:"took_ns"`
	From      string        `json:"from"`
	Abandoned bool          `json:"abandoned,omitempty"`
	// Refused are the sources whose answers were refused before From.
	Refused []string `json:"refused,omitempty"`
	// Error says why the download failed (it is fetched again); a
	// failed download's bytes are never handed to a renderer.
	Error  string        `json:"error,omitempty"`
	Buffer time.Duration `json:"buffer_ns"` // buffer level when it ended
	At     time.Duration `json:"at_ns"`     // since the session started

	full    float64       // bits of the whole segment, expected
	latency time.Duration // request to first byte
	begin   time.Time
}

// QoE is the session's quality of experience so far.
type QoE struct {
	Startup         time.Duration `json:"startup_ns"`
	Started         bool          `json:"started"`
	Rebuffers       int           `json:"rebuffers"`
	RebufferSeconds float64       `json:"rebuffer_seconds"`
	MeanBitrate     float64       `json:"mean_bitrate_kbps"`
	Switches        int           `json:"switches"`
	Score           float64       `json:"qoe_lin"` // QoE_lin, total
	Segments        int           `json:"segments_played"`
}

// State is a snapshot of a session.
type State struct {
	Duration        time.Duration   `json:"duration_ns"`
	SegmentDuration time.Duration   `json:"segment_duration_ns"`
	Position        time.Duration   `json:"position_ns"`
	Buffer          time.Duration   `json:"buffer_ns"` // fetched ahead of the position
	BufferTarget    time.Duration   `json:"buffer_target_ns"`
	BufferMax       time.Duration   `json:"buffer_max_ns"`
	Buffered        [][2]float64    `json:"buffered"` // seconds, fetched ranges of this generation
	ABR             string          `json:"abr"`
	Fixed           int             `json:"fixed_rendition"` // -1 when the ABR chooses
	Rendition       int             `json:"rendition"`       // of the latest video segment fetched
	Renditions      []Rendition     `json:"renditions"`
	Audio           bool            `json:"audio"`
	Playing         bool            `json:"playing"`
	Stalled         bool            `json:"stalled"`
	Ended           bool            `json:"ended"` // every segment fetched
	Generation      int             `json:"generation"`
	History         []SegmentRecord `json:"history"`
	QoE             QoE             `json:"qoe"`
	Error           string          `json:"error,omitempty"`
}

// track is the fetch state of one track.
type track struct {
	name     string
	reps     []mpd.Representation // the ladder, lowest first
	inits    map[int][]byte
	next     int // index of the next segment to fetch
	end      time.Duration
	queue    []Chunk
	sentInit int // rendition whose init the renderer has, -1 none
	lastRep  int
	done     bool // every segment fetched
}

// Session plays one presentation.
type Session struct {
	src    SegmentSource
	cfg    Config
	alg    abr.Algorithm
	man    *mpd.Manifest
	segDur time.Duration
	began  time.Time

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu         sync.Mutex
	wake       chan struct{} // closed and replaced at every change
	video      *track
	audio      *track // nil without audio
	fixed      int
	position   time.Duration
	playing    bool
	stalled    bool
	lastReport time.Time
	generation int
	bufStart   time.Duration // start of this generation's fetched range
	history    []abr.Download
	records    []SegmentRecord
	memory     any
	played     map[int]bool // video segments whose playing was recorded
	segRend    map[int]int  // rendition fetched per video segment
	qoe        abr.QoE
	started    bool
	err        error
}

// Open fetches and parses the presentation's MPD and starts fetching its
// first segments. The session runs until Stop or until ctx ends.
func Open(ctx context.Context, src SegmentSource, cfg Config) (*Session, error) {
	raw, _, err := fetchAll(ctx, src, ManifestPath, true)
	if err != nil {
		return nil, fmt.Errorf("player: manifest: %w", err)
	}
	man, err := mpd.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("player: %w", err)
	}
	if len(man.Video) == 0 || len(man.Video[0].Representations) == 0 {
		return nil, errors.New("player: the manifest has no video")
	}
	if cfg.BufferTarget <= 0 {
		cfg.BufferTarget = 12 * time.Second
	}
	if cfg.BufferMax <= 0 {
		cfg.BufferMax = 25 * time.Second
	}
	if cfg.BufferTarget > cfg.BufferMax {
		return nil, fmt.Errorf("player: buffer target %v is above the maximum %v", cfg.BufferTarget, cfg.BufferMax)
	}
	alg := cfg.ABR
	if alg == nil {
		alg = abr.Shoal{}
	}
	s := &Session{
		src: src, cfg: cfg, alg: alg, man: man, began: time.Now(),
		done: make(chan struct{}), wake: make(chan struct{}),
		played: map[int]bool{}, segRend: map[int]int{}, fixed: -1,
	}
	s.video = newTrack(Video, man.Video[0].Ladder())
	if len(s.video.reps[0].Segments) == 0 {
		return nil, errors.New("player: the video has no segments")
	}
	s.segDur = s.video.reps[0].Segments[0].Duration
	for _, r := range s.video.reps {
		if len(r.Segments) != len(s.video.reps[0].Segments) {
			return nil, fmt.Errorf("player: rendition %s has %d segments, %s has %d: segments are not aligned",
				r.ID, len(r.Segments), s.video.reps[0].ID, len(s.video.reps[0].Segments))
		}
	}
	if s.cfg.BufferMax < s.segDur {
		return nil, fmt.Errorf("player: buffer maximum %v is less than a segment (%v)", s.cfg.BufferMax, s.segDur)
	}
	if len(man.Audio) > 0 && len(man.Audio[0].Representations) > 0 {
		// One audio rendition is fetched: the lowest, which is the only one
		// the packager writes; audio is small next to video.
		s.audio = newTrack(Audio, man.Audio[0].Ladder()[:1])
	}
	if cfg.Rendition >= 0 && cfg.Rendition < len(s.video.reps) {
		s.fixed = cfg.Rendition
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer close(s.done)
		s.run()
	}()
	return s, nil
}

func newTrack(name string, reps []mpd.Representation) *track {
	return &track{name: name, reps: reps, inits: map[int][]byte{}, sentInit: -1}
}

// Stop ends the session: fetching stops and Next returns ErrStopped. It
// waits for the fetcher to end; calling it again does nothing.
func (s *Session) Stop() {
	s.cancel()
	<-s.done
}

// Done is closed when the session has stopped.
func (s *Session) Done() <-chan struct{} { return s.done }

// Manifest is the presentation's parsed MPD.
func (s *Session) Manifest() *mpd.Manifest { return s.man }

// changed wakes everything waiting on the session. Call with s.mu held.
func (s *Session) changed() {
	close(s.wake)
	s.wake = make(chan struct{})
}

func (s *Session) event(typ string, data any) {
	if s.cfg.Event != nil {
		s.cfg.Event(typ, data)
	}
}

// Next returns the next chunk of track ("video" or "audio") for the
// renderer, waiting for it until ctx ends. ErrEnded says the track is
// over (until a seek), ErrStopped that the session is.
func (s *Session) Next(ctx context.Context, trackName string) (Chunk, error) {
	for {
		s.mu.Lock()
		t := s.track(trackName)
		if t == nil {
			s.mu.Unlock()
			return Chunk{}, fmt.Errorf("player: no track %q", trackName)
		}
		if len(t.queue) > 0 {
			c := t.queue[0]
			t.queue = t.queue[1:]
			s.mu.Unlock()
			return c, nil
		}
		ended, wake := t.done, s.wake
		s.mu.Unlock()
		if s.ctx.Err() != nil {
			return Chunk{}, ErrStopped
		}
		if ended {
			return Chunk{}, ErrEnded
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return Chunk{}, ctx.Err()
		case <-s.ctx.Done():
			return Chunk{}, ErrStopped
		}
	}
}

func (s *Session) track(name string) *track {
	switch name {
	case Video, "":
		return s.video
	case Audio:
		return s.audio
	}
	return nil
}

// Report tells the session where playback is: the position, whether it is
// playing, and whether it is stalled waiting for data.
func (s *Session) Report(position time.Duration, playing, stalled bool) error {
	if position < 0 || position > s.man.Duration+time.Second {
		return fmt.Errorf("player: position %v is outside the video (0 to %v)", position, s.man.Duration)
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started && playing && !stalled {
		s.started = true
		s.qoe.Startup = now.Sub(s.began)
	}
	if s.started && stalled {
		if s.stalled {
			s.qoe.Stall(now.Sub(s.lastReport), false)
		} else {
			s.qoe.Stall(time.Millisecond, true)
			defer s.event(EventStall, s.stateLocked())
		}
	}
	s.position, s.playing, s.stalled, s.lastReport = position, playing, stalled, now
	if s.started {
		// Every segment the position has entered counts as played once.
		k := min(int(position/s.segDur), len(s.video.reps[0].Segments)-1)
		for i := 0; i <= k; i++ {
			if r, ok := s.segRend[i]; ok && !s.played[i] && s.video.reps[0].Segments[i].Start >= s.bufStart-s.segDur/2 {
				s.played[i] = true
				s.qoe.Played(float64(s.video.reps[r].Bandwidth) / 1000)
			}
		}
	}
	s.changed()
	return nil
}

// Seek moves playback to position: what was fetched ahead is dropped and
// fetching starts again at the segment holding position; the renderer's
// next chunks (of a new Generation) start with an initialization segment.
func (s *Session) Seek(position time.Duration) error {
	if position < 0 || position >= s.man.Duration {
		return fmt.Errorf("player: cannot seek to %v: the video is %v long", position, s.man.Duration)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.generation++
	s.position = position
	for _, t := range []*track{s.video, s.audio} {
		if t == nil {
			continue
		}
		t.queue, t.done, t.sentInit = nil, false, -1
		t.next = segmentAt(t.reps[0].Segments, position)
		t.end = t.reps[0].Segments[t.next].Start
	}
	s.bufStart = s.video.end
	s.changed()
	return nil
}

// SetRendition fixes the video rendition (index into the ladder), or with
// -1 gives the choice back to the ABR.
func (s *Session) SetRendition(r int) error {
	if r < -1 || r >= len(s.video.reps) {
		return fmt.Errorf("player: no rendition %d (have 0 to %d, or -1 for automatic)", r, len(s.video.reps)-1)
	}
	s.mu.Lock()
	s.fixed = r
	s.changed()
	s.mu.Unlock()
	return nil
}

// segmentAt is the index of the segment that holds t.
func segmentAt(segs []mpd.Segment, t time.Duration) int {
	for i, sg := range segs {
		if t < sg.Start+sg.Duration {
			return i
		}
	}
	return len(segs) - 1
}

// Generation counts the seeks so far (Chunk.Generation).
func (s *Session) Generation() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.generation
}

// State is a snapshot of the session.
func (s *Session) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stateLocked()
}

func (s *Session) stateLocked() State {
	st := State{
		Duration: s.man.Duration, SegmentDuration: s.segDur, Position: s.position,
		BufferTarget: s.cfg.BufferTarget, BufferMax: s.cfg.BufferMax,
		ABR: s.alg.Name(), Fixed: s.fixed, Rendition: s.video.lastRep,
		Audio: s.audio != nil, Playing: s.playing, Stalled: s.stalled,
		Ended: s.video.done && (s.audio == nil || s.audio.done), Generation: s.generation,
		History: append([]SegmentRecord{}, s.records...),
		QoE: QoE{
			Startup: s.qoe.Startup, Started: s.started, Rebuffers: s.qoe.Rebuffers,
			RebufferSeconds: s.qoe.Rebuffer.Seconds(), MeanBitrate: s.qoe.MeanBitrate(),
			Switches: s.qoe.Switches, Score: s.qoe.Score(), Segments: s.qoe.Segments,
		},
	}
	st.Buffer = max(0, s.video.end-max(s.position, s.bufStart))
	st.Buffered = [][2]float64{}
	if s.video.end > s.bufStart {
		st.Buffered = [][2]float64{{s.bufStart.Seconds(), s.video.end.Seconds()}}
	}
	for _, r := range s.video.reps {
		st.Renditions = append(st.Renditions, Rendition{ID: r.ID, Bandwidth: r.Bandwidth, Width: r.Width,
			Height: r.Height, FrameRate: r.FrameRate, Codecs: r.Codecs})
	}
	if s.err != nil {
		st.Error = s.err.Error()
	}
	return st
}

// run fetches segments ahead of the play position until the session stops.
func (s *Session) run() {
	failures := 0
	for s.ctx.Err() == nil {
		s.mu.Lock()
		t, wait := s.pick()
		wake := s.wake
		s.mu.Unlock()
		if t == nil {
			select {
			case <-wake:
			case <-s.ctx.Done():
			case <-time.After(wait):
			}
			continue
		}
		if err := s.fetchNext(t); err != nil {
			if s.ctx.Err() != nil {
				return
			}
			failures++
			s.mu.Lock()
			s.err = err
			st := s.stateLocked()
			s.mu.Unlock()
			s.event(EventError, st)
			// Back off, then try again: a source may come back.
			select {
			case <-time.After(min(time.Duration(failures)*250*time.Millisecond, 3*time.Second)):
			case <-s.ctx.Done():
			}
			continue
		}
		failures = 0
	}
}

// pick chooses the track to fetch for next, or nil and how long to wait
// when the buffer is full or everything is fetched. Call with s.mu held.
func (s *Session) pick() (*track, time.Duration) {
	v, a := s.video, s.audio
	for _, t := range []*track{v, a} {
		if t != nil && !t.done && t.next >= len(t.reps[0].Segments) {
			t.done = true
			s.changed()
			if s.video.done && (s.audio == nil || s.audio.done) {
				s.event(EventEnded, s.stateLocked())
			}
		}
	}
	// Audio follows video, so both cover the same time.
	if a != nil && !a.done && (a.end < v.end || v.done) {
		return a, 0
	}
	if v.done {
		return nil, time.Minute
	}
	ahead := v.end - max(s.position, s.bufStart)
	if ahead+s.segDur > s.cfg.BufferMax {
		return nil, 250 * time.Millisecond
	}
	return v, 0
}

// fetchNext fetches the next segment of t (and its rendition's
// initialization segment when not fetched yet).
func (s *Session) fetchNext(t *track) error {
	s.mu.Lock()
	k, gen := t.next, s.generation
	rend := 0
	var st abr.State
	if t.name == Video {
		st = s.abrState(k)
		rend = s.fixed
	}
	ahead := t.end - max(s.position, s.bufStart)
	s.mu.Unlock()

	auto := t.name == Video && rend < 0
	if auto {
		if err := st.Validate(); err != nil {
			return fmt.Errorf("player: %w", err)
		}
		d := s.alg.Choose(&st)
		s.mu.Lock()
		s.memory = d.Memory
		s.mu.Unlock()
		rend = max(0, min(d.Rendition, len(t.reps)-1))
		if d.Delay > 0 {
			select {
			case <-time.After(d.Delay):
			case <-s.ctx.Done():
				return s.ctx.Err()
			}
		}
	}
	urgent := ahead < 2*s.segDur
	for {
		if _, ok := t.inits[rend]; !ok {
			raw, _, err := fetchAll(s.ctx, s.src, t.reps[rend].Init, true)
			if err != nil {
				return fmt.Errorf("player: %s init of %s: %w", t.name, t.reps[rend].ID, err)
			}
			t.inits[rend] = raw // only run() touches inits
		}
		data, rec, abandonTo, err := s.download(t, k, rend, st, urgent, auto)
		if err != nil {
			if rec.From != "" && s.ctx.Err() == nil {
				// The source answered but its answer failed: on the record.
				s.mu.Lock()
				rec.Error, rec.Took, rec.At = err.Error(), time.Since(rec.begin), time.Since(s.began)
				rec.Buffer = max(0, t.end-max(s.position, s.bufStart))
				s.records = append(s.records, rec)
				s.mu.Unlock()
			}
			return err
		}
		s.mu.Lock()
		if s.generation != gen {
			// A seek came in while fetching: this segment is not wanted.
			s.mu.Unlock()
			return nil
		}
		rec.At = time.Since(s.began)
		rec.Buffer = max(0, t.end-max(s.position, s.bufStart))
		s.records = append(s.records, rec)
		if t.name == Video {
			s.history = append(s.history, abr.Download{
				Segment: k, Rendition: rend, Size: rec.full, Bits: float64(rec.Size * 8),
				Latency: rec.latency, Transfer: max(rec.Took-rec.latency, time.Millisecond),
				Abandoned: rec.Abandoned, AbandonTo: abandonTo, Buffer: rec.Buffer,
			})
		}
		if rec.Abandoned {
			s.mu.Unlock()
			s.event(EventSegment, rec)
			rend = abandonTo
			continue
		}
		seg := t.reps[rend].Segments[k]
		if t.sentInit != rend {
			t.queue = append(t.queue, s.chunk(t, k, rend, true, t.inits[rend]))
			t.sentInit = rend
		}
		t.queue = append(t.queue, s.chunk(t, k, rend, false, data))
		t.next = k + 1
		t.end = seg.Start + seg.Duration
		t.lastRep = rend
		if t.name == Video {
			s.segRend[k] = rend
		}
		s.err = nil
		s.changed()
		s.mu.Unlock()
		s.event(EventSegment, rec)
		return nil
	}
}

func (s *Session) chunk(t *track, k, rend int, init bool, data []byte) Chunk {
	r := t.reps[rend]
	seg := r.Segments[k]
	return Chunk{Track: t.name, Init: init, Generation: s.generation, Segment: k, Rendition: rend,
		Represent: r.ID, Codecs: r.Codecs, MimeType: r.MimeType, Start: seg.Start, Duration: seg.Duration, Data: data}
}

// abrState is what the ABR sees for video segment k. Call with s.mu held.
func (s *Session) abrState(k int) abr.State {
	// Each rung costs the link its video and the audio that plays along
	// (fetched between the video segments on the same link): the ABR's
	// measured throughput is the link's, so it must budget for both.
	audio := 0
	if s.audio != nil {
		audio = s.audio.reps[0].Bandwidth
	}
	bitrates := make([]float64, len(s.video.reps))
	for i, r := range s.video.reps {
		bitrates[i] = float64(r.Bandwidth+audio) / 1000
	}
	return abr.State{
		Segment: k, Segments: len(s.video.reps[0].Segments), SegmentDuration: s.segDur,
		Bitrates: bitrates, Buffer: max(0, s.video.end-max(s.position, s.bufStart)),
		BufferTarget: s.cfg.BufferTarget, BufferMax: s.cfg.BufferMax,
		History: s.history, Memory: s.memory, Holders: s.holders(k),
	}
}

// holders asks an Availability source which of the next segments are here.
func (s *Session) holders(k int) []abr.Holders {
	av, ok := s.src.(Availability)
	if !ok {
		return nil
	}
	var paths []string
	n := min(holdersAhead, len(s.video.reps[0].Segments)-k)
	for i := range n {
		for _, r := range s.video.reps {
			paths = append(paths, r.Segments[k+i].URL)
		}
	}
	held := av.Held(paths)
	if len(held) != len(paths) {
		return nil
	}
	out := make([]abr.Holders, n)
	for i := range out {
		out[i].Local = held[i*len(s.video.reps) : (i+1)*len(s.video.reps)]
	}
	return out
}

// download fetches segment k of t in rendition rend, giving it up when the
// ABR's abandonment rule says it would stall playback: then rec.Abandoned
// is set and abandonTo is the rendition to fetch instead.
func (s *Session) download(t *track, k, rend int, st abr.State, urgent, auto bool) (data []byte, rec SegmentRecord, abandonTo int, err error) {
	seg := t.reps[rend].Segments[k]
	rec = SegmentRecord{Track: t.name, Segment: k, Rendition: rend, Bitrate: t.reps[rend].Bandwidth}
	begin := time.Now()
	rec.begin = begin
	f, err := s.src.Open(s.ctx, seg.URL, urgent)
	if err != nil {
		return nil, rec, 0, fmt.Errorf("player: %s segment %d (%s): %w", t.name, k, t.reps[rend].ID, err)
	}
	defer f.Body.Close()
	rec.From, rec.Refused = f.From, f.Refused
	expect := float64(t.reps[rend].Bandwidth) * seg.Duration.Seconds()
	if f.Size > 0 {
		expect = float64(f.Size * 8)
	}
	rec.full = expect
	var buf bytes.Buffer
	p := make([]byte, 32<<10)
	var first time.Duration
	for {
		n, rerr := f.Body.Read(p)
		if n > 0 {
			if first == 0 {
				first = time.Since(begin)
				rec.latency = first
			}
			buf.Write(p[:n])
			rec.Size = int64(buf.Len())
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return nil, rec, 0, fmt.Errorf("player: %s segment %d (%s) from %s: %w", t.name, k, t.reps[rend].ID, f.From, rerr)
		}
		if auto && rend > 0 {
			s.mu.Lock()
			st.Buffer = max(0, s.video.end-max(s.position, s.bufStart))
			s.mu.Unlock()
			to, ok := abr.ShouldAbandon(s.alg, &st, abr.Progress{
				Segment: k, Rendition: rend, Size: expect, Bits: float64(buf.Len() * 8),
				Elapsed: time.Since(begin), Latency: first,
			})
			if ok && to < rend {
				rec.Size, rec.Took, rec.Abandoned = int64(buf.Len()), time.Since(begin), true
				return nil, rec, to, nil
			}
		}
	}
	if f.Size >= 0 && int64(buf.Len()) != f.Size {
		return nil, rec, 0, fmt.Errorf("player: %s segment %d (%s) from %s: got %d bytes of %d", t.name, k, t.reps[rend].ID, f.From, buf.Len(), f.Size)
	}
	if buf.Len() == 0 {
		return nil, rec, 0, fmt.Errorf("player: %s segment %d (%s) from %s is empty", t.name, k, t.reps[rend].ID, f.From)
	}
	rec.Size, rec.Took = int64(buf.Len()), time.Since(begin)
	return buf.Bytes(), rec, 0, nil
}

// maxFile bounds what fetchAll reads: manifests and init segments are
// small.
const maxFile = 8 << 20

// fetchAll reads a whole small file from src.
func fetchAll(ctx context.Context, src SegmentSource, path string, urgent bool) ([]byte, string, error) {
	f, err := src.Open(ctx, path, urgent)
	if err != nil {
		return nil, "", err
	}
	defer f.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(f.Body, maxFile+1))
	if err != nil {
		return nil, f.From, fmt.Errorf("%s from %s: %w", path, f.From, err)
	}
	if len(raw) > maxFile {
		return nil, f.From, fmt.Errorf("%s from %s is larger than %d bytes", path, f.From, maxFile)
	}
	if f.Size >= 0 && int64(len(raw)) != f.Size {
		return nil, f.From, fmt.Errorf("%s from %s: got %d bytes of %d", path, f.From, len(raw), f.Size)
	}
	return raw, f.From, nil
}
